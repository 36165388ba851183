"""What the path-keyed backends (PyFS, fsspec) share: a directory handle is a path string of
the filesystem, and what POSIX wants that such a filesystem does not keep — inode numbers,
the identity of open files across renames — is kept per path, for the backend's lifetime.

- `_ino(path)`: an inode number handed out the first time a path is seen; a rename carries
  it along (`_moved`), a removal forgets it (`_forget`).
- Tables keyed by path (`_path_tables`: the inode table, and whatever a backend adds, such as
  exact times) and objects that follow a path (`_path_holders`: open files, with a `path`
  attribute, None once their name is gone) are moved and forgotten together.
- `rename_check`: rename(2)'s decision for two paths of one tree (`posix.rename_error` with
  the containment facts read off the paths).
- `error_translator`: a filesystem's exceptions as errno OSErrors, from a table.

Neither PyFS nor fsspec makes hard links or symlinks: `Backend`'s `_link` and `_symlink`
answer ENOTSUP (EROFS first on a read-only mount, as every mutation).
"""

from __future__ import annotations

import errno
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ..posix import Fact, rename_error
from ..vfs import Backend, new_device, oserror

#: (exception class or classes, errno), first match wins: subclasses before their bases
ErrnoTable = tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...]


def errno_of(table: ErrnoTable, exc: BaseException,
             fallback: Callable[[BaseException], int | None] | None = None) -> int:
    """The errno `table` gives `exc`, else `fallback(exc)`, else EIO."""
    for kinds, code in table:
        if isinstance(exc, kinds):
            return code
    code = fallback(exc) if fallback is not None else None
    return code or errno.EIO


def error_translator(
    table: ErrnoTable,
    catch: tuple[type[BaseException], ...],
    fallback: Callable[[BaseException], int | None] | None = None,
) -> Callable[[object], AbstractContextManager[None]]:
    """A context manager factory `translated(what)` that turns the exceptions in `catch`, and
    OSErrors that carry no errno (what file objects and fsspec raise), into errno OSErrors
    by `table` (`errno_of`); an OSError with an errno passes unchanged."""

    @contextmanager
    def translated(what: object = "") -> Iterator[None]:
        try:
            yield
        except OSError as e:
            if e.errno:
                raise
            raise oserror(errno_of(table, e, fallback), what) from e
        except catch as e:
            raise oserror(errno_of(table, e, fallback), what) from e

    return translated


def rename_check(src: str, dst: str, src_is_dir: bool, dst_kind: int | None,
                 dst_is_empty: Fact) -> None:
    """rename(2)'s errno for moving path `src` onto path `dst` of one tree, raised."""
    err = rename_error(src_is_dir, dst_kind, dst_is_empty=dst_is_empty,
                       src_contains_dst_dir=dst.startswith(src + "/"),
                       dst_contains_src_dir=src.startswith(dst + "/"))
    if err is not None:
        raise oserror(err, dst)


class PathKeyedBackend(Backend):
    """A backend whose directory handles are paths (see the module docstring)."""

    def __init__(self) -> None:
        self._dev = new_device()
        self._inos: dict[str, int] = {}
        self._next_ino = itertools.count(1)

    def _ino(self, path: str) -> int:
        ino = self._inos.get(path)
        if ino is None:
            ino = self._inos[path] = next(self._next_ino)
        return ino

    def _path_tables(self) -> tuple[dict[str, Any], ...]:
        """Every table keyed by path that renames carry and removals forget."""
        return (self._inos,)

    def _path_holders(self) -> Iterable[Any]:
        """Objects with a `path` that follows renames and becomes None on removal."""
        return ()

    def _moved(self, src: str, dst: str) -> None:
        """`src` (and everything below it) is now `dst`: carry what we know along."""

        def renamed(p: str) -> str | None:
            if p == src:
                return dst
            if p.startswith(src + "/"):
                return dst + p[len(src):]
            return None

        holders = list(self._path_holders())  # before the tables move (fsspec's are one)
        for table in self._path_tables():
            for p in [p for p in table if renamed(p) is not None]:
                table[renamed(p)] = table.pop(p)  # type: ignore[index]
        for h in holders:
            if h.path is not None and (new := renamed(h.path)) is not None:
                h.path = new

    def _forget(self, path: str) -> None:
        """`path` is gone: what we knew of it lapses, its holders lose their name."""
        holders = [h for h in self._path_holders() if h.path == path]
        for table in self._path_tables():
            table.pop(path, None)
        for h in holders:
            h.path = None
