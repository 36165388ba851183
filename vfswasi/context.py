"""The state one WASI instance's syscalls work on, and the ABI layouts of its version.

`wasi_unstable` differs from preview1 in exactly three layouts (whence order, filestat,
subscription_clock); `Layout` holds them, so syscalls are written once against preview1
names and the differences are translated here, at the edge, as wasmtime does in `p0.rs`.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass

from .abi import FILESTAT, SUBSCRIPTION_CLOCK, Errno, Fields, WasiError, Whence
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
    #: filestat: dev, ino, filetype, nlink, size, atim, mtim, ctim
    filestat: Fields
    #: subscription size, and clock payload (at +16): [identifier,] id, timeout, precision, flags
    subscription_size: int
    subscription_clock: struct.Struct
    clock_has_identifier: bool
    #: the largest nlink filestat can hold (wasmtime clamps a larger one, and so do we)
    nlink_max: int


PREVIEW1 = Layout(
    whence={0: Whence.SET, 1: Whence.CUR, 2: Whence.END},
    filestat=FILESTAT,
    subscription_size=48,
    subscription_clock=SUBSCRIPTION_CLOCK,
    clock_has_identifier=False,
    nlink_max=(1 << 64) - 1,
)

UNSTABLE = Layout(
    whence={0: Whence.CUR, 1: Whence.END, 2: Whence.SET},
    # nlink is a u32 at 20, so everything after it moves up by 4 (56 bytes in all)
    filestat=Fields(56, (0, "QQB"), (20, "IQQQQ")),
    subscription_size=56,
    subscription_clock=struct.Struct("<QI4xQQH"),
    clock_has_identifier=True,
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

    def write_filestat(self, ptr: int, st: Stat) -> None:
        if st.nlink > self.layout.nlink_max:
            st = st._replace(nlink=self.layout.nlink_max)
        if self.dev_numbers is not None:
            # deterministic runs: devices numbered 1, 2, ... in the order the guest meets them
            st = st._replace(dev=self.dev_numbers.setdefault(st.dev, len(self.dev_numbers) + 1))
        self.layout.filestat.pack_into(self.mem.view, ptr, *st)

    def whence(self, value: int) -> Whence:
        try:
            return self.layout.whence[value]
        except KeyError:
            raise WasiError(Errno.INVAL) from None
