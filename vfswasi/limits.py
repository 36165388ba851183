"""What a guest may use, what it used, and what happens when it hits a wall.

One `Limits` object bounds a whole `WASI` instance (reactor calls included): wall-clock time,
fuel, linear memory, open fds, and the storage vfswasi keeps in memory for it. The defaults
keep a host alive (as a default `ulimit -n` and tmpfs's half-of-RAM cap do); `Limits.none()`
lifts everything. Hitting a limit raises a `LimitExceeded` from `run()` / `start()` (the
guest's writes are saved first), or answers the guest with an errno where POSIX has one
(EMFILE, ENOSPC, EFBIG).

`Usage` is the report of one instance's life: `RunResult.usage`, `WASI.usage`, and
`vfswasi run --usage` on stderr.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = [
    "Limits", "Quota", "Usage", "LimitExceeded", "Timeout", "OutOfFuel", "MemoryLimitExceeded",
    "Terminated", "parse_duration", "parse_size",
]


def _half_of_ram() -> int:
    """tmpfs's default size: half of the machine's physical memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4 << 30


#: Default storage caps for everything vfswasi keeps in memory for one instance: tmpfs's
#: half of RAM in bytes, and one inode per 16 KiB of that (a MemoryFS entry costs ~1 KiB of
#: Python objects beyond its data, so inodes are bounded separately from bytes).
DEFAULT_DISK_BYTES = _half_of_ram()
DEFAULT_DISK_INODES = max(1024, DEFAULT_DISK_BYTES // (16 << 10))
#: A default `ulimit -n`.
DEFAULT_MAX_OPEN_FDS = 1024


@dataclass(frozen=True)
class Quota:
    """A storage cap for one mount: `bytes` of file data (and symlink targets) and `inodes`
    (files, directories, symlinks) the guest may add, net of what it removes. None: no cap."""

    bytes: int | None = None
    inodes: int | None = None


@dataclass(frozen=True)
class Limits:
    """Bounds on one WASI instance. None means "no limit" for any field.

    timeout       wall-clock seconds from the first `start()`/`initialize()`, for the
                  instance's whole life (interrupts wasm and blocking WASI calls alike)
    fuel          wasmtime fuel units (about one per wasm instruction); needs an engine with
                  fuel, which `run()` and the CLI set up themselves
    max_memory    bytes of linear memory per memory (memory.grow past it fails: -1)
    max_open_fds  open fds, stdio and preopens included (then EMFILE)
    disk_bytes    bytes of storage vfswasi keeps in memory for the instance: memory mounts,
                  writable archives, overlay upper layers, fsspec write spools (ENOSPC)
    disk_inodes   entries the guest may add to that storage (ENOSPC)
    max_file_size the largest file the guest may make on any mount (EFBIG)
    mounts        {guest path: Quota} per-mount storage caps, within the instance-wide ones
    """

    timeout: float | None = None
    fuel: int | None = None
    max_memory: int | None = None
    max_open_fds: int | None = DEFAULT_MAX_OPEN_FDS
    disk_bytes: int | None = DEFAULT_DISK_BYTES
    disk_inodes: int | None = DEFAULT_DISK_INODES
    max_file_size: int | None = None
    mounts: dict[str, Quota] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "mounts":
                if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(q, Quota) for k, q in value.items()
                ):
                    raise TypeError("Limits.mounts must map guest paths to vfswasi.Quota")
                continue
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Limits.{f.name} must be a number or None, not {value!r}")
            if value < 0 or (f.name == "timeout" and value == 0):
                raise ValueError(f"Limits.{f.name} must be positive, not {value!r}")
            if f.name != "timeout" and not isinstance(value, int):
                raise TypeError(f"Limits.{f.name} must be an int, not {value!r}")

    @classmethod
    def none(cls) -> Limits:
        """No limit at all (not even the defaults). `run()`, `Program` and the CLI then run on
        an engine without epoch interruption, which costs nothing per wasm call; a Ctrl-C
        still stops the guest, at its next WASI call (see `unbounded`)."""
        return cls(max_open_fds=None, disk_bytes=None, disk_inodes=None)

    @property
    def unbounded(self) -> bool:
        """No limit at all: what `none()` makes. Only then does vfswasi pick an engine
        without epoch checks (they stop a guest spinning in pure wasm on a timeout or a
        Ctrl-C, and cost a call-heavy guest 5-15%: bench/README.md)."""
        return self == Limits.none()

    def replace(self, **changes: Any) -> Limits:
        return replace(self, **changes)

    def quota_for(self, guest_path: str) -> Quota:
        """The per-mount quota of `guest_path` (no cap when none was given)."""
        return self.mounts.get(guest_path) or self.mounts.get(guest_path.rstrip("/")) or Quota()


# --- hitting a limit ------------------------------------------------------------------------------


class LimitExceeded(Exception):
    """A run was stopped by one of its `Limits`. `.limit` names it (as `Usage.limit`);
    `.usage`, `.stdout`, `.stderr` are filled in by `run()`."""

    limit = "limit"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or f"the guest hit its {self.limit} limit")
        self.usage: Usage | None = None


class Timeout(LimitExceeded):
    limit = "timeout"


class OutOfFuel(LimitExceeded):
    limit = "fuel"


class MemoryLimitExceeded(LimitExceeded):
    limit = "max_memory"


class Terminated(SystemExit):
    """SIGTERM arrived during a run: the guest was stopped and its mounts saved; exiting
    with 143 is what the default SIGTERM handler would have done (without the saving)."""

    def __init__(self) -> None:
        super().__init__(143)


# --- parsing the CLI's values ----------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds from `1s`, `500ms`, `2m`, `1.5` (seconds), as wasmtime's `-W timeout=`."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (try 1s, 500ms, 2m)")
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {text!r}")
    return seconds


def parse_size(text: str) -> int:
    """Bytes from `1048576`, `64K`, `10MiB`, `2G` (powers of 1024)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (try 65536, 64K, 10M, 2G)")
    unit = (m.group(2) or "b")[0].lower()
    return int(m.group(1)) << {"b": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit]


# --- the usage report ------------------------------------------------------------------------------


@dataclass
class Usage:
    """What one WASI instance used. Times in seconds; memory and I/O in bytes."""

    wall_time: float = 0.0
    cpu_time: float = 0.0
    #: fuel consumed (None when the run had no fuel limit: the engine did not count it)
    fuel: int | None = None
    #: the largest the guest's linear memory was seen
    peak_memory: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    bytes_written: int = 0
    files_created: int = 0
    files_removed: int = 0
    peak_open_fds: int = 0
    #: which limit ended the run: "timeout", "fuel", "max_memory", "interrupt", "terminate",
    #: or None when none did
    limit: str | None = None

    def report(self) -> str:
        """`strace -c`-style text: the totals, then the WASI calls by count."""
        fuel = "-" if self.fuel is None else f"{self.fuel:,}"
        lines = [
            f"wall time   {self.wall_time:.3f} s      cpu time  {self.cpu_time:.3f} s",
            f"fuel        {fuel}      peak memory  {self.peak_memory:,} bytes",
            f"read        {self.bytes_read:,} bytes      written  {self.bytes_written:,} bytes",
            f"files       {self.files_created:,} created, {self.files_removed:,} removed"
            f"      peak open fds  {self.peak_open_fds}",
            f"limit hit   {self.limit or 'none'}",
        ]
        total = sum(self.calls.values())
        if total:
            lines.append("")
            lines.append(f"{'% calls':>8} {'calls':>10}  syscall")
            lines.append(f"{'-' * 8} {'-' * 10}  {'-' * 24}")
            for name, count in self.calls.most_common():
                lines.append(f"{100 * count / total:8.2f} {count:10d}  {name}")
            lines.append(f"{'-' * 8} {'-' * 10}  {'-' * 24}")
            lines.append(f"{100.0:8.2f} {total:10d}  total")
        return "\n".join(lines)
