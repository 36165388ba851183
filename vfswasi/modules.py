"""Loading wasm modules: one shared engine, an in-process cache, and an on-disk cache of
compiled code (a large module, e.g. a 25 MB CPython, takes ~20 s to compile here).

The disk cache lives in $VFSWASI_CACHE_DIR, else $XDG_CACHE_HOME/vfswasi, else
~/.cache/vfswasi. Entries are keyed by the module's SHA-256 and the wasmtime version, and are
written atomically (temp file + rename). Deserializing runs native code, so the cache
directory must be as trusted as the Python installation itself: it is created 0700.

The cache holds at most $VFSWASI_CACHE_SIZE bytes (a size such as 500M or 2G; default 1G;
0 turns the disk cache off): each new entry prunes the least recently used ones beyond it
(a hit sets the entry's atime, which orders them; its mtime stays when it was compiled). `vfswasi cache info` / `vfswasi cache clear`
(`cache_info()`, `clear_cache()`) show and empty it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import wasmtime

_ENGINES: dict[tuple[bool, bool], wasmtime.Engine] = {}
_MEMO: dict[str, wasmtime.Module] = {}

WasmSource = str | os.PathLike[str] | bytes | bytearray | wasmtime.Module


def engine(*, fuel: bool = False, epochs: bool = True) -> wasmtime.Engine:
    """A new engine configured as vfswasi runs guests.

    epochs: wasmtime's epoch interruption, so a timeout or Ctrl-C stops a guest spinning in
    pure wasm. Compiled code then checks the epoch at every function entry and loop header,
    which costs call-heavy compute code up to ~20% (measured in bench/README.md); without
    it, stops take effect at the guest's next WASI call.
    fuel: fuel metering (slower still: only for runs with a fuel limit).
    A store on an epoch engine must have an epoch deadline before it runs wasm: `WASI`
    gives it one in `instantiate`, `get_import_object`, `start` and `initialize`
    (or call `wasi.prepare_store(store)` yourself)."""
    config = wasmtime.Config()
    config.epoch_interruption = epochs
    config.consume_fuel = fuel
    made = wasmtime.Engine(config)
    _FLAVOUR_OF[made] = ("epoch" if epochs else "plain") + ("-fuel" if fuel else "")
    return made


def default_engine(*, fuel: bool = False, epochs: bool = True) -> wasmtime.Engine:
    """The shared engine of `run()`, the CLI and `vfswasi.testing` (one per flavour)."""
    found = _ENGINES.get((fuel, epochs))
    if found is None:
        found = _ENGINES[fuel, epochs] = engine(fuel=fuel, epochs=epochs)
    return found


#: engine -> what its config compiles differently (part of the disk cache key), for the
#: engines made here; others are "custom"
_FLAVOUR_OF: weakref.WeakKeyDictionary[wasmtime.Engine, str] = weakref.WeakKeyDictionary()


def cache_dir() -> Path:
    env = os.environ.get("VFSWASI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vfswasi"


#: the cache's default size cap (VFSWASI_CACHE_SIZE overrides it)
DEFAULT_CACHE_SIZE = 1 << 30
#: a temp file older than this is left over from a crashed writer
_STALE_TMP_SECONDS = 3600


def cache_max_bytes() -> int:
    """The cache's size cap from $VFSWASI_CACHE_SIZE (0: no disk cache)."""
    text = os.environ.get("VFSWASI_CACHE_SIZE", "").strip()
    if not text:
        return DEFAULT_CACHE_SIZE
    from .limits import parse_size

    try:
        return parse_size(text)
    except ValueError:
        return DEFAULT_CACHE_SIZE  # a typo must not turn caching into an error


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    size: int
    max_bytes: int


def _entries(directory: Path) -> list[tuple[float, int, Path]]:
    """(last use, size, path) of each cache entry, least recently used first."""
    found = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if not name.endswith(".cwasm"):
            continue
        path = directory / name
        try:
            st = path.stat()
        except OSError:
            continue
        found.append((max(st.st_atime, st.st_mtime), st.st_size, path))
    found.sort()
    return found


def cache_info() -> CacheInfo:
    """Where the disk cache is, how many entries and bytes it holds, and its cap."""
    entries = _entries(cache_dir())
    return CacheInfo(cache_dir(), len(entries), sum(size for _, size, _ in entries),
                     cache_max_bytes())


def clear_cache() -> tuple[int, int]:
    """Remove every entry (and leftover temp file); (entries removed, bytes freed)."""
    directory = cache_dir()
    count = size = 0
    for _, entry_size, path in _entries(directory):
        try:
            path.unlink()
        except OSError:
            continue
        count, size = count + 1, size + entry_size
    _remove_stale_tmp(directory, max_age=0)
    return count, size


def prune_cache(max_bytes: int | None = None) -> int:
    """Remove the least recently used entries until the cache holds at most `max_bytes`
    (default: the cap); the number removed."""
    limit = cache_max_bytes() if max_bytes is None else max_bytes
    directory = cache_dir()
    entries = _entries(directory)
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in entries:
        if total <= limit:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    _remove_stale_tmp(directory, max_age=_STALE_TMP_SECONDS)
    return removed


def _remove_stale_tmp(directory: Path, *, max_age: float) -> None:
    now = time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if name.endswith(".tmp"):
            path = directory / name
            try:
                if now - path.stat().st_mtime >= max_age:
                    path.unlink()
            except OSError:
                pass


@functools.cache
def _wasmtime_version() -> str:
    # The name of the installed wheel's dist-info beside the package says it at the cost of
    # one directory listing; importlib.metadata (the fallback) costs a CLI run ~25 ms.
    site = os.path.dirname(os.path.dirname(os.path.abspath(wasmtime.__file__)))
    try:
        found = [n for n in os.listdir(site)
                 if n.startswith("wasmtime-") and n.endswith(".dist-info")]
    except OSError:
        found = []
    if len(found) == 1:
        return found[0][len("wasmtime-"):-len(".dist-info")]
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
        flavour = _FLAVOUR_OF.get(engine, "custom")
        module = (_compile(engine, data, f"{key}-{flavour}")
                  if disk_cache and cache_max_bytes() > 0 else wasmtime.Module(engine, data))
        _MEMO[memo_key] = module
    return module


def _compile(engine: wasmtime.Engine, data: bytes, key: str) -> wasmtime.Module:
    directory = cache_dir()
    path = directory / f"{key}-{_wasmtime_version()}.cwasm"
    if path.is_file():
        try:
            module = wasmtime.Module.deserialize_file(engine, str(path))
        except wasmtime.WasmtimeError:
            pass  # stale or foreign entry: compile and replace it
        else:
            try:  # recently used: pruned last (set explicitly: relatime would not)
                os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
            except OSError:
                pass
            return module
    module = wasmtime.Module(engine, data)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(module.serialize())
        os.replace(tmp, path)
        prune_cache()
    except OSError:
        pass  # an unwritable cache only costs time
    return module


def imported_wasi_versions(module: wasmtime.Module) -> list[str]:
    """Which WASI ABIs a module imports: "preview1", "unstable", both or neither."""
    from .context import MODULE_NAMES

    names = {imp.module for imp in module.imports}
    return [v for v, m in MODULE_NAMES.items() if m in names]
