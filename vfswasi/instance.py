"""`WASI`: one guest's world (args, environment, stdio, preopens) and the host functions
bound to it; `vfswasi.api` re-exports it beside `run` and `Program`."""

from __future__ import annotations

import copy
import posixpath
import socket
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import wasmtime

from . import syscalls
from .abi import RIGHTS_DIR, RIGHTS_DIR_INHERITING, RIGHTS_TTY, Rights
from .backends import open_backend
from .clocks import SeededEntropy, VirtualClock
from .context import MODULE_NAMES, Context
from .control import EpochTicker, configure_store, signals_stop, stop_exception
from .fastcall import HostFunctions
from .fdtable import DirEntry, StreamEntry
from .limits import LimitExceeded, Limits, MemoryLimitExceeded, Usage
from .quota import StorageAccount
from .shells import _give_back, _recording_exit, _Shell
from .sockets import socket_entry
from .stdio import StdioSpec, open_stream
from .syscalls.proc import WASIExit
from .trace import TraceSpec, open_tracer

#: `deterministic=` takes a seed (an int), True (seed 0), or None/False (the real world)
Deterministic = int | bool | None


#: the instance-wide accounts WASI instances made: a backend charging one of these was
#: attached by an earlier instance and gets the new one's; any other account is the user's
_INSTANCE_ACCOUNTS: weakref.WeakSet[StorageAccount] = weakref.WeakSet()

_STDIN_RIGHTS = RIGHTS_TTY & ~Rights.FD_WRITE
_STDOUT_RIGHTS = RIGHTS_TTY & ~Rights.FD_READ


class WASI:
    """One guest's WASI world: args, environment, stdio and preopened filesystems.

    preopens: {guest path: host directory path | FS URL | PyFilesystem2 FS | Backend}, given
    fds 3, 4, ... in order. stdin/stdout/stderr: a host fd (default 0/1/2), a binary file
    object, bytes (stdin), a callable (stdout/stderr) or None (empty / discarded).
    return_on_exit: `start()` returns the guest's exit code; when False `proc_exit` exits
    the Python process with it instead (Node's returnOnExit).
    version: "preview1", "unstable", or both (a sequence): one fd table serves every module
    name given, each with its own ABI layouts.
    sockets: listening (or connected) stream sockets, given the fds after the preopens;
    the guest gets duplicates, so yours stay open.
    trace: log every WASI call strace-style to a file object, a path or a callable taking
    a line (see `vfswasi.trace`); None (the default) costs nothing.
    limits: a `vfswasi.Limits` for the instance's whole life (default: `Limits()`, whose
    defaults keep the host alive; `Limits.none()` lifts them).
    deterministic: a seed (or True for 0): virtual clocks, seeded `random_get`, and
    virtual times and stable numbers on memory-backed mounts (see `vfswasi.clocks`).
    """

    def __init__(
        self,
        *,
        version: str | Sequence[str] = "preview1",
        args: Iterable[str | bytes] = (),
        env: Mapping[str, str] | None = None,
        preopens: Mapping[str, Any] | None = None,
        return_on_exit: bool = True,
        stdin: StdioSpec = 0,
        stdout: StdioSpec = 1,
        stderr: StdioSpec = 2,
        sockets: Iterable[socket.socket] = (),
        trace: TraceSpec = None,
        limits: Limits | None = None,
        deterministic: Deterministic = None,
        fast: bool = True,
        _shell: _Shell | None = None,
    ) -> None:
        # set first: close() runs on a half-built instance too
        self._shell = _shell
        self._final_usage: Usage | None = None
        versions = (version,) if isinstance(version, str) else tuple(dict.fromkeys(version))
        if not versions or any(v not in MODULE_NAMES for v in versions):
            raise ValueError(f"version must be one of {sorted(MODULE_NAMES)} (or several), "
                             f"not {version!r}")
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a vfswasi.Limits, not {type(limits).__name__}")
        args, env, preopens = _checked_args(args), _checked_env(env), _checked_preopens(preopens)
        self._closed = False
        self.version, self.versions = versions[0], versions
        self.return_on_exit = return_on_exit
        self.limits = limits if limits is not None else Limits()
        self.seed = _seed(deterministic)
        self._tracer = open_tracer(trace)
        world: dict[str, Any] = {} if self.seed is None else {
            "clock": VirtualClock(), "entropy": SeededEntropy(self.seed)}
        raw_args = [_c_string(a) for a in args]
        raw_env = [_c_string(_raw(k) + b"=" + _raw(v)) for k, v in env]
        self._exit = _shell.exit_cell if _shell is not None else [None]
        self._exit[0] = None
        if _shell is not None:
            if _shell.versions != versions:
                raise ValueError("a shell serves the versions it was built for")
            self.ctx = _shell.adopt(raw_args, raw_env, self.limits, world)
        else:
            self.ctx = Context(self.version, raw_args, raw_env, limits=self.limits, **world)
        self._backends = []
        #: what the guest adds to in-memory storage, across all mounts (see vfswasi.quota)
        self.storage = StorageAccount.for_limits(self.limits)
        _INSTANCE_ACCOUNTS.add(self.storage)
        self._stores: weakref.WeakSet[wasmtime.Store] = weakref.WeakSet()
        self._tickers: list[EpochTicker] = []
        self._started_at: tuple[float, float] | None = None
        fds = self.ctx.fds
        fds.insert(StreamEntry(open_stream(stdin, "stdin"), _STDIN_RIGHTS))
        fds.insert(StreamEntry(open_stream(stdout, "stdout"), _STDOUT_RIGHTS))
        fds.insert(StreamEntry(open_stream(stderr, "stderr"), _STDOUT_RIGHTS))
        try:
            for guest_path, spec in preopens:
                backend = open_backend(spec)
                self._backends.append(backend)
                self._attach(backend, guest_path)
                fds.insert(DirEntry(backend, backend.root(), RIGHTS_DIR, RIGHTS_DIR_INHERITING,
                                    owned=False, preopen=guest_path))
            for sock in sockets:
                # After the directories: wasi-libc's preopen scan stops at the first EBADF.
                fds.insert(socket_entry(sock))
        except BaseException:
            self.close()
            raise
        for _fd, entry in fds.items():
            if isinstance(entry, StreamEntry):
                entry.stream.control = self.ctx.control
        if _shell is not None:
            self._hosts = _shell.hosts
        else:
            self._hosts = {v: self._host_functions(self.ctx.for_version(v), fast)
                           for v in versions}
        self._store: wasmtime.Store | None = None
        self._started = False
        self.wasi_import: dict[str, wasmtime.Func] = {}

    def _attach(self, backend: Any, guest_path: str) -> None:
        """Give a mount this instance's storage account (capped by its `Quota`) and clock.
        (A `Backend` from elsewhere may lack the hooks: it then keeps its own ways.) A
        backend given a `StorageAccount` of your own keeps it, and its caps, instead."""
        use_storage = getattr(backend, "use_storage", None)
        current = getattr(backend, "storage", None)
        if use_storage is not None and (current is None or current.root in _INSTANCE_ACCOUNTS):
            use_storage(self.storage.for_mount(self.limits.quota_for(guest_path), guest_path))
        use_clock = getattr(backend, "use_clock", None)
        if use_clock is not None:
            use_clock(self.ctx.clock)

    @property
    def usage(self) -> Usage:
        """What the instance has used so far (complete once `start()` returned)."""
        if self._final_usage is not None:  # closed: the report as it was at the end
            return self._final_usage
        usage = self.ctx.usage
        usage.calls.clear()
        for host in self._hosts.values():
            usage.calls.update(host.call_counts())
        usage.peak_open_fds = max(usage.peak_open_fds, self.ctx.fds.peak)
        return usage

    def _host_functions(self, ctx: Context, fast: bool) -> HostFunctions:
        table = _recording_exit(syscalls.bind(ctx), self._exit)
        if not self.return_on_exit:
            sig, _proc_exit, returns = table["proc_exit"]
            table["proc_exit"] = (sig, _exit_process, returns)
        if self._tracer is not None:  # only then: untraced calls go straight to the syscall
            table = self._tracer.wrap(table, ctx)
        return HostFunctions(table, ctx.mem, fast=fast, control=ctx.control)

    @property
    def module_name(self) -> str:
        """The import module this instance provides ("wasi_snapshot_preview1" or "wasi_unstable")."""
        return MODULE_NAMES[self.version]

    @property
    def module_names(self) -> list[str]:
        """Every import module this instance provides (see `version`)."""
        return [MODULE_NAMES[v] for v in self.versions]

    # --- wiring into wasmtime -------------------------------------------------------------------

    def link(self, linker: wasmtime.Linker) -> None:
        """Define every WASI function, under each module name, on `linker` (it may hold
        your own imports too)."""
        for version, host in self._hosts.items():
            host.define(linker, MODULE_NAMES[version])

    def prepare_store(self, store: wasmtime.Store) -> None:
        """Apply this instance's limits to `store` (an epoch deadline and the stop callback,
        the memory cap, fuel). `instantiate`, `get_import_object`, `start` and `initialize`
        do it; call it yourself before running wasm in a store of an epoch-interruption
        engine (such as `vfswasi.engine()`) that none of those has seen."""
        if store in self._stores:
            return
        self._stores.add(store)
        configure_store(store, self.ctx.control)
        limits = self.limits
        if limits.max_memory is not None:
            store.set_limits(memory_size=limits.max_memory)
        if limits.fuel is not None:
            try:
                store.set_fuel(limits.fuel)
            except wasmtime.WasmtimeError:
                raise ValueError("Limits.fuel needs an engine with fuel metering: "
                                 "vfswasi.engine(fuel=True), or let run() choose") from None
        ticker = EpochTicker.of(store.engine)
        ticker.acquire(self.ctx.control)
        self._tickers.append(ticker)

    def get_import_object(self, store: wasmtime.Store) -> dict[str, dict[str, wasmtime.Func]]:
        """Node's getImportObject(): {module name: {function name: Func}} in `store`."""
        self.prepare_store(store)
        self._store = store
        imports = {MODULE_NAMES[v]: host.funcs(store) for v, host in self._hosts.items()}
        self.wasi_import = imports[self.module_name]
        return imports

    def instantiate(self, store: wasmtime.Store, module: wasmtime.Module,
                    linker: wasmtime.Linker | None = None) -> wasmtime.Instance:
        """Link WASI (into `linker`, or a new one) and instantiate `module` in `store`."""
        shell = self._shell
        if linker is None and shell is not None and store.engine is shell.engine:
            pre = shell.pre(module)  # linked once per engine and module
            self.prepare_store(store)
            self._store = store
            return pre.instantiate(store)
        if linker is None:
            linker = wasmtime.Linker(store.engine)
        self.link(linker)
        self.prepare_store(store)
        self._store = store
        return linker.instantiate(store, module)

    # --- running ----------------------------------------------------------------------------------

    def start(self, instance: wasmtime.Instance, store: wasmtime.Store | None = None) -> int:
        """Run a command's `_start`; returns its exit code, 0 when `_start` returns, as Node
        (the code is the signed i32 the guest passed to proc_exit). With return_on_exit=False,
        proc_exit raises SystemExit instead: the WASI instance is closed and the process exits.

        A limit that stops the run raises its `LimitExceeded`; Ctrl-C raises
        KeyboardInterrupt and SIGTERM `vfswasi.Terminated` (exit 143), after the guest was
        unwound (close the instance, or use `run()`/`with`, to save the mounts)."""
        store = self._claim(instance, store, "_start", forbidden="_initialize")
        code = 0
        try:
            with self._guest_running(instance, store):
                instance.exports(store)["_start"](store)  # type: ignore[operator]
            if self._tracer is not None:
                self._tracer.exited(0)
        except WASIExit as e:
            code = _signed32(e.code)
        except SystemExit:
            self.close()  # flushes stdio too
            raise
        finally:
            self._flush()
            self._account(instance, store)
        if code != 0 and (stop := self._memory_exhausted(instance, store)) is not None:
            self.ctx.usage.limit = stop.limit
            raise stop
        return code

    @contextmanager
    def _guest_running(self, instance: wasmtime.Instance,
                       store: wasmtime.Store) -> Iterator[None]:
        """Around every entry into the guest: signals only record a stop, and a trap that
        carried a stop (or a run out of memory) becomes the stop's own exception."""
        control = self.ctx.control
        self._begin()
        with signals_stop(control):
            self._exit[0] = None
            try:
                yield
            except Exception as e:
                code, self._exit[0] = self._exit[0], None
                if code is not None and (isinstance(e, WASIExit) or "WASIExit" in str(e)):
                    # the guest's own proc_exit, even when the exception that carried it
                    # was overwritten by another thread's (see `_recording_exit`)
                    raise WASIExit(code) from None
                if isinstance(e, WASIExit):
                    raise
                stop = stop_exception(control, e) or self._memory_exhausted(instance, store)
                if stop is None:
                    raise
                self.ctx.usage.limit = getattr(stop, "limit", control.reason)
                raise stop from None
        if control.reason is not None:  # a stop asked just as the guest returned
            self.ctx.usage.limit = control.reason
            raise stop_exception(control, None)  # type: ignore[misc]

    def _memory_exhausted(self, instance: wasmtime.Instance,
                          store: wasmtime.Store) -> LimitExceeded | None:
        """A guest whose memory.grow hit `max_memory` sees -1 and usually aborts or exits
        non-zero; wasmtime does not say why, nor how much the failed grow asked for. So a
        failed run whose memory is within a sixteenth of the limit (at least 2 MiB) is
        taken to have run out of it: allocators grow in steps much smaller than that."""
        limit = self.limits.max_memory
        if limit is None:
            return None
        memory = instance.exports(store).get("memory")
        margin = max(2 << 20, limit // 16)
        if isinstance(memory, wasmtime.Memory) and memory.data_len(store) + margin > limit:
            return MemoryLimitExceeded(f"the guest's memory reached max_memory ({limit} bytes)")
        return None

    def _begin(self) -> None:
        self.ctx.control.begin()
        if self._started_at is None:
            self._started_at = (time.monotonic(), time.process_time())

    def _account(self, instance: wasmtime.Instance, store: wasmtime.Store) -> None:
        """Fill in the usage report's totals (see `Usage`)."""
        usage = self.ctx.usage
        if self._started_at is not None:
            usage.wall_time = time.monotonic() - self._started_at[0]
            usage.cpu_time = time.process_time() - self._started_at[1]
        if self.limits.fuel is not None:
            try:
                usage.fuel = self.limits.fuel - store.get_fuel()
            except wasmtime.WasmtimeError:
                pass
        memory = instance.exports(store).get("memory")
        if isinstance(memory, wasmtime.Memory):
            usage.peak_memory = max(usage.peak_memory, memory.data_len(store))
        if usage.limit is None and self.ctx.control.reason is not None:
            usage.limit = self.ctx.control.reason

    def initialize(self, instance: wasmtime.Instance, store: wasmtime.Store | None = None) -> None:
        """Run a reactor's `_initialize` (if it has one); then call its exports freely."""
        store = self._claim(instance, store, None, forbidden="_start")
        init = instance.exports(store).get("_initialize")
        if init is not None:
            if not isinstance(init, wasmtime.Func):
                raise TypeError("instance.exports._initialize is not a function")
            with self._guest_running(instance, store):
                init(store)

    def call(self, instance: wasmtime.Instance, name: str, *args: Any,
             store: wasmtime.Store | None = None) -> Any:
        """Call a reactor's export `name` under this instance's limits: a stop raises its
        `LimitExceeded` (or KeyboardInterrupt / `Terminated`), as from `start()`."""
        store = store or self._store
        if store is None:
            raise TypeError("pass the wasmtime.Store the instance lives in")
        func = instance.exports(store).get(name)
        if not isinstance(func, wasmtime.Func):
            raise TypeError(f"instance.exports.{name} is not a function")
        with self._guest_running(instance, store):
            return func(store, *args)

    def _claim(self, instance: wasmtime.Instance, store: wasmtime.Store | None,
               required: str | None, *, forbidden: str) -> wasmtime.Store:
        store = store or self._store
        if store is None:
            raise TypeError("pass the wasmtime.Store the instance lives in")
        if self._started:
            raise RuntimeError("WASI instance has already started")
        exports = instance.exports(store)
        if required is not None and not isinstance(exports.get(required), wasmtime.Func):
            raise TypeError(f"instance.exports.{required} is not a function")
        if exports.get(forbidden) is not None:
            raise TypeError(f"instance.exports.{forbidden} must not be present")
        if not isinstance(exports.get("memory"), wasmtime.Memory):
            raise TypeError("instance.exports.memory is not a WebAssembly.Memory")
        self._started = True
        self._store = store
        self.prepare_store(store)
        return store

    # --- lifetime -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        for _fd, entry in self.ctx.fds.items():
            if isinstance(entry, StreamEntry):
                entry.stream.flush()

    def close(self) -> None:
        """Close every fd and release the backends, writing back writable archives
        (idempotent). A Ctrl-C or SIGTERM arriving meanwhile waits until everything is
        saved, then is raised."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            self._close()
        finally:
            self._release_shell()

    def _release_shell(self) -> None:
        """Keep the final usage report, detach from the shell and give it back."""
        shell = self._shell
        if shell is None:
            return
        if hasattr(self, "_hosts"):
            self._final_usage = self.usage
        self._shell = None
        # the shell's Context is the next run's: keep a copy of this run's world
        self.ctx = copy.copy(self.ctx)
        _give_back(shell)

    def _close(self) -> None:
        for ticker in getattr(self, "_tickers", ()):
            ticker.release(self.ctx.control)
        control = self.ctx.control
        asked_before = control.reason
        control.reason = None  # record only what arrives while closing
        failed: list[Exception] = []
        with signals_stop(control):
            self.ctx.fds.close_all()
            for backend in self._backends:
                try:
                    backend.close()
                except Exception as e:  # a writable archive's write-back can fail: close the rest
                    failed.append(e)
            if self._tracer is not None:
                self._tracer.close()
        arrived, control.reason = control.reason, asked_before
        if arrived in ("interrupt", "terminate") and asked_before is None:
            control.reason = arrived
            raise stop_exception(control, None)  # type: ignore[misc]
        if failed:
            raise failed[0]

    def __enter__(self) -> WASI:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _exit_process(code: int) -> None:
    """proc_exit when return_on_exit is False: exit Python from wherever the guest is, as
    Node does, unwinding (and flushing) on the way."""
    raise SystemExit(_signed32(code))


def _seed(deterministic: Deterministic) -> int | None:
    if deterministic is None or deterministic is False:
        return None
    if deterministic is True:
        return 0
    if not isinstance(deterministic, int):
        raise TypeError(f"deterministic must be an int seed, True or None, "
                        f"not {type(deterministic).__name__}")
    return deterministic


def _checked_args(args: Any) -> list[str | bytes]:
    """`args` as a list, or a TypeError naming what is wrong with it."""
    if isinstance(args, (str, bytes, bytearray)):
        raise TypeError(f"args must be a list of strings (the guest's argv, program name "
                        f"first), not a single {type(args).__name__}: {args!r}")
    try:
        items = list(args)
    except TypeError:
        raise TypeError(f"args must be a list of str or bytes, not "
                        f"{type(args).__name__}") from None
    for i, arg in enumerate(items):
        if not isinstance(arg, (str, bytes)):
            raise TypeError(f"args[{i}] must be str or bytes, not {type(arg).__name__}: {arg!r}")
    return items


def _checked_env(env: Any) -> list[tuple[str | bytes, str | bytes]]:
    """`env` as (name, value) pairs, or a TypeError/ValueError naming the variable."""
    if env is None:
        return []
    if not isinstance(env, Mapping):
        raise TypeError(f"env must be a mapping of names to values (a dict), not "
                        f"{type(env).__name__}")
    pairs = []
    for name, value in env.items():
        if not isinstance(name, (str, bytes)):
            raise TypeError(f"env names must be str or bytes, not {type(name).__name__}: "
                            f"{name!r}")
        if not name or ("=" if isinstance(name, str) else b"=") in name:
            raise ValueError(f"env name {name!r} must be non-empty and contain no '='")
        if value is None:
            raise TypeError(f"env[{name!r}] is None: give a str (or bytes) value, or leave "
                            "the variable out")
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"env[{name!r}] must be str or bytes, not "
                            f"{type(value).__name__}: {value!r}")
        pairs.append((name, value))
    return pairs


def _checked_preopens(preopens: Any) -> list[tuple[str, Any]]:
    """`preopens` as (guest path, spec) pairs, or a TypeError/ValueError naming the path."""
    if preopens is None:
        return []
    if not isinstance(preopens, Mapping):
        raise TypeError("preopens must be a mapping of guest paths to filesystems, e.g. "
                        f"{{'/data': './data'}}, not {type(preopens).__name__}")
    seen: dict[str, str] = {}
    for guest in preopens:
        if not isinstance(guest, str):
            raise TypeError(f"preopens keys are guest paths and must be str, not "
                            f"{type(guest).__name__}: {guest!r}")
        if not guest or "\0" in guest:
            raise ValueError(f"preopens key {guest!r} is not a guest path")
        key = posixpath.normpath(guest)
        if key in seen:
            raise ValueError(f"preopens {seen[key]!r} and {guest!r} are the same guest path")
        seen[key] = guest
    return list(preopens.items())


def _signed32(code: int) -> int:
    return code - (1 << 32) if code >= 1 << 31 else code


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def _c_string(value: str | bytes) -> bytes:
    raw = _raw(value)
    if b"\0" in raw:
        raise ValueError(f"args and env may not contain NUL bytes: {value!r}")
    return raw + b"\0"


