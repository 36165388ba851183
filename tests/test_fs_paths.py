"""Path resolution and the path_* calls: path_open, path_filestat_get/set_times, path_symlink,
path_readlink, path_link.

Every expectation runs on wasmtime's own WASI (the reference) and on each vfswasi backend, via
the `fsops` guest (syntax: tests/guests/src/fsops.c; transcript format: tests/fsops.py).
"""

from __future__ import annotations

import re

import pytest
from conftest import Symlink
from fsops import ops, transcript

TREE = {
    "a.txt": b"hello",
    "d": {"f": b"x", "sub": {}},
    "e": {},
    "l": Symlink("a.txt"),
    "ld": Symlink("d"),
    "dang": Symlink("nope"),
    "loop": Symlink("loop"),
    "l1": Symlink("l2"),
    "l2": Symlink("l1"),
}


def opens(table: list[tuple[str, str]]) -> str:
    """A transcript of independent open attempts: each success gets fd 4 and is closed again."""
    lines = []
    for op, expected in table:
        lines.append(f"{op} -> {expected}")
        if expected.startswith("ok"):
            lines.append("close 4 -> ok")
    return "\n".join(lines)


# --- path_open -----------------------------------------------------------------------------

OPEN_PATH_FORMS = [
    ("open 3 a.txt", "ok 4"),
    ("open 3 d/f", "ok 4"),
    ("open 3 d//f", "ok 4"),
    ("open 3 ./d/./f", "ok 4"),
    ("open 3 d/sub/../../d/./f", "ok 4"),
    ("open 3 d/.//sub/../../d/sub/..///./f", "ok 4"),
    ("open 3 . oflags directory", "ok 4"),
    ("open 3 ./ oflags directory", "ok 4"),
    ("open 3 d/.. oflags directory", "ok 4"),
    ("open 3 d/", "ok 4"),
    ("open 3 d///", "ok 4"),
    ("open 3 missing", "err NOENT"),
    ("open 3 missing/x", "err NOENT"),
    ('open 3 ""', "err NOENT"),
    # a regular file in the middle of a path, or before a trailing slash / dot
    ("open 3 a.txt/x", "err NOTDIR"),
    ("open 3 a.txt/", "err NOTDIR"),
    ("open 3 d/f//", "err NOTDIR"),
    ("open 3 d/f/.", "err NOTDIR"),
    ("open 3 d/f/..", "err NOTDIR"),
    # bytes a path may not hold
    (r'open 3 "a.txt\0"', "err INVAL"),
    (r'open 3 "d\0/f"', "err INVAL"),
    (r'open 3 "\xff"', "err ILSEQ"),
]

OPEN_FLAGS = [
    ("open 3 a.txt oflags directory", "err NOTDIR"),
    ("open 3 d oflags directory", "ok 4"),
    ("open 3 d rights read,write", "err ISDIR"),
    ("open 3 d rights fd_write", "err ISDIR"),
    ("open 3 d oflags creat", "err ISDIR"),
    ("open 3 d oflags trunc rights read,write", "err ISDIR"),
    ("open 3 a.txt oflags creat,excl", "err EXIST"),
    ("open 3 d oflags creat,excl", "err EXIST"),
    ("open 3 l oflags creat,excl", "err EXIST"),  # EXCL never follows the final symlink
    ("open 3 dang oflags creat,excl rights read,write", "err EXIST"),
    ("open 3 a.txt oflags excl", "ok 4"),  # EXCL means nothing without CREAT
    ("open 3 a.txt oflags creat", "ok 4"),  # CREAT on an existing file just opens it
    ("open 3 newdir oflags creat,directory", "err INVAL"),
    ("open 3 d oflags creat,directory", "err INVAL"),
    ("open 3 d oflags directory,trunc", "err INVAL"),
    ("open 3 new/ oflags creat rights read,write", "err ISDIR"),
    ("open 3 e/ oflags creat rights read,write", "err ISDIR"),
    ("open 3 missing/new oflags creat rights read,write", "err NOENT"),
    ("open 3 a.txt/new oflags creat rights read,write", "err NOTDIR"),
]

OPEN_SYMLINKS = [
    ("open 3 l", "ok 4"),
    ("open 3 l lookup nofollow", "err LOOP"),
    ("open 3 ld oflags directory", "ok 4"),
    # nofollow on a symlink to a directory with O_DIRECTORY: wasmtime says LOOP, POSIX allows NOTDIR
    ("open 3 ld oflags directory lookup nofollow", "err LOOP | err NOTDIR"),
    ("open 3 l oflags directory", "err NOTDIR"),
    ("open 3 l oflags directory lookup nofollow", "err LOOP | err NOTDIR"),
    # only the last component obeys `lookup`: symlinks in the middle are always followed
    ("open 3 ld/f lookup nofollow", "ok 4"),
    ("open 3 ld/sub oflags directory lookup nofollow", "ok 4"),
    ("open 3 ld/../a.txt", "ok 4"),
    ("open 3 ld/ lookup nofollow", "ok 4"),  # a trailing slash makes the link a path component
    ("open 3 dang", "err NOENT"),
    ("open 3 dang lookup nofollow", "err LOOP"),
    ("open 3 dang oflags directory lookup nofollow", "err LOOP | err NOTDIR"),
    ("open 3 loop", "err LOOP"),
    ("open 3 l1", "err LOOP"),
    ("open 3 l1/x lookup nofollow", "err LOOP"),
    ("open 3 loop oflags creat rights read,write", "err LOOP"),
]


@pytest.mark.parametrize(
    "table", [OPEN_PATH_FORMS, OPEN_FLAGS, OPEN_SYMLINKS], ids=["paths", "oflags", "symlinks"]
)
def test_path_open(oracle_kind, tmp_path, table):
    mount = transcript(oracle_kind, tmp_path, TREE, opens(table))
    assert mount.tree() == TREE  # failed and read-only opens change nothing


def test_path_open_creates_and_truncates(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        open 3 new oflags creat rights read,write          -> ok 4
        write 4 abc                                        -> ok 3
        open 3 d/sub/made oflags creat,excl rights write   -> ok 5
        open 3 a.txt oflags trunc rights read,write        -> ok 6
        fstat 6                                            -> ok file size=0 nlink=1
        read 6 10                                          -> ok ""
        # creating through a dangling symlink creates its target
        open 3 dang oflags creat rights read,write         -> ok 7
        write 7 via-link                                   -> ok 8
        stat 3 dang                                        -> ok link size=4 nlink=1
        stat 3 nope                                        -> ok file size=8 nlink=1
        open 3 ld/new2 oflags creat rights write           -> ok 8
    """)
    assert mount.tree() == {
        **TREE,
        "new": b"abc",
        "a.txt": b"",
        "nope": b"via-link",
        "d": {"f": b"x", "new2": b"", "sub": {"made": b""}},
    }


def test_path_open_fd_numbers_and_dirfds(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, TREE, """
        open 3 a.txt                      -> ok 4
        open 3 d oflags directory         -> ok 5
        open 5 f                          -> ok 6
        read 6 10                         -> ok "x"
        open 5 sub oflags directory       -> ok 7
        close 4                           -> ok
        open 7 . oflags directory         -> ok 4
        # the lowest free number is reused
        close 6                           -> ok
        open 3 a.txt                      -> ok 6
        # the directory fd must be an open directory
        open 6 x                          -> err NOTDIR
        open 99 x                         -> err BADF
        close 5                           -> ok
        open 5 f                          -> err BADF
        open 0 x                          -> err BADF | err NOTDIR
    """)


# --- path_filestat_get -----------------------------------------------------------------------

def test_path_filestat_get(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, TREE, """
        stat 3 a.txt                  -> ok file size=5 nlink=1
        stat 3 d/f                    -> ok file size=1 nlink=1
        stat 3 d                      -> ok dir
        stat 3 .                      -> ok dir
        stat 3 d/sub/..               -> ok dir
        # a symlink's own size is its target's length
        stat 3 l                      -> ok link size=5 nlink=1
        stat 3 l follow               -> ok file size=5 nlink=1
        stat 3 ld                     -> ok link size=1 nlink=1
        stat 3 ld follow              -> ok dir
        stat 3 ld/                    -> ok dir
        stat 3 ld/f                   -> ok file size=1 nlink=1
        stat 3 l/                     -> err NOTDIR
        stat 3 dang                   -> ok link size=4 nlink=1
        stat 3 dang follow            -> err NOENT
        stat 3 loop                   -> ok link size=4 nlink=1
        stat 3 loop follow            -> err LOOP
        stat 3 l1/x                   -> err LOOP
        stat 3 missing                -> err NOENT
        stat 3 ""                     -> err NOENT
        stat 3 a.txt/                 -> err NOTDIR
        stat 3 a.txt/x                -> err NOTDIR
        stat 99 a.txt                 -> err BADF
    """)


def test_identity_through_paths_and_fds(oracle_kind, tmp_path):
    # `ino` numbers the distinct (dev, ino) pairs in the order first seen
    transcript(oracle_kind, tmp_path, TREE, """
        ino 3 a.txt                   -> ok #1
        ino 3 l follow                -> ok #1
        ino 3 ld/../a.txt             -> ok #1
        ino 3 l                       -> ok #2
        ino 3 d/f                     -> ok #3
        ino 3 ld/f                    -> ok #3
        open 3 a.txt                  -> ok 4
        ino 4                         -> ok #1
        ino 3 .                       -> ok #4
        ino 3 d/..                    -> ok #4
        ino 3                         -> ok #4
    """)


# --- path_filestat_set_times -----------------------------------------------------------------

def test_path_set_times_explicit(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, TREE, """
        settimes 3 a.txt 1000000000123456789 2000000000987654321 atim,mtim -> ok
        times 3 a.txt                          -> ok atim=1000000000123456789 mtim=2000000000987654321
        # each time changes only when its flag is set
        settimes 3 a.txt 5 999 atim            -> ok
        times 3 a.txt                          -> ok atim=5 mtim=2000000000987654321
        settimes 3 a.txt 999 7 mtim            -> ok
        times 3 a.txt                          -> ok atim=5 mtim=7
        settimes 3 a.txt 999 999 0             -> ok
        times 3 a.txt                          -> ok atim=5 mtim=7
        # follow sets the target's times, nofollow the link's own
        settimes 3 l 11 12 atim,mtim follow    -> ok
        times 3 a.txt                          -> ok atim=11 mtim=12
        settimes 3 l 21 22 atim,mtim           -> ok
        times 3 l                              -> ok atim=21 mtim=22
        times 3 a.txt                          -> ok atim=11 mtim=12
        settimes 3 d 31 32 atim,mtim           -> ok
        times 3 d                              -> ok atim=31 mtim=32
        settimes 3 ld/ 41 42 atim,mtim         -> ok
        times 3 d                              -> ok atim=41 mtim=42
    """)


def test_path_set_times_errors(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        settimes 3 a.txt 1 1 atim,atim_now    -> err INVAL
        settimes 3 a.txt 1 1 mtim,mtim_now    -> err INVAL
        settimes 3 a.txt 1 1 atim,atim_now,mtim,mtim_now -> err INVAL
        settimes 3 missing 1 1 atim           -> err NOENT
        settimes 3 "" 1 1 atim                -> err NOENT
        settimes 3 a.txt/ 1 1 atim            -> err NOTDIR
        settimes 3 dang 1 1 atim follow       -> err NOENT
        settimes 3 loop 1 1 atim follow       -> err LOOP
        settimes 99 a.txt 1 1 atim            -> err BADF
    """)
    assert mount.tree() == TREE


def test_path_set_times_now(oracle_kind, tmp_path):
    out, _ = ops(oracle_kind, tmp_path, TREE, [
        "settimes 3 a.txt 7 7 atim,mtim",
        "settimes 3 a.txt 0 0 mtim_now",
        "times 3 a.txt",
        "settimes 3 a.txt 0 0 atim_now",
        "times 3 a.txt",
    ])
    assert out[:2] == ["ok", "ok"] and out[3] == "ok"
    after_mtim = dict(re.findall(r"(\w+)=(\d+)", out[2]))
    after_atim = dict(re.findall(r"(\w+)=(\d+)", out[4]))
    recent = 1_600_000_000 * 10**9  # "now" is a wall-clock time in ns, certainly after 2020
    assert int(after_mtim["atim"]) == 7 and int(after_mtim["mtim"]) > recent
    assert int(after_atim["atim"]) > recent and after_atim["mtim"] == after_mtim["mtim"]


# --- path_symlink / path_readlink ------------------------------------------------------------

def test_symlink_and_readlink(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        symlink a.txt 3 s              -> ok
        readlink 3 s                   -> ok "a.txt"
        stat 3 s follow                -> ok file size=5 nlink=1
        # the target is stored verbatim, not resolved
        symlink ../a.txt 3 d/up        -> ok
        readlink 3 d/up                -> ok "../a.txt"
        open 3 d/up                    -> ok 4
        read 4 10                      -> ok "hello"
        symlink d/ 3 sd                -> ok
        readlink 3 sd                  -> ok "d/"
        stat 3 sd follow               -> ok dir
        symlink "odd name\\t!" 3 odd   -> ok
        readlink 3 odd                 -> ok "odd name\\t!"
        # a dangling symlink is fine, and works once its target appears
        symlink later 3 dl             -> ok
        stat 3 dl follow               -> err NOENT
        open 3 later oflags creat rights write -> ok 5
        stat 3 dl follow               -> ok file size=0 nlink=1
        readlink 3 ld/../l             -> ok "a.txt"
    """)
    assert mount.tree() == {
        **TREE,
        "s": Symlink("a.txt"),
        "sd": Symlink("d/"),
        "odd": Symlink("odd name\t!"),
        "dl": Symlink("later"),
        "later": b"",
        "d": {"f": b"x", "sub": {}, "up": Symlink("../a.txt")},
    }


def test_readlink_truncates_to_the_buffer(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, TREE, """
        readlink 3 l 100              -> ok "a.txt"
        readlink 3 l 5                -> ok "a.txt"
        readlink 3 l 3                -> ok "a.t"
        readlink 3 l 1                -> ok "a"
        readlink 3 l 0                -> ok ""
    """)


def test_symlink_and_readlink_errors(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        symlink x 3 l                 -> err EXIST
        symlink x 3 dang              -> err EXIST
        symlink x 3 e                 -> err EXIST
        symlink x 3 e/                -> err EXIST
        symlink x 3 a.txt/            -> err NOTDIR | err EXIST
        symlink x 3 new/              -> err NOENT
        symlink x 3 missing/s         -> err NOENT
        symlink x 3 a.txt/s           -> err NOTDIR
        symlink x 3 ""                -> err NOENT
        symlink x 3 .                 -> err EXIST
        symlink "" 3 s                -> err NOENT
        readlink 3 a.txt              -> err INVAL
        readlink 3 d                  -> err INVAL
        readlink 3 ld/                -> err INVAL
        readlink 3 l/                 -> err NOTDIR
        readlink 3 missing            -> err NOENT
        readlink 3 ""                 -> err NOENT
        readlink 3 dang               -> ok "nope"
        readlink 3 loop               -> ok "loop"
        readlink 99 l                 -> err BADF
    """)
    assert mount.tree() == TREE


# --- path_link --------------------------------------------------------------------------------

def test_link(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        link 3 a.txt 3 h              -> ok
        stat 3 h                      -> ok file size=5 nlink=2
        stat 3 a.txt                  -> ok file size=5 nlink=2
        ino 3 a.txt                   -> ok #1
        ino 3 h                       -> ok #1
        # a write through one name shows through the other
        open 3 h rights read,write    -> ok 4
        pwrite 4 J 0                  -> ok 1
        open 3 a.txt                  -> ok 5
        read 5 10                     -> ok "Jello"
        link 3 a.txt 3 d/sub/h2       -> ok
        stat 3 h                      -> ok file size=5 nlink=3
        link 3 ld/f 3 hf              -> ok
        stat 3 d/f                    -> ok file size=1 nlink=2
        # without follow, a symlink is linked itself (even a dangling one)
        link 3 l 3 hl                 -> ok
        stat 3 hl                     -> ok link size=5 nlink=2
        link 3 dang 3 hdang           -> ok
        readlink 3 hdang              -> ok "nope"
        unlink 3 h                    -> ok
        stat 3 a.txt                  -> ok file size=5 nlink=2
    """)
    tree = mount.tree()
    assert tree["a.txt"] == tree["d"]["sub"]["h2"] == b"Jello"
    assert tree["hf"] == b"x" and "h" not in tree
    assert tree["hl"] == Symlink("a.txt") and tree["hdang"] == Symlink("nope")


def test_link_errors(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        link 3 a.txt 3 l              -> err EXIST
        link 3 a.txt 3 e              -> err EXIST
        link 3 a.txt 3 d/f            -> err EXIST
        link 3 missing 3 h            -> err NOENT
        link 3 d 3 hd                 -> err PERM
        link 3 a.txt/ 3 h             -> err NOTDIR
        link 3 a.txt 3 h/             -> err NOENT | err NOTDIR
        link 3 a.txt 3 missing/h      -> err NOENT
        link 3 a.txt 3 ""             -> err NOENT
        link 3 "" 3 h                 -> err NOENT
        link 99 a.txt 3 h             -> err BADF
        link 3 a.txt 99 h             -> err BADF
        # SYMLINK_FOLLOW on the source is refused (as the WASI testsuite expects)
        link 3 l 3 h follow           -> err INVAL
        link 3 dang 3 h follow        -> err INVAL | err NOENT
    """)
    assert mount.tree() == TREE


def test_dirfd_must_be_a_directory(oracle_kind, tmp_path):
    # path_open through a file fd says NOTDIR; wasmtime's other path_* calls say BADF
    path_ops = [
        "stat 4 x", "times 4 x", "settimes 4 x 1 1 atim", "mkdir 4 x", "rmdir 4 x", "unlink 4 x",
        "symlink t 4 x", "readlink 4 x", "rename 4 x 3 y", "rename 3 a.txt 4 y", "link 4 x 3 y",
        "link 3 a.txt 4 y",
    ]
    mount = transcript(oracle_kind, tmp_path, TREE, "\n".join([
        "open 3 a.txt -> ok 4",
        "open 4 x -> err NOTDIR",
        "open 4 x oflags creat rights write -> err NOTDIR",
        *(f"{op} -> err BADF | err NOTDIR" for op in path_ops),
    ]))
    assert mount.tree() == TREE
