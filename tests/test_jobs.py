"""vfswasi.jobs: jobs as data, run over a real S3-compatible server (moto's, on loopback) and a
real Dask LocalCluster of 2 worker processes, both started and stopped here.

The S3 server runs in this process; the workers reach it through fsspec's own configuration
(FSSPEC_S3_ENDPOINT_URL and the AWS_* variables, set before the cluster starts), as a real
deployment would. A WSGI wrapper around the server records every request and the bytes of
every response body, so the tests can count what was fetched and published.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import guest

import vfswasi.jobs.remote as jobs_remote
from vfswasi import Limits
from vfswasi.jobs import Job, JobResult, run_job, run_jobs, worker_stats

pytest.importorskip("s3fs", reason="the test extra brings s3fs")  # hides nothing: listed there
distributed = pytest.importorskip("distributed", reason="the test extra brings dask[distributed]")
moto_server = pytest.importorskip("moto.server", reason="the test extra brings moto[server]")

JOBTOOL = guest("jobtool")
SPIN = guest("spin")
DOCS = 400  # small members of the big zip
FILLER = 16 << 20  # one incompressible member making the archive big


class Recorder:
    """WSGI middleware: (method, path, query, response body bytes) of every request."""

    def __init__(self, app):
        self.app = app
        self.requests: list[tuple[str, str, str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        body = self.app(environ, start_response)
        size = 0
        chunks = []
        for chunk in body:
            size += len(chunk)
            chunks.append(chunk)
        if hasattr(body, "close"):
            body.close()
        with self.lock:
            self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                  environ.get("QUERY_STRING", ""), size))
        return chunks

    def mark(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, str, str, int]]:
        with self.lock:
            return self.requests[mark:]


def _zip_bytes() -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(7)
    docs = {f"doc{i}.txt": "".join(rng.choice("abcdefgh \n") for _ in range(rng.randrange(2000, 4000))).encode()
            for i in range(DOCS)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("filler.bin"), rng.randbytes(FILLER), zipfile.ZIP_STORED)
        for name, data in docs.items():
            z.writestr(name, data)
    return buf.getvalue(), docs


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on loopback, fsspec configured for it through the environment, a
    bucket `data` holding data.zip and the tool, and an empty bucket `results`."""
    import fsspec.config
    import s3fs

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    recorder = Recorder(server._server.app)  # the werkzeug server's app: wrapped to count
    server._server.app = recorder
    host, port = server.get_host_and_port()
    saved_conf = json.loads(json.dumps(fsspec.config.conf))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1",
                            "FSSPEC_S3_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        fsspec.config.set_conf_env(fsspec.config.conf)  # this process imported fsspec already
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir("data")
        fs.mkdir("results")
        archive, docs = _zip_bytes()
        fs.pipe_file("data/data.zip", archive)
        fs.pipe_file("data/jobtool.wasm", JOBTOOL.read_bytes())
        try:
            yield {"fs": fs, "recorder": recorder, "archive": archive, "docs": docs}
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            fsspec.config.conf.clear()
            fsspec.config.conf.update(saved_conf)
            server.stop()


@pytest.fixture(scope="module")
def cluster(s3):
    """A Dask LocalCluster of 2 worker processes (one thread each), started after the S3
    environment is set so its workers inherit it."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit=None) as lc, Client(lc) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _doc_job(i: int, out: str, *, module: str | None = None, pin: bool = True) -> Job:
    return Job(module or "s3://data/jobtool.wasm", args=["jobtool", f"/in/doc{i}.txt", "/out/sum.txt"],
               mounts={"/in": "zip::s3://data/data.zip"}, outputs={"/out": out},
               sha256=_sha(JOBTOOL.read_bytes()) if pin else None, name=f"doc{i}",
               deterministic=1)


def _fnv(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{len(data)} {h:016x}\n"


def _read_output(fs, url: str) -> dict[str, bytes]:
    """The files of a published output (an archive or a directory), by relative path."""
    path = url[len("s3://"):]
    fs.invalidate_cache()
    if path.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(fs.cat_file(path))) as z:
            return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    root = path.rstrip("/")
    return {p[len(root) + 1:]: fs.cat_file(p) for p in fs.find(root)}


# --- jobs as data ----------------------------------------------------------------------------------


def test_a_job_round_trips_through_pickle_and_json():
    job = Job(b"\0asm\1\0\0\0", args=["tool", "x"], env={"LANG": "C"}, stdin=b"\xff\x00binary",
              mounts={"/in": "zip::s3://bucket/data.zip", "/ov": "overlay:mem://"},
              outputs={"/out": "s3://bucket/out/1.zip", "/ov": "s3://bucket/out/1/"},
              limits=Limits(timeout=2.5, max_memory=64 << 20, max_open_fds=None),
              deterministic=3, name="first")
    assert pickle.loads(pickle.dumps(job)) == job
    again = Job.from_json(job.to_json())
    assert again == job and again.limits == job.limits and again.stdin == job.stdin
    text = Job("tool.wasm", stdin=b"plain text").to_json()
    assert json.loads(text) == {"module": "tool.wasm", "stdin": "plain text"}
    # hand-written JSON may spell sizes and durations as the CLI does
    written = Job.from_json('{"module": "t.wasm", "limits": {"timeout": "500ms", "max_memory": "64M"}}')
    assert written.limits == Limits(timeout=0.5, max_memory=64 << 20)
    assert Job("t.wasm").mounts == {} and Job("t.wasm", args=["t"]).args == ("t",)


@pytest.mark.parametrize("text, message", [
    ('{"args": ["x"]}', "needs a 'module'"),
    ('{"module": "t.wasm", "mount": {}}', "unknown job field(s): mount"),
    ('{"module": "t.wasm", "outputs": {"/o": "s3://b/o/"}, "mounts": {"/o": "zip://a.zip"}}',
     "must be a mem:// or overlay: mount"),
    ('{"module": "t.wasm", "sha256": "abc"}', "64 hex digits"),
    ('{"module": "t.wasm", "stdin": {"base64": "!!"}}', "not valid base64"),
    ('{"module": "t.wasm", "limits": {"timeout": "soon"}}', "not a duration"),
    ('{"module": "t.wasm", "args": "t x"}', "list of strings"),
])
def test_a_bad_job_is_refused_with_a_message_naming_what_is_wrong(text, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        Job.from_json(text)


def test_a_job_that_cannot_be_set_up_is_a_result_with_an_error(tmp_path):
    missing = run_job(Job(str(tmp_path / "nope.wasm")))
    assert missing.status == "failed" and "nope.wasm" in missing.error
    pinned = run_job(Job(str(JOBTOOL), sha256="0" * 64))
    assert pinned.status == "failed" and "the job pins 000" in pinned.error
    bad_mount = run_job(Job(str(JOBTOOL), mounts={"/in": "zip://" + str(tmp_path / "no.zip")}))
    assert bad_mount.status == "failed" and bad_mount.error.startswith("mount /in=zip://")


# --- object stores --------------------------------------------------------------------------------


def test_one_member_of_a_big_zip_in_s3_costs_the_member_and_the_central_directory(s3):
    with zipfile.ZipFile(io.BytesIO(s3["archive"])) as z:
        member = z.getinfo("doc7.txt")
        central = len(s3["archive"]) - z.start_dir  # central directory + end records
    jobs_remote._TAILS.clear()  # as a fresh worker: nothing of the archive read before
    mark = s3["recorder"].mark()
    result = run_job(Job(str(JOBTOOL), args=["jobtool", "/in/doc7.txt", "/out/sum.txt"],
                         mounts={"/in": "zip::s3://data/data.zip", "/out": "mem://"}))
    assert result.ok, result
    assert result.stdout.decode() == f"/in/doc7.txt: {_fnv(s3['docs']['doc7.txt'])}"
    fetched = sum(size for method, path, _q, size in s3["recorder"].since(mark)
                  if method == "GET" and path.endswith("/data.zip"))
    assert len(s3["archive"]) > FILLER > 100 * fetched  # nowhere near the archive
    assert fetched < 2 * (member.compress_size + 30 + len(member.filename) + central)


def _zip_gets(s3, mark: int, key: str) -> list[int]:
    return [size for method, path, _q, size in s3["recorder"].since(mark)
            if method == "GET" and path.endswith(key)]


def test_a_worker_reads_a_zips_central_directory_once_per_version(s3):
    # the second job on the same object (same ETag) fetches its member only; a new version
    # of the object is read afresh
    fs = s3["fs"]
    docs = {f"m{i}.txt": f"member {i}\n".encode() * 50 for i in range(300)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in docs.items():
            z.writestr(name, data)
    fs.pipe_file("data/cached.zip", buf.getvalue())
    central = len(buf.getvalue()) - zipfile.ZipFile(buf).start_dir

    def job(name: str) -> Job:
        return Job(str(JOBTOOL), args=["jobtool", f"/in/{name}", "/out/sum.txt"],
                   mounts={"/in": "zip::s3://data/cached.zip", "/out": "mem://"})

    first = s3["recorder"].mark()
    assert run_job(job("m1.txt")).stdout.decode() == f"/in/m1.txt: {_fnv(docs['m1.txt'])}"
    assert sum(_zip_gets(s3, first, "/cached.zip")) >= central
    second = s3["recorder"].mark()
    assert run_job(job("m2.txt")).stdout.decode() == f"/in/m2.txt: {_fnv(docs['m2.txt'])}"
    gets = _zip_gets(s3, second, "/cached.zip")
    assert len(gets) == 1 and sum(gets) < central  # the member's range, no directory
    changed = b"changed\n"
    fs.pipe_file("data/cached.zip", _one_member_zip("m2.txt", changed))
    third = s3["recorder"].mark()
    assert run_job(job("m2.txt")).stdout.decode() == f"/in/m2.txt: {_fnv(changed)}"
    assert len(_zip_gets(s3, third, "/cached.zip")) >= 1


def _one_member_zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


def test_a_plain_prefix_in_s3_mounts_as_a_tree(s3):
    fs = s3["fs"]
    fs.pipe_file("data/tree/a/x.txt", b"hello from s3\n")
    result = run_job(Job(str(JOBTOOL), args=["jobtool", "/t/a/x.txt", "/out/sum.txt"],
                         mounts={"/t": "s3://data/tree/"}, outputs={"/out": "s3://results/tree/1/"}))
    assert result.ok, result
    assert _read_output(fs, "s3://results/tree/1/") == {"sum.txt": _fnv(b"hello from s3\n").encode(),
                                                        "_SUCCESS": b""}


def test_a_job_that_fails_or_hits_a_limit_publishes_nothing(s3):
    fs = s3["fs"]
    failing = Job(str(JOBTOOL), args=["jobtool", "--exit", "3", "/in/doc1.txt", "/out/sum.txt"],
                  mounts={"/in": "zip::s3://data/data.zip"},
                  outputs={"/out": "s3://results/bad/exit.zip"})
    spinning = Job(str(SPIN), args=["spin", "wasm", "/out/partial.txt", "written"],
                   outputs={"/out": "s3://results/bad/limit/"}, limits=Limits(timeout=0.3))
    r1, r2 = run_job(failing), run_job(spinning)
    assert (r1.status, r1.exit_code, r1.outputs) == ("failed", 3, {})
    assert b"/in/doc1.txt" in r1.stdout  # it ran, wrote its output, and failed
    assert (r2.status, r2.usage.limit, r2.outputs) == ("limit", "timeout", {})
    fs.invalidate_cache()
    assert not fs.exists("results/bad")  # no output, no temporary name


def test_a_retried_job_does_not_publish_again(s3):
    fs = s3["fs"]
    job = _doc_job(3, "s3://results/again/3.zip")
    first, second = run_job(job), run_job(job)
    assert first.ok and first.reused == [] and first.outputs == {"/out": "s3://results/again/3.zip"}
    assert second.ok and second.reused == ["/out"] and second.outputs == first.outputs
    fs.invalidate_cache()
    assert fs.find("results/again") == ["results/again/3.zip"]


# --- many jobs, on Dask ----------------------------------------------------------------------------


def test_forty_jobs_on_dask_match_a_serial_loop(s3, cluster):
    fs = s3["fs"]
    jobs = [_doc_job(i, f"s3://results/dask/{i}.zip" if i % 2 else f"s3://results/dask/{i}/")
            for i in range(40)]
    serial = [run_job(_doc_job(i, f"s3://results/serial/{i}.zip" if i % 2
                               else f"s3://results/serial/{i}/")) for i in range(40)]
    seen = []
    results = list(run_jobs(jobs, cluster, progress=lambda done, total: seen.append((done, total))))
    assert [r.index for r in results] == list(range(40))
    assert sorted(seen) == [(n, 40) for n in range(1, 41)]
    for r, s, i in zip(results, serial, range(40), strict=True):
        assert r.ok, r
        assert (r.exit_code, r.stdout, r.stderr, r.name) == (s.exit_code, s.stdout, s.stderr, s.name)
        assert r.stdout.decode() == f"/in/doc{i}.txt: {_fnv(s3['docs'][f'doc{i}.txt'])}"
        assert (_read_output(fs, r.outputs["/out"])
                == _read_output(fs, s.outputs["/out"]))
    fs.invalidate_cache()
    assert not [p for p in fs.find("results/dask") if "vfswasi-" in p]  # no temporary names
    # each worker process fetched the module once and compiled it once, never per job
    stats = cluster.run(worker_stats)
    ran = [s for s in stats.values() if s["jobs"]]
    assert sum(s["jobs"] for s in ran) >= 40 and ran
    sha = _sha(JOBTOOL.read_bytes())
    for s in ran:
        assert s["compiled"] == {sha: 1} and s["fetched"] == 1, s


def test_a_worker_killed_mid_job_is_retried_and_publishes_once(s3, cluster, tmp_path):
    fs = s3["fs"]
    gate = tmp_path / "gate"
    gate.mkdir()
    job = Job(str(JOBTOOL), args=["jobtool", "--attempt", "/gate/attempts", "--wait", "/gate/go",
                                  "/in/doc5.txt", "/out/sum.txt"],
              mounts={"/in": "zip::s3://data/data.zip", "/gate": str(gate)},
              outputs={"/out": "s3://results/killed/5.zip"})
    mark = s3["recorder"].mark()
    results: list[JobResult] = []
    runner = threading.Thread(target=lambda: results.extend(run_jobs([job], cluster)))
    runner.start()
    try:
        _wait(lambda: (gate / "attempts").exists(), "the first attempt to start")
        victim = next(addr for addr, keys in cluster.processing().items()
                      if any(str(k).startswith("vfswasi-job-0-") for k in keys))
        pid = cluster.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: (gate / "attempts").read_text().count("attempt") == 2,
              "the scheduler to retry the job")
    finally:
        (gate / "go").write_text("")
        runner.join(timeout=60)
    assert not runner.is_alive()
    [result] = results
    assert result.ok, result
    assert _read_output(fs, "s3://results/killed/5.zip") == {
        "sum.txt": _fnv(s3["docs"]["doc5.txt"]).encode()}
    writes = [(m, p) for m, p, _q, _s in s3["recorder"].since(mark)
              if m in ("PUT", "POST") and "/results/killed/5.zip" in p]
    assert writes == [("PUT", "/results/killed/5.zip")]  # published exactly once
    fs.invalidate_cache()
    assert fs.find("results/killed") == ["results/killed/5.zip"]


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_default_process_pool_runs_jobs_in_order(tmp_path):
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(6):
            z.writestr(f"m{i}.txt", f"member {i}\n" * (i + 1))
    jobs = [Job(str(JOBTOOL), args=["jobtool", f"/in/m{i}.txt", "/out/sum.txt"],
                mounts={"/in": f"zip://{archive}"}, outputs={"/out": str(tmp_path / f"out/{i}")})
            for i in range(6)]
    results = list(run_jobs(jobs, max_workers=2))
    assert [(r.index, r.status) for r in results] == [(i, "ok") for i in range(6)]
    for i in range(6):
        assert (tmp_path / f"out/{i}/sum.txt").read_text() == _fnv(f"member {i}\n".encode() * (i + 1))


def test_the_default_pool_reruns_the_jobs_of_a_worker_that_died(tmp_path):
    import multiprocessing

    gate = tmp_path / "gate"
    gate.mkdir()
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "alpha\n")
    job = Job(str(JOBTOOL), args=["jobtool", "--attempt", "/gate/attempts", "--wait", "/gate/go",
                                  "/in/a.txt", "/out/sum.txt"],
              mounts={"/in": f"zip://{archive}", "/gate": str(gate)},
              outputs={"/out": str(tmp_path / "out.zip")})
    results: list[JobResult] = []
    others = {c.pid for c in multiprocessing.active_children()}  # a Dask cluster's workers
    runner = threading.Thread(target=lambda: results.extend(run_jobs([job], max_workers=1)))
    runner.start()
    try:
        _wait(lambda: (gate / "attempts").exists(), "the first attempt to start")
        [worker] = [c for c in multiprocessing.active_children() if c.pid not in others]
        os.kill(worker.pid, signal.SIGKILL)  # the pool's one worker
        _wait(lambda: (gate / "attempts").read_text().count("attempt") == 2,
              "the pool to run the job again")
    finally:
        (gate / "go").write_text("")
        runner.join(timeout=60)
    assert not runner.is_alive()
    [result] = results
    assert result.ok and result.reused == [], result
    assert zipfile.ZipFile(tmp_path / "out.zip").read("sum.txt") == _fnv(b"alpha\n").encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate", "in.zip", "out.zip"]


# --- the command line ------------------------------------------------------------------------------


def _batch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vfswasi", "batch", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_batch_runs_a_jsonl_file_and_summarizes(tmp_path, cluster):
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "alpha\n")
    lines = [Job(str(JOBTOOL), args=["jobtool", "/in/a.txt", "/out/sum.txt"],
                 mounts={"/in": f"zip://{archive}"}, outputs={"/out": str(tmp_path / "out/a.zip")},
                 name="good").to_json(),
             "# a comment, then a job that fails",
             Job(str(JOBTOOL), args=["jobtool", "/in/missing.txt", "/out/sum.txt"],
                 mounts={"/in": f"zip://{archive}"}, name="bad").to_json(),
             Job(str(SPIN), args=["spin", "wasm"], limits=Limits(timeout=0.3)).to_json()]
    (tmp_path / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    done = _batch("jobs.jsonl", "--workers", "2", "--results", "results.jsonl", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "3 jobs: 1 ok, 1 failed, 1 limit hit" in done.stderr
    assert "job 1 (bad): failed: exit code 1" in done.stderr
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["index"], r["name"], r["status"]) for r in results] == [
        (0, "good", "ok"), (1, "bad", "failed"), (2, None, "limit")]
    assert results[0]["stdout"] == f"/in/a.txt: {_fnv(b'alpha' + bytes([10]))}"
    assert zipfile.ZipFile(tmp_path / "out/a.zip").read("sum.txt") == _fnv(b"alpha\n").encode()
    # the same file on the cluster: the output exists now, so it is reused, not written again
    address = cluster.scheduler.address
    again = _batch("jobs.jsonl", "--scheduler", address, "--quiet", cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    assert "3 jobs: 1 ok, 1 failed, 1 limit hit, 1 output(s) already published" in again.stderr


@pytest.mark.parametrize("content, message", [
    ('{"module": "t.wasm"}\n{"module": \n', "jobs.jsonl:2: "),
    ('{"module": "t.wasm", "env": {"A": 1}}\n', "jobs.jsonl:1: Job.env must map str to str"),
])
def test_batch_refuses_bad_input_in_one_line(tmp_path, content, message):
    (tmp_path / "jobs.jsonl").write_text(content)
    done = _batch("jobs.jsonl", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    missing = _batch("absent.jsonl", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "absent.jsonl" in missing.stderr
