"""`vfswasi batch`: jobs from a JSONL file, results as JSONL and a summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .executors import run_jobs
from .spec import Job, JobResult, one_line

# --- the command line: vfswasi batch ----------------------------------------------------------------------


def read_jobs(path: str) -> list[Job]:
    """The jobs of a JSONL file (one `Job.to_json()` object a line; blank lines and lines
    starting with # are skipped); ValueError naming the line of a bad one."""
    jobs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                jobs.append(Job.from_json(text))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}:{number}: {one_line(e)}") from None
    return jobs


def summary(results: Iterable[JobResult]) -> Counter[str]:
    """How many results are "ok", "failed" and "limit", plus "reused" (outputs kept)."""
    counts: Counter[str] = Counter({"ok": 0, "failed": 0, "limit": 0})
    for r in results:
        counts[r.status] += 1
        counts["reused"] += len(r.reused)
    return counts


def batch_command(opts: Any) -> int:
    """`vfswasi batch` (its flags are parsed in vfswasi/cli.py): 0 when every job is ok, 1 when
    any failed or hit a limit, 2 for bad input."""
    try:
        jobs = read_jobs(opts.jobs)
    except OSError as e:
        print(f"vfswasi: batch: {opts.jobs}: {e.strerror}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"vfswasi: batch: {e}", file=sys.stderr)
        return 2
    if opts.workers is not None and opts.workers < 1:
        print("vfswasi: batch: --workers must be at least 1", file=sys.stderr)
        return 2
    client = None
    if opts.scheduler:
        try:
            from distributed import Client
        except ImportError:
            print("vfswasi: batch: --scheduler needs dask.distributed: "
                  "pip install 'vfswasi[dask]'", file=sys.stderr)
            return 2
        try:
            client = Client(opts.scheduler, timeout=30)
        except (OSError, TimeoutError) as e:
            print(f"vfswasi: batch: cannot reach the scheduler {opts.scheduler}: "
                  f"{one_line(e)}", file=sys.stderr)
            return 2
    out = None
    try:
        if opts.results:
            out = open(opts.results, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        started = time.monotonic()
        results = []
        for result in run_jobs(jobs, client, progress=not opts.quiet, max_workers=opts.workers):
            results.append(result)
            if out is not None:
                out.write(result.to_json() + "\n")
                out.flush()
            if not result.ok:
                what = result.error or f"exit code {result.exit_code}"
                label = f" ({result.name})" if result.name else ""
                print(f"vfswasi: job {result.index}{label}: {result.status}: {what}",
                      file=sys.stderr)
        counts = summary(results)
        reused = f", {counts['reused']} output(s) already published" if counts["reused"] else ""
        print(f"{len(results)} jobs: {counts['ok']} ok, {counts['failed']} failed, "
              f"{counts['limit']} limit hit{reused} ({time.monotonic() - started:.1f} s)",
              file=sys.stderr)
        return 0 if counts["ok"] == len(results) else 1
    except OSError as e:
        print(f"vfswasi: batch: {opts.results}: {e.strerror}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()
        if client is not None:
            client.close()
