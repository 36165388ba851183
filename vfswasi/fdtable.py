"""The guest's file descriptor table: fd number -> open file, open directory or stream.

Each entry carries its WASI rights (only ever narrowed) and fdflags. File offsets live here,
not in backend file objects, so every backend only has to read and write at an offset.
fds 0-2 are stdio, preopens follow contiguously from 3 (wasi-libc probes `fd_prestat_get`
upward until EBADF), and a new fd is always the lowest free number.
"""

from __future__ import annotations

from typing import Any

from .abi import Errno, Filetype, WasiError
from .vfs import Backend, DirHandle, FileHandle, Stat


class Entry:
    __slots__ = ("filetype", "rights_base", "rights_inheriting", "fdflags")

    def __init__(self, filetype: int, rights_base: int, rights_inheriting: int, fdflags: int = 0):
        self.filetype = filetype
        self.rights_base = rights_base
        self.rights_inheriting = rights_inheriting
        self.fdflags = fdflags

    def set_fdflags(self, fdflags: int) -> None:
        """fd_fdstat_set_flags, after validation; an entry backed by a host object (a
        socket) applies what the host must know, such as NONBLOCK."""
        self.fdflags = fdflags

    def close(self) -> None:
        pass


class FileEntry(Entry):
    """A regular file opened through a backend."""

    __slots__ = ("backend", "handle", "offset")

    def __init__(self, backend: Backend, handle: FileHandle, rights_base: int,
                 rights_inheriting: int, fdflags: int) -> None:
        super().__init__(Filetype.REGULAR_FILE, rights_base, rights_inheriting, fdflags)
        self.backend = backend
        self.handle = handle
        self.offset = 0

    def close(self) -> None:
        self.handle.close()


class DirEntry(Entry):
    """An open directory: a preopen (with its guest path) or one opened by path_open."""

    __slots__ = ("backend", "handle", "owned", "preopen", "listing")

    def __init__(self, backend: Backend, handle: DirHandle, rights_base: int,
                 rights_inheriting: int, *, owned: bool, preopen: str | None = None) -> None:
        super().__init__(Filetype.DIRECTORY, rights_base, rights_inheriting)
        self.backend = backend
        self.handle = handle
        self.owned = owned  # False for a backend's root(), which the backend itself owns
        self.preopen = preopen
        # fd_readdir's snapshot [(name, ino, filetype)], taken at cookie 0 so cookies stay stable
        self.listing: list[tuple[str, int, int]] | None = None

    def stat(self) -> Stat:
        return self.backend.stat_dir(self.handle)

    def close(self) -> None:
        if self.owned:
            self.backend.release_dir(self.handle)


class StreamEntry(Entry):
    """stdio (or any other byte stream): no offsets, no seeking."""

    __slots__ = ("stream",)

    def __init__(self, stream: Any, rights_base: int) -> None:
        super().__init__(stream.filetype, rights_base, 0)
        self.stream = stream

    def close(self) -> None:
        self.stream.close()


class FdTable:
    def __init__(self, max_open: int | None = None) -> None:
        self._fds: dict[int, Entry] = {}
        self.max_open = max_open  # EMFILE past this many open fds (None: no cap)

    def __contains__(self, fd: int) -> bool:
        return fd in self._fds

    def items(self) -> list[tuple[int, Entry]]:
        return sorted(self._fds.items())

    def get(self, fd: int, rights: int = 0) -> Entry:
        """The entry for `fd`, checking that it holds `rights` (EBADF / ENOTCAPABLE)."""
        entry = self._fds.get(fd)
        if entry is None:
            raise WasiError(Errno.BADF)
        if rights & ~entry.rights_base:
            raise WasiError(Errno.NOTCAPABLE)
        return entry

    def file(self, fd: int, rights: int = 0) -> FileEntry:
        """A regular file; EBADF for anything else (directories included, as wasmtime)."""
        entry = self.get(fd)
        if not isinstance(entry, FileEntry):
            raise WasiError(Errno.BADF)
        if rights & ~entry.rights_base:
            raise WasiError(Errno.NOTCAPABLE)
        return entry

    def dir(self, fd: int, rights: int = 0) -> DirEntry:
        """A directory; ENOTDIR for an open file or stream."""
        entry = self.get(fd)
        if not isinstance(entry, DirEntry):
            raise WasiError(Errno.NOTDIR)
        if rights & ~entry.rights_base:
            raise WasiError(Errno.NOTCAPABLE)
        return entry

    def insert(self, entry: Entry) -> int:
        fd = 0
        while fd in self._fds:
            fd += 1
        self._fds[fd] = entry
        return fd

    def pop(self, fd: int) -> Entry:
        entry = self._fds.pop(fd, None)
        if entry is None:
            raise WasiError(Errno.BADF)
        return entry

    def renumber(self, src: int, dst: int) -> None:
        """fd_renumber: `dst` (which must be open) is closed and replaced by `src`."""
        if src not in self._fds or dst not in self._fds:
            raise WasiError(Errno.BADF)
        if src != dst:
            self._fds.pop(dst).close()
            self._fds[dst] = self._fds.pop(src)

    def close_all(self) -> None:
        for fd in sorted(self._fds):
            try:
                self._fds.pop(fd).close()
            except OSError:
                pass
