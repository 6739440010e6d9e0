"""gunicorn's hooks in a real server, from an unmodified-style `gunicorn.conf.py` (issue #11
§4): each runs where gunicorn runs it, with gunicorn's arguments, in gunicorn's order; a
hook that raises is logged with its name and stops what docs/hooks.md says it stops.

Each hook appends a line to the file named by `HOOK_LOG`, so the test reads what ran, in
which process, in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from ferrule_proc import HERE, start_server
from rawhttp import Conn

CONF = textwrap.dedent("""\
    import os

    workers = 2
    threads = 2
    loglevel = "info"
    accesslog = None

    def _note(*words):
        with open(os.environ["HOOK_LOG"], "a") as log:
            log.write(" ".join(str(word) for word in words) + "\\n")

    def on_starting(server):
        _note("on_starting", server.pid == os.getpid(), server.cfg.workers)

    def when_ready(server):
        _note("when_ready", server.num_workers)

    def nworkers_changed(server, new_value, old_value):
        _note("nworkers_changed", new_value, old_value)

    def pre_fork(server, worker):
        _note("pre_fork", worker.age, worker.pid)

    def post_fork(server, worker):
        _note("post_fork", worker.age, worker.pid == os.getpid(), worker.ppid == server.pid)

    def post_worker_init(worker):
        _note("post_worker_init", worker.age, callable(worker.wsgi))

    def pre_request(worker, req):
        _note("pre_request", worker.pid == os.getpid(), req.method, req.path, req.query)
        if req.path == "/hook-fails":
            raise ValueError("refused by pre_request")

    def post_request(worker, req, environ, resp):
        _note("post_request", req.path, resp.status_code, resp.sent, environ["PATH_INFO"])

    def worker_int(worker):
        _note("worker_int", worker.age)

    def worker_exit(server, worker):
        _note("worker_exit", worker.age, worker.pid == os.getpid())

    def child_exit(server, worker):
        _note("child_exit", worker.age)

    def on_exit(server):
        _note("on_exit")
    """)


def notes(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def start(tmp_path: Path, conf: str, *args: str):
    (tmp_path / "gunicorn.conf.py").write_text(conf)
    log = tmp_path / "hooks.log"
    server = start_server("-c", str(tmp_path / "gunicorn.conf.py"), *args, "apps.dropin:app",
                          env={"HOOK_LOG": str(log)})
    return server, log


def test_hooks_run_where_and_when_gunicorn_runs_them(tmp_path: Path) -> None:
    server, log = start(tmp_path, CONF)
    try:
        server.wait_for_log(r"worker 2 \(pid \d+\) serving")
        with Conn(server.address) as c:
            resp = c.request("GET", "/hello?x=1")
            assert resp.status == 200
        with Conn(server.address) as c:
            assert c.request("GET", "/boom").status == 500
        server.wait_for_log(r"master phase: Running")
        server.proc.send_signal(signal.SIGTTIN)
        server.wait_for_log(r"worker 3 \(pid \d+\) serving")
    finally:
        assert server.stop() == 0
    lines = notes(log)
    # The master, in order: on_starting before anything, the worker count, the forks.
    assert lines[:2] == ["on_starting True 2", "nworkers_changed 2 None"]
    assert lines.count("pre_fork 1 None") == lines.count("pre_fork 2 None") == 1
    for age in (1, 2, 3):
        assert f"post_fork {age} True True" in lines
        assert f"post_worker_init {age} True" in lines
        assert f"worker_exit {age} True" in lines
        assert f"child_exit {age}" in lines
    assert "when_ready 2" in lines
    assert "nworkers_changed 3 2" in lines
    assert "pre_request True GET /hello x=1" in lines
    assert any(line.startswith("post_request /hello 200 ") and line.endswith(" /hello")
               for line in lines)
    assert lines.index("pre_request True GET /hello x=1") < next(
        i for i, line in enumerate(lines) if line.startswith("post_request"))
    # The app raised before its head: post_request sees the 500 the client got.
    assert "post_request /boom 500 0 /boom" in lines
    assert lines[-1] == "on_exit"
    assert "worker_int" not in " ".join(lines)  # TERM is not INT


def test_a_raising_pre_request_costs_that_request_only(tmp_path: Path) -> None:
    server, log = start(tmp_path, CONF, "--workers", "1")
    try:
        with Conn(server.address) as failing, Conn(server.address) as other:
            assert failing.request("GET", "/hook-fails").status == 500
            assert other.request("GET", "/fine").status == 200
            assert failing.request("GET", "/fine-too").status in (200,)
        server.wait_for_log(r"ferrule.errors.HookError: the pre_request hook raised ValueError")
        assert "ValueError: refused by pre_request" in server.log()
    finally:
        server.stop()


def test_quick_stop_runs_worker_int_then_worker_exit(tmp_path: Path) -> None:
    server, log = start(tmp_path, CONF, "--workers", "1")
    server.wait_for_log(r"master phase: Running")
    server.proc.send_signal(signal.SIGQUIT)
    server.proc.wait(timeout=20)
    lines = notes(log)
    assert lines.index("worker_int 1") < lines.index("worker_exit 1 True")


def run(tmp_path: Path, conf: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "gunicorn.conf.py").write_text(conf)
    env = dict(os.environ, HOOK_LOG=str(tmp_path / "hooks.log"))
    return subprocess.run(
        [sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), "-b", "127.0.0.1:0",
         "-c", str(tmp_path / "gunicorn.conf.py"), "apps.dropin:app"],
        capture_output=True, text=True, timeout=60, env=env, check=False)


def test_a_raising_post_fork_is_a_worker_that_cannot_boot(tmp_path: Path) -> None:
    result = run(tmp_path, "def post_fork(server, worker):\n    raise OSError('no database')\n")
    assert result.returncode == 3
    assert "the post_fork hook raised OSError" in result.stderr
    assert "OSError: no database" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "ferrule: A worker could not start (see the error above).")


def test_a_raising_on_starting_stops_the_boot_before_binding(tmp_path: Path) -> None:
    result = run(tmp_path, "def on_starting(server):\n    raise KeyError('secret')\n")
    assert result.returncode == 1
    assert "the on_starting hook raised KeyError" in result.stderr
    assert "listening on" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "ferrule: The on_starting hook raised; its traceback is above.")


def test_a_raising_when_ready_stops_the_server(tmp_path: Path) -> None:
    result = run(tmp_path, "def when_ready(server):\n    raise RuntimeError('not ready')\n")
    assert result.returncode == 1
    assert "the when_ready hook raised RuntimeError" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "ferrule: The when_ready hook raised; its traceback is above.")


def test_worker_abort_runs_when_a_request_is_stuck_past_its_timeout(tmp_path: Path) -> None:
    conf = CONF + "\ndef worker_abort(worker):\n    _note('worker_abort', worker.age, worker.aborted)\n"
    server, log = start(tmp_path, conf, "--workers", "1", "--request-timeout", "0.3s")
    try:
        with Conn(server.address) as c:
            assert c.request("GET", "/sleep").status == 504
        server.wait_for_log(r"this worker stops taking requests and is replaced")
        server.wait_for_log(r"worker 2 \(pid \d+\) serving")
        assert "worker_abort 1 True" in notes(log)
    finally:
        server.stop()


def test_on_reload_runs_on_hup_and_a_raising_one_does_not_stop_the_reload(
    tmp_path: Path,
) -> None:
    conf = CONF + "\ndef on_reload(server):\n    _note('on_reload')\n    raise OSError('x')\n"
    server, log = start(tmp_path, conf, "--workers", "1")
    try:
        server.wait_for_log(r"master phase: Running")
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_log(r"the on_reload hook raised OSError")
        server.wait_for_log(r"worker 2 \(pid \d+\) serving")
        assert "on_reload" in notes(log)
        with Conn(server.address) as c:
            assert c.request("GET", "/after-reload").status == 200
    finally:
        server.stop()


def test_a_raising_pre_exec_abandons_the_upgrade_and_serves_on(tmp_path: Path) -> None:
    conf = CONF + "\ndef pre_exec(server):\n    raise OSError('not now')\n"
    server, log = start(tmp_path, conf, "--workers", "1")
    try:
        server.wait_for_log(r"master phase: Running")
        server.proc.send_signal(signal.SIGUSR2)
        server.wait_for_log(r"upgrade abandoned: the pre_exec hook raised")
        server.wait_for_log(r"upgrade failed")
        with Conn(server.address) as c:
            assert c.request("GET", "/still-here").status == 200
        assert server.is_alive()
    finally:
        server.stop()
