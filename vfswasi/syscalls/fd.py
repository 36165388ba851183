"""fd_* : operations on open file descriptors (files, directories, stdio).

Every backend's files get the same limits here, above the backends: offsets past 2**63-1 are
EINVAL, and a file may not grow past `ctx.limits.max_file_size` (EFBIG; a write that would
cross it is cut short there, as Linux does under RLIMIT_FSIZE). The bytes moved are counted
in `ctx.usage`.
"""

from __future__ import annotations

from operator import itemgetter

from ..abi import (
    ADVICE_MAX,
    DIRENT,
    FDSTAT,
    FILESIZE,
    FILESTAT,
    PREOPENTYPE_DIR,
    PRESTAT,
    SIZE,
    Advice_,
    Ciovecs,
    Dircookie,
    Errno,
    Fd,
    Fdflags,
    Fdflags_,
    Filedelta,
    Filesize,
    Filetype,
    Fstflags,
    Fstflags_,
    Iovecs,
    Out,
    OutBytes,
    OutText,
    Rights,
    Rights_,
    Timestamp,
    WasiError,
    Whence,
    Whence_,
)
from ..clocks import RealClock
from ..context import Context
from ..fdtable import DirEntry, Entry, FileEntry, StreamEntry
from ..guestmem import encode_path
from ..vfs import Stat
from ._registry import syscall

_DIRENT = DIRENT.whole
_DIRENT_SIZE = DIRENT.size
_DIRECTORY = int(Filetype.DIRECTORY)
_by_name = itemgetter(0)
# plain ints for the hot calls (a class attribute is a lookup per use)
_FD_READ, _FD_WRITE, _FD_SEEK = Rights.FD_READ, Rights.FD_WRITE, Rights.FD_SEEK
_READ_SEEK, _WRITE_SEEK = _FD_READ | _FD_SEEK, _FD_WRITE | _FD_SEEK
_APPEND = Fdflags.APPEND
_SETTABLE_FDFLAGS = Fdflags.APPEND | Fdflags.NONBLOCK
_ALL_FDFLAGS = 0x1F


# --- helpers shared by several fd_* calls (and path_*) -------------------------------------------


def check_fstflags(fst: int) -> None:
    if fst & ~0xF or (fst & Fstflags.ATIM and fst & Fstflags.ATIM_NOW) or (
        fst & Fstflags.MTIM and fst & Fstflags.MTIM_NOW
    ):
        raise WasiError(Errno.INVAL)


def times_from_fstflags(clock: RealClock, atim: int, mtim: int,
                        fst: int) -> tuple[int | None, int | None]:
    """The (atime, mtime) in ns to set, None meaning "leave unchanged"; *_NOW is `clock`'s
    now (the instance's: virtual in a deterministic run)."""
    check_fstflags(fst)
    now = clock.time_ns() if fst & (Fstflags.ATIM_NOW | Fstflags.MTIM_NOW) else 0
    a = atim if fst & Fstflags.ATIM else now if fst & Fstflags.ATIM_NOW else None
    m = mtim if fst & Fstflags.MTIM else now if fst & Fstflags.MTIM_NOW else None
    return a, m


def stream_stat(entry: StreamEntry) -> Stat:
    return Stat(0, 0, entry.filetype, 1, 0, 0, 0, 0)


def _io_entry(ctx: Context, fd: int, right: int) -> Entry:
    """A file or stream for reading/writing: EBADF for directories (as wasmtime)."""
    entry = ctx.fds.get(fd)
    if isinstance(entry, DirEntry):
        raise WasiError(Errno.BADF)
    if entry.rights_base & right != right:
        raise WasiError(Errno.NOTCAPABLE)
    return entry


def _seekable(ctx: Context, fd: int, right: int) -> FileEntry:
    """A regular file for offset operations: ESPIPE for streams (checked before rights),
    EBADF for anything else that is no regular file. One table lookup."""
    entry = ctx.fds.get(fd)
    if not isinstance(entry, FileEntry):
        raise WasiError(Errno.SPIPE if isinstance(entry, StreamEntry) else Errno.BADF)
    if entry.rights_base & right != right:
        raise WasiError(Errno.NOTCAPABLE)
    return entry


#: Host file offsets are signed 64-bit: a range past this is EINVAL (as wasmtime answers),
#: never handed to a backend (os.preadv would raise OverflowError, not OSError).
_MAX_OFFSET = (1 << 63) - 1


def _read_at(entry: FileEntry, bufs: list[memoryview], offset: int) -> int:
    readinto = entry.pread  # FD_READ, checked, stands for the handle's read mode
    total = 0
    for buf in bufs:
        size = len(buf)
        if not size:
            continue
        at = offset + total
        if at + size > _MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        n = readinto(buf, at)
        total += n
        if n < size:
            break
    return total


_SYNC_FDFLAGS = Fdflags.DSYNC | Fdflags.RSYNC | Fdflags.SYNC


def _within_size_limit(bufs: list[memoryview], offset: int, limit: int) -> list[memoryview]:
    """`bufs` cut where the file would grow past `limit` bytes; EFBIG if not one byte fits
    (Linux's RLIMIT_FSIZE rule: a short write up to the limit, EFBIG at it)."""
    room = limit - offset
    out = []
    for buf in bufs:
        if not buf:
            continue
        if room <= 0:
            break
        if len(buf) > room:
            buf = buf[:room]
        out.append(buf)
        room -= len(buf)
    if not out and any(bufs):
        raise WasiError(Errno.FBIG)
    return out


def _write_at(entry: FileEntry, bufs: list[memoryview], offset: int,
              limit: int | None) -> int:
    if limit is not None:
        bufs = _within_size_limit(bufs, offset, limit)
    write = entry.pwrite  # FD_WRITE, checked, stands for the handle's write mode
    total = 0
    for buf in bufs:
        size = len(buf)
        if size:
            at = offset + total
            if at + size > _MAX_OFFSET:
                raise WasiError(Errno.INVAL)
            total += write(buf, at)
    if entry.fdflags & _SYNC_FDFLAGS:
        entry.handle.sync()  # the guest asked for O_SYNC/O_DSYNC: durable before we answer
    return total


# --- reading and writing ---------------------------------------------------------------------------


@syscall(fd=Fd, iovs=Iovecs, nread=Out(SIZE))
def fd_read(ctx: Context, fd: int, iovs: int, iovs_len: int, nread: int) -> int:
    entry = _io_entry(ctx, fd, _FD_READ)
    bufs = ctx.mem.iovecs(iovs, iovs_len)
    if isinstance(entry, FileEntry):
        n = _read_at(entry, bufs, entry.offset)
        entry.offset += n
    else:
        n = entry.stream.readv(bufs)  # type: ignore[attr-defined]
    ctx.usage.bytes_read += n
    return n


@syscall(fd=Fd, iovs=Ciovecs, nwritten=Out(SIZE))
def fd_write(ctx: Context, fd: int, iovs: int, iovs_len: int, nwritten: int) -> int:
    entry = _io_entry(ctx, fd, _FD_WRITE)
    bufs = ctx.mem.iovecs(iovs, iovs_len)
    if isinstance(entry, FileEntry):
        if entry.fdflags & _APPEND:
            entry.offset = entry.handle.stat().size
        n = _write_at(entry, bufs, entry.offset, ctx.limits.max_file_size)
        entry.offset += n
    else:
        # A short write ends the call (the guest writes the rest): never leave a gap.
        n = entry.stream.writev(bufs)  # type: ignore[attr-defined]
    ctx.usage.bytes_written += n
    return n


@syscall(fd=Fd, iovs=Iovecs, offset=Filesize, nread=Out(SIZE))
def fd_pread(ctx: Context, fd: int, iovs: int, iovs_len: int, offset: int, nread: int) -> int:
    entry = _seekable(ctx, fd, _READ_SEEK)
    n = _read_at(entry, ctx.mem.iovecs(iovs, iovs_len), offset)
    ctx.usage.bytes_read += n
    return n


@syscall(fd=Fd, iovs=Ciovecs, offset=Filesize, nwritten=Out(SIZE))
def fd_pwrite(ctx: Context, fd: int, iovs: int, iovs_len: int, offset: int,
              nwritten: int) -> int:
    entry = _seekable(ctx, fd, _WRITE_SEEK)
    if entry.fdflags & Fdflags.APPEND:
        # Linux's pwrite on an O_APPEND file appends, whatever the offset; wasmtime shows it.
        offset = entry.handle.stat().size
    n = _write_at(entry, ctx.mem.iovecs(iovs, iovs_len), offset, ctx.limits.max_file_size)
    ctx.usage.bytes_written += n
    return n


# --- offsets ---------------------------------------------------------------------------------------


@syscall(fd=Fd, offset=Filedelta, whence=Whence_, newoffset=Out(FILESIZE))
def fd_seek(ctx: Context, fd: int, offset: int, whence: int, newoffset: int) -> int:
    offset -= (offset >> 63) << 64  # filedelta is signed
    wh = ctx.whence(whence)
    # Asking where we are needs only FD_TELL (as uvwasi and the witx say).
    right = Rights.FD_TELL if wh is Whence.CUR and offset == 0 else Rights.FD_SEEK
    entry = _seekable(ctx, fd, right)
    if wh is Whence.SET:
        new = offset
    elif wh is Whence.CUR:
        new = entry.offset + offset
    else:
        new = entry.handle.stat().size + offset
    # Before 0, or past what an off_t holds (CUR and END get there from valid offsets):
    # EINVAL, as lseek(2). wasmtime keeps a u64 position and only fails the next read or
    # write there (EINVAL too); refusing the seek keeps every offset a backend sees valid.
    if new < 0 or new > _MAX_OFFSET:
        raise WasiError(Errno.INVAL)
    entry.offset = new
    return new


@syscall(fd=Fd, offset=Out(FILESIZE))
def fd_tell(ctx: Context, fd: int, offset: int) -> int:
    return _seekable(ctx, fd, Rights.FD_TELL).offset


# --- fd state ----------------------------------------------------------------------------------------


@syscall(fd=Fd, stat=Out(FDSTAT))
def fd_fdstat_get(ctx: Context, fd: int, stat: int) -> tuple[int, int, int, int]:
    e = ctx.fds.get(fd)
    return e.filetype, e.fdflags, e.rights_base, e.rights_inheriting


@syscall(fd=Fd, flags=Fdflags_)
def fd_fdstat_set_flags(ctx: Context, fd: int, flags: int) -> None:
    entry = ctx.fds.get(fd, Rights.FD_FDSTAT_SET_FLAGS)
    if flags & ~_ALL_FDFLAGS:
        raise WasiError(Errno.INVAL)
    if flags & ~_SETTABLE_FDFLAGS:
        # The *SYNC flags can only be chosen at open (wasmtime answers the same).
        raise WasiError(Errno.INVAL)
    entry.set_fdflags((entry.fdflags & ~_SETTABLE_FDFLAGS) | flags)


@syscall(fd=Fd, fs_rights_base=Rights_, fs_rights_inheriting=Rights_)
def fd_fdstat_set_rights(ctx: Context, fd: int, fs_rights_base: int,
                         fs_rights_inheriting: int) -> None:
    entry = ctx.fds.get(fd)
    # Rights may only shrink.
    if fs_rights_base & ~entry.rights_base or fs_rights_inheriting & ~entry.rights_inheriting:
        raise WasiError(Errno.NOTCAPABLE)
    entry.rights_base = fs_rights_base
    entry.rights_inheriting = fs_rights_inheriting


@syscall(fd=Fd, stat=Out(FILESTAT))
def fd_filestat_get(ctx: Context, fd: int, stat: int) -> Stat:
    entry = ctx.fds.get(fd, Rights.FD_FILESTAT_GET)
    if isinstance(entry, FileEntry):
        st = entry.handle.stat()
    elif isinstance(entry, DirEntry):
        st = entry.stat()
    else:
        st = stream_stat(entry)  # type: ignore[arg-type]
    return ctx.guest_stat(st)


@syscall(fd=Fd, size=Filesize)
def fd_filestat_set_size(ctx: Context, fd: int, size: int) -> None:
    entry = ctx.fds.file(fd, Rights.FD_FILESTAT_SET_SIZE)
    if size >= 1 << 63:
        raise WasiError(Errno.INVAL)
    limit = ctx.limits.max_file_size
    if limit is not None and size > limit:
        raise WasiError(Errno.FBIG)
    entry.handle.truncate(size)


@syscall(fd=Fd, atim=Timestamp, mtim=Timestamp, fst_flags=Fstflags_)
def fd_filestat_set_times(ctx: Context, fd: int, atim: int, mtim: int, fst_flags: int) -> None:
    entry = ctx.fds.get(fd, Rights.FD_FILESTAT_SET_TIMES)
    a, m = times_from_fstflags(ctx.clock, atim, mtim, fst_flags)
    if isinstance(entry, FileEntry):
        entry.handle.set_times(a, m)
    elif isinstance(entry, DirEntry):
        entry.backend.set_dir_times(entry.handle, a, m)
    else:
        raise WasiError(Errno.BADF)


# --- file-level hints and space ---------------------------------------------------------------------


@syscall(fd=Fd, offset=Filesize, len=Filesize, advice=Advice_)
def fd_advise(ctx: Context, fd: int, offset: int, len: int, advice: int) -> None:  # noqa: A002
    ctx.fds.file(fd, Rights.FD_ADVISE)
    if advice > ADVICE_MAX:
        raise WasiError(Errno.INVAL)
    # Advice is only a hint; nothing here benefits from it.


@syscall(fd=Fd, offset=Filesize, len=Filesize)
def fd_allocate(ctx: Context, fd: int, offset: int, len: int) -> None:  # noqa: A002
    # wasmtime answers ENOTSUP; the spec defines it, uvwasi implements it, and so do we.
    entry = ctx.fds.file(fd, Rights.FD_ALLOCATE)
    if offset + len >= 1 << 63:
        raise WasiError(Errno.FBIG)
    limit = ctx.limits.max_file_size
    if limit is not None and offset + len > limit:
        raise WasiError(Errno.FBIG)
    entry.handle.allocate(offset, len)


@syscall(fd=Fd)
def fd_datasync(ctx: Context, fd: int) -> None:
    _sync(ctx, fd, Rights.FD_DATASYNC)


@syscall(fd=Fd)
def fd_sync(ctx: Context, fd: int) -> None:
    _sync(ctx, fd, Rights.FD_SYNC)


def _sync(ctx: Context, fd: int, right: int) -> None:
    entry = ctx.fds.get(fd, right)
    if isinstance(entry, FileEntry):
        entry.handle.sync()
    elif isinstance(entry, DirEntry):
        entry.backend.sync_dir(entry.handle)


# --- the table itself ----------------------------------------------------------------------------------


@syscall(fd=Fd)
def fd_close(ctx: Context, fd: int) -> None:
    ctx.fds.pop(fd).close()


@syscall(fd=Fd, to=Fd)
def fd_renumber(ctx: Context, fd: int, to: int) -> None:
    ctx.fds.renumber(fd, to)


@syscall(fd=Fd, prestat=Out(PRESTAT))
def fd_prestat_get(ctx: Context, fd: int, prestat: int) -> tuple[int, int]:
    return PREOPENTYPE_DIR, len(encode_path(_preopen(ctx, fd).preopen))  # type: ignore[arg-type]


@syscall(fd=Fd, path=OutText)
def fd_prestat_dir_name(ctx: Context, fd: int, path: int, path_len: int) -> None:
    name = encode_path(_preopen(ctx, fd).preopen)  # type: ignore[arg-type]
    if path_len < len(name):
        raise WasiError(Errno.NAMETOOLONG)
    ctx.mem.write_bytes(path, name)


def _preopen(ctx: Context, fd: int) -> DirEntry:
    """The preopen at `fd`; EBADF for anything else (wasi-libc stops probing at EBADF)."""
    entry = ctx.fds.get(fd)
    if not isinstance(entry, DirEntry) or entry.preopen is None:
        raise WasiError(Errno.BADF)
    return entry  # type: ignore[return-value]


# --- directories ---------------------------------------------------------------------------------------


@syscall(fd=Fd, buf=OutBytes, cookie=Dircookie, bufused=Out(SIZE))
def fd_readdir(ctx: Context, fd: int, buf: int, buf_len: int, cookie: int,
               bufused: int) -> int:
    entry = ctx.fds.get(fd)
    if not isinstance(entry, DirEntry):
        raise WasiError(Errno.BADF)
    if not entry.rights_base & Rights.FD_READDIR:
        raise WasiError(Errno.NOTCAPABLE)
    out = ctx.mem.slice(buf, buf_len)
    listing = entry.listing
    if cookie == 0 or listing is None:
        # A new snapshot at every rewind: cookies index into it, so they stay valid while
        # the guest reads even if the directory changes meanwhile.
        listing = entry.listing = _dirents(entry)
    records, starts = listing
    if cookie >= len(starts):  # at or past the end: nothing more
        return 0
    # The records lie back to back, so the entries from `cookie` on that fit are one slice,
    # and the last one is cut at the end of the buffer (the guest sees bufused == buf_len).
    start = starts[cookie]
    used = min(buf_len, len(records) - start)
    out[:used] = records[start : start + used]
    return used


def _dirents(entry: DirEntry) -> tuple[bytes, list[int]]:
    """The snapshot as the guest reads it: every dirent record (header, then name) packed
    once, in name order, with the offset where each cookie's record starts."""
    me = entry.stat().ino
    listing = [(".", me, _DIRECTORY), ("..", me, _DIRECTORY)]
    # names are unique: by name alone is the tuples' order, at half the comparisons
    listing += sorted(entry.backend.listdir(entry.handle), key=_by_name)
    parts: list[bytes] = []
    starts: list[int] = []
    add_part, add_start = parts.append, starts.append
    offset = 0
    pack = _DIRENT.pack
    for index, (name, ino, ftype) in enumerate(listing, 1):
        raw = name.encode("utf-8", "surrogateescape")  # encode_path, inlined
        add_start(offset)
        size = len(raw)
        offset += _DIRENT_SIZE + size
        add_part(pack(index, ino, size, ftype))
        add_part(raw)
    return b"".join(parts), starts
