"""The VFS protocol: what a backend must answer for the WASI layer.

A backend serves one mount. It never sees a path: the resolver (`vfswasi.resolver`) walks
guest paths one component at a time and hands the backend a *directory handle* plus a single
entry *name* (never empty, never ".", "..", and never containing "/" or NUL). So a backend
cannot be tricked into following a symlink or leaving its root; it only has to answer
operations on one directory entry at a time, and must never follow a symlink at `name`.

Directory handles are opaque to everyone but the backend that made them (a host directory
fd, an in-memory node, a path string). `root()` returns a handle owned by the backend;
handles from `open_dir` are owned by the caller and given back with `release_dir`.

Errors are `OSError`s carrying a host `errno` code (`errno.ENOENT`, ...); the syscall layer
maps them to WASI errnos. Times are integer nanoseconds since the Unix epoch.
Backends are used from one thread at a time per WASI instance.

Before the guest runs, the WASI instance hands each mount its resources: `use_storage` (the
account that backends keeping data in memory charge growth to, see `vfswasi.quota`) and
`use_clock` (where the times the guest causes come from). Both default to doing nothing.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import stat
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .abi import Filetype
from .posix import open_error

if TYPE_CHECKING:
    from .quota import StorageAccount

DirHandle = Any


class Clock(Protocol):
    """What a backend needs of a clock (`vfswasi.clocks.RealClock`, `VirtualClock`)."""

    def time_ns(self) -> int:
        """Wall-clock ns for a time the guest causes (a write's mtime, ...)."""
        ...


class Stat(NamedTuple):
    """One entry's metadata, as `filestat` wants it (all times in ns)."""

    dev: int
    ino: int
    filetype: int  # abi.Filetype
    nlink: int
    size: int
    atim: int
    mtim: int
    ctim: int


def oserror(code: int, what: object = "") -> OSError:
    """An OSError with `code` and the standard message; backends raise these."""
    return OSError(code, os.strerror(code), str(what) if what != "" else None)


class FileHandle:
    """An open regular file. Offsets live in the fd table: every call says where.

    The public calls check the handle's mode once, here, and then call a primitive that the
    backend writes: `readinto` needs `readable` and calls `_pread`; `write`, `truncate` and
    `allocate` need `writable` (EBADF otherwise) and call `_pwrite`, `_truncate`, `_allocate`;
    `set_times` is EROFS on a read-only mount (`readonly`, set by `Backend.open_file`) and
    calls `_set_times`. A backend sets `readable` / `writable` from the mode it opened with
    and overrides the primitives it supports; the defaults answer like a read-only file.
    Override the primitives, not the public calls: the fd layer calls `_pread` / `_pwrite`
    directly (see `io_calls`).
    """

    #: whether reads are possible (False for a handle opened without read)
    readable: bool = True
    #: whether writes are possible at all (False for archive members)
    writable: bool = False
    #: the handle belongs to a read-only mount: even its times cannot change
    readonly: bool = False

    # --- the public calls: the mode checked once ----------------------------------------------

    def readinto(self, buf: memoryview, offset: int) -> int:
        """Fill `buf` from `offset`; return the bytes read (0 at or past EOF)."""
        if not self.readable:
            raise oserror(errno.EBADF)
        return self._pread(buf, offset)

    def write(self, data: memoryview | bytes, offset: int) -> int:
        """Write all of `data` at `offset` (extending with zeros past EOF); return len(data)."""
        if not self.writable:
            raise oserror(errno.EBADF)
        return self._pwrite(data, offset)

    def truncate(self, size: int) -> None:
        if not self.writable:  # Linux says EINVAL for ftruncate; the contract says EBADF
            raise oserror(errno.EBADF)
        self._truncate(size)

    def allocate(self, offset: int, length: int) -> None:
        """Make sure the file is at least offset+length bytes long (never shrinks it)."""
        if not self.writable:
            raise oserror(errno.EBADF)
        self._allocate(offset, length)

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        """Set access/modification times in ns; None leaves that time unchanged."""
        if self.readonly:
            raise oserror(errno.EROFS)
        self._set_times(atim, mtim)

    # --- the primitives a backend writes (called with the mode already checked) -----------------

    def _pread(self, buf: memoryview, offset: int) -> int:
        raise oserror(errno.EBADF)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        raise oserror(errno.EBADF)

    def _truncate(self, size: int) -> None:
        raise oserror(errno.EBADF)

    def _allocate(self, offset: int, length: int) -> None:
        if self.stat().size < offset + length:
            self._truncate(offset + length)

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        raise oserror(errno.EROFS)

    def stat(self) -> Stat:
        raise NotImplementedError

    def sync(self) -> None:
        """Push written data to durable storage (a no-op where there is none)."""

    def close(self) -> None:
        """Release the handle; further calls are not made."""


def io_calls(handle: FileHandle) -> tuple[Callable[[memoryview, int], int],
                                           Callable[[memoryview | bytes, int], int]]:
    """The (read, write) calls the fd layer moves data through, bound once when the fd is
    made: the handle's primitives `_pread` / `_pwrite`, skipping the mode check, which the
    fd's rights already made (FD_READ is only granted to a handle opened for reading,
    FD_WRITE to one opened for writing, and rights never grow). A handle class that
    implements the public call itself instead of the primitive (written before the
    primitives existed, or a wrapper binding its inner handle's calls) is called through it."""
    read, write = handle._pread, handle._pwrite
    # a primitive bound on the instance (a wrapper lending its inner handle's) counts too
    if getattr(read, "__func__", None) is FileHandle._pread:
        read = handle.readinto
    if getattr(write, "__func__", None) is FileHandle._pwrite:
        write = handle.write
    return read, write


class Backend:
    """One mount's filesystem.

    `name` arguments are single entry names (see the module docstring). Operations never
    follow a symlink at `name`; the resolver does that itself.

    The mutating operations are public calls written here once, which answer for the rules
    every backend shares — a read-only mount refuses every change with EROFS, and `open_file`
    decides open(2)'s EEXIST/ENOENT/ELOOP/EISDIR (`posix.open_error`) — and then call a
    primitive the backend writes: `_open_file`, `_mkdir`, `_rmdir`, `_unlink`, `_rename`,
    `_link`, `_symlink`, `_set_times`, `_set_dir_times`. A primitive is only called on a
    writable mount (or, for `_open_file`, to open for reading), so a backend writes storage,
    not permissions. The read-only check comes first, as every backend made it before: a
    read-only mount answers EROFS before it looks at the entry (wasmtime checks its `Dir`
    perms the same way, once, before the operation).
    """

    #: True when no operation may change anything; writes then raise EROFS.
    readonly: bool = False
    #: The storage answers open(2)'s own errors itself, in Linux's order (a host directory:
    #: the kernel does, given O_NOFOLLOW), so `open_file` need not look the entry up first.
    kernel_open_errors: bool = False

    def root(self) -> DirHandle:
        """Handle of the mount's root directory (owned by the backend)."""
        raise NotImplementedError

    # --- walking -------------------------------------------------------------------------

    def lstat(self, d: DirHandle, name: str) -> Stat:
        """Metadata of entry `name` in `d`, not following a symlink (ENOENT if missing)."""
        raise NotImplementedError

    def open_dir(self, d: DirHandle, name: str) -> DirHandle:
        """Handle for subdirectory `name` of `d`: ENOENT if missing, ENOTDIR if it is a
        file, ELOOP (or ENOTDIR) if it is a symlink."""
        raise NotImplementedError

    def release_dir(self, h: DirHandle) -> None:
        """Give back a handle returned by `open_dir` or `dup_dir` (never called on `root()`)."""

    def dup_dir(self, h: DirHandle) -> DirHandle:
        """A new handle to the same directory as `h` (released separately). The default
        shares `h` itself, right for every backend whose `release_dir` does nothing."""
        return h

    def readlink(self, d: DirHandle, name: str) -> str:
        """Target of symlink `name` (EINVAL if it is not a symlink, ENOENT if missing)."""
        raise NotImplementedError

    # --- directories as a whole ------------------------------------------------------------

    def stat_dir(self, h: DirHandle) -> Stat:
        """Metadata of the directory behind handle `h` itself."""
        raise NotImplementedError

    def listdir(self, h: DirHandle) -> list[tuple[str, int, int]]:
        """Entries of `h` as (name, ino, filetype), without "." and "..". The ino must equal
        `lstat(h, name).ino`."""
        raise NotImplementedError

    def set_dir_times(self, h: DirHandle, atim: int | None, mtim: int | None) -> None:
        self._writable()
        self._set_dir_times(h, atim, mtim)

    def sync_dir(self, h: DirHandle) -> None:
        """Flush the directory (a no-op where there is nothing to flush)."""

    # --- entries -----------------------------------------------------------------------------

    def open_file(
        self,
        d: DirHandle,
        name: str,
        *,
        read: bool,
        write: bool,
        create: bool = False,
        exclusive: bool = False,
        truncate: bool = False,
    ) -> FileHandle:
        """Open regular file `name` in `d`.

        create: make it if missing; exclusive (with create): EEXIST if it exists;
        truncate: empty it (needs write). EISDIR if `name` is a directory, ELOOP if it is a
        symlink, EROFS for any write/create/truncate on a read-only backend.
        """
        if self.readonly and (write or create or truncate):
            raise oserror(errno.EROFS, name)
        kind: int | None = Filetype.UNKNOWN
        if not self.kernel_open_errors:
            kind = self._kind(d, name)
            err = open_error(kind, create=create, exclusive=exclusive)
            if err is not None:
                raise oserror(err, name)
        f = self._open_file(d, name, kind, read=read, write=write, create=create,
                            exclusive=exclusive, truncate=truncate)
        if self.readonly:
            f.readonly = True
        return f

    def mkdir(self, d: DirHandle, name: str) -> None:
        """EEXIST if anything (even a dangling symlink) is at `name`."""
        self._writable()
        self._mkdir(d, name)

    def rmdir(self, d: DirHandle, name: str) -> None:
        """ENOTEMPTY if not empty, ENOTDIR if not a directory (a symlink is not one)."""
        self._writable()
        self._rmdir(d, name)

    def unlink(self, d: DirHandle, name: str) -> None:
        """Remove a file or symlink; EISDIR for a directory."""
        self._writable()
        self._unlink(d, name)

    def rename(self, d1: DirHandle, n1: str, d2: DirHandle, n2: str) -> None:
        """POSIX rename(2): replaces a file or empty directory at the target; ENOTDIR/EISDIR
        on kind mismatch; ENOTEMPTY for a non-empty target directory; EINVAL when moving a
        directory into itself; a no-op when both name the same entry (`posix.rename_error`
        has the table)."""
        self._writable()
        self._rename(d1, n1, d2, n2)

    def link(self, d1: DirHandle, n1: str, d2: DirHandle, n2: str) -> None:
        """Hard link: `n2` in `d2` becomes another name of entry `n1` in `d1` (not followed).
        EEXIST if `n2` exists, EPERM if `n1` is a directory."""
        self._writable()
        self._link(d1, n1, d2, n2)

    def symlink(self, target: str, d: DirHandle, name: str) -> None:
        """Create symlink `name` -> `target` (stored verbatim, not checked). EEXIST if taken."""
        self._writable()
        self._symlink(target, d, name)

    def set_times(self, d: DirHandle, name: str, atim: int | None, mtim: int | None) -> None:
        """Set times of entry `name` itself (a symlink's own times when it is one)."""
        self._writable()
        self._set_times(d, name, atim, mtim)

    # --- the rules, once ---------------------------------------------------------------------

    def _writable(self) -> None:
        """EROFS on a read-only mount: the one read-only check of every mutation."""
        if self.readonly:
            raise oserror(errno.EROFS)

    def _kind(self, d: DirHandle, name: str) -> int | None:
        """The filetype of entry `name` (not followed), None when it is missing."""
        try:
            return self.lstat(d, name).filetype
        except FileNotFoundError:
            return None

    # --- the primitives a backend writes -------------------------------------------------------
    # Called only on a writable mount (`_open_file` also to open for reading), after the
    # shared rules above. `_open_file` gets the `kind` of the entry it was found to be (None:
    # missing, and then `create` is set; never a directory or a symlink), or UNKNOWN when
    # the backend has `kernel_open_errors`.

    def _open_file(self, d: DirHandle, name: str, kind: int | None, *, read: bool,
                   write: bool, create: bool, exclusive: bool, truncate: bool) -> FileHandle:
        raise NotImplementedError

    def _mkdir(self, d: DirHandle, name: str) -> None:
        raise NotImplementedError

    def _rmdir(self, d: DirHandle, name: str) -> None:
        raise NotImplementedError

    def _unlink(self, d: DirHandle, name: str) -> None:
        raise NotImplementedError

    def _rename(self, d1: DirHandle, n1: str, d2: DirHandle, n2: str) -> None:
        raise NotImplementedError

    def _link(self, d1: DirHandle, n1: str, d2: DirHandle, n2: str) -> None:
        raise oserror(errno.ENOTSUP, n2)

    def _symlink(self, target: str, d: DirHandle, name: str) -> None:
        raise oserror(errno.ENOTSUP, name)

    def _set_times(self, d: DirHandle, name: str, atim: int | None, mtim: int | None) -> None:
        raise NotImplementedError

    def _set_dir_times(self, h: DirHandle, atim: int | None, mtim: int | None) -> None:
        raise NotImplementedError

    # --- resources -----------------------------------------------------------------------------

    def use_storage(self, account: StorageAccount | None) -> None:
        """Charge what the guest adds from now on to `account` (None: count nothing).

        Backends keeping data in the host's memory or temporary files (memory, writable
        archives, overlays, fsspec spools) charge every growth before allocating it and answer
        ENOSPC when the account refuses it (see `vfswasi.quota`); the others ignore it. The
        WASI instance calls it on each mount before the guest runs; a later call replaces
        the account (what was charged to the old one stays there)."""

    def use_clock(self, clock: Clock) -> None:
        """Stamp the times the guest causes (the mtime of a write, the ctime of a rename, ...)
        with `clock.time_ns()` instead of the host's time (a `VirtualClock` for deterministic
        runs). Backends that cannot choose (a host directory) ignore it."""

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release everything the backend holds (called once, when the WASI instance closes)."""


def walk(backend: Backend, root: DirHandle, prefix: str = ""
         ) -> Iterator[tuple[DirHandle, str, int, str]]:
    """Every entry below `root`, depth first, names sorted, a directory's entries right after
    it: (its directory's handle, name, filetype, prefix + path). Symlinks are not followed.
    Iterative (a tree may be 10,000 deep); the handles it opens are released as it leaves
    them, or when the caller stops early. `root` stays the caller's."""
    stack: list[tuple[Iterator[tuple[str, int, int]] | None, DirHandle, str]] = [
        (None, root, prefix)]
    try:
        while stack:
            entries, d, here = stack[-1]
            if entries is None:  # listed when first reached, as a recursive walk would
                entries = iter(sorted(backend.listdir(d)))
                stack[-1] = (entries, d, here)
            for name, _ino, ftype in entries:
                yield d, name, ftype, here + name
                if ftype == Filetype.DIRECTORY:
                    stack.append((None, backend.open_dir(d, name), f"{here}{name}/"))
                    break
            else:
                stack.pop()
                if stack:
                    backend.release_dir(d)
    finally:
        for _, d, _ in reversed(stack[1:]):
            backend.release_dir(d)


# Device numbers for every mount that is not a host directory: one process-wide counter, so
# no two mounts (of any kind) ever report the same device, starting high to stay clear of
# the small st_dev values of the host filesystems a host-directory mount reports.
_devices = itertools.count((1 << 48) + 1)
_devices_lock = threading.Lock()


def new_device() -> int:
    """A device number no other mount in this process has."""
    with _devices_lock:
        return next(_devices)


def seconds_to_ns(seconds: float | None) -> int:
    """Float seconds (PyFS, fsspec, MemoryFS times) as int ns (0 for None). Whole seconds and
    the fraction are converted apart: `seconds * 1e9` would round 1.25e9 s + 0.25 s to
    ...249999872 ns."""
    if seconds is None:
        return 0
    whole = math.floor(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1e9)


# The file-type bits of st_mode (S_IFMT) to their WASI filetype.
_FILETYPE_OF_FMT = {
    stat.S_IFREG: Filetype.REGULAR_FILE,
    stat.S_IFDIR: Filetype.DIRECTORY,
    stat.S_IFLNK: Filetype.SYMBOLIC_LINK,
    stat.S_IFCHR: Filetype.CHARACTER_DEVICE,
    stat.S_IFBLK: Filetype.BLOCK_DEVICE,
    stat.S_IFSOCK: Filetype.SOCKET_STREAM,
}


def filetype_of_mode(mode: int) -> int:
    """abi.Filetype for a host `st_mode`."""
    return _FILETYPE_OF_FMT.get(stat.S_IFMT(mode), Filetype.UNKNOWN)
