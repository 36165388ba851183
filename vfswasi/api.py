"""The public API, modelled on Node's `node:wasi`, in Python spelling.

    wasi = WASI(args=["prog", "x"], preopens={"/data": MemoryFS()})
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi.link(linker)                      # add your own imports to the same linker
    instance = linker.instantiate(store, module)
    exit_code = wasi.start(instance, store)
    wasi.close()

or Node's shape: `imports = wasi.get_import_object(store)` gives
{"wasi_snapshot_preview1": {name: Func}} for `wasmtime.Instance(store, module, [...])`.
`run()` does all of that in one call and captures stdout/stderr; `Program` prepares a module
once to run it many times (see "Per-run reuse" below).

Per-run reuse: building and linking the 46 host functions cost more than a small run itself
(~1 ms). `run()` and `Program.run()` therefore take them from a per-engine pool of *shells*:
a `Context` object the functions were bound to, the functions, a `Linker` holding them and a
`wasmtime.InstancePre` per module. A run re-initialises the shell's Context in place (fresh
fds, args, environment, clocks, limits, stop state, usage), so the callbacks, which close over
that object, serve the new run and nothing of the previous one; the shell goes back to the pool
when the WASI instance closes. One shell serves one run at a time: concurrent runs each take
their own.
"""

from __future__ import annotations

import atexit
import copy
import io
import os
import posixpath
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from . import syscalls
from .abi import RIGHTS_DIR, RIGHTS_DIR_INHERITING, RIGHTS_TTY, Rights
from .backends import open_backend
from .clocks import SeededEntropy, VirtualClock
from .context import LAYOUTS, MODULE_NAMES, Context
from .control import EpochTicker, RunControl, configure_store, signals_stop, stop_exception
from .fastcall import HostFunctions
from .fdtable import DirEntry, StreamEntry
from .limits import LimitExceeded, Limits, MemoryLimitExceeded, Usage
from .modules import WasmSource, default_engine, imported_wasi_versions, load_module
from .quota import StorageAccount
from .sockets import socket_entry
from .stdio import StdioSpec, open_stream
from .syscalls.proc import WASIExit
from .trace import TraceSpec, open_tracer

__all__ = ["WASI", "WASIExit", "RunResult", "run", "Program", "archive", "Deterministic"]

#: `deterministic=` takes a seed (an int), True (seed 0), or None/False (the real world)
Deterministic = int | bool | None


def archive(source: Any, **options: Any) -> Any:
    """A zip or tar archive as a preopen: read-only, or `writable=True` (written back when the
    WASI instance closes). See `vfswasi.backends.archive.archive` for the options."""
    from .backends.archive import archive as make

    return make(source, **options)

#: the instance-wide accounts WASI instances made: a backend charging one of these was
#: attached by an earlier instance and gets the new one's; any other account is the user's
_INSTANCE_ACCOUNTS: weakref.WeakSet[StorageAccount] = weakref.WeakSet()

_STDIN_RIGHTS = RIGHTS_TTY & ~Rights.FD_WRITE
_STDOUT_RIGHTS = RIGHTS_TTY & ~Rights.FD_READ


class _Shell:
    """Host functions built once and reused run after run on one engine (see the module
    docstring): a Context object that each run re-initialises in place, the functions bound
    to it, a Linker holding them and an InstancePre per module. One run at a time."""

    def __init__(self, engine: wasmtime.Engine, versions: tuple[str, ...]) -> None:
        self.engine, self.versions = engine, versions
        self.ctx = Context(versions[0], [], [], limits=Limits.none())
        #: the same world through each ABI (`Context.for_version`), as the functions see it
        self.views = {v: self.ctx.for_version(v) for v in versions}
        # the functions refresh this memory and check this stop state: every run uses them
        self.mem, self.control = self.ctx.mem, self.ctx.control
        #: the exit code the running guest passed to proc_exit (see `_recording_exit`)
        self.exit_cell: list[int | None] = [None]
        self.hosts = {v: HostFunctions(_recording_exit(syscalls.bind(self.views[v]),
                                                       self.exit_cell),
                                       self.mem, control=self.control) for v in versions}
        self.linker = wasmtime.Linker(engine)
        for v, host in self.hosts.items():
            host.define(self.linker, MODULE_NAMES[v])
        self._pres: weakref.WeakKeyDictionary[wasmtime.Module, wasmtime.InstancePre] = (
            weakref.WeakKeyDictionary())
        #: a run has it (between `_take_shell` and `_give_back`)
        self.busy = False

    def adopt(self, args: list[bytes], env: list[bytes], limits: Limits,
              world: dict[str, Any]) -> Context:
        """The shell's Context, re-initialised for a new run (the previous run's state is
        dropped, never shared: fds, args, env, clocks, usage are new objects)."""
        ctx = self.ctx
        Context.__init__(ctx, self.versions[0], args, env, limits=limits, **world)
        self.mem.forget()
        RunControl.__init__(self.control, ctx.limits)
        ctx.mem, ctx.control = self.mem, self.control
        for version, view in self.views.items():
            if view is not ctx:  # as for_version: a copy of the world, its own layout
                view.__dict__.update(ctx.__dict__)
                view.version, view.layout = version, LAYOUTS[version]
        for host in self.hosts.values():
            host.reset()
        return ctx

    def pre(self, module: wasmtime.Module) -> wasmtime.InstancePre:
        """The module linked against this shell's functions (once per module)."""
        pre = self._pres.get(module)
        if pre is None:
            pre = self._pres[module] = self.linker.instantiate_pre(module)
        return pre


#: free shells kept per (engine, versions); more concurrent runs than this make new ones
_POOL_SIZE = 8
_POOL_LOCK = threading.Lock()
#: engines holding pooled shells, emptied at exit: a shell's Linker and InstancePres must be
#: freed while wasmtime-py still can (at interpreter teardown its C bindings are gone, and
#: each late free prints "Exception ignored ... 'NoneType' object is not callable")
_POOLED: weakref.WeakSet[wasmtime.Engine] = weakref.WeakSet()


@atexit.register
def _drop_pools() -> None:
    with _POOL_LOCK:
        for engine in list(_POOLED):
            engine.__dict__.pop("_vfswasi_shells", None)
        _POOLED.clear()


def _take_shell(engine: wasmtime.Engine, versions: tuple[str, ...]) -> _Shell:
    with _POOL_LOCK:
        # kept on the engine itself: a shell's Linker holds the engine, so a registry keyed
        # by engines would keep every engine alive; this way both go together
        pool: dict[tuple[str, ...], list[_Shell]] = engine.__dict__.setdefault(
            "_vfswasi_shells", {})
        _POOLED.add(engine)
        free = pool.get(versions)
        if free:
            shell = free.pop()
            shell.busy = True
            return shell
    shell = _Shell(engine, versions)
    shell.busy = True
    return shell


def _give_back(shell: _Shell) -> None:
    """Return a shell to its engine's pool (once: giving back a free shell does nothing)."""
    with _POOL_LOCK:
        if not shell.busy:
            return
        shell.busy = False
        free = shell.engine.__dict__["_vfswasi_shells"].setdefault(shell.versions, [])
        if len(free) < _POOL_SIZE:
            free.append(shell)


def _recording_exit(table: dict[str, tuple[str, Any, bool]],
                    cell: list[int | None]) -> dict[str, tuple[str, Any, bool]]:
    """`table` with a proc_exit that first records the code in `cell`. wasmtime-py carries
    a host function's exception to the caller through one process-wide variable, which a
    run in another thread can overwrite in between; the recorded code is the run's own."""
    entry = table.get("proc_exit")
    if entry is not None:
        sig, fn, returns = entry

        def proc_exit(code: int) -> None:
            cell[0] = code
            fn(code)

        table["proc_exit"] = (sig, proc_exit, returns)
    return table


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


@dataclass
class RunResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    #: what the run used, and which limit (if any) ended it
    usage: Usage = field(default_factory=Usage)


def run(
    wasm: WasmSource,
    *,
    args: Iterable[str | bytes] | None = None,
    env: Mapping[str, str] | None = None,
    preopens: Mapping[str, Any] | None = None,
    stdin: StdioSpec = b"",
    stdout: StdioSpec | None = None,
    stderr: StdioSpec | None = None,
    version: str | Sequence[str] | None = None,
    engine: wasmtime.Engine | None = None,
    sockets: Iterable[socket.socket] = (),
    trace: TraceSpec = None,
    limits: Limits | None = None,
    timeout: float | None = None,
    deterministic: Deterministic = None,
) -> RunResult:
    """Run a WASI command to completion; stdout/stderr are captured unless given.

    args defaults to [program name]; version defaults to every WASI ABI the module imports
    (a module importing both wasi_unstable and preview1 gets both, sharing one fd table).
    sockets, trace, limits and deterministic are as for `WASI`; `timeout=` is a shortcut for
    `limits=Limits(timeout=...)`. The default engine is set up for the limits (epochs, and
    fuel when `limits.fuel` is set; no epochs with `Limits.none()`); your own `engine` needs epoch interruption for a timeout
    to stop pure wasm, and fuel metering for `limits.fuel`.

    The WASI instance is always closed (writable archives written back) before this returns
    or raises. A trap propagates as `wasmtime.Trap`, a limit as its `LimitExceeded`, Ctrl-C
    as KeyboardInterrupt, SIGTERM as `vfswasi.Terminated`; each carries what the guest wrote
    so far as `stdout` and `stderr` attributes, and a `LimitExceeded` its `usage`.

    The host functions come linked from a per-engine pool (see the module docstring), so a
    run costs its own work and little more; `Program` also keeps the module at hand.
    """
    limits = _limits(limits, timeout)
    return Program(wasm, engine=engine, version=version, fuel=limits.fuel is not None,
                   epochs=not limits.unbounded).run(
        args=args, env=env, preopens=preopens, stdin=stdin, stdout=stdout, stderr=stderr,
        sockets=sockets, trace=trace, limits=limits, deterministic=deterministic)


def _limits(limits: Limits | None, timeout: float | None) -> Limits:
    limits = limits if limits is not None else Limits()
    return limits if timeout is None else limits.replace(timeout=timeout)


class Program:
    """A WASI command prepared once to run many times (a test suite, a property test, a
    service running one tool per request).

        prog = vfswasi.Program("wc.wasm")
        for text in inputs:
            result = prog.run(args=["wc"], stdin=text)

    Compiles (or loads from the module cache) once, and links the module once per engine
    against pooled host functions (a `wasmtime.InstancePre`): each `run()` then only builds
    the run's own world (fds, mounts, stdio), instantiates and runs. Every run is as separate
    as with `vfswasi.run`: its own fds, files, args, environment, clocks and usage.

    engine: default `vfswasi`'s shared engine (epoch interruption; `fuel=True` picks the one
    with fuel metering, needed for `Limits(fuel=...)`; `epochs=False` the one without epoch
    checks, for runs with `Limits.none()`, whose Ctrl-C stops at the next WASI call). version: default every WASI ABI the
    module imports. Safe to use from several threads: concurrent runs take separate host
    functions.
    """

    def __init__(self, wasm: WasmSource, *, engine: wasmtime.Engine | None = None,
                 version: str | Sequence[str] | None = None, fuel: bool = False,
                 epochs: bool = True) -> None:
        self.engine = engine or default_engine(fuel=fuel, epochs=epochs)
        self.module = load_module(wasm, self.engine)
        if version is None:
            version = imported_wasi_versions(self.module) or "preview1"
        self.version = version
        #: argv[0] when `run` gets no args
        self.name = (os.path.basename(os.fspath(wasm)) if isinstance(wasm, (str, os.PathLike))
                     else "main.wasm")

    def run(
        self,
        *,
        args: Iterable[str | bytes] | None = None,
        env: Mapping[str, str] | None = None,
        preopens: Mapping[str, Any] | None = None,
        stdin: StdioSpec = b"",
        stdout: StdioSpec | None = None,
        stderr: StdioSpec | None = None,
        sockets: Iterable[socket.socket] = (),
        trace: TraceSpec = None,
        limits: Limits | None = None,
        timeout: float | None = None,
        deterministic: Deterministic = None,
    ) -> RunResult:
        """Run the command once; arguments, result and exceptions as for `vfswasi.run`."""
        limits = _limits(limits, timeout)
        if args is None:
            args = [self.name]
        out = io.BytesIO() if stdout is None else stdout
        err = io.BytesIO() if stderr is None else stderr

        def captured(stream: Any, given: Any) -> bytes:
            return stream.getvalue() if given is None else b""

        versions = ((self.version,) if isinstance(self.version, str)
                    else tuple(dict.fromkeys(self.version)))
        # a traced run wraps its functions in the tracer: those are built for it alone
        shell = (_take_shell(self.engine, versions)
                 if trace is None and versions and set(versions) <= set(MODULE_NAMES)
                 else None)
        wasi: WASI | None = None
        try:
            with WASI(version=self.version, args=args, env=env, preopens=preopens,
                      stdin=stdin, stdout=out, stderr=err, sockets=sockets, trace=trace,
                      limits=limits, deterministic=deterministic, _shell=shell) as wasi:
                store = wasmtime.Store(self.engine)
                instance = wasi.instantiate(store, self.module)
                code = wasi.start(instance, store)
        except BaseException as e:
            if wasi is None and shell is not None:  # WASI() refused its arguments
                _give_back(shell)  # (a no-op if its close() gave it back already)
            # What the guest printed before it trapped is often the explanation.
            e.stdout, e.stderr = captured(out, stdout), captured(err, stderr)  # type: ignore[attr-defined]
            if wasi is not None and getattr(e, "usage", None) is None:
                e.usage = wasi.usage  # type: ignore[attr-defined]
            raise
        return RunResult(code, captured(out, stdout), captured(err, stderr), wasi.usage)
