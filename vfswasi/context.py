"""The state one WASI instance's syscalls work on, and the ABI layouts of its version.

`wasi_unstable` differs from preview1 in exactly three layouts (whence order, filestat,
subscription_clock); `Layout` holds them (the records themselves are declared in
`vfswasi.abi`), so syscalls are written once against preview1 names and the differences are
translated here, at the edge, as wasmtime does in `p0.rs`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from .abi import FILESTAT, SUBSCRIPTION, Errno, Record, WasiError, Whence, record_for
from .clocks import RealClock, SystemEntropy
from .control import RunControl
from .fdtable import FdTable
from .guestmem import GuestMemory
from .limits import Limits, Usage
from .vfs import Stat

MODULE_NAMES = {"preview1": "wasi_snapshot_preview1", "unstable": "wasi_unstable"}


@dataclass(frozen=True)
class Layout:
    #: guest whence value -> preview1 Whence
    whence: dict[int, Whence]
    filestat: Record
    #: its clock payload differs
    subscription: Record
    #: the largest nlink filestat can hold (wasmtime clamps a larger one, and so do we)
    nlink_max: int


PREVIEW1 = Layout(
    whence={0: Whence.SET, 1: Whence.CUR, 2: Whence.END},
    filestat=FILESTAT,
    subscription=SUBSCRIPTION,
    nlink_max=(1 << 64) - 1,
)

UNSTABLE = Layout(
    whence={0: Whence.CUR, 1: Whence.END, 2: Whence.SET},
    filestat=record_for(FILESTAT, "unstable"),
    subscription=record_for(SUBSCRIPTION, "unstable"),
    nlink_max=(1 << 32) - 1,
)

LAYOUTS = {"preview1": PREVIEW1, "unstable": UNSTABLE}


class Context:
    """Everything a syscall may touch: guest memory, fds, args, environment, ABI layout,
    and the instance's limits, stop state, clock, entropy and usage counters."""

    def __init__(self, version: str, args: list[bytes], env: list[bytes], *,
                 limits: Limits | None = None, clock: RealClock | None = None,
                 entropy: SystemEntropy | None = None) -> None:
        self.version = version
        self.layout = LAYOUTS[version]
        self.mem = GuestMemory()
        self.limits = limits if limits is not None else Limits()
        self.fds = FdTable(self.limits.max_open_fds)
        self.args = args  # each NUL-terminated
        self.env = env  # each b"KEY=VALUE\0"
        self.args_sizes = (len(args), sum(map(len, args)))
        self.control = RunControl(self.limits)
        #: where clock_time_get, poll_oneoff's clocks and memory mounts' file times come from
        self.clock = clock if clock is not None else RealClock()
        #: where random_get's bytes come from
        self.entropy = entropy if entropy is not None else SystemEntropy()
        self.usage = Usage()
        #: backend device number -> the one the guest sees, numbered in the order the guest
        #: meets them, in a virtual world (deterministic runs); None: the backends' own
        self.dev_numbers: dict[int, int] | None = {} if self.clock.virtual else None

    def for_version(self, version: str) -> Context:
        """This same world (memory, fds, args, environment) seen through another ABI: a
        module importing both wasi_unstable and preview1 gets one fd table, two layouts."""
        if version == self.version:
            return self
        other = copy.copy(self)
        other.version, other.layout = version, LAYOUTS[version]
        return other

    def guest_stat(self, st: Stat) -> Stat:
        """`st` as the guest sees it: the filestat fields a syscall returns."""
        if st.nlink > self.layout.nlink_max:
            st = st._replace(nlink=self.layout.nlink_max)
        if self.dev_numbers is not None:
            # deterministic runs: devices numbered 1, 2, ... in the order the guest meets them
            st = st._replace(dev=self.dev_numbers.setdefault(st.dev, len(self.dev_numbers) + 1))
        return st

    def whence(self, value: int) -> Whence:
        try:
            return self.layout.whence[value]
        except KeyError:
            raise WasiError(Errno.INVAL) from None
