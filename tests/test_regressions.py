"""Bugs the property tests (properties/) found, each pinned by a plain test.

Every test names the minimal op sequence hypothesis shrank the failure to, and runs on every
vfswasi backend and on wasmtime's own WASI (`oracle_kind`) unless it says otherwise.
"""

from __future__ import annotations

from conftest import Symlink
from fsops import transcript

TREE = {"d": {}, "f": b"x", "l": Symlink("f"), "ld": Symlink("d"), "dang": Symlink("zz")}


def test_readlink_of_missing_name_with_trailing_slash_is_noent(oracle_kind, tmp_path):
    # Found by test_fs_differential: `readlink 3 "a/"` with no "a" answered NOTDIR.
    # A trailing slash follows the name; when nothing is there the answer is NOENT (readlink(2)).
    transcript(oracle_kind, tmp_path, TREE, """
        readlink 3 missing/           -> err NOENT
        readlink 3 dang/              -> err NOENT
        readlink 3 missing/x/         -> err NOENT
        readlink 3 f/                 -> err NOTDIR
        readlink 3 l/                 -> err NOTDIR
        readlink 3 d/                 -> err INVAL
        readlink 3 ld/                -> err INVAL
    """)


def test_link_checks_the_new_name_before_refusing_a_directory(oracle_kind, tmp_path):
    # Found by test_fs_differential: `link 3 "a" 3 "a"` with "a" a directory answered PERM.
    # linkat(2) (and wasmtime) look up the source, then refuse a taken new name (EXIST, or the
    # slashed-name errors), and only then a directory source (PERM). A trailing slash follows
    # a final symlink on both sides.
    mount = transcript(oracle_kind, tmp_path, {**TREE, "g": b"y"}, """
        link 3 d 3 f                  -> err EXIST
        link 3 d 3 d                  -> err EXIST
        link 3 . 3 f                  -> err EXIST
        link 3 d/ 3 f                 -> err EXIST
        link 3 ld/ 3 f                -> err EXIST
        link 3 f 3 ld/                -> err EXIST
        link 3 d 3 new/               -> err NOENT
        link 3 f 3 dang/              -> err NOENT
        link 3 f 3 l/                 -> err NOTDIR
        link 3 f/ 3 new               -> err NOTDIR
        link 3 l/ 3 new               -> err NOTDIR
        link 3 missing/ 3 f           -> err NOENT
        link 3 d 3 new                -> err PERM
        link 3 ld/ 3 new              -> err PERM
        link 3 . 3 new                -> err PERM
        link 3 f 3 new                -> ok
        stat 3 new                    -> ok file size=1 nlink=2
    """)
    assert mount.tree()["new"] == b"x"


def test_open_creat_with_a_trailing_slash_is_isdir(oracle_kind, tmp_path):
    # Found by test_fs_differential: `open 3 "b/" oflags creat,excl` with "b" a directory
    # answered EXIST. Linux's open(2) (and wasmtime) refuse O_CREAT of "x/" with EISDIR before
    # looking at what x is; without the slash the usual answers stand.
    mount = transcript(oracle_kind, tmp_path, TREE, """
        open 3 d/ oflags creat,excl   -> err ISDIR
        open 3 f/ oflags creat,excl   -> err ISDIR
        open 3 f/ oflags creat        -> err ISDIR
        open 3 l/ oflags creat        -> err ISDIR
        open 3 ld/ oflags creat,excl  -> err ISDIR
        open 3 dang/ oflags creat     -> err ISDIR
        open 3 new/ oflags creat,excl -> err ISDIR
        open 3 d oflags creat,excl    -> err EXIST
        open 3 . oflags creat,excl    -> err EXIST
        open 3 f/ oflags trunc rights read,write -> err NOTDIR
    """)
    assert mount.tree() == TREE


def test_symlink_named_through_a_slashed_symlink_follows_it(oracle_kind, tmp_path):
    # Found by test_fs_differential: `symlink "x" 3 "a/"` with "a" a dangling symlink answered
    # NOTDIR. As in path_link (and wasmtime), the slash follows a final symlink to choose the
    # error: nothing there is NOENT, a directory EXIST, anything else NOTDIR.
    mount = transcript(oracle_kind, tmp_path, {**TREE, "loop": Symlink("loop")}, """
        symlink x 3 dang/             -> err NOENT
        symlink x 3 ld/               -> err EXIST
        symlink x 3 l/                -> err NOTDIR
        symlink x 3 loop/             -> err LOOP
        symlink x 3 d/                -> err EXIST
        symlink x 3 f/                -> err NOTDIR
        symlink x 3 new/              -> err NOENT
        symlink x 3 dang              -> err EXIST
    """)
    assert mount.tree() == {**TREE, "loop": Symlink("loop")}


def test_open_creat_slash_does_not_expand_the_final_symlink(oracle_kind, tmp_path):
    # Found by test_fs_differential: `open 3 "a/" oflags creat,excl` with "a" a symlink loop
    # answered LOOP, and with "l" -> "missing/x/" NOENT. The slash is refused (ISDIR) before the
    # final component is looked at; the directories leading to it still answer first.
    spec = {**TREE, "loop": Symlink("loop"), "deep": Symlink("missing/x/")}
    mount = transcript(oracle_kind, tmp_path, spec, """
        open 3 loop/ oflags creat,excl -> err ISDIR
        open 3 loop/ oflags creat     -> err ISDIR
        open 3 deep/ oflags creat     -> err ISDIR
        open 3 deep oflags creat      -> err NOENT
        open 3 missing/x/ oflags creat -> err NOENT
        open 3 f/x/ oflags creat      -> err NOTDIR
        open 3 loop/                  -> err LOOP
    """)
    assert mount.tree() == spec


def test_a_file_too_large_for_memory_keeps_its_data(oracle_kind, tmp_path):
    # Found by test_wasi_faults: fd_filestat_set_size(fd, 2**40 + 3) on a MemoryFS file made
    # CPython's BytesIO fail to grow, which frees its buffer: the data was lost and every later
    # access raised ValueError. Now the memory backends answer NOSPC and keep the data; a host
    # directory makes a sparse file, which the script shrinks again.
    mount = transcript(oracle_kind, tmp_path, TREE, """
        open 3 f rights read,write
        truncate $0 1099511627779     -> ok | err NOSPC
        pread $0 1 0                  -> ok "x"
        pwrite $0 y 1099511627776     -> ok 1 | err NOSPC
        pread $0 1 0                  -> ok "x"
        truncate $0 1                 -> ok
        write $0 z                    -> ok 1
        fstat $0                      -> ok file size=1 nlink=1
    """)
    assert mount.tree()["f"] == b"z"


def test_offsets_past_the_signed_64_bit_range_are_inval(oracle_kind, tmp_path):
    # Found by the deep run of test_wasi_faults: fd_pread at 2**63 reached os.preadv, whose
    # OverflowError trapped the guest. I/O reaching past 2**63-1 is EINVAL. (A seek past it
    # is EINVAL in vfswasi, as lseek(2), where wasmtime accepts it: test_hostile_guests.py.)
    mount = transcript(oracle_kind, tmp_path, TREE, """
        open 3 f rights read,write
        pread $0 1 9223372036854775808   -> err INVAL
        pwrite $0 y 9223372036854775808  -> err INVAL
        pread $0 1 9223372036854775807   -> err INVAL
        seek $0 9223372036854775807 set  -> ok 9223372036854775807
        read $0 1                        -> err INVAL
        write $0 z                       -> err INVAL
        pread $0 1 0                     -> ok "x"
    """)
    assert mount.tree()["f"] == b"x"
