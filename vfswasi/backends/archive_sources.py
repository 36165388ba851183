"""Open zip and tar archives for reading: the member list, and a stream for a member's data.

How a member's data is read (what seeking costs) is described in `archive.py`'s docstring:
stored zip members and members of an uncompressed tar on a real file are read with `pread`
at their offset (`_Slice`); the rest stream through zipfile's or tarfile's decompressors.
What each member's metadata means is `archive_formats.py`'s business.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO

from ..abi import Filetype
from ..vfs import oserror
from .archive_formats import Member, tar_member, zip_member

_COMPRESSED_STREAMS = (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)


@contextmanager
def read_errors(what: object = "") -> Iterator[None]:
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


# --- sources: an open archive and how to read a member ---------------------------------------


class PositionedReader(io.RawIOBase):
    """A read-only raw stream of `size` bytes whose position is just a number: a seek costs
    nothing, and `readinto` (the subclass's) reads at `_pos`. Archive members stored whole,
    and archives read by ranged requests (`vfswasi.jobs`), are such streams."""

    size = 0
    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos


class _Slice(PositionedReader):
    """Bytes [start, start+size) of a file descriptor, read with pread."""

    def __init__(self, fd: int, start: int, size: int):
        self._fd, self._start, self.size, self._pos = fd, start, size, 0

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self.size - self._pos)
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


class Source:
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


class ZipSource(Source):
    format = "zip"

    def __init__(self, zf: zipfile.ZipFile, owned: list[Any]):
        super().__init__(owned)
        self.zf = zf
        self.comment = zf.comment
        self._fd = _fileno(zf.fp)

    def members(self) -> Iterator[Member]:
        for zi in self.zf.infolist():
            m = zip_member(zi)
            if m.filetype == Filetype.SYMBOLIC_LINK:  # Info-ZIP: the target is the data
                with read_errors(zi.filename):
                    data = self.zf.read(zi)
                m.target, m.size = data.decode("utf-8", "surrogateescape"), len(data)
            yield m

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


class TarSource(Source):
    format = "tar"

    def __init__(self, tf: tarfile.TarFile, owned: list[Any]):
        super().__init__(owned)
        self.tf = tf
        fileobj = tf.fileobj
        self.compression = {gzip.GzipFile: "gz", bz2.BZ2File: "bz2",
                            lzma.LZMAFile: "xz"}.get(type(fileobj), "")
        self._fd = None if self.compression else _fileno(fileobj)

    def members(self) -> Iterator[Member]:
        return map(tar_member, self.tf.getmembers())

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


def open_source(src: Any, fmt: str | None = None) -> Source:
    """An archive from a path, a binary file object, a ZipFile/TarFile, or a PyFS
    ReadZipFS/ReadTarFS (whose archive object is used, and left open, as is)."""
    from fs.tarfs import ReadTarFS
    from fs.zipfs import ReadZipFS

    if isinstance(src, ReadZipFS):
        src = src._zip
    elif isinstance(src, ReadTarFS):
        src = src._tar
    if isinstance(src, zipfile.ZipFile):
        source: Source = ZipSource(src, [])
    elif isinstance(src, tarfile.TarFile):
        source = TarSource(src, [])
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
                source = ZipSource(zf, owned)
            elif fmt == "tar":
                tf = tarfile.open(fileobj=f, mode="r:*")
                owned.append(tf)
                source = TarSource(tf, owned)
            else:
                raise ValueError(f"unknown archive format {fmt!r} (zip or tar)")
        except BaseException:
            for obj in reversed(owned):
                obj.close()
            raise
    source.mtim = _mtime_of(source.zf.fp if isinstance(source, ZipSource)
                            else source.tf.fileobj)  # type: ignore[attr-defined]
    return source


def _mtime_of(f: Any) -> int:
    """The mtime of the host file behind `f` (through a decompressor too), else 0."""
    try:
        return os.fstat(f.fileno()).st_mtime_ns
    except (AttributeError, OSError, ValueError):
        return 0


