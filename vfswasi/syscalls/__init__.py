"""One module per group of WASI functions; each function is named as its WASI import.

    args.py   args_*, environ_*          clock.py  clock_*
    fd.py     fd_* (files, dirs, stdio)  path.py   path_*
    poll.py   poll_oneoff                proc.py   proc_*, sched_yield, random_get
    sock.py   sock_*

A syscall is declared once with its parameters' ABI types (`_registry.syscall`). Its body
takes the `Context` and the raw (unsigned) wasm arguments, raises `WasiError` (or lets a
backend's OSError through) on failure and returns its results on success: `bind` writes
them to guest memory, and the dispatcher in `vfswasi.fastcall` turns the outcome into the
errno result.
"""

from __future__ import annotations

from ..context import Context
from . import args, clock, fd, path, poll, proc, sock
from ._registry import SYSCALLS, bound

__all__ = ["SYSCALLS", "bind", "args", "clock", "fd", "path", "poll", "proc", "sock"]


def bind(ctx: Context) -> dict[str, tuple[str, object, bool]]:
    """The import table for `ctx`: name -> (signature, bound function, returns errno)."""
    table = {}
    for name, spec in SYSCALLS.items():
        if ctx.version in spec.excluded_versions:
            continue
        table[name] = (spec.sig, bound(spec, ctx), spec.returns_errno)
    return table
