"""Importing PyFilesystem2 without its warnings.

`fs` 2.4.16 (unmaintained) declares its namespace package through
`pkg_resources.declare_namespace`, which warns (DeprecationWarning) on import. A project
that runs its tests with warnings as errors must not fail because vfswasi imported `fs`
on its behalf, so the code paths that import `fs` for the user (the pytest fixtures,
`vfswasi.testing`) import it first through `quiet_fs_import`, once per process.
"""

from __future__ import annotations

import sys
import warnings

#: the warnings importing fs 2.4.16 raises, and nothing else
_FS_IMPORT_WARNINGS = (
    r"Deprecated call to `pkg_resources\.declare_namespace",
    r"pkg_resources is deprecated",
)


def quiet_fs_import() -> None:
    """Import `fs` (and `pkg_resources`) with their import-time deprecation warnings
    silenced; a no-op once `fs` is imported."""
    if "fs" in sys.modules:
        return
    with warnings.catch_warnings():
        for message in _FS_IMPORT_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        import fs  # noqa: F401
