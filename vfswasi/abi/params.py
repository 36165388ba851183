"""The parameter types of the syscall declarations (`vfswasi.syscalls._registry`)."""

from __future__ import annotations

from .layout import (
    ADVICE,
    CIOVEC,
    CLOCKID,
    DIRCOOKIE,
    EXITCODE,
    FD,
    FDFLAGS,
    FILEDELTA,
    FILESIZE,
    FSTFLAGS,
    IOVEC,
    LOOKUPFLAGS,
    OFLAGS,
    RIFLAGS,
    RIGHTS,
    SDFLAGS,
    SIFLAGS,
    SIGNAL,
    SIZE,
    TIMESTAMP,
    U8,
    WHENCE,
    Int,
    Record,
)

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
