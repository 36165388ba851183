"""stdio edge cases: the filetype each kind of stdio reports (a terminal, pipes, files,
sockets, in-memory streams), poll_oneoff waiting on a stdin pipe without spinning, reads
that return what is there, partial writes, and EPIPE reaching the guest as an errno.

The small WAT guests report through stderr (an io.BytesIO) or their exit code, so that
stdin/stdout are free to be whatever the test connects.
"""

from __future__ import annotations

import fcntl
import io
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import wasmtime

import vfswasi
from vfswasi import WASI
from vfswasi.modules import default_engine

P1 = "wasi_snapshot_preview1"
UNKNOWN, CHARACTER_DEVICE, REGULAR_FILE, SOCKET_STREAM = 0, 2, 4, 6
SUCCESS, AGAIN, PIPE = 0, 6, 64
HANGUP = 1
ENGINE = default_engine()

IMPORTS = f"""
  (import "{P1}" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "{P1}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "{P1}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{P1}" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "{P1}" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 32)
  ;; report: fd_write [p, p+n) to stderr
  (func $report (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))))
"""


def module(body: str) -> wasmtime.Module:
    return wasmtime.Module(ENGINE, f"(module {IMPORTS} {body})")


def u32s(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 4}I", data))


class Pipe:
    """A host pipe whose ends are closed exactly once (a second close could hit an fd
    number reused meanwhile by something else, such as wasmtime)."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self._open = {self.r, self.w}

    def close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            os.close(fd)

    def close_all(self) -> None:
        for fd in list(self._open):
            self.close(fd)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    yield p
    p.close_all()


# --- fdstat filetypes ---------------------------------------------------------------------------

#: exits with filetype(0) | filetype(1) << 4 | filetype(2) << 8
FILETYPES = module("""
  (func (export "_start")
    (drop (call $fd_fdstat_get (i32.const 0) (i32.const 0x100)))
    (drop (call $fd_fdstat_get (i32.const 1) (i32.const 0x120)))
    (drop (call $fd_fdstat_get (i32.const 2) (i32.const 0x140)))
    (call $proc_exit (i32.or (i32.load8_u (i32.const 0x100))
      (i32.or (i32.shl (i32.load8_u (i32.const 0x120)) (i32.const 4))
              (i32.shl (i32.load8_u (i32.const 0x140)) (i32.const 8))))))
""")


def run_wasi(mod: wasmtime.Module, **stdio) -> int:
    with WASI(**stdio) as wasi:
        store = wasmtime.Store(ENGINE)
        return wasi.start(wasi.instantiate(store, mod), store)


def filetypes(**stdio) -> tuple[int, int, int]:
    code = run_wasi(FILETYPES, **stdio)
    return code & 0xF, code >> 4 & 0xF, code >> 8


def test_a_terminal_is_a_character_device():
    master, slave = os.openpty()
    try:
        assert filetypes(stdin=slave, stdout=slave, stderr=slave) == (CHARACTER_DEVICE,) * 3
        # also as a file object over the terminal
        with os.fdopen(os.dup(slave), "wb") as f:
            assert filetypes(stdin=None, stdout=f, stderr=None)[1] == CHARACTER_DEVICE
    finally:
        os.close(master)
        os.close(slave)


def test_pipes_files_sockets_and_memory(pipe, tmp_path):
    r, w = pipe.r, pipe.w
    assert filetypes(stdin=r, stdout=w, stderr=w) == (UNKNOWN, UNKNOWN, UNKNOWN)
    with open(tmp_path / "f", "wb+") as f:
        assert filetypes(stdin=f.fileno(), stdout=f.fileno(), stderr=f) == (REGULAR_FILE,) * 3
    a, b = socket.socketpair()
    with a, b:
        assert filetypes(stdin=a.fileno(), stdout=b.fileno(), stderr=None) == (
            SOCKET_STREAM, SOCKET_STREAM, UNKNOWN)
    # Not terminals: wasi-libc's isatty() says yes to any CHARACTER_DEVICE without seek rights.
    assert filetypes(stdin=b"in", stdout=io.BytesIO(), stderr=lambda _b: None) == (UNKNOWN,) * 3
    assert filetypes(stdin=None, stdout=None, stderr=None) == (UNKNOWN,) * 3
    with open(os.devnull, "rb") as null:
        assert filetypes(stdin=null.fileno(), stdout=None, stderr=None)[0] == UNKNOWN


# --- poll_oneoff on a stdin pipe: it waits in the kernel ------------------------------------------

#: poll fd_read on stdin; read up to 64 bytes; poll again (the writer has gone by then).
#: stderr: poll errno, nevents, event (32 bytes); read errno, nread, the data (64 bytes);
#: second poll errno, nevents, event.
POLL_STDIN = module("""
  (func $poll
    (i64.store (i32.const 0x200) (i64.const 0x5eed))
    (i32.store8 (i32.const 0x208) (i32.const 1))
    (i32.store (i32.const 0x210) (i32.const 0))
    (i32.store (i32.const 0x400) (call $poll_oneoff (i32.const 0x200) (i32.const 0x300)
                                                   (i32.const 1) (i32.const 0x404)))
    (call $report (i32.const 0x400) (i32.const 8))
    (call $report (i32.const 0x300) (i32.const 32)))
  (func (export "_start")
    (call $poll)
    (i32.store (i32.const 0x20) (i32.const 0x500))
    (i32.store (i32.const 0x24) (i32.const 64))
    (i32.store (i32.const 0x28) (call $fd_read (i32.const 0) (i32.const 0x20) (i32.const 1)
                                               (i32.const 0x2c)))
    (call $report (i32.const 0x28) (i32.const 8))
    (call $report (i32.const 0x500) (i32.const 64))
    (call $poll))
""")


def event(data: bytes) -> tuple[int, int, int, int, int]:
    userdata, error, etype, nbytes, flags = struct.unpack_from("<QHB5xQH", data)
    return userdata, error, etype, nbytes, flags


def _count_polls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the poll(2) calls of every `select.poll()` object made from now on."""
    import select

    calls = [0]
    real = select.poll

    class Counting:
        def __init__(self) -> None:
            self._poller = real()

        def register(self, *args: int) -> None:
            self._poller.register(*args)

        def poll(self, *args: float | None) -> list[tuple[int, int]]:
            calls[0] += 1
            return self._poller.poll(*args)

    monkeypatch.setattr(select, "poll", Counting)
    return calls


def test_poll_on_a_stdin_pipe_waits_without_spinning(pipe, monkeypatch):
    r, w = pipe.r, pipe.w
    err = io.BytesIO()

    def late_writer() -> None:
        time.sleep(0.2)
        os.write(w, b"late data")
        pipe.close(w)

    polls = _count_polls(monkeypatch)
    with WASI(stdin=r, stdout=None, stderr=err) as wasi:
        store = wasmtime.Store(ENGINE)
        instance = wasi.instantiate(store, POLL_STDIN)
        writer = threading.Thread(target=late_writer)
        wall = time.monotonic()
        writer.start()
        assert wasi.start(instance, store) == 0
        wall = time.monotonic() - wall
        writer.join()
    out = err.getvalue()
    assert u32s(out[:8]) == [SUCCESS, 1]
    assert event(out[8:40]) == (0x5eed, SUCCESS, 1, 9, 0)  # nbytes: what the pipe holds
    assert u32s(out[40:48]) == [SUCCESS, 9]
    assert out[48:57] == b"late data"
    assert u32s(out[112:120]) == [SUCCESS, 1]
    assert event(out[120:152]) == (0x5eed, SUCCESS, 1, 0, HANGUP)  # the writer has gone
    assert wall >= 0.2  # it did wait for the data...
    # ...asleep in poll(2): a few calls of at most 50 ms each (a stop is checked between
    # them), where a spinning wait would make thousands
    assert 0 < polls[0] < 50, f"poll_oneoff spun: {polls[0]} poll(2) calls in {wall:.3f} s"


# --- reads return what is there; writes may be partial ----------------------------------------------

#: one fd_read of stdin into two iovecs (4 + 16 bytes), its result to stdout (a callable),
#: then the data to stderr
READ_TWO_IOVECS = module("""
  (func (export "_start")
    (i32.store (i32.const 0x20) (i32.const 0x100))
    (i32.store (i32.const 0x24) (i32.const 4))
    (i32.store (i32.const 0x28) (i32.const 0x104))
    (i32.store (i32.const 0x2c) (i32.const 16))
    (i32.store (i32.const 0x30) (call $fd_read (i32.const 0) (i32.const 0x20) (i32.const 2)
                                               (i32.const 0x34)))
    (i32.store (i32.const 0x40) (i32.const 0x30))
    (i32.store (i32.const 0x44) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0x40) (i32.const 1) (i32.const 0x48)))
    (call $report (i32.const 0x100) (i32.const 20)))
""")


def test_a_read_with_two_buffers_returns_what_an_interactive_stdin_has(pipe):
    # The first buffer is filled exactly; the read must return rather than wait for more.
    r, w = pipe.r, pipe.w
    os.write(w, b"abcd")
    result: list[bytes] = []
    answered = threading.Event()

    def stdout(data: bytes) -> None:
        result.append(data)
        answered.set()

    def more_later() -> None:
        answered.wait(10)  # bounded: a host that blocks gets "MORE" after 10 s and fails
        os.write(w, b"MORE")
        pipe.close(w)

    writer = threading.Thread(target=more_later)
    writer.start()
    try:
        res = vfswasi.run(READ_TWO_IOVECS, stdin=r, stdout=stdout)
    finally:
        writer.join()
    assert u32s(result[0]) == [SUCCESS, 4]
    assert res.stderr[:4] == b"abcd"


#: fill memory from 0x10000 with 0x5A; write 1 MiB of it to stdout, twice; stderr gets
#: errno, nwritten for each
WRITE_BIG = module("""
  (func $write
    (i32.store (i32.const 0x20) (i32.const 0x10000))
    (i32.store (i32.const 0x24) (i32.const 0x100000))
    (i32.store (i32.const 0x30) (call $fd_write (i32.const 1) (i32.const 0x20) (i32.const 1)
                                                (i32.const 0x34)))
    (call $report (i32.const 0x30) (i32.const 8)))
  (func (export "_start")
    (memory.fill (i32.const 0x10000) (i32.const 0x5A) (i32.const 0x100000))
    (call $write)
    (call $write))
""")


def test_a_full_nonblocking_pipe_gives_a_partial_write_then_eagain(pipe):
    r, w = pipe.r, pipe.w
    os.set_blocking(w, False)
    capacity = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
    res = vfswasi.run(WRITE_BIG, stdout=w)
    # then EAGAIN, with nwritten untouched (results are only written on success)
    assert u32s(res.stderr) == [SUCCESS, capacity, AGAIN, capacity]
    written = b""
    os.set_blocking(r, False)
    while True:
        try:
            chunk = os.read(r, 1 << 20)
        except BlockingIOError:
            break
        written += chunk
    assert written == b"\x5a" * capacity


#: write 3 bytes to stdout; stderr gets errno, nwritten
WRITE_SMALL = module("""
  (data (i32.const 0x100) "abc")
  (func (export "_start")
    (i32.store (i32.const 0x20) (i32.const 0x100))
    (i32.store (i32.const 0x24) (i32.const 3))
    (i32.store (i32.const 0x30) (call $fd_write (i32.const 1) (i32.const 0x20) (i32.const 1)
                                                (i32.const 0x34)))
    (call $report (i32.const 0x30) (i32.const 8)))
""")


def test_a_closed_reader_is_epipe_for_the_guest(pipe):
    w = pipe.w
    pipe.close(pipe.r)
    assert u32s(vfswasi.run(WRITE_SMALL, stdout=w).stderr)[0] == PIPE  # a host fd
    with os.fdopen(os.dup(w), "wb", buffering=0) as f:
        assert u32s(vfswasi.run(WRITE_SMALL, stdout=f).stderr)[0] == PIPE  # a file object

    def gone(_data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    assert u32s(vfswasi.run(WRITE_SMALL, stdout=gone).stderr)[0] == PIPE  # a callable


def test_a_buffered_file_whose_reader_closed_does_not_raise_at_exit(pipe):
    # The guest's write lands in Python's buffer; flushing it at the end meets EPIPE, which
    # nobody is left to hear: the run still returns normally.
    pipe.close(pipe.r)
    f = os.fdopen(os.dup(pipe.w), "wb")
    res = vfswasi.run(WRITE_SMALL, stdout=f)
    assert res.exit_code == 0 and u32s(res.stderr) == [SUCCESS, 3]
    with pytest.raises(BrokenPipeError):  # the bytes are still in *your* buffer
        f.close()


def test_stdin_none_is_empty_and_stdout_none_swallows():
    out: list[bytes] = []
    run_wasi(READ_TWO_IOVECS, stdin=None, stdout=out.append, stderr=None)
    assert u32s(out[0]) == [SUCCESS, 0]
    err = io.BytesIO()
    run_wasi(WRITE_SMALL, stdout=None, stderr=err)
    assert u32s(err.getvalue()) == [SUCCESS, 3]


def test_a_host_file_as_stdout_is_written_at_its_position(tmp_path):
    path = tmp_path / "out"
    with open(path, "wb") as f:
        f.write(b"head:")
        f.flush()
        vfswasi.run(WRITE_SMALL, stdout=f.fileno())
    assert path.read_bytes() == b"head:abc"
