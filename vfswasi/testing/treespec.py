"""Filesystem trees as plain data: build them into a `MemoryFS` or a host directory, read
them back, compare them.

A *tree spec* is a dict from entry name to

- `bytes`: a regular file with that content,
- a dict: a directory (a tree spec itself),
- `Symlink(target)`: a symbolic link (the target is stored verbatim, never checked),
- `HardLink(path)`: one more name of the file or symlink at `path` ("/"-separated, from the
  tree's root; it may be another `HardLink`, but not a directory).

    {"README": b"hi\\n", "src": {"main.c": b"int main;"}, "latest": Symlink("src/main.c")}

Everything here works through vfswasi's own backends (`vfswasi.vfs.Backend`), so a tree
written into a `MemoryFS` has real symlinks, hard links and inode numbers (kept on the
MemoryFS entries by `vfswasi.backends.memory.MemoryBackend`), and a host directory is
written and read without ever following a symlink.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

from fs.memoryfs import MemoryFS

from ..abi import Filetype
from ..backends.hostdir import HostDirBackend
from ..backends.memory import MemoryBackend
from ..vfs import Backend, DirHandle, walk

__all__ = [
    "HardLink",
    "Symlink",
    "Tree",
    "TreeSource",
    "build_memfs",
    "hard_links",
    "read_tree",
    "tree_paths",
    "write_tree",
]


@dataclass(frozen=True)
class Symlink:
    """A symbolic link to `target` (relative targets resolve from the link's directory)."""

    target: str


@dataclass(frozen=True)
class HardLink:
    """Another name of the file or symlink at `path` (from the tree's root, "/"-separated)."""

    path: str


Tree: TypeAlias = dict[str, Union[bytes, "Tree", Symlink, HardLink]]
#: where a tree can live: a MemoryFS, a host directory, or any vfswasi backend
TreeSource: TypeAlias = MemoryFS | str | os.PathLike[str] | Backend


@contextmanager
def _backend(where: TreeSource) -> Iterator[Backend]:
    """A backend over `where`; closed afterwards when we made it (never a caller's)."""
    if isinstance(where, Backend):
        yield where
        return
    backend: Backend
    if isinstance(where, MemoryFS):
        backend = MemoryBackend(where)
    elif isinstance(where, (str, os.PathLike)):
        backend = HostDirBackend(where)
    else:
        raise TypeError(f"not a MemoryFS, host directory or vfswasi Backend: {where!r}")
    try:
        yield backend
    finally:
        backend.close()


# --- writing ---------------------------------------------------------------------------------------


def build_memfs(spec: Tree, memfs: MemoryFS | None = None) -> MemoryFS:
    """A `MemoryFS` holding `spec` (added to `memfs` when given, else to a new one)."""
    memfs = MemoryFS() if memfs is None else memfs
    write_tree(spec, memfs)
    return memfs


def write_tree(spec: Tree, where: TreeSource) -> None:
    """Create the entries of `spec` in `where` (which must not hold them yet)."""
    links: dict[str, str] = {}  # new path -> existing path, made once everything else exists
    with _backend(where) as backend:
        root = backend.root()
        _write(backend, root, spec, "", links)
        while links:
            ready = [(new, old) for new, old in links.items() if old not in links]
            if not ready:
                raise ValueError(f"hard links in a cycle: {sorted(links)}")
            for new, old in ready:
                with _walk_down(backend, root, _split(old)[0]) as src, \
                        _walk_down(backend, root, _split(new)[0]) as dst:
                    backend.link(src, _split(old)[1], dst, _split(new)[1])
                del links[new]


def _split(path: str) -> tuple[list[str], str]:
    *dirs, last = path.strip("/").split("/")
    return dirs, last


def _write(backend: Backend, root: DirHandle, spec: Tree, prefix: str,
           links: dict[str, str]) -> None:
    """Make `spec` in `root`, depth first in dict order. An explicit stack of (the rest of a
    directory's entries, its handle, its path prefix), not recursion: a tree may be deeper
    than Python's recursion limit."""
    stack: list[tuple[Iterator[tuple[str, Any]], DirHandle, str]] = [
        (iter(spec.items()), root, prefix)]
    try:
        while stack:
            entries, d, here = stack[-1]
            for name, value in entries:
                if isinstance(value, dict):
                    _check_name(name, here)
                    backend.mkdir(d, name)
                    stack.append((iter(value.items()), backend.open_dir(d, name),
                                  f"{here}{name}/"))
                    break  # its entries first, then the rest of this directory's
                _write_entry(backend, d, name, value, here, links)
            else:
                stack.pop()
                if stack:  # `root` is the caller's
                    backend.release_dir(d)
    finally:
        for _, d, _ in reversed(stack[1:]):
            backend.release_dir(d)


def _write_entry(backend: Backend, d: DirHandle, name: str, value: Any, prefix: str,
                 links: dict[str, str]) -> None:
    """Make entry `name` (not a directory) of `d`, at `prefix`, from its spec `value`."""
    _check_name(name, prefix)
    if isinstance(value, Symlink):
        backend.symlink(value.target, d, name)
    elif isinstance(value, HardLink):
        links[prefix + name] = value.path.strip("/")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        f = backend.open_file(d, name, read=False, write=True, create=True, exclusive=True)
        try:
            f.write(bytes(value), 0)
        finally:
            f.close()
    else:
        raise TypeError(f"{prefix}{name}: not bytes, a dict, Symlink or HardLink: {value!r}")


def _check_name(name: str, prefix: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a single entry name: {prefix}{name!r}")


@contextmanager
def _walk_down(backend: Backend, root: DirHandle, names: list[str]) -> Iterator[DirHandle]:
    """The directory root/names[0]/names[1]/... (no symlinks followed)."""
    opened: list[DirHandle] = []
    d = root
    try:
        for name in names:
            d = backend.open_dir(d, name)
            opened.append(d)
        yield d
    finally:
        for h in reversed(opened):
            backend.release_dir(h)


# --- reading ----------------------------------------------------------------------------------------


def read_tree(where: TreeSource, *, hard_links: bool = False) -> Tree:
    """The tree in `where` as a spec: names sorted, files as bytes, symlinks as `Symlink`.

    With `hard_links=True` every name of a multiply-linked file after the first (in sorted
    depth-first order) is a `HardLink` to the first, so `write_tree` reproduces the tree
    exactly; by default every name shows the content, which is what assertions usually want
    (`hard_links()` lists which names are one file).
    """
    with _backend(where) as backend:
        return _read(backend, backend.root(), "", {} if hard_links else None)


def _read(backend: Backend, root: DirHandle, prefix: str, seen: dict[int, str] | None) -> Tree:
    """The tree below `root`, depth first, names sorted. An explicit stack of (the rest of a
    directory's entries or None before it is listed, its handle, its path prefix, its spec),
    not recursion: a tree may be deeper than Python's recursion limit."""
    tree: Tree = {}
    stack: list[tuple[Iterator[tuple[str, int, int]] | None, DirHandle, str, Tree]] = [
        (None, root, prefix, tree)]
    try:
        while stack:
            entries, d, here, out = stack[-1]
            if entries is None:
                entries = iter(sorted(backend.listdir(d)))
                stack[-1] = (entries, d, here, out)
            for name, _ino, ftype in entries:
                if ftype == Filetype.DIRECTORY:
                    out[name] = sub = {}
                    stack.append((None, backend.open_dir(d, name), f"{here}{name}/", sub))
                    break  # its entries first, then the rest of this directory's
                out[name] = _read_entry(backend, d, name, ftype, here + name, seen)
            else:
                stack.pop()
                if stack:  # `root` is the caller's
                    backend.release_dir(d)
    finally:
        for _, d, _, _ in reversed(stack[1:]):
            backend.release_dir(d)
    return tree


def _read_entry(backend: Backend, d: DirHandle, name: str, ftype: int, path: str,
                seen: dict[int, str] | None) -> bytes | Symlink | HardLink:
    """Entry `name` (not a directory) of `d`, at `path`, as a spec value."""
    if seen is not None:
        st = backend.lstat(d, name)
        if st.nlink > 1:
            first = seen.setdefault(st.ino, path)
            if first != path:
                return HardLink(first)
    if ftype == Filetype.SYMBOLIC_LINK:
        return Symlink(backend.readlink(d, name))
    if ftype == Filetype.REGULAR_FILE:
        return _read_file(backend, d, name)
    raise ValueError(f"{path}: neither file, directory nor symlink (filetype {ftype})")


def _read_file(backend: Backend, d: DirHandle, name: str) -> bytes:
    f = backend.open_file(d, name, read=True, write=False)
    try:
        chunks, offset = [], 0
        while True:
            buf = bytearray(max(f.stat().size - offset, 0) + 1)  # +1: see EOF in one call
            n = f.readinto(memoryview(buf), offset)
            if n == 0:
                return b"".join(chunks)
            chunks.append(bytes(buf[:n]))
            offset += n
    finally:
        f.close()


def hard_links(where: TreeSource) -> list[tuple[str, ...]]:
    """Groups of paths that name one file (or symlink), each sorted, the list sorted;
    files with a single name are left out."""
    groups: dict[int, list[str]] = {}
    with _backend(where) as backend:
        for path, ino, ftype in _entries(backend, backend.root(), ""):
            if ftype != Filetype.DIRECTORY:
                groups.setdefault(ino, []).append(path)
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def _entries(backend: Backend, root: DirHandle, prefix: str) -> Iterator[tuple[str, int, int]]:
    """(path, inode, filetype) of every entry below `root`, depth first, names sorted."""
    for d, name, ftype, path in walk(backend, root, prefix):
        yield path, backend.lstat(d, name).ino, ftype  # lstat's is the authoritative number


def tree_paths(spec: Tree, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) of a spec, depth first in dict order (directories before their
    entries); paths are "/"-separated from the root."""
    stack = [(iter(spec.items()), prefix)]  # not recursion: specs may be deeper than it goes
    while stack:
        entries, here = stack[-1]
        for name, value in entries:
            path = here + name
            yield path, value
            if isinstance(value, dict):
                stack.append((iter(value.items()), path + "/"))
                break
        else:
            stack.pop()
