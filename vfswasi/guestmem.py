"""Bounds-checked access to guest linear memory.

`GuestMemory.view` is a writable memoryview over the guest's whole linear memory, refreshed
by the dispatcher before every host call (memory.grow changes its length and may move it).
All pointers and lengths reaching here are already unsigned (the dispatcher masks them).

struct's pack_into/unpack_from raise struct.error when the range does not fit the view; the
dispatcher answers that with EFAULT, so single-struct accesses need no explicit check here.
Slices do need one: memoryview slicing silently clamps.
"""

from __future__ import annotations

import ctypes
import struct

from .abi import IOVEC, U32, U64, Errno, WasiError


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

    def write_u32(self, ptr: int, value: int) -> None:
        U32.pack_into(self.view, ptr, value)

    def write_u64(self, ptr: int, value: int) -> None:
        U64.pack_into(self.view, ptr, value)

    def iovecs(self, ptr: int, count: int) -> list[memoryview]:
        """The buffers of an iovec/ciovec array, each checked; EFAULT if any is out of range."""
        view = self.view
        if ptr + count * 8 > len(view):
            raise WasiError(Errno.FAULT)
        size = len(view)
        bufs = []
        for base, length in IOVEC.iter_unpack(view[ptr : ptr + count * 8]):
            if base + length > size:
                raise WasiError(Errno.FAULT)
            bufs.append(view[base : base + length])
        return bufs

    def path(self, ptr: int, length: int) -> str:
        """A guest path: NUL → EINVAL; WASI paths are UTF-8, anything else → EILSEQ."""
        raw = bytes(self.slice(ptr, length))
        if b"\0" in raw:
            raise WasiError(Errno.INVAL)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WasiError(Errno.ILSEQ) from None


def encode_path(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


STRUCT_ERROR = struct.error
