"""vfswasi vs wasmtime's native WASI, side by side in one process.

    python bench/run.py                  # full run, about a minute and a half on 2 cores
    python bench/run.py --quick          # ~15 s smoke run (CI: does the script still work?)
    python bench/run.py --json out.json  # also write every sample as JSON
    python bench/run.py --markdown       # the table as Markdown (for bench/README.md)

Every guest is hand-written WAT (bench/guests/*.wat, compiled here with `wasmtime.wat2wasm`)
whose exported function loops inside the guest; the harness calls that export with the loop
count, so compilation and instantiation never reach the timed region. For each benchmark
every side (vfswasi, native wasmtime, ...) gets its own Store and Instance, is warmed up,
and then the sides take turns, rep by rep, so that noise on the machine hits all of them.
A side's number is its best rep; the median is in the JSON.

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
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import wasmtime
from fs.memoryfs import MemoryFS

import vfswasi

GUESTS = Path(__file__).resolve().parent / "guests"
PREVIEW1 = "wasi_snapshot_preview1"
GUEST_ARGS = ["bench", "--some", "args"]
PATH_AT = 0x200  # where the harness writes a path into guest memory (below any guest data)
SHORT_IO = 0xFFFF  # bulk.wat's "short write / early EOF" code
KiB, MiB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Settings:
    rep_seconds: float  # target duration of one timed rep of a per-call benchmark
    reps: int  # timed reps per side (after warm-up)
    warmup: int  # untimed reps per side
    bulk_bytes: int  # size of the file the bulk guest writes and reads back
    bulk_reps: int


FULL = Settings(rep_seconds=0.2, reps=15, warmup=2, bulk_bytes=64 * MiB, bulk_reps=11)
QUICK = Settings(rep_seconds=0.05, reps=5, warmup=1, bulk_bytes=16 * MiB, bulk_reps=3)


# --- guests -----------------------------------------------------------------------------------


def load_guest(engine: wasmtime.Engine, name: str) -> wasmtime.Module:
    wasm = wasmtime.wat2wasm((GUESTS / f"{name}.wat").read_text())
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


# --- timing -----------------------------------------------------------------------------------------

#: One timed unit of work: runs it and returns (seconds, amount of work done).
Job = Callable[[], tuple[float, float]]


def check(errno: int, what: str) -> None:
    if errno == SHORT_IO:
        raise RuntimeError(f"{what}: short write or early EOF")
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
    """One side's samples, in the row's unit (µs/call: lower is better; MB/s: higher)."""

    label: str
    samples: list[float]
    lower_is_better: bool

    @property
    def best(self) -> float:
        return min(self.samples) if self.lower_is_better else max(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Row:
    benchmark: str
    backend: str
    unit: str  # "µs/call" or "MB/s"
    vfswasi: Side
    baseline: Side
    target: str = ""
    #: decides `met` from (vfswasi best, ratio)
    goal: Callable[[float, float], bool] | None = field(default=None, repr=False)

    @property
    def ratio(self) -> float:
        """vfswasi / baseline for times, baseline / vfswasi for throughputs: above 1 means
        vfswasi is slower, below 1 that it is faster."""
        if self.vfswasi.lower_is_better:
            return self.vfswasi.best / self.baseline.best
        return self.baseline.best / self.vfswasi.best

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal(self.vfswasi.best, self.ratio)

    def as_json(self) -> dict[str, object]:
        out = {k: v for k, v in asdict(self).items() if k != "goal"}
        for key in ("vfswasi", "baseline"):
            side: Side = getattr(self, key)
            out[key] = {**asdict(side), "best": side.best, "median": side.median}
        out["ratio"] = self.ratio
        out["met"] = self.met
        return out


def per_call_us(label: str, rates: list[float]) -> Side:
    return Side(label, [1e6 / r for r in rates], lower_is_better=True)


def mb_per_s(label: str, rates: list[float]) -> Side:
    return Side(label, [r / 1e6 for r in rates], lower_is_better=False)


# --- the benchmarks ---------------------------------------------------------------------------------------


def bench_trivial(engine: wasmtime.Engine, s: Settings, log: Callable[[str], None]) -> list[Row]:
    log("trivial call: args_sizes_get")
    module = load_guest(engine, "trivial")
    with ExitStack() as stack:
        sides = {
            "vfswasi": stack.enter_context(vfswasi_guest(engine, module)),
            "native": stack.enter_context(native_guest(engine, module)),
            "define_func": stack.enter_context(define_func_guest(engine, module)),
        }
        groups = {name: [calibrated_loop(g.export("bench"), f"args_sizes_get ({name})",
                                         s.rep_seconds)]
                  for name, g in sides.items()}
        rates = interleave(groups, s.reps, s.warmup)
    vfs = per_call_us("vfswasi", rates["vfswasi"])
    return [
        Row("args_sizes_get (trivial call)", "-", "µs/call", vfs,
            per_call_us("native", rates["native"]),
            "≤ 3 µs/call", lambda best, _ratio: best <= 3.0),
        Row("args_sizes_get (trivial call)", "-", "µs/call", vfs,
            per_call_us("define_func", rates["define_func"]),
            "ratio ≤ 0.1 (≥ 10× cheaper)", lambda _best, ratio: ratio <= 0.1),
    ]


STAT_FILES = ("file.txt", "a/b/c.txt")


def make_tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True, exist_ok=True)
    for rel in STAT_FILES:
        (root / rel).write_bytes(b"x" * 100)


def make_memory_tree() -> MemoryFS:
    memfs = MemoryFS()
    memfs.makedirs("a/b")
    for rel in STAT_FILES:
        memfs.writebytes(rel, b"x" * 100)
    return memfs


def stat_loop(bench: Callable[..., int], path_len: int, n: int) -> int:
    return bench(n, PATH_AT, path_len)


def bench_stat(engine: wasmtime.Engine, s: Settings, host_dir: Path,
               log: Callable[[str], None]) -> list[Row]:
    module = load_guest(engine, "stat")
    tree = host_dir / "stat"
    make_tree(tree)
    rows: list[Row] = []
    with ExitStack() as stack:
        sides = {
            "vfswasi host": stack.enter_context(vfswasi_guest(engine, module, str(tree))),
            "native host": stack.enter_context(native_guest(engine, module, str(tree))),
            "vfswasi memory": stack.enter_context(
                vfswasi_guest(engine, module, make_memory_tree())),
        }
        for path in STAT_FILES:
            log(f"stat loop: path_filestat_get {path}")
            raw = path.encode()
            groups: dict[str, list[Job]] = {}
            for name, guest in sides.items():
                guest.poke(PATH_AT, raw)
                bench = guest.export("bench")
                groups[name] = [calibrated_loop(
                    partial(stat_loop, bench, len(raw)),
                    f"path_filestat_get {path} ({name})", s.rep_seconds)]
            rates = interleave(groups, s.reps, s.warmup)
            native = per_call_us("native", rates["native host"])
            rows.append(Row(f"path_filestat_get {path}", "host dir", "µs/call",
                            per_call_us("vfswasi", rates["vfswasi host"]), native,
                            "ratio < 1 (beat native)", lambda _best, ratio: ratio < 1))
            rows.append(Row(f"path_filestat_get {path}", "memory", "µs/call",
                            per_call_us("vfswasi", rates["vfswasi memory"]),
                            per_call_us("native (host dir)", rates["native host"])))
    return rows


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


def bench_bulk(engine: wasmtime.Engine, s: Settings, host_dir: Path,
               log: Callable[[str], None]) -> list[Row]:
    module = load_guest(engine, "bulk")
    total = s.bulk_bytes
    rows: list[Row] = []
    memfs = MemoryFS()
    with ExitStack() as stack:
        host_fs, memory_fs = HostFiles(host_dir), MemoryFiles(memfs)
        # side -> (guest, its file, the host's view of the file's filesystem)
        sides: dict[str, tuple[Guest, str, HostFiles | MemoryFiles]] = {
            "vfswasi host": (stack.enter_context(vfswasi_guest(engine, module, str(host_dir))),
                             "vfswasi.bin", host_fs),
            "native host": (stack.enter_context(native_guest(engine, module, str(host_dir))),
                            "native.bin", host_fs),
            "vfswasi memory": (stack.enter_context(vfswasi_guest(engine, module, memfs)),
                               "memory.bin", memory_fs),
        }
        for chunk in (4 * KiB, 64 * KiB):
            log(f"bulk I/O: {total // MiB} MiB in {chunk // KiB} KiB fd_write / fd_read calls")
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
            rates = interleave(groups, s.bulk_reps, s.warmup)
            for name, (_guest, filename, files) in sides.items():
                if files.size(filename) != total:  # the bytes really went through
                    raise RuntimeError(f"{name}: {filename} has {files.size(filename)} bytes, "
                                       f"expected {total}")
            label = f"{chunk // KiB} KiB"
            for op, index in (("fd_write", 0), ("fd_read", 1)):
                native = mb_per_s("native", rates[f"native host/{index}"])
                goal: Callable[[float, float], bool] | None = None
                target = ""
                if op == "fd_read" and chunk == 64 * KiB:
                    target, goal = "≥ 1000 MB/s", lambda best, _ratio: best >= 1000
                rows.append(Row(f"{op} {label} chunks", "host dir", "MB/s",
                                mb_per_s("vfswasi", rates[f"vfswasi host/{index}"]), native,
                                target, goal))
                rows.append(Row(f"{op} {label} chunks", "memory", "MB/s",
                                mb_per_s("vfswasi", rates[f"vfswasi memory/{index}"]),
                                mb_per_s("native (host dir)", rates[f"native host/{index}"]),
                                target, goal))
        for name in ("vfswasi.bin", "native.bin"):
            host_fs.remove(name)
    return rows


# --- output ----------------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


HEADERS = ["benchmark", "backend", "unit", "vfswasi", "baseline", "baseline value", "ratio",
           "target", "met"]


def table_cells(rows: list[Row]) -> list[list[str]]:
    marks = {True: "✓", False: "✗", None: ""}
    return [[r.benchmark, r.backend, r.unit, fmt(r.vfswasi.best), r.baseline.label,
             fmt(r.baseline.best), fmt(r.ratio), r.target, marks[r.met]] for r in rows]


def text_table(rows: list[Row]) -> str:
    cells = [HEADERS, *table_cells(rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    numeric = {3, 5, 6}
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                     .rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |",
             "|" + "|".join("---:" if i in {3, 5, 6} else "---" for i in range(len(HEADERS))) + "|"]
    lines += ["| " + " | ".join(c or " " for c in row) + " |" for row in table_cells(rows)]
    return "\n".join(lines)


def machine() -> dict[str, object]:
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
        "vfswasi": importlib.metadata.version("vfswasi"),
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
    }


def _crunch(module: wasmtime.Module, engine: wasmtime.Engine) -> int:
    result = vfswasi.run(module, args=["crunch", "1"], engine=engine)
    return result.exit_code


def bench_epochs(s: Settings, log: Callable[[str], None]) -> list[Row]:
    """What vfswasi's stop machinery costs when no limit is set: the same guests on a plain
    engine and on `vfswasi.engine()` (epoch checks in the compiled code, the epoch ticker
    running, a deadline callback 100 times a second)."""
    log("epoch interruption: a compute loop and the trivial call, plain vs epoch engine")
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
            "ratio ≤ 1.05", lambda _best, ratio: ratio <= 1.05),
        Row("compute loop, no WASI calls (epoch checks)", "-", "ns/iter",
            Side("epoch engine", [1e9 / r for r in rates["epoch engine/0"]], True),
            Side("plain engine", [1e9 / r for r in rates["plain engine/0"]], True),
            "ratio ≤ 1.05", lambda _best, ratio: ratio <= 1.05),
        Row("args_sizes_get (epoch engine)", "-", "µs/call",
            per_call_us("epoch engine", rates["epoch engine/1"]),
            per_call_us("plain engine", rates["plain engine/1"]),
            "ratio ≤ 1.05", lambda _best, ratio: ratio <= 1.05),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~15 s smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--dir", metavar="DIR",
                        help="where to put the host-directory files (default: a temp dir)")
    parser.add_argument("--only", choices=["trivial", "stat", "bulk", "epochs"], action="append",
                        help="run only these benchmarks (repeatable)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    only = set(args.only or ["trivial", "stat", "bulk", "epochs"])

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:5.1f}s] {message}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    engine = wasmtime.Engine()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vfswasi-bench-", dir=args.dir) as tmp:
        host_dir = Path(tmp)
        if "trivial" in only:
            rows += bench_trivial(engine, settings, log)
        if "stat" in only:
            rows += bench_stat(engine, settings, host_dir, log)
        if "bulk" in only:
            rows += bench_bulk(engine, settings, host_dir, log)
        if "epochs" in only:
            rows += bench_epochs(settings, log)
    elapsed = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    log("done")

    print(markdown_table(rows) if args.markdown else text_table(rows))
    print(f"\nbest of {settings.reps} reps ({settings.bulk_reps} for bulk I/O) after "
          f"{settings.warmup} warm-up; ratio = vfswasi / baseline for µs/call, baseline / "
          f"vfswasi for MB/s (above 1: vfswasi slower); MB = 10^6 bytes; memory rows are "
          f"compared with native wasmtime on the host dir. Took {elapsed:.0f} s; 1-minute "
          f"load average {load_before:.2f} before, {load_after:.2f} after, on "
          f"{os.cpu_count()} CPUs.")
    if args.json:
        report = {
            "settings": asdict(settings) | {"quick": args.quick},
            "machine": machine(),
            "seconds": elapsed,
            "load_average": {"before": load_before, "after": load_after},
            "rows": [r.as_json() for r in rows],
        }
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
