"""Exit semantics, as Node's `node:wasi` has them: proc_exit from deep inside nested
host/guest calls, exit codes beyond 255 and negative ones, return_on_exit=False exiting the
Python process from wherever proc_exit is called, the instance staying usable (and traps
staying traps) after a reactor export exited, and start()/initialize() called out of turn.
(The basic cases are in test_api.py.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import wasmtime

import vfswasi
from vfswasi import WASI, WASIExit
from vfswasi.modules import default_engine

ENGINE = default_engine()
P1 = "wasi_snapshot_preview1"

#: A command whose _start calls the host's env.call_back, which calls back into the guest's
#: `inner`, which calls proc_exit(code at memory[0]).
NESTED = f"""
(module
  (import "env" "call_back" (func $call_back))
  (import "{P1}" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "inner") (call $proc_exit (i32.load (i32.const 0))))
  (func (export "_start") (call $call_back) unreachable))
"""

#: A reactor: `quit(code)` exits, `boom` traps, `get` reads memory[0] (42 after _initialize).
REACTOR = f"""
(module
  (import "{P1}" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_initialize") (i32.store (i32.const 0) (i32.const 42)))
  (func (export "quit") (param i32) (call $proc_exit (local.get 0)))
  (func (export "boom") unreachable)
  (func (export "get") (result i32) (i32.load (i32.const 0))))
"""


def exit_command(code: int) -> wasmtime.Module:
    return wasmtime.Module(ENGINE, f"""(module
      (import "{P1}" "proc_exit" (func $proc_exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $proc_exit (i32.const {code}))))""")


def nested_run(code: int) -> int:
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        linker = wasmtime.Linker(ENGINE)
        wasi.link(linker)
        instance: list[wasmtime.Instance] = []

        def call_back() -> None:
            # host -> guest again: the guest's proc_exit unwinds through this Python frame
            instance[0].exports(store)["inner"](store)  # type: ignore[operator]
            raise AssertionError("proc_exit returned")

        linker.define_func("env", "call_back", wasmtime.FuncType([], []), call_back)
        instance.append(linker.instantiate(store, wasmtime.Module(ENGINE, NESTED)))
        memory = instance[0].exports(store)["memory"]
        memory.write(store, code.to_bytes(4, "little"), 0)  # type: ignore[union-attr]
        return wasi.start(instance[0], store)


@pytest.mark.parametrize("code", [0, 7, 255])
def test_proc_exit_unwinds_nested_host_and_guest_calls(code):
    assert nested_run(code) == code


@pytest.mark.parametrize("code, expected", [
    (256, 256), (70000, 70000), (0x7FFFFFFF, 0x7FFFFFFF),
    (-1, -1), (-255, -255),  # an i32, as Node's start() returns it
])
def test_exit_codes_beyond_a_byte(code, expected):
    assert vfswasi.run(exit_command(code)).exit_code == expected


# --- a reactor after proc_exit ------------------------------------------------------------------


def reactor() -> tuple[WASI, wasmtime.Store, wasmtime.Instance]:
    wasi = WASI()
    store = wasmtime.Store(ENGINE)
    instance = wasi.instantiate(store, wasmtime.Module(ENGINE, REACTOR))
    wasi.initialize(instance, store)
    return wasi, store, instance


def test_proc_exit_in_a_reactor_export_reaches_the_caller_then_the_instance_lives_on():
    wasi, store, instance = reactor()
    exports = instance.exports(store)
    with pytest.raises(WASIExit) as info:
        exports["quit"](store, 3)  # type: ignore[operator]
    assert info.value.code == 3
    # A trap afterwards is a trap, not the exit again...
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        exports["boom"](store)  # type: ignore[operator]
    # ...and ordinary calls still work.
    assert exports["get"](store) == 42  # type: ignore[operator]
    with pytest.raises(WASIExit):
        exports["quit"](store, 4)  # type: ignore[operator]
    wasi.close()


def test_a_trap_after_proc_exit_in_a_nested_call():
    # The host swallows the guest's exit and carries on; the guest then traps: the trap is
    # what the caller sees.
    wat = NESTED.replace('(func (export "_start") (call $call_back) unreachable)',
                         '(func (export "_start") (call $call_back) (i32.store (i32.const 4) '
                         '(i32.const 1)) unreachable)')
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        linker = wasmtime.Linker(ENGINE)
        wasi.link(linker)
        instance: list[wasmtime.Instance] = []

        def call_back() -> None:
            with pytest.raises(WASIExit):
                instance[0].exports(store)["inner"](store)  # type: ignore[operator]

        linker.define_func("env", "call_back", wasmtime.FuncType([], []), call_back)
        instance.append(linker.instantiate(store, wasmtime.Module(ENGINE, wat)))
        with pytest.raises(wasmtime.Trap, match="unreachable"):
            wasi.start(instance[0], store)
        memory = instance[0].exports(store)["memory"]
        assert memory.read(store, 4, 8) == b"\x01\0\0\0"  # type: ignore[union-attr]


def test_proc_exit_during_initialize_propagates():
    wat = REACTOR.replace("(i32.store (i32.const 0) (i32.const 42))",
                          "(call $proc_exit (i32.const 9))")
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, wasmtime.Module(ENGINE, wat))
        with pytest.raises(WASIExit) as info:
            wasi.initialize(instance, store)
        assert info.value.code == 9


# --- start() and initialize() out of turn ------------------------------------------------------------


def test_start_after_initialize_and_initialize_after_start_are_refused():
    wasi, store, instance = reactor()
    with pytest.raises(RuntimeError, match="already started"):
        wasi.start(instance, store)
    wasi.close()
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, exit_command(0))
        assert wasi.start(instance, store) == 0
        with pytest.raises(RuntimeError, match="already started"):
            wasi.initialize(instance, store)


def test_start_on_a_reactor_is_refused_before_running_anything():
    with WASI() as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, wasmtime.Module(ENGINE, REACTOR))
        with pytest.raises(TypeError, match="_start is not a function"):
            wasi.start(instance, store)
        assert instance.exports(store)["get"](store) == 0  # type: ignore[operator]
        wasi.initialize(instance, store)  # the refused start() did not use up the instance
        assert instance.exports(store)["get"](store) == 42  # type: ignore[operator]


# --- return_on_exit=False: the process exits, from wherever proc_exit is called -------------------------


def python(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          timeout=60)


PRELUDE = f"""
    import atexit, wasmtime
    from vfswasi import WASI
    from vfswasi.modules import default_engine
    atexit.register(lambda: print("atexit ran", flush=True))
    engine = default_engine()
    store = wasmtime.Store(engine)
    REACTOR = {REACTOR!r}
"""


@pytest.mark.parametrize("code, status", [(9, 9), (300, 300 & 0xFF), (-1, 255)])
def test_return_on_exit_false_exits_with_the_code(code, status):
    proc = python(PRELUDE + f"""
    wat = '(module (import "{P1}" "proc_exit" (func $e (param i32))) (memory (export "memory") 1)'
    wat += ' (func (export "_start") (call $e (i32.const {code}))))'
    wasi = WASI(return_on_exit=False, stdout=None)
    wasi.start(wasi.instantiate(store, wasmtime.Module(engine, wat)), store)
    print("not reached")
    """)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == b"atexit ran\n"


def test_return_on_exit_false_exits_from_a_reactor_export():
    proc = python(PRELUDE + """
    wasi = WASI(return_on_exit=False)
    instance = wasi.instantiate(store, wasmtime.Module(engine, REACTOR))
    wasi.initialize(instance, store)
    print("initialized", flush=True)
    instance.exports(store)["quit"](store, 5)
    print("not reached")
    """)
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == b"initialized\natexit ran\n"
    assert proc.stderr == b""  # no traceback


def test_return_on_exit_false_and_start_returning_keeps_the_process():
    # As Node: no proc_exit, no exit; start() returns 0.
    proc = python(PRELUDE + """
    wat = '(module (memory (export "memory") 1) (func (export "_start")))'
    wasi = WASI(return_on_exit=False)
    print("start returned", wasi.start(wasi.instantiate(store, wasmtime.Module(engine, wat)), store))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"start returned 0\natexit ran\n"
