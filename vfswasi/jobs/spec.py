"""Jobs as data: `Job` and `JobResult`, their JSON form, and what both sides share."""

from __future__ import annotations

import base64
import json
import os
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..limits import Limits, Quota, Usage, parse_duration, parse_size

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




def one_line(e: BaseException) -> str:
    """An exception's message on one line (botocore's, for one, spans several)."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return (text[:497] + "...") if len(text) > 500 else text or type(e).__name__
