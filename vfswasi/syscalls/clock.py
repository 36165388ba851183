"""clock_res_get, clock_time_get: realtime, monotonic, process and thread CPU time, in ns.

The clocks are the instance's (`ctx.clock`): the host's, or the virtual ones of a
deterministic run (`vfswasi.clocks`).
"""

from __future__ import annotations

from ..abi import TIMESTAMP, Clockid_, Out, Timestamp
from ..context import Context
from ._registry import syscall

_U64 = (1 << 64) - 1


@syscall(id=Clockid_, resolution=Out(TIMESTAMP))
def clock_res_get(ctx: Context, id: int, resolution: int) -> int:  # noqa: A002 - witx name
    return ctx.clock.resolution(id)


@syscall(id=Clockid_, precision=Timestamp, time=Out(TIMESTAMP))
def clock_time_get(ctx: Context, id: int, precision: int, time: int) -> int:  # noqa: A002
    # A virtual clock moved by years of poll_oneoff sleeps wraps as a u64 counter would,
    # instead of failing every later read.
    return ctx.clock.read(id) & _U64
