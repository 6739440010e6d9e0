"""Process options end to end: the pid file, the user and group workers run as, the mode of
unix socket files, SO_REUSEPORT."""

from __future__ import annotations

import os
import pwd
import signal
import socket
import stat
import time

import pytest
from ferrule_proc import children, start_server
from test_process_signals import APP, get, start, wait_for_count


def test_pid_file_holds_the_master_pid_and_goes_away_at_stop(tmp_path):
    pid_file = tmp_path / "ferrule.pid"
    server = start("--pid-file", str(pid_file), workers=1)
    assert pid_file.read_text() == f"{server.proc.pid}\n"
    assert server.stop() == 0
    assert not pid_file.exists()


def uids(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as file:
        fields = dict(line.split(":", 1) for line in file if ":" in line)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_workers_run_as_user_and_group_while_the_master_keeps_its_own():
    nobody = pwd.getpwnam("nobody")
    # --preload: the master imports the app; nobody may not read this test venv's files.
    server = start("--user", "nobody", "--preload", workers=1)
    [worker] = children(server.proc.pid)
    assert uids(worker) == (nobody.pw_uid, nobody.pw_gid)
    assert uids(server.proc.pid) == (0, 0)
    assert get(server) == f"pid={worker}"
    assert server.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_workers_under_another_user_stop_when_the_master_is_killed():
    """The kernel clears a process's parent-death signal when its credentials change, so the
    worker arms it again after switching user; otherwise it serves on as an orphan."""
    server = start("--user", "nobody", "--preload", workers=2)
    workers = children(server.proc.pid)
    try:
        server.proc.kill()
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(pid) for pid in workers)
    finally:
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_unix_socket_mode_and_umask(tmp_path):
    path = tmp_path / "s.sock"
    server = start_server("--unix-socket-mode", "0600", "--umask", "077", APP,
                          bind=f"unix:{path}")
    wait_for_count(server, r"master phase: Running", 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(path))
        client.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert server.stop() == 0
    assert not path.exists()


def test_reuse_port_lets_a_second_server_share_the_port():
    first = start("--reuse-port", workers=1)
    second = start_server("--reuse-port", APP, bind=f"127.0.0.1:{first.port}")
    wait_for_count(second, r"master phase: Running", 1)
    assert second.port == first.port
    assert second.stop() == 0
    assert first.stop() == 0


SCHED_OTHER, SCHED_BATCH = 0, 3


def thread_policies(pid: int) -> dict[str, set[int]]:
    """The scheduling policies of `pid`'s threads (field 41 of /proc/PID/task/TID/stat),
    split into the Python threads of the WSGI pool ('python') and the others ('other')."""
    policies: dict[str, set[int]] = {"python": set(), "other": set()}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as file:
            kind = "python" if file.read().startswith("ferrule-thread-") else "other"
        with open(f"/proc/{pid}/task/{tid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        policies[kind].add(int(fields[38]))  # field 41 counts pid and comm, split off here
    return policies


@pytest.mark.parametrize(("args", "threads", "python_policy", "other_policy"), [
    ((), 3, SCHED_OTHER, SCHED_BATCH),
    ((), 1, SCHED_BATCH, SCHED_BATCH),
    (("--sched-policy", "normal"), 3, SCHED_OTHER, SCHED_OTHER),
    (("--sched-policy", "batch"), 3, SCHED_OTHER, SCHED_BATCH),
    (("--sched-policy", "batch"), 1, SCHED_BATCH, SCHED_BATCH)],
    ids=["default", "default-1-thread", "normal", "batch", "batch-1-thread"])
def test_sched_policy_applies_to_the_worker_and_gil_sharing_python_threads_preempt(
        args, threads, python_policy, other_policy):
    # batch: the worker's threads run SCHED_BATCH, except Python threads that share the GIL
    # with other Python threads (more than one): they take SCHED_OTHER back, so that a
    # thread whose GIL wait timed out runs at once and asks for the GIL (see
    # worker/scheduling.rs). The master keeps SCHED_OTHER.
    server = start(*args, "--threads", str(threads), workers=1)
    try:
        [worker] = children(server.proc.pid)
        assert get(server) == f"pid={worker}"  # the Python threads exist and serve
        policies = thread_policies(worker)
        assert len(os.listdir(f"/proc/{worker}/task")) >= 1 + threads  # the runtime and the Python threads
        assert policies == {"python": {python_policy}, "other": {other_policy}}
        assert thread_policies(server.proc.pid) == {"python": set(), "other": {SCHED_OTHER}}
    finally:
        assert server.stop() == 0
