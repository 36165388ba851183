"""Trees deeper than Python's recursion limit, made by a real guest: nothing in the archive and
overlay backends (or in the tree helpers the tests use) may recurse over them.

A guest may legally build a directory chain 10,000 deep (tests/guests/src/deep.c walks down with
`openat` on the directory above, so no path it passes is longer than one name). Each test
checks what comes out: exit codes, the guest's output, member counts and bytes.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _read_host_tree, _write_host_tree, guest, make_mount
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi.backends.overlay import Changes, _remove_tree
from vfswasi.testing.treespec import hard_links, read_tree, tree_paths, write_tree

N = 10_000
TEXT = "the bottom of a 10000-deep tree\n"
WASM = guest("deep")


def deep(preopen: Any, *args: str) -> vfswasi.RunResult:
    return vfswasi.run(WASM, args=["deep", *args], preopens={"/m": preopen})


def chain(n: int = N) -> list[str]:
    """The paths a `deep mkdirs ROOT n` makes, parents first: d, d/d, ..., then the file."""
    paths, p = [], "d"
    for _ in range(n):
        paths.append(p)
        p += "/d"
    return [*paths, paths[-1] + "/bottom.txt"]


@pytest.fixture
def deep_host_dirs() -> Iterator[list[Path]]:
    """Deep host directories a test made, removed after it without recursion: pytest's own
    clean-up of old temporary directories (shutil.rmtree) recurses, and would fail on them."""
    made: list[Path] = []
    yield made
    for path in made:
        if path.exists():
            _remove_tree(str(path))


def same(got: list[str], want: list[str]) -> str:
    """"" when equal, else where they first differ (pytest's own diff of two lists of 10,000
    long paths would take minutes)."""
    if got == want:
        return ""
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"#{i}: {a[-40:]!r} != {b[-40:]!r}"
    return f"lengths {len(got)} != {len(want)}"


def members(archive: Path) -> dict[str, bytes | None]:
    """Member name -> data (None for directories), as zipfile / tarfile read the archive."""
    out: dict[str, bytes | None] = {}
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                out[info.filename] = None if info.is_dir() else z.read(info)
        return out
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            f = t.extractfile(m) if m.isreg() else None
            out[m.name] = None if m.isdir() else (f.read() if f else b"")
    return out


def expected_members(fmt: str) -> dict[str, bytes | None]:
    *dirs, bottom = chain()
    slash = "/" if fmt == "zip" else ""
    return {**{d + slash: None for d in dirs}, bottom: TEXT.encode()}


def check_members(archive: Path, fmt: str) -> None:
    got, want = members(archive), expected_members(fmt)
    assert len(got) == N + 1
    assert got == want, same(sorted(got), sorted(want))


# --- writable archives --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_a_writable_archive_writes_back_a_deep_tree_and_mounts_it_again(tmp_path, fmt):
    archive = tmp_path / f"a.{fmt}"
    made = deep(f"{fmt}+rw://{archive}", "mkdirs", "/m", str(N), TEXT)
    assert (made.exit_code, made.stdout) == (0, b"made 10000\n")
    check_members(archive, fmt)  # all of it written back: N directories and the file

    ro = deep(f"{fmt}://{archive}", "check", "/m", str(N))
    assert (ro.exit_code, ro.stdout) == (0, TEXT.encode())

    # writable again: loaded whole, changed at the bottom, written back, read back
    rewritten = deep(f"{fmt}+rw://{archive}", "write", "/m", str(N), "changed\n")
    assert (rewritten.exit_code, rewritten.stdout) == (0, b"wrote 10000\n")
    again = deep(f"{fmt}://{archive}", "check", "/m", str(N))  # so all N levels are there
    assert (again.exit_code, again.stdout) == (0, b"changed\n")


# --- an archive made by Python's tarfile -----------------------------------------------------------


@pytest.fixture(scope="module")
def python_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10,000-deep tar written by tarfile itself (pax names, no vfswasi involved)."""
    path = tmp_path_factory.mktemp("deep") / "python.tar"
    *dirs, bottom = chain()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_600_000_000
            t.addfile(info)
        info = tarfile.TarInfo(bottom)
        info.size, info.mtime = len(TEXT), 1_600_000_000
        t.addfile(info, io.BytesIO(TEXT.encode()))
    return path


def test_a_deep_tar_made_by_tarfile_mounts_read_only(python_tar):
    res = deep(f"tar://{python_tar}", "check", "/m", str(N))
    assert (res.exit_code, res.stdout) == (0, TEXT.encode())


def test_a_deep_tar_made_by_tarfile_mounts_writable(python_tar, tmp_path):
    copy = tmp_path / "copy.tar"
    copy.write_bytes(python_tar.read_bytes())
    wrote = deep(f"tar+rw://{copy}", "write", "/m", str(N), "changed\n")
    assert (wrote.exit_code, wrote.stdout) == (0, b"wrote 10000\n")
    got = members(copy)
    assert len(got) == N + 1
    assert got[chain()[-1]] == b"changed\n"


def test_an_overlay_copies_up_the_ancestors_of_a_deep_lower_file(python_tar):
    before = python_tar.read_bytes()
    with vfswasi.overlay(f"tar://{python_tar}") as ov:
        # a write at the bottom copies up the 10,000 directories above it
        wrote = deep(ov, "write", "/m", str(N), "changed\n")
        assert (wrote.exit_code, wrote.stdout) == (0, b"wrote 10000\n")
        read = deep(ov, "check", "/m", str(N))
        assert (read.exit_code, read.stdout) == (0, b"changed\n")
        assert ov.changes() == Changes([], [chain()[-1]], [])
    assert python_tar.read_bytes() == before


# --- overlays ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["host", "memory"])
def deep_overlay(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(an overlay in which the guest made the 10,000-deep chain, its lower)."""
    lower: Any = (str(tmp_path_factory.mktemp("lower")) if request.param == "host"
                  else MemoryFS())
    with vfswasi.overlay(lower) as ov:
        made = deep(ov, "mkdirs", "/m", str(N), TEXT)
        assert (made.exit_code, made.stdout) == (0, b"made 10000\n")
        yield ov, lower


def test_overlay_changes_list_every_path_of_a_deep_tree(deep_overlay):
    ov, lower = deep_overlay
    changes = ov.changes()
    assert len(changes.added) == N + 1
    assert not same(changes.added, sorted(chain())), same(changes.added, sorted(chain()))
    assert (changes.modified, changes.deleted) == ([], [])
    # the lower never saw any of it
    assert (os.listdir(lower) if isinstance(lower, str) else lower.listdir("/")) == []


@pytest.mark.parametrize("suffix", [".zip", ".tar", ".tar.gz"])
def test_overlay_exports_a_deep_tree_whole(deep_overlay, tmp_path, suffix):
    ov, _ = deep_overlay
    target = tmp_path / f"layer{suffix}"
    changes = ov.export(target)
    assert len(changes.added) == N + 1
    check_members(target, "zip" if suffix == ".zip" else "tar")
    assert os.listdir(tmp_path) == [target.name]  # no temporary file left beside it
    scheme = "zip" if suffix == ".zip" else "tar"
    res = deep(f"{scheme}://{target}", "check", "/m", str(N))
    assert (res.exit_code, res.stdout) == (0, TEXT.encode())


def test_overlay_exports_a_deep_tree_to_a_directory(deep_overlay, tmp_path, deep_host_dirs):
    ov, _ = deep_overlay
    target = tmp_path / "layer"
    deep_host_dirs.append(target)
    changes = ov.export(target)  # paths 20,000 characters long: written relative to fds
    assert len(changes.added) == N + 1
    assert os.listdir(tmp_path) == ["layer"]
    res = deep(str(target), "check", "/m", str(N))  # the host-directory backend reads it
    assert (res.exit_code, res.stdout) == (0, TEXT.encode())


def test_cli_changes_lists_a_deep_tree(tmp_path, capfd, monkeypatch):
    from vfswasi.cli import main

    monkeypatch.setenv("VFSWASI_CACHE_DIR", str(tmp_path / "cache"))
    lower = tmp_path / "lower"
    lower.mkdir()
    code = main(["run", "--overlay-dir", f"{lower}::/m", "--changes", str(WASM),
                 "mkdirs", "/m", str(N), TEXT])
    out, err = capfd.readouterr()  # the guest writes to fd 1 itself
    assert (code, out) == (0, "made 10000\n")
    lines = err.splitlines()
    want = [f"A /m/{p}" for p in sorted(chain())]
    assert not same(lines, want), same(lines, want)
    assert os.listdir(lower) == []


# --- an export that fails leaves nothing behind ------------------------------------------------


@pytest.mark.parametrize("name", ["layer.zip", "layer.tar", "layer.tar.gz", "layer"])
@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_export_leaves_the_target_as_it_was(tmp_path, name, existing):
    lower = MemoryFS()
    with vfswasi.overlay(lower) as ov:
        res = vfswasi.run(guest("tree"), preopens={"/m": ov}, args=[
            "tree", "mkdir", "/m/a", ";", "write", "/m/a/1", "one", ";",
            "write", "/m/a/2", "two", ";", "write", "/m/a/3", "three"])
        assert res.exit_code == 0
        out = tmp_path / "out"
        out.mkdir()
        target = out / name
        if existing:  # an archive target is replaced; a directory target must be empty
            if name == "layer":
                target.mkdir()
            else:
                target.write_bytes(b"the previous export")
        real_open = ov.backend.open_file
        reads: list[str] = []

        def failing_open(d: Any, entry: str, **kwargs: Any) -> Any:  # the export reading a file
            reads.append(entry)
            if len(reads) == 2:
                raise OSError(5, "simulated I/O error")
            return real_open(d, entry, **kwargs)

        ov.backend.open_file = failing_open  # type: ignore[method-assign]
        with pytest.raises(OSError, match="simulated"):
            ov.export(target)
        assert reads == ["1", "2"]  # it failed mid-walk, after writing one file
        if not existing:
            assert os.listdir(out) == []  # neither a partial target nor a temporary file
        elif name == "layer":
            assert os.listdir(out) == ["layer"] and os.listdir(target) == []
        else:
            assert os.listdir(out) == [name]
            assert target.read_bytes() == b"the previous export"

        ov.backend.open_file = real_open  # type: ignore[method-assign]
        assert ov.export(target) == Changes(["a", "a/1", "a/2", "a/3"], [], [])


# --- the tree helpers the tests use ------------------------------------------------------------


def deep_spec(n: int) -> dict:
    """{"d": {"d": ... {"bottom.txt": TEXT}}}, n directories deep, built without recursion."""
    spec: dict = {"bottom.txt": TEXT.encode()}
    for _ in range(n):
        spec = {"d": spec}
    return spec


def flat(spec: dict) -> list[tuple[str, Any]]:
    """A spec as (path, value) pairs, directories as "dir": comparing nested dicts 10,000
    deep would itself exceed the recursion limit."""
    return [(p, "dir" if isinstance(v, dict) else v) for p, v in tree_paths(spec)]


def test_treespec_writes_and_reads_a_deep_tree():
    spec = deep_spec(N)
    memfs = MemoryFS()
    write_tree(spec, memfs)
    back = read_tree(memfs, hard_links=True)
    assert flat(back) == flat(spec)
    assert len(flat(back)) == N + 1
    assert hard_links(memfs) == []
    res = deep(memfs, "check", "/m", str(N))
    assert (res.exit_code, res.stdout) == (0, TEXT.encode())


@pytest.mark.parametrize("kind", ["memory", "tar", "zip-rw"])
def test_conftest_mounts_build_and_read_back_a_deep_tree(kind, tmp_path):
    spec = deep_spec(N)
    mount = make_mount(kind, tmp_path, spec)
    res = deep(mount.preopen, "check", "/m", str(N))
    assert (res.exit_code, res.stdout) == (0, TEXT.encode())
    assert flat(mount.tree()) == flat(spec)


def test_conftest_host_tree_helpers_go_deeper_than_the_recursion_limit(tmp_path,
                                                                      deep_host_dirs):
    # host paths are joined whole, so stay below PATH_MAX (4096): 1,500 levels is 3,000
    # characters, and still deeper than Python's default recursion limit of 1,000
    spec = deep_spec(1500)
    deep_host_dirs.append(tmp_path / "d")
    _write_host_tree(tmp_path, spec)
    assert flat(_read_host_tree(tmp_path)) == flat(spec)
