"""The table of WASI functions, filled by the `@syscall` decorator in each module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    sig: str  # wasm parameter types: "i" = i32, "I" = i64
    fn: Callable[..., None]
    returns_errno: bool = True
    excluded_versions: tuple[str, ...] = ()


SYSCALLS: dict[str, Spec] = {}


def syscall(sig: str, *, returns_errno: bool = True, not_in: tuple[str, ...] = ()):
    """Register a WASI function under its own name (`not_in`: ABI versions without it)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        SYSCALLS[fn.__name__] = Spec(sig, fn, returns_errno, not_in)
        return fn

    return register
