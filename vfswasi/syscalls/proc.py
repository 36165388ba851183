"""proc_exit, proc_raise, sched_yield, random_get."""

from __future__ import annotations

import os

from ..abi import SIGNAL_MAX, Errno, Exitcode, OutBytes, Signal, WasiError
from ..context import Context
from ._registry import syscall


class WASIExit(Exception):
    """Raised by proc_exit; unwinds the guest and carries its exit code to `WASI.start`."""

    def __init__(self, code: int) -> None:
        super().__init__(f"guest exited with code {code}")
        self.code = code


@syscall(returns_errno=False, rval=Exitcode)
def proc_exit(ctx: Context, rval: int) -> None:
    raise WASIExit(rval)


@syscall(sig=Signal)
def proc_raise(ctx: Context, sig: int) -> None:
    # Never signal the host process (uvwasi does): a guest cannot kill its embedder.
    if sig > SIGNAL_MAX:
        raise WasiError(Errno.INVAL)
    raise WasiError(Errno.NOTSUP)


@syscall()
def sched_yield(ctx: Context) -> None:
    os.sched_yield()


@syscall(buf=OutBytes)
def random_get(ctx: Context, buf: int, buf_len: int) -> None:
    # Bounds first, then filled in place, piece by piece: a 2 GiB request never becomes a
    # 2 GiB host buffer. The source is the instance's (the OS's, or a deterministic run's).
    ctx.entropy.fill(ctx.mem.slice(buf, buf_len))
