"""Starting the server every supported way, end to end: the `ferrule` console script,
`python -m ferrule`, and `ferrule.serve()` from Python code; the flags that decide what is
served and from where (`--root-path`, `--chdir`, `--pythonpath`); and the exit codes and
messages of a bad `--threads` and of an address already in use.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from ferrule_proc import HERE, LISTENING, START_TIMEOUT, RunningServer, start_server
from rawhttp import Conn

APP_SOURCE = textwrap.dedent("""\
    import json, os

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"module": __name__, "cwd": os.getcwd(),
                            "helper": HELPER}).encode()]
    """)


def launch(cmd: list[str], cwd: str | None = None) -> RunningServer:
    """Starts `cmd` and waits for its "listening on" line, like `conftest.start_server` but
    for any command line (the console script, a Python script)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    lines: list[str] = []
    match = None
    try:
        while match is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(timeout=remaining):
                proc.kill()
                raise AssertionError(f"did not start: {cmd}\n{''.join(lines)}")
            raw = proc.stderr.readline()
            if not raw:
                proc.wait(timeout=10)
                raise AssertionError(f"exited with {proc.returncode}: {cmd}\n{''.join(lines)}")
            lines.append(raw.decode("utf-8", "replace"))
            match = LISTENING.search(lines[-1])
    finally:
        sel.close()
    server = RunningServer(proc, match.group("host"), int(match.group("port")), None)
    server.log_lines.extend(lines)

    def pump():
        for raw in iter(proc.stderr.readline, b""):
            with server._log_lock:
                server.log_lines.append(raw.decode("utf-8", "replace"))

    threading.Thread(target=pump, daemon=True).start()
    return server


def assert_serves(server: RunningServer) -> None:
    with Conn(server.address) as c:
        resp = c.request("GET", "/echo?cli")
        assert (resp.status, resp.body) == (200, b"GET /echo?cli")


def environ_of(server: RunningServer, target: str) -> dict:
    with Conn(server.address) as c:
        resp = c.request("GET", target)
        assert resp.status == 200, resp.body
        return json.loads(resp.body)


def write_module(directory: Path, name: str, helper: str = "'none'") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(f"HELPER = {helper}\n" + APP_SOURCE)


# --------------------------------------------------------------------------------------------
# Ways to start


def test_serves_through_the_console_script():
    script = Path(sys.executable).parent / "ferrule"
    if not script.exists():
        pytest.skip("the ferrule console script is not installed next to this Python")
    server = launch([str(script), "--bind", "127.0.0.1:0", "--pythonpath", str(HERE),
                     "apps.http11:app"])
    try:
        assert_serves(server)
    finally:
        assert server.stop() == 0


def test_serves_through_python_m_ferrule():
    server = start_server("apps.http11:app")
    try:
        assert_serves(server)
    finally:
        assert server.stop() == 0


def test_serves_from_python_code_and_stops_on_sigterm(tmp_path):
    script = tmp_path / "serve_it.py"
    script.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import ferrule
        from apps.http11 import app
        ferrule.serve(app, bind="127.0.0.1:0", threads=8)
        print("serve() returned", flush=True)
        """))
    server = launch([sys.executable, str(script)])
    try:
        assert_serves(server)
        server.wait_for_log(r"serving with 8 thread\(s\)")
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0
        assert server.proc.stdout.read() == b"serve() returned\n"
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# What is served, and from where


@pytest.fixture(scope="module")
def root_path_server():
    running = start_server("--root-path", "/app", "apps.http11:app")
    yield running
    running.stop()


@pytest.mark.parametrize(("target", "script_name", "path_info"), [
    ("/app/environ", "/app", "/environ"),
    ("/app/environ?x=1", "/app", "/environ"),
])
def test_root_path_sets_script_name_and_strips_it_from_path_info(root_path_server, target,
                                                                 script_name, path_info):
    seen = environ_of(root_path_server, target)
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == (script_name, path_info)


def test_root_path_is_only_stripped_at_a_segment_boundary(root_path_server):
    with Conn(root_path_server.address) as c:
        # /application is not under /app: PATH_INFO keeps the whole path.
        assert c.request("GET", "/application/x").body == b"GET /application/x?"


def test_chdir_changes_directory_before_importing_the_app(tmp_path):
    app_dir = tmp_path / "site"
    write_module(app_dir, "chdir_app")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    server = start_server("--chdir", str(app_dir), "chdir_app:app", cwd=str(elsewhere))
    try:
        seen = environ_of(server, "/")
        assert seen["module"] == "chdir_app"
        assert os.path.realpath(seen["cwd"]) == os.path.realpath(app_dir)
    finally:
        assert server.stop() == 0


def test_pythonpath_is_relative_to_chdir(tmp_path):
    app_dir = tmp_path / "site"
    write_module(app_dir / "lib", "nested_app")
    server = start_server("--chdir", str(app_dir), "--pythonpath", "lib", "nested_app:app",
                          cwd=str(tmp_path))
    try:
        assert environ_of(server, "/")["module"] == "nested_app"
    finally:
        assert server.stop() == 0


def test_pythonpath_takes_several_directories(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "shared_helper.py").write_text("VALUE = 'from one'\n")
    write_module(tmp_path / "two", "path_app", helper="__import__('shared_helper').VALUE")
    server = start_server("--pythonpath", f"{tmp_path / 'one'},{tmp_path / 'two'}", "path_app:app",
                          cwd=str(tmp_path))
    try:
        seen = environ_of(server, "/")
        assert (seen["module"], seen["helper"]) == ("path_app", "from one")
    finally:
        assert server.stop() == 0


# --------------------------------------------------------------------------------------------
# Refusals


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), *args],
                          check=False, capture_output=True, text=True, timeout=30)


def test_exits_2_for_zero_threads():
    result = run_cli("--threads", "0", "apps.http11:app")
    assert result.returncode == 2
    assert result.stderr == "ferrule: --threads must be >= 1, got 0\n"


def test_exits_1_naming_the_address_when_it_is_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--bind", f"127.0.0.1:{port}", "apps.http11:app")
    assert result.returncode == 1
    assert result.stderr.startswith("ferrule: ")
    assert f"127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr
    assert "listening on" not in result.stderr
