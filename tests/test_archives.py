"""Zip and tar mounts (vfswasi/backends/archive.py).

Read-only kinds (`zip`, `tar`, `tgz`: conftest READONLY_KINDS) run the same guests as host
directories, and must print exactly what they print for every read; every write answers ROFS.
The writable kinds (`zip-rw`, `tar-rw`) are in BACKEND_KINDS, so every shared behavioural test
runs on them and reads its result back from the archive file; here are the write-back
specifics: what is kept, atomicity, traps, failures while packing, untouched archives.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from conftest import (
    READONLY_KINDS,
    Mount,
    Symlink,
    _read_backend_tree,
    guest,
    make_mount,
    run_guest,
)
from fsops import check_transcript, run_script

import vfswasi
from vfswasi.abi import RIGHTS_ALL, Filetype
from vfswasi.backends import open_backend
from vfswasi.backends.archive import ArchiveBackend, WritableArchiveBackend
from vfswasi.backends.archive_formats import TarWriter, ZipWriter

MTIME = 1_600_000_000
MTIME_NS = MTIME * 1_000_000_000
BIG = bytes(range(256)) * 1200  # 300 KiB: several CHUNK-less reads, seeks across it

TREE = {
    "a.txt": b"hello",
    "empty": b"",
    "bin": b"\x00\xff\n\x7f" * 3,
    "big": BIG,
    "d": {"f": b"x", "sub": {"deep.txt": b"deep"}, "e": {}},
    "l": Symlink("a.txt"),
    "ld": Symlink("d/sub"),
    "dangling": Symlink("nowhere"),
    "up": Symlink("../outside"),
    "abs": Symlink("/etc/passwd"),
    "loop": Symlink("loop"),
}

#: reads whose results must match a host directory's, line for line
READS = """
    open 3 a.txt
    read 4 100
    pread 4 3 1
    fstat 4
    seek 4 0 end
    read 4 10
    close 4
    open 3 big
    pread 4 8 300000
    pread 4 8 5
    pread 4 8 200000
    pread 4 8 100
    seek 4 -7 end
    read 4 100
    seek 4 1000 set
    read 4 4
    tell 4
    fstat 4
    close 4
    open 3 empty
    read 4 10
    open 3 bin
    read 4 100
    stat 3 a.txt
    stat 3 big
    stat 3 d
    stat 3 l
    stat 3 l follow
    stat 3 ld/deep.txt
    stat 3 ld follow
    stat 3 dangling follow
    stat 3 missing
    stat 3 a.txt/
    readlink 3 l
    readlink 3 up
    readlink 3 a.txt
    readlink 3 missing
    open 3 ld/deep.txt
    read 8 100
    open 3 l/
    open 3 dangling
    open 3 up
    open 3 abs
    open 3 loop
    open 3 d
    read 10 1
    open 3 d oflags directory
    ls 11
    readdir 11 4096
    inocheck 11
    inocheck 3
    ino 3 a.txt
    ino 3 l follow
    ino 3 l
    ino 3 d
    open 3 d/sub/../../a.txt
    open 3 d/../../x
    ls 3
    prestat 3
"""


def fsops_lines(kind: str, tmp_path: Path, tree: dict, script: str) -> list[str]:
    lines = [line.strip() for line in script.strip().splitlines()]
    return run_script(kind, make_mount(kind, tmp_path, tree), lines)


@pytest.fixture(params=READONLY_KINDS)
def ro_kind(request: pytest.FixtureRequest) -> str:
    return request.param


# --- read-only: the same answers as a host directory -------------------------------------------------


def test_reads_match_a_host_directory(ro_kind, tmp_path):
    expected = fsops_lines("host", tmp_path, TREE, READS)
    assert fsops_lines(ro_kind, tmp_path, TREE, READS) == expected
    # (and the script did read what it should)
    assert expected[1] == 'ok "hello"' and expected[8] == 'ok "\\xe0\\xe1\\xe2\\xe3\\xe4\\xe5\\xe6\\xe7"'


def test_tree_guest_reads_match_a_host_directory(ro_kind, tmp_path):
    argv = "ls -R /sandbox ; cat /sandbox/a.txt /sandbox/ld/deep.txt /sandbox/l ; " \
           "stat /sandbox/ld /sandbox/big ; cd /sandbox/d ; pwd ; cat ../up ; ls sub"
    results = []
    for kind in ("host", ro_kind):
        mount = make_mount(kind, tmp_path, TREE)
        res = run_guest(kind, guest("tree"), ["tree", *argv.split()], {"/sandbox": mount})
        results.append((res.exit_code, res.stdout.decode()))
    assert results[1] == results[0]
    assert "f big 307200" in results[0][1] and "l up -> ../outside" in results[0][1]


def test_every_write_is_read_only(ro_kind, tmp_path):
    mount = make_mount(ro_kind, tmp_path, TREE)
    check_transcript(ro_kind, mount, """
        open 3 a.txt rights read,write               -> err ROFS
        open 3 a.txt rights write                    -> err ROFS
        open 3 new oflags creat rights write         -> err ROFS
        open 3 new oflags creat                      -> err ROFS
        open 3 a.txt oflags trunc rights write       -> err ROFS
        open 3 a.txt oflags creat,excl               -> err EXIST
        mkdir 3 x                                    -> err ROFS
        mkdir 3 d                                    -> err ROFS
        rmdir 3 d/e                                  -> err ROFS
        unlink 3 a.txt                               -> err ROFS
        unlink 3 l                                   -> err ROFS
        rename 3 a.txt 3 b                           -> err ROFS
        rename 3 d 3 d2                              -> err ROFS
        link 3 a.txt 3 b                             -> err ROFS
        symlink a.txt 3 s                            -> err ROFS
        settimes 3 a.txt 1 1 atim,mtim               -> err ROFS
        settimes 3 l 1 1 mtim nofollow               -> err ROFS
        settimes 3 . 1 1 mtim                        -> err ROFS
        open 3 a.txt                                 -> ok 4
        fsettimes 4 1 1 atim                         -> err ROFS
        write 4 x                                    -> err NOTCAPABLE
        truncate 4 0                                 -> err NOTCAPABLE
        fsettimes 3 1 1 mtim                         -> err ROFS
        read 4 100                                   -> ok "hello"
        times 3 a.txt                                -> ok atim=1600000000000000000 mtim=1600000000000000000
    """)
    assert mount.tree() == {k: v for k, v in TREE.items()}  # nothing changed in the archive


def test_tree_guest_writes_fail_with_erofs(ro_kind, tmp_path):
    mount = make_mount(ro_kind, tmp_path, TREE)
    before = mount.archive.read_bytes()
    argv = "write /sandbox/n x ; append /sandbox/a.txt y ; mkdir /sandbox/m ; rm /sandbox/a.txt ; " \
           "mv /sandbox/a.txt /sandbox/b ; ln -s a.txt /sandbox/s ; touch /sandbox/t ; cat /sandbox/a.txt"
    res = run_guest(ro_kind, guest("tree"), ["tree", *argv.split()], {"/sandbox": mount})
    assert res.exit_code == 1
    assert res.stdout.decode().splitlines() == [
        "write: /sandbox/n: Read-only file system",
        "append: /sandbox/a.txt: Read-only file system",
        "mkdir: /sandbox/m: Read-only file system",
        "rm: /sandbox/a.txt: Read-only file system",
        "mv: /sandbox/a.txt: Read-only file system",
        "ln: /sandbox/s: Read-only file system",
        "touch: /sandbox/t: Read-only file system",
        "hello",
    ]
    assert mount.archive.read_bytes() == before


# --- read-only: what archives hold -------------------------------------------------------------------


def _zip(path: Path, members: list[tuple[str, bytes]], **kw: Any) -> Path:
    with zipfile.ZipFile(path, "w", **kw) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


def _tar_member(name: str, data: bytes | None = None, **fields: Any) -> tuple[tarfile.TarInfo, Any]:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    for k, v in fields.items():
        setattr(info, k, v)
    if data is not None:
        info.size = len(data)
    return info, (io.BytesIO(data) if data is not None else None)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, Any]], mode: str = "w", **kw: Any) -> Path:
    with tarfile.open(path, mode, **kw) as t:
        for info, f in members:
            t.addfile(info, f)
    return path


def test_zip_listing_only_files_implies_its_directories(tmp_path):
    path = _zip(tmp_path / "a.zip", [("docs/deep/note.txt", b"a note"), ("top.bin", b"t")])
    os.utime(path, ns=(MTIME_NS + 5, MTIME_NS + 5))
    check_transcript("zip", Mount("zip", f"zip://{path}"), """
        ls 3                                 -> ok docs:dir top.bin:file
        open 3 docs/deep oflags directory    -> ok 4
        ls 4                                 -> ok note.txt:file
        stat 3 docs/deep/note.txt            -> ok file size=6 nlink=1
        times 3 docs                         -> ok atim=1600000000000000005 mtim=1600000000000000005
        inocheck 3                           -> ok same=3 differ=0
    """)
    b = open_backend(f"zip://{path}")
    try:
        assert b.stat_dir(b.root()).nlink == 3  # ".", its name, and docs/".."
        assert b.lstat(b.open_dir(b.root(), "docs"), "deep").nlink == 2
    finally:
        b.close()


def test_tar_hard_links_are_hard_links(tmp_path):
    path = _tar(tmp_path / "h.tar", [
        _tar_member("d", type=tarfile.DIRTYPE),
        _tar_member("d/f.txt", b"shared"),
        _tar_member("e/hl", type=tarfile.LNKTYPE, linkname="d/f.txt"),
        _tar_member("./hl2", type=tarfile.LNKTYPE, linkname="./d/f.txt"),
        _tar_member("gone", type=tarfile.LNKTYPE, linkname="never/was"),
    ])
    check_transcript("tar", Mount("tar", f"tar://{path}"), """
        stat 3 d/f.txt                 -> ok file size=6 nlink=3
        stat 3 e/hl                    -> ok file size=6 nlink=3
        ino 3 d/f.txt                  -> ok #1
        ino 3 e/hl                     -> ok #1
        ino 3 hl2                      -> ok #1
        open 3 e/hl                    -> ok 4
        read 4 100                     -> ok "shared"
        # a hard link to a member the archive lacks: the symlink it would be, dangling
        readlink 3 gone                -> ok "never/was"
        open 3 gone                    -> err NOENT
    """)


def test_links_in_an_archive_cannot_leave_the_mount(tmp_path):
    # symlinks pointing out, and member names that climb out (which are left out entirely)
    (tmp_path / "outside").write_bytes(b"OUTSIDE")
    path = _tar(tmp_path / "evil.tar", [
        _tar_member("ok.txt", b"fine"),
        _tar_member("up", type=tarfile.SYMTYPE, linkname="../outside"),
        _tar_member("d/upup", type=tarfile.SYMTYPE, linkname="../../outside"),
        _tar_member("abs", type=tarfile.SYMTYPE, linkname=str(tmp_path / "outside")),
        _tar_member("../escaped", b"should not appear"),
        _tar_member("d/../../escaped2", b"nor this"),
        _tar_member("hl", type=tarfile.LNKTYPE, linkname="../outside"),
    ])
    check_transcript("tar", Mount("tar", f"tar://{path}"), """
        ls 3                     -> ok abs:link d:dir ok.txt:file up:link
        open 3 up                -> REFUSED
        open 3 d/upup            -> REFUSED
        open 3 abs               -> REFUSED
        open 3 hl                -> err NOENT
        stat 3 up follow         -> REFUSED
    """)
    with pytest.raises(ValueError, match="cannot mount writable"):
        vfswasi.archive(path, writable=True)


def test_exact_times_and_modes_from_the_archive(tmp_path):
    t1 = 1_234_567_891_123_456_789
    exact = _tar_member("exact", b"e")
    exact[0].pax_headers = {"mtime": "1234567891.123456789"}
    path = _tar(tmp_path / "t.tar", [exact, _tar_member("whole", b"w", mode=0o755)],
                format=tarfile.PAX_FORMAT)
    b = vfswasi.archive(path)
    try:
        assert b.lstat(b.root(), "exact").mtim == t1
        assert b.lstat(b.root(), "whole").mtim == MTIME_NS
    finally:
        b.close()
    # zip: NTFS extra field (100 ns), Info-ZIP "UT" (seconds), else the DOS time (local)
    zpath = tmp_path / "t.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        ntfs = zipfile.ZipInfo("ntfs", (2020, 1, 1, 0, 0, 0))
        ticks = t1 // 100 + 116_444_736_000_000_000
        ntfs.extra = b"\x0a\x00\x20\x00" + bytes(4) + b"\x01\x00\x18\x00" + (
            ticks.to_bytes(8, "little") * 3)
        z.writestr(ntfs, b"n")
        ut = zipfile.ZipInfo("ut", (2020, 1, 1, 0, 0, 0))
        ut.extra = b"\x55\x54\x05\x00\x01" + (MTIME + 1).to_bytes(4, "little")
        z.writestr(ut, b"u")
        z.writestr(zipfile.ZipInfo("dos", (2020, 1, 2, 3, 4, 6)), b"d")
    b = vfswasi.archive(zpath)
    try:
        r = b.root()
        import time as _time

        assert b.lstat(r, "ntfs").mtim == t1 - t1 % 100
        assert b.lstat(r, "ut").mtim == (MTIME + 1) * 1_000_000_000
        assert b.lstat(r, "dos").mtim == int(_time.mktime((2020, 1, 2, 3, 4, 6, 0, 0, -1))) * 10**9
    finally:
        b.close()


def test_pyfs_archive_objects_and_file_objects(tmp_path):
    from fs.tarfs import ReadTarFS, TarFS
    from fs.zipfs import ReadZipFS, ZipFS

    zpath = _zip(tmp_path / "a.zip", [("x/y.txt", b"from zip")])
    tpath = _tar(tmp_path / "a.tar.gz", [_tar_member("x/y.txt", b"from tar")], mode="w:gz")
    buf = io.BytesIO(zpath.read_bytes())  # no host fd: members stream through zipfile
    for spec, want in [(ReadZipFS(str(zpath)), b"from zip"), (ZipFS(str(zpath)), b"from zip"),
                       (ReadTarFS(str(tpath)), b"from tar"), (TarFS(str(tpath)), b"from tar"),
                       (vfswasi.archive(buf), b"from zip"),
                       (vfswasi.archive(zpath, subdir="x"), b"from zip"),
                       (f"zip://{zpath}!/x", b"from zip"), (f"tar://{tpath}!x", b"from tar")]:
        # (with subdir, the file is at /a/y.txt; without, at /a/x/y.txt)
        res = vfswasi.run(guest("tree"), args=["tree", "cat", "/a/x/y.txt", ";", "cat", "/a/y.txt"],
                          preopens={"/a": spec})
        assert want.decode() in res.stdout.decode(), spec
    assert isinstance(open_backend(ReadZipFS(str(zpath))), ArchiveBackend)
    assert isinstance(open_backend(TarFS(str(tpath))), ArchiveBackend)


def test_write_zipfs_object_is_written_when_its_owner_closes_it(tmp_path):
    from fs.zipfs import ZipFS

    path = tmp_path / "out.zip"
    zfs = ZipFS(str(path), write=True)
    check_transcript("memory", Mount("pyfs", zfs), """
        open 3 new.txt oflags creat rights write   -> ok 4
        write 4 written                            -> ok 7
        mkdir 3 d                                  -> ok
        symlink ../../etc/passwd 3 d/evil          -> err NOTSUP
        link 3 new.txt 3 hard                      -> err NOTSUP
    """)
    zfs.close()
    with zipfile.ZipFile(path) as z:
        assert z.read("new.txt") == b"written"
        assert sorted(z.namelist()) == ["d/", "new.txt"]


# --- read-only: large members stream ----------------------------------------------------------------


MEMBER = 20 << 20  # 20 MiB


def _big_data() -> bytes:
    # compressible, but not trivially: every 64 KiB block differs
    return b"".join(i.to_bytes(4, "little") * 16384 for i in range(MEMBER // 65536))


@pytest.mark.parametrize("fmt", ["zip", "tar", "tgz"])
def test_large_members_stream(tmp_path, fmt):
    data = _big_data()
    if fmt == "zip":
        path = _zip(tmp_path / "big.zip", [("big", data)], compression=zipfile.ZIP_DEFLATED)
    else:
        path = _tar(tmp_path / ("big.tar.gz" if fmt == "tgz" else "big.tar"),
                    [_tar_member("big", data)], mode="w:gz" if fmt == "tgz" else "w")
    del data
    url = f"{'zip' if fmt == 'zip' else 'tar'}://{path}"
    argv = ["tree", "cat", "/a/big"]
    seen = []

    def sink(chunk: bytes) -> None:
        seen.append(len(chunk))

    vfswasi.run(guest("tree"), args=argv, preopens={"/a": url}, stdout=sink)  # warm the cache
    seen.clear()
    tracemalloc.start()
    try:
        res = vfswasi.run(guest("tree"), args=argv, preopens={"/a": url}, stdout=sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.exit_code == 0 and sum(seen) == MEMBER
    # never a whole copy of the member: the bound is the brief's, the real peak is ~1-2 MiB
    assert peak < 2 * MEMBER
    assert peak < MEMBER // 4


def _read_whole_measured(f: Any) -> tuple[bytearray, int]:
    """A MEMBER-byte file read in one readinto call, and the peak of what that allocated."""
    buf = bytearray(MEMBER)  # stands for guest memory (allocated before measuring)
    tracemalloc.start()
    try:
        assert f.readinto(memoryview(buf), 0) == MEMBER
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return buf, peak


def test_one_big_read_into_guest_memory_stays_chunked(tmp_path):
    data = _big_data()
    path = _zip(tmp_path / "big.zip", [("big", data)], compression=zipfile.ZIP_DEFLATED)
    b = vfswasi.archive(path)
    try:
        f = b.open_file(b.root(), "big", read=True, write=False)
        buf, peak = _read_whole_measured(f)
        assert buf == data
        assert peak < MEMBER // 4
        # backwards on a deflated member: decompressed again from the start, same bytes
        part = memoryview(bytearray(16))
        for off in [MEMBER - 16, 12345, MEMBER // 2, 7, MEMBER]:
            n = f.readinto(part, off)
            assert bytes(part[:n]) == data[off:off + 16]
        f.close()
    finally:
        b.close()


@pytest.mark.parametrize("kind", ["zip", "tgz"])
def test_seek_and_pread_on_compressed_members(tmp_path, kind):
    mount = make_mount(kind, tmp_path, {"big": BIG})
    check_transcript(kind, mount, """
        open 3 big                -> ok 4
        pread 4 4 307196          -> ok "\\xfc\\xfd\\xfe\\xff"
        pread 4 4 0               -> ok "\\x00\\x01\\x02\\x03"
        seek 4 256000 set         -> ok 256000
        read 4 2                  -> ok "\\x00\\x01"
        seek 4 -256001 cur        -> ok 1
        read 4 2                  -> ok "\\x01\\x02"
        pread 4 2 307199          -> ok "\\xff"
        pread 4 2 307200          -> ok ""
        seek 4 0 end              -> ok 307200
        read 4 1                  -> ok ""
    """)


# --- writable: what write-back keeps ------------------------------------------------------------


def test_write_back_keeps_order_times_modes_and_links_tar(tmp_path):
    exact = _tar_member("z-first", b"first", mode=0o600, uid=1000, gid=100, uname="u", gname="g")
    exact[0].pax_headers = {"mtime": "1234567891.123456789"}
    path = _tar(tmp_path / "w.tar.gz", [
        exact,
        _tar_member("bin", type=tarfile.DIRTYPE, mode=0o750),
        _tar_member("bin/tool", b"#!/bin/sh\n", mode=0o755),
        _tar_member("bin/tool-link", type=tarfile.SYMTYPE, linkname="tool"),
        _tar_member("hard", type=tarfile.LNKTYPE, linkname="bin/tool"),
        _tar_member("implied/only/file", b"i"),
    ], mode="w:gz", format=tarfile.PAX_FORMAT)
    res = vfswasi.run(guest("tree"), args=["tree", "write", "/a/new.txt", "new"],
                      preopens={"/a": f"tar+rw://{path}"})
    assert res.exit_code == 0
    with open(path, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"  # still gzip'ed
    with tarfile.open(path) as t:
        members = t.getmembers()
        names = [m.name for m in members]
        assert names == ["z-first", "bin", "bin/tool", "bin/tool-link", "hard",
                         "implied/only/file", "new.txt"]  # order kept, implied dirs implied
        by = {m.name: m for m in members}
        first = by["z-first"]
        assert (first.mode, first.uid, first.gid, first.uname, first.gname) == (
            0o600, 1000, 100, "u", "g")
        assert first.pax_headers["mtime"] == "1234567891.123456789"
        assert by["bin"].isdir() and by["bin"].mode == 0o750
        assert by["bin/tool"].mode == 0o755 and by["bin/tool"].mtime == MTIME
        assert by["bin/tool-link"].issym() and by["bin/tool-link"].linkname == "tool"
        assert by["hard"].islnk() and by["hard"].linkname == "bin/tool"
        assert t.extractfile("hard").read() == b"#!/bin/sh\n"
        assert t.extractfile("new.txt").read() == b"new"
        assert by["new.txt"].mode == 0o644


def test_write_back_keeps_zip_members_and_comments(tmp_path):
    path = tmp_path / "w.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.comment = b"archive comment"
        stored = zipfile.ZipInfo("mimetype", (2020, 1, 2, 3, 4, 6))
        stored.comment = b"member comment"
        z.writestr(stored, b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
        exe = zipfile.ZipInfo("run.sh", (2020, 1, 2, 3, 4, 6))
        exe.external_attr = (stat.S_IFREG | 0o755) << 16
        exe.create_system = 3
        z.writestr(exe, b"#!/bin/sh\n", compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("only/file.txt", b"implied parent")
    before = {i.filename: i for i in zipfile.ZipFile(path).infolist()}
    argv = ["tree", "ln", "/a/run.sh", "/a/hard", ";", "ln", "-s", "run.sh", "/a/sym"]
    assert vfswasi.run(guest("tree"), args=argv, preopens={"/a": f"zip+rw://{path}"}).exit_code == 0
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert z.comment == b"archive comment"
        infos = z.infolist()
        assert [i.filename for i in infos] == ["mimetype", "run.sh", "only/file.txt", "hard", "sym"]
        mt = infos[0]
        assert (mt.compress_type, mt.comment, mt.date_time) == (
            zipfile.ZIP_STORED, b"member comment", before["mimetype"].date_time)
        assert infos[1].external_attr >> 16 == stat.S_IFREG | 0o755
        assert infos[1].compress_type == zipfile.ZIP_DEFLATED
        assert z.read("hard") == b"#!/bin/sh\n"  # zip has no hard links: a copy
        assert infos[4].external_attr >> 16 == stat.S_IFLNK | 0o777 and z.read("sym") == b"run.sh"
    b = vfswasi.archive(path)
    try:
        assert b.readlink(b.root(), "sym") == "run.sh"
        assert b.lstat(b.root(), "mimetype").mtim == before_mtime(before["mimetype"])
    finally:
        b.close()


def before_mtime(info: zipfile.ZipInfo) -> int:
    import time as _time

    return int(_time.mktime((*info.date_time, 0, 0, -1))) * 1_000_000_000


@pytest.mark.parametrize("kind", ["zip-rw", "tar-rw"])
def test_ns_times_survive_write_back(tmp_path, kind):
    mount = make_mount(kind, tmp_path, {"f": b"x", "d": {}})
    check_transcript(kind, mount, """
        settimes 3 f 1234567891123456700 1300000000987654300 atim,mtim  -> ok
        settimes 3 d 5 1000000000 mtim                                  -> ok
    """)
    b = vfswasi.archive(mount.archive)
    try:
        r = b.root()
        # tar keeps ns; zip's NTFS field 100 ns (the values above are multiples of 100)
        assert b.lstat(r, "f").mtim == 1300000000987654300
        assert b.lstat(r, "d").mtim == 1000000000
    finally:
        b.close()


def test_missing_archive_is_created_only_when_written(tmp_path):
    for name in ("new.zip", "new.tar.xz"):
        path = tmp_path / name
        scheme = "zip" if name.endswith(".zip") else "tar"
        assert vfswasi.run(guest("tree"), args=["tree", "ls", "/a"],
                           preopens={"/a": f"{scheme}+rw://{path}"}).exit_code == 0
        assert not path.exists()
        res = vfswasi.run(guest("tree"), args=["tree", "mkdir", "-p", "/a/x/y", ";", "write",
                                               "/a/x/y/f", "data"],
                          preopens={"/a": f"{scheme}+rw://{path}"})
        assert res.exit_code == 0
        b = vfswasi.archive(path)
        try:
            assert b.listdir(b.open_dir(b.open_dir(b.root(), "x"), "y"))[0][0] == "f"
        finally:
            b.close()
    with open(tmp_path / "new.tar.xz", "rb") as f:
        assert f.read(6) == b"\xfd7zXZ\x00"


def test_writable_refuses_archives_it_could_not_write_back_whole(tmp_path):
    path = _tar(tmp_path / "dev.tar", [_tar_member("null", type=tarfile.CHRTYPE)])
    with pytest.raises(ValueError, match="cannot mount writable"):
        vfswasi.archive(path, writable=True)
    b = vfswasi.archive(path)  # read-only it shows, as what it is
    try:
        assert b.lstat(b.root(), "null").filetype == Filetype.CHARACTER_DEVICE
        with pytest.raises(OSError) as e:
            b.open_file(b.root(), "null", read=True, write=False)
        assert e.value.errno == errno.ENOTSUP
    finally:
        b.close()


# --- writable: durability --------------------------------------------------------------------------

WRITE_THEN = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out.txt")
  (data (i32.const 16) "written before the end\\n")
  (func (export "_start")
    ;; path_open(3, 0, "out.txt", CREAT|TRUNC, rights all, all, 0, &fd at 100)
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7)
                      (i32.const 9) (i64.const RIGHTS) (i64.const RIGHTS) (i32.const 0)
                      (i32.const 100)))
    ;; iovec at 200: {16, 23}
    (i32.store (i32.const 200) (i32.const 16))
    (i32.store (i32.const 204) (i32.const 23))
    (drop (call $write (i32.load (i32.const 100)) (i32.const 200) (i32.const 1) (i32.const 300)))
    END))
"""


def _archive_contents(path: Path) -> dict:
    b = vfswasi.archive(path)
    try:
        return _read_backend_tree(b)
    finally:
        b.close()


@pytest.mark.parametrize("end", ["unreachable", "(call $exit (i32.const 3))"])
@pytest.mark.parametrize("kind", ["zip-rw", "tar-rw"])
def test_changes_are_written_back_when_the_guest_traps_or_exits(tmp_path, kind, end):
    mount = make_mount(kind, tmp_path, {"keep.txt": b"kept", "d": {"x": b"y"}})
    wasm = wasmtime.wat2wasm(WRITE_THEN.replace("END", end).replace("RIGHTS", str(int(RIGHTS_ALL))))
    if end == "unreachable":
        with pytest.raises(wasmtime.Trap):
            vfswasi.run(bytes(wasm), preopens={"/": mount.preopen})
    else:
        assert vfswasi.run(bytes(wasm), preopens={"/": mount.preopen}).exit_code == 3
    if kind == "zip-rw":
        with zipfile.ZipFile(mount.archive) as z:
            assert z.testzip() is None
    else:
        with tarfile.open(mount.archive) as t:
            assert [m.name for m in t.getmembers()] == ["keep.txt", "d", "d/x", "out.txt"]
    assert _archive_contents(mount.archive) == {
        "keep.txt": b"kept", "d": {"x": b"y"}, "out.txt": b"written before the end\n"}


def test_changes_are_written_back_through_the_cli(tmp_path):
    mount = make_mount("zip-rw", tmp_path, {"a.txt": b"A"})
    proc = subprocess.run(
        [sys.executable, "-m", "vfswasi", "run", "--mount", f"/a={mount.preopen}",
         str(guest("tree")), "write", "/a/b.txt", "B", ";", "rm", "/a/a.txt"],
        capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _archive_contents(mount.archive) == {"b.txt": b"B"}


@pytest.mark.parametrize("kind", ["zip-rw", "tar-rw"])
def test_a_failure_while_packing_leaves_the_original_intact(tmp_path, kind, monkeypatch):
    mount = make_mount(kind, tmp_path, {"a": b"1", "b": b"2", "c": {"d": b"3"}})
    before = mount.archive.read_bytes()
    writer = ZipWriter if kind == "zip-rw" else TarWriter  # what writes every member
    real = writer.add
    calls = []

    def failing(self: Any, *args: Any) -> None:
        calls.append(args)
        if len(calls) == 3:  # midway: two members are already in the new archive
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        real(self, *args)

    monkeypatch.setattr(writer, "add", failing)
    with pytest.raises(OSError, match="simulated"):
        vfswasi.run(guest("tree"), args=["tree", "write", "/a/new", "x"],
                    preopens={"/a": mount.preopen})
    assert mount.archive.read_bytes() == before
    assert sorted(os.listdir(mount.archive.parent)) == [mount.archive.name]  # no temp left


def test_saving_can_be_retried_after_a_failure(tmp_path, monkeypatch):
    mount = make_mount("zip-rw", tmp_path, {"a": b"1"})
    backend = vfswasi.archive(mount.archive, writable=True)

    def broken(*_args: Any) -> None:
        raise OSError(errno.EIO, "simulated")

    with monkeypatch.context() as m:
        m.setattr(ZipWriter, "add", broken)
        with pytest.raises(OSError):
            vfswasi.run(guest("tree"), args=["tree", "write", "/a/new", "x"],
                        preopens={"/a": backend})
    assert backend.changed  # the changes are still held, and can be saved
    backend.save()
    assert _archive_contents(mount.archive) == {"a": b"1", "new": b"x"}


@pytest.mark.parametrize("kind", ["zip-rw", "tar-rw"])
def test_no_changes_leave_the_archive_untouched(tmp_path, kind):
    mount = make_mount(kind, tmp_path, TREE)
    os.utime(mount.archive, ns=(MTIME_NS, MTIME_NS))
    before = mount.archive.read_bytes()
    fsops_reads = [line.strip() for line in READS.strip().splitlines()]
    run_script(kind, mount, fsops_reads + [
        "mkdir 3 d", "unlink 3 missing", "rmdir 3 d", "open 3 a.txt rights read,write",
        "open 3 a.txt oflags creat", "rename 3 missing 3 x", "link 3 d 3 e"])
    res = run_guest(kind, guest("tree"), ["tree", "ls", "-R", "/sandbox", ";", "cat",
                                          "/sandbox/a.txt"], {"/sandbox": mount})
    assert "f big 307200" in res.stdout.decode()
    st = mount.archive.stat()
    assert (st.st_mtime_ns, mount.archive.read_bytes()) == (MTIME_NS, before)


def test_every_backend_is_closed_even_if_one_fails(tmp_path, monkeypatch):
    first, second = (make_mount("zip-rw", tmp_path, {"f": b""}) for _ in range(2))
    saved = []

    def failing_save(self: WritableArchiveBackend) -> None:
        saved.append(self.path)
        raise OSError(errno.EIO, "simulated")

    monkeypatch.setattr(WritableArchiveBackend, "save", failing_save)
    with pytest.raises(OSError, match="simulated"):
        vfswasi.run(guest("tree"), args=["tree", "write", "/a/x", "1", ";", "write", "/b/y", "2"],
                    preopens={"/a": first.preopen, "/b": second.preopen})
    assert saved == [str(first.archive.resolve()), str(second.archive.resolve())]


def test_archive_urls_and_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_backend(f"zip://{tmp_path}/missing.zip")
    with pytest.raises(FileNotFoundError):
        open_backend(f"zip+rw://{tmp_path}/no/such/dir/a.zip")
    (tmp_path / "junk.zip").write_bytes(b"not an archive")
    with pytest.raises(zipfile.BadZipFile):
        open_backend(f"zip://{tmp_path}/junk.zip")
    with pytest.raises(TypeError):
        vfswasi.archive(io.BytesIO(), writable=True)
    path = _zip(tmp_path / "a.zip", [("d/f", b"f")])
    with pytest.raises(NotADirectoryError):
        open_backend(f"zip://{path}!/d/f")
    # a symlinked archive path: the write-back replaces the file, the link stays a link
    os.symlink(path, tmp_path / "link.zip")
    vfswasi.run(guest("tree"), args=["tree", "write", "/a/g", "g"],
                preopens={"/a": f"zip+rw://{tmp_path / 'link.zip'}"})
    assert os.path.islink(tmp_path / "link.zip")
    assert _archive_contents(path) == {"d": {"f": b"f"}, "g": b"g"}


def test_cli_help_names_the_archive_urls():
    proc = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--help"],
                          capture_output=True, text=True, timeout=60)
    text = " ".join(proc.stdout.split())
    assert re.search(r"zip\+rw://", text) and "fsspec+" in text


def test_the_example_runs():
    example = Path(__file__).resolve().parent.parent / "examples" / "archives.py"
    proc = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "write: /lib/docs/new.txt: Read-only file system" in proc.stdout
    assert "'readme.txt (14 B)'" in proc.stdout and "'/result.txt': b'done'" in proc.stdout


def test_cli_writes_back_when_the_guest_traps(tmp_path):
    mount = make_mount("tar-rw", tmp_path, {"keep": b"k"})
    wat = tmp_path / "trap.wat"
    wat.write_text(WRITE_THEN.replace("END", "unreachable").replace("RIGHTS", str(int(RIGHTS_ALL))))
    proc = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--mount",
                           f"/={mount.preopen}", str(wat)], capture_output=True, timeout=120)
    assert proc.returncode == 134, proc.stderr
    assert _archive_contents(mount.archive) == {"keep": b"k", "out.txt": b"written before the end\n"}


def test_written_back_when_proc_exit_leaves_python(tmp_path):
    # return_on_exit=False: proc_exit unwinds as SystemExit through the `with` block
    mount = make_mount("zip-rw", tmp_path, {})
    wasm = wasmtime.wat2wasm(WRITE_THEN.replace("END", "(call $exit (i32.const 7))")
                             .replace("RIGHTS", str(int(RIGHTS_ALL))))
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, bytes(wasm))
    with pytest.raises(SystemExit) as e:
        with vfswasi.WASI(preopens={"/": mount.preopen}, return_on_exit=False) as wasi:
            store = wasmtime.Store(engine)
            wasi.start(wasi.instantiate(store, module), store)
    assert e.value.code == 7
    assert _archive_contents(mount.archive) == {"out.txt": b"written before the end\n"}


def test_written_back_when_a_python_exception_unwinds_the_guest(tmp_path):
    mount = make_mount("zip-rw", tmp_path, {})

    def stdout(chunk: bytes) -> None:
        raise KeyboardInterrupt  # as if ^C arrived while the guest printed

    with pytest.raises(KeyboardInterrupt):
        vfswasi.run(guest("tree"), args=["tree", "write", "/a/x", "1", ";", "cat", "/a/x"],
                    preopens={"/a": mount.preopen}, stdout=stdout)
    assert _archive_contents(mount.archive) == {"x": b"1"}


def test_wrapped_pyfs_archives_read_in_bounded_pieces(tmp_path):
    # a SubFS of a ReadZipFS stays on PyFSBackend: its member stream is read 1 MiB at a time
    from fs.zipfs import ReadZipFS

    from vfswasi.backends.pyfs import PyFSBackend

    data = _big_data()
    path = _zip(tmp_path / "big.zip", [("sub/big", data)], compression=zipfile.ZIP_DEFLATED)
    with ReadZipFS(str(path)) as zfs:
        b = open_backend(zfs.opendir("/sub"))
        assert isinstance(b, PyFSBackend)
        f = b.open_file(b.root(), "big", read=True, write=False)
        buf, peak = _read_whole_measured(f)
        f.close()
        b.close()
    assert buf == data
    assert peak < MEMBER // 4
