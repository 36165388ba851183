"""`vfswasi demo`: the embedded default job.

Runs the bundled `inventory` guest (examples/guests/inventory.c) against two mounts built in
memory: an in-memory fixture tree at /data (a PyFilesystem2 MemoryFS) and a zip archive at
/archive (read-only). The guest lists both and writes /data/SUMMARY.txt, which is then read
back here from the MemoryFS, to show that the guest's writes land in the Python object.
"""

from __future__ import annotations

import io
import sys
import zipfile
from importlib.resources import files

from fs.memoryfs import MemoryFS
from fs.zipfs import ReadZipFS

from ..api import run

#: the bundled guest (examples/guests/inventory.c compiled to wasm32-wasi), as a path:
#: `inventory DIR...` lists each directory and writes DIR/SUMMARY.txt into the first one
INVENTORY = files(__package__).joinpath("inventory.wasm")


def fixture() -> MemoryFS:
    memfs = MemoryFS()
    memfs.makedirs("/notes/2026")
    memfs.writetext("/README.txt", "An in-memory fixture, mounted at /data.\n")
    memfs.writetext("/notes/todo.txt", "write tests\nrun guests\nship\n")
    memfs.writetext("/notes/2026/nov.txt", "vfswasi demo\n")
    return memfs


def archive() -> ReadZipFS:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # members only: the archive lists no directories
        z.writestr("lib/python/os.py", "import posix\n" * 40)
        z.writestr("lib/python/json/__init__.py", "# json\n")
        z.writestr("data/table.csv", "a,b\n1,2\n3,4\n")
    buf.seek(0)
    return ReadZipFS(buf)


def main() -> int:
    wasm = INVENTORY.read_bytes()
    memfs = fixture()
    result = run(wasm, args=["inventory", "/data", "/archive"],
                 preopens={"/data": memfs, "/archive": archive()})
    sys.stdout.write(result.stdout.decode())
    sys.stderr.write(result.stderr.decode())
    print(f"guest exit code: {result.exit_code}")
    if memfs.exists("/SUMMARY.txt"):
        print(f"/data/SUMMARY.txt, read from the MemoryFS in Python: {memfs.readtext('/SUMMARY.txt')}",
              end="")
    return result.exit_code
