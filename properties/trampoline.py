"""A WAT "trampoline" that lets Python call every WASI host function with arbitrary arguments.

The module imports each function of vfswasi's syscall table and exports a wrapper
`call_<name>` with the same parameters, so a test calls `fd_write(fd, iovs, n, ptr)` straight
from Python with whatever integers it likes, and the host function runs exactly as it would for
a guest: through the real dispatcher, on the real guest memory.

Guest memory (`PAGES` pages) is laid out before every call (`Layout.pristine`): placed inputs
(path strings, iovec arrays, poll subscriptions, each at a known offset) and the guard byte
everywhere else. `output_regions` says which bytes a call may write (its declared output
buffers); the test checks every other byte is unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import wasmtime

from vfswasi.context import LAYOUTS, MODULE_NAMES
from vfswasi.syscalls import SYSCALLS

PAGES = 2
MEM_SIZE = PAGES * 65536
GUARD = 0xA5

# Regions of the layout (offsets into guest memory).
STRINGS = 0x0100  # path strings
IOVECS = 0x2000  # iovec arrays
SUBS = 0x3000  # poll subscriptions
BUFFERS = 0x8000  # where placed iovecs and buffers point

#: path strings placed in memory, as (pointer, length) candidates for path arguments
PATH_STRINGS = [b"a", b"d", b"d/x", b"l", b"ld", b"new", b"d/new", b".", b"loop", b"esc",
                b"..", b"/abs", b"", b"a/", b"\xff", b"a\0b", b"missing/x", b"../outside"]

#: iovec arrays placed in memory: (buffer offset, length) entries
IOVEC_ARRAYS: list[list[tuple[int, int]]] = [
    [(BUFFERS, 16), (BUFFERS + 0x100, 5)],
    [(BUFFERS + 0x200, 0)],  # one empty buffer
    [(0xFFFFFFF0, 32)],  # a buffer past the end of memory
    [(BUFFERS, 0x7FFFFFFF)],  # a length past the end of memory
    [(BUFFERS + 0x300, 8), (MEM_SIZE - 4, 4)],  # one that ends exactly at the end
    [(MEM_SIZE - 4, 8)],  # one that crosses the end
]


def i32(v: int) -> int:
    """An unsigned 32-bit value as the signed one wasmtime-py takes for an i32."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def i64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def functions(version: str) -> dict[str, tuple[str, list[str], bool]]:
    """name -> (signature, parameter names, returns an errno) for `version`."""
    import inspect

    out = {}
    for name, spec in sorted(SYSCALLS.items()):
        if version in spec.excluded_versions:
            continue
        params = list(inspect.signature(spec.fn).parameters)[1:]  # after ctx
        out[name] = (spec.sig, params, spec.returns_errno)
    return out


def wat(version: str) -> str:
    """The trampoline module's text for `version` ("preview1" or "unstable")."""
    module = MODULE_NAMES[version]
    lines = ["(module"]
    for name, (sig, _, returns) in functions(version).items():
        params = " ".join("i64" if c == "I" else "i32" for c in sig)
        result = " (result i32)" if returns else ""
        lines.append(f'  (import "{module}" "{name}" (func ${name} (param {params}){result}))')
    lines.append(f'  (memory (export "memory") {PAGES})')
    for name, (sig, _, returns) in functions(version).items():
        params = " ".join("i64" if c == "I" else "i32" for c in sig)
        result = " (result i32)" if returns else ""
        gets = " ".join(f"local.get {i}" for i in range(len(sig)))
        lines.append(f'  (func (export "call_{name}") (param {params}){result}'
                     f" {gets} call ${name})")
    lines.append(")")
    return "\n".join(lines)


@cache
def module(version: str) -> wasmtime.Module:
    from vfswasi.modules import default_engine

    return wasmtime.Module(default_engine(), wasmtime.wat2wasm(wat(version)))


# --- the memory layout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where the placed inputs are, for one ABI version."""

    version: str
    pristine: bytes
    paths: list[tuple[int, int]]  # (ptr, len) of each PATH_STRINGS entry
    iovecs: list[tuple[int, int]]  # (ptr, count) of each IOVEC_ARRAYS entry
    subs: list[tuple[int, int]]  # (ptr, count) of placed subscription arrays
    sub_size: int
    filestat_size: int


@cache
def layout(version: str) -> Layout:
    mem = bytearray([GUARD]) * MEM_SIZE
    paths = []
    at = STRINGS
    for s in PATH_STRINGS:
        mem[at:at + len(s)] = s
        paths.append((at, len(s)))
        at += len(s) + 3  # guard bytes between strings
    iovecs = []
    at = IOVECS
    for arr in IOVEC_ARRAYS:
        for n, (base, length) in enumerate(arr):
            struct.pack_into("<II", mem, at + 8 * n, base & 0xFFFFFFFF, length)
        iovecs.append((at, len(arr)))
        at += 8 * len(arr) + 8
    abi = LAYOUTS[version]
    size = abi.subscription_size
    # every clock waits at most 1 µs: no call may sleep for long, whatever the arguments
    subscriptions = [
        ("clock", 0, 1000, 0),  # realtime, relative
        ("clock", 1, 0, 0),  # monotonic, relative, already due
        ("clock", 1, 0, 1),  # monotonic, absolute 0: in the past
        ("clock", 9, 5, 0),  # an unknown clock
        ("read", 0), ("write", 1), ("read", 3), ("read", 4), ("write", 99),
    ]
    subs = []
    at = SUBS
    for first in range(len(subscriptions)):
        # arrays that start at each subscription and run to the end of the list
        subs.append((at + first * size, len(subscriptions) - first))
    for n, sub in enumerate(subscriptions):
        base = at + n * size
        mem[base:base + size] = bytes(size)
        struct.pack_into("<QB", mem, base, 0x1000 + n, {"clock": 0, "read": 1, "write": 2}[sub[0]])
        if sub[0] == "clock":
            _, clock_id, timeout, flags = sub
            fields = (clock_id, timeout, 1, flags)
            if abi.clock_has_identifier:
                fields = (0x77, *fields)
            abi.subscription_clock.pack_into(mem, base + 16, *fields)
        else:
            struct.pack_into("<I", mem, base + 16, sub[1])
    return Layout(version, bytes(mem), paths, iovecs, subs, size, abi.filestat.size)


# --- which bytes a call may write ------------------------------------------------------------------

Region = tuple[int, int]  # [start, end)


def _iovec_regions(mem: bytes, ptr: int, count: int) -> list[Region]:
    out = []
    for n in range(min(count, (MEM_SIZE - ptr) // 8 if ptr < MEM_SIZE else 0)):
        base, length = struct.unpack_from("<II", mem, ptr + 8 * n)
        out.append((base, base + length))
    return out


def output_regions(name: str, a: dict[str, int], mem: bytes, lay: Layout,
                   argv_size: tuple[int, int], env_size: tuple[int, int]) -> list[Region]:
    """The bytes call `name` with arguments `a` may write: its declared output buffers
    (computed from memory as it was before the call)."""
    fixed: dict[str, list[tuple[str, int]]] = {
        "args_sizes_get": [("argc_ptr", 4), ("argv_buf_size_ptr", 4)],
        "environ_sizes_get": [("count_ptr", 4), ("buf_size_ptr", 4)],
        "clock_res_get": [("resolution_ptr", 8)],
        "clock_time_get": [("time_ptr", 8)],
        "fd_fdstat_get": [("stat_ptr", 24)],
        "fd_filestat_get": [("buf_ptr", lay.filestat_size)],
        "path_filestat_get": [("buf_ptr", lay.filestat_size)],
        "fd_prestat_get": [("buf_ptr", 8)],
        "fd_seek": [("newoffset_ptr", 8)],
        "fd_tell": [("offset_ptr", 8)],
        "path_open": [("fd_ptr", 4)],
        "sock_accept": [("fd_ptr", 4)],
        "fd_read": [("nread_ptr", 4)],
        "fd_pread": [("nread_ptr", 4)],
        "fd_write": [("nwritten_ptr", 4)],
        "fd_pwrite": [("nwritten_ptr", 4)],
        "sock_send": [("so_datalen_ptr", 4)],
        "sock_recv": [("ro_datalen_ptr", 4), ("ro_flags_ptr", 2)],
        "fd_readdir": [("bufused_ptr", 4)],
        "path_readlink": [("bufused_ptr", 4)],
        "poll_oneoff": [("nevents_ptr", 4)],
    }
    regions = [(a[p], a[p] + n) for p, n in fixed.get(name, [])]
    sized: dict[str, tuple[str, str]] = {
        "fd_prestat_dir_name": ("path_ptr", "path_len"),
        "fd_readdir": ("buf", "buf_len"),
        "path_readlink": ("buf", "buf_len"),
        "random_get": ("buf", "buf_len"),
    }
    if name in sized:
        p, n = sized[name]
        regions.append((a[p], a[p] + a[n]))
    if name in ("fd_read", "fd_pread"):
        regions += _iovec_regions(mem, a["iovs"], a["iovs_len"])
    if name == "sock_recv":
        regions += _iovec_regions(mem, a["ri_data"], a["ri_data_len"])
    if name == "poll_oneoff":
        regions.append((a["out_ptr"], a["out_ptr"] + 32 * a["nsubscriptions"]))
    if name == "args_get":
        regions += [(a["argv_ptr"], a["argv_ptr"] + 4 * argv_size[0]),
                    (a["argv_buf_ptr"], a["argv_buf_ptr"] + argv_size[1])]
    if name == "environ_get":
        regions += [(a["environ_ptr"], a["environ_ptr"] + 4 * env_size[0]),
                    (a["environ_buf_ptr"], a["environ_buf_ptr"] + env_size[1])]
    return regions


def changed_outside(before: bytes, after: bytes, allowed: list[Region]) -> list[int]:
    """Offsets that differ between `before` and `after` outside the `allowed` regions (the
    first few), or [] when there are none."""
    if before == after:
        return []
    cuts = sorted((max(0, s), min(MEM_SIZE, e)) for s, e in allowed if s < MEM_SIZE and e > s)
    protected, at = [], 0
    for s, e in cuts:
        if s > at:
            protected.append((at, s))
        at = max(at, e)
    protected.append((at, MEM_SIZE))
    bad = []
    for s, e in protected:
        if before[s:e] != after[s:e]:
            bad += [i for i in range(s, e) if before[i] != after[i]][:8]
    return bad


Caller = Callable[..., int | None]
