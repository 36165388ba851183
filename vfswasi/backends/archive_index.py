"""An archive's member list as a tree of inodes (`ArchiveIndex`), built once when it is opened.

Nodes hold inode numbers, link counts, sizes, ns mtimes and the directories an archive only
implies; a later member of a name replaces an earlier one, as on extraction. Members that cannot
be placed (names climbing out of the root, or under a name that is not a directory) are listed
in `dropped`; devices, fifos and encrypted members in `special` (a writable mount refuses both).

The tree may be deeper than Python's recursion limit: building it and counting links use
explicit stacks, and placing a member starts from where the previous one went (members in tree
order cost a few steps each, not one per level).
"""

from __future__ import annotations

import itertools
import posixpath
from typing import BinaryIO

from ..abi import Filetype
from ..vfs import Stat
from .archive_formats import Member
from .archive_sources import Source, read_errors


class Node:
    """One inode of the archive tree: a directory (children is a dict) or anything else."""

    __slots__ = ("ino", "filetype", "size", "mtim", "nlink", "target", "children", "member",
                 "implicit", "order", "parent")

    def __init__(self, ino: int, filetype: int, mtim: int, member: Member | None = None,
                 order: int = -1, parent: Node | None = None):
        self.ino = ino
        self.filetype = filetype
        self.size = 0 if member is None or filetype == Filetype.DIRECTORY else member.size
        self.mtim = mtim
        self.nlink = 1
        self.target = None if member is None else member.target
        self.children: dict[str, Node] | None = {} if filetype == Filetype.DIRECTORY else None
        self.member = member
        self.implicit = member is None  # a directory only implied by its members' names
        self.order = order  # position of its (first) member in the archive
        # a directory's parent (directories have one name), so index building can climb back
        self.parent = parent


class ArchiveIndex:
    """The member list of an archive as a tree; `dropped` lists members that could not be
    placed (names climbing out of the root, or under a name that is not a directory)."""

    def __init__(self, source: Source):
        self.source = source
        self._inos = itertools.count(1)
        self.root = Node(next(self._inos), Filetype.DIRECTORY, source.mtim)
        self.dropped: list[str] = []
        self.name_order: dict[str, int] = {}  # path -> position of the member that put it there
        self.special: list[str] = []  # devices, fifos, encrypted members
        # the directory found last, by path: see `_walk_to`
        self._cursor: tuple[str, Node] = ("", self.root)
        with read_errors(source.format):
            for order, m in enumerate(source.members()):
                self._add(m, order)
        self._count_links()

    def _add(self, m: Member, order: int) -> None:
        if m.meta.get("escapes"):
            self.dropped.append(m.path)
            return
        if m.meta.get("encrypted") or m.filetype not in (
                Filetype.REGULAR_FILE, Filetype.DIRECTORY, Filetype.SYMBOLIC_LINK):
            self.special.append(m.path)
        if m.path == "":
            if m.filetype == Filetype.DIRECTORY:  # a "./" member: the root's own metadata
                self.root.mtim, self.root.member, self.root.implicit = m.mtim, m, False
                self.root.order = order
            return
        parent = self._dir_for(m.path)
        if parent is None:
            self.dropped.append(m.path)
            return
        assert parent.children is not None
        name = posixpath.basename(m.path)
        old = parent.children.get(name)
        if m.filetype == Filetype.DIRECTORY and old is not None and old.children is not None:
            old.mtim, old.member, old.implicit = m.mtim, m, False  # an explicit entry for it
            old.order = order if old.order < 0 else old.order
            self.name_order.setdefault(m.path, order)
            return
        if m.hardlink is not None:
            node = self.lookup(m.hardlink)
            # the lookup moved the cursor: `parent` stays valid (nothing was detached)
            if node is None or node.filetype != Filetype.REGULAR_FILE:
                # a hard link to nothing we hold: serve it as the symlink it would resolve to
                here = posixpath.dirname(m.path) or "."
                m.target = posixpath.relpath(m.hardlink or ".", here)
                m.size = len(m.target.encode("utf-8", "surrogateescape"))
                node = Node(next(self._inos), Filetype.SYMBOLIC_LINK, m.mtim, m, order)
            else:
                node.nlink += 1
        else:
            node = Node(next(self._inos), m.filetype, m.mtim, m, order)
        if old is not None and old.children is None:
            old.nlink -= 1  # a later member of the same name wins, as on extraction
        if old is not None and old.children is not None:
            self._cursor = ("", self.root)  # the cursor may be in the subtree now cut off
        if node.children is not None:
            node.parent = parent
        parent.children[name] = node
        self.name_order[m.path] = order

    def _dir_for(self, path: str) -> Node | None:
        """The directory `path` goes in, made (implicit) where missing; None if a
        non-directory is in the way."""
        return self._walk_to(path.rpartition("/")[0], create=True)

    def lookup(self, path: str) -> Node | None:
        """The node at normalized `path` ("" is the root), or None."""
        dirpath, _, name = path.rpartition("/")
        d = self._walk_to(dirpath, create=False)
        if d is None or not name:
            return d
        assert d.children is not None
        return d.children.get(name)

    def _walk_to(self, dirpath: str, *, create: bool) -> Node | None:
        """The directory at normalized `dirpath` ("" is the root), made (implicit) where
        missing when `create`; None where a non-directory is in the way or, without `create`,
        where nothing is.

        Members come in tree order nearly always, so a member's directory is the previous
        one's, or a little below or above it: the walk starts from the directory found last
        (`_cursor`), not from the root, which would cost a step per component per member,
        quadratic in the depth of a deep tree."""
        at, d = self._cursor
        if dirpath == at:
            return d
        if not at or dirpath.startswith(at + "/"):  # below the cursor
            rest = dirpath[len(at) + 1 :] if at else dirpath
        elif not dirpath or at.startswith(dirpath + "/"):  # above it: climb
            for _ in range(at.count("/", len(dirpath)) if dirpath else at.count("/") + 1):
                assert d.parent is not None
                d = d.parent
            rest = ""
        else:
            d, rest = self.root, dirpath
        for part in rest.split("/") if rest else ():
            assert d.children is not None
            child = d.children.get(part)
            if child is None:
                if not create:
                    return None
                child = d.children[part] = Node(next(self._inos), Filetype.DIRECTORY,
                                                self.source.mtim, parent=d)
            elif child.children is None:
                return None
            d = child
        self._cursor = (dirpath, d)
        return d

    def _count_links(self) -> None:
        """Every directory's link count: POSIX's 2 + its subdirectories (an explicit stack:
        the tree may be deeper than Python's recursion limit)."""
        stack = [self.root]
        while stack:
            d = stack.pop()
            assert d.children is not None
            subdirs = [c for c in d.children.values() if c.children is not None]
            d.nlink = 2 + len(subdirs)
            stack.extend(subdirs)

    def open(self, node: Node) -> BinaryIO:
        assert node.member is not None
        with read_errors(node.member.path):
            return self.source.open(node.member)


def node_stat(dev: int, node: Node) -> Stat:
    return Stat(dev, node.ino, node.filetype, node.nlink, node.size, node.mtim, node.mtim,
                node.mtim)

