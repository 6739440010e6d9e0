"""ASGI lifespan 2.0 per worker (asgiref `specs/lifespan.rst`), with `apps.asgi` whose
lifespan follows `ASGI_LIFESPAN`: the startup state in every request's scope,
`startup.failed` as a boot error (exit 3, the app's message in the log), `--lifespan
auto|on|off` with an app that does not support lifespan, and shutdown on a graceful stop
and on a recycle (`--max-requests`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from ferrule_proc import HERE
from rawhttp import Conn


def run_to_exit(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), "--bind", "127.0.0.1:0", *args],
        check=False, capture_output=True, text=True, timeout=30, env={**os.environ, **env})


def get(server, target: str):
    with Conn(server.address) as c:
        return c.request("GET", target)


def test_the_startup_state_reaches_every_request(ferrule_server):
    server = ferrule_server("apps.asgi:app")
    state = json.loads(get(server, "/state").body)
    assert state["greeting"] == "hello from lifespan"
    assert state["pid"] in server.worker_pids()


@pytest.mark.parametrize(
    ("mode", "lifespan", "logged"),
    [
        ("fail", "auto", "ASGI lifespan startup failed: database unreachable"),
        ("fail", "on", "ASGI lifespan startup failed: database unreachable"),
        ("unsupported", "on", "ValueError: this app only handles http"),
        ("raise", "on", "RuntimeError: lifespan startup exploded"),
    ],
)
def test_a_failed_startup_stops_the_server_with_exit_3_and_says_why(mode, lifespan, logged):
    result = run_to_exit("--lifespan", lifespan, "apps.asgi:app", env={"ASGI_LIFESPAN": mode})
    assert result.returncode == 3, result.stderr
    assert logged in result.stderr
    assert result.stderr.endswith("ferrule: A worker could not start (see the error above).\n")


@pytest.mark.parametrize("mode", ["unsupported", "raise"])
def test_auto_serves_an_app_that_raises_on_lifespan_without_it(ferrule_server, mode):
    server = ferrule_server("apps.asgi:app", env={"ASGI_LIFESPAN": mode})
    assert get(server, "/").body == b"hello, asgi"
    server.wait_for_log("ASGI lifespan is not supported by the app")
    assert json.loads(get(server, "/state").body) == {}


def test_off_never_runs_lifespan(ferrule_server):
    server = ferrule_server("--lifespan", "off", "apps.asgi:app", env={"ASGI_LIFESPAN": "fail"})
    assert get(server, "/").body == b"hello, asgi"
    assert json.loads(get(server, "/state").body) == {}


def wait_for_lines(path, count: int, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"{path}: fewer than {count} lines")


def test_shutdown_runs_on_a_recycle_and_on_a_graceful_stop(ferrule_server, tmp_path):
    record = tmp_path / "shutdowns"
    server = ferrule_server("--max-requests", "2", "apps.asgi:app",
                            env={"ASGI_SHUTDOWN_FILE": str(record)})
    first = json.loads(get(server, "/state").body)["pid"]
    get(server, "/")
    # The second request retires the worker: it drains and runs lifespan shutdown.
    assert wait_for_lines(record, 1) == [f"shutdown {first}"]
    deadline = time.monotonic() + 10
    second = first
    while second == first and time.monotonic() < deadline:
        second = json.loads(get(server, "/state").body)["pid"]
    assert second != first
    assert server.stop() == 0
    assert wait_for_lines(record, 2) == [f"shutdown {first}", f"shutdown {second}"]
