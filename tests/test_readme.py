"""Every code block of README.md and docs/*.md runs as written (see tests/readme.py).

Python blocks run in a fresh directory where the repository's `tests/` and `examples/` are
reachable (the README's guests), importing this working tree; a block that defines `test_*`
functions runs under pytest, as a user's test file would. Shell blocks run in bash there,
with `vfswasi` and `python` meaning this working tree's. Blocks marked `ci` are run by
`.ci/run` in a fresh virtualenv; blocks marked `not run` say why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from readme import CODE, LANGUAGES, ROOT, Block, blocks, documents

ALL = [b for path in documents() for b in blocks(path)]
RUN = [b for b in ALL if b.language in CODE and b.mark is None]


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    for name in ("tests", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = tmp_path.parent / f"{tmp_path.name}-bin"
    bin_dir.mkdir()
    for name, command in (("vfswasi", f'"{sys.executable}" -m vfswasi'),
                          ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return tmp_path, env


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_the_block_runs_as_written(block: Block, workspace):
    cwd, env = workspace
    if block.language == "python" and "\ndef test_" in f"\n{block.code}":
        (cwd / "test_readme_block.py").write_text(block.code)
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_readme_block.py"]
    elif block.language == "python":
        args = [sys.executable, "-c", block.code]
    else:
        args = ["bash", "-euo", "pipefail", "-c", block.code]
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{block.id}\n{done.stdout}\n{done.stderr}"


def test_every_block_says_what_it_is():
    for block in ALL:
        assert block.language in LANGUAGES, f"{block.id}: ```{block.language}"
        if block.mark == "not run":
            assert block.why, f"{block.id}: say why it is not run"
        if block.mark is not None:
            assert block.language in CODE, f"{block.id}: only code blocks are marked"
    readme = [b for b in ALL if b.file == "README.md"]
    assert sum(b.mark == "not run" for b in readme) <= 3  # illustrations stay few
    assert len([b for b in readme if b in RUN]) >= 8


def test_the_first_commands_are_the_ones_ci_runs_on_a_fresh_virtualenv():
    first = next(b for b in blocks() if b.language in CODE)
    assert first.mark == "ci" and first.language == "sh"
    lines = [line.split("#")[0].strip() for line in first.code.splitlines()]
    # the README opens with the two set-up commands: one runs the demo, one the tests
    assert lines[:2] == ["python -m pip install -e '.[test]' && python -m vfswasi demo",
                         "python -m pip install -e '.[test]' && python -m pytest -q"]
    assert "tests/readme.py ci" in (ROOT / ".ci" / "run").read_text()


def test_the_first_python_snippet_is_self_contained():
    first = next(b for b in blocks() if b.language == "python")
    assert "tests/" not in first.code and "prog.wasm" not in first.code
    assert "from vfswasi.demo import INVENTORY" in first.code
