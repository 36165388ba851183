"""WASI preview1 values: errno, rights, flags and enums (as the witx numbers them)."""

from __future__ import annotations

import errno as _py_errno
from enum import IntEnum


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
