"""A real Prometheus server (Debian's `prometheus`, installed by `.ci/run`) scrapes the master's
`/metrics` on loopback for a few seconds while requests run, and a rate is read back through
its HTTP API: what an operator's dashboard would show. Started and stopped by PID here, with a
generated config and storage in a temporary directory.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
from ferrule_proc import start_server

PROMETHEUS = shutil.which("prometheus")

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port: int, promql: str) -> list:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status == 503:
        # Prometheus answers 503 until its storage is ready.
        raise ConnectionRefusedError("prometheus is starting")
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_a_real_prometheus_scrapes_the_master_and_computes_a_request_rate(tmp_path):
    server = start_server("--workers", "2", "--metrics-bind", "127.0.0.1:0", "apps.ops:app")
    server.wait_for_log(r"master phase: Running")
    host, metrics_port = server.metrics_address()
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: ferrule\n"
        "    static_configs:\n"
        f"      - targets: ['{host}:{metrics_port}']\n"
    )
    prometheus = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    stop = threading.Event()

    def load() -> None:
        # Bounded: stops when told, and after 20 s whatever happens.
        deadline = time.monotonic() + 20
        conn = http.client.HTTPConnection(*server.address, timeout=5)
        while not stop.is_set() and time.monotonic() < deadline:
            conn.request("GET", "/")
            assert conn.getresponse().read() == b"hello"
            time.sleep(0.005)
        conn.close()

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        deadline = time.monotonic() + 20
        rate = None
        while time.monotonic() < deadline:
            try:
                up = query(port, 'up{job="ferrule"}')
                result = query(port, 'sum(rate(ferrule_requests_total{method="GET",status="200"}[4s]))')
            except (OSError, http.client.HTTPException):
                time.sleep(0.25)  # Prometheus is still starting
                continue
            if up and up[0]["value"][1] == "1" and result and float(result[0]["value"][1]) > 0:
                rate = float(result[0]["value"][1])
                break
            time.sleep(0.25)
        assert rate is not None, prometheus.stderr.read1().decode() if prometheus.poll() is not None else "no rate"
        # A rate a loop of one client with 5 ms pauses can reach, not a counter read as a rate.
        assert 1 < rate < 1000, rate
        buckets = query(port, "ferrule_request_duration_seconds_bucket")
        assert {b["metric"]["le"] for b in buckets} >= {"0.001", "+Inf"}
    finally:
        stop.set()
        loader.join(timeout=10)
        prometheus.terminate()
        prometheus.wait(timeout=15)
        server.stop()
