"""Filesystem backends that serve a WASI mount (see `vfswasi.vfs.Backend`).

`open_backend` turns whatever a user passes as a preopen into a backend:

- a `Backend` instance: used as is;
- a host directory path (str / PathLike), an `osfs://` URL, or any FS whose root is a host
  directory (OSFS, TempFS, SubFS/WrapReadOnly over them): `HostDirBackend`, the secure dir-fd
  walk (PyFilesystem2's OSFS would follow host symlinks out of the mount);
- a `MemoryFS` or `mem://`: `MemoryBackend`, which adds symlinks, hard links, inode numbers
  and ns times on top of MemoryFS;
- a zip or tar archive (`zip://a.zip`, `tar://b.tar.gz`, `ReadZipFS`, `ReadTarFS`):
  `ArchiveBackend`, read-only, streamed; `zip+rw://` / `tar+rw://` URLs: `WritableArchiveBackend`,
  written back when the WASI instance closes (see `backends/archive.py`);
- an fsspec filesystem object or an `fsspec+PROTOCOL://PATH` URL: `FsspecBackend`
  (`backends/fsspec.py`; fsspec's local filesystem goes to `HostDirBackend`);
- any other PyFilesystem2 FS object or FS URL: `PyFSBackend` (a `WriteZipFS` / `WriteTarFS`
  too: the guest writes into its staging area, the archive is written when you close it);
- a `vfswasi.overlay(...)` object, or `overlay:SPEC` (SPEC being any of the above as a string):
  `OverlayBackend`, a copy-on-write view that never writes SPEC (`backends/overlay.py`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..vfs import Backend


def open_backend(spec: Any) -> Backend:
    if isinstance(spec, Backend):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if text.startswith("overlay:"):
            from .overlay import OverlayBackend

            return OverlayBackend(open_backend(text[len("overlay:"):]), close_lower=True)
        if "://" not in text:
            return _hostdir(text)
        return _from_url(text)
    try:
        from fs.base import FS
    except ImportError as e:  # pragma: no cover - fs is a dependency
        raise TypeError(f"unsupported preopen: {spec!r}") from e
    if isinstance(spec, FS):
        return _from_fs(spec)
    from .overlay import Overlay

    if isinstance(spec, Overlay):
        return spec.backend
    fsspec = sys.modules.get("fsspec")  # an fsspec object means fsspec is imported already
    if fsspec is not None and isinstance(spec, fsspec.AbstractFileSystem):
        from .fsspec import from_fsspec

        return from_fsspec(spec)
    raise TypeError(
        f"unsupported preopen {spec!r}: give a host directory path, an FS URL, "
        "a PyFilesystem2 FS object or a vfswasi Backend"
    )


def _hostdir(path: str, *, readonly: bool = False) -> Backend:
    from .hostdir import HostDirBackend

    if not os.path.isdir(path):
        raise FileNotFoundError(f"preopen directory does not exist: {path}")
    return HostDirBackend(path, readonly=readonly)


def _from_url(url: str) -> Backend:
    scheme = url.split("://", 1)[0].lower()
    if scheme == "osfs":
        return _hostdir(url.split("://", 1)[1])
    if scheme in ("zip", "tar", "zip+rw", "tar+rw"):
        from .archive import from_url

        return from_url(url)
    if url.lower() == "mem://":  # a tree of its own, which the backend makes (and times)
        from .memory import MemoryBackend

        return MemoryBackend()
    if scheme.startswith("fsspec+"):
        from .fsspec import from_url as fsspec_url

        return fsspec_url(url)
    import fs

    return _from_fs(fs.open_fs(url, writeable=False, create=False))


def _from_fs(filesystem: Any) -> Backend:
    from fs.memoryfs import MemoryFS
    from fs.tarfs import ReadTarFS, WriteTarFS
    from fs.zipfs import ReadZipFS, WriteZipFS

    if isinstance(filesystem, (ReadZipFS, ReadTarFS)):
        from .archive import ArchiveBackend

        return ArchiveBackend(filesystem)
    if isinstance(filesystem, (WriteZipFS, WriteTarFS)):
        # its staging area is a host temp dir, but PyFS follows symlinks when it packs it:
        # serve it through PyFS, which lets the guest make no symlinks there
        from .pyfs import PyFSBackend

        return PyFSBackend(filesystem)
    if filesystem.hassyspath("/"):
        # OSFS, TempFS, SubFS or WrapReadOnly over one: PyFilesystem2 would let the OS follow
        # host symlinks out of the mount, so serve the same directory through the dir-fd walk.
        return _hostdir(filesystem.getsyspath("/"),
                        readonly=bool(filesystem.getmeta().get("read_only", False)))
    if isinstance(filesystem, MemoryFS):
        from .memory import MemoryBackend

        return MemoryBackend(filesystem)
    from .pyfs import PyFSBackend

    return PyFSBackend(filesystem)
