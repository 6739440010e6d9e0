"""What ASGI frameworks add beyond the common contract of `test_frameworks.py`: a WebSocket
endpoint in Starlette, FastAPI, Quart and Litestar (the `websockets` client), FastAPI's
dependency reading the lifespan state and its `BackgroundTasks` (run after the response),
and Django's admin login over its ASGI handler with sqlite; FastAPI's `def` endpoints reuse
anyio's worker threads. Each app is unmodified.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from ferrule_proc import start_server
from websockets.sync.client import connect


@pytest.fixture(scope="module")
def fastapi_server():
    running = start_server("apps.frameworks.fastapi_app:app")
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


def test_fastapi_dependency_reads_the_lifespan_state(fastapi_server):
    got = requests.get(f"{fastapi_server.url}/lifespan", timeout=10).json()
    pid = fastapi_server.worker_pids()[0]
    assert got == {"greeting": f"from lifespan (pid {pid})"}


def test_fastapi_background_tasks_run_after_the_response(fastapi_server):
    response = requests.post(f"{fastapi_server.url}/background", params={"token": "t-42"}, timeout=10)
    assert response.json() == {"queued": "t-42"}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "t-42" in requests.get(f"{fastapi_server.url}/background-done", timeout=10).json()["finished"]:
            return
        time.sleep(0.05)
    raise AssertionError("the background task never ran")


def test_fastapi_def_endpoints_reuse_anyios_worker_threads(fastapi_server):
    # anyio keeps its worker threads for the task the loop runs until it stops; one request
    # after another, a `def` endpoint runs in the same idle thread again. Before the loop ran
    # a task of its own, each request's task was taken for that one and its thread stopped
    # with it: every request ran in a new thread (the count stayed 1).
    with requests.Session() as session:
        counts = [session.get(f"{fastapi_server.url}/sync-thread", timeout=10).json()
                  ["served_by_this_thread"] for _ in range(20)]
    assert counts[-1] >= 10, counts


def test_django_admin_login_over_asgi_with_sqlite(ferrule_server):
    server = ferrule_server("apps.frameworks.django_asgi_app:app")
    with requests.Session() as session:
        page = session.get(f"{server.url}/admin/login/", timeout=10)
        assert page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        login = session.post(f"{server.url}/admin/login/?next=/admin/", timeout=10, allow_redirects=False,
                             data={"csrfmiddlewaretoken": token, "username": "admin",
                                   "password": "ferrule-admin", "next": "/admin/"},
                             headers={"Referer": f"{server.url}/admin/login/"})
        assert login.status_code == 302, login.text[:500]
        assert login.headers["Location"] == "/admin/"
        index = session.get(f"{server.url}/admin/", timeout=10)
        assert index.status_code == 200
        assert "Site administration" in index.text
        wrong = requests.post(f"{server.url}/admin/login/", timeout=10,
                              data={"username": "admin", "password": "nope"})
        assert wrong.status_code == 403  # no CSRF token
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("framework", ["starlette", "fastapi", "quart", "litestar"])
def test_each_frameworks_websocket_endpoint_echoes(ferrule_server, framework):
    server = ferrule_server(f"apps.frameworks.{framework}_app:app")
    with connect(f"ws://{server.host}:{server.port}/ws") as ws:
        for text in ("hello", "é" * 3000):
            ws.send(text)
            assert ws.recv(timeout=5) == f"{framework}: {text}"
    # The close reaches the app as websocket.disconnect; nothing is logged as an error.
    time.sleep(0.2)
    assert "Traceback" not in server.log(), server.log()
