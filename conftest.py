"""Test-session setup for everything under the repository (tests/, properties/, examples/).

The suite compiles some hundred modules. They go to a module cache of the session's own,
removed at the end, never to the user's ~/.cache/vfswasi (a test run must leave no file
behind). A VFSWASI_CACHE_DIR set by whoever runs the tests is respected (to share compiled
modules between runs on purpose). Subprocesses inherit the variable, and PYTHONPATH with this
tree first: every test, and every script a test starts, runs this tree's code.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_OWN_CACHE: str | None = None


ROOT = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config: pytest.Config) -> None:
    global _OWN_CACHE
    # The code under test is this tree's, in this process and in every subprocess a test
    # starts (a script run from a temp dir would otherwise import an installed copy).
    path = os.environ.get("PYTHONPATH", "")
    if path.split(os.pathsep)[0] != ROOT:
        os.environ["PYTHONPATH"] = ROOT + (os.pathsep + path if path else "")
    import vfswasi

    if not os.path.abspath(vfswasi.__file__).startswith(os.path.join(ROOT, "vfswasi")):
        raise pytest.UsageError(f"the tests would test {vfswasi.__file__}, not {ROOT}: "
                                f"put the checkout first on sys.path (pip install -e .)")
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
