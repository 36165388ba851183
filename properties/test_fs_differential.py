"""Differential state machine: random filesystem-op sequences on every backend and on
wasmtime's own WASI (the oracle) must print the same results and leave the same tree.

Subjects (`differential.SUBJECTS`): vfswasi over a host directory, a MemoryFS, an overlay of
each (`vfswasi.overlay`, whose lower must come out untouched), writable tar and zip archives
(`tar+rw://`, `zip+rw://`, read back from the file after the write-back; zip sits out starting
trees with hard links, which it cannot hold), and wasmtime's WASI on a host directory.

Rules append fsops lines to a script; nothing runs per step. The `check` rule (and the
teardown) runs the whole script so far, from the same starting tree, once per subject, in ONE
guest invocation each, and compares the transcripts line by line and the final trees (names,
types, contents, symlink targets, hard-link groups) and that nothing beside a host mount
changed. `check` is a rule rather than only the teardown so that hypothesis can cut a failing
run short right after the op that diverged: a failure seen only in teardown cannot shrink the
number of steps. Where wasmtime and vfswasi may differ, `differential.ORACLE_DIFFERENCES`
says why (or that wasmtime departs from the spec, and vfswasi keeps to it).

The namespace is small and adversarial: a handful of names (with a space, a control byte and
a non-ASCII letter), "." and "..", trailing slashes, symlinks to files, directories, missing
names, themselves, each other, out of the mount and to absolute paths, paths with NUL or
invalid UTF-8, absolute and empty paths. Open fds are fsops registers ($K), because hosts
number fds differently (see fsops.c); a register is never named again after close/renumber.

One fault per op where the order of checks is the host's choice. When one call has two
things wrong (a bad fd AND a malformed path, say), WASI does not say which error wins, and
wasmtime's order even differs from call to call (path_open decodes its path before looking at
the fd, path_filestat_get after; path_link looks at both fds before either path, vfswasi
resolves the source before it reads the target). So malformed paths, invalid flag
combinations and odd symlink targets are generated with the preopen as the directory fd, and
the second directory of link/rename is the preopen; every other argument varies freely.

Left out, each for a stated reason:
- fd_allocate: wasmtime answers NOTSUP, vfswasi implements it (the spec defines it), so the
  trees would differ after every success; tests/test_fs_files.py covers it.
- fd_readdir with raw cookies and small buffers: entry order is the host's readdir order on
  wasmtime and sorted on vfswasi (both allowed); `ls` (complete, sorted) is compared instead,
  and tests/test_fs_dirs.py covers cookies and cut entries.
- fd_renumber / fd_close of the preopen (fd 3) and of stdio: the next open would then get fd 3
  on one host and not on another, and the interpreter itself lives on stdin/stdout.
- rights other than the libc-style read / write / read,write sets, and fd_fdstat_set_rights:
  wasmtime 50 no longer tracks rights; tests/test_fs_files.py covers vfswasi's.
- O_DIRECTORY|O_EXCL without O_CREAT: wasmtime refuses it (INVAL), vfswasi ignores the EXCL
  as POSIX allows; not generated (a documented difference that changes which fds exist).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, rule

from vfswasi.testing import Symlink, Tree, trees

from .differential import quote, run_everywhere

# --- the namespace ---------------------------------------------------------------------------------

NAMES = ["a", "b", "d", "l", "sp ace", "é", "\x01"]
component = st.sampled_from([*NAMES, ".", ".."])
#: 1-3 components, maybe a trailing slash: may not exist, may leave the mount ("..")
plain_paths = st.builds(
    lambda parts, slash: "/".join(parts) + ("/" if slash else ""),
    st.lists(component, min_size=1, max_size=3),
    st.booleans(),
)
#: paths no host may resolve as they are: absolute, empty, NUL, invalid UTF-8, doubled slashes
MALFORMED = [b"", b"/", b"/a", b"//a", b"a\0b", b"\xff", b"d/\xc3", b"a//b", b"./"]
any_paths = st.one_of(plain_paths.map(str.encode), st.sampled_from(MALFORMED))

#: symlink targets that resolve inside the mount, or dangle
plain_targets = st.one_of(st.sampled_from(NAMES), plain_paths)
#: targets that leave the mount, are absolute, or are empty (refused with NOENT on creation)
ODD_TARGETS = [".", "..", "d/", "a/", "d/..", "d/../a", "../outside", "../mount/a", "../..",
               "/outside", "/etc", "missing", "missing/", "l/x"]


@st.composite
def starting_trees(draw: st.DrawFn) -> Tree:
    """A small tree over the namespace (the toolkit's `trees`), plus adversarial symlinks in
    the root: loops, escapes, absolute and dangling targets."""
    tree = draw(trees(max_entries=6, max_depth=2, max_file_size=12,
                      names=st.sampled_from(NAMES)))
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True)):
        if name not in tree:
            tree[name] = Symlink(draw(st.one_of(plain_targets, st.sampled_from(ODD_TARGETS))))
    return tree


# --- argument vocabularies ---------------------------------------------------------------------

OFLAGS = ["-", "creat", "creat,excl", "trunc", "creat,trunc", "directory", "excl"]
BAD_OFLAGS = ["creat,directory", "directory,trunc"]  # INVAL: path_open makes no directories
RIGHTS = ["read", "write", "read,write"]
DATA = [b"x", b"hello", b"\0\xff\n", b"", b"0123456789abcdef"]
SIZES = [0, 1, 3, 5, 20]
OFFSETS = [0, 1, 4, 30]
SEEKS = [(0, "set"), (3, "set"), (-1, "cur"), (2, "cur"), (0, "end"), (-2, "end"), (5, "end")]
TIMES = [0, 1, 1_000_000_007, 86_400 * 10**9 * 365 + 5]  # explicit, far below CLOCK_TIMES
FSTFLAGS = ["atim,mtim", "mtim", "atim", "mtim_now", "atim_now,mtim", "-"]
BAD_FSTFLAGS = ["atim,atim_now", "mtim,mtim_now"]  # INVAL
NOT_OPEN_FDS = ["3", "99"]  # the preopen (a directory) and an fd never opened
PREOPEN = st.just("3")
FOLLOW = st.sampled_from(["follow", "nofollow"])


class FsDifferential(RuleBasedStateMachine):
    """See the module docstring."""

    fds = Bundle("fds")
    #: any fd for fd_* calls: registers (open or failed), the preopen, one never opened
    any_fd = st.one_of(fds, st.sampled_from(NOT_OPEN_FDS))
    #: a directory fd for path_* calls: mostly the preopen, sometimes a register
    dirfd = st.one_of(PREOPEN, PREOPEN, fds)

    def __init__(self) -> None:
        super().__init__()
        self.tree: Tree = {}
        self.ops: list[str] = []
        self.opens = 0  # open lines so far: the next one's register is $opens
        self.checked = 0  # how many ops the last comparison covered

    def emit(self, line: str) -> None:
        self.ops.append(line)

    @initialize(tree=starting_trees())
    def start(self, tree: Tree) -> None:
        self.tree = tree

    # --- opening and closing -----------------------------------------------------------------

    @rule(target=fds,
          where=st.one_of(
              st.tuples(dirfd, plain_paths.map(str.encode), st.sampled_from(OFLAGS)),
              st.tuples(PREOPEN, st.sampled_from(MALFORMED), st.sampled_from(OFLAGS)),
              st.tuples(PREOPEN, plain_paths.map(str.encode), st.sampled_from(BAD_OFLAGS)),
          ),
          rights=st.sampled_from(RIGHTS), append=st.booleans(), follow=FOLLOW)
    def open(self, where: tuple[str, bytes, str], rights: str, append: bool,
             follow: str) -> str:
        dirfd, path, oflags = where
        self.emit(f"open {dirfd} {quote(path)} oflags {oflags} rights {rights} "
                  f"fdflags {'append' if append else '-'} lookup {follow}")
        self.opens += 1
        return f"${self.opens - 1}"

    @rule(fd=consumes(fds))
    def close(self, fd: str) -> None:
        self.emit(f"close {fd}")

    @rule(src=consumes(fds), dst=fds)
    def renumber(self, src: str, dst: str) -> None:
        # src's number is free afterwards and hosts reuse free numbers differently, so src is
        # never named again (consumed); dst now names src's file (or is unchanged on error)
        self.emit(f"renumber {src} {dst}")

    # --- fd operations -----------------------------------------------------------------------

    @rule(fd=any_fd, n=st.sampled_from(SIZES))
    def read(self, fd: str, n: int) -> None:
        self.emit(f"read {fd} {n}")

    @rule(fd=any_fd, data=st.sampled_from(DATA))
    def write(self, fd: str, data: bytes) -> None:
        self.emit(f"write {fd} {quote(data)}")

    @rule(fd=any_fd, n=st.sampled_from(SIZES), off=st.sampled_from(OFFSETS))
    def pread(self, fd: str, n: int, off: int) -> None:
        self.emit(f"pread {fd} {n} {off}")

    @rule(fd=any_fd, data=st.sampled_from(DATA), off=st.sampled_from(OFFSETS))
    def pwrite(self, fd: str, data: bytes, off: int) -> None:
        self.emit(f"pwrite {fd} {quote(data)} {off}")

    @rule(fd=any_fd, seek=st.sampled_from(SEEKS))
    def seek(self, fd: str, seek: tuple[int, str]) -> None:
        self.emit(f"seek {fd} {seek[0]} {seek[1]}")

    @rule(fd=any_fd)
    def tell(self, fd: str) -> None:
        self.emit(f"tell {fd}")

    @rule(fd=any_fd, size=st.sampled_from(SIZES))
    def truncate(self, fd: str, size: int) -> None:
        self.emit(f"truncate {fd} {size}")

    @rule(fd=any_fd)
    def fstat(self, fd: str) -> None:
        self.emit(f"fstat {fd}")

    @rule(fd=any_fd)
    def fdstat(self, fd: str) -> None:
        self.emit(f"fdstat {fd} norights")

    @rule(fd=any_fd, atim=st.sampled_from(TIMES), mtim=st.sampled_from(TIMES),
          fst=st.sampled_from(FSTFLAGS))
    def fsettimes(self, fd: str, atim: int, mtim: int, fst: str) -> None:
        self.emit(f"fsettimes {fd} {atim} {mtim} {fst}")
        self.emit(f"ftimes {fd}")

    @rule(fd=any_fd)
    def ls(self, fd: str) -> None:
        self.emit(f"ls {fd}")

    # --- path operations ---------------------------------------------------------------------

    @rule(dirfd=dirfd, path=any_paths, follow=FOLLOW)
    def stat(self, dirfd: str, path: bytes, follow: str) -> None:
        self.emit(f"stat {dirfd} {quote(path)} {follow}")

    @rule(dirfd=dirfd, path=any_paths)
    def mkdir(self, dirfd: str, path: bytes) -> None:
        self.emit(f"mkdir {dirfd} {quote(path)}")

    @rule(dirfd=dirfd, path=any_paths)
    def rmdir(self, dirfd: str, path: bytes) -> None:
        self.emit(f"rmdir {dirfd} {quote(path)}")

    @rule(dirfd=dirfd, path=any_paths)
    def unlink(self, dirfd: str, path: bytes) -> None:
        self.emit(f"unlink {dirfd} {quote(path)}")

    #: (dirfd, old path, new path) for rename and link: plain paths with any dirfd, or a
    #: malformed old path with a new name that cannot fail on its own
    two_paths = st.one_of(
        st.tuples(dirfd, plain_paths.map(str.encode), plain_paths),
        st.tuples(PREOPEN, st.sampled_from(MALFORMED), st.sampled_from(NAMES)),
    )

    @rule(how=two_paths)
    def rename(self, how: tuple[str, bytes, str]) -> None:
        d1, old, new = how
        self.emit(f"rename {d1} {quote(old)} 3 {quote(new)}")

    @rule(how=st.one_of(two_paths.map(lambda t: (*t, "nofollow")),
                        # SYMLINK_FOLLOW is refused (INVAL, as wasmtime): a fault of its own
                        st.tuples(PREOPEN, plain_paths.map(str.encode),
                                  st.sampled_from(NAMES), st.just("follow"))))
    def link(self, how: tuple[str, bytes, str, str]) -> None:
        d1, old, new, follow = how
        self.emit(f"link {d1} {quote(old)} 3 {quote(new)} {follow}")

    @rule(how=st.one_of(
        st.tuples(plain_targets, dirfd, plain_paths),
        st.tuples(st.sampled_from(ODD_TARGETS), PREOPEN, plain_paths),
        # "" with a name that resolves: a bad target and a bad name are two faults
        st.tuples(st.just(""), PREOPEN, st.sampled_from(NAMES)),
    ))
    def symlink(self, how: tuple[str, str, str]) -> None:
        target, dirfd, path = how
        self.emit(f"symlink {quote(target)} {dirfd} {quote(path)}")

    @rule(dirfd=dirfd, path=any_paths, buflen=st.sampled_from([4096, 0, 1, 3]))
    def readlink(self, dirfd: str, path: bytes, buflen: int) -> None:
        self.emit(f"readlink {dirfd} {quote(path)} {buflen}")

    @rule(how=st.one_of(st.tuples(dirfd, any_paths, st.sampled_from(FSTFLAGS)),
                        st.tuples(PREOPEN, plain_paths.map(str.encode),
                                  st.sampled_from(BAD_FSTFLAGS))),
          atim=st.sampled_from(TIMES), mtim=st.sampled_from(TIMES), follow=FOLLOW)
    def settimes(self, how: tuple[str, bytes, str], atim: int, mtim: int, follow: str) -> None:
        dirfd, path, fst = how
        self.emit(f"settimes {dirfd} {quote(path)} {atim} {mtim} {fst} {follow}")
        self.emit(f"times {dirfd} {quote(path)} {follow}")

    @rule()
    def ls_root(self) -> None:
        self.emit("ls 3")

    # --- comparing ---------------------------------------------------------------------------

    @rule()
    def check(self) -> None:
        """Compare everything so far (also a point where a failing run can stop short)."""
        run_everywhere(self.tree, self.ops)
        self.checked = len(self.ops)

    def teardown(self) -> None:
        if len(self.ops) > self.checked:
            run_everywhere(self.tree, self.ops)


TestFsDifferential = FsDifferential.TestCase
