"""`--request-timeout` end to end: the client gets a 504, `ferrule.RequestTimeout` is raised
in the app's thread; a request that still runs after the grace gets its stack logged and its
worker replaced. Three kinds of stuck: a Python loop (the exception stops it), a
`time.sleep(3600)` (blocked in C without the GIL), a C loop holding the GIL.
"""

from __future__ import annotations

import time

from ferrule_proc import children
from rawhttp import Conn
from test_process_signals import get, wait_for_count

STUCK = "apps.process:stuck"


def start_stuck(*flags: str):
    from ferrule_proc import start_server

    server = start_server("--workers", "1", "--request-timeout", "1s",
                          "--graceful-timeout", "2s", *flags, STUCK)
    wait_for_count(server, r"master phase: Running", 1)
    return server


def timed_get(server, target: str):
    with Conn(server.address, timeout=20) as conn:
        started = time.monotonic()
        resp = conn.request("GET", target)
        return resp, time.monotonic() - started


def test_a_python_loop_gets_request_timeout_and_the_client_a_504():
    server = start_stuck()
    [worker] = children(server.proc.pid)
    resp, took = timed_get(server, "/loop")
    assert resp.status == 504
    assert resp.header("Connection") == "close"
    assert 0.9 < took < 3
    server.wait_for_log(r"cleanup ran in /loop")
    # The exception ended the request: the same worker serves on.
    assert get(server) == f"pid={worker}"
    assert "is still running" not in server.log()
    assert server.stop() == 0


def test_a_sleeping_request_has_its_stack_logged_and_its_worker_replaced():
    server = start_stuck()
    [worker] = children(server.proc.pid)
    resp, took = timed_get(server, "/sleep")
    assert resp.status == 504 and took < 3
    server.wait_for_log(r"is still running .* after RequestTimeout")
    server.wait_for_log(r"the stuck request's thread is at:")
    assert 'in _stuck\n    time.sleep(3600)' in server.log()
    server.wait_for_log(rf"worker 1 \(pid {worker}\) exited")
    [replacement] = children(server.proc.pid)
    assert replacement != worker
    assert get(server) == f"pid={replacement}"
    assert server.stop() == 0


def test_a_c_loop_holding_the_gil_gets_its_worker_replaced():
    server = start_stuck()
    [worker] = children(server.proc.pid)
    resp, took = timed_get(server, "/spin")
    assert resp.status == 504 and took < 3
    server.wait_for_log(r"is still running .* after RequestTimeout")
    server.wait_for_log(rf"worker 1 \(pid {worker}\) (exited|was killed|died)", timeout=15)
    [replacement] = children(server.proc.pid)
    assert replacement != worker
    assert get(server) == f"pid={replacement}"
    assert server.stop() == 0
