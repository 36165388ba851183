"""Adversarial escapes from a preopen. Every attempt must be refused (`REFUSED`: wasmtime says
PERM, the spec allows NOTCAPABLE too) and nothing outside the sandbox may change.

The world: the sandbox mount (preopen /sandbox, fd 3); a second mount holding a secret
(preopen /secret, fd 4: the guest may use it directly, but never reach it from fd 3); and, on
the host, files next to the mounts (`outside.txt`, `outside_dir/`) that host-directory
mounts could leak through `..` or planted symlinks. New fds therefore start at 5.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Mount, Symlink, guest, make_mount, run_guest
from fsops import check_transcript

SANDBOX = {"a": b"A", "d": {"f": b"F", "sub": {}}, "ld": Symlink("d")}
SECRET = {"s.txt": b"SECRET", "sd": {"t": b"T"}}
#: a sandbox refusal is EPERM, exactly (see tests/fsops.py: REFUSED)
REFUSED_MSG = "Operation not permitted"


def name_from_above(mount: Mount, guest_name: str) -> str:
    """How `..` from the sandbox root would name `mount`: its host directory's name for host
    mounts, its guest path otherwise (either way the lookup must be refused)."""
    return mount.host_dir.name if mount.host_dir is not None else guest_name


def secret_target(secret: Mount, rel: str) -> str:
    """An absolute path to `rel` in the secret mount, as a symlink planted to reach it holds."""
    return str(secret.host_dir / rel) if secret.host_dir is not None else f"/secret/{rel}"


@dataclass
class World:
    kind: str
    tmp_path: Path
    sandbox: Mount
    secret: Mount

    def outside(self) -> dict:
        """Everything outside the sandbox: the secret mount and the host around the mounts."""
        return {"secret": self.secret.tree(), "host": _snapshot(self.tmp_path, self.sandbox.host_dir)}

    def check(self, text: str, **names: str) -> None:
        """Run a transcript with both preopens; `{name}` placeholders come from `names`."""
        check_transcript(self.kind, self.sandbox, text.format(**names), {"/secret": self.secret})


def _snapshot(root: Path, skip: Path | None) -> dict:
    out: dict = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = os.lstat(p)
            key = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[key] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                out[key] = ("file", p.read_bytes())
            else:
                out[key] = ("dir",)
    return out


def make_world(kind: str, tmp_path: Path, extra: dict | None = None, links=None) -> World:
    """The sandbox holds SANDBOX, `extra`, and `links(secret_mount)`: symlinks whose targets
    depend on where the secret mount is."""
    (tmp_path / "outside.txt").write_bytes(b"OUTSIDE")
    (tmp_path / "outside_dir").mkdir()
    (tmp_path / "outside_dir" / "o").write_bytes(b"O")
    secret = make_mount(kind, tmp_path, SECRET)
    spec = {**SANDBOX, **(extra or {}), **(links(secret) if links else {})}
    return World(kind, tmp_path, make_mount(kind, tmp_path, spec), secret)


def run_scenario(world: World, text: str, **names: str) -> dict:
    """Run the transcript, check nothing outside changed; the sandbox's tree from before."""
    before_sandbox, before_outside = world.sandbox.tree(), world.outside()
    world.check(text, **names)
    assert world.outside() == before_outside
    return before_sandbox


# --- paths that leave -----------------------------------------------------------------------

def test_escaping_paths_are_refused(oracle_kind, tmp_path):
    world = make_world(oracle_kind, tmp_path)
    before = run_scenario(world, """
        open 3 /sandbox/a                        -> REFUSED
        open 3 /a                                -> REFUSED
        open 3 {secret_abs}                      -> REFUSED
        open 3 .. oflags directory               -> REFUSED
        open 3 ../ oflags directory              -> REFUSED
        open 3 ../outside.txt                    -> REFUSED
        open 3 ../secret/s.txt                   -> REFUSED
        open 3 ../{secret}/s.txt                 -> REFUSED
        open 3 d/../../outside.txt               -> REFUSED
        open 3 d/sub/../../../outside.txt        -> REFUSED
        open 3 d/../.. oflags directory          -> REFUSED
        open 3 ld/../../outside.txt              -> REFUSED
        # leaving only for a moment is still leaving
        open 3 ../{sandbox}/a                    -> REFUSED
        open 3 d/../../{sandbox}/a               -> REFUSED
        stat 3 ..                                -> REFUSED
        stat 3 ../outside.txt follow             -> REFUSED
        times 3 ../outside.txt                   -> REFUSED
        settimes 3 ../outside.txt 1 1 atim,mtim  -> REFUSED
        readlink 3 ../x                          -> REFUSED
        mkdir 3 ../evil                          -> REFUSED
        open 3 ../evil oflags creat rights write -> REFUSED
        open 3 ../outside.txt oflags trunc rights write -> REFUSED
        symlink a 3 ../evil                      -> REFUSED
        unlink 3 ../outside.txt                  -> REFUSED
        rmdir 3 ../outside_dir                   -> REFUSED
        rename 3 a 3 ../evil                     -> REFUSED
        rename 3 ../outside.txt 3 stolen         -> REFUSED
        rename 3 ../{secret}/s.txt 3 stolen      -> REFUSED
        link 3 a 3 ../evil                       -> REFUSED
        link 3 ../outside.txt 3 stolen           -> REFUSED
        link 3 ../secret/s.txt 3 stolen          -> REFUSED
        # the secret preopen itself is the guest's to use
        open 4 s.txt                             -> ok 5
        read 5 100                               -> ok "SECRET"
        open 4 .. oflags directory               -> REFUSED
    """, secret_abs=secret_target(world.secret, "s.txt"),
        secret=name_from_above(world.secret, "secret"),
        sandbox=name_from_above(world.sandbox, "sandbox"))
    assert world.sandbox.tree() == before


# --- symlinks that lead out -----------------------------------------------------------------

def escaping_links(secret: Mount) -> dict:
    return {
        "abs": Symlink(secret_target(secret, "s.txt")),
        "absdir": Symlink(secret_target(secret, "sd")),
        "absroot": Symlink("/"),
        "up": Symlink("../outside.txt"),
        "updir": Symlink("../outside_dir"),
        "upsecret": Symlink(f"../{name_from_above(secret, 'secret')}/s.txt"),
        "dotdot": Symlink(".."),
        "c1": Symlink("c2"),
        "c2": Symlink("d/c3"),
        "inner": Symlink("d/../a"),
        "d": {**SANDBOX["d"], "upup": Symlink("../../outside.txt"), "dotdot2": Symlink("../.."),
              "c3": Symlink("../up")},
    }


def test_escaping_symlinks_are_refused(oracle_kind, tmp_path):
    world = make_world(oracle_kind, tmp_path, links=escaping_links)
    before = run_scenario(world, """
        open 3 abs                               -> REFUSED
        open 3 abs rights read,write             -> REFUSED
        open 3 abs oflags creat,trunc rights write -> REFUSED
        stat 3 abs follow                        -> REFUSED
        readlink 3 abs                           -> REFUSED
        open 3 absdir oflags directory           -> REFUSED
        open 3 absdir/t                          -> REFUSED
        mkdir 3 absdir/new                       -> REFUSED
        open 3 absroot oflags directory          -> REFUSED
        stat 3 absroot/etc follow                -> REFUSED
        open 3 up                                -> REFUSED
        open 3 up oflags creat rights write      -> REFUSED
        stat 3 up follow                         -> REFUSED
        times 3 up follow                        -> REFUSED
        settimes 3 up 1 1 atim,mtim follow       -> REFUSED
        open 3 updir oflags directory            -> REFUSED
        open 3 updir/o                           -> REFUSED
        open 3 updir/new oflags creat rights write -> REFUSED
        mkdir 3 updir/new                        -> REFUSED
        symlink x 3 updir/ln                     -> REFUSED
        unlink 3 updir/o                         -> REFUSED
        rmdir 3 updir/                           -> REFUSED
        rename 3 a 3 updir/a                     -> REFUSED
        rename 3 updir/o 3 stolen                -> REFUSED
        link 3 a 3 updir/a                       -> REFUSED
        link 3 updir/o 3 stolen                  -> REFUSED
        open 3 upsecret                          -> REFUSED
        open 3 d/upup                            -> REFUSED
        open 3 c1                                -> REFUSED
        open 3 dotdot oflags directory           -> REFUSED
        open 3 dotdot/outside.txt                -> REFUSED
        open 3 d/dotdot2 oflags directory        -> REFUSED
        # a link that stays inside works, even through ".."
        open 3 inner                             -> ok 5
        read 5 10                                -> ok "A"
        # the escaping links themselves may be looked at and removed, never followed
        stat 3 up                                -> ok link size=14 nlink=1
        readlink 3 up                            -> ok "../outside.txt"
        readlink 3 d/upup                        -> ok "../../outside.txt"
        unlink 3 up                              -> ok
        rename 3 updir 3 renamed                 -> ok
        readlink 3 renamed                       -> ok "../outside_dir"
    """)
    del before["up"]
    before["renamed"] = before.pop("updir")
    assert world.sandbox.tree() == before


def test_symlinks_made_by_the_guest_are_checked_when_used(oracle_kind, tmp_path):
    world = make_world(oracle_kind, tmp_path)
    run_scenario(world, """
        symlink ../outside.txt 3 esc             -> ok
        symlink ../../outside.txt 3 d/esc2       -> ok
        symlink ../evil 3 dangesc                -> ok
        open 3 esc                               -> REFUSED
        open 3 esc oflags creat,trunc rights write -> REFUSED
        open 3 d/esc2 rights read,write          -> REFUSED
        # creating through a dangling escaping link would create the file outside
        open 3 dangesc oflags creat rights write -> REFUSED
        # absolute targets are refused when the link is made
        symlink {outside_abs} 3 absesc           -> REFUSED
        symlink / 3 root                         -> REFUSED
        stat 3 absesc                            -> err NOENT
    """, outside_abs=str(tmp_path / "outside.txt"))
    assert world.sandbox.tree() == {
        **SANDBOX,
        "esc": Symlink("../outside.txt"),
        "dangesc": Symlink("../evil"),
        "d": {**SANDBOX["d"], "esc2": Symlink("../../outside.txt")},
    }


def test_symlink_expansion_stops_after_exactly_40(oracle_kind, tmp_path):
    # 40 expansions resolve, the 41st is LOOP: Linux's MAXSYMLINKS, wasmtime's limit, ours
    at_limit = {f"m{i}": Symlink(f"m{i + 1}") for i in range(39)} | {"m39": Symlink("a")}
    past = {f"n{i}": Symlink(f"n{i + 1}") for i in range(40)} | {"n40": Symlink("a")}
    world = make_world(oracle_kind, tmp_path, {**at_limit, **past})
    run_scenario(world, """
        open 3 m0                                -> ok 5
        read 5 10                                -> ok "A"
        stat 3 m0 follow                         -> ok file size=1 nlink=1
        open 3 n0                                -> err LOOP
        stat 3 n0 follow                         -> err LOOP
        stat 3 n1 follow                         -> ok file size=1 nlink=1
    """)


def test_symlink_loops_and_long_chains(oracle_kind, tmp_path):
    # 8 hops resolve; 100 exceed any host's limit (wasmtime's is 40) and give LOOP
    chain = {f"c{i}": Symlink(f"c{i + 1}") for i in range(100)} | {"c100": Symlink("a")}
    short = {f"k{i}": Symlink(f"k{i + 1}") for i in range(8)} | {"k8": Symlink("a")}
    loops = {
        "loop": Symlink("loop"), "ping": Symlink("pong"), "pong": Symlink("ping"),
        "self": Symlink("./self"), "dd": Symlink("d/../dd"), "deep": Symlink("deep/x"),
    }
    world = make_world(oracle_kind, tmp_path, {**chain, **short, **loops})
    before = run_scenario(world, """
        open 3 k0                                -> ok 5
        read 5 10                                -> ok "A"
        open 3 c0                                -> err LOOP
        stat 3 c0 follow                         -> err LOOP
        open 3 loop                              -> err LOOP
        open 3 loop oflags creat rights write    -> err LOOP
        stat 3 loop follow                       -> err LOOP
        open 3 ping                              -> err LOOP
        open 3 ping/x                            -> err LOOP
        mkdir 3 ping/x                           -> err LOOP
        open 3 self                              -> err LOOP
        open 3 dd                                -> err LOOP
        open 3 deep                              -> err LOOP
        settimes 3 loop 1 1 atim follow          -> err LOOP
        rename 3 a 3 ping/a                      -> err LOOP
        stat 3 loop                              -> ok link size=4 nlink=1
    """)
    assert world.sandbox.tree() == before


# --- directory fds -------------------------------------------------------------------------------

def test_dotdot_never_climbs_above_the_directory_fd(oracle_kind, tmp_path):
    # Each directory fd is its own sandbox (the spec's "base directory"), even one that sits
    # inside a preopen: `..` from it is refused although the target is inside the mount.
    world = make_world(oracle_kind, tmp_path)
    before = run_scenario(world, """
        open 3 d oflags directory                -> ok 5
        open 5 .. oflags directory               -> REFUSED
        open 5 ../a                              -> REFUSED
        stat 5 ../a                              -> REFUSED
        mkdir 5 ../evil                          -> REFUSED
        open 5 sub/../f                          -> ok 6
        open 5 sub/../../a                       -> REFUSED
        # renumbered over the preopen, it gains nothing
        renumber 5 3                             -> ok
        prestat 3                                -> err BADF
        open 3 f                                 -> ok 5
        open 3 ../a                              -> REFUSED
        open 3 .. oflags directory               -> REFUSED
        open 3 ../../outside.txt                 -> REFUSED
        mkdir 3 ../evil                          -> REFUSED
        rename 3 f 3 ../f                        -> REFUSED
    """)
    assert world.sandbox.tree() == before


# --- symlinks planted on the host --------------------------------------------------------------

HOST_PLANTED = """
    open 3 hs                                    -> REFUSED
    open 3 hs rights read,write                  -> REFUSED
    open 3 hs oflags trunc rights read,write     -> REFUSED
    open 3 hs oflags creat rights read,write     -> REFUSED
    stat 3 hs follow                             -> REFUSED
    readlink 3 hs                                -> REFUSED
    settimes 3 hs 1 1 atim,mtim follow           -> REFUSED
    open 3 hsd oflags directory                  -> REFUSED
    open 3 hsd/o                                 -> REFUSED
    stat 3 hsd/o                                 -> REFUSED
    mkdir 3 hsd/new                              -> REFUSED
    open 3 hsd/new oflags creat rights write     -> REFUSED
    unlink 3 hsd/o                               -> REFUSED
    symlink a 3 hsd/x                            -> REFUSED
    open 3 rel                                   -> REFUSED
    stat 3 rel follow                            -> REFUSED
    open 3 reld/o                                -> REFUSED
    open 3 d/deep                                -> REFUSED
    settimes 3 hsd/o 1 1 atim                    -> REFUSED
    link 3 hsd/o 3 stolen                        -> REFUSED
    link 3 a 3 hsd/a                             -> REFUSED
    link 3 a 3 reld/a                            -> REFUSED
    rename 3 a 3 hsd/a                           -> REFUSED
    rename 3 hsd/o 3 stolen                      -> REFUSED
    rmdir 3 hsd                                  -> err NOTDIR
    # a hard link to the planted symlink is just another such symlink
    link 3 hs 3 hl                               -> ok
    open 3 hl                                    -> REFUSED
    # renaming onto the link replaces the link, not the file it points to
    rename 3 a 3 hs                              -> ok
    open 3 hs                                    -> ok 5
    read 5 10                                    -> ok "A"
"""


@pytest.mark.parametrize("host_kind", ["host", "wasmtime"])
def test_symlinks_planted_on_the_host(host_kind, tmp_path):
    # Only host-directory mounts can have links made behind the guest's back; "wasmtime" is the
    # reference, "host" vfswasi's host-directory backend.
    world = make_world(host_kind, tmp_path)
    root = world.sandbox.host_dir
    os.symlink(tmp_path / "outside.txt", root / "hs")
    os.symlink(tmp_path / "outside_dir", root / "hsd")
    os.symlink("../outside.txt", root / "rel")
    os.symlink("../outside_dir", root / "reld")
    os.symlink("../../outside.txt", root / "d" / "deep")
    run_scenario(world, HOST_PLANTED)
    tree = world.sandbox.tree()
    assert tree["hs"] == b"A" and "a" not in tree
    assert tree["hl"] == Symlink(str(tmp_path / "outside.txt"))
    assert (tmp_path / "outside.txt").read_bytes() == b"OUTSIDE"


# --- an ordinary program ----------------------------------------------------------------------

def test_libc_program_cannot_escape(oracle_kind, tmp_path):
    world = make_world(oracle_kind, tmp_path, links=escaping_links)
    before_sandbox, before_outside = world.sandbox.tree(), world.outside()
    argv = """
        cat /sandbox/../outside.txt ;
        cat /sandbox/up /sandbox/abs /sandbox/d/upup ;
        write /sandbox/updir/evil x ;
        cp /sandbox/a /sandbox/../evil ;
        mv /sandbox/a /sandbox/../evil ;
        mkdir -p /sandbox/dotdot/evil ;
        cd /sandbox/d ;
        cat ../../outside.txt ;
        cat /etc/passwd ;
        ls -R /sandbox
    """.split()
    res = run_guest(oracle_kind, guest("tree"), ["tree", *argv], {"/sandbox": world.sandbox})
    lines = res.stdout.decode().splitlines()
    assert res.exit_code == 1
    refused = [
        "cat: /sandbox/../outside.txt", "cat: /sandbox/up", "cat: /sandbox/abs",
        "cat: /sandbox/d/upup", "write: /sandbox/updir/evil", "cp: /sandbox/../evil",
        "mv: /sandbox/a", "mkdir: /sandbox/dotdot/evil", "cat: ../../outside.txt",
    ]
    for line, prefix in zip(lines, refused, strict=False):
        assert re.fullmatch(re.escape(prefix) + ": " + REFUSED_MSG, line), line
    # no preopen matches /etc: wasi-libc itself refuses
    assert lines[len(refused)] == "cat: /etc/passwd: Capabilities insufficient"
    # the listing shows the links without following them
    listing = lines[len(refused) + 1:]
    assert "l up -> ../outside.txt" in listing and "l dotdot -> .." in listing
    assert "f a 1" in listing and not any("outside_dir" in x and x[0] != "l" for x in listing)
    assert world.sandbox.tree() == before_sandbox
    assert world.outside() == before_outside
