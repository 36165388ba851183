"""Archives and fsspec mounts, end to end: `python examples/archives.py`.

Mounts a zip read-only at /lib, a tar.gz writable at /work (written back when the run ends)
and an fsspec in-memory filesystem at /scratch, runs the `tree` test guest (a small libc
program: ls, cat, cp, write, mkdir, ...) on them, then shows what the guest changed.
Its last command writes to the read-only zip on purpose, so the guest exits with status 1
("Read-only file system"): that is the expected end. Everything is made in a temporary
directory, removed afterwards.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import zipfile
from pathlib import Path

from fsspec.implementations.memory import MemoryFileSystem

import vfswasi

TREE_WASM = Path(__file__).resolve().parent.parent / "tests" / "guests" / "bin" / "tree.wasm"


def members(path: Path) -> list[str]:
    with tarfile.open(path) as t:
        return [f"{m.name}{'/' if m.isdir() else ''} ({m.size} B)" for m in t.getmembers()]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="vfswasi-archives-") as tmp:
        demo(Path(tmp))


def demo(tmp: Path) -> None:
    lib = tmp / "lib.zip"  # read-only: every write answers EROFS
    with zipfile.ZipFile(lib, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("docs/readme.txt", "read me first\n")
        z.writestr("docs/licence.txt", "Apache-2.0\n")

    work = tmp / "work.tar.gz"  # writable: changes are packed back into it on close
    with tarfile.open(work, "w:gz") as t:
        data = b"1. mount archives\n"
        info = tarfile.TarInfo("notes.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))

    # an fsspec filesystem object: your own store (this one private, not fsspec's global one)
    scratch = MemoryFileSystem(skip_instance_cache=True)
    scratch.store, scratch.pseudo_dirs = {}, [""]
    scratch.pipe_file("/input.csv", b"a,b\n1,2\n")

    print("work.tar.gz before:", members(work))
    script = """
        ls -R /lib ;
        cp /lib/docs/readme.txt /work/readme.txt ;
        append /work/notes.txt 2.-run-a-guest ;
        mkdir -p /work/out ;
        cp /scratch/input.csv /work/out/input.csv ;
        write /scratch/result.txt done ;
        write /lib/docs/new.txt nope
    """
    result = vfswasi.run(
        TREE_WASM,
        args=["tree", *script.split()],
        preopens={
            "/lib": f"zip://{lib}",            # or vfswasi.archive(lib)
            "/work": f"tar+rw://{work}",       # or vfswasi.archive(work, writable=True)
            "/scratch": scratch,               # or "fsspec+memory://" for an empty private one
        },
    )
    print(f"guest exit code {result.exit_code} (expected: its last command writes to the "
          "read-only zip); it printed:")
    print("  " + result.stdout.decode().replace("\n", "\n  ").rstrip())
    print("work.tar.gz after: ", members(work))
    with tarfile.open(work) as t:
        print("  notes.txt now reads:", t.extractfile("notes.txt").read())
    print("scratch store now holds:", {k: v.getvalue() for k, v in scratch.store.items()})


if __name__ == "__main__":
    main()
