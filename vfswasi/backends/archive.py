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

The code is split along those seams: `archive_formats.py` (member metadata read and written:
names, DOS/UT/NTFS/pax times, modes, link types; the one archive writer, which overlay export
uses too), `archive_sources.py` (opening a zip or tar, streaming a member), `archive_index.py`
(the member tree), this module (the read-only backend and the entry points) and
`archive_writable.py` (the writable backend). The names they define that users or tests reach
for are importable from here too.
"""

from __future__ import annotations

import errno
import os
from contextlib import suppress
from typing import Any, BinaryIO

from ..abi import Filetype
from ..vfs import Backend, FileHandle, Stat, new_device, oserror

# Names imported "as" themselves are re-exported: they were defined here before the split,
# and are imported from here.
from .archive_formats import CHUNK as CHUNK
from .archive_formats import Entry as Entry
from .archive_formats import Member as Member
from .archive_formats import normalize
from .archive_formats import replace_atomically as replace_atomically
from .archive_formats import replacement_mode as replacement_mode
from .archive_formats import write_archive as write_archive
from .archive_index import ArchiveIndex as ArchiveIndex
from .archive_index import Node, node_stat
from .archive_sources import compression_of_name as compression_of_name
from .archive_sources import format_of_name as format_of_name
from .archive_sources import open_source, read_errors
from .archive_writable import WritableArchiveBackend

__all__ = ["ArchiveBackend", "WritableArchiveBackend", "archive", "from_url"]


# --- the read-only backend -----------------------------------------------------------------------


class ArchiveFile(FileHandle):
    """A member open for reading; its stream is opened on the first read."""

    writable = False

    def __init__(self, backend: ArchiveBackend, node: Node, *, read: bool):
        self._backend = backend
        self._node = node
        self._stream: BinaryIO | None = None
        self.readable = read

    def _pread(self, buf: memoryview, offset: int) -> int:
        node = self._node
        want = min(len(buf), node.size - offset) if offset < node.size else 0
        if want <= 0:
            return 0
        view = memoryview(buf).cast("B")
        with read_errors(node.member.path if node.member else ""):
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
        return node_stat(self._backend._dev, self._node)

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
        self.source = open_source(source, fmt)
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

    def root(self) -> Node:
        return self._root

    @staticmethod
    def _entry(d: Node, name: str) -> Node:
        assert d.children is not None
        node = d.children.get(name)
        if node is None:
            raise oserror(errno.ENOENT, name)
        return node

    def lstat(self, d: Node, name: str) -> Stat:
        return node_stat(self._dev, self._entry(d, name))

    def open_dir(self, d: Node, name: str) -> Node:
        node = self._entry(d, name)
        if node.filetype == Filetype.SYMBOLIC_LINK:
            raise oserror(errno.ELOOP, name)
        if node.children is None:
            raise oserror(errno.ENOTDIR, name)
        return node

    def readlink(self, d: Node, name: str) -> str:
        node = self._entry(d, name)
        if node.filetype != Filetype.SYMBOLIC_LINK or node.target is None:
            raise oserror(errno.EINVAL, name)
        return node.target

    def stat_dir(self, h: Node) -> Stat:
        return node_stat(self._dev, h)

    def listdir(self, h: Node) -> list[tuple[str, int, int]]:
        assert h.children is not None
        return [(name, n.ino, n.filetype) for name, n in h.children.items()]

    # Read-only (`readonly = True`): `Backend`'s public calls answer EROFS to every change and
    # to an open for writing, and decide open(2)'s ENOENT/ELOOP/EISDIR, before this.
    def _open_file(self, d: Node, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> ArchiveFile:
        node = self._entry(d, name)
        if node.filetype != Filetype.REGULAR_FILE:
            raise oserror(errno.ENOTSUP, name)  # a device or fifo member: there is no data
        f = ArchiveFile(self, node, read=read)
        self._files.add(f)
        return f


    def close(self) -> None:
        for f in list(self._files):
            with suppress(Exception):
                f.close()
        self.source.close()



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
