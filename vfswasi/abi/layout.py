"""WASI preview1 types as Python values: integers, records and unions with their layouts."""

from __future__ import annotations

import struct
from typing import Any

from .values import (
    Advice,
    Clockid,
    Errno,
    Eventrwflags,
    Eventtype,
    Fdflags,
    Filetype,
    Fstflags,
    Lookupflags,
    Oflags,
    Preopentype,
    Riflags,
    Rights,
    Roflags,
    Sdflags,
    Siflags,
    Subclockflags,
    Whence,
)

# --- ABI types ----------------------------------------------------------------------------
#
# The witx types, as Python values: integers (with the Flags or enum class naming their
# values), records laid out with C's natural alignment (offsets are computed from the field
# list, as witx does, never written by hand), and the parameter types of the syscall
# declarations (`vfswasi.syscalls._registry`). Everything that knows a syscall's parameters —
# the dispatcher's wasm signature, the result writer, the tracer, the property tests' WAT
# trampoline — reads them from these declarations.


def _round_up(n: int, align: int) -> int:
    return -(-n // align) * align


class Int:
    """An integer type: witx u8..u64 or a named alias of one (fd, size, a flags or enum type).

    `values` names the values (a `Flags` or `IntEnum` subclass); `signed` marks a two's
    complement value (filedelta; exitcode, which Node and the tracer show signed). Lowered to
    one wasm i64 when 8 bytes wide, else one i32."""

    __slots__ = ("name", "fmt", "values", "signed", "size", "align", "wasm")

    def __init__(self, name: str, fmt: str, values: type | None = None,
                 signed: bool = False) -> None:
        self.name, self.fmt, self.values, self.signed = name, fmt, values, signed
        self.size = self.align = struct.calcsize("<" + fmt)
        self.wasm = "I" if self.size == 8 else "i"

    def __repr__(self) -> str:
        return self.name


U8, U16, U32, U64 = Int("u8", "B"), Int("u16", "H"), Int("u32", "I"), Int("u64", "Q")
SIZE = Int("size", "I")
FILESIZE = Int("filesize", "Q")
FILEDELTA = Int("filedelta", "Q", signed=True)
TIMESTAMP = Int("timestamp", "Q")
DIRCOOKIE = Int("dircookie", "Q")
USERDATA = Int("userdata", "Q")
INODE = Int("inode", "Q")
DEVICE = Int("device", "Q")
LINKCOUNT = Int("linkcount", "Q")
FD = Int("fd", "I")
EXITCODE = Int("exitcode", "I", signed=True)
SIGNAL = Int("signal", "B")
POINTER = Int("pointer", "I")  # a guest address the call does not look behind
ERRNO = Int("errno", "H", Errno)
FILETYPE = Int("filetype", "B", Filetype)
CLOCKID = Int("clockid", "I", Clockid)
WHENCE = Int("whence", "B", Whence)  # numbered per ABI version: see `vfswasi.context`
ADVICE = Int("advice", "B", Advice)
EVENTTYPE = Int("eventtype", "B", Eventtype)
PREOPENTYPE = Int("preopentype", "B", Preopentype)
RIGHTS = Int("rights", "Q", Rights)
FDFLAGS = Int("fdflags", "H", Fdflags)
OFLAGS = Int("oflags", "H", Oflags)
LOOKUPFLAGS = Int("lookupflags", "I", Lookupflags)
FSTFLAGS = Int("fstflags", "H", Fstflags)
RIFLAGS = Int("riflags", "H", Riflags)
ROFLAGS = Int("roflags", "H", Roflags)
SIFLAGS = Int("siflags", "H", Siflags)
SDFLAGS = Int("sdflags", "B", Sdflags)
SUBCLOCKFLAGS = Int("subclockflags", "H", Subclockflags)
EVENTRWFLAGS = Int("eventrwflags", "H", Eventrwflags)


class Union:
    """A witx union: a tag, then one payload (aligned for the widest case) per tag value.
    Only the tag is a field of the enclosing record; a payload is read with its own record
    at `payload_offset`."""

    __slots__ = ("name", "tag", "cases", "payload_offset", "size", "align")

    def __init__(self, name: str, tag: Int, cases: dict[str, Record]) -> None:
        self.name, self.tag, self.cases = name, tag, cases
        payload_align = max(case.align for case in cases.values())
        self.payload_offset = _round_up(tag.size, payload_align)
        self.align = max(tag.align, payload_align)
        self.size = _round_up(
            self.payload_offset + max(case.size for case in cases.values()), self.align)

    def __repr__(self) -> str:
        return self.name


class Record:
    """A witx record (C struct), its fields named and laid out with natural alignment.

    `pack_into(buf, at, *values)` writes the scalar fields in order (`flat`: nested records'
    fields included, a union as its tag), run by run, leaving padding untouched (wasmtime
    writes field by field, and guests may keep data there) — or, with `zero_padding`, the
    whole struct in one go, padding zeroed (dirent headers: wasmtime builds them as bytes).
    It raises struct.error before writing anything when the struct does not fit."""

    __slots__ = ("name", "fields", "offsets", "size", "align", "flat", "runs", "whole",
                 "pack_into")

    def __init__(self, name: str, fields: dict[str, Int | Record | Union], *,
                 zero_padding: bool = False) -> None:
        self.name, self.fields = name, fields
        self.offsets: dict[str, int] = {}
        at, align = 0, 1
        for fname, ftype in fields.items():
            at = _round_up(at, ftype.align)
            self.offsets[fname] = at
            at += ftype.size
            align = max(align, ftype.align)
        self.align = align
        self.size = _round_up(at, align)
        #: (dotted name, offset, type) of every scalar field, in order
        self.flat: tuple[tuple[str, int, Int], ...] = tuple(self._flatten("", 0))
        #: (offset, struct, first value index, value count) of each run of adjacent fields
        self.runs: tuple[tuple[int, struct.Struct, int, int], ...] = tuple(self._runs())
        #: the whole struct as one struct.Struct, padding as pad bytes
        self.whole = struct.Struct("<" + self._format(0, self.size))
        self.pack_into = self._packer(zero_padding)

    def __repr__(self) -> str:
        return self.name

    def _flatten(self, prefix: str, base: int):  # type: ignore[no-untyped-def]
        for fname, ftype in self.fields.items():
            at = base + self.offsets[fname]
            if isinstance(ftype, Record):
                yield from ftype._flatten(f"{prefix}{fname}.", at)
            elif isinstance(ftype, Union):
                yield (f"{prefix}{fname}.tag", at, ftype.tag)
            else:
                yield (prefix + fname, at, ftype)

    def _runs(self):  # type: ignore[no-untyped-def]
        run: list[tuple[str, int, Int]] = []
        first = 0
        for n, field in enumerate(self.flat):
            if run and run[-1][1] + run[-1][2].size != field[1]:
                yield (run[0][1], struct.Struct("<" + "".join(f[2].fmt for f in run)), first,
                       len(run))
                run, first = [], n
            run.append(field)
        if run:
            yield (run[0][1], struct.Struct("<" + "".join(f[2].fmt for f in run)), first,
                   len(run))

    def _format(self, start: int, end: int) -> str:
        """struct format of bytes [start, end): fields in that range, pad bytes between."""
        out, at = [], start
        for _, offset, ftype in self.flat:
            if offset < start or offset >= end:
                continue
            if offset > at:
                out.append(f"{offset - at}x")
            out.append(ftype.fmt)
            at = offset + ftype.size
        if end > at:
            out.append(f"{end - at}x")
        return "".join(out)

    def _packer(self, zero_padding: bool):  # type: ignore[no-untyped-def]
        if zero_padding or len(self.runs) == 1 and self.whole.size == self.runs[0][1].size:
            return self.whole.pack_into
        # The last run ends the struct: written first, it is the bounds check for the rest.
        names = [f"v{i}" for i in range(len(self.flat))]
        lines = [f"def pack_into(buf, at, {', '.join(names)}):"]
        env: dict[str, object] = {}
        for n, (offset, st, first, count) in reversed(list(enumerate(self.runs))):
            env[f"p{n}"] = st.pack_into
            args = ", ".join(names[first:first + count])
            lines.append(f"    p{n}(buf, at + {offset}, {args})")
        return compile_function("\n".join(lines), env, f"<{self.name}.pack_into>")

    def offset_of(self, path: str) -> int:
        """Offset of a dotted field ("fd_readwrite.nbytes"); "u.<case>" is that union
        case's payload."""
        head, _, rest = path.partition(".")
        at, ftype = self.offsets[head], self.fields[head]
        if not rest:
            return at
        if isinstance(ftype, Union):
            return at + (0 if rest == "tag" else ftype.payload_offset if rest in ftype.cases
                         else ftype.cases[rest])  # KeyError for an unknown case
        assert isinstance(ftype, Record), path
        return at + ftype.offset_of(rest)

    def reader(self, *paths: str) -> tuple[int, struct.Struct]:
        """(offset, struct) reading just the named scalar fields, in order, in one unpack."""
        wanted = [f for f in self.flat if f[0] in paths]
        assert [f[0] for f in wanted] == list(paths), (self.name, paths)
        out, at = [], wanted[0][1]
        for _, offset, ftype in wanted:
            if offset > at:
                out.append(f"{offset - at}x")
            out.append(ftype.fmt)
            at = offset + ftype.size
        return wanted[0][1], struct.Struct("<" + "".join(out))

    def unpack_from(self, buf: memoryview | bytes, at: int = 0) -> dict[str, int]:
        """Every scalar field by dotted name (for traces and tests: not a hot path)."""
        return dict(zip((f[0] for f in self.flat), self.whole.unpack_from(buf, at),
                        strict=True))


def compile_function(source: str, env: dict[str, object], filename: str) -> Any:
    """The one function defined by `source`, compiled with `env` as its globals. Used for
    the few per-layout or per-syscall functions on the hot path, where a generic loop
    would cost more than the work it does (the way `dataclasses` builds `__init__`)."""
    namespace: dict[str, object] = {}
    exec(compile(source, filename, "exec"), env, namespace)  # noqa: S102 - our own text
    (fn,) = namespace.values()
    return fn


# --- records (little-endian; sizes and offsets are checked against the witx in the tests) ---

#: iovec / ciovec: buf, buf_len
IOVEC = Record("iovec", {"buf": POINTER, "buf_len": SIZE})
CIOVEC = Record("ciovec", {"buf": POINTER, "buf_len": SIZE})
FDSTAT = Record("fdstat", {"fs_filetype": FILETYPE, "fs_flags": FDFLAGS,
                           "fs_rights_base": RIGHTS, "fs_rights_inheriting": RIGHTS})
FILESTAT = Record("filestat", {"dev": DEVICE, "ino": INODE, "filetype": FILETYPE,
                               "nlink": LINKCOUNT, "size": FILESIZE, "atim": TIMESTAMP,
                               "mtim": TIMESTAMP, "ctim": TIMESTAMP})
#: wasi_unstable: nlink is a u32 (so everything after it moves up by 4)
FILESTAT_UNSTABLE = Record("filestat", {**FILESTAT.fields, "nlink": Int("linkcount", "I")})
#: dirent header (the name follows it): built as whole bytes, padding zeroed
DIRENT = Record("dirent", {"d_next": DIRCOOKIE, "d_ino": INODE, "d_namlen": SIZE,
                           "d_type": FILETYPE}, zero_padding=True)
#: prestat is a union with the one case `dir`; laid out as a record it has the same bytes
PRESTAT = Record("prestat", {"tag": PREOPENTYPE,
                             "dir": Record("prestat_dir", {"pr_name_len": SIZE})})
EVENT = Record("event", {
    "userdata": USERDATA, "error": ERRNO, "type": EVENTTYPE,
    "fd_readwrite": Record("event_fd_readwrite", {"nbytes": FILESIZE, "flags": EVENTRWFLAGS}),
})
SUBSCRIPTION_CLOCK = Record("subscription_clock", {
    "id": CLOCKID, "timeout": TIMESTAMP, "precision": TIMESTAMP, "flags": SUBCLOCKFLAGS})
#: wasi_unstable's clock subscription starts with a user-defined identifier
SUBSCRIPTION_CLOCK_UNSTABLE = Record("subscription_clock", {
    "identifier": USERDATA, **SUBSCRIPTION_CLOCK.fields})
SUBSCRIPTION_FD_READWRITE = Record("subscription_fd_readwrite", {"file_descriptor": FD})


def _subscription(clock: Record) -> Record:
    return Record("subscription", {"userdata": USERDATA, "u": Union("subscription_u", EVENTTYPE, {
        "clock": clock, "fd_read": SUBSCRIPTION_FD_READWRITE,
        "fd_write": SUBSCRIPTION_FD_READWRITE})})


SUBSCRIPTION = _subscription(SUBSCRIPTION_CLOCK)
SUBSCRIPTION_UNSTABLE = _subscription(SUBSCRIPTION_CLOCK_UNSTABLE)

#: the records wasi_unstable lays out differently, by their preview1 record
UNSTABLE_RECORDS: dict[Record, Record] = {FILESTAT: FILESTAT_UNSTABLE,
                                          SUBSCRIPTION: SUBSCRIPTION_UNSTABLE,
                                          SUBSCRIPTION_CLOCK: SUBSCRIPTION_CLOCK_UNSTABLE}


def record_for(record: Record, version: str) -> Record:
    """`record` as ABI `version` lays it out."""
    return UNSTABLE_RECORDS.get(record, record) if version == "unstable" else record


U32_STRUCT = struct.Struct("<I")
U64_STRUCT = struct.Struct("<Q")
U32_PAIR = struct.Struct("<II")

assert (IOVEC.size, FDSTAT.size, FILESTAT.size, FILESTAT_UNSTABLE.size, DIRENT.size,
        PRESTAT.size, EVENT.size, SUBSCRIPTION.size, SUBSCRIPTION_UNSTABLE.size) == (
        8, 24, 64, 56, 24, 8, 32, 48, 56)
