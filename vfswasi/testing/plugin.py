"""pytest fixtures for testing wasm programs against filesystem trees.

Loaded automatically when vfswasi is installed (the `pytest11` entry point), or explicitly
with `pytest_plugins = ["vfswasi.testing.plugin"]` in a top-level conftest.py. So it is
loaded by every pytest run in an environment where vfswasi is installed, including other
projects': loading it imports nothing but pytest (no wasmtime, no PyFilesystem2, no
hypothesis) and raises no warning. The fixtures import what they need when a test uses them.

- `wasi_run`: `vfswasi.testing.run_wasi` (session-scoped, so hypothesis's `@given` tests may
  use it: it holds no state between calls);
- `memfs`: a fresh, empty `MemoryFS` per test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fs.memoryfs import MemoryFS

    from .runner import WasiResult


@pytest.fixture(scope="session")
def wasi_run() -> Callable[..., WasiResult]:
    """`run_wasi(wasm, tree, *, args, stdin, env, mount, backend, limits, deterministic)
    -> WasiResult` (deterministic by default: a failing example replays exactly)."""
    from . import run_wasi

    return run_wasi


@pytest.fixture
def memfs() -> Iterator[MemoryFS]:
    """A fresh, empty MemoryFS (closed after the test)."""
    from .._compat import quiet_fs_import

    quiet_fs_import()
    from fs.memoryfs import MemoryFS

    fs = MemoryFS()
    try:
        yield fs
    finally:
        fs.close()
