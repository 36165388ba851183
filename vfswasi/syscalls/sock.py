"""sock_accept, sock_recv, sock_send, sock_shutdown on the sockets of `vfswasi.sockets`.

On any other fd they answer as wasmtime does: EBADF for a closed fd, ENOTSOCK otherwise
(checked before rights, so stdio and files say ENOTSOCK whatever rights they hold).
Result pointers are checked before the socket is touched: a bad pointer must not cost the
guest a connection or the bytes just received.
"""

from __future__ import annotations

import socket

from ..abi import (
    FD,
    RIFLAGS_RECV_PEEK,
    RIFLAGS_RECV_WAITALL,
    ROFLAGS,
    SDFLAGS_RD,
    SDFLAGS_WR,
    SIZE,
    Ciovecs,
    Errno,
    Fd,
    Fdflags,
    Fdflags_,
    Iovecs,
    Out,
    Riflags_,
    Rights,
    Roflags,
    Sdflags_,
    Siflags_,
    WasiError,
)
from ..context import Context
from ..sockets import SocketEntry
from ._registry import syscall

_SHUTDOWN = {SDFLAGS_RD: socket.SHUT_RD, SDFLAGS_WR: socket.SHUT_WR,
             SDFLAGS_RD | SDFLAGS_WR: socket.SHUT_RDWR}


def _socket(ctx: Context, fd: int, right: int) -> SocketEntry:
    entry = ctx.fds.get(fd)
    if not isinstance(entry, SocketEntry):
        raise WasiError(Errno.NOTSOCK)
    if right & ~entry.rights_base:
        raise WasiError(Errno.NOTCAPABLE)
    return entry


@syscall(not_in=("unstable",), fd=Fd, flags=Fdflags_, conn=Out(FD))
def sock_accept(ctx: Context, fd: int, flags: int, conn: int) -> int:
    listener = _socket(ctx, fd, Rights.SOCK_ACCEPT)
    if flags & ~Fdflags.NONBLOCK:
        raise WasiError(Errno.INVAL)
    ctx.mem.slice(conn, 4)
    fds = ctx.fds
    fds.check_room()  # EMFILE leaves the connection queued, as accept(2) does
    accepted = listener.stream.accept()
    try:
        new_fd = fds.open(SocketEntry(accepted, flags))
    except BaseException:
        accepted.close()
        raise
    if fds.peak > ctx.usage.peak_open_fds:
        ctx.usage.peak_open_fds = fds.peak
    return new_fd


@syscall(fd=Fd, ri_data=Iovecs, ri_flags=Riflags_, ro_datalen=Out(SIZE), ro_flags=Out(ROFLAGS))
def sock_recv(ctx: Context, fd: int, ri_data: int, ri_data_len: int, ri_flags: int,
              ro_datalen: int, ro_flags: int) -> tuple[int, int]:
    entry = _socket(ctx, fd, Rights.FD_READ)
    if ri_flags & ~(RIFLAGS_RECV_PEEK | RIFLAGS_RECV_WAITALL):
        raise WasiError(Errno.NOTSUP)
    mem = ctx.mem
    bufs = mem.iovecs(ri_data, ri_data_len)
    # the results must fit before anything is received: a bad pointer must not cost data
    mem.slice(ro_datalen, SIZE.size)
    mem.slice(ro_flags, ROFLAGS.size)
    flags = (socket.MSG_PEEK if ri_flags & RIFLAGS_RECV_PEEK else 0) | (
        socket.MSG_WAITALL if ri_flags & RIFLAGS_RECV_WAITALL else 0)
    n, msg_flags = entry.stream.recv(bufs, flags)
    ctx.usage.bytes_read += n
    return n, Roflags.RECV_DATA_TRUNCATED if msg_flags & socket.MSG_TRUNC else 0


@syscall(fd=Fd, si_data=Ciovecs, si_flags=Siflags_, so_datalen=Out(SIZE))
def sock_send(ctx: Context, fd: int, si_data: int, si_data_len: int, si_flags: int,
              so_datalen: int) -> int:
    entry = _socket(ctx, fd, Rights.FD_WRITE)
    if si_flags:
        raise WasiError(Errno.NOTSUP)  # siflags has no flags defined
    bufs = ctx.mem.iovecs(si_data, si_data_len)
    ctx.mem.slice(so_datalen, SIZE.size)
    n = entry.stream.writev(bufs)
    ctx.usage.bytes_written += n
    return n


@syscall(fd=Fd, how=Sdflags_)
def sock_shutdown(ctx: Context, fd: int, how: int) -> None:
    entry = _socket(ctx, fd, Rights.SOCK_SHUTDOWN)
    if how not in _SHUTDOWN:
        raise WasiError(Errno.INVAL)
    entry.stream.shutdown(_SHUTDOWN[how])
