"""An overlay's changes against its lower (`Overlay.changes()`) and their export as a layer
(`Overlay.export()`); `overlay.py` is the copy-on-write backend they read.

`changes` compares the merged view with the lower, path by path: *added* paths exist only in
the merged view, *deleted* ones only in the lower (a directory's descendants are listed too,
and a rename is a deletion plus an addition), *modified* ones in both with different content,
type, symlink target or mtime (a directory: when it was replaced or the guest set its times).
A file opened for writing but left as it was is no change.

`export(target)` writes those changes as an OCI/overlayfs-style layer: added and modified
entries with their content (directories as directories, symlinks as symlinks), and for each
deleted path an empty *whiteout* file `.wh.<name>` beside where it was (only for the topmost
deleted path; its descendants go with it). `target` is a directory (created; it must be absent
or empty), a `.zip`, or a `.tar` / `.tar.gz` / `.tgz`. Archives are written by
`archive_formats.write_archive`, the writer a writable archive's write-back uses, so times,
modes and link types are stored as there (zip: DOS time clamped to 1980..2107 plus the UT and
NTFS fields; tar: pax, times exact to the ns; symlinks the Info-ZIP way in a zip); entries get
mode 0o755 (directories), 0o777 (symlinks) or 0o644 (files). Names starting with `.wh.` are
thus reserved in an export, as in OCI layers. The layer is written under a temporary name
beside `target` and renamed over it when complete: an export that fails raises and leaves no
partial layer behind.

Trees may be deeper than Python's recursion limit (a guest can make 10,000 nested directories):
the comparison and the export use explicit stacks, and a directory export writes relative to
directory fds (its paths exceed PATH_MAX).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..abi import Filetype
from ..vfs import DirHandle, FileHandle, Stat
from .archive_formats import CHUNK, Entry, copy_content, replacement_mode, write_archive

if TYPE_CHECKING:
    from .overlay import OverlayBackend, _Dir

_DIR, _REG, _LNK = Filetype.DIRECTORY, Filetype.REGULAR_FILE, Filetype.SYMBOLIC_LINK

LowerPath = tuple[str, ...]


@dataclass(frozen=True)
class Changes:
    """What a guest changed in an overlay, as sorted paths relative to the mount (see
    `Overlay.changes`)."""

    added: list[str]
    modified: list[str]
    deleted: list[str]

    def lines(self) -> list[str]:
        """"A path" / "M path" / "D path", one per changed path, in path order."""
        tagged = [(p, k) for k, paths in (("A", self.added), ("M", self.modified),
                                           ("D", self.deleted)) for p in paths]
        return [f"{k} {p}" for p, k in sorted(tagged)]

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


def _summary(changes: Iterable[_Change]) -> Changes:
    found: dict[str, list[str]] = {"A": [], "M": [], "D": []}
    for c in changes:
        found[c.kind].append("/".join(c.path))
    return Changes(sorted(found["A"]), sorted(found["M"]), sorted(found["D"]))


class _Compare:
    """A directory being compared in `diff`: the merged one (`dir`) with the
    lower one (`low`), or (`gone`) a lower directory below a deleted one, with the rest of its
    names to visit."""

    __slots__ = ("dir", "low", "owned", "gone", "merged", "lower", "same_dir", "names")

    def __init__(self, d: _Dir | None, low: DirHandle | None, owned: bool, gone: bool) -> None:
        self.dir = d
        self.low = low
        self.owned = owned  # its handles are released with it (all but the root's)
        self.gone = gone
        self.merged: dict[str, int] = {}  # name -> filetype, of the merged view
        self.lower: dict[str, int] = {}  # name -> filetype, of the lower
        self.same_dir = False  # lower-served entries of `dir` are those of `low`
        self.names: Iterator[str] = iter(())


class _Change(NamedTuple):
    kind: str  # "A", "M" or "D"
    path: LowerPath
    dir: _Dir | None  # where the merged entry is (A, M), for export
    name: str
    stat: Stat | None  # its overlay-layer stat (A, M)
    whiteout: bool  # a deletion an export must record (the topmost deleted path)


def diff(ov: OverlayBackend) -> Iterator[_Change]:
    """The changes of overlay `ov` against its lower, in path order (see the module
    docstring)."""
    return _Diff(ov).changes()


class _Diff:
    """One comparison of an overlay with its lower."""

    def __init__(self, ov: OverlayBackend) -> None:
        self.ov = ov

    def changes(self) -> Iterator[_Change]:
        """The changes against the lower, in path order (see the module docstring).

        Depth first with an explicit stack of `_Compare` frames rather than recursion (or
        generators recursing through `yield from`): a guest can make a tree deeper than
        Python's recursion limit. Each step happens when the recursive walk would do it: a
        directory is opened and listed only after the consumer has taken its own change."""
        root_low = self.ov.lower.dup_dir(self.ov.lower.root())
        path: list[str] = []  # names from the root to the top frame's directory
        stack: list[_Compare] = []
        try:
            stack.append(self._compare(self.ov._root, root_low, path, owned=False))
            while stack:
                frame = stack[-1]
                for name in frame.names:
                    change, descend = (self._gone_entry(frame, name, path) if frame.gone
                                       else self._diff_entry(frame, name, path))
                    if change is not None:
                        yield change
                    if descend is not None:
                        path.append(name)
                        stack.append(descend())
                        break
                else:
                    stack.pop()
                    if stack:  # the root frame's handles are released below
                        path.pop()
                        self._release(frame)
        finally:
            for frame in reversed(stack[1:]):
                self._release(frame)
            self.ov.lower.release_dir(root_low)

    def _compare(self, d: _Dir | None, low: DirHandle | None, path: list[str], *,
                 owned: bool = True, gone: bool = False) -> _Compare:
        """A frame comparing merged directory `d` (None for a deleted subtree) with lower
        directory `low` (None: there is none), both at `path`; `owned`: its handles are released
        with it."""
        frame = _Compare(d, low, owned, gone)
        try:
            if gone:
                assert low is not None
                listing = sorted(self.ov.lower.listdir(low))
                frame.lower = {n: ft for n, _, ft in listing}
                frame.names = iter([n for n, _, _ in listing])
                return frame
            assert d is not None
            frame.merged = {n: ft for n, _, ft in self.ov.listdir(d)}
            frame.lower = {n: ft for n, _, ft in self.ov.lower.listdir(low)} if low is not None else {}
            frame.same_dir = d.node.lpath == tuple(path)  # lower-served entries are `low`'s
            frame.names = iter(sorted(frame.merged.keys() | frame.lower.keys()))
            return frame
        except BaseException:
            self._release(frame)
            raise

    def _release(self, frame: _Compare) -> None:
        if not frame.owned:
            return
        if frame.dir is not None:
            self.ov.release_dir(frame.dir)
        if frame.low is not None:
            self.ov.lower.release_dir(frame.low)

    def _diff_entry(self, frame: _Compare, name: str, path: list[str]
                    ) -> tuple[_Change | None, Callable[[], _Compare] | None]:
        """The change at entry `name` of a compared directory (if any), and how to open the
        frame comparing what is below it (if anything needs comparing)."""
        d, low, merged, lower = frame.dir, frame.low, frame.merged, frame.lower
        assert d is not None
        if name not in merged:
            assert low is not None
            p = (*path, name)
            return (_Change("D", p, None, name, None, True),
                    self._gone_below(low, name, path) if lower[name] == _DIR else None)
        in_upper, s = self.ov._find(d, name)
        if name not in lower:
            p = (*path, name)
            return (_Change("A", p, d, name, s, False),
                    self._diff_below(d, name, None, None, path) if s.filetype == _DIR else None)
        if not in_upper and frame.same_dir:
            return None, None  # the lower's own entry, and nothing below it changed
        assert low is not None
        p = (*path, name)
        was = self.ov.lower.lstat(low, name)
        if s.filetype == _DIR and was.filetype == _DIR:
            sub_rec = self.ov._recs.get(self.ov._ino(s, in_upper))
            replaced = sub_rec is not None and (sub_rec.origin != p or sub_rec.touched)
            return (_Change("M", p, d, name, s, False) if replaced else None,
                    self._diff_below(d, name, low, name, path))
        if s.filetype != was.filetype or self._differs(d, name, s, low, was):
            # both cannot be directories (above), so at most one side has a subtree
            if s.filetype == _DIR:
                below = self._diff_below(d, name, None, None, path)
            elif was.filetype == _DIR:
                below = self._gone_below(low, name, path)
            else:
                below = None
            return _Change("M", p, d, name, s, False), below
        return None, None

    def _gone_entry(self, frame: _Compare, name: str, path: list[str]
                    ) -> tuple[_Change, Callable[[], _Compare] | None]:
        """Entry `name` of a lower directory below a deleted one: deleted too (no whiteout
        needed: it goes with its topmost deleted ancestor)."""
        assert frame.low is not None
        return (_Change("D", (*path, name), None, name, None, False),
                self._gone_below(frame.low, name, path) if frame.lower[name] == _DIR else None)

    def _diff_below(self, d: _Dir, name: str, low: DirHandle | None, low_name: str | None,
                    path: list[str]) -> Callable[[], _Compare]:
        def open_frame() -> _Compare:  # `path` has `name` appended by then
            sub = self.ov.open_dir(d, name)
            try:
                lsub = self.ov.lower.open_dir(low, low_name) if low_name is not None else None
            except BaseException:
                self.ov.release_dir(sub)
                raise
            return self._compare(sub, lsub, path)
        return open_frame

    def _gone_below(self, low: DirHandle, name: str, path: list[str]) -> Callable[[], _Compare]:
        return lambda: self._compare(None, self.ov.lower.open_dir(low, name), path, gone=True)

    def _differs(self, d: _Dir, name: str, s: Stat, low: DirHandle, was: Stat) -> bool:
        if s.mtim != was.mtim:
            return True
        if s.filetype == _LNK:
            return self.ov.readlink(d, name) != self.ov.lower.readlink(low, name)
        if s.filetype == _REG:
            return s.size != was.size or _read(self.ov, d, name) != _read_all(
                self.ov.lower.open_file(low, name, read=True, write=False))
        return False


def _read(ov: OverlayBackend, d: _Dir, name: str) -> bytes:
    """The whole content of visible file `name` in `d`."""
    return _read_all(ov.open_file(d, name, read=True, write=False))


def _read_all(f: FileHandle) -> bytes:
    try:
        out = io.BytesIO()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(view, out.tell()):
            out.write(view[:n])
        return out.getvalue()
    finally:
        f.close()


# --- the user's answers ---------------------------------------------------------------------------


def changes(ov: OverlayBackend) -> Changes:
    """What the guest changed in `ov`, against its lower (see the module docstring)."""
    return _summary(diff(ov))


def export(ov: OverlayBackend, target: str | os.PathLike[str]) -> Changes:
    """Write the changes of `ov` to `target` (a directory, .zip, .tar, .tar.gz or .tgz) as a
    layer (see the module docstring); return them.

    The layer is written under a temporary name beside `target` (beside what it names, if it
    is a symlink) and renamed over it once complete: on any error the exception is raised and
    `target` is as it was, never a partial layer that looks whole."""
    dest = Path(os.path.realpath(target))
    name = dest.name.lower()
    # the paths as strings, not the changes: a change holds its path as a tuple, 8 bytes a
    # name, which over a 10,000-deep tree would be 400 MB
    found: dict[str, list[str]] = {"A": [], "M": [], "D": []}
    layer = _layer(ov, found)
    if name.endswith(".zip"):
        write_archive(str(dest), "zip", (e for _, e in layer))
    elif name.endswith((".tar", ".tar.gz", ".tgz")):
        write_archive(str(dest), "tar", (e for _, e in layer),
                      compression="" if name.endswith(".tar") else "gz")
    else:
        def write(tmp: str) -> None:
            with _DirSink(tmp) as sink:
                for parts, e in layer:
                    sink.add(parts, e)

        _replace_dir(dest, write)
    return Changes(sorted(found["A"]), sorted(found["M"]), sorted(found["D"]))


def _layer(ov: OverlayBackend, found: dict[str, list[str]]
           ) -> Iterator[tuple[LowerPath, Entry]]:
    """The entries of the layer (with their paths as names), one per change that needs one;
    each change's path is added to `found` by its kind. An entry must be written before the
    next is asked for: its content is read from where the comparison stands."""
    for c in diff(ov):
        path = "/".join(c.path)
        found[c.kind].append(path)
        if c.kind == "D":
            if c.whiteout:
                whiteout = c.path[:-1] + (".wh." + c.name,)
                yield whiteout, Entry("/".join(whiteout), _REG, ov.upper.clock.time_ns())
            continue
        s, d = c.stat, c.dir
        assert s is not None and d is not None
        if s.filetype == _DIR:
            yield c.path, Entry(path, _DIR, s.mtim)
        elif s.filetype == _LNK:
            yield c.path, Entry(path, _LNK, s.mtim, target=ov.readlink(d, c.name))
        else:
            yield c.path, Entry(path, _REG, s.mtim, s.size, open=_opener(ov, d, c.name))


def _opener(ov: OverlayBackend, d: _Dir, name: str) -> Callable[[], FileHandle]:
    return lambda: ov.open_file(d, name, read=True, write=False)


def _replace_dir(dest: Path, write: Callable[[str], None]) -> None:
    """Export into directory `dest` (absent or empty): `write(tmp)` fills a new directory
    beside it, which is then renamed over it; on any error the new directory is removed."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"export target exists and is not an empty directory: {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        write(tmp)
        os.chmod(tmp, replacement_mode(dest, 0o777))  # mkdtemp made it 0700
        os.replace(tmp, dest)  # rename(2) replaces an empty directory
    except BaseException:
        with suppress(OSError):
            _remove_tree(tmp)
        raise


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _move_fd(fd: int, name: str) -> int:
    """A directory fd on `name` (a subdirectory, or "..") of directory `fd`, which is closed."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def _remove_tree(path: str) -> None:
    """Remove directory `path` and everything in it (our own temporary export) relative to
    one directory fd, moved down and back up through "..": a deep tree's paths exceed
    PATH_MAX, and `shutil.rmtree` recurses."""
    fd = os.open(path, _DIR_FLAGS)
    todo: list[list[str]] = []  # per level from `path` down to fd: subdirectories left
    names: list[str] = []  # the directories fd went down through
    try:
        todo.append(_unlink_files(fd))
        while todo:
            if todo[-1]:
                name = todo[-1].pop()
                fd = _move_fd(fd, name)
                names.append(name)
                todo.append(_unlink_files(fd))
            else:
                todo.pop()
                if names:
                    fd = _move_fd(fd, "..")
                    os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def _unlink_files(fd: int) -> list[str]:
    """Unlink every non-directory in directory `fd`; the names of its subdirectories."""
    with os.scandir(fd) as it:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    subdirs = []
    for name, is_dir in entries:
        if is_dir:
            subdirs.append(name)
        else:
            os.unlink(name, dir_fd=fd)
    return subdirs


class _DirSink:
    """Writes a layer into the new, empty directory `root` with *at calls relative to one
    directory fd, which moves from entry to entry (up through "..", then down): a deep tree's
    paths exceed PATH_MAX, and an fd per level of a 10,000-deep tree would be too many.

    Entries are expected parents first, depth first (as `diff` gives them): a directory
    entry gets its mtime when the fd leaves it, its content complete; a directory an entry
    needs that was not given is made as `mkdir -p` would."""

    def __init__(self, root: str) -> None:
        self._fd = os.open(root, _DIR_FLAGS)
        self._at: list[str] = []  # where the fd is, as names from the root
        self._mtims: list[int | None] = []  # for each of those, its mtime if it was added

    def _go(self, dirpath: LowerPath) -> int:
        """The fd, moved to directory `dirpath` (made where missing)."""
        at = tuple(self._at)
        if dirpath[: len(at)] == at:  # here or below: the usual case, compared at C speed
            keep = len(at)
        else:
            keep = _common_prefix(at, dirpath)
        while len(self._at) > keep:
            self._up()
        for name in dirpath[keep:]:
            self._down(name, None)
        return self._fd

    def _up(self) -> None:
        name, mtim = self._at.pop(), self._mtims.pop()
        self._fd = _move_fd(self._fd, "..")
        if mtim is not None:  # left for good: its content is complete
            os.utime(name, ns=(mtim, mtim), dir_fd=self._fd, follow_symlinks=False)

    def _down(self, name: str, mtim: int | None) -> None:
        with suppress(FileExistsError):
            os.mkdir(name, dir_fd=self._fd)
        self._fd = _move_fd(self._fd, name)
        self._at.append(name)
        self._mtims.append(mtim)

    def add(self, path: LowerPath, e: Entry) -> None:
        """Entry `e` at `path` (its names)."""
        if e.filetype == _DIR:
            self._go(path[:-1])
            self._down(path[-1], e.mtim)  # its content comes next
            return
        fd = self._go(path[:-1])
        if e.filetype == _LNK:
            os.symlink(e.target, path[-1], dir_fd=fd)
            os.utime(path[-1], ns=(e.mtim, e.mtim), dir_fd=fd, follow_symlinks=False)
            return
        fd = os.open(path[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o666, dir_fd=fd)
        with open(fd, "wb") as f:
            copy_content(e, f.write)
            f.flush()
            os.utime(fd, ns=(e.mtim, e.mtim))

    def close(self) -> None:
        try:
            while self._at:
                self._up()
        finally:
            os.close(self._fd)

    def __enter__(self) -> _DirSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _common_prefix(a: LowerPath, b: LowerPath) -> int:
    """How many leading names `a` and `b` share: a binary search over slices compared at C
    speed (a loop over the names would cost a Python step per level of a deep tree)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo

