"""vfswasi.testing: tree specs, run_wasi, the hypothesis strategies and the pytest plugin.

The README's "Property-based testing" example is run as a user would run it (a test file in a
fresh pytest process that finds the fixtures through the installed plugin).
"""

from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path

import pytest
from fs.memoryfs import MemoryFS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfswasi.backends.memory import MemoryBackend
from vfswasi.testing import (
    HardLink,
    Symlink,
    build_memfs,
    hard_links,
    memory_trees,
    names,
    read_tree,
    run_wasi,
    tree_paths,
    trees,
    write_tree,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
WC = ROOT / "examples" / "guests" / "wc.wasm"
FSOPS = ROOT / "tests" / "guests" / "bin" / "fsops.wasm"

SPEC = {
    "a.txt": b"one two\n",
    "d": {"e": {}, "f": b"x", "up": Symlink("../a.txt")},
    "h": HardLink("d/f"),
    "h2": HardLink("h"),  # a hard link to a hard link: one more name of d/f
    "l": Symlink("d"),
    "dang": Symlink("missing"),
}
PLAIN = {
    "a.txt": b"one two\n",
    "d": {"e": {}, "f": b"x", "up": Symlink("../a.txt")},
    "dang": Symlink("missing"),
    "h": b"x",
    "h2": b"x",
    "l": Symlink("d"),
}


# --- tree specs ----------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "host"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryFS | str:
    return MemoryFS() if request.param == "memory" else str(tmp_path)


def test_write_and_read_a_tree(where):
    write_tree(SPEC, where)
    assert read_tree(where) == PLAIN
    assert hard_links(where) == [("d/f", "h", "h2")]
    # with hard_links=True the later names point at the first, and the spec round-trips
    again = read_tree(where, hard_links=True)
    assert again == {**PLAIN, "h": HardLink("d/f"), "h2": HardLink("d/f")}
    copy = build_memfs(again)
    assert read_tree(copy) == PLAIN and hard_links(copy) == [("d/f", "h", "h2")]


def test_a_built_memfs_is_an_ordinary_memoryfs_with_links_on_its_entries():
    memfs = build_memfs(SPEC)
    assert memfs.readbytes("/d/f") == b"x"
    assert sorted(memfs.listdir("/")) == ["a.txt", "d", "dang", "h", "h2", "l"]
    backend = MemoryBackend(memfs)
    assert backend.readlink(backend.root(), "l") == "d"
    assert backend.lstat(backend.root(), "h").nlink == 3


def test_write_tree_into_an_existing_memfs_and_bad_specs():
    memfs = MemoryFS()
    memfs.writetext("/kept", "k")
    assert build_memfs({"new": b"n"}, memfs) is memfs
    assert read_tree(memfs) == {"kept": b"k", "new": b"n"}
    with pytest.raises(ValueError, match="single entry name"):
        build_memfs({"a/b": b""})
    with pytest.raises(ValueError, match="single entry name"):
        build_memfs({"..": b""})
    with pytest.raises(ValueError, match="cycle"):
        build_memfs({"x": HardLink("y"), "y": HardLink("x")})
    with pytest.raises(TypeError, match="not bytes"):
        build_memfs({"x": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="MemoryFS"):
        read_tree(3)  # type: ignore[arg-type]


def test_tree_paths_walks_depth_first():
    assert [p for p, _ in tree_paths(SPEC)] == [
        "a.txt", "d", "d/e", "d/f", "d/up", "h", "h2", "l", "dang"]


# --- run_wasi ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "host", "wasmtime"])
def test_run_wasi_on_every_backend(backend):
    res = run_wasi(WC, SPEC, args=["wc", "a.txt", "/d/f", "l/up", "dang"], backend=backend)
    assert res.exit_code == 1
    assert res.out == "1 2 8 a.txt\n0 1 1 /d/f\n1 2 8 l/up\n2 5 17 total\n"
    assert res.err == "wc: dang: No such file or directory\n"
    assert res.tree == PLAIN and res.links == [("d/f", "h", "h2")]
    assert (res.fs is not None) == (backend == "memory")


def test_run_wasi_stdin_env_mount_and_an_empty_tree():
    res = run_wasi(WC, args=["wc", "-w"], stdin=b"a b  c\n")
    assert (res.exit_code, res.stdout, res.tree) == (0, b"3\n", {})
    res = run_wasi(WC, {"x": b"1 2"}, args=["wc", "-c", "/data/x"], mount="/data",
                   env={"LANG": "C"})
    assert res.out == "3 /data/x\n"


@pytest.mark.parametrize("backend", ["memory", "wasmtime"])
def test_run_wasi_with_a_memoryfs(backend):
    # "memory" runs on the caller's MemoryFS itself; the others on a copy of it
    memfs = build_memfs({"old": b"o"})
    script = b"open 3 new oflags creat rights write\nwrite $0 hi\n"
    res = run_wasi(FSOPS, memfs, args=["fsops"], stdin=script, backend=backend)
    assert res.out == "ok 4\nok 2\n"
    assert res.tree == {"new": b"hi", "old": b"o"}
    assert ("new" in memfs.listdir("/")) == (backend == "memory")


def test_run_wasi_refuses_an_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        run_wasi(WC, {}, backend="zip")  # type: ignore[arg-type]


# --- strategies ------------------------------------------------------------------------------------


def _depth(spec: dict, level: int = 0) -> int:
    return max([level, *(_depth(v, level + 1) for v in spec.values() if isinstance(v, dict))])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees(max_entries=7, max_depth=2, max_file_size=10))
def test_trees_keep_their_bounds_and_build(tree):
    entries = list(tree_paths(tree))
    assert len(entries) <= 7 and _depth(tree) <= 2
    for path, value in entries:
        name = posixpath.basename(path)
        assert name not in ("", ".", "..") and "/" not in name and "\0" not in name
        if isinstance(value, bytes):
            assert len(value) <= 10
        if isinstance(value, HardLink):
            assert not isinstance(dict(entries)[value.path], dict)
    memfs = build_memfs(tree)
    # what was built reads back as the spec, hard links and all
    assert build_memfs(read_tree(memfs, hard_links=True)) is not None
    assert read_tree(build_memfs(read_tree(memfs, hard_links=True))) == read_tree(memfs)


@settings(max_examples=60)
@given(tree=trees(symlinks=False, hard_links=False, max_entries=5))
def test_trees_without_links(tree):
    assert all(isinstance(v, (bytes, dict)) for _, v in tree_paths(tree))


@settings(max_examples=60)
@given(tree=trees(dangling_symlinks=False), data=st.data())
def test_symlinks_without_dangling_ones_resolve(tree, data):
    for path, value in tree_paths(tree):
        if isinstance(value, Symlink):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), value.target))
            assert target == "." or target in dict(tree_paths(tree)), (path, value)


@settings(max_examples=60)
@given(name=names(odd=True, max_size=5))
def test_odd_names_are_single_names(name):
    assert 1 <= len(name) <= 5 and name not in (".", "..") and "/" not in name
    assert name.encode("utf-8")  # valid UTF-8, as WASI paths must be


@settings(max_examples=30)
@given(memfs=memory_trees(max_entries=4))
def test_memory_trees_are_memoryfs(memfs):
    assert isinstance(memfs, MemoryFS)
    read_tree(memfs)


# --- the pytest plugin ----------------------------------------------------------------------------


def test_the_plugin_is_registered(pytestconfig, wasi_run, memfs):
    assert pytestconfig.pluginmanager.has_plugin("vfswasi.testing.plugin")
    assert wasi_run is run_wasi
    assert isinstance(memfs, MemoryFS) and memfs.listdir("/") == []


def test_the_readme_example_runs_as_a_user_runs_it(pytester):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Property-based testing", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    assert len(example.strip().splitlines()) <= 10
    (pytester.path / "examples" / "guests").mkdir(parents=True)
    shutil.copy(WC, pytester.path / "examples" / "guests" / "wc.wasm")
    pytester.makepyfile(test_users_wc=example)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
