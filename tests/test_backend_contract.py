"""The `vfswasi.vfs.Backend` contract, checked by calling backends directly (no wasm).

`vfswasi.testing.BackendContract` (the public suite a user's backend runs too) on every
backend kind vfswasi has: host directories (read-write and read-only), memory (read-write and
read-only), zip and tar archives read-only and writable, overlays over a memory tree and over
a host directory, the PyFilesystem2 adapter and fsspec; and on a backend built only from
public names (`examples/dict_backend.py`), as a user would write one. Each test asserts exact
errno codes, so the backends answer a guest identically. The host-only section at the end
checks that the host backend never follows a symlink planted on the host out of its root.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import Symlink, write_archive

from vfswasi.abi import Filetype
from vfswasi.backends import open_backend
from vfswasi.backends.hostdir import HostDirBackend
from vfswasi.testing import BackendContract, seed, write_seed
from vfswasi.vfs import Backend


def _example(name: str) -> Any:
    """examples/NAME.py as a module (examples/ is not a package, nor on sys.path)."""
    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DictBackend = _example("dict_backend").DictBackend

REG = Filetype.REGULAR_FILE
DIR = Filetype.DIRECTORY
LNK = Filetype.SYMBOLIC_LINK

# Nanosecond values that a coarser clock would round.
T1 = 1_234_567_891_123_456_789
T2 = 1_300_000_000_987_654_321


def host_time_resolution(path: str) -> int:
    """The finest time step the host filesystem under `path` keeps (1 ns on ext4, tmpfs)."""
    probe = tempfile.mkdtemp(dir=path)
    try:
        for step in (1, 1_000, 1_000_000_000):
            os.utime(probe, ns=(T1, T1))
            if os.stat(probe).st_mtime_ns == T1 - T1 % step:
                return step
        return 2_000_000_000  # FAT's two seconds
    finally:
        os.rmdir(probe)


HOST_RESOLUTION = host_time_resolution(tempfile.gettempdir())


class _TempDirs:
    """Backends over temporary host directories and files, removed after each test."""

    def setup_method(self, method: object = None) -> None:
        super().setup_method(method)  # type: ignore[misc]
        self.dirs: list[str] = []

    def teardown_method(self, method: object = None) -> None:
        try:
            super().teardown_method(method)  # type: ignore[misc]
        finally:
            for d in self.dirs:
                shutil.rmtree(d, ignore_errors=True)

    def tempdir(self) -> str:
        self.dirs.append(tempfile.mkdtemp(prefix="vfswasi-contract-"))
        return self.dirs[-1]


# --- the seven kinds, and the read-only variants ---------------------------------------------------


class TestHostDir(_TempDirs, BackendContract):
    time_resolution_ns = HOST_RESOLUTION

    def make_backend(self) -> Backend:
        return HostDirBackend(self.tempdir())


class TestHostDirReadOnly(_TempDirs, BackendContract):
    writable = False

    def make_backend(self) -> Backend:
        root = self.tempdir()
        writer = HostDirBackend(root)
        write_seed(writer)
        writer.close()
        return HostDirBackend(root, readonly=True)


class TestMemory(BackendContract):
    charges_storage = True
    uses_clock = True

    def make_backend(self) -> Backend:
        return open_backend("mem://")


class TestMemoryReadOnly(BackendContract):
    writable = False

    def make_backend(self) -> Backend:
        from fs.memoryfs import MemoryFS

        from vfswasi.backends.memory import MemoryBackend

        memfs = MemoryFS()
        write_seed(MemoryBackend(memfs))
        return MemoryBackend(memfs, readonly=True)


def _spec(tree: dict) -> dict:
    """A `seed()` tree as the tests' own archive writer (conftest) takes it."""
    return {name: _spec(v) if isinstance(v, dict) else Symlink(v) if isinstance(v, str) else v
            for name, v in tree.items()}


class _ReadOnlyArchive(_TempDirs, BackendContract):
    """An archive written by zipfile/tarfile (not by vfswasi), mounted by URL."""

    writable = False
    suffix: ClassVar[str]

    def make_backend(self) -> Backend:
        path = Path(self.tempdir()) / f"seed{self.suffix}"
        write_archive(path, _spec(seed()))
        return open_backend(f"{self.suffix.split('.')[1]}://{path}")


class TestZip(_ReadOnlyArchive):
    suffix = ".zip"


class TestTar(_ReadOnlyArchive):
    suffix = ".tar"


class _WritableArchive(_TempDirs, BackendContract):
    charges_storage = True
    uses_clock = True
    suffix: ClassVar[str]

    def make_backend(self) -> Backend:
        self.archive = Path(self.tempdir()) / f"a{self.suffix}"
        return open_backend(f"{self.suffix[1:]}+rw://{self.archive}")

    def destroy_backend(self, backend: Backend) -> None:
        # written back on close: what the test left is in the archive, readable by the
        # read-only backend (an untouched backend writes nothing)
        expected = _read_all(backend)
        backend.close()
        if self.archive.exists():
            reader = open_backend(f"{self.suffix[1:]}://{self.archive}")
            try:
                assert _read_all(reader) == expected
            finally:
                reader.close()
        else:
            assert expected == {}


def _read_all(b: Backend) -> dict:
    from vfswasi.testing.contract import _read_tree

    return _read_tree(b)


class TestZipWritable(_WritableArchive):
    suffix = ".zip"


class TestTarWritable(_WritableArchive):
    suffix = ".tar"


class TestOverlayOverMemory(BackendContract):
    charges_storage = True
    uses_clock = True

    def make_backend(self) -> Backend:
        from fs.memoryfs import MemoryFS

        import vfswasi

        self.lower = MemoryFS()
        return vfswasi.overlay(self.lower).backend

    def destroy_backend(self, backend: Backend) -> None:
        backend.close()
        assert self.lower.listdir("/") == []  # the lower is never written


class TestOverlayOverHostDir(_TempDirs, BackendContract):
    charges_storage = True
    uses_clock = True

    def make_backend(self) -> Backend:
        import vfswasi

        self.lower = self.tempdir()
        return vfswasi.overlay(self.lower).backend

    def destroy_backend(self, backend: Backend) -> None:
        backend.close()
        assert os.listdir(self.lower) == []  # the lower is never written


class TestPyFS(BackendContract):
    """A PyFilesystem2 FS vfswasi has no special backend for (a SubFS of a MemoryFS) goes
    through the PyFS adapter: no symlinks, no hard links."""

    symlinks = False
    hard_links = False

    def make_backend(self) -> Backend:
        from fs.memoryfs import MemoryFS

        from vfswasi.backends.pyfs import PyFSBackend

        backend = open_backend(MemoryFS().makedir("mount"))
        assert isinstance(backend, PyFSBackend)
        return backend


class TestFsspec(BackendContract):
    symlinks = False
    hard_links = False
    charges_storage = True
    uses_clock = True

    def make_backend(self) -> Backend:
        from vfswasi.backends.fsspec import FsspecBackend

        backend = open_backend("fsspec+memory://")
        assert isinstance(backend, FsspecBackend)
        return backend


class TestUserBackend(BackendContract):
    """examples/dict_backend.py: a backend built only from vfswasi's public names."""

    charges_storage = True
    uses_clock = True

    def make_backend(self) -> Backend:
        return DictBackend()


def test_every_kind_runs_at_least_30_contract_tests() -> None:
    kinds = [cls for name, cls in globals().items()
             if name.startswith("Test") and isinstance(cls, type)
             and issubclass(cls, BackendContract)]
    assert len(kinds) == 13
    for cls in kinds:
        collected = [n for n in dir(cls) if n.startswith("test_") and callable(getattr(cls, n))]
        assert len(collected) >= 30, (cls.__name__, len(collected))


# --- helpers for the host-only tests below -------------------------------------------------------


def err(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int | None:
    """The errno of the OSError that fn(*args) raises."""
    with pytest.raises(OSError) as excinfo:
        fn(*args, **kwargs)
    return excinfo.value.errno


def put(b: Backend, d: Any, name: str, data: bytes = b"") -> None:
    f = b.open_file(d, name, read=False, write=True, create=True, exclusive=True)
    try:
        assert f.write(data, 0) == len(data)
    finally:
        f.close()


def get(b: Backend, d: Any, name: str) -> bytes:
    f = b.open_file(d, name, read=True, write=False)
    try:
        out = bytearray()
        buf = bytearray(4096)
        while n := f.readinto(memoryview(buf), len(out)):
            out += buf[:n]
        return bytes(out)
    finally:
        f.close()


# === host only: the sandbox must hold against what is planted on the host =====================


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[HostDirBackend, Path, Path]]:
    """(backend, root, secret): `secret` is a file outside the root, like /etc/passwd."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret"
    secret.write_bytes(b"TOP SECRET")
    os.utime(secret, ns=(T2, T2))
    (root / "to-secret").symlink_to(secret)
    (root / "to-outside").symlink_to(outside)
    (root / "up").symlink_to("../outside")
    b = HostDirBackend(root)
    yield b, root, secret
    b.close()


def _secret_untouched(secret: Path) -> None:
    s = secret.stat()
    assert secret.read_bytes() == b"TOP SECRET"
    assert (s.st_atime_ns, s.st_mtime_ns, s.st_nlink) == (T2, T2, 1)
    assert sorted(os.listdir(secret.parent)) == ["secret"]


def test_host_open_file_never_follows_planted_symlink(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    for flags in [
        {"read": True, "write": False},
        {"read": False, "write": False},
        {"read": True, "write": True},
        {"read": False, "write": True, "truncate": True},
        {"read": False, "write": True, "create": True},
    ]:
        assert err(b.open_file, r, "to-secret", **flags) == errno.ELOOP, flags
    assert err(b.open_file, r, "to-outside", read=True, write=False) == errno.ELOOP
    _secret_untouched(secret)


def test_host_open_dir_never_follows_planted_symlink(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    for name in ["to-outside", "up"]:
        assert err(b.open_dir, r, name) in (errno.ELOOP, errno.ENOTDIR)
    # mutating through the link's name acts on the link only
    assert err(b.mkdir, r, "up") == errno.EEXIST
    assert err(b.rmdir, r, "up") == errno.ENOTDIR
    _secret_untouched(secret)


def test_host_set_times_and_link_act_on_the_symlink(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    b.set_times(r, "to-secret", T1, T1)
    assert os.lstat(root / "to-secret").st_mtime_ns == T1
    b.link(r, "to-secret", r, "hard")
    assert os.path.islink(root / "hard")
    assert os.lstat(root / "hard").st_ino == os.lstat(root / "to-secret").st_ino
    b.rename(r, "to-secret", r, "moved")
    b.unlink(r, "moved")
    b.unlink(r, "hard")
    _secret_untouched(secret)


def test_host_readlink_shows_target_without_reading_it(host: Any) -> None:
    b, root, secret = host
    r = b.root()
    assert b.readlink(r, "to-secret") == str(secret)
    s = b.lstat(r, "to-secret")
    assert s.filetype == LNK
    assert s.size == len(str(secret).encode())
    assert s.ino != os.stat(secret).st_ino
    assert sorted((n, t) for n, _i, t in b.listdir(r)) == [
        ("to-outside", LNK), ("to-secret", LNK), ("up", LNK),
    ]
    _secret_untouched(secret)


@pytest.mark.parametrize("name", ["../outside/secret", "..", "/etc/passwd", "a/../..", "x\0y"])
def test_host_rejects_names_that_are_paths(host: Any, name: str) -> None:
    # the resolver never sends these; the backend refuses them anyway
    b, root, secret = host
    r = b.root()
    calls: list[Callable[[], object]] = [
        lambda: b.lstat(r, name),
        lambda: b.open_dir(r, name),
        lambda: b.readlink(r, name),
        lambda: b.open_file(r, name, read=True, write=True, create=True),
        lambda: b.mkdir(r, name),
        lambda: b.rmdir(r, name),
        lambda: b.unlink(r, name),
        lambda: b.rename(r, "to-secret", r, name),
        lambda: b.rename(r, name, r, "stolen"),
        lambda: b.link(r, name, r, "stolen"),
        lambda: b.symlink("x", r, name),
        lambda: b.set_times(r, name, T1, T1),
    ]
    for call in calls:
        assert err(call) == errno.EINVAL
    _secret_untouched(secret)
    assert os.path.islink(root / "to-secret")


def test_host_handle_survives_swap_for_symlink(host: Any) -> None:
    # A directory replaced on the host by a symlink after open_dir: the fd still means the
    # original directory, so nothing lands outside.
    b, root, secret = host
    r = b.root()
    b.mkdir(r, "d")
    h = b.open_dir(r, "d")
    try:
        os.rename(root / "d", root / "d-moved")
        (root / "d").symlink_to(secret.parent)
        put(b, h, "new", b"inside")
        assert b.listdir(h)[0][0] == "new"
        assert (root / "d-moved" / "new").read_bytes() == b"inside"
        assert err(b.open_file, h, "secret", read=True, write=False) == errno.ENOENT
    finally:
        b.release_dir(h)
    _secret_untouched(secret)


def test_host_listdir_ignores_moved_fd_offset(host: Any) -> None:
    # scandir(fd) reads through a dup sharing the fd's offset; a listing left unfinished
    # must not make the next one start midway
    b, _root, _secret = host
    r = b.root()
    for i in range(200):
        put(b, r, f"entry-with-a-longish-name-{i:04}")
    with os.scandir(r) as unfinished:
        next(unfinished)
        assert len(b.listdir(r)) == 203


def test_host_arbitrary_byte_names_round_trip(host: Any) -> None:
    b, root, _secret = host
    raw = b"caf\xe9-\xff\xfe"
    fd = os.open(os.fsencode(root) + b"/" + raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"bytes")
    os.close(fd)
    r = b.root()
    (name,) = [n for n, _i, _t in b.listdir(r) if n not in ("to-secret", "to-outside", "up")]
    assert os.fsencode(name) == raw
    assert get(b, r, name) == b"bytes"
    b.rename(r, name, r, name + "2")
    assert os.path.exists(os.fsencode(root) + b"/" + raw + b"2")


def test_host_fifo_does_not_hang(host: Any) -> None:
    b, root, _secret = host
    os.mkfifo(root / "fifo")
    assert b.lstat(b.root(), "fifo").filetype == Filetype.UNKNOWN
    old = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("open_file blocked on a FIFO"))
    signal.alarm(5)
    try:
        f = b.open_file(b.root(), "fifo", read=True, write=False)
        f.close()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_host_no_fd_leaks(host: Any) -> None:
    b, root, _secret = host
    r = b.root()
    b.mkdir(r, "d")
    put(b, r, "f", b"x")
    before = _open_fds()
    for _ in range(20):
        err(b.open_file, r, "d", read=True, write=False)  # opened, then refused as EISDIR
        err(b.open_file, r, "to-secret", read=True, write=False)
        err(b.open_dir, r, "f")
        b.listdir(r)
        b.release_dir(b.open_dir(r, "d"))
        b.open_file(r, "f", read=True, write=False).close()
    assert _open_fds() == before


def test_host_close_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    b = HostDirBackend(tmp_path / "root")
    b.close()
    b.close()
    assert err(b.root) == errno.EBADF


def test_host_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    assert err(HostDirBackend, tmp_path / "file") == errno.ENOTDIR
    assert err(HostDirBackend, tmp_path / "missing") == errno.ENOENT


def test_host_from_osfs(tmp_path: Path) -> None:
    from fs.osfs import OSFS

    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"via osfs")
    os.symlink("/etc/passwd", root / "l")
    with OSFS(str(root)) as osfs:
        b = HostDirBackend.from_osfs(osfs, readonly=True)
        try:
            r = b.root()
            assert get(b, r, "f") == b"via osfs"
            assert err(b.open_file, r, "l", read=True, write=False) == errno.ELOOP
            assert err(b.unlink, r, "f") == errno.EROFS
        finally:
            b.close()


def test_host_listdir_reports_fifo_unfollowed(host: Any) -> None:
    # FIFOs and sockets come back as their own types (or UNKNOWN), never followed
    b, root, _secret = host
    os.mkfifo(root / "fifo")
    types = {n: t for n, _i, t in b.listdir(b.root())}
    assert types["fifo"] == b.lstat(b.root(), "fifo").filetype
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)


# --- device numbers ------------------------------------------------------------------------------


def test_every_mount_kind_reports_its_own_device(tmp_path):
    # Guest code tells files apart by (dev, ino): cycle detection, samefile, find -xdev. Every
    # mount, of every kind, must report a device no other mount has, even where root inode
    # numbers coincide (they often are 1).
    from conftest import make_mount
    from fs.memoryfs import MemoryFS
    from fs.mountfs import MountFS
    from fsops import FSOPS

    kinds = ["host", "memory", "memory", "zip", "tar", "zip-rw", "tar-rw", "overlay-host",
             "overlay-memory", "fsspec"]
    for i in range(len(kinds)):
        (tmp_path / str(i)).mkdir()
    mounts = {f"/m{i}": make_mount(k, tmp_path / str(i), {"f": b"x"}) for i, k in enumerate(kinds)}
    pyfs = MountFS()
    pyfs.mount("/inner", MemoryFS())
    preopens = {g: m.preopen for g, m in mounts.items()} | {"/pyfs": pyfs}
    script = "\n".join(f"ino {fd} ." for fd in range(3, 3 + len(preopens))) + "\n"
    import vfswasi

    result = vfswasi.run(FSOPS, args=["fsops"], preopens=preopens, stdin=script.encode())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [f"ok #{k}" for k in range(1, 12)]
