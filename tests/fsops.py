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

Where WASI leaves the exact errno to the host, an expectation may list alternatives separated
by ` | `, the reference's (wasmtime's) answer first: typically `err BADF | err NOTCAPABLE` where
a host that checks rights refuses with NOTCAPABLE. `REFUSED` stands for a sandbox refusal:
`err PERM`, exactly, as wasmtime answers and vfswasi's resolver promises (the spec would allow
NOTCAPABLE too, but a resolver drifting to it must fail here).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import Mount, guest, make_mount, run_guest

FSOPS = guest("fsops")
SANDBOX = "/sandbox"


def run_script(
    kind: str, mount: Mount, script: str | list[str], extra: dict[str, Mount] | None = None
) -> list[str]:
    """Run fsops with `script` on stdin, `mount` preopened at /sandbox (fd 3) and the `extra`
    mounts after it (fds 4, 5, ...); the output lines."""
    if isinstance(script, list):
        script = "\n".join(script)
    preopens = {SANDBOX: mount, **(extra or {})}
    res = run_guest(kind, FSOPS, ["fsops"], preopens, stdin=script.encode() + b"\n")
    assert res.exit_code == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode(errors="surrogateescape").splitlines()


def ops(kind: str, tmp_path: Path, tree: dict, script: str | list[str]) -> tuple[list[str], dict]:
    """Make a mount holding `tree`, run `script`; the output lines and the final tree."""
    mount = make_mount(kind, tmp_path, tree)
    return run_script(kind, mount, script), mount.tree()


#: shorthands usable as (part of) an expectation
ALIASES = {"REFUSED": "err PERM"}


def parse_transcript(text: str) -> list[tuple[str, str | None]]:
    """(op line, expected output or None for "any ok") pairs."""
    steps = []
    for raw in textwrap.dedent(text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, arrow, expected = line.rpartition(" -> ")
        if arrow:
            expected = " | ".join(ALIASES.get(alt, alt) for alt in expected.strip().split(" | "))
            steps.append((op.strip(), expected))
        else:
            steps.append((line, None))
    return steps


def matches(expected: str | None, line: str) -> bool:
    """Whether an output line satisfies an expectation (None: any "ok" line)."""
    if expected is None:
        return line.startswith("ok")
    return line in expected.split(" | ")


def check_transcript(
    kind: str, mount: Mount, text: str, extra: dict[str, Mount] | None = None
) -> None:
    """Run a transcript on an existing mount (plus `extra` preopens) and assert every line."""
    steps = parse_transcript(text)
    out = run_script(kind, mount, [op for op, _ in steps], extra)
    assert len(out) == len(steps), f"{len(steps)} ops printed {len(out)} lines:\n" + "\n".join(out)
    report, wrong = [], 0
    for (op, expected), line in zip(steps, out, strict=True):
        report.append(f"   {op} -> {line}")
        if not matches(expected, line):
            wrong += 1
            report[-1] = "!!" + report[-1][2:] + f"    (expected {expected or 'ok ...'})"
    # (a plain message: pytest does not rewrite asserts in this helper module)
    assert not wrong, f"{wrong} of {len(steps)} lines differ on {kind}:\n" + "\n".join(report)


def transcript(kind: str, tmp_path: Path, tree: dict, text: str) -> Mount:
    """Make a mount holding `tree`, run and check the transcript; return the mount."""
    mount = make_mount(kind, tmp_path, tree)
    check_transcript(kind, mount, text)
    return mount
