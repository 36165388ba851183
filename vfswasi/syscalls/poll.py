"""poll_oneoff: wait for clocks and fd readiness, sleeping (never spinning).

Regular files are always ready (as in wasmtime and POSIX), with nbytes = bytes left to read.
Host-fd streams (stdin a pipe or tty) are waited on with select(); in-memory streams are
ready at once. Clock subscriptions become relative deadlines on the monotonic clock.
"""

from __future__ import annotations

import select
import time

from ..abi import (
    EVENT,
    EVENTRWFLAGS_FD_READWRITE_HANGUP,
    SUBCLOCKFLAGS_ABSTIME,
    SUBSCRIPTION_FD,
    SUBSCRIPTION_HEAD,
    Clockid,
    Errno,
    Eventtype,
    WasiError,
)
from ..context import Context
from ..fdtable import DirEntry, FileEntry, StreamEntry
from ._registry import syscall
from .clock import read_clock

_EVENT_SIZE = EVENT.size


@syscall("iiii")
def poll_oneoff(ctx: Context, in_ptr: int, out_ptr: int, nsubscriptions: int,
                nevents_ptr: int) -> None:
    if nsubscriptions == 0:
        raise WasiError(Errno.INVAL)
    layout = ctx.layout
    size = layout.subscription_size
    mem = ctx.mem
    subs = mem.slice(in_ptr, nsubscriptions * size)
    mem.slice(out_ptr, nsubscriptions * _EVENT_SIZE)  # room for every event, checked up front

    events: list[tuple[int, int, int, int, int]] = []  # (userdata, errno, type, nbytes, flags)
    clocks: list[tuple[float, int]] = []  # (monotonic deadline in s, userdata)
    waits: dict[int, list[tuple[int, int]]] = {}  # host fd -> [(userdata, type)]
    write_waits: dict[int, list[tuple[int, int]]] = {}
    now = time.monotonic()

    for i in range(nsubscriptions):
        at = i * size
        userdata, tag = SUBSCRIPTION_HEAD.unpack_from(subs, at)
        if tag == Eventtype.CLOCK:
            fields = layout.subscription_clock.unpack_from(subs, at + 16)
            clock_id, timeout, _precision, flags = fields[-4:]
            try:
                if flags & SUBCLOCKFLAGS_ABSTIME:
                    timeout = max(0, timeout - read_clock(clock_id))
                elif clock_id not in tuple(Clockid):
                    raise WasiError(Errno.INVAL)
            except WasiError as e:
                events.append((userdata, e.errno, Eventtype.CLOCK, 0, 0))
                continue
            clocks.append((now + timeout / 1e9, userdata))
        elif tag in (Eventtype.FD_READ, Eventtype.FD_WRITE):
            (fd,) = SUBSCRIPTION_FD.unpack_from(subs, at + 16)
            ready = _fd_readiness(ctx, fd, tag)
            if isinstance(ready, tuple):
                errno, nbytes, flags = ready
                events.append((userdata, errno, tag, nbytes, flags))
            else:
                (waits if tag == Eventtype.FD_READ else write_waits).setdefault(
                    ready, []).append((userdata, tag))
        else:
            raise WasiError(Errno.INVAL)

    if not events:
        events = _wait(clocks, waits, write_waits)
    for n, event in enumerate(events):
        EVENT.pack_into(mem.view, out_ptr + n * _EVENT_SIZE, *event)
    mem.write_u32(nevents_ptr, len(events))


def _fd_readiness(ctx: Context, fd: int, tag: int) -> tuple[int, int, int] | int:
    """(errno, nbytes, flags) when the answer is known now, else a host fd to wait on."""
    try:
        entry = ctx.fds.get(fd)
    except WasiError as e:
        return (e.errno, 0, 0)
    if isinstance(entry, FileEntry):
        if tag == Eventtype.FD_READ:
            left = entry.handle.stat().size - entry.offset
            # At end of file there is nothing more to wait for: "hangup", as wasmtime says.
            return (0, max(0, left), 0 if left > 0 else EVENTRWFLAGS_FD_READWRITE_HANGUP)
        return (0, 0, 0)
    if isinstance(entry, DirEntry):
        return (Errno.BADF, 0, 0)
    stream = entry.stream if isinstance(entry, StreamEntry) else None
    host_fd = stream.fileno() if stream is not None else None
    if host_fd is None:
        avail = stream.readable_bytes() if stream is not None else 0
        return (0, avail or 0, 0)
    return host_fd


def _wait(clocks: list[tuple[float, int]], reads: dict[int, list[tuple[int, int]]],
          writes: dict[int, list[tuple[int, int]]]) -> list[tuple[int, int, int, int, int]]:
    deadline = min((d for d, _ in clocks), default=None)
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    if reads or writes:
        r, w, _ = select.select(list(reads), list(writes), [], timeout)
        events = [(u, 0, t, 0, 0) for fd in r for u, t in reads[fd]]
        events += [(u, 0, t, 0, 0) for fd in w for u, t in writes[fd]]
        if events:
            return events
    elif timeout:
        time.sleep(timeout)
    # The earliest deadline has passed (re-check: sleep may wake a little early).
    while (remaining := deadline - time.monotonic()) > 0:  # type: ignore[operator]
        time.sleep(remaining)
    now = time.monotonic()
    return [(u, 0, Eventtype.CLOCK, 0, 0) for d, u in clocks if d <= now]
