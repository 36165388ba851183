"""Many jobs over S3: vfswasi.jobs throughput with 1 and 2 workers, a process pool and Dask.

    python bench/jobs.py              # 200 jobs per configuration (about a minute on 2 cores)
    python bench/jobs.py --jobs 40    # shorter

A moto S3 server (a separate process, on loopback) holds a zip of text members and the C tool
(tests/guests/bin/jobtool.wasm: reads one member, writes its size and hash); each job mounts
`zip::s3://bench/data.zip`, reads its member and publishes a one-file zip to S3. Per
configuration, the workers are started and have run one job each before the clock starts
(process start-up, imports and the module's compilation are not timed). Printed: wall time,
jobs/s, the speed-up over one worker of the same kind, and for a serial `run_job` loop in
this process the time per job beside the guest's own run time (the difference is the
per-job overhead: mounting, S3 requests, publishing). The S3 server shares the machine's
cores with the workers. Nothing here asserts on a timing.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import socket
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tests" / "guests" / "bin" / "jobtool.wasm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_s3() -> subprocess.Popen:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.environ.update(FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                      AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("the moto server did not start") from None
            time.sleep(0.1)


def _jobs(n: int, prefix: str) -> list:
    from vfswasi.jobs import Job

    return [Job("s3://bench/jobtool.wasm", args=["jobtool", f"/in/doc{i % 200}.txt", "/out/sum"],
                mounts={"/in": "zip::s3://bench/data.zip"},
                outputs={"/out": f"s3://results/{prefix}/{i}.zip"}) for i in range(n)]


def _timed(label: str, workers: int, jobs: list, executor) -> tuple[str, int, float]:
    from vfswasi.jobs import run_jobs

    start = time.perf_counter()
    results = list(run_jobs(jobs, executor))
    wall = time.perf_counter() - start
    bad = [r for r in results if not r.ok]
    if bad:
        raise SystemExit(f"{label}: {len(bad)} jobs failed, e.g. {bad[0]}")
    return label, workers, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    opts = parser.parse_args()
    server = _start_s3()
    try:
        import fsspec

        from vfswasi.jobs import run_job

        s3 = fsspec.filesystem("s3")
        s3.mkdir("bench")
        s3.mkdir("results")
        rng = random.Random(1)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for i in range(200):
                z.writestr(f"doc{i}.txt", "".join(rng.choice("abcdefgh \n")
                                                  for _ in range(64 << 10)))
        s3.pipe_file("bench/data.zip", archive.getvalue())
        s3.put_file(str(TOOL), "bench/jobtool.wasm")

        rows = []
        serial = _jobs(opts.jobs, "serial")
        run_job(_jobs(1, "warm-serial")[0])
        start = time.perf_counter()
        guest = 0.0
        for job in serial:
            result = run_job(job)
            assert result.ok, result
            guest += result.usage.wall_time
        per_job = (time.perf_counter() - start) / len(serial)
        rows.append(("serial run_job loop", 1, per_job * len(serial)))
        for workers in (1, 2):
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                list(pool.map(run_job, _jobs(workers, f"warm-pool{workers}")))
                rows.append(_timed("process pool", workers, _jobs(opts.jobs, f"pool{workers}"),
                                   pool))
        from distributed import Client, LocalCluster

        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                              memory_limit=None) as cluster, Client(cluster) as client:
                client.wait_for_workers(workers, timeout=60)
                list(client.gather(client.map(run_job, _jobs(workers, f"warm-dask{workers}"),
                                              pure=False)))
                rows.append(_timed("dask LocalCluster", workers,
                                   _jobs(opts.jobs, f"dask{workers}"), client))
    finally:
        server.kill()
        server.wait(timeout=30)
    one = {label: wall for label, workers, wall in rows if workers == 1}
    print(f"{opts.jobs} jobs, each reading one 64 KiB member of a zip in S3 and publishing a zip")
    print(f"{'':24} {'workers':>7} {'wall s':>8} {'jobs/s':>8} {'vs 1 worker':>12}")
    for label, workers, wall in rows:
        print(f"{label:24} {workers:7d} {wall:8.2f} {opts.jobs / wall:8.1f} "
              f"{one[label] / wall:11.2f}x")
    print(f"per job, serially in this process: {per_job * 1000:.1f} ms, of which the guest ran "
          f"{guest / len(serial) * 1000:.1f} ms (the rest: mounting, S3 requests, publishing)")


if __name__ == "__main__":
    main()
