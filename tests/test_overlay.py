"""Overlay mounts (`vfswasi.overlay`): copy-on-write over a host directory or a MemoryFS.

The whole guest suite already runs on the overlay kinds (they are in conftest's
BACKEND_KINDS, and conftest checks after every test that no overlay's lower changed). Here:

- the same fsops scripts on an overlay and on its plain lower kind print the same lines and
  leave the same tree, while the lower stays byte for byte as it was, times and inodes too;
- the layer's own edge cases: whiteouts, renamed and replaced (opaque) directories, rmdir of a
  directory that only looks empty once whiteouts apply, readdir cookies while entries are
  copied up, open fds across copy-up, hard links into and within the lower, inode numbers;
- `changes()` and `export()` exactly (an export applied OCI-style onto the lower must give the
  merged tree), the `overlay:` URL and `Overlay` preopens, the CLI flags and the example.

Transcripts that are plain POSIX behaviour run on every backend (`oracle_kind` / `kind`), so
the overlay is held to the same answers; the overlay's own record is checked when the kind is
an overlay kind.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import OVERLAY_KINDS, Mount, Symlink, guest, make_mount, run_guest
from fsops import check_transcript, run_script, transcript
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vfswasi
from vfswasi.abi import Filetype
from vfswasi.backends.overlay import Changes, Overlay, OverlayBackend
from vfswasi.vfs import Stat

ROOT = Path(__file__).resolve().parent.parent
TREE = {
    "a.txt": b"hello",
    "d": {"f": b"F", "sub": {"g": b"G"}},
    "l": Symlink("a.txt"),
    "ld": Symlink("d"),
    "empty": {},
}


@pytest.fixture(params=OVERLAY_KINDS)
def ov_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def overlay_of(mount: Mount) -> Overlay:
    return mount.preopen


def changes_of(mount: Mount) -> Changes | None:
    """The overlay's changes, or None when `mount` is no overlay."""
    return overlay_of(mount).changes() if mount.kind in OVERLAY_KINDS else None


def snapshot(mount: Mount) -> dict:
    """Everything about the lower of overlay `mount`: types, bytes, targets, and (dev, ino,
    nlink, mtime) of every entry, the root included."""
    lower = mount._extra["lower"]
    if lower.host_dir is not None:
        out = {}
        for dirpath, dirnames, filenames in os.walk(lower.host_dir):
            for name in [".", *dirnames, *filenames]:
                p = Path(dirpath, name)
                s = os.lstat(p)
                data = (os.readlink(p) if stat.S_ISLNK(s.st_mode)
                        else p.read_bytes() if stat.S_ISREG(s.st_mode) else None)
                out[str(p)] = (s.st_mode, s.st_ino, s.st_nlink, s.st_mtime_ns, data)
        return out
    from vfswasi.backends.memory import MemoryBackend

    backend = MemoryBackend(lower.preopen)

    def facts(s: Stat) -> tuple:
        return s.filetype, s.ino, s.nlink, s.size, s.mtim  # (reads may move atime)

    out = {"/": facts(backend.stat_dir(backend.root()))}

    def walk(d: Any, prefix: str) -> None:
        for name, _, ftype in sorted(backend.listdir(d)):
            out[prefix + name] = facts(backend.lstat(d, name))
            if ftype == Filetype.DIRECTORY:
                walk(backend.open_dir(d, name), prefix + name + "/")

    walk(backend.root(), "/")
    return {"tree": lower.tree(), "stats": out}


def plain(kind: str) -> str:
    """The plain backend an overlay kind lies over."""
    return kind.split("-")[1]


# --- the same scripts as the plain backends ----------------------------------------------------

SCRIPTS = {
    "files": """
        open 3 a.txt rights read,write
        read 4 2
        write 4 XY
        pread 4 100 0
        fstat 4
        truncate 4 3
        allocate 4 0 6
        pread 4 100 0
        close 4
        open 3 d/f oflags trunc rights write
        fstat 4
        write 4 new
        open 3 d/sub/g fdflags append rights read,write
        write 5 +
        pread 5 10 0
        settimes 3 d/f 1000000000123 2000000000456 atim,mtim
        times 3 d/f
        settimes 3 l 7 8 atim,mtim nofollow
        times 3 l
        stat 3 l follow
        open 3 d/new oflags creat,excl rights write
        open 3 d/new oflags creat,excl rights write
        stat 3 d/new
    """,
    "dirs": """
        rename 3 d 3 e
        stat 3 d
        ls 3
        open 3 e oflags directory
        ls 4
        stat 3 ld follow
        readlink 3 ld
        rmdir 3 e
        unlink 3 e/f
        rmdir 3 e
        unlink 3 e/sub/g
        rmdir 3 e/sub
        rmdir 3 e
        ls 3
        ls 4
        stat 4 f
        mkdir 4 x
        mkdir 3 e
        ls 3
        mkdir 3 empty/in
        rmdir 3 empty
        rename 3 e 3 empty
        ls 3
        rename 3 empty/in 3 d2
        rmdir 3 empty
    """,
    "links": """
        link 3 a.txt 3 hard
        ino 3 a.txt
        ino 3 hard
        open 3 hard rights read,write
        write 4 HARD
        open 3 a.txt
        read 5 100
        stat 3 a.txt
        unlink 3 a.txt
        stat 3 hard
        rename 3 l 3 l2
        readlink 3 l2
        stat 3 l2 follow
        symlink hard 3 l
        stat 3 l follow
        link 3 ld 3 ld2
        readlink 3 ld2
        rename 3 hard 3 d/sub/hard
        read 5 100
        pread 4 100 0
    """,
    "inodes": """
        ino 3 a.txt
        ino 3 d
        ino 3 d/f
        ino 3 .
        open 3 a.txt rights write
        write 4 x
        ino 3 a.txt
        ino 4
        rename 3 d 3 e
        ino 3 e
        ino 3 e/f
        open 3 e/f rights write
        ino 5
        ino 3 e/f
        mkdir 3 n
        ino 3 n
        open 3 e oflags directory
        inocheck 6
        inocheck 3
        ino 6
    """,
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_scripts_print_the_same_as_the_plain_backend(ov_kind, tmp_path, script):
    mount = make_mount(ov_kind, tmp_path, TREE)
    before = snapshot(mount)
    reference = make_mount(plain(ov_kind), tmp_path, TREE)
    expected = run_script(plain(ov_kind), reference, SCRIPTS[script])
    assert run_script(ov_kind, mount, SCRIPTS[script]) == expected
    assert mount.tree() == reference.tree()
    assert snapshot(mount) == before


def test_tree_guest_does_the_same_as_on_the_plain_backend(ov_kind, tmp_path):
    argv = ("write /s/a.txt new ; append /s/d/f ++ ; mv /s/d /s/moved ; rm /s/l ; "
            "mkdir -p /s/p/q ; cp /s/a.txt /s/p/q/c ; ln /s/moved/f /s/hard ; "
            "rm -r /s/moved/sub ; ls -R /s ; cat /s/hard /s/p/q/c").split()
    results = []
    for m in (make_mount(plain(ov_kind), tmp_path, TREE), make_mount(ov_kind, tmp_path, TREE)):
        res = run_guest(m.kind, guest("tree"), ["tree", *argv], {"/s": m})
        results.append((res.exit_code, res.stdout, m.tree()))
    assert results[0] == results[1]
    assert results[1][0] == 0


# --- the layer's edge cases ---------------------------------------------------------------------

def test_rename_a_lower_directory_with_children(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        ino 3 d/sub/g                -> ok #1
        ino 3 d                      -> ok #2
        rename 3 d 3 e               -> ok
        stat 3 d                     -> err NOENT
        stat 3 d/f                   -> err NOENT
        ino 3 e                      -> ok #2
        ino 3 e/sub/g                -> ok #1
        open 3 e/sub oflags directory -> ok 4
        ls 4                         -> ok g:file
        inocheck 4                   -> ok same=2 differ=0
        read 5 1                     -> err BADF
        open 4 g                     -> ok 5
        read 5 10                    -> ok "G"
        # a directory renamed into its own subtree: refused
        rename 3 e 3 e/sub/x         -> err INVAL
        ls 3                         -> ok a.txt:file e:dir empty:dir l:link ld:link
    """)
    assert mount.tree()["e"] == TREE["d"]
    if oracle_kind in OVERLAY_KINDS:
        ov = overlay_of(mount)
        assert ov.changes() == Changes(["e", "e/f", "e/sub", "e/sub/g"], [],
                                       ["d", "d/f", "d/sub", "d/sub/g"])
        # renaming copied nothing: the upper holds an empty directory that remembers its origin
        assert ov.upper.listdir("/") == ["e"] and ov.upper.listdir("/e") == []
        # and renaming it back is no change at all
        check_transcript(oracle_kind, mount, "rename 3 e 3 d -> ok")
        assert ov.changes() == Changes([], [], [])


def test_delete_then_recreate_names_with_another_type(oracle_kind, tmp_path):
    tree = {"n": b"file", "k": {"old": b"o", "keep": {}}, "m": {"c": b"c"}}
    mount = transcript(oracle_kind, tmp_path, tree, """
        # file -> directory
        unlink 3 n                   -> ok
        mkdir 3 n                    -> ok
        stat 3 n                     -> ok dir
        # directory -> new directory: nothing of the old one shows through
        unlink 3 k/old               -> ok
        rmdir 3 k/keep               -> ok
        rmdir 3 k                    -> ok
        mkdir 3 k                    -> ok
        open 3 k oflags directory    -> ok 4
        ls 4                         -> ok
        stat 4 old                   -> err NOENT
        open 4 new oflags creat rights write -> ok 5
        # directory -> file
        unlink 3 m/c                 -> ok
        rmdir 3 m                    -> ok
        open 3 m oflags creat rights write -> ok 6
        write 6 now-a-file           -> ok 10
        stat 3 m                     -> ok file size=10 nlink=1
        ls 3                         -> ok k:dir m:file n:dir
    """)
    assert mount.tree() == {"k": {"new": b""}, "m": b"now-a-file", "n": {}}
    if oracle_kind in OVERLAY_KINDS:
        assert changes_of(mount) == Changes(
            added=["k/new"], modified=["k", "m", "n"], deleted=["k/keep", "k/old", "m/c"])


def test_rmdir_of_a_merged_directory_that_is_empty_only_after_whiteouts(oracle_kind, tmp_path):
    tree = {"d": {"a": b"", "b": {}, "l": Symlink("a")}}
    mount = transcript(oracle_kind, tmp_path, tree, """
        rmdir 3 d                    -> err NOTEMPTY
        unlink 3 d/a                 -> ok
        unlink 3 d/l                 -> ok
        rmdir 3 d                    -> err NOTEMPTY
        rmdir 3 d/b                  -> ok
        open 3 d oflags directory    -> ok 4
        ls 4                         -> ok
        rmdir 3 d                    -> ok
        stat 3 d                     -> err NOENT
        # the removed directory's fd sees none of the lower's entries, and takes no new ones
        ls 4                         -> ok
        stat 4 a                     -> err NOENT
        open 4 a oflags creat rights write -> err NOENT
        mkdir 4 x                    -> err NOENT
        ls 3                         -> ok
    """)
    assert mount.tree() == {}
    if oracle_kind in OVERLAY_KINDS:
        assert changes_of(mount) == Changes([], [], ["d", "d/a", "d/b", "d/l"])


def test_readdir_cookies_and_inodes_stay_while_entries_are_copied_up(kind, tmp_path):
    # (`kind`, not `oracle_kind`: wasmtime re-reads the directory on every fd_readdir, so its
    # cookies follow changes; vfswasi lists from the snapshot taken at cookie 0)
    tree = {"dir": {"a": b"1", "b": b"2", "c": b"3", "d": b"4"}}
    transcript(kind, tmp_path, tree, """
        open 3 dir oflags directory  -> ok 4
        ino 4 b                      -> ok #1
        ino 4 c                      -> ok #2
        readdir 4 60 0               -> ok 60 1:dir:. 2:dir:.. cut:9
        open 4 b rights read,write   -> ok 5
        write 5 X                    -> ok 1
        settimes 4 c 1 2 atim,mtim   -> ok
        unlink 4 a                   -> ok
        open 4 e oflags creat rights write -> ok 6
        readdir 4 4096 2             -> ok 100 3:file:a 4:file:b 5:file:c 6:file:d
        ino 4 b                      -> ok #1
        ino 4 c                      -> ok #2
        inocheck 4                   -> ok same=5 differ=0
        ls 4                         -> ok b:file c:file d:file e:file
    """)


def test_rename_onto_an_ancestor_of_the_source(oracle_kind, tmp_path):
    # renameat2's "trap" checks come before the kind checks: ENOTEMPTY, not EISDIR
    transcript(oracle_kind, tmp_path, TREE, """
        rename 3 d/f 3 d             -> err NOTEMPTY
        rename 3 d/sub/g 3 d         -> err NOTEMPTY
        rename 3 d/sub 3 d           -> err NOTEMPTY
        rename 3 d 3 d/sub           -> err INVAL
        rename 3 d/f 3 empty         -> err ISDIR
    """)


def test_open_fds_follow_a_copy_up(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, {"a.txt": b"lower", "t": b"tt"}, """
        open 3 a.txt                 -> ok 4
        open 3 a.txt                 -> ok 5
        read 5 2                     -> ok "lo"
        open 3 a.txt rights read,write -> ok 6
        write 6 UPPER!               -> ok 6
        pread 4 100 0                -> ok "UPPER!"
        read 5 100                   -> ok "PER!"
        fstat 4                      -> ok file size=6 nlink=1
        ino 4                        -> ok #1
        ino 6                        -> ok #1
        # O_TRUNC copies nothing up, and a reader sees the empty file
        open 3 t                     -> ok 7
        open 3 t oflags trunc rights write -> ok 8
        pread 7 10 0                 -> ok ""
        fstat 7                      -> ok file size=0 nlink=1
    """)


def test_set_times_through_a_read_only_fd(kind, tmp_path):
    # (wasmtime refuses fd_filestat_set_times without write access: a Rust File limitation)
    mount = transcript(kind, tmp_path, {"a": b"x", "b": b"y"}, """
        open 3 a                     -> ok 4
        fsettimes 4 1000 2000 atim,mtim -> ok
        ftimes 4                     -> ok atim=1000 mtim=2000
        times 3 a                    -> ok atim=1000 mtim=2000
        open 3 b                     -> ok 5
        unlink 3 b                   -> ok
        fsettimes 5 3000 4000 atim,mtim -> ok
        ftimes 5                     -> ok atim=3000 mtim=4000
        pread 5 10 0                 -> ok "y"
    """)
    if kind in OVERLAY_KINDS:
        assert changes_of(mount) == Changes([], ["a"], ["b"])


def test_hard_link_to_a_lower_file(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, {"a": b"old", "d": {}}, """
        link 3 a 3 d/b               -> ok
        ino 3 a                      -> ok #1
        ino 3 d/b                    -> ok #1
        stat 3 a                     -> ok file size=3 nlink=2
        open 3 d/b rights read,write -> ok 4
        write 4 NEW                  -> ok 3
        open 3 a rights read,write   -> ok 5
        read 5 10                    -> ok "NEW"
        pwrite 5 Z 0                 -> ok 1
        pread 4 10 0                 -> ok "ZEW"
        unlink 3 a                   -> ok
        stat 3 d/b                   -> ok file size=3 nlink=1
    """)
    assert mount.tree() == {"d": {"b": b"ZEW"}}
    if oracle_kind in OVERLAY_KINDS:
        assert changes_of(mount) == Changes(["d/b"], [], ["a"])


@pytest.mark.parametrize("lower_kind", ["host", "memory"])
def test_hard_links_within_the_lower_stay_one_file(lower_kind, tmp_path):
    lower = make_mount(lower_kind, tmp_path, {"a": b"same", "d": {}, "other": b"x"})
    if lower.host_dir is not None:
        os.link(lower.host_dir / "a", lower.host_dir / "d" / "b")
    else:
        from vfswasi.backends.memory import MemoryBackend

        b = MemoryBackend(lower.preopen)
        d = b.open_dir(b.root(), "d")
        b.link(b.root(), "a", d, "b")
    lower_before = lower.tree()
    ov = vfswasi.overlay(lower.preopen)
    mount = Mount("overlay-" + lower_kind, ov)
    check_transcript(mount.kind, mount, """
        ino 3 a                      -> ok #1
        ino 3 d/b                    -> ok #1
        open 3 d/b                   -> ok 4
        open 3 a rights read,write   -> ok 5
        write 5 SAME                 -> ok 4
        open 3 d/b                   -> ok 6
        read 6 10                    -> ok "SAME"
        pread 4 10 0                 -> ok "SAME"
        stat 3 d/b                   -> ok file size=4 nlink=2
        ino 3 d/b                    -> ok #1
        open 3 d/b rights write      -> ok 7
        pwrite 7 b 0                 -> ok 1
        pread 5 10 0                 -> ok "bAME"
    """)
    assert mount.tree() == {"a": b"bAME", "d": {"b": b"bAME"}, "other": b"x"}
    assert lower.tree() == lower_before
    assert ov.changes() == Changes([], ["a", "d/b"], [])


def test_lower_symlinks_are_symlinks_and_are_never_followed_by_the_overlay(oracle_kind, tmp_path):
    tree = {"t.txt": b"T", "l": Symlink("t.txt"), "dangling": Symlink("nowhere"),
            "up": Symlink("../escape"), "loop": Symlink("loop"), "dl": Symlink("sub/"),
            "sub": {"x": b"X"}}
    mount = transcript(oracle_kind, tmp_path, tree, """
        stat 3 l                     -> ok link size=5 nlink=1
        stat 3 l follow              -> ok file size=1 nlink=1
        readlink 3 dangling          -> ok "nowhere"
        open 3 dangling              -> err NOENT
        open 3 up                    -> REFUSED
        open 3 loop                  -> err LOOP
        open 3 dl/x                  -> ok 4
        # writing through a link changes the target, never the link
        open 3 l rights read,write   -> ok 5
        write 5 W                    -> ok 1
        readlink 3 l                 -> ok "t.txt"
        open 3 dangling oflags creat rights write -> ok 6
        stat 3 nowhere               -> ok file size=0 nlink=1
        rename 3 l 3 l2              -> ok
        readlink 3 l2                -> ok "t.txt"
        unlink 3 dl                  -> ok
        stat 3 sub/x                 -> ok file size=1 nlink=1
    """)
    assert mount.tree()["l2"] == Symlink("t.txt") and mount.tree()["t.txt"] == b"W"
    if oracle_kind in OVERLAY_KINDS:
        assert changes_of(mount) == Changes(["l2", "nowhere"], ["t.txt"], ["dl", "l"])


def test_inode_numbers_are_stable_and_distinct_across_layers(ov_kind, tmp_path):
    mount = make_mount(ov_kind, tmp_path, TREE)
    backend = overlay_of(mount).backend
    root = backend.root()

    def ino(name: str) -> int:
        return backend.lstat(root, name).ino

    before = {n: ino(n) for n in ("a.txt", "d", "l", "empty")}
    run_script(ov_kind, mount, """
        open 3 a.txt rights write
        write 4 changed
        settimes 3 l 1 1 atim,mtim nofollow
        rename 3 d 3 d2
        rename 3 d2 3 d
        mkdir 3 empty/x
        mkdir 3 new
        open 3 f oflags creat rights write
    """)
    after = {n: ino(n) for n in before}
    assert after == before
    new = {ino("new"), ino("f"), backend.lstat(backend.open_dir(root, "empty"), "x").ino}
    assert len(new) == 3 and not new & set(before.values())
    assert {s.dev for s in (backend.lstat(root, "a.txt"), backend.lstat(root, "new"),
                            backend.stat_dir(root))} == {backend.dev}
    # d_ino == stat ino for every entry, in both layers
    assert {(n, i) for n, i, _ in backend.listdir(root)} == {
        (n, backend.lstat(root, n).ino) for n, _, _ in backend.listdir(root)}


def test_copy_up_keeps_the_parents_times(ov_kind, tmp_path):
    mount = make_mount(ov_kind, tmp_path, {"d": {"e": {"f": b"x"}}})
    check_transcript(ov_kind, mount, """
        settimes 3 d 100 200 atim,mtim      -> ok
        settimes 3 d/e 300 400 atim,mtim    -> ok
        open 3 d/e/f rights write           -> ok 4
        write 4 y                           -> ok 1
        times 3 d                           -> ok atim=100 mtim=200
        times 3 d/e                         -> ok atim=300 mtim=400
        settimes 3 d/e/f 5 6 atim,mtim      -> ok
        times 3 d/e                         -> ok atim=300 mtim=400
    """)


def test_many_entries_and_deep_paths(ov_kind, tmp_path):
    deep: dict = {"leaf": b"L"}
    for i in range(12):
        deep = {f"l{i}": deep}
    tree = {"many": {f"f{i:03}": b"%d" % i for i in range(300)}, **deep}
    mount = make_mount(ov_kind, tmp_path, tree)
    path = "/".join(f"l{i}" for i in reversed(range(12)))
    check_transcript(ov_kind, mount, f"""
        open 3 {path}/leaf rights write     -> ok 4
        write 4 X                           -> ok 1
        open 3 many oflags directory        -> ok 5
        unlink 5 f007                       -> ok
        open 5 f008 rights write            -> ok 6
        inocheck 5                          -> ok same=300 differ=0
    """)
    # (f008 was opened for writing but not written: no change)
    assert overlay_of(mount).changes() == Changes([], [f"{path}/leaf"], ["many/f007"])


# --- changes() and export() ------------------------------------------------------------------------

SCENARIO = """
    open 3 a.txt rights read,write
    write 4 HELLO
    open 3 d/f rights write
    unlink 3 d/sub/g
    rmdir 3 d/sub
    rename 3 l 3 l2
    mkdir 3 new
    mkdir 3 new/deeper
    open 3 new/deeper/n.txt oflags creat rights write
    write 6 N
    symlink ../a.txt 3 new/ln
    rmdir 3 empty
    open 3 empty oflags creat rights write
    settimes 3 ld 1000000000 1000000000 atim,mtim nofollow
"""
SCENARIO_CHANGES = Changes(
    added=["l2", "new", "new/deeper", "new/deeper/n.txt", "new/ln"],
    modified=["a.txt", "empty", "ld"],
    deleted=["d/sub", "d/sub/g", "l"],
)
#: what the export holds: every added or modified entry, and a whiteout per topmost deletion
SCENARIO_LAYER = {
    ".wh.l": b"",
    "a.txt": b"HELLO",
    "d": {".wh.sub": b""},
    "empty": b"",
    "l2": Symlink("a.txt"),
    "ld": Symlink("d"),
    "new": {"deeper": {"n.txt": b"N"}, "ln": Symlink("../a.txt")},
}


def scenario(kind: str, tmp_path: Path) -> Mount:
    mount = make_mount(kind, tmp_path, TREE)
    run_script(kind, mount, SCENARIO)
    return mount


def test_changes_are_exact(ov_kind, tmp_path):
    mount = scenario(ov_kind, tmp_path)
    changes = overlay_of(mount).changes()
    assert changes == SCENARIO_CHANGES
    assert changes.lines() == [
        "M a.txt", "D d/sub", "D d/sub/g", "M empty", "D l", "A l2", "M ld", "A new",
        "A new/deeper", "A new/deeper/n.txt", "A new/ln"]
    # d/f was opened for writing and left alone: no change
    assert "d/f" not in changes.modified


def read_layer_dir(root: Path) -> dict:
    from conftest import _read_host_tree

    return _read_host_tree(root)


def read_layer_zip(path: Path) -> dict:
    out: dict = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            parts = info.filename.rstrip("/").split("/")
            node = out
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            mode = info.external_attr >> 16
            if stat.S_ISDIR(mode):
                node.setdefault(parts[-1], {})
            elif stat.S_ISLNK(mode):
                node[parts[-1]] = Symlink(z.read(info).decode())
            else:
                node[parts[-1]] = z.read(info)
    return out


def read_layer_tar(path: Path) -> dict:
    out: dict = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            parts = m.name.split("/")
            node = out
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            if m.isdir():
                node.setdefault(parts[-1], {})
            elif m.issym():
                node[parts[-1]] = Symlink(m.linkname)
            else:
                node[parts[-1]] = t.extractfile(m).read()
    return out


def apply_layer(tree: dict, layer: dict) -> dict:
    """An OCI layer applied onto a tree spec: whiteouts delete, directories merge, anything
    else replaces."""
    out = dict(tree)
    for name, value in layer.items():
        if name.startswith(".wh."):
            del out[name[4:]]
        elif isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = apply_layer(out[name], value)
        else:
            out[name] = apply_layer({}, value) if isinstance(value, dict) else value
    return out


@pytest.mark.parametrize("target, reader", [
    ("layer", read_layer_dir), ("layer.zip", read_layer_zip), ("layer.tar", read_layer_tar),
    ("layer.tar.gz", read_layer_tar), ("layer.tgz", read_layer_tar)])
def test_export_writes_the_layer(ov_kind, tmp_path, target, reader):
    mount = scenario(ov_kind, tmp_path)
    out = tmp_path / "out" / target
    out.parent.mkdir()
    assert overlay_of(mount).export(out) == SCENARIO_CHANGES
    layer = reader(out)
    assert layer == SCENARIO_LAYER
    assert apply_layer(TREE, layer) == mount.tree()


def test_export_keeps_mtimes_and_refuses_a_non_empty_directory(ov_kind, tmp_path):
    mount = make_mount(ov_kind, tmp_path, {"f": b"x"})
    run_script(ov_kind, mount, """
        open 3 f rights write
        write 4 y
        settimes 3 f 1500000000123456789 1600000000987654321 atim,mtim
    """)
    out = tmp_path / "layer"
    overlay_of(mount).export(out)
    assert os.stat(out / "f").st_mtime_ns == 1600000000987654321
    with zipfile.ZipFile(overlay_of(mount).export(tmp_path / "l.zip") and tmp_path / "l.zip") as z:
        assert z.getinfo("f").date_time[:1] == (2020,)
    with pytest.raises(FileExistsError):
        overlay_of(mount).export(out)


def test_a_deleted_directory_replaced_by_a_file_needs_no_whiteouts_below_it(ov_kind, tmp_path):
    mount = make_mount(ov_kind, tmp_path, {"x": {"a": b"", "b": {"c": b""}}})
    run_script(ov_kind, mount, """
        unlink 3 x/b/c
        rmdir 3 x/b
        unlink 3 x/a
        rmdir 3 x
        open 3 x oflags creat rights write
        write 4 file
    """)
    ov = overlay_of(mount)
    assert ov.changes() == Changes([], ["x"], ["x/a", "x/b", "x/b/c"])
    ov.export(tmp_path / "layer")
    assert read_layer_dir(tmp_path / "layer") == {"x": b"file"}


OPS = st.sampled_from([
    "open 3 {p} rights read,write", "open 3 {p} oflags creat rights write",
    "open 3 {p} oflags trunc rights write", "write 4 {w}", "close 4", "unlink 3 {p}",
    "rmdir 3 {p}", "mkdir 3 {p}", "rename 3 {p} 3 {q}", "link 3 {p} 3 {q}",
    "symlink {t} 3 {p}", "settimes 3 {p} 5 6 atim,mtim nofollow", "ls 3", "stat 3 {p}",
])
PATHS = st.sampled_from(["a.txt", "d", "d/f", "d/sub", "d/sub/g", "l", "ld", "empty",
                         "empty/x", "n", "d/n", "d/sub/n"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(OPS, PATHS, PATHS, st.sampled_from(["w", "ww"])), max_size=12))
def test_random_scripts(ov_kind, tmp_path_factory, steps):
    # Whatever a script does: the overlay answers as a host directory (Linux's answers, the
    # reference's), its lower stays as it was, and its export applied onto the lower gives
    # what the guest sees.
    tmp = tmp_path_factory.mktemp("random")
    script = [op.format(p=p, q=q, w=w, t=q) for op, p, q, w in steps]
    mount, reference = make_mount(ov_kind, tmp, TREE), make_mount("host", tmp, TREE)
    before = snapshot(mount)
    assert run_script(ov_kind, mount, script) == run_script("host", reference, script)
    merged = mount.tree()
    assert merged == reference.tree()
    assert snapshot(mount) == before
    ov = overlay_of(mount)
    ov.export(tmp / "layer")
    assert apply_layer(TREE, read_layer_dir(tmp / "layer")) == merged
    changes = ov.changes()
    # every path whose content differs is listed; nothing is listed twice
    listed = changes.added + changes.modified + changes.deleted
    assert len(listed) == len(set(listed))
    assert _differing_paths(TREE, merged) <= set(listed)


def _differing_paths(a: dict, b: dict, prefix: str = "") -> set[str]:
    out = set()
    for name in a.keys() | b.keys():
        p = prefix + name
        x, y = a.get(name), b.get(name)
        if isinstance(x, dict) and isinstance(y, dict):
            out |= _differing_paths(x, y, p + "/")
        elif x != y:
            out.add(p)
            for side in (x, y):
                if isinstance(side, dict):
                    out |= _differing_paths(side, {}, p + "/")
    return out


# --- other lowers, preopen forms, lifetime -------------------------------------------------------

def test_overlay_of_a_read_only_zip(tmp_path):
    from conftest import write_archive

    archive = tmp_path / "a.zip"
    write_archive(archive, TREE)
    data = archive.read_bytes()
    ov = vfswasi.overlay(f"zip://{archive}")
    mount = Mount("overlay-zip", ov)
    check_transcript(mount.kind, mount, """
        open 3 a.txt rights read,write   -> ok 4
        write 4 J                        -> ok 1
        pread 4 10 0                     -> ok "Jello"
        rename 3 d 3 e                   -> ok
        readlink 3 l                     -> ok "a.txt"
        mkdir 3 e/made                   -> ok
    """)
    assert ov.changes() == Changes(["e", "e/f", "e/made", "e/sub", "e/sub/g"], ["a.txt"],
                                   ["d", "d/f", "d/sub", "d/sub/g"])
    ov.close()
    assert archive.read_bytes() == data


def test_overlay_preopen_forms(tmp_path):
    lower = make_mount("host", tmp_path, TREE)
    script = "open 3 a.txt oflags trunc rights write\nunlink 3 d/f\nmkdir 3 made\nls 3"
    # an "overlay:" URL (the backend owns and closes its lower), an Overlay, a stacked overlay
    assert run_script("overlay-url", Mount("x", f"overlay:{lower.host_dir}"), script)[-1] == \
        "ok a.txt:file d:dir empty:dir l:link ld:link made:dir"
    with vfswasi.overlay(lower.host_dir) as ov:
        top = vfswasi.overlay(ov)
        assert isinstance(top.backend.lower, OverlayBackend)
        run_script("x", Mount("x", top), script)
        assert ov.changes() == Changes([], [], [])  # the middle layer was only read
        assert top.changes() == Changes(["made"], ["a.txt"], ["d/f"])
        # an Overlay serves run after run; its changes accumulate
        run_script("x", Mount("x", ov), "mkdir 3 one")
        run_script("x", Mount("x", ov), "mkdir 3 two")
        assert ov.changes() == Changes(["one", "two"], [], [])
    assert lower.tree() == TREE


def test_files_put_into_the_upper_show_through(tmp_path):
    lower = make_mount("memory", tmp_path, {"d": {"x": {"f": b"lower"}}, "keep": b"k"})
    ov = vfswasi.overlay(lower.preopen)
    ov.upper.makedirs("/d/x")  # a directory made there is opaque: the lower's d/x/f is hidden
    ov.upper.writebytes("/d/x/injected", b"hi")
    ov.upper.writebytes("/keep", b"replaced")
    mount = Mount("overlay-memory", ov)
    check_transcript(mount.kind, mount, """
        ls 3                         -> ok d:dir keep:file
        open 3 d/x oflags directory  -> ok 4
        ls 4                         -> ok injected:file
        inocheck 4                   -> ok same=2 differ=0
        open 3 keep                  -> ok 5
        read 5 100                   -> ok "replaced"
    """)
    assert ov.changes() == Changes(["d/x/injected"], ["d", "d/x", "keep"], ["d/x/f"])


def test_a_missing_lower_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        vfswasi.overlay(tmp_path / "missing")


# --- the CLI and the example --------------------------------------------------------------------------

def vfswasi_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VFSWASI_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "vfswasi", *args], capture_output=True,
                          timeout=120, env=env)


def test_cli_overlay_mounts_and_changes(tmp_path):
    data = make_mount("host", tmp_path, TREE)
    other = make_mount("host", tmp_path, {"z": b"z"})
    res = vfswasi_cli(
        "run", "--overlay-dir", f"{data.host_dir}::/data", "--mount", f"/o=overlay:osfs://{other.host_dir}",
        "--changes", str(guest("tree")), "rm", "/data/a.txt", ";", "write", "/data/d/f", "new", ";",
        "mv", "/data/d/sub", "/data/s", ";", "write", "/o/y", "y", ";", "cat", "/data/d/f",
        tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"new"
    # mount by mount, in the order of the preopens (--mount ones before --overlay-dir ones)
    assert res.stderr.decode().splitlines() == [
        "A /o/y", "D /data/a.txt", "M /data/d/f", "D /data/d/sub", "D /data/d/sub/g",
        "A /data/s", "A /data/s/g"]
    assert data.tree() == TREE and other.tree() == {"z": b"z"}


def test_cli_changes_needs_an_overlay(tmp_path):
    res = vfswasi_cli("run", "--changes", str(guest("tree")), "ls", tmp_path=tmp_path)
    assert res.returncode == 2
    assert b"--changes needs an overlay mount" in res.stderr
    res = vfswasi_cli("run", "--overlay-dir", str(tmp_path / "nope"), str(guest("tree")), "ls",
                      tmp_path=tmp_path)
    assert res.returncode == 1 and b"no such directory" in res.stderr


def test_the_readme_example_runs(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "overlay.py")],
                         capture_output=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "A notes/todo.txt" in out and "D drafts/old.txt" in out and "M report.txt" in out
    assert "host directory untouched: True" in out
