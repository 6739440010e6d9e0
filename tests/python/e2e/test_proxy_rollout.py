"""Zero failed requests through a real proxy across a rollout: keep-alive clients send a
mix of GET, slow GET and POST (which nginx and HAProxy never retry) through nginx
(upstream keep-alive) and HAProxy (send-proxy-v2) while ferrule is reloaded (HUP),
upgraded (USR2) and recycles its workers (max_requests). Every request must be answered
by the app: no 502 or 504 from the proxy, no reset. The counts are printed.

This is where servers lose requests in practice: the proxy reuses an idle upstream
connection at the moment the server closes it. What makes it hold is in
docs/deploy.md, "Zero failed requests through a proxy".
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time

import pytest
from ferrule_proc import start_server
from proxies import start_haproxy, start_nginx
from rawhttp import Conn
from test_process_signals import wait_for_count
from test_process_upgrade import stop_pid
from test_proxy_nginx import CLIENT, client_conn

APP = "apps.proxied:app"
CLIENTS = 6
BODY = b"p" * 2048


class Client(threading.Thread):
    """One keep-alive client of the proxy; every outcome is recorded, nothing retried."""

    def __init__(self, address, seed: int) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.random = random.Random(seed)
        self.stopping = threading.Event()
        self.ok = {"GET": 0, "POST": 0, "slow": 0}
        self.failures: list[str] = []
        self.conn = None

    def run(self) -> None:
        while not self.stopping.is_set():
            roll = self.random.random()
            kind = "slow" if roll < 0.1 else "POST" if roll < 0.45 else "GET"
            try:
                if self.conn is None:
                    self.conn = client_conn(self.address)
                if kind == "POST":
                    resp = self.conn.request("POST", "/form", headers={"Host": "t"},
                                             body=BODY)
                else:
                    target = "/slow?s=0.3" if kind == "slow" else "/p"
                    resp = self.conn.request("GET", target, headers={"Host": "t"})
            except (OSError, ValueError, ConnectionError) as err:
                self.failures.append(f"{kind}: {err!r}")
                self._drop()
                continue
            if resp.status != 200:
                self.failures.append(f"{kind}: {resp.status} {resp.body[:120]!r}")
            else:
                got = json.loads(resp.body)
                expected_length = len(BODY) if kind == "POST" else 0
                if got["REMOTE_ADDR"] != CLIENT or got["body_length"] != expected_length:
                    self.failures.append(f"{kind}: wrong facts {got}")
                else:
                    self.ok[kind] += 1
            if resp.header("Connection") == "close":
                self._drop()
            if self.random.random() < 0.3:
                # Bursts and pauses: the proxy's pool then holds idle connections, the
                # ones a server closing at the wrong moment would break.
                time.sleep(self.random.random() * 0.05)
        self._drop()

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def total(clients) -> int:
    return sum(sum(c.ok.values()) for c in clients)


def wait_for_requests(clients, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while total(clients) < count:
        assert time.monotonic() < deadline, f"only {total(clients)} of {count} requests"
        time.sleep(0.05)


@pytest.mark.parametrize("proxy", ["nginx", "haproxy"])
def test_a_rollout_through_the_proxy_fails_no_request(proxies, proxy):
    flags = ["--workers", "2", "--max-requests", "250", "--max-requests-jitter", "50",
             "--graceful-timeout", "10s"]
    if proxy == "haproxy":
        flags += ["--proxy-protocol", "v2"]
    server = start_server(*flags, APP)
    wait_for_count(server, r"master phase: Running", 1)
    front = (proxies(start_nginx, "nginx-tcp", server) if proxy == "nginx"
             else proxies(start_haproxy, server))
    clients = [Client(front.address, seed) for seed in range(CLIENTS)]
    for client in clients:
        client.start()
    master = server.proc.pid
    try:
        wait_for_requests(clients, 300)
        # 1. HUP: a new generation serves before the old one stops.
        server.proc.send_signal(signal.SIGHUP)
        wait_for_count(server, r"master phase: Running", 2, timeout=20)
        wait_for_requests(clients, total(clients) + 300)
        # 2. USR2: a new master takes the socket over; the old one stops once it serves.
        server.proc.send_signal(signal.SIGUSR2)
        line = server.wait_for_log(r"started a new master \(pid \d+\)", timeout=20)
        master = int(re.search(r"pid (\d+)", line).group(1))
        assert server.proc.wait(timeout=20) == 0
        # 3. max_requests: the new master's workers are recycled under the load.
        recycled = rf"\[{master}\] \[INFO\] worker \d+ \(pid \d+\) is recycled"
        wait_for_count(server, recycled, 2, timeout=60)
        wait_for_requests(clients, total(clients) + 200)
    finally:
        for client in clients:
            client.stopping.set()
        for client in clients:
            client.join(timeout=20)
        if master != server.proc.pid:
            stop_pid(master, timeout=20)
    failures = [f for c in clients for f in c.failures]
    counts = {kind: sum(c.ok[kind] for c in clients) for kind in ("GET", "POST", "slow")}
    recycles = len(re.findall(r"is recycled", server.log()))
    print(f"\nrollout through {proxy}: {total(clients)} requests answered {counts}, "
          f"{len(failures)} failed; HUP, USR2, {recycles} recycles")
    assert failures == [], failures[:5]
    assert counts["POST"] > 100


@pytest.mark.parametrize("signal_name", ["SIGHUP", "SIGTERM"])
def test_a_connection_a_proxy_pools_is_answered_after_a_reload_not_closed(signal_name,
                                                                          tmp_path):
    """The rule itself, deterministically: a proxy's idle connection (it carried forwarding
    headers) is still served after the reload's drain began, with `Connection: close`;
    a direct client's idle connection is closed within a moment, as before."""
    server = start_server("--workers", "1", "--graceful-timeout", "10s", APP)
    wait_for_count(server, r"worker \d+ \(pid \d+\) serving", 1)
    with Conn(server.address) as pooled, Conn(server.address) as direct:
        first = pooled.request("GET", "/p", headers={"X-Forwarded-For": "192.0.2.1"})
        assert json.loads(first.body)["REMOTE_ADDR"] == "192.0.2.1"
        assert direct.request("GET", "/p").status == 200
        server.proc.send_signal(getattr(signal, signal_name))
        server.wait_for_log(r"shutting down", timeout=10)
        # The direct client's idle connection closes 250 ms after the stop.
        assert direct.is_closed_by_peer(timeout=5)
        # Well past that, the proxy sends a POST on its pooled connection.
        time.sleep(0.5)
        resp = pooled.request("POST", "/form", headers={"X-Forwarded-For": "192.0.2.1"},
                              body=b"late")
        assert resp.status == 200
        assert json.loads(resp.body)["body_length"] == 4
        assert resp.header("Connection") == "close"
        assert pooled.is_closed_by_peer(timeout=5)
    if signal_name == "SIGTERM":
        assert server.proc.wait(timeout=15) == 0
    else:
        server.stop()
