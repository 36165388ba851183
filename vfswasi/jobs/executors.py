"""Running many jobs: `run_jobs` over a Dask client, any `concurrent.futures.Executor`, or a
process pool of its own, with progress."""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .spec import Job, JobResult, one_line
from .worker import run_job

# --- running many -------------------------------------------------------------------------------------

ProgressSpec = bool | Callable[[int, int], Any] | None


class _Progress:
    """Counts finished jobs (from any thread) and shows them: a callable(done, total), a tqdm
    bar on stderr (a plain counter line without tqdm), or nothing."""

    def __init__(self, spec: ProgressSpec, total: int) -> None:
        self.total, self.done = total, 0
        self._lock = threading.Lock()
        self._call: Callable[[int, int], Any] | None = None
        self._bar: Any = None
        if callable(spec):
            self._call = spec
        elif spec:
            try:
                from tqdm import tqdm
            except ImportError:
                self._call = self._plain
            else:
                self._bar = tqdm(total=total, unit="job", file=sys.stderr, dynamic_ncols=True)

    @staticmethod
    def _plain(done: int, total: int) -> None:
        print(f"\r{done}/{total} jobs", end="\n" if done == total else "", file=sys.stderr,
              flush=True)

    def one(self) -> None:
        with self._lock:
            self.done += 1
            if self._bar is not None:
                self._bar.update(1)
            elif self._call is not None:
                self._call(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _is_dask_client(executor: Any) -> bool:
    return (type(executor).__module__.startswith("distributed")
            and hasattr(executor, "gather") and hasattr(executor, "submit"))


def _failed(index: int, job: Job, error: str) -> JobResult:
    return JobResult(error=error, name=job.name, index=index)


def run_jobs(jobs: Iterable[Job], executor: Any = None, *, progress: ProgressSpec = None,
             max_workers: int | None = None, retries: int = 2) -> Iterator[JobResult]:
    """Run `jobs` on `executor` and yield their results in job order (each with `index`).

    executor: any `concurrent.futures.Executor` (threads run guests concurrently; a process
    pool in parallel), a Dask `distributed.Client` (each job one task; a task whose worker
    died is retried by the scheduler, `distributed.scheduler.allowed-failures` times), or None:
    a process pool of `max_workers` processes (default: the machine's cores) that this call
    makes and shuts down, and remakes up to `retries` times when a worker process dies (the
    jobs not finished then run again). progress: True for a bar on stderr (tqdm if installed),
    or a callable(done, total) called as jobs finish, in any order, from any thread.
    A job that cannot run at all (its worker died once too often, the executor broke) is a
    result with `error` set; results are never lost or duplicated."""
    jobs = list(jobs)
    for i, job in enumerate(jobs):
        if not isinstance(job, Job):
            raise TypeError(f"jobs[{i}] is a {type(job).__name__}, not a vfswasi.jobs.Job")
    shown = _Progress(progress, len(jobs))
    try:
        if executor is None:
            yield from _run_own_pool(jobs, shown, max_workers, retries)
        elif _is_dask_client(executor):
            yield from _run_dask(jobs, executor, shown)
        else:
            yield from _run_executor(jobs, executor, shown)
    finally:
        shown.close()


def _counted(future: Any, shown: _Progress, lost: tuple[type[BaseException], ...] = ()) -> Any:
    def done(f: Any) -> None:
        if f.cancelled():
            return
        if lost and isinstance(f.exception(), lost):
            return  # it will run again: counted then
        shown.one()

    future.add_done_callback(done)
    return future


def _outcome(index: int, job: Job, future: Any) -> JobResult:
    try:
        result = future.result()
    except Exception as e:
        return _failed(index, job, f"{type(e).__name__}: {one_line(e)}")
    result.index = index
    return result


def _run_executor(jobs: list[Job], executor: Any, shown: _Progress) -> Iterator[JobResult]:
    futures = [_counted(executor.submit(run_job, job), shown) for job in jobs]
    try:
        for i, job in enumerate(jobs):
            yield _outcome(i, job, futures[i])
            futures[i] = None
    finally:
        for f in futures:
            if f is not None:
                f.cancel()


def _run_dask(jobs: list[Job], client: Any, shown: _Progress) -> Iterator[JobResult]:
    batch = uuid.uuid4().hex[:12]
    futures = [_counted(client.submit(run_job, job, key=f"vfswasi-job-{i}-{batch}", pure=False),
                        shown) for i, job in enumerate(jobs)]
    try:
        for i, job in enumerate(jobs):
            yield _outcome(i, job, futures[i])
            futures[i] = None  # releases the task's result on the cluster
    finally:
        live = [f for f in futures if f is not None]
        if live:
            client.cancel(live)


def _new_pool(max_workers: int | None) -> concurrent.futures.ProcessPoolExecutor:
    import multiprocessing

    # spawn: a forked child would inherit the parent's threads' locks (epoch tickers, ...)
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=max_workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"))


def _run_own_pool(jobs: list[Job], shown: _Progress, max_workers: int | None,
                  retries: int) -> Iterator[JobResult]:
    from concurrent.futures.process import BrokenProcessPool

    lost = (BrokenProcessPool,)
    pool = _new_pool(max_workers)
    futures: list[Any] = [_counted(pool.submit(run_job, job), shown, lost) for job in jobs]
    breaks = 0
    try:
        i = 0
        while i < len(jobs):
            future = futures[i]
            try:
                future.result()
            except BrokenProcessPool:
                # a worker died: the pool is unusable, so every unfinished job moves to a new one
                breaks += 1
                pool.shutdown(wait=False, cancel_futures=True)
                if breaks > retries:
                    for k in range(i, len(jobs)):
                        if not _finished(futures[k]):
                            futures[k] = _done_with(_failed(
                                k, jobs[k], f"a worker process died ({breaks} times in this "
                                            "batch); not retried again"))
                            shown.one()
                    continue
                pool = _new_pool(max_workers)
                for k in range(i, len(jobs)):
                    if not _finished(futures[k]):
                        futures[k] = _counted(pool.submit(run_job, jobs[k]), shown, lost)
                continue
            except Exception:  # noqa: BLE001 - reported by _outcome
                pass
            yield _outcome(i, jobs[i], future)
            futures[i] = None
            i += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _finished(future: Any) -> bool:
    from concurrent.futures.process import BrokenProcessPool

    return future.done() and not future.cancelled() and not isinstance(
        future.exception(), BrokenProcessPool)


def _done_with(result: JobResult) -> concurrent.futures.Future[JobResult]:
    f: concurrent.futures.Future[JobResult] = concurrent.futures.Future()
    f.set_result(result)
    return f
