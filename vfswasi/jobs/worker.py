"""The worker's side: a per-process cache of modules, and `run_job` (one job, to the end)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from typing import Any

from ..limits import Limits
from .publish import publish
from .remote import open_mount
from .spec import Job, JobResult, one_line

# --- the worker's side: modules -----------------------------------------------------------------------

_LOCK = threading.RLock()
#: sha256 -> the module's bytes; url/path key -> sha256
_SOURCES: dict[str, bytes] = {}
_KNOWN: dict[Any, str] = {}
#: (sha256, wasmtime version, engine flavour) -> compiled module
_COMPILED: dict[tuple[str, str, str], Any] = {}
_STATS: Counter[str] = Counter()
_COMPILATIONS: Counter[str] = Counter()


class JobError(Exception):
    """A job that cannot be set up (its module, a mount, an output)."""


def worker_stats() -> dict[str, Any]:
    """This process's counts: "jobs" run, "fetched": modules fetched from a URL, "compiled":
    {sha256: times that module was loaded (compiled, or read from the disk cache of compiled
    code)}, which the per-process cache keeps at 1 per engine flavour."""
    with _LOCK:
        return {"pid": os.getpid(), "jobs": _STATS["jobs"], "fetched": _STATS["fetched"],
                "compiled": dict(_COMPILATIONS)}


def _is_url(text: str) -> bool:
    return "://" in text or "::" in text


def _module_source(job: Job) -> tuple[str, bytes]:
    """(sha256, bytes) of the job's module, fetched or read at most once per process."""
    module = job.module
    if isinstance(module, bytes):
        sha = hashlib.sha256(module).hexdigest()
        with _LOCK:
            _SOURCES.setdefault(sha, module)
    else:
        with _LOCK:
            if job.sha256 is not None and job.sha256 in _SOURCES:
                return job.sha256, _SOURCES[job.sha256]
        if _is_url(module) and not module.startswith("file://"):
            key: Any = ("url", module)
        else:
            path = module[len("file://"):] if module.startswith("file://") else module
            try:
                st = os.stat(path)
            except OSError as e:
                raise JobError(f"module {module}: {e.strerror}") from None
            key = ("path", os.path.realpath(path), st.st_mtime_ns, st.st_size)
        with _LOCK:
            sha = _KNOWN.get(key)
            data = _SOURCES.get(sha) if sha else None
            if data is None:
                data = _fetch(module, key)
                sha = hashlib.sha256(data).hexdigest()
                _KNOWN[key] = sha
                _SOURCES[sha] = data
    if job.sha256 is not None and sha != job.sha256:
        raise JobError(f"module {job.program}: its sha256 is {sha}, the job pins {job.sha256}")
    return sha, _SOURCES[sha]


def _fetch(module: str, key: Any) -> bytes:
    try:
        if key[0] == "path":
            with open(key[1], "rb") as f:
                return f.read()
        import fsspec

        with fsspec.open(module, "rb") as f:
            data = f.read()
        _STATS["fetched"] += 1
        return data
    except (OSError, ValueError, ImportError) as e:
        raise JobError(f"module {module}: {one_line(e)}") from None


def _compiled(sha: str, data: bytes, engine: Any) -> Any:
    from ..modules import _FLAVOUR_OF, _wasmtime_version, load_module

    key = (sha, _wasmtime_version(), _FLAVOUR_OF.get(engine, "custom"))
    with _LOCK:
        module = _COMPILED.get(key)
        if module is None:
            try:
                module = load_module(data, engine)
            except Exception as e:  # wasmtime's own error for an invalid module
                raise JobError(f"module: {one_line(e)}") from None
            _COMPILED[key] = module
            _COMPILATIONS[sha] += 1
        return module



def run_job(job: Job) -> JobResult:
    """Run one job here, to the end; never raises for the job's own failures (they are in the
    result), only for Ctrl-C / SIGTERM."""
    import wasmtime

    from ..api import run
    from ..limits import LimitExceeded
    from ..modules import default_engine

    with _LOCK:
        _STATS["jobs"] += 1
    result = JobResult(name=job.name)
    limits = job.limits if job.limits is not None else Limits()
    engine = default_engine(fuel=limits.fuel is not None)
    overlays: dict[str, Any] = {}
    preopens: dict[str, Any] = {}
    try:
        try:
            sha, data = _module_source(job)
            module = _compiled(sha, data, engine)
            from ..backends.memory import MemoryBackend
            from ..backends.overlay import Overlay

            for guest in job.outputs:
                spec = job.mounts.get(guest, "mem://")
                lower = (MemoryBackend() if spec == "mem://"
                         else _mount(guest, spec[len("overlay:"):]))
                overlays[guest] = Overlay(lower)
            for guest, spec in job.mounts.items():
                if guest not in overlays:
                    preopens[guest] = _mount(guest, spec)
            preopens.update(overlays)
        except JobError as e:
            result.error = str(e)
            return result
        try:
            ran = run(module, args=list(job.args) or [job.program], env=dict(job.env),
                      preopens=preopens, stdin=job.stdin, limits=limits,
                      deterministic=job.deterministic, engine=engine)
        except LimitExceeded as e:
            result.stdout, result.stderr = getattr(e, "stdout", b""), getattr(e, "stderr", b"")
            result.usage = e.usage
            result.error = one_line(e)
            return result
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            result.stdout, result.stderr = getattr(e, "stdout", b""), getattr(e, "stderr", b"")
            result.usage = getattr(e, "usage", None)
            result.error = f"trap: {one_line(e)}"
            return result
        except Exception as e:  # a mount failing to open or close, a bad argument
            result.stdout, result.stderr = getattr(e, "stdout", b""), getattr(e, "stderr", b"")
            result.error = f"{type(e).__name__}: {one_line(e)}"
            return result
        result.exit_code, result.stdout, result.stderr = ran.exit_code, ran.stdout, ran.stderr
        result.usage = ran.usage
        if ran.exit_code == 0:
            for guest, url in job.outputs.items():
                try:
                    if not publish(overlays[guest], url):
                        result.reused.append(guest)
                except Exception as e:
                    result.error = f"output {guest} -> {url}: {one_line(e)}"
                    return result
                result.outputs[guest] = url
        return result
    finally:
        for ov in overlays.values():
            try:
                ov.close()
            except Exception:  # noqa: BLE001 - releasing a read-only lower cannot matter now
                pass


def _mount(guest: str, spec: str) -> Any:
    try:
        return open_mount(spec)
    except Exception as e:
        raise JobError(f"mount {guest}={spec}: {one_line(e)}") from None
