"""A small mutation check: plant bugs that once survived the suite, expect the suite to fail.

    python tests/mutants.py            # every mutant (about a minute)
    python tests/mutants.py NAME...    # some of them

Each mutant changes one line of the working tree's code, in a copy of the repository, and runs
the tests that should catch it there (with PYTHONPATH on the copy, so the installed package is
never what is tested). A mutant the tests let live means a test was weakened: the script exits
non-zero and names it. A mutant whose line no longer exists fails too: keep the list in step
with the code. CI runs it (`.ci/run`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]


MUTANTS = [
    Mutant("symlink limit 10", "vfswasi/resolver.py",
           "MAX_SYMLINKS = 40", "MAX_SYMLINKS = 10",
           ("tests/test_sandbox.py", "-k", "exactly_40")),
    Mutant("escapes answer NOTCAPABLE", "vfswasi/resolver.py",
           "ESCAPE = Errno.PERM", "ESCAPE = Errno.NOTCAPABLE",
           ("tests/test_sandbox.py", "-k", "escape or dotdot or absolute")),
    Mutant("random_get gives zeros", "vfswasi/clocks.py",
           "piece[:] = os.urandom(len(piece))", "piece[:] = bytes(len(piece))",
           ("tests/test_sys.py", "-k", "random")),
    Mutant("seek(CUR, 0) needs FD_SEEK", "vfswasi/syscalls/fd.py",
           "right = Rights.FD_TELL if wh is Whence.CUR and offset == 0 else Rights.FD_SEEK",
           "right = Rights.FD_SEEK",
           ("tests/test_fs_files.py", "-k", "fd_tell")),
    Mutant("rename leaves the source directory's mtime", "vfswasi/backends/memory.py",
           "            _modified(d1, now)", "            pass",
           ("tests/test_fs_dirs.py", "-k", "rename_out_of and memory")),
    Mutant("quotas never refuse", "vfswasi/quota.py",
           "                    raise oserror(errno.ENOSPC)", "                    pass",
           ("tests/test_quota.py",)),
    Mutant("deterministic random_get ignores the seed", "vfswasi/clocks.py",
           "self.seed = seed & 0xFFFFFFFFFFFFFFFF", "self.seed = 0",
           ("tests/test_limits.py", "-k", "same_seed and memory")),
    Mutant("read-only mounts take changes", "vfswasi/vfs.py",
           "the one read-only check of every mutation.\"\"\"\n        if self.readonly:",
           "the one read-only check of every mutation.\"\"\"\n        if False:",
           ("tests/test_permissions.py",)),
    Mutant("zip times unclamped", "vfswasi/backends/archive_formats.py",
           "return max(DOS_MIN, min(DOS_MAX, (y, mo, d, h, mi, s - s % 2)))",
           "return (y, mo, d, h, mi, s - s % 2)",
           ("tests/test_archive_formats.py",)),
    Mutant("pax times cut to microseconds", "vfswasi/backends/archive_formats.py",
           'return f"{sign}{whole}.{frac:09d}".rstrip("0") if frac else f"{sign}{whole}"',
           'return f"{sign}{whole}.{frac // 1000:06d}".rstrip("0") if frac else f"{sign}{whole}"',
           ("tests/test_archive_formats.py",)),
]


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def survives(mutant: Mutant, files: list[str]) -> str | None:
    """None when the tests kill `mutant`, else why it lived."""
    with tempfile.TemporaryDirectory(prefix="vfswasi-mutant-") as tmp:
        copy = Path(tmp)
        for rel in files:
            src = ROOT / rel
            if src.is_file():
                (copy / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, copy / rel)
        target = copy / mutant.path
        text = target.read_text()
        if text.count(mutant.original) != 1:
            return f"its line is not in {mutant.path} exactly once: update the mutant"
        env = {**os.environ, "PYTHONPATH": str(copy), "HYPOTHESIS_PROFILE": "ci"}
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                   *mutant.tests]
        # first without the bug: the tests must pass, or their failure would prove nothing
        clean = subprocess.run(command, cwd=copy, env=env, capture_output=True, timeout=600)
        if clean.returncode != 0:
            return f"its tests fail without the bug (pytest exited {clean.returncode})"
        target.write_text(text.replace(mutant.original, mutant.mutated))
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, timeout=600)
        if done.returncode == 0:
            return "the tests passed with the bug in place"
        if done.returncode != 1:  # 1: tests failed; anything else: they did not run
            tail = done.stdout.decode(errors="replace").strip().splitlines()[-3:]
            return f"pytest exited {done.returncode}: {' / '.join(tail)}"
    return None


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    files = tracked_files()
    lived = 0
    for mutant in chosen:
        why = survives(mutant, files)
        print(f"{'LIVED' if why else 'killed'}  {mutant.name}" + (f": {why}" if why else ""))
        lived += why is not None
    print(f"{len(chosen) - lived} killed, {lived} lived")
    return 1 if lived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
