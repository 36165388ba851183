"""A real program, side by side: a wasm32-wasi CPython doing file-heavy work, run by wasmtime's
native WASI on a host directory and by vfswasi on a host directory and on memory.

    python bench/real_programs.py --python-wasm PATH/TO/python.wasm [--reps 5]

Bring your own interpreter build (any CPython compiled for wasm32-wasi whose stdlib is
built in or reachable without a mount, e.g. the VMware Wasm Labs `python.wasm`); nothing is
downloaded here. The script writes, reads and stats a few hundred small files and lists the
directory, so it exercises path_open, fd_read/fd_write, path_filestat_get and fd_readdir the
way an interpreter does (through wasi-libc), then prints the best of --reps wall times and the
ratios vfswasi / native (below 1: vfswasi is faster).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import wasmtime
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi.modules import default_engine, load_module

SCRIPT = r"""
import os, pathlib
for i in range(300):
    pathlib.Path(f"/w/f{i}.txt").write_text("x" * 1000)
n = sum(len(pathlib.Path(f"/w/f{i}.txt").read_text()) for i in range(300))
for i in range(300):
    os.stat(f"/w/f{i}.txt")
print(n, len(os.listdir("/w")))
"""
EXPECTED = b"300000 300\n"


def native(module: wasmtime.Module, host_dir: str) -> bytes:
    with tempfile.NamedTemporaryFile() as out:
        cfg = wasmtime.WasiConfig()
        cfg.argv = ["python", "-c", SCRIPT]
        cfg.preopen_dir(host_dir, "/w")
        cfg.stdout_file = out.name
        store = wasmtime.Store(default_engine())
        store.set_wasi(cfg)
        linker = wasmtime.Linker(default_engine())
        linker.define_wasi()
        try:
            linker.instantiate(store, module).exports(store)["_start"](store)  # type: ignore[operator]
        except wasmtime.ExitTrap as e:
            if e.code:
                raise
        return open(out.name, "rb").read()


def ours(module: wasmtime.Module, preopen: object) -> bytes:
    result = vfswasi.run(module, args=["python", "-c", SCRIPT], preopens={"/w": preopen})
    return result.stdout


def best_of(reps: int, fn: Callable[[], bytes]) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
        if out != EXPECTED:
            raise SystemExit(f"unexpected guest output: {out!r}")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-wasm", required=True, help="a wasm32-wasi CPython")
    parser.add_argument("--reps", type=int, default=5)
    opts = parser.parse_args()
    module = load_module(opts.python_wasm)  # compiled once (and cached), outside the timings
    rows = [
        ("native wasmtime, host dir", lambda: native(module, tempfile.mkdtemp())),
        ("vfswasi, host dir", lambda: ours(module, tempfile.mkdtemp())),
        ("vfswasi, memory", lambda: ours(module, MemoryFS())),
    ]
    times = [(name, best_of(opts.reps, fn)) for name, fn in rows]
    base = times[0][1]
    print(f"{'run':28} {'best s':>8} {'ratio':>6}")
    for name, seconds in times:
        print(f"{name:28} {seconds:8.3f} {seconds / base:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
