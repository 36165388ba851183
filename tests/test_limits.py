"""Limits on a whole run: timeouts, fuel, memory, Ctrl-C and SIGTERM, the usage report, and
deterministic runs. Each test that runs a guest which would never stop by itself is bounded
twice: by the limit under test, and by a watchdog that kills the test process (a failure,
not a hang) if the limit ever stops working.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import wasmtime
from conftest import BACKEND_KINDS, Mount, guest, make_mount
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi import Limits
from vfswasi.limits import (
    LimitExceeded,
    MemoryLimitExceeded,
    OutOfFuel,
    Quota,
    Terminated,
    Timeout,
    parse_duration,
    parse_size,
)
from vfswasi.vfs import Backend

ROOT = Path(__file__).resolve().parent.parent
SPIN = guest("spin")
DET = guest("det")
PRE = "written before the spin"
#: the code under test, not an installed copy, in every subprocess
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(autouse=True)
def watchdog(tmp_path_factory):
    """Kill the test process if one test runs for more than four minutes (a stop that no
    longer works must fail the run, not hang it); the tracebacks go to
    watchdog-tracebacks.txt in pytest's base temp directory, since pytest holds stderr."""
    log = tmp_path_factory.getbasetemp() / "watchdog-tracebacks.txt"
    with open(log, "w") as f:
        faulthandler.dump_traceback_later(240, exit=True, file=f)
        yield
        faulthandler.cancel_dump_traceback_later()


# --- the Limits object and the CLI's values ---------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), ("1.5", 1.5), ("250us", 0.00025), ("1h", 3600.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0s", "abc", "-1s", "1d", "s"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text, size", [
    ("65536", 65536), ("64K", 65536), ("10MiB", 10 << 20), ("2G", 2 << 30), ("1t", 1 << 40),
    ("7b", 7),
])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1.5M", "ten", "-3", "5X"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize("kwargs, error", [
    ({"timeout": 0}, ValueError), ({"timeout": -1}, ValueError), ({"fuel": "10"}, TypeError),
    ({"fuel": 1.5}, TypeError), ({"max_open_fds": True}, TypeError),
    ({"disk_bytes": -1}, ValueError), ({"mounts": {"/x": 5}}, TypeError),
])
def test_limits_refuse_bad_values_by_name(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        Limits(**kwargs)


def test_limits_defaults_keep_the_host_alive_and_none_lifts_them():
    default = Limits()
    assert default.max_open_fds == 1024
    assert default.disk_bytes is not None and default.disk_bytes > 0
    assert default.disk_inodes is not None and default.disk_inodes > 0
    assert default.timeout is default.fuel is default.max_memory is None
    lifted = Limits.none()
    assert (lifted.max_open_fds, lifted.disk_bytes, lifted.disk_inodes) == (None, None, None)
    assert Limits(mounts={"/t": Quota(bytes=5)}).quota_for("/t/") == Quota(bytes=5)


def test_wasi_refuses_a_limits_that_is_not_one():
    with pytest.raises(TypeError, match="limits"):
        vfswasi.WASI(limits={"timeout": 1})
    with pytest.raises(TypeError, match="deterministic"):
        vfswasi.WASI(deterministic="7")


# --- timeouts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["wasm", "wasi", "sleep", "stdin"])
def test_timeout_stops_the_guest_wherever_it_is(mode):
    # stdin: a pipe nobody writes to, so the guest blocks in fd_read
    r, w = os.pipe()
    try:
        with pytest.raises(Timeout) as info:
            vfswasi.run(SPIN, args=["spin", mode], stdin=r, timeout=0.3)
    finally:
        os.close(r)
        os.close(w)
    assert info.value.stdout == b"ready\n"  # what the guest printed before the stop
    assert info.value.usage is not None and info.value.usage.limit == "timeout"
    assert info.value.usage.wall_time >= 0.3


@pytest.mark.parametrize("kind", BACKEND_KINDS)
def test_a_stopped_guests_writes_are_saved(kind, tmp_path):
    mount = make_mount(kind, tmp_path, {"old.txt": b"old"})
    with pytest.raises(Timeout):
        vfswasi.run(SPIN, args=["spin", "wasm", "/data/pre.txt", PRE],
                    preopens={"/data": mount.preopen}, timeout=0.3)
    assert mount.tree() == {"old.txt": b"old", "pre.txt": PRE.encode()}


def test_timeout_covers_the_instances_whole_life_reactor_calls_included():
    wat = """(module
      (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
      (memory (export "memory") 1)
      (func (export "work") (loop $l (drop (call $y)) (br $l))))"""
    engine = vfswasi.engine()
    store = wasmtime.Store(engine)
    with vfswasi.WASI(limits=Limits(timeout=0.3)) as wasi:
        instance = wasi.instantiate(store, wasmtime.Module(engine, wat))
        wasi.initialize(instance, store)
        with pytest.raises(Timeout):
            wasi.call(instance, "work")
        assert wasi.usage.limit == "timeout"


def test_an_engine_without_epochs_still_stops_at_the_next_wasi_call():
    engine = wasmtime.Engine()  # no epoch interruption: pure wasm cannot be stopped here
    with pytest.raises(Timeout):
        vfswasi.run(SPIN, args=["spin", "wasi"], timeout=0.3, engine=engine)


def test_a_users_epoch_engine_runs_and_times_out():
    engine = vfswasi.engine()
    assert vfswasi.run(SPIN, args=["spin", "exit"], engine=engine).stdout == b"ready\n"
    with pytest.raises(Timeout):
        vfswasi.run(SPIN, args=["spin", "wasm"], timeout=0.3, engine=engine)


def test_a_store_the_wasi_never_saw_needs_prepare_store():
    # An epoch engine traps at once in a store without a deadline; prepare_store gives one.
    wat = """(module (memory (export "memory") 1)
      (func (export "f") (result i32) (i32.const 7)))"""
    engine = vfswasi.engine()
    module = wasmtime.Module(engine, wat)
    bare = wasmtime.Store(engine)
    with pytest.raises(wasmtime.Trap, match="interrupt"):
        wasmtime.Instance(bare, module, []).exports(bare)["f"](bare)
    with vfswasi.WASI() as wasi:
        store = wasmtime.Store(engine)
        wasi.prepare_store(store)
        assert wasmtime.Instance(store, module, []).exports(store)["f"](store) == 7


# --- fuel and memory ---------------------------------------------------------------------------------


def test_fuel_runs_out():
    with pytest.raises(OutOfFuel) as info:
        vfswasi.run(SPIN, args=["spin", "wasm"], limits=Limits(fuel=2_000_000))
    assert info.value.usage.limit == "fuel"
    assert info.value.usage.fuel == 2_000_000


def test_fuel_used_is_reported():
    result = vfswasi.run(SPIN, args=["spin", "exit"], limits=Limits(fuel=10**9))
    assert result.exit_code == 0
    assert 0 < result.usage.fuel < 10**9


def test_fuel_needs_a_fuel_engine():
    with pytest.raises(ValueError, match="fuel"):
        vfswasi.run(SPIN, args=["spin", "exit"], limits=Limits(fuel=1000),
                    engine=vfswasi.engine())


def test_memory_limit():
    with pytest.raises(MemoryLimitExceeded) as info:
        vfswasi.run(SPIN, args=["spin", "alloc"], limits=Limits(max_memory=16 << 20))
    assert b"out of memory after" in info.value.stderr
    assert info.value.usage.limit == "max_memory"
    assert 8 << 20 < info.value.usage.peak_memory <= 16 << 20


# --- Ctrl-C and SIGTERM ---------------------------------------------------------------------------


def _signal_run(sig: int, mode: str, archive: Path) -> tuple[int, str]:
    """Start the CLI on a spinning guest with a writable tar, send `sig` once the guest
    said it is spinning; (exit status, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vfswasi", "run", "--mount", f"/data=tar+rw://{archive}",
         str(SPIN), mode, "/data/pre.txt", PRE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=SUBPROCESS_ENV,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode()


@pytest.mark.parametrize("sig, status, word", [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated"),
])
def test_one_signal_always_stops_the_cli_and_saves_the_archive(tmp_path, sig, status, word):
    # 20 tries, half spinning in wasm, half in WASI calls: none may be swallowed or lose data
    def attempt(i: int) -> tuple[int, str, bytes | None]:
        archive = tmp_path / f"run{i}.tar"
        rc, err = _signal_run(sig, "wasm" if i % 2 else "wasi", archive)
        with tarfile.open(archive) as tf:
            member = tf.extractfile("pre.txt")
            data = member.read() if member else None
        return rc, err, data

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(20)))
    for rc, err, data in results:
        assert (rc, err.strip(), data) == (status, f"vfswasi: {word}", PRE.encode())


def test_ctrl_c_raises_keyboard_interrupt_to_the_caller_after_saving(tmp_path):
    archive = tmp_path / "a.tar"
    script = (
        "import os, signal, threading, vfswasi\n"
        "def ctrl_c():\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "try:\n"
        f"    vfswasi.run({str(SPIN)!r}, args=['spin', 'wasm', '/data/pre.txt', 'x'],\n"
        f"                preopens={{'/data': 'tar+rw://{archive}'}},\n"
        "                stdout=lambda b: threading.Timer(0.2, ctrl_c).start())\n"
        "except KeyboardInterrupt as e:\n"
        "    print('KeyboardInterrupt', e.stdout)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30,
                          env=SUBPROCESS_ENV)
    assert done.stdout == b"KeyboardInterrupt b''\n", done.stderr
    with tarfile.open(archive) as tf:
        assert tf.extractfile("pre.txt").read() == b"x"  # type: ignore[union-attr]


class _SlowToSave(Backend):
    """A mount whose close() is interrupted by Ctrl-C halfway (as a second Ctrl-C during an
    archive's write-back would be), and records whether it got to finish."""

    finished = False

    def __init__(self) -> None:
        from vfswasi.backends.memory import MemoryBackend

        self.inner = MemoryBackend(MemoryFS())

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def root(self):
        return self.inner.root()

    def close(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # time for the signal handler to run, between bytecodes
            pass
        type(self).finished = True


def test_ctrl_c_during_close_waits_for_the_save_then_raises():
    with pytest.raises(KeyboardInterrupt):
        vfswasi.run(SPIN, args=["spin", "exit"], preopens={"/data": _SlowToSave()})
    assert _SlowToSave.finished


def test_cli_timeout_is_one_line_and_exit_124(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "vfswasi", "run", "-W", "timeout=500ms", str(SPIN), "wasm"],
        capture_output=True, timeout=30, env=SUBPROCESS_ENV,
    )
    assert done.returncode == 124
    assert done.stdout == b"ready\n"
    assert done.stderr.decode().count("\n") == 1 and "timeout" in done.stderr.decode()


@pytest.mark.parametrize("args, message", [
    (["-W", "timeout=abc"], "-W timeout=abc: not a duration"),
    (["-W", "bogus=1"], "-W bogus=1: expected one of"),
    (["--disk-bytes", "lots"], "not a size"),
    (["--mount-quota", "nope"], "--mount-quota nope"),
])
def test_cli_bad_limit_values_are_one_line(args, message):
    done = subprocess.run([sys.executable, "-m", "vfswasi", "run", *args, str(SPIN), "exit"],
                          capture_output=True, timeout=30, env=SUBPROCESS_ENV)
    assert done.returncode == 2
    assert done.stderr.decode().count("\n") == 1 and message in done.stderr.decode()


def test_cli_fuel_and_memory_exits():
    fuel = subprocess.run([sys.executable, "-m", "vfswasi", "run", "-W", "fuel=100000",
                           str(SPIN), "wasm"],
                          capture_output=True, timeout=30, env=SUBPROCESS_ENV)
    assert fuel.returncode == 125 and b"fuel" in fuel.stderr
    memory = subprocess.run([sys.executable, "-m", "vfswasi", "run", "-W", "max-memory-size=8M",
                             str(SPIN), "alloc"],
                            capture_output=True, timeout=30, env=SUBPROCESS_ENV)
    assert memory.returncode == 126 and b"max_memory" in memory.stderr


# --- the usage report ----------------------------------------------------------------------------


def test_usage_report_counts_calls_io_and_files():
    tree = MemoryFS()
    tree.writebytes("/in.txt", b"0123456789")
    result = vfswasi.run(guest("tree"), args=["tree", "cp", "/d/in.txt", "/d/out.txt", ";",
                                              "rm", "/d/in.txt"], preopens={"/d": tree})
    assert result.exit_code == 0, result.stderr
    usage = result.usage
    assert usage.limit is None
    assert usage.bytes_read >= 10 and usage.bytes_written >= 10
    assert usage.files_created == 1 and usage.files_removed == 1
    assert usage.calls["path_unlink_file"] == 1 and usage.calls["proc_exit"] <= 1
    assert usage.calls["fd_write"] >= 1
    assert usage.peak_open_fds >= 4  # stdio, the preopen, and at least one file
    assert usage.peak_memory >= 65536 and usage.wall_time > 0 and usage.fuel is None
    report = usage.report()
    assert "path_unlink_file" in report and "total" in report and "limit hit   none" in report


def test_cli_usage_prints_the_report_on_stderr():
    done = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--usage", str(SPIN), "exit"], capture_output=True, timeout=30, env=SUBPROCESS_ENV)
    assert done.returncode == 0 and done.stdout == b"ready\n"
    err = done.stderr.decode()
    assert "fd_write" in err and "wall time" in err and "limit hit   none" in err


# --- deterministic runs --------------------------------------------------------------------------

#: memory-backed mounts: their times and inode numbers are the run's own
DETERMINISTIC_KINDS = ["memory", "zip-rw", "tar-rw", "overlay-memory"]


#: the inputs of a deterministic run must be the same too: a tree built now has now's times
FROZEN = 1_000_000_000.0


def _freeze_times(mount) -> None:
    """Give every pre-existing entry of `mount` fixed times (the test's inputs)."""
    if mount.archive is not None:
        os.utime(mount.archive, (FROZEN, FROZEN))  # an archive's root takes its file's mtime
        return
    memfs = mount.preopen
    # MemoryFS's setinfo can set neither the root's times nor any creation time: set its
    # entries' fields (the ones PyFilesystem2's getinfo reports) directly
    for path in ["/", *memfs.walk.dirs("/"), *memfs.walk.files("/")]:
        entry = memfs._get_dir_entry(path)
        entry.accessed_time = entry.modified_time = entry.created_time = FROZEN


def _det_run(kind: str, tmp_path: Path, seed: int) -> tuple[bytes, dict]:
    if kind == "overlay-memory":  # freeze the lower before the overlay first looks at it
        lower = make_mount("memory", tmp_path, {"given.txt": b"given"})
        _freeze_times(lower)
        mount = Mount(kind, vfswasi.overlay(lower.preopen))
    else:
        mount = make_mount(kind, tmp_path, {"given.txt": b"given"})
        _freeze_times(mount)
    result = vfswasi.run(DET, args=["det", "/data"], preopens={"/data": mount.preopen},
                         deterministic=seed)
    assert result.exit_code == 0, result.stderr
    return result.stdout, mount.tree()


@pytest.mark.parametrize("kind", DETERMINISTIC_KINDS)
def test_same_seed_same_bytes(kind, tmp_path):
    first, tree1 = _det_run(kind, tmp_path / "1", 42)
    second, tree2 = _det_run(kind, tmp_path / "2", 42)
    assert first == second and tree1 == tree2
    lines = first.decode().splitlines()
    # the sleep advanced the virtual clock by exactly 2 s, at once (plus the tick of a read)
    assert "slept 2000001000 ns" in lines
    randoms = [line for line in lines if line.startswith("random ")]
    assert len(set(randoms)) == 2  # two calls differ
    other, _ = _det_run(kind, tmp_path / "3", 43)
    assert [ln for ln in other.decode().splitlines() if ln.startswith("random ")] != randoms


#: a fixture tree built the same way in this process and in another
_FIXTURE = f"""
from fs.memoryfs import MemoryFS
m = MemoryFS()
m.writebytes('/given.txt', b'given')
for p in ['/', '/given.txt']:
    e = m._get_dir_entry(p)
    e.accessed_time = e.modified_time = e.created_time = {FROZEN}
"""


def test_deterministic_bytes_are_the_same_in_another_process():
    scope: dict = {}
    exec(_FIXTURE, scope)
    here = vfswasi.run(DET, args=["det", "/data"], preopens={"/data": scope["m"]},
                       deterministic=7).stdout
    script = _FIXTURE + (
        "import sys, vfswasi\n"
        f"r = vfswasi.run({str(DET)!r}, args=['det', '/data'], preopens={{'/data': m}},"
        " deterministic=7)\n"
        "sys.stdout.buffer.write(r.stdout)\n"
    )
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                           env=SUBPROCESS_ENV)
    assert there.returncode == 0, there.stderr
    assert there.stdout == here and b"slept 2000001000 ns" in here


def test_deterministic_random_bytes_are_the_documented_shake256_stream():
    import hashlib

    wat = """(module
      (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (call $r (i32.const 0) (i32.const 100)))))"""
    engine = vfswasi.modules.default_engine()
    store = wasmtime.Store(engine)
    with vfswasi.WASI(deterministic=5) as wasi:
        instance = wasi.instantiate(store, wasmtime.Module(engine, wat))
        wasi.start(instance, store)
        got = instance.exports(store)["memory"].read(store, 0, 100)
    want = hashlib.shake_256(b"vfswasi-random-v1" + (5).to_bytes(8, "little")
                             + (0).to_bytes(8, "little") + (0).to_bytes(8, "little")).digest(100)
    assert got == want


def test_cli_deterministic_twice_gives_identical_bytes(tmp_path):
    outs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--deterministic=3",
                               "--mount", "/data=mem://", str(DET), "/data"],
                              capture_output=True, timeout=60, env=SUBPROCESS_ENV)
        assert done.returncode == 0, done.stderr
        outs.append(done.stdout)
    assert outs[0] == outs[1] and b"slept 2000001000 ns" in outs[0]
    bare = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--deterministic",
                           "--mount", "/data=mem://", str(DET), "/data"],
                          capture_output=True, timeout=60, env=SUBPROCESS_ENV)
    assert bare.returncode == 0, bare.stderr  # a bare flag is seed 0, not the module's name


def test_written_back_archive_is_byte_identical(tmp_path):
    # the tree a deterministic run leaves, down to the archive's bytes
    made = []
    for i in range(2):
        mount = make_mount("tar-rw", tmp_path / str(i), {"given.txt": b"given"})
        os.utime(mount.archive, (0, 0))
        vfswasi.run(DET, args=["det", "/data"], preopens={"/data": mount.preopen},
                    deterministic=1)
        made.append(mount.archive.read_bytes())
    assert made[0] == made[1]


# --- threads --------------------------------------------------------------------------------------


def test_a_run_on_another_thread_still_times_out():
    errors: list[BaseException] = []

    def work() -> None:
        try:
            vfswasi.run(SPIN, args=["spin", "wasm"], timeout=0.3)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], LimitExceeded)
    assert not isinstance(errors[0], Terminated)


# --- the README's examples -------------------------------------------------------------------


def _readme_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("\n```", 1)[0] for block in body.split("```python\n")[1:]]


@pytest.mark.parametrize("section", ["Running untrusted programs", "Reproducible runs"])
def test_readme_examples_run_as_written(section, tmp_path):
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the README's paths are the repo's
    blocks = _readme_blocks(section)
    assert blocks
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                              timeout=60, env=SUBPROCESS_ENV)
        assert done.returncode == 0, done.stderr.decode()
    if section == "Running untrusted programs":
        assert done.stdout == b"timeout b'ready\\n'\n"
        with tarfile.open(tmp_path / "scratch.tar") as tf:
            assert tf.extractfile("note.txt").read() == b"saved"  # type: ignore[union-attr]


def test_the_testing_toolkit_replays_exactly_by_default():
    from vfswasi.testing import run_wasi

    runs = [run_wasi(DET, {"given.txt": b"given", "d": {}}, args=["det", "/"]) for _ in range(2)]
    assert runs[0].exit_code == 0, runs[0].err
    assert runs[0].stdout == runs[1].stdout and runs[0].tree == runs[1].tree
    assert "slept 2000001000 ns" in runs[0].out
    real = run_wasi(DET, {"given.txt": b"given"}, args=["det", "/"], deterministic=None)
    assert "slept 2000001000 ns" not in real.out  # the real clock: a real two-second sleep


# --- storage limits through the public API -------------------------------------------------------

FILL = guest("fill")


@pytest.mark.parametrize("kind", ["memory", "tar-rw", "zip-rw", "overlay-memory"])
def test_disk_limits_through_run(kind, tmp_path):
    # the instance-wide cap and a tighter per-mount Quota, as a user passes them to run()
    mount = make_mount(kind, tmp_path, {})
    limits = Limits(disk_bytes=1 << 20, mounts={"/data": Quota(bytes=256 << 10, inodes=10)})
    result = vfswasi.run(FILL, args=["fill", "write", "/data/big", "65536", "check", "/data/big",
                                     "mkdir", "/data/d", "many", "/data/d", "20",
                                     "write", "/scratch/x", "65536"],
                         preopens={"/data": mount.preopen, "/scratch": "mem://"}, limits=limits)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "write /data/big +262144 size=262144 ENOSPC",  # the mount's quota
        "check /data/big size=262144 ok",  # what was written is intact
        "mkdir /data/d ok",
        "many /data/d made=8 ENOSPC",  # 10 inodes: big, d, f0..f7
        "write /scratch/x +786432 size=786432 ENOSPC",  # the rest of the instance's MiB
    ]
    assert len(mount.tree()["big"]) == 262144  # saved (archives: written back)


def test_default_limits_cap_open_fds():
    # wasi-libc's open() until EMFILE: the default Limits() cap of 1024 applies to every run
    wat = """(module
      (import "wasi_snapshot_preview1" "path_open"
        (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write"
        (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) ".")
      (func (export "_start") (local $n i32) (local $e i32)
        (block $done (loop $more
          (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
                          (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 16)))
          (br_if $done (local.get $e))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $more)))
        ;; errno at 20, count at 24: report them as 8 raw bytes on stdout
        (i32.store (i32.const 20) (local.get $e))
        (i32.store (i32.const 24) (local.get $n))
        (i32.store (i32.const 32) (i32.const 20))
        (i32.store (i32.const 36) (i32.const 8))
        (drop (call $write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))))"""
    result = vfswasi.run(wasmtime.wat2wasm(wat), preopens={"/d": "mem://"})
    errno = int.from_bytes(result.stdout[:4], "little")
    opened = int.from_bytes(result.stdout[4:], "little")
    assert (errno, opened) == (vfswasi.Errno.MFILE, 1024 - 4)  # stdio and the preopen count
    assert result.usage.peak_open_fds == 1024


@pytest.mark.parametrize("kind", ["tar-rw", "zip-rw", "memory", "overlay-host"])
def test_after_emfile_the_guest_recovers_and_everything_is_saved(kind, tmp_path):
    # open "." until EMFILE, close one fd, then create a file and print: nothing is lost
    wat = """(module
      (import "wasi_snapshot_preview1" "path_open"
        (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write"
        (func $write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) ".")
      (data (i32.const 100) "after.txt")
      (data (i32.const 200) "saved")
      (func (export "_start") (local $e i32)
        (block $done (loop $more
          (local.set $e (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
                          (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 16)))
          (br_if $done (local.get $e))
          (br $more)))
        (if (i32.ne (local.get $e) (i32.const 33)) (then unreachable))  ;; EMFILE
        (drop (call $close (i32.const 4)))
        ;; creat|trunc after.txt for writing
        (if (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 9)
                  (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16))
          (then unreachable))
        (i32.store (i32.const 32) (i32.const 200))
        (i32.store (i32.const 36) (i32.const 5))
        (drop (call $write (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 40)))
        (drop (call $write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))))"""
    mount = make_mount(kind, tmp_path, {"old.txt": b"old"})
    result = vfswasi.run(wasmtime.wat2wasm(wat), preopens={"/d": mount.preopen},
                         limits=Limits(max_open_fds=64))
    assert (result.exit_code, result.stdout) == (0, b"saved")
    assert result.usage.peak_open_fds == 64
    assert mount.tree() == {"old.txt": b"old", "after.txt": b"saved"}


def test_cli_epoch_interruption_off_still_stops_at_wasi_calls():
    # -W epoch-interruption=n: no epoch checks in the code; a timeout then stops the guest at
    # its next WASI call (the "wasi" spin), and a bad value is one usage line
    done = subprocess.run([sys.executable, "-m", "vfswasi", "run", "-W",
                           "epoch-interruption=n,timeout=300ms", str(SPIN), "wasi"],
                          capture_output=True, timeout=60, env=SUBPROCESS_ENV)
    assert (done.returncode, done.stdout) == (124, b"ready\n"), done.stderr
    bad = subprocess.run([sys.executable, "-m", "vfswasi", "run", "-W", "epoch-interruption=maybe",
                          str(SPIN), "exit"], capture_output=True, timeout=60, env=SUBPROCESS_ENV)
    assert bad.returncode == 2 and b"epoch-interruption=y or" in bad.stderr


def _engines_asked(monkeypatch: pytest.MonkeyPatch, module: object) -> list[dict[str, bool]]:
    """Spy on the engines `module` asks `default_engine` for (the engine is still made)."""
    from vfswasi import modules

    asked: list[dict[str, bool]] = []

    def spy(**flags: bool) -> wasmtime.Engine:
        asked.append(flags)
        return modules.default_engine(**flags)

    monkeypatch.setattr(module, "default_engine", spy)
    return asked


def test_no_limit_at_all_runs_without_epoch_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Limits.none() is the one case with nothing for epochs to enforce: its engine has no
    # epoch checks (their cost); any limit, or the defaults, keeps them (a timeout, a Ctrl-C
    # in pure wasm)
    import vfswasi.api

    asked = _engines_asked(monkeypatch, vfswasi.api)
    assert Limits.none().unbounded and not Limits().unbounded
    assert not Limits.none().replace(timeout=1).unbounded
    for limits in (Limits.none(), Limits(), Limits.none().replace(timeout=5)):
        assert vfswasi.run(SPIN, args=["spin", "exit"], limits=limits).stdout == b"ready\n"
    assert [a["epochs"] for a in asked] == [False, True, True]
    plain = vfswasi.Program(SPIN, epochs=False).engine
    assert vfswasi.modules._FLAVOUR_OF[plain] == "plain"
    # without epochs a stop still ends the guest at its next WASI call
    with pytest.raises(Timeout):
        vfswasi.run(SPIN, args=["spin", "wasi"], timeout=0.3, engine=plain)


def test_cli_no_limits_runs_without_epoch_checks(monkeypatch: pytest.MonkeyPatch,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    from vfswasi import cli

    asked = _engines_asked(monkeypatch, cli)
    for argv in (["--no-limits"], [], ["--no-limits", "-W", "timeout=5s"],
                 ["--no-limits", "-W", "epoch-interruption=y"]):
        assert cli.main(["run", *argv, str(SPIN), "exit"]) == 0
    assert [a["epochs"] for a in asked] == [False, True, True, True]
    assert capfd.readouterr().out == "ready\n" * 4
