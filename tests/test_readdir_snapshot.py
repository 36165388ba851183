"""fd_readdir's snapshot: packed once per rewind, then sliced per call.

The bytes every call hands the guest are compared with a reference that packs each dirent
as fd_readdir did before the snapshot was kept packed (entry by entry, the last one cut at
the end of the buffer), for every cookie and every buffer size; and the backend is listed
once per rewind, not once per call.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vfswasi.abi import DIRENT, Filetype, Rights
from vfswasi.backends.hostdir import HostDirBackend
from vfswasi.backends.memory import MemoryBackend
from vfswasi.fdtable import DirEntry, FdTable
from vfswasi.guestmem import encode_path
from vfswasi.syscalls.fd import fd_readdir

NAMES = ["a", "bb", "é" * 20, "x" * 255, "z.txt", "dir", "Q"] + [f"n{i:03}" for i in range(40)]


def _reference(listing: list[tuple[str, int, int]], cookie: int, buf_len: int) -> bytes:
    out = b""
    for index in range(cookie, len(listing)):
        if len(out) >= buf_len:
            break
        name, ino, ftype = listing[index]
        raw = encode_path(name)
        out += DIRENT.whole.pack(index + 1, ino, len(raw), ftype) + raw
    return out[:buf_len]


class Counting(HostDirBackend):
    listings = 0

    def listdir(self, h: int) -> list[tuple[str, int, int]]:
        self.listings += 1
        return super().listdir(h)


def _backend(kind: str, tmp_path: Path) -> Any:
    if kind == "host":
        for name in NAMES:
            if name == "dir":
                (tmp_path / name).mkdir()
            else:
                (tmp_path / name).write_bytes(b"")
        os.symlink("a", tmp_path / "link")
        return Counting(tmp_path)
    backend = MemoryBackend()
    root = backend.root()
    for name in NAMES:
        if name == "dir":
            backend.mkdir(root, name)
        else:
            backend.open_file(root, name, read=False, write=True, create=True,
                              exclusive=True, truncate=False).close()
    return backend


class Guest:
    """Just what fd_readdir uses of a Context: the fd table and a guest memory."""

    def __init__(self, backend: Any) -> None:
        self.memory = bytearray(70_000)
        view = memoryview(self.memory)
        self.ctx = SimpleNamespace(fds=FdTable(), mem=SimpleNamespace(
            slice=lambda ptr, length: view[ptr : ptr + length]))
        self.entry = DirEntry(backend, backend.root(), Rights.FD_READDIR, 0, owned=False)
        self.fd = self.ctx.fds.insert(self.entry)

    def readdir(self, cookie: int, buf_len: int) -> bytes:
        self.memory[:buf_len] = b"\xaa" * buf_len
        used = fd_readdir(self.ctx, self.fd, 0, buf_len, cookie, 65_000)
        assert self.memory[used:buf_len] == b"\xaa" * (buf_len - used)  # nothing past bufused
        return bytes(self.memory[:used])


@pytest.mark.parametrize("kind", ["host", "memory"])
def test_every_cookie_and_buffer_size_as_the_entry_by_entry_packing(kind: str,
                                                                   tmp_path: Path) -> None:
    backend = _backend(kind, tmp_path)
    guest = Guest(backend)
    whole = guest.readdir(0, 65_000)
    me = backend.stat_dir(backend.root()).ino
    listing = [(".", me, int(Filetype.DIRECTORY)), ("..", me, int(Filetype.DIRECTORY))]
    listing += sorted(backend.listdir(backend.root()))
    assert whole == _reference(listing, 0, 65_000)
    total = len(whole)
    for cookie in range(len(listing) + 3):
        for buf_len in [*range(0, 60), *range(total - 300, total + 30, 7), 1 << 16]:
            if buf_len < 0:
                continue
            assert guest.readdir(cookie, buf_len) == _reference(listing, cookie, buf_len), (
                cookie, buf_len)
    assert guest.readdir(1 << 63, 100) == b""


def test_listed_once_per_rewind(tmp_path: Path) -> None:
    backend = _backend("host", tmp_path)
    guest = Guest(backend)
    cookie, seen = 0, []
    while True:  # as wasi-libc reads: small buffers, each call from the last d_next
        chunk = guest.readdir(cookie, 300)
        if not chunk:
            break
        offset = 0
        while offset + DIRENT.size <= len(chunk):
            d_next, _ino, namlen, _type = DIRENT.whole.unpack_from(chunk, offset)
            if offset + DIRENT.size + namlen > len(chunk):
                break  # cut: read again from this entry
            seen.append(chunk[offset + DIRENT.size : offset + DIRENT.size + namlen])
            cookie = d_next
            offset += DIRENT.size + namlen
    assert len(seen) == len(NAMES) + 3  # ".", ".." and the link
    assert backend.listings == 1
    # a rewind takes a new snapshot, which sees a file created meanwhile
    (tmp_path / "new").write_bytes(b"")
    assert b"new" not in guest.readdir(2, 65_000)  # the old snapshot, still
    assert b"new" in guest.readdir(0, 65_000)
    assert backend.listings == 2
