"""Property-testing a real wasm program (examples/guests/wc.c) against a Python model.

    python -m pytest examples/test_wc_property.py

The `wasi_run` fixture comes from vfswasi's pytest plugin (registered when vfswasi is
installed); `trees()` draws whole filesystem trees (files, directories, symlinks, hard links)
and each run gets a fresh MemoryFS built from one. The model is ten lines of Python; hypothesis
looks for trees, arguments and inputs where the program and the model disagree, and shrinks
any it finds to the smallest.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from vfswasi.testing import (
    HardLink,
    Tree,
    build_memfs,
    file_contents,
    read_tree,
    tree_paths,
    trees,
)

WC = Path(__file__).parent / "guests" / "wc.wasm"
OPTIONS = ["-l", "-w", "-c", "-lw", "-wc", "-lc", "-lwc"]


# --- the model -------------------------------------------------------------------------------------


def counts(data: bytes) -> tuple[int, int, int]:
    """Lines, words and bytes of `data`."""
    # bytes.split() splits on exactly C's isspace() in the C locale: space \t \n \v \f \r
    return data.count(b"\n"), len(data.split()), len(data)


def show(values: tuple[int, int, int], option: str) -> str:
    """The columns `option` asks for ("" for all), as wc prints them."""
    return " ".join(str(v) for k, v in zip("lwc", values, strict=True)
                    if not option or k in option)


def content(tree: Tree, path: str) -> bytes | None:
    """The bytes of regular file `path` of a spec (through hard links), else None."""
    entries = dict(tree_paths(tree))
    value = entries[path]
    while isinstance(value, HardLink):  # another name of a file: the same bytes
        value = entries[value.path]
    return value if isinstance(value, bytes) else None


def wc_model(tree: Tree, paths: list[str], option: str) -> tuple[str, int]:
    """(stdout, exit status) of `wc [option] paths...` on `tree` (regular files only)."""
    out, total = [], (0, 0, 0)
    for path in paths:
        values = counts(content(tree, path) or b"")
        out.append(f"{show(values, option)} {path}\n")
        total = tuple(a + b for a, b in zip(total, values, strict=True))  # type: ignore[assignment]
    if len(paths) > 1:
        out.append(f"{show(total, option)} total\n")
    return "".join(out), 0


def regular_files(tree: Tree) -> list[str]:
    """Paths of the regular files of a spec (hard links to them included)."""
    return [p for p, _ in tree_paths(tree) if content(tree, p) is not None]


# --- properties ----------------------------------------------------------------------------------


@given(tree=trees(max_entries=10), option=st.sampled_from(["", *OPTIONS]), data=st.data())
def test_wc_agrees_with_the_model(wasi_run, tree, option, data):
    paths = data.draw(st.permutations(regular_files(tree)), label="paths")
    args = ["wc", *([option] if option else []), "--", *paths]
    result = wasi_run(WC, tree, args=args)
    if not paths:  # no file: wc counts its (empty) stdin
        assert (result.out, result.exit_code) == (show((0, 0, 0), option) + "\n", 0)
        return
    assert (result.out, result.exit_code) == wc_model(tree, paths, option)
    assert result.err == ""
    assert result.tree == read_tree(build_memfs(tree))  # wc only reads


@given(stdin=file_contents(max_size=300), option=st.sampled_from(OPTIONS))
def test_wc_counts_stdin(wasi_run, stdin, option):
    result = wasi_run(WC, args=["wc", option], stdin=stdin)
    assert (result.out, result.exit_code) == (show(counts(stdin), option) + "\n", 0)


@given(tree=trees(max_entries=6), missing=st.sampled_from(["nope", "dir/nope", "a/b/c"]))
def test_wc_reports_unreadable_names_and_counts_the_rest(wasi_run, tree, missing):
    assume(missing.split("/")[0] not in tree)  # the name must really be missing
    files = regular_files(tree)
    result = wasi_run(WC, tree, args=["wc", "--", missing, *files])
    assert result.exit_code == 1
    assert result.err == f"wc: {missing}: No such file or directory\n"
    expected, _ = wc_model(tree, files, "")
    if len(files) == 1:  # two names were given, so wc prints a total even for one file
        expected += expected.replace(f" {files[0]}\n", " total\n")
    assert result.out == expected


@given(tree=trees(max_entries=8))
def test_wc_prints_the_same_on_vfswasi_and_on_wasmtime(wasi_run, tree):
    # The same program, the same tree: vfswasi over a MemoryFS and wasmtime's own WASI over a
    # host directory agree, on every name in the tree (symlinks and directories included).
    args = ["wc", "--", *(p for p, _ in tree_paths(tree))]
    ours = wasi_run(WC, tree, args=args)
    theirs = wasi_run(WC, tree, args=args, backend="wasmtime")
    assert (ours.exit_code, ours.out, ours.err) == (theirs.exit_code, theirs.out, theirs.err)
