"""Shared fixtures: build the same starting tree on every backend, run a guest, read the tree back.

A tree spec is a dict: name -> bytes (a file), dict (a directory) or Symlink(target).

    def test_x(kind, tmp_path):
        mount = make_mount(kind, tmp_path, {"a.txt": b"hi", "d": {}, "l": Symlink("a.txt")})
        res = run_guest(kind, guest("fs_ops"), ["fs_ops", "stat", "a.txt"], {"/sandbox": mount})
        assert res.exit_code == 0
        assert mount.tree()["a.txt"] == b"hi"

`kind` runs the test on every vfswasi backend; `oracle_kind` adds wasmtime's own WASI on a
host directory, so the expectation is checked against the reference implementation too.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

GUESTS = Path(__file__).parent / "guests" / "bin"
WAT = Path(__file__).parent / "wat"

#: every vfswasi backend that must behave identically
BACKEND_KINDS = ["host", "memory", "zip-rw", "tar-rw", "overlay-host", "overlay-memory"]
#: the same plus wasmtime's native WASI over a host directory (the reference)
ORACLE_KINDS = [*BACKEND_KINDS, "wasmtime"]
#: read-only archive mounts (zip://, tar://): reads as on BACKEND_KINDS, every write EROFS
READONLY_KINDS = ["zip", "tar", "tgz"]
#: writable archive mounts (zip+rw://, tar+rw://): written back to the archive on close
WRITABLE_ARCHIVE_KINDS = ["zip-rw", "tar-rw"]
#: copy-on-write overlays (vfswasi.overlay) over a host directory / a MemoryFS holding the tree:
#: the guest sees and changes the merged view, and the lower must never change
OVERLAY_KINDS = ["overlay-host", "overlay-memory"]


@dataclass(frozen=True)
class Symlink:
    target: str


def guest(name: str) -> Path:
    """Path of a committed C test guest (tests/guests/bin/NAME.wasm)."""
    return GUESTS / f"{name}.wasm"


# --- mounts ------------------------------------------------------------------------------------


@dataclass
class Mount:
    kind: str
    preopen: Any  # what vfswasi.run takes as a preopen value (host path or FS object)
    host_dir: Path | None = None  # for host / wasmtime kinds
    _extra: dict = field(default_factory=dict)
    archive: Path | None = None  # for the archive kinds: the archive file

    def tree(self) -> dict:
        """The mount's current content as a tree spec (for assertions)."""
        if self.host_dir is not None:
            return _read_host_tree(self.host_dir)
        if self.kind in OVERLAY_KINDS:  # the merged view, as the guest sees it
            return _read_backend_tree(self.preopen.backend)
        if self.kind == "fsspec":
            from vfswasi.backends.fsspec import FsspecBackend

            return _read_backend_tree(FsspecBackend(self.preopen))
        if self.archive is not None:  # what is in the archive file now
            from vfswasi.backends.archive import ArchiveBackend

            backend = ArchiveBackend(self.archive)
            try:
                return _read_backend_tree(backend)
            finally:
                backend.close()
        return _read_backend_tree(_memory_backend(self.preopen))


def make_mount(kind: str, tmp_path: Path, spec: dict) -> Mount:
    if kind in ("host", "wasmtime"):
        root = Path(tempfile.mkdtemp(dir=tmp_path, prefix="mnt"))
        _write_host_tree(root, spec)
        return Mount(kind, str(root), host_dir=root)
    if kind == "memory":
        from fs.memoryfs import MemoryFS

        memfs = MemoryFS()
        backend = _memory_backend(memfs)
        _write_backend_tree(backend, backend.root(), spec)
        return Mount(kind, memfs)
    if kind == "fsspec":  # a private fsspec memory store (fsspec has no symlinks)
        from vfswasi.backends.fsspec import FsspecBackend, private_memory_fs

        store = private_memory_fs()
        _write_backend_tree(FsspecBackend(store), store._strip_protocol(""), spec)
        return Mount(kind, store)
    if kind in READONLY_KINDS or kind in WRITABLE_ARCHIVE_KINDS:
        fmt = kind.split("-")[0]
        # beside tmp_path, not in it: the archive is the mount's storage, and tests treat what
        # is under tmp_path (but outside a host mount's directory) as outside every mount
        store = tmp_path.parent / f"{tmp_path.name}-archives"
        store.mkdir(exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=store, prefix="arc")) / {
            "zip": "a.zip", "tar": "a.tar", "tgz": "a.tar.gz"}[fmt]
        write_archive(path, spec)
        scheme = "tar" if fmt == "tgz" else fmt
        if kind in WRITABLE_ARCHIVE_KINDS:
            scheme += "+rw"
        return Mount(kind, f"{scheme}://{path}", archive=path)
    if kind in OVERLAY_KINDS:
        import vfswasi

        lower = make_mount(kind.split("-")[1], tmp_path, spec)
        mount = Mount(kind, vfswasi.overlay(lower.preopen),
                      _extra={"lower": lower, "lower_tree": lower.tree()})
        _OVERLAY_MOUNTS.append(mount)
        return mount
    raise ValueError(kind)


#: overlay mounts made by the running test, whose lowers `_overlay_lowers_untouched` checks
_OVERLAY_MOUNTS: list[Mount] = []


@pytest.fixture(autouse=True)
def _overlay_lowers_untouched() -> Any:
    """Whatever a test did through an overlay mount, its lower is as it was made."""
    yield
    mounts, _OVERLAY_MOUNTS[:] = list(_OVERLAY_MOUNTS), []
    for mount in mounts:
        assert mount._extra["lower"].tree() == mount._extra["lower_tree"], mount.kind


def write_archive(path: Path, spec: dict, *, mtime: int = 1_600_000_000) -> None:
    """Write a tree spec as a zip (Info-ZIP symlinks) or tar (".gz" compressed) with plain
    zipfile / tarfile, independently of vfswasi's own packer. Directories get explicit
    entries; every entry gets `mtime`."""
    import tarfile
    import time
    import zipfile

    entries = list(_spec_paths(spec))
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, value in entries:
                dt = time.localtime(mtime)[:6]
                if isinstance(value, dict):
                    info = zipfile.ZipInfo(name + "/", dt)
                    info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                    z.writestr(info, b"")
                elif isinstance(value, Symlink):
                    info = zipfile.ZipInfo(name, dt)
                    info.create_system = 3
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    z.writestr(info, value.target.encode())
                else:
                    info = zipfile.ZipInfo(name, dt)
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    z.writestr(info, value, compress_type=zipfile.ZIP_DEFLATED)
        return
    import io

    with tarfile.open(path, "w:gz" if path.suffix == ".gz" else "w") as t:
        for name, value in entries:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if isinstance(value, dict):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif isinstance(value, Symlink):
                info.type, info.linkname = tarfile.SYMTYPE, value.target
                t.addfile(info)
            else:
                info.size, info.mode = len(value), 0o644
                t.addfile(info, io.BytesIO(value))


def _memory_backend(memfs: Any) -> Any:
    from vfswasi.backends.memory import MemoryBackend

    return MemoryBackend(memfs)


# The tree helpers below walk with explicit stacks, not recursion: tests build trees deeper
# than Python's recursion limit (tests/test_deep_trees.py).


def _spec_paths(spec: dict) -> Iterator[tuple[str, Any]]:
    """(path, value) of every entry of a spec, depth first in dict order, parents first."""
    stack = [(iter(spec.items()), "")]
    while stack:
        entries, prefix = stack[-1]
        for name, value in entries:
            yield prefix + name, value
            if isinstance(value, dict):
                stack.append((iter(value.items()), prefix + name + "/"))
                break
        else:
            stack.pop()


def _write_host_tree(root: Path, spec: dict) -> None:
    for path, value in _spec_paths(spec):
        p = root / path
        if isinstance(value, dict):
            p.mkdir()
        elif isinstance(value, Symlink):
            os.symlink(value.target, p)
        else:
            p.write_bytes(value)


def _read_host_tree(root: Path) -> dict:
    out: dict = {}
    stack = [(root, out)]  # directories still to read, with the dict that gets their entries
    while stack:
        d, into = stack.pop()
        for name in sorted(os.listdir(d)):
            p = d / name
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                into[name] = Symlink(os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                into[name] = {}
                stack.append((p, into[name]))
            else:
                into[name] = p.read_bytes()
    return out


def _write_backend_tree(backend: Any, d: Any, spec: dict) -> None:
    stack = [(iter(spec.items()), d)]  # d is the caller's; the others are released here
    try:
        while stack:
            entries, here = stack[-1]
            for name, value in entries:
                if isinstance(value, dict):
                    backend.mkdir(here, name)
                    stack.append((iter(value.items()), backend.open_dir(here, name)))
                    break
                if isinstance(value, Symlink):
                    backend.symlink(value.target, here, name)
                else:
                    f = backend.open_file(here, name, read=False, write=True, create=True,
                                          exclusive=True)
                    try:
                        f.write(value, 0)
                    finally:
                        f.close()
            else:
                stack.pop()
                if stack:
                    backend.release_dir(here)
    finally:
        for _, h in reversed(stack[1:]):
            backend.release_dir(h)


def _read_backend_tree(backend: Any, d: Any = None) -> dict:
    from vfswasi.abi import Filetype
    from vfswasi.vfs import walk

    out: dict = {}
    dirs = {"": out}  # path -> the dict holding that directory's entries
    for here, name, ftype, path in walk(backend, backend.root() if d is None else d):
        into = dirs[path.rpartition("/")[0]]
        if ftype == Filetype.SYMBOLIC_LINK:
            into[name] = Symlink(backend.readlink(here, name))
        elif ftype == Filetype.DIRECTORY:
            into[name] = dirs[path] = {}
        else:
            f = backend.open_file(here, name, read=True, write=False)
            try:
                buf = bytearray(f.stat().size)
                n = f.readinto(memoryview(buf), 0)
                into[name] = bytes(buf[:n])
            finally:
                f.close()
    return out


# --- running guests ----------------------------------------------------------------------------


@dataclass
class Result:
    exit_code: int
    stdout: bytes
    stderr: bytes


def run_guest(
    kind: str,
    wasm: Path | bytes | bytearray,
    args: list[str],
    preopens: dict[str, Mount] | None = None,
    *,
    env: dict[str, str] | None = None,
    stdin: bytes = b"",
) -> Result:
    """Run a guest on backend `kind` ("wasmtime" = wasmtime's own WASI, the oracle)."""
    preopens = preopens or {}
    if isinstance(wasm, bytearray):  # what wasmtime.wat2wasm returns
        wasm = bytes(wasm)
    if kind == "wasmtime":
        return _run_native(wasm, args, preopens, env or {}, stdin)
    import vfswasi

    res = vfswasi.run(
        wasm, args=args, env=env or {}, preopens={g: m.preopen for g, m in preopens.items()},
        stdin=stdin,
    )
    return Result(res.exit_code, res.stdout, res.stderr)


def _run_native(wasm: Path | bytes, args, preopens, env, stdin) -> Result:
    import wasmtime

    engine = wasmtime.Engine()
    module = (
        wasmtime.Module(engine, wasm) if isinstance(wasm, bytes)
        else wasmtime.Module.from_file(engine, str(wasm))
    )
    with tempfile.TemporaryDirectory() as io_dir:
        cfg = wasmtime.WasiConfig()
        cfg.argv = args
        cfg.env = list(env.items())
        for guest_path, mount in preopens.items():
            assert mount.host_dir is not None, "the wasmtime oracle needs host directories"
            cfg.preopen_dir(str(mount.host_dir), guest_path)
        paths = {n: os.path.join(io_dir, n) for n in ("in", "out", "err")}
        Path(paths["in"]).write_bytes(stdin)
        cfg.stdin_file = paths["in"]
        cfg.stdout_file = paths["out"]
        cfg.stderr_file = paths["err"]
        store = wasmtime.Store(engine)
        store.set_wasi(cfg)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        instance = linker.instantiate(store, module)
        code = 0
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as e:
            code = e.code
        return Result(code, Path(paths["out"]).read_bytes(), Path(paths["err"]).read_bytes())


@pytest.fixture(params=BACKEND_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=ORACLE_KINDS)
def oracle_kind(request: pytest.FixtureRequest) -> str:
    return request.param
