"""Issue 9, "a newcomer's first hour": one test (or a few) per numbered problem.

1. the pytest plugin breaks no other project (warnings as errors); 2. `--trace FILE`;
3. `--tcplisten` ports; 4. packaging; 5. API argument types; 6. no files left behind, the
module cache capped and clearable; 7. README snippets (tests/test_readme.py runs every
block); 8. versions; 9. error messages; 10. the trace's end, the examples' output.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
import wasmtime
from conftest import guest

import vfswasi
from vfswasi.cli import main

ROOT = Path(__file__).resolve().parent.parent
#: subprocesses import the working tree, not whatever copy of vfswasi is installed
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TREE = guest("tree")
REACTOR_WAT = ('(module (memory (export "memory") 1) (func (export "_initialize")) '
               '(func (export "add") (param i32 i32) (result i32) '
               '(i32.add (local.get 0) (local.get 1))))')


def cli(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vfswasi", *args], capture_output=True,
                          text=True, env=ENV, cwd=cwd, timeout=timeout)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# --- 1. the pytest plugin ---------------------------------------------------------------------


def _foreign_project(tmp_path: Path, test_body: str) -> subprocess.CompletedProcess:
    """A project that has nothing to do with vfswasi, testing with warnings as errors: in its
    pytest.ini, and from the interpreter's start (PYTHONWARNINGS, which also covers the
    loading of plugins, before pytest reads its ini file)."""
    project = tmp_path / "foreign"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    (project / "test_foreign.py").write_text(textwrap.dedent(test_body))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    try:
        importlib.metadata.distribution("vfswasi")
    except importlib.metadata.PackageNotFoundError:  # not installed: load the plugin by hand
        args += ["-p", "vfswasi.testing.plugin"]
    return subprocess.run(args, cwd=project, capture_output=True, text=True,
                          env={**ENV, "PYTHONWARNINGS": "error"}, timeout=120)


def test_a_foreign_project_with_warnings_as_errors_passes(tmp_path):
    done = _foreign_project(tmp_path, """
        def test_trivial(pytestconfig):
            # vfswasi's plugin was loaded (installing vfswasi registers it everywhere)
            assert pytestconfig.pluginmanager.has_plugin("vfswasi.testing.plugin")
    """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "warning" not in done.stdout.lower()


def test_the_plugins_fixtures_raise_no_warning_either(tmp_path):
    done = _foreign_project(tmp_path, """
        def test_memfs(memfs, wasi_run):
            memfs.writetext("/a.txt", "hi")
            assert memfs.readtext("/a.txt") == "hi"
    """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_loading_the_plugin_imports_nothing_heavy():
    code = ("import sys, vfswasi.testing.plugin, vfswasi\n"
            "heavy = [m for m in ('fs', 'wasmtime', 'hypothesis', 'pkg_resources', 'fsspec') "
            "if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from vfswasi import run, WASI\n"  # the API itself needs no PyFilesystem2 either
            f"run({str(TREE)!r}, args=['tree', 'ls', '/d'], preopens={{'/d': '.'}})\n"
            "assert 'fs' not in sys.modules, 'a host directory needs no PyFilesystem2'\n")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, env=ENV, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_host_dir_cli_run_imports_nothing_heavy(tmp_path):
    # `vfswasi run --dir` as the console script runs it, in a fresh interpreter: no
    # PyFilesystem2 (and its pkg_resources), fsspec or hypothesis for a host directory
    (tmp_path / "x.txt").write_bytes(b"x")
    argv = ["run", "--dir", f"{tmp_path}::/d", str(TREE), "ls", "/d"]
    code = ("import sys\n"
            "from vfswasi.cli import main\n"
            f"status = main({argv!r})\n"
            "heavy = [m for m in ('fs', 'pkg_resources', 'fsspec', 'hypothesis') "
            "if m in sys.modules]\n"
            "assert status == 0 and not heavy, (status, heavy)\n")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, env=ENV, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "f x.txt 1" in done.stdout


def test_the_lazy_package_still_offers_every_name():
    for name in vfswasi.__all__:
        assert getattr(vfswasi, name) is not None
    assert vfswasi.vfs.Backend  # submodules as attributes, as after an eager import
    with pytest.raises(AttributeError):
        vfswasi.no_such_name  # noqa: B018


# --- 2. --trace FILE ----------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [["--trace", "log.txt"], ["--trace=log.txt"]])
def test_trace_to_a_file_both_spellings(tmp_path, spelling):
    (tmp_path / "log.txt").write_text("an old log")  # an existing file is no module
    done = cli("run", *spelling, str(TREE), "write", "/dev/null", "x", cwd=tmp_path)
    log = (tmp_path / "log.txt").read_text()
    assert "args_get(" in log and log.rstrip().endswith("+++")
    assert "args_get(" not in done.stderr


@pytest.mark.parametrize("before", [[], ["--env", "A=1"]])
def test_bare_trace_goes_to_stderr(tmp_path, before):
    # followed by the module (a .wasm), or by another option: no FILE was given
    done = cli("run", "--trace", *before, str(TREE), "write", "/dev/null", "x", cwd=tmp_path)
    assert "args_get(" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_guest_arguments_after_the_module_are_never_options(tmp_path):
    done = cli("run", str(guest("sys")), "args", "--trace", "x", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--trace" in done.stdout and "args_get(" not in done.stderr


def test_help_says_both_trace_spellings():
    text = " ".join(cli("run", "--help").stdout.split())
    assert "--trace FILE" in text and "--trace=FILE" in text


# --- 3. --tcplisten ports -------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1:65536"])
def test_tcplisten_refuses_a_port_out_of_range(capsys, address):
    assert main(["run", "--tcplisten", address, str(TREE)]) == 1
    assert "out of range" in one_line(capsys.readouterr().err)


# --- 4. packaging -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the working tree (the checkout is left untouched)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "vfswasi", src / "vfswasi",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "--disable-pip-version-check",
                           "-w", str(dist), str(src)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    (found,) = dist.glob("vfswasi-*.whl")
    return found


def test_the_wheel_ships_the_license_and_declares_it(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = z.read(metadata).decode()
        (licence,) = [n for n in names if n.endswith("/LICENSE")]
        text = z.read(licence).decode()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "License-Expression: Apache-2.0" in meta
    assert "Classifier: Programming Language :: Python :: 3.11" in meta
    assert "example.com" not in meta and "Project-URL" not in meta  # no made-up URLs
    assert "vfswasi/demo/inventory.wasm" in names


def test_dependencies_and_dev_tools_are_bounded():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert any(c.startswith("Programming Language") for c in project["classifiers"])
    for requirement in project["optional-dependencies"]["test"]:
        if not requirement.startswith("fsspec"):  # calendar-versioned, a runtime extra too
            assert "<" in requirement, requirement
    (engine,) = [r for r in project["dependencies"] if r.startswith("wasmtime")]
    assert "<" in engine  # the fast path uses wasmtime-py internals: only tested releases


# --- 5. API argument types ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, words", [
    ({"args": "p ls /"}, TypeError, "args"),
    ({"args": ["p", 1]}, TypeError, "args[1]"),
    ({"args": 5}, TypeError, "args"),
    ({"preopens": {42: "."}}, TypeError, "preopens"),
    ({"preopens": ["/x"]}, TypeError, "preopens"),
    ({"preopens": {"/a": ".", "/a/": "."}}, ValueError, "preopens"),
    ({"env": ["A=1"]}, TypeError, "env"),
    ({"env": {"B": None}}, TypeError, "env['B']"),
    ({"env": {"B": 3}}, TypeError, "env['B']"),
    ({"env": {1: "x"}}, TypeError, "env"),
    ({"env": {"A=B": "x"}}, ValueError, "env"),
    ({"stdout": 4242}, ValueError, "stdout=4242"),
    ({"stdin": -1}, ValueError, "stdin=-1"),
])
def test_wasi_names_the_bad_argument(kwargs, error, words):
    with pytest.raises(error) as e:
        vfswasi.WASI(**kwargs)
    assert words in str(e.value)


def test_run_validates_too():
    with pytest.raises(TypeError, match="args"):
        vfswasi.run(TREE, args="tree ls /")


def test_a_closed_stdio_fd_is_refused_at_construction():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(ValueError, match="not an open file descriptor"):
        vfswasi.WASI(stderr=w)


def test_env_bytes_and_str_reach_the_guest_as_written():
    res = vfswasi.run(guest("sys"), args=["sys", "env"], env={"A": "1", b"B": b"\xff"})
    assert b"env A=1\n" in res.stdout and b"env B=\xff\n" in res.stdout


# --- 6. no files left behind; the module cache -----------------------------------------------------


@pytest.mark.parametrize("example", ["archives.py", "overlay.py"])
def test_examples_leave_no_files_behind(tmp_path, example):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "examples" / example)], cwd=tmp_path,
                          capture_output=True, text=True, env={**ENV, "TMPDIR": str(tmp)},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(tmp.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


def test_the_suite_uses_a_module_cache_of_its_own():
    cache = Path(os.environ["VFSWASI_CACHE_DIR"])
    assert Path.home() / ".cache" not in (cache, *cache.parents)


def _module(n: int) -> bytes:
    return wasmtime.wat2wasm(f'(module (func (export "f{n}") (result i32) (i32.const {n})))')


def test_the_module_cache_is_capped_least_recently_used_first(tmp_path, monkeypatch):
    from vfswasi import modules

    monkeypatch.setenv("VFSWASI_CACHE_DIR", str(tmp_path))
    modules.load_module(_module(1), wasmtime.Engine())
    (first,) = tmp_path.glob("*.cwasm")
    size = first.stat().st_size
    monkeypatch.setenv("VFSWASI_CACHE_SIZE", str(2 * size + size // 2))  # room for two
    os.utime(first, (1, first.stat().st_mtime))  # long unused...
    modules.load_module(_module(2), wasmtime.Engine())
    second = next(p for p in tmp_path.glob("*.cwasm") if p != first)
    os.utime(second, (2, second.stat().st_mtime))
    modules.load_module(_module(1), wasmtime.Engine())  # ...until now: a hit refreshes it
    modules.load_module(_module(3), wasmtime.Engine())  # the third entry evicts the second
    left = set(tmp_path.glob("*.cwasm"))
    assert len(left) == 2 and first in left and second not in left


def test_cache_size_zero_turns_the_disk_cache_off(tmp_path, monkeypatch):
    from vfswasi import modules

    monkeypatch.setenv("VFSWASI_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("VFSWASI_CACHE_SIZE", "0")
    modules.load_module(_module(4), wasmtime.Engine())
    assert not (tmp_path / "c").exists()


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    from vfswasi import modules

    monkeypatch.setenv("VFSWASI_CACHE_DIR", str(tmp_path))
    modules.load_module(_module(5), wasmtime.Engine())
    (tmp_path / "x.tmp").write_bytes(b"left by a crashed writer")
    assert main(["cache", "info"]) == 0
    assert f"{tmp_path}: 1 compiled module(s)" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 1 compiled module(s)" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


# --- 8. versions ---------------------------------------------------------------------------------------


def test_version_from_the_package_metadata():
    try:
        expected = importlib.metadata.version("vfswasi")
    except importlib.metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert vfswasi.__version__ == expected


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_cli_version(flag):
    done = cli(flag)
    assert done.returncode == 0
    assert done.stdout.startswith(f"vfswasi {vfswasi.__version__} (wasmtime ")


@pytest.mark.parametrize("flag", ["--wasi-version", "--version"])
def test_run_still_selects_the_wasi_abi(flag, capsys):
    assert main(["run", flag, "unstable", str(guest("sys")), "exit", "3"]) != 3  # not its ABI
    assert "wasi_snapshot_preview1" in capsys.readouterr().err
    assert main(["run", flag, "preview1", str(guest("sys")), "exit", "3"]) == 3


# --- 9. error messages -------------------------------------------------------------------------------


def _corrupt(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"this is not an archive\n" * 40)
    return path


@pytest.mark.parametrize("url, words", [
    ("zip://{dir}/bad.zip", "is not a readable zip archive"),
    ("zip+rw://{dir}/bad.zip", "is not a readable zip archive"),
    ("tar://{dir}/bad.tar", "is not a readable tar archive"),
    ("tar://{dir}/bad.tar.gz", "is not a readable tar archive"),
    ("tar+rw://{dir}/bad.tar", "is not a readable tar archive"),
    ("overlay:zip://{dir}/bad.zip", "is not a readable zip archive"),
    ("zip://{dir}/missing.zip", "missing.zip"),
    ("nosuchscheme://a", "unknown FS URL scheme"),
])
def test_a_mount_error_is_one_line_naming_the_mount_and_the_file(tmp_path, capsys, url, words):
    for name in ("bad.zip", "bad.tar", "bad.tar.gz"):
        _corrupt(tmp_path, name)
    value = "/x=" + url.format(dir=tmp_path)
    assert main(["run", "--mount", value, str(TREE)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"vfswasi: cannot mount /x (--mount {value}): ")
    assert words in line


def test_a_corrupt_tar_is_one_line_not_five(tmp_path):
    bad = _corrupt(tmp_path, "bad.tar")
    done = cli("run", "--mount", f"/t=tar://{bad}", str(TREE))
    assert done.returncode == 1 and str(bad) in one_line(done.stderr)


def test_a_url_without_a_scheme_is_a_usage_error(capsys):
    assert main(["run", "--mount", "/x=://foo", str(TREE)]) == 2
    assert "no valid scheme" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("mounts", [
    ["--mount", "/a=mem://", "--mount", "/a=mem://"],
    ["--dir", ".::/a", "--mount", "/a/=mem://"],
    ["--overlay-dir", ".::/data", "--dir", ".::/data"],
])
def test_two_mounts_at_one_guest_path_are_refused(capsys, mounts):
    assert main(["run", *mounts, str(TREE)]) == 2
    assert "mounted twice" in one_line(capsys.readouterr().err)


def test_a_text_file_is_not_a_module(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello, I am not wasm\n")
    assert main(["run", str(notes)]) == 1
    assert "is not a WebAssembly module" in one_line(capsys.readouterr().err)


def test_run_alone_says_only_wasm_is_required():
    done = cli("run")
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "required: WASM" in line and "ARGS," not in line and "WASM, ARGS" not in line


def test_a_reactor_given_to_run_is_explained(tmp_path, capsys):
    wat = tmp_path / "lib.wat"
    wat.write_text(REACTOR_WAT)
    assert main(["run", str(wat)]) == 1
    line = one_line(capsys.readouterr().err)
    assert "reactor" in line and "_initialize" in line and "wasi.initialize" in line


def test_wasmtime_style_options_without_run(tmp_path):
    done = cli("--env", "A=1", str(guest("sys")), "env", cwd=tmp_path)
    assert done.returncode == 0 and "A=1" in done.stdout


# --- 10. the trace's end, the examples' words -------------------------------------------------------


def test_the_trace_ends_when_start_returns():
    lines: list[str] = []
    vfswasi.run(TREE, args=["tree", "write", "/dev/null", "x"], trace=lines.append)
    assert lines[-1] == "+++ exited with 1 +++" or lines[-1] == "+++ exited with 0 +++"
    wat = '(module (memory (export "memory") 1) (func (export "_start")))'
    lines.clear()
    vfswasi.run(wasmtime.wat2wasm(wat), trace=lines.append)
    assert lines == ["+++ exited with 0 +++"]


def test_the_archives_example_says_its_exit_status_is_expected():
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "archives.py")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert "guest exit code 1 (expected" in done.stdout


def test_a_written_back_tar_keeps_working_after_the_cli_refused_a_mount(tmp_path):
    # a later mount's failure releases the earlier ones without writing them back
    archive = tmp_path / "w.tar"
    with tarfile.open(archive, "w"):
        pass
    before = archive.read_bytes()
    done = cli("run", "--mount", f"/w=tar+rw://{archive}", "--mount", "/x=nosuch://a",
               str(TREE), "write", "/w/new.txt", "x")
    assert done.returncode == 1 and archive.read_bytes() == before
