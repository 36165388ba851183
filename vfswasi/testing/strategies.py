"""Hypothesis strategies for filesystem trees (needs `hypothesis`, the `test` extra).

    @given(tree=trees(max_depth=2, max_entries=6))
    def test_copy(wasi_run, tree): ...

`trees()` draws tree specs (plain dicts, see `vfswasi.testing.treespec`): hypothesis prints them
readably when a test fails and shrinks them towards fewer, shorter entries.
`memory_trees()` draws the same trees already built into a `MemoryFS`.
"""

from __future__ import annotations

import posixpath

from fs.memoryfs import MemoryFS
from hypothesis import strategies as st

from .treespec import HardLink, Symlink, Tree, build_memfs

__all__ = ["file_contents", "memory_trees", "names", "trees"]

# Plain letters first: hypothesis shrinks towards the start of an alphabet.
_PLAIN = "abcdefghijklmnopqrstuvwxyz0123456789_.-"
# Names that trip up careless code: spaces, control characters, quotes, backslashes, non-ASCII
# (still valid UTF-8, as WASI paths must be), and a leading dash.
_ODD = " \t\n\r\x01\x7f\"'\\*?:#~é€\u200b😀"


def names(*, odd: bool = False, max_size: int = 8) -> st.SearchStrategy[str]:
    """Entry names: never empty, ".", ".." or holding "/" or NUL. `odd` mixes in spaces,
    control characters, quotes and non-ASCII characters."""
    alphabet = _PLAIN + _ODD if odd else _PLAIN
    return st.text(st.sampled_from(alphabet), min_size=1, max_size=max_size).filter(
        lambda n: n not in (".", "..")
    )


def file_contents(max_size: int = 64) -> st.SearchStrategy[bytes]:
    """File contents: text-like lines mostly, arbitrary bytes sometimes."""
    texty = st.text(st.sampled_from("ab \n\tx.-"), max_size=max_size).map(str.encode)
    return st.one_of(texty, st.binary(max_size=max_size)).map(lambda b: b[:max_size])


@st.composite
def trees(
    draw: st.DrawFn,
    *,
    max_entries: int = 8,
    max_depth: int = 2,
    max_file_size: int = 64,
    names: st.SearchStrategy[str] | None = None,
    contents: st.SearchStrategy[bytes] | None = None,
    symlinks: bool = True,
    dangling_symlinks: bool = True,
    hard_links: bool = True,
) -> Tree:
    """Tree specs with at most `max_entries` entries in all, directories nested at most
    `max_depth` deep, files of at most `max_file_size` bytes.

    Symlinks point (by relative paths) at entries of the tree, at their own directory or its
    parent, and with `dangling_symlinks` also at missing names and at themselves (a loop).
    Hard links (`HardLink`) give existing files or symlinks another name.
    """
    name_st = names if names is not None else _default_names
    content_st = contents if contents is not None else file_contents(max_file_size)
    root: Tree = {}
    dirs: list[tuple[str, Tree, int]] = [("", root, 0)]  # (path, spec, depth)
    linkable: list[str] = []  # files and symlinks: what a hard link may name
    everything: list[str] = []
    for _ in range(draw(st.integers(0, max_entries), label="entries")):
        parent_path, parent, depth = draw(st.sampled_from(dirs), label="in")
        name = draw(name_st.filter(lambda n, taken=parent: n not in taken), label="name")
        path = parent_path + name
        kinds = ["file"]  # first, so failures shrink towards plain files
        if depth < max_depth:
            kinds.append("dir")
        if symlinks:
            kinds.append("symlink")
        if hard_links and linkable:
            kinds.append("hardlink")
        kind = draw(st.sampled_from(kinds), label="kind")
        if kind == "file":
            parent[name] = draw(content_st, label="content")
            linkable.append(path)
        elif kind == "dir":
            sub: Tree = {}
            parent[name] = sub
            dirs.append((path + "/", sub, depth + 1))
        elif kind == "symlink":
            parent[name] = Symlink(draw(_targets(parent_path, name, everything,
                                                  dangling_symlinks), label="target"))
            linkable.append(path)
        else:
            parent[name] = HardLink(draw(st.sampled_from(linkable), label="of"))
        everything.append(path)
    return root


_default_names = names()


def _targets(link_dir: str, name: str, existing: list[str],
             dangling: bool) -> st.SearchStrategy[str]:
    """Relative symlink targets, as seen from directory `link_dir` ("" or "a/b/")."""
    start = link_dir.rstrip("/") or "."
    options: list[st.SearchStrategy[str]] = []
    if existing:
        options.append(st.sampled_from(existing).map(lambda p: posixpath.relpath(p, start)))
    options.append(st.sampled_from([".", ".."] if link_dir else ["."]))
    if dangling:
        options.append(st.just(name))  # a link to itself: ELOOP when followed
        options.append(_default_names.map(lambda n: "missing-" + n))
    return st.one_of(options)


def memory_trees(**bounds: object) -> st.SearchStrategy[MemoryFS]:
    """`trees(**bounds)` built into fresh `MemoryFS` objects (symlinks and hard links kept
    on the entries by vfswasi's MemoryBackend). Prefer `trees()` where a spec will do: a
    failing example then prints as readable data."""
    return trees(**bounds).map(build_memfs)  # type: ignore[arg-type]
