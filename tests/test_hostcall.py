"""The host-call dispatch paths (vfswasi/fastcall.py): the compiled extension ("c"), ctypes
and the public API ("slow") must behave identically — same errnos, same traps, the same
exception re-raised, the same arguments, memory and counts. Every test here runs on each path
this process can use; CI also runs the suite with VFSWASI_PURE_PYTHON=1 (no extension)."""

from __future__ import annotations

import errno
import gc
import importlib.util
import os
import struct
import subprocess
import sys
import weakref

import pytest
import wasmtime

import vfswasi
from vfswasi import WASI, fastcall
from vfswasi.abi import Errno, WasiError
from vfswasi.control import RunControl, Stopped
from vfswasi.guestmem import GuestMemory
from vfswasi.limits import Limits
from vfswasi.syscalls.proc import WASIExit

ENGINE = wasmtime.Engine()  # no epoch interruption: bare stores run as they are
PURE = os.environ.get(fastcall.PURE_PYTHON_ENV, "") not in ("", "0")
BUILT = importlib.util.find_spec("vfswasi._hostcall") is not None


@pytest.fixture(params=fastcall.AVAILABLE)
def backend(request, monkeypatch):
    """Run the test on one dispatch path (host functions read BACKEND when they are made)."""
    monkeypatch.setattr(fastcall, "BACKEND", request.param)
    return request.param


# --- which path is active ---------------------------------------------------------------------


def test_the_compiled_path_serves_wherever_it_was_built():
    expected = "ctypes" if PURE or not BUILT else "c"
    assert fastcall.BACKEND == expected
    assert fastcall.AVAILABLE[0] == expected and fastcall.AVAILABLE[-1] == "slow"


@pytest.mark.skipif(not BUILT, reason="the extension is not built here: nothing to force off")
def test_the_environment_variable_forces_the_ctypes_path():
    # the CI runs with the variable set must really exercise the fallback
    code = "from vfswasi import fastcall; print(fastcall.BACKEND, fastcall.AVAILABLE)"
    env = dict(os.environ, **{fastcall.PURE_PYTHON_ENV: "1"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.split()[0] == "ctypes" and "'c'" not in out
    env[fastcall.PURE_PYTHON_ENV] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.split()[0] == "c"


def test_a_wasi_uses_the_path_chosen_when_it_was_made(backend):
    with WASI() as wasi:
        assert {h.backend for h in wasi._hosts.values()} == {backend}
    with WASI(fast=False) as wasi:
        assert {h.backend for h in wasi._hosts.values()} == {"slow"}


# --- a table of our own: every outcome of a host call ------------------------------------------

CALLS: list[tuple[int, ...]] = []


def _record(*args: int) -> None:
    CALLS.append(args)


def _raise(exc: BaseException):
    def fn(*_args: int) -> None:
        raise exc
    return fn


class Probe:
    """A host function reading guest memory through the GuestMemory view."""

    def __init__(self, mem: GuestMemory) -> None:
        self.mem = mem

    def __call__(self, ptr: int) -> None:
        # the last byte of memory, as the view sees it, and the view's length
        CALLS.append((self.mem.view[ptr], len(self.mem.view)))


BUG = ValueError("a bug in a syscall")
WAT = """(module
  (import "t" "record" (func $record (param i32 i64 i32) (result i32)))
  (import "t" "noresult" (func $noresult (param i32)))
  (import "t" "wasi_error" (func $wasi_error (result i32)))
  (import "t" "os_error" (func $os_error (result i32)))
  (import "t" "os_error_unknown" (func $os_error_unknown (result i32)))
  (import "t" "struct_error" (func $struct_error (result i32)))
  (import "t" "recursion" (func $recursion (result i32)))
  (import "t" "bug" (func $bug (result i32)))
  (import "t" "exit" (func $exit (result i32)))
  (import "t" "interrupt" (func $interrupt (result i32)))
  (import "t" "probe" (func $probe (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "record") (param i32 i64 i32) (result i32)
    (call $record (local.get 0) (local.get 1) (local.get 2)))
  (func (export "noresult") (param i32) (call $noresult (local.get 0)))
  (func (export "wasi_error") (result i32) (call $wasi_error))
  (func (export "os_error") (result i32) (call $os_error))
  (func (export "os_error_unknown") (result i32) (call $os_error_unknown))
  (func (export "struct_error") (result i32) (call $struct_error))
  (func (export "recursion") (result i32) (call $recursion))
  (func (export "bug") (result i32) (call $bug))
  (func (export "exit") (result i32) (call $exit))
  (func (export "interrupt") (result i32) (call $interrupt))
  ;; grow by `pages`, then probe the new last byte (set to 0xAB first)
  (func (export "grow_probe") (param $pages i32) (result i32)
    (local $last i32)
    (drop (memory.grow (local.get $pages)))
    (local.set $last (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))
    (i32.store8 (local.get $last) (i32.const 0xAB))
    (call $probe (local.get $last))))"""


def make_table(mem: GuestMemory) -> dict[str, tuple[str, object, bool]]:
    return {
        "record": ("iIi", _record, True),
        "noresult": ("i", _record, False),
        "wasi_error": ("", _raise(WasiError(Errno.NOTDIR)), True),
        "os_error": ("", _raise(FileNotFoundError(errno.ENOENT, "gone")), True),
        "os_error_unknown": ("", _raise(OSError(9999, "odd")), True),
        "struct_error": ("", lambda: struct.unpack_from("<I", b"", 0), True),
        "recursion": ("", _raise(RecursionError()), True),
        "bug": ("", _raise(BUG), True),
        "exit": ("", _raise(WASIExit(3)), True),
        "interrupt": ("", _raise(KeyboardInterrupt()), True),
        "probe": ("i", Probe(mem), True),
    }


def instantiate(backend: str, how: str, control: RunControl | None = None):
    mem = GuestMemory()
    host = fastcall.HostFunctions(make_table(mem), mem, control=control)
    assert host.backend == backend
    store = wasmtime.Store(ENGINE)
    module = wasmtime.Module(ENGINE, WAT)
    if how == "linker":
        linker = wasmtime.Linker(ENGINE)
        host.define(linker, "t")
        instance = linker.instantiate(store, module)
    else:
        funcs = host.funcs(store)
        instance = wasmtime.Instance(store, module, [funcs[i.name] for i in module.imports])
    exports = instance.exports(store)
    return host, store, exports


@pytest.mark.parametrize("how", ["linker", "funcs"])
def test_every_outcome_of_a_host_call_is_the_same_on_each_path(backend, how):
    CALLS.clear()
    host, store, ex = instantiate(backend, how)
    # i32 arguments arrive unsigned, i64 too; the errno result is 0
    assert ex["record"](store, -1, -2, 7) == 0
    assert CALLS.pop() == (0xFFFFFFFF, 2**64 - 2, 7)
    assert ex["noresult"](store, 5) is None and CALLS.pop() == (5,)
    assert ex["wasi_error"](store) == Errno.NOTDIR
    assert ex["os_error"](store) == Errno.NOENT
    assert ex["os_error_unknown"](store) == Errno.IO
    assert ex["struct_error"](store) == Errno.FAULT
    assert ex["recursion"](store) == Errno.IO
    # anything else is a trap re-raising the very exception
    with pytest.raises(ValueError) as raised:
        ex["bug"](store)
    assert raised.value is BUG
    assert raised.value.__traceback__ is not None  # where it came from survives
    with pytest.raises(WASIExit) as exited:
        ex["exit"](store)
    assert exited.value.code == 3
    with pytest.raises(KeyboardInterrupt):
        ex["interrupt"](store)
    # the guest runs on after a trap, and the errno results still come
    assert ex["wasi_error"](store) == Errno.NOTDIR
    assert host.call_counts() == {"record": 1, "noresult": 1, "wasi_error": 2, "os_error": 1,
                                  "os_error_unknown": 1, "struct_error": 1, "recursion": 1,
                                  "bug": 1, "exit": 1, "interrupt": 1}


def test_the_view_follows_memory_grow(backend):
    CALLS.clear()
    _host, store, ex = instantiate(backend, "linker")
    for pages in (0, 1, 0, 3):
        assert ex["grow_probe"](store, pages) == 0
    sizes = [65536, 2 * 65536, 2 * 65536, 5 * 65536]
    assert CALLS == [(0xAB, size) for size in sizes]


def test_a_stop_request_traps_at_the_next_call(backend):
    control = RunControl(Limits.none())
    host, store, ex = instantiate(backend, "linker", control)
    assert ex["wasi_error"](store) == Errno.NOTDIR
    control.request("timeout")
    with pytest.raises(Stopped) as stopped:
        ex["wasi_error"](store)
    assert stopped.value.reason == "timeout"
    assert host.call_counts()["wasi_error"] == 2  # counted, though it never ran


def test_one_table_in_two_stores_sees_each_stores_memory(backend):
    CALLS.clear()
    mem = GuestMemory()
    host = fastcall.HostFunctions(make_table(mem), mem)
    linker = wasmtime.Linker(ENGINE)
    host.define(linker, "t")
    module = wasmtime.Module(ENGINE, WAT)
    first, second = wasmtime.Store(ENGINE), wasmtime.Store(ENGINE)
    a = linker.instantiate(first, module).exports(first)
    b = linker.instantiate(second, module).exports(second)
    assert a["grow_probe"](first, 2) == 0
    assert b["grow_probe"](second, 0) == 0
    assert a["grow_probe"](first, 0) == 0
    assert CALLS == [(0xAB, 3 * 65536), (0xAB, 65536), (0xAB, 3 * 65536)]


def test_functions_are_released_when_wasmtime_drops_them(backend):
    # the callbacks live until wasmtime's finalizer runs, then nothing keeps the syscall
    mem = GuestMemory()
    table = make_table(mem)
    probe = table["probe"][1]
    ref = weakref.ref(probe)
    host = fastcall.HostFunctions(table, mem)
    linker = wasmtime.Linker(ENGINE)
    host.define(linker, "t")
    host.define(linker, "u")  # defined twice: held twice
    store = wasmtime.Store(ENGINE)
    funcs = host.funcs(store)
    del table, probe, host
    gc.collect()
    assert ref() is not None  # the linker and the store still hold it
    del linker
    gc.collect()
    assert ref() is not None  # the store's Funcs still do
    del funcs, store
    gc.collect()
    assert ref() is None


# --- whole guests through WASI --------------------------------------------------------------------

EXIT_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $a (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; exit code: fd_close(99) = EBADF, plus 100 * args_sizes_get(out of range) = EFAULT
    (call $exit (i32.add (call $close (i32.const 99))
                         (i32.mul (i32.const 100)
                                  (call $a (i32.const -4) (i32.const 0)))))))"""


def test_a_guest_gets_the_same_errnos_and_exit_on_each_path(backend):
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        code = wasi.start(wasi.instantiate(store, wasmtime.Module(ENGINE, EXIT_WAT)), store)
        assert code == Errno.BADF + 100 * Errno.FAULT
        assert wasi.usage.calls == {"fd_close": 1, "args_sizes_get": 1, "proc_exit": 1}


def test_a_real_guest_runs_on_each_path(backend):
    result = vfswasi.run(os.path.join(os.path.dirname(vfswasi.__file__), "demo", "inventory.wasm"),
                         args=["inventory", "/nowhere"], timeout=60)
    assert result.exit_code != 0 and b"/nowhere" in result.stderr


# --- bulk copies ---------------------------------------------------------------------------------


def test_bulk_copies_between_guest_memory_and_python(backend):
    store = wasmtime.Store(ENGINE)
    memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(2, None)))
    payload = bytes(range(256)) * 400  # crosses the page boundary
    fastcall.copy_to(store, memory, 1000, payload)
    assert fastcall.copy_from(store, memory, 1000, len(payload)) == payload
    fastcall.copy_to(store, memory, 0, bytearray(b"ab"))
    fastcall.copy_to(store, memory, 2, memoryview(b"xcdx")[1:3])
    assert memory.read(store, 0, 4) == b"abcd"
    assert fastcall.copy_from(store, memory, 2 * 65536, 0) == b""
    for offset, length in ((2 * 65536 - 1, 2), (2 * 65536 + 1, 0), (-1, 1), (0, 2**64 - 1)):
        with pytest.raises(IndexError):
            fastcall.copy_from(store, memory, offset, length)
    with pytest.raises(IndexError):
        fastcall.copy_to(store, memory, 2 * 65536 - 1, b"zz")
    assert memory.read(store, 2 * 65536 - 1, 2 * 65536) == b"\0"  # nothing written


STORE_REUSE = """
import gc, sys, wasmtime, vfswasi
from vfswasi import fastcall
fastcall.BACKEND = sys.argv[1]
wat = '''(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $a (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "argc") (result i32)
    (drop (call $a (i32.const 16) (i32.const 20))) (i32.load (i32.const 16))))'''
engine = wasmtime.Engine()
module = wasmtime.Module(engine, wat)
with vfswasi.WASI(args=["a", "b"]) as wasi:
    linker = wasmtime.Linker(engine)
    wasi.link(linker)
    for _ in range(100):
        store = wasmtime.Store(engine)
        assert linker.instantiate(store, module).exports(store)["argc"](store) == 2
        del store
        gc.collect()
print("ok")
"""


def test_one_linker_serves_store_after_store(backend):
    # A freed store's address comes back for the next one: a dispatcher trusting the
    # context would hand wasmtime the old store's memory, and wasmtime aborts the process
    # ("object used with the wrong store"). In a subprocess, so an abort is a failure here.
    run = subprocess.run([sys.executable, "-c", STORE_REUSE, backend], capture_output=True,
                         text=True, timeout=120)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr[-2000:]
