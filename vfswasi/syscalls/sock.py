"""sock_accept, sock_recv, sock_send, sock_shutdown.

No fd is a socket yet (preopened sockets are a later feature), so these answer as wasmtime
does for a non-socket: EBADF for a closed fd, ENOTSOCK for any other.
"""

from __future__ import annotations

from ..abi import Errno, WasiError
from ..context import Context
from ._registry import syscall


def _not_a_socket(ctx: Context, fd: int) -> None:
    ctx.fds.get(fd)
    raise WasiError(Errno.NOTSOCK)


@syscall("iii", not_in=("unstable",))
def sock_accept(ctx: Context, fd: int, flags: int, fd_ptr: int) -> None:
    _not_a_socket(ctx, fd)


@syscall("iiiiii")
def sock_recv(ctx: Context, fd: int, ri_data: int, ri_data_len: int, ri_flags: int,
              ro_datalen_ptr: int, ro_flags_ptr: int) -> None:
    _not_a_socket(ctx, fd)


@syscall("iiiii")
def sock_send(ctx: Context, fd: int, si_data: int, si_data_len: int, si_flags: int,
              so_datalen_ptr: int) -> None:
    _not_a_socket(ctx, fd)


@syscall("ii")
def sock_shutdown(ctx: Context, fd: int, how: int) -> None:
    _not_a_socket(ctx, fd)
