"""Permissions are enforced once, above storage (vfs.Backend and vfs.FileHandle).

A backend written from public names only — `vfswasi.vfs.Backend`/`FileHandle` and their
primitives, with no read-only check, no open(2) decision and no mode check of its own — must
answer a guest exactly as a read-only host directory does when it says `readonly = True`,
and must never see a mutating primitive called. Writable, the same backend then works, which
shows the primitives are the whole of what it had to write.
"""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Mount, Symlink, make_mount
from fsops import run_script

from vfswasi.abi import Filetype
from vfswasi.backends.hostdir import HostDirBackend
from vfswasi.vfs import Backend, FileHandle, Stat, new_device, oserror


class _Node:
    def __init__(self, ino: int, kind: int, target: str = "") -> None:
        self.ino = ino
        self.kind = kind
        self.data = bytearray()
        self.children: dict[str, _Node] = {}
        self.target = target
        self.mtim = time.time_ns()


class _BareFile(FileHandle):
    def __init__(self, backend: BareBackend, node: _Node, read: bool, write: bool) -> None:
        self._backend, self._node = backend, node
        self.readable, self.writable = read, write

    def _pread(self, buf: memoryview, offset: int) -> int:
        chunk = self._node.data[offset:offset + len(buf)]
        buf[:len(chunk)] = chunk
        return len(chunk)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        self._backend.calls.append("_pwrite")
        node = self._node
        if offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset:offset + len(data)] = data
        return len(data)

    def _truncate(self, size: int) -> None:
        self._backend.calls.append("_truncate")
        del self._node.data[size:]
        self._node.data.extend(bytes(size - len(self._node.data)))

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        self._backend.calls.append("file _set_times")
        if mtim is not None:
            self._node.mtim = mtim

    def stat(self) -> Stat:
        return self._backend._stat(self._node)


class BareBackend(Backend):
    """Storage only: a dict tree. Every mutating primitive notes that it was called."""

    def __init__(self, tree: dict[str, Any], *, readonly: bool) -> None:
        self.readonly = readonly
        self.calls: list[str] = []
        self._dev = new_device()
        self._inos = iter(range(1, 1 << 62))
        self._root = self._build(tree)

    def _build(self, tree: dict[str, Any]) -> _Node:
        d = _Node(next(self._inos), Filetype.DIRECTORY)
        for name, value in tree.items():
            if isinstance(value, dict):
                d.children[name] = self._build(value)
            elif isinstance(value, Symlink):
                d.children[name] = _Node(next(self._inos), Filetype.SYMBOLIC_LINK,
                                         value.target)
            else:
                f = d.children[name] = _Node(next(self._inos), Filetype.REGULAR_FILE)
                f.data[:] = value
        return d

    def _stat(self, n: _Node) -> Stat:
        size = len(n.target) if n.kind == Filetype.SYMBOLIC_LINK else len(n.data)
        return Stat(self._dev, n.ino, n.kind, 1, size, n.mtim, n.mtim, n.mtim)

    def _get(self, d: _Node, name: str) -> _Node:
        if name not in d.children:
            raise oserror(errno.ENOENT, name)
        return d.children[name]

    def root(self) -> _Node:
        return self._root

    def lstat(self, d: _Node, name: str) -> Stat:
        return self._stat(self._get(d, name))

    def open_dir(self, d: _Node, name: str) -> _Node:
        n = self._get(d, name)
        if n.kind != Filetype.DIRECTORY:
            raise oserror(errno.ENOTDIR, name)
        return n

    def readlink(self, d: _Node, name: str) -> str:
        n = self._get(d, name)
        if n.kind != Filetype.SYMBOLIC_LINK:
            raise oserror(errno.EINVAL, name)
        return n.target

    def stat_dir(self, h: _Node) -> Stat:
        return self._stat(h)

    def listdir(self, h: _Node) -> list[tuple[str, int, int]]:
        return [(name, n.ino, n.kind) for name, n in h.children.items()]

    # the primitives: no permission, no POSIX decision the base class makes

    def _open_file(self, d: _Node, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> _BareFile:
        if write or create or truncate:
            self.calls.append("_open_file for writing")
        if kind is None:
            d.children[name] = _Node(next(self._inos), Filetype.REGULAR_FILE)
        n = d.children[name]
        if truncate:
            n.data.clear()
        return _BareFile(self, n, read, write)

    def _mkdir(self, d: _Node, name: str) -> None:
        self.calls.append("_mkdir")
        if name in d.children:
            raise oserror(errno.EEXIST, name)
        d.children[name] = _Node(next(self._inos), Filetype.DIRECTORY)

    def _rmdir(self, d: _Node, name: str) -> None:
        self.calls.append("_rmdir")
        del d.children[name]

    def _unlink(self, d: _Node, name: str) -> None:
        self.calls.append("_unlink")
        self._get(d, name)  # ENOENT: a fact of the storage, the primitive's to tell
        del d.children[name]

    def _rename(self, d1: _Node, n1: str, d2: _Node, n2: str) -> None:
        self.calls.append("_rename")
        d2.children[n2] = d1.children.pop(n1)

    def _link(self, d1: _Node, n1: str, d2: _Node, n2: str) -> None:
        self.calls.append("_link")
        d2.children[n2] = d1.children[n1]

    def _symlink(self, target: str, d: _Node, name: str) -> None:
        self.calls.append("_symlink")
        d.children[name] = _Node(next(self._inos), Filetype.SYMBOLIC_LINK, target)

    def _set_times(self, d: _Node, name: str, atim: int | None, mtim: int | None) -> None:
        self.calls.append("_set_times")

    def _set_dir_times(self, h: _Node, atim: int | None, mtim: int | None) -> None:
        self.calls.append("_set_dir_times")


TREE: dict[str, Any] = {"a.txt": b"hello", "d": {"e": {}}, "full": {"x": b"x"}, "l": Symlink("a.txt")}

#: every mutation a guest can ask for, on present and missing names, of every kind, with the
#: cases where a rule other than read-only decides first (".", O_EXCL on an existing file,
#: reading what is missing); then the fd-level ones on an fd opened for reading
SCRIPT = """
open 3 a.txt rights read,write
open 3 a.txt rights write
open 3 new oflags creat rights write
open 3 new oflags creat
open 3 a.txt oflags trunc rights write
open 3 a.txt oflags creat,excl
open 3 l oflags creat,excl
open 3 d oflags creat,excl
open 3 missing
open 3 missing rights write
open 3 d rights write
open 3 l lookup nofollow rights write
mkdir 3 x
mkdir 3 d
mkdir 3 l
mkdir 3 .
rmdir 3 d/e
rmdir 3 full
rmdir 3 missing
rmdir 3 a.txt
unlink 3 a.txt
unlink 3 l
unlink 3 missing
unlink 3 d
rename 3 a.txt 3 b
rename 3 d 3 d2
rename 3 missing 3 b
rename 3 a.txt 3 d
link 3 a.txt 3 b
link 3 a.txt 3 d
link 3 missing 3 b
symlink a.txt 3 s
symlink a.txt 3 a.txt
settimes 3 a.txt 1 1 atim,mtim
settimes 3 l 1 1 mtim nofollow
settimes 3 . 1 1 mtim
settimes 3 missing 1 1 mtim
open 3 a.txt
fsettimes $12 1 1 atim
write $12 x
truncate $12 0
allocate $12 0 10
fsettimes 3 1 1 mtim
read $12 100
open 3 d lookup nofollow rights read
fsettimes $13 1 1 mtim
"""


def _outputs(tmp_path: Path, backend: Backend) -> list[str]:
    return run_script("host", Mount("host", backend), SCRIPT)


def test_a_backend_without_checks_answers_as_a_read_only_host_directory(tmp_path: Path) -> None:
    host = make_mount("host", tmp_path, TREE)
    want = _outputs(tmp_path, HostDirBackend(host.host_dir, readonly=True))
    bare = BareBackend(TREE, readonly=True)
    got = _outputs(tmp_path, bare)
    assert got == want
    assert bare.calls == []  # read-only was decided above the storage, every time
    # what Linux order gives, pinned (the host must not drift either)
    answers = dict(zip([line for line in SCRIPT.splitlines() if line], got, strict=True))
    assert answers["open 3 a.txt rights read,write"] == "err ROFS"
    assert answers["open 3 new oflags creat"] == "err ROFS"
    assert answers["open 3 a.txt oflags creat,excl"] == "err EXIST"
    assert answers["open 3 missing"] == "err NOENT"
    assert answers["open 3 d rights write"] == "err ISDIR"
    assert answers["open 3 l lookup nofollow rights write"] == "err LOOP"
    assert answers["mkdir 3 d"] == "err ROFS"
    assert answers["mkdir 3 ."] == "err EXIST"
    assert answers["unlink 3 missing"] == "err ROFS"
    assert answers["rename 3 missing 3 b"] == "err NOENT"
    assert answers["link 3 a.txt 3 d"] == "err EXIST"
    assert answers["settimes 3 missing 1 1 mtim"] == "err NOENT"
    assert answers["fsettimes $12 1 1 atim"] == "err ROFS"
    assert answers["write $12 x"] == "err NOTCAPABLE"
    assert answers["read $12 100"] == 'ok "hello"'
    assert answers["fsettimes $13 1 1 mtim"] == "err ROFS"


def test_the_same_backend_writable_reaches_its_primitives(tmp_path: Path) -> None:
    bare = BareBackend(TREE, readonly=False)
    out = run_script("host", Mount("host", bare), """
        open 3 new oflags creat rights read,write
        write $0 abc
        pread $0 10 0
        open 3 new oflags creat,excl
        open 3 d rights write
        mkdir 3 x
        mkdir 3 x
        unlink 3 a.txt
        unlink 3 missing
    """.split("\n"))
    assert [line for line in out] == [
        "ok 4", "ok 3", 'ok "abc"', "err EXIST", "err ISDIR", "ok", "err EXIST", "ok",
        "err NOENT"]
    assert bare.calls[:3] == ["_open_file for writing", "_pwrite", "_mkdir"]


@pytest.mark.parametrize("readonly", [True, False])
def test_the_handle_checks_its_mode_once(readonly: bool) -> None:
    """Called directly (not through the fd layer), a handle refuses what its mode excludes
    before its primitive runs; on a read-only mount even its times are EROFS."""
    bare = BareBackend(TREE, readonly=readonly)
    r = bare.root()
    f = bare.open_file(r, "a.txt", read=False, write=False)

    def err(call: Any, *args: Any, **kwargs: Any) -> int | None:
        try:
            call(*args, **kwargs)
        except OSError as e:
            return e.errno
        return None

    assert err(f.readinto, memoryview(bytearray(4)), 0) == errno.EBADF
    assert err(f.write, b"x", 0) == errno.EBADF
    assert err(f.truncate, 0) == errno.EBADF
    assert err(f.allocate, 0, 8) == errno.EBADF
    assert err(f.set_times, 1, 1) == (errno.EROFS if readonly else None)
    assert [c for c in bare.calls if c != "file _set_times"] == []
    assert err(bare.open_file, r, "l", read=True, write=False) == errno.ELOOP
    assert err(bare.open_file, r, "d", read=True, write=False) == errno.EISDIR
    assert err(bare.open_file, r, "nope", read=True, write=False) == errno.ENOENT
