"""strace-style tracing of WASI calls: `WASI(trace=...)`, `vfswasi run --trace[=FILE]`.

One line per call, written when it returns:

    path_open(3, SYMLINK_FOLLOW, "d/x.txt", CREAT|TRUNC, 0x820004a, 0x0, 0, [4]) = 0 <21.5 µs>
    fd_write(4, ["hello\\n"], 1, [6]) = 0 <9.1 µs>
    fd_read(0, [""], 1, 0x100) = EBADF <2.0 µs>
    proc_exit(3) = ?
    +++ exited with 3 +++

Arguments are decoded from each syscall's declaration (its parameters' ABI types, see
`vfswasi.syscalls._registry`), never from parameter names nor written out per call: a path
is the string read from guest memory, an iovec array is the data (written data before the
call, data read after it — as much as the call's size result says —, at most 32 bytes each,
as strace), flags and enums are printed by name, rights and pointers in hex, fds and sizes
as numbers. A result shows the value stored there (`[4]`, a record's fields in braces) when
the call succeeded, else its address. The result is 0 or the errno's name; the time is the
syscall's own, in microseconds.

Tracing costs nothing when it is off: the tracer wraps the syscall table before the host
functions are built, so without it the dispatcher calls the syscalls directly, as ever.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import time
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import IO, Any

from .abi import (
    FILESTAT,
    RIGHTS,
    SIZE,
    SUBCLOCKFLAGS_ABSTIME,
    SUBSCRIPTION,
    SUBSCRIPTION_FD_READWRITE,
    WHENCE,
    Array,
    Buffer,
    Clockid,
    Errno,
    Eventtype,
    Flags,
    Int,
    Out,
    Param,
    Pointer,
    Record,
    Scalar,
    WasiError,
    record_for,
)
from .context import Context
from .fastcall import errno_of
from .syscalls import SYSCALLS
from .syscalls.proc import WASIExit

TraceSpec = str | os.PathLike[str] | IO[Any] | Callable[[str], Any] | None

#: longest data excerpt shown per buffer, as strace's default -s 32
DATA_LIMIT = 32
#: at most this many iovecs or subscriptions are listed, then "..."
LIST_LIMIT = 8

Table = Mapping[str, tuple[str, Callable[..., Any], bool]]
#: formats the arguments it owns: (ctx, all argument values, call succeeded) -> text
Render = Callable[[Context, tuple[int, ...], bool], str]


# --- the sink ------------------------------------------------------------------------------------


class Tracer:
    """Where trace lines go: a callable taking a line, a text or binary file, or a path."""

    def __init__(self, spec: TraceSpec) -> None:
        self._owned: IO[Any] | None = None
        if isinstance(spec, (str, os.PathLike)):
            self._owned = open(spec, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
            spec = self._owned
        if hasattr(spec, "write"):
            self.emit = _file_writer(spec)
        elif callable(spec):
            self.emit = spec
        else:
            raise TypeError("trace must be a file object, a path or a callable taking a line, "
                            f"not {type(spec).__name__}")

    def wrap(self, table: Table, ctx: Context) -> dict[str, tuple[str, Callable[..., Any], bool]]:
        """The same import table with every function traced."""
        return {name: (sig, self._traced(name, fn, ctx), returns)
                for name, (sig, fn, returns) in table.items()}

    def _traced(self, name: str, fn: Callable[..., Any], ctx: Context) -> Callable[..., None]:
        renders = argument_renders(name)
        emit = self.emit

        def call_line(values: tuple[int, ...], ok: bool) -> str:
            return f"{name}({', '.join(r(ctx, values, ok) for r in renders)})"

        def traced(*values: int) -> None:
            start = time.perf_counter_ns()
            try:
                fn(*values)
            except BaseException as e:
                took = _micros(start)
                errno = errno_of(e)
                if errno is not None:
                    emit(f"{call_line(values, False)} = {errno_name(errno)} <{took} µs>")
                elif isinstance(e, (WASIExit, SystemExit)):
                    emit(f"{call_line(values, False)} = ?")
                    code = e.code if isinstance(e, SystemExit) else signed(e.code, 32)
                    emit(f"+++ exited with {code} +++")
                else:
                    emit(f"{call_line(values, False)} = ? <{took} µs>")
                    emit(f"+++ raised {type(e).__name__}: {e} +++")
                raise
            emit(f"{call_line(values, True)} = 0 <{_micros(start)} µs>")

        return traced

    def exited(self, code: int) -> None:
        """The last line when the guest's `_start` returned (proc_exit writes its own)."""
        self.emit(f"+++ exited with {code} +++")

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None


def _file_writer(f: Any) -> Callable[[str], None]:
    text = isinstance(f, io.TextIOBase)
    flush = getattr(f, "flush", None) or (lambda: None)

    def write(line: str) -> None:
        f.write(line + "\n" if text else (line + "\n").encode("utf-8", "backslashreplace"))
        flush()  # a trace is read when something went wrong: keep every line

    return write


def open_tracer(spec: TraceSpec) -> Tracer | None:
    return None if spec is None else Tracer(spec)


def _micros(start_ns: int) -> str:
    return f"{(time.perf_counter_ns() - start_ns) / 1000:.1f}"


def errno_name(errno: int) -> str:
    try:
        name = Errno(errno).name
    except ValueError:
        return str(errno)
    return "E2BIG" if name == "TOOBIG" else "E" + name


# --- value formatting ----------------------------------------------------------------------------


def quote(data: bytes, limit: int | None = DATA_LIMIT) -> str:
    """A C string literal for `data`, cut at `limit` bytes with "..." after, as strace."""
    cut = limit is not None and len(data) > limit
    shown = data[:limit] if cut else data
    out = []
    for b in shown:
        c = chr(b)
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    return '"' + "".join(out) + '"' + ("..." if cut else "")


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", '"': '\\"', "\0": "\\0"}


def flag_names(flags: type[Flags], value: int) -> str:
    """"A|B" in upper case (as strace), any unnamed bits in hex; "0" for none."""
    bits = _bits(flags)
    names = [name for name, bit in bits if value & bit]
    rest = value & ~sum(bit for _, bit in bits)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


@functools.cache
def _bits(flags: type[Flags]) -> tuple[tuple[str, int], ...]:
    return tuple((name, bit) for name, bit in vars(flags).items()
                 if name.isupper() and isinstance(bit, int))


def enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


# --- the argument decoders, derived from the declarations --------------------------------------

#: by body: a syscall declared anew gets its own renderers
_CACHE: dict[Callable[..., Any], list[Render]] = {}


def argument_renders(name: str) -> list[Render]:
    """One renderer per shown argument of syscall `name` (a path's pointer and length become
    one), derived from its declaration and cached."""
    spec = SYSCALLS[name]
    renders = _CACHE.get(spec.fn)
    if renders is None:
        renders = _CACHE[spec.fn] = renders_for(spec.params)
    return renders


def renders_for(params: Mapping[str, Param]) -> list[Render]:
    """The renderers for a declaration: what is shown depends on the parameters' types and
    order only, so renaming a parameter never changes a trace."""
    index: dict[str, int] = {}  # declared parameter -> index of its first lowered value
    at = 0
    for name, ty in params.items():
        index[name] = at
        at += len(ty.lowered)
    # the count of bytes a call put in its output buffer: its first size result
    filled = next((index[n] for n, ty in params.items()
                   if isinstance(ty, Out) and ty.type is SIZE), None)
    renders: list[Render] = []
    for name, ty in params.items():
        i = index[name]
        if isinstance(ty, Scalar):
            renders.append(_scalar(i, ty.type))
        elif isinstance(ty, Out):
            renders.append(_record(i, ty.type) if isinstance(ty.type, Record)
                           else _result(i, struct.Struct("<" + ty.type.fmt)))
        elif isinstance(ty, Buffer):
            if isinstance(ty.elem, Record):  # an iovec array: its data, then its length
                renders += [_iovecs(i, i + 1, filled if ty.out else None), _number(i + 1)]
            elif ty.text and ty.out:
                renders.append(_out_string(i, i + 1, filled))
            elif ty.text:
                renders.append(_path(i, i + 1))
            else:
                renders += [_hex(i), _number(i + 1)]
        elif isinstance(ty, Array) and not ty.out and ty.elem is SUBSCRIPTION:
            renders.append(_subscriptions(i, index[ty.count]))
        else:
            assert isinstance(ty, (Array, Pointer)), (name, ty)
            renders.append(_hex(i))
    return renders


def _scalar(i: int, ty: Int) -> Render:
    if ty is WHENCE:
        return _whence(i)  # numbered per ABI version
    show = _shown(ty)
    return lambda ctx, v, ok: show(v[i])


def _shown(ty: Int) -> Callable[[int], str]:
    """How a value of integer type `ty` is written."""
    values = ty.values
    if ty is RIGHTS:
        return hex
    if values is not None and issubclass(values, Flags):
        return functools.partial(flag_names, values)
    if values is not None and issubclass(values, IntEnum):
        return functools.partial(enum_name, values)
    if ty.signed:
        bits = 8 * ty.size
        return lambda value: str(signed(value, bits))
    return str


def _safe(render: Render, fallback: Callable[[tuple[int, ...]], str]) -> Render:
    """A decoder that reads guest memory falls back to the raw value on a bad pointer."""

    def wrapped(ctx: Context, values: tuple[int, ...], ok: bool) -> str:
        try:
            return render(ctx, values, ok)
        except (struct.error, ValueError, IndexError, OverflowError, WasiError):
            return fallback(values)

    return wrapped


def _number(i: int) -> Render:
    return lambda ctx, v, ok: str(v[i])


def signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def _hex(i: int) -> Render:
    return lambda ctx, v, ok: hex(v[i])


def _whence(i: int) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        whence = ctx.layout.whence.get(v[i])  # wasi_unstable numbers them differently
        return whence.name if whence is not None else str(v[i])

    return render


def _path(ptr: int, length: int) -> Render:
    return _safe(lambda ctx, v, ok: quote(ctx.mem.read_bytes(v[ptr], v[length]), None),
                 lambda v: f"{hex(v[ptr])}, {v[length]}")


_SIZE = struct.Struct("<" + SIZE.fmt)


def _out_string(ptr: int, length: int, count: int | None) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if not ok:
            return f"{hex(v[ptr])}, {v[length]}"
        mem = ctx.mem
        n = v[length] if count is None else _SIZE.unpack_from(mem.view, v[count])[0]
        return f"{quote(mem.read_bytes(v[ptr], n), None)}, {v[length]}"

    return _safe(render, lambda v: f"{hex(v[ptr])}, {v[length]}")


def _iovecs(array: int, length: int, count: int | None) -> Render:
    """The data of an iovec array: input data always, read data after a successful read."""

    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if count is not None and not ok:
            return hex(v[array])
        bufs = ctx.mem.iovecs(v[array], min(v[length], LIST_LIMIT + 1))
        left = None if count is None else _SIZE.unpack_from(ctx.mem.view, v[count])[0]
        shown = []
        for buf in bufs[:LIST_LIMIT]:
            data = bytes(buf) if left is None else bytes(buf[: max(0, left)])
            if left is not None:
                left -= len(data)
            shown.append(quote(data))
        if v[length] > LIST_LIMIT:
            shown.append("...")
        return "[" + ", ".join(shown) + "]"

    return _safe(render, lambda v: hex(v[array]))


def _result(i: int, fmt: struct.Struct) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if not ok:
            return hex(v[i])
        return f"[{fmt.unpack_from(ctx.mem.view, v[i])[0]}]"

    return _safe(render, lambda v: hex(v[i]))


#: records shown by a few fields only (name=value after the first): a filestat's type and size
_ABRIDGED = {FILESTAT.name: ("filetype", "size")}


def _record(i: int, record: Record) -> Render:
    """A result record as its fields' values in braces, each written as its type says."""
    shown = _ABRIDGED.get(record.name)

    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if not ok:
            return hex(v[i])
        layout = record_for(record, ctx.version)  # wasi_unstable's filestat differs
        values = layout.unpack_from(ctx.mem.view, v[i])
        types = {name: ty for name, _, ty in layout.flat}
        if shown is None:
            parts = [_shown(types[f])(value) for f, value in values.items()]
        else:
            first, *rest = shown
            parts = [_shown(types[first])(values[first]),
                     *(f"{f}={_shown(types[f])(values[f])}" for f in rest)]
        return "{" + ", ".join(parts) + "}"

    return _safe(render, lambda v: hex(v[i]))


_FD_AT = SUBSCRIPTION.offset_of("u.fd_read")
_FD = SUBSCRIPTION_FD_READWRITE.whole


def _subscriptions(ptr: int, count: int) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        layout, view = ctx.layout.subscription, ctx.mem.view
        clock_at = layout.offset_of("u.clock")
        clock = layout.fields["u"].cases["clock"]  # type: ignore[union-attr]
        shown = []
        for n in range(min(v[count], LIST_LIMIT)):
            at = v[ptr] + n * layout.size
            head = layout.unpack_from(view, at)
            userdata, tag = head["userdata"], head["u.tag"]
            if tag == Eventtype.CLOCK:
                c = clock.unpack_from(view, at + clock_at)
                what = f"CLOCK {enum_name(Clockid, c['id'])} {c['timeout']} ns" + (
                    " ABSTIME" if c["flags"] & SUBCLOCKFLAGS_ABSTIME else "")
            elif tag in (Eventtype.FD_READ, Eventtype.FD_WRITE):
                what = f"{Eventtype(tag).name} {_FD.unpack_from(view, at + _FD_AT)[0]}"
            else:
                what = f"tag {tag}"
            shown.append(f"{{{hex(userdata)}, {what}}}")
        if v[count] > LIST_LIMIT:
            shown.append("...")
        return "[" + ", ".join(shown) + "]"

    return _safe(render, lambda v: hex(v[ptr]))
