"""WASI preview1 ABI: errno values, rights, flags, enums and struct layouts.

Values come from `wasi_snapshot_preview1.witx` (WebAssembly/WASI, branch wasi-0.1).
The three places where `wasi_unstable` differs (whence order, filestat, subscription_clock)
live in `vfswasi.context` (`Layout`, `UNSTABLE`); everything here is shared by both ABIs.

The names live in three modules, all importable from here: `values` (errno, rights, flags,
enums), `layout` (integer types, records, unions) and `params` (the parameter types of the
syscall declarations).
"""

from __future__ import annotations

# The package's names are its modules' public names, as `vfswasi.abi` has always offered them.
from .layout import *  # noqa: F403
from .params import *  # noqa: F403
from .values import *  # noqa: F403
