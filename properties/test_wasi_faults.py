"""Bad-input properties of every WASI function, called straight from Python.

A WAT trampoline (`trampoline.py`) imports every WASI function vfswasi provides and exports a
wrapper for each, so hypothesis calls `fd_write(fd, iovs, iovs_len, nwritten)` with any
integers: bad fds, pointers at or past the end of memory, huge lengths, undefined flag bits and
enum values, next to well-formed arguments (placed paths, iovecs and poll subscriptions) so that
calls also get far enough to act. A state machine runs a sequence of such calls against one WASI
instance (so fds opened, closed and renumbered by earlier calls matter), on a host directory and
on a MemoryFS, for both ABIs and for both dispatchers (the C-API fast path and wasmtime-py's
public one). After every call:

- the result is an errno (0..76), and no Python exception escaped (`WASIExit` from proc_exit
  is the one exception allowed);
- guest memory is unchanged outside the call's declared output buffers (memory is filled with a
  guard byte around the placed inputs before each call, and compared after);
- the filesystem is consistent: every entry can be listed and stat-ed, link counts match the
  names found (files) and subdirectories (directories), and nothing outside a host mount changed.

File offsets and sizes stay either small or at least 2**40: a MemoryFS file really is a byte
buffer, so a write at offset 4 GiB would make the host allocate 4 GiB (2**40 fails at once with
ENOSPC), and fd_allocate only gets small or >= 2**63 (FBIG) values, since a host fallocate of
1 TiB would fill the disk before failing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import wasmtime
from fs.memoryfs import MemoryFS
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vfswasi import WASI, WASIExit
from vfswasi.abi import Filetype
from vfswasi.backends.hostdir import HostDirBackend
from vfswasi.backends.memory import MemoryBackend
from vfswasi.modules import default_engine
from vfswasi.testing import Symlink, build_memfs, write_tree
from vfswasi.vfs import Backend

from .trampoline import (
    BUFFERS,
    MEM_SIZE,
    PATH_STRINGS,
    argument_plan,
    changed_outside,
    functions,
    i32,
    i64,
    layout,
    module,
    output_regions,
)

TREE = {"a": b"hello", "d": {"x": b"1"}, "l": Symlink("a"), "ld": Symlink("d"),
        "loop": Symlink("loop"), "esc": Symlink("../outside")}
CANARY = b"never changed"
ARGS = ["trampoline", "argument"]
ENV = {"KEY": "value"}
#: every errno the witx defines: 0 (success) .. 76 (notcapable); taken from the spec, not from
#: vfswasi's own table, so a bogus value added there is still caught
ERRNOS = range(77)

# --- argument strategies -----------------------------------------------------------------------------

u32_edges = st.sampled_from([0, 1, 2, 3, 4, 7, 8, 16, 255, 4096, MEM_SIZE - 8, MEM_SIZE - 1,
                             MEM_SIZE, MEM_SIZE + 1, 2**31 - 1, 2**31, 2**32 - 1])
any_u32 = st.one_of(u32_edges, st.integers(0, 2**32 - 1))


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` values three times in four: calls must often get far enough to act."""
    return st.integers(0, 3).flatmap(lambda i: good if i else bad)


#: the preopen (3), a file opened read-write (4), a directory (5), stdio, any other number
other_fds = st.one_of(st.integers(0, 12), st.sampled_from([99, 2**31 - 1, 2**31, 2**32 - 1]))
dir_fds = mostly(st.sampled_from([3, 3, 5]), other_fds)  # for path_* calls
fds = mostly(st.sampled_from([4, 5, 3, 4, 0, 1, 2]), other_fds)
#: for fd_close and fd_renumber: mostly fds the run's own path_open calls made (closing the
#: preopen, stdio or the fds opened at the start early would leave little for the rest to reach)
closable_fds = mostly(st.integers(6, 9), st.one_of(st.integers(0, 5), other_fds))
#: small offsets and sizes, or ones no host can honour (see the module docstring)
offsets = mostly(st.integers(0, 100),
                 st.one_of(st.integers(0, 70000),
                           st.sampled_from([2**40 + 3, 2**62, 2**63 - 1, 2**63, 2**64 - 1])))
alloc_offsets = mostly(st.integers(0, 100),
                       st.one_of(st.integers(0, 70000),
                                 st.sampled_from([2**63 - 1, 2**63, 2**64 - 1])))
u64_any = st.one_of(offsets, st.integers(0, 2**64 - 1))
flags = mostly(st.integers(0, 5), st.one_of(
    st.sampled_from([6, 8, 0xF, 0x10, 0x1F, 0x20, 0xFF, 0xFFFF, 0x10000, 2**32 - 1]), any_u32))
out_ptr = mostly(st.integers(BUFFERS, BUFFERS + 0x4000), st.one_of(u32_edges, any_u32))


def _pairs(version: str) -> dict[str, st.SearchStrategy[tuple[int, int]]]:
    lay = layout(version)
    placed_path = st.one_of(st.sampled_from(lay.paths[:8]),  # ones that exist, or may be made
                            st.sampled_from(lay.paths))
    paths = mostly(placed_path, st.one_of(
        placed_path.map(lambda p: (p[0], p[1] + 1)),  # runs into a guard byte
        st.tuples(any_u32, any_u32)))
    placed_iovs = st.sampled_from(lay.iovecs)
    iovs = mostly(placed_iovs, st.one_of(
        st.tuples(placed_iovs.map(lambda v: v[0]), st.integers(0, 8)),
        st.tuples(any_u32, any_u32)))
    buffers = mostly(st.tuples(st.integers(BUFFERS, BUFFERS + 0x4000), st.integers(0, 300)),
                     st.tuples(any_u32, any_u32))
    # poll subscriptions only where the bytes are placed ones or guard bytes (an invalid tag):
    # never anywhere a random clock timeout could put the test to sleep
    subs = st.one_of(st.sampled_from(lay.subs),
                     st.tuples(st.sampled_from(lay.subs).map(lambda v: v[0]),
                               st.sampled_from([0, 1, 2, 2**20, 2**32 - 1])),
                     st.tuples(st.sampled_from([BUFFERS, MEM_SIZE - 48, MEM_SIZE, 2**32 - 1]),
                               st.sampled_from([0, 1, 3, 2**32 - 1])))
    return {"path": paths, "iovs": iovs, "buf": buffers, "subs": subs}


@st.composite
def calls(draw: st.DrawFn, version: str) -> tuple[str, dict[str, int]]:
    """(function name, {parameter: unsigned value}), each argument drawn as its declared ABI
    type says (`trampoline.argument_plan`)."""
    table = functions(version)
    name = draw(st.sampled_from(sorted(table)), label="function")
    _, params, _ = table[name]
    pairs, kinds = argument_plan(name)
    strategies = _pairs(version)
    args: dict[str, int] = {}
    for ptr, length, kind in pairs:
        args[ptr], args[length] = draw(strategies[kind], label=ptr)
    for p, kind in kinds.items():
        if kind == "fd":
            strategy = (dir_fds if name.startswith("path_")
                        else closable_fds if name in ("fd_close", "fd_renumber") else fds)
        elif kind == "offset":
            strategy = alloc_offsets if name == "fd_allocate" else offsets
        elif kind == "u64":
            strategy = u64_any
        elif kind == "out":
            strategy = out_ptr
        else:  # flags, enums, clock ids, signals, exit codes
            strategy = flags
        args[p] = draw(strategy, label=p)
    return name, {p: args[p] for p in params}


# --- the machine -----------------------------------------------------------------------------------


def check_consistent(backend: Backend) -> None:
    """Every entry lists and stats; link counts agree with the names and subdirectories."""
    names: dict[int, int] = defaultdict(int)
    nlink: dict[int, int] = {}
    stack = [(backend.root(), False, "")]
    while stack:
        d, owned, prefix = stack.pop()
        try:
            entries = backend.listdir(d)
            subdirs = 0
            for name, ino, ftype in entries:
                st_ = backend.lstat(d, name)
                assert st_.ino == ino, f"{prefix}{name}: listdir ino {ino}, lstat {st_.ino}"
                assert st_.filetype == ftype, f"{prefix}{name}: filetype {ftype} / {st_}"
                if ftype == Filetype.DIRECTORY:
                    subdirs += 1
                    stack.append((backend.open_dir(d, name), True, f"{prefix}{name}/"))
                else:
                    names[st_.ino] += 1
                    nlink[st_.ino] = st_.nlink
                    if ftype == Filetype.SYMBOLIC_LINK:
                        backend.readlink(d, name)
            here = backend.stat_dir(d)
            assert here.nlink == 2 + subdirs, f"{prefix or '/'}: nlink {here.nlink}, " \
                                              f"{subdirs} subdirectories"
        finally:
            if owned:
                backend.release_dir(d)
    for ino, count in names.items():
        assert nlink[ino] == count, f"inode {ino}: nlink {nlink[ino]} but {count} names"


class WasiFaults(RuleBasedStateMachine):
    """One WASI instance on BACKEND ("host" or "memory"), ABI VERSION, dispatcher FAST."""

    BACKEND = "memory"
    VERSION = "preview1"
    FAST = True

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="vfswasi-faults-"))
        preopen: Any
        if self.BACKEND == "host":
            preopen = self.tmp / "mount"
            preopen.mkdir()
            (self.tmp / "outside").write_bytes(CANARY)
            write_tree(TREE, preopen)
            preopen = str(preopen)
        else:
            preopen = self.memfs = build_memfs(TREE)
        self.preopen = preopen
        self.wasi = WASI(version=self.VERSION, args=ARGS, env=ENV, preopens={"/sandbox": preopen},
                         stdin=b"some input\n", stdout=None, stderr=None, fast=self.FAST)
        self.store = wasmtime.Store(default_engine())
        instance = self.wasi.instantiate(self.store, module(self.VERSION))
        self.exports = instance.exports(self.store)
        self.memory: wasmtime.Memory = self.exports["memory"]  # type: ignore[assignment]
        self.layout = layout(self.VERSION)
        self.table = functions(self.VERSION)
        self.argv_size = (len(ARGS), sum(len(a) + 1 for a in ARGS))
        self.env_size = (len(ENV), sum(len(f"{k}={v}") + 1 for k, v in ENV.items()))
        # some open fds to work on: 4 = "a" read-write, 5 = "d"
        self._setup_open(b"a", 0, (1 << 30) - 1)
        self._setup_open(b"d", 2, ((1 << 30) - 1) & ~(1 << 6))  # no fd_write: a directory

    def _setup_open(self, path: bytes, oflags: int, rights: int) -> None:
        self.memory.write(self.store, self.layout.pristine, 0)
        ptr, n = self.layout.paths[PATH_STRINGS.index(path)]
        result = self.exports["call_path_open"](self.store, 3, 1, ptr, n, oflags, i64(rights),
                                                 i64(rights), 0, BUFFERS)
        assert result == 0, f"setup open {path!r}: {result}"

    def do(self, name: str, args: dict[str, int]) -> None:
        sig, params, returns = self.table[name]
        before = self.layout.pristine
        self.memory.write(self.store, before, 0)
        values = [i64(args[p]) if c == "I" else i32(args[p]) for p, c in zip(params, sig,
                                                                                strict=True)]
        try:
            result = self.exports[f"call_{name}"](self.store, *values)
        except WASIExit:
            assert name == "proc_exit", f"{name} raised WASIExit"
            result = 0
        after = bytes(self.memory.read(self.store, 0, MEM_SIZE))
        if returns:
            assert result in ERRNOS, f"{name}{args} returned {result!r}, not an errno"
        allowed = output_regions(name, args, before, self.layout, self.argv_size,
                                 self.env_size)
        bad = changed_outside(before, after, allowed)
        assert not bad, (f"{name}{args} wrote outside its output buffers {allowed}: at "
                         f"{bad} (result {result})")

    @invariant()
    def filesystem_is_consistent(self) -> None:
        if self.BACKEND == "host":
            backend: Backend = HostDirBackend(self.preopen)
            try:
                check_consistent(backend)
            finally:
                backend.close()
            outside = sorted(os.listdir(self.tmp))
            assert outside == ["mount", "outside"], outside
            assert (self.tmp / "outside").read_bytes() == CANARY
        else:
            assert isinstance(self.memfs, MemoryFS)
            check_consistent(MemoryBackend(self.memfs))

    def teardown(self) -> None:
        try:
            self.wasi.close()
            self.filesystem_is_consistent()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _machine(backend: str, version: str, fast: bool) -> type[WasiFaults]:
    """A WasiFaults subclass whose call rule draws calls of `version`."""

    class Machine(WasiFaults):
        BACKEND, VERSION, FAST = backend, version, fast

        @rule(call=calls(version))
        def call(self, call: tuple[str, dict[str, int]]) -> None:
            self.do(*call)

    Machine.__name__ = Machine.__qualname__ = (
        f"WasiFaults_{backend}_{version}{'' if fast else '_slow'}")
    return Machine


TestFaultsHost = _machine("host", "preview1", True).TestCase
TestFaultsMemory = _machine("memory", "preview1", True).TestCase
TestFaultsMemoryUnstable = _machine("memory", "unstable", True).TestCase
TestFaultsHostSlowDispatch = _machine("host", "preview1", False).TestCase
