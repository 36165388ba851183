"""Per-run reuse: `vfswasi.run` and `vfswasi.Program` take their host functions, already
linked, from a per-engine pool, and each run re-initialises the world they serve. These tests
check that no run ever sees another's fds, files, args, environment, stdio or usage, in turn
and at the same time."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
import wasmtime
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi.api import _take_shell

# The guest reports what it sees as its exit code, then leaves a file open:
#   1000 if it could open "f.txt" in its preopen (fd 3, and it never closes it: a leak)
#   + 100 * argc + 10 * envc
#   + 1 if fd 4 was already open when it started (someone else's fd)
# and writes its argv[0] to stdout.
PROBE = """(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $ag (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esg (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "f.txt")
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $end (loop $next
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func (export "_start")
    (local $code i32)
    ;; fd 4 already open?
    (if (i32.eqz (call $fdstat (i32.const 4) (i32.const 0x200)))
      (then (local.set $code (i32.const 1))))
    (drop (call $asg (i32.const 0) (i32.const 4)))
    (drop (call $esg (i32.const 8) (i32.const 12)))
    (local.set $code (i32.add (local.get $code)
      (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 100))
               (i32.mul (i32.load (i32.const 8)) (i32.const 10)))))
    ;; argv[0] to stdout (argv pointers at 0x400, strings at 0x800)
    (drop (call $ag (i32.const 0x400) (i32.const 0x800)))
    (i32.store (i32.const 0x300) (i32.load (i32.const 0x400)))
    (i32.store (i32.const 0x304) (call $strlen (i32.load (i32.const 0x400))))
    (drop (call $write (i32.const 1) (i32.const 0x300) (i32.const 1) (i32.const 0x308)))
    ;; open f.txt and keep it open
    (if (i32.eqz (call $open (i32.const 3) (i32.const 1) (i32.const 0x100) (i32.const 5)
                             (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
                             (i32.const 0x204)))
      (then (local.set $code (i32.add (local.get $code) (i32.const 1000)))))
    (call $exit (local.get $code))))"""


@pytest.fixture(scope="module")
def probe() -> bytes:
    return wasmtime.wat2wasm(PROBE)


def with_file() -> MemoryFS:
    memfs = MemoryFS()
    memfs.writebytes("f.txt", b"x")
    return memfs


def test_runs_in_turn_see_only_their_own_world(probe):
    program = vfswasi.Program(probe)
    first = program.run(args=["first", "a", "b"], env={"A": "1", "B": "2"},
                        preopens={"/": with_file()})
    assert first.exit_code == 1000 + 300 + 20 and first.stdout == b"first"
    # the same host functions serve the next run: its fd 4 is free, the file is not there,
    # args, environment and stdout are its own
    second = program.run(args=["second"], preopens={"/": MemoryFS()})
    assert second.exit_code == 100 and second.stdout == b"second"
    assert second.usage.calls["path_open"] == 1 and second.usage.calls["args_get"] == 1
    assert first.usage.calls["path_open"] == 1  # each run's report is its own
    # and vfswasi.run on the same engine shares the pool
    third = vfswasi.run(probe, args=["third", "x"], preopens={"/": with_file()})
    assert third.exit_code == 1000 + 200 and third.stdout == b"third"


def test_a_run_that_failed_to_start_leaves_the_pool_sound(probe, tmp_path):
    program = vfswasi.Program(probe)
    with pytest.raises(FileNotFoundError):
        program.run(preopens={"/": str(tmp_path / "missing")})
    with pytest.raises(TypeError):
        program.run(args="not a list")
    assert program.run(args=["ok"], preopens={"/": with_file()}).exit_code == 1100


def test_a_shell_is_never_handed_to_two_runs():
    engine = vfswasi.engine()
    a, b = _take_shell(engine, ("preview1",)), _take_shell(engine, ("preview1",))
    assert a is not b
    from vfswasi.api import _give_back

    _give_back(a)
    _give_back(a)  # twice: still only once in the pool
    c, d = _take_shell(engine, ("preview1",)), _take_shell(engine, ("preview1",))
    assert c is a and d is not a


def test_concurrent_runs_keep_their_worlds_apart(probe):
    program = vfswasi.Program(probe)
    start = threading.Barrier(4, timeout=60)

    def runs(worker: int) -> list[tuple[int, bytes, int]]:
        start.wait()
        out = []
        for i in range(25):
            argv = [f"w{worker}i{i}"] + ["x"] * (worker % 3)
            env = {f"V{n}": "1" for n in range(i % 4)}
            tree = with_file() if i % 2 else MemoryFS()
            res = program.run(args=argv, env=env, preopens={"/": tree}, timeout=60)
            expected = 100 * len(argv) + 10 * len(env) + (1000 if i % 2 else 0)
            out.append((res.exit_code, res.stdout, expected))
            assert res.stdout == argv[0].encode()
        return out

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(runs, range(4)) for r in rs]
    assert len(results) == 100
    assert all(code == expected for code, _, expected in results)


def test_reuse_follows_the_versions_a_module_imports():
    # a module importing wasi_unstable gets its own functions (and layouts)
    wat = """(module
      (import "wasi_unstable" "args_sizes_get" (func $a (param i32 i32) (result i32)))
      (import "wasi_unstable" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $a (i32.const 0) (i32.const 4)))
        (call $exit (i32.load (i32.const 0)))))"""
    wasm = wasmtime.wat2wasm(wat)
    for argv in (["a"], ["a", "b", "c"], ["a", "b"]):
        assert vfswasi.run(wasm, args=argv).exit_code == len(argv)
