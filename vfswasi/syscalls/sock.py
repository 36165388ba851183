"""sock_accept, sock_recv, sock_send, sock_shutdown on the sockets of `vfswasi.sockets`.

On any other fd they answer as wasmtime does: EBADF for a closed fd, ENOTSOCK otherwise
(checked before rights, so stdio and files say ENOTSOCK whatever rights they hold).
Result pointers are checked before the socket is touched: a bad pointer must not cost the
guest a connection or the bytes just received.
"""

from __future__ import annotations

import socket

from ..abi import (
    RIFLAGS_RECV_PEEK,
    RIFLAGS_RECV_WAITALL,
    SDFLAGS_RD,
    SDFLAGS_WR,
    Errno,
    Fdflags,
    Rights,
    WasiError,
)
from ..context import Context
from ..sockets import SocketEntry
from ._registry import syscall

ROFLAGS_RECV_DATA_TRUNCATED = 1

_SHUTDOWN = {SDFLAGS_RD: socket.SHUT_RD, SDFLAGS_WR: socket.SHUT_WR,
             SDFLAGS_RD | SDFLAGS_WR: socket.SHUT_RDWR}


def _socket(ctx: Context, fd: int, right: int) -> SocketEntry:
    entry = ctx.fds.get(fd)
    if not isinstance(entry, SocketEntry):
        raise WasiError(Errno.NOTSOCK)
    if right & ~entry.rights_base:
        raise WasiError(Errno.NOTCAPABLE)
    return entry


@syscall("iii", not_in=("unstable",))
def sock_accept(ctx: Context, fd: int, flags: int, fd_ptr: int) -> None:
    listener = _socket(ctx, fd, Rights.SOCK_ACCEPT)
    if flags & ~Fdflags.NONBLOCK:
        raise WasiError(Errno.INVAL)
    ctx.mem.slice(fd_ptr, 4)
    fds = ctx.fds
    fds.check_room()  # EMFILE leaves the connection queued, as accept(2) does
    conn = listener.stream.accept()
    try:
        new_fd = fds.open(SocketEntry(conn, flags))
    except BaseException:
        conn.close()
        raise
    if fds.peak > ctx.usage.peak_open_fds:
        ctx.usage.peak_open_fds = fds.peak
    ctx.mem.write_u32(fd_ptr, new_fd)


@syscall("iiiiii")
def sock_recv(ctx: Context, fd: int, ri_data: int, ri_data_len: int, ri_flags: int,
              ro_datalen_ptr: int, ro_flags_ptr: int) -> None:
    entry = _socket(ctx, fd, Rights.FD_READ)
    if ri_flags & ~(RIFLAGS_RECV_PEEK | RIFLAGS_RECV_WAITALL):
        raise WasiError(Errno.NOTSUP)
    mem = ctx.mem
    bufs = mem.iovecs(ri_data, ri_data_len)
    mem.slice(ro_datalen_ptr, 4)
    mem.slice(ro_flags_ptr, 2)
    flags = (socket.MSG_PEEK if ri_flags & RIFLAGS_RECV_PEEK else 0) | (
        socket.MSG_WAITALL if ri_flags & RIFLAGS_RECV_WAITALL else 0)
    n, msg_flags = entry.stream.recv(bufs, flags)
    ctx.usage.bytes_read += n
    mem.write_u32(ro_datalen_ptr, n)
    mem.slice(ro_flags_ptr, 2)[:] = (
        ROFLAGS_RECV_DATA_TRUNCATED if msg_flags & socket.MSG_TRUNC else 0).to_bytes(2, "little")


@syscall("iiiii")
def sock_send(ctx: Context, fd: int, si_data: int, si_data_len: int, si_flags: int,
              so_datalen_ptr: int) -> None:
    entry = _socket(ctx, fd, Rights.FD_WRITE)
    if si_flags:
        raise WasiError(Errno.NOTSUP)  # siflags has no flags defined
    bufs = ctx.mem.iovecs(si_data, si_data_len)
    ctx.mem.slice(so_datalen_ptr, 4)
    n = entry.stream.writev(bufs)
    ctx.usage.bytes_written += n
    ctx.mem.write_u32(so_datalen_ptr, n)


@syscall("ii")
def sock_shutdown(ctx: Context, fd: int, how: int) -> None:
    entry = _socket(ctx, fd, Rights.SOCK_SHUTDOWN)
    if how not in _SHUTDOWN:
        raise WasiError(Errno.INVAL)
    entry.stream.shutdown(_SHUTDOWN[how])
