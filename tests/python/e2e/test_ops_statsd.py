"""statsd with gunicorn's names and settings, end to end: the test is the statsd server (a UDP
or unix datagram socket it reads), the real CLI sends to it. A receiver that is absent or never
reads costs the requests nothing: the master sends without blocking, the workers not at all.
"""

from __future__ import annotations

import http.client
import re
import socket
import time

from ferrule_proc import start_server

APP = "apps.ops:app"


def get(address, path: str) -> int:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def collect(sock: socket.socket, until, timeout: float = 5.0) -> list[str]:
    """Datagrams until `until(lines)` holds (or `timeout`), and the rest of that flush."""
    lines: list[str] = []
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until(lines):
            # The flush that satisfied `until` goes out at once: take the rest of it.
            deadline = min(deadline, time.monotonic() + 0.3)
        try:
            lines.append(sock.recv(65536).decode("ascii"))
        except TimeoutError:
            if until(lines):
                break
    return lines


def count(lines: list[str], name: str) -> float:
    """The total a statsd server would compute for counter or timer `name`: each line adds
    its value (counters) or 1/sample-rate (timers)."""
    total = 0.0
    for line in lines:
        match = re.fullmatch(r"(?P<name>[^:]+):(?P<value>[-0-9.]+)\|(?P<type>\w+)(\|@(?P<rate>[0-9.]+))?(\|#.*)?", line)
        assert match, line
        if match["name"] != name:
            continue
        if match["type"] == "c":
            total += float(match["value"])
        else:
            total += 1 / float(match["rate"] or 1)
    return total


def test_sends_gunicorns_metrics_with_prefix_and_tags_over_udp():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    server = start_server("--workers", "2", "--statsd-host", f"127.0.0.1:{port}", "--statsd-prefix", "web",
                          "--dogstatsd-tags", "env:test,app:ops", APP)
    server.wait_for_log(r"master phase: Running")
    for _ in range(5):
        assert get(server.address, "/") == 200
    assert get(server.address, "/status?code=404") == 404
    assert get(server.address, "/raise") == 500
    lines = collect(receiver, lambda lines: count(lines, "web.gunicorn.requests") >= 7)
    server.stop()
    receiver.close()
    assert all(line.endswith("|#env:test,app:ops") for line in lines), lines
    assert count(lines, "web.gunicorn.requests") == 7, lines
    assert count(lines, "web.gunicorn.request.status.200") == 5
    assert count(lines, "web.gunicorn.request.status.404") == 1
    assert count(lines, "web.gunicorn.request.status.500") == 1
    assert round(count(lines, "web.gunicorn.request.duration")) == 7, lines
    assert count(lines, "web.gunicorn.log.exception") == 1
    # The app's traceback is an error-log message: gunicorn's log counter.
    assert count(lines, "web.gunicorn.log.error") >= 1
    assert any(re.fullmatch(r"web\.gunicorn\.workers:2\|g\|#.*", line) for line in lines), lines
    assert any(line.startswith("web.gunicorn.backlog:") and "|h|" in line for line in lines), lines


def test_sends_to_a_unix_datagram_socket(tmp_path):
    path = str(tmp_path / "statsd.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    server = start_server("--statsd-host", f"unix://{path}", APP)
    server.wait_for_log(r"master phase: Running")
    assert get(server.address, "/") == 200
    lines = collect(receiver, lambda lines: count(lines, "gunicorn.requests") >= 1)
    server.stop()
    receiver.close()
    assert count(lines, "gunicorn.requests") == 1, lines
    assert "gunicorn.workers:1|g" in lines


def test_an_absent_or_full_receiver_costs_the_requests_nothing(tmp_path):
    # Absent: nothing listens on the UDP port. Full: a unix socket that never reads.
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    absent_port = closed.getsockname()[1]
    closed.close()
    path = str(tmp_path / "full.sock")
    full = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    full.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    full.bind(path)
    for target in (f"127.0.0.1:{absent_port}", f"unix:{path}"):
        server = start_server("--statsd-host", target, "--metrics-bind", "127.0.0.1:0", APP)
        server.wait_for_log(r"master phase: Running")
        started = time.monotonic()
        for _ in range(300):
            assert get(server.address, "/status?code=201") == 201
        # Three statsd flushes happen meanwhile (1 s apart): still answered promptly.
        time.sleep(2.5)
        assert get(server.metrics_address(), "/readyz") == 200
        assert get(server.address, "/") == 200
        assert time.monotonic() - started < 15
        server.stop()
        assert server.proc.returncode == 0
    full.close()
