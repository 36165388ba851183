"""The host-call trampoline: per-call cost and 4 KiB I/O, each dispatch path side by side.

    python bench/hostcall.py            # ~20 s
    python bench/hostcall.py --quick    # a few seconds

Same guest (bench/guests/hostcall.wat) on every side: vfswasi through each dispatch path this
process can use (`vfswasi.fastcall.AVAILABLE`: "c" = the compiled extension, "ctypes",
"slow" is left out), wasmtime's native WASI, and node's `node:wasi` when `node` is on PATH
(in its own process, run after the others, so not interleaved with them). Rows: the cheapest
call (args_sizes_get, µs/call) and one 4 KiB iovec per call written to /dev/null and read
from /dev/zero (MB/s, the guest opens both below a preopen of /dev). Best of the reps.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import wasmtime
from run import Guest, calibrated_loop, interleave, load_guest, native_guest

import vfswasi
from vfswasi import fastcall

PATH_AT = 0x200
CHUNK = 4096


@contextmanager
def vfswasi_side(engine: wasmtime.Engine, module: wasmtime.Module,
                 backend: fastcall.Backend) -> Iterator[Guest]:
    chosen = fastcall.BACKEND
    fastcall.BACKEND = backend  # read when the WASI builds its host functions
    try:
        wasi = vfswasi.WASI(args=["bench"], preopens={"/data": "/dev"},
                            stdin=None, stdout=None, stderr=None)
    finally:
        fastcall.BACKEND = chosen
    try:
        store = wasmtime.Store(engine)
        yield Guest(store, wasi.instantiate(store, module), owner=wasi)
    finally:
        wasi.close()


def open_dev(guest: Guest, name: str) -> int:
    path = name.encode()
    guest.poke(PATH_AT, path)
    errno = guest.export("open")(PATH_AT, len(path))
    if errno:
        raise RuntimeError(f"path_open /dev/{name}: errno {errno}")
    memory = guest.instance.exports(guest.store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return int.from_bytes(memory.read(guest.store, 0, 4), "little")


NODE_HARNESS = r"""
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const [wasmPath, seconds, reps] = [process.argv[2], +process.argv[3], +process.argv[4]];
const wasi = new WASI({ version: 'preview1', args: ['bench'], preopens: { '/data': '/dev' } });
const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmPath)),
                                      wasi.getImportObject());
wasi.initialize(inst);
const ex = inst.exports, mem = new Uint8Array(ex.memory.buffer);
function open(name) {
  const b = Buffer.from(name); mem.set(b, 0x200);
  const e = ex.open(0x200, b.length); if (e) throw new Error('open ' + name + ': ' + e);
  return new DataView(ex.memory.buffer).getUint32(0, true);
}
function best(fn) {  // calls per second of the best rep
  let n = 16;
  for (;;) { const t = process.hrtime.bigint(); if (fn(n)) throw new Error('errno');
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (s >= seconds / 8) { n = Math.max(1, Math.floor(n * seconds / s)); break; } n *= 2; }
  let top = 0;
  for (let r = 0; r < reps + 1; r++) { const t = process.hrtime.bigint(); fn(n);
    const s = Number(process.hrtime.bigint() - t) / 1e9; if (r) top = Math.max(top, n / s); }
  return top;
}
const wfd = open('null'), rfd = open('zero');
console.log(JSON.stringify({
  trivial: best(n => ex.trivial(n)),
  write: best(n => ex.io(0, wfd, n)),
  read: best(n => ex.io(1, rfd, n)),
}));
"""


def node_rates(wasm: bytes, seconds: float, reps: int) -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None:
        print("node not on PATH: no node column", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "g.wasm").write_bytes(wasm)
        (Path(tmp) / "h.js").write_text(NODE_HARNESS)
        out = subprocess.run([node, "--no-warnings", str(Path(tmp) / "h.js"),
                              str(Path(tmp) / "g.wasm"), str(seconds), str(reps)],
                             capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args(argv)
    seconds, reps, warmup = (0.05, 5, 1) if opts.quick else (0.2, 11, 2)
    engine = wasmtime.Engine()
    module = load_guest(engine, "hostcall")
    backends = [b for b in fastcall.AVAILABLE if b != "slow"]
    with ExitStack() as stack:
        sides: dict[str, Guest] = {
            f"vfswasi ({b})": stack.enter_context(vfswasi_side(engine, module, b))
            for b in backends
        }
        native = stack.enter_context(native_guest(engine, module))
        sides["native"] = native
        groups = {}
        for name, g in sides.items():
            if name == "native":  # no preopen there: the per-call row only
                groups[name] = [calibrated_loop(g.export("trivial"), name, seconds)]
                continue
            io = g.export("io")
            wfd, rfd = open_dev(g, "null"), open_dev(g, "zero")
            groups[name] = [
                calibrated_loop(g.export("trivial"), name, seconds),
                calibrated_loop(lambda n, io=io, fd=wfd: io(0, fd, n), name, seconds),
                calibrated_loop(lambda n, io=io, fd=rfd: io(1, fd, n), name, seconds),
            ]
        rates = interleave(groups, reps, warmup)
    results: dict[str, dict[str, float]] = {}
    for name, jobs in groups.items():
        keys = [name] if len(jobs) == 1 else [f"{name}/{i}" for i in range(len(jobs))]
        best = [max(rates[k]) for k in keys]
        results[name] = {"trivial": best[0]}
        if len(best) == 3:
            results[name].update(write=best[1], read=best[2])
    node = node_rates(wasmtime.wat2wasm((Path(__file__).parent / "guests" / "hostcall.wat")
                                        .read_text()), seconds, reps)
    if node is not None:
        results["node"] = node
    print(f"{'side':<18} {'args_sizes_get µs/call':>23} {'fd_write 4 KiB MB/s':>20} "
          f"{'fd_read 4 KiB MB/s':>19}")
    for name, r in results.items():
        w = f"{r['write'] * CHUNK / 1e6:,.0f}" if "write" in r else "-"
        rd = f"{r['read'] * CHUNK / 1e6:,.0f}" if "read" in r else "-"
        print(f"{name:<18} {1e6 / r['trivial']:>23.3f} {w:>20} {rd:>19}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
