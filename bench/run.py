"""vfswasi vs wasmtime's native WASI vs Node's node:wasi, side by side in one run.

    python bench/run.py                  # full run, a few minutes on 2 cores
    python bench/run.py --quick          # ~30 s smoke run (CI: does the script still work?)
    python bench/run.py --json out.json  # also write every sample as JSON
    python bench/run.py --markdown       # the table as Markdown (for bench/README.md)
    python bench/run.py --no-node        # leave the node column out

Every guest is hand-written WAT (bench/guests/*.wat, compiled here with `wasmtime.wat2wasm`)
whose exported function loops inside the guest; the harness calls that export with the loop
count, so compilation and instantiation never reach the timed region. For each benchmark
every side (vfswasi, native wasmtime, node, ...) gets its own instance, is warmed up, and then
the sides take turns, rep by rep, so that noise on the machine hits all of them. Node runs the
same guests in one `node` child process (bench/node_side.mjs) driven over a pipe; `node` is
looked up on PATH and its column is left empty, with a message, where there is none.
A side's number is its median rep; every sample and the best are in the JSON.

This is a measurement, not a test: nothing here asserts on timings. It does check that
every guest call succeeded (errno 0) and that the bytes really went through, so a broken
setup cannot report a fast number.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import wasmtime

BENCH = Path(__file__).resolve().parent
if (BENCH.parent / "vfswasi" / "__init__.py").is_file():
    # measure this checkout's vfswasi, whatever else is installed
    sys.path.insert(0, str(BENCH.parent))

import vfswasi  # noqa: E402
from vfswasi._compat import quiet_fs_import  # noqa: E402

quiet_fs_import()
from fs.memoryfs import MemoryFS  # noqa: E402

GUESTS = BENCH / "guests"
NODE_SIDE = BENCH / "node_side.mjs"
PREVIEW1 = "wasi_snapshot_preview1"
GUEST_ARGS = ["bench", "--some", "args"]
PATH_AT = 0x200  # where the harness writes a path into guest memory (below any guest data)
SHORT_IO = 0xFFFF  # bulk.wat's "short write / early EOF" code (readdir.wat: entry too big)
TOO_FEW = 0xFFFE  # readdir.wat: a listing missed entries
KiB, MiB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Settings:
    rep_seconds: float  # target duration of one timed rep of a per-call benchmark
    reps: int  # timed reps per side (after warm-up)
    warmup: int  # untimed reps per side
    bulk_bytes: int  # size of the file the bulk guest writes and reads back
    bulk_reps: int
    process_reps: int  # whole-process cold starts per side


FULL = Settings(rep_seconds=0.2, reps=15, warmup=2, bulk_bytes=64 * MiB, bulk_reps=11,
                process_reps=11)
QUICK = Settings(rep_seconds=0.05, reps=5, warmup=1, bulk_bytes=16 * MiB, bulk_reps=3,
                 process_reps=3)


# --- guests -----------------------------------------------------------------------------------


def guest_wasm(name: str) -> bytes:
    return wasmtime.wat2wasm((GUESTS / f"{name}.wat").read_text())


def load_guest(engine: wasmtime.Engine, name: str) -> wasmtime.Module:
    wasm = guest_wasm(name)
    wasmtime.Module.validate(engine, wasm)
    return wasmtime.Module(engine, wasm)


@dataclass
class Guest:
    """One instantiated guest: its store, its exports, and a way to put bytes in its memory."""

    store: wasmtime.Store
    instance: wasmtime.Instance
    #: whatever must outlive the instance (the `vfswasi.WASI` owning the host callbacks)
    owner: object = None

    def export(self, name: str) -> Callable[..., int]:
        func = self.instance.exports(self.store)[name]
        assert isinstance(func, wasmtime.Func)
        store = self.store

        def call(*args: int) -> int:
            return func(store, *args)

        return call

    def poke(self, offset: int, data: bytes) -> None:
        memory = self.instance.exports(self.store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        memory.write(self.store, data, offset)


# --- the sides: ways of giving a guest its WASI imports -------------------------------------------

#: A preopen for the guest's fd 3: a host directory path or a MemoryFS.
Preopen = str | MemoryFS | None


@contextmanager
def vfswasi_guest(engine: wasmtime.Engine, module: wasmtime.Module,
                  preopen: Preopen = None) -> Iterator[Guest]:
    """The guest on vfswasi (its default, fast C-API dispatch)."""
    preopens = {"/data": preopen} if preopen is not None else None
    wasi = vfswasi.WASI(args=GUEST_ARGS, preopens=preopens, stdin=None, stdout=None, stderr=None)
    try:
        store = wasmtime.Store(engine)
        yield Guest(store, wasi.instantiate(store, module), owner=wasi)
    finally:
        wasi.close()


@contextmanager
def native_guest(engine: wasmtime.Engine, module: wasmtime.Module,
                 preopen: str | None = None) -> Iterator[Guest]:
    """The guest on wasmtime's own WASI (Rust, linked with `Linker.define_wasi`)."""
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    config = wasmtime.WasiConfig()
    config.argv = GUEST_ARGS
    if preopen is not None:
        config.preopen_dir(preopen, "/data")
    store = wasmtime.Store(engine)
    store.set_wasi(config)
    yield Guest(store, linker.instantiate(store, module))


@contextmanager
def define_func_guest(engine: wasmtime.Engine, module: wasmtime.Module) -> Iterator[Guest]:
    """args_sizes_get as an ordinary wasmtime-py host function: `Linker.define_func` with
    `access_caller=True`, writing its answer through `caller["memory"]`. This is what a WASI
    layer written against wasmtime-py's public API pays per call."""
    argc = struct.pack("<I", len(GUEST_ARGS))
    argv_size = struct.pack("<I", sum(len(a.encode()) + 1 for a in GUEST_ARGS))

    def args_sizes_get(caller: wasmtime.Caller, argc_ptr: int, argv_size_ptr: int) -> int:
        memory = caller["memory"]
        assert isinstance(memory, wasmtime.Memory)
        memory.write(caller, argc, argc_ptr)
        memory.write(caller, argv_size, argv_size_ptr)
        return 0

    i32 = wasmtime.ValType.i32()
    linker = wasmtime.Linker(engine)
    linker.define_func(PREVIEW1, "args_sizes_get", wasmtime.FuncType([i32, i32], [i32]),
                       args_sizes_get, access_caller=True)
    store = wasmtime.Store(engine)
    yield Guest(store, linker.instantiate(store, module))




class NodeSide:
    """One `node` child process running bench/node_side.mjs: the node:wasi column."""

    def __init__(self, node: str) -> None:
        self.path = node
        self.version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                      timeout=30).stdout.strip()
        self.proc = subprocess.Popen(
            [node, "--no-warnings", str(NODE_SIDE)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, bufsize=1)
        self._ids = iter(range(1, 1 << 30))
        self._paths: dict[int, str] = {}

    def ask(self, **request: object) -> object:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the node side died (see its stderr above)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"node side: {reply['error']}")
        return reply["ok"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class NodeGuest:
    """A guest instantiated on the node side; `export`/`poke` as for `Guest`."""

    def __init__(self, node: NodeSide, wasm: str, preopen: str | None) -> None:
        self.node, self.id = node, next(node._ids)
        node.ask(op="open", id=self.id, wasm=wasm, preopen=preopen, args=GUEST_ARGS)

    def export(self, name: str) -> Callable[..., int]:
        def call(*args: int) -> int:
            return int(self.node.ask(op="call", id=self.id, export=name, args=list(args)))  # type: ignore[call-overload]

        return call

    def poke(self, offset: int, data: bytes) -> None:
        self.node.ask(op="poke", id=self.id, offset=offset, hex=data.hex())

    def close(self) -> None:
        self.node.ask(op="close", id=self.id)


# --- timing -----------------------------------------------------------------------------------------

#: One timed unit of work: runs it and returns (seconds, amount of work done).
Job = Callable[[], tuple[float, float]]


def check(errno: int, what: str) -> None:
    if errno == SHORT_IO:
        raise RuntimeError(f"{what}: short write or early EOF")
    if errno == TOO_FEW:
        raise RuntimeError(f"{what}: the listing missed entries")
    if errno:
        raise RuntimeError(f"{what}: guest got WASI errno {errno}")


def timed(fn: Callable[[], int], what: str, work: float,
          before: Callable[[], object] | None = None) -> Job:
    """A job that times one call of `fn` (the guest's errno result), after an untimed
    `before()`."""

    def job() -> tuple[float, float]:
        if before is not None:
            before()
        t0 = time.perf_counter()
        errno = fn()
        elapsed = time.perf_counter() - t0
        check(errno, what)
        return elapsed, work

    return job


def calibrated_loop(bench: Callable[[int], int], what: str, seconds: float) -> Job:
    """A job calling `bench(n)` with n chosen so that one call takes about `seconds`."""
    n = 16
    while True:
        t0 = time.perf_counter()
        check(bench(n), what)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds / 8 or n >= 1 << 30:
            break
        n *= 2
    n = max(1, min(int(n * seconds / elapsed), (1 << 31) - 1))
    return timed(lambda: bench(n), what, n)


def interleave(groups: dict[str, list[Job]], reps: int, warmup: int) -> dict[str, list[float]]:
    """Run every group's jobs `warmup` + `reps` times, taking turns group by group (the
    order rotates each rep; jobs inside a group keep their order: a write before its read).
    Returns, per job ("group" or "group/index"), the work per second of each timed rep."""
    names = {g: [g] if len(jobs) == 1 else [f"{g}/{i}" for i in range(len(jobs))]
             for g, jobs in groups.items()}
    rates: dict[str, list[float]] = {name: [] for ns in names.values() for name in ns}
    order = list(groups)
    for rep in range(warmup + reps):
        gc.collect()
        shift = rep % len(order)
        for g in order[shift:] + order[:shift]:
            for name, job in zip(names[g], groups[g], strict=True):
                elapsed, work = job()
                if rep >= warmup:
                    rates[name].append(work / elapsed)
    return rates


# --- results -------------------------------------------------------------------------------------------


@dataclass
class Side:
    """One side's samples, in the row's unit (µs/call, ms: lower is better; MB/s, runs/s:
    higher). Its value is the median."""

    label: str
    samples: list[float]
    lower_is_better: bool

    @property
    def value(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples) if self.lower_is_better else max(self.samples)


@dataclass
class Row:
    benchmark: str
    backend: str
    unit: str
    vfswasi: Side
    baseline: Side | None
    node: Side | None = None
    target: str = ""
    #: decides `met` from the row
    goal: Callable[[Row], bool] | None = field(default=None, repr=False)

    def slowdown(self, other: Side | None) -> float | None:
        """vfswasi / other for times, other / vfswasi for rates (medians): above 1 means
        vfswasi is slower, below 1 that it is faster."""
        if other is None:
            return None
        if self.vfswasi.lower_is_better:
            return self.vfswasi.value / other.value
        return other.value / self.vfswasi.value

    @property
    def ratio(self) -> float | None:
        return self.slowdown(self.baseline)

    @property
    def node_ratio(self) -> float | None:
        return self.slowdown(self.node)

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        try:
            return self.goal(self)
        except TypeError:  # a goal about node on a run without node
            return None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"benchmark": self.benchmark, "backend": self.backend,
                                  "unit": self.unit, "target": self.target}
        for key in ("vfswasi", "baseline", "node"):
            side: Side | None = getattr(self, key)
            out[key] = None if side is None else {**asdict(side), "median": side.value,
                                                  "best": side.best}
        out["ratio"], out["node_ratio"], out["met"] = self.ratio, self.node_ratio, self.met
        return out


def per_call_us(label: str, rates: list[float] | None) -> Side | None:
    return None if rates is None else Side(label, [1e6 / r for r in rates], True)


def mb_per_s(label: str, rates: list[float] | None) -> Side | None:
    return None if rates is None else Side(label, [r / 1e6 for r in rates], False)


def per_second(label: str, rates: list[float] | None) -> Side | None:
    return None if rates is None else Side(label, list(rates), False)


def ms_each(label: str, rates: list[float] | None) -> Side | None:
    return None if rates is None else Side(label, [1e3 / r for r in rates], True)


# --- the benchmarks ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    """What every benchmark needs."""

    engine: wasmtime.Engine
    s: Settings
    host_dir: Path  # where host-directory trees and bulk files go
    run_base: Path  # where fresh per-run trees go (tmpfs where the machine has one)
    scratch: Path  # guest .wasm files for node and the cold-start processes
    node: NodeSide | None
    log: Callable[[str], None]

    def wasm_file(self, name: str) -> str:
        path = self.scratch / f"{name}.wasm"
        if not path.exists():
            path.write_bytes(guest_wasm(name))
        return str(path)

    @contextmanager
    def node_guest(self, name: str, preopen: str | None = None) -> Iterator[NodeGuest | None]:
        """The guest on node (None without node)."""
        if self.node is None:
            yield None
            return
        guest = NodeGuest(self.node, self.wasm_file(name), preopen)
        try:
            yield guest
        finally:
            guest.close()


def rate(rates: dict[str, list[float]], name: str) -> list[float] | None:
    return rates.get(name)


def bench_trivial(b: Bench) -> list[Row]:
    b.log("trivial call: args_sizes_get")
    module = load_guest(b.engine, "trivial")
    with ExitStack() as stack:
        sides: dict[str, Guest | NodeGuest] = {
            "vfswasi": stack.enter_context(vfswasi_guest(b.engine, module)),
            "native": stack.enter_context(native_guest(b.engine, module)),
            "define_func": stack.enter_context(define_func_guest(b.engine, module)),
        }
        if (node := stack.enter_context(b.node_guest("trivial"))) is not None:
            sides["node"] = node
        groups = {name: [calibrated_loop(g.export("bench"), f"args_sizes_get ({name})",
                                         b.s.rep_seconds)]
                  for name, g in sides.items()}
        rates = interleave(groups, b.s.reps, b.s.warmup)
    vfs = per_call_us("vfswasi", rates["vfswasi"])
    assert vfs is not None
    return [
        Row("args_sizes_get (trivial call)", "-", "µs/call", vfs,
            per_call_us("native", rates["native"]), per_call_us("node", rate(rates, "node")),
            "≤ 0.5 µs/call", lambda r: r.vfswasi.value <= 0.5),
        Row("args_sizes_get (trivial call)", "-", "µs/call", vfs,
            per_call_us("define_func", rates["define_func"]), None,
            "÷ define_func ≤ 0.1", lambda r: r.ratio <= 0.1),
    ]


STAT_FILES = ("file.txt", "a/b/c/d/file.txt")


def make_tree(root: Path) -> None:
    for rel in STAT_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * 100)


def make_memory_tree() -> MemoryFS:
    memfs = MemoryFS()
    for rel in STAT_FILES:
        memfs.makedirs(str(Path(rel).parent), recreate=True)
        memfs.writebytes(rel, b"x" * 100)
    return memfs


def path_loop(bench: Callable[..., int], path_len: int, n: int) -> int:
    return bench(n, PATH_AT, path_len)


#: per path: (target, goal) of the host-dir row
STAT_TARGETS: dict[str, tuple[str, Callable[[Row], bool]]] = {
    "file.txt": ("≤ 1.5× node", lambda r: r.node_ratio <= 1.5),
    "a/b/c/d/file.txt": ("≤ 2× node, < native",
                         lambda r: r.node_ratio <= 2 and r.ratio < 1),
}


def path_sides(b: Bench, stack: ExitStack, guest: str, tree: Path,
               memfs: MemoryFS) -> dict[str, Guest | NodeGuest]:
    """The guest on vfswasi (host dir and memory), native and node, all over `tree`."""
    module = load_guest(b.engine, guest)
    sides: dict[str, Guest | NodeGuest] = {
        "vfswasi host": stack.enter_context(vfswasi_guest(b.engine, module, str(tree))),
        "native host": stack.enter_context(native_guest(b.engine, module, str(tree))),
        "vfswasi memory": stack.enter_context(vfswasi_guest(b.engine, module, memfs)),
    }
    if (node := stack.enter_context(b.node_guest(guest, str(tree)))) is not None:
        sides["node host"] = node
    return sides


def host_and_memory_rows(name: str, rates: dict[str, list[float]], unit: str,
                         side: Callable[[str, list[float] | None], Side | None],
                         target: str = "", goal: Callable[[Row], bool] | None = None,
                         ) -> list[Row]:
    vfs_host, vfs_memory = side("vfswasi", rates["vfswasi host"]), side(
        "vfswasi", rates["vfswasi memory"])
    assert vfs_host is not None and vfs_memory is not None
    node = side("node", rate(rates, "node host"))
    return [
        Row(name, "host dir", unit, vfs_host, side("native", rates["native host"]), node,
            target, goal),
        Row(name, "memory", unit, vfs_memory, side("native (host dir)", rates["native host"]),
            node),
    ]


def bench_stat(b: Bench) -> list[Row]:
    tree = b.host_dir / "stat"
    make_tree(tree)
    rows: list[Row] = []
    with ExitStack() as stack:
        sides = path_sides(b, stack, "stat", tree, make_memory_tree())
        for path in STAT_FILES:
            b.log(f"stat loop: path_filestat_get {path}")
            raw = path.encode()
            groups: dict[str, list[Job]] = {}
            for name, guest in sides.items():
                guest.poke(PATH_AT, raw)
                groups[name] = [calibrated_loop(
                    partial(path_loop, guest.export("bench"), len(raw)),
                    f"path_filestat_get {path} ({name})", b.s.rep_seconds)]
            rates = interleave(groups, b.s.reps, b.s.warmup)
            rows += host_and_memory_rows(f"path_filestat_get {path}", rates, "µs/call",
                                         per_call_us, *STAT_TARGETS[path])
    return rows


def bench_open(b: Bench) -> list[Row]:
    b.log("open + close: path_open file.txt, fd_close")
    tree = b.host_dir / "stat"
    make_tree(tree)
    with ExitStack() as stack:
        sides = path_sides(b, stack, "open", tree, make_memory_tree())
        raw = b"file.txt"
        groups: dict[str, list[Job]] = {}
        for name, guest in sides.items():
            guest.poke(PATH_AT, raw)
            groups[name] = [calibrated_loop(partial(path_loop, guest.export("bench"), len(raw)),
                                            f"open+close ({name})", b.s.rep_seconds)]
        rates = interleave(groups, b.s.reps, b.s.warmup)
    return host_and_memory_rows("path_open + fd_close file.txt", rates, "µs/pair",
                                per_call_us, "≤ 2× node", lambda r: r.node_ratio <= 2)


READDIR_ENTRIES = 1000


def listing(bench: Callable[[int, int], int], n: int) -> int:
    return bench(n, READDIR_ENTRIES)


def bench_readdir(b: Bench) -> list[Row]:
    b.log(f"readdir: a full fd_readdir listing of {READDIR_ENTRIES} entries")
    tree = b.host_dir / "many"
    tree.mkdir(exist_ok=True)
    memfs = MemoryFS()
    for i in range(READDIR_ENTRIES):
        (tree / f"entry{i:04d}").touch()
        memfs.create(f"entry{i:04d}")
    with ExitStack() as stack:
        sides = path_sides(b, stack, "readdir", tree, memfs)
        groups = {name: [calibrated_loop(partial(listing, guest.export("bench")),
                                         f"readdir ({name})", b.s.rep_seconds)]
                  for name, guest in sides.items()}
        rates = interleave(groups, b.s.reps, b.s.warmup)
    return host_and_memory_rows(f"fd_readdir, all {READDIR_ENTRIES} entries", rates,
                                "µs/listing", per_call_us, "≤ 1.5× node",
                                lambda r: r.node_ratio <= 1.5)


class HostFiles:
    """The bulk files of a host directory, as the harness sees them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def size(self, name: str) -> int:
        return (self.root / name).stat().st_size


class MemoryFiles:
    """The bulk files of a MemoryFS, as the harness sees them."""

    def __init__(self, memfs: MemoryFS) -> None:
        self.memfs = memfs

    def remove(self, name: str) -> None:
        if self.memfs.exists(name):
            self.memfs.remove(name)

    def size(self, name: str) -> int:
        return self.memfs.getsize(name)


#: per (operation, chunk): (target, goal) of the host-dir row (issue 11)
BULK_TARGETS: dict[tuple[str, int], tuple[str, Callable[[Row], bool]]] = {
    ("fd_write", 4 * KiB): ("≥ ⅓ of node", lambda r: r.node_ratio <= 3),
    ("fd_read", 4 * KiB): ("≥ ⅓ of node", lambda r: r.node_ratio <= 3),
    ("fd_read", 64 * KiB): ("≥ node", lambda r: r.node_ratio <= 1),
}


def bench_bulk(b: Bench) -> list[Row]:
    module = load_guest(b.engine, "bulk")
    total = b.s.bulk_bytes
    rows: list[Row] = []
    memfs = MemoryFS()
    host_dir = b.host_dir
    with ExitStack() as stack:
        host_fs, memory_fs = HostFiles(host_dir), MemoryFiles(memfs)
        # side -> (guest, its file, the host's view of the file's filesystem)
        sides: dict[str, tuple[Guest | NodeGuest, str, HostFiles | MemoryFiles]] = {
            "vfswasi host": (stack.enter_context(vfswasi_guest(b.engine, module, str(host_dir))),
                             "vfswasi.bin", host_fs),
            "native host": (stack.enter_context(native_guest(b.engine, module, str(host_dir))),
                            "native.bin", host_fs),
            "vfswasi memory": (stack.enter_context(vfswasi_guest(b.engine, module, memfs)),
                               "memory.bin", memory_fs),
        }
        if (node := stack.enter_context(b.node_guest("bulk", str(host_dir)))) is not None:
            sides["node host"] = (node, "node.bin", host_fs)
        for chunk in (4 * KiB, 64 * KiB):
            b.log(f"bulk I/O: {total // MiB} MiB in {chunk // KiB} KiB fd_write / fd_read calls")
            groups: dict[str, list[Job]] = {}
            for name, (guest, filename, files) in sides.items():
                raw = filename.encode()
                guest.poke(PATH_AT, raw)
                write, read = guest.export("write_file"), guest.export("read_file")
                groups[name] = [
                    # every write makes a new file: the old one goes first, untimed
                    timed(partial(write, PATH_AT, len(raw), total, chunk),
                          f"write {filename} ({name})", total,
                          before=partial(files.remove, filename)),
                    timed(partial(read, PATH_AT, len(raw), total, chunk),
                          f"read {filename} ({name})", total),
                ]
            rates = interleave(groups, b.s.bulk_reps, b.s.warmup)
            for name, (_guest, filename, files) in sides.items():
                if files.size(filename) != total:  # the bytes really went through
                    raise RuntimeError(f"{name}: {filename} has {files.size(filename)} bytes, "
                                       f"expected {total}")
            for op, index in (("fd_write", 0), ("fd_read", 1)):
                per_op = {name: rates[f"{name}/{index}"] for name in sides}
                rows += host_and_memory_rows(f"{op} {chunk // KiB} KiB chunks", per_op, "MB/s",
                                             mb_per_s, *BULK_TARGETS.get((op, chunk), ("", None)))
        for name in ("vfswasi.bin", "native.bin", "node.bin"):
            host_fs.remove(name)
    return rows


#: the tree each complete run gets afresh: files f00.txt ... of 100 bytes
RUN_FILES, RUN_FILE_SIZE = 20, 100


def fresh_host_tree(base: Path) -> Path:
    root = Path(tempfile.mkdtemp(dir=base, prefix="run-"))
    data = b"x" * RUN_FILE_SIZE
    for i in range(RUN_FILES):
        (root / f"f{i:02d}.txt").write_bytes(data)
    return root


def fresh_memory_tree() -> MemoryFS:
    memfs = MemoryFS()
    data = b"x" * RUN_FILE_SIZE
    for i in range(RUN_FILES):
        memfs.writebytes(f"f{i:02d}.txt", data)
    return memfs


def vfswasi_runs(module: wasmtime.Module, count: int, memory: bool, base: Path) -> int:
    ok = 0
    for _ in range(count):
        if memory:
            ok += vfswasi.run(module, args=["run"], preopens={"/data": fresh_memory_tree()}
                              ).exit_code == 0
        else:
            root = fresh_host_tree(base)
            ok += vfswasi.run(module, args=["run"], preopens={"/data": str(root)}).exit_code == 0
            shutil.rmtree(root)
    return ok


def native_runs(engine: wasmtime.Engine, linker: wasmtime.Linker, module: wasmtime.Module,
                count: int, base: Path) -> int:
    for _ in range(count):
        root = fresh_host_tree(base)
        config = wasmtime.WasiConfig()
        config.argv = ["run"]
        config.preopen_dir(str(root), "/data")
        store = wasmtime.Store(engine)
        store.set_wasi(config)
        linker.instantiate(store, module).exports(store)["_start"](store)  # type: ignore[operator]
        shutil.rmtree(root)
    return count  # a failed run traps, which propagates


def counted(fn: Callable[[], int], count: int, what: str) -> Job:
    def job() -> tuple[float, float]:
        t0 = time.perf_counter()
        ok = fn()
        elapsed = time.perf_counter() - t0
        if ok != count:
            raise RuntimeError(f"{what}: {count - ok} of {count} runs failed")
        return elapsed, count

    return job


def bench_runs(b: Bench) -> list[Row]:
    """Complete runs of a small command, each on a fresh tree: what a test suite or a
    property test running one guest per example pays."""
    b.log(f"complete runs/s, a fresh {RUN_FILES}-file tree each (host trees in {b.run_base})")
    count = max(5, int(b.s.rep_seconds / 0.002))
    vfs_module = vfswasi.modules.load_module(guest_wasm("runone"))  # vfswasi.run's engine
    native_module = load_guest(b.engine, "runone")
    linker = wasmtime.Linker(b.engine)
    linker.define_wasi()
    base = b.run_base
    groups: dict[str, list[Job]] = {
        "vfswasi memory": [counted(partial(vfswasi_runs, vfs_module, count, True, base),
                                   count, "vfswasi memory")],
        "vfswasi host": [counted(partial(vfswasi_runs, vfs_module, count, False, base),
                                 count, "vfswasi host")],
        "native host": [counted(partial(native_runs, b.engine, linker, native_module, count,
                                        base), count, "native host")],
    }
    if b.node is not None:
        request = {"op": "runs", "wasm": b.wasm_file("runone"), "count": count,
                   "base": str(base), "files": RUN_FILES, "size": RUN_FILE_SIZE}
        groups["node host"] = [counted(lambda: int(b.node.ask(**request)),  # type: ignore[union-attr,call-overload]
                                       count, "node host")]
    rates = interleave(groups, b.s.reps, b.s.warmup)
    node = per_second("node (tmp dir)", rate(rates, "node host"))
    native = per_second("native (tmp dir)", rates["native host"])
    return [
        Row(f"complete runs, fresh {RUN_FILES}-file tree each", "memory", "runs/s",
            per_second("vfswasi", rates["vfswasi memory"]), native, node,  # type: ignore[arg-type]
            "≥ 1.5× native", lambda r: r.ratio <= 1 / 1.5),
        Row(f"complete runs, fresh {RUN_FILES}-file tree each", "host dir", "runs/s",
            per_second("vfswasi", rates["vfswasi host"]), native, node),  # type: ignore[arg-type]
    ]


#: a bare wasmtime-py WASI runner: what the cold-start row compares `vfswasi run` with
BARE_RUNNER = """\
import sys, wasmtime
engine = wasmtime.Engine()
module = wasmtime.Module.from_file(engine, sys.argv[1])
linker = wasmtime.Linker(engine)
linker.define_wasi()
config = wasmtime.WasiConfig()
config.argv = sys.argv[1:]
config.inherit_stdout()
config.inherit_stderr()
store = wasmtime.Store(engine)
store.set_wasi(config)
linker.instantiate(store, module).exports(store)["_start"](store)
"""


def process(command: list[str], env: dict[str, str], what: str) -> Job:
    def job() -> tuple[float, float]:
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, timeout=120)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0 or done.stdout != b"hello\n":
            raise RuntimeError(f"{what}: exit {done.returncode}, stdout {done.stdout!r}, "
                               f"stderr {done.stderr[-500:]!r}")
        return elapsed, 1

    return job


def bench_coldstart(b: Bench) -> list[Row]:
    """Whole processes: start, import, load the module, run hello world, exit."""
    b.log("cold start: whole processes running hello.wasm")
    hello = b.wasm_file("hello")
    env = dict(os.environ)
    # as an installed package starts: from bytecode (pip compiles it at install), not by
    # compiling every module's source each time, which PYTHONDONTWRITEBYTECODE (set on some
    # machines) would make it do; the bytecode goes to the scratch dir, written by the warm-up
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(b.scratch / "pycache")
    if (BENCH.parent / "vfswasi" / "__init__.py").is_file():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH.parent),
                                                          env.get("PYTHONPATH")]))
    groups = {
        "vfswasi": [process([sys.executable, "-m", "vfswasi", "run", hello], env,
                            "vfswasi run hello.wasm")],
        "bare": [process([sys.executable, "-c", BARE_RUNNER, hello], env, "bare runner")],
    }
    if b.node is not None:
        groups["node"] = [process([b.node.path, "--no-warnings", str(NODE_SIDE), hello], env,
                                  "node hello.wasm")]
    # the first vfswasi run fills its module cache, as a user's first run does
    rates = interleave(groups, b.s.process_reps, max(1, b.s.warmup))
    return [Row("whole process: `vfswasi run hello.wasm`", "-", "ms",
                ms_each("vfswasi", rates["vfswasi"]),  # type: ignore[arg-type]
                ms_each("bare wasmtime-py runner", rates["bare"]),
                ms_each("node", rate(rates, "node")),
                "≤ 1.5× bare runner", lambda r: r.ratio <= 1.5)]


# --- output ----------------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


HEADERS = ["benchmark", "backend", "unit", "vfswasi", "baseline", "baseline value", "ratio",
           "node", "ratio to node", "target", "met"]
NUMERIC = {3, 5, 6, 7, 8}


def table_cells(rows: list[Row]) -> list[list[str]]:
    marks = {True: "✓", False: "✗", None: ""}
    return [[r.benchmark, r.backend, r.unit, fmt(r.vfswasi.value),
             r.baseline.label if r.baseline else "-",
             fmt(r.baseline.value if r.baseline else None), fmt(r.ratio),
             fmt(r.node.value if r.node else None), fmt(r.node_ratio), r.target, marks[r.met]]
            for r in rows]


def text_table(rows: list[Row]) -> str:
    cells = [HEADERS, *table_cells(rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i in NUMERIC else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                     .rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |",
             "|" + "|".join("---:" if i in NUMERIC else "---" for i in range(len(HEADERS))) + "|"]
    lines += ["| " + " | ".join(c or " " for c in row) + " |" for row in table_cells(rows)]
    return "\n".join(lines)


def machine(node: NodeSide | None) -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "wasmtime": importlib.metadata.version("wasmtime"),
        "vfswasi": vfswasi.__version__,
        "node": node.version if node is not None else None,
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
    }


def _crunch(module: wasmtime.Module, engine: wasmtime.Engine) -> int:
    result = vfswasi.run(module, args=["crunch", "1"], engine=engine)
    return result.exit_code


def bench_epochs(b: Bench) -> list[Row]:
    """What vfswasi's stop machinery costs when no limit is set: the same guests on a plain
    engine and on `vfswasi.engine()` (epoch checks in the compiled code, the epoch ticker
    running, a deadline callback 100 times a second)."""
    b.log("epoch interruption: a compute loop and the trivial call, plain vs epoch engine")
    s = b.s
    engines = {"plain engine": vfswasi.engine(epochs=False), "epoch engine": vfswasi.engine()}
    with ExitStack() as stack:
        groups: dict[str, list[Job]] = {}
        for label, engine in engines.items():
            compute = stack.enter_context(vfswasi_guest(engine, load_guest(engine, "compute")))
            trivial = stack.enter_context(vfswasi_guest(engine, load_guest(engine, "trivial")))
            groups[label] = [
                calibrated_loop(compute.export("bench"), f"compute ({label})", s.rep_seconds),
                calibrated_loop(trivial.export("bench"), f"args_sizes_get ({label})",
                                s.rep_seconds),
            ]
        for label, engine in engines.items():
            crunch = vfswasi.modules.load_module(GUESTS / "crunch.wasm", engine)
            groups[label].append(timed(lambda m=crunch, e=engine: _crunch(m, e),
                                       f"crunch ({label})", 1))
        rates = interleave(groups, s.reps, s.warmup)
    return [
        Row("crunch.wasm: qsort, hashing, search (C, whole run)", "-", "ms/run",
            Side("epoch engine", [1e3 / r for r in rates["epoch engine/2"]], True),
            Side("plain engine", [1e3 / r for r in rates["plain engine/2"]], True),
            None, "ratio ≤ 1.05", lambda r: r.ratio <= 1.05),
        Row("compute loop, no WASI calls (epoch checks)", "-", "ns/iter",
            Side("epoch engine", [1e9 / r for r in rates["epoch engine/0"]], True),
            Side("plain engine", [1e9 / r for r in rates["plain engine/0"]], True),
            None, "ratio ≤ 1.05", lambda r: r.ratio <= 1.05),
        Row("args_sizes_get (epoch engine)", "-", "µs/call",
            per_call_us("epoch engine", rates["epoch engine/1"]),  # type: ignore[arg-type]
            per_call_us("plain engine", rates["plain engine/1"]),
            None, "ratio ≤ 1.05", lambda r: r.ratio <= 1.05),
    ]


BENCHMARKS: dict[str, Callable[[Bench], list[Row]]] = {
    "trivial": bench_trivial,
    "stat": bench_stat,
    "open": bench_open,
    "readdir": bench_readdir,
    "bulk": bench_bulk,
    "runs": bench_runs,
    "coldstart": bench_coldstart,
    "epochs": bench_epochs,
}


def start_node(wanted: bool, log: Callable[[str], None]) -> NodeSide | None:
    if not wanted:
        log("node column: left out (--no-node)")
        return None
    node = shutil.which("node")
    if node is None:
        log("node column: no `node` on PATH, so it stays empty")
        return None
    side = NodeSide(node)
    log(f"node column: {node} {side.version}")
    return side


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--dir", metavar="DIR",
                        help="where to put the host-directory files (default: a temp dir)")
    parser.add_argument("--run-dir", metavar="DIR",
                        help="where the per-run fresh trees go (default: /dev/shm if it "
                             "exists, else the temp dir)")
    parser.add_argument("--no-node", action="store_true", help="leave the node column out")
    parser.add_argument("--only", choices=list(BENCHMARKS), action="append",
                        help="run only these benchmarks (repeatable)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    only = args.only or list(BENCHMARKS)

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:5.1f}s] {message}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    node = start_node(not args.no_node, log)
    shm = Path("/dev/shm")
    run_parent = args.run_dir or (str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None)
    try:
        with ExitStack() as stack:
            host_dir = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="vfswasi-bench-", dir=args.dir)))
            run_base = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="vfswasi-runs-", dir=run_parent)))
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vfswasi-wasm-")))
            bench = Bench(wasmtime.Engine(), settings, host_dir, run_base, scratch, node, log)
            for name in BENCHMARKS:
                if name in only:
                    rows += BENCHMARKS[name](bench)
    finally:
        if node is not None:
            node.close()
    elapsed = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    log("done")

    print(markdown_table(rows) if args.markdown else text_table(rows))
    print(f"\nmedians of {settings.reps} interleaved reps ({settings.bulk_reps} for bulk I/O, "
          f"{settings.process_reps} for whole processes) after {settings.warmup} warm-up; "
          f"ratio = vfswasi / other for times, other / vfswasi for rates (above 1: vfswasi "
          f"slower); MB = 10^6 bytes; memory rows are compared with the others on a host dir. "
          f"Took {elapsed:.0f} s; 1-minute load average {load_before:.2f} before, "
          f"{load_after:.2f} after, on {os.cpu_count()} CPUs.")
    if args.json:
        report = {
            "settings": asdict(settings) | {"quick": args.quick},
            "machine": machine(node),
            "seconds": elapsed,
            "load_average": {"before": load_before, "after": load_after},
            "rows": [r.as_json() for r in rows],
        }
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
