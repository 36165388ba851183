"""One-syscall resolution on host directories (openat2 with RESOLVE_BENEATH).

The resolver hands the directory part of a multi-component path to the host backend's
`open_path`; the tests check that this fast step is taken, that turning it off gives the
same answer (errno or entry) for every path of a tricky tree, and that a host thread
renaming directories and swapping them for symlinks while paths resolve never lets a
resolution reach anything outside the mount.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import vfswasi
from vfswasi.abi import WasiError
from vfswasi.backends import hostdir
from vfswasi.backends.hostdir import HostDirBackend
from vfswasi.resolver import resolve

needs_openat2 = pytest.mark.skipif(not hostdir.openat2_available(),
                                   reason="the kernel has no openat2 (Linux < 5.6) or forbids it")

FSOPS = Path(__file__).parent / "guests" / "bin" / "fsops.wasm"


def _tree(root: Path) -> None:
    (root / "a/b/c/d").mkdir(parents=True)
    (root / "a/b/c/d/file.txt").write_bytes(b"IN")
    (root / "f").write_bytes(b"F")
    os.symlink("b", root / "a/lb")  # relative, stays inside
    os.symlink("../a/b/c", root / "a/lc")
    os.symlink("/etc", root / "abs")  # absolute: an escape
    os.symlink("../..", root / "a/up2")  # climbs out of the mount
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("d/file.txt", root / "a/b/c/lf")
    os.symlink("..", root / "a/b/c/dotdot")
    os.symlink("/proc/self/cwd", root / "magic")
    chain = "a"
    for i in range(45):  # 45 links in a row: ELOOP for the walk, whichever way it goes
        os.symlink(chain, root / f"ch{i}")
        chain = f"ch{i}"


PATHS = [
    "a/b/c/d/file.txt", "a/b/c/d/file.txt/", "a/b/c/d/", "a/b/c/d/.", "a/b/c/d/..",
    "a/lb/c/d/file.txt", "a/lc/d/file.txt", "a/b/c/lf", "a/b/c/lf/", "a/b/c/dotdot/c/d",
    "a/b/c/dotdot", "abs/passwd", "a/abs", "a/up2/x", "a/up2", "loop1/x", "a/loop1",
    "f/x", "f/x/y", "a/missing/x", "a/b/missing", "a/b/missing/", "a/../a/b", "a/../../x",
    "a/b/../../..", "magic/x", "a//b///c/d/file.txt", "./a/b", "a/./b/./c",
    "a/" + "n" * 256 + "/x", "a/b/" + "n" * 256, "missing/" + "n" * 256 + "/x",
    "ch44/b/c", "ch39/b/c", "ch40/b", "a/" + "/".join(["b", ".."] * 30) + "/b/c",
]


def _outcome(backend: HostDirBackend, path: str, follow: bool) -> Any:
    """What resolving `path` gives: the errno, or the entry's name and what it is."""
    try:
        target = resolve(backend, backend.root(), path, follow=follow)
    except (WasiError, OSError) as e:
        return ("error", e.errno)
    with target:
        parent = os.fstat(target.parent)
        try:
            kind = target.lstat()[:3]
        except OSError as e:
            kind = ("missing", e.errno)
        return (parent.st_ino, target.name, target.must_be_dir, kind)


@needs_openat2
def test_fast_path_is_taken(tmp_path: Path) -> None:
    _tree(tmp_path)
    backend = HostDirBackend(tmp_path)
    with resolve(backend, backend.root(), "a/b/c/d/file.txt", follow=False) as target:
        assert target.name == "file.txt"
        assert os.read(os.open(target.name, os.O_RDONLY, dir_fd=target.parent), 9) == b"IN"
    assert backend.openat2_calls == 1
    # a single component needs no directory step at all
    with resolve(backend, backend.root(), "f", follow=False):
        pass
    assert backend.openat2_calls == 1
    backend.close()


@needs_openat2
def test_a_guest_stats_deep_paths_through_openat2(tmp_path: Path) -> None:
    _tree(tmp_path)
    backend = HostDirBackend(tmp_path)
    script = b"stat 3 a/b/c/d/file.txt\nstat 3 a/lc/d/file.txt\nstat 3 abs/passwd\n"
    result = vfswasi.run(str(FSOPS), args=["fsops"], preopens={"/d": backend}, stdin=script)
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("ok ") and lines[1].startswith("ok ")
    assert lines[2] == "err PERM"  # openat2 fails (EXDEV), the walk answers the escape
    assert backend.openat2_calls == 3


@needs_openat2
@pytest.mark.parametrize("follow", [False, True])
def test_fallback_gives_the_same_answers(tmp_path: Path, follow: bool) -> None:
    _tree(tmp_path)
    fast = HostDirBackend(tmp_path)
    slow = HostDirBackend(tmp_path)
    slow.open_path = None  # type: ignore[assignment]
    for path in PATHS:
        assert _outcome(fast, path, follow) == _outcome(slow, path, follow), path
    assert fast.openat2_calls > 0 and slow.openat2_calls == 0
    fast.close()
    slow.close()


def _in_child(tmp_path: Path, env: dict[str, str]) -> list[str]:
    import subprocess
    import sys
    code = ("from vfswasi.backends.hostdir import HostDirBackend as H, openat2_available as a;"
            f"b = H({str(tmp_path)!r}); print(a(), b.open_path is None);"
            f"print(b.open_path and b.open_path(b.root(), 'a/b/c'))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


def test_env_var_turns_openat2_off(tmp_path: Path) -> None:
    assert _in_child(tmp_path, {hostdir.NO_OPENAT2_ENV: "1"}) == ["False", "True", "None"]


@needs_openat2
def test_the_ctypes_route_opens_too(tmp_path: Path) -> None:
    # without the C extension, openat2 goes through ctypes: same answers
    (tmp_path / "a/b/c").mkdir(parents=True)
    for env in ({"VFSWASI_PURE_PYTHON": "1"}, {}):
        answer = _in_child(tmp_path, env)
        assert answer[:2] == ["True", "False"] and int(answer[2]) >= 0, (env, answer)


@pytest.mark.parametrize("fast", [True, False])
def test_host_renames_and_swaps_never_lead_outside(tmp_path: Path, fast: bool) -> None:
    sandbox = tmp_path / "sandbox"
    outside = tmp_path / "outside"
    for top in (sandbox / "a", outside):
        (top / "b/c/d").mkdir(parents=True)
    (sandbox / "a/b/c/d/file.txt").write_bytes(b"IN")
    (outside / "b/c/d/file.txt").write_bytes(b"OUT")
    backend = HostDirBackend(sandbox)
    if not fast:
        backend.open_path = None  # type: ignore[assignment]
    stop = threading.Event()

    def swap() -> None:
        # a directory on the guest's path is moved away and replaced by symlinks that
        # point outside (absolute and relative), then put back, over and over
        a, moved, b, bmoved = sandbox / "a", sandbox / "a_moved", sandbox / "a/b", sandbox / "b_moved"
        while not stop.is_set():
            os.rename(a, moved)
            os.symlink(outside, a)
            os.unlink(a)
            os.symlink("../outside", a)
            os.unlink(a)
            os.rename(moved, a)
            os.rename(b, bmoved)
            os.symlink("../../outside/b", b)
            os.unlink(b)
            os.rename(bmoved, b)
            # a directory handle held inside the tree is moved up next to the outside
            os.rename(a, tmp_path / "a_out")
            os.rename(tmp_path / "a_out", a)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    inside = str(sandbox)
    ok = 0
    deadline = time.monotonic() + 2.0  # bounded: two seconds of racing
    try:
        while time.monotonic() < deadline:
            for path, follow in (("a/b/c/d/file.txt", False), ("a/b/c/d/file.txt", True),
                                 ("a/b/c/d/../d/file.txt", True), ("a/b/c/d", True)):
                try:
                    target = resolve(backend, backend.root(), path, follow=follow)
                except (WasiError, OSError):
                    continue  # refused or missing mid-swap: fine, nothing was reached
                with target:
                    where = os.readlink(f"/proc/self/fd/{target.parent}")
                    # the handle may sit in a directory moved out a moment later, but it
                    # was inside when reached; what it reads must never be the outside's
                    assert not where.startswith(str(outside)), where
                    if target.name == "file.txt":
                        try:
                            fd = os.open(target.name, os.O_RDONLY | os.O_NOFOLLOW,
                                         dir_fd=target.parent)
                        except OSError:
                            continue
                        with os.fdopen(fd, "rb") as f:
                            assert f.read() == b"IN"
                        ok += 1
                    elif where.startswith(inside):
                        ok += 1
    finally:
        stop.set()
        thread.join(timeout=10)
        backend.close()
    assert ok > 0  # the race let some resolutions through, and all of them stayed inside
