"""Per-run reuse: building and linking the 46 host functions cost more than a small run itself
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
import threading
import weakref
from typing import Any

import wasmtime

from . import syscalls
from .context import LAYOUTS, MODULE_NAMES, Context
from .control import RunControl
from .fastcall import HostFunctions
from .limits import Limits


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


