"""Guest runs as data: `Job`, `run_job`, `run_jobs` over any executor, and `vfswasi batch`.

    from vfswasi.jobs import Job, run_jobs
    jobs = [Job("s3://tools/wc.wasm", args=["wc", f"/in/{n}", "/out/count"],
                mounts={"/in": "zip::s3://corpus/docs.zip"},
                outputs={"/out": f"s3://results/{n}.zip"}) for n in names]
    for result in run_jobs(jobs, executor=dask_client):   # or any concurrent.futures.Executor
        print(result.status, result.stdout)

A `Job` is a frozen value that pickles and round-trips through JSON (`to_json` / `from_json`):
the module (a path, an fsspec URL or bytes, optionally pinned by `sha256`), argv, environment,
stdin, mounts *as strings*, outputs, limits and the determinism seed. It never holds a
credential: fsspec filesystems take their options from fsspec's own configuration (the
`FSSPEC_<PROTOCOL>_<OPTION>` environment variables and its config files) on the machine that
runs the job.

Mount strings are everything `preopens` takes as a URL (`mem://`, `zip://a.zip`, `tar+rw://`,
`overlay:SPEC`, `fsspec+PROTOCOL://`, host paths, PyFilesystem2 URLs) plus plain fsspec URLs:
`s3://bucket/prefix/` (a tree, served by the fsspec backend) and chained ones. A zip read
through a chain (`zip::s3://bucket/data.zip`, `zip://sub/dir::s3://...` for a directory inside
it) is served by vfswasi's archive backend over ranged reads (`RangedFile`): mounting it reads
the central directory, and a member is fetched only when the guest reads it. Other chains
(`tar::...`, `simplecache::...`) are fsspec's own filesystems.

`outputs` maps a guest mount (a `mem://` scratch, which it is by default when the guest path is
not in `mounts`, or an `overlay:` mount) to a URL where its final tree (an overlay: its
changes, as `Overlay.export` writes them) is published, only when the job succeeded (exit code
0, no limit hit, no error). A URL ending in .zip, .tar, .tar.gz or .tgz gets an archive, any
other a directory tree. Publishing never leaves a partial result where a reader looks:

- an archive is written under a temporary name beside its URL, then moved over it (a rename)
  on a local disk; on S3, GCS or Azure it is one upload, which those stores show whole or not
  at all; on other fsspec stores, an upload under a temporary name and a server-side copy;
- a local directory is filled under a temporary name, then renamed into place;
- an object store has no rename for a tree: the files are uploaded under a temporary prefix,
  copied into place server-side, and an empty `_SUCCESS` object is written last (the
  Hadoop/Spark convention); a prefix without it is incomplete, and the next attempt replaces it.

Outputs are written once: a job whose output already exists (an archive, a non-empty local
directory, a prefix with `_SUCCESS`) does not write it again and lists it in
`JobResult.reused`. So an engine that retries a job whose worker died after publishing does not
publish twice; to run a batch again, point its outputs somewhere new or remove the old ones.
A killed worker may leave its temporary names (`.NAME.vfswasi-*`) behind, never a final one.

Each worker process loads a module once, keyed by its SHA-256, the wasmtime version and the
engine flavour, in a per-process cache (`worker_stats()` counts loads and fetches); a module
given by URL is fetched once per process (a pinned one not at all once its hash is cached).

The package's modules: `spec` (Job, JobResult, JSON), `worker` (module cache, `run_job`),
`remote` (mounts, `RangedFile`), `publish` (outputs), `executors` (`run_jobs`), `batch` (the
command). None imports dask, s3fs, fsspec or wasmtime until a job needs it.
"""

from __future__ import annotations

# the public names (`__all__`), and, as before the split, the pieces they are built from
from .batch import batch_command as batch_command
from .batch import read_jobs, summary
from .executors import ProgressSpec as ProgressSpec
from .executors import run_jobs
from .publish import ARCHIVE_SUFFIXES as ARCHIVE_SUFFIXES
from .publish import SUCCESS_MARKER as SUCCESS_MARKER
from .publish import publish as publish
from .remote import RangedFile
from .remote import open_mount as open_mount
from .spec import FrozenMap as FrozenMap
from .spec import Job, JobResult
from .worker import JobError as JobError
from .worker import run_job, worker_stats

__all__ = ["Job", "JobResult", "RangedFile", "run_job", "run_jobs", "worker_stats",
           "read_jobs", "summary"]
