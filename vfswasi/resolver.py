"""Path resolution: (directory fd, guest path) -> (directory handle, entry name).

This is the sandbox. It follows WASI's `path-resolution.md` (the algorithm cap-std uses when
`openat2(RESOLVE_BENEATH)` is unavailable), identically for every backend:

- a path is relative to its directory fd and may never leave it, not even for a moment
  (`a/../../a` fails): absolute paths and `..` above the start give ESCAPE (EPERM);
- components are walked one at a time through backend directory handles, so nothing but this
  module ever interprets `/`, `.` or `..`, and the stack of handles is what `..` pops;
- symlinks are expanded here, never by a backend or the OS: intermediate ones always, the last
  one only with SYMLINK_FOLLOW (or a trailing slash); an absolute target fails with
  ESCAPE; more than MAX_SYMLINKS expansions give ELOOP;
- a trailing `/` means the entry must be a directory; an empty path is ENOENT; NUL is EINVAL
  (checked when the path is read from guest memory);
- a backend may offer `open_path(handle, relpath) -> handle | None`, opening the directory
  part of a multi-component path in one step under the same rules (the host directory does
  it with Linux's openat2 and RESOLVE_BENEATH, as cap-std). The walk then only does the last
  component, and anything the fast step cannot answer exactly as the walk would (a failure
  of any kind, a symlink or ".." in the last component) is walked again from the start, so
  every errno stays the walk's;
- Linux's name limits hold on every backend, as a host directory answers them: a component
  longer than NAME_MAX bytes is ENAMETOOLONG when the walk reaches it (so "missing/LONG" is
  ENOENT, "LONG/x" ENAMETOOLONG), whether it is looked up or about to be created, and so is
  expanding a symlink whose target is PATH_MAX bytes or more (only an archive could hold
  one: path_symlink refuses such a target when it reads it, as any path, in guestmem).
"""

from __future__ import annotations

import errno
from collections import deque
from typing import Any

from .abi import Errno, Filetype, WasiError
from .guestmem import PATH_MAX, encode_path
from .vfs import Backend, DirHandle, Stat

#: The errno for any attempt to leave the sandbox. The spec allows ENOTCAPABLE or EPERM;
#: wasmtime (cap-std) answers EPERM for every kind of escape, so we do too. (A missing
#: *right* is still ENOTCAPABLE: that is a different refusal.)
ESCAPE = Errno.PERM

MAX_SYMLINKS = 40  # as Linux (MAXSYMLINKS) and cap-std, so wasmtime

#: The longest name (one path component) in bytes, as Linux's NAME_MAX.
NAME_MAX = 255
# UTF-8 takes at most 4 bytes a character: a name this short needs no encoding to check.
_SURELY_SHORT = NAME_MAX // 4

_SYMLINK = Filetype.SYMBOLIC_LINK
_DIRECTORY = Filetype.DIRECTORY


class Target:
    """Where a path led: entry `name` in directory `parent`, or (name None) the directory
    `parent` itself ("." or "a/.."). Holds the directory handles the walk opened until
    `release()`; use it as a context manager."""

    __slots__ = ("backend", "parent", "name", "must_be_dir", "stat", "_opened")

    def __init__(self, backend: Backend, parent: DirHandle, name: str | None,
                 must_be_dir: bool, stat: Stat | None, opened: list[DirHandle]) -> None:
        self.backend = backend
        self.parent = parent
        self.name = name
        self.must_be_dir = must_be_dir  # the path ended with "/"
        self.stat = stat  # lstat of the entry when the walk already made one
        self._opened = opened

    def lstat(self) -> Stat:
        """Metadata of the entry itself (the directory itself when name is None)."""
        if self.stat is None:
            if self.name is None:
                self.stat = self.backend.stat_dir(self.parent)
            else:
                self.stat = self.backend.lstat(self.parent, self.name)
        return self.stat

    def claim_dir(self) -> DirHandle:
        """A handle of the directory this path named itself (name None), now the caller's
        to `release_dir`: the walk's own handle when it opened one, else a duplicate."""
        if self._opened and self._opened[-1] is self.parent:
            return self._opened.pop()
        return self.backend.dup_dir(self.parent)

    def release(self) -> None:
        release = self.backend.release_dir
        while self._opened:
            release(self._opened.pop())

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def resolve(backend: Backend, base: DirHandle, path: str, *, follow: bool,
            follow_trailing: bool = True) -> Target:
    """Resolve `path` below directory handle `base` (never above it).

    `follow`: expand a symlink in the last component (LOOKUPFLAGS_SYMLINK_FOLLOW).
    `follow_trailing`: a trailing "/" also expands it, as POSIX open/stat/mkdir do; removals
    and renames pass False, so "link/" names the link (and fails: it is not a directory).
    The entry itself need not exist: callers creating it get its parent and name.
    """
    if not path:
        raise WasiError(Errno.NOENT)
    if path[0] == "/":
        raise WasiError(ESCAPE)
    stack: list[DirHandle] = [base]  # stack[0] is the caller's; the rest are ours
    try:
        open_path = getattr(backend, "open_path", None)
        if open_path is not None:
            cut = path.rstrip("/").rfind("/")
            if cut > 0:  # a directory part to open in one step
                handle = open_path(base, path[:cut])
                if handle is not None:
                    stack.append(handle)
                    try:
                        return _walk(backend, stack, path[cut + 1 :], follow, follow_trailing,
                                     fast=True)
                    except _Restart:
                        backend.release_dir(stack.pop())
        return _walk(backend, stack, path, follow, follow_trailing)
    except BaseException:
        for h in stack[1:]:
            backend.release_dir(h)
        raise


class _Restart(Exception):
    """The last component after `open_path` needs the whole walk: a ".." would pop to a
    directory the fast step never held, and a symlink's expansions must count the ones
    the directory part had (ELOOP)."""


def _walk(backend: Backend, stack: list[DirHandle], path: str, follow: bool,
          follow_trailing: bool, fast: bool = False) -> Target:
    trailing = path.endswith("/")
    queue = deque(c for c in path.split("/") if c)
    expansions = 0
    while queue:
        name = queue.popleft()
        last = not queue
        if len(name) > _SURELY_SHORT and len(encode_path(name)) > NAME_MAX:
            raise WasiError(Errno.NAMETOOLONG)
        if name == ".":
            if last:
                return _self_target(backend, stack)
            continue
        if name == "..":
            if len(stack) == 1:
                raise WasiError(ESCAPE)
            if fast:
                raise _Restart
            backend.release_dir(stack.pop())
            if last:
                return _self_target(backend, stack)
            continue
        if last and not follow and not (trailing and follow_trailing):
            return Target(backend, stack[-1], name, trailing, None, stack[1:])
        if not last:
            # Most intermediate components are plain directories: open first, and only
            # look closer (symlink? file?) when that fails. Saves a stat per component.
            try:
                stack.append(backend.open_dir(stack[-1], name))
                continue
            except (NotADirectoryError, OSError) as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
        try:
            st = backend.lstat(stack[-1], name)
        except FileNotFoundError:
            if last:
                return Target(backend, stack[-1], name, trailing, None, stack[1:])
            raise
        if st.filetype == _SYMLINK:
            if fast:
                raise _Restart
            expansions += 1
            if expansions > MAX_SYMLINKS:
                raise WasiError(Errno.LOOP)
            target = backend.readlink(stack[-1], name)
            if not target:
                raise WasiError(Errno.NOENT)
            if len(target) * 4 >= PATH_MAX and len(encode_path(target)) >= PATH_MAX:
                raise WasiError(Errno.NAMETOOLONG)
            if target[0] == "/":
                raise WasiError(ESCAPE)
            if target.endswith("/") and last:
                trailing = True
            queue.extendleft(reversed([c for c in target.split("/") if c]))
            if not queue:  # a target of only slashes would be absolute; only "." remains
                return _self_target(backend, stack)
            continue
        if last:
            return Target(backend, stack[-1], name, trailing, st, stack[1:])
        if st.filetype != _DIRECTORY:
            raise WasiError(Errno.NOTDIR)
        stack.append(backend.open_dir(stack[-1], name))
    # Only separators, "." and ".." that ended on a directory: the directory itself.
    return _self_target(backend, stack)


def _self_target(backend: Backend, stack: list[DirHandle]) -> Target:
    return Target(backend, stack[-1], None, True, None, stack[1:])
