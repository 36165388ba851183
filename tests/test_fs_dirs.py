"""Directories: path_create_directory, path_remove_directory, path_unlink_file, path_rename,
fd_readdir (cookies, `.`/`..`, d_next, cut entries, d_ino), and the libc-level `tree` guest
doing ordinary file work.

Expectations run on wasmtime's own WASI and on every vfswasi backend (`oracle_kind`).
"""

from __future__ import annotations

import re

from conftest import Symlink, guest, make_mount, run_guest
from fsops import ops, transcript

TREE = {
    "a.txt": b"hello",
    "b.txt": b"bee",
    "d": {"f": b"x", "sub": {}},
    "e": {},
    "full": {"x": b""},
    "l": Symlink("a.txt"),
    "ld": Symlink("d"),
    "dang": Symlink("nope"),
}

DIRENT_SIZE = 24


# --- path_create_directory ---------------------------------------------------------------------

def test_mkdir(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        mkdir 3 new                   -> ok
        stat 3 new                    -> ok dir
        mkdir 3 new/inner             -> ok
        mkdir 3 slash/                -> ok
        mkdir 3 slashes//             -> ok
        mkdir 3 d/sub/../made         -> ok
        mkdir 3 ld/via-link           -> ok
        mkdir 3 new                   -> err EXIST
        mkdir 3 e                     -> err EXIST
        mkdir 3 a.txt                 -> err EXIST
        mkdir 3 l                     -> err EXIST
        mkdir 3 dang                  -> err EXIST
        mkdir 3 .                     -> err EXIST
        mkdir 3 missing/x             -> err NOENT
        mkdir 3 a.txt/x               -> err NOTDIR
        mkdir 3 ""                    -> err NOENT
        mkdir 99 x                    -> err BADF
    """)
    assert mount.tree() == {
        **TREE,
        "new": {"inner": {}},
        "slash": {},
        "slashes": {},
        "d": {"f": b"x", "sub": {}, "made": {}, "via-link": {}},
    }


# --- path_remove_directory ---------------------------------------------------------------------

def test_rmdir(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        rmdir 3 e                     -> ok
        stat 3 e                      -> err NOENT
        rmdir 3 e                     -> err NOENT
        rmdir 3 d/sub                 -> ok
        rmdir 3 full                  -> err NOTEMPTY
        rmdir 3 d                     -> err NOTEMPTY
        rmdir 3 a.txt                 -> err NOTDIR
        rmdir 3 a.txt/                -> err NOTDIR
        rmdir 3 l                     -> err NOTDIR
        rmdir 3 ld                    -> err NOTDIR
        rmdir 3 dang                  -> err NOTDIR
        rmdir 3 missing               -> err NOENT
        rmdir 3 ""                    -> err NOENT
        rmdir 99 x                    -> err BADF
    """)
    tree = dict(TREE)
    del tree["e"]
    assert mount.tree() == {**tree, "d": {"f": b"x"}}


def test_rmdir_of_dot_forms_and_trailing_slash(oracle_kind, tmp_path):
    # rmdir of "dir/" is EINVAL on Linux when wasmtime passes it through; the WASI testsuite
    # accepts success too. "." and "x/.." are never removable.
    mount = transcript(oracle_kind, tmp_path, TREE, """
        rmdir 3 e/                    -> err INVAL | ok
        rmdir 3 .                     -> err INVAL | err BUSY
        rmdir 3 d/sub/.               -> err INVAL | err BUSY
        rmdir 3 d/sub/..              -> err INVAL | err BUSY | err NOTEMPTY
    """)
    assert mount.tree()["d"] == TREE["d"]


# --- path_unlink_file ----------------------------------------------------------------------------

def test_unlink(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        unlink 3 a.txt                -> ok
        stat 3 a.txt                  -> err NOENT
        unlink 3 a.txt                -> err NOENT
        unlink 3 d/f                  -> ok
        # a symlink is removed itself, never its target
        unlink 3 l                    -> ok
        unlink 3 ld                   -> ok
        stat 3 d                      -> ok dir
        unlink 3 dang                 -> ok
        unlink 3 e                    -> err ISDIR
        unlink 3 e/                   -> err ISDIR
        unlink 3 .                    -> err ISDIR
        unlink 3 d/..                 -> err ISDIR
        unlink 3 b.txt/               -> err NOTDIR
        unlink 3 missing              -> err NOENT
        unlink 3 missing/x            -> err NOENT
        unlink 3 ""                   -> err NOENT
        unlink 99 x                   -> err BADF
    """)
    assert mount.tree() == {
        "b.txt": b"bee", "d": {"sub": {}}, "e": {}, "full": {"x": b""},
    }


def test_unlink_symlink_with_trailing_slash(oracle_kind, tmp_path):
    # "link/" names what the link points to: a file there makes it NOTDIR, a directory ISDIR
    mount = transcript(oracle_kind, tmp_path, TREE, """
        unlink 3 l/                   -> err NOTDIR
        unlink 3 ld/                  -> err ISDIR
    """)
    assert mount.tree() == TREE


def test_unlink_keeps_open_files_readable(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        open 3 a.txt rights read,write -> ok 4
        unlink 3 a.txt                -> ok
        read 4 10                     -> ok "hello"
        write 4 " again"              -> ok 6
        pread 4 100 0                 -> ok "hello again"
        stat 3 a.txt                  -> err NOENT
    """)
    assert "a.txt" not in mount.tree()


# --- path_rename -----------------------------------------------------------------------------------

def test_rename_files(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        rename 3 a.txt 3 a2.txt       -> ok
        stat 3 a.txt                  -> err NOENT
        stat 3 a2.txt                 -> ok file size=5 nlink=1
        # over an existing file, which is replaced
        rename 3 a2.txt 3 b.txt       -> ok
        rename 3 b.txt 3 b.txt        -> ok
        rename 3 b.txt 3 d/sub/moved  -> ok
        rename 3 d/sub/moved 3 ld/back -> ok
        # a symlink moves as itself
        rename 3 l 3 e/l              -> ok
        readlink 3 e/l                -> ok "a.txt"
    """)
    assert mount.tree() == {
        "d": {"f": b"x", "sub": {}, "back": b"hello"},
        "e": {"l": Symlink("a.txt")},
        "full": {"x": b""},
        "ld": Symlink("d"),
        "dang": Symlink("nope"),
    }


def test_rename_directories(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        rename 3 d 3 d2               -> ok
        stat 3 d2/f                   -> ok file size=1 nlink=1
        stat 3 ld follow              -> err NOENT
        # over an empty directory, which is replaced
        rename 3 d2/sub 3 e           -> ok
        rename 3 e/ 3 e2              -> ok
        rename 3 e2 3 e3/             -> ok
        rename 3 e3/ 3 e4/            -> ok
        rename 3 d2 3 d2              -> ok
    """)
    assert mount.tree() == {
        **{k: v for k, v in TREE.items() if k not in ("d", "e")},
        "d2": {"f": b"x"},
        "e4": {},
    }


def test_rename_errors(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        rename 3 missing 3 x          -> err NOENT
        rename 3 "" 3 x               -> err NOENT
        rename 3 a.txt 3 ""           -> err NOENT
        rename 3 a.txt 3 missing/x    -> err NOENT
        rename 3 a.txt 3 b.txt/x      -> err NOTDIR
        rename 3 a.txt/ 3 c           -> err NOTDIR
        rename 3 a.txt 3 c/           -> err NOTDIR
        rename 3 l 3 e/               -> err NOTDIR
        rename 3 ld/ 3 x              -> err NOTDIR
        # file onto a directory, directory onto a file or symlink, onto a non-empty directory
        rename 3 a.txt 3 e            -> err ISDIR
        rename 3 a.txt 3 full         -> err ISDIR
        rename 3 l 3 e                -> err ISDIR
        rename 3 e 3 a.txt            -> err NOTDIR
        rename 3 e 3 ld               -> err NOTDIR
        rename 3 e 3 full             -> err NOTEMPTY
        # into itself
        rename 3 d 3 d/inside         -> err INVAL
        rename 3 d 3 d/sub/inside     -> err INVAL
        rename 3 d 3 ld/inside        -> err INVAL
        # "." as either end
        rename 3 . 3 x                -> err BUSY | err INVAL
        rename 3 a.txt 3 .            -> err BUSY | err INVAL | err EXIST
        rename 99 a.txt 3 x           -> err BADF
        rename 3 a.txt 99 x           -> err BADF
    """)
    assert mount.tree() == TREE


def test_rename_keeps_open_fds_on_their_objects(oracle_kind, tmp_path):
    mount = transcript(oracle_kind, tmp_path, TREE, """
        open 3 a.txt                  -> ok 4
        open 3 e oflags directory     -> ok 5
        rename 3 a.txt 3 e/moved      -> ok
        read 4 10                     -> ok "hello"
        ls 5                          -> ok moved:file
        # a directory fd follows its directory, wherever it moves
        rename 3 e 3 d/e-renamed      -> ok
        mkdir 5 made-through-fd       -> ok
        ls 5                          -> ok made-through-fd:dir moved:file
        # and renames may go between two directory fds
        rename 5 moved 3 back         -> ok
        ls 5                          -> ok made-through-fd:dir
    """)
    tree = mount.tree()
    assert tree["back"] == b"hello"
    assert tree["d"]["e-renamed"] == {"made-through-fd": {}}


# --- fd_readdir --------------------------------------------------------------------------------------

def parse_readdir(line: str) -> tuple[int, list[tuple[int, str, str]], int | None]:
    """`ok USED NEXT:TYPE:NAME... [cut:N]` -> (used, [(next, type, name)], cut); names without
    blanks only."""
    ok, used, *tokens = line.split(" ")
    assert ok == "ok", line
    cut = int(tokens.pop()[4:]) if tokens and tokens[-1].startswith("cut:") else None
    entries = []
    for tok in tokens:
        nxt, typ, name = tok.split(":", 2)
        entries.append((int(nxt), typ, name))
    return int(used), entries, cut


ONE = {"one": {"x": b"1"}}


READDIR_CASES = [
    # (buf_len, cookie, expected): "." is 25 bytes, ".." 26, "x" 25: 76 in all
    (4096, 0, "ok 76 1:dir:. 2:dir:.. 3:file:x"),
    (76, 0, "ok 76 1:dir:. 2:dir:.. 3:file:x"),
    (75, 0, "ok 75 1:dir:. 2:dir:.. cut:24"),
    (52, 0, "ok 52 1:dir:. 2:dir:.. cut:1"),
    (51, 0, "ok 51 1:dir:. 2:dir:.."),
    (30, 0, "ok 30 1:dir:. cut:5"),
    (25, 0, "ok 25 1:dir:."),
    (24, 0, "ok 24 cut:24"),
    (1, 0, "ok 1 cut:1"),
    (0, 0, "ok 0"),
    (4096, 1, "ok 51 2:dir:.. 3:file:x"),
    (4096, 2, "ok 25 3:file:x"),
    (10, 2, "ok 10 cut:10"),
    (4096, 3, "ok 0"),
    (4096, 1000, "ok 0"),
]


def test_readdir_buffer_and_cookie(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, ONE, "\n".join([
        "open 3 one oflags directory -> ok 4",
        *(f"readdir 4 {buflen} {cookie} -> {expected}" for buflen, cookie, expected in READDIR_CASES),
    ]))


MANY = {
    "dir": {
        "file": b"abc",
        "sub": {},
        "link": Symlink("file"),
        "dangling": Symlink("nowhere"),
        "longer-name-with.dots": b"",
        **{f"n{i}": b"" for i in range(6)},
    }
}


def test_readdir_lists_dot_dotdot_and_every_entry(oracle_kind, tmp_path):
    out, _ = ops(oracle_kind, tmp_path, MANY, ["open 3 dir oflags directory", "readdir 4"])
    used, entries, cut = parse_readdir(out[1])
    assert cut is None and used < 4096
    assert [n for n, _, _ in entries] == list(range(1, len(entries) + 1))  # d_next: 1, 2, 3...
    assert entries[:2] == [(1, "dir", "."), (2, "dir", "..")]
    expected = {"file": "file", "sub": "dir", "link": "link", "dangling": "link",
                "longer-name-with.dots": "file", **{f"n{i}": "file" for i in range(6)}}
    assert {name: typ for _, typ, name in entries[2:]} == expected
    assert len(entries) == 2 + len(expected)
    assert used == sum(DIRENT_SIZE + len(name) for _, _, name in entries)


def test_readdir_resumes_from_every_cookie(oracle_kind, tmp_path):
    n = 2 + len(MANY["dir"])
    out, _ = ops(oracle_kind, tmp_path, MANY, [
        "open 3 dir oflags directory", "readdir 4", *(f"readdir 4 4096 {c}" for c in range(n + 2)),
    ])
    _, full, _ = parse_readdir(out[1])
    for cookie, line in enumerate(out[2:]):
        _, entries, cut = parse_readdir(line)
        assert cut is None
        assert entries == full[cookie:], f"cookie {cookie}"


def test_readdir_small_buffers_cut_the_listing(oracle_kind, tmp_path):
    buflens = [23, 24, 25, 60, 100, 130, 200]
    out, _ = ops(oracle_kind, tmp_path, MANY, [
        "open 3 dir oflags directory", "readdir 4", *(f"readdir 4 {n}" for n in buflens),
    ])
    total, full, _ = parse_readdir(out[1])
    for buflen, line in zip(buflens, out[2:], strict=True):
        used, entries, cut = parse_readdir(line)
        assert used == min(buflen, total), line  # filled to the brim when there is more
        assert entries == full[: len(entries)], line  # a prefix of the same listing
        whole = sum(DIRENT_SIZE + len(name) for _, _, name in entries)
        assert (cut or 0) == used - whole, line
        if cut is not None:
            assert cut < DIRENT_SIZE + len(full[len(entries)][2]), line


def test_readdir_after_changes(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, ONE, """
        open 3 one oflags directory   -> ok 4
        readdir 4                     -> ok 76 1:dir:. 2:dir:.. 3:file:x
        unlink 3 one/x                -> ok
        readdir 4                     -> ok 51 1:dir:. 2:dir:..
        mkdir 4 y                     -> ok
        readdir 4                     -> ok 76 1:dir:. 2:dir:.. 3:dir:y
        symlink y 4 z                 -> ok
        ls 4                          -> ok y:dir z:link
    """)


def test_readdir_refusals(oracle_kind, tmp_path):
    transcript(oracle_kind, tmp_path, TREE, """
        open 3 a.txt                  -> ok 4
        readdir 4                     -> err BADF | err NOTCAPABLE
        readdir 99                    -> err BADF
        readdir 0                     -> err BADF | err NOTCAPABLE
    """)


def test_ls_through_symlinked_directory_and_odd_names(oracle_kind, tmp_path):
    tree = {
        "real": {"sp ace": b"", "tab\t": b"", 'q"uote': b"", "\u00e9": b"", "-x": b"", "a:b": b""},
        "via": Symlink("real"),
    }
    transcript(oracle_kind, tmp_path, tree, r"""
        open 3 via oflags directory   -> ok 4
        ls 4                          -> ok -x:file "a:b":file "q\"uote":file "sp ace":file "tab\t":file "\xc3\xa9":file
        ls 3                          -> ok real:dir via:link
        open 3 "\xc3\xa9" lookup nofollow -> err NOENT
        open 4 "\xc3\xa9"             -> ok 5
    """)


def test_ls_of_a_large_directory_resumes_with_cookies(oracle_kind, tmp_path):
    # ~9 KB of entries: fsops' ls needs several 4 KB fd_readdir calls, resuming from cookies
    names = [f"file-{i:03d}-{'x' * 30}" for i in range(150)]
    out, _ = ops(oracle_kind, tmp_path, {"big": dict.fromkeys(names, b"")},
                 ["open 3 big oflags directory", "ls 4", "inocheck 4"])
    assert out[1] == "ok " + " ".join(f"{n}:file" for n in sorted(names))
    assert out[2] == "ok same=151 differ=0"


def test_readdir_d_ino_matches_filestat(oracle_kind, tmp_path):
    tree = {**MANY, "hard": b"h"}
    transcript(oracle_kind, tmp_path, tree, """
        link 3 hard 3 dir/hard-link   -> ok
        open 3 dir oflags directory   -> ok 4
        inocheck 4                    -> ok same=13 differ=0
        inocheck 3                    -> ok same=3 differ=0
        ino 3 hard                    -> ok #1
        ino 3 dir/hard-link           -> ok #1
    """)


# --- the libc `tree` guest: ordinary programs --------------------------------------------------------

PROJECT = {
    "README": b"read me\n",
    "src": {"main.c": b"int main;\n", "util": {"u.c": b"", "u.h": b"#pragma once\n"}},
    "docs": {},
    "latest": Symlink("src/main.c"),
}


def tree_run(kind, mount, *argv: str):
    res = run_guest(kind, guest("tree"), ["tree", *argv], {"/sandbox": mount})
    return res.exit_code, res.stdout.decode()


def test_tree_ls_recursive(oracle_kind, tmp_path):
    mount = make_mount(oracle_kind, tmp_path, PROJECT)
    assert tree_run(oracle_kind, mount, "ls", "-R", "/sandbox") == (0, """\
f README 8
d docs/
l latest -> src/main.c
d src/
f src/main.c 10
d src/util/
f src/util/u.c 0
f src/util/u.h 13
""")
    assert tree_run(oracle_kind, mount, "ls", "/sandbox/src/util/") == (0, "f u.c 0\nf u.h 13\n")


def test_tree_file_work(oracle_kind, tmp_path):
    mount = make_mount(oracle_kind, tmp_path, PROJECT)
    script = """
        cp /sandbox/src/main.c /sandbox/docs/copy.c ;
        append /sandbox/docs/copy.c /*more*/ ;
        write /sandbox/docs/new.txt fresh ;
        write /sandbox/README replaced ;
        mkdir -p /sandbox/build/out/deep ;
        mkdir -p /sandbox/build/out ;
        mv /sandbox/src/util /sandbox/build/util ;
        ln -s ../README /sandbox/docs/readme-link ;
        ln /sandbox/docs/new.txt /sandbox/hard ;
        touch /sandbox/docs/new.txt /sandbox/empty ;
        cat /sandbox/docs/readme-link /sandbox/latest /sandbox/hard ;
        stat /sandbox/latest /sandbox/build ;
        rm /sandbox/latest ;
        rm -r /sandbox/build/out ;
        cd /sandbox/build ;
        pwd ;
        cat util/u.h ;
        write util/rel.txt relative ;
        mv util/rel.txt ../docs/rel.txt
    """
    code, out = tree_run(oracle_kind, mount, *script.split())
    assert (code, out) == (0, """\
replacedint main;
fresh/sandbox/latest f size=10
/sandbox/build d
/sandbox/build
#pragma once
""")
    assert mount.tree() == {
        "README": b"replaced",
        "build": {"util": {"u.c": b"", "u.h": b"#pragma once\n"}},
        "docs": {
            "copy.c": b"int main;\n/*more*/",
            "new.txt": b"fresh",
            "readme-link": Symlink("../README"),
            "rel.txt": b"relative",
        },
        "empty": b"",
        "hard": b"fresh",
        "src": {"main.c": b"int main;\n"},
    }


def test_tree_errors_are_reported_and_the_run_goes_on(oracle_kind, tmp_path):
    mount = make_mount(oracle_kind, tmp_path, PROJECT)
    script = """
        cat /sandbox/missing /sandbox/README ;
        mkdir /sandbox/docs ;
        rmdir /sandbox/src ;
        rm /sandbox/docs ;
        mv /sandbox/nothing /sandbox/x ;
        cp /sandbox/src /sandbox/copy ;
        ls /sandbox/README ;
        write /sandbox/no/such/dir/f x ;
        write /sandbox/ok still-works
    """
    code, out = tree_run(oracle_kind, mount, *script.split())
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "cat: /sandbox/missing: No such file or directory"
    assert lines[1] == "read me"
    assert lines[2:5] == [
        "mkdir: /sandbox/docs: File exists",
        "rmdir: /sandbox/src: Directory not empty",
        "rm: /sandbox/docs: Is a directory",
    ]
    assert lines[5] == "mv: /sandbox/nothing: No such file or directory"
    # reading a directory as a file: Linux says EISDIR; wasmtime lets fopen succeed and fails
    # the read with EBADF; a host could also refuse the open
    assert re.fullmatch(r"cp: /sandbox/(src|copy): (Is a directory|Bad file descriptor)", lines[6])
    assert lines[7] == "ls: /sandbox/README: Not a directory"
    assert lines[8] == "write: /sandbox/no/such/dir/f: No such file or directory"
    assert len(lines) == 9
    assert mount.tree()["ok"] == b"still-works"
    assert mount.tree()["src"] == PROJECT["src"]


def test_rename_out_of_a_directory_changes_its_mtime(oracle_kind, tmp_path):
    # Both directories of a rename change: the one losing the entry and the one gaining it.
    out, _ = ops(oracle_kind, tmp_path, {"src": {"f": b"F"}, "dst": {}}, [
        "settimes 3 src 1000000000 1000000000 atim,mtim",
        "settimes 3 dst 1000000000 1000000000 atim,mtim",
        "times 3 src", "times 3 dst",
        "rename 3 src/f 3 dst/f",
        "times 3 src", "times 3 dst",
    ])
    assert out[:4] == ["ok", "ok", "ok atim=1000000000 mtim=1000000000",
                       "ok atim=1000000000 mtim=1000000000"], out
    assert out[4] == "ok"
    for line in out[5:]:
        mtim = int(line.split("mtim=")[1])
        assert mtim > 1_600_000_000 * 10**9, line  # now, not the old time
