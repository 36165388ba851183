"""Mounts for a job: `RangedFile` (a zip in an object store read by ranges) and `open_mount`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..backends.archive_sources import PositionedReader

#: URL schemes vfswasi's own preopens understand; any other registered fsspec protocol (or a
#: chained URL with "::") is opened with fsspec
_OWN_SCHEMES = {"osfs", "zip", "tar", "zip+rw", "tar+rw", "mem"}


# --- the worker's side: mounts -------------------------------------------------------------------------


#: per worker: (object, size, ETag) -> (offset, the archive's tail bytes), least recent first
_TAILS: OrderedDict[tuple[str, int, str], tuple[int, bytes]] = OrderedDict()
_TAIL_BUDGET = 64 << 20
_LOCK = threading.Lock()


class RangedFile(PositionedReader):
    """A read-only, seekable file over ranged reads of an fsspec filesystem (`fs.cat_file`):
    what a zip mount in an object store reads through. A read that misses the buffer fetches
    at least `min_fetch` bytes, or, when it continues the last fetch, up to twice as much as it
    (at most `max_fetch`): small random reads cost one small request, a member read from start
    to end costs a few growing ones. `fetched` counts the bytes fetched."""

    def __init__(self, fs: Any, path: str, *, size: int | None = None,
                 min_fetch: int = 8 << 10, max_fetch: int = 8 << 20) -> None:
        super().__init__()
        self.fs, self.path = fs, path
        self._tail_key: tuple[str, int, str] | None = None
        if size is None:
            info = fs.info(path)
            size = int(info["size"])
            etag = info.get("ETag") or info.get("etag")
            if etag:  # the object's version: a cached tail is only ever this object's
                self._tail_key = (f"{fs.protocol}:{path}", size, str(etag))
        self.size = size
        self.min_fetch, self.max_fetch = min_fetch, max_fetch
        self._pos = 0
        self._buf, self._buf_start = b"", 0
        self.fetched = 0
        self.requests = 0
        with _LOCK:
            tail = _TAILS.get(self._tail_key) if self._tail_key else None
        if tail is not None:  # this worker read the same archive's directory before
            self._buf_start, self._buf = tail
        #: every fetch while the archive is mounted (for `keep_tail`), then None
        self._seen: list[tuple[int, bytes]] | None = [] if tail is None else None

    def keep_tail(self, start: int) -> None:
        """Remember bytes [start, EOF) (a zip's central directory and end records) for the
        next mount of the same object in this worker, from what mounting fetched: a later job
        then reads only its members (the HEAD that gives the ETag stays). Ends the record of
        fetches that mounting keeps."""
        seen, self._seen = self._seen, None
        if self._tail_key is None or not seen or not 0 <= start < self.size:
            return
        parts, at = [], start
        for begin, data in sorted(seen, key=lambda r: r[0]):
            if begin <= at < begin + len(data):
                parts.append(data[at - begin:])
                at = begin + len(data)
        if at != self.size:
            return  # not all read while mounting: not worth a request of its own
        tail = b"".join(parts)
        with _LOCK:
            _TAILS[self._tail_key] = (start, tail)
            _TAILS.move_to_end(self._tail_key)
            while sum(len(t) for _, t in _TAILS.values()) > _TAIL_BUDGET and len(_TAILS) > 1:
                _TAILS.popitem(last=False)

    def readinto(self, b: Any) -> int:
        # fills `b` to the end of the file: zipfile takes a short read as a truncated archive
        view = memoryview(b).cast("B")
        want = max(0, min(len(view), self.size - self._pos))
        done = 0
        while done < want:
            start = self._pos
            offset = start - self._buf_start
            if 0 <= offset < len(self._buf):
                n = min(want - done, len(self._buf) - offset)
                view[done:done + n] = self._buf[offset:offset + n]
            else:
                sequential = self._buf and start == self._buf_start + len(self._buf)
                span = max(want - done, min(self.max_fetch, 2 * len(self._buf))
                           if sequential else self.min_fetch)
                if not sequential and start + span > self.size:
                    # near the end (a zip's end records): what precedes comes next
                    start = max(0, self.size - span)
                end = min(self.size, start + span)
                data = self.fs.cat_file(self.path, start=start, end=end)
                self.requests += 1
                self.fetched += len(data)
                if not data:
                    break
                if self._seen is not None:
                    self._seen.append((start, data))
                self._buf, self._buf_start = data, start
                continue
            done += n
            self._pos += n
        return done


def _fsspec_url(spec: str) -> bool:
    """Whether a mount string is a plain or chained fsspec URL (not one of vfswasi's own)."""
    if "::" in spec:
        return True
    scheme, sep, _ = spec.partition("://")
    scheme = scheme.lower()
    if not sep or scheme in _OWN_SCHEMES or scheme.startswith("fsspec+"):
        return False
    try:
        from fsspec.registry import known_implementations, registry
    except ImportError:
        return False
    return scheme in known_implementations or scheme in registry


def open_mount(spec: str) -> Any:
    """The backend for a job's mount string (see the module docstring)."""
    if spec.startswith("overlay:"):
        from ..backends.overlay import OverlayBackend

        return OverlayBackend(open_mount(spec[len("overlay:"):]), close_lower=True)
    if not _fsspec_url(spec):
        from ..backends import open_backend

        return open_backend(spec)
    import fsspec

    first, _, rest = spec.partition("::")
    scheme = first.partition("://")[0].lower()
    if rest and scheme == "zip":
        # a zip in a (remote) filesystem: vfswasi's archive backend over ranged reads
        from ..backends.archive import archive

        subdir = first.partition("://")[2]
        fs, path = fsspec.core.url_to_fs(rest)
        ranged = RangedFile(fs, path)
        mounted = archive(ranged, format="zip", subdir=subdir)
        ranged.keep_tail(mounted.source.zf.start_dir)  # type: ignore[attr-defined]
        return mounted
    from ..backends.fsspec import from_fsspec

    fs, root = fsspec.core.url_to_fs(spec)
    return from_fsspec(fs, root)
