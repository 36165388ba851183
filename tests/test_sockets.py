"""Preopened sockets: a C echo server guest (tests/guests/src/echo_server.c) serving real
Python clients on loopback, through `WASI(sockets=[...])` and `vfswasi run --tcplisten`.

The guest runs on the test's thread; clients run on another and follow the guest's
progress through its stdout, a callable sink that sees each line as it is written. Every
wait is bounded: the guest polls with a 10 s timeout (then exits 2), clients use socket
timeouts, threads are joined with a timeout. Nothing is timed.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import guest, make_mount

import vfswasi
from vfswasi import WASI

ECHO = guest("echo_server")
TIMEOUT = 10.0
# wasi-libc's poll() flags
POLLRDNORM, POLLHUP = 0x1, 0x2000


class GuestOutput:
    """The guest's stdout as it is written, for clients to wait on."""

    def __init__(self) -> None:
        self.data = b""
        self._changed = threading.Condition()

    def __call__(self, chunk: bytes) -> None:
        with self._changed:
            self.data += chunk
            self._changed.notify_all()

    def lines(self) -> list[str]:
        return self.data.decode().splitlines()

    def wait_for(self, line: str) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: line in self.lines(), TIMEOUT):
                raise AssertionError(f"the guest never printed {line!r}: {self.lines()}")


class Client(threading.Thread):
    """Runs `body` on a thread; `finish()` joins it and re-raises what it raised."""

    def __init__(self, body: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.body = body
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self.error = e

    def finish(self) -> None:
        self.join(TIMEOUT * 3)
        assert not self.is_alive(), "client thread did not finish"
        if self.error is not None:
            raise self.error


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def read_to_eof(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def echo_roundtrip(port: int, payload: bytes) -> bytes:
    with connect(port) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        return read_to_eof(conn)


def serve(listener: socket.socket, client: Callable[[int], None], args: list[str],
          **kwargs) -> tuple[vfswasi.RunResult, list[str]]:
    out = GuestOutput()
    port = listener.getsockname()[1]
    thread = Client(lambda: client(port))
    thread.start()
    try:
        res = vfswasi.run(ECHO, args=["echo_server", *args], sockets=[listener], stdout=out,
                          **kwargs)
    finally:
        thread.finish()
    return res, out.lines()


# --- an echo server, many clients --------------------------------------------------------------


def payload(i: int) -> bytes:
    return bytes((i * 7 + j) % 251 for j in range(i * 3001))


def test_echo_server_serves_clients_in_sequence(listener):
    clients = 12
    echoed: dict[int, bytes] = {}

    def run_clients(port: int) -> None:
        for i in range(1, clients + 1):
            echoed[i] = echo_roundtrip(port, payload(i))

    res, lines = serve(listener, run_clients, ["serve", str(clients)])
    assert res.exit_code == 0, lines
    assert echoed == {i: payload(i) for i in range(1, clients + 1)}
    assert [x for x in lines if x.startswith("client")] == [
        f"client {i}: {len(payload(i))} bytes" for i in range(1, clients + 1)]
    assert lines[0] == "listener fd 3" and lines[-1] == f"served {clients}"


def test_a_client_breaking_off_mid_stream_does_not_stop_the_server(listener):
    second: list[bytes] = []

    def run_clients(port: int) -> None:
        conn = connect(port)
        conn.sendall(b"x" * 32768)
        assert conn.recv(1)  # the echo has begun
        # Close with a reset (SO_LINGER 0), with echoed bytes left unread.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        second.append(echo_roundtrip(port, b"still serving"))

    res, lines = serve(listener, run_clients, ["serve", "2"])
    assert res.exit_code == 0, lines
    assert re.fullmatch(r"client 1: (recv|send) error (ECONNRESET|EPIPE)", lines[2]), lines
    assert lines[3:] == ["waiting 2", "client 2: 13 bytes", "served 2"]
    assert second == [b"still serving"]


# --- nonblocking mode, peek, waitall, shutdown, poll readiness ----------------------------------------


def test_dialog_nonblocking_peek_waitall_shutdown_and_poll(listener):
    out = GuestOutput()
    got: list[bytes] = []

    def client(port: int) -> None:
        out.wait_for("waiting")
        with connect(port) as conn:
            out.wait_for("send")
            conn.sendall(b"pi")
            out.wait_for("send rest")
            conn.sendall(b"ng!")
            got.append(read_to_eof(conn))  # "pong", then EOF from the guest's SHUT_WR

    thread = Client(lambda: client(listener.getsockname()[1]))
    thread.start()
    try:
        res = vfswasi.run(ECHO, args=["echo_server", "dialog"], sockets=[listener], stdout=out)
    finally:
        thread.finish()
    assert res.exit_code == 0, out.lines()
    assert out.lines() == [
        "accept -1 errno EAGAIN",  # a nonblocking listener with nobody waiting
        "waiting",
        f"poll listener revents {POLLRDNORM}",
        "conn errno 0 filetype 6 flags 4",  # accept4(SOCK_NONBLOCK): SOCKET_STREAM, NONBLOCK
        "read -1 errno EAGAIN",  # fd_read on a nonblocking socket with nothing sent yet
        "send",
        f"poll conn revents {POLLRDNORM}",
        "peek 2 pi",
        "send rest",
        "waitall 5 ping!",  # MSG_WAITALL waits for both of the client's sends
        "wrote 4",
        "shutdown 0",
        f"poll hangup revents {POLLRDNORM | POLLHUP}",  # the client read EOF and closed
        "eof 0",
        "send_after_shutdown -1 errno EPIPE",
        "close 0",
    ]
    assert got == [b"pong"]


def test_listener_facts(listener):
    res = vfswasi.run(ECHO, args=["echo_server", "info"], sockets=[listener])
    assert res.exit_code == 0
    assert res.stdout.decode().splitlines() == [
        "fdstat errno 0 filetype 6 flags 0 accept_right 1",
        "prestat errno 8",  # EBADF: wasi-libc's preopen scan stops here, as it must
        "filestat errno 0 filetype 6",
        "recv_listener errno 53",  # ENOTCONN, from the host socket
        "recv_badflags errno 58",  # ENOTSUP for riflags beyond PEEK|WAITALL (as wasmtime)
        "send_badflags errno 58",
        "shutdown_how0 errno 28",
        "accept_badflags errno 28",
        "set_append errno 28",  # only NONBLOCK means something on a socket
        "seek errno 70",
        "nonblocking errno 0 flags 4",
        "accept -1 errno EAGAIN",
        "blocking errno 0 flags 0",
        "close errno 0",
        "fdstat_after_close errno 8",
    ]
    # The guest closed its duplicate; the caller's socket still listens.
    with connect(listener.getsockname()[1]):
        conn, _ = listener.accept()
        conn.close()


# --- fd numbering: sockets follow the preopened directories ------------------------------------------------


def test_sockets_come_after_the_preopens_so_libc_finds_both(kind, tmp_path, listener):
    mount = make_mount(kind, tmp_path, {"motd.txt": b"hello from the mount\n"})
    echoed: list[bytes] = []

    def client(port: int) -> None:
        echoed.append(echo_roundtrip(port, b"ping"))

    res, lines = serve(listener, client, ["serve", "1", "/data/motd.txt"],
                       preopens={"/data": mount.preopen})
    assert res.exit_code == 0, lines
    assert lines[:2] == ["listener fd 4", "file: hello from the mount"]
    assert echoed == [b"ping"]


def test_prestat_scan_stops_at_the_first_socket(tmp_path):
    socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    try:
        res = vfswasi.run(guest("sys"), args=["sys", "prestat"],
                          preopens={"/a": str(tmp_path), "/b": str(tmp_path)}, sockets=socks)
    finally:
        for s in socks:
            s.close()
    lines = res.stdout.decode().splitlines()
    assert [x for x in lines if "short_buffer" not in x] == [
        "prestat 3 tag 0 len 2 errno 0 guard 1 name /a",
        "prestat 4 tag 0 len 2 errno 0 guard 1 name /b",
        "prestat 5 errno 8",
    ]


def test_sock_calls_still_say_enotsock_on_other_fds(tmp_path):
    (tmp_path / "data.txt").write_bytes(b"x")
    with socket.create_server(("127.0.0.1", 0)) as sock:
        res = vfswasi.run(guest("sys"), args=["sys", "sock", "data.txt"],
                          preopens={"/sandbox": str(tmp_path)}, sockets=[sock])
    assert res.stdout.decode().splitlines() == [
        f"{what} recv 57 send 57 shutdown 57 accept 57" for what in ("stdin", "file", "dir")]


@pytest.mark.parametrize("bad, message", [
    (lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "only stream"),
    (lambda: 5, "socket.socket objects"),
])
def test_unsupported_sockets_are_type_errors(bad, message):
    value = bad()
    try:
        with pytest.raises(TypeError, match=message):
            WASI(sockets=[value])
    finally:
        if isinstance(value, socket.socket):
            value.close()


#: echo one read from fd 3 back to it, then shut down its writing side
ECHO_ONCE = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown" (func $shutdown (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 0x100))
    (i32.store (i32.const 4) (i32.const 64))
    (if (call $read (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (if (call $write (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
    (call $exit (call $shutdown (i32.const 3) (i32.const 2)))))"""


def test_a_connected_socket_is_a_stream():
    a, b = socket.socketpair()
    with a, b:
        b.settimeout(TIMEOUT)
        b.sendall(b"over a socketpair")
        res = vfswasi.run(ECHO_ONCE.encode(), sockets=[a])
        assert res.exit_code == 0  # sock_shutdown(WR) succeeded
        assert read_to_eof(b) == b"over a socketpair"


def test_a_bound_socket_is_put_into_listening_state():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with WASI(sockets=[sock]):
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


# --- the CLI: --tcplisten ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def test_cli_tcplisten(tmp_path):
    (tmp_path / "motd.txt").write_text("from the cli\n")
    port = free_port()
    env = {**os.environ, "VFSWASI_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vfswasi", "run", "--tcplisten", f"127.0.0.1:{port}",
         "--dir", f"{tmp_path}::/data", str(ECHO), "serve", "1", "/data/motd.txt"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        # The guest prints its first lines once it is ready for a client.
        first = [proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        assert first == [b"listener fd 4\n", b"file: from the cli\n", b"waiting 1\n"], first
        assert echo_roundtrip(port, b"over the cli") == b"over the cli"
        out, err = proc.communicate(timeout=TIMEOUT * 3)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == ["client 1: 12 bytes", "served 1"]


@pytest.mark.parametrize("value", ["nonsense", "127.0.0.1:notaport", "256.0.0.1:80"])
def test_cli_bad_tcplisten_is_one_line(tmp_path, value):
    env = {**os.environ, "VFSWASI_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "vfswasi", "run", "--tcplisten", value,
                          str(ECHO), "info"], capture_output=True, timeout=60, env=env)
    assert res.returncode == 1
    assert res.stderr.decode().count("\n") == 1 and f"--tcplisten {value}" in res.stderr.decode()


def test_listen_tcp_parses_ipv6_and_port_zero():
    from vfswasi.sockets import listen_tcp

    with listen_tcp("127.0.0.1:0") as s:
        assert s.getsockname()[0] == "127.0.0.1" and s.getsockname()[1] > 0
    if socket.has_ipv6 and Path("/proc/net/if_inet6").exists():
        with listen_tcp("[::1]:0") as s:
            assert s.family == socket.AF_INET6


def test_a_timeout_stops_a_guest_waiting_in_recv_waitall(listener):
    # MSG_WAITALL with part of the data there: the kernel would block until the rest came;
    # vfswasi waits in slices, so the run's timeout still stops it
    out = GuestOutput()
    over = threading.Event()
    gave_up: list[bool] = []

    def client(port: int) -> None:
        out.wait_for("waiting")
        with connect(port) as conn:
            out.wait_for("send")
            conn.sendall(b"pi")  # and never the rest
            # the connection stays open and idle until the run is over; had the timeout not
            # stopped the guest, it would be the client giving up that ended the wait
            gave_up.append(not over.wait(10))

    thread = Client(lambda: client(listener.getsockname()[1]))
    thread.start()
    try:
        with pytest.raises(vfswasi.Timeout):
            vfswasi.run(ECHO, args=["echo_server", "dialog"], sockets=[listener], stdout=out,
                        timeout=1.0)
    finally:
        over.set()
        thread.finish()
    assert gave_up == [False]
    assert out.lines()[-1] == "send rest"
