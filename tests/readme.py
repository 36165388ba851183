"""The code blocks of README.md (and docs/*.md), for tests/test_readme.py and .ci/run.

A fenced block's language says what it is: `python` and `sh` blocks are code and must run as
written; `text` blocks are output or synopses. An HTML comment on the line just above a code
block says how it runs instead:

- `<!-- not run: WHY -->`: illustrative (needs a C toolchain, takes minutes, ...); WHY is
  required, and such blocks are kept few;
- `<!-- ci: ... -->`: a setup block (installing the package): `.ci/run` runs it in a fresh
  virtualenv (`python tests/readme.py ci` prints those blocks), the test suite does not.

    python tests/readme.py ci      # the README's `ci` blocks, as one shell script
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```([\w+-]*)\n(.*?)^```\s*$", re.M | re.S)
MARK = re.compile(r"<!--\s*(not run|ci)\s*(?::\s*(.*?))?\s*-->\s*\Z", re.S)
CODE = ("python", "sh")
LANGUAGES = (*CODE, "text")


@dataclass(frozen=True)
class Block:
    file: str
    line: int
    language: str
    code: str
    mark: str | None  # None, "not run" or "ci"
    why: str | None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def blocks(path: Path = ROOT / "README.md") -> list[Block]:
    text = path.read_text()
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        found.append(Block(str(path.relative_to(ROOT)), text.count("\n", 0, m.start()) + 1,
                           m.group(1), m.group(2), mark and mark.group(1),
                           mark and mark.group(2)))
    return found


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


if __name__ == "__main__":
    if sys.argv[1:] != ["ci"]:
        sys.exit("usage: python tests/readme.py ci")
    for block in blocks():
        if block.mark == "ci":
            print(f"# {block.id}\n{block.code}")
