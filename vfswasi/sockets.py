"""Sockets handed to the guest: preopened TCP listeners and the connections they accept.

WASI preview1 cannot create sockets; the host hands the guest listening sockets
(`WASI(sockets=[sock])`, `vfswasi run --tcplisten HOST:PORT`) and the guest accepts
connections on them with `sock_accept`. Each becomes a `SocketEntry` in the fd table, a
stream entry whose filetype is SOCKET_STREAM, so `fd_read`/`fd_write`, `poll_oneoff`,
`fd_fdstat_get` and `fd_close` work on it as on any stream, and `sock_*` add the rest.

Listeners are given the fds after the preopened directories. wasmtime's CLI puts them
first, at fd 3, but wasi-libc scans for preopens upward from 3 and stops at the first
EBADF, which `fd_prestat_get` answers for a socket: directories after a socket would be
invisible to a libc guest.

The guest's socket is our own duplicate (`socket.dup()`) of the one handed in: closing it
(the guest's `fd_close`, or `WASI.close()`) leaves the caller's socket open. The blocking
mode, however, lives in the shared open file description, as with any dup(2).
"""

from __future__ import annotations

import errno
import os
import socket

from .abi import (
    EVENTRWFLAGS_FD_READWRITE_HANGUP,
    RIGHTS_SOCKET,
    Errno,
    Fdflags,
    Filetype,
    WasiError,
)
from .fdtable import StreamEntry
from .stdio import Stream, pending_bytes

#: sends never raise SIGPIPE (an embedder may not ignore it as Python does): EPIPE instead
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


class SocketStream(Stream):
    """A connected or listening stream socket."""

    filetype = Filetype.SOCKET_STREAM

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))

    # --- data ---------------------------------------------------------------------------------

    def recv(self, bufs: list[memoryview], flags: int = 0) -> tuple[int, int]:
        """(bytes received, recvmsg flags) into `bufs`, with MSG_PEEK / MSG_WAITALL flags."""
        bufs = [b for b in bufs if b]
        if not bufs:
            return 0, 0  # as read(2) with a zero count: no wait
        if self.listening:  # readable when a connection waits, yet nothing to receive
            raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
        if (flags & socket.MSG_WAITALL and not flags & socket.MSG_PEEK
                and self.control is not None and self.sock.getblocking()):
            return self._recv_all(bufs, flags & ~socket.MSG_WAITALL)
        self.await_input(self.sock.fileno())
        n, _ancillary, msg_flags, _address = self.sock.recvmsg_into(bufs, 0, flags)
        return n, msg_flags

    def _recv_all(self, bufs: list[memoryview], flags: int) -> tuple[int, int]:
        """MSG_WAITALL as a loop of plain receives, each waited for through the run control:
        the kernel's own WAITALL would block past a timeout or Ctrl-C once some data came."""
        total, msg_flags = 0, 0
        while bufs:
            self.await_input(self.sock.fileno())
            n, _ancillary, msg_flags, _address = self.sock.recvmsg_into(bufs, 0, flags)
            if n == 0:  # the peer is done: as WAITALL, return what came
                break
            total += n
            while bufs and n >= len(bufs[0]):
                n -= len(bufs[0])
                bufs = bufs[1:]
            if bufs and n:
                bufs = [bufs[0][n:], *bufs[1:]]
        return total, msg_flags

    def readinto(self, buf: memoryview) -> int:
        return self.recv([buf])[0]

    def readv(self, bufs: list[memoryview]) -> int:
        return self.recv(bufs)[0]

    def write(self, data: memoryview) -> int:
        return self.writev([data])

    def writev(self, bufs: list[memoryview]) -> int:
        bufs = [b for b in bufs if b]
        return self.sock.sendmsg(bufs, (), _SEND_FLAGS) if bufs else 0

    # --- readiness --------------------------------------------------------------------------------

    def fileno(self) -> int | None:
        return self.sock.fileno()

    def poll_info(self) -> tuple[int, int]:
        if self.listening:
            return 1, 0  # a connection is waiting (wasmtime also says 1)
        n = pending_bytes(self.sock.fileno())
        if n == 0:
            return 0, EVENTRWFLAGS_FD_READWRITE_HANGUP  # readable yet empty: the peer is done
        return n or 0, 0

    # --- socket operations ----------------------------------------------------------------------

    def accept(self) -> SocketStream:
        self.await_input(self.sock.fileno())  # a pending connection makes it readable
        conn, _address = self.sock.accept()
        stream = SocketStream(conn)
        stream.control = self.control
        return stream

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def set_blocking(self, blocking: bool) -> None:
        self.sock.setblocking(blocking)

    def close(self) -> None:
        self.sock.close()


class SocketEntry(StreamEntry):
    """A socket fd. fdflags NONBLOCK is the host socket's own mode, so EAGAIN is real."""

    __slots__ = ()

    stream: SocketStream

    def __init__(self, stream: SocketStream, fdflags: int = 0) -> None:
        super().__init__(stream, RIGHTS_SOCKET)
        self.set_fdflags(fdflags)

    def set_fdflags(self, fdflags: int) -> None:
        if fdflags & ~Fdflags.NONBLOCK:
            raise WasiError(Errno.INVAL)  # APPEND or *SYNC mean nothing here (wasmtime agrees)
        self.stream.set_blocking(not fdflags & Fdflags.NONBLOCK)
        self.fdflags = fdflags


def socket_entry(sock: socket.socket) -> SocketEntry:
    """The fd entry for a socket handed in by the embedder (duplicated: see the module doc).

    A listening socket is served as a listener; a connected one as a stream; a socket that
    is neither (bound, or new) is put into the listening state.
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sockets must be socket.socket objects, not {type(sock).__name__}")
    if sock.type != socket.SOCK_STREAM:
        raise TypeError("only stream (TCP or Unix stream) sockets can be handed to a guest")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and not _connected(sock):
        sock.listen()
    own = sock.dup()
    try:
        return SocketEntry(SocketStream(own))
    except BaseException:
        own.close()
        raise


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def listen_tcp(address: str) -> socket.socket:
    """A listening TCP socket for "HOST:PORT" ("[::1]:8080" for IPv6; port 0 picks one)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    if not 0 <= int(port) <= 65535:  # getaddrinfo would quietly take it modulo 65536
        raise ValueError(f"port {int(port)} is out of range (0-65535; 0 picks a free one)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    family, _type, _proto, _name, sockaddr = infos[0]
    return socket.create_server(sockaddr, family=family)
