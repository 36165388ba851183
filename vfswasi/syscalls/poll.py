"""poll_oneoff: wait for clocks and fd readiness, sleeping (never spinning).

Regular files are always ready (as in wasmtime and POSIX), with nbytes = bytes left to read.
Streams on host fds (stdin a pipe or tty, sockets) are waited on with poll(2), which blocks
in the kernel, and report the bytes readable (FIONREAD) and HANGUP once the peer has gone;
in-memory streams are ready at once. Every subscription ready when the call decides gets its
event, as poll(2) reports every ready fd.

Host memory stays small whatever nsubscriptions is: the subscriptions are read twice straight
from guest memory, once to learn what to wait for (the earliest clock, the set of host fds)
and once, after the wait, to write each ready one's event straight into the guest's array.
Nothing per subscription is kept in between. (A guest whose event array overlaps its
subscriptions gets events for what the second reading finds; the host writes only inside the
event array and never more than nsubscriptions events.)

Waits go through `ctx.control`, so a timeout, Ctrl-C or SIGTERM stops a guest blocked here.
Clocks are `ctx.clock`'s: with a virtual clock (a deterministic run) a wait that only a clock
can end moves that clock forward by the time asked for and returns at once.
"""

from __future__ import annotations

import select
import time
from typing import Any

from ..abi import (
    EVENT,
    EVENTRWFLAGS_FD_READWRITE_HANGUP,
    SIZE,
    SUBCLOCKFLAGS_ABSTIME,
    SUBSCRIPTION,
    SUBSCRIPTION_FD_READWRITE,
    Array,
    Clockid,
    Errno,
    Eventtype,
    Out,
    Record,
    Size,
    WasiError,
    record_for,
)
from ..context import Context
from ..fdtable import DirEntry, FdTable, FileEntry, StreamEntry
from ._registry import syscall

_EVENT_SIZE = EVENT.size
#: a subscription's userdata and tag, and the fd of an fd_read/fd_write payload (the same
#: offsets in both ABIs); the clock payload's reader is per ABI (`_clock_reader`)
_HEAD_AT, _HEAD = SUBSCRIPTION.reader("userdata", "u.tag")
_FD_AT = SUBSCRIPTION.offset_of("u.fd_read")
_FD = SUBSCRIPTION_FD_READWRITE.reader("file_descriptor")[1]


def _clock_reader(subscription: Record) -> tuple[int, Any]:
    """(offset in the subscription, unpack_from) of a clock payload's id, timeout,
    precision and flags."""
    clock = subscription.fields["u"].cases["clock"]  # type: ignore[union-attr]
    at, st = clock.reader("id", "timeout", "precision", "flags")
    return subscription.offset_of("u.clock") + at, st.unpack_from


_CLOCK_READERS = {version: _clock_reader(record_for(SUBSCRIPTION, version))
                  for version in ("preview1", "unstable")}
_CLOCK_IDS = frozenset(int(c) for c in Clockid)
_CLOCK, _FD_READ, _FD_WRITE = int(Eventtype.CLOCK), int(Eventtype.FD_READ), int(Eventtype.FD_WRITE)
_HANGUP = EVENTRWFLAGS_FD_READWRITE_HANGUP

_POLL_MASK = {_FD_READ: select.POLLIN, _FD_WRITE: select.POLLOUT}
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


class _Clocks:
    """The clock readings of one poll_oneoff call: each clock is read at most once, so
    every subscription on it measures from the same instant (and a virtual clock, which
    moves on each read, moves once per clock and call, not once per subscription)."""

    __slots__ = ("ctx", "_now")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._now: dict[int, int] = {}

    def relative(self, clock_id: int, timeout: int, flags: int) -> int:
        """ns from the start of the call until the subscription is due (<= 0: already);
        EINVAL for an unknown clock."""
        if flags & SUBCLOCKFLAGS_ABSTIME:
            now = self._now.get(clock_id)
            if now is None:
                now = self._now[clock_id] = self.ctx.clock.read(clock_id)
            return timeout - now
        if clock_id not in _CLOCK_IDS:
            raise WasiError(Errno.INVAL)
        return timeout


@syscall(subscriptions=Array(SUBSCRIPTION, "nsubscriptions"),
         events=Array(EVENT, "nsubscriptions", out=True), nsubscriptions=Size,
         nevents=Out(SIZE))
def poll_oneoff(ctx: Context, subscriptions: int, events: int, nsubscriptions: int,
                nevents: int) -> int:
    if nsubscriptions == 0:
        raise WasiError(Errno.INVAL)
    size = ctx.layout.subscription.size
    clock_at, unpack_clock = _CLOCK_READERS[ctx.version]
    unpack_head, unpack_fd = _HEAD.unpack_from, _FD.unpack_from
    mem = ctx.mem
    subs = mem.slice(subscriptions, nsubscriptions * size)
    mem.slice(events, nsubscriptions * _EVENT_SIZE)  # room for every event, checked up front
    mem.slice(nevents, SIZE.size)
    fds = ctx.fds
    clocks = _Clocks(ctx)
    start = time.monotonic_ns()

    # First reading: what is there to wait for? Nothing is written yet.
    immediate = False  # some event is due whatever happens (an error, a file, a stream)
    earliest: int | None = None  # ns until the first clock
    masks: dict[int, int] = {}  # host fd -> poll(2) events, at most one per open fd
    for at in range(0, nsubscriptions * size, size):
        _userdata, tag = unpack_head(subs, at + _HEAD_AT)
        if tag == _CLOCK:
            clock_id, due, _precision, flags = unpack_clock(subs, at + clock_at)
            if flags & SUBCLOCKFLAGS_ABSTIME or clock_id not in _CLOCK_IDS:
                try:
                    due = clocks.relative(clock_id, due, flags)
                except WasiError:
                    immediate = True
                    continue
            if earliest is None or due < earliest:
                earliest = due
        elif tag == _FD_READ or tag == _FD_WRITE:
            (fd,) = unpack_fd(subs, at + _FD_AT)
            host_fd = _waitable(fds, fd)
            if host_fd is None:
                immediate = True
            else:
                masks[host_fd] = masks.get(host_fd, 0) | _POLL_MASK[tag]
        else:
            raise WasiError(Errno.INVAL)

    revents, elapsed = _wait(ctx, immediate, earliest, masks, start)

    # Second reading: the event of every subscription ready now, in subscription order.
    view = mem.view
    pack = EVENT.pack_into
    n = 0
    for at in range(0, nsubscriptions * size, size):
        userdata, tag = unpack_head(subs, at + _HEAD_AT)
        event: tuple[int, int, int] | None = None  # errno, nbytes, flags
        if tag == _CLOCK:
            clock_id, timeout, _precision, flags = unpack_clock(subs, at + clock_at)
            try:
                if clocks.relative(clock_id, timeout, flags) <= elapsed:
                    event = (0, 0, 0)
            except WasiError as e:
                event = (e.errno, 0, 0)
        elif tag == _FD_READ or tag == _FD_WRITE:
            (fd,) = unpack_fd(subs, at + _FD_AT)
            event = _fd_event(fds, fd, tag, revents)
        if event is not None and n < nsubscriptions:
            pack(view, events + n * _EVENT_SIZE, userdata, event[0], tag, event[1], event[2])
            n += 1
    return n


def _waitable(fds: FdTable, fd: int) -> int | None:
    """The host fd to poll(2) for a subscription on guest `fd`, or None when its answer is
    known without waiting (an error, a regular file, an in-memory stream)."""
    entry = fds.lookup(fd)
    if isinstance(entry, StreamEntry):
        return entry.stream.fileno()
    return None


def _wait(ctx: Context, immediate: bool, earliest: int | None, masks: dict[int, int],
          start: int) -> tuple[dict[int, int], int]:
    """Wait until something is due. Returns (host fd -> revents of the ready ones, ns the
    clocks count as elapsed since `start`)."""
    poller = None
    if masks:
        poller = select.poll()
        for host_fd, mask in masks.items():
            poller.register(host_fd, mask)
    control, clock = ctx.control, ctx.clock
    if immediate or (earliest is not None and earliest <= 0):
        # Due now: only look at the streams, never block.
        ready = poller.poll(0) if poller is not None else []
        elapsed = 0 if clock.virtual else time.monotonic_ns() - start
        return dict(ready), elapsed
    if clock.virtual and earliest is not None:
        # A deterministic run never waits for a clock: a stream ready now wins, else the
        # first clock fires at once and the virtual clock moves on by its whole wait.
        ready = poller.poll(0) if poller is not None else []
        if ready:
            return dict(ready), 0
        clock.advance(earliest)
        return {}, earliest
    # Not immediate, so there is a clock to wait for, or a stream, or both.
    while True:
        elapsed = time.monotonic_ns() - start
        if earliest is not None and elapsed >= earliest:
            return {}, elapsed
        remaining = None if earliest is None else (earliest - elapsed) / 1e9
        if poller is not None:
            ready = control.poll(poller, remaining)
            if ready:
                return dict(ready), time.monotonic_ns() - start
        elif remaining is not None:
            control.sleep(remaining)  # then measured again: a sleep may end a little early
        else:  # pragma: no cover - no clock and no stream would have been immediate
            return {}, elapsed


def _fd_event(fds: FdTable, fd: int, tag: int,
              revents: dict[int, int]) -> tuple[int, int, int] | None:
    """(errno, nbytes, flags) of an fd subscription ready now, or None."""
    entry = fds.lookup(fd)
    if entry is None:
        return (Errno.BADF, 0, 0)
    if isinstance(entry, FileEntry):
        if tag == _FD_READ:
            left = entry.handle.stat().size - entry.offset
            # At end of file there is nothing more to wait for: "hangup", as wasmtime says.
            return (0, max(0, left), 0 if left > 0 else _HANGUP)
        return (0, 0, 0)
    if isinstance(entry, DirEntry) or not isinstance(entry, StreamEntry):
        return (Errno.BADF, 0, 0)
    stream = entry.stream
    host_fd = stream.fileno()
    if host_fd is None:
        return (0, stream.readable_bytes() or 0, 0)
    got = revents.get(host_fd, 0)
    if not got & (_POLL_MASK[tag] | _GONE):
        return None
    if tag == _FD_READ:
        nbytes, flags = stream.poll_info()
        if got & _GONE and not nbytes:
            flags |= _HANGUP
        return (0, nbytes, flags)
    return (0, 0, _HANGUP if got & _GONE else 0)
