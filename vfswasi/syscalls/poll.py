"""poll_oneoff: wait for clocks and fd readiness, sleeping (never spinning).

Regular files are always ready (as in wasmtime and POSIX), with nbytes = bytes left to read.
Streams on host fds (stdin a pipe or tty, sockets) are waited on with poll(2), which blocks
in the kernel, and report the bytes readable (FIONREAD) and HANGUP once the peer has gone;
in-memory streams are ready at once. Clock subscriptions become relative deadlines on the
monotonic clock.
"""

from __future__ import annotations

import math
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
from ..stdio import Stream
from ._registry import syscall
from .clock import read_clock

_EVENT_SIZE = EVENT.size
_CLOCK_IDS = frozenset(Clockid)

Event = tuple[int, int, int, int, int]  # userdata, errno, type, nbytes, flags
#: host fd -> [(userdata, event type, stream)] waiting on it
Waits = dict[int, list[tuple[int, int, Stream]]]

_POLL_MASK = {Eventtype.FD_READ: select.POLLIN, Eventtype.FD_WRITE: select.POLLOUT}
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


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

    events: list[Event] = []
    clocks: list[tuple[float, int]] = []  # (monotonic deadline in s, userdata)
    waits: Waits = {}
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
                elif clock_id not in _CLOCK_IDS:
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
                waits.setdefault(ready.fileno(), []).append((userdata, tag, ready))  # type: ignore[arg-type]
        else:
            raise WasiError(Errno.INVAL)

    if not events:
        events = _wait(clocks, waits)
    for n, event in enumerate(events):
        EVENT.pack_into(mem.view, out_ptr + n * _EVENT_SIZE, *event)
    mem.write_u32(nevents_ptr, len(events))


def _fd_readiness(ctx: Context, fd: int, tag: int) -> tuple[int, int, int] | Stream:
    """(errno, nbytes, flags) when the answer is known now, else the stream to wait on."""
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
    if isinstance(entry, DirEntry) or not isinstance(entry, StreamEntry):
        return (Errno.BADF, 0, 0)
    stream = entry.stream
    if stream.fileno() is None:
        return (0, stream.readable_bytes() or 0, 0)
    return stream


def _wait(clocks: list[tuple[float, int]], waits: Waits) -> list[Event]:
    deadline = min((d for d, _ in clocks), default=None)
    if waits:
        poller = select.poll()
        for fd, subs in waits.items():
            mask = 0
            for _u, tag, _s in subs:
                mask |= _POLL_MASK[tag]
            poller.register(fd, mask)
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            # poll(2) counts whole milliseconds: round up, so a deadline is never missed early.
            ready = poller.poll(None if timeout is None else math.ceil(timeout * 1000))
            events = [ev for fd, revents in ready for ev in _fd_events(waits[fd], revents)]
            if events or deadline is not None:
                break
    else:
        events = []
        while deadline is not None and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(remaining)  # re-checked: sleep may wake a little early
    now = time.monotonic()
    if not events and deadline is not None:
        while (remaining := deadline - now) > 0:
            time.sleep(remaining)
            now = time.monotonic()
    return events + [(u, 0, Eventtype.CLOCK, 0, 0) for d, u in clocks if d <= now]


def _fd_events(subs: list[tuple[int, int, Stream]], revents: int) -> list[Event]:
    events = []
    for userdata, tag, stream in subs:
        if not revents & (_POLL_MASK[tag] | _GONE):
            continue
        if tag == Eventtype.FD_READ:
            nbytes, flags = stream.poll_info()
            if revents & _GONE and not nbytes:
                flags |= EVENTRWFLAGS_FD_READWRITE_HANGUP
        else:
            nbytes, flags = 0, EVENTRWFLAGS_FD_READWRITE_HANGUP if revents & _GONE else 0
        events.append((userdata, 0, tag, nbytes, flags))
    return events
