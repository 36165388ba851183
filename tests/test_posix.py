"""The POSIX decision table (`vfswasi.posix`), case by case: each errno, and Linux's order."""

from __future__ import annotations

import errno

import pytest

from vfswasi.abi import Filetype
from vfswasi.posix import open_error, rename_error

DIR, REG, LNK = Filetype.DIRECTORY, Filetype.REGULAR_FILE, Filetype.SYMBOLIC_LINK

# (src_is_dir, dst_kind, dst_is_empty, src_contains_dst_dir, dst_contains_src_dir) -> errno
RENAME_CASES = [
    # nothing at the target
    ((False, None, True, False, False), None),
    ((True, None, True, False, False), None),
    ((True, None, True, True, False), errno.EINVAL),  # a directory into itself
    # a file target
    ((False, REG, True, False, False), None),  # replaced
    ((False, LNK, True, False, False), None),  # a symlink is replaced, not followed
    ((True, REG, True, False, False), errno.ENOTDIR),
    ((True, LNK, True, False, False), errno.ENOTDIR),  # a symlink is not a directory
    ((True, REG, True, True, False), errno.EINVAL),  # into-itself before the kind
    # a directory target
    ((False, DIR, True, False, False), errno.EISDIR),
    ((True, DIR, True, False, False), None),  # an empty directory is replaced
    ((True, DIR, False, False, False), errno.ENOTEMPTY),
    ((True, DIR, False, True, False), errno.EINVAL),  # into-itself before emptiness
    # onto an ancestor of the source: ENOTEMPTY whatever the source is, before the kinds
    ((False, DIR, False, False, True), errno.ENOTEMPTY),
    ((True, DIR, False, False, True), errno.ENOTEMPTY),
    ((True, DIR, False, True, True), errno.EINVAL),  # into-itself comes first
    # facts that only matter for some kinds are ignored for the others
    ((False, None, False, True, True), None),  # a file cannot contain anything
    ((False, REG, False, True, True), None),
    ((True, REG, False, False, True), errno.ENOTDIR),  # a file target contains nothing
    ((False, DIR, False, True, False), errno.EISDIR),
]


@pytest.mark.parametrize(("facts", "expected"), RENAME_CASES)
def test_rename_error(facts: tuple, expected: int | None) -> None:
    src_is_dir, dst_kind, empty, into_itself, onto_ancestor = facts
    assert rename_error(src_is_dir, dst_kind, dst_is_empty=empty,
                        src_contains_dst_dir=into_itself,
                        dst_contains_src_dir=onto_ancestor) == expected


@pytest.mark.parametrize(("facts", "expected"), RENAME_CASES)
def test_rename_error_lazy_facts_give_the_same_answer(facts: tuple, expected: int | None
                                                      ) -> None:
    src_is_dir, dst_kind, empty, into_itself, onto_ancestor = facts
    assert rename_error(src_is_dir, dst_kind, dst_is_empty=lambda: empty,
                        src_contains_dst_dir=lambda: into_itself,
                        dst_contains_src_dir=lambda: onto_ancestor) == expected


def test_rename_error_asks_only_the_facts_it_needs() -> None:
    asked: list[str] = []

    def fact(name: str, value: bool):
        def answer() -> bool:
            asked.append(name)
            return value
        return answer

    def decide(src_is_dir: bool, dst_kind: int | None, empty: bool = True,
               into_itself: bool = False, onto_ancestor: bool = False) -> int | None:
        asked.clear()
        return rename_error(src_is_dir, dst_kind, dst_is_empty=fact("empty", empty),
                            src_contains_dst_dir=fact("into", into_itself),
                            dst_contains_src_dir=fact("onto", onto_ancestor))

    assert decide(False, None) is None and asked == []
    assert decide(False, REG) is None and asked == []
    assert decide(False, DIR) == errno.EISDIR and asked == ["onto"]
    assert decide(True, None) is None and asked == ["into"]
    assert decide(True, REG) == errno.ENOTDIR and asked == ["into"]
    assert decide(True, DIR, empty=False) == errno.ENOTEMPTY
    assert asked == ["into", "onto", "empty"]  # Linux's order
    assert decide(True, DIR, into_itself=True) == errno.EINVAL and asked == ["into"]
    assert decide(True, DIR, onto_ancestor=True) == errno.ENOTEMPTY
    assert asked == ["into", "onto"]


# (kind, create, exclusive) -> errno
OPEN_CASES = [
    ((None, False, False), errno.ENOENT),
    ((None, False, True), errno.ENOENT),  # O_EXCL without O_CREAT does nothing
    ((None, True, False), None),
    ((None, True, True), None),
    ((REG, False, False), None),
    ((REG, True, False), None),
    ((REG, True, True), errno.EEXIST),
    ((REG, False, True), None),
    ((DIR, False, False), errno.EISDIR),
    ((DIR, True, False), errno.EISDIR),
    ((DIR, True, True), errno.EEXIST),  # EEXIST before the kind
    ((LNK, False, False), errno.ELOOP),
    ((LNK, True, False), errno.ELOOP),
    ((LNK, True, True), errno.EEXIST),  # even a dangling symlink exists
    ((Filetype.UNKNOWN, False, False), None),  # other kinds are the backend's to judge
    ((Filetype.UNKNOWN, True, True), errno.EEXIST),
]


@pytest.mark.parametrize(("facts", "expected"), OPEN_CASES)
def test_open_error(facts: tuple, expected: int | None) -> None:
    kind, create, exclusive = facts
    assert open_error(kind, create=create, exclusive=exclusive) == expected
