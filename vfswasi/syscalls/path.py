"""path_* : operations on paths relative to a directory fd.

Each call: check the directory fd's rights, read the path, `resolve` it (the sandbox), then
one backend operation on (parent directory handle, entry name).
"""

from __future__ import annotations

from ..abi import (
    FD,
    FILESTAT,
    RIGHTS_DIR,
    RIGHTS_DIR_INHERITING,
    RIGHTS_FILE,
    SIZE,
    Errno,
    Fd,
    Fdflags_,
    Filetype,
    Fstflags_,
    Lookupflags,
    Lookupflags_,
    Oflags,
    Oflags_,
    Out,
    OutText,
    Path,
    Rights,
    Rights_,
    Timestamp,
    WasiError,
)
from ..context import Context
from ..fdtable import DirEntry, FileEntry
from ..guestmem import encode_path
from ..resolver import Target, resolve
from ..vfs import Stat
from ._registry import syscall
from .fd import times_from_fstflags

_DIRECTORY, _SYMLINK = Filetype.DIRECTORY, Filetype.SYMBOLIC_LINK


def _target(ctx: Context, fd: int, right: int, path_ptr: int, path_len: int, *,
            follow: bool, follow_trailing: bool = True) -> tuple[DirEntry, Target]:
    d = ctx.fds.dir(fd, right)
    path = ctx.mem.path(path_ptr, path_len)
    return d, resolve(d.backend, d.handle, path, follow=follow, follow_trailing=follow_trailing)


def _name(t: Target, error: int) -> str:
    """The entry's name in its parent directory; `error` when the path names a directory
    itself ("." or "/"), which has no name to create, remove or read a link from."""
    if t.name is None:
        raise WasiError(error)
    return t.name


def _entry_kind(t: Target) -> int | None:
    """The entry's filetype, or None when it does not exist."""
    try:
        return t.lstat().filetype
    except FileNotFoundError:
        return None


def _require_dir_if_slashed(t: Target, kind: int | None) -> None:
    """A trailing "/" on anything but a directory is ENOTDIR."""
    if t.must_be_dir and kind is not None and kind != _DIRECTORY:
        raise WasiError(Errno.NOTDIR)


def _slashed_name_error(t: Target, *, if_dir: int) -> WasiError:
    """The error for "x/" given to a call that cannot act on it: ENOENT when nothing is
    there ("missing/", "dangling-link/"), `if_dir` for a directory, else ENOTDIR."""
    kind = _entry_kind(t)
    if kind is None:
        return WasiError(Errno.NOENT)
    return WasiError(if_dir if kind == _DIRECTORY else Errno.NOTDIR)


def _refuse_slashed_symlink(ctx: Context, d: DirEntry, path_ptr: int, path_len: int) -> None:
    """"link/" for an operation on the link itself: ENOTDIR, unless following it would
    leave the sandbox, which is reported as such (as wasmtime does)."""
    with resolve(d.backend, d.handle, ctx.mem.path(path_ptr, path_len), follow=True):
        pass
    raise WasiError(Errno.NOTDIR)


def _same_mount(a: DirEntry, b: DirEntry) -> None:
    if a.backend is not b.backend:
        raise WasiError(Errno.XDEV)


# --- metadata ---------------------------------------------------------------------------------------


@syscall(fd=Fd, flags=Lookupflags_, path=Path, stat=Out(FILESTAT))
def path_filestat_get(ctx: Context, fd: int, flags: int, path: int, path_len: int,
                      stat: int) -> Stat:
    _, t = _target(ctx, fd, Rights.PATH_FILESTAT_GET, path, path_len,
                   follow=bool(flags & Lookupflags.SYMLINK_FOLLOW))
    with t:
        st = t.lstat()
        _require_dir_if_slashed(t, st.filetype)
    return ctx.guest_stat(st)


@syscall(fd=Fd, flags=Lookupflags_, path=Path, atim=Timestamp, mtim=Timestamp,
         fst_flags=Fstflags_)
def path_filestat_set_times(ctx: Context, fd: int, flags: int, path: int, path_len: int,
                            atim: int, mtim: int, fst_flags: int) -> None:
    a, m = times_from_fstflags(ctx.clock, atim, mtim, fst_flags)
    _, t = _target(ctx, fd, Rights.PATH_FILESTAT_SET_TIMES, path, path_len,
                   follow=bool(flags & Lookupflags.SYMLINK_FOLLOW))
    with t:
        _require_dir_if_slashed(t, t.lstat().filetype)
        if t.name is None:
            t.backend.set_dir_times(t.parent, a, m)
        else:
            t.backend.set_times(t.parent, t.name, a, m)


# --- creating and removing ----------------------------------------------------------------------------


@syscall(fd=Fd, path=Path)
def path_create_directory(ctx: Context, fd: int, path: int, path_len: int) -> None:
    _, t = _target(ctx, fd, Rights.PATH_CREATE_DIRECTORY, path, path_len, follow=False,
                   follow_trailing=False)
    with t:
        t.backend.mkdir(t.parent, _name(t, Errno.EXIST))
    ctx.usage.files_created += 1


@syscall(fd=Fd, path=Path)
def path_remove_directory(ctx: Context, fd: int, path: int, path_len: int) -> None:
    d, t = _target(ctx, fd, Rights.PATH_REMOVE_DIRECTORY, path, path_len, follow=False,
                   follow_trailing=False)
    with t:
        name = _name(t, Errno.INVAL)  # rmdir(".") as POSIX
        if t.must_be_dir and _entry_kind(t) == _SYMLINK:
            _refuse_slashed_symlink(ctx, d, path, path_len)
        t.backend.rmdir(t.parent, name)
    ctx.usage.files_removed += 1


@syscall(fd=Fd, path=Path)
def path_unlink_file(ctx: Context, fd: int, path: int, path_len: int) -> None:
    # "x/" follows a final symlink, only to choose the error: nothing slashed is unlinked.
    _, t = _target(ctx, fd, Rights.PATH_UNLINK_FILE, path, path_len, follow=False)
    with t:
        name = _name(t, Errno.ISDIR)
        if t.must_be_dir:
            raise _slashed_name_error(t, if_dir=Errno.ISDIR)
        t.backend.unlink(t.parent, name)
    ctx.usage.files_removed += 1


@syscall(old_path=Path, fd=Fd, new_path=Path)
def path_symlink(ctx: Context, old_path: int, old_path_len: int, fd: int, new_path: int,
                 new_path_len: int) -> None:
    target = ctx.mem.path(old_path, old_path_len)
    if not target:
        raise WasiError(Errno.NOENT)  # as symlinkat(2), whatever the backend could store
    if target.startswith("/"):
        # Absolute targets could never resolve inside the sandbox (wasmtime refuses them too).
        raise WasiError(Errno.PERM)
    # "x/" follows a final symlink, only to choose the error (as path_link and wasmtime)
    _, t = _target(ctx, fd, Rights.PATH_SYMLINK, new_path, new_path_len, follow=False)
    with t:
        name = _name(t, Errno.EXIST)
        if t.must_be_dir:
            raise _slashed_name_error(t, if_dir=Errno.EXIST)  # a new link is no directory
        t.backend.symlink(target, t.parent, name)
    ctx.usage.files_created += 1


@syscall(old_fd=Fd, old_flags=Lookupflags_, old_path=Path, new_fd=Fd, new_path=Path)
def path_link(ctx: Context, old_fd: int, old_flags: int, old_path: int, old_path_len: int,
              new_fd: int, new_path: int, new_path_len: int) -> None:
    if old_flags & Lookupflags.SYMLINK_FOLLOW:
        # Linking through a symlink to its target: wasmtime refuses it, and so do we.
        raise WasiError(Errno.INVAL)
    # A trailing slash follows a final symlink on both sides ("link/" names its directory),
    # as POSIX and wasmtime do; only errors can come of it, since a directory is never linked.
    src_dir, src = _target(ctx, old_fd, Rights.PATH_LINK_SOURCE, old_path, old_path_len,
                           follow=False)
    with src:
        dst_dir, dst = _target(ctx, new_fd, Rights.PATH_LINK_TARGET, new_path,
                               new_path_len, follow=False)
        with dst:
            _same_mount(src_dir, dst_dir)
            # Linux's linkat(2) order (wasmtime's too): the source must exist, then the new
            # name must be free, and only then is a directory source refused.
            kind = _DIRECTORY if src.name is None else _entry_kind(src)
            if kind is None:
                raise WasiError(Errno.NOENT)
            if src.must_be_dir and kind != _DIRECTORY:
                raise WasiError(Errno.NOTDIR)
            if dst.name is None:
                raise WasiError(Errno.EXIST)
            if dst.must_be_dir:
                raise _slashed_name_error(dst, if_dir=Errno.EXIST)
            if _entry_kind(dst) is not None:
                raise WasiError(Errno.EXIST)
            if kind == _DIRECTORY:
                raise WasiError(Errno.PERM)  # hard links to directories
            src.backend.link(src.parent, src.name, dst.parent, dst.name)  # type: ignore[arg-type]
    ctx.usage.files_created += 1


@syscall(fd=Fd, old_path=Path, new_fd=Fd, new_path=Path)
def path_rename(ctx: Context, fd: int, old_path: int, old_path_len: int, new_fd: int,
                new_path: int, new_path_len: int) -> None:
    src_dir, src = _target(ctx, fd, Rights.PATH_RENAME_SOURCE, old_path, old_path_len,
                           follow=False, follow_trailing=False)
    with src:
        dst_dir, dst = _target(ctx, new_fd, Rights.PATH_RENAME_TARGET, new_path,
                               new_path_len, follow=False, follow_trailing=False)
        with dst:
            _same_mount(src_dir, dst_dir)
            if src.name is None or dst.name is None:
                raise WasiError(Errno.BUSY)  # renaming "." or onto it
            kind = _entry_kind(src)
            if kind is None:
                raise WasiError(Errno.NOENT)
            if (src.must_be_dir or dst.must_be_dir) and kind != _DIRECTORY:
                raise WasiError(Errno.NOTDIR)
            src.backend.rename(src.parent, src.name, dst.parent, dst.name)


@syscall(fd=Fd, path=Path, buf=OutText, bufused=Out(SIZE))
def path_readlink(ctx: Context, fd: int, path: int, path_len: int, buf: int, buf_len: int,
                  bufused: int) -> int:
    # "link/" follows the link (POSIX): its target is no symlink, so EINVAL or ENOTDIR.
    _, t = _target(ctx, fd, Rights.PATH_READLINK, path, path_len, follow=False)
    with t:
        name = _name(t, Errno.INVAL)
        if t.must_be_dir:
            raise _slashed_name_error(t, if_dir=Errno.INVAL)
        target = encode_path(t.backend.readlink(t.parent, name))
    if target.startswith(b"/"):
        # Only a host-planted link can hold one; its target is the host's business (wasmtime
        # refuses to read it too).
        raise WasiError(Errno.PERM)
    n = min(len(target), buf_len)  # truncated to the buffer, as preview1 says
    ctx.mem.write_bytes(buf, target[:n])
    return n


# --- opening --------------------------------------------------------------------------------------------


@syscall(fd=Fd, dirflags=Lookupflags_, path=Path, oflags=Oflags_, fs_rights_base=Rights_,
         fs_rights_inheriting=Rights_, fdflags=Fdflags_, opened_fd=Out(FD))
def path_open(ctx: Context, fd: int, dirflags: int, path: int, path_len: int, oflags: int,
              fs_rights_base: int, fs_rights_inheriting: int, fdflags: int,
              opened_fd: int) -> int:
    needed = Rights.PATH_OPEN
    if oflags & Oflags.CREAT:
        needed |= Rights.PATH_CREATE_FILE
    if oflags & Oflags.TRUNC:
        needed |= Rights.PATH_FILESTAT_SET_SIZE
    if oflags & ~0xF or fdflags & ~0x1F:
        raise WasiError(Errno.INVAL)
    if oflags & Oflags.DIRECTORY and oflags & (Oflags.CREAT | Oflags.TRUNC):
        raise WasiError(Errno.INVAL)  # path_open cannot create or truncate directories
    exclusive = oflags & Oflags.CREAT and oflags & Oflags.EXCL
    # CREAT|EXCL never follows a final symlink, not even a dangling one (POSIX O_EXCL).
    follow = bool(dirflags & Lookupflags.SYMLINK_FOLLOW) and not exclusive
    d = ctx.fds.dir(fd, needed)
    name = ctx.mem.path(path, path_len)
    # EMFILE before the lookup, as openat(2) reserves the fd first: a full table never
    # creates or truncates a file it could not hand out.
    ctx.fds.check_room()
    # O_CREAT of "x/" is ISDIR whatever x is (checked below): like Linux and wasmtime, never
    # expand a final symlink for it, so its loops or dangling parents cannot answer first.
    slashed_create = bool(oflags & Oflags.CREAT) and name.endswith("/")
    t = resolve(d.backend, d.handle, name, follow=follow and not slashed_create,
                follow_trailing=not slashed_create)
    # New rights: what was asked for, within what the directory lets its children have.
    base = fs_rights_base & d.rights_inheriting
    inheriting = fs_rights_inheriting & d.rights_inheriting
    with t:
        kind = Filetype.DIRECTORY if t.name is None else _entry_kind(t)
        if oflags & Oflags.CREAT and t.must_be_dir and t.name is not None:
            # O_CREAT of "x/": Linux (and wasmtime) refuse the slash before anything else
            raise WasiError(Errno.ISDIR)
        if kind is not None and exclusive:
            raise WasiError(Errno.EXIST)
        if kind == _DIRECTORY:
            if oflags & (Oflags.TRUNC | Oflags.CREAT) or base & Rights.FD_WRITE:
                raise WasiError(Errno.ISDIR)
            entry = _open_dir(t, base & RIGHTS_DIR, inheriting & RIGHTS_DIR_INHERITING)
        else:
            if kind == _SYMLINK:
                raise WasiError(Errno.LOOP)  # a symlink opened without SYMLINK_FOLLOW
            if oflags & Oflags.DIRECTORY or t.must_be_dir:
                if kind is None and not oflags & Oflags.CREAT:
                    raise WasiError(Errno.NOENT)
                raise WasiError(Errno.NOTDIR if kind is not None else Errno.ISDIR)
            if kind is None and not oflags & Oflags.CREAT:
                raise WasiError(Errno.NOENT)
            handle = t.backend.open_file(
                t.parent, t.name,  # type: ignore[arg-type]
                read=bool(base & (Rights.FD_READ | Rights.FD_READDIR)),
                # O_TRUNC writes even when the fd will not be allowed to.
                write=bool(base & (Rights.FD_WRITE | Rights.FD_ALLOCATE
                                   | Rights.FD_FILESTAT_SET_SIZE)) or bool(oflags & Oflags.TRUNC),
                create=bool(oflags & Oflags.CREAT),
                exclusive=bool(oflags & Oflags.EXCL),
                truncate=bool(oflags & Oflags.TRUNC),
            )
            entry = FileEntry(t.backend, handle, base & RIGHTS_FILE, inheriting & RIGHTS_FILE,
                              fdflags)
            if kind is None:
                ctx.usage.files_created += 1
    fds = ctx.fds
    new_fd = fds.open(entry)
    if fds.peak > ctx.usage.peak_open_fds:
        ctx.usage.peak_open_fds = fds.peak
    return new_fd  # closed again if it cannot be written at opened_fd (see `Out`)


def _open_dir(t: Target, base: int, inheriting: int) -> DirEntry:
    if t.name is None:
        handle = t.claim_dir()
    else:
        handle = t.backend.open_dir(t.parent, t.name)
    return DirEntry(t.backend, handle, base, inheriting, owned=True)
