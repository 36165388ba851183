"""Where the time goes on the vfswasi side of each benchmark: cProfile over the guest loop.

    python bench/hotspots.py                 # every case
    python bench/hotspots.py stat-host-deep  # one case (see --help for the names)
    python bench/hotspots.py --top 25 bulk-memory-4k

The host functions run in the calling thread (wasmtime calls the ctypes callbacks
synchronously), so cProfile sees every syscall's Python frames. Each line shows a function's
own time (tottime) and cumulative time per *guest call*, so the numbers add up to the cost
of one WASI call. cProfile's own overhead inflates small functions (roughly +0.1 µs per
profiled call): compare the shares, and take absolute costs from bench/run.py.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import wasmtime
from fs.memoryfs import MemoryFS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402 - run.py sits beside this file, not in a package
    PATH_AT,
    KiB,
    MiB,
    check,
    load_guest,
    make_memory_tree,
    make_tree,
    vfswasi_guest,
)

#: case -> (guest, preopen kind, path, loop count or bytes, chunk for bulk)
CASES: dict[str, tuple[str, str, str, int, int]] = {
    "trivial": ("trivial", "none", "", 200_000, 0),
    "stat-host-flat": ("stat", "host", "file.txt", 50_000, 0),
    "stat-host-deep": ("stat", "host", "a/b/c/d/file.txt", 50_000, 0),
    "stat-memory-flat": ("stat", "memory", "file.txt", 50_000, 0),
    "stat-memory-deep": ("stat", "memory", "a/b/c/d/file.txt", 50_000, 0),
    "bulk-host-4k": ("bulk", "host", "f.bin", 64 * MiB, 4 * KiB),
    "bulk-host-64k": ("bulk", "host", "f.bin", 64 * MiB, 64 * KiB),
    "bulk-memory-4k": ("bulk", "memory", "f.bin", 64 * MiB, 4 * KiB),
    "bulk-memory-64k": ("bulk", "memory", "f.bin", 64 * MiB, 64 * KiB),
}


def profile_case(name: str, top: int, host_dir: Path) -> None:
    guest_name, kind, path, amount, chunk = CASES[name]
    engine = wasmtime.Engine()
    module = load_guest(engine, guest_name)
    preopen: str | MemoryFS | None = None
    if kind == "host":
        make_tree(host_dir)
        preopen = str(host_dir)
    elif kind == "memory":
        preopen = make_memory_tree()
    with ExitStack() as stack:
        guest = stack.enter_context(vfswasi_guest(engine, module, preopen))
        raw = path.encode()
        guest.poke(PATH_AT, raw)
        runs: list[tuple[str, Callable[[], int], int]]
        if guest_name == "trivial":
            bench = guest.export("bench")
            runs = [("args_sizes_get", lambda: bench(amount), amount)]
        elif guest_name == "stat":
            bench = guest.export("bench")
            runs = [("path_filestat_get", lambda: bench(amount, PATH_AT, len(raw)), amount)]
        else:
            write, read = guest.export("write_file"), guest.export("read_file")
            calls = amount // chunk
            runs = [("fd_write", lambda: write(PATH_AT, len(raw), amount, chunk), calls),
                    ("fd_read", lambda: read(PATH_AT, len(raw), amount, chunk), calls)]
        for what, fn, calls in runs:
            check(fn(), what)  # warm up (and, for bulk, create the file read below)
            profiler = cProfile.Profile()
            profiler.enable()
            errno = fn()
            profiler.disable()
            check(errno, what)
            print(f"\n=== {name}: {what}, {calls:,} guest calls; µs per guest call ===")
            print_per_call(profiler, calls, top)


def print_per_call(profiler: cProfile.Profile, calls: int, top: int) -> None:
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = sum(tt for _cc, _nc, tt, _ct, _callers in entries.values())
    print(f"profiled total {total / calls * 1e6:8.2f} µs")
    print(f"{'own µs':>8} {'cum µs':>8} {'calls':>6}  function")
    ranked = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)
    for (file, line, func), (_cc, nc, tt, ct, _callers) in ranked[:top]:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        print(f"{tt / calls * 1e6:8.3f} {ct / calls * 1e6:8.3f} {nc / calls:6.2f}  {func} ({where})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help=f"some of: {', '.join(CASES)} (default: all)")
    parser.add_argument("--top", type=int, default=15, help="functions shown per case")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    for name in args.cases or CASES:
        with tempfile.TemporaryDirectory(prefix="vfswasi-profile-") as tmp:
            profile_case(name, args.top, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
