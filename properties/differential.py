"""Run one fsops script on every backend and on wasmtime's own WASI, and compare.

Each *subject* gets the same starting tree, runs the whole script in ONE guest invocation
(fsops reads every op from stdin), and reports its transcript (one line per op) and its final
tree. Transcripts are normalised (fd numbers, clock-dependent times) and compared line by line;
the first difference is reported with the script up to that point.

Subjects (`SUBJECTS`): vfswasi over a host directory (the reference the others are compared
with), over a MemoryFS, over a copy-on-write overlay of each of those (whose lower must come
out untouched), over writable tar and zip archives (read back from the archive file after the
write-back), and wasmtime's own WASI over a host directory (the oracle). Where a backend cannot
hold a starting tree (zip has no hard links), it sits that example out (`Subject.supports`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vfswasi
from vfswasi.backends.archive import ArchiveBackend
from vfswasi.testing import (
    HardLink,
    Symlink,
    Tree,
    build_memfs,
    hard_links,
    read_tree,
    run_native,
    tree_paths,
    write_tree,
)

FSOPS = Path(__file__).resolve().parents[1] / "tests" / "guests" / "bin" / "fsops.wasm"
GUEST_DIR = "/sandbox"  # fd 3 in every script
CANARY = b"outside the sandbox: never changed"


def quote(raw: bytes | str) -> str:
    """An fsops token holding exactly `raw` (see the escapes in fsops.c's header)."""
    data = raw.encode() if isinstance(raw, str) else raw
    out = []
    for c in data:
        ch = chr(c)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{c:02x}")
    return '"' + "".join(out) + '"'


# --- subjects ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    lines: list[str]  # one per op, as printed
    tree: Tree
    links: list[tuple[str, ...]] | None  # None: the backend cannot keep hard links
    #: the backend keeps hard links of regular files only (compare only those)
    file_links_only: bool = False
    outside: dict[str, bytes] | None = None  # what lies next to a host mount (None: no host)


class Subject:
    name: str
    #: wasmtime's own WASI: differences from it may be documented (see ORACLE_DIFFERENCES)
    is_oracle = False

    def supports(self, spec: Tree) -> bool:
        """Whether this backend can hold `spec` as a starting tree."""
        return True

    def run(self, spec: Tree, script: str, workdir: Path) -> Outcome:
        raise NotImplementedError


def fsops(name: str, preopen: Any, script: str) -> list[str]:
    """Run the whole script on vfswasi with `preopen` at GUEST_DIR (fd 3); the output lines."""
    res = vfswasi.run(FSOPS, args=["fsops"], preopens={GUEST_DIR: preopen},
                      stdin=script.encode())
    return _check_exit(name, res.exit_code, res.stdout, res.stderr)


def _check_exit(name: str, code: int, out: bytes, err: bytes) -> list[str]:
    assert code == 0, f"fsops on {name} exited {code}: {err.decode(errors='replace')}"
    return out.decode("ascii", "backslashreplace").splitlines()


class _HostDirSubject(Subject):
    """A fresh host directory `mount` next to a canary file nothing may touch."""

    def run(self, spec: Tree, script: str, workdir: Path) -> Outcome:
        outer = Path(tempfile.mkdtemp(dir=workdir, prefix=self.name + "-"))
        mount = outer / "mount"
        mount.mkdir()
        (outer / "outside").write_bytes(CANARY)
        write_tree(spec, mount)
        lines = self.execute(str(mount), script, outer)
        outside = {p.name: p.read_bytes() if p.is_file() else b"<not a file>"
                   for p in outer.iterdir() if p.name != "mount" and not p.name.startswith(
                       "stdio.")}
        return Outcome(lines, read_tree(mount), hard_links(mount), outside=outside)

    def execute(self, mount: str, script: str, outer: Path) -> list[str]:
        raise NotImplementedError


class VfswasiHost(_HostDirSubject):
    name = "host"

    def execute(self, mount: str, script: str, outer: Path) -> list[str]:
        return fsops(self.name, mount, script)


class WasmtimeOracle(_HostDirSubject):
    name = "wasmtime"
    is_oracle = True

    def execute(self, mount: str, script: str, outer: Path) -> list[str]:
        code, out, err = run_native(FSOPS, ["fsops"], {}, {GUEST_DIR: mount}, script.encode(),
                                    outer)
        return _check_exit(self.name, code, out, err)


class VfswasiMemory(Subject):
    name = "memory"

    def run(self, spec: Tree, script: str, workdir: Path) -> Outcome:
        memfs = build_memfs(spec)
        lines = fsops(self.name, memfs, script)
        return Outcome(lines, read_tree(memfs), hard_links(memfs))


class OverlaySubject(Subject):
    """`vfswasi.overlay(lower)` over a host directory or a MemoryFS holding the tree: the
    guest sees the merged view, and the lower must not change at all."""

    def __init__(self, lower: str) -> None:
        self.lower = lower
        self.name = f"overlay-{lower}"

    def run(self, spec: Tree, script: str, workdir: Path) -> Outcome:
        lower: Any
        if self.lower == "host":
            lower = tempfile.mkdtemp(dir=workdir, prefix=self.name + "-")
        else:
            lower = vfswasi.testing.build_memfs({})
        write_tree(spec, lower)
        before = read_tree(lower, hard_links=True)
        with vfswasi.overlay(lower) as ov:
            lines = fsops(self.name, ov, script)
            tree, links = read_tree(ov.backend), hard_links(ov.backend)
        after = read_tree(lower, hard_links=True)
        assert after == before, f"{self.name}: the lower changed:\n  {before}\n  {after}"
        return Outcome(lines, tree, links)


class ArchiveSubject(Subject):
    """A writable archive (`tar+rw://`, `zip+rw://`) made from the tree by vfswasi's own
    packer; the final tree is read back from the archive file after the write-back."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.name = f"{fmt}-rw"

    def supports(self, spec: Tree) -> bool:
        # zip has no hard links: a hard-linked file would start as two independent copies;
        # vfswasi's tar packer writes a hard-linked *symlink* as two symlinks
        entries = dict(tree_paths(spec))
        links = [v.path for v in entries.values() if isinstance(v, HardLink)]
        if self.fmt == "zip":
            return not links
        return not any(isinstance(_final(entries, p), Symlink) for p in links)

    def run(self, spec: Tree, script: str, workdir: Path) -> Outcome:
        path = Path(tempfile.mkdtemp(dir=workdir, prefix=self.name + "-")) / f"a.{self.fmt}"
        packer = vfswasi.archive(path, writable=True)
        try:
            write_tree(spec, packer)
        finally:
            packer.close()  # writes the archive (an empty tree writes none: it starts empty)
        lines = fsops(self.name, f"{self.fmt}+rw://{path}", script)
        if not path.exists():  # nothing was ever written
            return Outcome(lines, {}, [] if self.fmt == "tar" else None, file_links_only=True)
        reader = ArchiveBackend(path)
        try:
            links = hard_links(reader) if self.fmt == "tar" else None
            return Outcome(lines, read_tree(reader), links, file_links_only=True)
        finally:
            reader.close()


def _final(entries: dict[str, Any], path: str) -> Any:
    """What a spec path holds, following HardLinks to the entry they name."""
    value = entries.get(path)
    while isinstance(value, HardLink):
        value = entries.get(value.path.strip("/"))
    return value


def _file_groups(links: list[tuple[str, ...]], tree: Tree) -> list[tuple[str, ...]]:
    """The hard-link groups of regular files."""
    return [g for g in links if isinstance(_lookup(tree, g[0]), bytes)]


def _lookup(tree: Tree, path: str) -> Any:
    node: Any = tree
    for part in path.split("/"):
        node = node[part]
    return node


SUBJECTS: list[Subject] = [
    VfswasiHost(), VfswasiMemory(), OverlaySubject("host"), OverlaySubject("memory"),
    ArchiveSubject("tar"), ArchiveSubject("zip"), WasmtimeOracle(),
]


# --- normalising and comparing ----------------------------------------------------------------------

_TIMES = re.compile(r"^ok atim=(\d+) mtim=(\d+)$")
#: times at or after this (2001-09-09) come from a clock ("now"); the machine only ever sets
#: smaller ones explicitly, and those must be reproduced exactly
CLOCK_TIMES = 10**18


def normalise(op: str, line: str) -> str:
    """What of `line` must agree across hosts."""
    if op.startswith("open ") and line.startswith("ok "):
        return "ok FD"  # hosts number fds differently; scripts use $K registers instead
    m = _TIMES.match(line)
    if m:
        # atime: whether a read updates it depends on the host's mount options (relatime,
        # noatime) and MemoryFS never does, so it is not compared. mtime is, unless it came
        # from a clock.
        mtim = int(m.group(2))
        return f"ok atim=* mtim={'now' if mtim >= CLOCK_TIMES else mtim}"
    return line


@dataclass(frozen=True)
class Difference:
    """A documented way in which wasmtime's answer may differ from vfswasi's."""

    ops: tuple[str, ...] | None  # op names it applies to (None: any)
    oracle: str  # wasmtime's (normalised) line, a regular expression
    ours: str  # vfswasi's (normalised) line, exactly
    why: str
    #: the trees differ afterwards, so this oracle is not compared any further in the run
    diverges: bool = False
    #: only for op lines matching this regular expression (from their start)
    line: str = ""

    def applies(self, op: str, oracle: str, ours: str) -> bool:
        return ((self.ops is None or op.split(" ", 1)[0] in self.ops) and ours == self.ours
                and re.match(self.line, op) is not None
                and re.fullmatch(self.oracle, oracle) is not None)


_SLASHED = r'rmdir \S+ "[^"]*/"$'  # an rmdir line whose path ends with a slash
_RMDIR_SLASH = (
    "rmdir of 'dir/': POSIX (and Linux) remove the directory (or say NOTEMPTY), as vfswasi "
    "does; wasmtime (cap-std) turns the trailing slash into '.' and answers INVAL. The WASI "
    "testsuite accepts both (tests/test_fs_dirs.py::test_rmdir_of_dot_forms_and_trailing_slash)")

#: Where wasmtime's WASI answers differently from vfswasi and both are allowed, or where
#: wasmtime departs from the spec and vfswasi keeps to it. Nothing else may differ.
ORACLE_DIFFERENCES: list[Difference] = [
    Difference(("rmdir",), "err INVAL", "ok", _RMDIR_SLASH, diverges=True, line=_SLASHED),
    Difference(("rmdir",), "err INVAL", "err NOTEMPTY", _RMDIR_SLASH, line=_SLASHED),
    Difference(
        ("rmdir",), "err (INVAL|NOENT)", "err NOTDIR",
        "rmdir of 'symlink/': Linux answers NOTDIR (rmdir never follows the last component; "
        "the slash only demands a directory, and a symlink is none), and so does vfswasi; "
        "wasmtime follows the link and reports on its target (INVAL for a directory, as for "
        "'dir/', NOENT for a dangling link)", line=_SLASHED),
    Difference(
        ("read", "pread", "write", "pwrite", "truncate"), "err (BADF|INVAL)", "err NOTCAPABLE",
        "an fd without the right for the call (a read on an fd opened for writing only, ...): "
        "vfswasi checks WASI rights and answers NOTCAPABLE as the spec says; wasmtime 50 no "
        "longer tracks rights and the host OS refuses (BADF, or INVAL from ftruncate)"),
    Difference(
        ("write", "pwrite", "truncate"), r"ok( \d+)?", "err NOTCAPABLE",
        "ORACLE WRONG PER SPEC: an fd opened with O_CREAT or O_TRUNC but without the fd_write "
        "right (libc's O_RDONLY|O_CREAT) can write on wasmtime 50, which opens such files "
        "read-write whatever rights were asked for. WASI rights say NOTCAPABLE, and vfswasi "
        "keeps to them", diverges=True),
    Difference(
        ("stat", "times", "mkdir", "rmdir", "unlink", "rename", "link", "symlink", "readlink",
         "settimes"), "err BADF", "err NOTDIR",
        "a path call relative to an fd that is open but no directory (a file, stdio): vfswasi "
        "answers NOTDIR in every path_* call, as POSIX's *at(2) functions do; wasmtime answers "
        "NOTDIR in path_open only and BADF in the others"),
    Difference(
        ("settimes",), "ok", "err NOENT",
        "ORACLE WRONG PER POSIX: path_filestat_set_times with no time flags and without "
        "SYMLINK_FOLLOW on a missing name succeeds on wasmtime (it skips the call entirely); "
        "utimensat(2) with both times UTIME_OMIT still needs the file, and vfswasi says NOENT",
        line=r'settimes \S+ "[^"]*" \d+ \d+ - nofollow$'),
    Difference(
        ("symlink",), "err PERM", "err NOENT",
        "an empty target AND a new name outside the sandbox: vfswasi checks the target first "
        "(as Linux's symlinkat(2): an empty oldpath is ENOENT before newpath is looked at), "
        "wasmtime the name; any one error is allowed", line='symlink "" '),
]


def oracle_difference(op: str, oracle: str, ours: str) -> Difference | None:
    """The documented reason why `oracle` and `ours` may differ for `op`, if any."""
    return next((d for d in ORACLE_DIFFERENCES if d.applies(op, oracle, ours)), None)


#: rerun(scripts, subject names) -> for each script, {name: output lines}
Rerun = Callable[[list[list[str]], list[str]], list[dict[str, list[str]]]]

_TWO_PATHS = re.compile(r'^(link|rename) (\S+) ("(?:[^"\\]|\\.)*") (\S+) ("(?:[^"\\]|\\.)*")(.*)$')
_FRESH = '"zz-fresh"'  # a name no generated path uses


def _one_fault_each(ops: list[str], i: int, ref: str, oracle: str,
                    rerun: Rerun | None) -> str | None:
    """Why a link/rename that fails on both hosts with different errors is fine, or None.

    When its old path alone (with a fresh new name) and its new path alone (with a fresh file
    as the old one) each fail, with the same error on both hosts, the call had two faults and
    the hosts merely look at them in a different order; WASI does not say which comes first
    (Linux resolves the old path completely first, wasmtime both parents first)."""
    m = _TWO_PATHS.match(ops[i])
    if rerun is None or m is None:
        return None
    op, d1, old, d2, new, rest = m.groups()
    alone = [ops[:i] + [f"{op} {d1} {old} 3 {_FRESH}{rest}"],
             ops[:i] + [f"open 3 {_FRESH} oflags creat,excl rights read",
                        f"{op} 3 {_FRESH} {d2} {new}{rest}"]]
    errors = {ref: set(), oracle: set()}
    for run in rerun(alone, [ref, oracle]):
        a, b = (normalise(ops[i], run[n][-1]) for n in (ref, oracle))
        if not (a.startswith("err") and (a == b or oracle_difference(ops[i], b, a))):
            return None
        errors[ref].add(a)
        errors[oracle].add(b)
    return f"two faults, each alone answered alike: {sorted(errors[ref])}"


def compare(ops: list[str], outcomes: dict[str, Outcome], oracles: set[str],
            rerun: Rerun | None = None) -> list[str]:
    """Assert that every subject agrees with the first (the reference, vfswasi on a host
    directory): exactly for vfswasi subjects, modulo ORACLE_DIFFERENCES (and two-fault calls,
    `_one_fault_each`, checked with `rerun`) for `oracles`; op by op, then the final trees.
    Returns the notes of accepted differences."""
    for n, o in outcomes.items():
        assert len(o.lines) == len(ops), (
            f"{n} printed {len(o.lines)} lines for {len(ops)} ops:\n" + "\n".join(o.lines))
    normal = {n: [normalise(op, line) for op, line in zip(ops, o.lines, strict=True)]
              for n, o in outcomes.items()}
    ref, *others = outcomes
    notes: list[str] = []
    diverged: set[str] = set()  # oracles whose tree differs on purpose from here on
    for i, op in enumerate(ops):
        ours = normal[ref][i]
        for n in others:
            theirs = normal[n][i]
            if n in diverged or theirs == ours:
                continue
            why = oracle_difference(op, theirs, ours) if n in oracles else None
            if why is None and n in oracles and "err" == ours[:3] == theirs[:3]:
                two = _one_fault_each(ops, i, ref, n, rerun)
                why = Difference(None, theirs, ours, two) if two else None
            if why is None:
                raise AssertionError(_report(ops, normal, i, f"op {i + 1} differs"))
            notes.append(f"op {i + 1} ({op}): {n} {theirs!r}, vfswasi {ours!r}: {why.why}")
            if why.diverges:
                diverged.add(n)
    for n in others:
        if n in diverged:
            continue
        for what in ("tree", "links"):
            a, b = getattr(outcomes[ref], what), getattr(outcomes[n], what)
            if what == "links" and outcomes[n].file_links_only and a is not None:
                a = _file_groups(a, outcomes[ref].tree)
            assert b is None or a == b, _report(ops, normal, None, f"final {what} differ:\n  {ref}: {a!r}"
                                                      f"\n  {n}: {b!r}")
    for n, o in outcomes.items():
        assert o.outside in (None, {"outside": CANARY}), (
            f"{n} changed the host outside its mount: {o.outside}")
    return notes


def _report(ops: list[str], normal: dict[str, list[str]], upto: int | None, what: str) -> str:
    end = len(ops) if upto is None else upto + 1
    rows = []
    for i in range(end):
        results = {n: lines[i] for n, lines in normal.items()}
        mark = "!!" if len(set(results.values())) > 1 else "  "
        shown = " | ".join(f"{n}: {r}" for n, r in results.items()) if mark == "!!" \
            else next(iter(results.values()))
        rows.append(f"{mark} {ops[i]}  ->  {shown}")
    return f"{what}\nthe script up to there (!! marks a difference):\n" + "\n".join(rows)


def run_everywhere(spec: Tree, ops: list[str],
                   subjects: list[Subject] | None = None) -> dict[str, Outcome]:
    """Run `ops` from tree `spec` on every subject; compare; return the outcomes."""
    subjects = [s for s in subjects or SUBJECTS if s.supports(spec)]

    def run(scripts: list[list[str]], names: list[str]) -> list[dict[str, Outcome]]:
        with tempfile.TemporaryDirectory(prefix="vfswasi-diff-") as tmp:
            return [{s.name: s.run(spec, "\n".join(lines) + "\n", Path(tmp))
                     for s in subjects if s.name in names} for lines in scripts]

    def rerun(scripts: list[list[str]], names: list[str]) -> list[dict[str, list[str]]]:
        return [{n: o.lines for n, o in res.items()} for res in run(scripts, names)]

    (outcomes,) = run([ops], [s.name for s in subjects])
    compare(ops, outcomes, {s.name for s in subjects if s.is_oracle}, rerun)
    return outcomes
