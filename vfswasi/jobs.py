"""Guest runs as data: `Job`, `run_job`, `run_jobs` over any executor, and `vfswasi batch`.

    from vfswasi.jobs import Job, run_jobs
    jobs = [Job("s3://tools/wc.wasm", args=["wc", f"/in/{n}", "/out/count"],
                mounts={"/in": "zip::s3://corpus/docs.zip"},
                outputs={"/out": f"s3://results/{n}.zip"}) for n in names]
    for result in run_jobs(jobs, executor=dask_client):   # or any concurrent.futures.Executor
        print(result.status, result.stdout)

A `Job` is a frozen value that pickles and round-trips through JSON (`to_json` / `from_json`):
the module (a path, an fsspec URL or bytes, optionally pinned by `sha256`), argv, environment,
stdin, mounts *as strings*, outputs, limits and the determinism seed. It never holds a
credential: fsspec filesystems take their options from fsspec's own configuration (the
`FSSPEC_<PROTOCOL>_<OPTION>` environment variables and its config files) on the machine that
runs the job.

Mount strings are everything `preopens` takes as a URL (`mem://`, `zip://a.zip`, `tar+rw://`,
`overlay:SPEC`, `fsspec+PROTOCOL://`, host paths, PyFilesystem2 URLs) plus plain fsspec URLs:
`s3://bucket/prefix/` (a tree, served by the fsspec backend) and chained ones. A zip read
through a chain (`zip::s3://bucket/data.zip`, `zip://sub/dir::s3://...` for a directory inside
it) is served by vfswasi's archive backend over ranged reads (`RangedFile`): mounting it reads
the central directory, and a member is fetched only when the guest reads it. Other chains
(`tar::...`, `simplecache::...`) are fsspec's own filesystems.

`outputs` maps a guest mount (a `mem://` scratch, which it is by default when the guest path is
not in `mounts`, or an `overlay:` mount) to a URL where its final tree (an overlay: its
changes, as `Overlay.export` writes them) is published, only when the job succeeded (exit code
0, no limit hit, no error). A URL ending in .zip, .tar, .tar.gz or .tgz gets an archive, any
other a directory tree. Publishing never leaves a partial result where a reader looks:

- an archive is written under a temporary name beside its URL, then moved over it (a rename)
  on a local disk; on S3, GCS or Azure it is one upload, which those stores show whole or not
  at all; on other fsspec stores, an upload under a temporary name and a server-side copy;
- a local directory is filled under a temporary name, then renamed into place;
- an object store has no rename for a tree: the files are uploaded under a temporary prefix,
  copied into place server-side, and an empty `_SUCCESS` object is written last (the
  Hadoop/Spark convention); a prefix without it is incomplete, and the next attempt replaces it.

Outputs are written once: a job whose output already exists (an archive, a non-empty local
directory, a prefix with `_SUCCESS`) does not write it again and lists it in
`JobResult.reused`. So an engine that retries a job whose worker died after publishing does not
publish twice; to run a batch again, point its outputs somewhere new or remove the old ones.
A killed worker may leave its temporary names (`.NAME.vfswasi-*`) behind, never a final one.

Each worker process loads a module once, keyed by its SHA-256, the wasmtime version and the
engine flavour, in a per-process cache (`worker_stats()` counts loads and fetches); a module
given by URL is fetched once per process (a pinned one not at all once its hash is cached).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import posixpath
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .backends.archive_sources import PositionedReader
from .limits import Limits, Quota, Usage, parse_duration, parse_size

__all__ = ["Job", "JobResult", "RangedFile", "run_job", "run_jobs", "worker_stats",
           "read_jobs", "summary"]

#: URL schemes vfswasi's own preopens understand; any other registered fsspec protocol (or a
#: chained URL with "::") is opened with fsspec
_OWN_SCHEMES = {"osfs", "zip", "tar", "zip+rw", "tar+rw", "mem"}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
#: the object written last into a directory output on an object store
SUCCESS_MARKER = "_SUCCESS"


# --- jobs as data -----------------------------------------------------------------------------------


class FrozenMap(Mapping[str, str]):
    """A read-only str -> str mapping (what `Job` keeps for env, mounts and outputs)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._items,))


def _str_map(value: Any, what: str) -> FrozenMap:
    if not isinstance(value, Mapping):
        raise TypeError(f"Job.{what} must be a mapping of str to str, not {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"Job.{what} must map str to str: {k!r}: {v!r}")
    return FrozenMap(value)


@dataclass(frozen=True)
class Job:
    """One guest run, as data (see the module docstring).

    module: a host path, an fsspec URL or the module's bytes. args: the guest's argv, program
    name first (default: the module's file name). mounts: {guest path: mount string}.
    outputs: {guest path: URL} published on success. sha256: the module's hash, checked
    before it runs. name: a label carried into the result (the CLI's results file)."""

    module: str | bytes
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=FrozenMap)
    stdin: bytes = b""
    mounts: Mapping[str, str] = field(default_factory=FrozenMap)
    outputs: Mapping[str, str] = field(default_factory=FrozenMap)
    limits: Limits | None = None
    deterministic: int | bool | None = None
    sha256: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        module = self.module
        if isinstance(module, os.PathLike):
            module = os.fspath(module)
        if isinstance(module, (bytearray, memoryview)):
            module = bytes(module)
        if not isinstance(module, (str, bytes)) or not module:
            raise TypeError(f"Job.module must be a path, a URL or the module's bytes, "
                            f"not {module!r}")
        put(self, "module", module)
        if isinstance(self.args, (str, bytes)):
            raise TypeError(f"Job.args must be a list of strings, not a single string: "
                            f"{self.args!r}")
        args = tuple(self.args)
        if not all(isinstance(a, str) for a in args):
            raise TypeError(f"Job.args must be strings: {list(args)!r}")
        put(self, "args", args)
        put(self, "env", _str_map(self.env, "env"))
        if isinstance(self.stdin, (bytearray, memoryview)):
            put(self, "stdin", bytes(self.stdin))
        if not isinstance(self.stdin, bytes):
            raise TypeError(f"Job.stdin must be bytes, not {type(self.stdin).__name__}")
        mounts, outputs = _str_map(self.mounts, "mounts"), _str_map(self.outputs, "outputs")
        for guest in (*mounts, *outputs):
            if not guest.startswith("/") or "\0" in guest:
                raise ValueError(f"Job: {guest!r} is not an absolute guest path")
        for guest in outputs:
            spec = mounts.get(guest, "mem://")
            if spec != "mem://" and not spec.startswith("overlay:"):
                raise ValueError(f"Job.outputs[{guest!r}]: an output must be a mem:// or "
                                 f"overlay: mount, not {spec!r}")
        put(self, "mounts", mounts)
        put(self, "outputs", outputs)
        if self.limits is not None and not isinstance(self.limits, Limits):
            raise TypeError(f"Job.limits must be a vfswasi.Limits, not {self.limits!r}")
        if self.deterministic is not None and not isinstance(self.deterministic, (bool, int)):
            raise TypeError(f"Job.deterministic must be a seed (int), True or None, not "
                            f"{self.deterministic!r}")
        if self.sha256 is not None:
            digest = self.sha256.lower() if isinstance(self.sha256, str) else ""
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"Job.sha256 must be 64 hex digits, not {self.sha256!r}")
            put(self, "sha256", digest)
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"Job.name must be a str, not {self.name!r}")

    # JSON: bytes are a string when they are UTF-8 text, else {"base64": ...}; the module's
    # bytes are always {"base64": ...} (a string is a path or a URL)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"module": self.module if isinstance(self.module, str)
                             else {"base64": base64.b64encode(self.module).decode()}}
        if self.sha256:
            d["sha256"] = self.sha256
        if self.name is not None:
            d["name"] = self.name
        if self.args:
            d["args"] = list(self.args)
        for key in ("env", "mounts", "outputs"):
            if getattr(self, key):
                d[key] = dict(getattr(self, key))
        if self.stdin:
            d["stdin"] = _bytes_to_json(self.stdin)
        if self.limits is not None:
            d["limits"] = _limits_to_json(self.limits)
        if self.deterministic is not None:
            d["deterministic"] = self.deterministic
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Job:
        if not isinstance(d, Mapping):
            raise ValueError(f"a job must be a JSON object, not {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown job field(s): {', '.join(sorted(unknown))}")
        if "module" not in d:
            raise ValueError("a job needs a 'module' (a path, a URL or {\"base64\": ...})")
        kw = dict(d)
        module = kw["module"]
        if isinstance(module, Mapping):
            kw["module"] = _bytes_from_json(module, "module")
        if "stdin" in kw:
            kw["stdin"] = _bytes_from_json(kw["stdin"], "stdin")
        if kw.get("limits") is not None:
            kw["limits"] = _limits_from_json(kw["limits"])
        if "args" in kw and not isinstance(kw["args"], list):
            raise ValueError(f"'args' must be a list of strings, not {kw['args']!r}")
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str | bytes) -> Job:
        return cls.from_dict(json.loads(text))

    @property
    def program(self) -> str:
        """argv[0] when `args` is empty: the module's file name."""
        if isinstance(self.module, bytes):
            return "main.wasm"
        return posixpath.basename(self.module.split("::")[0].split("?")[0].rstrip("/")) \
            or "main.wasm"


def _bytes_to_json(data: bytes) -> Any:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def _bytes_from_json(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, Mapping) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except ValueError:
            raise ValueError(f"'{what}': not valid base64") from None
    raise ValueError(f"'{what}' must be a string or {{\"base64\": \"...\"}}, not {value!r}")


_LIMIT_DEFAULTS = Limits()
_SIZES = {"max_memory", "disk_bytes", "max_file_size"}


def _limits_to_json(limits: Limits) -> dict[str, Any]:
    """The fields that differ from `Limits()` (so the defaults are the running machine's)."""
    d: dict[str, Any] = {}
    for f in fields(Limits):
        value = getattr(limits, f.name)
        if f.name == "mounts":
            if value:
                d["mounts"] = {g: {k: v for k, v in asdict(q).items() if v is not None}
                               for g, q in value.items()}
        elif value != getattr(_LIMIT_DEFAULTS, f.name):
            d[f.name] = value
    return d


def _limits_from_json(d: Any) -> Limits:
    """A `Limits` from its JSON form; sizes may be written "64M", the timeout "1.5s"."""
    if not isinstance(d, Mapping):
        raise ValueError(f"'limits' must be an object, not {d!r}")
    names = {f.name for f in fields(Limits)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}")
    kw: dict[str, Any] = {}
    for key, value in d.items():
        if key == "mounts":
            if not isinstance(value, Mapping):
                raise ValueError(f"'limits.mounts' must map guest paths to quotas: {value!r}")
            kw[key] = {g: Quota(**{k: parse_size(v) if isinstance(v, str) else v
                                   for k, v in q.items()}) for g, q in value.items()}
        elif isinstance(value, str) and key == "timeout":
            kw[key] = parse_duration(value)
        elif isinstance(value, str) and key in _SIZES:
            kw[key] = parse_size(value)
        else:
            kw[key] = value
    return Limits(**kw)


# --- results -----------------------------------------------------------------------------------------


@dataclass
class JobResult:
    """What running one `Job` gave. `status`: "ok" (exit code 0, no limit, no error),
    "limit" (a limit stopped it: `usage.limit` says which) or "failed" (a non-zero exit code, a
    trap, or an `error`: the job could not be set up, or its worker died)."""

    exit_code: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    usage: Usage | None = None
    #: {guest path: URL} of the outputs the job has at their URL (written now, or reused)
    outputs: dict[str, str] = field(default_factory=dict)
    #: guest paths of outputs found already published, and not written again
    reused: list[str] = field(default_factory=list)
    error: str | None = None
    name: str | None = None
    #: the job's position in the batch (`run_jobs`)
    index: int | None = None

    @property
    def status(self) -> str:
        if self.usage is not None and self.usage.limit is not None:
            return "limit"
        if self.error is None and self.exit_code == 0:
            return "ok"
        return "failed"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        usage = None
        if self.usage is not None:
            usage = asdict(self.usage)
            usage["calls"] = dict(self.usage.calls)
        return {"index": self.index, "name": self.name, "status": self.status,
                "exit_code": self.exit_code, "error": self.error,
                "stdout": _bytes_to_json(self.stdout), "stderr": _bytes_to_json(self.stderr),
                "outputs": self.outputs, "reused": self.reused, "usage": usage}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


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
        raise JobError(f"module {module}: {_one_line(e)}") from None


def _compiled(sha: str, data: bytes, engine: Any) -> Any:
    from .modules import _FLAVOUR_OF, _wasmtime_version, load_module

    key = (sha, _wasmtime_version(), _FLAVOUR_OF.get(engine, "custom"))
    with _LOCK:
        module = _COMPILED.get(key)
        if module is None:
            try:
                module = load_module(data, engine)
            except Exception as e:  # wasmtime's own error for an invalid module
                raise JobError(f"module: {_one_line(e)}") from None
            _COMPILED[key] = module
            _COMPILATIONS[sha] += 1
        return module


# --- the worker's side: mounts -------------------------------------------------------------------------


#: per worker: (object, size, ETag) -> (offset, the archive's tail bytes), least recent first
_TAILS: OrderedDict[tuple[str, int, str], tuple[int, bytes]] = OrderedDict()
_TAIL_BUDGET = 64 << 20


class RangedFile(PositionedReader):
    """A read-only, seekable file over ranged reads of an fsspec filesystem (`fs.cat_file`):
    what a zip mount in an object store reads through. A read that misses the buffer fetches
    at least `min_fetch` bytes, or, when it continues the last fetch, up to twice as much as it
    (at most `max_fetch`): small random reads cost one small request, a member read from start
    to end costs a few growing ones. `fetched` counts the bytes fetched."""

    def __init__(self, fs: Any, path: str, *, size: int | None = None,
                 min_fetch: int = 8 << 10, max_fetch: int = 8 << 20) -> None:
        super().__init__()
        self.fs, self.path = fs, path
        self._tail_key: tuple[str, int, str] | None = None
        if size is None:
            info = fs.info(path)
            size = int(info["size"])
            etag = info.get("ETag") or info.get("etag")
            if etag:  # the object's version: a cached tail is only ever this object's
                self._tail_key = (f"{fs.protocol}:{path}", size, str(etag))
        self.size = size
        self.min_fetch, self.max_fetch = min_fetch, max_fetch
        self._pos = 0
        self._buf, self._buf_start = b"", 0
        self.fetched = 0
        self.requests = 0
        with _LOCK:
            tail = _TAILS.get(self._tail_key) if self._tail_key else None
        if tail is not None:  # this worker read the same archive's directory before
            self._buf_start, self._buf = tail
        #: every fetch while the archive is mounted (for `keep_tail`), then None
        self._seen: list[tuple[int, bytes]] | None = [] if tail is None else None

    def keep_tail(self, start: int) -> None:
        """Remember bytes [start, EOF) (a zip's central directory and end records) for the
        next mount of the same object in this worker, from what mounting fetched: a later job
        then reads only its members (the HEAD that gives the ETag stays). Ends the record of
        fetches that mounting keeps."""
        seen, self._seen = self._seen, None
        if self._tail_key is None or not seen or not 0 <= start < self.size:
            return
        parts, at = [], start
        for begin, data in sorted(seen, key=lambda r: r[0]):
            if begin <= at < begin + len(data):
                parts.append(data[at - begin:])
                at = begin + len(data)
        if at != self.size:
            return  # not all read while mounting: not worth a request of its own
        tail = b"".join(parts)
        with _LOCK:
            _TAILS[self._tail_key] = (start, tail)
            _TAILS.move_to_end(self._tail_key)
            while sum(len(t) for _, t in _TAILS.values()) > _TAIL_BUDGET and len(_TAILS) > 1:
                _TAILS.popitem(last=False)

    def readinto(self, b: Any) -> int:
        # fills `b` to the end of the file: zipfile takes a short read as a truncated archive
        view = memoryview(b).cast("B")
        want = max(0, min(len(view), self.size - self._pos))
        done = 0
        while done < want:
            start = self._pos
            offset = start - self._buf_start
            if 0 <= offset < len(self._buf):
                n = min(want - done, len(self._buf) - offset)
                view[done:done + n] = self._buf[offset:offset + n]
            else:
                sequential = self._buf and start == self._buf_start + len(self._buf)
                span = max(want - done, min(self.max_fetch, 2 * len(self._buf))
                           if sequential else self.min_fetch)
                if not sequential and start + span > self.size:
                    # near the end (a zip's end records): what precedes comes next
                    start = max(0, self.size - span)
                end = min(self.size, start + span)
                data = self.fs.cat_file(self.path, start=start, end=end)
                self.requests += 1
                self.fetched += len(data)
                if not data:
                    break
                if self._seen is not None:
                    self._seen.append((start, data))
                self._buf, self._buf_start = data, start
                continue
            done += n
            self._pos += n
        return done


def _fsspec_url(spec: str) -> bool:
    """Whether a mount string is a plain or chained fsspec URL (not one of vfswasi's own)."""
    if "::" in spec:
        return True
    scheme, sep, _ = spec.partition("://")
    scheme = scheme.lower()
    if not sep or scheme in _OWN_SCHEMES or scheme.startswith("fsspec+"):
        return False
    try:
        from fsspec.registry import known_implementations, registry
    except ImportError:
        return False
    return scheme in known_implementations or scheme in registry


def open_mount(spec: str) -> Any:
    """The backend for a job's mount string (see the module docstring)."""
    if spec.startswith("overlay:"):
        from .backends.overlay import OverlayBackend

        return OverlayBackend(open_mount(spec[len("overlay:"):]), close_lower=True)
    if not _fsspec_url(spec):
        from .backends import open_backend

        return open_backend(spec)
    import fsspec

    first, _, rest = spec.partition("::")
    scheme = first.partition("://")[0].lower()
    if rest and scheme == "zip":
        # a zip in a (remote) filesystem: vfswasi's archive backend over ranged reads
        from .backends.archive import archive

        subdir = first.partition("://")[2]
        fs, path = fsspec.core.url_to_fs(rest)
        ranged = RangedFile(fs, path)
        mounted = archive(ranged, format="zip", subdir=subdir)
        ranged.keep_tail(mounted.source.zf.start_dir)  # type: ignore[attr-defined]
        return mounted
    from .backends.fsspec import from_fsspec

    fs, root = fsspec.core.url_to_fs(spec)
    return from_fsspec(fs, root)


# --- the worker's side: outputs ------------------------------------------------------------------------


def _published(fs: Any, path: str, archive: bool, local: bool) -> bool:
    """Whether an output is already at `path` (see the module docstring)."""
    if local:
        if archive:
            return os.path.exists(path)
        return os.path.isdir(path) and bool(os.listdir(path))
    fs.invalidate_cache()
    return fs.exists(path if archive else f"{path.rstrip('/')}/{SUCCESS_MARKER}")


#: object stores whose single upload (multipart ones too) becomes visible only once complete:
#: one object needs no staging copy there (S3, GCS, Azure Blob)
_WHOLE_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def _whole_puts(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return bool(_WHOLE_PUT_PROTOCOLS.intersection(protocols))


def publish(overlay: Any, url: str) -> bool:
    """Write an overlay's changes (a `mem://` scratch's whole tree) to `url`, never leaving a
    partial result there; False when an output was already published at `url`."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    fs, path = fsspec.core.url_to_fs(url)
    archive = path.lower().endswith(ARCHIVE_SUFFIXES)
    local = isinstance(fs, LocalFileSystem)
    if _published(fs, path, archive, local):
        return False
    if local:  # Overlay.export writes beside the target and renames it into place
        os.makedirs(os.path.dirname(path.rstrip("/")) or ".", exist_ok=True)
        overlay.export(path)
        return True
    base = path.rstrip("/")
    parent, name = posixpath.split(base)
    staging = f"{parent}/.{name}.vfswasi-{uuid.uuid4().hex}"
    staged: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vfswasi-output-") as tmp:
        suffix = next(s for s in (*ARCHIVE_SUFFIXES, "") if name.lower().endswith(s))
        exported = os.path.join(tmp, "out" + suffix)
        overlay.export(exported)
        try:
            if archive:
                if _whole_puts(fs):  # the object appears whole or not at all
                    fs.put_file(exported, base)
                    return True
                staged.append(staging)
                fs.put_file(exported, staging)
                fs.cp_file(staging, base)  # a server-side copy: the object appears whole
                return True
            files = sorted(os.path.relpath(os.path.join(d, f), exported)
                           for d, _, names in os.walk(exported) for f in names)
            for rel in files:
                staged.append(f"{staging}/{rel}")
                fs.put_file(os.path.join(exported, rel), staged[-1])
            if fs.exists(base):  # what a killed attempt left: no marker, so incomplete
                fs.rm(base, recursive=True)
            for rel in files:
                fs.cp_file(f"{staging}/{rel}", f"{base}/{rel}")
            fs.pipe_file(f"{base}/{SUCCESS_MARKER}", b"")
            return True
        finally:
            for key in staged:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(key)
            fs.invalidate_cache()


# --- running one job ----------------------------------------------------------------------------------


def _one_line(e: BaseException) -> str:
    """An exception's message on one line (botocore's, for one, spans several)."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return (text[:497] + "...") if len(text) > 500 else text or type(e).__name__


def run_job(job: Job) -> JobResult:
    """Run one job here, to the end; never raises for the job's own failures (they are in the
    result), only for Ctrl-C / SIGTERM."""
    import wasmtime

    from .api import run
    from .limits import LimitExceeded
    from .modules import default_engine

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
            from .backends.memory import MemoryBackend
            from .backends.overlay import Overlay

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
            result.error = _one_line(e)
            return result
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            result.stdout, result.stderr = getattr(e, "stdout", b""), getattr(e, "stderr", b"")
            result.usage = getattr(e, "usage", None)
            result.error = f"trap: {_one_line(e)}"
            return result
        except Exception as e:  # a mount failing to open or close, a bad argument
            result.stdout, result.stderr = getattr(e, "stdout", b""), getattr(e, "stderr", b"")
            result.error = f"{type(e).__name__}: {_one_line(e)}"
            return result
        result.exit_code, result.stdout, result.stderr = ran.exit_code, ran.stdout, ran.stderr
        result.usage = ran.usage
        if ran.exit_code == 0:
            for guest, url in job.outputs.items():
                try:
                    if not publish(overlays[guest], url):
                        result.reused.append(guest)
                except Exception as e:
                    result.error = f"output {guest} -> {url}: {_one_line(e)}"
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
        raise JobError(f"mount {guest}={spec}: {_one_line(e)}") from None


# --- running many -------------------------------------------------------------------------------------

ProgressSpec = bool | Callable[[int, int], Any] | None


class _Progress:
    """Counts finished jobs (from any thread) and shows them: a callable(done, total), a tqdm
    bar on stderr (a plain counter line without tqdm), or nothing."""

    def __init__(self, spec: ProgressSpec, total: int) -> None:
        self.total, self.done = total, 0
        self._lock = threading.Lock()
        self._call: Callable[[int, int], Any] | None = None
        self._bar: Any = None
        if callable(spec):
            self._call = spec
        elif spec:
            try:
                from tqdm import tqdm
            except ImportError:
                self._call = self._plain
            else:
                self._bar = tqdm(total=total, unit="job", file=sys.stderr, dynamic_ncols=True)

    @staticmethod
    def _plain(done: int, total: int) -> None:
        print(f"\r{done}/{total} jobs", end="\n" if done == total else "", file=sys.stderr,
              flush=True)

    def one(self) -> None:
        with self._lock:
            self.done += 1
            if self._bar is not None:
                self._bar.update(1)
            elif self._call is not None:
                self._call(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _is_dask_client(executor: Any) -> bool:
    return (type(executor).__module__.startswith("distributed")
            and hasattr(executor, "gather") and hasattr(executor, "submit"))


def _failed(index: int, job: Job, error: str) -> JobResult:
    return JobResult(error=error, name=job.name, index=index)


def run_jobs(jobs: Iterable[Job], executor: Any = None, *, progress: ProgressSpec = None,
             max_workers: int | None = None, retries: int = 2) -> Iterator[JobResult]:
    """Run `jobs` on `executor` and yield their results in job order (each with `index`).

    executor: any `concurrent.futures.Executor` (threads run guests concurrently; a process
    pool in parallel), a Dask `distributed.Client` (each job one task; a task whose worker
    died is retried by the scheduler, `distributed.scheduler.allowed-failures` times), or None:
    a process pool of `max_workers` processes (default: the machine's cores) that this call
    makes and shuts down, and remakes up to `retries` times when a worker process dies (the
    jobs not finished then run again). progress: True for a bar on stderr (tqdm if installed),
    or a callable(done, total) called as jobs finish, in any order, from any thread.
    A job that cannot run at all (its worker died once too often, the executor broke) is a
    result with `error` set; results are never lost or duplicated."""
    jobs = list(jobs)
    for i, job in enumerate(jobs):
        if not isinstance(job, Job):
            raise TypeError(f"jobs[{i}] is a {type(job).__name__}, not a vfswasi.jobs.Job")
    shown = _Progress(progress, len(jobs))
    try:
        if executor is None:
            yield from _run_own_pool(jobs, shown, max_workers, retries)
        elif _is_dask_client(executor):
            yield from _run_dask(jobs, executor, shown)
        else:
            yield from _run_executor(jobs, executor, shown)
    finally:
        shown.close()


def _counted(future: Any, shown: _Progress, lost: tuple[type[BaseException], ...] = ()) -> Any:
    def done(f: Any) -> None:
        if f.cancelled():
            return
        if lost and isinstance(f.exception(), lost):
            return  # it will run again: counted then
        shown.one()

    future.add_done_callback(done)
    return future


def _outcome(index: int, job: Job, future: Any) -> JobResult:
    try:
        result = future.result()
    except Exception as e:
        return _failed(index, job, f"{type(e).__name__}: {_one_line(e)}")
    result.index = index
    return result


def _run_executor(jobs: list[Job], executor: Any, shown: _Progress) -> Iterator[JobResult]:
    futures = [_counted(executor.submit(run_job, job), shown) for job in jobs]
    try:
        for i, job in enumerate(jobs):
            yield _outcome(i, job, futures[i])
            futures[i] = None
    finally:
        for f in futures:
            if f is not None:
                f.cancel()


def _run_dask(jobs: list[Job], client: Any, shown: _Progress) -> Iterator[JobResult]:
    batch = uuid.uuid4().hex[:12]
    futures = [_counted(client.submit(run_job, job, key=f"vfswasi-job-{i}-{batch}", pure=False),
                        shown) for i, job in enumerate(jobs)]
    try:
        for i, job in enumerate(jobs):
            yield _outcome(i, job, futures[i])
            futures[i] = None  # releases the task's result on the cluster
    finally:
        live = [f for f in futures if f is not None]
        if live:
            client.cancel(live)


def _new_pool(max_workers: int | None) -> concurrent.futures.ProcessPoolExecutor:
    import multiprocessing

    # spawn: a forked child would inherit the parent's threads' locks (epoch tickers, ...)
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=max_workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"))


def _run_own_pool(jobs: list[Job], shown: _Progress, max_workers: int | None,
                  retries: int) -> Iterator[JobResult]:
    from concurrent.futures.process import BrokenProcessPool

    lost = (BrokenProcessPool,)
    pool = _new_pool(max_workers)
    futures: list[Any] = [_counted(pool.submit(run_job, job), shown, lost) for job in jobs]
    breaks = 0
    try:
        i = 0
        while i < len(jobs):
            future = futures[i]
            try:
                future.result()
            except BrokenProcessPool:
                # a worker died: the pool is unusable, so every unfinished job moves to a new one
                breaks += 1
                pool.shutdown(wait=False, cancel_futures=True)
                if breaks > retries:
                    for k in range(i, len(jobs)):
                        if not _finished(futures[k]):
                            futures[k] = _done_with(_failed(
                                k, jobs[k], f"a worker process died ({breaks} times in this "
                                            "batch); not retried again"))
                            shown.one()
                    continue
                pool = _new_pool(max_workers)
                for k in range(i, len(jobs)):
                    if not _finished(futures[k]):
                        futures[k] = _counted(pool.submit(run_job, jobs[k]), shown, lost)
                continue
            except Exception:  # noqa: BLE001 - reported by _outcome
                pass
            yield _outcome(i, jobs[i], future)
            futures[i] = None
            i += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _finished(future: Any) -> bool:
    from concurrent.futures.process import BrokenProcessPool

    return future.done() and not future.cancelled() and not isinstance(
        future.exception(), BrokenProcessPool)


def _done_with(result: JobResult) -> concurrent.futures.Future[JobResult]:
    f: concurrent.futures.Future[JobResult] = concurrent.futures.Future()
    f.set_result(result)
    return f


# --- the command line: vfswasi batch ----------------------------------------------------------------------


def read_jobs(path: str) -> list[Job]:
    """The jobs of a JSONL file (one `Job.to_json()` object a line; blank lines and lines
    starting with # are skipped); ValueError naming the line of a bad one."""
    jobs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                jobs.append(Job.from_json(text))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}:{number}: {_one_line(e)}") from None
    return jobs


def summary(results: Iterable[JobResult]) -> Counter[str]:
    """How many results are "ok", "failed" and "limit", plus "reused" (outputs kept)."""
    counts: Counter[str] = Counter({"ok": 0, "failed": 0, "limit": 0})
    for r in results:
        counts[r.status] += 1
        counts["reused"] += len(r.reused)
    return counts


def batch_command(opts: Any) -> int:
    """`vfswasi batch` (its flags are parsed in vfswasi/cli.py): 0 when every job is ok, 1 when
    any failed or hit a limit, 2 for bad input."""
    try:
        jobs = read_jobs(opts.jobs)
    except OSError as e:
        print(f"vfswasi: batch: {opts.jobs}: {e.strerror}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"vfswasi: batch: {e}", file=sys.stderr)
        return 2
    if opts.workers is not None and opts.workers < 1:
        print("vfswasi: batch: --workers must be at least 1", file=sys.stderr)
        return 2
    client = None
    if opts.scheduler:
        try:
            from distributed import Client
        except ImportError:
            print("vfswasi: batch: --scheduler needs dask.distributed: "
                  "pip install 'vfswasi[dask]'", file=sys.stderr)
            return 2
        try:
            client = Client(opts.scheduler, timeout=30)
        except (OSError, TimeoutError) as e:
            print(f"vfswasi: batch: cannot reach the scheduler {opts.scheduler}: "
                  f"{_one_line(e)}", file=sys.stderr)
            return 2
    out = None
    try:
        if opts.results:
            out = open(opts.results, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        started = time.monotonic()
        results = []
        for result in run_jobs(jobs, client, progress=not opts.quiet, max_workers=opts.workers):
            results.append(result)
            if out is not None:
                out.write(result.to_json() + "\n")
                out.flush()
            if not result.ok:
                what = result.error or f"exit code {result.exit_code}"
                label = f" ({result.name})" if result.name else ""
                print(f"vfswasi: job {result.index}{label}: {result.status}: {what}",
                      file=sys.stderr)
        counts = summary(results)
        reused = f", {counts['reused']} output(s) already published" if counts["reused"] else ""
        print(f"{len(results)} jobs: {counts['ok']} ok, {counts['failed']} failed, "
              f"{counts['limit']} limit hit{reused} ({time.monotonic() - started:.1f} s)",
              file=sys.stderr)
        return 0 if counts["ok"] == len(results) else 1
    except OSError as e:
        print(f"vfswasi: batch: {opts.results}: {e.strerror}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()
        if client is not None:
            client.close()
