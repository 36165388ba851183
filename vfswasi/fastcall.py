"""Turning syscall functions into wasmtime host functions, fast.

wasmtime-py's ordinary host functions (`Func` / `Linker.define_func`) run a generic Python
trampoline that costs ~25 µs a call. Here each WASI import is registered through the C API's
*unchecked* callbacks (`wasmtime_linker_define_func_unchecked`, `wasmtime_func_new_unchecked`)
as a ctypes callback that decodes the raw argument array with one `struct.unpack_from`,
refreshes the guest memory view (two C calls) and calls the syscall: ~1.5 µs in all.

This reaches into wasmtime-py internals (`wasmtime._ffi`, `wasmtime._func.LAST_EXCEPTION`),
which is why `pyproject.toml` pins the wasmtime versions it is tested on. When a symbol is
missing the slower public API (`Linker.define_func` with `access_caller`) serves instead,
with identical behaviour.

Errors: a syscall raises `WasiError` (or an `OSError` from a backend, or `struct.error` from
a guest pointer out of range) and the guest gets the errno. Any other exception — `WASIExit`
from `proc_exit`, KeyboardInterrupt, a bug — becomes a trap, and wasmtime-py re-raises the
original Python exception to whoever called into the guest (it keeps it in
`wasmtime._func.LAST_EXCEPTION`, exactly as its own trampoline does).
"""

from __future__ import annotations

import ctypes
import itertools
import struct
import weakref
from collections.abc import Callable
from typing import Any

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
        ctypes.c_bool, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p
    )(("wasmtime_caller_export_get", _dll))
    _error_message = _wt_ffi.wasmtime_error_message
    _extern_t = _wt_ffi.wasmtime_extern_t
    _func_t = _wt_ffi.wasmtime_func_t
    # ctypes subclasses of c_uint8 are not converted to int on access: compare raw values
    _EXTERN_MEMORY = getattr(_wt_ffi.WASMTIME_EXTERN_MEMORY, "value", _wt_ffi.WASMTIME_EXTERN_MEMORY)
    _trap_new = _wt_ffi.wasmtime_trap_new
    FAST_PATH = hasattr(_wt_func, "LAST_EXCEPTION")
except (AttributeError, ImportError):  # pragma: no cover - depends on the wasmtime build
    FAST_PATH = False

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
    """Where the guest's memory is: the store context and the `memory` export, found from
    the caller on the first call and again whenever the calling store changes (a stale
    context would be a use-after-free); base and length are re-read on every call."""

    __slots__ = ("mem", "ctx_ptr", "mem_ptr", "_extern")

    def __init__(self, mem: GuestMemory) -> None:
        self.mem = mem
        self.ctx_ptr: int | None = None
        self.mem_ptr: int | None = None
        self._extern: Any = None

    def bind_from_caller(self, caller: int) -> None:
        self.mem_ptr = self._extern = None
        self.mem.forget()
        ext = _extern_t()
        if _caller_export_get(caller, b"memory", 6, ctypes.addressof(ext)) and (
            getattr(ext.kind, "value", ext.kind) == _EXTERN_MEMORY
        ):
            self._extern = ext
            self.mem_ptr = ctypes.addressof(ext.of.memory)
        self.ctx_ptr = _caller_context(caller)


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
        self.fast = fast and FAST_PATH
        self.binding = MemoryBinding(mem)
        #: calls per function, for the usage report: one list cell per name, bumped by its
        #: callback (cheaper than a dict update on every call)
        self._counts: dict[str, list[int]] = {name: [0] for name in table}

    def call_counts(self) -> dict[str, int]:
        return {name: cell[0] for name, cell in self._counts.items() if cell[0]}

    def reset(self) -> None:
        """Serve a new run: forget the store the functions were bound to (the next call
        binds afresh: a new store may reuse a dropped one's address) and zero the call
        counts. For `vfswasi.api`'s per-engine reuse of functions already linked."""
        self.binding.ctx_ptr = self.binding.mem_ptr = None
        self.mem.forget()
        for cell in self._counts.values():
            cell[0] = 0

    # --- public entry points ----------------------------------------------------------------

    def define(self, linker: wasmtime.Linker, module: str) -> None:
        """Define every function of the table under `module` on `linker`."""
        for name, (sig, fn, returns) in self.table.items():
            ty = functype(sig, returns, linker.engine)
            if self.fast:
                cb, key = self._raw_callback(fn, sig, returns, self._counts[name])
                mod, nm = module.encode(), name.encode()
                err = _define_unchecked(
                    ctypes.cast(linker.ptr(), ctypes.c_void_p), mod, len(mod), nm, len(nm),
                    ctypes.cast(ty.ptr(), ctypes.c_void_p), cb, key, _release,
                )
                if err:
                    raise wasmtime.WasmtimeError._from_ptr(
                        ctypes.cast(err, ctypes.POINTER(_wt_ffi.wasmtime_error_t))
                    )
            else:
                linker.define_func(
                    module, name, ty, self._slow_callback(fn, sig, returns, self._counts[name]), access_caller=True
                )

    def funcs(self, store: wasmtime.Store) -> dict[str, wasmtime.Func]:
        """One `wasmtime.Func` per function, created in `store` (for import objects)."""
        out: dict[str, wasmtime.Func] = {}
        for name, (sig, fn, returns) in self.table.items():
            ty = functype(sig, returns, store.engine)
            if self.fast:
                cb, key = self._raw_callback(fn, sig, returns, self._counts[name])
                raw = _func_t()
                _func_new_unchecked(
                    ctypes.cast(store._context(), ctypes.c_void_p),
                    ctypes.cast(ty.ptr(), ctypes.c_void_p), cb, key, _release,
                    ctypes.addressof(raw),
                )
                out[name] = wasmtime.Func._from_raw(raw)
            else:
                out[name] = wasmtime.Func(
                    store, ty, self._slow_callback(fn, sig, returns, self._counts[name]), access_caller=True
                )
        return out

    # --- the two callback flavours ----------------------------------------------------------

    def _raw_callback(self, fn: Syscall, sig: str, returns: bool,
                      count: list[int]) -> tuple[Any, int]:
        decode = _decoder(sig).unpack_from
        raw_array = ctypes.c_uint32 * (4 * max(len(sig), 1))
        binding = self.binding
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
                ctx = _caller_context(caller)
                if ctx != binding.ctx_ptr:  # first call, or the WASI was linked into another store
                    binding.bind_from_caller(caller)
                m = binding.mem_ptr
                if m is not None:
                    # The base can only move when the memory grows, so the length decides
                    # whether the view must be rebuilt (one C call instead of two).
                    size = _memory_size(ctx, m)
                    if size != mem.size:
                        refresh(_memory_data(ctx, m), size)
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
