"""stdio streams: what fds 0-2 are connected to.

Each `WASI(stdin=..., stdout=..., stderr=...)` value becomes one of these:
- an int: a host file descriptor (like Node), used as is and never closed by us;
- a binary file object (`io.BytesIO`, an open file): read with readinto / written with write;
- `bytes` (stdin only): served from memory;
- `None`: stdin is empty, output is discarded;
- a callable (stdout/stderr only): called with each chunk of bytes written.

The filetype a guest sees decides more than it seems: wasi-libc's `isatty()` is "a
CHARACTER_DEVICE without seek rights", and programs choose line buffering, prompts and
colours by it. So only a real terminal is a CHARACTER_DEVICE; a host regular file is a
REGULAR_FILE, a host socket a SOCKET_STREAM, and pipes, in-memory streams and non-terminal
devices such as /dev/null are UNKNOWN (WASI has no FIFO type; wasmtime says the same).

I/O errors are the guest's business: a closed reader (EPIPE), a full non-blocking pipe
(EAGAIN) and friends reach it as errnos, and a call that moved some bytes before failing
reports those bytes (the error comes back on the next call), as writev(2) does.
"""

from __future__ import annotations

import fcntl
import io
import os
import stat
import struct
import termios
from collections.abc import Callable
from typing import Any

from .abi import EVENTRWFLAGS_FD_READWRITE_HANGUP, Errno, Filetype, WasiError
from .vfs import filetype_of_mode

StdioSpec = int | bytes | bytearray | io.IOBase | Callable[[bytes], Any] | None

#: os.readv/os.writev refuse more buffers than this (Linux's IOV_MAX); a longer list is
#: served partially, which POSIX allows.
_IOV_MAX = 1024
_INT = struct.Struct("i")
#: the most a stdout/stderr callback is handed at once
_CALLBACK_CHUNK = 1 << 16


def _vectored(transfer: Callable[[memoryview], int], bufs: list[memoryview]) -> int:
    """Run `transfer` over `bufs` in order until one comes up short; an error after some
    bytes moved reports those bytes instead (the next call sees the error again)."""
    total = 0
    for buf in bufs:
        if not buf:
            continue
        try:
            n = transfer(buf)
        except OSError:
            if total:
                return total
            raise
        total += n
        if n < len(buf):
            break
    return total


class Stream:
    filetype: int = Filetype.UNKNOWN
    #: the instance's `RunControl` (set by `WASI`): a blocking read waits through it, so a
    #: timeout or Ctrl-C stops a guest blocked on an empty pipe or an idle socket
    control: Any = None

    def await_input(self, fd: int) -> None:
        """Before a read that would block in the kernel: wait until `fd` is readable, in
        slices that a stop can cut short (a non-blocking fd reads, or fails, at once)."""
        if self.control is not None and os.get_blocking(fd):
            self.control.wait_readable(fd)

    def readinto(self, buf: memoryview) -> int:
        raise WasiError(Errno.BADF)

    def write(self, data: memoryview) -> int:
        raise WasiError(Errno.BADF)

    def readv(self, bufs: list[memoryview]) -> int:
        """Fill `bufs` in order, stopping at a short read (fd_read)."""
        return _vectored(self.readinto, bufs)

    def writev(self, bufs: list[memoryview]) -> int:
        """Write `bufs` in order, stopping at a short write (fd_write): never skip a gap."""
        return _vectored(self.write, bufs)

    def readable_bytes(self) -> int | None:
        """For poll_oneoff: bytes available now, or None when that cannot be known."""
        return None

    def fileno(self) -> int | None:
        """A host fd that poll_oneoff can wait on, or None (then it is ready at once)."""
        return None

    def poll_info(self) -> tuple[int, int]:
        """(nbytes, eventrwflags) for an fd_read event once `fileno()` polled readable."""
        return 0, 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def host_filetype(fd: int) -> int:
    """The WASI filetype to report for a host fd (see the module docstring)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return Filetype.UNKNOWN
    if os.isatty(fd):
        return Filetype.CHARACTER_DEVICE
    # Only what a stream can be: a directory or a non-tty character device stays UNKNOWN.
    kind = filetype_of_mode(mode)
    if kind in (Filetype.REGULAR_FILE, Filetype.BLOCK_DEVICE, Filetype.SOCKET_STREAM):
        return kind
    return Filetype.UNKNOWN


def pending_bytes(fd: int) -> int | None:
    """Bytes readable from `fd` right now (FIONREAD), None when the fd cannot say."""
    try:
        return _INT.unpack(fcntl.ioctl(fd, termios.FIONREAD, bytes(_INT.size)))[0]
    except OSError:
        return None


class HostFdStream(Stream):
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.filetype = host_filetype(fd)
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = 0
        # Pipes and sockets can be hung up on: readable with nothing to read means EOF.
        self._hangs_up = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)

    def readinto(self, buf: memoryview) -> int:
        self.await_input(self.fd)
        return os.readv(self.fd, [buf])

    def write(self, data: memoryview) -> int:
        return self.writev([data])

    def readv(self, bufs: list[memoryview]) -> int:
        # One readv(2): a loop would block on the second buffer of an interactive stdin
        # that has already delivered what it had.
        bufs = [b for b in bufs if b][:_IOV_MAX]
        if not bufs:
            return 0
        self.await_input(self.fd)
        return os.readv(self.fd, bufs)

    def writev(self, bufs: list[memoryview]) -> int:
        pending = [b for b in bufs if b][:_IOV_MAX]
        total = 0
        while pending:
            try:
                n = os.writev(self.fd, pending)
            except OSError:
                if total:
                    return total  # e.g. EAGAIN on a full non-blocking pipe after a partial write
                raise
            total += n
            while pending and n >= len(pending[0]):
                n -= len(pending[0])
                pending.pop(0)
            if pending and n:
                pending[0] = pending[0][n:]
        return total

    def fileno(self) -> int | None:
        return self.fd

    def poll_info(self) -> tuple[int, int]:
        n = pending_bytes(self.fd)
        if n == 0 and self._hangs_up:
            return 0, EVENTRWFLAGS_FD_READWRITE_HANGUP
        return n or 0, 0


class FileObjStream(Stream):
    """A Python binary file object."""

    def __init__(self, f: Any) -> None:
        self.f = f
        try:
            self.filetype = host_filetype(f.fileno())
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            self.filetype = Filetype.UNKNOWN

    def readinto(self, buf: memoryview) -> int:
        return self.f.readinto(buf) or 0

    def write(self, data: memoryview) -> int:
        n = self.f.write(data)
        return len(data) if n is None else n

    def readable_bytes(self) -> int | None:
        if isinstance(self.f, io.BytesIO):
            return len(self.f.getbuffer()) - self.f.tell()
        return None

    def flush(self) -> None:
        flush = getattr(self.f, "flush", None)
        if flush is not None:
            try:
                flush()
            except OSError:
                pass  # the reader went away (EPIPE): nobody is left to tell

    def close(self) -> None:
        self.flush()


class CallbackStream(Stream):
    def __init__(self, fn: Callable[[bytes], Any]) -> None:
        self.fn = fn

    def write(self, data: memoryview) -> int:
        # in pieces: one huge guest buffer must not become one huge host copy
        for at in range(0, len(data), _CALLBACK_CHUNK):
            self.fn(bytes(data[at : at + _CALLBACK_CHUNK]))
        return len(data)


class NullStream(Stream):
    """Empty input / discarded output."""

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
        try:
            os.fstat(spec)
        except (OSError, OverflowError, ValueError):  # closed, never opened, or negative
            raise ValueError(f"{name}={spec} is not an open file descriptor: the guest's "
                             f"{'input' if for_input else 'output'} would be lost") from None
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
