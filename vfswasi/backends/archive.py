"""Zip and tar archives as WASI mounts: read-only, streamed from the archive, or writable and
written back when the WASI instance closes.

Read-only (`zip://a.zip`, `tar://b.tar.gz`, `ReadZipFS` / `ReadTarFS` objects,
`vfswasi.archive(path)`): `ArchiveBackend`. The member list is read once into an immutable
tree of nodes (inode numbers, link counts, sizes, ns mtimes, the directories an archive only
implies); member data is read from the archive on demand, never whole:

- stored (uncompressed) zip members and members of an uncompressed tar on a real file are read
  with `pread` at their offset: any seek is free;
- compressed zip members stream through `zipfile`'s decompressor, a chunk (at most 1 MiB) at a
  time. A forward seek decompresses and drops what it skips; a *backward* seek (or a `pread`
  before the current position) restarts decompression from the start of the member, so random
  access to a large compressed member costs up to a full decompression per backward jump;
- members of a compressed tar (.gz/.bz2/.xz) stream from the archive's decompressor: opening
  the archive decompresses it once to list its members, and a backward seek restarts from the
  start of the *archive*. Interleaved reads of two members of one compressed tar thrash the
  same way. For random access, use zip or an uncompressed tar.

What the guest sees: tar symlinks as symlinks (the resolver expands them, so a link pointing
out of the mount cannot escape it), tar hard links as hard links (one inode, nlink >= 2, the
same data), Info-ZIP symlinks (a member whose Unix mode is S_IFLNK) as symlinks; times are ns
(pax "mtime" records exactly, zip NTFS extra field to 100 ns, Info-ZIP "UT" field to the second,
else the DOS time as local time, as Info-ZIP reads it); atime and ctime equal mtime. Implicit
directories get the archive file's mtime. Member names are normalized (leading "/" and "."
components dropped); a member whose name would climb out of the archive root with ".." is left
out. Every write answers EROFS.

Writable (`zip+rw://a.zip`, `tar+rw://b.tar.gz`, `vfswasi.archive(path, writable=True)`):
`WritableArchiveBackend` loads the archive into a private in-memory tree (a `MemoryBackend`
over a `MemoryFS`, so symlinks, hard links and ns times work as on any memory mount; its `.fs`
is the MemoryFS) and serves it. When the backend is closed (`WASI.close()`, which `run()`, the
`with` block and the CLI always reach, whether the guest returned, called proc_exit, trapped or
a Python exception unwound it), and only if the guest changed anything, the tree is packed into
a new archive beside the original (`.NAME.*.tmp` in the same directory), fsync'ed, and moved
over it with `os.replace`: a failure leaves the original untouched, a success loses nothing.
A missing archive starts empty and is created on close if the guest wrote anything.

Write-back keeps the members' order (new entries go last), mtimes (tar: exact ns in pax
records; zip: DOS time plus, when needed, the "UT" and NTFS extra fields), permission bits,
tar owners, zip member comments, compression methods and the archive comment; directories an
archive only implied stay implied unless they end up empty. Tar symlinks and hard links stay
what they are; zip symlinks are written the Info-ZIP way; zip has no hard links, so each name
of a hard-linked file becomes a full copy. Tar archives are written in pax format with their
original compression. The whole archive is held in memory while mounted writable, and packing
recompresses every member. Archives with members that cannot be represented in the tree
(devices, fifos, encrypted zip members, names that escape the root) are refused in writable
mode rather than silently dropped on write-back.

Archives may hold trees deeper than Python's recursion limit (a guest may make 10,000 nested
directories, and they are written back): building the index, loading a writable archive and
packing it walk with explicit stacks, and placing a member in the index starts from where the
previous one went (members in tree order cost a few steps each, not one per level).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import itertools
import lzma
import os
import posixpath
import stat
import struct
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from fs.memoryfs import MemoryFS

from ..abi import Filetype
from ..vfs import Backend, FileHandle, Stat, new_device, oserror
from .memory import MemoryBackend

__all__ = ["ArchiveBackend", "WritableArchiveBackend", "archive", "from_url"]

#: the largest piece a read asks of a member stream: bounds the temporary copies of a read
CHUNK = 1 << 20

_NS = 1_000_000_000
# 100 ns ticks between 1601-01-01 (the NTFS epoch) and 1970-01-01
_NTFS_EPOCH = 116_444_736_000_000_000
_ZIP_UT, _ZIP_NTFS, _ZIP64 = 0x5455, 0x000A, 0x0001
_DOS_MIN = (1980, 1, 1, 0, 0, 0)
_DOS_MAX = (2107, 12, 31, 23, 59, 58)

_COMPRESSED_STREAMS = (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)


@contextmanager
def _read_errors(what: object = "") -> Iterator[None]:
    """A damaged or unreadable archive is an I/O error to the guest."""
    try:
        yield
    except OSError as e:
        if not e.errno:
            raise oserror(errno.EIO, what) from e
        raise
    except RuntimeError as e:  # zipfile: "File ... is encrypted, password required"
        raise oserror(errno.EACCES, what) from e
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError,
            KeyError, ValueError, NotImplementedError) as e:
        raise oserror(errno.EIO, what) from e


# --- members --------------------------------------------------------------------------------------


@dataclass
class Member:
    """One archive member, as read from the archive (before it is placed in the tree)."""

    path: str  # normalized: no leading "/", no "." or ".." parts; "" is the root itself
    filetype: int
    size: int
    mtim: int
    mode: int  # permission bits (0o7777)
    target: str | None = None  # symlink target
    hardlink: str | None = None  # normalized path of the member a tar hard link names
    ref: Any = None  # the ZipInfo / TarInfo
    meta: dict[str, Any] = field(default_factory=dict)  # what write-back keeps (owners, ...)


def normalize(name: str) -> str | None:
    """An archive member name as a path below the root ("" for the root itself), or None when
    it climbs out of it with "..". Leading "/" and "." components are dropped, as tar does."""
    # Nearly every name is already normal: check that with substring searches, since the loop
    # below costs a Python step per component, quadratic over the members of a deep tree.
    core = name.strip("/")
    framed = f"/{core}/"
    if "//" not in framed and "/./" not in framed and "/../" not in framed:
        return core
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _decimal_ns(text: str) -> int:
    """A pax time ("1234.5678") as int ns, exactly."""
    return int((Decimal(text) * _NS).to_integral_value(rounding="ROUND_FLOOR"))


def _ns_decimal(ns: int) -> str:
    whole, frac = divmod(ns, _NS)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") if frac else str(whole)


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        yield tag, extra[i + 4 : i + 4 + size]
        i += 4 + size


def _escaping(name: str, ref: Any) -> Member:
    """A member whose name climbs out of the root: listed so that it can be reported."""
    return Member(name, Filetype.UNKNOWN, 0, 0, 0, ref=ref, meta={"escapes": True})


def _zip_mtime(zi: zipfile.ZipInfo) -> int:
    """A zip member's mtime in ns: NTFS extra field, else Info-ZIP "UT", else the DOS time
    (local time, as Info-ZIP and `zipfile.ZipFile.write` use it)."""
    ut = None
    for tag, data in _extra_fields(zi.extra):
        if tag == _ZIP_NTFS and len(data) >= 32:
            attr_tag, attr_size = struct.unpack_from("<HH", data, 4)
            if attr_tag == 1 and attr_size >= 24:
                (ticks,) = struct.unpack_from("<Q", data, 8)
                return (ticks - _NTFS_EPOCH) * 100
        elif tag == _ZIP_UT and len(data) >= 5 and data[0] & 1:
            ut = struct.unpack_from("<i", data, 1)[0] * _NS
    if ut is not None:
        return ut
    try:
        return int(time.mktime((*zi.date_time, 0, 0, -1))) * _NS
    except (OverflowError, ValueError):
        return 0


def _zip_members(zf: zipfile.ZipFile) -> Iterator[Member]:
    for zi in zf.infolist():
        path = normalize(zi.filename)
        if path is None:
            yield _escaping(zi.filename, zi)
            continue
        mode = zi.external_attr >> 16
        fmt = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            filetype = Filetype.SYMBOLIC_LINK
        elif zi.is_dir() or stat.S_ISDIR(mode):
            filetype = Filetype.DIRECTORY
        elif fmt in (0, stat.S_IFREG):
            filetype = Filetype.REGULAR_FILE
        else:
            filetype = Filetype.UNKNOWN
        perm = stat.S_IMODE(mode) or (0o755 if filetype == Filetype.DIRECTORY else 0o644)
        m = Member(path, filetype, zi.file_size, _zip_mtime(zi), perm, ref=zi)
        if filetype == Filetype.SYMBOLIC_LINK:
            with _read_errors(zi.filename):
                data = zf.read(zi)
            m.target, m.size = data.decode("utf-8", "surrogateescape"), len(data)
        if zi.flag_bits & 1:
            m.meta["encrypted"] = True
        yield m


_TAR_FILETYPES = {
    tarfile.DIRTYPE: Filetype.DIRECTORY,
    tarfile.SYMTYPE: Filetype.SYMBOLIC_LINK,
    tarfile.CHRTYPE: Filetype.CHARACTER_DEVICE,
    tarfile.BLKTYPE: Filetype.BLOCK_DEVICE,
    tarfile.FIFOTYPE: Filetype.UNKNOWN,
}


def _tar_members(tf: tarfile.TarFile) -> Iterator[Member]:
    for ti in tf.getmembers():
        path = normalize(ti.name)
        if path is None:
            yield _escaping(ti.name, ti)
            continue
        pax_mtime = ti.pax_headers.get("mtime")
        mtim = _decimal_ns(pax_mtime) if pax_mtime else int(ti.mtime) * _NS
        filetype = Filetype.REGULAR_FILE if ti.isreg() else _TAR_FILETYPES.get(ti.type,
                                                                             Filetype.REGULAR_FILE)
        m = Member(path, filetype, ti.size, mtim, stat.S_IMODE(ti.mode), ref=ti)
        m.meta.update(uid=ti.uid, gid=ti.gid, uname=ti.uname, gname=ti.gname,
                      xattrs={k: v for k, v in ti.pax_headers.items() if "xattr." in k})
        if ti.issym():
            m.target = ti.linkname
            m.size = len(ti.linkname.encode("utf-8", "surrogateescape"))
        elif ti.islnk():
            m.hardlink = normalize(ti.linkname)
            if m.hardlink is None:  # names a member outside the root: left out, like those
                m.meta["escapes"] = True
        elif not (ti.isreg() or ti.isdir()):
            m.size = 0  # devices and fifos: no data
        yield m


# --- sources: an open archive and how to read a member ---------------------------------------


class _Slice(io.RawIOBase):
    """Bytes [start, start+size) of a file descriptor, read with pread: seeks are free."""

    def __init__(self, fd: int, start: int, size: int):
        self._fd, self._start, self._size, self._pos = fd, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        n = os.preadv(self._fd, [view[:want]], self._start + self._pos)
        self._pos += n
        return n


def _fileno(f: Any) -> int | None:
    """The host fd behind a plain (uncompressed) file object, or None."""
    if isinstance(f, _COMPRESSED_STREAMS):
        return None
    try:
        fd = f.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if hasattr(os, "preadv") else None


class _Source:
    """An open archive: its members, a stream for a member's data, and what write-back keeps."""

    format: str  # "zip" | "tar"
    compression: str = ""  # tar: "", "gz", "bz2", "xz"
    comment: bytes = b""  # zip archive comment
    mtim: int = 0  # the archive file's mtime: what implicit directories show

    def __init__(self, owned: list[Any]):
        self._owned = owned  # what close() closes (nothing of a user's ReadZipFS / ReadTarFS)

    def members(self) -> Iterator[Member]:
        raise NotImplementedError

    def open(self, m: Member) -> BinaryIO:
        raise NotImplementedError

    def close(self) -> None:
        for obj in reversed(self._owned):
            with suppress(Exception):
                obj.close()
        self._owned = []


class _ZipSource(_Source):
    format = "zip"

    def __init__(self, zf: zipfile.ZipFile, owned: list[Any]):
        super().__init__(owned)
        self.zf = zf
        self.comment = zf.comment
        self._fd = _fileno(zf.fp)

    def members(self) -> Iterator[Member]:
        return _zip_members(self.zf)

    def open(self, m: Member) -> BinaryIO:
        zi: zipfile.ZipInfo = m.ref
        if (self._fd is not None and zi.compress_type == zipfile.ZIP_STORED
                and not zi.flag_bits & 1 and zi.compress_size == zi.file_size):
            header = os.pread(self._fd, 30, zi.header_offset)
            if len(header) == 30 and header[:4] == b"PK\x03\x04":
                name_len, extra_len = struct.unpack_from("<HH", header, 26)
                start = zi.header_offset + 30 + name_len + extra_len
                return _Slice(self._fd, start, zi.file_size)  # type: ignore[return-value]
        return self.zf.open(zi)  # streaming ZipExtFile


class _TarSource(_Source):
    format = "tar"

    def __init__(self, tf: tarfile.TarFile, owned: list[Any]):
        super().__init__(owned)
        self.tf = tf
        fileobj = tf.fileobj
        self.compression = {gzip.GzipFile: "gz", bz2.BZ2File: "bz2",
                            lzma.LZMAFile: "xz"}.get(type(fileobj), "")
        self._fd = None if self.compression else _fileno(fileobj)

    def members(self) -> Iterator[Member]:
        return _tar_members(self.tf)

    def open(self, m: Member) -> BinaryIO:
        ti: tarfile.TarInfo = m.ref
        if self._fd is not None and ti.isreg() and not ti.sparse:
            return _Slice(self._fd, ti.offset_data, ti.size)  # type: ignore[return-value]
        f = self.tf.extractfile(ti)
        if f is None:
            raise oserror(errno.EIO, m.path)
        return f


def _sniff(path: str) -> str:
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise ValueError(f"{path}: neither a zip nor a tar archive")


def format_of_name(name: str) -> str | None:
    """"zip" or "tar" from a file name's extension, None if it does not say."""
    lower = name.lower()
    if lower.endswith((".zip", ".jar", ".whl", ".epub")):
        return "zip"
    if lower.endswith((".tar", ".tgz", ".tbz", ".tbz2", ".txz")) or ".tar." in lower:
        return "tar"
    return None


def compression_of_name(name: str) -> str:
    lower = name.lower()
    for suffixes, comp in (((".gz", ".tgz"), "gz"), ((".bz2", ".tbz", ".tbz2"), "bz2"),
                           ((".xz", ".txz"), "xz")):
        if lower.endswith(suffixes):
            return comp
    return ""


def _open_source(src: Any, fmt: str | None = None) -> _Source:
    """An archive from a path, a binary file object, a ZipFile/TarFile, or a PyFS
    ReadZipFS/ReadTarFS (whose archive object is used, and left open, as is)."""
    from fs.tarfs import ReadTarFS
    from fs.zipfs import ReadZipFS

    if isinstance(src, ReadZipFS):
        src = src._zip
    elif isinstance(src, ReadTarFS):
        src = src._tar
    if isinstance(src, zipfile.ZipFile):
        source: _Source = _ZipSource(src, [])
    elif isinstance(src, tarfile.TarFile):
        source = _TarSource(src, [])
    else:
        owned: list[Any] = []
        if isinstance(src, (str, os.PathLike)):
            path = os.fspath(src)
            fmt = fmt or _sniff(path)
            f: Any = open(path, "rb")  # noqa: SIM115 - the source owns it
            owned.append(f)
        else:
            f = src
            if fmt is None:
                pos = f.tell()
                fmt = "zip" if zipfile.is_zipfile(f) else "tar"
                f.seek(pos)
        try:
            if fmt == "zip":
                zf = zipfile.ZipFile(f)
                owned.append(zf)
                source = _ZipSource(zf, owned)
            elif fmt == "tar":
                tf = tarfile.open(fileobj=f, mode="r:*")
                owned.append(tf)
                source = _TarSource(tf, owned)
            else:
                raise ValueError(f"unknown archive format {fmt!r} (zip or tar)")
        except BaseException:
            for obj in reversed(owned):
                obj.close()
            raise
    source.mtim = _mtime_of(source.zf.fp if isinstance(source, _ZipSource)
                            else source.tf.fileobj)  # type: ignore[attr-defined]
    return source


def _mtime_of(f: Any) -> int:
    """The mtime of the host file behind `f` (through a decompressor too), else 0."""
    try:
        return os.fstat(f.fileno()).st_mtime_ns
    except (AttributeError, OSError, ValueError):
        return 0


# --- the tree -----------------------------------------------------------------------------------


class _Node:
    """One inode of the archive tree: a directory (children is a dict) or anything else."""

    __slots__ = ("ino", "filetype", "size", "mtim", "nlink", "target", "children", "member",
                 "implicit", "order", "parent")

    def __init__(self, ino: int, filetype: int, mtim: int, member: Member | None = None,
                 order: int = -1, parent: _Node | None = None):
        self.ino = ino
        self.filetype = filetype
        self.size = 0 if member is None or filetype == Filetype.DIRECTORY else member.size
        self.mtim = mtim
        self.nlink = 1
        self.target = None if member is None else member.target
        self.children: dict[str, _Node] | None = {} if filetype == Filetype.DIRECTORY else None
        self.member = member
        self.implicit = member is None  # a directory only implied by its members' names
        self.order = order  # position of its (first) member in the archive
        # a directory's parent (directories have one name), so index building can climb back
        self.parent = parent


class ArchiveIndex:
    """The member list of an archive as a tree; `dropped` lists members that could not be
    placed (names climbing out of the root, or under a name that is not a directory)."""

    def __init__(self, source: _Source):
        self.source = source
        self._inos = itertools.count(1)
        self.root = _Node(next(self._inos), Filetype.DIRECTORY, source.mtim)
        self.dropped: list[str] = []
        self.name_order: dict[str, int] = {}  # path -> position of the member that put it there
        self.special: list[str] = []  # devices, fifos, encrypted members
        # the directory found last, by path: see `_walk_to`
        self._cursor: tuple[str, _Node] = ("", self.root)
        with _read_errors(source.format):
            for order, m in enumerate(source.members()):
                self._add(m, order)
        self._count_links()

    def _add(self, m: Member, order: int) -> None:
        if m.meta.get("escapes"):
            self.dropped.append(m.path)
            return
        if m.meta.get("encrypted") or m.filetype not in (
                Filetype.REGULAR_FILE, Filetype.DIRECTORY, Filetype.SYMBOLIC_LINK):
            self.special.append(m.path)
        if m.path == "":
            if m.filetype == Filetype.DIRECTORY:  # a "./" member: the root's own metadata
                self.root.mtim, self.root.member, self.root.implicit = m.mtim, m, False
                self.root.order = order
            return
        parent = self._dir_for(m.path)
        if parent is None:
            self.dropped.append(m.path)
            return
        assert parent.children is not None
        name = posixpath.basename(m.path)
        old = parent.children.get(name)
        if m.filetype == Filetype.DIRECTORY and old is not None and old.children is not None:
            old.mtim, old.member, old.implicit = m.mtim, m, False  # an explicit entry for it
            old.order = order if old.order < 0 else old.order
            self.name_order.setdefault(m.path, order)
            return
        if m.hardlink is not None:
            node = self.lookup(m.hardlink)
            # the lookup moved the cursor: `parent` stays valid (nothing was detached)
            if node is None or node.filetype != Filetype.REGULAR_FILE:
                # a hard link to nothing we hold: serve it as the symlink it would resolve to
                here = posixpath.dirname(m.path) or "."
                m.target = posixpath.relpath(m.hardlink or ".", here)
                m.size = len(m.target.encode("utf-8", "surrogateescape"))
                node = _Node(next(self._inos), Filetype.SYMBOLIC_LINK, m.mtim, m, order)
            else:
                node.nlink += 1
        else:
            node = _Node(next(self._inos), m.filetype, m.mtim, m, order)
        if old is not None and old.children is None:
            old.nlink -= 1  # a later member of the same name wins, as on extraction
        if old is not None and old.children is not None:
            self._cursor = ("", self.root)  # the cursor may be in the subtree now cut off
        if node.children is not None:
            node.parent = parent
        parent.children[name] = node
        self.name_order[m.path] = order

    def _dir_for(self, path: str) -> _Node | None:
        """The directory `path` goes in, made (implicit) where missing; None if a
        non-directory is in the way."""
        return self._walk_to(path.rpartition("/")[0], create=True)

    def lookup(self, path: str) -> _Node | None:
        """The node at normalized `path` ("" is the root), or None."""
        dirpath, _, name = path.rpartition("/")
        d = self._walk_to(dirpath, create=False)
        if d is None or not name:
            return d
        assert d.children is not None
        return d.children.get(name)

    def _walk_to(self, dirpath: str, *, create: bool) -> _Node | None:
        """The directory at normalized `dirpath` ("" is the root), made (implicit) where
        missing when `create`; None where a non-directory is in the way or, without `create`,
        where nothing is.

        Members come in tree order nearly always, so a member's directory is the previous
        one's, or a little below or above it: the walk starts from the directory found last
        (`_cursor`), not from the root, which would cost a step per component per member,
        quadratic in the depth of a deep tree."""
        at, d = self._cursor
        if dirpath == at:
            return d
        if not at or dirpath.startswith(at + "/"):  # below the cursor
            rest = dirpath[len(at) + 1 :] if at else dirpath
        elif not dirpath or at.startswith(dirpath + "/"):  # above it: climb
            for _ in range(at.count("/", len(dirpath)) if dirpath else at.count("/") + 1):
                assert d.parent is not None
                d = d.parent
            rest = ""
        else:
            d, rest = self.root, dirpath
        for part in rest.split("/") if rest else ():
            assert d.children is not None
            child = d.children.get(part)
            if child is None:
                if not create:
                    return None
                child = d.children[part] = _Node(next(self._inos), Filetype.DIRECTORY,
                                                 self.source.mtim, parent=d)
            elif child.children is None:
                return None
            d = child
        self._cursor = (dirpath, d)
        return d

    def _count_links(self) -> None:
        """Every directory's link count: POSIX's 2 + its subdirectories (an explicit stack:
        the tree may be deeper than Python's recursion limit)."""
        stack = [self.root]
        while stack:
            d = stack.pop()
            assert d.children is not None
            subdirs = [c for c in d.children.values() if c.children is not None]
            d.nlink = 2 + len(subdirs)
            stack.extend(subdirs)

    def open(self, node: _Node) -> BinaryIO:
        assert node.member is not None
        with _read_errors(node.member.path):
            return self.source.open(node.member)


def _stat(dev: int, node: _Node) -> Stat:
    return Stat(dev, node.ino, node.filetype, node.nlink, node.size, node.mtim, node.mtim,
                node.mtim)


# --- the read-only backend -----------------------------------------------------------------------


class ArchiveFile(FileHandle):
    """A member open for reading; its stream is opened on the first read."""

    writable = False

    def __init__(self, backend: ArchiveBackend, node: _Node, *, read: bool):
        self._backend = backend
        self._node = node
        self._stream: BinaryIO | None = None
        self.readable = read

    def readinto(self, buf: memoryview, offset: int) -> int:
        if not self.readable:
            raise oserror(errno.EBADF)
        node = self._node
        want = min(len(buf), node.size - offset) if offset < node.size else 0
        if want <= 0:
            return 0
        view = memoryview(buf).cast("B")
        with _read_errors(node.member.path if node.member else ""):
            if self._stream is None:
                self._stream = self._backend.index.open(node)
            stream = self._stream
            if stream.tell() != offset:
                stream.seek(offset)  # see the module docstring for what this costs
            total = 0
            while total < want:
                # bounded pieces: a stream's readinto may build a bytes copy of what it reads
                n = stream.readinto(view[total : total + min(CHUNK, want - total)])
                if not n:
                    break
                total += n
        return total

    def stat(self) -> Stat:
        return _stat(self._backend._dev, self._node)

    def close(self) -> None:
        self._backend._files.discard(self)
        if self._stream is not None:
            self._stream.close()
            self._stream = None


class ArchiveBackend(Backend):
    """A read-only mount of an archive (see the module docstring). `source` is a path, a
    binary file object, a `zipfile.ZipFile` / `tarfile.TarFile`, or a `ReadZipFS` /
    `ReadTarFS`; `fmt` ("zip" / "tar") is sniffed when None; `subdir` mounts a directory
    inside the archive. An archive the backend opened itself is closed with it."""

    readonly = True

    def __init__(self, source: Any, *, fmt: str | None = None, subdir: str = ""):
        self.source = _open_source(source, fmt)
        try:
            self.index = ArchiveIndex(self.source)
            root = self.index.lookup(normalize(subdir) or "")
            if root is None or root.children is None:
                raise NotADirectoryError(f"no directory {subdir!r} in the archive")
        except BaseException:
            self.source.close()
            raise
        self._root = root
        self._dev = new_device()
        self._files: set[ArchiveFile] = set()

    def root(self) -> _Node:
        return self._root

    @staticmethod
    def _entry(d: _Node, name: str) -> _Node:
        assert d.children is not None
        node = d.children.get(name)
        if node is None:
            raise oserror(errno.ENOENT, name)
        return node

    def lstat(self, d: _Node, name: str) -> Stat:
        return _stat(self._dev, self._entry(d, name))

    def open_dir(self, d: _Node, name: str) -> _Node:
        node = self._entry(d, name)
        if node.filetype == Filetype.SYMBOLIC_LINK:
            raise oserror(errno.ELOOP, name)
        if node.children is None:
            raise oserror(errno.ENOTDIR, name)
        return node

    def dup_dir(self, h: _Node) -> _Node:
        return h  # immutable nodes: nothing to release

    def readlink(self, d: _Node, name: str) -> str:
        node = self._entry(d, name)
        if node.filetype != Filetype.SYMBOLIC_LINK or node.target is None:
            raise oserror(errno.EINVAL, name)
        return node.target

    def stat_dir(self, h: _Node) -> Stat:
        return _stat(self._dev, h)

    def listdir(self, h: _Node) -> list[tuple[str, int, int]]:
        assert h.children is not None
        return [(name, n.ino, n.filetype) for name, n in h.children.items()]

    def open_file(self, d: _Node, name: str, *, read: bool, write: bool, create: bool = False,
                  exclusive: bool = False, truncate: bool = False) -> ArchiveFile:
        if write or create or truncate:
            raise oserror(errno.EROFS, name)
        node = self._entry(d, name)
        if node.filetype == Filetype.SYMBOLIC_LINK:
            raise oserror(errno.ELOOP, name)
        if node.children is not None:
            raise oserror(errno.EISDIR, name)
        if node.filetype != Filetype.REGULAR_FILE:
            raise oserror(errno.ENOTSUP, name)  # a device or fifo member: there is no data
        f = ArchiveFile(self, node, read=read)
        self._files.add(f)
        return f

    def _readonly(self, *_args: Any, **_kwargs: Any) -> None:
        raise oserror(errno.EROFS)

    set_dir_times = mkdir = rmdir = unlink = rename = link = symlink = set_times = _readonly

    def close(self) -> None:
        for f in list(self._files):
            with suppress(Exception):
                f.close()
        self.source.close()


# --- the writable backend -------------------------------------------------------------------------


class _TrackedFile(FileHandle):
    """A MemoryBackend file that tells its backend when it changes something."""

    def __init__(self, inner: FileHandle, backend: WritableArchiveBackend):
        self._inner = inner
        self._backend = backend
        self.readable = getattr(inner, "readable", True)
        self.writable = inner.writable
        # the inner handle's bound methods: reads cost no extra Python call
        self.readinto = inner.readinto  # type: ignore[method-assign]
        self.stat = inner.stat  # type: ignore[method-assign]
        self.sync = inner.sync  # type: ignore[method-assign]
        self.close = inner.close  # type: ignore[method-assign]

    def write(self, data: memoryview | bytes, offset: int) -> int:
        n = self._inner.write(data, offset)
        self._backend.changed = True
        return n

    def truncate(self, size: int) -> None:
        self._inner.truncate(size)
        self._backend.changed = True

    def allocate(self, offset: int, length: int) -> None:
        before = self._inner.stat().size
        self._inner.allocate(offset, length)
        if self._inner.stat().size != before:
            self._backend.changed = True

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        self._inner.set_times(atim, mtim)
        self._backend.changed = True


def _changes(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a MemoryBackend mutation: once it succeeds, the archive needs writing back."""

    def wrapper(self: WritableArchiveBackend, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self.changed = True
        return result

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class WritableArchiveBackend(MemoryBackend):
    """A writable mount of the archive at `path`, written back on `close()` if changed (see the
    module docstring). `fmt` ("zip" / "tar") and `compression` (tar: "", "gz", "bz2", "xz")
    default to the existing archive's, else to what the file name says. `changed` says whether
    a write-back is due; `save()` writes back now."""

    def __init__(self, path: str | os.PathLike[str], *, fmt: str | None = None,
                 compression: str | None = None, subdir: str = ""):
        super().__init__(MemoryFS())
        self.path = os.path.realpath(os.fspath(path))  # replace the file a symlink names
        self._meta: dict[int, Member] = {}  # ino -> the member it was loaded from
        self._order: dict[int, int] = {}  # ino -> position of its member in the archive
        self._path_order: dict[str, tuple[int, int]] = {}  # path -> (its position, its ino)
        self._implicit: set[int] = set()  # inos of directories the archive only implied
        self.comment = b""
        if os.path.exists(self.path):
            source = _open_source(self.path, fmt)
            try:
                self.format = source.format
                self.compression = source.compression if compression is None else compression
                self.comment = source.comment
                self._load(ArchiveIndex(source))
            finally:
                source.close()
        else:
            if not os.path.isdir(os.path.dirname(self.path)):
                raise FileNotFoundError(f"no directory for the archive: {self.path}")
            self.format = fmt or format_of_name(self.path) or "zip"
            self.compression = (compression_of_name(self.path) if compression is None
                                else compression)
        if self.format not in ("zip", "tar"):
            raise ValueError(f"unknown archive format {self.format!r} (zip or tar)")
        if self.compression not in ("", "gz", "bz2", "xz"):
            raise ValueError(f"unknown tar compression {self.compression!r}")
        self._top = super().root()
        self._mount_root = self._top
        for part in filter(None, (normalize(subdir) or "").split("/")):
            self._mount_root = MemoryBackend.open_dir(self, self._mount_root, part)
        self.changed = False
        self._closed = False

    def root(self) -> Any:
        return self._mount_root

    # --- loading ---------------------------------------------------------------------------------

    def _load(self, index: ArchiveIndex) -> None:
        if index.dropped or index.special:
            what = index.dropped + index.special
            raise ValueError(
                f"{self.path}: cannot mount writable: {len(what)} member(s) cannot be kept "
                f"on write-back (e.g. {what[0]!r}: a name outside the root, a device, a fifo "
                "or an encrypted member); mount it read-only")
        made: dict[int, tuple[Any, str]] = {}  # archive ino -> where its first name was made
        self._load_tree(index, made)
        self._remember(self.stat_dir(self._root).ino, index.root)
        MemoryBackend.set_dir_times(self, self._root, index.root.mtim, index.root.mtim)

    def _load_tree(self, index: ArchiveIndex, made: dict[int, tuple[Any, str]]) -> None:
        """Make the index's tree in memory, depth first in archive order; a directory's times
        are set once its content is made (making it moves them).

        An explicit stack, not recursion: a tree may be deeper than Python's recursion limit.
        A frame is (the rest of a directory's entries, its handle, its path, and for all but
        the root: (the parent's handle, its name there, its node) to finish it with)."""
        assert index.root.children is not None
        Frame = tuple[Iterator[tuple[str, _Node]], Any, str, tuple[Any, str, _Node] | None]
        stack: list[Frame] = [(iter(index.root.children.items()), self._root, "", None)]
        while stack:
            entries, d, dir_path, up = stack[-1]
            for name, child in entries:
                # one string per path, shared with `_path_order` (deep trees have long paths)
                path = f"{dir_path}/{name}" if dir_path else name
                if child.children is not None:
                    MemoryBackend.mkdir(self, d, name)
                    sub = MemoryBackend.open_dir(self, d, name)
                    stack.append((iter(child.children.items()), sub, path, (d, name, child)))
                    break  # its content first; it is finished when its frame is done
                if child.filetype == Filetype.SYMBOLIC_LINK:
                    MemoryBackend.symlink(self, child.target or "", d, name)
                elif child.ino in made:
                    MemoryBackend.link(self, *made[child.ino], d, name)
                else:
                    made[child.ino] = (d, name)
                    self._copy_in(index, child, d, name)
                self._loaded(index, d, name, child, path)
            else:
                stack.pop()
                if up is not None:
                    parent, name, node = up
                    MemoryBackend.set_dir_times(self, d, node.mtim, node.mtim)
                    self._loaded(index, parent, name, node, dir_path)

    def _loaded(self, index: ArchiveIndex, d: Any, name: str, child: _Node, path: str) -> None:
        """Entry `name` of `d` (at `path`) is made from `child` (a directory: with its
        content): remember where it came from and set its times."""
        ino = MemoryBackend.lstat(self, d, name).ino
        self._remember(ino, child)
        order = index.name_order.get(path)
        if order is not None:
            self._path_order[path] = (order, ino)
        if child.children is None:
            MemoryBackend.set_times(self, d, name, child.mtim, child.mtim)

    def _copy_in(self, index: ArchiveIndex, node: _Node, d: Any, name: str) -> None:
        f = MemoryBackend.open_file(self, d, name, read=False, write=True, create=True,
                                    exclusive=True)
        try:
            if node.size:
                buf = bytearray(min(CHUNK, node.size))
                stream = index.open(node)
                try:
                    offset = 0
                    with _read_errors(name):
                        while n := stream.readinto(buf):
                            f.write(memoryview(buf)[:n], offset)
                            offset += n
                finally:
                    stream.close()
        finally:
            f.close()

    def _remember(self, ino: int, node: _Node) -> None:
        if node.member is not None:
            self._meta[ino] = node.member
        if node.order >= 0:
            self._order.setdefault(ino, node.order)
        if node.implicit and node.children is not None:
            self._implicit.add(ino)

    # --- change tracking ----------------------------------------------------------------------------

    mkdir = _changes(MemoryBackend.mkdir)
    rmdir = _changes(MemoryBackend.rmdir)
    unlink = _changes(MemoryBackend.unlink)
    rename = _changes(MemoryBackend.rename)
    link = _changes(MemoryBackend.link)
    symlink = _changes(MemoryBackend.symlink)
    set_times = _changes(MemoryBackend.set_times)
    set_dir_times = _changes(MemoryBackend.set_dir_times)

    def open_file(self, d: Any, name: str, *, read: bool, write: bool, create: bool = False,
                  exclusive: bool = False, truncate: bool = False) -> FileHandle:
        creating = create and not self._exists(d, name)
        f = super().open_file(d, name, read=read, write=write, create=create,
                              exclusive=exclusive, truncate=truncate)
        if creating or truncate:
            self.changed = True
        return _TrackedFile(f, self)

    def _exists(self, d: Any, name: str) -> bool:
        try:
            MemoryBackend.lstat(self, d, name)
        except FileNotFoundError:
            return False
        return True

    # --- write-back ------------------------------------------------------------------------------

    def close(self) -> None:
        """Write the archive back if anything changed (once; see `save`)."""
        if self._closed:
            return
        self._closed = True
        super().close()
        if self.changed:
            self.save()

    def save(self) -> None:
        """Pack the tree into a new archive and move it over the original, atomically. On an
        error the original is untouched and `changed` stays True (call `save()` again)."""
        items = self._items()
        if self.format == "zip":
            write: Callable[[BinaryIO], None] = lambda f: self._pack_zip(items, f)  # noqa: E731
        else:
            write = lambda f: self._pack_tar(items, f)  # noqa: E731
        replace_atomically(self.path, write)
        self.changed = False

    def _items(self) -> list[_Item]:
        """Every entry below the archive root, parents first, in archive order (new ones last,
        in walk order)."""
        items: list[_Item] = []
        # Depth first, names sorted, with an explicit stack (the tree may be deeper than
        # Python's recursion limit): a frame is (the rest of a directory's entries, its
        # handle, its path).
        stack: list[tuple[Iterator[tuple[str, int, int]], Any, str]] = [
            (iter(sorted(MemoryBackend.listdir(self, self._top))), self._top, "")]
        while stack:
            entries, d, dir_path = stack[-1]
            for name, _ino, ftype in entries:
                path = f"{dir_path}/{name}" if dir_path else name
                st = MemoryBackend.lstat(self, d, name)
                item = _Item(path, st, self._meta.get(st.ino))
                items.append(item)
                if ftype == Filetype.DIRECTORY:
                    sub = MemoryBackend.open_dir(self, d, name)
                    item.empty = not MemoryBackend.listdir(self, sub)
                    stack.append((iter(sorted(MemoryBackend.listdir(self, sub))), sub, path))
                    break  # its content comes next, then the rest of this directory
                if ftype == Filetype.SYMBOLIC_LINK:
                    item.target = MemoryBackend.readlink(self, d, name)
                else:
                    item.open = lambda d=d, name=name: MemoryBackend.open_file(
                        self, d, name, read=True, write=False)
            else:
                stack.pop()
        top = MemoryBackend.stat_dir(self, self._top)
        if self.format == "tar" and top.ino in self._meta:  # the archive had a "./" member
            items.insert(0, _Item(".", top, self._meta[top.ino]))
        # A name the archive had, still on the same inode, keeps its member's position; an
        # inode none of whose names is where it was (renamed) keeps its first member's
        # position under its new name; anything else is new and goes last, in walk order.
        last = len(items)
        kept = {it.stat.ino for it in items
                if self._path_order.get(it.path, (0, None))[1] == it.stat.ino}

        def position(it: _Item) -> int:
            order, ino = self._path_order.get(it.path, (last, None))
            if ino == it.stat.ino:
                return order
            if it.stat.ino not in kept and it.stat.ino in self._order:
                kept.add(it.stat.ino)  # only one name takes the old place
                return self._order[it.stat.ino]
            return last

        positions = [position(it) for it in items]  # in walk order, so "first name" is stable
        items = [it for _, it in sorted(zip(positions, items, strict=True),
                                        key=lambda pair: pair[0])]
        # an implied directory stays implied, unless nothing else would bring it back
        return [it for it in items
                if not (it.stat.filetype == Filetype.DIRECTORY and it.stat.ino in self._implicit
                        and not it.empty)]

    def _pack_zip(self, items: list[_Item], f: BinaryIO) -> None:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.comment = self.comment
            for it in items:
                self._write_zip_member(zf, it)

    def _write_zip_member(self, zf: zipfile.ZipFile, it: _Item) -> None:
        st, template = it.stat, (it.member.ref if it.member is not None else None)
        is_dir = st.filetype == Filetype.DIRECTORY
        zi = zipfile.ZipInfo(it.path + "/" if is_dir else it.path, _dos_time(st.mtim))
        zi.create_system = 3  # Unix: the mode bits below are meant as such
        zi.external_attr = (_type_bits(st.filetype) | it.mode) << 16 | (0x10 if is_dir else 0)
        if isinstance(template, zipfile.ZipInfo):
            zi.comment = template.comment
            zi.compress_type = template.compress_type
        elif st.filetype == Filetype.REGULAR_FILE:
            zi.compress_type = zipfile.ZIP_DEFLATED
        zi.extra = _zip_extra(template.extra if isinstance(template, zipfile.ZipInfo) else b"",
                              st.mtim, zi.date_time)
        if st.filetype == Filetype.REGULAR_FILE:
            zi.file_size = st.size
            with zf.open(zi, "w") as out:
                _copy_out(it, out.write)
        else:
            zi.compress_type = zipfile.ZIP_STORED
            data = b"" if is_dir else (it.target or "").encode("utf-8", "surrogateescape")
            zf.writestr(zi, data)

    def _pack_tar(self, items: list[_Item], f: BinaryIO) -> None:
        stream: Any = f
        name = os.path.basename(self.path)
        if self.compression == "gz":
            base = name[:-3] if name.endswith(".gz") else name
            stream = gzip.GzipFile(filename=base, mode="wb", fileobj=f)
        elif self.compression == "bz2":
            stream = bz2.BZ2File(f, "wb")
        elif self.compression == "xz":
            stream = lzma.LZMAFile(f, "wb")
        try:
            with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT,
                              copybufsize=CHUNK) as tf:
                first_name: dict[int, str] = {}  # ino -> the path its data went under
                for it in items:
                    self._write_tar_member(tf, it, first_name)
        finally:
            if stream is not f:
                stream.close()

    def _write_tar_member(self, tf: tarfile.TarFile, it: _Item,
                          first_name: dict[int, str]) -> None:
        st = it.stat
        ti = tarfile.TarInfo(it.path)
        ti.mtime = st.mtim // _NS
        if st.mtim % _NS:
            ti.pax_headers["mtime"] = _ns_decimal(st.mtim)
        ti.mode = it.mode
        meta = it.member.meta if it.member is not None else {}
        ti.uid, ti.gid = meta.get("uid", 0), meta.get("gid", 0)
        ti.uname, ti.gname = meta.get("uname", ""), meta.get("gname", "")
        ti.pax_headers.update(meta.get("xattrs", {}))
        if st.filetype == Filetype.DIRECTORY:
            ti.type = tarfile.DIRTYPE
            tf.addfile(ti)
        elif st.filetype == Filetype.SYMBOLIC_LINK:
            ti.type, ti.linkname = tarfile.SYMTYPE, it.target or ""
            tf.addfile(ti)
        elif st.nlink > 1 and st.ino in first_name:
            ti.type, ti.linkname = tarfile.LNKTYPE, first_name[st.ino]
            tf.addfile(ti)
        else:
            first_name[st.ino] = it.path
            ti.size = st.size
            reader = _HandleReader(it)
            try:
                tf.addfile(ti, reader)
            finally:
                reader.close()


@dataclass
class _Item:
    """One entry to pack."""

    path: str
    stat: Stat
    member: Member | None
    target: str | None = None
    empty: bool = False
    open: Callable[[], FileHandle] | None = None

    @property
    def mode(self) -> int:
        if self.member is not None:
            return self.member.mode
        return 0o755 if self.stat.filetype == Filetype.DIRECTORY else (
            0o777 if self.stat.filetype == Filetype.SYMBOLIC_LINK else 0o644)


def _type_bits(filetype: int) -> int:
    return {Filetype.DIRECTORY: stat.S_IFDIR,
            Filetype.SYMBOLIC_LINK: stat.S_IFLNK}.get(filetype, stat.S_IFREG)


def _copy_out(it: _Item, write: Callable[[Any], Any]) -> None:
    """Feed a file's data to `write` in CHUNK pieces."""
    assert it.open is not None
    f = it.open()
    try:
        buf = bytearray(min(CHUNK, max(it.stat.size, 1)))
        offset = 0
        while n := f.readinto(memoryview(buf), offset):
            write(memoryview(buf)[:n])
            offset += n
    finally:
        f.close()


class _HandleReader:
    """`read(n)` over a FileHandle, for tarfile.addfile."""

    def __init__(self, it: _Item):
        assert it.open is not None
        self._f = it.open()
        self._offset = 0

    def read(self, n: int = -1) -> bytes:
        buf = bytearray(n if n >= 0 else CHUNK)
        got = self._f.readinto(memoryview(buf), self._offset)
        self._offset += got
        return bytes(buf[:got])

    def close(self) -> None:
        self._f.close()


def _dos_time(ns: int) -> tuple[int, int, int, int, int, int]:
    """The DOS date_time (local time, as Info-ZIP writes it), clamped to what DOS can hold."""
    try:
        t = tuple(time.localtime(ns // _NS)[:6])
    except (OverflowError, OSError, ValueError):
        t = _DOS_MIN if ns < 0 else _DOS_MAX
    return max(_DOS_MIN, min(_DOS_MAX, t))  # type: ignore[return-value]


def _zip_extra(original: bytes, mtim: int, dos: tuple[int, ...]) -> bytes:
    """Extra fields for a member with mtime `mtim`: the original's, less those zipfile makes
    (zip64) and the time fields, which are added back where the DOS time cannot say it all."""
    kept = b"".join(struct.pack("<HH", tag, len(data)) + data
                    for tag, data in _extra_fields(original)
                    if tag not in (_ZIP64, _ZIP_UT, _ZIP_NTFS))
    tags = {tag for tag, _ in _extra_fields(original)}
    seconds = mtim // _NS
    try:
        exact_dos = int(time.mktime((*dos, 0, 0, -1))) * _NS == mtim
    except (OverflowError, ValueError):
        exact_dos = False
    if (not exact_dos or _ZIP_UT in tags) and -(2**31) <= seconds < 2**31:
        kept += struct.pack("<HHBi", _ZIP_UT, 5, 1, seconds)
    ut_range = -(2**31) <= seconds < 2**31
    if (mtim % _NS or _ZIP_NTFS in tags or not ut_range) and mtim >= -_NTFS_EPOCH * 100:
        ticks = mtim // 100 + _NTFS_EPOCH
        kept += struct.pack("<HHIHHQQQ", _ZIP_NTFS, 32, 0, 1, 24, ticks, ticks, ticks)
    return kept


def replacement_mode(dest: str | os.PathLike[str], new: int) -> int:
    """The permission bits for what replaces `dest`: its own, or `new` less the umask when
    there is no `dest` yet (as creating it would give)."""
    try:
        return stat.S_IMODE(os.stat(dest).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return new & ~umask


def replace_atomically(dest: str, write: Callable[[BinaryIO], None]) -> None:
    """Write a new `dest` with `write(f)` into a temporary file in the same directory, fsync it,
    then move it over `dest` (and fsync the directory). On any error `dest` is untouched and
    the temporary file is removed."""
    directory, base = os.path.split(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, replacement_mode(dest, 0o666))  # mkstemp made it 0600
        os.replace(tmp, dest)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# --- entry points ---------------------------------------------------------------------------------


def archive(source: Any, *, writable: bool = False, format: str | None = None,
            compression: str | None = None, subdir: str = "") -> Backend:
    """A mount of a zip or tar archive, for `WASI(preopens=...)` / `run(preopens=...)`.

    source: a path (or, read-only, a binary file object, a `zipfile.ZipFile`, a
    `tarfile.TarFile`, a `ReadZipFS` or `ReadTarFS`). writable: load the archive into memory
    and write it back (atomically, only if changed) when the WASI instance closes; a missing
    archive starts empty. format: "zip" or "tar" (default: sniffed, or from the file name);
    compression (tar, writable): "", "gz", "bz2" or "xz" (default: the archive's own, or from
    the file name). subdir: mount only this directory of the archive.

    The backend serves one WASI instance: pass a new one (or a URL) to each.
    """
    if writable:
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError("a writable archive needs a path to write back to")
        return WritableArchiveBackend(source, fmt=format, compression=compression, subdir=subdir)
    return ArchiveBackend(source, fmt=format, subdir=subdir)


#: URL scheme -> (format, writable)
SCHEMES = {"zip": ("zip", False), "tar": ("tar", False),
           "zip+rw": ("zip", True), "tar+rw": ("tar", True)}


def from_url(url: str) -> Backend:
    """`zip://PATH`, `tar://PATH`, `zip+rw://PATH`, `tar+rw://PATH`, each optionally followed
    by `!DIR` to mount a directory inside the archive. PATH is taken literally (no
    percent-decoding); `zip:///abs/a.zip` and `zip://rel/a.zip` both work."""
    scheme, sep, rest = url.partition("://")
    kind = SCHEMES.get(scheme.lower())
    if not sep or kind is None:
        raise ValueError(f"not an archive URL: {url!r} (zip://, tar://, zip+rw://, tar+rw://)")
    path, _, subdir = rest.partition("!")
    if not path:
        raise ValueError(f"archive URL without a path: {url!r}")
    fmt, writable = kind
    if not writable and not os.path.isfile(path):
        raise FileNotFoundError(f"no such archive: {path}")
    return archive(path, writable=writable, format=fmt, subdir=subdir)
