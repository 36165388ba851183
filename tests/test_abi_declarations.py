"""The typed syscall declarations and the records of `vfswasi.abi`: layouts checked against
the witx (offsets written out here, not taken from vfswasi), every wasm signature against
test_wat_abi's independent table, declarations against their bodies, the result writer, and
the tracer deriving from the declarations (renaming a parameter changes nothing; changing
its type changes the trace)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import wasmtime
from test_trace import EXPECTED, traced_run, without_durations
from test_wat_abi import FAULT, SIGNATURES, SUCCESS, module, run_wat

import vfswasi
from vfswasi import abi
from vfswasi.context import Context
from vfswasi.guestmem import IOV_MAX, GuestMemory
from vfswasi.syscalls import SYSCALLS, bind
from vfswasi.syscalls._registry import Spec, syscall
from vfswasi.vfs import Stat

# --- records: (field, offset) from the witx ------------------------------------------------

WITX = {
    "iovec": (abi.IOVEC, 8, [("buf", 0), ("buf_len", 4)]),
    "fdstat": (abi.FDSTAT, 24, [("fs_filetype", 0), ("fs_flags", 2), ("fs_rights_base", 8),
                                ("fs_rights_inheriting", 16)]),
    "filestat": (abi.FILESTAT, 64, [("dev", 0), ("ino", 8), ("filetype", 16), ("nlink", 24),
                                    ("size", 32), ("atim", 40), ("mtim", 48), ("ctim", 56)]),
    "filestat (unstable)": (abi.FILESTAT_UNSTABLE, 56, [
        ("dev", 0), ("ino", 8), ("filetype", 16), ("nlink", 20), ("size", 24), ("atim", 32),
        ("mtim", 40), ("ctim", 48)]),
    "dirent": (abi.DIRENT, 24, [("d_next", 0), ("d_ino", 8), ("d_namlen", 16), ("d_type", 20)]),
    "prestat": (abi.PRESTAT, 8, [("tag", 0), ("dir.pr_name_len", 4)]),
    "event": (abi.EVENT, 32, [("userdata", 0), ("error", 8), ("type", 10),
                              ("fd_readwrite.nbytes", 16), ("fd_readwrite.flags", 24)]),
    "subscription_clock": (abi.SUBSCRIPTION_CLOCK, 32, [
        ("id", 0), ("timeout", 8), ("precision", 16), ("flags", 24)]),
    "subscription_clock (unstable)": (abi.SUBSCRIPTION_CLOCK_UNSTABLE, 40, [
        ("identifier", 0), ("id", 8), ("timeout", 16), ("precision", 24), ("flags", 32)]),
    "subscription": (abi.SUBSCRIPTION, 48, [("userdata", 0), ("u.tag", 8)]),
    "subscription (unstable)": (abi.SUBSCRIPTION_UNSTABLE, 56, [("userdata", 0), ("u.tag", 8)]),
}


@pytest.mark.parametrize("name", list(WITX))
def test_record_layout_is_the_witx_one(name):
    record, size, fields = WITX[name]
    assert record.size == size
    assert [(path, offset) for path, offset, _ in record.flat] == fields


def test_union_payloads_start_at_16():
    for sub in (abi.SUBSCRIPTION, abi.SUBSCRIPTION_UNSTABLE):
        assert sub.offset_of("u.clock") == sub.offset_of("u.fd_read") == 16


def test_record_packs_fields_and_leaves_padding():
    buf = bytearray(b"\xaa" * 80)
    abi.FILESTAT.pack_into(buf, 8, 1, 2, 4, 5, 6, 7, 8, 9)
    assert buf[:8] == b"\xaa" * 8 and buf[72:] == b"\xaa" * 8
    assert buf[8 + 17 : 8 + 24] == b"\xaa" * 7  # padding after filetype, untouched
    assert abi.FILESTAT.unpack_from(buf, 8) == {
        "dev": 1, "ino": 2, "filetype": 4, "nlink": 5, "size": 6, "atim": 7, "mtim": 8, "ctim": 9}


def test_record_out_of_range_writes_nothing():
    buf = bytearray(b"\xaa" * 70)
    with pytest.raises(struct.error):
        abi.FILESTAT.pack_into(buf, 8, *range(8))
    assert buf == bytearray(b"\xaa" * 70)


def test_dirent_header_zeroes_its_padding():
    buf = bytearray(b"\xaa" * 24)
    abi.DIRENT.pack_into(buf, 0, 1, 2, 3, 4)
    assert buf[21:] == b"\0\0\0"


def test_stat_fields_are_filestat_fields():
    # bodies return a Stat and the writer packs it positionally: the order must be the ABI's
    assert list(Stat._fields) == [path for path, _, _ in abi.FILESTAT.flat]


# --- declarations ------------------------------------------------------------------------------


def test_every_signature_matches_the_witx():
    for name, spec in SYSCALLS.items():
        params = " ".join("i64" if c == "I" else "i32" for c in spec.sig)
        text = (f"(param {params}) " if params else "") + (
            "(result i32)" if spec.returns_errno else "")
        assert text.strip() == SIGNATURES[name], name
    assert SYSCALLS.keys() == SIGNATURES.keys()


def test_a_body_not_matching_its_declaration_is_refused():
    def fd_thing(ctx: Context, fd: int, buf_ptr: int, buf_len: int) -> None:
        pass

    with pytest.raises(TypeError, match="lowers to"):
        Spec("fd_thing", {"fd": abi.Fd, "buf": abi.OutBytes}, fd_thing)


def test_a_count_naming_no_parameter_is_refused():
    def poll(ctx: Context, subs: int, n: int) -> None:
        pass

    with pytest.raises(TypeError, match="counted by"):
        Spec("poll", {"subs": abi.Array(abi.SUBSCRIPTION, "nsubs"), "n": abi.Size}, poll)


def _ctx(size: int = 256) -> Context:
    ctx = Context("preview1", [b"prog\0"], [])
    ctx.mem.view = memoryview(bytearray(size))
    return ctx


def test_results_are_written_after_the_body_returns(monkeypatch):
    calls: list[tuple[int, ...]] = []

    def two_results(ctx: Context, fd: int, first: int, second: int) -> tuple[int, int]:
        calls.append((fd, first, second))
        assert bytes(ctx.mem.view[first : first + 8]) == bytes(8)  # nothing written yet
        return 7, 2**40

    spec = Spec("two_results", {"fd": abi.Fd, "first": abi.Out(abi.SIZE),
                                "second": abi.Out(abi.FILESIZE)}, two_results)
    monkeypatch.setitem(SYSCALLS, "two_results", spec)
    ctx = _ctx()
    sig, fn, returns = bind(ctx)["two_results"]
    assert (sig, returns) == ("iii", True)
    fn(3, 16, 100)
    assert calls == [(3, 16, 100)]
    assert struct.unpack_from("<I", ctx.mem.view, 16)[0] == 7
    assert struct.unpack_from("<Q", ctx.mem.view, 100)[0] == 2**40
    with pytest.raises(struct.error):  # the dispatcher's EFAULT
        fn(3, 32, 250)


def test_an_fd_result_that_cannot_be_written_is_closed(kind, tmp_path):
    # path_open with the result pointer straddling the end: EFAULT, and the fd it opened is
    # free again (the next open gets the same number)
    main = """
      (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 0x8000) (i32.const 9)
        (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
        (i32.sub (call $memend) (i32.const 3))))
      (call $emit (call $path_open (i32.const 3) (i32.const 0) (i32.const 0x8000) (i32.const 9)
        (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0x8100)))
      (call $emit (i32.load (i32.const 0x8100)))"""
    out = run_wat(kind, tmp_path, module(main, data='(data (i32.const 0x8000) "known.txt")')).out
    assert (out.u32(), out.u32(), out.u32()) == (FAULT, SUCCESS, 4)


# --- the tracer derives from the declarations --------------------------------------------------


def _renamed(name: str, monkeypatch: pytest.MonkeyPatch,
             types: dict[str, abi.Param] | None = None) -> None:
    """Replace syscall `name` by one whose parameters are renamed p0, p1, ... (same types
    unless `types` changes some), and whose body calls the real one."""
    from vfswasi import trace
    from vfswasi.syscalls import _registry

    original = SYSCALLS[name]
    new_name = {old: f"p{i}" for i, old in enumerate(original.params)}
    params = {new_name[old]: (abi.Array(ty.elem, new_name[ty.count], out=ty.out)
                              if isinstance(ty, abi.Array) else ty)
              for old, ty in original.params.items()}
    params.update(types or {})
    lowered = [f"p{i}{suffix}" for i, ty in enumerate(original.params.values())
               for suffix, _ in ty.lowered]
    source = (f"def {name}(ctx, {', '.join(lowered)}):\n"
              f"    return original(ctx, {', '.join(lowered)})")
    namespace: dict[str, object] = {}
    exec(source, {"original": original.fn}, namespace)  # noqa: S102
    monkeypatch.setitem(SYSCALLS, name, original)  # put back afterwards
    syscall(**params)(namespace[name])  # type: ignore[arg-type] - registered in its place
    assert SYSCALLS[name] is not original
    monkeypatch.setattr(trace, "_CACHE", {})
    monkeypatch.setattr(_registry, "_FACTORIES", {})


def _traced(tmp_path: Path) -> list[str]:
    return without_durations(traced_run("memory", tmp_path))


@pytest.mark.parametrize("name", ["path_open", "fd_read", "fd_seek", "fd_fdstat_get",
                                  "poll_oneoff", "args_sizes_get"])
def test_renaming_parameters_leaves_the_trace_unchanged(name, monkeypatch, tmp_path):
    _renamed(name, monkeypatch)
    assert list(SYSCALLS[name].params)[0] == "p0"
    assert _traced(tmp_path) == EXPECTED


def test_the_trace_follows_the_declared_types(monkeypatch, tmp_path):
    # fd_read's fd declared as lookupflags: shown as flags (4 is no flag of it, so in hex);
    # fd_seek's offset as an unsigned filesize
    _renamed("fd_read", monkeypatch, {"p0": abi.Lookupflags_})
    _renamed("fd_seek", monkeypatch, {"p1": abi.Filesize})
    expected = [line.replace('fd_read(4, ', 'fd_read(0x4, ')
                .replace("fd_seek(4, -2,", f"fd_seek(4, {2**64 - 2},") for line in EXPECTED]
    assert expected != EXPECTED
    assert _traced(tmp_path) == expected


# --- iovec gathering -----------------------------------------------------------------------


def _mem(data: bytes) -> GuestMemory:
    mem = GuestMemory()
    mem.view = memoryview(bytearray(data))
    return mem


def _iovs(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack("<II", base, length) for base, length in pairs)


def test_iovecs_gathered_as_views():
    raw = bytearray(4096)
    raw[:24] = _iovs((100, 3), (200, 0), (300, 5))
    raw[100:103], raw[300:305] = b"abc", b"hello"
    mem = _mem(bytes(raw))
    assert [bytes(b) for b in mem.iovecs(0, 3)] == [b"abc", b"", b"hello"]
    assert [bytes(b) for b in mem.iovecs(16, 1)] == [b"hello"]
    assert mem.iovecs(0, 0) == []
    views = mem.iovecs(0, 3)
    views[0][:] = b"xyz"  # zero-copy: a view on guest memory
    assert bytes(mem.view[100:103]) == b"xyz"


@pytest.mark.parametrize("pairs", [[(4090, 7)], [(0, 1), (0xFFFFFFFF, 2)],
                                   [(10, 1), (20, 1), (4000, 97)]])
def test_any_iovec_out_of_memory_is_efault(pairs):
    mem = _mem(_iovs(*pairs) + bytes(4096 - 8 * len(pairs)))
    with pytest.raises(abi.WasiError) as e:
        mem.iovecs(0, len(pairs))
    assert e.value.errno == abi.Errno.FAULT


def test_iovec_array_past_the_end_is_efault():
    mem = _mem(bytes(64))
    with pytest.raises(abi.WasiError):
        mem.iovecs(60, 1)
    with pytest.raises(abi.WasiError):
        mem.iovecs(0, 9)


def test_only_iov_max_iovecs_are_used():
    count = IOV_MAX + 5
    raw = bytearray(_iovs(*[(8 * count + i, 1) for i in range(count)]))
    raw += bytes(count)
    bufs = _mem(bytes(raw)).iovecs(0, count)
    assert len(bufs) == IOV_MAX and all(len(b) == 1 for b in bufs)


def test_wasm_call_sees_results(tmp_path):
    # args_sizes_get through a real guest: the writer is what the guest sees
    wat = """(module (import "wasi_snapshot_preview1" "args_sizes_get"
      (func $s (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (call $s (i32.const 0) (i32.const 4)))
        (call $e (i32.add (i32.load (i32.const 0)) (i32.mul (i32.load (i32.const 4))
          (i32.const 10))))))"""
    res = vfswasi.run(wasmtime.wat2wasm(wat), args=["ab", "c"])
    assert res.exit_code == 2 + 10 * 5
