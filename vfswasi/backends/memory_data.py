"""A file's data in a BytesIO that never loses what it held: growth charged to a storage
account first, and ENOSPC instead of CPython freeing the buffer when it fails to enlarge it
(see `_write_keeping`). Used by `vfswasi.backends.memory`."""

from __future__ import annotations

import errno
import io
import mmap
import sys
from contextlib import suppress
from typing import TYPE_CHECKING

from ..vfs import oserror

if TYPE_CHECKING:
    from ..quota import StorageAccount

# Writes beyond this would need a BytesIO larger than Python can address.
MAX_SIZE = sys.maxsize

# --- file data: growth that never loses what a file held ----------------------------------------


def check_size(size: int) -> None:
    if size > MAX_SIZE:
        raise oserror(errno.EFBIG)


# A buffer reallocated to at least this size is grown in place after a `_probe` (a guest's
# ftruncate or pwrite at 1 TiB is refused there, before BytesIO asks for it); smaller ones
# through a shared buffer (see `_write_keeping`), which costs a copy.
_PROBE_FROM = 1 << 18


def _probe(nbytes: int) -> None:
    """ENOSPC unless the OS would give `nbytes` more now: map that much memory, untouched and
    so free, and give it back at once (it refuses what it would refuse an allocation)."""
    try:
        mmap.mmap(-1, nbytes).close()
    except (OSError, OverflowError, MemoryError):
        raise oserror(errno.ENOSPC) from None


# sys.getsizeof(BytesIO) counts its buffer object only while the BytesIO holds the sole
# reference to it: then it is the object itself (plus GC header) and the bytes object.
_BIO_SELF = sys.getsizeof(io.BytesIO()) - io.BytesIO.__basicsize__  # a new one shares b""
_BYTES_SELF = sys.getsizeof(b"")


def _room(bio: io.BytesIO) -> int:
    """How long `bio` can get without reallocating its buffer; negative when the buffer is
    shared (then any change copies it, which leaves the original intact on failure)."""
    return sys.getsizeof(bio) - type(bio).__basicsize__ - _BIO_SELF - _BYTES_SELF


def _write_keeping(bio: io.BytesIO, data: memoryview | bytes, offset: int, size: int) -> int:
    """`bio.write(data)` at `offset`, past bio's length `size`; when the memory cannot be had
    bio keeps exactly what it held, and ENOSPC (EFBIG past what BytesIO can address) is
    raised.

    CPython's BytesIO frees its buffer when it fails to enlarge it (`_PyBytes_Resize`): the
    data is gone and every later call raises ValueError. A write that fits the buffer's room
    allocates nothing. Past it:

    - A large buffer: BytesIO asks for at most 9/8 of the new length, and the worst the
      allocator does with that is to allocate it anew beside the old one and copy; so we map
      that much first (`_probe`) and answer ENOSPC if the OS refuses. What it grants, the
      reallocation right after needs (the GIL is held in between, so no other Python thread
      can take it; only another process in that instant could, with strict overcommit).
      Growing in place (mremap) keeps big sequential writes free of copies.
    - A small buffer (or a shared one): BytesIO never resizes a shared buffer in place: it
      allocates a new one, copies, and keeps the old on failure. So we fill the room up to
      its end (no allocation), take the reference `getvalue()` then returns without copying,
      grow it (one allocation), and cut the filler off again if that failed. That is
      guaranteed, for a copy of at most `_PROBE_FROM` bytes.
    """
    end = offset + len(data)
    room = _room(bio)
    if end <= room:  # no reallocation: nothing can fail
        bio.seek(offset)
        return bio.write(data)
    most = end + (end >> 3) + 6  # what BytesIO asks for at most
    if most >= _PROBE_FROM:
        _probe(most)
        if room >= 0:
            bio.seek(offset)
            try:
                return bio.write(data)
            except (MemoryError, OverflowError) as e:
                code = errno.EFBIG if isinstance(e, OverflowError) else errno.ENOSPC
                raise oserror(code) from None
    if 0 <= size < room:
        bio.seek(room - 1)
        bio.write(b"\0")
    keep = None
    try:
        # the buffer itself (a copy when it holds at most one byte: restored below if freed)
        keep = bio.getvalue()
        # Room for half again the new length (BytesIO's own 1/8 would copy four times as
        # often), else for just the new length. At least half of it is in use, so the
        # truncate below keeps the buffer.
        for target in dict.fromkeys((end + end // 2, end)):
            try:
                bio.seek(target - 1)
                bio.write(b"\0")  # the one allocation: a new buffer, the old one kept
                break
            except MemoryError:
                if target == end:
                    raise
                if bio.closed:
                    bio.__init__(keep)  # type: ignore[misc]
    except (MemoryError, OverflowError) as e:
        if bio.closed and keep is not None:  # only a buffer too small for getvalue() to share
            bio.__init__(keep)  # type: ignore[misc]
        if not bio.closed:
            with suppress(MemoryError):  # truncate sets the length before it reallocates
                bio.truncate(size)
        code = errno.EFBIG if isinstance(e, OverflowError) else errno.ENOSPC
        raise oserror(code) from None
    finally:
        del keep  # the old buffer, now that the write copied it
    bio.seek(offset)
    n = bio.write(data)  # within the room now
    bio.truncate(end)
    return n


def _truncate_keeping(bio: io.BytesIO, new_size: int) -> None:
    """`bio.truncate(new_size)` (new_size < its length), keeping the data even if the buffer
    fails to shrink: BytesIO reallocates when it shrinks below half its room, which could
    (in principle) fail and free it like a growth."""
    keep = None
    if new_size < _room(bio) // 2:
        bio.seek(0)
        keep = bio.read(new_size)  # what must survive; a MemoryError here changed nothing
    try:
        bio.truncate(new_size)
    except MemoryError:
        if bio.closed and keep is not None:
            bio.__init__(keep)  # type: ignore[misc]
        # else the length was set before the reallocation failed: the data is right


def charged_write(storage: StorageAccount | None, bio: io.BytesIO, data: memoryview | bytes,
                   offset: int) -> int:
    """Write `data` at `offset` of a file's BytesIO (caller holds the entry's lock), charging
    the growth to `storage` first and refunding it if the write fails."""
    end = offset + len(data)
    check_size(end)
    size = bio.seek(0, 2)
    grow = end - size
    if grow <= 0:
        # within the file, so within the buffer: only a shared buffer is copied, and a
        # failed copy keeps the original
        bio.seek(offset)
        try:
            return bio.write(data)
        except MemoryError:
            raise oserror(errno.ENOSPC) from None
    if storage is None:
        return _write_keeping(bio, data, offset, size)
    storage.charge(grow)
    try:
        return _write_keeping(bio, data, offset, size)
    except BaseException:
        storage.refund(grow - max(0, bio.seek(0, 2) - size))
        raise


def charged_resize(storage: StorageAccount | None, bio: io.BytesIO, new_size: int) -> None:
    """Make a file's BytesIO `new_size` bytes long (zeros past the old end), charging growth
    first and refunding what shrinking gives back (caller holds the entry's lock)."""
    check_size(new_size)
    size = bio.seek(0, 2)
    if new_size > size:
        # BytesIO zero-fills the gap between the old end and a write past it
        charged_write(storage, bio, b"\0", new_size - 1)
    elif new_size < size:
        _truncate_keeping(bio, new_size)
        if storage is not None:
            storage.refund(size - bio.seek(0, 2))
