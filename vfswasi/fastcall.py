"""Turning syscall functions into wasmtime host functions, fast.

wasmtime-py's ordinary host functions (`Func` / `Linker.define_func`) run a generic Python
trampoline that costs ~25 µs a call. Here each WASI import is registered through the C API's
*unchecked* callbacks (`wasmtime_linker_define_func_unchecked`, `wasmtime_func_new_unchecked`),
which hand over the raw argument array. Three ways to serve them, the first available wins
(`BACKEND` says which one is active):

- ``"c"``: the optional C extension `vfswasi._hostcall` (built by `pip install` where a C
  compiler exists) owns the whole wasm -> Python transition: it decodes the arguments, asks
  wasmtime for the caller's memory with direct C calls and calls the syscall (~0.3 µs a call);
- ``"ctypes"``: a ctypes callback per function doing the same in Python (~1.5 µs);
- ``"slow"``: the public API (`Linker.define_func` with `access_caller`), when wasmtime-py
  lacks a symbol the other two need.

All three behave identically (tests/test_hostcall.py runs the same guests through each).
`VFSWASI_PURE_PYTHON=1` in the environment, at import, skips the extension (CI runs the
suite that way too). To choose per instance, set `BACKEND` before creating the `WASI`.

This reaches into wasmtime-py internals (`wasmtime._ffi`, `wasmtime._func.LAST_EXCEPTION`),
which is why `pyproject.toml` pins the wasmtime versions it is tested on. The extension is not
linked against wasmtime: it calls the functions at the addresses taken here from the library
wasmtime-py loaded, so both always talk to the same libwasmtime.

Errors: a syscall raises `WasiError` (or an `OSError` from a backend, or `struct.error` from
a guest pointer out of range) and the guest gets the errno. Any other exception — `WASIExit`
from `proc_exit`, `Stopped` from a stop request, KeyboardInterrupt, a bug — becomes a trap,
and wasmtime-py re-raises the original Python exception to whoever called into the guest (it
keeps it in `wasmtime._func.LAST_EXCEPTION`, exactly as its own trampoline does).

`copy_from` / `copy_to` move bytes between a `wasmtime.Memory` and Python buffers in one
copy (through the extension when it is there), for host functions that do not go through
`GuestMemory`'s view (a WASI 0.2 layer, say).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import struct
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

import wasmtime
from wasmtime import _func as _wt_func

from .abi import Errno, WasiError, wasi_errno_from_oserror
from .control import RunControl, Stopped
from .guestmem import GuestMemory
from .limits import Limits

try:
    from wasmtime import _ffi as _wt_ffi

    _dll = _wt_ffi.dll
    _CALLBACK = ctypes.CFUNCTYPE(
        ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
    )
    _FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    # Our own prototypes for the symbols we call: wasmtime-py's are never modified.
    _define_unchecked = ctypes.CFUNCTYPE(
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, _CALLBACK, ctypes.c_void_p,
        _FINALIZER,
    )(("wasmtime_linker_define_func_unchecked", _dll))
    _func_new_unchecked = ctypes.CFUNCTYPE(
        None, ctypes.c_void_p, ctypes.c_void_p, _CALLBACK, ctypes.c_void_p, _FINALIZER,
        ctypes.c_void_p,
    )(("wasmtime_func_new_unchecked", _dll))
    _memory_data = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(
        ("wasmtime_memory_data", _dll)
    )
    _memory_size = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p)(
        ("wasmtime_memory_data_size", _dll)
    )
    _caller_context = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(
        ("wasmtime_caller_context", _dll)
    )
    _caller_export_get = ctypes.CFUNCTYPE(
        ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
    )(("wasmtime_caller_export_get", _dll))
    # the export's name as an address: no conversion of a bytes object on every call
    _MEMORY_NAME_BUF = ctypes.create_string_buffer(b"memory")
    _MEMORY_NAME = ctypes.addressof(_MEMORY_NAME_BUF)
    _error_message = _wt_ffi.wasmtime_error_message
    _extern_t = _wt_ffi.wasmtime_extern_t
    _func_t = _wt_ffi.wasmtime_func_t
    # ctypes subclasses of c_uint8 are not converted to int on access: compare raw values
    _EXTERN_MEMORY = getattr(_wt_ffi.WASMTIME_EXTERN_MEMORY, "value", _wt_ffi.WASMTIME_EXTERN_MEMORY)
    _trap_new = _wt_ffi.wasmtime_trap_new
    # Which memory an export is: its store's id and its index there, the first bytes of the
    # wasmtime_memory_t in the extern's union (the bytes after them are padding).
    _anon = _wt_ffi.wasmtime_memory_anon_0
    _index = getattr(_anon, "__private1")  # name-mangled if written as an attribute
    assert _wt_ffi.wasmtime_extern_t.kind.offset == 0 and _anon.store_id.offset == 0
    assert _wt_ffi.wasmtime_memory._anon_1.offset == 0
    _EXTERN_OF = _wt_ffi.wasmtime_extern_t.of.offset
    _MEMORY_KEY = _index.offset + _index.size
    _EXTERN_LAYOUT = (ctypes.sizeof(_extern_t), _EXTERN_OF, _MEMORY_KEY, _EXTERN_MEMORY)
    FAST_PATH = hasattr(_wt_func, "LAST_EXCEPTION")
except (AttributeError, ImportError, AssertionError):  # pragma: no cover - wasmtime build
    FAST_PATH = False

#: the environment variable that, set to anything but "" or "0", keeps the extension unused
PURE_PYTHON_ENV = "VFSWASI_PURE_PYTHON"


def _load_extension() -> ModuleType | None:
    """vfswasi._hostcall, initialised with the wasmtime C-API addresses; None when it was
    not built, is refused by the environment, or the wasmtime build lacks a symbol."""
    if not FAST_PATH or os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from . import _hostcall
    except ImportError:
        return None
    names = ("wasmtime_caller_context", "wasmtime_caller_export_get", "wasmtime_memory_data",
             "wasmtime_memory_data_size", "wasmtime_trap_new",
             "wasmtime_linker_define_func_unchecked", "wasmtime_func_new_unchecked")
    try:
        symbols = {n: ctypes.cast(getattr(_dll, n), ctypes.c_void_p).value for n in names}
    except AttributeError:  # pragma: no cover - depends on the wasmtime build
        return None
    _hostcall.init(symbols, WasiError, struct.error, wasi_errno_from_oserror, Stopped,
                   _wt_func, int(Errno.FAULT), int(Errno.IO), _EXTERN_LAYOUT)
    return _hostcall


_hostcall = _load_extension()

Backend = Literal["c", "ctypes", "slow"]
#: the dispatch path new host functions use: "c" (the compiled extension), "ctypes", or
#: "slow" (the public API). Tests set it to compare paths; it is read when a WASI is made.
BACKEND: Backend = "c" if _hostcall is not None else "ctypes" if FAST_PATH else "slow"
#: every path this process can use, fastest first
AVAILABLE: tuple[Backend, ...] = tuple(
    b for b, ok in (("c", _hostcall is not None), ("ctypes", FAST_PATH), ("slow", True)) if ok
)

Syscall = Callable[..., None]


def errno_of(exc: BaseException) -> int | None:
    """The errno the guest gets for an exception from a syscall; None means a trap.
    (The fast callback below spells the same mapping out inline, as except clauses.)"""
    if isinstance(exc, WasiError):
        return exc.errno
    if isinstance(exc, OSError):
        return wasi_errno_from_oserror(exc)
    if isinstance(exc, struct.error):
        return int(Errno.FAULT)
    if isinstance(exc, RecursionError):
        return int(Errno.IO)
    return None


# A raw callback must live as long as any linker or store can call it, which may be longer
# than the WASI object or the Linker that defined it. Each one is kept here under a key that
# wasmtime hands back to `_release` when it drops the function (as wasmtime-py's own Func
# does with its slab).
_LIVE: dict[int, Any] = {}
_keys = itertools.count(1)

if FAST_PATH:

    @_FINALIZER
    def _release(key: int | None) -> None:
        _LIVE.pop(key or 0, None)

_I32, _I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()


#: engine -> (signature, returns errno) -> its FuncType
_FUNCTYPES: weakref.WeakKeyDictionary[wasmtime.Engine, dict[tuple[str, bool], wasmtime.FuncType]] = (
    weakref.WeakKeyDictionary())


def functype(sig: str, returns_errno: bool,
             engine: wasmtime.Engine | None = None) -> wasmtime.FuncType:
    """FuncType for a signature string: 'i' = i32, 'I' = i64 params; result i32 errno.
    With `engine`, built once per engine and signature and shared (building them was half
    the cost of a `WASI.link`); per engine because wasmtime registers a FuncType with the
    engine it is first used on, and panics when it is then used on another."""
    if engine is not None:
        known = _FUNCTYPES.setdefault(engine, {})
        ty = known.get((sig, returns_errno))
        if ty is None:
            ty = known[sig, returns_errno] = functype(sig, returns_errno)
        return ty
    params = [_I64 if c == "I" else _I32 for c in sig]
    return wasmtime.FuncType(params, [_I32] if returns_errno else [])


def _decoder(sig: str) -> struct.Struct:
    # wasmtime_val_raw is a 16-byte union; an i32 sits in the low 4 bytes, an i64 in the low 8.
    # Reading i32s as unsigned masks guest pointers and lengths for free.
    return struct.Struct("<" + "".join("I12x" if c == "i" else "Q8x" for c in sig))


class MemoryBinding:
    """Where the guest's memory is: the calling instance's `memory` export, looked up on every
    call and compared with the last one by identity (its store's id and its index there).
    Neither the store context nor a cached export can be trusted across calls: a WASI linked
    into a Linker may serve many stores in turn, and a new store can get the address of a
    freed one (using a memory with another store's context aborts the process). Base and
    length are re-read on every call."""

    __slots__ = ("mem", "key", "mem_ptr", "view", "_extern", "_probe", "probe_addr", "_head")

    def __init__(self, mem: GuestMemory) -> None:
        self.mem = mem
        #: the identity bytes of the memory bound to, or None
        self.key: bytes | None = None
        self.mem_ptr: int | None = None
        #: the view the last refresh gave (a different one in `mem` means someone moved it)
        self.view: memoryview | None = None
        self._extern: Any = None
        self._probe = _extern_t()  # where each call's lookup lands
        self.probe_addr = ctypes.addressof(self._probe)
        self._head = (ctypes.c_char * (_EXTERN_OF + _MEMORY_KEY)).from_buffer(self._probe)

    def lookup(self, caller: int) -> int | None:
        """The address of the caller's memory export (bound to it first if it is another
        memory than last time), or None when the instance exports none (an empty view)."""
        probe = self.probe_addr
        if _caller_export_get(caller, _MEMORY_NAME, 6, probe):
            raw = self._head.raw  # the kind byte and the key, without a foreign call
            if raw[0] == _EXTERN_MEMORY:
                key = raw[_EXTERN_OF:]
                if key != self.key:
                    self.key = key
                    self._extern = ext = _extern_t()
                    ctypes.memmove(ctypes.addressof(ext), probe, ctypes.sizeof(ext))
                    self.mem_ptr = ctypes.addressof(ext.of.memory)
                    self.mem.forget()
                return self.mem_ptr
        if self.key is not None or self.mem.size != -1:
            self.key = self.mem_ptr = self._extern = None
            self.mem.forget()
        return None


class HostFunctions:
    """Builds the host functions for one WASI context's syscall table."""

    def __init__(
        self, table: dict[str, tuple[str, Syscall, bool]], mem: GuestMemory, fast: bool = True,
        control: RunControl | None = None,
    ) -> None:
        self.table = table
        self.mem = mem
        # a stop request (timeout, Ctrl-C) ends the guest at its next WASI call, whatever
        # the engine (epoch interruption also stops it between calls)
        self.control = control if control is not None else RunControl(Limits.none())
        #: the dispatch path of these functions (see `BACKEND`), fixed at creation
        self.backend: Backend = BACKEND if fast else "slow"
        self.fast = self.backend != "slow"
        self.binding = MemoryBinding(mem)
        #: calls per function, for the usage report: one counter per name, bumped by its
        #: callback (a C counter, or a list cell: cheaper than a dict update on every call)
        self._counts: dict[str, Any]
        self._trampolines: dict[str, Any] = {}
        if self.backend == "c":
            assert _hostcall is not None
            self._counts = {name: _hostcall.Counter() for name in table}
            self._cbinding = _hostcall.Binding(mem)
        else:
            self._counts = {name: [0] for name in table}

    def call_counts(self) -> dict[str, int]:
        if self.backend == "c":
            counts = {name: c.value for name, c in self._counts.items()}
        else:
            counts = {name: cell[0] for name, cell in self._counts.items()}
        return {name: n for name, n in counts.items() if n}

    def _trampoline(self, name: str) -> Any:
        """The extension's callable for `name`: one per name, however often it is defined
        (each definition holds a reference, which wasmtime gives back when it drops it)."""
        tramp = self._trampolines.get(name)
        if tramp is None:
            assert _hostcall is not None
            sig, fn, returns = self.table[name]
            tramp = self._trampolines[name] = _hostcall.Trampoline(
                fn, sig, returns, self._counts[name], self.control, self._cbinding)
        return tramp

    def reset(self) -> None:
        """Serve a new run: forget the store the functions were bound to (the next call
        binds afresh: a new store may reuse a dropped one's address) and zero the call
        counts. For `vfswasi.api`'s per-engine reuse of functions already linked."""
        self.binding.key = self.binding.mem_ptr = self.binding.view = None
        self.mem.forget()
        for counter in self._counts.values():
            if self.backend == "c":
                counter.value = 0
            else:
                counter[0] = 0

    # --- public entry points ----------------------------------------------------------------

    def define(self, linker: wasmtime.Linker, module: str) -> None:
        """Define every function of the table under `module` on `linker`."""
        linker_ptr = ctypes.cast(linker.ptr(), ctypes.c_void_p) if self.fast else None
        mod = module.encode()
        for name, (sig, fn, returns) in self.table.items():
            ty = functype(sig, returns, linker.engine)
            nm = name.encode()
            if self.backend == "c":
                assert _hostcall is not None
                err = _hostcall.define(linker_ptr.value, mod, nm,  # type: ignore[union-attr]
                                       ctypes.cast(ty.ptr(), ctypes.c_void_p).value,
                                       self._trampoline(name))
            elif self.backend == "ctypes":
                cb, key = self._raw_callback(fn, sig, returns, self._counts[name])
                err = _define_unchecked(
                    linker_ptr, mod, len(mod), nm, len(nm),
                    ctypes.cast(ty.ptr(), ctypes.c_void_p), cb, key, _release,
                )
            else:
                linker.define_func(
                    module, name, ty, self._slow_callback(fn, sig, returns, self._counts[name]), access_caller=True
                )
                continue
            if err:
                raise wasmtime.WasmtimeError._from_ptr(
                    ctypes.cast(err, ctypes.POINTER(_wt_ffi.wasmtime_error_t))
                )

    def funcs(self, store: wasmtime.Store) -> dict[str, wasmtime.Func]:
        """One `wasmtime.Func` per function, created in `store` (for import objects)."""
        out: dict[str, wasmtime.Func] = {}
        for name, (sig, fn, returns) in self.table.items():
            ty = functype(sig, returns, store.engine)
            if self.backend == "slow":
                out[name] = wasmtime.Func(
                    store, ty, self._slow_callback(fn, sig, returns, self._counts[name]), access_caller=True
                )
                continue
            raw = _func_t()
            context = ctypes.cast(store._context(), ctypes.c_void_p)
            ty_ptr = ctypes.cast(ty.ptr(), ctypes.c_void_p)
            if self.backend == "c":
                assert _hostcall is not None
                _hostcall.func_new(context.value, ty_ptr.value, self._trampoline(name),
                                   ctypes.addressof(raw))
            else:
                cb, key = self._raw_callback(fn, sig, returns, self._counts[name])
                _func_new_unchecked(context, ty_ptr, cb, key, _release, ctypes.addressof(raw))
            out[name] = wasmtime.Func._from_raw(raw)
        return out

    # --- the two Python callback flavours (the C one is vfswasi/_hostcall.c) ----------------------------------------------------------

    def _raw_callback(self, fn: Syscall, sig: str, returns: bool,
                      count: list[int]) -> tuple[Any, int]:
        decode = _decoder(sig).unpack_from
        raw_array = ctypes.c_uint32 * (4 * max(len(sig), 1))
        binding = self.binding
        lookup = binding.lookup
        mem = self.mem
        refresh = mem.refresh
        fault = int(Errno.FAULT)
        io_error = int(Errno.IO)
        control = self.control

        def callback(env: int, caller: int, raw: int, nraw: int) -> int:
            try:
                count[0] += 1
                if control.reason is not None:
                    raise Stopped(control.reason)
                m = lookup(caller)
                if m is not None:
                    # The base can only move when the memory grows, so the length decides
                    # whether the view must be rebuilt (one C call instead of two); another
                    # memory than last time was forgotten by `lookup`, so it is rebuilt too.
                    # (and so is a view someone else set: the other ABI's functions of the
                    # same WASI, bound to another store)
                    ctx = _caller_context(caller)
                    size = _memory_size(ctx, m)
                    if size != mem.size or mem.view is not binding.view:
                        binding.view = refresh(_memory_data(ctx, m), size)
                values = raw_array.from_address(raw)
                try:
                    fn(*decode(values))
                    result = 0
                except WasiError as e:
                    result = e.errno
                except OSError as e:
                    result = wasi_errno_from_oserror(e)
                except struct.error:
                    result = fault
                except RecursionError:
                    result = io_error
                if returns:
                    values[0] = result
                return 0
            except BaseException as e:  # noqa: BLE001 - becomes a trap, re-raised by wasmtime-py
                _wt_func.LAST_EXCEPTION = e
                msg = f"{type(e).__name__}: {e}".encode()
                return ctypes.cast(_trap_new(msg, len(msg)), ctypes.c_void_p).value or 0

        cb = _CALLBACK(callback)
        key = next(_keys)
        _LIVE[key] = cb
        return cb, key

    def _slow_callback(self, fn: Syscall, sig: str, returns: bool,
                       count: list[int]) -> Callable[..., int | None]:
        mem = self.mem
        masks = [0xFFFFFFFF if c == "i" else 0xFFFFFFFFFFFFFFFF for c in sig]

        control = self.control

        def callback(caller: wasmtime.Caller, *args: int) -> int | None:
            count[0] += 1
            if control.reason is not None:
                raise Stopped(control.reason)
            memory = caller.get("memory")
            if isinstance(memory, wasmtime.Memory):
                n = memory.data_len(caller)
                mem.refresh(ctypes.addressof(memory.data_ptr(caller).contents), n)
            try:
                fn(*(a & m for a, m in zip(args, masks, strict=True)))
                result = 0
            except (WasiError, OSError, struct.error, RecursionError) as e:
                result = errno_of(e)  # type: ignore[assignment]
            return result if returns else None

        return callback


# --- bulk copies between guest memory and Python --------------------------------------------------


def _memory_args(store: wasmtime.Store, memory: wasmtime.Memory) -> tuple[int, int]:
    context = ctypes.cast(store._context(), ctypes.c_void_p).value
    return context or 0, ctypes.addressof(memory._memory)


def _checked_base(store: wasmtime.Store, memory: wasmtime.Memory, offset: int,
                  length: int) -> int:
    size = memory.data_len(store)
    if offset < 0 or length < 0 or offset > size or length > size - offset:
        raise IndexError(f"guest memory range [{offset}, +{length}) outside {size} bytes")
    return ctypes.addressof(memory.data_ptr(store).contents) + offset


def copy_from(store: wasmtime.Store, memory: wasmtime.Memory, offset: int, length: int) -> bytes:
    """`length` bytes of `memory` from `offset`, in one copy; IndexError when out of range."""
    if _hostcall is not None and BACKEND == "c" and offset >= 0 and length >= 0:
        return _hostcall.copy_from(*_memory_args(store, memory), offset, length)
    return ctypes.string_at(_checked_base(store, memory, offset, length), length)


def copy_to(store: wasmtime.Store, memory: wasmtime.Memory, offset: int, data: Any) -> None:
    """Write a bytes-like object into `memory` at `offset`, in one copy; IndexError when it
    does not fit (and nothing is written)."""
    if _hostcall is not None and BACKEND == "c" and offset >= 0:
        _hostcall.copy_to(*_memory_args(store, memory), offset, data)
        return
    src = memoryview(data).cast("B")
    n = len(src)
    base = _checked_base(store, memory, offset, n)
    if n:
        # a writable buffer is read in place; a read-only one (bytes) goes as a char pointer
        ctypes.memmove(base, (data if type(data) is bytes else bytes(src)) if src.readonly else (ctypes.c_ubyte * n).from_buffer(src), n)
