"""args_get, args_sizes_get, environ_get, environ_sizes_get."""

from __future__ import annotations

from ..abi import U32
from ..context import Context
from ._registry import syscall


def _sizes(ctx: Context, items: list[bytes], count_ptr: int, size_ptr: int) -> None:
    mem = ctx.mem
    mem.write_u32(count_ptr, len(items))
    mem.write_u32(size_ptr, sum(map(len, items)))


@syscall("ii")
def args_sizes_get(ctx: Context, argc_ptr: int, argv_buf_size_ptr: int) -> None:
    # Every program start calls this; the answer never changes, so it is computed once.
    count, size = ctx.args_sizes
    view = ctx.mem.view
    U32.pack_into(view, argc_ptr, count)
    U32.pack_into(view, argv_buf_size_ptr, size)


def _strings(ctx: Context, items: list[bytes], ptrs_ptr: int, buf_ptr: int) -> None:
    """Write the NUL-terminated strings at buf_ptr and their addresses at ptrs_ptr."""
    mem = ctx.mem
    blob = b"".join(items)
    mem.slice(ptrs_ptr, 4 * len(items))  # check the pointer array fits before writing
    mem.write_bytes(buf_ptr, blob)
    at = buf_ptr
    for i, item in enumerate(items):
        mem.write_u32(ptrs_ptr + 4 * i, at)
        at += len(item)


@syscall("ii")
def args_get(ctx: Context, argv_ptr: int, argv_buf_ptr: int) -> None:
    _strings(ctx, ctx.args, argv_ptr, argv_buf_ptr)


@syscall("ii")
def environ_sizes_get(ctx: Context, count_ptr: int, buf_size_ptr: int) -> None:
    _sizes(ctx, ctx.env, count_ptr, buf_size_ptr)


@syscall("ii")
def environ_get(ctx: Context, environ_ptr: int, environ_buf_ptr: int) -> None:
    _strings(ctx, ctx.env, environ_ptr, environ_buf_ptr)
