"""wasi_unstable (preview0): the three ABI differences, checked byte for byte with WAT guests
(tests/wat/unstable_*.wat), a module importing both ABIs, and the version choice of `run()`
and the CLI.

| | wasi_unstable | wasi_snapshot_preview1 |
| whence | CUR=0 END=1 SET=2 | SET=0 CUR=1 END=2 |
| filestat | 56 bytes, nlink u32@20, size@24 | 64 bytes, nlink u64@24, size@32 |
| subscription | 56 bytes, clock: identifier@16 id@24 timeout@32 precision@40 flags@48 | 48 bytes |

The offsets are written out here from the preview0 witx, not taken from `vfswasi`.
wasmtime-py's own WASI has no wasi_unstable, so there is no oracle: these run on every
vfswasi backend.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wasmtime
from conftest import WAT, guest, make_mount, run_guest
from test_wat_abi import GUARD, PRELUDE, SETUP_FAILED, SIGNATURES, TREE, Blob, le

import vfswasi
from vfswasi import WASI

SUCCESS, BADF, INVAL = 0, 8, 28
FT_DIRECTORY, FT_REGULAR_FILE = 3, 4
#: wasi_unstable has every preview1 function but sock_accept
UNSTABLE_SIGNATURES = {k: v for k, v in SIGNATURES.items() if k != "sock_accept"}


def build(name: str, module: str = "wasi_unstable") -> bytes:
    """tests/wat/NAME.wat with the prelude, every `$name` it calls imported from `module`."""
    source = (WAT / f"{name}.wat").read_text()
    signatures = UNSTABLE_SIGNATURES if module == "wasi_unstable" else SIGNATURES
    names = sorted(set(re.findall(r"\$([a-z_0-9]+)", PRELUDE + source)) & signatures.keys())
    imports = "".join(f'(import "{module}" "{n}" (func ${n} {signatures[n]}))\n' for n in names)
    return bytes(wasmtime.wat2wasm(source.replace(";; @prelude", imports + PRELUDE, 1)))


def run_wat(kind: str, tmp_path: Path, name: str, module: str = "wasi_unstable") -> Blob:
    mount = make_mount(kind, tmp_path, TREE)
    res = run_guest(kind, build(name, module), ["guest"], {"/sandbox": mount})
    assert res.exit_code != SETUP_FAILED, f"guest setup failed: {res.stdout[-4:]!r}"
    assert res.exit_code == 0, res
    return Blob(res.stdout)


def guarded(out: Blob, size: int) -> bytes:
    chunk = out.take(size + 16)
    assert chunk[:8] == GUARD * 8 and chunk[-8:] == GUARD * 8, chunk.hex()
    return chunk[8:-8]


def parse_filestat_unstable(b: bytes) -> dict[str, int]:
    assert len(b) == 56
    return {
        "dev": le(b, 0, 8), "ino": le(b, 8, 8), "filetype": b[16], "pad": le(b, 17, 3),
        "nlink": le(b, 20, 4), "size": le(b, 24, 8), "atim": le(b, 32, 8), "mtim": le(b, 40, 8),
        "ctim": le(b, 48, 8),
    }


# --- the three differences -------------------------------------------------------------------


def test_filestat_is_56_bytes_with_a_u32_nlink(kind, tmp_path):
    out = run_wat(kind, tmp_path, "unstable_filestat")
    assert out.u32() == 1000  # nwritten
    assert out.u32() == SUCCESS  # path_link
    stats = [(out.u32(), guarded(out, 56)) for _ in range(3)]
    end_errno, end = out.u32(), out.take(64)
    out.end()
    assert [errno for errno, _ in stats] == [SUCCESS] * 3
    fd_stat, link_stat, dir_stat = (parse_filestat_unstable(b) for _, b in stats)
    assert fd_stat["filetype"] == FT_REGULAR_FILE
    assert fd_stat["pad"] == 0xAAAAAA  # padding after filetype left alone
    assert fd_stat["nlink"] == 2
    assert fd_stat["size"] == 1000
    now = time.time_ns()
    for t in ("atim", "mtim", "ctim"):
        assert abs(fd_stat[t] - now) < 60 * 10**9, (t, fd_stat[t])
    assert {k: link_stat[k] for k in ("dev", "ino", "nlink", "size")} == {
        k: fd_stat[k] for k in ("dev", "ino", "nlink", "size")}
    assert dir_stat["filetype"] == FT_DIRECTORY
    # The last 56 bytes of memory hold it: the 64-byte preview1 layout would be EFAULT.
    assert end_errno == SUCCESS
    assert end[:8] == GUARD * 8
    assert parse_filestat_unstable(end[8:])["size"] == 1000


def test_seek_uses_the_unstable_whence_order(kind, tmp_path):
    out = run_wat(kind, tmp_path, "unstable_seek")
    results = [(out.u32(), out.take(8)) for _ in range(6)]
    tell = (out.u32(), out.u64())
    read = (out.u32(), out.u32())
    out.end()
    ok = [(SUCCESS, n.to_bytes(8, "little")) for n in (100, 110, 1230, 1230)]
    assert results == [*ok, (INVAL, GUARD * 8), (INVAL, GUARD * 8)]
    assert tell == (SUCCESS, 1230)
    assert read == (SUCCESS, 4)


def parse_events(room: bytes) -> list[tuple[int, int, int, int, int]]:
    """(userdata, error, type, nbytes, flags) of the events in a guarded 64-byte room."""
    events = []
    for at in (0, 32):
        ev = room[at : at + 32]
        if ev != GUARD * 32:
            events.append((le(ev, 0, 8), le(ev, 8, 2), ev[10], le(ev, 16, 8), le(ev, 24, 2)))
    return events


def test_subscriptions_are_56_bytes_with_a_clock_identifier(kind, tmp_path):
    out = run_wat(kind, tmp_path, "unstable_poll")
    polls = [(out.u32(), out.u32(), parse_events(guarded(out, 64))) for _ in range(3)]
    out.end()
    assert polls == [
        (SUCCESS, 1, [(0x1122334455667788, SUCCESS, 0, 0, 0)]),  # clock id read at +24
        (SUCCESS, 1, [(0xB1, SUCCESS, 2, 0, 0)]),  # the second subscription starts at +56
        (SUCCESS, 1, [(0xC2, SUCCESS, 0, 0, 0)]),  # ABSTIME flag read at +48
    ]


def test_unstable_has_no_sock_accept():
    imports = WASI(version="unstable").get_import_object(wasmtime.Store(vfswasi.modules.default_engine()))
    assert list(imports) == ["wasi_unstable"]
    assert set(imports["wasi_unstable"]) == UNSTABLE_SIGNATURES.keys()


# --- both ABIs -----------------------------------------------------------------------------------


def test_a_module_importing_both_gets_both_on_one_fd_table(kind, tmp_path):
    out = run_wat(kind, tmp_path, "unstable_mixed", module="wasi_snapshot_preview1")
    assert (out.u32(), out.u64()) == (SUCCESS, 100)  # unstable SET
    assert (out.u32(), out.u64()) == (SUCCESS, 110)  # preview1 CUR, same fd, same offset
    assert out.u32() == SUCCESS
    p1 = guarded(out, 64)
    assert out.u32() == SUCCESS
    p0 = guarded(out, 56)
    assert (le(p1, 24, 8), le(p1, 32, 8)) == (1, 1234)  # preview1: nlink u64@24, size@32
    assert (le(p0, 20, 4), le(p0, 24, 8)) == (1, 1234)  # unstable: nlink u32@20, size@24
    assert out.u32() == SUCCESS  # closed through wasi_unstable...
    assert out.u32() == BADF  # ...is closed for preview1 too
    out.end()


def test_explicit_versions_and_the_import_object():
    store = wasmtime.Store(vfswasi.modules.default_engine())
    wasi = WASI(version=["unstable", "preview1"])
    assert wasi.version == "unstable" and wasi.module_names == ["wasi_unstable",
                                                                "wasi_snapshot_preview1"]
    imports = wasi.get_import_object(store)
    assert list(imports) == ["wasi_unstable", "wasi_snapshot_preview1"]
    assert wasi.wasi_import is imports["wasi_unstable"]
    assert "sock_accept" in imports["wasi_snapshot_preview1"]
    with pytest.raises(ValueError, match="version"):
        WASI(version=[])


def test_a_preview1_guest_and_an_unstable_guest_in_one_process(tmp_path):
    mount = make_mount("memory", tmp_path, TREE)
    unstable = build("unstable_seek")
    for _ in range(2):  # interleaved, in one engine
        res = vfswasi.run(guest("sys"), args=["sys", "exit", "7"])
        assert res.exit_code == 7
        res = vfswasi.run(unstable, args=["g"], preopens={"/sandbox": mount.preopen})
        assert res.exit_code == 0 and le(res.stdout, 4, 8) == 100


def test_forcing_one_version_on_a_mixed_module_names_the_missing_import(tmp_path):
    mixed = build("unstable_mixed", module="wasi_snapshot_preview1")
    with pytest.raises(wasmtime.WasmtimeError) as info:
        vfswasi.run(mixed, version="preview1")
    assert str(info.value).splitlines()[0].startswith("unknown import: `wasi_unstable::")


def test_cli_picks_the_version_from_the_imports(tmp_path):
    for name, module in (("unstable_seek", "wasi_unstable"),
                         ("unstable_mixed", "wasi_snapshot_preview1")):
        wasm = tmp_path / f"{name}.wasm"
        wasm.write_bytes(build(name, module))
        host = tmp_path / name
        host.mkdir()
        (host / "known.txt").write_bytes(b"x" * 1234)
        env = {**os.environ, "VFSWASI_CACHE_DIR": str(tmp_path / "cache")}
        res = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--dir", f"{host}::/sandbox",
                              str(wasm)], capture_output=True, timeout=60, env=env)
        assert res.returncode == 0, res.stderr
        assert le(res.stdout, 4, 8) == 100
    res = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--version", "preview1",
                          str(tmp_path / "unstable_seek.wasm")], capture_output=True, timeout=60,
                         env=env)
    assert res.returncode == 1
    assert res.stderr.decode().splitlines() == [
        f"vfswasi: cannot instantiate {tmp_path / 'unstable_seek.wasm'}: unknown import: "
        "`wasi_unstable::fd_read` has not been defined"]
