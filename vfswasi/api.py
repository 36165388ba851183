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
`run()` does all of that in one call and captures stdout/stderr.
"""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import wasmtime

from . import syscalls
from .abi import RIGHTS_DIR, RIGHTS_DIR_INHERITING, RIGHTS_TTY, Rights
from .backends import open_backend
from .context import MODULE_NAMES, Context
from .fastcall import HostFunctions
from .fdtable import DirEntry, StreamEntry
from .modules import WasmSource, default_engine, imported_wasi_versions, load_module
from .sockets import socket_entry
from .stdio import StdioSpec, open_stream
from .syscalls.proc import WASIExit
from .trace import TraceSpec, open_tracer

__all__ = ["WASI", "WASIExit", "RunResult", "run", "archive"]


def archive(source: Any, **options: Any) -> Any:
    """A zip or tar archive as a preopen: read-only, or `writable=True` (written back when the
    WASI instance closes). See `vfswasi.backends.archive.archive` for the options."""
    from .backends.archive import archive as make

    return make(source, **options)

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
        fast: bool = True,
    ) -> None:
        versions = (version,) if isinstance(version, str) else tuple(dict.fromkeys(version))
        if not versions or any(v not in MODULE_NAMES for v in versions):
            raise ValueError(f"version must be one of {sorted(MODULE_NAMES)} (or several), "
                             f"not {version!r}")
        self.version, self.versions = versions[0], versions
        self.return_on_exit = return_on_exit
        self._tracer = open_tracer(trace)
        self.ctx = Context(
            self.version,
            [_c_string(a) for a in args],
            [_c_string(f"{k}={v}") for k, v in (env or {}).items()],
        )
        self._backends = []
        fds = self.ctx.fds
        fds.insert(StreamEntry(open_stream(stdin, "stdin"), _STDIN_RIGHTS))
        fds.insert(StreamEntry(open_stream(stdout, "stdout"), _STDOUT_RIGHTS))
        fds.insert(StreamEntry(open_stream(stderr, "stderr"), _STDOUT_RIGHTS))
        try:
            for guest_path, spec in (preopens or {}).items():
                backend = open_backend(spec)
                self._backends.append(backend)
                fds.insert(DirEntry(backend, backend.root(), RIGHTS_DIR, RIGHTS_DIR_INHERITING,
                                    owned=False, preopen=guest_path))
            for sock in sockets:
                # After the directories: wasi-libc's preopen scan stops at the first EBADF.
                fds.insert(socket_entry(sock))
        except BaseException:
            self.close()
            raise
        self._hosts = {v: self._host_functions(self.ctx.for_version(v), fast) for v in versions}
        self._store: wasmtime.Store | None = None
        self._started = False
        self._closed = False
        self.wasi_import: dict[str, wasmtime.Func] = {}

    def _host_functions(self, ctx: Context, fast: bool) -> HostFunctions:
        table = syscalls.bind(ctx)
        if not self.return_on_exit:
            sig, _proc_exit, returns = table["proc_exit"]
            table["proc_exit"] = (sig, _exit_process, returns)
        if self._tracer is not None:  # only then: untraced calls go straight to the syscall
            table = self._tracer.wrap(table, ctx)
        return HostFunctions(table, ctx.mem, fast=fast)

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

    def get_import_object(self, store: wasmtime.Store) -> dict[str, dict[str, wasmtime.Func]]:
        """Node's getImportObject(): {module name: {function name: Func}} in `store`."""
        self._store = store
        imports = {MODULE_NAMES[v]: host.funcs(store) for v, host in self._hosts.items()}
        self.wasi_import = imports[self.module_name]
        return imports

    def instantiate(self, store: wasmtime.Store, module: wasmtime.Module,
                    linker: wasmtime.Linker | None = None) -> wasmtime.Instance:
        """Link WASI (into `linker`, or a new one) and instantiate `module` in `store`."""
        if linker is None:
            linker = wasmtime.Linker(store.engine)
        self.link(linker)
        self._store = store
        return linker.instantiate(store, module)

    # --- running ----------------------------------------------------------------------------------

    def start(self, instance: wasmtime.Instance, store: wasmtime.Store | None = None) -> int:
        """Run a command's `_start`; returns its exit code, 0 when `_start` returns, as Node
        (the code is the signed i32 the guest passed to proc_exit). With return_on_exit=False,
        proc_exit raises SystemExit instead: the WASI instance is closed and the process exits."""
        store = self._claim(instance, store, "_start", forbidden="_initialize")
        try:
            instance.exports(store)["_start"](store)  # type: ignore[operator]
            code = 0
        except WASIExit as e:
            code = _signed32(e.code)
        except SystemExit:
            self.close()  # flushes stdio too
            raise
        finally:
            self._flush()
        return code

    def initialize(self, instance: wasmtime.Instance, store: wasmtime.Store | None = None) -> None:
        """Run a reactor's `_initialize` (if it has one); then call its exports freely."""
        store = self._claim(instance, store, None, forbidden="_start")
        init = instance.exports(store).get("_initialize")
        if init is not None:
            if not isinstance(init, wasmtime.Func):
                raise TypeError("instance.exports._initialize is not a function")
            init(store)

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
        return store

    # --- lifetime -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        for _fd, entry in self.ctx.fds.items():
            if isinstance(entry, StreamEntry):
                entry.stream.flush()

    def close(self) -> None:
        """Close every fd and release the backends (idempotent)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self.ctx.fds.close_all()
        failed: list[Exception] = []
        for backend in self._backends:
            try:
                backend.close()
            except Exception as e:  # a writable archive's write-back can fail: close the rest
                failed.append(e)
        if self._tracer is not None:
            self._tracer.close()
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


def _signed32(code: int) -> int:
    return code - (1 << 32) if code >= 1 << 31 else code


def _c_string(value: str | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    if b"\0" in raw:
        raise ValueError(f"args and env may not contain NUL bytes: {value!r}")
    return raw + b"\0"


@dataclass
class RunResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


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
) -> RunResult:
    """Run a WASI command to completion; stdout/stderr are captured unless given.

    args defaults to [program name]; version defaults to every WASI ABI the module imports
    (a module importing both wasi_unstable and preview1 gets both, sharing one fd table).
    sockets and trace are as for `WASI`. A trap propagates as `wasmtime.Trap` (the WASI
    instance is closed first), with what the guest wrote so far as its `stdout` and `stderr`
    attributes.
    """
    engine = engine or default_engine()
    module = load_module(wasm, engine)
    if version is None:
        version = imported_wasi_versions(module) or "preview1"
    if args is None:
        args = [os.path.basename(os.fspath(wasm)) if isinstance(wasm, (str, os.PathLike))
                else "main.wasm"]
    out = io.BytesIO() if stdout is None else stdout
    err = io.BytesIO() if stderr is None else stderr

    def captured(stream: Any, given: Any) -> bytes:
        return stream.getvalue() if given is None else b""

    try:
        with WASI(version=version, args=args, env=env, preopens=preopens, stdin=stdin,
                  stdout=out, stderr=err, sockets=sockets, trace=trace) as wasi:
            store = wasmtime.Store(engine)
            instance = wasi.instantiate(store, module)
            code = wasi.start(instance, store)
    except Exception as e:
        # What the guest printed before it trapped is often the explanation.
        e.stdout, e.stderr = captured(out, stdout), captured(err, stderr)  # type: ignore[attr-defined]
        raise
    return RunResult(code, captured(out, stdout), captured(err, stderr))
