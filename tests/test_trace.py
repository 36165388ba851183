"""`WASI(trace=...)` and `vfswasi run --trace`: the exact strace-style output for a small
guest, every kind of sink, and tracing off meaning the dispatcher calls syscalls directly."""

from __future__ import annotations

import functools
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from conftest import guest, make_mount

import vfswasi
from vfswasi import WASI
from vfswasi.modules import default_engine

P1 = "wasi_snapshot_preview1"

#: A guest making a few calls of each kind; d/x.txt holds "hello".
SMALL = """
(module
  (import "{m}" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "{m}" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{m}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "{m}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{m}" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "{m}" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "{m}" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "{m}" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "{m}" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "d/x.txt")
  (data (i32.const 0x110) "missing")
  (data (i32.const 0x120) "hi\\n\\00\\ff")
  (func (export "_start") (local $fd i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    ;; d/x.txt, following symlinks, with FD_READ|FD_SEEK
    (drop (call $path_open (i32.const 3) (i32.const 1) (i32.const 0x100) (i32.const 7)
                           (i32.const 0) (i64.const 6) (i64.const 0) (i32.const 0) (i32.const 8)))
    (local.set $fd (i32.load (i32.const 8)))
    (i32.store (i32.const 0x20) (i32.const 0x200))
    (i32.store (i32.const 0x24) (i32.const 16))
    (drop (call $fd_read (local.get $fd) (i32.const 0x20) (i32.const 1) (i32.const 0x28)))
    (drop (call $fd_seek (local.get $fd) (i64.const -2) (i32.const {end}) (i32.const 0x30)))
    (drop (call $fd_fdstat_get (local.get $fd) (i32.const 0x300)))
    (drop (call $fd_close (local.get $fd)))
    ;; O_DIRECTORY on a missing name, APPEND: ENOENT; the fd pointer stays an address
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 0x110) (i32.const 7)
                           (i32.const 2) (i64.const 0x40) (i64.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0x40) (i32.const 0x120))
    (i32.store (i32.const 0x44) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0x40) (i32.const 1) (i32.const 0x48)))
    ;; one relative MONOTONIC clock of 1000 ns, userdata 7
    (i64.store (i32.const 0x400) (i64.const 7))
    (i32.store8 (i32.const 0x408) (i32.const 0))
    (i32.store (i32.const {clock_id}) (i32.const 1))
    (i64.store (i32.const {timeout}) (i64.const 1000))
    (drop (call $poll_oneoff (i32.const 0x400) (i32.const 0x500) (i32.const 1) (i32.const 0x50)))
    (call $proc_exit (i32.const 3))))
"""

EXPECTED = [
    "args_sizes_get([1], [6]) = 0",
    'path_open(3, SYMLINK_FOLLOW, "d/x.txt", 0, 0x6, 0x0, 0, [4]) = 0',
    'fd_read(4, ["hello"], 1, [5]) = 0',
    "fd_seek(4, -2, END, [3]) = 0",
    "fd_fdstat_get(4, {REGULAR_FILE, 0, 0x6, 0x0}) = 0",
    "fd_close(4) = 0",
    'path_open(3, 0, "missing", DIRECTORY, 0x40, 0x0, APPEND, 0x8) = ENOENT',
    r'fd_write(1, ["hi\n\0\xff"], 1, [5]) = 0',
    "poll_oneoff([{0x7, CLOCK MONOTONIC 1000 ns}], 0x500, 1, [1]) = 0",
    "proc_exit(3) = ?",
    "+++ exited with 3 +++",
]

DURATION = re.compile(r" <(\d+\.\d) µs>$")


@functools.cache
def small(version: str = "preview1") -> bytes:
    if version == "preview1":
        fields = {"m": P1, "end": 2, "clock_id": 0x410, "timeout": 0x418}
    else:  # wasi_unstable: END is 1; the clock payload starts with a u64 identifier
        fields = {"m": "wasi_unstable", "end": 1, "clock_id": 0x418, "timeout": 0x420}
    return bytes(wasmtime.wat2wasm(SMALL.format(**fields)))


def without_durations(lines: list[str]) -> list[str]:
    """The lines with their "<N.N µs>" removed (after checking every returning call has one)."""
    out = []
    for line in lines:
        if line.endswith(" = ?") or line.startswith("+++"):
            out.append(line)
        else:
            assert DURATION.search(line), line
            out.append(DURATION.sub("", line))
    return out


def traced_run(kind: str, tmp_path: Path, version: str = "preview1") -> list[str]:
    mount = make_mount(kind, tmp_path, {"d": {"x.txt": b"hello"}})
    lines: list[str] = []
    res = vfswasi.run(small(version), args=["guest"], preopens={"/data": mount.preopen},
                      trace=lines.append)
    assert res.exit_code == 3 and res.stdout == b"hi\n\0\xff"
    return lines


def test_trace_output_is_strace_like(kind, tmp_path):
    assert without_durations(traced_run(kind, tmp_path)) == EXPECTED


def test_trace_decodes_wasi_unstable_whence_and_clock_layout(tmp_path):
    assert without_durations(traced_run("memory", tmp_path, "unstable")) == EXPECTED


def test_trace_sinks_text_binary_and_path(tmp_path):
    text, binary = io.StringIO(), io.BytesIO()
    path = tmp_path / "trace.log"
    for sink in (text, binary, path, str(path)):
        vfswasi.run(small(), args=["guest"], preopens={"/data": str(tmp_path)}, trace=sink)
        written = (text.getvalue() if sink is text else binary.getvalue().decode()
                   if sink is binary else path.read_text())
        assert written.endswith("+++ exited with 3 +++\n")
        assert written.splitlines()[0].startswith("args_sizes_get([1], [6]) = 0 <")


def test_bad_trace_value_is_a_type_error():
    with pytest.raises(TypeError, match="trace must be"):
        WASI(trace=42)  # type: ignore[arg-type]


def test_a_trap_is_traced_with_its_exception():
    lines: list[str] = []

    def sink(_data: bytes) -> None:
        raise RuntimeError("sink broke")

    with pytest.raises(RuntimeError, match="sink broke"):
        vfswasi.run(small(), args=["guest"], preopens={"/data": "."}, stdout=sink,
                    trace=lines.append)
    assert lines[-2].startswith(r'fd_write(1, ["hi\n\0\xff"], 1, 0x48) = ? <')
    assert lines[-1] == "+++ raised RuntimeError: sink broke +++"


def test_bad_pointers_show_as_addresses():
    wat = f"""(module
      (import "{P1}" "path_open" (func $o (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "{P1}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $o (i32.const 3) (i32.const 0) (i32.const 0xfffff0) (i32.const 4)
                       (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))
        (drop (call $w (i32.const 1) (i32.const -8) (i32.const 1) (i32.const 0)))))"""
    lines: list[str] = []
    vfswasi.run(wasmtime.wat2wasm(wat), preopens={"/data": "."}, trace=lines.append)
    assert without_durations(lines) == [
        "path_open(3, 0, 0xfffff0, 4, 0, 0x0, 0x0, 0, 0x0) = EFAULT",
        "fd_write(1, 0xfffffff8, 1, 0x0) = EFAULT",
        "+++ exited with 0 +++",  # _start returned: the end is logged as for proc_exit
    ]


def test_tracing_off_leaves_the_syscalls_unwrapped():
    # Zero cost when off: the dispatcher gets the bound syscall itself (a body with results
    # inside the one function writing them), nothing in between.
    from vfswasi.syscalls import SYSCALLS

    for trace, wrapped in ((None, False), (lambda line: None, True)):
        table = WASI(trace=trace)._hosts["preview1"].table
        close, sizes = table["fd_close"][1], table["args_sizes_get"][1]
        if wrapped:
            assert not isinstance(close, functools.partial)
            assert getattr(sizes, "__wrapped__", None) is None
        else:
            assert close.func is SYSCALLS["fd_close"].fn  # type: ignore[attr-defined]
            assert sizes.__wrapped__ is SYSCALLS["args_sizes_get"].fn  # type: ignore[attr-defined]


# --- the CLI ---------------------------------------------------------------------------------


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VFSWASI_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "vfswasi", *args], capture_output=True,
                          timeout=60, env=env)


def test_cli_trace_to_stderr_and_to_a_file(tmp_path):
    wasm = tmp_path / "small.wasm"
    wasm.write_bytes(small())
    data = tmp_path / "data"
    (data / "d").mkdir(parents=True)
    (data / "d" / "x.txt").write_bytes(b"hello")
    res = cli("run", "--trace", "--dir", f"{data}::/data", str(wasm), tmp_path=tmp_path)
    assert res.returncode == 3 and res.stdout == b"hi\n\0\xff"
    # argv[0] is the module's path, as wasmtime's CLI has it
    expected = [f"args_sizes_get([1], [{len(str(wasm)) + 1}]) = 0", *EXPECTED[1:]]
    assert without_durations(res.stderr.decode().splitlines()) == expected
    log = tmp_path / "trace.log"
    res = cli("run", f"--trace={log}", "--dir", f"{data}::/data", str(wasm), tmp_path=tmp_path)
    assert res.returncode == 3 and res.stderr == b""
    assert without_durations(log.read_text().splitlines()) == expected


def test_cli_trace_flag_after_the_module_belongs_to_the_guest(tmp_path):
    res = cli("run", str(guest("sys")), "args", "--trace", tmp_path=tmp_path)
    assert res.returncode == 0
    assert b"--trace" in res.stdout and res.stderr == b""


def test_cli_trace_to_an_unwritable_file_is_one_line(tmp_path):
    res = cli("run", f"--trace={tmp_path}/no/such/dir/log", str(guest("sys")), "exit", "0",
              tmp_path=tmp_path)
    assert res.returncode == 1
    assert res.stderr.decode().count("\n") == 1 and "--trace=" in res.stderr.decode()


def test_instances_in_one_store_share_nothing_but_the_sink():
    lines: list[str] = []
    store = wasmtime.Store(default_engine())
    for _ in range(2):
        wasi = WASI(args=["a", "b"], trace=lines.append)
        linker = wasmtime.Linker(default_engine())
        wasi.link(linker)
        assert wasi.start(linker.instantiate(store, wasmtime.Module(default_engine(), small())),
                          store) == 3
    assert without_durations(lines).count("args_sizes_get([2], [4]) = 0") == 2


def test_exit_codes_are_traced_as_the_i32_the_guest_passed():
    wat = (f'(module (import "{P1}" "proc_exit" (func $e (param i32))) (memory (export "memory") 1)'
           ' (func (export "_start") (call $e (i32.const -2))))')
    lines: list[str] = []
    assert vfswasi.run(wasmtime.wat2wasm(wat), trace=lines.append).exit_code == -2
    assert lines == ["proc_exit(-2) = ?", "+++ exited with -2 +++"]
