"""Open files of the fsspec backend: one shared state per open path (a read stream, or a
write spool written back whole), and the handles over it. See `vfswasi.backends.fsspec`."""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import suppress
from typing import TYPE_CHECKING, Any, BinaryIO

from ..vfs import FileHandle, Stat, oserror
from .pathkeyed import ErrnoTable, error_translator

if TYPE_CHECKING:
    from ..quota import StorageAccount
    from .fsspec import FsspecBackend


#: the largest piece read or copied at once
CHUNK = 1 << 20
#: a write spool stays in memory up to this size, then moves to a temporary file
SPOOL_MEMORY = 8 << 20

# exception class -> errno, for exceptions that carry none (fsspec raises FileNotFoundError(path))
_ERRNOS: ErrnoTable = (
    (FileNotFoundError, errno.ENOENT),
    (FileExistsError, errno.EEXIST),
    (IsADirectoryError, errno.EISDIR),
    (NotADirectoryError, errno.ENOTDIR),
    (PermissionError, errno.EACCES),
    (NotImplementedError, errno.ENOTSUP),
    (ValueError, errno.EINVAL),
)


#: fsspec's exceptions (and errno-less OSErrors) as errno OSErrors
fs_errors = error_translator(_ERRNOS, (NotImplementedError, ValueError))


# --- open files -------------------------------------------------------------------------------------


class SharedPath:
    """What every open handle of one path shares: a read stream, or once anyone writes, the
    spool holding the file's whole content."""

    def __init__(self, backend: FsspecBackend, path: str):
        self.backend = backend
        self.path: str | None = path  # None once unlinked: nothing is written back
        self.refs = 0
        self.stream: BinaryIO | None = None
        self.spool: Any = None  # tempfile.SpooledTemporaryFile once anyone writes
        self.dirty = False
        # the spool's bytes charged to `account` (the backend's when the spool was made)
        self.account: StorageAccount | None = None
        self.charged = 0

    @property
    def fs(self) -> Any:
        return self.backend.fs

    def readinto(self, buf: memoryview, offset: int) -> int:
        view = memoryview(buf).cast("B")
        with fs_errors(self.path or ""):
            if self.spool is not None:
                f = self.spool
            else:
                if self.stream is None:
                    if self.path is None:
                        return 0
                    self.stream = self.fs.open(self.path, "rb")
                f = self.stream
            if f.tell() != offset:  # the memory filesystem shares one BytesIO between opens
                f.seek(offset)
            total = 0
            while total < len(view):
                n = f.readinto(view[total : total + min(CHUNK, len(view) - total)])
                if not n:
                    break
                total += n
            return total

    def writable_spool(self, *, copy: bool = True) -> Any:
        """The spool, made from the file's current content on first use (`copy=False`: empty,
        for a truncate to 0)."""
        if self.spool is None:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
            self.account, self.charged = self.backend.storage, 0
            try:
                if copy and self.path is not None:
                    with fs_errors(self.path), self.fs.open(self.path, "rb") as src:
                        while data := src.read(CHUNK):
                            self._reserve(self.charged + len(data), spool)
                            spool.write(data)
            except BaseException:
                spool.close()
                self._settle(None)
                raise
            self.spool = spool
            if self.stream is not None:
                self.stream.close()
                self.stream = None
        return self.spool

    def _reserve(self, size: int, spool: Any) -> None:
        """Charge the spool growing to `size` bytes, before it does (ENOSPC if refused)."""
        if size > self.charged:
            if self.account is not None:
                self.account.charge(size - self.charged)
            self.charged = size
        if size > SPOOL_MEMORY:
            # to disk before growing, not after: SpooledTemporaryFile first writes into its
            # BytesIO, which a huge write could make fail (and free what it held)
            spool.rollover()

    def _settle(self, spool: Any) -> None:
        """Refund what was charged beyond what `spool` holds (all of it: None)."""
        size = spool.seek(0, os.SEEK_END) if spool is not None else 0
        if size < self.charged:
            if self.account is not None:
                self.account.refund(self.charged - size)
            self.charged = size

    def write(self, data: memoryview | bytes, offset: int) -> int:
        spool = self.writable_spool()
        end = spool.seek(0, os.SEEK_END)
        self._reserve(max(end, offset + len(data)), spool)
        try:
            if offset > end:
                self._zeros(spool, offset - end)
            spool.seek(offset)
            n = spool.write(data)
        finally:
            self._settle(spool)
        self.changed()
        return n

    def truncate(self, size: int) -> None:
        spool = self.writable_spool(copy=size > 0)  # O_TRUNC copies nothing
        end = spool.seek(0, os.SEEK_END)
        if size < end:
            spool.truncate(size)
            self._settle(spool)
        elif size > end:
            self._reserve(size, spool)
            try:
                self._zeros(spool, size - end)  # an in-memory spool would not grow on truncate
            finally:
                self._settle(spool)
        self.changed()

    @staticmethod
    def _zeros(spool: Any, count: int) -> None:
        block = bytes(min(count, CHUNK))
        while count > 0:
            count -= spool.write(block[:count])

    def changed(self) -> None:
        self.dirty = True
        if self.path is not None:
            self.backend._touch(self.path)

    def size(self) -> int | None:
        """The size the handles see, when it differs from what the filesystem reports."""
        if self.spool is not None:
            return self.spool.seek(0, os.SEEK_END)
        return None

    def flush(self) -> None:
        """Write the spool back to the filesystem if it changed."""
        if not self.dirty or self.path is None or self.spool is None:
            return
        spool = self.spool
        spool.seek(0)
        with fs_errors(self.path):
            with self.fs.open(self.path, "wb") as out:
                while data := spool.read(CHUNK):
                    out.write(data)
            self.backend._invalidate(self.path)
        self.dirty = False

    def release(self) -> None:
        self.refs -= 1
        if self.refs > 0:
            return
        try:
            self.flush()
        finally:
            self.backend._forget_shared(self)
            for f in (self.stream, self.spool):
                if f is not None:
                    with suppress(Exception):
                        f.close()
            self.stream = self.spool = None
            self._settle(None)


class FsspecFile(FileHandle):
    """A handle of one path's `SharedPath` state."""

    def __init__(self, shared: SharedPath, *, read: bool, write: bool):
        self._shared = shared
        self._closed = False
        self.readable = read
        self.writable = write
        shared.refs += 1

    def _pread(self, buf: memoryview, offset: int) -> int:
        return self._shared.readinto(buf, offset)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        return self._shared.write(data, offset)

    def stat(self) -> Stat:
        shared = self._shared
        backend = shared.backend
        if shared.path is None:
            st = backend._last[id(shared)]
            return st._replace(nlink=0, size=shared.size() or 0)
        st = backend._stat(shared.path)
        size = shared.size()
        return st if size is None else st._replace(size=size)

    def _truncate(self, size: int) -> None:
        self._shared.truncate(size)

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        if self._shared.path is None:
            raise oserror(errno.ENOENT)
        self._shared.backend._set_path_times(self._shared.path, atim, mtim)

    def sync(self) -> None:
        if self.writable:
            self._shared.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._shared.release()
