"""Any PyFilesystem2 FS object or FS URL as a preopen — wrappers, composites, third-party
openers — and nested guest mounts resolving to the most specific preopen, as wasi-libc does.

Each test runs the libc `tree` guest, so paths go through wasi-libc's own preopen lookup.
"""

from __future__ import annotations

import io
import zipfile

import fs.wrap
import pytest
from conftest import guest
from fs.memoryfs import MemoryFS
from fs.mountfs import MountFS
from fs.multifs import MultiFS
from fs.opener import Opener, registry
from fs.zipfs import ReadZipFS

import vfswasi


def tree(*commands: str, preopens: dict) -> tuple[int, str]:
    args = ["tree"]
    for i, command in enumerate(commands):
        args += ([";"] if i else []) + command.split()
    res = vfswasi.run(guest("tree"), args=args, preopens=preopens)
    return res.exit_code, res.stdout.decode()


def memfs(files: dict[str, str]) -> MemoryFS:
    m = MemoryFS()
    for path, text in files.items():
        m.makedirs(path.rsplit("/", 1)[0] or "/", recreate=True)
        m.writetext(path, text)
    return m


def zipped(files: dict[str, str]) -> ReadZipFS:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    buf.seek(0)
    return ReadZipFS(buf)


def test_mountfs_composes_filesystems_in_one_mount():
    root = MountFS()
    root.mount("/docs", memfs({"/a.txt": "docs\n"}))
    root.mount("/lib", zipped({"m.py": "zip\n"}))
    code, out = tree("cat /m/docs/a.txt", "cat /m/lib/m.py", "ls /m/docs",
                     preopens={"/m": root})
    assert (code, out) == (0, "docs\nzip\nf a.txt 5\n")


def test_multifs_layers_reads_and_writes_to_its_write_layer():
    lower, upper = memfs({"/shared.txt": "lower\n", "/only-lower.txt": "L\n"}), MemoryFS()
    upper.writetext("/shared.txt", "upper\n")
    multi = MultiFS()
    multi.add_fs("lower", lower)
    multi.add_fs("upper", upper, write=True)
    code, out = tree("cat /m/shared.txt", "cat /m/only-lower.txt", "write /m/new.txt N",
                     preopens={"/m": multi})
    assert (code, out) == (0, "upper\nL\n")
    assert upper.readtext("/new.txt") == "N" and not lower.exists("/new.txt")


def test_read_only_wrapper_answers_erofs_and_changes_nothing():
    inner = memfs({"/keep.txt": "kept\n"})
    code, out = tree("cat /m/keep.txt", "write /m/keep.txt X", "rm /m/keep.txt", "mkdir /m/d",
                     preopens={"/m": fs.wrap.read_only(inner)})
    assert code == 1
    assert out.splitlines() == [
        "kept",
        "write: /m/keep.txt: Read-only file system",
        "rm: /m/keep.txt: Read-only file system",
        "mkdir: /m/d: Read-only file system",
    ]
    assert inner.readtext("/keep.txt") == "kept\n" and not inner.exists("/d")


def test_subfs_of_a_memoryfs_is_confined_to_its_directory():
    outer = memfs({"/inside/x.txt": "in\n", "/secret.txt": "no\n"})
    code, out = tree("cat /m/x.txt", "cat /m/../secret.txt", "ls /m",
                     preopens={"/m": outer.opendir("/inside")})
    assert code == 1
    assert out.splitlines()[0] == "in"
    assert "no" not in out.splitlines()
    assert out.splitlines()[-1] == "f x.txt 3"


class _ShoutingOpener(Opener):
    """A stand-in for a third-party plugin opener: `shout://TEXT` is a MemoryFS holding
    /shout.txt with TEXT upper-cased."""

    protocols = ["shout"]

    def open_fs(self, fs_url, parse_result, writeable, create, cwd):  # noqa: ANN001 - fs API
        return memfs({"/shout.txt": parse_result.resource.upper() + "\n"})


@pytest.fixture
def shout_opener():
    registry.install(_ShoutingOpener)
    try:
        yield
    finally:
        registry._protocols.pop("shout", None)  # no public uninstall in fs 2.4.16


def test_fs_urls_of_installed_plugin_openers(shout_opener):
    code, out = tree("cat /p/shout.txt", preopens={"/p": "shout://hello"})
    assert (code, out) == (0, "HELLO\n")


def test_nested_mounts_resolve_to_the_most_specific_preopen():
    # "/" from memory and "/usr/lib" from a zip: wasi-libc picks the longest matching prefix.
    root = memfs({"/etc/conf": "root\n", "/usr/lib/shadowed.txt": "from root\n"})
    lib = zipped({"libc.txt": "from zip\n", "shadowed.txt": "from zip too\n"})
    code, out = tree("cat /etc/conf", "cat /usr/lib/libc.txt", "cat /usr/lib/shadowed.txt",
                     "cat /usr/libc.txt", preopens={"/": root, "/usr/lib": lib})
    assert out.splitlines() == [
        "root", "from zip", "from zip too", "cat: /usr/libc.txt: No such file or directory",
    ]
    assert code == 1


def test_nested_mount_order_does_not_matter():
    root = memfs({"/a/b/deep.txt": "root\n"})
    inner = memfs({"/deep.txt": "inner\n"})
    for preopens in ({"/": root, "/a/b": inner}, {"/a/b": inner, "/": root}):
        assert tree("cat /a/b/deep.txt", preopens=preopens) == (0, "inner\n")


@pytest.mark.parametrize("composite", ["mountfs", "multifs"])
def test_host_symlinks_inside_composites_of_osfs_do_not_leak(tmp_path, composite):
    # MountFS/MultiFS have no single host root, so they go through the generic adapter, whose
    # OSFS would follow host links; the adapter must show them as links to the resolver.
    from fs.osfs import OSFS

    host, outside = tmp_path / "host", tmp_path / "outside"
    host.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET\n")
    (host / "fine.txt").write_text("ok\n")
    (host / "evil").symlink_to(outside / "secret.txt")
    (host / "evildir").symlink_to("../outside")
    if composite == "mountfs":
        fs_, base = MountFS(), "/m/host"
        fs_.mount("/host", OSFS(str(host)))
    else:
        fs_, base = MultiFS(), "/m"
        fs_.add_fs("h", OSFS(str(host)))
    code, out = tree(f"cat {base}/fine.txt", f"cat {base}/evil", f"cat {base}/evildir/secret.txt",
                     preopens={"/m": fs_})
    assert code == 1
    assert "SECRET" not in out
    assert out.splitlines()[0] == "ok"
    assert out.splitlines()[1] == f"cat: {base}/evil: Operation not permitted"


def test_renaming_onto_an_ancestor_of_the_source_is_enotempty_as_on_linux():
    # the PyFS adapter (a MountFS is served by it) answers as every other backend
    from fsops import FSOPS

    inner = MemoryFS()
    inner.makedirs("/a/b")
    inner.writetext("/a/b/f", "x")
    mount = MountFS()
    mount.mount("/m", inner)
    result = vfswasi.run(FSOPS, args=["fsops"], preopens={"/s": mount},
                         stdin=b"rename 3 m/a/b/f 3 m/a\nrename 3 m/a/b 3 m/a\n")
    assert result.stdout.decode().splitlines() == ["err NOTEMPTY", "err NOTEMPTY"]
    assert inner.readtext("/a/b/f") == "x"
