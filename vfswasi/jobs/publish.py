"""Outputs: publishing a job's tree or archive without leaving a partial result (see
`vfswasi.jobs`)."""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import uuid
from typing import Any

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
#: the object written last into a directory output on an object store
SUCCESS_MARKER = "_SUCCESS"


# --- the worker's side: outputs ------------------------------------------------------------------------


def _published(fs: Any, path: str, archive: bool, local: bool) -> bool:
    """Whether an output is already at `path` (see `vfswasi.jobs`)."""
    if local:
        if archive:
            return os.path.exists(path)
        return os.path.isdir(path) and bool(os.listdir(path))
    fs.invalidate_cache()
    return fs.exists(path if archive else f"{path.rstrip('/')}/{SUCCESS_MARKER}")


#: object stores whose single upload (multipart ones too) becomes visible only once complete:
#: one object needs no staging copy there (S3, GCS, Azure Blob)
_WHOLE_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def _whole_puts(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return bool(_WHOLE_PUT_PROTOCOLS.intersection(protocols))


def publish(overlay: Any, url: str) -> bool:
    """Write an overlay's changes (a `mem://` scratch's whole tree) to `url`, never leaving a
    partial result there; False when an output was already published at `url`."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    fs, path = fsspec.core.url_to_fs(url)
    archive = path.lower().endswith(ARCHIVE_SUFFIXES)
    local = isinstance(fs, LocalFileSystem)
    if _published(fs, path, archive, local):
        return False
    if local:  # Overlay.export writes beside the target and renames it into place
        os.makedirs(os.path.dirname(path.rstrip("/")) or ".", exist_ok=True)
        overlay.export(path)
        return True
    base = path.rstrip("/")
    parent, name = posixpath.split(base)
    staging = f"{parent}/.{name}.vfswasi-{uuid.uuid4().hex}"
    staged: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vfswasi-output-") as tmp:
        suffix = next(s for s in (*ARCHIVE_SUFFIXES, "") if name.lower().endswith(s))
        exported = os.path.join(tmp, "out" + suffix)
        overlay.export(exported)
        try:
            if archive:
                if _whole_puts(fs):  # the object appears whole or not at all
                    fs.put_file(exported, base)
                    return True
                staged.append(staging)
                fs.put_file(exported, staging)
                fs.cp_file(staging, base)  # a server-side copy: the object appears whole
                return True
            files = sorted(os.path.relpath(os.path.join(d, f), exported)
                           for d, _, names in os.walk(exported) for f in names)
            for rel in files:
                staged.append(f"{staging}/{rel}")
                fs.put_file(os.path.join(exported, rel), staged[-1])
            if fs.exists(base):  # what a killed attempt left: no marker, so incomplete
                fs.rm(base, recursive=True)
            for rel in files:
                fs.cp_file(f"{staging}/{rel}", f"{base}/{rel}")
            fs.pipe_file(f"{base}/{SUCCESS_MARKER}", b"")
            return True
        finally:
            for key in staged:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(key)
            fs.invalidate_cache()
