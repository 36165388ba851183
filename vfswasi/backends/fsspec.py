"""FsspecBackend: a mount over any fsspec filesystem (`fsspec.AbstractFileSystem`): memory,
zip, tar, and whatever else is installed (s3fs, gcsfs, sftp, ...). Needs `pip install
'vfswasi[fsspec]'`.

Preopens: an fsspec filesystem object (mounted at its root), `FsspecBackend(fs, root=PATH)`,
or a URL `fsspec+PROTOCOL://PATH` (`fsspec+memory://`, `fsspec+file:///srv/data`,
`fsspec+zip://::/path/a.zip`, `fsspec+s3://bucket/prefix`, ...), opened with
`fsspec.core.url_to_fs` and rooted at PATH.

fsspec is an object-store API more than a POSIX one. What this adapter does about it:

- fsspec's local filesystem (and a `DirFileSystem` over it) is served by `HostDirBackend`,
  the secure dir-fd walk, never through fsspec (which would follow host symlinks).
- The memory filesystem keeps one class-level store for the whole process. A
  `fsspec+memory://PATH` URL gets a private, empty store per backend, so two WASI instances
  never see each other's files; a `MemoryFileSystem` object you pass is used as is (your data,
  shared with whoever else uses that store; give `root=` to confine a mount to a prefix).
- Opening an existing memory file returns the same BytesIO to every opener, and fsspec write
  modes cannot seek. So the backend keeps one shared state per open path: reads stream from
  `fs.open(path, "rb")`, positioned on every call (offsets live in the fd table); the first
  open for writing copies the file into a local spool (memory, spilling to a temporary file
  past 8 MiB) that every handle of that path then reads and writes; it is written back whole
  with `fs.open(path, "wb")` on `fd_sync`/`fd_datasync` and when the last handle closes.
  Changes made behind the backend's back while a path is open are not seen until it is
  closed. An unlinked open file keeps its data for its handles and is never written back.
- No symlinks or hard links (ENOTSUP; EROFS on a read-only filesystem).
- Times: fsspec has no call to set them, so the backend keeps an overlay of ns times for its
  lifetime: times the guest sets, the mtime of files written through it, the mtime of
  directories whose entries it changed. Anything else shows the time the filesystem reports
  (`mtime`, `modified`, `LastModified`, `created`, a zip member's DOS time, ...), else 0;
  atime and ctime follow mtime unless set. Inode numbers are handed out per path for the
  backend's lifetime (renames carry them). Link counts: 1, directories 2.
- Directories: object stores have no empty directories. After removing or moving away the
  last entry of a directory the backend recreates it where the filesystem lets it vanish.
- `rename` checks the POSIX cases itself, then uses `fs.mv`, which on most filesystems copies
  then deletes: not atomic, and costly for large trees.
- Read-only: zip filesystems opened for reading, tar, http(s) and other read-only protocols
  (or `readonly=True`) answer EROFS to every write.
- Storage (`use_storage`): a write spool is host memory or a host temporary file, so its
  bytes are charged to the account while it exists (the copy of the file as it is read in,
  then every growth, each before it happens; ENOSPC when refused) and refunded when the last
  handle closes or a truncate shrinks it. What the filesystem itself stores is not counted
  (it is the filesystem's, even for fsspec's memory filesystem). Times the guest causes come
  from `use_clock`'s clock.
"""

from __future__ import annotations

import errno
import posixpath
import time
from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import fsspec
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from ..abi import Filetype
from ..clocks import RealClock
from ..vfs import Backend, Clock, Stat, oserror, seconds_to_ns
from .fsspec_files import CHUNK as CHUNK
from .fsspec_files import SPOOL_MEMORY as SPOOL_MEMORY
from .fsspec_files import FsspecFile, SharedPath, fs_errors
from .pathkeyed import PathKeyedBackend, rename_check

if TYPE_CHECKING:
    from ..quota import StorageAccount

__all__ = ["FsspecBackend", "from_fsspec", "from_url"]

_READONLY_PROTOCOLS = {"tar", "http", "https", "github", "libarchive", "git"}

def _to_ns(value: Any) -> int | None:
    """A time as fsspec implementations report it (epoch seconds, datetime, ISO string, or a
    zip member's DOS date_time tuple) in ns."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, tuple) and len(value) == 6:  # zip: local time, as Info-ZIP reads it
        try:
            return int(time.mktime((*value, 0, 0, -1))) * 1_000_000_000
        except (OverflowError, ValueError):
            return None
    if isinstance(value, (int, float)):
        return seconds_to_ns(value)
    return None


_TIME_KEYS = ("mtime", "modified", "LastModified", "last_modified", "updated", "time",
              "date_time", "created", "ctime")


def _reported_mtime(info: dict[str, Any]) -> int:
    for key in _TIME_KEYS:
        ns = _to_ns(info.get(key))
        if ns is not None:
            return ns
    return 0


def _filetype(info: dict[str, Any]) -> int:
    kind = info.get("type")
    if kind == "directory":
        return Filetype.DIRECTORY
    if kind == "file":
        return Filetype.REGULAR_FILE
    return Filetype.UNKNOWN


# --- the backend -----------------------------------------------------------------------------------


class FsspecBackend(PathKeyedBackend):
    """A mount over fsspec filesystem `fs`, below `root` (a path of that filesystem; its root
    by default). `readonly` defaults to True for read-only filesystems (see the module
    docstring). Directory handles are paths of the filesystem."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str = "", *,
                 readonly: bool | None = None):
        self.fs = fs
        if readonly is None:
            readonly = _is_readonly(fs)
        self.readonly = readonly
        self._root = fs._strip_protocol(root) if root else fs._strip_protocol("")
        super().__init__()
        self.storage: StorageAccount | None = None
        self.clock: Clock = RealClock()
        #: path -> [atim, mtim, ctim] in ns, each None where the filesystem's value stands
        self._times: dict[str, list[int | None]] = {}
        self._open: dict[str, SharedPath] = {}
        self._last: dict[int, Stat] = {}  # unlinked open files: their last stat
        info = self._info(self._root)
        if _filetype(info) != Filetype.DIRECTORY:
            raise NotADirectoryError(f"fsspec mount root is not a directory: {root!r}")

    def root(self) -> str:
        return self._root

    def use_storage(self, account: StorageAccount | None) -> None:
        self.storage = account  # spools made from now on charge it

    def use_clock(self, clock: Clock) -> None:
        self.clock = clock

    # --- helpers ---------------------------------------------------------------------------------

    def _join(self, d: str, name: str) -> str:
        if d in ("", self.fs.root_marker):
            return self.fs.root_marker + name
        return d.rstrip("/") + "/" + name

    def _parent(self, path: str) -> str:
        parent = posixpath.dirname(path)
        return parent if parent != "/" or self.fs.root_marker == "/" else ""

    def _info(self, path: str) -> dict[str, Any]:
        with fs_errors(path):
            return self.fs.info(path)

    def _info_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self._info(path)
        except FileNotFoundError:
            return None

    def _invalidate(self, path: str) -> None:
        with suppress(Exception):
            self.fs.invalidate_cache(self._parent(path))
            self.fs.invalidate_cache(path)

    def _stat(self, path: str, info: dict[str, Any] | None = None) -> Stat:
        info = info if info is not None else self._info(path)
        filetype = _filetype(info)
        shared = self._open.get(path)
        size = shared.size() if shared is not None else None
        if size is None:
            size = 0 if filetype == Filetype.DIRECTORY else int(info.get("size") or 0)
        reported = _reported_mtime(info)
        atim, mtim, ctim = self._times.get(path, (None, None, None))
        mtim = reported if mtim is None else mtim
        return Stat(self._dev, self._ino(path), filetype,
                    2 if filetype == Filetype.DIRECTORY else 1, size,
                    mtim if atim is None else atim, mtim, mtim if ctim is None else ctim)

    def _touch(self, path: str) -> None:
        """`path`'s data (or a directory's entries) changed now."""
        now = self.clock.time_ns()
        times = self._times.setdefault(path, [None, None, None])
        times[1] = times[2] = now

    def _set_path_times(self, path: str, atim: int | None, mtim: int | None) -> None:
        self._info(path)  # ENOENT when missing
        times = self._times.setdefault(path, [None, None, None])
        if atim is not None:
            times[0] = atim
        if mtim is not None:
            times[1] = mtim
        times[2] = self.clock.time_ns()

    def _shared(self, path: str) -> SharedPath:
        shared = self._open.get(path)
        if shared is None:
            shared = self._open[path] = SharedPath(self, path)
        return shared

    def _forget_shared(self, shared: SharedPath) -> None:
        if shared.path is not None and self._open.get(shared.path) is shared:
            del self._open[shared.path]
        self._last.pop(id(shared), None)

    def _path_tables(self) -> tuple[dict[str, Any], ...]:
        return (self._inos, self._times, self._open)

    def _path_holders(self) -> Iterable[SharedPath]:
        return list(self._open.values())

    def _going(self, path: str) -> None:
        """`path` is about to be removed or replaced: what we knew of it lapses. Its open
        handles keep its data (copied into their spool now) but nothing is written back."""
        shared = self._open.get(path)
        if shared is not None:
            shared.writable_spool()
            self._last[id(shared)] = self._stat(path)
        self._forget(path)

    def _keep_dir(self, path: str) -> None:
        """Recreate directory `path` if removing its last entry made it vanish (object
        stores, and fsspec's memory filesystem for directories only implied by files)."""
        if path != self._root and not path.startswith(self._root):
            return
        with suppress(Exception):
            self.fs.invalidate_cache(path)
            if not self.fs.exists(path):
                self.fs.makedirs(path, exist_ok=True)
        self._touch(path)

    def _is_empty(self, path: str) -> bool:
        with fs_errors(path):
            return not self.fs.ls(path, detail=False)

    # --- walking ---------------------------------------------------------------------------------

    def lstat(self, d: str, name: str) -> Stat:
        return self._stat(self._join(d, name))

    def open_dir(self, d: str, name: str) -> str:
        path = self._join(d, name)
        if _filetype(self._info(path)) != Filetype.DIRECTORY:
            raise oserror(errno.ENOTDIR, path)
        return path

    def readlink(self, d: str, name: str) -> str:
        self._info(self._join(d, name))  # ENOENT when missing
        raise oserror(errno.EINVAL, name)  # nothing here is a symlink

    # --- directories as a whole -------------------------------------------------------------

    def stat_dir(self, h: str) -> Stat:
        return self._stat(h)

    def listdir(self, h: str) -> list[tuple[str, int, int]]:
        with fs_errors(h):
            infos = self.fs.ls(h, detail=True)
        out, seen = [], set()
        here = h.rstrip("/")
        for info in infos:
            full = str(info["name"]).rstrip("/")
            name = posixpath.basename(full)
            if not name or full == here or name in seen:
                continue
            seen.add(name)
            out.append((name, self._ino(self._join(h, name)), _filetype(info)))
        return out

    def _set_dir_times(self, h: str, atim: int | None, mtim: int | None) -> None:
        self._set_path_times(h, atim, mtim)

    # --- entries ---------------------------------------------------------------------------------

    def _kind(self, d: str, name: str) -> int | None:
        info = self._info_or_none(self._join(d, name))
        return None if info is None else _filetype(info)

    def _open_file(self, d: str, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> FsspecFile:
        path = self._join(d, name)
        if kind is None:
            with fs_errors(path), self.fs.open(path, "wb"):
                pass  # the file exists from now on, as after open(2) with O_CREAT
            self._invalidate(path)
            self._touch(path)
            self._touch(d)
        elif kind != Filetype.REGULAR_FILE:
            raise oserror(errno.ENOTSUP, path)
        shared = self._shared(path)
        handle = FsspecFile(shared, read=read, write=write)
        if truncate:
            try:
                shared.truncate(0)
            except BaseException:
                handle.close()
                raise
        return handle

    def _mkdir(self, d: str, name: str) -> None:
        path = self._join(d, name)
        if self._info_or_none(path) is not None:
            raise oserror(errno.EEXIST, path)
        with fs_errors(path):
            self.fs.mkdir(path, create_parents=False)
        self._invalidate(path)
        self._touch(path)
        self._touch(d)

    def _rmdir(self, d: str, name: str) -> None:
        path = self._join(d, name)
        if _filetype(self._info(path)) != Filetype.DIRECTORY:
            raise oserror(errno.ENOTDIR, path)
        if not self._is_empty(path):
            raise oserror(errno.ENOTEMPTY, path)
        with fs_errors(path):
            self.fs.rmdir(path)
        self._invalidate(path)
        self._going(path)
        self._keep_dir(d)

    def _unlink(self, d: str, name: str) -> None:
        path = self._join(d, name)
        if _filetype(self._info(path)) == Filetype.DIRECTORY:
            raise oserror(errno.EISDIR, path)
        self._going(path)
        with fs_errors(path):
            self.fs.rm_file(path)
        self._invalidate(path)
        self._keep_dir(d)

    def _rename(self, d1: str, n1: str, d2: str, n2: str) -> None:
        src, dst = self._join(d1, n1), self._join(d2, n2)
        src_is_dir = _filetype(self._info(src)) == Filetype.DIRECTORY
        if src == dst:
            return
        target = self._info_or_none(dst)
        # POSIX's cases first
        rename_check(src, dst, src_is_dir, None if target is None else _filetype(target),
                     lambda: self._is_empty(dst))
        shared = self._open.get(src)
        if shared is not None:
            shared.flush()  # the move copies what the filesystem holds
        if target is not None:
            self._going(dst)
        with fs_errors(dst):
            if target is not None:
                if src_is_dir:
                    self.fs.rmdir(dst)
                else:
                    self.fs.rm_file(dst)
            self.fs.mv(src, dst, recursive=src_is_dir)
        self._invalidate(src)
        self._invalidate(dst)
        self._moved(src, dst)
        self._keep_dir(d1)
        self._touch(d2)

    def _set_times(self, d: str, name: str, atim: int | None, mtim: int | None) -> None:
        self._set_path_times(self._join(d, name), atim, mtim)

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Write back and close what is still open (the filesystem belongs to the caller)."""
        failed: list[Exception] = []
        for shared in list(self._open.values()):
            shared.refs = 1
            try:
                shared.release()
            except Exception as e:  # close the others before reporting
                failed.append(e)
        if failed:
            raise failed[0]


def _is_readonly(fs: Any) -> bool:
    from fsspec.implementations.zip import ZipFileSystem

    if isinstance(fs, ZipFileSystem):
        return fs.mode == "r"
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return any(p in _READONLY_PROTOCOLS for p in protocols)


def from_fsspec(fs: fsspec.AbstractFileSystem, root: str = "") -> Backend:
    """The backend for fsspec filesystem `fs` below `root`: the host-directory backend for
    local files, `FsspecBackend` for everything else."""
    from . import _hostdir

    if isinstance(fs, DirFileSystem):
        inner_root = fs._join(root) if root else fs.path
        return from_fsspec(fs.fs, inner_root)
    if isinstance(fs, LocalFileSystem):
        if not root:
            raise ValueError("an fsspec LocalFileSystem has no root of its own: mount "
                             "fsspec+file:///DIR, or pass a DirFileSystem")
        return _hostdir(fs._strip_protocol(root))
    return FsspecBackend(fs, root)


def private_memory_fs() -> MemoryFileSystem:
    """A MemoryFileSystem with a store of its own: the class-level one is shared by the whole
    process. (Instance attributes shadow the class's; fsspec >= 2025 also offers
    `global_store=False` for the same.)"""
    fs = MemoryFileSystem(skip_instance_cache=True)
    fs.store = {}
    fs.pseudo_dirs = [""]
    return fs


def from_url(url: str) -> Backend:
    """`fsspec+PROTOCOL://PATH` (see the module docstring)."""
    inner = url.split("+", 1)[1]
    protocol = inner.split("://", 1)[0].lower()
    if protocol == "memory":
        fs = private_memory_fs()
        root = fs._strip_protocol(inner)
        if root:
            fs.makedirs(root, exist_ok=True)
        return FsspecBackend(fs, root)
    fs, root = fsspec.core.url_to_fs(inner)
    return from_fsspec(fs, root)
