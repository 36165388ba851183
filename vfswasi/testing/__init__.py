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
- pytest fixtures `wasi_run` and `memfs` (`vfswasi.testing.plugin`, loaded automatically);
- `BackendContract`: the tests every `vfswasi.vfs.Backend` must pass, as a class to subclass
  with your backend's `make_backend()` (`vfswasi.testing.contract`; `seed`, `write_seed`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contract import BackendContract, seed, write_seed
    from .runner import BackendName, WasiResult, run_native, run_wasi
    from .strategies import file_contents, memory_trees, names, trees
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

__all__ = [
    "BackendContract",
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
    "seed",
    "tree_paths",
    "trees",
    "write_seed",
    "write_tree",
]

#: name -> its module, imported on first use: the strategies need hypothesis, the runner
#: wasmtime, the tree specs PyFilesystem2, the contract only vfswasi; the pytest plugin (and
#: so every pytest run in an environment where vfswasi is installed) must import none of them.
_LAZY = {
    **dict.fromkeys(["BackendContract", "seed", "write_seed"], ".contract"),
    **dict.fromkeys(["BackendName", "WasiResult", "run_native", "run_wasi"], ".runner"),
    **dict.fromkeys(["file_contents", "memory_trees", "names", "trees"], ".strategies"),
    **dict.fromkeys(["HardLink", "Symlink", "Tree", "TreeSource", "build_memfs", "hard_links",
                     "read_tree", "tree_paths", "write_tree"], ".treespec"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _LAZY[name] != ".contract":  # the contract needs no PyFilesystem2
        from .._compat import quiet_fs_import

        quiet_fs_import()
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
