"""Test-session setup for everything under the repository (tests/, properties/, examples/).

The suite compiles some hundred modules. They go to a module cache of the session's own,
removed at the end, never to the user's ~/.cache/vfswasi (a test run must leave no file
behind). A VFSWASI_CACHE_DIR set by whoever runs the tests is respected (to share compiled
modules between runs on purpose). Subprocesses inherit the variable.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_OWN_CACHE: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _OWN_CACHE
    if not os.environ.get("VFSWASI_CACHE_DIR"):
        _OWN_CACHE = tempfile.mkdtemp(prefix="vfswasi-test-cache-")
        os.environ["VFSWASI_CACHE_DIR"] = _OWN_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    global _OWN_CACHE
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)
        if os.environ.get("VFSWASI_CACHE_DIR") == _OWN_CACHE:
            del os.environ["VFSWASI_CACHE_DIR"]
        _OWN_CACHE = None
