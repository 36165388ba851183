"""MemoryBackend: a mount over the user's own `fs.memoryfs.MemoryFS`, operating on its data.

The user builds a fixture tree with the ordinary PyFilesystem2 API, runs a guest, and reads the
result back the same way; so this backend works directly on MemoryFS's tree of `_DirEntry`
objects instead of keeping a copy. `fs` is pinned to 2.4.16 (see pyproject.toml), so relying on
these internals is deliberate: `memfs.root`, `entry._dir` (name -> entry), `entry._bytes_file`
(an `io.BytesIO`), the float `*_time` fields, `resource_type`, `entry.lock` (guards a file's
data) and `memfs._lock` (guards the namespace).

MemoryFS has no symlinks, hard links, inode numbers, link counts or nanosecond times. We add
them as `_vfswasi_*` attributes on the `_DirEntry` objects themselves, never in the backend, so
that several backends over one MemoryFS (one to build a tree, one to run a guest, one to read the
result) agree on all of it:

    _vfswasi_ino      inode number, assigned lazily from a process-wide counter
    _vfswasi_dev      device number of the whole MemoryFS (on the root entry only)
    _vfswasi_nlink    number of names of a non-directory (absent = 1)
    _vfswasi_target   symlink target (the entry's resource_type is ResourceType.symlink)
    _vfswasi_parent   parent of a directory (directories cannot be hard-linked)
    _vfswasi_removed  set on a directory that was rmdir'ed while a handle may still be open
    _vfswasi_{a,m}tim ns times, with `_src` = the float field they were derived from / written to
    _vfswasi_ctim     ns status-change time (MemoryFS has none; `created_time` is a birth time)

Limits of sharing the tree with plain PyFS code: MemoryFS gives an entry one `name`, so a
hard-linked entry reports the name it was last created or renamed under; removing one name of
a hard-linked file through the PyFS API leaves its link count one too high.
"""

from __future__ import annotations

import errno
import io
import itertools
import mmap
import sys
import threading
import time

from fs.enums import ResourceType
from fs.memoryfs import MemoryFS, _DirEntry

from ..abi import Filetype
from ..vfs import Backend, FileHandle, Stat, oserror
from .pyfs import seconds_to_ns

_FILETYPES = {
    ResourceType.directory: Filetype.DIRECTORY,
    ResourceType.file: Filetype.REGULAR_FILE,
    ResourceType.symlink: Filetype.SYMBOLIC_LINK,
}

# Process-wide, so that entries of different MemoryFS never share an inode number and two
# MemoryFS never share a device number. Device numbers start high to stay clear of the small
# st_dev values of host filesystems mounted next to us.
_next_ino = itertools.count(1)
_next_dev = itertools.count((1 << 48) + 1)
_assign_lock = threading.Lock()

# Writes beyond this would need a BytesIO larger than Python can address.
_MAX_SIZE = sys.maxsize


# --- metadata kept on the entries ---------------------------------------------------------------


def _lazy_number(entry: _DirEntry, attr: str, counter: itertools.count) -> int:
    """`entry.<attr>`, drawn from `counter` the first time anyone asks."""
    try:
        return getattr(entry, attr)
    except AttributeError:
        with _assign_lock:  # two backends asking at once must agree on one number
            if not hasattr(entry, attr):
                setattr(entry, attr, next(counter))
        return getattr(entry, attr)


def _ino(entry: _DirEntry) -> int:
    return _lazy_number(entry, "_vfswasi_ino", _next_ino)


def _filetype(entry: _DirEntry) -> int:
    return _FILETYPES.get(entry.resource_type, Filetype.UNKNOWN)


def _is_symlink(entry: _DirEntry) -> bool:
    return entry.resource_type == ResourceType.symlink


def _nlink(entry: _DirEntry) -> int:
    if entry.is_dir:
        if getattr(entry, "_vfswasi_removed", False):
            return 0
        # POSIX: "." plus the name in the parent, plus each subdirectory's "..". Counted on
        # demand, so directories made through the PyFS API are always right.
        return 2 + sum(1 for e in entry._dir.values() if e.is_dir)
    return getattr(entry, "_vfswasi_nlink", 1)


def _size(entry: _DirEntry) -> int:
    if entry.is_dir:
        return 0
    if _is_symlink(entry):
        return len(_target_bytes(_readlink(entry)))
    with entry.lock:
        return entry._bytes_file.seek(0, 2)


def _target_bytes(target: str) -> bytes:
    # surrogateescape round-trips targets that came from non-UTF-8 guest bytes
    return target.encode("utf-8", "surrogateescape")


def _readlink(entry: _DirEntry) -> str:
    target = getattr(entry, "_vfswasi_target", None)
    if target is None:  # not made by us; the bytes are the best guess
        target = entry._bytes_file.getvalue().decode("utf-8", "surrogateescape")
    return target


# Nanosecond times. The float fields stay authoritative for PyFS users: each ns value remembers
# the float it came from (`_src`), and when the float no longer matches (the user wrote the file
# or called setinfo through PyFS) the ns value is re-derived from it.

_TIME_FIELDS = {"atim": "accessed_time", "mtim": "modified_time"}


def _synced_ns(entry: _DirEntry, which: str) -> tuple[int, bool]:
    """(ns time `which`, whether it was just (re)derived from the float field)."""
    seconds = getattr(entry, _TIME_FIELDS[which])
    attr = "_vfswasi_" + which
    if getattr(entry, attr + "_src", None) == seconds:
        return getattr(entry, attr), False
    ns = seconds_to_ns(seconds)
    setattr(entry, attr, ns)
    setattr(entry, attr + "_src", seconds)
    return ns, True


def _times(entry: _DirEntry) -> tuple[int, int, int]:
    atim, _ = _synced_ns(entry, "atim")
    mtim, mtime_moved = _synced_ns(entry, "mtim")
    ctim = getattr(entry, "_vfswasi_ctim", None)
    if ctim is None:
        ctim = entry._vfswasi_ctim = max(mtim, seconds_to_ns(entry.created_time))
    elif mtime_moved and ctim < mtim:
        # a write through PyFS changed the data, which changes the status too
        ctim = entry._vfswasi_ctim = mtim
    return atim, mtim, ctim


def _put_time(entry: _DirEntry, which: str, ns: int) -> None:
    """Set ns time `which` and its float field (what `memfs.getinfo` shows)."""
    seconds = ns / 1e9
    setattr(entry, _TIME_FIELDS[which], seconds)
    setattr(entry, "_vfswasi_" + which, ns)
    setattr(entry, f"_vfswasi_{which}_src", seconds)


def _changed(entry: _DirEntry, now: int) -> None:
    """Metadata changed: ctime = now."""
    _times(entry)  # derive the others first, so they do not later pick up `now`
    entry._vfswasi_ctim = now


def _modified(entry: _DirEntry, now: int) -> None:
    """Data changed (a file's bytes, a directory's entries): mtime = ctime = now."""
    _changed(entry, now)
    _put_time(entry, "mtim", now)


def _stat(entry: _DirEntry, dev: int) -> Stat:
    atim, mtim, ctim = _times(entry)
    return Stat(dev, _ino(entry), _filetype(entry), _nlink(entry), _size(entry), atim, mtim, ctim)


def _grow(entry: _DirEntry, size: int) -> None:
    """Extend a file with zeros to `size` bytes (caller holds entry.lock, size > current)."""
    bio = entry._bytes_file
    _reserve(bio, size)
    bio.seek(size - 1)
    bio.write(b"\0")  # BytesIO zero-fills the gap between the old end and a write past it


def _check_size(size: int) -> None:
    if size > _MAX_SIZE:
        raise oserror(errno.EFBIG)


# Growing a file by at least this much first makes sure the memory can be had (`_reserve`).
_RESERVE_FROM = 1 << 20


def _reserve(bio: io.BytesIO, size: int) -> None:
    """ENOSPC unless `bio` can grow to `size` bytes (caller holds the entry's lock).

    When CPython's BytesIO cannot enlarge its buffer it frees it: the file's data is gone and
    every later call raises ValueError. So before a large growth (a guest's ftruncate or pwrite
    at 1 TiB), map that much memory, untouched and so free, and give it back at once; the OS
    refuses what it would refuse BytesIO (which over-allocates by 1/8)."""
    if size - bio.seek(0, 2) < _RESERVE_FROM:
        return
    try:
        mmap.mmap(-1, size + size // 8 + 1).close()
    except (OSError, OverflowError, MemoryError):
        raise oserror(errno.ENOSPC) from None


# --- open files -----------------------------------------------------------------------------------


class MemoryFile(FileHandle):
    """An open regular file: reads and writes go straight to the entry's shared BytesIO, so
    every handle (ours or a `memfs.open` one) sees every write at once."""

    def __init__(self, entry: _DirEntry, dev: int, *, read: bool, write: bool, readonly: bool):
        self._entry = entry
        self._bio = entry._bytes_file
        self._lock = entry.lock
        self._dev = dev
        self._readonly = readonly
        self.readable = read
        self.writable = write

    def readinto(self, buf: memoryview, offset: int) -> int:
        if not self.readable:
            raise oserror(errno.EBADF)
        bio = self._bio
        with self._lock:
            # BytesIO.seek accepts any offset past EOF, then readinto returns 0; only offsets
            # beyond ssize_t need a guard
            if offset > _MAX_SIZE:
                return 0
            bio.seek(offset)
            return bio.readinto(buf)

    def write(self, data: memoryview | bytes, offset: int) -> int:
        if not self.writable:
            raise oserror(errno.EBADF)
        _check_size(offset + len(data))
        bio = self._bio
        with self._lock:
            _reserve(bio, offset + len(data))
            bio.seek(offset)
            try:
                n = bio.write(data)  # zero-fills from the old EOF up to `offset`
            except MemoryError:
                raise oserror(errno.ENOSPC) from None
            _modified(self._entry, time.time_ns())
        return n

    def stat(self) -> Stat:
        return _stat(self._entry, self._dev)

    def truncate(self, size: int) -> None:
        if not self.writable:
            raise oserror(errno.EBADF)
        _check_size(size)
        with self._lock:
            current = self._bio.seek(0, 2)
            try:
                if size < current:
                    self._bio.truncate(size)
                elif size > current:
                    _grow(self._entry, size)
            except MemoryError:
                raise oserror(errno.ENOSPC) from None
            # Linux's ftruncate updates the times even when the size stays the same
            _modified(self._entry, time.time_ns())

    def allocate(self, offset: int, length: int) -> None:
        if not self.writable:
            raise oserror(errno.EBADF)
        _check_size(offset + length)
        with self._lock:
            if self._bio.seek(0, 2) < offset + length:
                try:
                    _grow(self._entry, offset + length)
                except MemoryError:
                    raise oserror(errno.ENOSPC) from None
                _modified(self._entry, time.time_ns())

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        if self._readonly:
            raise oserror(errno.EROFS)
        _set_times(self._entry, atim, mtim)

    def close(self) -> None:
        # the data belongs to the entry; nothing of ours to flush or free
        pass


def _set_times(entry: _DirEntry, atim: int | None, mtim: int | None) -> None:
    now = time.time_ns()
    _changed(entry, now)
    if atim is not None:
        _put_time(entry, "atim", atim)
    if mtim is not None:
        _put_time(entry, "mtim", mtim)


# --- the backend ----------------------------------------------------------------------------------


class MemoryBackend(Backend):
    """A mount over `memfs` (a fresh `MemoryFS` if None), exposed as `.fs`.

    Directory handles are the directories' `_DirEntry` objects. `readonly=True` makes every
    mutation raise EROFS.
    """

    def __init__(self, memfs: MemoryFS | None = None, *, readonly: bool = False):
        self.fs = MemoryFS() if memfs is None else memfs
        self.readonly = readonly
        self._root: _DirEntry = self.fs.root
        self._lock = self.fs._lock  # the lock MemoryFS itself takes for namespace changes
        self._dev = _lazy_number(self._root, "_vfswasi_dev", _next_dev)

    def root(self) -> _DirEntry:
        return self._root

    # --- helpers ---------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.readonly:
            raise oserror(errno.EROFS)

    @staticmethod
    def _entry(d: _DirEntry, name: str) -> _DirEntry:
        entry = d._dir.get(name)
        if entry is None:
            raise oserror(errno.ENOENT, name)
        return entry

    @staticmethod
    def _free_name(d: _DirEntry, name: str) -> None:
        """Check that `name` can be created in `d` (EEXIST if taken, even by a dangling
        symlink; ENOENT if `d` itself was removed, as POSIX does)."""
        if name in d._dir:
            raise oserror(errno.EEXIST, name)
        if getattr(d, "_vfswasi_removed", False):
            raise oserror(errno.ENOENT, name)

    def _new_entry(self, d: _DirEntry, name: str, rtype: ResourceType, now: int) -> _DirEntry:
        """Make an entry of type `rtype` as `name` in `d` (caller holds the lock, checked the
        name is free)."""
        entry = self.fs._make_dir_entry(rtype, name)  # MemoryFS's factory: subclasses work
        entry.created_time = now / 1e9
        _put_time(entry, "atim", now)
        _put_time(entry, "mtim", now)
        entry._vfswasi_ctim = now
        if entry.is_dir:
            entry._vfswasi_parent = d
        d.set_entry(name, entry)
        _modified(d, now)
        return entry

    def _drop(self, entry: _DirEntry, now: int) -> None:
        """`entry` lost one of its names (unlink, rmdir, or replaced by rename)."""
        if entry.is_dir:
            entry._vfswasi_removed = True
        else:
            entry._vfswasi_nlink = _nlink(entry) - 1
            _changed(entry, now)

    def _parent(self, d: _DirEntry) -> _DirEntry | None:
        """The recorded parent of directory `d`, if the record is still true (the user may
        have moved directories through the PyFS API, which knows nothing of it)."""
        parent = getattr(d, "_vfswasi_parent", None)
        if parent is None:
            return None
        if parent._dir.get(d.name) is d or any(e is d for e in parent._dir.values()):
            return parent
        return None

    def _relink(self) -> None:
        """Re-record the parent of every directory, walking down from the root."""
        stack = [self._root]
        while stack:
            d = stack.pop()
            for e in d._dir.values():
                if e.is_dir:
                    e._vfswasi_parent = d
                    stack.append(e)

    def _within(self, d: _DirEntry, top: _DirEntry) -> bool:
        """Whether directory `d` is `top` or lies below it (walking up from `d`)."""
        for attempt in range(2):
            node: _DirEntry | None = d
            while node is not None and node is not top and node is not self._root:
                parent = self._parent(node)
                if parent is None and attempt == 0:
                    self._relink()  # a stale or missing record: rebuild them all, try again
                    break
                node = parent
            else:
                return node is top
        return False

    # --- walking --------------------------------------------------------------------------------

    def lstat(self, d: _DirEntry, name: str) -> Stat:
        return _stat(self._entry(d, name), self._dev)

    def open_dir(self, d: _DirEntry, name: str) -> _DirEntry:
        entry = self._entry(d, name)
        if _is_symlink(entry):
            raise oserror(errno.ELOOP, name)
        if not entry.is_dir:
            raise oserror(errno.ENOTDIR, name)
        # record the parent while we know it for sure (the entry may come from the PyFS API)
        entry._vfswasi_parent = d
        return entry

    def dup_dir(self, h: _DirEntry) -> _DirEntry:
        return h  # a handle is a plain reference: nothing to release, so sharing it is safe

    def readlink(self, d: _DirEntry, name: str) -> str:
        entry = self._entry(d, name)
        if not _is_symlink(entry):
            raise oserror(errno.EINVAL, name)
        return _readlink(entry)

    # --- directories as a whole -------------------------------------------------------------

    def stat_dir(self, h: _DirEntry) -> Stat:
        return _stat(h, self._dev)

    def listdir(self, h: _DirEntry) -> list[tuple[str, int, int]]:
        with self._lock:
            return [(name, _ino(e), _filetype(e)) for name, e in h._dir.items()]

    def set_dir_times(self, h: _DirEntry, atim: int | None, mtim: int | None) -> None:
        self._writable()
        _set_times(h, atim, mtim)

    # --- entries ---------------------------------------------------------------------------------

    def open_file(
        self,
        d: _DirEntry,
        name: str,
        *,
        read: bool,
        write: bool,
        create: bool = False,
        exclusive: bool = False,
        truncate: bool = False,
    ) -> MemoryFile:
        if write or create or truncate:
            self._writable()
        with self._lock:
            entry = d._dir.get(name)
            if entry is None:
                if not create:
                    raise oserror(errno.ENOENT, name)
                self._free_name(d, name)
                entry = self._new_entry(d, name, ResourceType.file, time.time_ns())
            else:
                if create and exclusive:
                    raise oserror(errno.EEXIST, name)
                if _is_symlink(entry):
                    raise oserror(errno.ELOOP, name)
                if entry.is_dir:
                    raise oserror(errno.EISDIR, name)
                if truncate:
                    with entry.lock:
                        entry._bytes_file.truncate(0)  # keep the BytesIO: others share it
                        _modified(entry, time.time_ns())
        return MemoryFile(entry, self._dev, read=read, write=write, readonly=self.readonly)

    def mkdir(self, d: _DirEntry, name: str) -> None:
        self._writable()
        with self._lock:
            self._free_name(d, name)
            self._new_entry(d, name, ResourceType.directory, time.time_ns())

    def rmdir(self, d: _DirEntry, name: str) -> None:
        self._writable()
        with self._lock:
            entry = self._entry(d, name)
            if not entry.is_dir:  # a symlink to a directory is not one either
                raise oserror(errno.ENOTDIR, name)
            if entry._dir:
                raise oserror(errno.ENOTEMPTY, name)
            now = time.time_ns()
            d.remove_entry(name)
            self._drop(entry, now)
            _modified(d, now)

    def unlink(self, d: _DirEntry, name: str) -> None:
        self._writable()
        with self._lock:
            entry = self._entry(d, name)
            if entry.is_dir:
                raise oserror(errno.EISDIR, name)
            now = time.time_ns()
            d.remove_entry(name)
            self._drop(entry, now)
            _modified(d, now)

    def rename(self, d1: _DirEntry, n1: str, d2: _DirEntry, n2: str) -> None:
        self._writable()
        with self._lock:
            src = self._entry(d1, n1)
            dst = d2._dir.get(n2)
            if dst is src:  # the same name, or two hard links to one file: POSIX does nothing
                return
            if getattr(d2, "_vfswasi_removed", False):
                raise oserror(errno.ENOENT, n2)
            # the checks in Linux's order: into-itself, onto an ancestor, then kind and emptiness
            if src.is_dir and self._within(d2, src):
                raise oserror(errno.EINVAL, n2)
            if dst is not None and dst.is_dir and self._within(d1, dst):
                raise oserror(errno.ENOTEMPTY, n2)  # the target contains the source
            if src.is_dir:
                if dst is not None:
                    if not dst.is_dir:
                        raise oserror(errno.ENOTDIR, n2)
                    if dst._dir:
                        raise oserror(errno.ENOTEMPTY, n2)
            elif dst is not None and dst.is_dir:
                raise oserror(errno.EISDIR, n2)
            now = time.time_ns()
            if dst is not None:
                self._drop(dst, now)
            d2.set_entry(n2, src)
            d1.remove_entry(n1)
            src.name = n2  # as MemoryFS.move does, so getinfo shows the new name
            if src.is_dir:
                src._vfswasi_parent = d2
            _changed(src, now)
            _modified(d1, now)
            _modified(d2, now)

    def link(self, d1: _DirEntry, n1: str, d2: _DirEntry, n2: str) -> None:
        self._writable()
        with self._lock:
            src = self._entry(d1, n1)
            self._free_name(d2, n2)  # EEXIST before EPERM, as Linux
            if src.is_dir:
                raise oserror(errno.EPERM, n1)
            now = time.time_ns()
            # a real hard link: the very same entry, so data and metadata are shared
            src._vfswasi_nlink = _nlink(src) + 1
            d2.set_entry(n2, src)
            _changed(src, now)
            _modified(d2, now)

    def symlink(self, target: str, d: _DirEntry, name: str) -> None:
        self._writable()
        with self._lock:
            self._free_name(d, name)
            entry = self._new_entry(d, name, ResourceType.symlink, time.time_ns())
            entry._vfswasi_target = target
            # what a Python user reading the entry through MemoryFS sees
            entry._bytes_file.write(_target_bytes(target))

    def set_times(self, d: _DirEntry, name: str, atim: int | None, mtim: int | None) -> None:
        self._writable()
        _set_times(self._entry(d, name), atim, mtim)
