"""`vfswasi run`: run a WASI command with virtual mounts (wasmtime-CLI-compatible flags).

    vfswasi run [--dir HOST[::GUEST]]... [--mount GUEST=FS_URL]... [--env K[=V]]...
                [--version preview1|unstable] [--tcplisten HOST:PORT]... [--trace[=FILE]]
                [--overlay-dir HOST[::GUEST]]... [--changes] [-W timeout=1s,fuel=N,...]
                [--max-open-fds N] [--disk-bytes SIZE] [--disk-inodes N]
                [--max-file-size SIZE] [--mount-quota GUEST=SIZE[:INODES]]... [--no-limits]
                [--deterministic[=SEED]] [--usage] WASM [ARGS...]

`--overlay-dir` and `--mount GUEST=overlay:FS_URL` mount a copy-on-write view: the guest changes
it freely and the original is never written; `--changes` lists what it changed, on stderr.

The exit status is the guest's. A trap prints its message and exits 134 (as wasmtime's CLI,
which reports traps like an abort). Bad usage, a missing file or an invalid module print one
line and exit 2 (usage) or 1. A limit that stops the run prints one line and exits 124
(timeout), 125 (fuel) or 126 (max-memory-size); Ctrl-C exits 130 and SIGTERM 143, each after
the mounts were saved.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import wasmtime

from . import __name__ as _package
from .backends.overlay import Overlay
from .limits import (
    DEFAULT_MAX_OPEN_FDS,
    LimitExceeded,
    Limits,
    Quota,
    Terminated,
    parse_duration,
    parse_size,
)
from .modules import default_engine, imported_wasi_versions, load_module
from .sockets import listen_tcp

if TYPE_CHECKING:
    from .api import WASI

TRAP_EXIT = 134
#: a run stopped by a limit: one line on stderr and one of these (124 as timeout(1))
LIMIT_EXIT = {"timeout": 124, "fuel": 125, "max_memory": 126}
INTERRUPT_EXIT, TERMINATE_EXIT = 130, 143


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vfswasi", description="Run WebAssembly with WASI over virtual filesystems.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("demo", help="run the bundled example guest on an in-memory tree and a zip")
    run = sub.add_parser("run", help="run a WASI command module")
    run.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]",
                     help="preopen a host directory (secure dir-fd backend), as wasmtime")
    run.add_argument("--mount", action="append", default=[], metavar="GUEST=FS_URL",
                     help="preopen an FS URL or host path at GUEST: mem://, osfs://dir, "
                          "zip://a.zip and tar://b.tar.gz (read-only), zip+rw://a.zip and "
                          "tar+rw://b.tar.gz (changes written back to the archive on exit), "
                          "fsspec+PROTOCOL://PATH (e.g. fsspec+memory://), any PyFilesystem2 URL")
    run.add_argument("--overlay-dir", action="append", default=[], metavar="HOST[::GUEST]",
                     help="preopen a copy-on-write view of a host directory: the guest may "
                          "change anything, the directory is never written (same as "
                          "--mount GUEST=overlay:HOST; overlay:FS_URL works for any FS URL)")
    run.add_argument("--changes", action="store_true",
                     help="after the run, print what the guest changed in the overlay mounts "
                          "to stderr, one 'A|M|D PATH' line per added/modified/deleted path")
    run.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                     help="set an environment variable (NAME alone copies the host's)")
    run.add_argument("--version", dest="wasi_version", choices=["preview1", "unstable"],
                     help="WASI ABI to provide (default: what the module imports)")
    run.add_argument("--tcplisten", action="append", default=[], metavar="HOST:PORT",
                     help="hand the guest a listening TCP socket (fds after the preopens)")
    run.add_argument("--trace", metavar="FILE",
                     help="log every WASI call strace-style; `--trace` alone: to stderr, "
                          "`--trace=FILE`: to FILE")
    run.add_argument("-W", dest="wasm_options", action="append", default=[],
                     metavar="OPT=VAL[,...]",
                     help="wasmtime's limits: timeout=DURATION (1s, 500ms, 2m), fuel=N, "
                          "max-memory-size=BYTES")
    run.add_argument("--max-open-fds", type=_count, metavar="N",
                     help=f"open fds the guest may hold (default {DEFAULT_MAX_OPEN_FDS}; EMFILE)")
    run.add_argument("--disk-bytes", type=_size, metavar="SIZE",
                     help="bytes the guest may add to in-memory storage (memory mounts, "
                          "writable archives, overlays; default half of RAM; ENOSPC)")
    run.add_argument("--disk-inodes", type=_count, metavar="N",
                     help="files and directories the guest may add to in-memory storage")
    run.add_argument("--max-file-size", type=_size, metavar="SIZE",
                     help="the largest file the guest may make (EFBIG)")
    run.add_argument("--mount-quota", action="append", default=[], metavar="GUEST=SIZE[:INODES]",
                     help="a storage cap for one mount, within --disk-bytes/--disk-inodes")
    run.add_argument("--no-limits", action="store_true",
                     help="lift the default limits (fds, in-memory storage)")
    run.add_argument("--deterministic", nargs="?", const=0, type=int, metavar="SEED",
                     help="virtual clocks and seeded random_get: the same SEED and inputs "
                          "give the same output (SEED defaults to 0)")
    run.add_argument("--usage", action="store_true",
                     help="print what the run used on stderr afterwards (like strace -c)")
    run.add_argument("wasm", metavar="WASM", help="the .wasm (or .wat) file")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="arguments for the guest")
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


#: wasmtime's -W names -> (Limits field, parser)
_WASMTIME_OPTIONS = {
    "timeout": ("timeout", parse_duration),
    "fuel": ("fuel", lambda v: _count(v)),
    "max-memory-size": ("max_memory", parse_size),
}


def parse_limits(opts: argparse.Namespace) -> Limits:
    """The run's `Limits` from -W and vfswasi's own flags."""
    base = Limits.none() if opts.no_limits else Limits()
    changes: dict[str, object] = {}
    for group in opts.wasm_options:
        for item in filter(None, group.split(",")):
            name, sep, value = item.partition("=")
            if name not in _WASMTIME_OPTIONS or not sep:
                raise UsageError(f"-W {item}: expected one of "
                                 f"{', '.join(k + '=...' for k in _WASMTIME_OPTIONS)}")
            field_name, parse = _WASMTIME_OPTIONS[name]
            try:
                changes[field_name] = parse(value)
            except (ValueError, argparse.ArgumentTypeError) as e:
                raise UsageError(f"-W {item}: {e}") from None
    for flag, field_name in (("max_open_fds", "max_open_fds"), ("disk_bytes", "disk_bytes"),
                             ("disk_inodes", "disk_inodes"), ("max_file_size", "max_file_size")):
        if getattr(opts, flag) is not None:
            changes[field_name] = getattr(opts, flag)
    mounts: dict[str, Quota] = {}
    for value in opts.mount_quota:
        guest, sep, spec = value.partition("=")
        size, _, inodes = spec.partition(":")
        try:
            if not guest or not sep:
                raise ValueError("expected GUEST=SIZE[:INODES]")
            mounts[guest] = Quota(bytes=parse_size(size) if size else None,
                                  inodes=_count(inodes) if inodes else None)
        except (ValueError, argparse.ArgumentTypeError) as e:
            raise UsageError(f"--mount-quota {value}: {e}") from None
    if mounts:
        changes["mounts"] = mounts
    return base.replace(**changes)


def parse_dir(value: str) -> tuple[str, str]:
    host, sep, guest = value.partition("::")
    return (guest if sep else host), host


def parse_mount(value: str) -> tuple[str, str]:
    guest, sep, url = value.partition("=")
    if not sep or not guest or not url:
        raise UsageError(f"--mount expects GUEST=FS_URL, got {value!r}")
    return guest, url


def parse_env(value: str) -> tuple[str, str]:
    name, sep, val = value.partition("=")
    if not name:
        raise UsageError(f"--env expects NAME[=VALUE], got {value!r}")
    return name, (val if sep else os.environ.get(name, ""))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except UsageError as e:
        print(f"vfswasi: error: {e} (see 'vfswasi run --help')", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_package}: interrupted", file=sys.stderr)
        return INTERRUPT_EXIT
    except Terminated:
        print(f"{_package}: terminated", file=sys.stderr)
        return TERMINATE_EXIT


def _main(argv: list[str]) -> int:
    from .api import WASI

    if argv and argv[0] not in ("run", "demo", "-h", "--help") and not argv[0].startswith("-"):
        argv = ["run", *argv]  # `vfswasi prog.wasm` as `wasmtime prog.wasm`
    given = argv
    # A bare `--trace` means stderr; `--trace FILE` would swallow the module's name.
    # Likewise a bare `--deterministic` means seed 0.
    bare = {"--trace": "--trace=-", "--deterministic": "--deterministic=0"}
    argv = [bare.get(a, a) for a in argv]
    opts = build_parser().parse_args(argv)
    if opts.command == "run" and opts.args:
        opts.args = given[len(given) - len(opts.args):]  # the guest's own, untouched
    if opts.command == "demo":
        from .demo import main as demo

        return demo()
    preopens: dict[str, object] = {}
    for value in opts.dir:
        guest, host = parse_dir(value)
        if not os.path.isdir(host):
            return _fail(f"--dir {value}: no such directory: {host}")
        preopens[guest] = host
    for value in opts.mount:
        guest, url = parse_mount(value)
        preopens[guest] = url
    for value in opts.overlay_dir:
        guest, host = parse_dir(value)
        if not os.path.isdir(host):
            return _fail(f"--overlay-dir {value}: no such directory: {host}")
        preopens[guest] = "overlay:" + host
    if opts.changes and not any(str(s).startswith("overlay:") for s in preopens.values()):
        raise UsageError("--changes needs an overlay mount (--overlay-dir, or "
                         "--mount GUEST=overlay:FS_URL)")
    overlays: dict[str, Overlay] = {}
    env = dict(parse_env(v) for v in opts.env)
    limits = parse_limits(opts)
    engine = default_engine(fuel=limits.fuel is not None)

    try:
        module = load_module(opts.wasm, engine)
    except OSError as e:
        return _fail(f"cannot read {opts.wasm}: {e.strerror or e}")
    except wasmtime.WasmtimeError as e:
        return _fail(f"invalid module {opts.wasm}: {_first_line(str(e))}")
    # Every WASI ABI the module imports (both, for a module importing both).
    version = opts.wasi_version or imported_wasi_versions(module) or "preview1"
    trace = sys.stderr if opts.trace == "-" else opts.trace
    if trace is not None and trace is not sys.stderr:
        try:
            open(trace, "w").close()  # noqa: SIM115 - fail here, in one line
        except OSError as e:
            return _fail(f"--trace={trace}: {e.strerror or e}")
    sockets = []
    try:
        for address in opts.tcplisten:
            try:
                sockets.append(listen_tcp(address))
            except (OSError, ValueError) as e:
                return _fail(f"--tcplisten {address}: {e}")
        try:
            # Overlay objects rather than "overlay:" URLs, so their changes can be listed
            for guest, spec in preopens.items():
                if isinstance(spec, str) and spec.startswith("overlay:"):
                    preopens[guest] = overlays[guest] = Overlay(spec[len("overlay:"):])
            wasi = WASI(version=version, args=[opts.wasm, *opts.args], env=env,
                        preopens=preopens, sockets=sockets, trace=trace, limits=limits,
                        deterministic=opts.deterministic)
        except (OSError, TypeError, ValueError) as e:
            return _fail(f"cannot mount: {e}")
        except Exception as e:  # noqa: BLE001 - PyFilesystem2 opener errors have no common base
            return _fail(f"cannot mount: {type(e).__name__}: {e}")
    finally:
        for sock in sockets:
            sock.close()  # the guest has its own duplicates
    try:
        with _reporting_usage(wasi, opts.usage), _closing_overlays(overlays, report=opts.changes), \
                wasi:
            return _run(wasi, module, opts.wasm, engine)
    except Exception as e:  # noqa: BLE001 - closing failed, e.g. an archive's write-back
        return _fail(f"could not save the mounts after the run: {type(e).__name__}: {e}")


@contextmanager
def _reporting_usage(wasi: WASI, report: bool) -> Iterator[None]:
    try:
        yield
    finally:
        if report:
            print(wasi.usage.report(), file=sys.stderr)


def _run(wasi: WASI, module: wasmtime.Module, name: str, engine: wasmtime.Engine) -> int:
    """Instantiate and start; the guest's exit status, or one line for what went wrong."""
    store = wasmtime.Store(engine)
    try:
        instance = wasi.instantiate(store, module)
    except wasmtime.WasmtimeError as e:  # e.g. an import nobody provides
        return _fail(f"cannot instantiate {name}: {_first_line(str(e))}")
    try:
        return wasi.start(instance, store)
    except TypeError as e:  # not a command (no _start, no memory, ...)
        return _fail(f"cannot run {name}: {e}")
    except LimitExceeded as e:
        print(f"{_package}: {name}: {e}", file=sys.stderr)
        return LIMIT_EXIT.get(e.limit, 1)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        print(f"Error: failed to run main module `{name}`\n\n{e}", file=sys.stderr)
        return TRAP_EXIT


@contextmanager
def _closing_overlays(overlays: dict[str, Overlay], *, report: bool) -> Iterator[None]:
    """After the run (the WASI instance closed): list the overlays' changes, release them."""
    try:
        yield
    finally:
        for guest, overlay in overlays.items():
            if report:
                for line in overlay.changes().lines():
                    kind, _, path = line.partition(" ")
                    print(f"{kind} {guest.rstrip('/')}/{path}", file=sys.stderr)
            overlay.close()


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _fail(message: str) -> int:
    print(f"{_package}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
