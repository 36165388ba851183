"""clock_res_get, clock_time_get: realtime, monotonic, process and thread CPU time, in ns."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..abi import Clockid, Errno, WasiError
from ..context import Context
from ._registry import syscall

#: WASI clock id -> (read ns, host clock id for the resolution)
CLOCKS: dict[int, tuple[Callable[[], int], int]] = {
    Clockid.REALTIME: (time.time_ns, time.CLOCK_REALTIME),
    Clockid.MONOTONIC: (time.monotonic_ns, time.CLOCK_MONOTONIC),
    Clockid.PROCESS_CPUTIME_ID: (time.process_time_ns, time.CLOCK_PROCESS_CPUTIME_ID),
    Clockid.THREAD_CPUTIME_ID: (time.thread_time_ns, time.CLOCK_THREAD_CPUTIME_ID),
}


def read_clock(clock_id: int) -> int:
    try:
        return CLOCKS[clock_id][0]()
    except KeyError:
        raise WasiError(Errno.INVAL) from None


def resolution(clock_id: int) -> int:
    try:
        host = CLOCKS[clock_id][1]
    except KeyError:
        raise WasiError(Errno.INVAL) from None
    return max(1, round(time.clock_getres(host) * 1e9))


@syscall("ii")
def clock_res_get(ctx: Context, clock_id: int, resolution_ptr: int) -> None:
    ctx.mem.write_u64(resolution_ptr, resolution(clock_id))


@syscall("iIi")
def clock_time_get(ctx: Context, clock_id: int, precision: int, time_ptr: int) -> None:
    ctx.mem.write_u64(time_ptr, read_clock(clock_id))
