"""A WAT "trampoline" that lets Python call every WASI host function with arbitrary arguments.

The module imports each function of vfswasi's syscall table and exports a wrapper
`call_<name>` with the same parameters, so a test calls `fd_write(fd, iovs, n, ptr)` straight
from Python with whatever integers it likes, and the host function runs exactly as it would for
a guest: through the real dispatcher, on the real guest memory.

Everything here about a function's parameters — the trampoline's signatures, how the tests
draw each argument (`argument_plan`), which bytes a call may write (`output_regions`) — is
derived from vfswasi's own syscall declarations (`vfswasi.syscalls._registry`), so a new or
changed declaration is tested as it is declared.

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

from vfswasi.abi import (
    FILEDELTA,
    FILESIZE,
    SUBSCRIPTION_FD_READWRITE,
    Array,
    Buffer,
    Out,
    Pointer,
    Record,
    Scalar,
    record_for,
)
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
    """name -> (signature, names of the wasm parameters, returns an errno) for `version`."""
    return {name: (spec.sig, spec.names, spec.returns_errno)
            for name, spec in sorted(SYSCALLS.items())
            if version not in spec.excluded_versions}


Pair = tuple[str, str, str]  # (pointer parameter, length or count parameter, kind)


def argument_plan(name: str) -> tuple[list[Pair], dict[str, str]]:
    """How to draw `name`'s arguments, from its declaration: the (pointer, length) pairs,
    each of a kind ("path", "iovs", "buf", "subs"), and the kind of every other wasm
    parameter ("fd", "offset", "u64", "out" for a pointer the call writes, "flags")."""
    pairs: list[Pair] = []
    kinds: dict[str, str] = {}
    for param, ty in SYSCALLS[name].params.items():
        if isinstance(ty, Buffer):
            kind = ("iovs" if isinstance(ty.elem, Record) else "buf" if ty.out else "path")
            pairs.append((param, param + "_len", kind))
        elif isinstance(ty, Array) and not ty.out:
            pairs.append((param, ty.count, "subs"))
        elif isinstance(ty, (Out, Array, Pointer)):
            kinds[param] = "out"
        elif isinstance(ty, Scalar):
            kinds[param] = ("fd" if ty.type.name == "fd"
                            else "offset" if ty.type in (FILESIZE, FILEDELTA)
                            else "u64" if ty.type.wasm == "I" else "flags")
    for _, count, _ in pairs:
        kinds.pop(count, None)
    return pairs, kinds


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
    sub = LAYOUTS[version].subscription
    size = sub.size
    clock = sub.fields["u"].cases["clock"]  # type: ignore[union-attr]
    clock_at, fd_at = sub.offset_of("u.clock"), sub.offset_of("u.fd_read")
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
    for n in range(len(subscriptions)):
        base = at + n * size
        mem[base:base + size] = bytes(size)
        kind = subscriptions[n][0]
        sub.pack_into(mem, base, 0x1000 + n, {"clock": 0, "read": 1, "write": 2}[kind])
        if kind == "clock":
            _, clock_id, timeout, flags = subscriptions[n]
            fields: tuple[int, ...] = (clock_id, timeout, 1, flags)
            if "identifier" in clock.fields:  # wasi_unstable
                fields = (0x77, *fields)
            clock.pack_into(mem, base + clock_at, *fields)
        else:
            SUBSCRIPTION_FD_READWRITE.pack_into(mem, base + fd_at, subscriptions[n][1])
    filestat = LAYOUTS[version].filestat
    return Layout(version, bytes(mem), paths, iovecs, subs, size, filestat.size)


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
    regions: list[Region] = []
    for param, ty in SYSCALLS[name].params.items():
        ptr = a[param]
        if isinstance(ty, Out):
            size = (record_for(ty.type, lay.version).size if isinstance(ty.type, Record)
                    else ty.type.size)
            regions.append((ptr, ptr + size))
        elif isinstance(ty, Buffer) and ty.out:
            if isinstance(ty.elem, Record):  # an iovec array: the buffers it points to
                regions += _iovec_regions(mem, ptr, a[param + "_len"])
            else:
                regions.append((ptr, ptr + a[param + "_len"]))
        elif isinstance(ty, Array) and ty.out:
            regions.append((ptr, ptr + ty.elem.size * a[ty.count]))
        elif isinstance(ty, Pointer) and ty.out:
            # args_get / environ_get: the string table and the strings, as big as the
            # instance's arguments or environment make them
            count, total = argv_size if name.startswith("args_") else env_size
            regions.append((ptr, ptr + (4 * count if ty.name == "string_table" else total)))
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
