"""Stopping a run: wall-clock timeouts, Ctrl-C and SIGTERM, fuel, and interruptible waits.

A guest spinning in wasm never returns to Python, so neither a Python signal handler nor a
timer can stop it. wasmtime's *epoch interruption* can: compiled code checks the engine's
epoch at function entries and loop headers, and when it passes the store's deadline wasmtime
calls the store's deadline callback. Here:

- an `EpochTicker` thread per engine bumps its epoch every `TICK` seconds while any WASI
  instance on it is alive (100 cheap wake-ups a second, nothing more);
- every store a `WASI` runs in gets a deadline of one tick and `RunControl.on_epoch` as its
  callback, which answers "continue for another tick" or, once the run must stop, a trap;
- during a run, SIGINT and SIGTERM get a handler that only *records* the request (it never
  raises, so a KeyboardInterrupt can no longer be lost inside a ctypes callback, where
  Python prints "Exception ignored" and drops it); the next epoch callback or host call
  turns it into a trap, and `WASI.start` raises KeyboardInterrupt / `Terminated` once the
  mounts are saved;
- host calls that may block (poll_oneoff, reads from a pipe, sock_accept) wait in slices of
  at most `SLICE` seconds through `RunControl.sleep` / `RunControl.poll`, checking between.

An engine without epoch interruption (your own `wasmtime.Engine()`) still gets timeouts and
Ctrl-C at every host call; `vfswasi.engine()` makes one that can also stop pure wasm.
"""

from __future__ import annotations

import ctypes
import math
import select
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import wasmtime

from .limits import Limits, OutOfFuel, Terminated, Timeout

#: how often the epoch moves: the latency of a stop in pure wasm
TICK = 0.01
#: the longest a blocking host call sleeps before it checks for a stop
SLICE = 0.05

_REASONS: dict[str, type[BaseException]] = {
    "interrupt": KeyboardInterrupt,
    "terminate": Terminated,
    "timeout": Timeout,
    "fuel": OutOfFuel,
}


class Stopped(Exception):
    """Raised inside a host call to unwind the guest once the run must stop (a trap);
    `WASI.start` turns it into the exception of the reason (see `RunControl.exception`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"run stopped: {reason}")
        self.reason = reason


class RunControl:
    """One WASI instance's stop state: its deadline and any stop request."""

    def __init__(self, limits: Limits) -> None:
        self.timeout = limits.timeout
        self.deadline: float | None = None
        #: why the run must stop ("interrupt", "terminate", "timeout", "fuel"), or None
        self.reason: str | None = None

    # --- the clock and requests --------------------------------------------------------------

    def begin(self) -> None:
        """Start the wall clock (once: the timeout covers the instance's whole life)."""
        if self.deadline is None and self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout

    def request(self, reason: str) -> None:
        """Ask the run to stop (safe from a signal handler or another thread); the first
        reason wins."""
        if self.reason is None:
            self.reason = reason

    def should_stop(self) -> bool:
        if self.reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = "timeout"
        return self.reason is not None

    def check(self) -> None:
        """Raise `Stopped` if the run must stop (called by host calls that may block)."""
        if self.should_stop():
            raise Stopped(self.reason)  # type: ignore[arg-type]

    def exception(self) -> BaseException | None:
        """What `start()` raises for the recorded reason (None if no stop was asked)."""
        return None if self.reason is None else _REASONS[self.reason]()

    # --- waits that a stop can cut short -----------------------------------------------------

    def _slice(self, remaining: float | None) -> float:
        limit = SLICE
        if self.deadline is not None:
            limit = min(limit, max(0.0, self.deadline - time.monotonic()))
        return limit if remaining is None else min(limit, remaining)

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, but never past a stop."""
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            self.check()
            time.sleep(self._slice(remaining))
        self.check()

    def poll(self, poller: Any, timeout: float | None) -> list[tuple[int, int]]:
        """`poller.poll()` for up to `timeout` seconds (None: until ready), never past a stop."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self.check()
            remaining = None if end is None else max(0.0, end - time.monotonic())
            ready = poller.poll(math.ceil(self._slice(remaining) * 1000))
            if ready or (remaining is not None and remaining <= 0):
                return ready

    def wait_readable(self, fd: int, timeout: float | None = None) -> bool:
        """Wait until host `fd` is readable (or hung up); False when `timeout` ran out."""
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(self.poll(poller, timeout))

    # --- epochs --------------------------------------------------------------------------------

    def on_epoch(self) -> bool:
        """The store's deadline callback: True to trap now, False to run another tick."""
        return self.should_stop()


# --- the epoch deadline callback (C API) ---------------------------------------------------------

try:
    from wasmtime import _ffi as _wt_ffi

    _dll = _wt_ffi.dll
    _EPOCH_CALLBACK = ctypes.CFUNCTYPE(
        ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
        ctypes.POINTER(ctypes.c_uint8),
    )
    _FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    _set_epoch_callback = ctypes.CFUNCTYPE(
        None, ctypes.c_void_p, _EPOCH_CALLBACK, ctypes.c_void_p, _FINALIZER
    )(("wasmtime_store_epoch_deadline_callback", _dll))
    _error_new = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(("wasmtime_error_new", _dll))
    EPOCHS = True
except (AttributeError, ImportError):  # pragma: no cover - depends on the wasmtime build
    EPOCHS = False

# Callbacks live until wasmtime's finalizer says the store dropped them.
_LIVE_CALLBACKS: dict[int, Any] = {}
_next_key = iter(range(1, 1 << 62))

if EPOCHS:

    @_FINALIZER
    def _release(key: int | None) -> None:
        _LIVE_CALLBACKS.pop(key or 0, None)


def configure_store(store: wasmtime.Store, control: RunControl) -> None:
    """Give `store` a one-tick epoch deadline and `control` as its deadline callback (harmless
    on an engine without epoch interruption, where the deadline is never checked)."""
    store.set_epoch_deadline(1)
    if not EPOCHS:
        return
    ref = weakref.ref(control)

    def callback(_ctx: int, _data: int, delta: Any, kind: Any) -> int:
        try:
            c = ref()
            if c is not None and c.on_epoch():
                msg = f"run stopped: {c.reason}".encode()
                return _error_new(msg) or 0
            delta[0] = 1
            kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
            return 0
        except BaseException:  # noqa: BLE001 - never let an exception die in a C callback
            delta[0] = 1
            kind[0] = 0
            return 0

    cb = _EPOCH_CALLBACK(callback)
    key = next(_next_key)
    _LIVE_CALLBACKS[key] = cb
    _set_epoch_callback(ctypes.cast(store.ptr(), ctypes.c_void_p), cb, key, _release)


class EpochTicker:
    """Bumps one engine's epoch every TICK seconds while anyone holds it (`acquire`)."""

    _tickers: weakref.WeakKeyDictionary[wasmtime.Engine, EpochTicker] = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self, engine: wasmtime.Engine) -> None:
        # weakly: the registry's values must not keep its keys (the engines) alive
        self._engine = weakref.ref(engine)
        self._users: list[RunControl] = []
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, engine: wasmtime.Engine) -> EpochTicker:
        with cls._lock:
            ticker = cls._tickers.get(engine)
            if ticker is None:
                ticker = cls._tickers[engine] = cls(engine)
            return ticker

    def acquire(self, control: RunControl) -> None:
        with self._lock:
            self._users.append(control)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vfswasi-epoch",
                                                daemon=True)
                self._thread.start()

    def release(self, control: RunControl) -> None:
        with self._lock:
            if control in self._users:
                self._users.remove(control)

    def _run(self) -> None:
        while True:
            time.sleep(TICK)
            with self._lock:
                engine = self._engine()
                # the decision to stop and forgetting the thread are one step, so an acquire
                # can never find a thread that is about to leave
                if not self._users or engine is None:
                    self._thread = None
                    return
                users = list(self._users)
            engine.increment_epoch()
            del engine
            # Turn passed deadlines into stop requests, which host calls check: this is what
            # stops a guest on an engine without epoch interruption at its next WASI call.
            for control in users:
                control.should_stop()


# --- signals ---------------------------------------------------------------------------------------


@contextmanager
def signals_stop(control: RunControl) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM ask `control` to stop instead of raising or
    killing (only from the main thread, and only where Python's default handlers are in place:
    a handler the program installed itself is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: Any) -> None:
        control.request("interrupt" if signum == signal.SIGINT else "terminate")

    for signum, default in ((signal.SIGINT, signal.default_int_handler),
                            (signal.SIGTERM, signal.SIG_DFL)):
        current = signal.getsignal(signum)
        if current is default:
            previous[signum] = current
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def stop_exception(control: RunControl, exc: BaseException | None) -> BaseException | None:
    """The exception a run that ended with `exc` should raise: the stop's own when a stop
    was asked (the trap or `Stopped` that carried it is only the vehicle), else None."""
    if control.reason is None:
        if isinstance(exc, wasmtime.Trap) and exc.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
            control.reason = "fuel"
        else:
            return None
    return control.exception()
