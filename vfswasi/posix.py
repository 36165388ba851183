"""POSIX decisions, once: which errno an operation answers, given the facts a backend gathers.

A backend knows *facts* (what kind an entry is, whether a directory is empty, whether one
directory lies below another); the rules that turn them into an errno are the same for every
backend and live here, as pure functions returning an errno or None ("go ahead").

The order of the checks is Linux's, because that is what a guest on wasmtime's native WASI
sees when several errors apply at once:

- rename(2) (`do_renameat2` in fs/namei.c): the two "trap" checks of `lock_rename` first —
  moving a directory into itself or below itself is EINVAL, renaming onto an ancestor of the
  source is ENOTEMPTY (whatever the source is) — then `vfs_rename`'s kind checks: a directory
  onto a non-directory is ENOTDIR, a non-directory onto a directory is EISDIR, a directory
  onto a non-empty directory is ENOTEMPTY. Two names of one entry make rename a no-op; that
  is an identity test each backend makes before asking here.
- open(2) (`do_last`/`open_last_lookups` and `do_open` in fs/namei.c): a missing entry is
  ENOENT without O_CREAT; an existing one is EEXIST under O_CREAT|O_EXCL before anything
  else; then a symlink met with O_NOFOLLOW is ELOOP and a directory opened as a file EISDIR.

Facts that cost something to gather (listing a directory, walking up its parents) may be
given as zero-argument callables: they are called only when the decision needs them, in the
order above, so a backend does no more work (and raises no other error) than the table asks.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from .abi import Filetype

#: a yes/no fact, or a callable answering it when (and only when) it is needed
Fact = bool | Callable[[], bool]


def _holds(fact: Fact) -> bool:
    return fact() if callable(fact) else fact


def rename_error(
    src_is_dir: bool,
    dst_kind: int | None,
    *,
    dst_is_empty: Fact = True,
    src_contains_dst_dir: Fact = False,
    dst_contains_src_dir: Fact = False,
) -> int | None:
    """The errno rename(2) answers for moving an entry onto another, or None to go ahead.

    src_is_dir: the source is a directory (a symlink to one is not).
    dst_kind: the target's `abi.Filetype`, None when nothing is at the target name.
    dst_is_empty: the target directory has no entries (asked only for a directory source
        onto a directory target).
    src_contains_dst_dir: the directory the target name is in is the source or lies below
        it — moving a directory into itself (asked only when the source is a directory).
    dst_contains_src_dir: the directory the source name is in is the target or lies below
        it — renaming onto an ancestor of the source (asked only when the target is a
        directory).

    The caller has already handled two names of the same entry (a no-op).
    """
    dst_is_dir = dst_kind == Filetype.DIRECTORY
    if src_is_dir and _holds(src_contains_dst_dir):
        return errno.EINVAL
    if dst_is_dir and _holds(dst_contains_src_dir):
        return errno.ENOTEMPTY  # the target contains the source
    if src_is_dir:
        if dst_kind is not None:
            if not dst_is_dir:
                return errno.ENOTDIR
            if not _holds(dst_is_empty):
                return errno.ENOTEMPTY
    elif dst_is_dir:
        return errno.EISDIR
    return None


def open_error(kind: int | None, *, create: bool, exclusive: bool) -> int | None:
    """The errno open(2) of a regular file answers, or None to go ahead.

    kind: the `abi.Filetype` of the entry at the name (never followed), None when missing.
    create, exclusive: O_CREAT and O_EXCL. A missing name with `create` is None: the
    backend makes the file (and answers its own errors, EEXIST in a race, ENOSPC, ...).
    Kinds other than directory and symlink are the backend's to judge.
    """
    if kind is None:
        return None if create else errno.ENOENT
    if create and exclusive:
        return errno.EEXIST
    if kind == Filetype.SYMBOLIC_LINK:
        return errno.ELOOP
    if kind == Filetype.DIRECTORY:
        return errno.EISDIR
    return None
