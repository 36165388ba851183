"""Storage quotas of memory-backed mounts (vfswasi/quota.py, backends/memory.py, overlay.py,
archive.py, fsspec.py): a guest filling its storage gets ENOSPC before anything is allocated,
keeps what it wrote, can free space and write again; nothing is lost, the host never breaks.

The WASI instance will hand every mount its account (`Backend.use_storage`); these tests make
their own and pin it on the backend they pass as the preopen, so they hold whatever the
instance does.
"""

from __future__ import annotations

import errno
import io
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Mount, guest, make_mount
from fs.memoryfs import MemoryFS

import vfswasi
from vfswasi.backends import open_backend
from vfswasi.backends.fsspec import FsspecBackend, private_memory_fs
from vfswasi.backends.memory import MemoryBackend
from vfswasi.backends.overlay import OverlayBackend
from vfswasi.clocks import REALTIME_START_NS, TICK_NS, VirtualClock
from vfswasi.limits import Limits, Quota
from vfswasi.quota import StorageAccount
from vfswasi.vfs import Backend, Stat

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
CHUNK = 64 * KiB
#: a byte quota that is no multiple of CHUNK: the guest must stop within one chunk of it
QUOTA = MiB + 1000
#: what the guest can write into an empty quota in CHUNK pieces
FITS = QUOTA // CHUNK * CHUNK
INODES = 50
#: what every mount holds before the guest runs: it costs the guest nothing
PRE = {"pre.bin": bytes(range(256)) * 800, "d0": {"x": b"x"}}

STORAGE_KINDS = ["memory", "tar-rw", "zip-rw", "overlay-memory", "overlay-host"]


def pattern(size: int, start: int = 0) -> bytes:
    """What fill.c writes at offsets start..start+size (byte = offset % 251)."""
    return bytes((start + i) % 251 for i in range(size))


def storage_mount(kind: str, tmp_path: Path, account: StorageAccount,
                  spec: dict | None = None) -> tuple[Mount, Backend]:
    """A mount of `kind` holding `spec` (PRE by default), its backend charging `account`."""
    mount = make_mount(kind, tmp_path, PRE if spec is None else spec)
    preopen = MemoryBackend(mount.preopen) if kind == "memory" else mount.preopen
    backend = open_backend(preopen)
    backend.use_storage(account)
    # pinned: the WASI instance's own account (once api.py hands one out) must not replace it
    backend.use_storage = lambda _account: None  # type: ignore[method-assign]
    return mount, backend


def fill(backend: Backend, *commands: str, **preopens: Backend) -> list[str]:
    res = vfswasi.run(guest("fill"), args=["fill", *commands],
                      preopens={"/data": backend, **{f"/{k}": v for k, v in preopens.items()}})
    assert res.exit_code == 0, res.stderr
    return res.stdout.decode().splitlines()


# --- the account itself ---------------------------------------------------------------------------


def test_account_chain_checks_every_cap_before_counting() -> None:
    instance = StorageAccount.for_limits(Limits(disk_bytes=1000, disk_inodes=3))
    a = instance.for_mount(Quota(bytes=600), "/a")
    b = instance.for_mount(Quota(inodes=1), "/b")
    a.charge(600, 1)
    with pytest.raises(OSError) as e:
        a.charge(1)  # its own cap
    assert e.value.errno == errno.ENOSPC
    b.charge(400, 1)
    with pytest.raises(OSError):
        b.charge(1)  # the instance's cap: 1000 bytes in all
    with pytest.raises(OSError):
        b.charge(0, 1)  # its own inode cap
    assert (a.used_bytes, b.used_bytes, instance.used_bytes) == (600, 400, 1000)
    assert (a.used_inodes, b.used_inodes, instance.used_inodes) == (1, 1, 2)
    assert (a.denied, b.denied, instance.denied) == (1, 2, 3)  # a refusal counts in all
    assert a.room() == (0, 1) and b.room() == (0, 0)
    a.refund(600, 1)  # refunds always pass, and free room for the others
    b.charge(100)
    assert (instance.used_bytes, instance.peak_bytes, a.peak_bytes) == (500, 1000, 600)
    # mixed signs: only the growing part is checked
    b.charge(-100, 0)
    b.charge(50, -1)
    assert (b.used_bytes, b.used_inodes) == (450, 0)


def test_account_without_caps_only_counts() -> None:
    acct = StorageAccount.for_limits(Limits.none()).for_mount()
    acct.charge(10 * GiB, 10**9)
    acct.refund(11 * GiB, 10**9)
    assert (acct.used_bytes, acct.used_inodes, acct.peak_bytes) == (-GiB, 0, 10 * GiB)
    assert acct.room() == (None, None)
    with pytest.raises(ValueError):
        StorageAccount(-1)


# --- a C guest filling every memory-backed kind -------------------------------------------------


@pytest.mark.parametrize("kind", STORAGE_KINDS)
def test_guest_fills_its_quota_then_frees_and_writes_again(kind: str, tmp_path: Path) -> None:
    instance = StorageAccount(name="instance")
    account = instance.for_mount(Quota(bytes=QUOTA, inodes=INODES))
    mount, backend = storage_mount(kind, tmp_path, account)
    out = fill(backend,
               "write", "/data/a", str(CHUNK), "check", "/data/a",
               "truncate", "/data/a", str(3 * GiB), "check", "/data/a",
               "write", "/data/b", str(CHUNK),  # full: b is made, with nothing in it
               "rm", "/data/a",
               "write", "/data/b", str(CHUNK), "check", "/data/b",
               "mkdir", "/data/d", "many", "/data/d", "1000",
               "rmmany", "/data/d", "10", "many", "/data/d", "10")
    assert out == [
        # pre-existing content costs nothing: the whole quota is the guest's
        f"write /data/a +{FITS} size={FITS} ENOSPC",
        f"check /data/a size={FITS} ok",
        f"truncate /data/a {3 * GiB} ENOSPC size={FITS}",
        f"check /data/a size={FITS} ok",
        "write /data/b +0 size=0 ENOSPC",
        "rm /data/a ok",
        f"write /data/b +{FITS} size={FITS} ENOSPC",
        f"check /data/b size={FITS} ok",
        "mkdir /data/d ok",
        f"many /data/d made={INODES - 2} ENOSPC",  # b and d take two inodes
        "rmmany /data/d removed=10",
        "many /data/d made=10 ok",
    ]
    assert (account.used_bytes, account.used_inodes) == (FITS, INODES)
    assert (instance.used_bytes, instance.used_inodes) == (FITS, INODES)
    # everything the guest wrote is there (for archives: written back to the file)
    tree = mount.tree()
    assert tree["b"] == pattern(FITS)
    assert "a" not in tree
    assert sorted(tree["d"]) == sorted(f"f{i}" for i in range(INODES - 2))
    assert (tree["pre.bin"], tree["d0"]) == (PRE["pre.bin"], PRE["d0"])


def test_users_memoryfs_stays_usable_after_enospc(tmp_path: Path) -> None:
    memfs = MemoryFS()
    memfs.writebytes("/pre.bin", PRE["pre.bin"])
    backend = MemoryBackend(memfs)
    backend.use_storage(StorageAccount(QUOTA))
    out = fill(backend, "write", "/data/a", str(CHUNK), "truncate", "/data/a", str(3 * GiB))
    assert out == [f"write /data/a +{FITS} size={FITS} ENOSPC",
                   f"truncate /data/a {3 * GiB} ENOSPC size={FITS}"]
    assert memfs.getsize("/a") == FITS
    assert memfs.readbytes("/a") == pattern(FITS)
    memfs.appendbytes("/a", b"more")  # the user's own writes are not the guest's quota
    assert memfs.getsize("/a") == FITS + 4
    assert memfs.readbytes("/pre.bin") == PRE["pre.bin"]


@pytest.mark.parametrize("kind", STORAGE_KINDS)
def test_unlinked_open_file_is_refunded_at_its_last_close(kind: str, tmp_path: Path) -> None:
    account = StorageAccount(QUOTA, INODES)
    mount, backend = storage_mount(kind, tmp_path, account)
    out = fill(backend, "write", "/data/a", str(CHUNK), "hold", "/data/a", "rm", "/data/a",
               "write", "/data/b", str(CHUNK),  # a's data is still held by the open fd
               "release", "write", "/data/b", str(CHUNK))
    assert out == [f"write /data/a +{FITS} size={FITS} ENOSPC", "hold /data/a ok",
                   "rm /data/a ok", "write /data/b +0 size=0 ENOSPC", "release ok",
                   f"write /data/b +{FITS} size={FITS} ENOSPC"]
    assert mount.tree()["b"] == pattern(FITS)
    assert (account.used_bytes, account.used_inodes) == (FITS, 1)


def test_instance_cap_is_shared_by_all_mounts(tmp_path: Path) -> None:
    instance = StorageAccount.for_limits(Limits(disk_bytes=MiB + MiB // 2))
    one, two = MemoryBackend(), MemoryBackend()
    one.use_storage(instance.for_mount(Quota(bytes=MiB), "/data"))
    two.use_storage(instance.for_mount(Quota(), "/two"))
    out = fill(one, "write", "/data/a", str(CHUNK), "write", "/two/b", str(CHUNK),
               "rm", "/data/a", "write", "/two/b", str(CHUNK), two=two)
    assert out == [f"write /data/a +{MiB} size={MiB} ENOSPC",
                   f"write /two/b +{MiB // 2} size={MiB // 2} ENOSPC",
                   "rm /data/a ok",
                   f"write /two/b +{MiB} size={MiB + MiB // 2} ENOSPC"]
    assert instance.used_bytes == instance.peak_bytes == MiB + MiB // 2


def test_sizes_past_what_a_file_can_hold(tmp_path: Path) -> None:
    backend = MemoryBackend()
    backend.use_storage(StorageAccount(MiB))
    top = sys.maxsize  # 2**63 - 1: the syscalls let nothing larger through
    out = fill(backend, "write", "/data/a", str(CHUNK),
               "falloc", "/data/a", str(1 << 62), str(1 << 62),  # ends at 2**63
               "truncate", "/data/a", str(top),
               "falloc", "/data/a", str(top - 1), "1",
               "check", "/data/a")
    assert out == [f"write /data/a +{MiB} size={MiB} ENOSPC",
                   f"falloc /data/a EFBIG size={MiB}",
                   f"truncate /data/a {top} ENOSPC size={MiB}",
                   f"falloc /data/a ENOSPC size={MiB}",
                   f"check /data/a size={MiB} ok"]
    # and the backend itself, for what the syscalls would not pass on
    r = backend.root()
    f = backend.open_file(r, "a", read=True, write=True)
    for call in (lambda: f.write(b"x", top), lambda: f.truncate(top + 1),
                 lambda: f.allocate(top, 1)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EFBIG
    with pytest.raises(OSError) as e:
        f.write(b"x", top - 1)  # representable, so the quota answers
    assert e.value.errno == errno.ENOSPC
    f.close()
    assert backend.fs.readbytes("/a") == pattern(MiB)


def test_huge_growth_without_a_quota_is_enospc_and_keeps_the_file() -> None:
    # no account at all: only what the OS will map stands between a guest and the host
    backend = MemoryBackend()
    f = backend.open_file(backend.root(), "a", read=True, write=True, create=True)
    f.write(b"keep", 0)
    for call in (lambda: f.truncate(sys.maxsize), lambda: f.write(b"y", sys.maxsize - 1)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.ENOSPC
    f.close()
    assert backend.fs.readbytes("/a") == b"keep"


# --- MemoryBackend: what is charged when -----------------------------------------------------


def used(account: StorageAccount) -> tuple[int, int]:
    return account.used_bytes, account.used_inodes


def test_memory_backend_charges_and_refunds() -> None:
    memfs = MemoryFS()
    memfs.writebytes("/old", b"o" * 1000)  # the user's: not charged, refunded when removed
    account = StorageAccount()
    b = MemoryBackend(memfs)
    b.use_storage(account)
    r = b.root()
    f = b.open_file(r, "f", read=True, write=True, create=True)
    assert used(account) == (0, 1)
    f.write(b"x" * 100, 0)
    f.write(b"y" * 50, 20)  # within the file: free
    f.write(b"z", 199)  # a hole counts: its zeros are stored
    assert used(account) == (200, 1)
    f.truncate(50)
    assert used(account) == (50, 1)
    f.allocate(0, 80)
    f.allocate(0, 10)  # never shrinks
    assert used(account) == (80, 1)
    b.mkdir(r, "d")
    b.symlink("f" * 7, r, "l")
    b.link(r, "f", b.open_dir(r, "d"), "g")  # a second name costs an inode
    assert used(account) == (87, 4)
    b.unlink(b.open_dir(r, "d"), "g")
    assert used(account) == (87, 3)
    b.rmdir(r, "d")
    b.unlink(r, "l")
    assert used(account) == (80, 1)
    g = b.open_file(r, "f", read=False, write=True, truncate=True)  # O_TRUNC refunds
    assert used(account) == (0, 1)
    g.write(b"w" * 30, 0)
    b.rename(r, "old", r, "f")  # replaces f, which two fds still hold
    assert used(account) == (30, 1)
    f.close()
    assert used(account) == (30, 1)
    g.close()  # the last handle of the nameless file
    assert used(account) == (0, 0)
    b.unlink(r, "f")  # the user's 1000 bytes: the count is net growth
    assert used(account) == (-1000, -1)
    f.close()  # closing twice gives back nothing twice
    assert used(account) == (-1000, -1)


def test_memory_backend_refuses_before_changing_anything() -> None:
    account = StorageAccount(100, 2)
    b = MemoryBackend()
    b.use_storage(account)
    r = b.root()
    f = b.open_file(r, "f", read=True, write=True, create=True)
    f.write(b"a" * 60, 0)
    b.mkdir(r, "d")
    calls = [lambda: f.write(b"b" * 41, 60), lambda: f.truncate(101), lambda: f.allocate(90, 20),
             lambda: b.mkdir(r, "e"), lambda: b.symlink("t", r, "l"),
             lambda: b.link(r, "f", r, "g"),
             lambda: b.open_file(r, "h", read=False, write=True, create=True)]
    for call in calls:
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.ENOSPC
    # other errors come first
    with pytest.raises(FileExistsError):
        b.mkdir(r, "d")
    assert sorted(b.fs.listdir("/")) == ["d", "f"]
    assert b.fs.readbytes("/f") == b"a" * 60
    assert used(account) == (60, 2) and account.denied == len(calls)
    f.write(b"b" * 40, 60)  # exactly to the cap
    f.close()
    assert b.fs.getsize("/f") == 100


def test_symlink_targets_count_in_utf8_bytes() -> None:
    account = StorageAccount()
    b = MemoryBackend()
    b.use_storage(account)
    b.symlink("é/\udcff", b.root(), "l")  # 2 + 1 + 1 (a non-UTF-8 byte, surrogate-escaped)
    assert used(account) == (4, 1)
    b.unlink(b.root(), "l")
    assert used(account) == (0, 0)


class _FreesOnFailure(io.BytesIO):
    """A BytesIO that fails to grow past `limit` (or to shrink below `shrink_limit`) the way
    CPython's does when memory runs out: it frees its buffer (closed), raises MemoryError."""

    limit = 1 << 30
    shrink_limit = -1

    def write(self, data: Any) -> int:
        if self.tell() + len(memoryview(data)) > self.limit:
            self.close()
            raise MemoryError
        return super().write(data)

    def truncate(self, size: int | None = None) -> int:
        if size is not None and size < min(self.shrink_limit, self.getbuffer().nbytes):
            self.close()
            raise MemoryError
        return super().truncate(size)


@pytest.mark.parametrize("held", [0, 1, 10, 5000])
def test_a_failed_allocation_never_frees_the_file(held: int) -> None:
    memfs = MemoryFS()
    memfs.create("/f")
    entry = memfs._get_dir_entry("/f")
    fake = _FreesOnFailure()
    fake.write(pattern(held))
    fake.limit = held + 100
    entry._bytes_file = fake
    account = StorageAccount()
    b = MemoryBackend(memfs)
    b.use_storage(account)
    f = b.open_file(b.root(), "f", read=True, write=True)
    for call in (lambda: f.write(b"x" * 200, held), lambda: f.write(b"x", held + 150),
                 lambda: f.truncate(held + 1000)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.ENOSPC
        assert memfs.getsize("/f") == held and memfs.readbytes("/f") == pattern(held)
    assert used(account) == (0, 0)
    f.write(b"y" * 50, held)  # what fits still works
    assert memfs.readbytes("/f") == pattern(held) + b"y" * 50
    if held > 10:  # a shrink that reallocates and fails keeps what it keeps
        fake.shrink_limit = held
        f.truncate(10)
        assert memfs.readbytes("/f") == pattern(10)
        assert used(account) == (10 - held, 0)
    f.close()


def test_real_allocation_failure_keeps_the_data(tmp_path: Path) -> None:
    # A real address-space limit in a child process: BytesIO used to free the buffer (the data
    # was lost, then every call raised ValueError); now the write is ENOSPC and the file intact.
    resource = pytest.importorskip("resource")
    del resource
    code = textwrap.dedent("""
        import errno, re, resource
        from fs.memoryfs import MemoryFS
        from vfswasi.backends.memory import MemoryBackend
        memfs = MemoryFS()
        b = MemoryBackend(memfs)
        f = b.open_file(b.root(), "f", read=True, write=True, create=True)
        status = open("/proc/self/status").read()
        vm = int(re.search(r"VmSize:\\s+(\\d+)", status).group(1)) * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (vm + (64 << 20), hard))
        chunk = bytes(range(256)) * 64
        size = 0
        try:
            while True:
                f.write(chunk, size)
                size += len(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        try:
            f.truncate(size * 4)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))  # room to read it all back
        assert memfs.getsize("/f") == size > 0
        assert memfs.readbytes("/f") == chunk * (size // len(chunk))
        print("ok", size)
    """)
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok ")


# --- deterministic numbers and times -------------------------------------------------------------


def _make_tree(b: MemoryBackend) -> list[tuple[str, Any]]:
    r = b.root()
    b.mkdir(r, "d")
    d = b.open_dir(r, "d")
    f = b.open_file(d, "f", read=True, write=True, create=True)
    f.write(b"data", 0)
    f.close()
    b.symlink("d/f", r, "l")
    b.link(d, "f", r, "g")
    b.rename(r, "g", r, "h")
    return [(n, b.lstat(r, n)) for n, _, _ in sorted(b.listdir(r))] + [("root", b.stat_dir(r))]


def test_same_operations_give_the_same_numbers_and_virtual_times() -> None:
    runs = []
    for _ in range(2):
        memfs = MemoryFS()
        memfs.writetext("/pre", "user's")  # numbered when first seen, as everything else
        b = MemoryBackend(memfs)
        b.use_clock(VirtualClock())
        stats = dict(_make_tree(b))
        # another backend over the same MemoryFS draws from the same counter
        other = MemoryBackend(memfs)
        other.mkdir(other.root(), "late")
        assert other.lstat(other.root(), "late").ino == max(s.ino for s in stats.values()) + 1
        # all but the device and what MemoryFS stamped itself (the root's birth, the user's file)
        runs.append({n: s._replace(dev=0) if n in "dhl" else (s.ino, s.nlink, s.size)
                     for n, s in stats.items()})
    assert runs[0] == runs[1]
    assert runs[0]["root"][0] == 1
    d, h = runs[0]["d"], runs[0]["h"]
    assert isinstance(d, Stat) and isinstance(h, Stat)
    # every time the guest caused comes from the virtual clock
    assert REALTIME_START_NS < d.mtim <= REALTIME_START_NS + 100 * TICK_NS
    assert h.ctim > h.mtim


def test_overlay_and_fsspec_stamp_times_with_the_clock(tmp_path: Path) -> None:
    ov = vfswasi.overlay(MemoryFS())
    ov.backend.use_clock(VirtualClock())
    r = ov.backend.root()
    ov.backend.mkdir(r, "d")
    assert ov.backend.stat_dir(r).mtim < REALTIME_START_NS + GiB
    fb = FsspecBackend(private_memory_fs())
    fb.use_clock(VirtualClock())
    f = fb.open_file(fb.root(), "f", read=True, write=True, create=True)
    f.write(b"x", 0)
    assert REALTIME_START_NS < f.stat().mtim < REALTIME_START_NS + GiB
    f.close()


# --- overlay -----------------------------------------------------------------------------------------


def test_overlay_copy_up_is_charged_and_a_failed_one_leaves_the_lower_visible() -> None:
    lower = MemoryFS()
    lower.writebytes("/big", b"B" * (300 * KiB))
    lower.writebytes("/small", b"s" * 1000)
    account = StorageAccount(256 * KiB)
    ov = OverlayBackend(MemoryBackend(lower))
    ov.use_storage(account)
    r = ov.root()
    with pytest.raises(OSError) as e:
        ov.open_file(r, "big", read=True, write=True)
    assert e.value.errno == errno.ENOSPC
    assert used(account) == (0, 0)
    f = ov.open_file(r, "big", read=True, write=False)
    buf = bytearray(10)
    assert f.readinto(memoryview(buf), 299 * KiB) == 10 and buf == b"B" * 10
    f.close()
    g = ov.open_file(r, "small", read=True, write=True)  # a copy-up of 1000 bytes
    assert used(account) == (1000, 1)
    g.close()
    # truncating instead copies nothing
    h = ov.open_file(r, "big", read=True, write=True, truncate=True)
    assert used(account) == (1000, 2)
    h.close()
    assert lower.getsize("/big") == 300 * KiB


def test_overlay_private_copy_of_an_unlinked_file_is_refunded_at_close() -> None:
    lower = MemoryFS()
    lower.writebytes("/f", b"data" * 100)
    account = StorageAccount()
    ov = OverlayBackend(MemoryBackend(lower))
    ov.use_storage(account)
    r = ov.root()
    f = ov.open_file(r, "f", read=True, write=False)
    ov.unlink(r, "f")
    f.set_times(1, 2)  # no name shows it: the fd gets a copy of its own
    assert used(account) == (400, 1)
    assert f.stat().nlink == 0
    f.close()
    assert used(account) == (0, 0)


# --- writable archives -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_archive_load_is_free_and_write_back_keeps_everything(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"a.{fmt}"
    big = pattern(3 * MiB)  # more than the quota, already in the archive
    if fmt == "tar":
        with tarfile.open(path, "w") as t:
            info = tarfile.TarInfo("big")
            info.size = len(big)
            t.addfile(info, io.BytesIO(big))
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("big", big)
    account = StorageAccount(QUOTA)
    backend = vfswasi.archive(path, writable=True)
    backend.use_storage(account)
    assert used(account) == (0, 0)
    out = fill(backend, "write", "/data/new", str(CHUNK), "check", "/data/big")
    assert out == [f"write /data/new +{FITS} size={FITS} ENOSPC", f"check /data/big size={3 * MiB} ok"]
    if fmt == "tar":
        with tarfile.open(path) as t:
            members = {m.name: t.extractfile(m).read() for m in t.getmembers()}  # type: ignore[union-attr]
    else:
        with zipfile.ZipFile(path) as z:
            members = {n: z.read(n) for n in z.namelist()}
    assert members == {"big": big, "new": pattern(FITS)}


# --- fsspec write spools -----------------------------------------------------------------------------


def test_fsspec_spool_is_charged_while_it_exists() -> None:
    fs = private_memory_fs()
    fs.pipe("/old", b"o" * 5000)
    account = StorageAccount(64 * KiB)
    b = FsspecBackend(fs)
    b.use_storage(account)
    r = b.root()
    f = b.open_file(r, "old", read=True, write=True)
    assert used(account) == (0, 0)  # nothing copied until the first write
    f.write(b"n" * 100, 5000)
    assert used(account) == (5100, 0)
    with pytest.raises(OSError) as e:
        f.write(b"x" * (60 * KiB), 5100)
    assert e.value.errno == errno.ENOSPC
    f.truncate(1000)
    assert used(account) == (1000, 0)
    f.close()  # written back, spool gone
    assert used(account) == (0, 0)
    assert fs.cat("/old") == b"o" * 1000
    g = b.open_file(r, "old", read=True, write=True, truncate=True)  # O_TRUNC copies nothing
    assert used(account) == (0, 0)
    n = 0
    with pytest.raises(OSError):
        while True:
            g.write(pattern(CHUNK // 4, n), n)
            n += CHUNK // 4
    assert n == 64 * KiB and used(account) == (n, 0)
    g.close()
    assert fs.cat("/old") == pattern(n) and used(account) == (0, 0)


def test_fsspec_spool_of_a_big_file_copy_is_refused_whole() -> None:
    fs = private_memory_fs()
    fs.pipe("/big", b"b" * (100 * KiB))
    account = StorageAccount(64 * KiB)
    b = FsspecBackend(fs)
    b.use_storage(account)
    f = b.open_file(b.root(), "big", read=True, write=True)
    with pytest.raises(OSError) as e:
        f.write(b"x", 0)  # the spool would have to copy 100 KiB first
    assert e.value.errno == errno.ENOSPC
    assert used(account) == (0, 0)
    f.close()
    assert fs.cat("/big") == b"b" * (100 * KiB)
