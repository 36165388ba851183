"""args_get, args_sizes_get, environ_get, environ_sizes_get."""

from __future__ import annotations

from ..abi import SIZE, U32_STRUCT, Out, Pointer
from ..context import Context
from ._registry import syscall

#: args_get / environ_get: a table of string pointers, and the strings it points into
StringTable = Pointer("string_table", out=True)
StringBuf = Pointer("string_buf", out=True)


@syscall(argc=Out(SIZE), argv_buf_size=Out(SIZE))
def args_sizes_get(ctx: Context, argc: int, argv_buf_size: int) -> tuple[int, int]:
    # Every program start calls this; the answer never changes, so it is computed once.
    return ctx.args_sizes


def _strings(ctx: Context, items: list[bytes], ptrs_ptr: int, buf_ptr: int) -> None:
    """Write the NUL-terminated strings at buf_ptr and their addresses at ptrs_ptr."""
    mem = ctx.mem
    blob = b"".join(items)
    mem.slice(ptrs_ptr, 4 * len(items))  # check the pointer array fits before writing
    mem.write_bytes(buf_ptr, blob)
    view, pack, at = mem.view, U32_STRUCT.pack_into, buf_ptr
    for i, item in enumerate(items):
        pack(view, ptrs_ptr + 4 * i, at)
        at += len(item)


@syscall(argv=StringTable, argv_buf=StringBuf)
def args_get(ctx: Context, argv: int, argv_buf: int) -> None:
    _strings(ctx, ctx.args, argv, argv_buf)


@syscall(environc=Out(SIZE), environ_buf_size=Out(SIZE))
def environ_sizes_get(ctx: Context, environc: int, environ_buf_size: int) -> tuple[int, int]:
    return len(ctx.env), sum(map(len, ctx.env))


@syscall(environ=StringTable, environ_buf=StringBuf)
def environ_get(ctx: Context, environ: int, environ_buf: int) -> None:
    _strings(ctx, ctx.env, environ, environ_buf)
