"""The `vfswasi.vfs.Backend` contract, checked by calling backends directly (no wasm).

Every parametrized test runs on each backend kind and asserts exact errno codes, so the
backends answer a guest identically. The host-only section at the end checks that the host
backend never follows a symlink planted on the host out of its root.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vfswasi.abi import Filetype
from vfswasi.backends.hostdir import HostDirBackend
from vfswasi.vfs import Backend

REG = Filetype.REGULAR_FILE
DIR = Filetype.DIRECTORY
LNK = Filetype.SYMBOLIC_LINK

# Nanosecond values that a coarser clock would round.
T1 = 1_234_567_891_123_456_789
T2 = 1_300_000_000_987_654_321

Opener = Callable[..., Backend]


@pytest.fixture(params=["host", "memory"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def opener(backend_kind: str, tmp_path: Path) -> Opener:
    """Makes backends over one shared storage: opener() or opener(readonly=True)."""
    if backend_kind == "host":
        root = tmp_path / "root"
        root.mkdir()
        return lambda readonly=False: HostDirBackend(root, readonly=readonly)
    from fs.memoryfs import MemoryFS

    from vfswasi.backends.memory import MemoryBackend

    memfs = MemoryFS()
    return lambda readonly=False: (
        MemoryBackend(memfs, readonly=True) if readonly else MemoryBackend(memfs)
    )


@pytest.fixture
def backend(opener: Opener) -> Iterator[Backend]:
    b = opener()
    yield b
    b.close()


# --- helpers ---------------------------------------------------------------------------------


def err(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int | None:
    """The errno of the OSError that fn(*args) raises."""
    with pytest.raises(OSError) as excinfo:
        fn(*args, **kwargs)
    return excinfo.value.errno


def put(b: Backend, d: Any, name: str, data: bytes = b"") -> None:
    f = b.open_file(d, name, read=False, write=True, create=True, exclusive=True)
    try:
        assert f.write(data, 0) == len(data)
    finally:
        f.close()


def get(b: Backend, d: Any, name: str) -> bytes:
    f = b.open_file(d, name, read=True, write=False)
    try:
        out = bytearray()
        buf = bytearray(4096)
        while n := f.readinto(memoryview(buf), len(out)):
            out += buf[:n]
        return bytes(out)
    finally:
        f.close()


def names(b: Backend, h: Any) -> list[str]:
    return sorted(name for name, _ino, _type in b.listdir(h))


def mkdirs(b: Backend, d: Any, *dirnames: str) -> None:
    for name in dirnames:
        b.mkdir(d, name)


class opened:
    """`with opened(b, d, name) as h:` an open_dir handle that is released afterwards."""

    def __init__(self, b: Backend, d: Any, name: str) -> None:
        self.b, self.h = b, b.open_dir(d, name)

    def __enter__(self) -> Any:
        return self.h

    def __exit__(self, *exc: object) -> None:
        self.b.release_dir(self.h)


def host_keeps_ns(path: Path) -> bool:
    probe = path / ".ns-probe"
    probe.touch()
    os.utime(probe, ns=(T1, T2))
    s = os.stat(probe)
    probe.unlink()
    return (s.st_atime_ns, s.st_mtime_ns) == (T1, T2)


# --- root, stat, listdir ---------------------------------------------------------------------


def test_root_is_an_empty_directory(backend: Backend) -> None:
    r = backend.root()
    assert backend.stat_dir(r).filetype == DIR
    assert backend.listdir(r) == []


def test_lstat_kinds_and_missing(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"hello")
    backend.mkdir(r, "d")
    backend.symlink("f", r, "l")
    f = backend.lstat(r, "f")
    assert (f.filetype, f.size, f.nlink) == (REG, 5, 1)
    assert backend.lstat(r, "d").filetype == DIR
    assert backend.lstat(r, "l").filetype == LNK
    assert err(backend.lstat, r, "missing") == errno.ENOENT


def test_listdir_types_and_inos_match_lstat(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"x")
    backend.mkdir(r, "d")
    backend.symlink("f", r, "l")
    backend.symlink("nowhere", r, "dangling")
    backend.symlink("d", r, "ldir")
    entries = backend.listdir(r)
    assert sorted((n, t) for n, _i, t in entries) == [
        ("d", DIR), ("dangling", LNK), ("f", REG), ("l", LNK), ("ldir", LNK),
    ]
    for name, ino, ftype in entries:
        s = backend.lstat(r, name)
        assert (ino, ftype) == (s.ino, s.filetype), name


def test_listdir_repeats_and_lists_subdirectories(backend: Backend) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    with opened(backend, r, "d") as h:
        for i in range(300):  # more than one getdents buffer on a host
            put(backend, h, f"entry-with-a-longish-name-{i:04}")
        first = names(backend, h)
        assert len(first) == 300
        assert names(backend, h) == first
        assert names(backend, r) == ["d"]
        backend.unlink(h, "entry-with-a-longish-name-0000")
        assert len(names(backend, h)) == 299


def test_unicode_names(backend: Backend) -> None:
    r = backend.root()
    for name in ["naïve ☃", "日本語", "space name", "trailing.", ".hidden"]:
        put(backend, r, name, name.encode())
        assert get(backend, r, name) == name.encode()
    assert "naïve ☃" in names(backend, r)


def test_stat_dir_matches_lstat(backend: Backend) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    with opened(backend, r, "d") as h:
        s = backend.stat_dir(h)
        assert s.filetype == DIR
        assert (s.ino, s.dev) == (backend.lstat(r, "d").ino, backend.lstat(r, "d").dev)


def test_dup_dir(backend: Backend) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    root_dup = backend.dup_dir(r)
    try:
        assert backend.stat_dir(root_dup).ino == backend.stat_dir(r).ino
        assert names(backend, root_dup) == ["d"]
        h = backend.open_dir(r, "d")
        dup = backend.dup_dir(h)
        backend.release_dir(h)  # the duplicate lives on by itself
        put(backend, dup, "f", b"via dup")
        assert names(backend, dup) == ["f"]
        assert backend.stat_dir(dup).ino == backend.lstat(r, "d").ino
        backend.release_dir(dup)
    finally:
        backend.release_dir(root_dup)
    assert names(backend, r) == ["d"]  # releasing a duplicate of the root leaves the root
    with opened(backend, r, "d") as h:
        assert get(backend, h, "f") == b"via dup"


# --- open_file and file handles ---------------------------------------------------------------


def test_create_write_read(backend: Backend) -> None:
    r = backend.root()
    f = backend.open_file(r, "f", read=True, write=True, create=True)
    try:
        assert f.writable
        assert f.write(b"hello world", 0) == 11
        assert f.write(memoryview(b"WORLD"), 6) == 5
        buf = bytearray(32)
        assert f.readinto(memoryview(buf), 0) == 11
        assert bytes(buf[:11]) == b"hello WORLD"
        s = f.stat()
        assert (s.filetype, s.size, s.nlink) == (REG, 11, 1)
        assert s.ino == backend.lstat(r, "f").ino
    finally:
        f.close()
    assert get(backend, r, "f") == b"hello WORLD"


def test_write_past_eof_zero_fills(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"ab")
    f = backend.open_file(r, "f", read=False, write=True)
    try:
        assert f.write(b"xy", 10) == 2
        assert f.stat().size == 12
    finally:
        f.close()
    assert get(backend, r, "f") == b"ab" + bytes(8) + b"xy"


def test_readinto_at_offsets(backend: Backend) -> None:
    r = backend.root()
    data = bytes(range(100))
    put(backend, r, "f", data)
    f = backend.open_file(r, "f", read=True, write=False)
    try:
        assert not f.writable
        buf = bytearray(10)
        assert f.readinto(memoryview(buf), 3) == 10
        assert bytes(buf) == data[3:13]
        assert f.readinto(memoryview(buf), 95) == 5
        assert bytes(buf[:5]) == data[95:]
        assert f.readinto(memoryview(buf), 100) == 0
        assert f.readinto(memoryview(buf), 10_000) == 0
        # reads land in exactly the view given (a window of a larger buffer)
        big = bytearray(b"." * 20)
        assert f.readinto(memoryview(big)[5:9], 50) == 4
        assert bytes(big) == b"....." + data[50:54] + b"." * 11
    finally:
        f.close()


def test_open_existing_without_create_keeps_content(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"keep")
    backend.open_file(r, "f", read=False, write=True, create=True).close()
    assert get(backend, r, "f") == b"keep"
    backend.open_file(r, "f", read=True, write=True).close()
    assert get(backend, r, "f") == b"keep"


def test_open_missing_without_create(backend: Backend) -> None:
    r = backend.root()
    assert err(backend.open_file, r, "nope", read=True, write=False) == errno.ENOENT
    assert err(backend.open_file, r, "nope", read=True, write=True) == errno.ENOENT


def test_exclusive_create(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"old")
    backend.mkdir(r, "d")
    backend.symlink("nowhere", r, "dangling")
    for name in ["f", "d", "dangling"]:
        code = err(backend.open_file, r, name, read=False, write=True, create=True, exclusive=True)
        assert code == errno.EEXIST, name
    assert get(backend, r, "f") == b"old"
    assert backend.lstat(r, "dangling").filetype == LNK


def test_truncate_on_open(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"some content")
    backend.open_file(r, "f", read=False, write=True, truncate=True).close()
    assert get(backend, r, "f") == b""
    assert backend.lstat(r, "f").size == 0


def test_truncate_and_allocate(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"0123456789")
    f = backend.open_file(r, "f", read=True, write=True)
    try:
        f.truncate(4)
        assert f.stat().size == 4
        f.truncate(8)
        assert f.stat().size == 8
        f.allocate(0, 2)  # never shrinks
        assert f.stat().size == 8
        f.allocate(6, 10)
        assert f.stat().size == 16
        f.allocate(16, 0)
        assert f.stat().size == 16
    finally:
        f.close()
    assert get(backend, r, "f") == b"0123" + bytes(12)


def test_neither_read_nor_write_handle_can_stat(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"abc")
    f = backend.open_file(r, "f", read=False, write=False)
    try:
        assert not f.writable
        assert f.stat().size == 3
    finally:
        f.close()


def test_read_only_handle_refuses_writes(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"abc")
    f = backend.open_file(r, "f", read=True, write=False)
    try:
        assert err(f.write, b"x", 0) == errno.EBADF
        assert err(f.truncate, 0) == errno.EBADF
    finally:
        f.close()
    assert get(backend, r, "f") == b"abc"


def test_two_handles_share_content(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f")
    w = backend.open_file(r, "f", read=False, write=True)
    rd = backend.open_file(r, "f", read=True, write=False)
    try:
        w.write(b"shared", 0)
        buf = bytearray(6)
        assert rd.readinto(memoryview(buf), 0) == 6
        assert bytes(buf) == b"shared"
        assert rd.stat().size == 6
    finally:
        w.close()
        rd.close()


@pytest.mark.parametrize("mode", [(True, False), (False, True), (True, True), (False, False)])
def test_open_file_on_directory_is_eisdir(backend: Backend, mode: tuple[bool, bool]) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    read, write = mode
    assert err(backend.open_file, r, "d", read=read, write=write) == errno.EISDIR


@pytest.mark.parametrize("target", ["f", "nowhere"])
@pytest.mark.parametrize(
    "flags",
    [
        {"read": True, "write": False},
        {"read": False, "write": True},
        {"read": True, "write": True, "create": True},
        {"read": False, "write": True, "truncate": True},
    ],
)
def test_open_file_on_symlink_is_eloop(backend: Backend, target: str, flags: dict) -> None:
    r = backend.root()
    put(backend, r, "f", b"target")
    backend.symlink(target, r, "l")
    assert err(backend.open_file, r, "l", **flags) == errno.ELOOP
    assert get(backend, r, "f") == b"target"
    assert backend.lstat(r, "l").filetype == LNK
    assert names(backend, r) == ["f", "l"]


def test_sync(backend: Backend) -> None:
    # sync and sync_dir succeed, and what was written is there, through another handle too
    r = backend.root()
    f = backend.open_file(r, "f", read=True, write=True, create=True)
    try:
        f.write(b"xy", 0)
        f.sync()
        other = backend.open_file(r, "f", read=True, write=False)
        try:
            buf = bytearray(4)
            assert other.readinto(memoryview(buf), 0) == 2 and bytes(buf[:2]) == b"xy"
        finally:
            other.close()
    finally:
        f.close()
    backend.sync_dir(r)
    backend.mkdir(r, "d")
    with opened(backend, r, "d") as h:
        backend.sync_dir(h)
    assert {name for name, _ino, _t in backend.listdir(r)} >= {"f", "d"}


# --- directories ------------------------------------------------------------------------------


def test_mkdir_and_open_dir(backend: Backend) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    assert backend.lstat(r, "d").filetype == DIR
    with opened(backend, r, "d") as h:
        assert backend.listdir(h) == []
        backend.mkdir(h, "sub")
        put(backend, h, "f", b"in d")
        assert names(backend, h) == ["f", "sub"]
        with opened(backend, h, "sub") as sub:
            assert backend.stat_dir(sub).ino == backend.lstat(h, "sub").ino
    assert names(backend, r) == ["d"]


def test_mkdir_eexist(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f")
    backend.mkdir(r, "d")
    backend.symlink("nowhere", r, "dangling")
    backend.symlink("d", r, "ldir")
    for name in ["f", "d", "dangling", "ldir"]:
        assert err(backend.mkdir, r, name) == errno.EEXIST, name
    assert backend.lstat(r, "dangling").filetype == LNK


def test_open_dir_errors(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f")
    backend.mkdir(r, "d")
    backend.symlink("d", r, "ldir")
    backend.symlink("nowhere", r, "dangling")
    assert err(backend.open_dir, r, "missing") == errno.ENOENT
    assert err(backend.open_dir, r, "f") == errno.ENOTDIR
    assert err(backend.open_dir, r, "ldir") in (errno.ELOOP, errno.ENOTDIR)
    assert err(backend.open_dir, r, "dangling") in (errno.ELOOP, errno.ENOTDIR)


def test_rmdir(backend: Backend) -> None:
    r = backend.root()
    mkdirs(backend, r, "empty", "full")
    with opened(backend, r, "full") as h:
        put(backend, h, "f")
    put(backend, r, "f")
    backend.symlink("empty", r, "ldir")
    backend.rmdir(r, "empty")
    assert err(backend.lstat, r, "empty") == errno.ENOENT
    assert err(backend.rmdir, r, "full") == errno.ENOTEMPTY
    assert err(backend.rmdir, r, "f") == errno.ENOTDIR
    assert err(backend.rmdir, r, "ldir") == errno.ENOTDIR
    assert err(backend.rmdir, r, "missing") == errno.ENOENT
    assert names(backend, r) == ["f", "full", "ldir"]


def test_unlink(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"x")
    put(backend, r, "g", b"target")
    backend.mkdir(r, "d")
    backend.symlink("g", r, "l")
    backend.symlink("d", r, "ldir")
    backend.unlink(r, "f")
    backend.unlink(r, "l")  # removes the link, not its target
    backend.unlink(r, "ldir")
    assert names(backend, r) == ["d", "g"]
    assert get(backend, r, "g") == b"target"
    assert err(backend.unlink, r, "d") == errno.EISDIR
    assert err(backend.unlink, r, "missing") == errno.ENOENT
    assert backend.lstat(r, "d").filetype == DIR


# --- rename -----------------------------------------------------------------------------------


def test_rename_file_keeps_identity(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "a", b"A")
    ino = backend.lstat(r, "a").ino
    backend.rename(r, "a", r, "b")
    assert names(backend, r) == ["b"]
    assert backend.lstat(r, "b").ino == ino
    assert get(backend, r, "b") == b"A"


def test_rename_across_directories(backend: Backend) -> None:
    r = backend.root()
    mkdirs(backend, r, "src", "dst")
    with opened(backend, r, "src") as s, opened(backend, r, "dst") as d:
        put(backend, s, "f", b"moved")
        backend.mkdir(s, "sub")
        backend.rename(s, "f", d, "g")
        backend.rename(s, "sub", d, "sub2")
        assert backend.listdir(s) == []
        assert names(backend, d) == ["g", "sub2"]
        assert get(backend, d, "g") == b"moved"


def test_rename_replaces_file(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "a", b"A")
    put(backend, r, "b", b"B")
    ino = backend.lstat(r, "a").ino
    backend.rename(r, "a", r, "b")
    assert names(backend, r) == ["b"]
    assert get(backend, r, "b") == b"A"
    assert backend.lstat(r, "b").ino == ino


def test_rename_replaces_empty_dir(backend: Backend) -> None:
    r = backend.root()
    mkdirs(backend, r, "a", "b")
    with opened(backend, r, "a") as h:
        put(backend, h, "inside", b"i")
    backend.rename(r, "a", r, "b")
    assert names(backend, r) == ["b"]
    with opened(backend, r, "b") as h:
        assert names(backend, h) == ["inside"]


def test_rename_onto_nonempty_dir(backend: Backend) -> None:
    r = backend.root()
    mkdirs(backend, r, "a", "b")
    with opened(backend, r, "b") as h:
        put(backend, h, "f")
    assert err(backend.rename, r, "a", r, "b") == errno.ENOTEMPTY
    assert names(backend, r) == ["a", "b"]


def test_rename_kind_mismatch(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"F")
    backend.mkdir(r, "d")
    backend.symlink("d", r, "ldir")
    assert err(backend.rename, r, "f", r, "d") == errno.EISDIR
    assert err(backend.rename, r, "d", r, "f") == errno.ENOTDIR
    # a symlink is not a directory, even when it points at one
    assert err(backend.rename, r, "d", r, "ldir") == errno.ENOTDIR
    assert names(backend, r) == ["d", "f", "ldir"]
    assert get(backend, r, "f") == b"F"


def test_rename_directory_into_itself(backend: Backend) -> None:
    r = backend.root()
    backend.mkdir(r, "a")
    with opened(backend, r, "a") as a:
        backend.mkdir(a, "b")
        with opened(backend, a, "b") as b:
            assert err(backend.rename, r, "a", a, "x") == errno.EINVAL
            assert err(backend.rename, r, "a", b, "x") == errno.EINVAL
        assert names(backend, a) == ["b"]
    assert names(backend, r) == ["a"]


def test_rename_same_entry_is_noop(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"F")
    backend.mkdir(r, "d")
    backend.symlink("f", r, "l")
    for name in ["f", "d", "l"]:
        backend.rename(r, name, r, name)
    with opened(backend, r, "d") as h1, opened(backend, r, "d") as h2:
        put(backend, h1, "x")
        backend.rename(h1, "x", h2, "x")
        assert names(backend, h2) == ["x"]
    assert names(backend, r) == ["d", "f", "l"]
    assert get(backend, r, "f") == b"F"


def test_rename_between_hard_links_is_noop(backend: Backend) -> None:
    # POSIX: two names of the same file -> rename succeeds and does nothing
    r = backend.root()
    put(backend, r, "a", b"A")
    backend.link(r, "a", r, "b")
    backend.rename(r, "a", r, "b")
    assert names(backend, r) == ["a", "b"]
    assert backend.lstat(r, "a").nlink == 2


def test_rename_moves_symlink_itself(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"F")
    backend.mkdir(r, "d")
    backend.symlink("f", r, "l")
    backend.symlink("d", r, "ldir")
    backend.rename(r, "l", r, "m")
    assert backend.readlink(r, "m") == "f"
    # onto a symlink: the link is replaced, its target (even a directory) is untouched
    put(backend, r, "g", b"G")
    backend.rename(r, "g", r, "ldir")
    assert backend.lstat(r, "ldir").filetype == REG
    assert get(backend, r, "ldir") == b"G"
    assert backend.lstat(r, "d").filetype == DIR
    assert names(backend, r) == ["d", "f", "ldir", "m"]
    assert get(backend, r, "f") == b"F"


def test_rename_missing_source(backend: Backend) -> None:
    r = backend.root()
    assert err(backend.rename, r, "missing", r, "x") == errno.ENOENT


# --- link -------------------------------------------------------------------------------------


def test_link(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "a", b"A")
    backend.mkdir(r, "d")
    with opened(backend, r, "d") as h:
        backend.link(r, "a", h, "b")
        sa, sb = backend.lstat(r, "a"), backend.lstat(h, "b")
        assert sa.ino == sb.ino
        assert sa.nlink == sb.nlink == 2
        f = backend.open_file(h, "b", read=False, write=True)
        try:
            f.write(b"B", 0)
        finally:
            f.close()
        assert get(backend, r, "a") == b"B"
        backend.unlink(r, "a")
        assert backend.lstat(h, "b").nlink == 1
        assert get(backend, h, "b") == b"B"


def test_link_errors(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "a", b"A")
    put(backend, r, "b", b"B")
    backend.mkdir(r, "d")
    backend.symlink("nowhere", r, "dangling")
    assert err(backend.link, r, "a", r, "b") == errno.EEXIST
    assert err(backend.link, r, "a", r, "d") == errno.EEXIST
    assert err(backend.link, r, "a", r, "dangling") == errno.EEXIST
    assert err(backend.link, r, "d", r, "d2") == errno.EPERM
    assert err(backend.link, r, "missing", r, "x") == errno.ENOENT
    assert names(backend, r) == ["a", "b", "d", "dangling"]
    assert backend.lstat(r, "a").nlink == 1


def test_link_does_not_follow_symlink(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"F")
    backend.symlink("f", r, "l")
    backend.link(r, "l", r, "l2")
    s = backend.lstat(r, "l2")
    assert s.filetype == LNK
    assert s.ino == backend.lstat(r, "l").ino
    assert backend.readlink(r, "l2") == "f"
    assert backend.lstat(r, "f").nlink == 1


# --- symlink, readlink --------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["f", "nowhere", "../x", "/etc/passwd", "a/b/", "..", "a//b"])
def test_symlink_target_stored_verbatim(backend: Backend, target: str) -> None:
    r = backend.root()
    backend.symlink(target, r, "l")
    assert backend.readlink(r, "l") == target
    s = backend.lstat(r, "l")
    assert s.filetype == LNK
    assert s.size == len(target.encode())


def test_symlink_eexist(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f", b"F")
    backend.mkdir(r, "d")
    backend.symlink("nowhere", r, "dangling")
    for name in ["f", "d", "dangling"]:
        assert err(backend.symlink, "x", r, name) == errno.EEXIST, name
    assert backend.readlink(r, "dangling") == "nowhere"
    assert get(backend, r, "f") == b"F"


def test_readlink_errors(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f")
    backend.mkdir(r, "d")
    assert err(backend.readlink, r, "f") == errno.EINVAL
    assert err(backend.readlink, r, "d") == errno.EINVAL
    assert err(backend.readlink, r, "missing") == errno.ENOENT


# --- times ----------------------------------------------------------------------------------


@pytest.fixture
def exact_ns(backend_kind: str, tmp_path: Path) -> None:
    if backend_kind == "host" and not host_keeps_ns(tmp_path):
        pytest.skip("the host filesystem under tmp_path does not keep nanoseconds")


def test_set_times(backend: Backend, exact_ns: None) -> None:
    r = backend.root()
    put(backend, r, "f")
    backend.set_times(r, "f", T1, T2)
    s = backend.lstat(r, "f")
    assert (s.atim, s.mtim) == (T1, T2)
    backend.set_times(r, "f", None, T1)
    s = backend.lstat(r, "f")
    assert (s.atim, s.mtim) == (T1, T1)
    backend.set_times(r, "f", T2, None)
    s = backend.lstat(r, "f")
    assert (s.atim, s.mtim) == (T2, T1)
    backend.set_times(r, "f", None, None)
    s = backend.lstat(r, "f")
    assert (s.atim, s.mtim) == (T2, T1)
    assert err(backend.set_times, r, "missing", T1, T2) == errno.ENOENT
    assert err(backend.set_times, r, "missing", None, None) == errno.ENOENT


def test_set_times_on_directory_entry(backend: Backend, exact_ns: None) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    backend.set_times(r, "d", T1, T2)
    s = backend.lstat(r, "d")
    assert (s.atim, s.mtim) == (T1, T2)


def test_set_times_on_symlink_changes_the_link(backend: Backend, exact_ns: None) -> None:
    r = backend.root()
    put(backend, r, "f")
    backend.set_times(r, "f", T2, T2)
    backend.symlink("f", r, "l")
    backend.set_times(r, "l", T1, T1)
    s = backend.lstat(r, "l")
    assert (s.filetype, s.atim, s.mtim) == (LNK, T1, T1)
    s = backend.lstat(r, "f")
    assert (s.atim, s.mtim) == (T2, T2)


def test_set_dir_times(backend: Backend, exact_ns: None) -> None:
    r = backend.root()
    backend.mkdir(r, "d")
    with opened(backend, r, "d") as h:
        backend.set_dir_times(h, T1, T2)
        s = backend.stat_dir(h)
        assert (s.atim, s.mtim) == (T1, T2)
        backend.set_dir_times(h, None, T1)
        assert backend.stat_dir(h)[5:7] == (T1, T1)
        backend.set_dir_times(h, T2, None)
        assert backend.stat_dir(h)[5:7] == (T2, T1)
    s = backend.lstat(r, "d")
    assert (s.atim, s.mtim) == (T2, T1)
    backend.set_dir_times(r, T1, T2)
    assert backend.stat_dir(r)[5:7] == (T1, T2)


def test_file_handle_set_times(backend: Backend, exact_ns: None) -> None:
    r = backend.root()
    put(backend, r, "f")
    f = backend.open_file(r, "f", read=True, write=True)
    try:
        f.set_times(T1, T2)
        assert f.stat()[5:7] == (T1, T2)
        f.set_times(None, T1)
        assert f.stat()[5:7] == (T1, T1)
        f.set_times(T2, None)
        assert f.stat()[5:7] == (T2, T1)
    finally:
        f.close()
    s = backend.lstat(r, "f")
    assert (s.atim, s.mtim) == (T2, T1)


def test_write_updates_mtime(backend: Backend) -> None:
    r = backend.root()
    put(backend, r, "f")
    backend.set_times(r, "f", T1, T1)
    f = backend.open_file(r, "f", read=False, write=True)
    try:
        f.write(b"x", 0)
    finally:
        f.close()
    assert backend.lstat(r, "f").mtim != T1


# --- read-only backends -------------------------------------------------------------------------


def test_readonly_refuses_every_mutation(opener: Opener) -> None:
    w = opener()
    r = w.root()
    put(w, r, "f", b"F")
    w.mkdir(r, "d")
    w.mkdir(r, "full")
    with opened(w, r, "full") as h:
        put(w, h, "x")
    w.symlink("f", r, "l")
    w.close()

    ro = opener(readonly=True)
    try:
        assert ro.readonly
        r = ro.root()
        before = sorted(ro.listdir(r))
        fstat = ro.lstat(r, "f")
        mutations: list[tuple[str, Callable[[], object]]] = [
            ("mkdir new", lambda: ro.mkdir(r, "new")),
            ("mkdir existing", lambda: ro.mkdir(r, "d")),
            ("rmdir", lambda: ro.rmdir(r, "d")),
            ("rmdir non-empty", lambda: ro.rmdir(r, "full")),
            ("unlink", lambda: ro.unlink(r, "f")),
            ("unlink missing", lambda: ro.unlink(r, "missing")),
            ("rename", lambda: ro.rename(r, "f", r, "g")),
            ("rename onto", lambda: ro.rename(r, "f", r, "l")),
            ("link", lambda: ro.link(r, "f", r, "g")),
            ("symlink", lambda: ro.symlink("f", r, "l2")),
            ("set_times", lambda: ro.set_times(r, "f", T1, T2)),
            ("set_times link", lambda: ro.set_times(r, "l", T1, None)),
            ("set_dir_times", lambda: ro.set_dir_times(r, T1, T2)),
            ("open write", lambda: ro.open_file(r, "f", read=False, write=True)),
            ("open rw", lambda: ro.open_file(r, "f", read=True, write=True)),
            ("open create", lambda: ro.open_file(r, "new", read=True, write=False, create=True)),
            ("open create existing", lambda: ro.open_file(r, "f", read=True, write=True, create=True)),
            ("open exclusive", lambda: ro.open_file(
                r, "new", read=False, write=True, create=True, exclusive=True)),
            ("open truncate", lambda: ro.open_file(r, "f", read=False, write=False, truncate=True)),
        ]
        for what, mutate in mutations:
            assert err(mutate) == errno.EROFS, what
        with opened(ro, r, "d") as h:
            assert err(ro.set_dir_times, h, T1, None) == errno.EROFS
        f = ro.open_file(r, "f", read=True, write=False)
        try:
            assert not f.writable
            assert err(f.set_times, T1, T2) == errno.EROFS
        finally:
            f.close()
        # reading still works, and nothing changed
        assert sorted(ro.listdir(r)) == before
        assert get(ro, r, "f") == b"F"
        assert ro.readlink(r, "l") == "f"
        after = ro.lstat(r, "f")
        assert (after.size, after.mtim, after.nlink) == (fstat.size, fstat.mtim, fstat.nlink)
    finally:
        ro.close()


# === host only: the sandbox must hold against what is planted on the host =====================


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[HostDirBackend, Path, Path]]:
    """(backend, root, secret): `secret` is a file outside the root, like /etc/passwd."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(b"TOP SECRET")
    os.utime(secret, ns=(T2, T2))
    (root / "to-secret").symlink_to(secret)
    (root / "to-outside").symlink_to(outside)
    (root / "up").symlink_to("../outside")
    b = HostDirBackend(root)
    yield b, root, secret
    b.close()


def _secret_untouched(secret: Path) -> None:
    s = secret.stat()
    assert secret.read_bytes() == b"TOP SECRET"
    assert (s.st_atime_ns, s.st_mtime_ns, s.st_nlink) == (T2, T2, 1)
    assert sorted(os.listdir(secret.parent)) == ["secret"]


def test_host_open_file_never_follows_planted_symlink(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    for flags in [
        {"read": True, "write": False},
        {"read": False, "write": False},
        {"read": True, "write": True},
        {"read": False, "write": True, "truncate": True},
        {"read": False, "write": True, "create": True},
    ]:
        assert err(b.open_file, r, "to-secret", **flags) == errno.ELOOP, flags
    assert err(b.open_file, r, "to-outside", read=True, write=False) == errno.ELOOP
    _secret_untouched(secret)


def test_host_open_dir_never_follows_planted_symlink(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    for name in ["to-outside", "up"]:
        assert err(b.open_dir, r, name) in (errno.ELOOP, errno.ENOTDIR)
    # mutating through the link's name acts on the link only
    assert err(b.mkdir, r, "up") == errno.EEXIST
    assert err(b.rmdir, r, "up") == errno.ENOTDIR
    _secret_untouched(secret)


def test_host_set_times_and_link_act_on_the_symlink(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    b.set_times(r, "to-secret", T1, T1)
    assert os.lstat(root / "to-secret").st_mtime_ns == T1
    b.link(r, "to-secret", r, "hard")
    assert os.path.islink(root / "hard")
    assert os.lstat(root / "hard").st_ino == os.lstat(root / "to-secret").st_ino
    b.rename(r, "to-secret", r, "moved")
    b.unlink(r, "moved")
    b.unlink(r, "hard")
    _secret_untouched(secret)


def test_host_readlink_shows_target_without_reading_it(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    assert b.readlink(r, "to-secret") == str(secret)
    s = b.lstat(r, "to-secret")
    assert s.filetype == LNK
    assert s.size == len(str(secret).encode())
    assert s.ino != os.stat(secret).st_ino
    assert sorted((n, t) for n, _i, t in b.listdir(r)) == [
        ("to-outside", LNK), ("to-secret", LNK), ("up", LNK),
    ]
    _secret_untouched(secret)


@pytest.mark.parametrize("name", ["../outside/secret", "..", "/etc/passwd", "a/../..", "x\0y"])
def test_host_rejects_names_that_are_paths(host: Any, name: str) -> None:
    # the resolver never sends these; the backend refuses them anyway
    b, root, secret = host
    r = b.root()
    calls: list[Callable[[], object]] = [
        lambda: b.lstat(r, name),
        lambda: b.open_dir(r, name),
        lambda: b.readlink(r, name),
        lambda: b.open_file(r, name, read=True, write=True, create=True),
        lambda: b.mkdir(r, name),
        lambda: b.rmdir(r, name),
        lambda: b.unlink(r, name),
        lambda: b.rename(r, "to-secret", r, name),
        lambda: b.rename(r, name, r, "stolen"),
        lambda: b.link(r, name, r, "stolen"),
        lambda: b.symlink("x", r, name),
        lambda: b.set_times(r, name, T1, T1),
    ]
    for call in calls:
        assert err(call) == errno.EINVAL
    _secret_untouched(secret)
    assert os.path.islink(root / "to-secret")


def test_host_handle_survives_swap_for_symlink(host: Any) -> None:
    # A directory replaced on the host by a symlink after open_dir: the fd still means the
    # original directory, so nothing lands outside.
    b, root, secret = host
    r = b.root()
    b.mkdir(r, "d")
    h = b.open_dir(r, "d")
    try:
        os.rename(root / "d", root / "d-moved")
        (root / "d").symlink_to(secret.parent)
        put(b, h, "new", b"inside")
        assert b.listdir(h)[0][0] == "new"
        assert (root / "d-moved" / "new").read_bytes() == b"inside"
        assert err(b.open_file, h, "secret", read=True, write=False) == errno.ENOENT
    finally:
        b.release_dir(h)
    _secret_untouched(secret)


def test_host_listdir_ignores_moved_fd_offset(host: Any) -> None:
    # scandir(fd) reads through a dup sharing the fd's offset; a listing left unfinished
    # must not make the next one start midway
    b, _root, _secret = host
    r = b.root()
    for i in range(200):
        put(b, r, f"entry-with-a-longish-name-{i:04}")
    with os.scandir(r) as unfinished:
        next(unfinished)
        assert len(b.listdir(r)) == 203


def test_host_arbitrary_byte_names_round_trip(host: Any) -> None:
    b, root, _secret = host
    raw = b"caf\xe9-\xff\xfe"
    fd = os.open(os.fsencode(root) + b"/" + raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"bytes")
    os.close(fd)
    r = b.root()
    (name,) = [n for n, _i, _t in b.listdir(r) if n not in ("to-secret", "to-outside", "up")]
    assert os.fsencode(name) == raw
    assert get(b, r, name) == b"bytes"
    b.rename(r, name, r, name + "2")
    assert os.path.exists(os.fsencode(root) + b"/" + raw + b"2")


def test_host_fifo_does_not_hang(host: Any) -> None:
    b, root, _secret = host
    os.mkfifo(root / "fifo")
    assert b.lstat(b.root(), "fifo").filetype == Filetype.UNKNOWN
    old = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("open_file blocked on a FIFO"))
    signal.alarm(5)
    try:
        f = b.open_file(b.root(), "fifo", read=True, write=False)
        f.close()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_host_no_fd_leaks(host: Any) -> None:
    b, root, _secret = host
    r = b.root()
    b.mkdir(r, "d")
    put(b, r, "f", b"x")
    before = _open_fds()
    for _ in range(20):
        err(b.open_file, r, "d", read=True, write=False)  # opened, then refused as EISDIR
        err(b.open_file, r, "to-secret", read=True, write=False)
        err(b.open_dir, r, "f")
        b.listdir(r)
        b.release_dir(b.open_dir(r, "d"))
        b.open_file(r, "f", read=True, write=False).close()
    assert _open_fds() == before


def test_host_close_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    b = HostDirBackend(tmp_path / "root")
    b.close()
    b.close()
    assert err(b.root) == errno.EBADF


def test_host_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    assert err(HostDirBackend, tmp_path / "file") == errno.ENOTDIR
    assert err(HostDirBackend, tmp_path / "missing") == errno.ENOENT


def test_host_from_osfs(tmp_path: Path) -> None:
    from fs.osfs import OSFS

    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"via osfs")
    os.symlink("/etc/passwd", root / "l")
    with OSFS(str(root)) as osfs:
        b = HostDirBackend.from_osfs(osfs, readonly=True)
        try:
            r = b.root()
            assert get(b, r, "f") == b"via osfs"
            assert err(b.open_file, r, "l", read=True, write=False) == errno.ELOOP
            assert err(b.unlink, r, "f") == errno.EROFS
        finally:
            b.close()


def test_host_listdir_reports_fifo_unfollowed(host: Any) -> None:
    # FIFOs and sockets come back as their own types (or UNKNOWN), never followed
    b, root, _secret = host
    os.mkfifo(root / "fifo")
    types = {n: t for n, _i, t in b.listdir(b.root())}
    assert types["fifo"] == b.lstat(b.root(), "fifo").filetype
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)


# --- device numbers ------------------------------------------------------------------------------


def test_every_mount_kind_reports_its_own_device(tmp_path):
    # Guest code tells files apart by (dev, ino): cycle detection, samefile, find -xdev. Every
    # mount, of every kind, must report a device no other mount has, even where root inode
    # numbers coincide (they often are 1).
    from conftest import make_mount
    from fs.memoryfs import MemoryFS
    from fs.mountfs import MountFS
    from fsops import FSOPS

    kinds = ["host", "memory", "memory", "zip", "tar", "zip-rw", "tar-rw", "overlay-host",
             "overlay-memory", "fsspec"]
    for i in range(len(kinds)):
        (tmp_path / str(i)).mkdir()
    mounts = {f"/m{i}": make_mount(k, tmp_path / str(i), {"f": b"x"}) for i, k in enumerate(kinds)}
    pyfs = MountFS()
    pyfs.mount("/inner", MemoryFS())
    preopens = {g: m.preopen for g, m in mounts.items()} | {"/pyfs": pyfs}
    script = "\n".join(f"ino {fd} ." for fd in range(3, 3 + len(preopens))) + "\n"
    import vfswasi

    result = vfswasi.run(FSOPS, args=["fsops"], preopens=preopens, stdin=script.encode())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [f"ok #{k}" for k in range(1, 12)]
