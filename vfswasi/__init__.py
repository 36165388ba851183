"""vfswasi: WASI preview1 host functions for wasmtime-py over virtual filesystems.

    from vfswasi import WASI, run
    result = run("prog.wasm", args=["prog", "x"], preopens={"/": fs.memoryfs.MemoryFS()})
    result.exit_code, result.stdout, result.stderr
"""

from .abi import Errno, WasiError
from .api import WASI, RunResult, WASIExit, archive, run
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

__all__ = ["WASI", "RunResult", "WASIExit", "run", "archive", "overlay", "Overlay", "Errno",
           "WasiError", "Limits", "Quota", "Usage", "LimitExceeded", "Timeout", "OutOfFuel",
           "MemoryLimitExceeded", "Terminated", "engine"]
