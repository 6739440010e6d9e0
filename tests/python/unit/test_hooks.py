"""Tests for python/ferrule/hooks.py: the runner calls gunicorn's hooks with gunicorn's
arguments, reports a hook that raises (logged with its name and traceback), and hands the
core nothing when no hook is set. The core's call points are tested end to end
(tests/python/e2e/test_gunicorn_hooks.py)."""

from __future__ import annotations

from typing import Any

import pytest
from ferrule import ConfigError
from ferrule.config import Config
from ferrule.errors import HookError
from ferrule.hooks import HOOKS, HookRunner, Request, Response, resolve


@pytest.fixture
def logged(fake_core) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    fake_core.log = lambda level, message: lines.append((level, message))
    return lines


def test_no_hook_set_means_no_runner() -> None:
    assert HookRunner.for_config(Config()) is None


def test_the_hooks_are_gunicorns() -> None:
    assert HOOKS == ("on_starting", "on_reload", "when_ready", "pre_fork", "post_fork",
                     "post_worker_init", "worker_int", "worker_abort", "pre_exec", "pre_request",
                     "post_request", "child_exit", "worker_exit", "nworkers_changed", "on_exit")


def test_hooks_get_gunicorns_arguments(logged: list) -> None:
    seen: list[tuple[str, Any]] = []

    def post_fork(server, worker):
        seen.append(("post_fork", (server.cfg.workers, server.cfg.timeout, worker.age,
                                   worker.pid is not None)))
        worker.log.info("worker %s booted", worker.age)

    def nworkers_changed(server, new_value, old_value):
        seen.append(("nworkers_changed", (new_value, old_value, server.num_workers)))

    runner = HookRunner(Config(post_fork=post_fork, nworkers_changed=nworkers_changed,
                               workers=2, worker_timeout="45s"))
    assert runner.post_fork(7) is True
    assert runner.nworkers_changed(3, 2) is True
    assert runner.on_exit() is True  # unset: nothing to run
    assert seen == [("post_fork", (2, 45.0, 7, True)), ("nworkers_changed", (3, 2, 3))]
    assert logged == [("info", "worker 7 booted")]


def test_a_hook_that_raises_is_logged_with_its_name_and_reported(logged: list) -> None:
    def when_ready(server):
        raise RuntimeError("database down")

    runner = HookRunner(Config(when_ready=when_ready))
    assert runner.when_ready() is False
    [(level, message)] = logged
    assert level == "error"
    assert message.startswith("the when_ready hook raised RuntimeError\nTraceback")
    assert "RuntimeError: database down" in message


def test_request_hooks_are_only_handed_over_when_set(logged: list) -> None:
    assert HookRunner(Config(on_exit=lambda server: None)).request_hooks() == (None, None)
    calls: list[Any] = []

    def pre_request(worker, req):
        calls.append((req.method, req.path, req.query, req.version, req.headers))
        if req.path == "/boom":
            raise ValueError("no")

    def post_request(worker, req, environ, resp):
        calls.append((resp.status_code, resp.sent, resp.response_length, environ is not None))

    pre, post = HookRunner(Config(pre_request=pre_request,
                                  post_request=post_request)).request_hooks()
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/a?b=1", "QUERY_STRING": "b=1",
               "SERVER_PROTOCOL": "HTTP/1.0", "HTTP_X_ID": "7", "CONTENT_TYPE": "text/plain"}
    pre(environ)
    post(environ, "201 Created", [("Content-Length", "5")], 5)
    assert calls == [("GET", "/a", "b=1", (1, 0), [("X-ID", "7"), ("CONTENT-TYPE", "text/plain")]),
                     (201, 5, 5, True)]
    with pytest.raises(HookError) as info:
        pre(dict(environ, RAW_URI="/boom"))
    assert str(info.value) == "the pre_request hook raised ValueError"
    assert isinstance(info.value.__cause__, ValueError)


def test_request_and_response_objects_read_like_gunicorns() -> None:
    req = Request({"REQUEST_METHOD": "POST", "RAW_URI": "/x", "REMOTE_ADDR": "10.0.0.1",
                   "wsgi.url_scheme": "http"})
    assert (req.method, req.uri, req.path, req.query, req.remote_addr, req.scheme) == (
        "POST", "/x", "/x", "", "10.0.0.1", "http")
    resp = Response("404 Not Found", [], 0)
    assert (resp.status, resp.status_code, resp.response_length) == ("404 Not Found", 404, None)


def test_a_hook_reference_is_imported_when_the_server_starts(make_module) -> None:
    make_module("myhooks", "def on_exit(server):\n    return 'bye'\n")
    assert resolve("myhooks:on_exit", "on_exit")(None) == "bye"
    assert resolve("myhooks.on_exit", "on_exit")(None) == "bye"
    with pytest.raises(ConfigError) as info:
        resolve("myhooks:nope", "on_exit")
    assert str(info.value) == (
        "on_exit = 'myhooks:nope': cannot load it (AttributeError: module 'myhooks' has no "
        "attribute 'nope').")
