"""Drive the `fsops` guest (tests/guests/src/fsops.c; its header documents the op syntax).

A *transcript* is the readable form the tests use: one op per line, `->` and the exact line
the guest must print. A line without `->` is a setup step that must merely succeed (print a
line starting with "ok"). Blank lines and `#` comments are ignored.

    mount = transcript(kind, tmp_path, {"a.txt": b"hi"}, '''
        open 3 a.txt            -> ok 4
        read 4 100              -> ok "hi"
        stat 3 missing          -> err NOENT
    ''')
    assert mount.tree() == {"a.txt": b"hi"}

The mount is preopened at /sandbox, so it is fd 3.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import Mount, guest, make_mount, run_guest

FSOPS = guest("fsops")
SANDBOX = "/sandbox"


def run_script(kind: str, mount: Mount, script: str | list[str]) -> list[str]:
    """Run fsops with `script` on stdin, `mount` preopened at /sandbox; the output lines."""
    if isinstance(script, list):
        script = "\n".join(script)
    res = run_guest(kind, FSOPS, ["fsops"], {SANDBOX: mount}, stdin=script.encode() + b"\n")
    assert res.exit_code == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode(errors="surrogateescape").splitlines()


def ops(kind: str, tmp_path: Path, tree: dict, script: str | list[str]) -> tuple[list[str], dict]:
    """Make a mount holding `tree`, run `script`; the output lines and the final tree."""
    mount = make_mount(kind, tmp_path, tree)
    return run_script(kind, mount, script), mount.tree()


def parse_transcript(text: str) -> list[tuple[str, str | None]]:
    """(op line, expected output or None for "any ok") pairs."""
    steps = []
    for raw in textwrap.dedent(text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, arrow, expected = line.rpartition(" -> ")
        steps.append((op.strip(), expected.strip()) if arrow else (line, None))
    return steps


def check_transcript(kind: str, mount: Mount, text: str) -> None:
    """Run a transcript on an existing mount and assert every output line."""
    steps = parse_transcript(text)
    out = run_script(kind, mount, [op for op, _ in steps])
    assert len(out) == len(steps), f"{len(steps)} ops printed {len(out)} lines:\n" + "\n".join(out)
    got = [(op, line if exp is not None or not line.startswith("ok") else None)
           for (op, exp), line in zip(steps, out, strict=True)]
    assert got == steps


def transcript(kind: str, tmp_path: Path, tree: dict, text: str) -> Mount:
    """Make a mount holding `tree`, run and check the transcript; return the mount."""
    mount = make_mount(kind, tmp_path, tree)
    check_transcript(kind, mount, text)
    return mount
