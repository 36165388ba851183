"""The public API: Node-style WASI object, the wasmtime Store/Linker flow, stdio choices,
exit handling, and the fast (C-API) and slow (public API) dispatch paths agreeing."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import wasmtime
from conftest import guest
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi import WASI
from vfswasi.fastcall import FAST_PATH
from vfswasi.modules import default_engine, load_module

ENGINE = default_engine()

# A command that writes "hi\n" to stdout and exits with the code stored at memory[100].
HELLO = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "hi\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
    (if (i32.load (i32.const 100)) (then (call $proc_exit (i32.load (i32.const 100)))))))
"""

# A reactor: _initialize stores 42; `get` returns it; `now_ok` calls clock_time_get.
REACTOR = """
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize") (i32.store (i32.const 0) (i32.const 42)))
  (func (export "get") (result i32) (i32.load (i32.const 0)))
  (func (export "now_ok") (result i32) (call $clock (i32.const 1) (i64.const 0) (i32.const 8))))
"""


def module(wat: str) -> wasmtime.Module:
    return wasmtime.Module(ENGINE, wat)


def with_exit_code(wat: str, code: int) -> wasmtime.Module:
    return module(wat.replace('(data (i32.const 8) "hi\\n")',
                              f'(data (i32.const 8) "hi\\n") (data (i32.const 100) "{_le32(code)}")'))


def _le32(n: int) -> str:
    return "".join(f"\\{b:02x}" for b in n.to_bytes(4, "little"))


# --- the Store/Linker flow and Node's checks -------------------------------------------------------


def test_linker_flow_returns_exit_code_and_captures_stdout():
    out = io.BytesIO()
    with WASI(stdout=out) as wasi:
        store = wasmtime.Store(ENGINE)
        linker = wasmtime.Linker(ENGINE)
        wasi.link(linker)
        instance = linker.instantiate(store, with_exit_code(HELLO, 3))
        assert wasi.start(instance, store) == 3
    assert out.getvalue() == b"hi\n"


def test_get_import_object_is_node_shaped():
    out = io.BytesIO()
    wasi = WASI(stdout=out)
    store = wasmtime.Store(ENGINE)
    imports = wasi.get_import_object(store)
    assert list(imports) == ["wasi_snapshot_preview1"]
    assert len(imports["wasi_snapshot_preview1"]) == 46  # every preview1 function
    assert wasi.wasi_import is imports["wasi_snapshot_preview1"]
    mod = module(HELLO)
    instance = wasmtime.Instance(
        store, mod, [imports[i.module][i.name] for i in mod.imports])
    assert wasi.start(instance) == 0  # the store is remembered from get_import_object
    assert out.getvalue() == b"hi\n"


def test_unstable_has_no_sock_accept():
    imports = WASI(version="unstable").get_import_object(wasmtime.Store(ENGINE))
    assert list(imports) == ["wasi_unstable"]
    assert len(imports["wasi_unstable"]) == 45 and "sock_accept" not in imports["wasi_unstable"]


def test_start_twice_is_refused():
    with WASI(stdout=None) as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, module(HELLO))
        assert wasi.start(instance, store) == 0
        with pytest.raises(RuntimeError, match="already started"):
            wasi.start(instance, store)


@pytest.mark.parametrize("wat, method, message", [
    ('(module (memory (export "memory") 1))', "start", "_start is not a function"),
    ('(module (memory (export "memory") 1) (func (export "_start")) (func (export "_initialize")))',
     "start", "_initialize must not be present"),
    ('(module (func (export "_start")))', "start", "memory is not a WebAssembly.Memory"),
    ('(module (memory (export "memory") 1) (func (export "_start")))', "initialize",
     "_start must not be present"),
])
def test_node_export_checks(wat, method, message):
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, module(wat))
        with pytest.raises(TypeError, match=message):
            getattr(wasi, method)(instance, store)


def test_initialize_runs_a_reactor_then_its_exports():
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, module(REACTOR))
        assert wasi.initialize(instance, store) is None
        exports = instance.exports(store)
        assert exports["get"](store) == 42
        assert exports["now_ok"](store) == 0
        with pytest.raises(RuntimeError, match="already started"):
            wasi.initialize(instance, store)


def test_linking_with_the_embedders_own_imports():
    wat = """(module
      (import "env" "twice" (func $twice (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (call $twice (i32.const 21)))))"""
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        linker = wasmtime.Linker(ENGINE)
        ty = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
        linker.define_func("env", "twice", ty, lambda x: 2 * x)
        wasi.link(linker)
        assert wasi.start(linker.instantiate(store, module(wat)), store) == 42


def test_missing_import_fails_at_link_time_naming_it():
    wat = '(module (import "env" "nope" (func)) (memory (export "memory") 1) (func (export "_start")))'
    with pytest.raises(wasmtime.WasmtimeError, match="nope"):
        vfswasi.run(module(wat))


def test_an_unknown_wasi_function_is_a_one_line_link_error(tmp_path):
    wat = ('(module (import "wasi_snapshot_preview1" "foo" (func)) (memory (export "memory") 1)'
           ' (func (export "_start")))')
    with pytest.raises(wasmtime.WasmtimeError) as info:
        vfswasi.run(module(wat))
    assert str(info.value) == "unknown import: `wasi_snapshot_preview1::foo` has not been defined"
    wasm = tmp_path / "foo.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(wat))
    proc = subprocess.run([sys.executable, "-m", "vfswasi", "run", str(wasm)], capture_output=True,
                          timeout=60, env={**os.environ, "VFSWASI_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.decode() == (f"vfswasi: cannot instantiate {wasm}: unknown import: "
                                    "`wasi_snapshot_preview1::foo` has not been defined\n")


def test_return_on_exit_false_exits_the_process(tmp_path):
    script = tmp_path / "exit.py"
    script.write_text(
        "import wasmtime\n"
        "from vfswasi import WASI\n"
        "from vfswasi.modules import default_engine, load_module\n"
        f"module = load_module({str(guest('sys'))!r})\n"
        "wasi = WASI(args=['sys', 'exit', '9'], return_on_exit=False, stdout=None)\n"
        "store = wasmtime.Store(default_engine())\n"
        "wasi.start(wasi.instantiate(store, module), store)\n"
        "print('not reached')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60)
    assert proc.returncode == 9
    assert b"not reached" not in proc.stdout


# --- exits, traps and exceptions ---------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 125, 255, 256, 70000])
def test_exit_codes_pass_through(code):
    assert vfswasi.run(with_exit_code(HELLO, code)).exit_code == code


def test_trap_propagates_with_the_guests_output():
    wat = HELLO.replace("(if (i32.load", "(unreachable) (if (i32.load")
    with pytest.raises(wasmtime.Trap) as info:
        vfswasi.run(module(wat))
    assert info.value.stdout == b"hi\n"  # type: ignore[attr-defined]


def test_a_python_exception_in_a_host_function_reaches_the_caller():
    class Boom(Exception):
        pass

    def explode(_data: bytes) -> None:
        raise Boom("from the stdout sink")

    with pytest.raises(Boom, match="stdout sink"):
        vfswasi.run(module(HELLO), stdout=explode)


# --- stdio choices ---------------------------------------------------------------------------------


def echo(stdin, stdout=None, stderr=None):
    return vfswasi.run(guest("sys"), args=["sys", "stdio"], stdin=stdin, stdout=stdout,
                       stderr=stderr)


def test_stdin_bytes_and_captured_output():
    res = echo(b"abc\x00\xff")
    assert res.exit_code == 0
    assert b"abc\x00\xff" in res.stdout


def test_stdio_file_objects_and_callables(tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(b"from a file")
    chunks: list[bytes] = []
    with open(src, "rb") as f:
        res = echo(f, stdout=chunks.append, stderr=None)
    assert res.stdout == b""  # not captured: it went to the callable
    assert b"from a file" in b"".join(chunks)


def test_stdio_none_is_empty_and_discarded():
    res = vfswasi.run(guest("sys"), args=["sys", "stdio"], stdin=None, stdout=None)
    assert res.exit_code == 0


def test_stdio_host_fds(tmp_path):
    out_path = tmp_path / "out.bin"
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"through a pipe")
    os.close(write_fd)
    with open(out_path, "wb") as out:
        res = echo(read_fd, stdout=out.fileno())
    os.close(read_fd)
    assert res.exit_code == 0
    assert b"through a pipe" in out_path.read_bytes()


@pytest.mark.parametrize("bad, message", [
    ({"stdin": "text"}, "stdin must be"), ({"stdout": b"bytes"}, "only stdin takes bytes"),
    ({"stderr": io.StringIO()}, "stderr must be a binary file object"),
])
def test_bad_stdio_is_a_clear_type_error(bad, message):
    with pytest.raises(TypeError, match=message):
        WASI(**bad)


@pytest.mark.parametrize("bad", [{"version": "preview2"}, {"args": ["a\0b"]}, {"env": {"K": "v\0"}}])
def test_bad_arguments_are_value_errors(bad):
    with pytest.raises(ValueError):
        WASI(**bad)


def test_bad_preopen_is_refused():
    with pytest.raises(TypeError, match="unsupported preopen"):
        WASI(preopens={"/x": 42})
    with pytest.raises(FileNotFoundError):
        WASI(preopens={"/x": "/definitely/not/here"})


# --- fast and slow dispatch give the same answers ------------------------------------------------


def test_fast_path_is_available_on_the_pinned_wasmtime():
    assert FAST_PATH, "wasmtime-py internals changed: update vfswasi/fastcall.py"


@pytest.mark.parametrize("fast", [True, False])
def test_both_dispatch_paths_run_the_same_guest(fast):
    tree = MemoryFS()
    tree.makedir("/d")
    tree.writetext("/d/f.txt", "one\ntwo\n")
    out = io.BytesIO()
    with WASI(args=["inventory", "/data"], preopens={"/data": tree}, stdout=out,
              stderr=out, fast=fast) as wasi:
        store = wasmtime.Store(ENGINE)
        mod = load_module(os.path.join(os.path.dirname(vfswasi.__file__), "demo", "inventory.wasm"))
        code = wasi.start(wasi.instantiate(store, mod), store)
    assert code == 0
    assert b"f.txt" in out.getvalue() and b"2 lines" in out.getvalue()
    assert tree.readtext("/SUMMARY.txt") == "1 files, 1 directories, 8 bytes, 2 lines\n"


def test_slow_path_answers_efault_for_bad_pointers():
    wat = """(module
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $a (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (call $a (i32.const -4) (i32.const 0)))))"""
    for fast in (True, False):
        with WASI(fast=fast) as wasi:
            store = wasmtime.Store(ENGINE)
            assert wasi.start(wasi.instantiate(store, module(wat)), store) == 21  # EFAULT


def test_one_wasi_linked_into_two_stores_uses_each_stores_memory():
    # The dispatcher caches where guest memory is; a second store must not see the first's.
    wat = """(module
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $a (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "argc") (result i32)
        (drop (call $a (i32.const 16) (i32.const 20))) (i32.load (i32.const 16))))"""
    with WASI(args=["a", "b", "c"]) as wasi:
        linker = wasmtime.Linker(ENGINE)
        wasi.link(linker)
        first, second = wasmtime.Store(ENGINE), wasmtime.Store(ENGINE)
        # stores the WASI never saw: an epoch engine's store needs its deadline first
        wasi.prepare_store(first)
        wasi.prepare_store(second)
        mod = module(wat)
        one = linker.instantiate(first, mod)
        assert one.exports(first)["argc"](first) == 3
        two = linker.instantiate(second, mod)
        assert two.exports(second)["argc"](second) == 3
        del one, first  # the first store goes away; the second keeps working
        assert two.exports(second)["argc"](second) == 3


def test_instances_outlive_the_wasi_object_and_its_linker(tmp_path):
    # The raw callbacks once died with the temporary Linker of instantiate(): a segfault on
    # the next WASI call. Run in a subprocess so a regression cannot take pytest down.
    script = tmp_path / "outlive.py"
    script.write_text(
        "import gc, wasmtime\n"
        "from vfswasi import WASI\n"
        "from vfswasi.modules import default_engine\n"
        "wat = '''(module (import \"wasi_snapshot_preview1\" \"args_sizes_get\"\n"
        "  (func $a (param i32 i32) (result i32))) (memory (export \"memory\") 1)\n"
        "  (func (export \"f\") (result i32) (call $a (i32.const 0) (i32.const 4))))'''\n"
        "store = wasmtime.Store(default_engine())\n"
        "instance = WASI(args=['x']).instantiate(store, wasmtime.Module(default_engine(), wat))\n"
        "gc.collect()\n"
        "print(instance.exports(store)['f'](store))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"0\n"
