"""Archive member metadata (vfswasi/backends/archive_formats.py): one writer for the writable
archive's write-back and an overlay's export.

The same tree — times past DOS's range (year 2200), before it (1973, 1969), with 9 digits of
ns, on odd seconds — is written back by a writable archive and exported from an overlay, to a
zip and to a tar. Both must store the same members with the same metadata, and what they store
is checked by reading the archives with zipfile / tarfile (the extra fields parsed here, not
by vfswasi) and with vfswasi's own reader. Write-back then re-mount gives the stat times the
guest saw, to the format's precision.
"""

from __future__ import annotations

import stat
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi.abi import Filetype
from vfswasi.backends.archive import WritableArchiveBackend
from vfswasi.backends.archive_formats import dos_time, pax_ns, pax_time
from vfswasi.vfs import Backend

NS = 1_000_000_000
YEAR_2200 = 7_258_118_400  # 2200-01-01T00:00:00Z
NTFS_EPOCH = 116_444_736_000_000_000  # 100 ns ticks from 1601 to 1970

#: name -> mtime (ns) of the files of the tree
FILE_TIMES = {
    "future": YEAR_2200 * NS,  # past DOS's 2107 and the UT field's 2038
    "future-ns": YEAR_2200 * NS + 123_456_789,  # pax keeps all 9 digits
    "old": 100_000_000 * NS,  # 1973: before DOS's 1980
    "before-1970": -1_500_000_000,  # 1969-12-31T23:59:58.5Z, a fraction below zero
    "odd-second": 1_600_000_001 * NS,  # DOS has 2-second steps
    "plain": 1_600_000_000 * NS,
}
DIR_TIME = YEAR_2200 * NS + 5  # a directory's, set after its content
LINK_TIME = 1_300_000_000 * NS + 987_654_300


def build(b: Backend) -> None:
    """The tree, made through the Backend API (the same calls on every backend)."""
    root = b.root()
    b.mkdir(root, "d")
    d = b.open_dir(root, "d")
    for name, mtim in FILE_TIMES.items():
        f = b.open_file(d, name, read=False, write=True, create=True)
        f.write(name.encode(), 0)
        f.close()
        b.set_times(d, name, mtim, mtim)
    b.symlink("future", d, "link")
    b.set_times(d, "link", LINK_TIME, LINK_TIME)
    b.release_dir(d)
    b.set_times(root, "d", DIR_TIME, DIR_TIME)


def all_times() -> dict[str, int]:
    return {"d": DIR_TIME, "d/link": LINK_TIME,
            **{f"d/{name}": mtim for name, mtim in FILE_TIMES.items()}}


def written_back(path: Path) -> Path:
    b = WritableArchiveBackend(path)
    build(b)
    b.close()  # the write-back
    return path


def exported(path: Path) -> Path:
    with vfswasi.overlay(MemoryFS()) as ov:
        build(ov.backend)
        ov.export(path)
    return path


def zip_time_fields(extra: bytes) -> dict[str, int]:
    """The Info-ZIP "UT" mtime (s) and NTFS mtime (100 ns ticks since 1601) of an extra block,
    parsed from the zip spec (APPNOTE 4.5.5, Info-ZIP's extrafld.txt)."""
    out: dict[str, int] = {}
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        data = extra[i + 4 : i + 4 + size]
        if tag == 0x5455:
            assert data[0] & 1  # the mtime flag
            out["UT"] = struct.unpack_from("<i", data, 1)[0]
        elif tag == 0x000A:
            assert struct.unpack_from("<HH", data, 4) == (1, 24)
            out["NTFS"] = struct.unpack_from("<Q", data, 8)[0]
        i += 4 + size
    return out


def zip_members(path: Path) -> dict[str, tuple[Any, ...]]:
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        return {i.filename: (i.date_time, i.external_attr, i.create_system, i.compress_type,
                             zip_time_fields(i.extra), z.read(i)) for i in z.infolist()}


def tar_members(path: Path) -> dict[str, tuple[Any, ...]]:
    with tarfile.open(path) as t:
        out = {}
        for m in t.getmembers():
            f = t.extractfile(m) if m.isreg() else None
            out[m.name] = (m.type, m.mode, m.mtime, dict(m.pax_headers), m.linkname,
                           m.uid, m.gid, m.uname, m.gname, f.read() if f else None)
        return out


def read_times(path: Path) -> dict[str, int]:
    """path -> mtime, as vfswasi's read-only archive mount shows them."""
    b = vfswasi.archive(path)
    try:
        d = b.open_dir(b.root(), "d")
        out = {"d": b.lstat(b.root(), "d").mtim}
        out.update({f"d/{n}": b.lstat(d, n).mtim for n, _, _ in b.listdir(d)})
        b.release_dir(d)
        return out
    finally:
        b.close()


def ntfs_precision(ns: int) -> int:
    """`ns` as the NTFS field holds it: 100 ns ticks, rounded down."""
    return ns // 100 * 100


# --- one writer: write-back and export store the same ---------------------------------------------


def test_zip_export_stores_what_write_back_stores(tmp_path):
    back = zip_members(written_back(tmp_path / "back.zip"))
    layer = zip_members(exported(tmp_path / "layer.zip"))  # year 2200: no struct.error
    assert back == layer
    assert sorted(back) == ["d/", "d/before-1970", "d/future", "d/future-ns", "d/link",
                            "d/odd-second", "d/old", "d/plain"]

    # DOS times clamped the same way at both ends of 1980..2107, whatever the time zone
    assert back["d/future"][0] == back["d/future-ns"][0] == back["d/"][0] == (
        2107, 12, 31, 23, 59, 58)
    assert back["d/old"][0] == back["d/before-1970"][0] == (1980, 1, 1, 0, 0, 0)
    # and the exact time in the fields that can hold it
    fields = {name: m[4] for name, m in back.items()}
    assert fields["d/future"] == {"NTFS": YEAR_2200 * 10_000_000 + NTFS_EPOCH}  # UT: 32-bit
    assert fields["d/future-ns"] == {"NTFS": YEAR_2200 * 10_000_000 + 1_234_567 + NTFS_EPOCH}
    assert fields["d/old"] == {"UT": 100_000_000}
    assert fields["d/before-1970"] == {"UT": -2, "NTFS": -15_000_000 + NTFS_EPOCH}
    assert fields["d/odd-second"] == {"UT": 1_600_000_001}  # the DOS time cannot say it
    assert fields["d/link"] == {"UT": 1_300_000_000,
                                "NTFS": LINK_TIME // 100 + NTFS_EPOCH}
    # modes and link types: Unix modes, an Info-ZIP symlink whose data is its target
    assert back["d/"][1] == (stat.S_IFDIR | 0o755) << 16 | 0x10
    assert back["d/plain"][1] == (stat.S_IFREG | 0o644) << 16
    assert back["d/link"][1] == (stat.S_IFLNK | 0o777) << 16 and back["d/link"][5] == b"future"
    assert back["d/plain"][5] == b"plain"


def test_tar_export_stores_what_write_back_stores(tmp_path):
    back = tar_members(written_back(tmp_path / "back.tar"))
    layer = tar_members(exported(tmp_path / "layer.tar"))
    assert back == layer
    pax = {name: m[3].get("mtime") for name, m in back.items()}
    assert pax == {
        "d": "7258118400.000000005",
        "d/before-1970": "-1.5",
        "d/future": None,  # whole seconds: the ustar field holds them (to 2242)
        "d/future-ns": "7258118400.123456789",  # all 9 digits, never through a float
        "d/link": "1300000000.9876543",
        "d/odd-second": None,
        "d/old": None,
        "d/plain": None,
    }
    assert back["d"][:2] == (tarfile.DIRTYPE, 0o755)
    assert back["d/link"][:2] == (tarfile.SYMTYPE, 0o777) and back["d/link"][4] == "future"
    assert back["d/plain"][:2] == (tarfile.REGTYPE, 0o644) and back["d/plain"][-1] == b"plain"
    assert back["d/plain"][2] == 1_600_000_000
    assert back["d/future"][2] == YEAR_2200


def test_a_gzipped_tar_export_matches_write_back_too(tmp_path):
    assert tar_members(written_back(tmp_path / "back.tar.gz")) == tar_members(
        exported(tmp_path / "layer.tgz"))


@pytest.mark.parametrize("suffix", [".zip", ".tar"])
def test_vfswasi_reads_back_the_times_written(tmp_path, suffix):
    want = all_times()
    if suffix == ".zip":
        want = {p: ntfs_precision(t) if t % NS else t for p, t in want.items()}
    assert read_times(written_back(tmp_path / f"back{suffix}")) == want
    assert read_times(exported(tmp_path / f"layer{suffix}")) == want


# --- round trips --------------------------------------------------------------------------------


def stat_times(b: Backend) -> dict[str, tuple[int, int]]:
    """path -> (filetype, mtime) of the tree's entries, through the Backend API."""
    d = b.open_dir(b.root(), "d")
    out = {"d": (b.lstat(b.root(), "d").filetype, b.lstat(b.root(), "d").mtim)}
    for name, _, _ in b.listdir(d):
        s = b.lstat(d, name)
        out[f"d/{name}"] = (s.filetype, s.mtim)
    b.release_dir(d)
    return out


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tar.xz"])
def test_write_back_then_remount_gives_the_same_stat_times(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    b = WritableArchiveBackend(path)
    build(b)
    before = stat_times(b)
    b.close()
    if suffix == ".zip":  # the NTFS field's precision
        before = {p: (ft, ntfs_precision(t)) for p, (ft, t) in before.items()}
    assert before["d/link"][0] == Filetype.SYMBOLIC_LINK

    again = WritableArchiveBackend(path)
    assert stat_times(again) == before
    # a second write-back, for a change elsewhere, rewrites every member from its old one:
    # the times stay what they were
    f = again.open_file(again.root(), "new", read=False, write=True, create=True)
    f.close()
    again.close()
    assert not again.changed
    ro = vfswasi.archive(path)
    try:
        assert stat_times(ro) == before
    finally:
        ro.close()


# --- the codecs, against values written out by hand -------------------------------------------


@pytest.mark.parametrize("ns, text", [
    (YEAR_2200 * NS + 123_456_789, "7258118400.123456789"),
    (1_234_567_891_100_000_000, "1234567891.1"),
    (5 * NS, "5"),
    (0, "0"),
    (-1_500_000_000, "-1.5"),
    (-1, "-0.000000001"),
    (-2 * NS, "-2"),
])
def test_pax_times_are_exact_decimals(ns, text):
    assert pax_time(ns) == text
    assert pax_ns(text) == ns


def test_dos_times_are_clamped_to_what_dos_holds():
    assert dos_time(YEAR_2200 * NS) == (2107, 12, 31, 23, 59, 58)
    assert dos_time(10**30) == (2107, 12, 31, 23, 59, 58)  # past what localtime takes
    assert dos_time(100_000_000 * NS) == (1980, 1, 1, 0, 0, 0)
    assert dos_time(-(10**30)) == (1980, 1, 1, 0, 0, 0)


@pytest.mark.parametrize("suffix", [".zip", ".tar"])
def test_content_larger_than_a_chunk_is_written_whole(tmp_path, suffix):
    data = bytes(range(251)) * 10_000  # 2.4 MiB: several 1 MiB pieces, a ragged last one

    def make(b: Backend) -> None:
        f = b.open_file(b.root(), "big", read=False, write=True, create=True)
        f.write(data, 0)
        f.close()

    back = WritableArchiveBackend(tmp_path / f"back{suffix}")
    make(back)
    back.close()
    with vfswasi.overlay(MemoryFS()) as ov:
        make(ov.backend)
        ov.export(tmp_path / f"layer{suffix}")
    for name in ("back", "layer"):
        path = tmp_path / f"{name}{suffix}"
        if suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                assert z.read("big") == data
        else:
            with tarfile.open(path) as t:
                assert t.extractfile("big").read() == data
