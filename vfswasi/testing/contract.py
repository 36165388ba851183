"""`BackendContract`: the tests every `vfswasi.vfs.Backend` must pass, yours included.

Subclass it in a test module (name the subclass `Test...` so pytest collects it), override
`make_backend()`, and declare what your backend cannot do with the capability flags:

    from vfswasi.testing import BackendContract

    class TestMyBackend(BackendContract):
        hard_links = False             # link() answers ENOTSUP
        def make_backend(self):
            return MyBackend()

Each test gets a fresh backend from `make_backend()` (made when the test first uses it) and
gives it to `destroy_backend()` afterwards (`backend.close()` unless overridden). The tests call
the backend directly, as the resolver does (single entry names, directory handles), and check
exact errno values, bytes, inode numbers and times: a backend that passes answers a guest as
vfswasi's own backends do (POSIX as Linux decides it; see `vfswasi.posix`).

Capabilities are flags, not skips: a backend that declares it cannot do something gets the
tests that check how it refuses instead (the errno vfswasi's own backends give), so every
collected test asserts something. A writable backend must start empty; a read-only one
(`writable = False`) must hold `seed()` — `write_seed(backend)` writes it through any writable
backend, e.g. to prepare the storage a read-only one then serves. The read tests run on both:
on a writable backend they write the seed themselves first.

This module needs nothing but vfswasi itself (no pytest import): importing it is cheap. It
stays over 600 lines: it is one test suite, a single class a user subclasses whole, whose
tests share its fixtures and capability flags; split, a user would have to collect the parts.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from ..abi import Filetype
from ..vfs import Backend, DirHandle, FileHandle, Stat, walk

__all__ = ["BackendContract", "FixedClock", "seed", "write_seed"]

REG = Filetype.REGULAR_FILE
DIR = Filetype.DIRECTORY
LNK = Filetype.SYMBOLIC_LINK

#: nanosecond times that a clock or filesystem keeping less than ns would round
T1 = 1_234_567_891_123_456_789
T2 = 1_300_000_000_987_654_321
#: times a `FixedClock` is set to (2011), far from any host's "now"
CLOCK_A = 1_310_000_000_111_111_111
CLOCK_B = 1_320_000_000_222_222_222

#: what `seed()` returns: name -> bytes (a file), str (a symlink's target) or a dict (a directory)
SeedTree = dict[str, Any]


def seed(*, symlinks: bool = True) -> SeedTree:
    """The tree a read-only backend under test must hold (and the read tests write into a
    writable one): files, a nested directory, an empty one, and with `symlinks` a symlink to a
    file, one to a directory and a dangling one."""
    tree: SeedTree = {
        "f": b"hello",
        "data": bytes(range(256)) * 4,
        "d": {"inner": b"in d", "sub": {}},
        "empty": {},
    }
    if symlinks:
        tree |= {"l": "f", "ldir": "d", "dangling": "nowhere"}
    return tree


def write_seed(backend: Backend, tree: SeedTree | None = None) -> None:
    """Write `tree` (default: `seed()`) into `backend`'s root through the Backend API."""
    stack: list[tuple[Iterator[tuple[str, Any]], DirHandle]] = [
        (iter((seed() if tree is None else tree).items()), backend.root())]
    try:
        while stack:  # an explicit stack, as every walk in vfswasi
            entries, d = stack[-1]
            for name, value in entries:
                if isinstance(value, dict):
                    backend.mkdir(d, name)
                    stack.append((iter(value.items()), backend.open_dir(d, name)))
                    break
                if isinstance(value, str):
                    backend.symlink(value, d, name)
                else:
                    _put(backend, d, name, value)
            else:
                stack.pop()
                if stack:
                    backend.release_dir(d)
    finally:
        for _, d in reversed(stack[1:]):
            backend.release_dir(d)


class FixedClock:
    """A `vfswasi.vfs.Clock` that answers `now` (set it between steps)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def time_ns(self) -> int:
        return self.now


# --- helpers -----------------------------------------------------------------------------------


def _err(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int | None:
    """The errno of the OSError that fn(*args, **kwargs) raises (fails if it returns)."""
    try:
        result = fn(*args, **kwargs)
    except OSError as e:
        return e.errno
    if isinstance(result, FileHandle):
        result.close()
    raise AssertionError(f"{getattr(fn, '__name__', fn)}{args} did not fail")


def _put(b: Backend, d: DirHandle, name: str, data: bytes = b"") -> None:
    f = b.open_file(d, name, read=False, write=True, create=True, exclusive=True)
    try:
        assert f.write(data, 0) == len(data)
    finally:
        f.close()


def _get(b: Backend, d: DirHandle, name: str) -> bytes:
    f = b.open_file(d, name, read=True, write=False)
    try:
        out = bytearray()
        buf = bytearray(4096)
        while n := f.readinto(memoryview(buf), len(out)):
            out += buf[:n]
        return bytes(out)
    finally:
        f.close()


def _names(b: Backend, h: DirHandle) -> list[str]:
    return sorted(name for name, _ino, _type in b.listdir(h))


@contextmanager
def _opened(b: Backend, d: DirHandle, name: str) -> Iterator[DirHandle]:
    """An `open_dir` handle, released afterwards."""
    h = b.open_dir(d, name)
    try:
        yield h
    finally:
        b.release_dir(h)


def _read_tree(b: Backend) -> SeedTree:
    """The backend's whole tree in `seed()`'s form, read with `vfs.walk`."""
    out: SeedTree = {}
    for d, name, ftype, path in walk(b, b.root()):
        *parents, _ = path.split("/")
        into = out
        for p in parents:
            into = into[p]
        if ftype == DIR:
            into[name] = {}
        elif ftype == LNK:
            into[name] = b.readlink(d, name)
        else:
            into[name] = _get(b, d, name)
    return out


def _snapshot(b: Backend) -> list[tuple[str, Stat]]:
    """Every entry's path and lstat but its atime, to show that nothing changed (reading may
    change atimes: a host's relatime updates them on the first read after a change)."""
    return [(path, b.lstat(d, name)._replace(atim=0))
            for d, name, _t, path in walk(b, b.root())]


def _times(s: Stat) -> tuple[int, int]:
    return s.atim, s.mtim


# --- capabilities --------------------------------------------------------------------------------


def _when(**flags: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Collect the test only on backends whose capability flags have these values."""

    def mark(fn: Callable[..., None]) -> Callable[..., None]:
        fn._contract_when = flags  # type: ignore[attr-defined]
        return fn

    return mark


#: shorthands for the common cases
_writable = _when(writable=True)
_readonly = _when(writable=False)


class BackendContract:
    """The `vfswasi.vfs.Backend` contract as a pytest-collectable class (see the module
    docstring). Override `make_backend()` and set the flags that differ from the defaults."""

    #: the backend can change (False: read-only; it holds `seed()` and answers EROFS to every
    #: change, with `readonly` set)
    writable: ClassVar[bool] = True
    #: it stores symlinks (False: `symlink` answers ENOTSUP, and a read-only seed has none)
    symlinks: ClassVar[bool] = True
    #: it makes hard links (False: `link` answers ENOTSUP)
    hard_links: ClassVar[bool] = True
    #: the finest time step it keeps, in ns (1: exact); a time set is truncated to it
    time_resolution_ns: ClassVar[int] = 1
    #: it charges what the guest adds to `use_storage`'s account and answers ENOSPC when the
    #: account refuses (backends keeping data in host memory); False: it ignores the account
    charges_storage: ClassVar[bool] = False
    #: it stamps the times the guest causes with `use_clock`'s clock; False: it ignores it
    uses_clock: ClassVar[bool] = False

    #: the contract's own tests, name -> function (filled below the class)
    _contract_tests: ClassVar[dict[str, Callable[..., None]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect, on this subclass, exactly the tests its flags call for: a test that does
        not apply is set to None (pytest collects nothing there); one the subclass defines
        itself is left alone."""
        super().__init_subclass__(**kwargs)
        for name, fn in BackendContract._contract_tests.items():
            if name in cls.__dict__:
                continue
            when: dict[str, Any] = getattr(fn, "_contract_when", {})
            applies = all(getattr(cls, flag) == value for flag, value in when.items())
            setattr(cls, name, fn if applies else None)

    # --- what a subclass overrides -----------------------------------------------------------------

    def make_backend(self) -> Backend:
        """A new backend: empty when `writable`, else holding `seed(symlinks=self.symlinks)`."""
        raise NotImplementedError("override make_backend() to return the backend under test")

    def destroy_backend(self, backend: Backend) -> None:
        """Called after each test with the backend it used (default: `backend.close()`)."""
        backend.close()

    # --- per-test state ------------------------------------------------------------------------------

    _backend: Backend | None = None

    def setup_method(self, method: object = None) -> None:
        self._backend = None

    def teardown_method(self, method: object = None) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            self.destroy_backend(backend)

    @property
    def backend(self) -> Backend:
        """This test's backend, made on first use."""
        if self._backend is None:
            self._backend = self.make_backend()
        return self._backend

    def seeded(self) -> tuple[Backend, DirHandle]:
        """(backend, its root) holding `seed()`: written now on a writable backend."""
        b = self.backend
        if self.writable:
            write_seed(b, seed(symlinks=self.symlinks))
        return b, b.root()

    def empty(self) -> tuple[Backend, DirHandle]:
        """(backend, its root) as `make_backend()` made it: empty, for the write tests."""
        b = self.backend
        return b, b.root()

    def one_of_each(self, b: Backend, d: DirHandle, content: bytes = b"",
                    **links: str) -> list[str]:
        """A file "f" holding `content`, a directory "d" and, if the backend has symlinks,
        `links` (name=target), in `d`: the names made, one of each kind to try a call on."""
        _put(b, d, "f", content)
        b.mkdir(d, "d")
        names = ["f", "d"]
        if self.symlinks:
            for name, target in links.items():
                b.symlink(target, d, name)
                names.append(name)
        return names

    def truncated(self, ns: int) -> int:
        """`ns` as the backend keeps it (`time_resolution_ns`)."""
        return ns - ns % self.time_resolution_ns

    # === reading: every backend ======================================================================

    def test_root_is_a_directory(self) -> None:
        b, r = self.seeded()
        s = b.stat_dir(r)
        assert s.filetype == DIR
        assert s.nlink >= 1
        assert b.readonly is not self.writable

    def test_tree_reads_back_as_seeded(self) -> None:
        b, _r = self.seeded()
        assert _read_tree(b) == seed(symlinks=self.symlinks)

    def test_lstat_kinds_sizes_and_missing(self) -> None:
        b, r = self.seeded()
        f = b.lstat(r, "f")
        assert (f.filetype, f.size, f.nlink) == (REG, 5, 1)
        assert b.lstat(r, "data").size == 1024
        assert b.lstat(r, "d").filetype == DIR
        with _opened(b, r, "d") as h:
            assert b.lstat(h, "inner").filetype == REG
            assert b.lstat(h, "sub").filetype == DIR
            assert _err(b.lstat, h, "f") == errno.ENOENT
        if self.symlinks:
            for name, target in [("l", "f"), ("ldir", "d"), ("dangling", "nowhere")]:
                s = b.lstat(r, name)
                assert (s.filetype, s.size) == (LNK, len(target)), name
        assert _err(b.lstat, r, "missing") == errno.ENOENT
        # one device for the whole mount, distinct inode numbers for distinct entries
        stats = [b.lstat(r, n) for n in seed(symlinks=self.symlinks)]
        assert {s.dev for s in stats} == {b.stat_dir(r).dev}
        assert len({s.ino for s in stats}) == len(stats)

    def test_listdir_types_and_inos_match_lstat(self) -> None:
        b, r = self.seeded()
        entries = b.listdir(r)
        expected = {"f": REG, "data": REG, "d": DIR, "empty": DIR}
        if self.symlinks:
            expected |= {"l": LNK, "ldir": LNK, "dangling": LNK}
        assert sorted((n, t) for n, _i, t in entries) == sorted(expected.items())
        for name, ino, ftype in entries:
            s = b.lstat(r, name)
            assert (ino, ftype) == (s.ino, s.filetype), name

    def test_listdir_of_subdirectories(self) -> None:
        b, r = self.seeded()
        with _opened(b, r, "d") as h:
            assert _names(b, h) == ["inner", "sub"]
            for name, ino, ftype in b.listdir(h):
                assert (ino, ftype) == (b.lstat(h, name).ino, b.lstat(h, name).filetype)
            with _opened(b, h, "sub") as sub:
                assert b.listdir(sub) == []
        with _opened(b, r, "empty") as h:
            assert b.listdir(h) == []
        assert _names(b, r) == sorted(seed(symlinks=self.symlinks))  # listing again: the same

    def test_stat_dir_matches_lstat(self) -> None:
        b, r = self.seeded()
        with _opened(b, r, "d") as h:
            s, entry = b.stat_dir(h), b.lstat(r, "d")
            assert s.filetype == DIR
            assert (s.ino, s.dev, s.mtim) == (entry.ino, entry.dev, entry.mtim)
            with _opened(b, h, "sub") as sub:
                assert b.stat_dir(sub).ino == b.lstat(h, "sub").ino
        assert b.stat_dir(r).ino not in {b.lstat(r, n).ino for n in _names(b, r)}

    def test_dup_dir_outlives_the_original(self) -> None:
        b, r = self.seeded()
        root_dup = b.dup_dir(r)
        try:
            assert b.stat_dir(root_dup).ino == b.stat_dir(r).ino
            assert _names(b, root_dup) == _names(b, r)
            h = b.open_dir(r, "d")
            dup = b.dup_dir(h)
            b.release_dir(h)  # the duplicate lives on by itself
            try:
                assert _names(b, dup) == ["inner", "sub"]
                assert b.stat_dir(dup).ino == b.lstat(r, "d").ino
                assert _get(b, dup, "inner") == b"in d"
                if self.writable:  # and changes through it land in the directory
                    _put(b, dup, "via-dup", b"via dup")
            finally:
                b.release_dir(dup)
        finally:
            b.release_dir(root_dup)
        # releasing a duplicate of the root leaves the root usable
        assert _names(b, r) == sorted(seed(symlinks=self.symlinks))
        if self.writable:
            with _opened(b, r, "d") as h:
                assert _get(b, h, "via-dup") == b"via dup"

    def test_readinto_at_offsets(self) -> None:
        b, r = self.seeded()
        data = bytes(range(256)) * 4
        f = b.open_file(r, "data", read=True, write=False)
        try:
            assert not f.writable
            buf = bytearray(10)
            assert f.readinto(memoryview(buf), 3) == 10
            assert bytes(buf) == data[3:13]
            assert f.readinto(memoryview(buf), 1019) == 5
            assert bytes(buf[:5]) == data[1019:]
            assert f.readinto(memoryview(buf), 1024) == 0
            assert f.readinto(memoryview(buf), 10_000) == 0
            assert f.readinto(memoryview(buf), 0) == 10  # backwards again
            assert bytes(buf) == data[:10]
            # reads land in exactly the view given (a window of a larger buffer)
            big = bytearray(b"." * 20)
            assert f.readinto(memoryview(big)[5:9], 50) == 4
            assert bytes(big) == b"....." + data[50:54] + b"." * 11
            s = f.stat()
            assert (s.filetype, s.size, s.ino) == (REG, 1024, b.lstat(r, "data").ino)
        finally:
            f.close()

    def test_two_readers_are_independent(self) -> None:
        b, r = self.seeded()
        data = bytes(range(256)) * 4
        one = b.open_file(r, "data", read=True, write=False)
        two = b.open_file(r, "data", read=True, write=False)
        try:
            buf1, buf2 = bytearray(100), bytearray(100)
            assert one.readinto(memoryview(buf1), 900) == 100
            assert two.readinto(memoryview(buf2), 0) == 100
            assert (bytes(buf1), bytes(buf2)) == (data[900:1000], data[:100])
            one.close()
            assert two.readinto(memoryview(buf2), 1000) == 24  # closing one leaves the other
            assert bytes(buf2[:24]) == data[1000:]
        finally:
            two.close()

    def test_stat_is_stable_and_matches_handles(self) -> None:
        b, r = self.seeded()
        for name in ["f", "data"]:
            first = b.lstat(r, name)
            f = b.open_file(r, name, read=True, write=False)
            try:
                s = f.stat()
            finally:
                f.close()
            again = b.lstat(r, name)
            assert (s.dev, s.ino, s.filetype, s.nlink, s.size, s.mtim) == (
                first.dev, first.ino, first.filetype, first.nlink, first.size, first.mtim)
            assert (again.ino, again.size, again.mtim) == (first.ino, first.size, first.mtim)
        root = b.stat_dir(r)
        assert (b.stat_dir(r).ino, b.stat_dir(r).dev) == (root.ino, root.dev)

    def test_many_handles_are_released(self) -> None:
        # handles may be host resources (fds): a backend gives them back on release/close
        b, r = self.seeded()
        for _ in range(300):
            h = b.open_dir(r, "d")
            dup = b.dup_dir(h)
            b.release_dir(h)
            sub = b.open_dir(dup, "sub")
            b.release_dir(sub)
            b.release_dir(dup)
            b.open_file(r, "f", read=True, write=False).close()
            assert _err(b.open_file, r, "d", read=True, write=False) == errno.EISDIR
            assert _err(b.open_dir, r, "f") == errno.ENOTDIR
        with _opened(b, r, "d") as h:
            assert _names(b, h) == ["inner", "sub"]
        assert _get(b, r, "f") == b"hello"

    def test_open_missing_without_create_is_enoent(self) -> None:
        b, r = self.seeded()
        assert _err(b.open_file, r, "nope", read=True, write=False) == errno.ENOENT
        with _opened(b, r, "d") as h:
            assert _err(b.open_file, h, "f", read=False, write=False) == errno.ENOENT
        if self.writable:
            assert _err(b.open_file, r, "nope", read=True, write=True) == errno.ENOENT
        assert "nope" not in _names(b, r)

    def test_open_file_on_directory_is_eisdir(self) -> None:
        b, r = self.seeded()
        modes = [(True, False), (False, False)]
        if self.writable:
            modes += [(False, True), (True, True)]
        for read, write in modes:
            for name in ["d", "empty"]:
                assert _err(b.open_file, r, name, read=read, write=write) == errno.EISDIR, (
                    name, read, write)
        if self.writable:
            assert _err(b.open_file, r, "d", read=True, write=True, create=True) == errno.EISDIR
        assert b.lstat(r, "d").filetype == DIR

    @_when(symlinks=True)
    def test_open_file_on_symlink_is_eloop(self) -> None:
        b, r = self.seeded()
        flag_sets: list[dict[str, bool]] = [{"read": True, "write": False},
                                            {"read": False, "write": False}]
        if self.writable:
            flag_sets += [{"read": False, "write": True},
                          {"read": True, "write": True, "create": True},
                          {"read": False, "write": True, "truncate": True}]
        for name in ["l", "dangling", "ldir"]:
            for flags in flag_sets:
                assert _err(b.open_file, r, name, **flags) == errno.ELOOP, (name, flags)
        assert _get(b, r, "f") == b"hello"  # the target is untouched
        assert _read_tree(b) == seed()

    def test_handle_neither_reading_nor_writing_can_stat(self) -> None:
        b, r = self.seeded()
        f = b.open_file(r, "f", read=False, write=False)
        try:
            assert not f.writable
            s = f.stat()
            assert (s.filetype, s.size, s.ino) == (REG, 5, b.lstat(r, "f").ino)
        finally:
            f.close()

    def test_read_only_handle_refuses_writes(self) -> None:
        b, r = self.seeded()
        f = b.open_file(r, "f", read=True, write=False)
        try:
            assert not f.writable
            assert _err(f.write, b"x", 0) == errno.EBADF
            assert _err(f.write, b"x", 100) == errno.EBADF
            assert _err(f.truncate, 0) == errno.EBADF
            assert _err(f.allocate, 0, 100) == errno.EBADF
            f.sync()  # nothing to push: still fine
            assert f.stat().size == 5
        finally:
            f.close()
        assert _get(b, r, "f") == b"hello"

    def test_open_dir_errors(self) -> None:
        b, r = self.seeded()
        assert _err(b.open_dir, r, "missing") == errno.ENOENT
        assert _err(b.open_dir, r, "f") == errno.ENOTDIR
        with _opened(b, r, "d") as h:
            assert _err(b.open_dir, h, "inner") == errno.ENOTDIR
        if self.symlinks:
            assert _err(b.open_dir, r, "ldir") in (errno.ELOOP, errno.ENOTDIR)
            assert _err(b.open_dir, r, "dangling") in (errno.ELOOP, errno.ENOTDIR)

    def test_readlink(self) -> None:
        b, r = self.seeded()
        if self.symlinks:
            assert b.readlink(r, "l") == "f"
            assert b.readlink(r, "ldir") == "d"
            assert b.readlink(r, "dangling") == "nowhere"
        assert _err(b.readlink, r, "f") == errno.EINVAL
        assert _err(b.readlink, r, "d") == errno.EINVAL
        assert _err(b.readlink, r, "missing") == errno.ENOENT

    def test_sync_dir(self) -> None:
        b, r = self.seeded()
        b.sync_dir(r)
        with _opened(b, r, "d") as h:
            b.sync_dir(h)
            assert _names(b, h) == ["inner", "sub"]
        assert _read_tree(b) == seed(symlinks=self.symlinks)

    # === resources =====================================================================================

    @_when(charges_storage=True, writable=True)
    def test_use_storage_answers_enospc_before_growing(self) -> None:
        from ..quota import StorageAccount

        b, r = self.empty()
        account = StorageAccount(max_bytes=1000)
        b.use_storage(account)
        f = b.open_file(r, "f", read=True, write=True, create=True)
        try:
            assert f.write(b"a" * 600, 0) == 600
            assert _err(f.write, b"b" * 600, 600) == errno.ENOSPC
            assert _err(f.truncate, 5000) == errno.ENOSPC
            assert f.stat().size == 600  # the refused growth left nothing behind
        finally:
            f.close()
        assert _get(b, r, "f") == b"a" * 600  # and nothing already written was lost
        assert account.denied >= 2
        assert account.peak_bytes <= 1000
        # shrinking gives room back
        f = b.open_file(r, "f", read=False, write=True)
        try:
            f.truncate(0)
            assert f.write(b"c" * 900, 0) == 900
        finally:
            f.close()
        assert b.lstat(r, "f").size == 900

    @_when(charges_storage=False)
    def test_use_storage_is_ignored(self) -> None:
        from ..quota import StorageAccount

        b, r = self.seeded()
        account = StorageAccount(max_bytes=0, max_inodes=0)
        b.use_storage(account)
        if self.writable:  # a full account does not stop a backend that does not charge it
            _put(b, r, "new", b"x" * 600)
            b.mkdir(r, "newdir")
            assert _get(b, r, "new") == b"x" * 600
        else:
            assert _err(b.open_file, r, "new", read=False, write=True, create=True) == errno.EROFS
        assert _get(b, r, "f") == b"hello"
        assert (account.used_bytes, account.used_inodes, account.denied) == (0, 0, 0)

    @_when(uses_clock=True, writable=True)
    def test_use_clock_stamps_what_the_guest_causes(self) -> None:
        b, r = self.empty()
        clock = FixedClock(CLOCK_A)
        b.use_clock(clock)
        b.mkdir(r, "d")
        _put(b, r, "f", b"x")
        assert b.lstat(r, "f").mtim == self.truncated(CLOCK_A)
        assert b.lstat(r, "d").mtim == self.truncated(CLOCK_A)
        assert b.stat_dir(r).mtim == self.truncated(CLOCK_A)  # its entries changed
        clock.now = CLOCK_B
        f = b.open_file(r, "f", read=False, write=True)
        try:
            f.write(b"y", 1)
            assert f.stat().mtim == self.truncated(CLOCK_B)
        finally:
            f.close()
        with _opened(b, r, "d") as h:
            clock.now = CLOCK_A
            b.rename(r, "f", h, "g")  # both directories change
            assert b.stat_dir(h).mtim == self.truncated(CLOCK_A)
            assert b.stat_dir(r).mtim == self.truncated(CLOCK_A)
            clock.now = CLOCK_B
            b.unlink(h, "g")
            assert b.stat_dir(h).mtim == self.truncated(CLOCK_B)

    @_when(uses_clock=False)
    def test_use_clock_is_ignored(self) -> None:
        b, r = self.seeded()
        b.use_clock(FixedClock(CLOCK_A))
        if self.writable:
            _put(b, r, "new", b"x")
            b.mkdir(r, "newdir")
            assert b.lstat(r, "new").mtim != self.truncated(CLOCK_A)
            assert b.lstat(r, "newdir").mtim != self.truncated(CLOCK_A)
        assert _get(b, r, "f") == b"hello"
        assert all(s.mtim != self.truncated(CLOCK_A) for _p, s in _snapshot(b))

    # === writing: writable backends ======================================================================

    @_writable
    def test_new_backend_is_empty(self) -> None:
        b, r = self.empty()
        assert b.stat_dir(r).filetype == DIR
        assert b.listdir(r) == []
        assert b.readonly is False

    @_writable
    def test_create_write_read(self) -> None:
        b, r = self.empty()
        f = b.open_file(r, "f", read=True, write=True, create=True)
        try:
            assert f.writable
            assert f.write(b"hello world", 0) == 11
            assert f.write(memoryview(b"WORLD"), 6) == 5
            buf = bytearray(32)
            assert f.readinto(memoryview(buf), 0) == 11
            assert bytes(buf[:11]) == b"hello WORLD"
            s = f.stat()
            assert (s.filetype, s.size, s.nlink) == (REG, 11, 1)
            assert s.ino == b.lstat(r, "f").ino
        finally:
            f.close()
        assert _get(b, r, "f") == b"hello WORLD"
        assert _names(b, r) == ["f"]

    @_writable
    def test_write_past_eof_zero_fills(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"ab")
        f = b.open_file(r, "f", read=False, write=True)
        try:
            assert f.write(b"xy", 10) == 2
            assert f.stat().size == 12
        finally:
            f.close()
        assert _get(b, r, "f") == b"ab" + bytes(8) + b"xy"

    @_writable
    def test_open_existing_keeps_content(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"keep")
        b.open_file(r, "f", read=False, write=True, create=True).close()
        assert _get(b, r, "f") == b"keep"
        b.open_file(r, "f", read=True, write=True).close()
        assert _get(b, r, "f") == b"keep"

    @_writable
    def test_exclusive_create(self) -> None:
        b, r = self.empty()
        taken = self.one_of_each(b, r, b"old", dangling="nowhere")
        for name in taken:
            code = _err(b.open_file, r, name, read=False, write=True, create=True, exclusive=True)
            assert code == errno.EEXIST, name
        assert _get(b, r, "f") == b"old"
        if self.symlinks:
            assert b.lstat(r, "dangling").filetype == LNK
        f = b.open_file(r, "new", read=False, write=True, create=True, exclusive=True)
        f.close()
        assert b.lstat(r, "new").size == 0

    @_writable
    def test_truncate_on_open(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"some content")
        b.open_file(r, "f", read=False, write=True, truncate=True).close()
        assert _get(b, r, "f") == b""
        assert b.lstat(r, "f").size == 0

    @_writable
    def test_truncate_and_allocate(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"0123456789")
        f = b.open_file(r, "f", read=True, write=True)
        try:
            f.truncate(4)
            assert f.stat().size == 4
            f.truncate(8)
            assert f.stat().size == 8
            f.allocate(0, 2)  # never shrinks
            assert f.stat().size == 8
            f.allocate(6, 10)
            assert f.stat().size == 16
            f.allocate(16, 0)
            assert f.stat().size == 16
        finally:
            f.close()
        assert _get(b, r, "f") == b"0123" + bytes(12)
        assert b.lstat(r, "f").size == 16

    @_writable
    def test_two_handles_share_content(self) -> None:
        b, r = self.empty()
        _put(b, r, "f")
        w = b.open_file(r, "f", read=False, write=True)
        rd = b.open_file(r, "f", read=True, write=False)
        try:
            w.write(b"shared", 0)
            buf = bytearray(6)
            assert rd.readinto(memoryview(buf), 0) == 6
            assert bytes(buf) == b"shared"
            assert rd.stat().size == 6
        finally:
            w.close()
            rd.close()

    @_writable
    def test_sync_makes_writes_visible(self) -> None:
        # sync succeeds, and what was written is there, through another handle too
        b, r = self.empty()
        f = b.open_file(r, "f", read=True, write=True, create=True)
        try:
            f.write(b"xy", 0)
            f.sync()
            assert b.lstat(r, "f").size == 2
            assert _get(b, r, "f") == b"xy"
            f.write(b"z", 2)
        finally:
            f.close()
        assert _get(b, r, "f") == b"xyz"  # close keeps what was written after the sync
        b.sync_dir(r)
        assert _names(b, r) == ["f"]

    @_writable
    def test_handle_survives_unlink(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"still here")
        f = b.open_file(r, "f", read=True, write=False)
        try:
            b.unlink(r, "f")
            buf = bytearray(16)
            assert f.readinto(memoryview(buf), 0) == 10
            assert bytes(buf[:10]) == b"still here"
        finally:
            f.close()
        assert _names(b, r) == []

    @_writable
    def test_unicode_names(self) -> None:
        b, r = self.empty()
        for name in ["naïve ☃", "日本語", "space name", "trailing.", ".hidden"]:
            _put(b, r, name, name.encode())
            assert _get(b, r, name) == name.encode()
        assert _names(b, r) == sorted(["naïve ☃", "日本語", "space name", "trailing.", ".hidden"])

    @_writable
    def test_listdir_many_entries(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "d")
        with _opened(b, r, "d") as h:
            for i in range(300):  # more than one getdents buffer on a host
                _put(b, h, f"entry-with-a-longish-name-{i:04}")
            first = _names(b, h)
            assert len(first) == 300
            assert _names(b, h) == first
            for name, ino, _t in b.listdir(h)[:20]:
                assert b.lstat(h, name).ino == ino
            assert _names(b, r) == ["d"]
            b.unlink(h, "entry-with-a-longish-name-0000")
            assert len(_names(b, h)) == 299

    # --- directories ---------------------------------------------------------------------------------

    @_writable
    def test_mkdir_and_open_dir(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "d")
        assert b.lstat(r, "d").filetype == DIR
        with _opened(b, r, "d") as h:
            assert b.listdir(h) == []
            b.mkdir(h, "sub")
            _put(b, h, "f", b"in d")
            assert _names(b, h) == ["f", "sub"]
            with _opened(b, h, "sub") as sub:
                assert b.stat_dir(sub).ino == b.lstat(h, "sub").ino
        assert _names(b, r) == ["d"]

    @_writable
    def test_mkdir_eexist(self) -> None:
        b, r = self.empty()
        taken = self.one_of_each(b, r, dangling="nowhere", ldir="d")
        for name in taken:
            assert _err(b.mkdir, r, name) == errno.EEXIST, name
        assert sorted(_names(b, r)) == sorted(taken)
        if self.symlinks:
            assert b.lstat(r, "dangling").filetype == LNK

    @_writable
    def test_rmdir(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "empty")
        b.mkdir(r, "full")
        with _opened(b, r, "full") as h:
            _put(b, h, "f")
        _put(b, r, "f")
        if self.symlinks:
            b.symlink("full", r, "ldir")
            assert _err(b.rmdir, r, "ldir") == errno.ENOTDIR  # a symlink is not a directory
            b.unlink(r, "ldir")
        b.rmdir(r, "empty")
        assert _err(b.lstat, r, "empty") == errno.ENOENT
        assert _err(b.rmdir, r, "full") == errno.ENOTEMPTY
        assert _err(b.rmdir, r, "f") == errno.ENOTDIR
        assert _err(b.rmdir, r, "missing") == errno.ENOENT
        assert _names(b, r) == ["f", "full"]

    @_writable
    def test_unlink(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"x")
        _put(b, r, "g", b"target")
        b.mkdir(r, "d")
        if self.symlinks:
            b.symlink("g", r, "l")
            b.symlink("d", r, "ldir")
            b.unlink(r, "l")  # removes the link, not its target
            b.unlink(r, "ldir")
        b.unlink(r, "f")
        assert _names(b, r) == ["d", "g"]
        assert _get(b, r, "g") == b"target"
        assert _err(b.unlink, r, "d") == errno.EISDIR
        assert _err(b.unlink, r, "missing") == errno.ENOENT
        assert b.lstat(r, "d").filetype == DIR

    # --- rename ------------------------------------------------------------------------------------

    @_writable
    def test_rename_file_keeps_identity(self) -> None:
        b, r = self.empty()
        _put(b, r, "a", b"A")
        ino = b.lstat(r, "a").ino
        b.rename(r, "a", r, "b")
        assert _names(b, r) == ["b"]
        assert b.lstat(r, "b").ino == ino
        assert _get(b, r, "b") == b"A"

    @_writable
    def test_rename_across_directories(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "src")
        b.mkdir(r, "dst")
        with _opened(b, r, "src") as s, _opened(b, r, "dst") as d:
            _put(b, s, "f", b"moved")
            b.mkdir(s, "sub")
            with _opened(b, s, "sub") as sub:
                _put(b, sub, "deep", b"deep")
            b.rename(s, "f", d, "g")
            b.rename(s, "sub", d, "sub2")
            assert b.listdir(s) == []
            assert _names(b, d) == ["g", "sub2"]
            assert _get(b, d, "g") == b"moved"
            with _opened(b, d, "sub2") as sub2:
                assert _get(b, sub2, "deep") == b"deep"

    @_writable
    def test_rename_replaces_file(self) -> None:
        b, r = self.empty()
        _put(b, r, "a", b"A")
        _put(b, r, "b", b"B")
        ino = b.lstat(r, "a").ino
        b.rename(r, "a", r, "b")
        assert _names(b, r) == ["b"]
        assert _get(b, r, "b") == b"A"
        assert b.lstat(r, "b").ino == ino

    @_writable
    def test_rename_replaces_empty_directory(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "a")
        b.mkdir(r, "b")
        with _opened(b, r, "a") as h:
            _put(b, h, "inside", b"i")
        b.rename(r, "a", r, "b")
        assert _names(b, r) == ["b"]
        with _opened(b, r, "b") as h:
            assert _names(b, h) == ["inside"]

    @_writable
    def test_rename_onto_nonempty_directory_is_enotempty(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "a")
        b.mkdir(r, "b")
        with _opened(b, r, "b") as h:
            _put(b, h, "f")
        assert _err(b.rename, r, "a", r, "b") == errno.ENOTEMPTY
        assert _names(b, r) == ["a", "b"]

    @_writable
    def test_rename_kind_mismatch(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"F")
        b.mkdir(r, "d")
        assert _err(b.rename, r, "f", r, "d") == errno.EISDIR
        assert _err(b.rename, r, "d", r, "f") == errno.ENOTDIR
        expected = ["d", "f"]
        if self.symlinks:
            # a symlink is not a directory, even when it points at one
            b.symlink("d", r, "ldir")
            assert _err(b.rename, r, "d", r, "ldir") == errno.ENOTDIR
            expected.append("ldir")
        assert _names(b, r) == expected
        assert _get(b, r, "f") == b"F"

    @_writable
    def test_rename_directory_into_itself_is_einval(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "a")
        with _opened(b, r, "a") as a:
            b.mkdir(a, "b")
            with _opened(b, a, "b") as sub:
                assert _err(b.rename, r, "a", a, "x") == errno.EINVAL
                assert _err(b.rename, r, "a", sub, "x") == errno.EINVAL
                # onto an ancestor of the source: the target is not empty (Linux decides
                # that before the kinds, so a file source gets it too)
                assert _err(b.rename, a, "b", r, "a") == errno.ENOTEMPTY
                _put(b, sub, "f")
                assert _err(b.rename, sub, "f", r, "a") == errno.ENOTEMPTY
            assert _names(b, a) == ["b"]
        assert _names(b, r) == ["a"]

    @_writable
    def test_rename_same_entry_is_a_noop(self) -> None:
        b, r = self.empty()
        names = self.one_of_each(b, r, b"F", l="f")
        for name in names:
            b.rename(r, name, r, name)
        with _opened(b, r, "d") as h1, _opened(b, r, "d") as h2:
            _put(b, h1, "x")
            b.rename(h1, "x", h2, "x")  # two handles of one directory
            assert _names(b, h2) == ["x"]
        assert _names(b, r) == sorted(names)
        assert _get(b, r, "f") == b"F"

    @_writable
    def test_rename_missing_source_is_enoent(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "d")
        assert _err(b.rename, r, "missing", r, "x") == errno.ENOENT
        assert _err(b.rename, r, "missing", r, "d") == errno.ENOENT
        assert _names(b, r) == ["d"]

    @_writable
    def test_rename_updates_directory_times(self) -> None:
        # the directories a rename takes an entry from and puts it in change
        b, r = self.empty()
        b.mkdir(r, "src")
        b.mkdir(r, "dst")
        with _opened(b, r, "src") as s, _opened(b, r, "dst") as d:
            _put(b, s, "f")
            b.set_dir_times(s, T1, T1)
            b.set_dir_times(d, T1, T1)
            b.rename(s, "f", d, "f")
            assert b.stat_dir(s).mtim != self.truncated(T1)
            assert b.stat_dir(d).mtim != self.truncated(T1)

    @_when(writable=True, symlinks=True)
    def test_rename_moves_the_symlink_itself(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"F")
        b.mkdir(r, "d")
        b.symlink("f", r, "l")
        b.symlink("d", r, "ldir")
        b.rename(r, "l", r, "m")
        assert b.readlink(r, "m") == "f"
        # onto a symlink: the link is replaced, its target (even a directory) is untouched
        _put(b, r, "g", b"G")
        b.rename(r, "g", r, "ldir")
        assert b.lstat(r, "ldir").filetype == REG
        assert _get(b, r, "ldir") == b"G"
        assert b.lstat(r, "d").filetype == DIR
        assert _names(b, r) == ["d", "f", "ldir", "m"]
        assert _get(b, r, "f") == b"F"

    # --- hard links ----------------------------------------------------------------------------

    @_when(writable=True, hard_links=True)
    def test_link_shares_the_file(self) -> None:
        b, r = self.empty()
        _put(b, r, "a", b"A")
        b.mkdir(r, "d")
        with _opened(b, r, "d") as h:
            b.link(r, "a", h, "b")
            sa, sb = b.lstat(r, "a"), b.lstat(h, "b")
            assert sa.ino == sb.ino
            assert sa.nlink == sb.nlink == 2
            f = b.open_file(h, "b", read=False, write=True)
            try:
                f.write(b"B", 0)
            finally:
                f.close()
            assert _get(b, r, "a") == b"B"
            assert dict((n, i) for n, i, _t in b.listdir(h))["b"] == sa.ino
            b.unlink(r, "a")
            assert b.lstat(h, "b").nlink == 1
            assert _get(b, h, "b") == b"B"

    @_when(writable=True, hard_links=True)
    def test_link_errors(self) -> None:
        b, r = self.empty()
        _put(b, r, "a", b"A")
        _put(b, r, "b", b"B")
        b.mkdir(r, "d")
        assert _err(b.link, r, "a", r, "b") == errno.EEXIST
        assert _err(b.link, r, "a", r, "d") == errno.EEXIST
        assert _err(b.link, r, "d", r, "d2") == errno.EPERM
        assert _err(b.link, r, "missing", r, "x") == errno.ENOENT
        expected = ["a", "b", "d"]
        if self.symlinks:
            b.symlink("nowhere", r, "dangling")
            assert _err(b.link, r, "a", r, "dangling") == errno.EEXIST
            expected.append("dangling")
        assert _names(b, r) == expected
        assert b.lstat(r, "a").nlink == 1

    @_when(writable=True, hard_links=True)
    def test_rename_between_hard_links_is_a_noop(self) -> None:
        # POSIX: two names of the same file -> rename succeeds and does nothing
        b, r = self.empty()
        _put(b, r, "a", b"A")
        b.link(r, "a", r, "b")
        b.rename(r, "a", r, "b")
        assert _names(b, r) == ["a", "b"]
        assert b.lstat(r, "a").nlink == 2

    @_when(writable=True, hard_links=True, symlinks=True)
    def test_link_does_not_follow_a_symlink(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"F")
        b.symlink("f", r, "l")
        b.link(r, "l", r, "l2")
        s = b.lstat(r, "l2")
        assert s.filetype == LNK
        assert s.ino == b.lstat(r, "l").ino
        assert b.readlink(r, "l2") == "f"
        assert b.lstat(r, "f").nlink == 1

    @_when(writable=True, hard_links=False)
    def test_link_unsupported_is_enotsup(self) -> None:
        b, r = self.empty()
        _put(b, r, "a", b"A")
        b.mkdir(r, "d")
        assert _err(b.link, r, "a", r, "b") == errno.ENOTSUP
        assert _err(b.link, r, "d", r, "d2") in (errno.ENOTSUP, errno.EPERM)
        assert _names(b, r) == ["a", "d"]
        assert b.lstat(r, "a").nlink == 1

    # --- symlinks ---------------------------------------------------------------------------------

    @_when(writable=True, symlinks=True)
    def test_symlink_target_stored_verbatim(self) -> None:
        b, r = self.empty()
        targets = ["f", "nowhere", "../x", "/etc/passwd", "a/b/", "..", "a//b", "naïve ☃"]
        for i, target in enumerate(targets):
            b.symlink(target, r, f"l{i}")
        for i, target in enumerate(targets):
            assert b.readlink(r, f"l{i}") == target
            s = b.lstat(r, f"l{i}")
            assert (s.filetype, s.size) == (LNK, len(target.encode())), target

    @_when(writable=True, symlinks=True)
    def test_symlink_eexist(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"F")
        b.mkdir(r, "d")
        b.symlink("nowhere", r, "dangling")
        for name in ["f", "d", "dangling"]:
            assert _err(b.symlink, "x", r, name) == errno.EEXIST, name
        assert b.readlink(r, "dangling") == "nowhere"
        assert _get(b, r, "f") == b"F"

    @_when(writable=True, symlinks=False)
    def test_symlink_unsupported_is_enotsup(self) -> None:
        b, r = self.empty()
        _put(b, r, "f", b"F")
        assert _err(b.symlink, "f", r, "l") == errno.ENOTSUP
        assert _err(b.symlink, "nowhere", r, "dangling") == errno.ENOTSUP
        assert _names(b, r) == ["f"]

    # --- times ------------------------------------------------------------------------------------

    @_writable
    def test_set_times(self) -> None:
        b, r = self.empty()
        t1, t2 = self.truncated(T1), self.truncated(T2)
        _put(b, r, "f")
        b.set_times(r, "f", T1, T2)
        assert _times(b.lstat(r, "f")) == (t1, t2)
        b.set_times(r, "f", None, T1)
        assert _times(b.lstat(r, "f")) == (t1, t1)
        b.set_times(r, "f", T2, None)
        assert _times(b.lstat(r, "f")) == (t2, t1)
        b.set_times(r, "f", None, None)
        assert _times(b.lstat(r, "f")) == (t2, t1)
        assert _err(b.set_times, r, "missing", T1, T2) == errno.ENOENT
        assert _err(b.set_times, r, "missing", None, None) == errno.ENOENT

    @_writable
    def test_set_times_of_a_directory_entry(self) -> None:
        b, r = self.empty()
        b.mkdir(r, "d")
        b.set_times(r, "d", T1, T2)
        assert _times(b.lstat(r, "d")) == (self.truncated(T1), self.truncated(T2))
        with _opened(b, r, "d") as h:
            assert _times(b.stat_dir(h)) == (self.truncated(T1), self.truncated(T2))

    @_when(writable=True, symlinks=True)
    def test_set_times_on_a_symlink_changes_the_link(self) -> None:
        b, r = self.empty()
        _put(b, r, "f")
        b.set_times(r, "f", T2, T2)
        b.symlink("f", r, "l")
        b.set_times(r, "l", T1, T1)
        s = b.lstat(r, "l")
        assert (s.filetype, *_times(s)) == (LNK, self.truncated(T1), self.truncated(T1))
        assert _times(b.lstat(r, "f")) == (self.truncated(T2), self.truncated(T2))

    @_writable
    def test_set_dir_times(self) -> None:
        b, r = self.empty()
        t1, t2 = self.truncated(T1), self.truncated(T2)
        b.mkdir(r, "d")
        with _opened(b, r, "d") as h:
            b.set_dir_times(h, T1, T2)
            assert _times(b.stat_dir(h)) == (t1, t2)
            b.set_dir_times(h, None, T1)
            assert _times(b.stat_dir(h)) == (t1, t1)
            b.set_dir_times(h, T2, None)
            assert _times(b.stat_dir(h)) == (t2, t1)
        assert _times(b.lstat(r, "d")) == (t2, t1)
        b.set_dir_times(r, T1, T2)
        assert _times(b.stat_dir(r)) == (t1, t2)

    @_writable
    def test_file_handle_set_times(self) -> None:
        b, r = self.empty()
        t1, t2 = self.truncated(T1), self.truncated(T2)
        _put(b, r, "f")
        f = b.open_file(r, "f", read=True, write=True)
        try:
            f.set_times(T1, T2)
            assert _times(f.stat()) == (t1, t2)
            f.set_times(None, T1)
            assert _times(f.stat()) == (t1, t1)
            f.set_times(T2, None)
            assert _times(f.stat()) == (t2, t1)
        finally:
            f.close()
        assert _times(b.lstat(r, "f")) == (t2, t1)

    @_writable
    def test_changes_update_mtime(self) -> None:
        b, r = self.empty()
        old = self.truncated(T1)
        _put(b, r, "f")
        b.set_times(r, "f", T1, T1)
        f = b.open_file(r, "f", read=False, write=True)
        try:
            f.write(b"x", 0)
        finally:
            f.close()
        assert b.lstat(r, "f").mtim != old
        b.set_times(r, "f", T1, T1)
        b.open_file(r, "f", read=False, write=True, truncate=True).close()
        assert b.lstat(r, "f").mtim != old
        b.set_dir_times(r, T1, T1)
        b.mkdir(r, "d")
        assert b.stat_dir(r).mtim != old
        b.set_dir_times(r, T1, T1)
        b.unlink(r, "f")
        assert b.stat_dir(r).mtim != old

    # === read-only backends: every change is EROFS ==========================================================

    @_readonly
    def test_readonly_backend_says_so(self) -> None:
        b, r = self.seeded()
        assert b.readonly is True
        with _opened(b, r, "d") as h:
            assert _names(b, h) == ["inner", "sub"]

    @_readonly
    def test_erofs_open_file_for_any_change(self) -> None:
        b, r = self.seeded()
        attempts: list[dict[str, bool]] = [
            {"read": False, "write": True},
            {"read": True, "write": True},
            {"read": True, "write": False, "create": True},
            {"read": False, "write": True, "create": True, "exclusive": True},
            {"read": False, "write": False, "truncate": True},
            {"read": False, "write": True, "truncate": True},
        ]
        for name in ["f", "new"]:
            for flags in attempts:
                assert _err(b.open_file, r, name, **flags) == errno.EROFS, (name, flags)
        assert _get(b, r, "f") == b"hello"
        assert "new" not in _names(b, r)

    @_readonly
    def test_erofs_mkdir(self) -> None:
        b, r = self.seeded()
        assert _err(b.mkdir, r, "new") == errno.EROFS
        assert _err(b.mkdir, r, "d") == errno.EROFS
        with _opened(b, r, "d") as h:
            assert _err(b.mkdir, h, "new") == errno.EROFS
        assert "new" not in _names(b, r)

    @_readonly
    def test_erofs_rmdir(self) -> None:
        b, r = self.seeded()
        assert _err(b.rmdir, r, "empty") == errno.EROFS
        assert _err(b.rmdir, r, "d") == errno.EROFS
        assert b.lstat(r, "empty").filetype == DIR

    @_readonly
    def test_erofs_unlink(self) -> None:
        b, r = self.seeded()
        assert _err(b.unlink, r, "f") == errno.EROFS
        assert _err(b.unlink, r, "missing") == errno.EROFS
        if self.symlinks:
            assert _err(b.unlink, r, "l") == errno.EROFS
        assert _get(b, r, "f") == b"hello"

    @_readonly
    def test_erofs_rename(self) -> None:
        b, r = self.seeded()
        with _opened(b, r, "d") as h:
            moves = [(r, "f", r, "g"), (r, "f", r, "data"), (r, "empty", r, "e2"),
                     (r, "f", h, "f"), (r, "f", r, "f"), (r, "missing", r, "x")]
            if self.symlinks:
                moves.append((r, "f", r, "l"))
            for args in moves:
                assert _err(b.rename, *args) == errno.EROFS, args[1::2]
        assert _read_tree(b) == seed(symlinks=self.symlinks)

    @_readonly
    def test_erofs_link_and_symlink(self) -> None:
        b, r = self.seeded()
        assert _err(b.link, r, "f", r, "g") == errno.EROFS
        assert _err(b.symlink, "f", r, "l2") == errno.EROFS
        assert _err(b.symlink, "x", r, "f") == errno.EROFS
        assert not {"g", "l2"} & set(_names(b, r))

    @_readonly
    def test_erofs_set_times(self) -> None:
        b, r = self.seeded()
        before = _times(b.lstat(r, "f"))
        assert _err(b.set_times, r, "f", T1, T2) == errno.EROFS
        assert _err(b.set_times, r, "d", None, T2) == errno.EROFS
        if self.symlinks:
            assert _err(b.set_times, r, "l", T1, None) == errno.EROFS
        assert _err(b.set_dir_times, r, T1, T2) == errno.EROFS
        with _opened(b, r, "d") as h:
            assert _err(b.set_dir_times, h, T1, None) == errno.EROFS
        assert _times(b.lstat(r, "f")) == before

    @_readonly
    def test_erofs_file_handle(self) -> None:
        b, r = self.seeded()
        f = b.open_file(r, "f", read=True, write=False)
        try:
            assert not f.writable
            assert _err(f.set_times, T1, T2) == errno.EROFS
            assert _err(f.write, b"x", 0) == errno.EBADF
            assert _err(f.truncate, 0) == errno.EBADF
        finally:
            f.close()
        assert _get(b, r, "f") == b"hello"

    @_readonly
    def test_readonly_nothing_changes(self) -> None:
        b, r = self.seeded()
        before = _snapshot(b)
        attempts: list[Callable[[], object]] = [
            lambda: b.mkdir(r, "new"), lambda: b.rmdir(r, "empty"), lambda: b.unlink(r, "f"),
            lambda: b.rename(r, "f", r, "g"), lambda: b.link(r, "f", r, "g"),
            lambda: b.symlink("f", r, "s"), lambda: b.set_times(r, "f", T1, T2),
            lambda: b.set_dir_times(r, T1, T2),
            lambda: b.open_file(r, "f", read=False, write=True, truncate=True),
        ]
        for attempt in attempts:
            assert _err(attempt) == errno.EROFS
        assert _snapshot(b) == before
        assert _read_tree(b) == seed(symlinks=self.symlinks)


BackendContract._contract_tests = {
    name: fn for name, fn in vars(BackendContract).items()
    if name.startswith("test_") and callable(fn)}
