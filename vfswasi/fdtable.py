"""The guest's file descriptor table: fd number -> open file, open directory or stream.

Each entry carries its WASI rights (only ever narrowed) and fdflags. File offsets live here,
not in backend file objects, so every backend only has to read and write at an offset.
fds 0-2 are stdio, preopens follow contiguously from 3 (wasi-libc probes `fd_prestat_get`
upward until EBADF), and a new fd is always the lowest free number.

The lowest free number comes from a heap of the numbers freed below `_next` (the first number
never handed out), so opening and closing cost O(log n) however many fds are open. The table
holds at most `max_open` fds (a `ulimit -n`): the guest's own opens past it get EMFILE; stdio,
preopens and sockets given at construction count towards it but are never refused, so a cap
smaller than them only means the guest cannot open anything more.
"""

from __future__ import annotations

import heapq
from typing import Any

from .abi import Errno, Filetype, WasiError
from .vfs import Backend, DirHandle, FileHandle, Stat, io_calls


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
    """A regular file opened through a backend. `pread` / `pwrite` are the handle's read and
    write primitives, bound once here (`vfs.io_calls`): the fd's rights stand for its mode."""

    __slots__ = ("backend", "handle", "offset", "pread", "pwrite")

    def __init__(self, backend: Backend, handle: FileHandle, rights_base: int,
                 rights_inheriting: int, fdflags: int) -> None:
        super().__init__(Filetype.REGULAR_FILE, rights_base, rights_inheriting, fdflags)
        self.backend = backend
        self.handle = handle
        self.offset = 0
        self.pread, self.pwrite = io_calls(handle)

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
        # fd_readdir's snapshot, taken at cookie 0 so cookies stay stable: every dirent
        # record packed back to back, and where the record of each cookie starts
        self.listing: tuple[bytes, list[int]] | None = None

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
        #: the most fds that were ever open at once
        self.peak = 0
        # Every number below _next that is not in _fds is in _free, and nothing else is.
        self._free: list[int] = []
        self._next = 0

    def __contains__(self, fd: int) -> bool:
        return fd in self._fds

    def items(self) -> list[tuple[int, Entry]]:
        return sorted(self._fds.items())

    def lookup(self, fd: int) -> Entry | None:
        """The entry for `fd`, or None (no rights checked: for poll_oneoff's readiness)."""
        return self._fds.get(fd)

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

    def __len__(self) -> int:
        return len(self._fds)

    def insert(self, entry: Entry) -> int:
        """Put `entry` at the lowest free number, whatever the cap: for what the embedder
        gives the guest (stdio, preopens, sockets). The guest's own opens use `open`."""
        fd = heapq.heappop(self._free) if self._free else self._next
        if fd == self._next:
            self._next += 1
        self._fds[fd] = entry
        if len(self._fds) > self.peak:
            self.peak = len(self._fds)
        return fd

    def check_room(self) -> None:
        """EMFILE when the table is full; called before any work a new fd would need (an
        open that creates a file, an accepted connection), as Linux reserves the fd first."""
        if self.max_open is not None and len(self._fds) >= self.max_open:
            raise WasiError(Errno.MFILE)

    def open(self, entry: Entry) -> int:
        """`insert` for an fd the guest asked for: EMFILE past `max_open`."""
        self.check_room()
        return self.insert(entry)

    def _release(self, fd: int) -> None:
        if fd == self._next - 1:
            self._next = fd  # keeps the heap small when the guest closes its newest fd
        else:
            heapq.heappush(self._free, fd)

    def pop(self, fd: int) -> Entry:
        entry = self._fds.pop(fd, None)
        if entry is None:
            raise WasiError(Errno.BADF)
        self._release(fd)
        return entry

    def renumber(self, src: int, dst: int) -> None:
        """fd_renumber: `dst` (which must be open) is closed and replaced by `src`."""
        if src not in self._fds or dst not in self._fds:
            raise WasiError(Errno.BADF)
        if src != dst:
            replaced = self._fds[dst]
            self._fds[dst] = self._fds.pop(src)
            self._release(src)
            try:
                replaced.close()
            except OSError:
                pass  # dup2(2) drops the errors close(2) would have reported, and so do we

    def close_all(self) -> None:
        for fd in sorted(self._fds):
            try:
                self._fds.pop(fd).close()
            except OSError:
                pass
        self._free.clear()
        self._next = 0
