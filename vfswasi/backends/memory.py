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

    _vfswasi_ino      inode number: from a counter of the MemoryFS (`_vfswasi_inos`, on the
                      root entry), when the entry is made or first seen; so the same
                      operations on the same tree give the same numbers, in any process
    _vfswasi_dev      device number of the whole MemoryFS (on the root entry only)
    _vfswasi_nlink    number of names of a non-directory (absent = 1)
    _vfswasi_target   symlink target (the entry's resource_type is ResourceType.symlink)
    _vfswasi_parent   parent of a directory (directories cannot be hard-linked)
    _vfswasi_removed  set on a directory that was rmdir'ed while a handle may still be open
    _vfswasi_{a,m}tim ns times, with `_src` = the float field they were derived from / written to
    _vfswasi_ctim     ns status-change time (MemoryFS has none; `created_time` is a birth time)
    _vfswasi_opens    open `MemoryFile`s of a file (absent = 0): its storage is refunded when it
                      has neither a name nor an open handle left (see `vfswasi.quota`)

Storage: with `use_storage(account)`, every growth is charged before anything is allocated
(ENOSPC when the account refuses it; EFBIG past what a BytesIO can address), and shrinking or
removing refunds; `vfswasi.quota` says what counts. A failed allocation never costs a file its
data, although CPython's BytesIO frees its buffer when it fails to enlarge it: large growths
are first checked with the OS, small ones go through a buffer BytesIO must copy instead of
resizing (`vfswasi.backends.memory_data`). Times the guest causes come from `use_clock`'s
clock.

Limits of sharing the tree with plain PyFS code: MemoryFS gives an entry one `name`, so a
hard-linked entry reports the name it was last created or renamed under; removing one name of
a hard-linked file through the PyFS API leaves its link count one too high.
"""

from __future__ import annotations

import errno
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fs.enums import ResourceType
from fs.memoryfs import MemoryFS, _DirEntry

from ..abi import Filetype
from ..clocks import RealClock
from ..posix import rename_error
from ..vfs import Backend, Clock, FileHandle, Stat, new_device, oserror, seconds_to_ns
from .memory_data import MAX_SIZE, charged_resize, charged_write, check_size

if TYPE_CHECKING:
    from ..quota import StorageAccount

_FILETYPES = {
    ResourceType.directory: Filetype.DIRECTORY,
    ResourceType.file: Filetype.REGULAR_FILE,
    ResourceType.symlink: Filetype.SYMBOLIC_LINK,
}

# A MemoryFS's device number is drawn once (vfs.new_device) and kept on its root entry, so
# that every backend over it agrees (inode numbers are per MemoryFS: the device tells them
# apart).
_assign_lock = threading.Lock()


# --- metadata kept on the entries ---------------------------------------------------------------


def _lazy_number(entry: _DirEntry, attr: str, draw: Callable[[], int]) -> int:
    """`entry.<attr>`, drawn with `draw()` the first time anyone asks."""
    try:
        return getattr(entry, attr)
    except AttributeError:
        with _assign_lock:  # two backends asking at once must agree on one number
            if not hasattr(entry, attr):
                setattr(entry, attr, draw())
        return getattr(entry, attr)


def _ino_counter(root: _DirEntry) -> itertools.count[int]:
    """The inode counter of the MemoryFS whose root is `root`, kept on the root so that every
    backend over that MemoryFS draws from it."""
    try:
        return root._vfswasi_inos
    except AttributeError:
        with _assign_lock:
            if not hasattr(root, "_vfswasi_inos"):
                root._vfswasi_inos = itertools.count(1)
        return root._vfswasi_inos


def _ino(entry: _DirEntry, counter: itertools.count[int]) -> int:
    return _lazy_number(entry, "_vfswasi_ino", counter.__next__)


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


def _stat(entry: _DirEntry, dev: int, inos: itertools.count[int]) -> Stat:
    atim, mtim, ctim = _times(entry)
    return Stat(dev, _ino(entry, inos), _filetype(entry), _nlink(entry), _size(entry), atim, mtim,
                ctim)


# --- open files -----------------------------------------------------------------------------------


class MemoryFile(FileHandle):
    """An open regular file: reads and writes go straight to the entry's shared BytesIO, so
    every handle (ours or a `memfs.open` one) sees every write at once. It counts itself in
    the entry's `_vfswasi_opens` until closed."""

    def __init__(self, backend: MemoryBackend, entry: _DirEntry, *, read: bool, write: bool):
        self._backend = backend
        self._entry = entry
        self._bio = entry._bytes_file
        self._lock = entry.lock
        self._closed = False
        self.readable = read
        self.writable = write
        entry._vfswasi_opens = getattr(entry, "_vfswasi_opens", 0) + 1

    def _pread(self, buf: memoryview, offset: int) -> int:
        bio = self._bio
        with self._lock:
            # BytesIO.seek accepts any offset past EOF, then readinto returns 0; only offsets
            # beyond ssize_t need a guard
            if offset > MAX_SIZE:
                return 0
            bio.seek(offset)
            return bio.readinto(buf)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        backend = self._backend
        with self._lock:
            n = charged_write(backend.storage, self._bio, data, offset)
            _modified(self._entry, backend._now())
        return n

    def stat(self) -> Stat:
        return _stat(self._entry, self._backend._dev, self._backend._inos)

    def _truncate(self, size: int) -> None:
        backend = self._backend
        with self._lock:
            charged_resize(backend.storage, self._bio, size)
            # Linux's ftruncate updates the times even when the size stays the same
            _modified(self._entry, backend._now())

    def _allocate(self, offset: int, length: int) -> None:
        check_size(offset + length)
        backend = self._backend
        with self._lock:
            if self._bio.seek(0, 2) < offset + length:
                charged_resize(backend.storage, self._bio, offset + length)
                _modified(self._entry, backend._now())

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        _set_times(self._entry, atim, mtim, self._backend._now())

    def close(self) -> None:
        # the data belongs to the entry: nothing to flush; but the last handle of a file with
        # no name left is the end of it, and of its storage
        if self._closed:
            return
        self._closed = True
        backend, entry = self._backend, self._entry
        with backend._lock:
            entry._vfswasi_opens -= 1
            if entry._vfswasi_opens == 0 and _nlink(entry) == 0:
                backend._refund_entry(entry)


def _set_times(entry: _DirEntry, atim: int | None, mtim: int | None, now: int) -> None:
    _changed(entry, now)
    if atim is not None:
        _put_time(entry, "atim", atim)
    if mtim is not None:
        _put_time(entry, "mtim", mtim)


# --- the backend ----------------------------------------------------------------------------------


class MemoryBackend(Backend):
    """A mount over `memfs` (a fresh `MemoryFS` if None), exposed as `.fs`.

    Directory handles are the directories' `_DirEntry` objects. `readonly=True` makes every
    mutation raise EROFS. `storage` is the account growth is charged to (None: not counted),
    `clock` where the times of changes come from; see `use_storage` / `use_clock`.
    """

    def __init__(self, memfs: MemoryFS | None = None, *, readonly: bool = False):
        self.fs = MemoryFS() if memfs is None else memfs
        self._made_here = memfs is None
        self.readonly = readonly
        self.storage: StorageAccount | None = None
        self.clock: Clock = RealClock()
        self._now = time.time_ns  # clock.time_ns, bound once: it is called on every write
        self._root: _DirEntry = self.fs.root
        self._lock = self.fs._lock  # the lock MemoryFS itself takes for namespace changes
        self._dev = _lazy_number(self._root, "_vfswasi_dev", new_device)
        self._inos = _ino_counter(self._root)
        _ino(self._root, self._inos)  # the root first: 1, as the first backend sees it

    def root(self) -> _DirEntry:
        return self._root

    def use_storage(self, account: StorageAccount | None) -> None:
        self.storage = account

    def use_clock(self, clock: Clock) -> None:
        self.clock = clock
        self._now = clock.time_ns
        if self._made_here:
            # a tree this backend made itself (`mem://`) is born at the clock's time, as all
            # the times of the run are: a deterministic run then starts from the same tree
            now = clock.time_ns()
            _put_time(self._root, "atim", now)
            _put_time(self._root, "mtim", now)
            self._root.created_time = now / 1e9
            self._root._vfswasi_ctim = now

    # --- helpers ---------------------------------------------------------------------------------

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

    def _charge(self, nbytes: int, inodes: int) -> None:
        if self.storage is not None:
            self.storage.charge(nbytes, inodes)

    def _new_entry(self, d: _DirEntry, name: str, rtype: ResourceType, now: int,
                   nbytes: int = 0) -> _DirEntry:
        """Make an entry of type `rtype` as `name` in `d` (caller holds the lock, checked the
        name is free), charging one inode and `nbytes` first."""
        self._charge(nbytes, 1)
        try:
            entry = self.fs._make_dir_entry(rtype, name)  # MemoryFS's factory: subclasses work
        except BaseException:
            self._charge(-nbytes, -1)
            raise
        # numbered at birth, so the numbers follow the order things were made in
        _ino(entry, self._inos)
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
        """`entry` lost one of its names (unlink, rmdir, or replaced by rename); caller holds
        the lock. Refunds what it no longer takes: a hard link's name, or the whole entry once
        it has no name and no open handle left (else its last `MemoryFile.close` does)."""
        if entry.is_dir:
            entry._vfswasi_removed = True
            self._charge(0, -1)  # it is empty: nothing else to give back
            return
        nlink = entry._vfswasi_nlink = _nlink(entry) - 1
        _changed(entry, now)
        if nlink > 0:
            self._charge(0, -1)
        elif not getattr(entry, "_vfswasi_opens", 0):
            self._refund_entry(entry)

    def _refund_entry(self, entry: _DirEntry) -> None:
        """A file or symlink is gone for good: its bytes and its inode come back."""
        if self.storage is not None:
            self.storage.refund(_size(entry), 1)

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
        return _stat(self._entry(d, name), self._dev, self._inos)

    def open_dir(self, d: _DirEntry, name: str) -> _DirEntry:
        entry = self._entry(d, name)
        if _is_symlink(entry):
            raise oserror(errno.ELOOP, name)
        if not entry.is_dir:
            raise oserror(errno.ENOTDIR, name)
        # record the parent while we know it for sure (the entry may come from the PyFS API)
        entry._vfswasi_parent = d
        return entry

    def readlink(self, d: _DirEntry, name: str) -> str:
        entry = self._entry(d, name)
        if not _is_symlink(entry):
            raise oserror(errno.EINVAL, name)
        return _readlink(entry)

    # --- directories as a whole -------------------------------------------------------------

    def stat_dir(self, h: _DirEntry) -> Stat:
        return _stat(h, self._dev, self._inos)

    def listdir(self, h: _DirEntry) -> list[tuple[str, int, int]]:
        inos = self._inos
        with self._lock:
            return [(name, _ino(e, inos), _filetype(e)) for name, e in h._dir.items()]

    def _set_dir_times(self, h: _DirEntry, atim: int | None, mtim: int | None) -> None:
        _set_times(h, atim, mtim, self._now())

    # --- entries ---------------------------------------------------------------------------------

    def _kind(self, d: _DirEntry, name: str) -> int | None:
        entry = d._dir.get(name)
        return None if entry is None else _filetype(entry)

    def _open_file(self, d: _DirEntry, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> MemoryFile:
        with self._lock:
            entry = d._dir.get(name)
            if entry is None:
                self._free_name(d, name)
                entry = self._new_entry(d, name, ResourceType.file, self._now())
            else:
                if truncate:
                    with entry.lock:
                        # the same BytesIO, emptied: others share it
                        charged_resize(self.storage, entry._bytes_file, 0)
                        _modified(entry, self._now())
            return MemoryFile(self, entry, read=read, write=write)

    def _mkdir(self, d: _DirEntry, name: str) -> None:
        with self._lock:
            self._free_name(d, name)
            self._new_entry(d, name, ResourceType.directory, self._now())

    def _rmdir(self, d: _DirEntry, name: str) -> None:
        with self._lock:
            entry = self._entry(d, name)
            if not entry.is_dir:  # a symlink to a directory is not one either
                raise oserror(errno.ENOTDIR, name)
            if entry._dir:
                raise oserror(errno.ENOTEMPTY, name)
            self._remove(d, name, entry)

    def _unlink(self, d: _DirEntry, name: str) -> None:
        with self._lock:
            entry = self._entry(d, name)
            if entry.is_dir:
                raise oserror(errno.EISDIR, name)
            self._remove(d, name, entry)

    def _remove(self, d: _DirEntry, name: str, entry: _DirEntry) -> None:
        """Take `name` out of `d` (lock held): the entry loses a link, `d` is modified."""
        now = self._now()
        d.remove_entry(name)
        self._drop(entry, now)
        _modified(d, now)

    def _rename(self, d1: _DirEntry, n1: str, d2: _DirEntry, n2: str) -> None:
        with self._lock:
            src = self._entry(d1, n1)
            dst = d2._dir.get(n2)
            if dst is src:  # the same name, or two hard links to one file: POSIX does nothing
                return
            if getattr(d2, "_vfswasi_removed", False):
                raise oserror(errno.ENOENT, n2)
            err = rename_error(
                src.is_dir, None if dst is None else _filetype(dst),
                dst_is_empty=lambda: not dst._dir,
                src_contains_dst_dir=lambda: self._within(d2, src),
                dst_contains_src_dir=lambda: self._within(d1, dst))
            if err is not None:
                raise oserror(err, n2)
            now = self._now()
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

    def _link(self, d1: _DirEntry, n1: str, d2: _DirEntry, n2: str) -> None:
        with self._lock:
            src = self._entry(d1, n1)
            self._free_name(d2, n2)  # EEXIST before EPERM, as Linux
            if src.is_dir:
                raise oserror(errno.EPERM, n1)
            now = self._now()
            self._charge(0, 1)  # a name costs an inode, as in tmpfs: names are not free
            # a real hard link: the very same entry, so data and metadata are shared
            src._vfswasi_nlink = _nlink(src) + 1
            d2.set_entry(n2, src)
            _changed(src, now)
            _modified(d2, now)

    def _symlink(self, target: str, d: _DirEntry, name: str) -> None:
        data = _target_bytes(target)
        with self._lock:
            self._free_name(d, name)
            entry = self._new_entry(d, name, ResourceType.symlink, self._now(),
                                    len(data))
            entry._vfswasi_target = target
            # what a Python user reading the entry through MemoryFS sees
            entry._bytes_file.write(data)

    def _set_times(self, d: _DirEntry, name: str, atim: int | None, mtim: int | None) -> None:
        _set_times(self._entry(d, name), atim, mtim, self._now())
