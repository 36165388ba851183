"""What is specific to the PyFilesystem2 backends (the shared contract is in
test_backend_contract.py).

MemoryBackend: it works on the user's own MemoryFS, so changes show through the ordinary PyFS
API both ways, and what MemoryFS lacks (symlinks, hard links, inodes, link counts, ns times)
lives on the MemoryFS entries, shared by every backend over the same MemoryFS.

PyFSBackend: any other PyFS filesystem (MemoryFS, TempFS, SubFS, zip and tar archives).
"""

from __future__ import annotations

import errno
import io
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fs.enums import ResourceType
from fs.memoryfs import MemoryFS
from fs.tarfs import ReadTarFS
from fs.tempfs import TempFS
from fs.wrap import read_only
from fs.zipfs import ReadZipFS

from vfswasi.abi import Filetype
from vfswasi.backends.memory import MemoryBackend
from vfswasi.backends.pyfs import PyFSBackend
from vfswasi.vfs import Backend

REG = Filetype.REGULAR_FILE
DIR = Filetype.DIRECTORY
LNK = Filetype.SYMBOLIC_LINK

T1 = 1_234_567_891_123_456_789
T2 = 1_300_000_000_987_654_321


def err(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int | None:
    with pytest.raises(OSError) as excinfo:
        fn(*args, **kwargs)
    return excinfo.value.errno


def put(b: Backend, d: Any, name: str, data: bytes = b"") -> None:
    f = b.open_file(d, name, read=False, write=True, create=True, exclusive=True)
    try:
        f.write(data, 0)
    finally:
        f.close()


def get(b: Backend, d: Any, name: str, chunk: int = 4096) -> bytes:
    f = b.open_file(d, name, read=True, write=False)
    try:
        out = bytearray()
        buf = bytearray(chunk)
        while n := f.readinto(memoryview(buf), len(out)):
            out += buf[:n]
        return bytes(out)
    finally:
        f.close()


def names(b: Backend, h: Any) -> list[str]:
    return sorted(name for name, _ino, _type in b.listdir(h))


# === MemoryBackend ================================================================================


@pytest.fixture
def memfs() -> Iterator[MemoryFS]:
    m = MemoryFS()
    yield m
    m.close()


def test_guest_changes_show_through_pyfs(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    put(b, r, "a.txt", b"hello")
    b.mkdir(r, "d")
    d = b.open_dir(r, "d")
    put(b, d, "inner", b"in d")
    b.mkdir(d, "sub")
    assert memfs.readbytes("/a.txt") == b"hello"
    assert sorted(memfs.listdir("/")) == ["a.txt", "d"]
    assert memfs.readbytes("/d/inner") == b"in d"
    assert memfs.isdir("/d/sub")

    b.rename(r, "a.txt", d, "moved.txt")
    b.rename(r, "d", r, "e")
    assert sorted(memfs.listdir("/")) == ["e"]
    assert memfs.readbytes("/e/moved.txt") == b"hello"
    assert memfs.getinfo("/e/moved.txt").name == "moved.txt"

    f = b.open_file(b.open_dir(r, "e"), "moved.txt", read=False, write=True)
    f.write(b"!", 8)  # past EOF: zero-filled
    f.close()
    assert memfs.readbytes("/e/moved.txt") == b"hello\0\0\0!"

    b.unlink(b.open_dir(r, "e"), "inner")
    b.rmdir(b.open_dir(r, "e"), "sub")
    assert memfs.listdir("/e") == ["moved.txt"]


def test_user_tree_shows_to_the_guest(memfs: MemoryFS) -> None:
    memfs.makedirs("/x/y")
    memfs.writebytes("/x/y/f", b"fixture")
    b = MemoryBackend(memfs)
    r = b.root()
    x = b.open_dir(r, "x")
    y = b.open_dir(x, "y")
    assert b.listdir(r) == [("x", b.lstat(r, "x").ino, DIR)]
    assert get(b, y, "f") == b"fixture"
    s = b.lstat(y, "f")
    assert (s.filetype, s.size, s.nlink) == (REG, 7, 1)
    modified = memfs.getinfo("/x/y/f", ["details"]).raw["details"]["modified"]
    assert abs(s.mtim - modified * 1e9) < 1000
    # a directory made through PyFS can be renamed below itself only with EINVAL
    assert err(b.rename, r, "x", y, "z") == errno.EINVAL


def test_writes_are_shared_with_pyfs_handles(memfs: MemoryFS) -> None:
    memfs.writebytes("/f", b"0123456789")
    b = MemoryBackend(memfs)
    r = b.root()
    f = b.open_file(r, "f", read=True, write=True)
    try:
        with memfs.openbin("/f", "r+") as user:
            user.seek(2)
            user.write(b"AB")
            f.write(b"xy", 6)
            user.seek(0)
            assert user.read() == b"01AB45xy89"
        buf = bytearray(10)
        assert f.readinto(memoryview(buf), 0) == 10
        assert bytes(buf) == b"01AB45xy89"
        memfs.writebytes("/f", b"new")  # truncates the very same BytesIO
        assert f.stat().size == 3
        assert f.readinto(memoryview(buf), 0) == 3
    finally:
        f.close()


def test_fresh_memoryfs_when_none_given() -> None:
    b = MemoryBackend()
    assert isinstance(b.fs, MemoryFS)
    put(b, b.root(), "f", b"x")
    assert b.fs.readbytes("/f") == b"x"


def test_two_backends_share_links_inodes_and_times(memfs: MemoryFS) -> None:
    builder = MemoryBackend(memfs)
    r = builder.root()
    put(builder, r, "f", b"data")
    builder.symlink("f", r, "l")
    builder.link(r, "f", r, "g")
    builder.mkdir(r, "d")
    builder.set_times(r, "f", T1, T2)
    before = {n: builder.lstat(r, n) for n in ["f", "g", "l", "d"]}

    runner = MemoryBackend(memfs)
    assert runner.root() is r
    after = {n: runner.lstat(r, n) for n in ["f", "g", "l", "d"]}
    assert after == before
    assert after["f"].ino == after["g"].ino != after["l"].ino
    assert (after["f"].nlink, after["f"].atim, after["f"].mtim) == (2, T1, T2)
    assert runner.readlink(r, "l") == "f"
    assert runner.stat_dir(r).dev == builder.stat_dir(r).dev
    # a change through one backend is seen by the other
    runner.unlink(r, "g")
    assert builder.lstat(r, "f").nlink == 1
    # ... and a different MemoryFS is a different device, numbered on its own: the same
    # operations give the same inode numbers (deterministic runs depend on it)
    other = MemoryBackend(MemoryFS())
    put(other, other.root(), "f")
    assert other.stat_dir(other.root()).dev != runner.stat_dir(r).dev
    again = MemoryBackend(MemoryFS())
    put(again, again.root(), "f")
    assert [again.stat_dir(again.root()).ino, again.lstat(again.root(), "f").ino] == [
        other.stat_dir(other.root()).ino, other.lstat(other.root(), "f").ino] == [1, 2]


def test_hard_links_share_data_and_metadata(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    b.mkdir(r, "d")
    d = b.open_dir(r, "d")
    put(b, r, "a", b"one")
    b.link(r, "a", d, "b")
    f = b.open_file(d, "b", read=False, write=True, truncate=True)
    f.write(b"two", 0)
    f.close()
    assert memfs.readbytes("/a") == memfs.readbytes("/d/b") == b"two"
    b.set_times(r, "a", T1, T2)
    assert b.lstat(d, "b") == b.lstat(r, "a")
    assert b.lstat(d, "b").nlink == 2
    # the last name outlives the first
    b.unlink(r, "a")
    assert get(b, d, "b") == b"two"
    assert b.lstat(d, "b").nlink == 1


def test_unlinked_open_file_keeps_its_data(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    put(b, r, "f", b"still here")
    f = b.open_file(r, "f", read=True, write=True)
    try:
        b.unlink(r, "f")
        assert not memfs.exists("/f")
        f.write(b"!", 10)
        buf = bytearray(16)
        assert f.readinto(memoryview(buf), 0) == 11
        assert bytes(buf[:11]) == b"still here!"
        assert f.stat().nlink == 0
    finally:
        f.close()


def test_directory_link_counts_and_removed_handle(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    b.mkdir(r, "d")
    d = b.open_dir(r, "d")
    assert b.stat_dir(d).nlink == 2
    b.mkdir(d, "s1")
    memfs.makedir("/d/s2")  # made through PyFS: counted too
    put(b, d, "f")
    assert b.stat_dir(d).nlink == 4
    assert b.stat_dir(r).nlink == 3
    b.mkdir(r, "gone")
    g = b.open_dir(r, "gone")
    b.rmdir(r, "gone")
    assert b.stat_dir(g).nlink == 0
    assert err(put, b, g, "f") == errno.ENOENT
    assert err(b.mkdir, g, "x") == errno.ENOENT
    assert err(b.rename, r, "d", g, "x") == errno.ENOENT


def test_ns_times_stay_in_sync_with_float_fields(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    put(b, r, "f", b"x")
    b.set_times(r, "f", T1, T2)
    details = memfs.getinfo("/f", ["details"])
    assert details.raw["details"]["accessed"] == pytest.approx(T1 / 1e9)
    assert details.raw["details"]["modified"] == pytest.approx(T2 / 1e9)
    # set through PyFS: the ns times follow, and the change counts as a status change
    memfs.setinfo("/f", {"details": {"modified": 1_500_000_000.25}})
    s = b.lstat(r, "f")
    assert (s.atim, s.mtim) == (T1, 1_500_000_000_250_000_000)
    assert s.ctim >= s.mtim
    # a write through PyFS moves mtime (MemoryFS sets it) and so ctime
    memfs.writebytes("/f", b"yy")
    s2 = b.lstat(r, "f")
    assert s2.mtim > 1_500_000_000_250_000_000 and s2.ctim >= s2.mtim
    assert s2.size == 2


def test_mutations_update_parent_and_entry_times(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    b.mkdir(r, "d")
    d = b.open_dir(r, "d")
    put(b, d, "f", b"x")
    b.set_dir_times(d, T1, T1)
    b.set_times(d, "f", T1, T1)
    b.rename(d, "f", d, "g")
    s, sd = b.lstat(d, "g"), b.stat_dir(d)
    assert s.mtim == T1 and s.ctim > T1  # rename: the entry's ctime only
    assert sd.mtim > T1 and sd.ctim > T1  # the directory's content changed
    f = b.open_file(d, "g", read=False, write=True)
    f.truncate(0)
    f.close()
    assert b.lstat(d, "g").mtim > T1


def test_symlinks_as_a_pyfs_user_sees_them(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    b.symlink("target/ünï", r, "l")
    assert memfs.readbytes("/l") == "target/ünï".encode()
    assert memfs.getinfo("/l", ["details"]).type == ResourceType.symlink
    s = b.lstat(r, "l")
    assert (s.filetype, s.size) == (LNK, len("target/ünï".encode()))
    assert err(b.rmdir, r, "l") == errno.ENOTDIR


def test_rename_into_own_subtree_after_pyfs_moved_directories(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    b.mkdir(r, "a")
    a = b.open_dir(r, "a")
    b.mkdir(a, "b")
    inner = b.open_dir(a, "b")
    b.mkdir(r, "x")
    # the user moves /a/b under /x behind the backend's back: recorded parents go stale
    memfs.movedir("/a/b", "/x/b", create=True)
    assert err(b.rename, r, "x", inner, "y") == errno.EINVAL
    b.rename(r, "a", inner, "a")  # a is no longer above b: allowed
    assert memfs.isdir("/x/b/a")


def test_readonly_memory_backend(memfs: MemoryFS) -> None:
    memfs.writebytes("/f", b"F")
    b = MemoryBackend(memfs, readonly=True)
    r = b.root()
    assert b.readonly
    assert get(b, r, "f") == b"F"
    assert err(b.mkdir, r, "d") == errno.EROFS
    assert err(b.open_file, r, "f", read=True, write=True) == errno.EROFS
    assert memfs.listdir("/") == ["f"]


def test_bulk_chunks_round_trip(memfs: MemoryFS) -> None:
    b = MemoryBackend(memfs)
    r = b.root()
    chunk = bytes(range(256)) * 256
    f = b.open_file(r, "big", read=True, write=True, create=True)
    try:
        for i in range(64):
            assert f.write(memoryview(chunk), i * len(chunk)) == len(chunk)
    finally:
        f.close()
    assert memfs.getsize("/big") == 64 * len(chunk)
    assert get(b, r, "big", chunk=len(chunk)) == chunk * 64


# === PyFSBackend ==================================================================================


@pytest.fixture(params=["memory", "temp", "sub"])
def writable_fs(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        fs: Any = MemoryFS()
    elif request.param == "temp":
        fs = TempFS()
    else:
        parent = MemoryFS()
        parent.makedir("/mount")
        fs = parent.opendir("/mount")
    yield fs
    fs.close()


def test_pyfs_reads_writes_and_lists(writable_fs: Any) -> None:
    writable_fs.writebytes("/pre", b"existing")
    b = PyFSBackend(writable_fs)
    r = b.root()
    assert not b.readonly
    assert get(b, r, "pre") == b"existing"
    b.mkdir(r, "d")
    d = b.open_dir(r, "d")
    assert d == "/d"
    put(b, d, "f", b"written")
    assert writable_fs.readbytes("/d/f") == b"written"
    assert sorted(b.listdir(r)) == [
        ("d", b.lstat(r, "d").ino, DIR),
        ("pre", b.lstat(r, "pre").ino, REG),
    ]
    s = b.lstat(d, "f")
    assert (s.filetype, s.size, s.nlink) == (REG, 7, 1)
    assert b.stat_dir(d).ino == b.lstat(r, "d").ino
    f = b.open_file(d, "f", read=True, write=True)
    try:
        f.write(b"!", 10)  # past EOF: zero-filled
        assert f.stat().size == 11
        f.truncate(3)
        buf = bytearray(8)
        assert f.readinto(memoryview(buf), 0) == 3
        assert bytes(buf[:3]) == b"wri"
    finally:
        f.close()
    assert writable_fs.readbytes("/d/f") == b"wri"


def test_pyfs_posix_errors(writable_fs: Any) -> None:
    b = PyFSBackend(writable_fs)
    r = b.root()
    put(b, r, "f", b"F")
    b.mkdir(r, "d")
    b.mkdir(r, "full")
    put(b, b.open_dir(r, "full"), "x")
    assert err(b.lstat, r, "missing") == errno.ENOENT
    assert err(b.open_dir, r, "f") == errno.ENOTDIR
    assert err(b.open_file, r, "d", read=True, write=False) == errno.EISDIR
    assert err(b.open_file, r, "f", read=True, write=True, create=True, exclusive=True) == (
        errno.EEXIST
    )
    assert err(b.mkdir, r, "f") == errno.EEXIST
    assert err(b.rmdir, r, "f") == errno.ENOTDIR
    assert err(b.rmdir, r, "full") == errno.ENOTEMPTY
    assert err(b.unlink, r, "d") == errno.EISDIR
    assert err(b.readlink, r, "f") == errno.EINVAL
    assert err(b.rename, r, "f", r, "d") == errno.EISDIR
    assert err(b.rename, r, "d", r, "f") == errno.ENOTDIR
    assert err(b.rename, r, "d", r, "full") == errno.ENOTEMPTY
    assert err(b.rename, r, "full", "/full", "inside") == errno.EINVAL
    # PyFS cannot make links of either kind
    assert err(b.symlink, "f", r, "l") == errno.ENOTSUP
    assert err(b.link, r, "f", r, "g") == errno.ENOTSUP
    assert names(b, r) == ["d", "f", "full"]


def test_pyfs_rename_carries_inodes_and_open_files(writable_fs: Any) -> None:
    b = PyFSBackend(writable_fs)
    r = b.root()
    b.mkdir(r, "d")
    put(b, "/d", "f", b"F")
    put(b, r, "victim", b"V")
    ino_d, ino_f = b.lstat(r, "d").ino, b.lstat("/d", "f").ino
    f = b.open_file("/d", "f", read=True, write=False)
    try:
        b.rename(r, "d", r, "e")
        assert (b.lstat(r, "e").ino, b.lstat("/e", "f").ino) == (ino_d, ino_f)
        assert f.stat().ino == ino_f
        b.rename("/e", "f", r, "victim")  # replaces a file
        assert b.lstat(r, "victim").ino == ino_f
        assert get(b, r, "victim") == b"F"
        b.mkdir(r, "empty")
        b.rename(r, "e", r, "empty")  # replaces an empty directory
        assert names(b, r) == ["empty", "victim"]
        assert b.lstat(r, "empty").ino == ino_d
        b.unlink(r, "victim")
        assert f.stat().nlink == 0  # the handle outlives its name
    finally:
        f.close()


def test_pyfs_two_handles_share_content(writable_fs: Any) -> None:
    b = PyFSBackend(writable_fs)
    r = b.root()
    put(b, r, "f")
    w = b.open_file(r, "f", read=False, write=True)
    rd = b.open_file(r, "f", read=True, write=False)
    try:
        w.write(b"shared", 0)
        buf = bytearray(6)
        assert rd.readinto(memoryview(buf), 0) == 6
        assert bytes(buf) == b"shared"
    finally:
        w.close()
        rd.close()


def test_pyfs_set_times_round_trip_exactly(writable_fs: Any) -> None:
    b = PyFSBackend(writable_fs)
    r = b.root()
    put(b, r, "f")
    b.set_times(r, "f", T1, T2)
    s = b.lstat(r, "f")
    assert (s.atim, s.mtim) == (T1, T2)
    b.set_times(r, "f", None, T1)
    assert b.lstat(r, "f")[5:7] == (T1, T1)
    info = writable_fs.getinfo("/f", ["details"])
    assert info.raw["details"]["modified"] == pytest.approx(T1 / 1e9)


def test_pyfs_subfs_stays_inside(memfs: MemoryFS) -> None:
    memfs.makedirs("/outside")
    memfs.makedirs("/jail/inside")
    b = PyFSBackend(memfs.opendir("/jail"))
    r = b.root()
    assert names(b, r) == ["inside"]
    put(b, r, "new", b"n")
    assert memfs.readbytes("/jail/new") == b"n"
    assert sorted(memfs.listdir("/")) == ["jail", "outside"]


def test_pyfs_read_only_wrapper(memfs: MemoryFS) -> None:
    memfs.writebytes("/f", b"F")
    b = PyFSBackend(read_only(memfs))
    r = b.root()
    assert b.readonly
    assert get(b, r, "f") == b"F"
    for mutate in [
        lambda: b.mkdir(r, "d"),
        lambda: b.unlink(r, "f"),
        lambda: b.rename(r, "f", r, "g"),
        lambda: b.symlink("f", r, "l"),
        lambda: b.link(r, "f", r, "g"),
        lambda: b.set_times(r, "f", T1, T2),
        lambda: b.open_file(r, "f", read=True, write=True),
        lambda: b.open_file(r, "new", read=True, write=False, create=True),
    ]:
        assert err(mutate) == errno.EROFS
    assert memfs.listdir("/") == ["f"]


@pytest.mark.parametrize("with_dir_entries", [True, False])
def test_pyfs_zip(tmp_path: Path, with_dir_entries: bool) -> None:
    path = tmp_path / "a.zip"
    big = bytes(range(256)) * 300
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        if with_dir_entries:
            z.writestr("docs/", b"")
            z.writestr("docs/deep/", b"")
        z.writestr("docs/deep/note.txt", b"a note")
        z.writestr("top.bin", big)
    with ReadZipFS(str(path)) as zfs:
        b = PyFSBackend(zfs)
        r = b.root()
        assert b.readonly
        # PyFS synthesizes the directories an archive leaves implicit
        assert sorted(b.listdir(r)) == [
            ("docs", b.lstat(r, "docs").ino, DIR),
            ("top.bin", b.lstat(r, "top.bin").ino, REG),
        ]
        docs = b.open_dir(r, "docs")
        deep = b.open_dir(docs, "deep")
        assert names(b, deep) == ["note.txt"]
        assert b.lstat(deep, "note.txt").size == 6
        assert get(b, deep, "note.txt") == b"a note"
        assert b.lstat(r, "top.bin").size == len(big)
        f = b.open_file(r, "top.bin", read=True, write=False)
        try:
            assert not f.writable
            buf = bytearray(10)
            for off in [70_000, 5, 76_795, 80_000]:  # backwards seeks decompress again
                n = f.readinto(memoryview(buf), off)
                assert bytes(buf[:n]) == big[off : off + 10]
            assert f.stat().size == len(big)
        finally:
            f.close()
        assert get(b, r, "top.bin", chunk=65536) == big
        assert err(put, b, r, "new") == errno.EROFS
        assert err(b.open_file, r, "top.bin", read=True, write=True) == errno.EROFS
        assert err(b.unlink, r, "top.bin") == errno.EROFS
        assert err(b.symlink, "x", r, "l") == errno.EROFS


def _tar_member(name: str, **fields: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    for k, v in fields.items():
        setattr(info, k, v)
    return info


def test_pyfs_tar_with_symlinks(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as t:
        t.addfile(_tar_member("d", type=tarfile.DIRTYPE, mtime=1000))
        t.addfile(_tar_member("d/f.txt", size=5, mtime=2000), io.BytesIO(b"hello"))
        t.addfile(_tar_member("d/sl", type=tarfile.SYMTYPE, linkname="f.txt"))
        t.addfile(_tar_member("e/hl", type=tarfile.LNKTYPE, linkname="d/f.txt"))
    with ReadTarFS(str(path)) as tfs:
        b = PyFSBackend(tfs)
        r = b.root()
        assert b.readonly
        assert sorted((n, t) for n, _i, t in b.listdir(r)) == [("d", DIR), ("e", DIR)]
        d = b.open_dir(r, "d")
        assert sorted((n, t) for n, _i, t in b.listdir(d)) == [("f.txt", REG), ("sl", LNK)]
        s = b.lstat(d, "f.txt")
        assert (s.size, s.mtim) == (5, 2_000_000_000_000)
        assert get(b, d, "f.txt") == b"hello"
        assert b.readlink(d, "sl") == "f.txt"
        assert b.lstat(d, "sl").size == len("f.txt")
        assert err(b.open_file, d, "sl", read=True, write=False) == errno.ELOOP
        # a tar hard link names its member from the archive root: relative to its own dir
        assert b.readlink(b.open_dir(r, "e"), "hl") == "../d/f.txt"
        assert err(b.mkdir, r, "x") == errno.EROFS


def test_pyfs_error_table() -> None:
    from fs import errors

    from vfswasi.backends.pyfs import _errno_of

    assert _errno_of(errors.ResourceNotFound("p")) == errno.ENOENT
    assert _errno_of(errors.DirectoryExpected("p")) == errno.ENOTDIR
    assert _errno_of(errors.FileExpected("p")) == errno.EISDIR
    assert _errno_of(errors.DestinationExists("p")) == errno.EEXIST
    assert _errno_of(errors.DirectoryExists("p")) == errno.EEXIST
    assert _errno_of(errors.FileExists("p")) == errno.EEXIST
    assert _errno_of(errors.DirectoryNotEmpty("p")) == errno.ENOTEMPTY
    assert _errno_of(errors.ResourceReadOnly("p")) == errno.EROFS
    assert _errno_of(errors.PermissionDenied("p")) == errno.EACCES
    assert _errno_of(errors.Unsupported("p")) == errno.ENOTSUP
    assert _errno_of(errors.IllegalBackReference("p")) == errno.EPERM
    assert _errno_of(errors.OperationFailed("p", exc=OSError(errno.EMLINK, "x"))) == errno.EMLINK
    assert _errno_of(errors.OperationFailed("p")) == errno.EIO
