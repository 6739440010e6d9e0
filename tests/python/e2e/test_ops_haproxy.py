"""A rolling stop behind a real load balancer: HAProxy (Debian's, installed by `.ci/run`)
balances two ferrule servers and health-checks each one's `/readyz` (`option httpchk`). Under
load, one server gets SIGTERM: its readiness fails at once while it keeps serving for
`--shutdown-delay`, HAProxy takes it out of rotation, and only then do its workers stop
accepting and drain. Not one request fails (HAProxy's retries are off, so the drain alone must
do it). HAProxy is started and stopped by PID with a generated config.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
from ferrule_proc import start_server

HAPROXY = shutil.which("haproxy")

pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_haproxy_drains_a_terminated_server_through_readiness_with_no_failed_request(tmp_path):
    a = start_server("--workers", "2", "--metrics-bind", "127.0.0.1:0", "--shutdown-delay", "1.5s",
                     "apps.ops:app")
    b = start_server("--workers", "1", "--metrics-bind", "127.0.0.1:0", "apps.ops:app")
    for server in (a, b):
        server.wait_for_log(r"master phase: Running")
    front = free_port()
    (tmp_path / "haproxy.cfg").write_text(f"""
global
    maxconn 200
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    retries 0
frontend fe
    bind 127.0.0.1:{front}
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 100ms fall 1 rise 1
    server a {a.host}:{a.port} check port {a.metrics_address()[1]}
    server b {b.host}:{b.port} check port {b.metrics_address()[1]}
""")
    haproxy = subprocess.Popen([HAPROXY, "-f", str(tmp_path / "haproxy.cfg"), "-db"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    a_pids, b_pids = set(a.worker_pids()), set(b.worker_pids())
    results: list[tuple[float, int, str]] = []
    errors: list[str] = []
    stop = threading.Event()

    def client() -> None:
        # Bounded: until told, and never past 30 s.
        deadline = time.monotonic() + 30
        conn = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn.request("GET", "/pid")
                resp = conn.getresponse()
                results.append((time.monotonic(), resp.status, resp.read().decode()))
            except (OSError, http.client.HTTPException) as err:
                errors.append(repr(err))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
            time.sleep(0.002)
        conn.close()

    try:
        # HAProxy up, both servers in rotation.
        deadline = time.monotonic() + 15
        seen: set[str] = set()
        while time.monotonic() < deadline and not ({str(p) for p in a_pids} & seen and {str(p) for p in b_pids} & seen):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", front, timeout=2)
                conn.request("GET", "/pid")
                seen.add(conn.getresponse().read().decode())
                conn.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        assert {str(p) for p in a_pids} & seen and {str(p) for p in b_pids} & seen, seen
        threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        os.kill(a.proc.pid, signal.SIGTERM)
        termed = time.monotonic()
        assert a.proc.wait(timeout=20) == 0
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=15)
    finally:
        stop.set()
        haproxy.terminate()
        haproxy.wait(timeout=10)
        b.stop()
        a.stop()

    assert not errors, errors[:5]
    assert [r for r in results if r[1] != 200] == []
    by_a = [r for r in results if int(r[2]) in a_pids]
    assert by_a and any(t < termed for t, _, _ in by_a), "server a served before its TERM"
    after = [r for r in results if r[0] > termed + 2.0]
    assert after and all(int(body) in b_pids for _, _, body in after), "b serves everything once a is gone"
    assert len(results) > 100, len(results)
