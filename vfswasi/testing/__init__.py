"""Property-based testing of WASI programs against generated filesystem trees.

    from hypothesis import given
    from vfswasi.testing import trees

    @given(tree=trees())
    def test_wc_counts_bytes(wasi_run, tree):          # wasi_run: a pytest fixture of ours
        files = [p for p, v in tree_paths(tree) if isinstance(v, bytes)]
        result = wasi_run("wc.wasm", tree, args=["wc", "-c", *files])
        ...

- trees as plain data (`Tree` specs with `Symlink` / `HardLink`), written into a `MemoryFS`
  or a host directory and read back: `build_memfs`, `write_tree`, `read_tree`, `hard_links`;
- `run_wasi`: run a guest on a tree (vfswasi over memory or a host directory, or wasmtime's own
  WASI as a reference) and get exit code, stdout/stderr and the resulting tree;
- hypothesis strategies `trees`, `memory_trees`, `names`, `file_contents` (imported on first
  use, so this package needs hypothesis only when they are used);
- pytest fixtures `wasi_run` and `memfs` (`vfswasi.testing.plugin`, loaded automatically).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .runner import BackendName, WasiResult, run_native, run_wasi
from .treespec import (
    HardLink,
    Symlink,
    Tree,
    TreeSource,
    build_memfs,
    hard_links,
    read_tree,
    tree_paths,
    write_tree,
)

if TYPE_CHECKING:
    from .strategies import file_contents, memory_trees, names, trees

__all__ = [
    "BackendName",
    "HardLink",
    "Symlink",
    "Tree",
    "TreeSource",
    "WasiResult",
    "build_memfs",
    "file_contents",
    "hard_links",
    "memory_trees",
    "names",
    "read_tree",
    "run_native",
    "run_wasi",
    "tree_paths",
    "trees",
    "write_tree",
]

_STRATEGIES = {"file_contents", "memory_trees", "names", "trees"}


def __getattr__(name: str) -> Any:
    # The strategies need hypothesis; the rest (and the pytest plugin) must import without it.
    if name in _STRATEGIES:
        from . import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
