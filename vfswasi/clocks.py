"""Where a guest's time and randomness come from: the host's, or a seeded, virtual world.

`RealClock` and `SystemEntropy` are the defaults. `WASI(deterministic=SEED)` swaps in
`VirtualClock` and `SeededEntropy`, so the same seed and the same inputs give byte-identical
runs, in another process or on another machine:

- Every clock (realtime, monotonic, both CPU-time clocks) reads one virtual counter that
  starts at 0 and advances by `TICK_NS` per read; realtime adds `REALTIME_START_NS`
  (2000-01-01T00:00:00Z). A `poll_oneoff` sleep advances the counter by the full requested
  time and returns at once. Memory-backed mounts stamp the files the guest touches with
  `time_ns()` of the same clock.
- `random_get` is SHAKE-256 over (seed, call number, block number), 64 KiB per block:
  block b of call c is `shake_256(b"vfswasi-random-v1" + seed(8 bytes LE) + c(8 LE) +
  b(8 LE)).digest(65536)`. That is a standard XOF, so the bytes are the same in every
  Python version, on every machine, forever; it is not a secret, so never use it for keys.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

from .abi import Clockid, Errno, WasiError

__all__ = ["RealClock", "VirtualClock", "SystemEntropy", "SeededEntropy", "TICK_NS",
           "REALTIME_START_NS"]

#: how far the virtual clock moves on each read
TICK_NS = 1_000
#: the virtual realtime clock's epoch: 2000-01-01T00:00:00Z
REALTIME_START_NS = 946_684_800 * 10**9
_CLOCK_IDS = frozenset(int(c) for c in Clockid)
#: random_get fills guest memory in pieces of this size: never a guest-sized host buffer
RANDOM_CHUNK = 1 << 16


class RealClock:
    """The host's clocks."""

    virtual = False
    _READ: dict[int, tuple[Callable[[], int], int]] = {
        Clockid.REALTIME: (time.time_ns, time.CLOCK_REALTIME),
        Clockid.MONOTONIC: (time.monotonic_ns, time.CLOCK_MONOTONIC),
        Clockid.PROCESS_CPUTIME_ID: (time.process_time_ns, time.CLOCK_PROCESS_CPUTIME_ID),
        Clockid.THREAD_CPUTIME_ID: (time.thread_time_ns, time.CLOCK_THREAD_CPUTIME_ID),
    }

    def read(self, clock_id: int) -> int:
        """Nanoseconds on WASI clock `clock_id` (EINVAL for an unknown one)."""
        try:
            return self._READ[clock_id][0]()
        except KeyError:
            raise WasiError(Errno.INVAL) from None

    def resolution(self, clock_id: int) -> int:
        try:
            host = self._READ[clock_id][1]
        except KeyError:
            raise WasiError(Errno.INVAL) from None
        return max(1, round(time.clock_getres(host) * 1e9))

    def time_ns(self) -> int:
        """Wall-clock ns for the times a backend stamps on what the guest changes."""
        return time.time_ns()

    def advance(self, ns: int) -> None:
        """Only the virtual clock moves by itself; a real sleep is `RunControl.sleep`."""


class VirtualClock(RealClock):
    """One virtual counter behind every clock (see the module docstring)."""

    virtual = True

    def __init__(self) -> None:
        self.elapsed = 0

    def read(self, clock_id: int) -> int:
        if clock_id not in _CLOCK_IDS:
            raise WasiError(Errno.INVAL)
        self.elapsed += TICK_NS
        if clock_id == Clockid.REALTIME:
            return REALTIME_START_NS + self.elapsed
        return self.elapsed

    def resolution(self, clock_id: int) -> int:
        if clock_id not in _CLOCK_IDS:
            raise WasiError(Errno.INVAL)
        return TICK_NS

    def time_ns(self) -> int:
        return self.read(Clockid.REALTIME)

    def advance(self, ns: int) -> None:
        self.elapsed += ns


class SystemEntropy:
    """random_get from the OS's cryptographic source, in bounded pieces."""

    def fill(self, out: memoryview) -> None:
        for at in range(0, len(out), RANDOM_CHUNK):
            piece = out[at : at + RANDOM_CHUNK]
            piece[:] = os.urandom(len(piece))


class SeededEntropy(SystemEntropy):
    """random_get from SHAKE-256 over a seed (see the module docstring)."""

    _DOMAIN = b"vfswasi-random-v1"

    def __init__(self, seed: int) -> None:
        self.seed = seed & 0xFFFFFFFFFFFFFFFF
        self.calls = 0

    def fill(self, out: memoryview) -> None:
        prefix = self._DOMAIN + self.seed.to_bytes(8, "little") + self.calls.to_bytes(8, "little")
        self.calls += 1
        for block, at in enumerate(range(0, len(out), RANDOM_CHUNK)):
            piece = out[at : at + RANDOM_CHUNK]
            piece[:] = hashlib.shake_256(prefix + block.to_bytes(8, "little")).digest(len(piece))
