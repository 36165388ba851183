"""Run a wasm guest against a tree and capture everything a test asserts on.

    result = run_wasi("wc.wasm", {"a.txt": b"one two\\n"}, args=["wc", "a.txt"])
    result.exit_code, result.stdout, result.tree, result.links

The tree is preopened at `mount` ("/" by default, so wasi-libc programs find it under both
"/a.txt" and "a.txt"). `backend` picks who serves it:

- "memory": vfswasi over a `MemoryFS` (the caller's own one when `tree` is a MemoryFS, so its
  changes are visible there afterwards);
- "host": vfswasi over a temporary host directory;
- "wasmtime": wasmtime's own WASI implementation over a temporary host directory; the
  reference to check a program (or vfswasi) against.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import wasmtime
from fs.memoryfs import MemoryFS

from ..api import Deterministic, run
from ..clocks import REALTIME_START_NS
from ..limits import Limits
from ..modules import WasmSource, default_engine, load_module
from .treespec import Tree, build_memfs, hard_links, read_tree, write_tree

__all__ = ["BackendName", "WasiResult", "run_wasi"]

BackendName = Literal["memory", "host", "wasmtime"]
BACKENDS: tuple[BackendName, ...] = ("memory", "host", "wasmtime")


@dataclass
class WasiResult:
    """What a guest run produced."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    #: the mount's content afterwards (`read_tree`: files as bytes, symlinks as `Symlink`)
    tree: Tree
    #: groups of paths that name one file afterwards (`hard_links`)
    links: list[tuple[str, ...]] = field(default_factory=list)
    #: the MemoryFS the guest ran on ("memory" backend), for further inspection
    fs: MemoryFS | None = None

    @property
    def out(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes kept as surrogate escapes)."""
        return self.stdout.decode("utf-8", "surrogateescape")

    @property
    def err(self) -> str:
        """stderr decoded like `out`."""
        return self.stderr.decode("utf-8", "surrogateescape")


def run_wasi(
    wasm: WasmSource,
    tree: Tree | MemoryFS | None = None,
    *,
    args: Sequence[str] | None = None,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    mount: str = "/",
    backend: BackendName = "memory",
    limits: Limits | None = None,
    deterministic: Deterministic = 0,
) -> WasiResult:
    """Run WASI command `wasm` with `tree` (a spec dict, a MemoryFS, or None for an empty
    one) preopened at `mount`; see the module docstring for `backend`.

    `args` defaults to ["main"]. A trap propagates as the engine's exception, a limit hit as
    its `vfswasi.LimitExceeded`. Runs are deterministic by default (seed 0: virtual clocks,
    seeded random_get, see `vfswasi.clocks`), so a failing hypothesis example replays
    exactly; pass `deterministic=None` for the real clocks. `limits` and `deterministic`
    apply to vfswasi's backends, not to wasmtime's own WASI.
    """
    options = {"limits": limits, "deterministic": deterministic}
    argv = list(args) if args is not None else ["main"]
    env = dict(env or {})
    if backend == "memory":
        if isinstance(tree, MemoryFS):
            memfs = tree
        else:
            memfs = build_memfs(tree or {})
            if deterministic is not None and deterministic is not False:
                _born_at_the_virtual_epoch(memfs)
        res = run(wasm, args=argv, env=env, preopens={mount: memfs}, stdin=stdin, **options)
        return WasiResult(res.exit_code, res.stdout, res.stderr, read_tree(memfs),
                          hard_links(memfs), memfs)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    spec = read_tree(tree, hard_links=True) if isinstance(tree, MemoryFS) else tree or {}
    with tempfile.TemporaryDirectory(prefix="vfswasi-") as tmp:
        root = os.path.join(tmp, "mount")
        os.mkdir(root)
        write_tree(spec, root)
        if backend == "host":
            res = run(wasm, args=argv, env=env, preopens={mount: root}, stdin=stdin, **options)
            code, out, err = res.exit_code, res.stdout, res.stderr
        else:
            code, out, err = run_native(wasm, argv, env, {mount: root}, stdin, Path(tmp))
        return WasiResult(code, out, err, read_tree(root), hard_links(root))


def run_native(wasm: WasmSource, args: Sequence[str], env: Mapping[str, str],
               preopens: Mapping[str, str], stdin: bytes,
               scratch: Path) -> tuple[int, bytes, bytes]:
    """Run `wasm` on wasmtime's own WASI with host-directory `preopens` {guest: host};
    (exit code, stdout, stderr). `scratch` is a directory for the stdio files."""
    engine = default_engine()  # the same engine as vfswasi.run: compiled modules are shared
    module = load_module(wasm, engine)
    cfg = wasmtime.WasiConfig()
    cfg.argv = list(args)
    cfg.env = list(env.items())
    for guest, host in preopens.items():
        cfg.preopen_dir(host, guest)
    stdio = {name: scratch / f"stdio.{name}" for name in ("in", "out", "err")}
    stdio["in"].write_bytes(stdin)
    cfg.stdin_file = str(stdio["in"])
    cfg.stdout_file = str(stdio["out"])
    cfg.stderr_file = str(stdio["err"])
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(1 << 62)  # an epoch engine: no vfswasi limits on wasmtime's WASI
    store.set_wasi(cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, module)
    code = 0
    try:
        instance.exports(store)["_start"](store)  # type: ignore[operator]
    except wasmtime.ExitTrap as e:
        code = e.code
    return code, stdio["out"].read_bytes(), stdio["err"].read_bytes()


def _born_at_the_virtual_epoch(memfs: MemoryFS) -> None:
    """A tree built from a spec for a deterministic run gets the virtual clock's start as
    every time (a spec has no times; the real ones would differ from run to run)."""
    seconds = REALTIME_START_NS / 1e9
    stack = [memfs.root]
    while stack:  # iterative: a spec may be deep
        entry = stack.pop()
        entry.created_time = entry.accessed_time = entry.modified_time = seconds
        if entry.is_dir:
            stack.extend(entry._dir.values())
