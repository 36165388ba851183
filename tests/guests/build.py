"""Rebuild every C test guest: tests/guests/src/*.c -> tests/guests/bin/*.wasm.

    python tests/guests/build.py            # all guests
    python tests/guests/build.py fs_ops     # one guest

Uses Debian's clang + wasi-libc (`apt-get install clang lld wasi-libc libclang-rt-dev-wasm32`),
or `python -m ziglang cc` when clang has no wasm32-wasi sysroot. The built .wasm files are
committed, so running the tests needs no C toolchain.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SRC, BIN = HERE / "src", HERE / "bin"


def compiler() -> list[str]:
    if shutil.which("clang"):
        return ["clang", "--target=wasm32-wasi", "-O2", "-Wl,--strip-all"]
    return [sys.executable, "-m", "ziglang", "cc", "-target", "wasm32-wasi", "-O2", "-s"]


def main(names: list[str]) -> int:
    BIN.mkdir(exist_ok=True)
    sources = [SRC / f"{n}.c" for n in names] if names else sorted(SRC.glob("*.c"))
    cc = compiler()
    for src in sources:
        out = BIN / (src.stem + ".wasm")
        cmd = [*cc, "-Wall", "-Werror", "-o", str(out), str(src)]
        print(" ".join(cmd))
        subprocess.run(cmd, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
