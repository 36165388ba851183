"""pytest fixtures for testing wasm programs against filesystem trees.

Loaded automatically when vfswasi is installed (the `pytest11` entry point), or explicitly
with `pytest_plugins = ["vfswasi.testing.plugin"]` in a top-level conftest.py. Deliberately
light: importing it never imports hypothesis.

- `wasi_run`: `vfswasi.testing.run_wasi` (session-scoped, so hypothesis's `@given` tests may
  use it: it holds no state between calls);
- `memfs`: a fresh, empty `MemoryFS` per test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fs.memoryfs import MemoryFS

from .runner import WasiResult, run_wasi


@pytest.fixture(scope="session")
def wasi_run() -> Callable[..., WasiResult]:
    """`run_wasi(wasm, tree, *, args, stdin, env, mount, backend, limits, deterministic)
    -> WasiResult` (deterministic by default: a failing example replays exactly)."""
    return run_wasi


@pytest.fixture
def memfs() -> Iterator[MemoryFS]:
    """A fresh, empty MemoryFS (closed after the test)."""
    fs = MemoryFS()
    try:
        yield fs
    finally:
        fs.close()
