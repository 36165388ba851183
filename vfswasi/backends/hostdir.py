"""A host directory served through directory fds only, so the guest cannot leave it.

Every operation is an `*at` call on a directory fd with one entry name, never a joined
path, and nothing ever follows a symlink at that name: the resolver walks symlinks itself,
inside the mount, and a symlink planted on the host (say to /etc) stays a dead end. Holding
fds rather than paths also means a directory renamed or swapped for a symlink on the host
after `open_dir` cannot redirect later operations.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat as st
import sys
from typing import Any

from ..vfs import Backend, FileHandle, Stat, filetype_of_mode, oserror

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in the tree must not hang the host. It changes nothing
# for regular files and is cleared again for anything else (see open_file).
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

# filetype_of_mode as one dict lookup: lstat is the hottest call of a WASI program.
_FILETYPE = {
    fmt: int(filetype_of_mode(fmt))
    for fmt in (st.S_IFREG, st.S_IFDIR, st.S_IFLNK, st.S_IFCHR, st.S_IFBLK, st.S_IFSOCK, st.S_IFIFO)
}
_UNKNOWN = int(filetype_of_mode(0))
_REG, _DIR, _LNK = _FILETYPE[st.S_IFREG], _FILETYPE[st.S_IFDIR], _FILETYPE[st.S_IFLNK]

#: Set (to anything but "" or "0") to resolve every path by the component walk alone.
NO_OPENAT2_ENV = "VFSWASI_NO_OPENAT2"
_SYS_OPENAT2 = 437  # the same number on every Linux architecture (it came after the unification)
# RESOLVE_BENEATH: no step (a "..", a symlink, an absolute path) may leave the start
# directory, not even for a moment, which is the walk's rule; RESOLVE_NO_MAGICLINKS: no
# /proc/*/fd-style links. This is what cap-std asks of openat2.
_RESOLVE_FLAGS = 0x02 | 0x08


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def _openat2() -> Any:
    """A callable `(dirfd, path bytes) -> fd or -1` opening a directory below `dirfd` with
    one openat2 syscall, or None where the kernel (Linux < 5.6, a seccomp filter) or the OS
    has none, or the environment turns it off."""
    if not sys.platform.startswith("linux") or os.environ.get(NO_OPENAT2_ENV, "") not in ("", "0"):
        return None
    flags = _DIR_FLAGS & ~os.O_NOFOLLOW  # the last component may be a symlink to follow
    openat2: Any
    compiled = None
    # the compiled route saves ctypes' ~1 µs per call (bench: 4-deep stat); the environment
    # that keeps the extension unused elsewhere (fastcall.PURE_PYTHON_ENV) keeps it here too
    if os.environ.get("VFSWASI_PURE_PYTHON", "") in ("", "0"):
        try:
            from .._hostcall import openat2 as compiled  # type: ignore[import-not-found]
        except ImportError:
            pass
    if compiled is not None:
        def openat2(dirfd: int, path: bytes) -> int:
            return compiled(dirfd, path, flags, _RESOLVE_FLAGS)
    else:
        try:
            syscall = ctypes.CDLL(None, use_errno=True).syscall
        except (OSError, AttributeError):
            return None
        syscall.restype = ctypes.c_long
        syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                            ctypes.c_size_t)
        # Read-only for the kernel, so one shared copy serves every call and thread.
        how = _OpenHow(flags, 0, _RESOLVE_FLAGS)
        how_ptr = ctypes.addressof(how)
        size = ctypes.sizeof(how)

        def openat2(dirfd: int, path: bytes, _keep: Any = how) -> int:
            return syscall(_SYS_OPENAT2, dirfd, path, how_ptr, size)

    probe = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = openat2(probe, b".")
        if fd < 0:  # ENOSYS, or EPERM from a seccomp filter: the walk it is
            return None
        os.close(fd)
    finally:
        os.close(probe)
    return openat2


_OPENAT2: Any = None
_OPENAT2_PROBED = False


def openat2_available() -> bool:
    """Whether host directories resolve directory paths with openat2 (probed once)."""
    global _OPENAT2, _OPENAT2_PROBED
    if not _OPENAT2_PROBED:
        _OPENAT2 = _openat2()
        _OPENAT2_PROBED = True
    return _OPENAT2 is not None
_new_stat = tuple.__new__  # skips the Python-level Stat.__new__


def _stat(s: os.stat_result) -> Stat:
    return _new_stat(Stat, (
        s.st_dev, s.st_ino, _FILETYPE.get(s.st_mode & 0o170000, _UNKNOWN), s.st_nlink,
        s.st_size, s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns,
    ))


def _check(name: str) -> str:
    """Defence in depth: the resolver promises single names, but an absolute name would make
    the OS ignore dir_fd, and ".." would climb out of the root, so never pass those on."""
    if "/" in name or name == ".." or "\0" in name:
        raise oserror(errno.EINVAL, name)
    return name


def _times(atim: int | None, mtim: int | None, current: os.stat_result) -> tuple[int, int]:
    # Python has no UTIME_OMIT: an unchanged time is written back with its current value.
    return (current.st_atime_ns if atim is None else atim,
            current.st_mtime_ns if mtim is None else mtim)


class HostFile(FileHandle):
    """A regular file open on the host; offsets are explicit, so the fd offset is unused.
    (`readable` stays True: a write-only fd refuses reads itself, with EBADF.)"""

    __slots__ = ("fd", "writable")

    def __init__(self, fd: int, writable: bool) -> None:
        self.fd = fd
        self.writable = writable

    def _pread(self, buf: memoryview, offset: int) -> int:
        # One preadv straight into the caller's buffer; a short read is a valid answer.
        return os.preadv(self.fd, [buf], offset)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        view = memoryview(data)
        total = len(view)
        done = 0
        while done < total:
            n = os.pwritev(self.fd, [view[done:]], offset + done)
            if n == 0:  # would loop forever; the OS should have raised ENOSPC instead
                raise oserror(errno.EIO)
            done += n
        return total

    def stat(self) -> Stat:
        return _stat(os.fstat(self.fd))

    def _truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def _allocate(self, offset: int, length: int) -> None:
        try:
            os.posix_fallocate(self.fd, offset, length)
        except OSError as e:
            # length 0 gives EINVAL, and some filesystems cannot preallocate at all.
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            super()._allocate(offset, length)

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        if atim is None and mtim is None:
            return
        os.utime(self.fd, ns=_times(atim, mtim, os.fstat(self.fd)))

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


class HostDirBackend(Backend):
    """Serve host directory `root`; directory handles are fds (ints)."""

    # open(2) itself answers ELOOP (O_NOFOLLOW), EEXIST (O_EXCL), ENOENT and EISDIR, in
    # Linux's order: asking first would cost a syscall per open and tell nothing new.
    kernel_open_errors = True

    def __init__(self, root: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.readonly = readonly
        self._root = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        #: openat2 calls made by open_path (whatever they answered); tests read it
        self.openat2_calls = 0
        if not openat2_available():
            # The resolver sees no primitive and walks every component itself.
            self.open_path = None  # type: ignore[assignment]

    @classmethod
    def from_osfs(cls, osfs: Any, *, readonly: bool = False) -> HostDirBackend:
        """Serve a PyFilesystem2 `OSFS` securely (OSFS itself joins paths and follows links)."""
        return cls(osfs.getsyspath("/"), readonly=readonly)

    def root(self) -> int:
        if self._root < 0:
            raise oserror(errno.EBADF)
        return self._root

    # --- walking -------------------------------------------------------------------------

    def lstat(self, d: int, name: str) -> Stat:
        return _stat(os.stat(_check(name), dir_fd=d, follow_symlinks=False))

    def open_dir(self, d: int, name: str) -> int:
        return os.open(_check(name), _DIR_FLAGS, dir_fd=d)

    def open_path(self, d: int, path: str) -> int | None:
        """The directory at relative, multi-component `path` below `d`, in one openat2
        syscall that the kernel keeps beneath `d` (intermediate symlinks followed inside
        it, absolute ones and escapes refused), or None on any failure: the resolver then
        walks the path itself and answers the walk's errno. Only the kernel's check
        decides here, at the moment of the call, so a rename on the host can never turn a
        held handle into a way out (nothing is cached)."""
        self.openat2_calls += 1
        if "\0" in path:  # the C string would end there; the walk answers EINVAL/ENOENT
            return None
        fd = _OPENAT2(d, os.fsencode(path))
        return None if fd < 0 else fd

    def release_dir(self, h: int) -> None:
        os.close(h)

    def dup_dir(self, h: int) -> int:  # an fd: each handle is released (closed) on its own
        # The dup shares its offset with `h`; harmless, since listdir rewinds before reading.
        return os.dup(h)

    def readlink(self, d: int, name: str) -> str:
        return os.readlink(_check(name), dir_fd=d)

    # --- directories as a whole ----------------------------------------------------------

    def stat_dir(self, h: int) -> Stat:
        return _stat(os.fstat(h))

    def listdir(self, h: int) -> list[tuple[str, int, int]]:
        # scandir(fd) reads through a dup, which shares the offset with `h`: an earlier
        # listing left unfinished would make this one start midway, so rewind first.
        os.lseek(h, 0, os.SEEK_SET)
        out: list[tuple[str, int, int]] = []
        add = out.append
        with os.scandir(h) as entries:
            for e in entries:
                # is_dir/is_file/is_symlink use d_type, and lstat only when it is DT_UNKNOWN.
                # Files first: they are most entries of most directories (~15% faster).
                if e.is_file(follow_symlinks=False):
                    ftype = _REG
                elif e.is_dir(follow_symlinks=False):
                    ftype = _DIR
                elif e.is_symlink():
                    ftype = _LNK
                else:
                    try:
                        ftype = _stat(e.stat(follow_symlinks=False)).filetype
                    except FileNotFoundError:  # removed since readdir saw it
                        continue
                add((e.name, e.inode(), ftype))
        return out

    def _set_dir_times(self, h: int, atim: int | None, mtim: int | None) -> None:
        if atim is None and mtim is None:
            return
        os.utime(h, ns=_times(atim, mtim, os.fstat(h)))

    def sync_dir(self, h: int) -> None:
        try:
            os.fsync(h)
        except OSError as e:
            # Some filesystems refuse fsync on a directory; there is nothing more to do then.
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise

    # --- entries -------------------------------------------------------------------------

    def _open_file(self, d: int, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> HostFile:
        _check(name)
        # Neither read nor write is legal in WASI (an fd for fstat only): open it O_RDONLY.
        flags = _FILE_FLAGS | (os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY)
        if create:
            flags |= os.O_CREAT | (os.O_EXCL if exclusive else 0)
        if truncate:
            flags |= os.O_TRUNC
        fd = os.open(name, flags, 0o666, dir_fd=d)
        try:
            mode = os.fstat(fd).st_mode
            # A read-only open of a directory succeeds on the host; open(2) of a file wants
            # EISDIR.
            if st.S_ISDIR(mode):
                raise oserror(errno.EISDIR, name)
            if not st.S_ISREG(mode):
                os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return HostFile(fd, write)

    def _mkdir(self, d: int, name: str) -> None:
        os.mkdir(_check(name), dir_fd=d)

    def _rmdir(self, d: int, name: str) -> None:
        os.rmdir(_check(name), dir_fd=d)

    def _unlink(self, d: int, name: str) -> None:
        try:
            os.unlink(_check(name), dir_fd=d)
        except PermissionError as e:
            # POSIX allows EPERM for a directory (macOS, BSD); Linux and the contract say EISDIR.
            if e.errno == errno.EPERM and st.S_ISDIR(
                os.stat(name, dir_fd=d, follow_symlinks=False).st_mode
            ):
                raise oserror(errno.EISDIR, name) from None
            raise

    def _rename(self, d1: int, n1: str, d2: int, n2: str) -> None:
        os.rename(_check(n1), _check(n2), src_dir_fd=d1, dst_dir_fd=d2)

    def _link(self, d1: int, n1: str, d2: int, n2: str) -> None:
        os.link(_check(n1), _check(n2), src_dir_fd=d1, dst_dir_fd=d2, follow_symlinks=False)

    def _symlink(self, target: str, d: int, name: str) -> None:
        if "\0" in target:  # os.symlink would raise ValueError, which is no errno
            raise oserror(errno.EINVAL, target)
        os.symlink(target, _check(name), dir_fd=d)

    def _set_times(self, d: int, name: str, atim: int | None, mtim: int | None) -> None:
        _check(name)
        current = os.stat(name, dir_fd=d, follow_symlinks=False)  # also ENOENT when missing
        if atim is None and mtim is None:
            return
        os.utime(name, ns=_times(atim, mtim, current), dir_fd=d, follow_symlinks=False)

    # --- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        fd, self._root = self._root, -1
        if fd >= 0:
            os.close(fd)
