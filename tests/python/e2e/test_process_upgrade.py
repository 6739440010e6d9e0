"""Sockets that outlive a process: SIGUSR2 starts a new master that inherits the listening
sockets and stops the old one once its workers serve, with no refused connection; `fd://N`
and systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`) serve on sockets the server was
started with.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from ferrule_proc import HERE, LISTENING, RunningServer, _pump, children
from test_process_signals import APP, cmdline, get, start, wait_for_count


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """TERMs a master that is not our child (a USR2 one) and waits until it is gone."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid), f"master {pid} still running"


class Hammer:
    """Requests on new connections from a thread until stopped; counts the outcomes."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                get(self.server)
                self.ok += 1
            except (OSError, AssertionError) as err:
                self.failures.append(repr(err))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_usr2_hands_the_sockets_to_a_new_master_and_refuses_nothing():
    server = start(workers=2)
    old_workers = children(server.proc.pid)
    hammer = Hammer(server)
    try:
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGUSR2)
        line = server.wait_for_log(r"started a new master \(pid \d+\)")
        new = int(re.search(r"pid (\d+)", line).group(1))
        server.wait_for_log(rf"telling the old master \(pid {server.proc.pid}\) to stop")
        assert server.proc.wait(timeout=10) == 0  # the old master drained and left
        time.sleep(0.3)
    finally:
        hammer.stop()
    try:
        assert hammer.failures == []
        assert hammer.ok > 50
        assert cmdline(new).startswith(f"ferrule: master [{APP}]")
        new_workers = children(new)
        assert len(new_workers) == 2 and not set(new_workers) & set(old_workers)
        assert all(not alive(pid) for pid in old_workers)
        assert {int(get(server).split("=")[1]) for _ in range(10)} <= set(new_workers)
    finally:
        stop_pid(new)
    print(f"USR2 under load: {hammer.ok} requests, {len(hammer.failures)} failures")


# Puts descriptor argv[1] on 3 (where systemd puts the first socket), optionally sets
# LISTEN_PID to its own pid (kept across exec), then becomes ferrule.
_LAUNCH = """\
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.set_inheritable(3, True)
if sys.argv[2] == "activate":
    os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-m", "ferrule", *sys.argv[3:]])
"""


def _start_with_fds(args: list[str], sock: socket.socket, env: dict | None = None,
                    activate: bool = False) -> RunningServer:
    """Starts ferrule with `sock` as descriptor 3; `activate` as systemd would."""
    fd = sock.fileno()
    cmd = [sys.executable, "-c", _LAUNCH, str(fd), "activate" if activate else "-",
           "--pythonpath", str(HERE), *args]
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                            pass_fds=(fd,))
    early = []
    while True:
        raw = proc.stderr.readline()
        assert raw, f"exited with {proc.wait()}:\n{''.join(early)}"
        line = raw.decode()
        early.append(line)
        match = LISTENING.search(line)
        if match:
            break
    server = RunningServer(proc, match.group("host"), int(match.group("port")), None)
    server.log_lines.extend(early)
    threading.Thread(target=_pump, args=(server, proc.stderr), daemon=True).start()
    wait_for_count(server, r"master phase: Running", 1)
    return server


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def test_fd_bind_serves_on_an_inherited_socket():
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        server = _start_with_fds(["--bind", "fd://3", APP], sock)
        assert server.port == port
        assert get(server).startswith("pid=")
        assert server.stop() == 0


def test_systemd_socket_activation_replaces_bind():
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        server = _start_with_fds(["--bind", "127.0.0.1:1", APP], sock,
                                 env={"LISTEN_FDS": "1"}, activate=True)
        assert server.port == port  # the activated socket, not --bind
        assert get(server).startswith("pid=")
        assert server.stop() == 0
