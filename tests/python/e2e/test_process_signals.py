"""The master and its workers, end to end: real processes, real signals, the process tree
read from /proc before and after. Each test starts its own server (most stop it).

Signals: TERM (graceful), INT and QUIT (quick), HUP (new generation, then the old stops),
TTIN/TTOU (one worker more/fewer), USR1 (reopen logs), and a worker killed from outside.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ferrule_proc import HERE, RunningServer, children, start_server
from rawhttp import Conn, request

APP = "apps.process:app"


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as file:
        return file.read().rstrip(b"\0").replace(b"\0", b" ").decode()


def get(server: RunningServer, target: str = "/pid") -> str:
    """One request on a new connection; the body (`pid=N ...`)."""
    resp = request(server.address, f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                   .encode(), timeout=10)
    assert resp.status == 200, resp
    return resp.body.decode()


def served_by(body: str) -> int:
    return int(re.match(r"pid=(\d+)", body).group(1))


def wait_for_count(server: RunningServer, pattern: str, count: int, timeout: float = 10.0) -> None:
    """Waits until `count` stderr lines match `pattern`."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for line in server.log().splitlines() if rx.search(line)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} lines match {pattern!r}:\n{server.log()}")


def start(*flags: str, workers: int | None = 2, **kwargs) -> RunningServer:
    """The server with `--workers N` (None: no flag, one worker unless a file says more),
    once every worker serves."""
    given = ("--workers", str(workers)) if workers is not None else ()
    server = start_server(*given, *flags, APP, **kwargs)
    wait_for_count(server, r"worker \d+ \(pid \d+\) serving", workers or 1)
    wait_for_count(server, r"master phase: Running", 1)
    return server


def serving_pids(server: RunningServer) -> set[int]:
    """Pids the master logged as serving and not yet exited."""
    log = server.log()
    serving = {int(pid) for pid in re.findall(r"worker \d+ \(pid (\d+)\) serving", log)}
    gone = {int(pid) for pid in re.findall(
        r"worker \d+ \(pid (\d+)\) (?:exited|died|was killed)", log)}
    return serving - gone


def assert_gone(pids) -> None:
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), pid


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_master_forks_titled_workers_and_term_stops_them_all():
    server = start(workers=3)
    workers = children(server.proc.pid)
    assert len(workers) == 3
    assert cmdline(server.proc.pid).startswith(f"ferrule: master [{APP}]")
    titles = sorted(cmdline(pid) for pid in workers)
    assert [t.split(" [")[0] for t in titles] == [
        "ferrule: worker 1", "ferrule: worker 2", "ferrule: worker 3"]
    with open(f"/proc/{server.proc.pid}/comm") as file:
        assert file.read().strip() == "master [apps.pr"  # the kernel keeps 15 bytes
    # Every worker serves; the master never does (it runs no app code).
    assert {served_by(get(server)) for _ in range(30)} <= set(workers)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    assert_gone(workers)
    log = server.log()
    assert log.count("received SIGTERM") == 4  # the master and each worker
    assert re.search(r"master phase: Draining", log)
    assert re.search(r"master phase: Stopped", log)


def test_term_lets_a_request_in_flight_finish():
    server = start(workers=1)
    with Conn(server.address) as slow:
        slow.send(b"GET /slow?s=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)  # the request reaches the app
        server.proc.send_signal(signal.SIGTERM)
        resp = slow.read_response()
        assert resp.status == 200
        assert resp.body.endswith(b"slept=1.0")
        assert resp.header("Connection") == "close"
    assert server.proc.wait(timeout=10) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_stop_at_once_without_waiting_for_requests(sig):
    server = start(workers=2)
    workers = children(server.proc.pid)
    with Conn(server.address) as slow:
        slow.send(b"GET /slow?s=30 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        server.proc.send_signal(sig)
        assert server.proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 4
    assert_gone(workers)
    assert "received SIGQUIT" in server.log()  # what the master sends workers


def test_a_killed_worker_is_replaced_and_its_signal_logged():
    server = start(workers=2)
    before = children(server.proc.pid)
    os.kill(before[0], signal.SIGKILL)
    server.wait_for_log(rf"worker \d+ \(pid {before[0]}\) died unexpectedly \(signal 9\)")
    wait_for_count(server, r"worker \d+ \(pid \d+\) serving", 3)
    after = children(server.proc.pid)
    assert len(after) == 2
    assert before[1] in after and before[0] not in after
    assert {served_by(get(server)) for _ in range(20)} <= set(after)
    assert server.stop() == 0


def test_ttin_adds_a_worker_and_ttou_removes_the_newest():
    server = start(workers=1)
    [first] = children(server.proc.pid)
    server.proc.send_signal(signal.SIGTTIN)
    wait_for_count(server, r"worker \d+ \(pid \d+\) serving", 2)
    assert len(children(server.proc.pid)) == 2
    server.proc.send_signal(signal.SIGTTOU)
    server.wait_for_log(r"stopping worker 2 \(pid \d+\): fewer workers")
    server.wait_for_log(r"worker 2 \(pid \d+\) exited \(exit code 0\)")
    assert children(server.proc.pid) == [first]
    # One worker always stays.
    server.proc.send_signal(signal.SIGTTOU)
    server.wait_for_log(r"TTOU ignored")
    assert children(server.proc.pid) == [first]
    assert server.stop() == 0


def test_hup_serves_reloaded_code_from_a_new_generation_before_the_old_stops(tmp_path):
    (tmp_path / "appversion.py").write_text("VERSION = 1\n")
    server = start("--pythonpath", str(tmp_path), workers=2,
                   env={"PROCESS_APP_VERSION_MODULE": "appversion"})
    old = set(children(server.proc.pid))
    assert get(server, "/version").endswith("version=1")
    (tmp_path / "appversion.py").write_text("VERSION = 2  # a new size: the .pyc is stale\n")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_log(r"master phase: Reloading")
    wait_for_count(server, r"master phase: Running", 2)
    log = server.log()
    # Each new worker said it serves before any old one was told to stop.
    last_ready = max(log.index(f"pid {pid}) serving") for pid in serving_pids(server) - old)
    first_stop = min(log.index(f"(pid {pid}): reload") for pid in old)
    assert last_ready < first_stop
    for pid in old:
        server.wait_for_log(rf"\(pid {pid}\) exited \(exit code 0\)")
    new = set(children(server.proc.pid))
    assert len(new) == 2 and not new & old
    assert {get(server, "/version").split()[-1] for _ in range(10)} == {"version=2"}
    assert server.stop() == 0


def test_hup_rereads_the_config_file(tmp_path):
    config = tmp_path / "ferrule.toml"
    config.write_text("threads = 2\n")
    server = start("--config", str(config), workers=None)
    server.wait_for_log(r"serving with 2 thread\(s\)")
    config.write_text("threads = 3\nworkers = 2\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_for_count(server, r"serving with 3 thread\(s\)", 2)
    wait_for_count(server, r"master phase: Running", 2)
    server.wait_for_log(r"worker 1 \(pid \d+\) exited")
    assert len(children(server.proc.pid)) == 2
    assert server.stop() == 0


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_usr1_reopens_the_log_files_in_master_and_workers(tmp_path):
    log = tmp_path / "error.log"
    # The log goes to a file, so the server is started here rather than by start_server
    # (which reads "listening on" from stderr); a unix socket needs no free port.
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), "--bind",
         f"unix:{tmp_path / 's.sock'}", "--error-log", str(log), APP])
    try:
        wait_for_text(log, "master phase: Running")
        rotated = tmp_path / "error.log.1"
        log.rename(rotated)
        proc.send_signal(signal.SIGUSR1)
        wait_for_text(log, "reopened the log files")
        assert "master received SIGUSR1" in rotated.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "master phase: Stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("engine", ["inotify", "poll", None])
def test_reload_restarts_workers_when_a_py_file_changes(tmp_path, engine):
    """With each `--reload-engine` (None: the default, auto, which is inotify here)."""
    (tmp_path / "reloadedapp.py").write_text(
        "import os\nVERSION = 1\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [f'version={VERSION} pid={os.getpid()}'.encode()]\n")
    flags = ("--reload-engine", engine) if engine else ()
    server = start_server("--reload", *flags, "--workers", "1", "reloadedapp:app",
                          cwd=str(tmp_path))
    wait_for_count(server, r"master phase: Running", 1)
    server.wait_for_log(rf"--reload: watching {re.escape(str(tmp_path))} \({engine or 'inotify'}\)")
    assert get(server, "/").startswith("version=1")
    source = (tmp_path / "reloadedapp.py")
    # A different size: a same-size edit within the same second would leave the cached
    # .pyc looking valid to the new workers' import.
    source.write_text(source.read_text().replace("VERSION = 1", "VERSION = 2  # edited"))
    server.wait_for_log(r"files changed \(--reload\); reloading")
    wait_for_count(server, r"master phase: Running", 2)
    # The old worker, TERM'd once the new one serves, still answers what it had accepted
    # by then (nothing is dropped); once it has exited, only the new code answers.
    wait_for_count(server, r"worker 1 \(pid \d+\) exited", 1)
    assert get(server, "/").startswith("version=2")
    assert server.stop() == 0


def test_term_serves_connections_waiting_in_the_backlog_of_the_last_worker():
    server = start(workers=1)
    [worker] = children(server.proc.pid)
    # The worker is frozen: new connections wait in the kernel's backlog, requests sent.
    os.kill(worker, signal.SIGSTOP)
    waiting = [Conn(server.address) for _ in range(5)]
    try:
        for n, conn in enumerate(waiting):
            conn.send(f"GET /pid?n={n} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_log(r"master phase: Draining")
        os.kill(worker, signal.SIGCONT)  # it now finds its TERM, drains the backlog, stops
        for conn in waiting:
            resp = conn.read_response()
            assert resp.status == 200 and resp.body == f"pid={worker}".encode()
            # Then closed: at once (taken from the backlog after the stop), or after the
            # idle linger (accepted as the worker woke up, just before it saw its TERM).
            assert conn.is_closed_by_peer(timeout=5)
    finally:
        for conn in waiting:
            conn.close()
    assert server.proc.wait(timeout=10) == 0


_EMBEDDED = """\
import sys, threading, time
import ferrule
sys.path.insert(0, sys.argv[1])
from apps.process import app

def tick():
    while True:
        sys.stderr.write("tick\\n")
        sys.stderr.flush()
        time.sleep(0.05)

threading.Thread(target=tick, daemon=True).start()
ferrule.serve(app, bind="127.0.0.1:0", workers=1)
sys.stderr.write("serve returned\\n")
"""


def test_ferrule_serve_runs_a_master_and_leaves_the_gil_to_the_programs_threads():
    proc = subprocess.Popen([sys.executable, "-c", _EMBEDDED, str(HERE)],
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "master phase: Running" in line:
                break
        ticks_before = sum(1 for line in lines if line == "tick\n")
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            lines.append(proc.stderr.readline())
        ticks = sum(1 for line in lines if line == "tick\n") - ticks_before
        assert ticks >= 5, "the program's thread starved while the master waited"
        assert len(children(proc.pid)) == 1
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=10) == 0
        assert "serve returned" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()



def test_a_reload_whose_code_cannot_be_imported_keeps_the_old_workers_serving(tmp_path):
    source = tmp_path / "deployedapp.py"
    source.write_text(
        "import os\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [f'pid={os.getpid()} v1'.encode()]\n")
    server = start_server("--workers", "2", "deployedapp:app", cwd=str(tmp_path))
    wait_for_count(server, r"master phase: Running", 1)
    old = children(server.proc.pid)
    source.write_text("raise RuntimeError('a bad deploy')\n")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_log(r"reload failed: worker \d+ \(pid \d+\) of generation 2 could not boot "
                        r"\(exit code 4\); generation 1 keeps serving")
    assert "RuntimeError: a bad deploy" in server.log()
    wait_for_count(server, r"master phase: Running", 2)
    # The other new worker was told to quit when the reload failed; it may still be exiting.
    deadline = time.monotonic() + 5
    while children(server.proc.pid) != old and time.monotonic() < deadline:
        time.sleep(0.02)
    assert children(server.proc.pid) == old
    assert all(get(server, "/").endswith("v1") for _ in range(10))
    assert server.is_alive()
    assert server.stop() == 0


def test_hup_keeps_the_worker_count_ttin_set():
    """TTIN/TTOU's count survives HUP while the settings (1 worker) are unchanged."""
    server = start(workers=1)
    try:
        for serving in (2, 3):
            server.proc.send_signal(signal.SIGTTIN)
            wait_for_count(server, r"worker \d+ \(pid \d+\) serving", serving)
        old = set(children(server.proc.pid))
        assert len(old) == 3
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_log(r"master phase: Reloading")
        wait_for_count(server, r"master phase: Running", 2)
        for pid in old:
            server.wait_for_log(rf"\(pid {pid}\) exited \(exit code 0\)")
        new = set(children(server.proc.pid))
        assert len(new) == 3 and not new & old, server.log()
    finally:
        assert server.stop() == 0


def test_reload_engine_must_be_one_of_its_choices():
    result = subprocess.run(
        [sys.executable, "-m", "ferrule", "--reload", "--reload-engine", "fsevents", APP],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("ferrule: --reload-engine must be one of auto, poll, inotify")
