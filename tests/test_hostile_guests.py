"""Uncooperative guests: what a guest asks for never becomes an unbounded host allocation or
an unbounded wait, and the host's limits answer with the errno a Linux host would.

The guest here is a WAT trampoline: it imports WASI functions and exports each one under its
own name, plus a few helpers that lay out huge arrays in guest memory from inside wasm (so
the test itself never holds them in Python). Python calls the exports with whatever
arguments it likes, through the real dispatcher, on the real guest memory. The `wasmtime`
kind runs the same trampoline on wasmtime's own WASI, the reference for the errnos.

Host memory is measured with tracemalloc (Python allocations) and, so that a regression
fails instead of exhausting the machine, bounded with a temporary RLIMIT_DATA: a call that
tried to build a guest-sized host structure gets MemoryError, which traps the guest.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import random
import re
import resource
import socket
import struct
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from conftest import Mount, Symlink, make_mount

import vfswasi
from vfswasi.fdtable import Entry, FdTable
from vfswasi.limits import Limits

# --- preview1 constants (witx values, written out rather than taken from vfswasi.abi) ----------

SUCCESS, BADF, EXIST, FAULT, FBIG, INVAL, MFILE, NAMETOOLONG, NOENT = 0, 8, 20, 21, 22, 28, 33, 37, 44
ALL_RIGHTS = (1 << 29) - 1
DIR_RIGHTS = ALL_RIGHTS & ~(1 << 6)  # no FD_WRITE
O_CREAT, O_DIRECTORY, O_EXCL = 1, 2, 4
WHENCE_SET, WHENCE_CUR, WHENCE_END = 0, 1, 2
CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
SUBCLOCKFLAGS_ABSTIME = 1
HOUR_NS = 3600 * 10**9
MAX_OFFSET = (1 << 63) - 1
MiB = 1 << 20

SIGNATURES = {
    "clock_time_get": "(param i32 i64 i32) (result i32)",
    "fd_allocate": "(param i32 i64 i64) (result i32)",
    "fd_close": "(param i32) (result i32)",
    "fd_filestat_set_size": "(param i32 i64) (result i32)",
    "fd_pread": "(param i32 i32 i32 i64 i32) (result i32)",
    "fd_pwrite": "(param i32 i32 i32 i64 i32) (result i32)",
    "fd_read": "(param i32 i32 i32 i32) (result i32)",
    "fd_seek": "(param i32 i64 i32 i32) (result i32)",
    "fd_write": "(param i32 i32 i32 i32) (result i32)",
    "path_create_directory": "(param i32 i32 i32) (result i32)",
    "path_filestat_get": "(param i32 i32 i32 i32 i32) (result i32)",
    "path_link": "(param i32 i32 i32 i32 i32 i32 i32) (result i32)",
    "path_open": "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)",
    "path_remove_directory": "(param i32 i32 i32) (result i32)",
    "path_rename": "(param i32 i32 i32 i32 i32 i32) (result i32)",
    "path_symlink": "(param i32 i32 i32 i32 i32) (result i32)",
    "path_unlink_file": "(param i32 i32 i32) (result i32)",
    "poll_oneoff": "(param i32 i32 i32 i32) (result i32)",
    "random_get": "(param i32 i32) (result i32)",
    "sock_accept": "(param i32 i32 i32) (result i32)",
}

# Guest memory map: results at RES, strings at STR, data buffers at BUF, big arrays at ARRAY.
RES, STR, BUF, ARRAY = 0x100, 0x1000, 0x10000, 0x200000
PAGE = 65536

HELPERS = """
  ;; iovec i = {buf + (i & 0xFFFF), len}: the first 65536 are distinct one-byte buffers
  (func (export "fill_iovecs") (param $at i32) (param $count i32) (param $buf i32) (param $len i32)
    (local $i i32) (local $p i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $p (i32.add (local.get $at) (i32.shl (local.get $i) (i32.const 3))))
      (i32.store (local.get $p) (i32.add (local.get $buf) (i32.and (local.get $i) (i32.const 0xFFFF))))
      (i32.store offset=4 (local.get $p) (local.get $len))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  ;; subscription i (48 bytes) = {userdata i, CLOCK, MONOTONIC, timeout, precision 0, relative}
  (func (export "fill_clock_subs") (param $at i32) (param $count i32) (param $timeout i64)
    (local $i i32) (local $p i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $p (i32.add (local.get $at) (i32.mul (local.get $i) (i32.const 48))))
      (memory.fill (local.get $p) (i32.const 0) (i32.const 48))
      (i64.store (local.get $p) (i64.extend_i32_u (local.get $i)))
      (i32.store offset=16 (local.get $p) (i32.const 1))
      (i64.store offset=24 (local.get $p) (local.get $timeout))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
"""


def _wat(pages: int) -> str:
    lines = ["(module"]
    for name, sig in SIGNATURES.items():
        lines.append(f'  (import "wasi_snapshot_preview1" "{name}" (func ${name} {sig}))')
    lines.append(f'  (memory (export "memory") {pages})')
    for name, sig in SIGNATURES.items():
        nparams = len(re.findall(r"i32|i64", sig.split("(result")[0]))
        gets = " ".join(f"local.get {i}" for i in range(nparams))
        lines.append(f'  (func (export "{name}") {sig} {gets} call ${name})')
    lines.append(HELPERS)
    lines.append(")")
    return "\n".join(lines)


@functools.cache
def _module(pages: int) -> wasmtime.Module:
    from vfswasi.modules import default_engine

    wasm = bytes(wasmtime.wat2wasm(_wat(pages)))
    wasmtime.Module.validate(default_engine(), wasm)
    return wasmtime.Module(default_engine(), wasm)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class Guest:
    """One trampoline instance on backend `kind`, the mount at /sandbox (fd 3)."""

    def __init__(self, kind: str, tmp_path: Path, *, pages: int = 40, tree: dict | None = None,
                 limits: Limits | None = None, deterministic: int | None = None,
                 stdin: Any = b"", stdout: Any = None, sockets: tuple = ()) -> None:
        self.kind = kind
        self.mount: Mount = make_mount(kind, tmp_path, tree if tree is not None else {
            "data.txt": b"0123456789", "d": {}})
        from vfswasi.modules import default_engine

        module = _module(pages)
        self.size = pages * PAGE
        self.store = wasmtime.Store(default_engine())
        self.wasi: vfswasi.WASI | None = None
        if kind == "wasmtime":
            cfg = wasmtime.WasiConfig()
            cfg.preopen_dir(str(self.mount.host_dir), "/sandbox")
            self.store.set_wasi(cfg)
            linker = wasmtime.Linker(default_engine())
            linker.define_wasi()
            # the shared engine interrupts by epochs; wasmtime's own WASI never moves on
            self.store.set_epoch_deadline(1 << 40)
            self.instance = linker.instantiate(self.store, module)
        else:
            self.wasi = vfswasi.WASI(preopens={"/sandbox": self.mount.preopen}, stdin=stdin,
                                     stdout=stdout, stderr=None, limits=limits,
                                     deterministic=deterministic, sockets=sockets)
            self.instance = self.wasi.instantiate(self.store, module)
            # start the instance's wall clock (a timeout in `limits` then bounds every wait)
            self.wasi.ctx.control.begin()
        self.exports = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = self.exports["memory"]  # type: ignore[assignment]

    def close(self) -> None:
        if self.wasi is not None:
            self.wasi.close()

    # --- calling -------------------------------------------------------------------------------

    def __call__(self, name: str, *args: int) -> int:
        sig = SIGNATURES.get(name, "")
        kinds = re.findall(r"i32|i64", sig.split("(result")[0]) if sig else []
        if not kinds:  # a helper: all i32 but the last i64 of fill_clock_subs
            kinds = ["i32"] * len(args)
            if name == "fill_clock_subs":
                kinds[-1] = "i64"
        values = [_signed(a, 64 if k == "i64" else 32) for a, k in zip(args, kinds, strict=True)]
        return self.exports[name](self.store, *values)  # type: ignore[operator]

    def write(self, at: int, data: bytes) -> None:
        self.memory.write(self.store, data, at)

    def read(self, at: int, n: int) -> bytes:
        return bytes(self.memory.read(self.store, at, at + n))

    def u32(self, at: int) -> int:
        return int.from_bytes(self.read(at, 4), "little")

    def u64(self, at: int) -> int:
        return int.from_bytes(self.read(at, 8), "little")

    def string(self, at: int, s: bytes) -> tuple[int, int]:
        self.write(at, s)
        return at, len(s)

    # --- common calls ------------------------------------------------------------------------------

    def open(self, path: bytes, oflags: int = 0, fdflags: int = 0,
             rights: int = ALL_RIGHTS) -> tuple[int, int]:
        """(errno, new fd) of path_open relative to the mount."""
        ptr, n = self.string(STR, path)
        errno = self("path_open", 3, 1, ptr, n, oflags, rights, rights, fdflags, RES)
        return errno, (self.u32(RES) if errno == SUCCESS else -1)

    def must_open(self, path: bytes, oflags: int = 0) -> int:
        errno, fd = self.open(path, oflags)
        assert errno == SUCCESS, (path, errno)
        return fd

    def path_call(self, name: str, path: bytes, *rest: int) -> int:
        """`name`(3, path, *rest) for the calls whose arguments start (fd, path, len)."""
        ptr, n = self.string(STR, path)
        return self(name, 3, ptr, n, *rest)

    def stat(self, path: bytes) -> int:
        ptr, n = self.string(STR, path)
        return self("path_filestat_get", 3, 1, ptr, n, RES)

    def write_iov(self, fd: int, data: bytes, *, offset: int | None = None) -> tuple[int, int]:
        """(errno, nwritten) of fd_write (or fd_pwrite at `offset`) of one buffer."""
        self.write(BUF, data)
        self.write(RES + 0x40, struct.pack("<II", BUF, len(data)))
        if offset is None:
            errno = self("fd_write", fd, RES + 0x40, 1, RES)
        else:
            errno = self("fd_pwrite", fd, RES + 0x40, 1, offset, RES)
        return errno, self.u32(RES) if errno == SUCCESS else -1

    def seek(self, fd: int, offset: int, whence: int) -> tuple[int, int]:
        errno = self("fd_seek", fd, offset, whence, RES)
        return errno, (self.u64(RES) if errno == SUCCESS else -1)


@pytest.fixture
def guests() -> Iterator[list[Guest]]:
    """Guests made by a test, closed after it (through `make_guest`)."""
    made: list[Guest] = []
    yield made
    for g in made:
        g.close()


@pytest.fixture
def make_guest(guests: list[Guest], tmp_path: Path) -> Any:
    def make(kind: str, **options: Any) -> Guest:
        g = Guest(kind, tmp_path, **options)
        guests.append(g)
        return g

    return make


# --- measuring and bounding host memory ---------------------------------------------------------


def _vm_data() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmData:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


@contextlib.contextmanager
def bounded_host_memory(limit: int) -> Iterator[list[int]]:
    """Fail (MemoryError, so a trap in a host call) rather than let the block grow the
    process's data by more than `limit` bytes; yields [tracemalloc peak] once done."""
    result: list[int] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = _vm_data() + limit
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    tracemalloc.start()
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    try:
        yield result
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


# --- iovec arrays: at most IOV_MAX entries are looked at -------------------------------------

HUGE_IOVECS = 30_000_000


def _pages_for(nbytes: int) -> int:
    return -(-nbytes // PAGE) + 1


def test_30m_one_byte_iovecs_give_a_short_write_and_read(kind, make_guest):
    g = make_guest(kind, pages=_pages_for(ARRAY + HUGE_IOVECS * 8))
    g("fill_iovecs", ARRAY, HUGE_IOVECS, BUF, 1)
    g.write(BUF, bytes(range(256)) * 256)
    fd = g.must_open(b"big.bin", O_CREAT)
    with bounded_host_memory(256 * MiB) as peak:
        t = time.monotonic()
        write_errno = g("fd_write", fd, ARRAY, HUGE_IOVECS, RES)
        nwritten = g.u32(RES)
        assert g.seek(fd, 0, WHENCE_SET) == (SUCCESS, 0)
        g.write(BUF, bytes(1024))
        read_errno = g("fd_read", fd, ARRAY, HUGE_IOVECS, RES)
        nread = g.u32(RES)
        elapsed = time.monotonic() - t
    # POSIX allows a short transfer; IOV_MAX (1024) one-byte buffers are what is moved
    assert (write_errno, nwritten) == (SUCCESS, 1024)
    assert (read_errno, nread) == (SUCCESS, 1024)
    assert g.read(BUF, 1024) == bytes(range(256)) * 4
    assert peak[0] < 2 * MiB, f"host allocated {peak[0]:,} bytes for one call"
    assert elapsed < 5, elapsed
    assert g.wasi.ctx.usage.bytes_written == 1024
    assert g.wasi.ctx.usage.bytes_read == 1024


def test_30m_one_byte_iovecs_on_streams(make_guest):
    out = io.BytesIO()
    g = make_guest("memory", pages=_pages_for(ARRAY + HUGE_IOVECS * 8), stdin=b"x" * 5000,
                   stdout=out)
    g("fill_iovecs", ARRAY, HUGE_IOVECS, BUF, 1)
    with bounded_host_memory(256 * MiB) as peak:
        assert g("fd_read", 0, ARRAY, HUGE_IOVECS, RES) == SUCCESS
        nread = g.u32(RES)
        assert g("fd_write", 1, ARRAY, HUGE_IOVECS, RES) == SUCCESS
        nwritten = g.u32(RES)
    assert (nread, nwritten) == (1024, 1024)
    assert out.getvalue() == b"x" * 1024
    assert peak[0] < 2 * MiB, peak


def test_iovec_array_past_the_end_of_memory_is_still_efault(make_guest):
    g = make_guest("memory")
    fd = g.must_open(b"f", O_CREAT)
    # 2000 entries starting 1000 * 8 bytes before the end: the array itself is out of bounds,
    # even though its first IOV_MAX entries would fit
    at = g.size - 1000 * 8
    g("fill_iovecs", at, 1000, BUF, 1)
    assert g("fd_write", fd, at, 2000, RES) == FAULT
    assert g("fd_write", fd, at, 1000, RES) == SUCCESS
    assert g.u32(RES) == 1000


def test_iovecs_up_to_iov_max_are_all_used(make_guest):
    g = make_guest("memory")
    fd = g.must_open(b"f", O_CREAT)
    g("fill_iovecs", ARRAY // 4, 1024, BUF, 2)  # overlapping two-byte buffers, 2048 bytes
    assert g("fd_write", fd, ARRAY // 4, 1024, RES) == SUCCESS
    assert g.u32(RES) == 2048
    g("fill_iovecs", ARRAY // 4, 1025, BUF, 2)
    assert g("fd_write", fd, ARRAY // 4, 1025, RES) == SUCCESS
    assert g.u32(RES) == 2048  # the 1025th is not looked at


# --- random_get: filled in place, in pieces -----------------------------------------------------


def _looks_random(data: bytes) -> None:
    counts = Counter(data)
    assert len(counts) == 256
    expected = len(data) / 256
    assert max(counts.values()) < expected * 1.5 and min(counts.values()) > expected * 0.5


def test_random_get_1gib_fills_guest_memory_without_a_host_buffer(make_guest):
    # 1 GiB rather than 2: the same pieces, half the time (the kernel's random source and the
    # first touch of each guest page dominate); the 2**31 length is checked below
    size = 1 << 30
    g = make_guest("memory", pages=size // PAGE + 1)
    buf = PAGE
    with bounded_host_memory(256 * MiB) as peak:
        t = time.monotonic()
        assert g("random_get", buf, size) == SUCCESS
        elapsed = time.monotonic() - t
    assert peak[0] < 4 * MiB, f"host allocated {peak[0]:,} bytes"
    assert elapsed < 60, elapsed
    samples = [g.read(buf + off, 64 * 1024) for off in range(0, size, size // 16)]
    samples.append(g.read(buf + size - 64 * 1024, 64 * 1024))  # the very end was filled too
    for s in samples:
        _looks_random(s)
    assert len(set(samples)) == len(samples)
    assert g.read(0, 16) == bytes(16)  # nothing before the buffer was touched
    first = g.read(buf, 1 * MiB)
    assert g("random_get", buf, 1 * MiB) == SUCCESS
    assert g.read(buf, 1 * MiB) != first  # two calls differ


def test_random_get_out_of_bounds_is_efault_before_any_work(make_guest):
    g = make_guest("memory")
    assert g("random_get", PAGE, g.size - PAGE + 1) == FAULT
    # 2 GiB is a negative i32: read as unsigned it is far out of bounds, not an empty request
    assert g("random_get", PAGE, 1 << 31) == FAULT
    assert g("random_get", PAGE, (1 << 32) - 1) == FAULT
    assert g.read(PAGE, 16) == bytes(16)


def test_random_get_deterministic_runs_repeat_themselves(make_guest):
    def draw(seed: int) -> tuple[bytes, bytes]:
        g = make_guest("memory", pages=64, deterministic=seed)
        assert g("random_get", PAGE, 3 * MiB) == SUCCESS
        one = g.read(PAGE, 3 * MiB)
        assert g("random_get", PAGE, 100) == SUCCESS
        return one, g.read(PAGE, 100)

    a, b, c = draw(7), draw(7), draw(8)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]
    assert a[0][:100] != a[1]  # the second call is not the first one again
    _looks_random(a[0])


# --- poll_oneoff: bounded pieces, interruptible waits, virtual clocks ----------------------------


def _clock_sub(userdata: int, clock_id: int, timeout: int, flags: int = 0) -> bytes:
    return struct.pack("<QB7xI4xQQH6x", userdata, 0, clock_id, timeout, 0, flags)


def _fd_sub(userdata: int, tag: int, fd: int) -> bytes:
    return struct.pack("<QB7xI28x", userdata, tag, fd)


def _events(g: Guest, at: int, n: int) -> list[tuple[int, int, int]]:
    """(userdata, errno, type) of n events at `at`."""
    out = []
    for i in range(n):
        userdata, errno, etype = struct.unpack_from("<QHB", g.read(at + 32 * i, 11))
        out.append((userdata, errno, etype))
    return out


def test_poll_100k_clock_subscriptions(make_guest):
    n = 100_000
    subs, events = ARRAY, ARRAY + n * 48
    g = make_guest("memory", pages=_pages_for(events + n * 32))
    g("fill_clock_subs", subs, n, 0)
    with bounded_host_memory(128 * MiB) as peak:
        t = time.monotonic()
        assert g("poll_oneoff", subs, events, n, RES) == SUCCESS
        elapsed = time.monotonic() - t
    assert g.u32(RES) == n
    found = list(struct.iter_unpack("<QHB21x", g.read(events, n * 32)))
    assert sorted(found) == [(i, 0, 0) for i in range(n)]  # errno 0, type CLOCK
    assert peak[0] < 4 * MiB, f"host allocated {peak[0]:,} bytes for {n:,} subscriptions"
    assert elapsed < 10, elapsed


def test_poll_virtual_clock_sleep_of_an_hour_returns_at_once(make_guest):
    g = make_guest("memory", deterministic=1, limits=Limits(timeout=30))
    assert g("clock_time_get", CLOCK_MONOTONIC, 0, RES) == SUCCESS
    before = g.u64(RES)
    g.write(ARRAY, _clock_sub(42, CLOCK_MONOTONIC, HOUR_NS))
    t = time.monotonic()
    assert g("poll_oneoff", ARRAY, ARRAY + 0x100, 1, RES) == SUCCESS
    assert time.monotonic() - t < 1
    assert g.u32(RES) == 1
    assert _events(g, ARRAY + 0x100, 1) == [(42, 0, 0)]
    assert g("clock_time_get", CLOCK_MONOTONIC, 0, RES) == SUCCESS
    moved = g.u64(RES) - before
    assert HOUR_NS <= moved < HOUR_NS + 10**6, moved

    # an absolute deadline an hour ahead on the realtime clock: the same
    assert g("clock_time_get", CLOCK_REALTIME, 0, RES) == SUCCESS
    now = g.u64(RES)
    g.write(ARRAY, _clock_sub(43, CLOCK_REALTIME, now + HOUR_NS, SUBCLOCKFLAGS_ABSTIME))
    assert g("poll_oneoff", ARRAY, ARRAY + 0x100, 1, RES) == SUCCESS
    assert _events(g, ARRAY + 0x100, 1) == [(43, 0, 0)]
    assert g("clock_time_get", CLOCK_REALTIME, 0, RES) == SUCCESS
    assert now + HOUR_NS <= g.u64(RES) < now + HOUR_NS + 10**6


def test_poll_virtual_clock_fires_instead_of_a_blocked_stream(make_guest):
    r, w = os.pipe()  # nothing is ever written: a real wait would block for the whole hour
    try:
        g = make_guest("memory", deterministic=1, limits=Limits(timeout=30), stdin=r)
        g.write(ARRAY, _fd_sub(1, 1, 0) + _clock_sub(2, CLOCK_MONOTONIC, 2 * HOUR_NS)
                + _clock_sub(3, CLOCK_MONOTONIC, HOUR_NS))
        t = time.monotonic()
        assert g("poll_oneoff", ARRAY, ARRAY + 0x200, 3, RES) == SUCCESS
        assert time.monotonic() - t < 1
        assert g.u32(RES) == 1
        assert _events(g, ARRAY + 0x200, 1) == [(3, 0, 0)]  # only the earliest clock
    finally:
        os.close(r)
        os.close(w)


def test_poll_blocked_on_a_pipe_stops_at_the_timeout(make_guest):
    r, w = os.pipe()
    try:
        g = make_guest("memory", limits=Limits(timeout=0.3), stdin=r)
        g.write(ARRAY, _fd_sub(1, 1, 0))
        t = time.monotonic()
        with pytest.raises(Exception, match="run stopped: timeout"):
            g("poll_oneoff", ARRAY, ARRAY + 0x100, 1, RES)
        assert time.monotonic() - t < 5
        assert g.wasi.ctx.control.reason == "timeout"
    finally:
        os.close(r)
        os.close(w)


def test_poll_sleeping_stops_on_an_interrupt(make_guest):
    g = make_guest("memory", limits=Limits(timeout=30))
    g.write(ARRAY, _clock_sub(1, CLOCK_MONOTONIC, HOUR_NS))
    control = g.wasi.ctx.control
    timer = threading.Timer(0.2, control.request, ("interrupt",))
    timer.start()
    t = time.monotonic()
    try:
        with pytest.raises(Exception, match="run stopped: interrupt"):
            g("poll_oneoff", ARRAY, ARRAY + 0x100, 1, RES)
    finally:
        timer.cancel()
    assert time.monotonic() - t < 5


def test_poll_reports_every_ready_subscription(make_guest):
    g = make_guest("memory")
    fd = g.must_open(b"data.txt")
    g.write(ARRAY, _clock_sub(1, CLOCK_MONOTONIC, 0) + _fd_sub(2, 1, fd)
            + _clock_sub(3, CLOCK_MONOTONIC, HOUR_NS) + _fd_sub(4, 2, 99)
            + _clock_sub(5, 77, 0))
    assert g("poll_oneoff", ARRAY, ARRAY + 0x400, 5, RES) == SUCCESS
    assert g.u32(RES) == 4
    assert _events(g, ARRAY + 0x400, 4) == [(1, 0, 0), (2, 0, 1), (4, BADF, 2), (5, INVAL, 0)]


def test_poll_unknown_tag_is_einval_and_writes_nothing(make_guest):
    g = make_guest("memory")
    g.write(ARRAY, _clock_sub(1, CLOCK_MONOTONIC, 0) + struct.pack("<QB39x", 2, 9))
    g.write(ARRAY + 0x400, b"\xaa" * 64)
    assert g("poll_oneoff", ARRAY, ARRAY + 0x400, 2, RES) == INVAL
    assert g.read(ARRAY + 0x400, 64) == b"\xaa" * 64


def test_poll_events_never_leave_their_array_when_it_overlaps_the_subscriptions(make_guest):
    g = make_guest("memory")
    n = 64
    g("fill_clock_subs", ARRAY, n, 0)
    g.write(ARRAY - 64, b"\xaa" * 64)
    g.write(ARRAY + n * 48, b"\xaa" * 64)
    for out in (ARRAY, ARRAY + 16 * 48, ARRAY + 7):
        assert g("poll_oneoff", ARRAY, out, n, RES) in (SUCCESS, INVAL)
        assert g.u32(RES) <= n
        assert g.read(ARRAY - 64, 64) == b"\xaa" * 64
        assert g.read(ARRAY + n * 48, 64) == b"\xaa" * 64


# --- the fd table: lowest free number in O(log n), EMFILE at the cap -------------------------------


def test_fd_table_lowest_free_matches_a_linear_scan():
    table, model = FdTable(), set()
    rng = random.Random(1)
    for _ in range(4_000):
        op = rng.random()
        if op < 0.55 or not model:
            fd = table.insert(Entry(0, 0, 0))
            expect = next(i for i in range(len(model) + 1) if i not in model)
            assert fd == expect
            model.add(fd)
        elif op < 0.9:
            fd = rng.choice(sorted(model))
            table.pop(fd)
            model.remove(fd)
        else:
            src, dst = rng.choice(sorted(model)), rng.choice(sorted(model))
            table.renumber(src, dst)
            if src != dst:
                model.remove(src)
        assert sorted(fd for fd, _ in table.items()) == sorted(model)
        assert len(table) == len(model)


def test_fd_table_insert_is_not_quadratic():
    table = FdTable()
    t = time.monotonic()
    fds = [table.insert(Entry(0, 0, 0)) for _ in range(20_000)]
    for fd in fds[::2]:
        table.pop(fd)
    refill = [table.insert(Entry(0, 0, 0)) for _ in range(10_000)]
    elapsed = time.monotonic() - t
    assert fds == list(range(20_000))
    assert refill == list(range(0, 20_000, 2))
    assert table.insert(Entry(0, 0, 0)) == 20_000
    assert elapsed < 1, elapsed
    assert table.peak == 20_001


def test_fd_table_cap_counts_everything_but_refuses_only_guest_opens():
    table = FdTable(max_open=2)
    for _ in range(3):
        table.insert(Entry(0, 0, 0))  # stdio: never refused
    with pytest.raises(vfswasi.WasiError) as e:
        table.open(Entry(0, 0, 0))
    assert e.value.errno == MFILE
    table.pop(2)
    table.pop(1)
    assert table.open(Entry(0, 0, 0)) == 1
    assert table.peak == 3


def test_open_until_emfile_then_close_one_and_open_again(kind, make_guest):
    g = make_guest(kind, limits=Limits(max_open_fds=50))
    opened = []
    while True:
        errno, fd = g.open(b"data.txt")
        if errno != SUCCESS:
            break
        opened.append(fd)
        assert len(opened) < 100
    assert errno == MFILE
    assert len(opened) == 50 - 4  # stdio and the preopen count towards the cap
    assert opened == list(range(4, 50))
    # creating is refused before anything is created
    assert g.open(b"new.txt", O_CREAT)[0] == MFILE
    assert g.stat(b"new.txt") == NOENT
    assert g("fd_close", 17) == SUCCESS
    assert g.open(b"data.txt") == (SUCCESS, 17)
    assert g.open(b"data.txt")[0] == MFILE
    assert g.wasi.ctx.usage.peak_open_fds == 50
    for fd in opened:
        assert g("fd_close", fd) == SUCCESS
    assert g.open(b"new.txt", O_CREAT) == (SUCCESS, 4)


def test_default_fd_cap_is_1024(make_guest):
    g = make_guest("memory")
    count = 0
    while (errno := g.open(b"d", O_DIRECTORY, rights=DIR_RIGHTS)[0]) == SUCCESS:
        count += 1
        assert count <= 1024
    assert errno == MFILE
    assert count == 1024 - 4


def test_sock_accept_at_the_cap_is_emfile_and_leaves_the_connection_queued(make_guest):
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=10)
    try:
        # fds: stdio, the preopen (3), the listener (4): the table is full at 5
        g = make_guest("memory", limits=Limits(max_open_fds=5, timeout=30), sockets=(listener,))
        assert g("sock_accept", 4, 0, RES) == MFILE
        g.wasi.ctx.fds.max_open = 6
        assert g("sock_accept", 4, 0, RES) == SUCCESS
        assert g.u32(RES) == 5
        client.sendall(b"hi")
        g.write(RES + 0x40, struct.pack("<II", BUF, 2))
        assert g("fd_read", 5, RES + 0x40, 1, RES) == SUCCESS
        assert g.read(BUF, g.u32(RES)) == b"hi"[: g.u32(RES)]
        assert g.wasi.ctx.usage.peak_open_fds == 6
    finally:
        client.close()
        listener.close()


def test_a_cap_below_stdio_and_preopens_only_stops_new_opens(make_guest):
    g = make_guest("memory", limits=Limits(max_open_fds=2))
    assert g.open(b"data.txt")[0] == MFILE
    errno, _ = g.write_iov(1, b"still works")
    assert errno == SUCCESS


# --- fd_seek past 2**63-1 ------------------------------------------------------------------------


def test_fd_seek_past_the_largest_offset_is_einval(kind, make_guest):
    # vfswasi only: wasmtime keeps a u64 position, accepts a seek up to 2**64-1 and fails the
    # next read or write with EINVAL; lseek(2) refuses the seek itself, and so do we.
    g = make_guest(kind)
    fd = g.must_open(b"data.txt")  # 10 bytes
    assert g.seek(fd, MAX_OFFSET, WHENCE_SET) == (SUCCESS, MAX_OFFSET)
    assert g.seek(fd, 1, WHENCE_CUR)[0] == INVAL
    assert g.seek(fd, 0, WHENCE_CUR) == (SUCCESS, MAX_OFFSET)  # unchanged by the failure
    assert g.seek(fd, MAX_OFFSET, WHENCE_CUR)[0] == INVAL
    assert g.seek(fd, MAX_OFFSET - 10, WHENCE_END) == (SUCCESS, MAX_OFFSET)
    assert g.seek(fd, MAX_OFFSET - 9, WHENCE_END)[0] == INVAL
    assert g.seek(fd, MAX_OFFSET, WHENCE_END)[0] == INVAL
    assert g.seek(fd, -11, WHENCE_END)[0] == INVAL
    assert g.seek(fd, -1, WHENCE_SET)[0] == INVAL
    assert g.seek(fd, 3, WHENCE_SET) == (SUCCESS, 3)


# --- name limits: NAME_MAX per component, PATH_MAX per path and symlink target ----------------------

LONG, LONGEST = b"n" * 256, b"n" * 255


def test_name_too_long_everywhere_a_host_directory_says_so(oracle_kind, make_guest):
    g = make_guest(oracle_kind)
    assert g.stat(LONG) == NAMETOOLONG
    assert g.stat(LONGEST) == NOENT
    assert g.stat(b"missing/" + LONG) == NOENT  # the walk fails before it gets there
    assert g.stat(LONG + b"/x") == NAMETOOLONG
    assert g.stat(b"d/" + LONG) == NAMETOOLONG
    assert g.path_call("path_create_directory", LONG) == NAMETOOLONG
    assert g.open(LONG, O_CREAT)[0] == NAMETOOLONG
    assert g.open(LONG, O_CREAT | O_EXCL)[0] == NAMETOOLONG
    assert g.path_call("path_unlink_file", LONG) == NAMETOOLONG
    assert g.path_call("path_remove_directory", LONG) == NAMETOOLONG
    src, n = g.string(STR + 0x800, b"data.txt")
    dst, m = g.string(STR + 0x900, LONG)
    assert g("path_rename", 3, src, n, 3, dst, m) == NAMETOOLONG
    assert g("path_link", 3, 0, src, n, 3, dst, m) == NAMETOOLONG
    assert g("path_symlink", src, n, 3, dst, m) == NAMETOOLONG
    # a name of exactly NAME_MAX bytes is fine
    assert g.open(LONGEST, O_CREAT)[0] == SUCCESS
    assert g.stat(LONGEST) == SUCCESS
    # multi-byte UTF-8 counts in bytes: 128 two-byte characters are 256 bytes
    assert g.stat("é".encode() * 128) == NAMETOOLONG
    assert g.stat("é".encode() * 127) == NOENT
    g.close()  # writable archives are written back
    assert g.mount.tree().keys() == {"data.txt", "d", LONGEST.decode()}


def test_symlink_target_too_long(oracle_kind, make_guest):
    g = make_guest(oracle_kind, pages=60)
    for size, expected in ((4095, SUCCESS), (4096, NAMETOOLONG), (1 * MiB, NAMETOOLONG)):
        target = b"t" * size
        g.write(ARRAY, target)
        name, n = g.string(STR, b"lnk%d" % size)
        assert g("path_symlink", ARRAY, size, 3, name, n) == expected, size
    # a target with a long component is stored, but cannot be followed
    g.write(ARRAY, b"d/" + LONG)
    name, n = g.string(STR, b"badlink")
    assert g("path_symlink", ARRAY, 258, 3, name, n) == SUCCESS
    assert g.stat(b"badlink") == NAMETOOLONG
    g.close()
    tree = g.mount.tree()
    assert tree["lnk4095"] == Symlink("t" * 4095)
    assert "lnk4096" not in tree and f"lnk{MiB}" not in tree


def test_path_of_path_max_bytes_is_too_long(oracle_kind, make_guest):
    g = make_guest(oracle_kind, pages=60)
    for size, expected in ((4095, SUCCESS), (4096, NAMETOOLONG), (1 * MiB, NAMETOOLONG)):
        # exactly `size` bytes naming data.txt: "././…/[/]data.txt"
        k, r = divmod(size - len(b"data.txt"), 2)
        path = b"./" * k + b"/" * r + b"data.txt"
        assert len(path) == size
        g.write(ARRAY, path)
        assert g("path_filestat_get", 3, 1, ARRAY, size, RES) == expected, size


def test_an_archived_symlink_target_of_path_max_bytes_cannot_be_followed(make_guest):
    # only an archive made elsewhere can hold a target of PATH_MAX bytes or more; following
    # it is ENAMETOOLONG, as a host would answer for the path it spells
    g = make_guest("zip", tree={"data.txt": b"x", "huge": Symlink("./" * 2100 + "data.txt")})
    assert g.stat(b"huge") == NAMETOOLONG
    ptr, n = g.string(STR, b"huge")
    assert g("path_filestat_get", 3, 0, ptr, n, RES) == SUCCESS  # the link itself is fine


# --- max_file_size: EFBIG on every backend ----------------------------------------------------------


def test_file_size_limit_is_efbig(kind, make_guest):
    g = make_guest(kind, limits=Limits(max_file_size=1000))
    fd = g.must_open(b"f.bin", O_CREAT)
    assert g.write_iov(fd, b"a" * 600) == (SUCCESS, 600)
    assert g.write_iov(fd, b"b" * 600) == (SUCCESS, 400)  # cut short at the limit
    assert g.write_iov(fd, b"c")[0] == FBIG
    assert g.write_iov(fd, b"")[0] == SUCCESS  # writing nothing is no growth
    assert g.write_iov(fd, b"d" * 10, offset=995) == (SUCCESS, 5)
    assert g.write_iov(fd, b"d" * 10, offset=2000)[0] == FBIG
    assert g.write_iov(fd, b"e" * 10, offset=0) == (SUCCESS, 10)  # rewriting within is fine
    assert g("fd_filestat_set_size", fd, 1001) == FBIG
    assert g("fd_filestat_set_size", fd, 1000) == SUCCESS
    assert g("fd_allocate", fd, 990, 11) == FBIG
    assert g("fd_filestat_set_size", fd, 10) == SUCCESS
    assert g("fd_filestat_set_size", fd, 1000) == SUCCESS
    assert g("fd_close", fd) == SUCCESS
    g.close()
    data = g.mount.tree()["f.bin"]
    assert data == b"e" * 10 + bytes(990)


def test_file_size_limit_applies_to_appends_and_existing_files(kind, make_guest):
    g = make_guest(kind, limits=Limits(max_file_size=12))
    fd = g.must_open(b"data.txt")  # 10 bytes already
    assert g("fd_filestat_set_size", fd, 13) == FBIG
    append = g.open(b"data.txt", fdflags=1)[1]
    assert g.write_iov(append, b"xyz") == (SUCCESS, 2)
    assert g.write_iov(append, b"xyz")[0] == FBIG


# --- usage counters ----------------------------------------------------------------------------------


def test_usage_counts_bytes_and_files(kind, make_guest):
    out = io.BytesIO()
    g = make_guest(kind, stdin=b"abcdef", stdout=out)
    usage = g.wasi.ctx.usage
    fd = g.must_open(b"new.txt", O_CREAT)
    assert g.write_iov(fd, b"hello") == (SUCCESS, 5)
    assert g.write_iov(fd, b"world", offset=5) == (SUCCESS, 5)
    assert g.write_iov(1, b"to stdout") == (SUCCESS, 9)
    assert usage.bytes_written == 19
    g.write(RES + 0x40, struct.pack("<II", BUF, 4))
    assert g("fd_pread", fd, RES + 0x40, 1, 2, RES) == SUCCESS
    assert g("fd_read", 0, RES + 0x40, 1, RES) == SUCCESS
    assert g.seek(fd, 0, WHENCE_SET)[0] == SUCCESS
    assert g("fd_read", fd, RES + 0x40, 1, RES) == SUCCESS
    assert usage.bytes_read == 12
    assert g.open(b"new.txt", O_CREAT)[0] == SUCCESS  # it exists: not created again
    assert usage.files_created == 1
    assert g.path_call("path_create_directory", b"sub") == SUCCESS
    src, n = g.string(STR + 0x800, b"new.txt")
    dst, m = g.string(STR + 0x900, b"sym")
    assert g("path_symlink", src, n, 3, dst, m) == SUCCESS
    dst, m = g.string(STR + 0x900, b"hard")
    assert g("path_link", 3, 0, src, n, 3, dst, m) == SUCCESS
    assert usage.files_created == 4
    assert g.path_call("path_unlink_file", b"hard") == SUCCESS
    assert g.path_call("path_create_directory", b"sub") == EXIST  # a failure counts nothing
    assert usage.files_created == 4
    assert g.path_call("path_unlink_file", b"sym") == SUCCESS
    assert g.path_call("path_remove_directory", b"sub") == SUCCESS
    assert g.path_call("path_unlink_file", b"sym") == NOENT
    assert usage.files_removed == 3
    assert usage.peak_open_fds >= 5
