"""stdio streams: what fds 0-2 are connected to.

Each `WASI(stdin=..., stdout=..., stderr=...)` value becomes one of these:
- an int: a host file descriptor (like Node), used as is and never closed by us;
- a binary file object (`io.BytesIO`, an open file): read with readinto / written with write;
- `bytes` (stdin only): served from memory;
- `None`: stdin is empty, output is discarded;
- a callable (stdout/stderr only): called with each chunk of bytes written.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from typing import Any

from .abi import Errno, Filetype, WasiError

StdioSpec = int | bytes | bytearray | io.IOBase | Callable[[bytes], Any] | None


class Stream:
    filetype: int = Filetype.UNKNOWN

    def readinto(self, buf: memoryview) -> int:
        raise WasiError(Errno.BADF)

    def write(self, data: memoryview) -> int:
        raise WasiError(Errno.BADF)

    def readable_bytes(self) -> int | None:
        """For poll_oneoff: bytes available now, or None when that cannot be known."""
        return None

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        pass


class HostFdStream(Stream):
    def __init__(self, fd: int) -> None:
        self.fd = fd
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = 0
        if os.isatty(fd) or stat.S_ISCHR(mode):
            self.filetype = Filetype.CHARACTER_DEVICE
        elif stat.S_ISREG(mode):
            self.filetype = Filetype.REGULAR_FILE
        else:
            self.filetype = Filetype.UNKNOWN  # pipes and sockets, as wasmtime reports them

    def readinto(self, buf: memoryview) -> int:
        return os.readv(self.fd, [buf])

    def write(self, data: memoryview) -> int:
        total = 0
        while total < len(data):
            total += os.write(self.fd, data[total:])
        return total

    def fileno(self) -> int | None:
        return self.fd


class FileObjStream(Stream):
    """A Python binary file object."""

    filetype = Filetype.CHARACTER_DEVICE

    def __init__(self, f: Any) -> None:
        self.f = f

    def readinto(self, buf: memoryview) -> int:
        return self.f.readinto(buf) or 0

    def write(self, data: memoryview) -> int:
        n = self.f.write(data)
        return len(data) if n is None else n

    def readable_bytes(self) -> int | None:
        if isinstance(self.f, io.BytesIO):
            return len(self.f.getbuffer()) - self.f.tell()
        return None

    def close(self) -> None:
        flush = getattr(self.f, "flush", None)
        if flush is not None:
            flush()


class CallbackStream(Stream):
    filetype = Filetype.CHARACTER_DEVICE

    def __init__(self, fn: Callable[[bytes], Any]) -> None:
        self.fn = fn

    def write(self, data: memoryview) -> int:
        self.fn(bytes(data))
        return len(data)


class NullStream(Stream):
    """Empty input / discarded output."""

    filetype = Filetype.CHARACTER_DEVICE

    def readinto(self, buf: memoryview) -> int:
        return 0

    def write(self, data: memoryview) -> int:
        return len(data)

    def readable_bytes(self) -> int | None:
        return 0


def open_stream(spec: StdioSpec, name: str) -> Stream:
    """The stream for stdio `name` ("stdin", "stdout" or "stderr") from a user's value."""
    for_input = name == "stdin"
    if spec is None:
        return NullStream()
    if isinstance(spec, io.TextIOBase):
        raise TypeError(f"{name} must be a binary file object (opened with 'b'), not text")
    if isinstance(spec, int) and not isinstance(spec, bool):
        return HostFdStream(spec)
    if isinstance(spec, (bytes, bytearray, memoryview)):
        if not for_input:
            raise TypeError(f"{name} cannot be bytes: only stdin takes bytes")
        return FileObjStream(io.BytesIO(bytes(spec)))
    if hasattr(spec, "readinto" if for_input else "write"):
        return FileObjStream(spec)
    if callable(spec) and not for_input:
        return CallbackStream(spec)
    kinds = "a host fd, a binary file object, bytes or None" if for_input else (
        "a host fd, a binary file object, a callable or None")
    raise TypeError(f"{name} must be {kinds}, not {type(spec).__name__}")
