"""The writable archive mount (`zip+rw://`, `tar+rw://`): `WritableArchiveBackend`.

The archive is loaded into a private in-memory tree (a `MemoryBackend` over a `MemoryFS`) and
served from there; when the backend is closed, and only if the guest changed anything, the
tree is packed into a new archive that replaces the original atomically (`archive_formats.
write_archive`, the same writer an overlay's export uses). What is kept, and how, is in
`archive.py`'s docstring.

Loading and packing walk the tree with explicit stacks: it may be deeper than Python's
recursion limit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from fs.memoryfs import MemoryFS

from ..abi import Filetype
from ..vfs import FileHandle
from .archive_formats import CHUNK, Entry, Member, normalize, write_archive
from .archive_index import ArchiveIndex, Node
from .archive_sources import compression_of_name, format_of_name, open_source, read_errors
from .memory import MemoryBackend


class _TrackedFile(FileHandle):
    """A MemoryBackend file that tells its backend when it changes something. It writes the
    primitives (`FileHandle`'s public calls check the mode above them) over its inner
    handle's; reads are the inner handle's own primitive, bound here (no extra call)."""

    def __init__(self, inner: FileHandle, backend: WritableArchiveBackend):
        self._inner = inner
        self._backend = backend
        self.readable = inner.readable
        self.writable = inner.writable
        self.readonly = inner.readonly
        self._pread = inner._pread  # type: ignore[method-assign]
        self.stat = inner.stat  # type: ignore[method-assign]
        self.sync = inner.sync  # type: ignore[method-assign]
        self.close = inner.close  # type: ignore[method-assign]

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        n = self._inner._pwrite(data, offset)
        self._backend.changed = True
        return n

    def _truncate(self, size: int) -> None:
        self._inner._truncate(size)
        self._backend.changed = True

    def _allocate(self, offset: int, length: int) -> None:
        before = self._inner.stat().size
        self._inner._allocate(offset, length)
        if self._inner.stat().size != before:
            self._backend.changed = True

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        self._inner._set_times(atim, mtim)
        self._backend.changed = True


def _changes(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a MemoryBackend mutation: once it succeeds, the archive needs writing back."""

    def wrapper(self: WritableArchiveBackend, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self.changed = True
        return result

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class WritableArchiveBackend(MemoryBackend):
    """A writable mount of the archive at `path`, written back on `close()` if changed (see the
    module docstring). `fmt` ("zip" / "tar") and `compression` (tar: "", "gz", "bz2", "xz")
    default to the existing archive's, else to what the file name says. `changed` says whether
    a write-back is due; `save()` writes back now."""

    def __init__(self, path: str | os.PathLike[str], *, fmt: str | None = None,
                 compression: str | None = None, subdir: str = ""):
        super().__init__(MemoryFS())
        self.path = os.path.realpath(os.fspath(path))  # replace the file a symlink names
        self._meta: dict[int, Member] = {}  # ino -> the member it was loaded from
        self._order: dict[int, int] = {}  # ino -> position of its member in the archive
        self._path_order: dict[str, tuple[int, int]] = {}  # path -> (its position, its ino)
        self._implicit: set[int] = set()  # inos of directories the archive only implied
        self.comment = b""
        if os.path.exists(self.path):
            source = open_source(self.path, fmt)
            try:
                self.format = source.format
                self.compression = source.compression if compression is None else compression
                self.comment = source.comment
                self._load(ArchiveIndex(source))
            finally:
                source.close()
        else:
            if not os.path.isdir(os.path.dirname(self.path)):
                raise FileNotFoundError(f"no directory for the archive: {self.path}")
            self.format = fmt or format_of_name(self.path) or "zip"
            self.compression = (compression_of_name(self.path) if compression is None
                                else compression)
        if self.format not in ("zip", "tar"):
            raise ValueError(f"unknown archive format {self.format!r} (zip or tar)")
        if self.compression not in ("", "gz", "bz2", "xz"):
            raise ValueError(f"unknown tar compression {self.compression!r}")
        self._top = super().root()
        self._mount_root = self._top
        for part in filter(None, (normalize(subdir) or "").split("/")):
            self._mount_root = MemoryBackend.open_dir(self, self._mount_root, part)
        self.changed = False
        self._closed = False

    def root(self) -> Any:
        return self._mount_root

    # --- loading ---------------------------------------------------------------------------------

    def _load(self, index: ArchiveIndex) -> None:
        if index.dropped or index.special:
            what = index.dropped + index.special
            raise ValueError(
                f"{self.path}: cannot mount writable: {len(what)} member(s) cannot be kept "
                f"on write-back (e.g. {what[0]!r}: a name outside the root, a device, a fifo "
                "or an encrypted member); mount it read-only")
        made: dict[int, tuple[Any, str]] = {}  # archive ino -> where its first name was made
        self._load_tree(index, made)
        self._remember(self.stat_dir(self._root).ino, index.root)
        MemoryBackend.set_dir_times(self, self._root, index.root.mtim, index.root.mtim)

    def _load_tree(self, index: ArchiveIndex, made: dict[int, tuple[Any, str]]) -> None:
        """Make the index's tree in memory, depth first in archive order; a directory's times
        are set once its content is made (making it moves them).

        An explicit stack, not recursion: a tree may be deeper than Python's recursion limit.
        A frame is (the rest of a directory's entries, its handle, its path, and for all but
        the root: (the parent's handle, its name there, its node) to finish it with)."""
        assert index.root.children is not None
        Frame = tuple[Iterator[tuple[str, Node]], Any, str, tuple[Any, str, Node] | None]
        stack: list[Frame] = [(iter(index.root.children.items()), self._root, "", None)]
        while stack:
            entries, d, dir_path, up = stack[-1]
            for name, child in entries:
                # one string per path, shared with `_path_order` (deep trees have long paths)
                path = f"{dir_path}/{name}" if dir_path else name
                if child.children is not None:
                    MemoryBackend.mkdir(self, d, name)
                    sub = MemoryBackend.open_dir(self, d, name)
                    stack.append((iter(child.children.items()), sub, path, (d, name, child)))
                    break  # its content first; it is finished when its frame is done
                if child.filetype == Filetype.SYMBOLIC_LINK:
                    MemoryBackend.symlink(self, child.target or "", d, name)
                elif child.ino in made:
                    MemoryBackend.link(self, *made[child.ino], d, name)
                else:
                    made[child.ino] = (d, name)
                    self._copy_in(index, child, d, name)
                self._loaded(index, d, name, child, path)
            else:
                stack.pop()
                if up is not None:
                    parent, name, node = up
                    MemoryBackend.set_dir_times(self, d, node.mtim, node.mtim)
                    self._loaded(index, parent, name, node, dir_path)

    def _loaded(self, index: ArchiveIndex, d: Any, name: str, child: Node, path: str) -> None:
        """Entry `name` of `d` (at `path`) is made from `child` (a directory: with its
        content): remember where it came from and set its times."""
        ino = MemoryBackend.lstat(self, d, name).ino
        self._remember(ino, child)
        order = index.name_order.get(path)
        if order is not None:
            self._path_order[path] = (order, ino)
        if child.children is None:
            MemoryBackend.set_times(self, d, name, child.mtim, child.mtim)

    def _copy_in(self, index: ArchiveIndex, node: Node, d: Any, name: str) -> None:
        f = MemoryBackend.open_file(self, d, name, read=False, write=True, create=True,
                                    exclusive=True)
        try:
            if node.size:
                buf = bytearray(min(CHUNK, node.size))
                stream = index.open(node)
                try:
                    offset = 0
                    with read_errors(name):
                        while n := stream.readinto(buf):
                            f.write(memoryview(buf)[:n], offset)
                            offset += n
                finally:
                    stream.close()
        finally:
            f.close()

    def _remember(self, ino: int, node: Node) -> None:
        if node.member is not None:
            self._meta[ino] = node.member
        if node.order >= 0:
            self._order.setdefault(ino, node.order)
        if node.implicit and node.children is not None:
            self._implicit.add(ino)

    # --- change tracking ----------------------------------------------------------------------------

    # The primitives, below `Backend`'s public checks: each that succeeds is a change.
    _mkdir = _changes(MemoryBackend._mkdir)
    _rmdir = _changes(MemoryBackend._rmdir)
    _unlink = _changes(MemoryBackend._unlink)
    _rename = _changes(MemoryBackend._rename)
    _link = _changes(MemoryBackend._link)
    _symlink = _changes(MemoryBackend._symlink)
    _set_times = _changes(MemoryBackend._set_times)
    _set_dir_times = _changes(MemoryBackend._set_dir_times)

    def _open_file(self, d: Any, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> FileHandle:
        f = super()._open_file(d, name, kind, read=read, write=write, create=create,
                               exclusive=exclusive, truncate=truncate)
        if kind is None or truncate:  # created, or emptied
            self.changed = True
        return _TrackedFile(f, self)

    # --- write-back ------------------------------------------------------------------------------

    def close(self) -> None:
        """Write the archive back if anything changed (once; see `save`)."""
        if self._closed:
            return
        self._closed = True
        super().close()
        if self.changed:
            self.save()

    def save(self) -> None:
        """Pack the tree into a new archive and move it over the original, atomically. On an
        error the original is untouched and `changed` stays True (call `save()` again)."""
        write_archive(self.path, self.format, self._entries(), compression=self.compression,
                      comment=self.comment)
        self.changed = False

    def _entries(self) -> list[Entry]:
        """Every entry below the archive root, parents first, in archive order (new ones last,
        in walk order). An entry's `file_id` is its inode number (so tar keeps hard links)."""
        entries: list[Entry] = []
        nonempty: set[int] = set()  # directories with something in them
        # Depth first, names sorted, with an explicit stack (the tree may be deeper than
        # Python's recursion limit): a frame is (the rest of a directory's entries, its
        # handle, its path).
        stack: list[tuple[Iterator[tuple[str, int, int]], Any, str]] = [
            (iter(sorted(MemoryBackend.listdir(self, self._top))), self._top, "")]
        while stack:
            names, d, dir_path = stack[-1]
            for name, _ino, ftype in names:
                path = f"{dir_path}/{name}" if dir_path else name
                st = MemoryBackend.lstat(self, d, name)
                member = self._meta.get(st.ino)
                e = Entry(path, st.filetype, st.mtim, st.size, file_id=st.ino, like=member,
                          mode=member.mode if member is not None else None)
                entries.append(e)
                if ftype == Filetype.DIRECTORY:
                    sub = MemoryBackend.open_dir(self, d, name)
                    listing = sorted(MemoryBackend.listdir(self, sub))
                    if listing:
                        nonempty.add(st.ino)
                    stack.append((iter(listing), sub, path))
                    break  # its content comes next, then the rest of this directory
                if ftype == Filetype.SYMBOLIC_LINK:
                    e.target = MemoryBackend.readlink(self, d, name)
                else:
                    e.open = self._opener(d, name)
            else:
                stack.pop()
        top = MemoryBackend.stat_dir(self, self._top)
        if self.format == "tar" and top.ino in self._meta:  # the archive had a "./" member
            member = self._meta[top.ino]
            entries.insert(0, Entry(".", top.filetype, top.mtim, file_id=top.ino, like=member,
                                    mode=member.mode))
        # A name the archive had, still on the same inode, keeps its member's position; an
        # inode none of whose names is where it was (renamed) keeps its first member's
        # position under its new name; anything else is new and goes last, in walk order.
        last = len(entries)
        kept = {e.file_id for e in entries
                if self._path_order.get(e.path, (0, None))[1] == e.file_id}

        def position(e: Entry) -> int:
            order, ino = self._path_order.get(e.path, (last, None))
            if ino == e.file_id:
                return order
            if e.file_id not in kept and e.file_id in self._order:
                kept.add(e.file_id)  # only one name takes the old place
                return self._order[e.file_id]
            return last

        positions = [position(e) for e in entries]  # in walk order, so "first name" is stable
        entries = [e for _, e in sorted(zip(positions, entries, strict=True),
                                        key=lambda pair: pair[0])]
        # an implied directory stays implied, unless nothing else would bring it back
        return [e for e in entries
                if not (e.filetype == Filetype.DIRECTORY and e.file_id in self._implicit
                        and e.file_id in nonempty)]

    def _opener(self, d: Any, name: str) -> Callable[[], FileHandle]:
        return lambda: MemoryBackend.open_file(self, d, name, read=True, write=False)
