"""Filesystem backends that serve a WASI mount (see `vfswasi.vfs.Backend`).

`open_backend` turns whatever a user passes as a preopen into a backend:

- a `Backend` instance: used as is;
- a host directory path (str / PathLike), an `osfs://` URL, or any FS whose root is a host
  directory (OSFS, TempFS, SubFS/WrapReadOnly over them): `HostDirBackend`, the secure dir-fd
  walk (PyFilesystem2's OSFS would follow host symlinks out of the mount);
- a `MemoryFS` or `mem://`: `MemoryBackend`, which adds symlinks, hard links, inode numbers
  and ns times on top of MemoryFS;
- any other PyFilesystem2 FS object or FS URL (`zip://`, `tar://`, ...): `PyFSBackend`.
"""

from __future__ import annotations

import os
from typing import Any

from ..vfs import Backend


def open_backend(spec: Any) -> Backend:
    if isinstance(spec, Backend):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if "://" not in text:
            return _hostdir(text)
        return _from_url(text)
    try:
        from fs.base import FS
    except ImportError as e:  # pragma: no cover - fs is a dependency
        raise TypeError(f"unsupported preopen: {spec!r}") from e
    if isinstance(spec, FS):
        return _from_fs(spec)
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
    import fs

    return _from_fs(fs.open_fs(url, writeable=False, create=False))


def _from_fs(filesystem: Any) -> Backend:
    from fs.memoryfs import MemoryFS

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
