"""`vfswasi run`: mounts, env, exit status, traps, one-line errors and the module cache."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import wasmtime
from conftest import guest

TRAP_WAT = '(module (memory (export "memory") 1) (func (export "_start") unreachable))'


def vfswasi(*args: str, cache: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VFSWASI_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "vfswasi", *args], capture_output=True,
                          timeout=120, env=env, cwd=cwd)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_dir_mount_env_and_exit_status(tmp_path, cache):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in.txt").write_bytes(b"from the host")
    res = vfswasi("run", "--dir", f"{host}::/sandbox", "--env", "GREETING=hi",
                  str(guest("tree")), "cat", "/sandbox/in.txt", cache=cache)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"from the host"
    env = vfswasi("run", "--env", "A=1", "--env", "B", str(guest("sys")), "env", cache=cache)
    assert b"A=1" in env.stdout and b"B=" in env.stdout


def test_guest_exit_status_is_the_process_status(cache):
    assert vfswasi("run", str(guest("sys")), "exit", "42", cache=cache).returncode == 42


def test_mount_fs_urls_including_a_zip(tmp_path, cache):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("lib/x.txt", "zipped\n")
    res = vfswasi("run", "--mount", f"/lib={'zip://' + str(archive)}", "--mount", "/tmp=mem://",
                  str(guest("tree")), "cat", "/lib/lib/x.txt", cache=cache)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"zipped\n"


def test_wasmtime_style_invocation_without_run(tmp_path, cache):
    assert vfswasi(str(guest("sys")), "exit", "3", cache=cache).returncode == 3


def test_trap_prints_the_message_and_exits_like_wasmtime(tmp_path, cache):
    wasm = tmp_path / "trap.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(TRAP_WAT))
    res = vfswasi("run", str(wasm), cache=cache)
    assert res.returncode == 134
    assert b"unreachable" in res.stderr
    assert b"Traceback" not in res.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "--bogus", "x.wasm"], b"unrecognized arguments: --bogus"),
    (["run", "missing.wasm"], b"cannot read missing.wasm"),
    (["run", "--dir", "/no/such/dir", "x.wasm"], b"no such directory"),
    (["run", "--mount", "nonsense", "x.wasm"], b"--mount expects GUEST=FS_URL"),
    (["run", "--mount", "/x=nosuchscheme://a", "BAD"], b"cannot mount"),
    ([], b"required"),
])
def test_bad_usage_is_one_line_and_nonzero(tmp_path, cache, args, message):
    (tmp_path / "BAD").write_bytes(wasmtime.wat2wasm('(module (func (export "_start")))'))
    res = vfswasi(*args, cache=cache, cwd=tmp_path)
    assert res.returncode != 0
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert b"Traceback" not in res.stderr


def test_invalid_module_is_one_line(tmp_path, cache):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm garbage")
    res = vfswasi("run", str(bad), cache=cache)
    assert res.returncode == 1
    assert res.stderr.startswith(b"vfswasi: invalid module")
    assert len(res.stderr.strip().splitlines()) == 1


def test_missing_wasi_function_is_named(tmp_path, cache):
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(
        '(module (import "wasi_snapshot_preview1" "no_such_call" (func)) '
        '(memory (export "memory") 1) (func (export "_start")))'))
    res = vfswasi("run", str(wasm), cache=cache)
    assert res.returncode == 1
    assert b"no_such_call" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_compiled_modules_are_cached_on_disk(tmp_path, cache):
    wasm = tmp_path / "c.wasm"
    wasm.write_bytes(Path(guest("sys")).read_bytes())
    assert vfswasi("run", str(wasm), "exit", "0", cache=cache).returncode == 0
    entries = list(cache.glob("*.cwasm"))
    assert len(entries) == 1
    stamp = entries[0].stat().st_mtime_ns
    assert vfswasi("run", str(wasm), "exit", "5", cache=cache).returncode == 5
    # the second run deserialized the entry instead of compiling and rewriting it
    assert entries[0].stat().st_mtime_ns == stamp
    assert list(cache.glob("*.cwasm")) == entries


def test_corrupt_cache_entry_is_recompiled(tmp_path, cache):
    wasm = tmp_path / "c.wasm"
    wasm.write_bytes(Path(guest("sys")).read_bytes())
    assert vfswasi("run", str(wasm), "exit", "0", cache=cache).returncode == 0
    (entry,) = cache.glob("*.cwasm")
    entry.write_bytes(b"not a compiled module")
    assert vfswasi("run", str(wasm), "exit", "7", cache=cache).returncode == 7
    assert entry.read_bytes() != b"not a compiled module"


def test_demo_runs_the_embedded_job(cache):
    res = vfswasi("demo", cache=cache)
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "/archive" in out and "os.py" in out and "todo.txt" in out
    assert "6 files, 6 directories, 620 bytes, 49 lines" in out


def test_main_is_callable_in_process(capsys, cache, monkeypatch):
    from vfswasi.cli import main

    monkeypatch.setenv("VFSWASI_CACHE_DIR", str(cache))
    assert main(["run", str(guest("sys")), "exit", "4"]) == 4
    assert main(["run", "--nope", "x.wasm"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_failed_write_back_is_one_line_and_keeps_the_archive(tmp_path, cache, monkeypatch,
                                                              capsys):
    from vfswasi.backends.archive_formats import ZipWriter
    from vfswasi.cli import main

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("old.txt", "old\n")
    before = archive.read_bytes()

    def full_disk(self, *args):
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(ZipWriter, "add", full_disk)  # what writes each member back
    monkeypatch.setenv("VFSWASI_CACHE_DIR", str(cache))
    code = main(["run", "--mount", f"/a=zip+rw://{archive}", str(guest("tree")),
                 "write", "/a/new.txt", "x"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("vfswasi: could not save the mounts after the run: OSError")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert archive.read_bytes() == before
