"""PyFSBackend: a mount over any PyFilesystem2 filesystem (SubFS, WrapReadOnly, MountFS,
WriteZipFS, ...), through its public API only. `ReadZipFS` / `ReadTarFS` objects and `zip://` /
`tar://` URLs go to `backends/archive.py` instead (streamed members, hard links as hard links,
exact times); archives reach this backend only wrapped (a SubFS of a ReadTarFS, ...).

A directory handle is the absolute PyFS path of the directory ("/" for the root). PyFS knows
nothing of inode numbers, hard links or creating symlinks, so:

- inode numbers are handed out per path for the backend's lifetime (a rename carries the
  number along, an unlink forgets it);
- `link` and `symlink` raise ENOTSUP (EROFS on a read-only filesystem);
- symlinks the filesystem *reports* are served as symlinks: the "link" namespace gives their
  target (OSFS), and ReadTarFS members of the symlink type give theirs through the "tar"
  namespace (a tar hard link becomes a relative symlink to its member);
- PyFS has no atomic rename: `rename` checks the POSIX cases itself, then moves with
  `move`/`movedir` (which may copy), or with `os.replace` when both paths are on the host.
  Between the checks and the move another writer could interfere; a mount is meant to be
  used by one guest at a time.

The backend never follows a symlink it can see, but it cannot stop a filesystem from following
host symlinks inside its own path handling (an OSFS under a SubFS or WrapReadOnly does): host
directories belong on `HostDirBackend`.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import time
import weakref
from collections.abc import Iterable
from typing import Any, BinaryIO

from fs import errors
from fs.base import FS
from fs.enums import ResourceType
from fs.info import Info
from fs.path import join

from ..abi import Filetype
from ..vfs import FileHandle, Stat, oserror, seconds_to_ns
from .pathkeyed import ErrnoTable, PathKeyedBackend, errno_of, error_translator, rename_check

# First match wins, so subclasses come before their bases.
_ERRNOS: ErrnoTable = (
    (errors.ResourceNotFound, errno.ENOENT),
    (errors.DirectoryExpected, errno.ENOTDIR),
    (errors.FileExpected, errno.EISDIR),
    (errors.DirectoryNotEmpty, errno.ENOTEMPTY),
    ((errors.DestinationExists, errors.DirectoryExists, errors.FileExists), errno.EEXIST),
    (errors.ResourceReadOnly, errno.EROFS),
    ((errors.ResourceLocked, errors.RemoveRootError), errno.EBUSY),
    (errors.PermissionDenied, errno.EACCES),
    (errors.InsufficientStorage, errno.ENOSPC),
    (errors.OperationTimeout, errno.ETIMEDOUT),
    (errors.Unsupported, errno.ENOTSUP),
    (errors.IllegalBackReference, errno.EPERM),
    ((errors.PathError, errors.ResourceInvalid), errno.EINVAL),
    (errors.FilesystemClosed, errno.EBADF),
    (io.UnsupportedOperation, errno.ENOTSUP),  # e.g. writing a read-only archive member
)


def _cause(exc: BaseException) -> int | None:
    # OSFS keeps the OSError it translated; its errno is more precise than a generic EIO
    cause = getattr(exc, "exc", None)
    return cause.errno if isinstance(cause, OSError) else None


def _errno_of(exc: BaseException) -> int:
    return errno_of(_ERRNOS, exc, _cause)


#: PyFS exceptions (and errno-less OSErrors from file objects) as errno OSErrors
_fs_errors = error_translator(_ERRNOS, (errors.FSError, errors.IllegalBackReference), _cause)


_FILETYPES = {
    int(ResourceType.directory): Filetype.DIRECTORY,
    int(ResourceType.file): Filetype.REGULAR_FILE,
    int(ResourceType.symlink): Filetype.SYMBOLIC_LINK,
    int(ResourceType.character): Filetype.CHARACTER_DEVICE,
    int(ResourceType.block_special_file): Filetype.BLOCK_DEVICE,
    int(ResourceType.socket): Filetype.SOCKET_STREAM,
    int(ResourceType.fifo): Filetype.UNKNOWN,
}

#: what every lookup asks for: type, size and times, and a symlink's target where supported
_NAMESPACES = ("details", "link")


_ZEROS = memoryview(bytes(64 * 1024))
_READ_CHUNK = 1 << 20


def _filetype(info: Info) -> int:
    if info.get("link", "target") is not None:
        return Filetype.SYMBOLIC_LINK
    ft = _FILETYPES.get(info.get("details", "type"))  # absent for zip's implied directories
    if ft is None:
        ft = Filetype.DIRECTORY if info.is_dir else Filetype.REGULAR_FILE
    return ft


class _Entry:
    """What one lookup learnt about a path."""

    __slots__ = ("info", "filetype", "target")

    def __init__(self, info: Info, filetype: int, target: str | None):
        self.info = info
        self.filetype = filetype
        self.target = target


# --- open files ---------------------------------------------------------------------------------


class PyFSFile(FileHandle):
    """An open file over `filesystem.openbin`. Its path follows renames made through the
    backend, and becomes None when the file is unlinked (the handle keeps working)."""

    def __init__(self, backend: PyFSBackend, path: str, f: BinaryIO, *, read: bool, write: bool):
        self._backend = backend
        self.path: str | None = path
        self._f = f
        self._pos: int | None = 0  # where `f` is; None when unknown (skips redundant seeks)
        self._ino = backend._ino(path)
        self._last = backend._stat(path)  # served after an unlink
        self._wrote = False  # whether the FS's idea of the size may lag behind ours
        self.readable = read
        self.writable = write

    def _seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        pos = self._f.seek(offset, whence)
        # an archive member clamps seeks to its size; a few old file objects return None
        self._pos = pos if pos is not None else (offset if whence == os.SEEK_SET else None)
        return self._pos if self._pos is not None else self._f.tell()

    def _write_all(self, data: memoryview | bytes) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        self._wrote = True
        while view:
            n = self._f.write(view)
            if not n:  # a raw stream that takes nothing would loop forever
                raise oserror(errno.EIO, self.path or "")
            view = view[n:]
            self._pos = None if self._pos is None else self._pos + n
        return size

    def _pread(self, buf: memoryview, offset: int) -> int:
        with _fs_errors(self.path or ""):
            try:
                if self._pos != offset:
                    self._seek(offset)
                view = memoryview(buf).cast("B")
                total, size = 0, view.nbytes
                while total < size:  # raw streams may return short counts before EOF
                    # bounded pieces: a buffered stream's readinto (an archive member's) may
                    # build a bytes copy of all it is asked for
                    n = self._f.readinto(view[total : total + min(_READ_CHUNK, size - total)])
                    if not n:
                        break
                    total += n
                if self._pos is not None:
                    self._pos += total
                return total
            except BaseException:
                self._pos = None
                raise

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        with _fs_errors(self.path or ""):
            try:
                if self._pos != offset:
                    end = self._seek(0, os.SEEK_END)
                    if offset > end:
                        # not every PyFS file zero-fills a write past EOF, so do it here
                        self._zero_fill(end, offset)
                    else:
                        self._seek(offset)
                return self._write_all(data)
            except BaseException:
                self._pos = None
                raise

    def _size(self) -> int:
        with _fs_errors(self.path or ""):
            return self._seek(0, os.SEEK_END)

    def stat(self) -> Stat:
        if self.path is not None:
            try:
                self._last = self._backend._stat(self.path)
            except OSError:
                pass  # changed behind our back: keep what we knew
        st = self._last._replace(ino=self._ino)
        if self.path is None:
            st = st._replace(nlink=0)
        if self._wrote or self.path is None:
            # an FS may only publish written data on close; the handle knows the true size.
            # Only then: seeking counts as an access for some (MemoryFS sets atime)
            st = st._replace(size=self._size())
        return st

    def _truncate(self, size: int) -> None:
        with _fs_errors(self.path or ""):
            self._pos = None
            self._wrote = True
            self._f.truncate(size)
            end = self._seek(0, os.SEEK_END)
            if end < size:  # growing by truncate is platform-dependent for plain IO objects
                self._zero_fill(end, size)

    def _zero_fill(self, end: int, size: int) -> None:
        """Write zeros from `end` (the current EOF and position) up to `size`."""
        while end < size:
            chunk = min(size - end, len(_ZEROS))
            self._write_all(_ZEROS[:chunk])
            end += chunk

    def _allocate(self, offset: int, length: int) -> None:
        if self._size() < offset + length:
            self._truncate(offset + length)

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        if self.path is None:
            raise oserror(errno.ENOENT)  # PyFS can only set times by path
        self._backend._set_path_times(self.path, atim, mtim)

    def sync(self) -> None:
        if not self.writable:
            return
        with _fs_errors(self.path or ""):
            self._f.flush()
            try:
                fd = self._f.fileno()
            except (OSError, AttributeError):
                return  # not a host file: flushing is all PyFS offers
            os.fsync(fd)

    def close(self) -> None:
        self._backend._files.discard(self)
        with _fs_errors(self.path or ""):
            self._f.close()


# --- the backend ----------------------------------------------------------------------------------


class PyFSBackend(PathKeyedBackend):
    """A mount over `filesystem`, exposed as `.fs`. `readonly` defaults to the filesystem's
    own "read_only" meta (archives, WrapReadOnly)."""

    def __init__(self, filesystem: FS, *, readonly: bool | None = None):
        self.fs = filesystem
        if readonly is None:
            readonly = bool(filesystem.getmeta().get("read_only", False))
        self.readonly = readonly
        super().__init__()
        #: path -> {details key: (the float the FS reports, the ns time we set it to)}: PyFS
        #: keeps float seconds, so a time we set is served exactly while the FS reports it
        self._exact: dict[str, dict[str, tuple[float, int]]] = {}
        self._files: weakref.WeakSet[PyFSFile] = weakref.WeakSet()
        #: the OS keeps this FS's times (OSFS, TempFS): it changes a directory's mtime itself
        try:
            self._os_times = bool(filesystem.hassyspath("/"))
        except Exception:  # noqa: BLE001 - an FS that cannot tell keeps no OS times
            self._os_times = False

    def root(self) -> str:
        return "/"

    # --- helpers ---------------------------------------------------------------------------------

    def _lookup(self, path: str) -> _Entry:
        with _fs_errors(path):
            info = self.fs.getinfo(path, namespaces=_NAMESPACES)
            filetype = _filetype(info)
            target = None
            if filetype == Filetype.SYMBOLIC_LINK:
                target = info.get("link", "target")
                if target is None:
                    target = self._tar_target(path)
        return _Entry(info, filetype, target)

    def _tar_target(self, path: str) -> str:
        """Target of a ReadTarFS symlink member, from its "tar" namespace ("" if unknown)."""
        member = self.fs.getinfo(path, namespaces=["tar"]).raw.get("tar") or {}
        linkname = str(member.get("linkname") or "")
        if member.get("is_lnk") and linkname:
            # a hard link names another member from the archive root; as a symlink it must
            # be relative to the directory it sits in
            here = posixpath.dirname(path.strip("/")) or "."
            return posixpath.relpath(linkname.strip("/"), here)
        return linkname

    def _stat(self, path: str, entry: _Entry | None = None) -> Stat:
        entry = entry or self._lookup(path)
        get = entry.info.get
        if entry.target is not None:
            size = len(entry.target.encode("utf-8", "surrogateescape"))
        else:
            size = get("details", "size") or 0
        known = self._exact.get(path, {})

        def ns(key: str) -> int:
            seconds = get("details", key)
            exact = known.get(key)
            return exact[1] if exact is not None and exact[0] == seconds else seconds_to_ns(seconds)

        mtim = ns("modified")
        # archives know only the modification time; it stands in for the others
        atim = ns("accessed") if get("details", "accessed") is not None else mtim
        changed = get("details", "metadata_changed")
        return Stat(
            self._dev,
            self._ino(path),
            entry.filetype,
            2 if entry.filetype == Filetype.DIRECTORY else 1,  # PyFS has no link counts
            size,
            atim,
            mtim,
            mtim if changed is None else seconds_to_ns(changed),
        )

    def _exists(self, path: str) -> _Entry | None:
        try:
            return self._lookup(path)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def _set_path_times(self, path: str, atim: int | None, mtim: int | None) -> None:
        # some filesystems (OSFS) set both times at once: fill in the unchanged one
        st = self._stat(path)  # (and ENOENT when missing)
        atim = st.atim if atim is None else atim
        mtim = st.mtim if mtim is None else mtim
        with _fs_errors(path):
            try:
                self.fs.setinfo(path, {"details": {"accessed": atim / 1e9, "modified": mtim / 1e9}})
            except errors.ResourceNotFound:
                # it exists (we just looked): the FS cannot set times there (MemoryFS's root)
                raise oserror(errno.ENOTSUP, path) from None
            details = self.fs.getinfo(path, namespaces=["details"]).raw.get("details", {})
        exact = self._exact.setdefault(path, {})
        for key, ns in (("accessed", atim), ("modified", mtim)):
            if details.get(key) is not None:
                exact[key] = (details[key], ns)

    def _touch(self, *paths: str) -> None:
        """What POSIX does to a directory whose entries change, or to a file opened O_TRUNC:
        its mtime becomes now. The FSs not on the OS keep the time a directory was made
        (MemoryFS); where one cannot set times at all (MemoryFS's root) it stays so."""
        if self._os_times:
            return
        now = time.time_ns()
        for path in dict.fromkeys(paths):
            try:
                self._set_path_times(path, None, now)
            except OSError as e:
                if e.errno != errno.ENOTSUP:
                    raise

    def _kind(self, d: str, name: str) -> int | None:
        entry = self._exists(join(d, name))
        return None if entry is None else entry.filetype

    def _path_tables(self) -> tuple[dict[str, Any], ...]:
        return (self._inos, self._exact)

    def _path_holders(self) -> Iterable[PyFSFile]:
        return list(self._files)

    # --- walking --------------------------------------------------------------------------------

    def lstat(self, d: str, name: str) -> Stat:
        return self._stat(join(d, name))

    def open_dir(self, d: str, name: str) -> str:
        path = join(d, name)
        entry = self._lookup(path)
        if entry.filetype == Filetype.SYMBOLIC_LINK:
            raise oserror(errno.ELOOP, path)
        if entry.filetype != Filetype.DIRECTORY:
            raise oserror(errno.ENOTDIR, path)
        return path

    def readlink(self, d: str, name: str) -> str:
        path = join(d, name)
        entry = self._lookup(path)
        if entry.target is None:
            raise oserror(errno.EINVAL, path)
        return entry.target

    # --- directories as a whole -------------------------------------------------------------

    def stat_dir(self, h: str) -> Stat:
        return self._stat(h)

    def listdir(self, h: str) -> list[tuple[str, int, int]]:
        with _fs_errors(h):
            infos = list(self.fs.scandir(h, namespaces=_NAMESPACES))
        return [(i.name, self._ino(join(h, i.name)), _filetype(i)) for i in infos]

    def _set_dir_times(self, h: str, atim: int | None, mtim: int | None) -> None:
        self._set_path_times(h, atim, mtim)

    # --- entries ---------------------------------------------------------------------------------

    def _open_file(self, d: str, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> PyFSFile:
        path = join(d, name)
        if kind is None:
            mode = "x"  # exclusive even when not asked: it was missing a moment ago
        else:
            mode = "w" if truncate else "r"
        # "+" whenever both directions are needed, or to write without truncating
        if mode == "r":
            mode += "+b" if write else "b"
        else:
            mode += "+b" if read else "b"
        with _fs_errors(path):
            # unbuffered where the FS honours it: other handles see writes at once
            f = self.fs.openbin(path, mode, buffering=0)
        try:
            handle = PyFSFile(self, path, f, read=read, write=write)
        except BaseException:
            f.close()
            raise
        self._files.add(handle)
        if kind is None:
            self._touch(d)
        elif truncate:
            self._touch(path)
        return handle

    def _mkdir(self, d: str, name: str) -> None:
        path = join(d, name)
        with _fs_errors(path):
            self.fs.makedir(path)  # DirectoryExists for anything already there
        self._touch(d)

    def _rmdir(self, d: str, name: str) -> None:
        path = join(d, name)
        if self._lookup(path).filetype != Filetype.DIRECTORY:
            raise oserror(errno.ENOTDIR, path)
        with _fs_errors(path):
            self.fs.removedir(path)
        self._forget(path)
        self._touch(d)

    def _unlink(self, d: str, name: str) -> None:
        path = join(d, name)
        if self._lookup(path).filetype == Filetype.DIRECTORY:
            raise oserror(errno.EISDIR, path)
        with _fs_errors(path):
            self.fs.remove(path)
        self._forget(path)
        self._touch(d)

    def _rename(self, d1: str, n1: str, d2: str, n2: str) -> None:
        src, dst = join(d1, n1), join(d2, n2)
        src_is_dir = self._lookup(src).filetype == Filetype.DIRECTORY
        if src == dst:
            return
        target = self._exists(dst)

        def dst_is_empty() -> bool:
            with _fs_errors(dst):
                return self.fs.isempty(dst)

        # PyFS's move/movedir differ from rename(2): decide the POSIX cases first
        rename_check(src, dst, src_is_dir, None if target is None else target.filetype,
                     dst_is_empty)
        with _fs_errors(dst):
            if not self._host_rename(src, dst):
                if src_is_dir:
                    if target is not None:
                        self.fs.removedir(dst)  # movedir merges into an existing directory
                    self.fs.movedir(src, dst, create=True)
                else:
                    self.fs.move(src, dst, overwrite=True)
        if target is not None:
            self._forget(dst)
        self._moved(src, dst)
        self._touch(d1, d2)

    def _host_rename(self, src: str, dst: str) -> bool:
        """rename(2) on the host when both paths are host paths (OSFS, TempFS, their
        SubFS): atomic, and keeps the entry instead of copying it. False if not possible."""
        try:
            sys_src, sys_dst = self.fs.getsyspath(src), self.fs.getsyspath(dst)
        except errors.NoSysPath:
            return False
        os.replace(sys_src, sys_dst)
        return True

    def _set_times(self, d: str, name: str, atim: int | None, mtim: int | None) -> None:
        self._set_path_times(join(d, name), atim, mtim)

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close files still open; the filesystem itself belongs to the caller."""
        for f in list(self._files):
            try:
                f.close()
            except OSError:
                pass
