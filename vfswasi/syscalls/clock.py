"""clock_res_get, clock_time_get: realtime, monotonic, process and thread CPU time, in ns.

The clocks are the instance's (`ctx.clock`): the host's, or the virtual ones of a
deterministic run (`vfswasi.clocks`).
"""

from __future__ import annotations

from ..context import Context
from ._registry import syscall

_U64 = (1 << 64) - 1


@syscall("ii")
def clock_res_get(ctx: Context, clock_id: int, resolution_ptr: int) -> None:
    ctx.mem.write_u64(resolution_ptr, ctx.clock.resolution(clock_id))


@syscall("iIi")
def clock_time_get(ctx: Context, clock_id: int, precision: int, time_ptr: int) -> None:
    # A virtual clock moved by years of poll_oneoff sleeps wraps as a u64 counter would,
    # instead of failing every later read.
    ctx.mem.write_u64(time_ptr, ctx.clock.read(clock_id) & _U64)
