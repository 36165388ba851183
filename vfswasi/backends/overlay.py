"""Overlay: a copy-on-write mount over any backend, so a guest can change real data safely.

    ov = vfswasi.overlay("./data")             # anything `open_backend` accepts
    vfswasi.run("prog.wasm", preopens={"/data": ov})
    ov.changes()                                # Changes(added=[...], modified=[...], deleted=[...])
    ov.export("changes.zip")                    # or a directory, a .tar, a .tar.gz

Two layers, as Linux's overlayfs: the *lower* (any `Backend`, only ever read) and the *upper*
(a `MemoryBackend` over a fresh `MemoryFS`) holding everything the guest made or changed.
A name is looked up in the upper first, then in the lower unless it is *whited out* there.

Each directory of the upper has a record (`_Rec`) the backend keeps beside it (whiteouts are
never entries, so no name is reserved from the guest):

    origin     the lower directory merged into it, as a path of names from the lower root; None
               for a directory the guest made, which is *opaque* (nothing of the lower shows
               through, not even where it replaced a removed lower directory). A renamed
               directory keeps its origin (overlayfs's "redirect_dir"): renaming a lower
               directory copies nothing below it.
    whiteouts  names of the origin hidden because the guest removed or renamed them away

Copy-up is lazy. Reading never changes the upper. A file or symlink is copied up (its bytes
into memory) on its first change: an open with write rights or O_TRUNC (which copies nothing),
set_times, a rename, a hard link. A directory is copied up (an empty upper directory recording
its origin) when something inside it changes, and its ancestors before it. A copy-up keeps the
entry's times and inode number, and leaves the parent's times alone: the guest sees nothing
happen. Read-only fds opened on the lower file are switched to the copy, so they see later
writes as POSIX wants. A lower file with several names (hard links) is copied once and its
other visible names become hard links to the copy in the upper (found by walking the merged
tree once, when the first of them is copied up).

Inode numbers: one device number for the whole mount; a lower entry shows the lower's inode
number (below 2**63), an entry the guest makes gets one from 2**63 up, and a copied-up entry
keeps the number it had in the lower (the upper's inode maps to it), so `d_ino` and `ino` never
change under the guest. Open directory handles are found again after renames by inode number.

Limits: the lower must not change while it is overlaid (as with overlayfs); a lower spanning
several host devices could show two entries with one inode number; once copied up, a file's
link count counts only its names inside the mount (a host file may have others elsewhere);
special files (FIFOs, devices) cannot be copied up (ENOTSUP when the guest would change one).

What the guest changed (`Overlay.changes()`) and its export as an OCI/overlayfs-style layer
(`Overlay.export(target)`: a directory, .zip, .tar, .tar.gz or .tgz) are `overlay_changes.py`'s.

Trees may be deeper than Python's recursion limit (a guest can make 10,000 nested directories):
every walk here (copy-up of ancestors, the hard-link search) uses an explicit stack.

This module stays over 600 lines: it is one class, the backend, whose parts (inode numbers,
the upper records, copy-up, the Backend operations) share its invariants and are read together.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fs.memoryfs import MemoryFS

from ..abi import Filetype
from ..posix import rename_error
from ..vfs import Backend, Clock, DirHandle, FileHandle, Stat, new_device, oserror
from .archive_formats import CHUNK
from .memory import MemoryBackend

# re-exported ("as" themselves): they were defined here before the move, and are imported
# from here
from .overlay_changes import Changes as Changes
from .overlay_changes import LowerPath, _Change, _read, changes, diff, export
from .overlay_changes import _remove_tree as _remove_tree

if TYPE_CHECKING:
    from ..quota import StorageAccount

_DIR, _REG, _LNK = Filetype.DIRECTORY, Filetype.REGULAR_FILE, Filetype.SYMBOLIC_LINK

#: lower inode numbers below this are shown as they are; the overlay numbers the rest from here
_SPLIT = 1 << 63


class _Rec:
    """What the overlay knows about one directory of the upper layer."""

    __slots__ = ("upper", "ino", "origin", "whiteouts", "parent", "size", "nlink", "touched")

    def __init__(self, upper: DirHandle, ino: int, origin: LowerPath | None,
                 parent: _Rec | None, size: int) -> None:
        # MemoryBackend handles hold no resources, so the record keeps one for its lifetime
        self.upper = upper
        self.ino = ino
        self.origin = origin
        self.whiteouts: set[str] = set()
        self.parent = parent  # the record of the directory holding it now (for rename checks)
        self.size = size  # what stat shows: the lower directory's size, 0 for new ones
        self.nlink: int | None = None  # merged link count, cached until an entry changes
        self.touched = False  # the guest set its times (a change even if no entry changed)


class _Node:
    """A directory as a handle found it: enough to find it again when it must be copied up.
    `lpath` is the path of its lower directory (its origin once copied up); `lstat` the
    lower's stat of it (None for directories found in the upper)."""

    __slots__ = ("ino", "name", "parent", "lpath", "lstat")

    def __init__(self, ino: int, name: str, parent: _Node | None, lpath: LowerPath | None,
                 lstat: Stat | None) -> None:
        self.ino = ino
        self.name = name
        self.parent = parent
        self.lpath = lpath
        self.lstat = lstat


class _Dir:
    """An overlay directory handle: its node, and the lower's handle of the directory merged
    into it (None when none is). Its upper side is `_recs[node.ino]`, once it has one."""

    __slots__ = ("node", "lower")

    def __init__(self, node: _Node, lower: DirHandle | None) -> None:
        self.node = node
        self.lower = lower


class _File(FileHandle):
    """An open file of either layer, shown with the overlay's inode and device numbers.

    A file opened without write rights on the lower reads the lower's handle until the file is
    copied up; the copy-up then switches it to the copy (`_switch`)."""

    def __init__(self, ov: OverlayBackend, inner: FileHandle, ino: int, *, read: bool,
                 write: bool, found_at: tuple[_Node, str] | None = None) -> None:
        self._ov = ov
        self._inner = inner
        self._ino = ino
        self.readable = read
        self.writable = write
        self._found_at = found_at  # where it was opened, while it is still the lower's

    # The primitives (the public calls of `FileHandle` checked this handle's mode); the
    # inner handle's public calls are used, whatever kind of backend the layer is.
    def _pread(self, buf: memoryview, offset: int) -> int:
        return self._inner.readinto(buf, offset)

    def _pwrite(self, data: memoryview | bytes, offset: int) -> int:
        return self._inner.write(data, offset)

    def stat(self) -> Stat:
        s = self._inner.stat()
        return Stat(self._ov.dev, self._ino, s.filetype, s.nlink, s.size, s.atim, s.mtim, s.ctim)

    def _truncate(self, size: int) -> None:
        self._inner.truncate(size)

    def _allocate(self, offset: int, length: int) -> None:
        self._inner.allocate(offset, length)

    def _set_times(self, atim: int | None, mtim: int | None) -> None:
        if self._found_at is not None:
            self._ov._copy_up_open_file(self)
        self._inner.set_times(atim, mtim)

    def sync(self) -> None:
        self._inner.sync()

    def close(self) -> None:
        self._ov._readers.get(self._ino, set()).discard(self)
        self._inner.close()

    def _switch(self, inner: FileHandle) -> None:
        self._inner.close()
        self._inner = inner
        self._found_at = None


class OverlayBackend(Backend):
    """The copy-on-write view of `lower` (see the module docstring).

    `close()` releases the lower only when `close_lower` is true: an `Overlay` keeps its layers
    for `changes()`, `export()` and further runs after a WASI instance closes its mounts.
    """

    def __init__(self, lower: Backend, *, close_lower: bool = False) -> None:
        self.lower = lower
        self.upper = MemoryBackend(MemoryFS())
        self.dev = new_device()
        self._close_lower = close_lower
        self._numbers = itertools.count(_SPLIT)
        self._big_lower: dict[int, int] = {}  # lower inode >= _SPLIT -> overlay inode
        self._upper_inos: dict[int, int] = {}  # upper inode -> overlay inode
        self._recs: dict[int, _Rec] = {}  # overlay inode -> record, for every upper directory
        self._readers: dict[int, set[_File]] = {}  # overlay inode -> lower-backed open files
        lroot = lower.root()
        lst = lower.stat_dir(lroot)
        ino = self._lower_ino(lst.ino)
        uroot = self.upper.root()
        self.upper.set_dir_times(uroot, lst.atim, lst.mtim)
        self._upper_inos[self.upper.stat_dir(uroot).ino] = ino
        self._recs[ino] = _Rec(uroot, ino, (), None, lst.size)
        self._root = _Dir(_Node(ino, "", None, (), lst), lroot)

    # --- inode numbers and stats ------------------------------------------------------------

    def _lower_ino(self, ino: int) -> int:
        if ino < _SPLIT:
            return ino
        n = self._big_lower.get(ino)
        if n is None:
            n = self._big_lower[ino] = next(self._numbers)
        return n

    def _upper_ino(self, ino: int) -> int:
        n = self._upper_inos.get(ino)
        if n is None:
            n = self._upper_inos[ino] = next(self._numbers)
        return n

    def _ino(self, s: Stat, in_upper: bool) -> int:
        return self._upper_ino(s.ino) if in_upper else self._lower_ino(s.ino)

    def _stat(self, s: Stat, in_upper: bool, d: _Dir | None = None,
              name: str | None = None) -> Stat:
        """The overlay's stat of an entry from its layer's stat `s`; `d` (and `name`): a
        handle of the entry (of its directory, and its name there), if the caller has one."""
        if not in_upper:
            return Stat(self.dev, self._lower_ino(s.ino), s.filetype, s.nlink, s.size, s.atim,
                        s.mtim, s.ctim)
        ino = self._upper_ino(s.ino)
        nlink, size = s.nlink, s.size
        if s.filetype == _DIR:
            rec = self._recs[ino]
            nlink, size = self._dir_nlink(rec, s.nlink, d, name), rec.size
        return Stat(self.dev, ino, s.filetype, nlink, size, s.atim, s.mtim, s.ctim)

    def _dir_nlink(self, rec: _Rec, upper_nlink: int, d: _Dir | None = None,
                   name: str | None = None) -> int:
        """POSIX's 2 + subdirectories, over the merged entries (the upper alone knows only its
        own); 0 once removed. `d`, `name`: as for `_stat`."""
        if rec.origin is None or upper_nlink == 0:
            return upper_nlink
        if rec.nlink is None:
            low = self._lower_dir(rec.origin, d, name)
            try:
                entries = self._entries(rec, low)
            finally:
                self.lower.release_dir(low)
            rec.nlink = 2 + sum(1 for _, _, ft in entries.values() if ft == _DIR)
        return rec.nlink

    # --- finding entries ---------------------------------------------------------------------

    def _find(self, d: _Dir, name: str) -> tuple[bool, Stat]:
        """(whether it is in the upper, its layer's own stat) of the visible entry `name`."""
        rec = self._recs.get(d.node.ino)
        if rec is not None:
            try:
                s = self.upper.lstat(rec.upper, name)
            except FileNotFoundError:
                if d.lower is None or name in rec.whiteouts:
                    raise
            else:
                if s.filetype == _DIR and self._upper_ino(s.ino) not in self._recs:
                    # made in `Overlay.upper` through the PyFS API: a new, opaque directory
                    ino = self._upper_ino(s.ino)
                    self._recs[ino] = _Rec(self.upper.open_dir(rec.upper, name), ino, None, rec, 0)
                return True, s
        return False, self.lower.lstat(d.lower, name)

    def _absent(self, d: _Dir, name: str) -> None:
        """EEXIST when `name` is visible in `d` (even as a dangling symlink)."""
        try:
            self._find(d, name)
        except FileNotFoundError:
            return
        raise oserror(errno.EEXIST, name)

    def _entries(self, rec: _Rec | None, low: DirHandle | None) -> dict[str, tuple[str, int, int]]:
        """The merged listing: the lower's entries not whited out, overridden by the upper's."""
        out: dict[str, tuple[str, int, int]] = {}
        if low is not None:
            hidden = rec.whiteouts if rec is not None else ()
            for name, ino, ft in self.lower.listdir(low):
                if name not in hidden:
                    out[name] = (name, self._lower_ino(ino), ft)
        if rec is not None:
            for name, ino, ft in self.upper.listdir(rec.upper):
                out[name] = (name, self._upper_ino(ino), ft)
        return out

    def _lower_dir(self, path: LowerPath, d: _Dir | None, name: str | None) -> DirHandle:
        """A new lower handle of the lower directory at `path` (the caller releases it): from
        the lower handle of `d` when `d` is that directory (or, with `name`, its parent), else
        from the lower root, which costs a step per level (quadratic when a guest stats each
        level of a deep tree on its way down)."""
        if d is not None and d.lower is not None and d.node.lpath is not None:
            # a handle's lower is always the lower directory at its node's `lpath`
            if name is None and d.node.lpath == path:
                return self.lower.dup_dir(d.lower)
            if name is not None and path[-1:] == (name,) and d.node.lpath == path[:-1]:
                return self.lower.open_dir(d.lower, name)
        return self._open_lower(path)

    def _open_lower(self, path: LowerPath) -> DirHandle:
        """A new lower handle of the lower directory at `path` (the caller releases it)."""
        lower = self.lower
        h = lower.dup_dir(lower.root())
        try:
            for name in path:
                sub = lower.open_dir(h, name)
                lower.release_dir(h)
                h = sub
        except BaseException:
            lower.release_dir(h)
            raise
        return h

    # --- copy-up -------------------------------------------------------------------------------

    @contextmanager
    def _keeping_times(self, rec: _Rec) -> Iterator[None]:
        """Copying an entry up adds it to the upper directory, which must not look changed."""
        before = self.upper.stat_dir(rec.upper)
        yield
        self.upper.set_dir_times(rec.upper, before.atim, before.mtim)

    def _rec(self, node: _Node) -> _Rec:
        """The upper record of directory `node`, copying it (and its ancestors) up if needed;
        ENOENT if it was removed since the handle found it."""
        rec = self._recs.get(node.ino)
        if rec is not None:
            return rec
        # Its ancestors without a record, copied up from the top down (a loop, not recursion:
        # a lower tree can be deeper than Python's recursion limit).
        missing = [node]
        while (rec := self._recs.get(missing[-1].parent.ino)) is None:  # type: ignore[union-attr]
            missing.append(missing[-1].parent)  # type: ignore[arg-type]  # the root has a record
        for n in reversed(missing):
            rec = self._copy_up_dir(rec, n)
        return rec

    def _copy_up_dir(self, parent: _Rec, node: _Node) -> _Rec:
        """Copy lower directory `node` up into `parent` (the record of the directory it was
        found in): an empty upper directory recording its origin."""
        name = node.name
        # Not copied up yet, so never renamed: still at `name` unless removed (whited out,
        # or the name now taken by another entry, or the parent itself replaced).
        if (parent.origin is None or parent.origin + (name,) != node.lpath
                or name in parent.whiteouts or self._in_upper(parent, name)):
            raise oserror(errno.ENOENT, name)
        low = node.lstat
        assert low is not None and node.lpath is not None
        with self._keeping_times(parent):
            self.upper.mkdir(parent.upper, name)
            handle = self.upper.open_dir(parent.upper, name)
            self.upper.set_dir_times(handle, low.atim, low.mtim)
        self._upper_inos[self.upper.stat_dir(handle).ino] = node.ino
        rec = self._recs[node.ino] = _Rec(handle, node.ino, node.lpath, parent, low.size)
        return rec

    def _in_upper(self, rec: _Rec, name: str) -> bool:
        try:
            self.upper.lstat(rec.upper, name)
        except FileNotFoundError:
            return False
        return True

    def _copy_up(self, d: _Dir, name: str, low: Stat, *, data: bool = True) -> _Rec:
        """Copy lower entry `name` of `d` (lower stat `low`) into the upper; the parent's
        record. `data=False` makes an empty file (for O_TRUNC)."""
        ino = self._lower_ino(low.ino)
        if low.filetype == _DIR:
            self._rec(_Node(ino, name, d.node, d.node.lpath + (name,), low))  # type: ignore[operator]
            return self._recs[d.node.ino]
        rec = self._rec(d.node)
        up = self.upper
        with self._keeping_times(rec):
            if low.filetype == _LNK:
                up.symlink(self.lower.readlink(d.lower, name), rec.upper, name)
            elif low.filetype == _REG:
                self._copy_data(d.lower, name, rec.upper, data)
            else:  # FIFOs, devices, sockets have no in-memory form
                raise oserror(errno.ENOTSUP, name)
            up.set_times(rec.upper, name, low.atim, low.mtim)
        self._upper_inos[up.lstat(rec.upper, name).ino] = ino
        if low.filetype == _REG:
            for reader in list(self._readers.pop(ino, ())):
                reader._switch(up.open_file(rec.upper, name, read=True, write=True))
            if low.nlink > 1:
                self._link_other_names(rec, name, low.ino, low.nlink - 1)
        return rec

    def _copy_data(self, low_dir: DirHandle, name: str, up_dir: DirHandle, data: bool) -> None:
        dst = self.upper.open_file(up_dir, name, read=False, write=True, create=True,
                                   exclusive=True)
        try:
            if data:
                src = self.lower.open_file(low_dir, name, read=True, write=False)
                try:
                    _copy_handle(src, dst)
                finally:
                    src.close()
        except BaseException:
            dst.close()
            self.upper.unlink(up_dir, name)  # a partial copy must not hide the lower file
            raise
        dst.close()

    def _link_other_names(self, rec: _Rec, name: str, lower_ino: int, count: int) -> None:
        """The lower file just copied up as `name` has other names: make the visible ones hard
        links to the copy, so a write through any name shows through all of them."""
        for d, other, in_upper, s in self._walk(self._root):
            if not in_upper and s.filetype == _REG and s.ino == lower_ino:
                target = self._rec(d.node)
                with self._keeping_times(target):
                    self.upper.link(rec.upper, name, target.upper, other)
                count -= 1
                if count == 0:
                    return

    def _copy_up_open_file(self, f: _File) -> None:
        """set_times on a file opened read-only in the lower: copy it up where it was opened;
        if no name shows it any more, give the fd a private copy (nobody else can see it)."""
        node, name = f._found_at  # type: ignore[misc]
        try:
            d = _Dir(node, self._open_lower(node.lpath) if node.lpath is not None else None)
            try:
                in_upper, s = self._find(d, name)
                if not in_upper and self._lower_ino(s.ino) == f._ino:
                    self._copy_up(d, name, s)  # switches f over
            finally:
                self.release_dir(d)
        except FileNotFoundError:
            pass
        if f._found_at is not None:
            private = MemoryBackend(MemoryFS())
            private.use_storage(self.upper.storage)  # the guest's storage like the upper
            private.use_clock(self.upper.clock)
            copy = private.open_file(private.root(), "f", read=True, write=True, create=True)
            # nameless like the file it copies: its storage comes back when the fd closes
            private.unlink(private.root(), "f")
            try:
                _copy_handle(f._inner, copy)
            except BaseException:
                copy.close()
                raise
            s = f._inner.stat()
            copy.set_times(s.atim, s.mtim)
            f._switch(copy)

    def _changed(self, rec: _Rec, *, whiteout_only: bool = False) -> None:
        """An entry of `rec`'s directory appeared or went away."""
        rec.nlink = None
        if whiteout_only:  # the upper saw nothing, but the directory's mtime must move
            self.upper.set_dir_times(rec.upper, None, self.upper.clock.time_ns())

    def _hide(self, d: _Dir, rec: _Rec, name: str, was_lower: bool) -> None:
        """`name` left `d`: white it out if the lower has it."""
        if was_lower or (d.lower is not None and _exists(self.lower, d.lower, name)):
            rec.whiteouts.add(name)

    def _within(self, node: _Node, ino: int) -> bool:
        """Whether directory `node` is directory `ino` or lies below it."""
        n: _Node | None = node
        while n is not None:
            rec = self._recs.get(n.ino)
            if rec is not None:  # in the upper: its record knows where it is now
                r: _Rec | None = rec
                while r is not None:
                    if r.ino == ino:
                        return True
                    r = r.parent
                return False
            if n.ino == ino:
                return True
            n = n.parent  # only in the lower, so never moved
        return False

    def _is_empty(self, d: _Dir, name: str) -> bool:
        sub = self.open_dir(d, name)
        try:
            return not self.listdir(sub)
        finally:
            self.release_dir(sub)

    def _walk(self, d: _Dir) -> Iterator[tuple[_Dir, str, bool, Stat]]:
        """Every visible entry below `d`, depth first: (its directory, name, in upper, stat).

        An explicit stack of (directory, the rest of its names), not recursion: a guest can
        make a tree deeper than Python's recursion limit. A directory is opened and listed
        only once the consumer has taken its own entry, as a recursive walk would."""
        stack: list[tuple[_Dir, Iterator[str] | None]] = [(d, None)]  # None: not listed yet
        try:
            while stack:
                here, names = stack[-1]
                if names is None:
                    names = iter(sorted(n for n, _, _ in self.listdir(here)))
                    stack[-1] = (here, names)
                for name in names:
                    in_upper, s = self._find(here, name)
                    yield here, name, in_upper, s
                    if s.filetype == _DIR:
                        stack.append((self.open_dir(here, name), None))
                        break
                else:
                    stack.pop()
                    if stack:  # `d` is the caller's
                        self.release_dir(here)
        finally:
            for sub, _ in reversed(stack[1:]):
                self.release_dir(sub)

    # --- the Backend protocol: walking ---------------------------------------------------------

    def root(self) -> _Dir:
        return self._root

    def lstat(self, d: _Dir, name: str) -> Stat:
        in_upper, s = self._find(d, name)
        return self._stat(s, in_upper, d, name)

    def open_dir(self, d: _Dir, name: str) -> _Dir:
        in_upper, s = self._find(d, name)
        if s.filetype == _LNK:
            raise oserror(errno.ELOOP, name)
        if s.filetype != _DIR:
            raise oserror(errno.ENOTDIR, name)
        if not in_upper:
            lpath = d.node.lpath + (name,)  # type: ignore[operator]
            ino = self._lower_ino(s.ino)
            return _Dir(_Node(ino, name, d.node, lpath, s), self.lower.open_dir(d.lower, name))
        ino = self._upper_ino(s.ino)
        origin = self._recs[ino].origin
        low = None
        if origin is not None:
            if d.lower is not None and d.node.lpath + (name,) == origin:  # type: ignore[operator]
                low = self.lower.open_dir(d.lower, name)
            else:  # renamed: its lower directory is elsewhere
                low = self._open_lower(origin)
        return _Dir(_Node(ino, name, d.node, origin, None), low)

    def release_dir(self, h: _Dir) -> None:
        low, h.lower = h.lower, None
        if low is not None:
            self.lower.release_dir(low)

    def dup_dir(self, h: _Dir) -> _Dir:
        return _Dir(h.node, self.lower.dup_dir(h.lower) if h.lower is not None else None)

    def readlink(self, d: _Dir, name: str) -> str:
        in_upper, _ = self._find(d, name)
        if in_upper:
            return self.upper.readlink(self._recs[d.node.ino].upper, name)
        return self.lower.readlink(d.lower, name)

    # --- directories as a whole ------------------------------------------------------------------

    def stat_dir(self, h: _Dir) -> Stat:
        rec = self._recs.get(h.node.ino)
        if rec is not None:
            return self._stat(self.upper.stat_dir(rec.upper), True, h)
        return self._stat(self.lower.stat_dir(h.lower), False)

    def listdir(self, h: _Dir) -> list[tuple[str, int, int]]:
        return list(self._entries(self._recs.get(h.node.ino), h.lower).values())

    def _set_dir_times(self, h: _Dir, atim: int | None, mtim: int | None) -> None:
        rec = self._rec(h.node)
        self.upper.set_dir_times(rec.upper, atim, mtim)
        rec.touched = True

    # --- entries -----------------------------------------------------------------------------------

    # The mutating primitives: `Backend`'s public calls made the read-only check and open(2)'s
    # errno decision above them.
    def _open_file(self, d: _Dir, name: str, kind: int | None, *, read: bool, write: bool,
                   create: bool, exclusive: bool, truncate: bool) -> _File:
        if kind is None:  # missing, and create is set
            rec = self._rec(d.node)
            f = self.upper.open_file(rec.upper, name, read=read, write=write, create=True,
                                     exclusive=exclusive, truncate=truncate)
            rec.whiteouts.discard(name)
            self._changed(rec)
            return _File(self, f, self._upper_ino(f.stat().ino), read=read, write=write)
        in_upper, s = self._find(d, name)
        if not in_upper:
            if not (write or truncate):
                ino = self._lower_ino(s.ino)
                inner = self.lower.open_file(d.lower, name, read=read, write=False)
                f = _File(self, inner, ino, read=read, write=False, found_at=(d.node, name))
                self._readers.setdefault(ino, set()).add(f)
                return f
            self._copy_up(d, name, s, data=not truncate)
        rec = self._recs[d.node.ino]
        inner = self.upper.open_file(rec.upper, name, read=read, write=write, create=create,
                                     exclusive=exclusive, truncate=truncate)
        return _File(self, inner, self._upper_ino(inner.stat().ino), read=read, write=write)

    def _mkdir(self, d: _Dir, name: str) -> None:
        self._absent(d, name)
        rec = self._rec(d.node)
        self.upper.mkdir(rec.upper, name)
        handle = self.upper.open_dir(rec.upper, name)
        ino = self._upper_ino(self.upper.stat_dir(handle).ino)
        # opaque: a lower directory it may replace stays hidden
        self._recs[ino] = _Rec(handle, ino, None, rec, 0)
        rec.whiteouts.discard(name)
        self._changed(rec)

    def _rmdir(self, d: _Dir, name: str) -> None:
        in_upper, s = self._find(d, name)
        if s.filetype != _DIR:  # a symlink to a directory is not one either
            raise oserror(errno.ENOTDIR, name)
        if not self._is_empty(d, name):
            raise oserror(errno.ENOTEMPTY, name)
        rec = self._rec(d.node)
        if in_upper:
            # whiteouts are no entries, so the upper directory of an empty merged one is empty
            self.upper.rmdir(rec.upper, name)
        self._hide(d, rec, name, not in_upper)
        self._changed(rec, whiteout_only=not in_upper)

    def _unlink(self, d: _Dir, name: str) -> None:
        in_upper, s = self._find(d, name)
        if s.filetype == _DIR:
            raise oserror(errno.EISDIR, name)
        rec = self._rec(d.node)
        if not in_upper and s.filetype == _REG and s.nlink > 1:
            # its other names must show one link fewer: copied up, they become upper links
            self._copy_up(d, name, s)
            in_upper = True
        if in_upper:
            self.upper.unlink(rec.upper, name)
        self._hide(d, rec, name, not in_upper)
        self._changed(rec, whiteout_only=not in_upper)

    def _rename(self, d1: _Dir, n1: str, d2: _Dir, n2: str) -> None:
        in1, s1 = self._find(d1, n1)
        ino1 = self._ino(s1, in1)
        try:
            in2, s2 = self._find(d2, n2)
        except FileNotFoundError:
            s2 = None
        else:
            if self._ino(s2, in2) == ino1:
                return  # the same name, or two hard links to one file: POSIX does nothing
        err = rename_error(
            s1.filetype == _DIR, None if s2 is None else s2.filetype,
            dst_is_empty=lambda: self._is_empty(d2, n2),
            src_contains_dst_dir=lambda: self._within(d2.node, ino1),
            dst_contains_src_dir=lambda: self._within(d1.node, self._ino(s2, in2)))
        if err is not None:
            raise oserror(err, n2)
        r2 = self._rec(d2.node)  # first: ENOENT if d2 was removed, before copying anything
        r1 = self._copy_up(d1, n1, s1) if not in1 else self._rec(d1.node)
        # a lower entry at n2 needs no copy-up: the upper one now hides it
        self.upper.rename(r1.upper, n1, r2.upper, n2)
        if s1.filetype == _DIR:
            self._recs[ino1].parent = r2
        self._hide(d1, r1, n1, not in1)
        r2.whiteouts.discard(n2)
        self._changed(r1)
        self._changed(r2)

    def _link(self, d1: _Dir, n1: str, d2: _Dir, n2: str) -> None:
        in1, s1 = self._find(d1, n1)
        self._absent(d2, n2)  # EEXIST before EPERM, as Linux
        if s1.filetype == _DIR:
            raise oserror(errno.EPERM, n1)
        r2 = self._rec(d2.node)
        r1 = self._copy_up(d1, n1, s1) if not in1 else self._rec(d1.node)
        self.upper.link(r1.upper, n1, r2.upper, n2)
        r2.whiteouts.discard(n2)
        self._changed(r2)

    def _symlink(self, target: str, d: _Dir, name: str) -> None:
        self._absent(d, name)
        rec = self._rec(d.node)
        self.upper.symlink(target, rec.upper, name)
        rec.whiteouts.discard(name)
        self._changed(rec)

    def _set_times(self, d: _Dir, name: str, atim: int | None, mtim: int | None) -> None:
        in_upper, s = self._find(d, name)
        if atim is None and mtim is None:
            return  # nothing to change, so nothing to copy up
        rec = self._rec(d.node) if in_upper else self._copy_up(d, name, s)
        self.upper.set_times(rec.upper, name, atim, mtim)
        if s.filetype == _DIR:
            self._recs[self._ino(s, in_upper)].touched = True

    def use_storage(self, account: StorageAccount | None) -> None:
        # everything the guest makes or copies up lives in the upper (and its private copies)
        self.upper.use_storage(account)

    def use_clock(self, clock: Clock) -> None:
        self.upper.use_clock(clock)

    def close(self) -> None:
        if self._close_lower:
            self.lower.close()

    # --- changes (overlay_changes.py) ----------------------------------------------------------

    def diff(self) -> Iterator[_Change]:
        """The changes against the lower, in path order (see `overlay_changes`)."""
        return diff(self)

    def read(self, d: _Dir, name: str) -> bytes:
        """The whole content of visible file `name` in `d`."""
        return _read(self, d, name)


def _exists(backend: Backend, d: DirHandle, name: str) -> bool:
    try:
        backend.lstat(d, name)
    except FileNotFoundError:
        return False
    return True


def _copy_handle(src: FileHandle, dst: FileHandle) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    offset = 0
    while n := src.readinto(view, offset):
        dst.write(view[:n], offset)
        offset += n


# --- the user's object -----------------------------------------------------------------------------


class Overlay:
    """A copy-on-write mount over `lower` (anything `open_backend` accepts: a host directory,
    an FS URL, a PyFilesystem2 FS, a Backend). Use it as a preopen value, as often as you like;
    the lower is never written. `close()` (or a `with` block) releases the lower."""

    def __init__(self, lower: Any) -> None:
        from . import open_backend

        self.backend = OverlayBackend(open_backend(lower))

    @property
    def upper(self) -> MemoryFS:
        """The upper layer's MemoryFS: what the guest made or changed (whiteouts are kept
        beside it, not in it). Files added to it show through; a directory made in it hides
        the lower one of the same name (it is opaque)."""
        return self.backend.upper.fs

    def changes(self) -> Changes:
        """What the guest changed, against the lower (see `overlay_changes`)."""
        return changes(self.backend)

    def export(self, target: str | os.PathLike[str]) -> Changes:
        """Write the changes to `target` (a directory, .zip, .tar, .tar.gz or .tgz) as a layer
        (see `overlay_changes`); return them.

        The layer is written under a temporary name beside `target` (beside what it names, if
        it is a symlink) and renamed over it once complete: on any error the exception is
        raised and `target` is as it was, never a partial layer that looks whole."""
        return export(self.backend, target)

    def close(self) -> None:
        self.backend.lower.close()

    def __enter__(self) -> Overlay:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def overlay(lower: Any) -> Overlay:
    """A copy-on-write `Overlay` of `lower` (anything a preopen accepts)."""
    return Overlay(lower)
