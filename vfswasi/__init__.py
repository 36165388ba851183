"""vfswasi: WASI preview1 host functions for wasmtime-py over virtual filesystems.

    import vfswasi
    from fs.memoryfs import MemoryFS
    result = vfswasi.run("prog.wasm", args=["prog", "x"], preopens={"/": MemoryFS()})
    result.exit_code, result.stdout, result.stderr

`import vfswasi` imports nothing but this module: each name below is imported on first use
(PEP 562), so the pytest plugin that installing vfswasi registers costs other projects
nothing (no wasmtime, no PyFilesystem2, no warnings).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .abi import Errno, WasiError
    from .api import WASI, Program, RunResult, WASIExit, archive, run
    from .backends.overlay import Overlay, overlay
    from .limits import (
        LimitExceeded,
        Limits,
        MemoryLimitExceeded,
        OutOfFuel,
        Quota,
        Terminated,
        Timeout,
        Usage,
    )
    from .modules import engine

__all__ = ["WASI", "RunResult", "WASIExit", "run", "Program", "archive", "overlay", "Overlay", "Errno",
           "WasiError", "Limits", "Quota", "Usage", "LimitExceeded", "Timeout", "OutOfFuel",
           "MemoryLimitExceeded", "Terminated", "engine", "__version__"]

#: public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(["Errno", "WasiError"], ".abi"),
    **dict.fromkeys(["WASI", "RunResult", "WASIExit", "archive", "run", "Program"], ".api"),
    **dict.fromkeys(["Overlay", "overlay"], ".backends.overlay"),
    **dict.fromkeys(["LimitExceeded", "Limits", "MemoryLimitExceeded", "OutOfFuel", "Quota",
                     "Terminated", "Timeout", "Usage"], ".limits"),
    "engine": ".modules",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(__name__)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        if _LAZY[name] == ".backends.overlay":  # it imports PyFilesystem2, which warns
            from ._compat import quiet_fs_import

            quiet_fs_import()
        value = getattr(import_module(_LAZY[name], __name__), name)
    elif not name.startswith("__"):  # a submodule, as after an eager import: vfswasi.vfs
        try:
            value = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
