"""Zip and tar member metadata, read and written in one place: names, times, modes, link types.

Reading turns a `zipfile.ZipInfo` / `tarfile.TarInfo` into a `Member` (`zip_member`,
`tar_member`); writing turns an `Entry` into a member (`ZipWriter`, `TarWriter`), and
`write_archive` writes a whole archive file atomically. Everything that writes an archive goes
through here — the writable archive's write-back (`archive_writable.py`) and an overlay's
export (`overlay_changes.py`) — so a time, a mode or a link type is written the same way
whoever writes it, and read back as it was written.

Times are integer ns, as the backends hold them:

- tar: the ustar mtime field holds the whole seconds (rounded down); a time with a fraction
  also gets a pax "mtime" record, the exact decimal (`7258118400.123456789`, never through a
  float); tarfile adds one itself for whole seconds the ustar field cannot hold. Reading
  prefers the pax record.
- zip: the DOS date_time (local time, as Info-ZIP writes it: 2-second steps, clamped to
  1980-01-01 00:00:00 .. 2107-12-31 23:59:58, the range its fields hold), plus the Info-ZIP
  "UT" extra field (whole seconds, signed 32-bit) when the DOS time does not say the time
  exactly, plus the NTFS extra field (100 ns ticks since 1601) when the time has a fraction or
  is outside UT's range (or when the member being rewritten had one). Reading prefers NTFS,
  then UT, then the DOS time.

Modes are the permission bits (0o7777); an entry without a member to take them from gets 0o755
(directory), 0o777 (symlink) or 0o644 (file). Link types: tar symlinks and hard links are
written as such (a later name of a file already written becomes a hard link to the first);
zip symlinks the Info-ZIP way (S_IFLNK in the external attributes, the target as the data);
zip has no hard links, so each name of a file is a full copy.

Nothing here walks a tree: a writer takes one entry at a time, so trees deeper than Python's
recursion limit are written as any other.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import struct
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from ..abi import Filetype
from ..vfs import FileHandle

#: the largest piece a read asks of a member stream or a file: bounds temporary copies
CHUNK = 1 << 20

NS = 1_000_000_000
# 100 ns ticks between 1601-01-01 (the NTFS epoch) and 1970-01-01
_NTFS_EPOCH = 116_444_736_000_000_000
_ZIP_UT, _ZIP_NTFS, _ZIP64 = 0x5455, 0x000A, 0x0001
DOS_MIN = (1980, 1, 1, 0, 0, 0)
DOS_MAX = (2107, 12, 31, 23, 59, 58)
_UT_RANGE = range(-(2**31), 2**31)  # the seconds a "UT" field holds

DateTime = tuple[int, int, int, int, int, int]


# --- names ------------------------------------------------------------------------------------------


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


# --- times ------------------------------------------------------------------------------------------


def pax_ns(text: str) -> int:
    """A pax time ("1234.5678", "-1.5") as int ns, exactly (rounded down past 9 digits)."""
    return int((Decimal(text) * NS).to_integral_value(rounding="ROUND_FLOOR"))


def pax_time(ns: int) -> str:
    """Time `ns` as a pax decimal, exactly: all 9 digits of the fraction when it has them."""
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    whole, frac = divmod(ns, NS)
    return f"{sign}{whole}.{frac:09d}".rstrip("0") if frac else f"{sign}{whole}"


def dos_time(ns: int) -> DateTime:
    """The DOS date_time of time `ns` (local time, as Info-ZIP writes it), clamped to what
    DOS can hold, and down to its 2-second steps (zipfile would drop the odd second when it
    packs it, after `zip_extra` had taken the time as exact)."""
    try:
        y, mo, d, h, mi, s = time.localtime(ns // NS)[:6]
    except (OverflowError, OSError, ValueError):
        return DOS_MIN if ns < 0 else DOS_MAX
    return max(DOS_MIN, min(DOS_MAX, (y, mo, d, h, mi, s - s % 2)))


def dos_ns(date_time: tuple[int, ...]) -> int | None:
    """A DOS date_time (local time) as ns, None if the platform cannot say."""
    try:
        return int(time.mktime((*date_time[:6], 0, 0, -1))) * NS
    except (OverflowError, ValueError):
        return None


def extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, data) of each field of a zip extra block."""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        yield tag, extra[i + 4 : i + 4 + size]
        i += 4 + size


def zip_extra(original: bytes, mtim: int, dos: tuple[int, ...]) -> bytes:
    """Extra fields for a member with mtime `mtim` and DOS time `dos`: the original's, less
    those zipfile makes (zip64) and the time fields, which are added back where the DOS time
    cannot say it all (or where the original had them)."""
    fields = list(extra_fields(original))
    tags = {tag for tag, _ in fields}
    out = b"".join(struct.pack("<HH", tag, len(data)) + data for tag, data in fields
                   if tag not in (_ZIP64, _ZIP_UT, _ZIP_NTFS))
    seconds = mtim // NS
    in_ut = seconds in _UT_RANGE
    if (dos_ns(dos) != mtim or _ZIP_UT in tags) and in_ut:
        out += struct.pack("<HHBi", _ZIP_UT, 5, 1, seconds)
    if (mtim % NS or _ZIP_NTFS in tags or not in_ut) and mtim >= -_NTFS_EPOCH * 100:
        ticks = mtim // 100 + _NTFS_EPOCH
        out += struct.pack("<HHIHHQQQ", _ZIP_NTFS, 32, 0, 1, 24, ticks, ticks, ticks)
    return out


def zip_mtime(zi: zipfile.ZipInfo) -> int:
    """A zip member's mtime in ns: NTFS extra field, else Info-ZIP "UT", else the DOS time
    (local time, as Info-ZIP and `zipfile.ZipFile.write` use it)."""
    ut = None
    for tag, data in extra_fields(zi.extra):
        if tag == _ZIP_NTFS and len(data) >= 32:
            attr_tag, attr_size = struct.unpack_from("<HH", data, 4)
            if attr_tag == 1 and attr_size >= 24:
                (ticks,) = struct.unpack_from("<Q", data, 8)
                return (ticks - _NTFS_EPOCH) * 100
        elif tag == _ZIP_UT and len(data) >= 5 and data[0] & 1:
            ut = struct.unpack_from("<i", data, 1)[0] * NS
    if ut is not None:
        return ut
    ns = dos_ns(zi.date_time)
    return 0 if ns is None else ns


# --- modes and link types ------------------------------------------------------------------------


def default_mode(filetype: int) -> int:
    """The permission bits of an entry no member says anything about."""
    return {Filetype.DIRECTORY: 0o755, Filetype.SYMBOLIC_LINK: 0o777}.get(filetype, 0o644)


def type_bits(filetype: int) -> int:
    """The S_IFMT bits of a zip member's Unix mode."""
    return {Filetype.DIRECTORY: stat.S_IFDIR,
            Filetype.SYMBOLIC_LINK: stat.S_IFLNK}.get(filetype, stat.S_IFREG)


_TAR_FILETYPES = {
    tarfile.DIRTYPE: Filetype.DIRECTORY,
    tarfile.SYMTYPE: Filetype.SYMBOLIC_LINK,
    tarfile.CHRTYPE: Filetype.CHARACTER_DEVICE,
    tarfile.BLKTYPE: Filetype.BLOCK_DEVICE,
    tarfile.FIFOTYPE: Filetype.UNKNOWN,
}


# --- reading: a member's metadata ----------------------------------------------------------------


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


def _escaping(name: str, ref: Any) -> Member:
    """A member whose name climbs out of the root: listed so that it can be reported."""
    return Member(name, Filetype.UNKNOWN, 0, 0, 0, ref=ref, meta={"escapes": True})


def zip_member(zi: zipfile.ZipInfo) -> Member:
    """What a zip member says (an Info-ZIP symlink's target is its data: the caller reads
    it, see `is_symlink`)."""
    path = normalize(zi.filename)
    if path is None:
        return _escaping(zi.filename, zi)
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
    m = Member(path, filetype, zi.file_size, zip_mtime(zi), perm, ref=zi)
    if zi.flag_bits & 1:
        m.meta["encrypted"] = True
    return m


def tar_member(ti: tarfile.TarInfo) -> Member:
    """What a tar member says."""
    path = normalize(ti.name)
    if path is None:
        return _escaping(ti.name, ti)
    pax_mtime = ti.pax_headers.get("mtime")
    mtim = pax_ns(pax_mtime) if pax_mtime else int(ti.mtime) * NS
    filetype = (Filetype.REGULAR_FILE if ti.isreg()
                else _TAR_FILETYPES.get(ti.type, Filetype.REGULAR_FILE))
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
    return m


# --- writing: one entry at a time -----------------------------------------------------------------


@dataclass
class Entry:
    """One thing to write as a member: a directory, a regular file or a symlink."""

    path: str  # "/"-separated, below the root, no trailing "/" ("." for a tar's root entry)
    filetype: int  # Filetype.DIRECTORY, REGULAR_FILE or SYMBOLIC_LINK
    mtim: int  # ns
    size: int = 0  # a regular file's
    mode: int | None = None  # permission bits; None: `default_mode`
    target: str = ""  # a symlink's
    open: Callable[[], FileHandle] | None = None  # a regular file's content (None: empty)
    file_id: Any = None  # names of one file (hard links) share it; None: no other names
    like: Member | None = None  # the member it was read from: what else to keep of it

    @property
    def perm(self) -> int:
        return default_mode(self.filetype) if self.mode is None else self.mode


class _Content:
    """`read(n)` over an entry's FileHandle, for tarfile.addfile (which wants each read full
    until the end) and `copy_content`. Its buffer is sized for the entry (at most CHUNK): a
    small file costs no 1 MiB allocation."""

    def __init__(self, e: Entry):
        self._f = e.open() if e.open is not None else None
        self._offset = 0
        self._buf = bytearray(min(CHUNK, max(e.size, 1)) if self._f is not None else 0)

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (-1: a buffer's worth), fewer only at the end of the file."""
        if self._f is None:
            return b""
        if n < 0:
            n = len(self._buf)
        elif n > len(self._buf):
            self._buf = bytearray(min(n, CHUNK))
        view = memoryview(self._buf)[: min(n, len(self._buf))]
        got = 0
        while got < len(view):
            k = self._f.readinto(view[got:], self._offset + got)
            if not k:
                break
            got += k
        self._offset += got
        return bytes(view[:got])

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> _Content:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def copy_content(e: Entry, write: Callable[[bytes], Any]) -> None:
    """Feed a regular file entry's content to `write`, in CHUNK pieces."""
    with _Content(e) as content:
        while data := content.read():
            write(data)


class ArchiveWriter:
    """Writes entries into an archive stream, in the order given (parents first)."""

    def add(self, e: Entry) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ZipWriter(ArchiveWriter):
    def __init__(self, f: BinaryIO, *, comment: bytes = b""):
        self.zip = zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED)
        self.zip.comment = comment

    def add(self, e: Entry) -> None:
        is_dir = e.filetype == Filetype.DIRECTORY
        regular = e.filetype == Filetype.REGULAR_FILE
        template = e.like.ref if e.like is not None else None
        zi = zipfile.ZipInfo(e.path + "/" if is_dir else e.path, dos_time(e.mtim))
        zi.create_system = 3  # Unix: the mode bits below are meant as such
        zi.external_attr = (type_bits(e.filetype) | e.perm) << 16 | (0x10 if is_dir else 0)
        if isinstance(template, zipfile.ZipInfo):
            zi.comment = template.comment
            zi.compress_type = template.compress_type
        else:
            zi.compress_type = zipfile.ZIP_DEFLATED
        zi.extra = zip_extra(template.extra if isinstance(template, zipfile.ZipInfo) else b"",
                             e.mtim, zi.date_time)
        if regular:
            zi.file_size = e.size  # before open: it decides whether zip64 is needed
            with self.zip.open(zi, "w") as out:
                copy_content(e, out.write)
        else:
            zi.compress_type = zipfile.ZIP_STORED
            self.zip.writestr(zi, b"" if is_dir else e.target.encode("utf-8", "surrogateescape"))

    def close(self) -> None:
        self.zip.close()


#: tar compression -> the stream class that writes it
_COMPRESSORS: dict[str, Callable[[BinaryIO, str], Any]] = {
    # `name`: what gzip records in its header (less ".gz"), the target's, not a temporary's
    "gz": lambda f, name: gzip.GzipFile(filename=os.path.basename(name), mode="wb", fileobj=f),
    "bz2": lambda f, name: bz2.BZ2File(f, "wb"),
    "xz": lambda f, name: lzma.LZMAFile(f, "wb"),
}


class TarWriter(ArchiveWriter):
    """A pax tar, compressed with `compression` ("", "gz", "bz2", "xz"); `name`: the archive's
    file name (gzip records it)."""

    def __init__(self, f: BinaryIO, *, name: str = "", compression: str = ""):
        self._stream: Any = _COMPRESSORS[compression](f, name) if compression else None
        try:
            self.tar = tarfile.open(fileobj=self._stream or f, mode="w",
                                    format=tarfile.PAX_FORMAT, copybufsize=CHUNK)
        except BaseException:
            if self._stream is not None:
                self._stream.close()
            raise
        self._first_name: dict[Any, str] = {}  # file_id -> the path its data went under

    def add(self, e: Entry) -> None:
        ti = tarfile.TarInfo(e.path)
        ti.mtime = e.mtim // NS
        if e.mtim % NS:
            ti.pax_headers["mtime"] = pax_time(e.mtim)
        ti.mode = e.perm
        meta = e.like.meta if e.like is not None else {}
        ti.uid, ti.gid = meta.get("uid", 0), meta.get("gid", 0)
        ti.uname, ti.gname = meta.get("uname", ""), meta.get("gname", "")
        ti.pax_headers.update(meta.get("xattrs", {}))
        if e.filetype == Filetype.DIRECTORY:
            ti.type = tarfile.DIRTYPE
            self.tar.addfile(ti)
        elif e.filetype == Filetype.SYMBOLIC_LINK:
            ti.type, ti.linkname = tarfile.SYMTYPE, e.target
            self.tar.addfile(ti)
        elif e.file_id is not None and e.file_id in self._first_name:
            ti.type, ti.linkname = tarfile.LNKTYPE, self._first_name[e.file_id]
            self.tar.addfile(ti)
        else:
            if e.file_id is not None:
                self._first_name[e.file_id] = e.path
            ti.size = e.size
            with _Content(e) as content:
                self.tar.addfile(ti, content)

    def close(self) -> None:
        try:
            self.tar.close()
        finally:
            if self._stream is not None:
                self._stream.close()


def write_archive(dest: str, fmt: str, entries: Iterable[Entry], *, compression: str = "",
                  comment: bytes = b"") -> None:
    """Write `entries` as a new `fmt` ("zip" / "tar") archive at `dest`, atomically (see
    `replace_atomically`): the one way vfswasi writes an archive file."""

    def write(f: BinaryIO) -> None:
        writer: ArchiveWriter
        if fmt == "zip":
            writer = ZipWriter(f, comment=comment)
        elif fmt == "tar":
            writer = TarWriter(f, name=dest, compression=compression)
        else:
            raise ValueError(f"unknown archive format {fmt!r} (zip or tar)")
        with writer:
            for e in entries:
                writer.add(e)

    replace_atomically(dest, write)


# --- replacing a file atomically ---------------------------------------------------------------------


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
