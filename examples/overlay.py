"""Run an untrusted program against real data, with zero risk to the data.

    python examples/overlay.py

A copy-on-write overlay of a host directory is the guest's /data: the guest (the `tree` test
utility, compiled from C with wasi-libc) edits, deletes and renames files there; we print what
it changed, show that the host directory is untouched, and export the changes to a zip.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

import vfswasi

TREE_WASM = Path(__file__).resolve().parent.parent / "tests" / "guests" / "bin" / "tree.wasm"


def fingerprint(root: Path) -> str:
    """A digest of every path, type and byte under `root`."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes() if p.is_file() else b"<dir>")
    return h.hexdigest()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="vfswasi-overlay-") as tmp:
        demo(Path(tmp))


def demo(work: Path) -> None:
    data = work / "data"  # the "real data" the program must not harm
    (data / "drafts").mkdir(parents=True)
    (data / "report.txt").write_text("Q3 numbers: 42\n")
    (data / "drafts" / "old.txt").write_text("obsolete\n")
    (data / "drafts" / "idea.txt").write_text("a good idea\n")
    before = fingerprint(data)

    with vfswasi.overlay(data) as ov:
        # `tree` runs one command after another, separated by ";"
        argv = ["tree",
                "append", "/data/report.txt", "Q4 numbers: 43\n", ";",
                "rm", "/data/drafts/old.txt", ";",
                "mkdir", "/data/notes", ";",
                "mv", "/data/drafts/idea.txt", "/data/notes/idea.txt", ";",
                "write", "/data/notes/todo.txt", "ship it\n", ";",
                "ls", "-R", "/data"]
        result = vfswasi.run(TREE_WASM, args=argv, preopens={"/data": ov})
        print(f"the guest exited with {result.exit_code}; it saw /data as:")
        print(result.stdout.decode(), end="")

        print("\nwhat it changed:")
        for line in ov.changes().lines():
            print("  " + line)

        print("\nhost directory untouched:", fingerprint(data) == before)
        print("report.txt on the host still reads:", (data / "report.txt").read_text().strip())

        layer = work / "changes.zip"
        ov.export(layer)
        with zipfile.ZipFile(layer) as z:
            print(f"\nexported to {layer.name}:")
            for name in z.namelist():
                print("  " + name)


if __name__ == "__main__":
    main()
