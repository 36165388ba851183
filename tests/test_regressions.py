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
