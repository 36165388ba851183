"""`vfswasi run`: run a WASI command with virtual mounts (wasmtime-CLI-compatible flags).

(One module of ~600 lines on purpose: the argument parser and the translation of every flag
into a run read best side by side; the jobs' `batch` command lives in `vfswasi.jobs.batch`.)

    vfswasi run [--dir HOST[::GUEST]]... [--mount GUEST=FS_URL]... [--env K[=V]]...
                [--wasi-version preview1|unstable] [--tcplisten HOST:PORT]... [--trace [FILE]]
                [--overlay-dir HOST[::GUEST]]... [--changes] [-W timeout=1s,fuel=N,...]
                [--max-open-fds N] [--disk-bytes SIZE] [--disk-inodes N]
                [--max-file-size SIZE] [--mount-quota GUEST=SIZE[:INODES]]... [--no-limits]
                [--deterministic [SEED]] [--usage] WASM [ARGS...]
    vfswasi batch JOBS.jsonl [--workers N | --scheduler ADDRESS] [--results OUT.jsonl] [--quiet]
    vfswasi demo | vfswasi cache info|clear | vfswasi --version

`--overlay-dir` and `--mount GUEST=overlay:FS_URL` mount a copy-on-write view: the guest changes
it freely and the original is never written; `--changes` lists what it changed, on stderr.

The exit status is the guest's. A trap prints its message and exits 134 (as wasmtime's CLI,
which reports traps like an abort). Bad usage, a missing file or an invalid module print one
line and exit 2 (usage) or 1. A limit that stops the run prints one line and exits 124
(timeout), 125 (fuel) or 126 (max-memory-size); Ctrl-C exits 130 and SIGTERM 143, each after
the mounts were saved.

A mount that cannot be opened (a corrupt archive, a missing file, an unknown FS URL scheme)
is one line naming the flag, the mount and the file; two mounts at one guest path are refused.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import wasmtime

from . import __name__ as _package
from .limits import (
    DEFAULT_MAX_OPEN_FDS,
    LimitExceeded,
    Limits,
    Quota,
    Terminated,
    parse_duration,
    parse_size,
)
from .modules import cache_info, clear_cache, default_engine, imported_wasi_versions, load_module
from .sockets import listen_tcp

if TYPE_CHECKING:
    from .api import WASI
    from .backends.overlay import Overlay

TRAP_EXIT = 134
#: a run stopped by a limit: one line on stderr and one of these (124 as timeout(1))
LIMIT_EXIT = {"timeout": 124, "fuel": 125, "max_memory": 126}
INTERRUPT_EXIT, TERMINATE_EXIT = 130, 143


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def version_text() -> str:
    """What `vfswasi --version` prints: vfswasi's version and the engine's."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    try:
        engine = version("wasmtime")
    except PackageNotFoundError:  # pragma: no cover - wasmtime is a dependency
        engine = "unknown"
    python = ".".join(map(str, sys.version_info[:3]))
    return f"vfswasi {__version__} (wasmtime {engine}, Python {python})"


class _VersionAction(argparse.Action):
    """`--version`, its text made only when asked (reading package metadata costs a run
    ~20 ms of start-up otherwise)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vfswasi", description="Run WebAssembly with WASI over virtual filesystems.")
    parser.add_argument("-V", "--version", action=_VersionAction,
                        help="print vfswasi's version (and wasmtime's) and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("demo", help="run the bundled example guest on an in-memory tree and a zip")
    cache = sub.add_parser("cache", help="the on-disk cache of compiled modules",
                           description="Compiled modules are cached in $VFSWASI_CACHE_DIR "
                                       "(else ~/.cache/vfswasi), at most $VFSWASI_CACHE_SIZE "
                                       "bytes (default 1G; least recently used entries go "
                                       "first; 0 turns the cache off).")
    cache.add_argument("action", choices=["info", "clear"],
                       help="info: where the cache is and what it holds; clear: empty it")
    batch = sub.add_parser("batch", help="run the jobs of a JSONL file (vfswasi.jobs), in "
                           "parallel or on a Dask cluster")
    batch.add_argument("jobs", metavar="JOBS.jsonl", help="one vfswasi.jobs.Job as JSON a line")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="worker processes (default: the machine's cores)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a Dask scheduler (tcp://host:8786) to run the jobs on")
    batch.add_argument("--results", metavar="OUT.jsonl", help="write each job's result there")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
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
    run.add_argument("--wasi-version", "--version", dest="wasi_version",
                     choices=["preview1", "unstable"],
                     help="WASI ABI to provide (default: every one the module imports); "
                          "--version is an older spelling (`vfswasi --version`, before `run`, "
                          "prints vfswasi's version)")
    run.add_argument("--tcplisten", action="append", default=[], metavar="HOST:PORT",
                     help="hand the guest a listening TCP socket (fds after the preopens; "
                          "PORT 0-65535, 0 picks a free one)")
    run.add_argument("--trace", nargs="?", const="-", metavar="FILE",
                     help="log every WASI call strace-style to FILE (`--trace FILE` or "
                          "`--trace=FILE`), or to stderr (`--trace` with no FILE, or `-`); "
                          "a .wasm/.wat right after `--trace` is the module, not FILE")
    run.add_argument("-W", dest="wasm_options", action="append", default=[],
                     metavar="OPT=VAL[,...]",
                     help="wasmtime's limits: timeout=DURATION (1s, 500ms, 2m), fuel=N, "
                          "max-memory-size=BYTES; epoch-interruption=n for speed (Ctrl-C and "
                          "timeouts then stop the guest at its next WASI call only)")
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
                     help="lift the default limits (fds, in-memory storage); with no -W "
                          "limit either, the engine has no epoch checks (faster calls; "
                          "Ctrl-C then stops the guest at its next WASI call)")
    run.add_argument("--deterministic", nargs="?", const=0, type=int, metavar="SEED",
                     help="virtual clocks and seeded random_get: the same SEED and inputs "
                          "give the same output (`--deterministic SEED` or "
                          "`--deterministic=SEED`; SEED defaults to 0)")
    run.add_argument("--usage", action="store_true",
                     help="print what the run used on stderr afterwards (like strace -c)")
    run.add_argument("wasm", nargs="?", metavar="WASM", help="the .wasm (or .wat) file")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="arguments for the guest (optional)")
    return parser


def _run_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def split_run_argv(parser: argparse.ArgumentParser,
                   argv: list[str]) -> tuple[list[str], list[str]]:
    """`vfswasi run`'s argv (after "run") as (options, [WASM, *ARGS]): what follows the module
    is the guest's, untouched. Options with an optional value are spelled with `=` here:
    `--trace FILE` and `--trace=FILE` log to FILE, a bare `--trace` (followed by another
    option, by `-`, by the end, or by a .wasm/.wat file, the module) logs to stderr;
    `--deterministic SEED` takes a whole number, a bare `--deterministic` seed 0."""
    run = _run_parser(parser)
    takes_value = {opt for action in run._actions
                   if action.option_strings and action.nargs is None and _expects_value(action)
                   for opt in action.option_strings}
    options: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        following = argv[i + 1] if i + 1 < len(argv) else None
        if token == "--":
            return options, argv[i + 1:]
        if token == "--trace":
            if following is None or following.startswith("-") or \
                    following.endswith((".wasm", ".wat")):
                options.append("--trace=-")
                i += 1 + (following == "-")
            else:
                options.append(f"--trace={following}")
                i += 2
            continue
        if token == "--deterministic":
            if following is not None and re.fullmatch(r"-?[0-9]+", following):
                options.append(f"--deterministic={following}")
                i += 2
            else:
                options.append("--deterministic=0")
                i += 1
            continue
        if not token.startswith("-") or token == "-":
            return options, argv[i:]  # the module: the rest is the guest's
        options.append(token)
        if token in takes_value and following is not None:
            options.append(following)
            i += 1
        i += 1
    return options, []


def _expects_value(action: argparse.Action) -> bool:
    return not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                   argparse._HelpAction, argparse._VersionAction,
                                   argparse._CountAction, argparse._StoreConstAction))


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
#: -W epoch-interruption[=y|n]: an engine option, not a limit (see `epochs_wanted`)
_EPOCHS = "epoch-interruption"
_YES_NO = {"": True, "y": True, "yes": True, "true": True, "n": False, "no": False,
           "false": False}


def _wasm_options(opts: argparse.Namespace) -> Iterator[tuple[str, str, str]]:
    """(item, name, value) for every -W item, comma lists split."""
    for group in opts.wasm_options:
        for item in filter(None, group.split(",")):
            name, _sep, value = item.partition("=")
            yield item, name, value


def epochs_wanted(opts: argparse.Namespace, limits: Limits) -> bool:
    """-W epoch-interruption=n trades stopping pure wasm (Ctrl-C, timeouts: then at the next
    WASI call) for the cost of the epoch checks; on by default, off when no limit is left
    (--no-limits and no -W limit: `Limits.none()`, as `vfswasi.run` does) unless asked for."""
    wanted = not limits.unbounded
    for item, name, value in _wasm_options(opts):
        if name == _EPOCHS:
            if value.lower() not in _YES_NO:
                raise UsageError(f"-W {item}: expected {_EPOCHS}=y or {_EPOCHS}=n")
            wanted = _YES_NO[value.lower()]
    return wanted


def parse_limits(opts: argparse.Namespace) -> Limits:
    """The run's `Limits` from -W and vfswasi's own flags."""
    base = Limits.none() if opts.no_limits else Limits()
    changes: dict[str, object] = {}
    for item, name, value in _wasm_options(opts):
        if name == _EPOCHS:
            continue
        if name not in _WASMTIME_OPTIONS or "=" not in item:
            raise UsageError(f"-W {item}: expected one of "
                             f"{', '.join(k + '=...' for k in _WASMTIME_OPTIONS)}, "
                             f"{_EPOCHS}=y|n")
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
    spec = url[len("overlay:"):] if url.startswith("overlay:") else url
    scheme, has_scheme, _ = spec.partition("://")
    if has_scheme and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise UsageError(f"--mount {value}: {spec!r} has no valid scheme before '://' "
                         "(mem://, osfs://DIR, zip://FILE, tar://FILE, ...; or a host path)")
    return guest, url


def guest_key(guest: str) -> str:
    """A guest path as mounts are compared: `/data`, `/data/` and `/x/../data` are one."""
    return posixpath.normpath(guest) if guest else guest


def parse_env(value: str) -> tuple[str, str]:
    name, sep, val = value.partition("=")
    if not name:
        raise UsageError(f"--env expects NAME[=VALUE], got {value!r}")
    return name, (val if sep else os.environ.get(name, ""))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except UsageError as e:
        print(f"vfswasi: error: {e} (see 'vfswasi --help')", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_package}: interrupted", file=sys.stderr)
        return INTERRUPT_EXIT
    except Terminated:
        print(f"{_package}: terminated", file=sys.stderr)
        return TERMINATE_EXIT


_SUBCOMMANDS = ("run", "demo", "cache", "batch")
_TOP_LEVEL_FLAGS = ("-h", "--help", "-V", "--version")


def _main(argv: list[str]) -> int:
    from .api import WASI

    if argv and argv[0] not in (*_SUBCOMMANDS, *_TOP_LEVEL_FLAGS):
        argv = ["run", *argv]  # `vfswasi [OPTIONS] prog.wasm` as `wasmtime prog.wasm`
    parser = build_parser()
    guest_argv: list[str] = []
    if argv and argv[0] == "run":
        options, guest_argv = split_run_argv(parser, argv[1:])
        argv = ["run", *options, *guest_argv[:1]]
    try:
        opts = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version: printed, and done
        return e.code if isinstance(e.code, int) else 0
    if opts.command == "demo":
        from .demo import main as demo

        return demo()
    if opts.command == "cache":
        return _cache(opts.action)
    if opts.command == "batch":
        from .jobs import batch_command

        return batch_command(opts)
    if opts.wasm is None:
        raise UsageError("the following argument is required: WASM (the module to run; "
                         "ARGS after it are optional)")
    opts.args = guest_argv[1:]  # the guest's own, untouched
    mounts: list[tuple[str, str, str, object]] = []  # (flag, value, guest, spec)
    for value in opts.dir:
        guest, host = parse_dir(value)
        if not os.path.isdir(host):
            return _fail(f"--dir {value}: no such directory: {host}")
        mounts.append(("--dir", value, guest, host))
    for value in opts.mount:
        guest, url = parse_mount(value)
        mounts.append(("--mount", value, guest, url))
    for value in opts.overlay_dir:
        guest, host = parse_dir(value)
        if not os.path.isdir(host):
            return _fail(f"--overlay-dir {value}: no such directory: {host}")
        mounts.append(("--overlay-dir", value, guest, "overlay:" + host))
    seen: dict[str, str] = {}
    for flag, value, guest, _spec in mounts:
        earlier = seen.get(guest_key(guest))
        if earlier is not None:
            raise UsageError(f"{flag} {value}: {guest} is mounted twice (also by {earlier})")
        seen[guest_key(guest)] = f"{flag} {value}"
    if opts.changes and not any(str(m[3]).startswith("overlay:") for m in mounts):
        raise UsageError("--changes needs an overlay mount (--overlay-dir, or "
                         "--mount GUEST=overlay:FS_URL)")
    overlays: dict[str, Overlay] = {}
    env = dict(parse_env(v) for v in opts.env)
    limits = parse_limits(opts)
    engine = default_engine(fuel=limits.fuel is not None, epochs=epochs_wanted(opts, limits))

    try:
        module = load_module(opts.wasm, engine)
    except OSError as e:
        return _fail(f"cannot read {opts.wasm}: {e.strerror or e}")
    except wasmtime.WasmtimeError as e:
        if _not_webassembly(opts.wasm):
            return _fail(f"{opts.wasm} is not a WebAssembly module (neither binary wasm, "
                         "which starts with \\0asm, nor WAT text)")
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
    preopens: dict[str, object] = {}
    try:
        for address in opts.tcplisten:
            try:
                sockets.append(listen_tcp(address))
            except (OSError, ValueError) as e:
                return _fail(f"--tcplisten {address}: {e}")
        try:
            # Each mount opened here, so that an error names it; overlays as Overlay objects,
            # so that their changes can be listed.
            for flag, value, guest, spec in mounts:
                try:
                    preopens[guest] = _open_mount(spec)
                except Exception as e:  # noqa: BLE001 - opener errors have no common base
                    return _fail(f"cannot mount {guest} ({flag} {value}): {mount_error(e, spec)}")
                if isinstance(spec, str) and spec.startswith("overlay:"):
                    overlays[guest] = preopens[guest]  # type: ignore[assignment]
            wasi = WASI(version=version, args=[opts.wasm, *opts.args], env=env,
                        preopens=preopens, sockets=sockets, trace=trace, limits=limits,
                        deterministic=opts.deterministic)
            preopens = {}  # the WASI instance owns them now
        except (OSError, TypeError, ValueError) as e:
            return _fail(f"cannot mount: {e}")
        except Exception as e:  # noqa: BLE001 - PyFilesystem2 opener errors have no common base
            return _fail(f"cannot mount: {type(e).__name__}: {e}")
    finally:
        for sock in sockets:
            sock.close()  # the guest has its own duplicates
        for opened in preopens.values():  # a later mount failed: release the earlier ones
            _close_quietly(opened)
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
    exports = instance.exports(store)
    if exports.get("_start") is None and exports.get("_initialize") is not None:
        return _fail(f"cannot run {name}: it is a reactor (a library module: it exports "
                     "_initialize and no _start), not a command; call its exports from "
                     "Python: wasi.initialize(instance, store), then wasi.call(instance, NAME)")
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


def _open_mount(spec: object) -> object:
    """What `WASI(preopens=...)` takes for one mount, opened now (so errors are this mount's)."""
    from .backends import open_backend

    if isinstance(spec, str) and spec.startswith("overlay:"):
        from .backends.overlay import Overlay

        lower = open_backend(spec[len("overlay:"):])
        try:
            return Overlay(lower)
        except BaseException:
            lower.close()
            raise
    return open_backend(spec)


def _close_quietly(opened: object) -> None:
    try:
        opened.close()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001, S110 - already failing: the first error is the one shown
        pass


def mount_error(error: BaseException, spec: object) -> str:
    """One line saying why a mount could not be opened, naming the file when there is one."""
    import tarfile
    import zipfile

    url = str(spec)
    url = url[len("overlay:"):] if url.startswith("overlay:") else url
    scheme, has_scheme, rest = url.partition("://")
    path = rest.partition("!")[0] if has_scheme else url
    if isinstance(error, zipfile.BadZipFile):
        return f"{path} is not a readable zip archive ({_first_line(str(error))})"
    if isinstance(error, tarfile.TarError):
        detail = str(error).strip().splitlines()[-1].lstrip("- ") if str(error).strip() else ""
        return f"{path} is not a readable tar archive" + (f" ({detail})" if detail else "")
    if isinstance(error, FileNotFoundError) and not error.filename:
        return _first_line(str(error))
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename or path}: {error.strerror}"
    kind = type(error).__name__
    if kind == "UnsupportedProtocol":
        return f"unknown FS URL scheme {scheme + '://'!r} (no PyFilesystem2 opener for it)"
    text = _first_line(str(error)) or kind
    return text if isinstance(error, (ValueError, TypeError)) else f"{kind}: {text}"


def _not_webassembly(path: str) -> bool:
    """A file that is neither binary wasm nor WAT text (a typo'd name, a text file...)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    if head.startswith(b"\0asm"):
        return False
    text = head.lstrip()
    return not text.startswith((b"(", b";;"))


def _cache(action: str) -> int:
    if action == "clear":
        count, size = clear_cache()
        print(f"removed {count} compiled module(s), {_human(size)}, from {cache_info().path}")
        return 0
    info = cache_info()
    limit = "off" if info.max_bytes == 0 else _human(info.max_bytes)
    print(f"{info.path}: {info.entries} compiled module(s), {_human(info.size)} "
          f"(limit {limit}, $VFSWASI_CACHE_SIZE)")
    return 0


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _fail(message: str) -> int:
    print(f"{_package}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
