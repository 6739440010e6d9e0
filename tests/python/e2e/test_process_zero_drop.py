"""The test that matters most: under a steady load of keep-alive clients mixing fast and
0.5 s requests, the server is reloaded (HUP), upgraded (USR2), recycles workers
(max_requests) and is finally stopped (TERM). Every request sent before TERM must get a
complete, correct response: no reset, no 5xx. The counts are printed.

A client reuses its connection until a response says `Connection: close`. A request that
finds its reused connection closed before any response byte is retried on a new one, as
RFC 9112 §9.3.1 lets clients do for idempotent requests; such retries are counted and
reported, and only ever happen if the server closed an idle connection.

It runs twice: with the WSGI app, and with the same app for ASGI (issue #16), whose
workers run lifespan and a loop thread and must drop nothing either.
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time

import pytest
from ferrule_proc import children, start_server
from rawhttp import Conn
from test_process_signals import wait_for_count
from test_process_upgrade import alive, stop_pid

CLIENTS = 8
SLOW_SHARE = 0.1


class Client(threading.Thread):
    """One keep-alive client; records each request's outcome with its send time."""

    def __init__(self, address, seed: int) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.random = random.Random(seed)
        self.stop_at: float | None = None
        self.ok = 0
        self.slow = 0
        self.retried = 0
        self.failures: list[tuple[float, str]] = []  # (send time, what went wrong)
        self.conn: Conn | None = None
        self.reused = False

    def run(self) -> None:
        while self.stop_at is None or time.monotonic() < self.stop_at:
            slow = self.random.random() < SLOW_SHARE
            target = "/slow?s=0.5" if slow else "/pid"
            sent = time.monotonic()
            try:
                resp = self._request(target)
            except (OSError, AssertionError, ValueError) as err:
                self.failures.append((sent, f"{target}: {err!r}"))
                self._drop()
                if self.stop_at is not None:
                    return  # after TERM, failures are expected; stop trying
                time.sleep(0.01)
                continue
            if resp.status != 200 or not resp.body.startswith(b"pid=") or (
                    slow and not resp.body.endswith(b"slept=0.5")):
                self.failures.append((sent, f"{target}: {resp.status} {resp.body[:80]!r}"))
            else:
                self.ok += 1
                self.slow += slow
            if resp.header("Connection") == "close":
                self._drop()

    def _request(self, target: str):
        if self.conn is None:
            self.conn = Conn(self.address, timeout=10)
            self.reused = False
        raw = f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        try:
            self.conn.send(raw)
            resp = self.conn.read_response()
        except (OSError, AssertionError, ValueError):
            if not self.reused or self.conn.buf:
                raise
            # The server closed this idle keep-alive connection as the request left:
            # nothing of a response came back, so retry on a new connection.
            self.retried += 1
            self._drop()
            self.conn = Conn(self.address, timeout=10)
            self.conn.send(raw)
            resp = self.conn.read_response()
        self.reused = True
        return resp

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


@pytest.mark.parametrize("app", ["apps.process:app", "apps.process:asgi_app"],
                         ids=["wsgi", "asgi"])
def test_reload_upgrade_recycle_and_stop_under_load_drop_nothing(app):
    server = start_server("--workers", "2", "--max-requests", "400", "--max-requests-jitter",
                          "100", "--graceful-timeout", "10s", app)
    wait_for_count(server, r"worker \d+ \(pid \d+\) serving", 2)
    wait_for_count(server, r"master phase: Running", 1)
    clients = [Client(server.address, seed) for seed in range(CLIENTS)]
    for client in clients:
        client.start()

    def total() -> int:
        return sum(c.ok for c in clients)

    def wait_for_requests(count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while total() < count and time.monotonic() < deadline:
            time.sleep(0.05)

    wait_for_requests(500)
    # 1. HUP: a new generation serves before the old one is told to stop.
    server.proc.send_signal(signal.SIGHUP)
    wait_for_count(server, r"master phase: Running", 2, timeout=20)
    wait_for_requests(total() + 500)
    # 2. USR2: a new master takes the sockets over and stops the old one.
    server.proc.send_signal(signal.SIGUSR2)
    line = server.wait_for_log(r"started a new master \(pid \d+\)", timeout=20)
    master = int(re.search(r"pid (\d+)", line).group(1))
    assert server.proc.wait(timeout=20) == 0
    # 3. max_requests: workers of the new master are recycled under the load.
    recycled = rf"\[{master}\] \[INFO\] worker \d+ \(pid \d+\) is recycled"
    wait_for_count(server, recycled, 2, timeout=60)
    wait_for_requests(total() + 300)
    # 4. TERM: requests sent before it must all be answered.
    term_at = time.monotonic()
    for client in clients:
        client.stop_at = term_at + 1.0
    workers = children(master)
    stop_pid(master, timeout=20)
    for client in clients:
        client.join(timeout=20)
    assert not [pid for pid in workers if alive(pid)]

    before_term = [(c, when, what) for c in clients for when, what in c.failures
                   if when < term_at]
    after_term = sum(1 for c in clients for when, _ in c.failures if when >= term_at)
    ok = total()
    slow = sum(c.slow for c in clients)
    retried = sum(c.retried for c in clients)
    recycles = len(re.findall(r"is recycled", server.log()))
    print(f"\nzero-drop: {ok} requests answered ({slow} slow), "
          f"{len(before_term)} failed before TERM, {retried} retried on a closed idle "
          f"keep-alive connection, {after_term} refused after TERM; "
          f"{recycles} recycles, HUP, USR2")
    assert before_term == [], before_term[:5]
    assert ok >= 1500
