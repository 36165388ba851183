"""strace-style tracing of WASI calls: `WASI(trace=...)`, `vfswasi run --trace[=FILE]`.

One line per call, written when it returns:

    path_open(3, SYMLINK_FOLLOW, "d/x.txt", CREAT|TRUNC, 0x820004a, 0x0, 0, [4]) = 0 <21.5 µs>
    fd_write(4, ["hello\\n"], 1, [6]) = 0 <9.1 µs>
    fd_read(0, [""], 1, 0x100) = EBADF <2.0 µs>
    proc_exit(3) = ?
    +++ exited with 3 +++

Arguments are decoded from the syscall's own parameter names (`vfswasi.syscalls` registers
each function with them), not written out per call: a `*path_ptr`/`*path_len` pair is the
path read from guest memory, an iovec array is the data (written data before the call, data
read after it, at most 32 bytes each, as strace), flags and enums are printed by name,
rights in hex, fds and sizes as numbers. A result pointer shows the value stored there
(`[4]`) when the call succeeded, else its address. The result is 0 or the errno's name;
the time is the syscall's own, in microseconds.

Tracing costs nothing when it is off: the tracer wraps the syscall table before the host
functions are built, so without it the dispatcher calls the syscalls directly, as ever.
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import struct
import time
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import IO, Any

from .abi import (
    RIFLAGS_RECV_PEEK,
    RIFLAGS_RECV_WAITALL,
    SDFLAGS_RD,
    SDFLAGS_WR,
    SUBCLOCKFLAGS_ABSTIME,
    SUBSCRIPTION_FD,
    SUBSCRIPTION_HEAD,
    Clockid,
    Errno,
    Eventtype,
    Fdflags,
    Filetype,
    Flags,
    Fstflags,
    Lookupflags,
    Oflags,
    WasiError,
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


class Riflags(Flags):
    RECV_PEEK = RIFLAGS_RECV_PEEK
    RECV_WAITALL = RIFLAGS_RECV_WAITALL


class Sdflags(Flags):
    RD = SDFLAGS_RD
    WR = SDFLAGS_WR


class Advice(IntEnum):
    NORMAL = 0
    SEQUENTIAL = 1
    RANDOM = 2
    WILLNEED = 3
    DONTNEED = 4
    NOREUSE = 5


# --- the argument decoders, derived from parameter names ----------------------------------------------

#: result pointers: parameter name -> struct format of the value stored there
_RESULTS = {
    **dict.fromkeys(("argc_ptr", "argv_buf_size_ptr", "count_ptr", "buf_size_ptr", "nread_ptr",
                     "nwritten_ptr", "bufused_ptr", "fd_ptr", "nevents_ptr", "ro_datalen_ptr",
                     "so_datalen_ptr"), "<I"),
    **dict.fromkeys(("resolution_ptr", "time_ptr", "newoffset_ptr", "offset_ptr"), "<Q"),
    "ro_flags_ptr": "<H",
}
_FDS = {"fd", "old_fd", "new_fd", "to"}
_FLAGS: dict[str, type[Flags]] = {
    "oflags": Oflags, "fdflags": Fdflags, "dirflags": Lookupflags, "old_flags": Lookupflags,
    "fst_flags": Fstflags, "ri_flags": Riflags, "how": Sdflags,
}
_ENUMS: dict[str, type[IntEnum]] = {"clock_id": Clockid, "advice": Advice}
_SIGNED = {("fd_seek", "offset"), ("proc_exit", "code")}  # filedelta; exit code (as Node)
#: (syscall, pointer) -> the struct it fills, decoded after success
_STRUCTS = {("fd_fdstat_get", "stat_ptr"): "fdstat", ("fd_filestat_get", "buf_ptr"): "filestat",
            ("path_filestat_get", "buf_ptr"): "filestat", ("fd_prestat_get", "buf_ptr"): "prestat"}
#: data arrays: (array, count) parameter names -> the result pointer holding the byte count of
#: data that was *read into* them (None: the data is input, shown as it is before the call)
_IOVEC_ARRAYS = {("iovs", "iovs_len"), ("ri_data", "ri_data_len"), ("si_data", "si_data_len")}
_READS = {"fd_read": "nread_ptr", "fd_pread": "nread_ptr", "sock_recv": "ro_datalen_ptr"}
#: (pointer, length) buffers a call fills with a string, and where its length ends up
_OUT_STRINGS = {("fd_prestat_dir_name", "path_ptr"): None, ("path_readlink", "buf"): "bufused_ptr"}

_CACHE: dict[str, list[Render]] = {}


def argument_renders(name: str) -> list[Render]:
    """One renderer per shown argument of syscall `name` (pairs such as a path's pointer and
    length become one), derived from its parameter names and cached."""
    renders = _CACHE.get(name)
    if renders is None:
        renders = _CACHE[name] = _build(name, _param_names(name))
    return renders


def _param_names(name: str) -> list[str]:
    return list(inspect.signature(SYSCALLS[name].fn).parameters)[1:]  # after ctx


def _build(call: str, params: list[str]) -> list[Render]:
    index = {p: i for i, p in enumerate(params)}
    renders: list[Render] = []
    skip: set[str] = set()
    for i, p in enumerate(params):
        if p in skip:
            continue
        stem = p.removesuffix("_ptr")
        length = f"{stem}_len" if p.endswith("_ptr") else f"{p}_len"
        if (call, p) in _OUT_STRINGS and length in index:
            skip.add(length)
            count = _OUT_STRINGS[call, p]
            renders.append(_out_string(i, index[length], None if count is None else index[count]))
        elif p.endswith("path_ptr") and length in index:
            skip.add(length)
            renders.append(_path(i, index[length]))
        elif (p, length) in _IOVEC_ARRAYS:
            read_count = _READS.get(call)
            renders.append(_iovecs(i, index[length], None if read_count is None
                                   else index[read_count]))
            renders.append(_number(index[length]))
            skip.add(length)
        elif p in _RESULTS:
            renders.append(_result(i, struct.Struct(_RESULTS[p])))
        elif (call, p) in _STRUCTS:
            renders.append(_struct(i, _STRUCTS[call, p]))
        elif p in _FDS:
            renders.append(_number(i))
        elif p == "flags":
            renders.append(_flags(i, Lookupflags if call.startswith("path_") else Fdflags))
        elif p in _FLAGS:
            renders.append(_flags(i, _FLAGS[p]))
        elif p in _ENUMS:
            renders.append(_enum(i, _ENUMS[p]))
        elif p == "whence":
            renders.append(_whence(i))
        elif p == "in_ptr" and call == "poll_oneoff":
            renders.append(_subscriptions(i, index["nsubscriptions"]))
        elif p.startswith("rights") or p.endswith("_ptr") or p in ("buf", "argv", "environ"):
            renders.append(_hex(i))
        elif (call, p) in _SIGNED:
            renders.append(_signed(i, 64 if SYSCALLS[call].sig[i] == "I" else 32))
        else:
            renders.append(_number(i))
    return renders


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


def _signed(i: int, bits: int) -> Render:
    return lambda ctx, v, ok: str(signed(v[i], bits))


def _hex(i: int) -> Render:
    return lambda ctx, v, ok: hex(v[i])


def _flags(i: int, flags: type[Flags]) -> Render:
    return lambda ctx, v, ok: flag_names(flags, v[i])


def _enum(i: int, enum: type[IntEnum]) -> Render:
    return lambda ctx, v, ok: enum_name(enum, v[i])


def _whence(i: int) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        whence = ctx.layout.whence.get(v[i])  # wasi_unstable numbers them differently
        return whence.name if whence is not None else str(v[i])

    return render


def _path(ptr: int, length: int) -> Render:
    return _safe(lambda ctx, v, ok: quote(ctx.mem.read_bytes(v[ptr], v[length]), None),
                 lambda v: f"{hex(v[ptr])}, {v[length]}")


def _out_string(ptr: int, length: int, count: int | None) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if not ok:
            return f"{hex(v[ptr])}, {v[length]}"
        mem = ctx.mem
        n = v[length] if count is None else struct.unpack_from("<I", mem.view, v[count])[0]
        return f"{quote(mem.read_bytes(v[ptr], n), None)}, {v[length]}"

    return _safe(render, lambda v: f"{hex(v[ptr])}, {v[length]}")


def _iovecs(array: int, length: int, count: int | None) -> Render:
    """The data of an iovec array: input data always, read data after a successful read."""

    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if count is not None and not ok:
            return hex(v[array])
        bufs = ctx.mem.iovecs(v[array], min(v[length], LIST_LIMIT + 1))
        left = None if count is None else struct.unpack_from("<I", ctx.mem.view, v[count])[0]
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


_FILESTAT_SIZE_AT = {64: 32, 56: 24}  # preview1 / wasi_unstable (nlink is u64 / u32)


def _struct(i: int, kind: str) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        if not ok:
            return hex(v[i])
        view, at = ctx.mem.view, v[i]
        if kind == "fdstat":
            ftype, flags = view[at], struct.unpack_from("<H", view, at + 2)[0]
            base, inheriting = struct.unpack_from("<QQ", view, at + 8)
            return (f"{{{enum_name(Filetype, ftype)}, {flag_names(Fdflags, flags)}, "
                    f"{hex(base)}, {hex(inheriting)}}}")
        if kind == "filestat":
            layout = ctx.layout.filestat
            size = struct.unpack_from("<Q", view, at + _FILESTAT_SIZE_AT[layout.size])[0]
            return f"{{{enum_name(Filetype, view[at + 16])}, size={size}}}"
        return f"{{DIR, {struct.unpack_from('<I', view, at + 4)[0]}}}"  # prestat

    return _safe(render, lambda v: hex(v[i]))


def _subscriptions(ptr: int, count: int) -> Render:
    def render(ctx: Context, v: tuple[int, ...], ok: bool) -> str:
        layout, view = ctx.layout, ctx.mem.view
        shown = []
        for n in range(min(v[count], LIST_LIMIT)):
            at = v[ptr] + n * layout.subscription_size
            userdata, tag = SUBSCRIPTION_HEAD.unpack_from(view, at)
            if tag == Eventtype.CLOCK:
                *_, clock_id, timeout, _precision, flags = layout.subscription_clock.unpack_from(
                    view, at + 16)
                what = f"CLOCK {enum_name(Clockid, clock_id)} {timeout} ns" + (
                    " ABSTIME" if flags & SUBCLOCKFLAGS_ABSTIME else "")
            elif tag in (Eventtype.FD_READ, Eventtype.FD_WRITE):
                what = f"{Eventtype(tag).name} {SUBSCRIPTION_FD.unpack_from(view, at + 16)[0]}"
            else:
                what = f"tag {tag}"
            shown.append(f"{{{hex(userdata)}, {what}}}")
        if v[count] > LIST_LIMIT:
            shown.append("...")
        return "[" + ", ".join(shown) + "]"

    return _safe(render, lambda v: hex(v[ptr]))
