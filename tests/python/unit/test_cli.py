"""Tests for python/ferrule/cli.py: exit codes and messages, in a subprocess for the real
command and in-process (with a fake core) for serving. No test here starts a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import ferrule
import pytest
from ferrule import BindError, Config
from ferrule.cli import (
    EXIT_APP_LOAD_ERROR,
    EXIT_CONFIG_ERROR,
    EXIT_OK,
    EXIT_SERVE_ERROR,
    EXIT_WORKER_BOOT_ERROR,
    main,
)
from ferrule.settings import SETTINGS

# Where the ferrule being tested lives (the source tree or site-packages).
PACKAGE_ROOT = Path(ferrule.__file__).resolve().parent.parent

APP = "def app(environ, start_response):\n    return [b'ok']\n"


def run_ferrule(*args: str, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m ferrule ARGS`, with no FERRULE_* variables but those in `env`."""
    full_env = {name: value for name, value in os.environ.items()
                if not name.startswith("FERRULE_")
                and name not in ("PORT", "WEB_CONCURRENCY", "SENDFILE", "GUNICORN_CMD_ARGS")}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "ferrule", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env=full_env, check=False)


def test_exit_codes_are_gunicorn_compatible() -> None:
    assert (EXIT_OK, EXIT_SERVE_ERROR, EXIT_CONFIG_ERROR, EXIT_WORKER_BOOT_ERROR,
            EXIT_APP_LOAD_ERROR) == (0, 1, 2, 3, 4)


# The master's last line when a worker could not import the app (the worker wrote the
# app's error just before; the master's log lines come in between).
BOOT_FAILED = "ferrule: A worker could not import the app (see the error above)."


def app_error_lines(stderr: str) -> list[str]:
    """stderr without the master's and workers' log lines (`[time] [pid] [LEVEL] ...`)."""
    return [line for line in stderr.splitlines() if not line.startswith("[")]


# ---- The real command, error paths only

@pytest.mark.parametrize(
    ("args", "env", "stderr"),
    [
        (["--threads", "0", "x:app"], {}, "ferrule: --threads must be >= 1, got 0\n"),
        (["--threads", "x", "x:app"], {}, "ferrule: --threads must be an integer, got 'x'\n"),
        (["x:app"], {"FERRULE_THREADS": "x"},
         "ferrule: FERRULE_THREADS must be an integer, got 'x'\n"),
        (["--bind", "::1", "x:app"], {},
         "ferrule: --bind must put an IPv6 address in brackets, like [::1]:8000, got '::1'\n"),
        (["--root-path", "api", "x:app"], {},
         ("ferrule: --root-path must be empty or start with '/' and not end with '/', "
          "got 'api'\n")),
        (["--no-such-flag", "x:app"], {}, "ferrule: Unknown flag '--no-such-flag'.\n"),
        # An unknown flag never takes the app with it (issue #13, item 1).
        (["-x", "myapp:app"], {}, "ferrule: Unknown flag '-x'.\n"),
        (["--forwarded-allow-ipz", "*", "x:app"], {},
         "ferrule: Unknown flag '--forwarded-allow-ipz'. Did you mean '--forwarded-allow-ips'?\n"),
        # A malformed app reference is refused before anything is bound (item 2).
        (["good:app("], {}, "ferrule: Invalid app reference 'good:app('; expected "
                            "'module:attribute'.\n"),
        (["--bind", "https://127.0.0.1:8000", "x:app"], {},
         "ferrule: --bind must not be https://: bind HOST:PORT and give certfile and keyfile, "
         "which serve TLS on every TCP address, got 'https://127.0.0.1:8000'\n"),
        (["--access-log-format", "%(h)s %(x)s", "x:app"], {},
         "ferrule: --access-log-format has an unknown atom %(x)s (known: h, l, u, t, r, m, U, q, "
         "H, s, B, b, f, a, T, M, D, L, p, peer, {header}i, {header}o), got '%(h)s %(x)s'\n"),
        ([], {},
         "ferrule: No app given; name one as MODULE:ATTRIBUTE, e.g. 'ferrule myapp:app'.\n"),
    ],
)
def test_bad_settings_exit_2_with_one_line(args: list[str], env: dict, stderr: str) -> None:
    result = run_ferrule(*args, env=env)
    assert (result.returncode, result.stderr, result.stdout) == (EXIT_CONFIG_ERROR, stderr, "")


def test_a_bad_config_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "ferrule.toml").write_text("threads = 0\n")
    result = run_ferrule("--config", "ferrule.toml", "x:app", cwd=tmp_path)
    assert result.returncode == EXIT_CONFIG_ERROR
    assert result.stderr == "ferrule: threads in ferrule.toml must be >= 1, got 0\n"


def test_a_missing_app_module_exits_4_before_binding(tmp_path: Path) -> None:
    result = run_ferrule("-b", "127.0.0.1:0", "nosuchmodule_for_ferrule_tests:app", cwd=tmp_path)
    assert result.returncode == EXIT_APP_LOAD_ERROR
    # No "listening on" line, no worker: the module's absence is found before binding.
    assert result.stderr == "ferrule: Could not import module 'nosuchmodule_for_ferrule_tests'.\n"


def test_a_missing_app_module_exits_4_before_binding_with_preload(tmp_path: Path) -> None:
    result = run_ferrule("--preload", "nosuchmodule_for_ferrule_tests:app", cwd=tmp_path)
    assert result.returncode == EXIT_APP_LOAD_ERROR
    assert result.stderr == (
        "ferrule: Could not import module 'nosuchmodule_for_ferrule_tests'.\n"
    )


def test_a_missing_attribute_exits_4(tmp_path: Path) -> None:
    (tmp_path / "webapp.py").write_text(APP)
    result = run_ferrule("-b", "127.0.0.1:0", "webapp:nope", cwd=tmp_path)
    assert result.returncode == EXIT_APP_LOAD_ERROR
    assert app_error_lines(result.stderr) == [
        "ferrule: Attribute 'nope' not found in module 'webapp'.", BOOT_FAILED]


def test_a_module_that_raises_exits_4_with_its_own_traceback(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("x = 1\ny = x / 0\n")
    result = run_ferrule("-b", "127.0.0.1:0", "boom:app", cwd=tmp_path)
    assert result.returncode == EXIT_APP_LOAD_ERROR
    lines = app_error_lines(result.stderr)
    assert lines[0] == "Traceback (most recent call last):"
    assert 'boom.py", line 2, in <module>' in result.stderr
    assert lines[-3:] == [
        "ZeroDivisionError: division by zero",
        "ferrule: Module 'boom' raised ZeroDivisionError while being imported.",
        BOOT_FAILED,
    ]
    # Only the app's frames: not importlib's, not ferrule's importer.
    assert "importlib" not in result.stderr
    assert "importer.py" not in result.stderr


def test_chdir_puts_the_directory_on_the_import_path(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "boom.py").write_text("raise RuntimeError('found me')\n")
    result = run_ferrule("-b", "127.0.0.1:0", "--chdir", "elsewhere", "boom:app", cwd=tmp_path)
    assert result.returncode == EXIT_APP_LOAD_ERROR
    assert "RuntimeError: found me" in result.stderr


def test_pythonpath_puts_directories_on_the_import_path(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "boom.py").write_text("raise RuntimeError('found me')\n")
    result = run_ferrule("-b", "127.0.0.1:0", "--pythonpath", str(tmp_path / "lib"), "boom:app")
    assert result.returncode == EXIT_APP_LOAD_ERROR
    assert "RuntimeError: found me" in result.stderr


def test_help_lists_flags_by_section_and_hides_gunicorn_aliases() -> None:
    result = run_ferrule("--help")
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    assert result.stdout.startswith("usage: ferrule ")
    for heading in ("Application:", "Server:", "Logging:", "Limits:", "Timeouts:"):
        assert f"\n{heading}\n" in result.stdout
    assert "--max-body-bytes SIZE" in result.stdout
    assert "(default: 4; env: FERRULE_THREADS)" in result.stdout
    assert "\n  --keep-alive" not in result.stdout  # accepted, mentioned, not listed


def test_version_flag_prints_the_compiled_core_version() -> None:
    from ferrule import _ferrule

    result = run_ferrule("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        EXIT_OK, f"ferrule {_ferrule.__version__}\n", "")


# ---- In-process, with a fake core

@pytest.fixture
def isolated(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """main() changes the working directory and sys.path; undo both after the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return tmp_path


def test_version_flag_prints_ferrule_and_the_version(
    fake_core, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out == "ferrule 9.9.9\n"


def test_serves_the_imported_app_with_its_settings(
    isolated: Path, fake_core, make_module: Callable
) -> None:
    make_module("served", APP)
    assert main(["--threads", "2", "-b", "127.0.0.1:0", "served:app"]) == EXIT_OK
    [(app, settings)] = fake_core.calls
    assert app is sys.modules["served"].app
    assert settings == Config(threads=2, bind="127.0.0.1:0").to_core()


def test_reads_sys_argv_when_no_argv_is_given(
    isolated: Path, fake_core, make_module: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_module("served", APP)
    monkeypatch.setattr(sys, "argv", ["ferrule", "--threads", "3", "served:app"])
    assert main() == EXIT_OK
    assert fake_core.calls[0][1]["threads"] == 3


def test_chdir_and_pythonpath_go_in_front_of_sys_path(
    isolated: Path, fake_core, make_module: Callable
) -> None:
    make_module("served", APP)
    (isolated / "site").mkdir()
    (isolated / "site" / "a").mkdir()
    assert main(["--chdir", "site", "--pythonpath", "a,b", "served:app"]) == EXIT_OK
    site = str(isolated / "site")
    assert os.getcwd() == site
    assert sys.path[:3] == [os.path.join(site, "a"), os.path.join(site, "b"), site]


@pytest.mark.parametrize(
    ("error", "code", "stderr"),
    [
        (BindError(98, "Could not bind to 127.0.0.1:8000: address already in use."),
         EXIT_SERVE_ERROR, "ferrule: Could not bind to 127.0.0.1:8000: address already in use.\n"),
        (BindError("Could not bind to unix:/x.sock: permission denied."),
         EXIT_SERVE_ERROR, "ferrule: Could not bind to unix:/x.sock: permission denied.\n"),
        (PermissionError(13, "Permission denied", "/var/log/a.log"),
         EXIT_SERVE_ERROR, "ferrule: [Errno 13] Permission denied: '/var/log/a.log'\n"),
        (KeyboardInterrupt(), EXIT_OK, ""),
    ],
)
def test_errors_from_the_server_become_exit_codes(
    isolated: Path, fake_core, make_module: Callable, capsys: pytest.CaptureFixture[str],
    error: BaseException, code: int, stderr: str,
) -> None:
    make_module("served", APP)
    fake_core.serve_raises = error
    assert main(["served:app"]) == code
    assert capsys.readouterr().err == stderr


def test_an_app_import_failure_never_starts_serving(
    isolated: Path, fake_core, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nosuchmodule_for_ferrule_tests"]) == EXIT_APP_LOAD_ERROR
    assert fake_core.calls == []
    assert capsys.readouterr().err == (
        "ferrule: Could not import module 'nosuchmodule_for_ferrule_tests'.\n")


def test_preload_imports_the_app_before_serving(
    isolated: Path, fake_core, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--preload", "nosuchmodule_for_ferrule_tests"]) == EXIT_APP_LOAD_ERROR
    assert fake_core.calls == []
    assert capsys.readouterr().err == (
        "ferrule: Could not import module 'nosuchmodule_for_ferrule_tests'.\n")


def test_sighup_rereads_the_settings_from_the_same_sources(
    isolated: Path, fake_core, make_module: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_module("served", APP)
    monkeypatch.setenv("FERRULE_THREADS", "2")
    assert main(["served:app"]) == EXIT_OK
    assert fake_core.name == "served:app"
    monkeypatch.setenv("FERRULE_THREADS", "6")
    assert fake_core.reload()["threads"] == 6


def test_help_ends_with_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    assert capsys.readouterr().out.endswith(
        "exit status:\n"
        "  0  stopped by SIGTERM or SIGINT (or --help, --version; --check-config: no problem)\n"
        "  1  the server failed, e.g. an address could not be bound (--check-config:\n"
        "     a problem)\n"
        "  2  a bad flag, environment variable or config file\n"
        "  3  a worker could not start\n"
        "  4  the app could not be imported\n"
    )


# ---- --check-config and --print-config (gunicorn's, issue #11 §4)

def test_check_config_loads_the_app_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "webapp.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text("workers = 2\nthreads = 3\n")
    result = run_ferrule("--check-config", "-c", "gunicorn.conf.py", "webapp:app", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (EXIT_OK, "")
    assert result.stderr == "ferrule: the settings and the app (webapp:app) load without a problem.\n"


@pytest.mark.parametrize(
    ("files", "args", "stderr_end"),
    [
        ({"webapp.py": APP, "c.py": "threads = 0\n"}, ["-c", "c.py", "webapp:app"],
         "ferrule: threads in c.py must be >= 1, got 0\n"),
        ({"boom.py": "raise RuntimeError('x')\n"}, ["boom:app"],
         "ferrule: Module 'boom' raised RuntimeError while being imported.\n"),
        ({}, ["nosuchmodule_for_ferrule_tests:app"],
         "ferrule: Could not import module 'nosuchmodule_for_ferrule_tests'.\n"),
        ({"webapp.py": APP}, ["--daemon", "webapp:app"],
         "ferrule: --daemon is not supported: ferrule does not daemonize: run it under systemd, "
         "supervisord or a container runtime (docs/deploy.md).\n"),
    ],
)
def test_check_config_exits_1_naming_the_problem(
    tmp_path: Path, files: dict, args: list, stderr_end: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run_ferrule("--check-config", *args, cwd=tmp_path)
    assert result.returncode == EXIT_SERVE_ERROR
    assert result.stderr.endswith(stderr_end)


def test_print_config_shows_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "webapp.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text(
        "workers = 2\ntimeout = 60\ndef post_fork(server, worker):\n    pass\n")
    result = run_ferrule("--print-config", "-c", "gunicorn.conf.py", "--threads", "8",
                         "webapp:app", cwd=tmp_path,
                         env={"FERRULE_BACKLOG": "64", "GUNICORN_CMD_ARGS": "--keep-alive 3"})
    assert result.returncode == EXIT_OK, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(lines) == {setting.name for setting in SETTINGS}
    assert lines["workers"].endswith("# file gunicorn.conf.py")
    assert " = 2 " in lines["workers"]
    assert " = 60s " in lines["worker_timeout"] and lines["worker_timeout"].endswith(
        "# file gunicorn.conf.py")
    assert lines["threads"].endswith("# flag --threads")
    assert lines["backlog"].endswith("# env FERRULE_BACKLOG")
    assert lines["keepalive_timeout"].endswith("# GUNICORN_CMD_ARGS (--keep-alive)")
    assert " = <post_fork()> " in lines["post_fork"]
    assert lines["max_requests"].endswith("# default")


def test_a_gunicorn_conf_py_that_is_not_named_gets_a_warning(tmp_path: Path) -> None:
    (tmp_path / "webapp.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text("workers = 2\n")
    result = run_ferrule("--check-config", "webapp:app", cwd=tmp_path)
    assert result.returncode == EXIT_OK
    assert result.stderr.startswith(
        "ferrule: warning: ./gunicorn.conf.py is not read: ferrule reads only the config file "
        "it is given; pass -c gunicorn.conf.py to use it.\n")
