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
once to run it many times, taking its host functions from a per-engine pool
(`vfswasi.shells`). `WASI` itself lives in `vfswasi.instance`.
"""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from .context import MODULE_NAMES
from .instance import WASI, Deterministic
from .limits import Limits, Usage
from .modules import WasmSource, default_engine, imported_wasi_versions, load_module
from .shells import _give_back, _take_shell
from .stdio import StdioSpec
from .syscalls.proc import WASIExit
from .trace import TraceSpec

__all__ = ["WASI", "WASIExit", "RunResult", "run", "Program", "archive", "Deterministic"]


def archive(source: Any, **options: Any) -> Any:
    """A zip or tar archive as a preopen: read-only, or `writable=True` (written back when the
    WASI instance closes). See `vfswasi.backends.archive.archive` for the options."""
    from .backends.archive import archive as make

    return make(source, **options)


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

    The host functions come linked from a per-engine pool (see `vfswasi.shells`), so a
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
