"""A complete vfswasi backend in ~200 lines, built only from vfswasi's public names: a tree of
Python objects in memory. It is what a user writes to serve their own storage to a guest, and
it passes `vfswasi.testing.BackendContract` (tests/test_backend_contract.py runs it):

    class TestDictBackend(BackendContract):
        charges_storage = True
        uses_clock = True
        def make_backend(self):
            return DictBackend()

The backend answers one directory entry at a time (the resolver walks paths and follows
symlinks itself). It writes primitives only (`_open_file`, `_mkdir`, `_pread`, ...):
`vfswasi.vfs.Backend` and `FileHandle` check read-only mounts, handle modes and open(2)'s
errno once, above it; for rename it gathers facts and lets `vfswasi.posix.rename_error`
decide, as vfswasi's own backends do. A directory handle is the directory's `Node`.

    python examples/dict_backend.py        # runs a guest on it
"""

from __future__ import annotations

import errno
import itertools
import time

from vfswasi.abi import Filetype
from vfswasi.posix import rename_error
from vfswasi.quota import StorageAccount
from vfswasi.vfs import Backend, Clock, FileHandle, Stat, new_device, oserror

REG, DIR, LNK = Filetype.REGULAR_FILE, Filetype.DIRECTORY, Filetype.SYMBOLIC_LINK


class Node:
    """A file (`data`), directory (`entries`) or symlink (`target`)."""

    def __init__(self, kind: int, ino: int, now: int, parent: Node | None = None) -> None:
        self.kind, self.ino, self.nlink = kind, ino, 1
        self.data = bytearray()
        self.entries: dict[str, Node] = {}
        self.target = ""
        self.parent = parent  # directories only: for "is this below that?" in rename
        self.atim = self.mtim = self.ctim = now


class DictFile(FileHandle):
    def __init__(self, backend: DictBackend, node: Node, *, read: bool, write: bool) -> None:
        self.backend, self.node, self.readable, self.writable = backend, node, read, write

    # The primitives: `FileHandle`'s public calls check the mode (EBADF) and call these.
    def _pread(self, buf: memoryview, offset: int) -> int:
        chunk = self.node.data[offset:offset + len(buf)]
        buf[:len(chunk)] = chunk
        return len(chunk)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        data = bytes(data)
        self._resize(max(len(self.node.data), offset + len(data)))  # zeros past EOF
        self.node.data[offset:offset + len(data)] = data
        return len(data)

    def _truncate(self, size: int) -> None:
        self._resize(size)

    def _resize(self, size: int) -> None:
        data = self.node.data
        self.backend.charge(size - len(data))  # before growing: ENOSPC leaves it as it was
        if size < len(data):
            del data[size:]
        else:
            data.extend(bytes(size - len(data)))
        self.node.mtim = self.node.ctim = self.backend.now()

    def stat(self) -> Stat:
        return self.backend.stat_of(self.node)

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        self.backend.touch(self.node, atim, mtim)


class DictBackend(Backend):
    def __init__(self) -> None:
        self.dev = new_device()  # every mount its own device number
        self.inos = itertools.count(1)
        self.now = time.time_ns
        self.storage: StorageAccount | None = None
        self.top = Node(DIR, next(self.inos), self.now())

    # --- what vfswasi hands every mount before the guest runs ---------------------------------

    def use_storage(self, account: StorageAccount | None) -> None:
        self.storage = account

    def use_clock(self, clock: Clock) -> None:
        self.now = clock.time_ns

    def charge(self, nbytes: int, inodes: int = 0) -> None:
        if self.storage is not None:
            self.storage.charge(nbytes, inodes)  # ENOSPC, counting nothing, when it is full

    # --- helpers --------------------------------------------------------------------------------

    def stat_of(self, n: Node) -> Stat:
        size = len(n.target.encode()) if n.kind == LNK else len(n.data)
        return Stat(self.dev, n.ino, n.kind, n.nlink, size, n.atim, n.mtim, n.ctim)

    def touch(self, n: Node, atim: int | None, mtim: int | None) -> None:
        n.atim = n.atim if atim is None else atim
        n.mtim = n.mtim if mtim is None else mtim
        n.ctim = self.now()

    @staticmethod
    def entry(d: Node, name: str) -> Node:
        if name not in d.entries:
            raise oserror(errno.ENOENT, name)
        return d.entries[name]

    def add(self, d: Node, name: str, kind: int) -> Node:
        if name in d.entries:
            raise oserror(errno.EEXIST, name)
        self.charge(0, 1)
        node = d.entries[name] = Node(kind, next(self.inos), self.now(), d)
        d.mtim = d.ctim = node.mtim
        return node

    def drop(self, d: Node, name: str) -> None:
        node = d.entries.pop(name)
        node.nlink -= 1
        node.ctim = d.mtim = d.ctim = self.now()
        if node.nlink == 0:  # its last name: its storage comes back
            self.charge(-len(node.data) - len(node.target.encode()), -1)
        else:
            self.charge(0, -1)

    @staticmethod
    def below(d: Node | None, top: Node) -> bool:
        while d is not None:
            if d is top:
                return True
            d = d.parent
        return False

    # --- the protocol (see vfswasi.vfs.Backend) ---------------------------------------------

    def root(self) -> Node:
        return self.top

    def lstat(self, d: Node, name: str) -> Stat:
        return self.stat_of(self.entry(d, name))

    def open_dir(self, d: Node, name: str) -> Node:
        n = self.entry(d, name)
        if n.kind != DIR:
            raise oserror(errno.ELOOP if n.kind == LNK else errno.ENOTDIR, name)
        return n

    def dup_dir(self, h: Node) -> Node:
        return h  # nothing to release: a plain reference

    def readlink(self, d: Node, name: str) -> str:
        n = self.entry(d, name)
        if n.kind != LNK:
            raise oserror(errno.EINVAL, name)
        return n.target

    def stat_dir(self, h: Node) -> Stat:
        return self.stat_of(h)

    def listdir(self, h: Node) -> list[tuple[str, int, int]]:
        return [(name, n.ino, n.kind) for name, n in h.entries.items()]

    # --- the mutating primitives: `Backend`'s public calls answer EROFS on a read-only
    # mount and decide open(2)'s errno (`posix.open_error`) before calling these.

    def _set_dir_times(self, h: Node, atim: int | None, mtim: int | None) -> None:
        self.touch(h, atim, mtim)

    def _open_file(self, d: Node, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> DictFile:
        n = d.entries.get(name)  # kind None: missing, and create is set
        if n is None:
            n = self.add(d, name, REG)
        f = DictFile(self, n, read=read, write=write)
        if truncate:
            f._resize(0)
        return f

    def _mkdir(self, d: Node, name: str) -> None:
        self.add(d, name, DIR)

    def _rmdir(self, d: Node, name: str) -> None:
        n = self.entry(d, name)
        if n.kind != DIR:
            raise oserror(errno.ENOTDIR, name)
        if n.entries:
            raise oserror(errno.ENOTEMPTY, name)
        self.drop(d, name)

    def _unlink(self, d: Node, name: str) -> None:
        if self.entry(d, name).kind == DIR:
            raise oserror(errno.EISDIR, name)
        self.drop(d, name)

    def _rename(self, d1: Node, n1: str, d2: Node, n2: str) -> None:
        src, dst = self.entry(d1, n1), d2.entries.get(n2)
        if src is dst:
            return  # one entry under two names (or the same name): POSIX does nothing
        err = rename_error(src.kind == DIR, None if dst is None else dst.kind,
                           dst_is_empty=lambda: not dst.entries,
                           src_contains_dst_dir=lambda: self.below(d2, src),
                           dst_contains_src_dir=lambda: self.below(d1, dst))
        if err is not None:
            raise oserror(err, n2)
        if dst is not None:
            self.drop(d2, n2)
        del d1.entries[n1]
        d2.entries[n2] = src
        if src.kind == DIR:
            src.parent = d2
        src.ctim = d1.mtim = d1.ctim = d2.mtim = d2.ctim = self.now()

    def _link(self, d1: Node, n1: str, d2: Node, n2: str) -> None:
        src = self.entry(d1, n1)
        if n2 in d2.entries:
            raise oserror(errno.EEXIST, n2)
        if src.kind == DIR:
            raise oserror(errno.EPERM, n1)
        self.charge(0, 1)
        d2.entries[n2] = src
        src.nlink += 1
        src.ctim = d2.mtim = d2.ctim = self.now()

    def _symlink(self, target: str, d: Node, name: str) -> None:
        if name in d.entries:
            raise oserror(errno.EEXIST, name)
        self.charge(len(target.encode()))
        try:
            self.add(d, name, LNK).target = target
        except OSError:
            self.charge(-len(target.encode()))
            raise

    def _set_times(self, d: Node, name: str, atim: int | None, mtim: int | None) -> None:
        self.touch(self.entry(d, name), atim, mtim)


if __name__ == "__main__":
    import vfswasi
    from vfswasi.demo import INVENTORY

    backend = DictBackend()
    data = backend.open_file(backend.root(), "notes.txt", read=False, write=True, create=True)
    data.write(b"served from a dict\n", 0)
    data.close()
    result = vfswasi.run(INVENTORY, args=["inventory", "/data"], preopens={"/data": backend})
    print(result.stdout.decode(), end="")
