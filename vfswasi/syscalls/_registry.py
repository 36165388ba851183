"""The table of WASI functions, filled by the `@syscall` declarations in each module.

Each syscall declares its parameters once, in witx order, with their ABI types:

    @syscall(fd=Fd, iovs=Iovecs, nread=Out(SIZE))
    def fd_read(ctx, fd, iovs, iovs_len, nread) -> int: ...

Everything else derives from that declaration: the wasm signature ("iiii"), the names of the
lowered wasm values the body takes (a `Buffer` is two: `iovs`, `iovs_len`; checked against
the body's own signature at import), the writer of the results, the tracer
(`vfswasi.trace`) and the property tests' WAT trampoline (`properties/trampoline.py`).

A body gets every lowered value, result pointers included (so it can check one early, before
an effect it could not undo), and returns its results: one value, a tuple of them for
several `Out`s, a tuple of fields for a record. `bind` wraps a body that has results in a
function writing them after it returns, as wasmtime's witx-generated `p1` does; a body
without results is called directly.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..abi import FD, Int, Out, Param, compile_function, record_for


@dataclass(frozen=True)
class Spec:
    name: str
    #: the declaration: parameter name -> ABI type, in witx order
    params: dict[str, Param]
    fn: Callable[..., Any]
    returns_errno: bool = True
    excluded_versions: tuple[str, ...] = ()
    #: the lowered wasm values: (name, "i" or "I", declared parameter it belongs to)
    lowered: tuple[tuple[str, str, str], ...] = field(init=False)

    def __post_init__(self) -> None:
        lowered = tuple((name + suffix, wasm, name) for name, ty in self.params.items()
                        for suffix, wasm in ty.lowered)
        object.__setattr__(self, "lowered", lowered)
        body = list(inspect.signature(self.fn).parameters)[1:]  # after ctx
        names = [n for n, _, _ in lowered]
        if body != names:
            raise TypeError(f"{self.name}: the body takes {body}, its declaration lowers to "
                            f"{names}")
        for name, ty in self.params.items():
            count = getattr(ty, "count", None)
            if count is not None and count not in self.params:
                raise TypeError(f"{self.name}: {name} is counted by {count!r}, not a parameter")

    @property
    def sig(self) -> str:
        """wasm parameter types: "i" = i32, "I" = i64."""
        return "".join(wasm for _, wasm, _ in self.lowered)

    @property
    def names(self) -> list[str]:
        """The lowered values' names, as the body takes them."""
        return [name for name, _, _ in self.lowered]

    def outs(self) -> list[tuple[int, Out]]:
        """(index among the lowered values, type) of each result pointer, in order."""
        return [(i, self.params[decl]) for i, (_, _, decl) in enumerate(self.lowered)
                if isinstance(self.params[decl], Out)]  # type: ignore[misc]


SYSCALLS: dict[str, Spec] = {}


def syscall(*, returns_errno: bool = True, not_in: tuple[str, ...] = (),
            **params: Param) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a WASI function under its own name with its declared parameters (`not_in`:
    ABI versions without it)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        SYSCALLS[fn.__name__] = Spec(fn.__name__, params, fn, returns_errno, not_in)
        return fn

    return register


# --- binding to one context: the result writers ------------------------------------------------

#: (body, ABI version) -> the function building its result writer for one context
_FACTORIES: dict[tuple[Callable[..., Any], str], Callable[..., Callable[..., None]]] = {}


def bound(spec: Spec, ctx: Any) -> Callable[..., None]:
    """`spec`'s body for `ctx`, taking the raw wasm values; its results written to guest
    memory after it returns (struct.error, so EFAULT, when one does not fit)."""
    outs = spec.outs()
    if not outs:
        return partial(spec.fn, ctx)
    key = (spec.fn, ctx.version)
    make = _FACTORIES.get(key)
    if make is None:
        make = _FACTORIES[key] = _factory(spec, outs, ctx.version)
    fn = make(spec.fn, ctx, ctx.mem)
    fn.__wrapped__ = spec.fn
    return fn


def _factory(spec: Spec, outs: list[tuple[int, Out]], version: str) -> Callable[..., Any]:
    """A function building `spec`'s wrapper: generated text, so that the result writes are
    straight `pack_into` calls with no loop, no slicing and no lookups per call (the
    dispatcher calls this on every guest call)."""
    args = [f"a{i}" for i in range(len(spec.lowered))]
    env: dict[str, object] = {}
    results = "r" if len(outs) == 1 else ", ".join(f"r{n}" for n in range(len(outs)))
    body = [f"def {spec.name}({', '.join(args)}):",
            f"    {results} = body(ctx, {', '.join(args)})",
            "    view = mem.view"]
    for n, (index, out) in enumerate(outs):
        value = "r" if len(outs) == 1 else f"r{n}"
        ptr = args[index]
        ty = out.type
        if isinstance(ty, Int):
            env[f"w{n}"] = ty_struct(ty).pack_into
            write = [f"w{n}(view, {ptr}, {value})"]
        else:
            record = record_for(ty, version)
            write = []
            for k, (offset, st, first, count) in reversed(list(enumerate(record.runs))):
                env[f"w{n}_{k}"] = st.pack_into
                fields = ", ".join(f"{value}[{j}]" for j in range(first, first + count))
                write.append(f"w{n}_{k}(view, {ptr} + {offset}, {fields})")
        if ty is FD:
            # a new fd the guest cannot be told about is closed again
            body.append("    try:")
            body += [f"        {line}" for line in write]
            body += ["    except BaseException:", f"        ctx.fds.pop({value}).close()",
                     "        raise"]
        else:
            body += [f"    {line}" for line in write]
    source = "\n".join(f"    {line}" for line in body)
    factory = f"def make(body, ctx, mem):\n{source}\n    return {spec.name}"
    return compile_function(factory, env, f"<{spec.name} results>")


_STRUCTS: dict[str, struct.Struct] = {}


def ty_struct(ty: Int) -> struct.Struct:
    """The (shared) struct.Struct of an integer type."""
    st = _STRUCTS.get(ty.fmt)
    if st is None:
        st = _STRUCTS[ty.fmt] = struct.Struct("<" + ty.fmt)
    return st
