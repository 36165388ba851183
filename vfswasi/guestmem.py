"""Bounds-checked access to guest linear memory.

`GuestMemory.view` is a writable memoryview over the guest's whole linear memory, refreshed
by the dispatcher before every host call (memory.grow changes its length and may move it).
All pointers and lengths reaching here are already unsigned (the dispatcher masks them).

struct's pack_into/unpack_from raise struct.error when the range does not fit the view; the
dispatcher answers that with EFAULT, so single-struct accesses need no explicit check here.
Slices do need one: memoryview slicing silently clamps.

Nothing here allocates in proportion to what a guest asks for: an iovec array is looked at
only up to IOV_MAX entries, and a path longer than PATH_MAX is refused before it is copied.
"""

from __future__ import annotations

import ctypes
import struct

from .abi import IOVEC, Errno, WasiError

#: The most iovecs one call looks at (Linux's IOV_MAX, what os.readv/os.writev accept). A
#: longer array gives a short read or write, which POSIX allows and every caller handles;
#: building one memoryview per entry of a 30-million-entry array would exhaust the host.
IOV_MAX = 1024
#: Linux's PATH_MAX counts the terminating NUL: a path (or symlink target) of 4096 bytes or
#: more is ENAMETOOLONG there, and so in wasmtime; we refuse it before copying it out of guest
#: memory. (The per-component NAME_MAX lives in the resolver, which walks components.)
PATH_MAX = 4096


class GuestMemory:
    __slots__ = ("view", "size", "_base")

    def __init__(self) -> None:
        self.view: memoryview = memoryview(bytearray())
        self.size = -1  # length the view was built for; -1 forces a rebuild
        self._base = -1

    def refresh(self, base: int, size: int) -> memoryview:
        """Point the view at [base, base+size); reuses the old view when nothing moved."""
        if base != self._base or size != self.size:
            self._base, self.size = base, size
            if size:
                self.view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
            else:
                self.view = memoryview(bytearray())
        return self.view

    def forget(self) -> None:
        """Drop the view (the memory it showed may be gone)."""
        self.view = memoryview(bytearray())
        self._base = self.size = -1

    # --- access helpers ------------------------------------------------------------------

    def slice(self, ptr: int, length: int) -> memoryview:
        """A zero-copy window on guest memory; EFAULT when it does not fit."""
        if ptr + length > len(self.view):
            raise WasiError(Errno.FAULT)
        return self.view[ptr : ptr + length]

    def read_bytes(self, ptr: int, length: int) -> bytes:
        return bytes(self.slice(ptr, length))

    def write_bytes(self, ptr: int, data: bytes) -> None:
        self.slice(ptr, len(data))[:] = data

    def iovecs(self, ptr: int, count: int) -> list[memoryview]:
        """The buffers of an iovec/ciovec array, each checked; EFAULT if any is out of range.
        Only the first IOV_MAX entries are used (a short transfer); the whole array must
        still lie in memory, as the guest declared it.

        The array is read with one unpack into one flat tuple of ints (no tuple per iovec),
        and the only objects made per iovec are the memoryviews the I/O needs."""
        view = self.view
        size = len(view)
        if ptr + count * _IOVEC_SIZE > size:
            raise WasiError(Errno.FAULT)
        if count == 1:  # most calls (wasi-libc's stdio, bulk I/O)
            base, length = _unpack_iovec(view, ptr)
            if base + length > size:
                raise WasiError(Errno.FAULT)
            return [view[base : base + length]]
        if count > IOV_MAX:
            count = IOV_MAX
        words = _iovec_array(count).unpack_from(view, ptr)
        bases, lengths = words[0::2], words[1::2]
        if max(map(int.__add__, bases, lengths), default=0) > size:  # one check for all
            raise WasiError(Errno.FAULT)
        return [view[base : base + length] for base, length in zip(bases, lengths, strict=True)]

    def path(self, ptr: int, length: int) -> str:
        """A guest path: NUL → EINVAL; WASI paths are UTF-8, anything else → EILSEQ;
        PATH_MAX bytes or more → ENAMETOOLONG (checked after the bounds, before the copy)."""
        view = self.slice(ptr, length)
        if length >= PATH_MAX:
            raise WasiError(Errno.NAMETOOLONG)
        raw = bytes(view)
        if b"\0" in raw:
            raise WasiError(Errno.INVAL)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WasiError(Errno.ILSEQ) from None


def encode_path(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


STRUCT_ERROR = struct.error

_IOVEC_SIZE = IOVEC.size
_unpack_iovec = IOVEC.whole.unpack_from
_IOVEC_ARRAYS: dict[int, struct.Struct] = {}


def _iovec_array(count: int) -> struct.Struct:
    """A struct reading `count` iovecs as 2 * count u32s (cached: guests reuse a few counts;
    at most IOV_MAX of them)."""
    st = _IOVEC_ARRAYS.get(count)
    if st is None:
        assert IOVEC.whole.format == "<II"
        st = _IOVEC_ARRAYS[count] = struct.Struct(f"<{2 * count}I")
    return st
