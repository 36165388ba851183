"""WASI preview1 ABI: errno values, rights, flags, enums and struct layouts.

Values come from `wasi_snapshot_preview1.witx` (WebAssembly/WASI, branch wasi-0.1).
The three places where `wasi_unstable` differs (whence order, filestat, subscription_clock)
live in `vfswasi.context` (`Layout`, `UNSTABLE`); everything here is shared by both ABIs.
"""

from __future__ import annotations

import errno as _py_errno
import struct
from enum import IntEnum
from typing import Any


class Errno(IntEnum):
    SUCCESS = 0
    TOOBIG = 1  # E2BIG
    ACCES = 2
    ADDRINUSE = 3
    ADDRNOTAVAIL = 4
    AFNOSUPPORT = 5
    AGAIN = 6
    ALREADY = 7
    BADF = 8
    BADMSG = 9
    BUSY = 10
    CANCELED = 11
    CHILD = 12
    CONNABORTED = 13
    CONNREFUSED = 14
    CONNRESET = 15
    DEADLK = 16
    DESTADDRREQ = 17
    DOM = 18
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    HOSTUNREACH = 23
    IDRM = 24
    ILSEQ = 25
    INPROGRESS = 26
    INTR = 27
    INVAL = 28
    IO = 29
    ISCONN = 30
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    MLINK = 34
    MSGSIZE = 35
    MULTIHOP = 36
    NAMETOOLONG = 37
    NETDOWN = 38
    NETRESET = 39
    NETUNREACH = 40
    NFILE = 41
    NOBUFS = 42
    NODEV = 43
    NOENT = 44
    NOEXEC = 45
    NOLCK = 46
    NOLINK = 47
    NOMEM = 48
    NOMSG = 49
    NOPROTOOPT = 50
    NOSPC = 51
    NOSYS = 52
    NOTCONN = 53
    NOTDIR = 54
    NOTEMPTY = 55
    NOTRECOVERABLE = 56
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    NXIO = 60
    OVERFLOW = 61
    OWNERDEAD = 62
    PERM = 63
    PIPE = 64
    PROTO = 65
    PROTONOSUPPORT = 66
    PROTOTYPE = 67
    RANGE = 68
    ROFS = 69
    SPIPE = 70
    SRCH = 71
    STALE = 72
    TIMEDOUT = 73
    TXTBSY = 74
    XDEV = 75
    NOTCAPABLE = 76


def _host_errno_table() -> dict[int, int]:
    table: dict[int, int] = {}
    for e in Errno:
        name = "E2BIG" if e is Errno.TOOBIG else "E" + e.name
        code = getattr(_py_errno, name, None)
        if code is not None:
            table.setdefault(code, int(e))
    # Aliases the loop cannot see by name.
    table[_py_errno.EOPNOTSUPP] = Errno.NOTSUP
    table[_py_errno.EWOULDBLOCK] = Errno.AGAIN
    return table


#: Host (Python `errno` module) error number -> WASI errno.
HOST_TO_WASI_ERRNO: dict[int, int] = _host_errno_table()


def wasi_errno_from_oserror(exc: OSError) -> int:
    """The WASI errno for an OSError raised by the host or a backend (EIO when unknown)."""
    return HOST_TO_WASI_ERRNO.get(exc.errno or 0, Errno.IO)


class WasiError(Exception):
    """Raised inside a syscall to return `errno` to the guest."""

    __slots__ = ("errno",)

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno

    def __str__(self) -> str:
        return f"WASI errno {Errno(self.errno).name}"


class Flags:
    """A namespace of bit flags as plain ints.

    Not `enum.IntFlag`: its `&`, `|` and `~` run Python code (~0.8 µs each), and syscalls do
    them on every call. `names()` gives the symbolic form for messages and traces."""

    @classmethod
    def names(cls, value: int) -> str:
        bits = {name.lower(): bit for name, bit in vars(cls).items()
                if name.isupper() and isinstance(bit, int)}
        parts = [name for name, bit in bits.items() if bit and value & bit == bit]
        unknown = value & ~sum(bits.values())
        if unknown:
            parts.append(hex(unknown))
        return "|".join(parts) or "0"


class Rights(Flags):
    FD_DATASYNC = 1 << 0
    FD_READ = 1 << 1
    FD_SEEK = 1 << 2
    FD_FDSTAT_SET_FLAGS = 1 << 3
    FD_SYNC = 1 << 4
    FD_TELL = 1 << 5
    FD_WRITE = 1 << 6
    FD_ADVISE = 1 << 7
    FD_ALLOCATE = 1 << 8
    PATH_CREATE_DIRECTORY = 1 << 9
    PATH_CREATE_FILE = 1 << 10
    PATH_LINK_SOURCE = 1 << 11
    PATH_LINK_TARGET = 1 << 12
    PATH_OPEN = 1 << 13
    FD_READDIR = 1 << 14
    PATH_READLINK = 1 << 15
    PATH_RENAME_SOURCE = 1 << 16
    PATH_RENAME_TARGET = 1 << 17
    PATH_FILESTAT_GET = 1 << 18
    PATH_FILESTAT_SET_SIZE = 1 << 19
    PATH_FILESTAT_SET_TIMES = 1 << 20
    FD_FILESTAT_GET = 1 << 21
    FD_FILESTAT_SET_SIZE = 1 << 22
    FD_FILESTAT_SET_TIMES = 1 << 23
    PATH_SYMLINK = 1 << 24
    PATH_REMOVE_DIRECTORY = 1 << 25
    PATH_UNLINK_FILE = 1 << 26
    POLL_FD_READWRITE = 1 << 27
    SOCK_SHUTDOWN = 1 << 28
    SOCK_ACCEPT = 1 << 29


RIGHTS_ALL = (1 << 30) - 1

#: What a regular file can ever be granted.
RIGHTS_FILE = (
    Rights.FD_DATASYNC
    | Rights.FD_READ
    | Rights.FD_SEEK
    | Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_SYNC
    | Rights.FD_TELL
    | Rights.FD_WRITE
    | Rights.FD_ADVISE
    | Rights.FD_ALLOCATE
    | Rights.FD_FILESTAT_GET
    | Rights.FD_FILESTAT_SET_SIZE
    | Rights.FD_FILESTAT_SET_TIMES
    | Rights.POLL_FD_READWRITE
)

#: What a directory can ever be granted for itself (its base rights).
RIGHTS_DIR = (
    Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_SYNC
    | Rights.FD_ADVISE
    | Rights.PATH_CREATE_DIRECTORY
    | Rights.PATH_CREATE_FILE
    | Rights.PATH_LINK_SOURCE
    | Rights.PATH_LINK_TARGET
    | Rights.PATH_OPEN
    | Rights.FD_READDIR
    | Rights.PATH_READLINK
    | Rights.PATH_RENAME_SOURCE
    | Rights.PATH_RENAME_TARGET
    | Rights.PATH_FILESTAT_GET
    | Rights.PATH_FILESTAT_SET_SIZE
    | Rights.PATH_FILESTAT_SET_TIMES
    | Rights.FD_FILESTAT_GET
    | Rights.FD_FILESTAT_SET_TIMES
    | Rights.PATH_SYMLINK
    | Rights.PATH_REMOVE_DIRECTORY
    | Rights.PATH_UNLINK_FILE
)

#: A directory's inheriting rights: anything a file or subdirectory below it may get.
RIGHTS_DIR_INHERITING = RIGHTS_DIR | RIGHTS_FILE

#: stdio streams (character devices / pipes): no seek, tell or filestat changes.
RIGHTS_TTY = (
    Rights.FD_READ
    | Rights.FD_WRITE
    | Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_FILESTAT_GET
    | Rights.POLL_FD_READWRITE
)

RIGHTS_SOCKET = (
    Rights.FD_READ
    | Rights.FD_WRITE
    | Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_FILESTAT_GET
    | Rights.POLL_FD_READWRITE
    | Rights.SOCK_SHUTDOWN
    | Rights.SOCK_ACCEPT
)


class Filetype(IntEnum):
    UNKNOWN = 0
    BLOCK_DEVICE = 1
    CHARACTER_DEVICE = 2
    DIRECTORY = 3
    REGULAR_FILE = 4
    SOCKET_DGRAM = 5
    SOCKET_STREAM = 6
    SYMBOLIC_LINK = 7


class Oflags(Flags):
    CREAT = 1
    DIRECTORY = 2
    EXCL = 4
    TRUNC = 8


class Fdflags(Flags):
    APPEND = 1
    DSYNC = 2
    NONBLOCK = 4
    RSYNC = 8
    SYNC = 16


class Lookupflags(Flags):
    SYMLINK_FOLLOW = 1


class Fstflags(Flags):
    ATIM = 1
    ATIM_NOW = 2
    MTIM = 4
    MTIM_NOW = 8


class Whence(IntEnum):
    """preview1 order; wasi_unstable uses CUR=0, END=1, SET=2."""

    SET = 0
    CUR = 1
    END = 2


class Clockid(IntEnum):
    REALTIME = 0
    MONOTONIC = 1
    PROCESS_CPUTIME_ID = 2
    THREAD_CPUTIME_ID = 3


class Eventtype(IntEnum):
    CLOCK = 0
    FD_READ = 1
    FD_WRITE = 2


SUBCLOCKFLAGS_ABSTIME = 1
EVENTRWFLAGS_FD_READWRITE_HANGUP = 1
PREOPENTYPE_DIR = 0

RIFLAGS_RECV_PEEK = 1
RIFLAGS_RECV_WAITALL = 2
SDFLAGS_RD = 1
SDFLAGS_WR = 2

ADVICE_MAX = 5  # NORMAL, SEQUENTIAL, RANDOM, WILLNEED, DONTNEED, NOREUSE
SIGNAL_MAX = 30

class Riflags(Flags):
    RECV_PEEK = RIFLAGS_RECV_PEEK
    RECV_WAITALL = RIFLAGS_RECV_WAITALL


class Roflags(Flags):
    RECV_DATA_TRUNCATED = 1


class Siflags(Flags):
    pass  # witx defines no bits


class Sdflags(Flags):
    RD = SDFLAGS_RD
    WR = SDFLAGS_WR


class Subclockflags(Flags):
    ABSTIME = SUBCLOCKFLAGS_ABSTIME


class Eventrwflags(Flags):
    FD_READWRITE_HANGUP = EVENTRWFLAGS_FD_READWRITE_HANGUP


class Advice(IntEnum):
    NORMAL = 0
    SEQUENTIAL = 1
    RANDOM = 2
    WILLNEED = 3
    DONTNEED = 4
    NOREUSE = 5


class Preopentype(IntEnum):
    DIR = PREOPENTYPE_DIR


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


# --- parameter types of the syscall declarations -------------------------------------------


class Param:
    """How a syscall parameter is passed: `lowered` is its wasm values as (name suffix,
    "i"/"I"): one for a scalar or a pointer, two (pointer, length) for a buffer."""

    lowered: tuple[tuple[str, str], ...] = (("", "i"),)


class Scalar(Param):
    """An integer passed by value."""

    def __init__(self, ty: Int) -> None:
        self.type = ty
        self.lowered = (("", ty.wasm),)

    def __repr__(self) -> str:
        return self.type.name


class Out(Param):
    """A result: the syscall's body returns its value (a tuple of fields for a record), and
    the dispatcher writes it at this pointer afterwards (EFAULT if it does not fit). An `fd`
    result that cannot be written is closed again, so the guest never leaks an fd it was
    not told about."""

    def __init__(self, ty: Int | Record) -> None:
        self.type = ty

    def __repr__(self) -> str:
        return f"Out({self.type!r})"


class Buffer(Param):
    """A (pointer, length) pair — the lowering of witx `string` and `list<T>`, and of a
    `Pointer<u8>` with its length. `elem`: u8 for bytes, a record for arrays of them.
    `out`: the call fills it; `text`: its bytes are a string (a path)."""

    lowered = (("", "i"), ("_len", "i"))

    def __init__(self, name: str, elem: Int | Record = U8, *, out: bool = False,
                 text: bool = False) -> None:
        self.name, self.elem, self.out, self.text = name, elem, out, text

    def __repr__(self) -> str:
        return self.name


class Array(Param):
    """A pointer to `count` (another parameter's name) elements; `out`: the call fills
    it."""

    def __init__(self, elem: Record, count: str, *, out: bool = False) -> None:
        self.elem, self.count, self.out = elem, count, out

    def __repr__(self) -> str:
        return f"Array({self.elem!r}, {self.count})"


class Pointer(Param):
    """A pointer the declaration does not describe further (args_get's string table)."""

    def __init__(self, name: str, *, out: bool = False) -> None:
        self.name, self.out = name, out

    def __repr__(self) -> str:
        return self.name


#: the parameter types the declarations use
Fd = Scalar(FD)
Size = Scalar(SIZE)
Filesize = Scalar(FILESIZE)
Filedelta = Scalar(FILEDELTA)
Timestamp = Scalar(TIMESTAMP)
Dircookie = Scalar(DIRCOOKIE)
Exitcode = Scalar(EXITCODE)
Signal = Scalar(SIGNAL)
Clockid_ = Scalar(CLOCKID)
Whence_ = Scalar(WHENCE)
Advice_ = Scalar(ADVICE)
Rights_ = Scalar(RIGHTS)
Fdflags_ = Scalar(FDFLAGS)
Oflags_ = Scalar(OFLAGS)
Lookupflags_ = Scalar(LOOKUPFLAGS)
Fstflags_ = Scalar(FSTFLAGS)
Riflags_ = Scalar(RIFLAGS)
Siflags_ = Scalar(SIFLAGS)
Sdflags_ = Scalar(SDFLAGS)
Path = Buffer("path", text=True)
Iovecs = Buffer("iovec_array", IOVEC, out=True)
Ciovecs = Buffer("ciovec_array", CIOVEC)
OutBytes = Buffer("bytes", out=True)
OutText = Buffer("text", out=True, text=True)

U32_STRUCT = struct.Struct("<I")
U64_STRUCT = struct.Struct("<Q")
U32_PAIR = struct.Struct("<II")

assert (IOVEC.size, FDSTAT.size, FILESTAT.size, FILESTAT_UNSTABLE.size, DIRENT.size,
        PRESTAT.size, EVENT.size, SUBSCRIPTION.size, SUBSCRIPTION_UNSTABLE.size) == (
        8, 24, 64, 56, 24, 8, 32, 48, 56)
