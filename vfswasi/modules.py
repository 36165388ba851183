"""Loading wasm modules: one shared engine, an in-process cache, and an on-disk cache of
compiled code (a large module, e.g. a 25 MB CPython, takes ~20 s to compile here).

The disk cache lives in $VFSWASI_CACHE_DIR, else $XDG_CACHE_HOME/vfswasi, else
~/.cache/vfswasi. Entries are keyed by the module's SHA-256 and the wasmtime version, and are
written atomically (temp file + rename). Deserializing runs native code, so the cache
directory must be as trusted as the Python installation itself: it is created 0700.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import wasmtime

_ENGINES: dict[bool, wasmtime.Engine] = {}
_MEMO: dict[str, wasmtime.Module] = {}
#: what each engine flavour compiles differently: part of the disk cache key
_FLAVOURS = {False: "epoch", True: "epoch-fuel"}

WasmSource = str | os.PathLike[str] | bytes | bytearray | wasmtime.Module


def engine(*, fuel: bool = False) -> wasmtime.Engine:
    """A new engine configured as vfswasi runs guests: with epoch interruption, so a timeout
    or Ctrl-C can stop a guest spinning in pure wasm (measured cost: see bench/README.md),
    and with fuel metering when `fuel` is true (slower: only for runs with a fuel limit).
    A store on such an engine must have an epoch deadline before it runs wasm: `WASI`
    gives it one in `instantiate`, `get_import_object`, `start` and `initialize`
    (or call `wasi.prepare_store(store)` yourself)."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.consume_fuel = fuel
    return wasmtime.Engine(config)


def default_engine(*, fuel: bool = False) -> wasmtime.Engine:
    """The shared engine of `run()`, the CLI and `vfswasi.testing` (one per flavour)."""
    found = _ENGINES.get(fuel)
    if found is None:
        found = _ENGINES[fuel] = engine(fuel=fuel)
        _FLAVOUR_OF[id(found)] = _FLAVOURS[fuel]
    return found


#: engine id -> disk cache flavour, for the engines made here; others are "custom"
_FLAVOUR_OF: dict[int, str] = {}


def cache_dir() -> Path:
    env = os.environ.get("VFSWASI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vfswasi"


def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # noqa: BLE001 - any failure just means "unknown"
        return "unknown"


def load_module(wasm: WasmSource, engine: wasmtime.Engine | None = None, *,
                disk_cache: bool = True) -> wasmtime.Module:
    """A compiled module from a path, wasm/wat bytes or a Module (returned as is)."""
    if isinstance(wasm, wasmtime.Module):
        return wasm
    engine = engine or default_engine()
    data = bytes(wasm) if isinstance(wasm, (bytes, bytearray)) else Path(wasm).read_bytes()
    key = hashlib.sha256(data).hexdigest()
    memo_key = f"{id(engine)}:{key}"
    module = _MEMO.get(memo_key)
    if module is None:
        flavour = _FLAVOUR_OF.get(id(engine), "custom")
        module = (_compile(engine, data, f"{key}-{flavour}") if disk_cache
                  else wasmtime.Module(engine, data))
        _MEMO[memo_key] = module
    return module


def _compile(engine: wasmtime.Engine, data: bytes, key: str) -> wasmtime.Module:
    directory = cache_dir()
    path = directory / f"{key}-{_wasmtime_version()}.cwasm"
    if path.is_file():
        try:
            return wasmtime.Module.deserialize_file(engine, str(path))
        except wasmtime.WasmtimeError:
            pass  # stale or foreign entry: compile and replace it
    module = wasmtime.Module(engine, data)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(module.serialize())
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs time
    return module


def imported_wasi_versions(module: wasmtime.Module) -> list[str]:
    """Which WASI ABIs a module imports: "preview1", "unstable", both or neither."""
    from .context import MODULE_NAMES

    names = {imp.module for imp in module.imports}
    return [v for v, m in MODULE_NAMES.items() if m in names]
