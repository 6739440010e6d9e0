"""Starting the real ferrule CLI in a subprocess, on port 0, for the e2e tests.

`ferrule_server(app, *flags)` starts `python -m ferrule --bind 127.0.0.1:0 ... app` with
`tests/python` on the Python path, waits for the "listening on" log line (no sleep polling)
and returns a `RunningServer`. Every server is stopped (SIGTERM, then SIGKILL) at teardown.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LISTENING = re.compile(r"listening on (http://(?P<host>[^:\s]+|\[[^\]]+\]):(?P<port>\d+)|unix:(?P<path>\S+))")
START_TIMEOUT = 20.0


class RunningServer:
    """A ferrule process started by the fixture; its stderr is collected in `log_lines`."""

    def __init__(self, proc: subprocess.Popen, host: str | None, port: int | None, path: str | None):
        self.proc = proc
        self.host = host
        self.port = port
        self.unix_path = path
        self.log_lines: list[str] = []
        self._log_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        assert self.host is not None and self.port is not None
        return (self.host, self.port)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """A new TCP connection to the server."""
        return socket.create_connection(self.address, timeout=timeout)

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        with self._log_lock:
            return "".join(self.log_lines)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> str:
        """Waits until a stderr line matches `pattern` (a regex); returns the line."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._log_lock:
                for line in self.log_lines:
                    if rx.search(line):
                        return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} in:\n{self.log()}")

    def metrics_address(self, timeout: float = 10.0) -> tuple[str, int]:
        """The (host, port) of the master's metrics listener (`--metrics-bind`), from its
        log line."""
        line = self.wait_for_log(r"metrics and health checks on http://", timeout)
        match = re.search(r"on http://(?P<host>[^:\s]+|\[[^\]]+\]):(?P<port>\d+)", line)
        assert match is not None, line
        return match.group("host").strip("[]"), int(match.group("port"))

    def worker_pids(self) -> list[int]:
        """The master's child processes (its workers), from /proc."""
        return children(self.proc.pid)

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def children(pid: int) -> list[int]:
    """The pids of `pid`'s children, from /proc/PID/task/*/children."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found.extend(int(part) for part in file.read().split())
        except OSError:
            continue
    return sorted(found)


def _pump(server: RunningServer, stream) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        with server._log_lock:
            server.log_lines.append(line)
        if os.environ.get("FERRULE_TEST_ECHO_LOG"):
            sys.stderr.write(line)


def start_server(*args: str, env: dict | None = None, cwd: str | None = None,
                 bind: str | None = "127.0.0.1:0") -> RunningServer:
    """Starts the real CLI and waits for it to listen. `args` are CLI arguments (app last)."""
    cmd = [sys.executable, "-m", "ferrule", "--pythonpath", str(HERE)]
    if bind is not None:
        cmd += ["--bind", bind]
    cmd += list(args)
    return start_command(cmd, env=env, cwd=cwd)


def start_command(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> RunningServer:
    """Starts `cmd`, a command that runs ferrule (the CLI, `pserve`), and waits for it to
    listen."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    if env:
        full_env.update(env)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=full_env, cwd=cwd)
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    early: list[str] = []
    match = None
    while match is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not sel.select(timeout=remaining):
            proc.kill()
            raise AssertionError(f"ferrule did not start: {cmd}\n{''.join(early)}")
        raw = proc.stderr.readline()
        if not raw:
            proc.wait(timeout=10)
            out = proc.stdout.read().decode("utf-8", "replace")
            raise AssertionError(
                f"ferrule exited with {proc.returncode}: {cmd}\n{''.join(early)}{out}")
        line = raw.decode("utf-8", "replace")
        early.append(line)
        match = LISTENING.search(line)
    sel.close()
    host = match.group("host")
    if host and host.startswith("["):
        host = host[1:-1]
    port = int(match.group("port")) if match.group("port") else None
    server = RunningServer(proc, host, port, match.group("path"))
    server.log_lines.extend(early)
    threading.Thread(target=_pump, args=(server, proc.stderr), daemon=True).start()
    return server
