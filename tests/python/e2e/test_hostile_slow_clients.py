"""Slow and many clients against one worker, bounded in time (about 20 s for the module).

- 300 slowloris connections (a request line, then one header byte per second) and 200 idle
  keep-alive connections: ordinary requests on fresh connections are still answered within
  normal latency, every slowloris connection gets 408 at `header_timeout`, every idle one is
  closed at `keepalive_timeout`, and the worker's resident memory stays bounded.
- A 50 MB chunked upload read slowly by the app: the worker's memory does not grow by
  anything near the body's size (bodies are pulled one read at a time, never buffered).

`--header-timeout 3s` and `--keepalive-timeout 3s` keep the test short; the defaults (10 s,
5 s) behave the same, only later. Memory is the worker's VmRSS from /proc/PID/status, PID from
the app itself (the served process, whatever the process model around it).
"""

from __future__ import annotations

import os
import selectors
import socket
import statistics
import threading
import time

import pytest
from rawhttp import Conn

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")

SLOWLORIS = 300
IDLE = 200
TIMEOUT = 3.0
#: How long the attack is watched: past both timeouts and the 2 s linger after a 408.
WATCH = 7.0
#: Resident memory the worker may gain while holding 500 hostile connections. Each costs a
#: task and a read buffer of a few KiB; 64 MiB is far above that and far below a leak.
RSS_SLACK_CONNECTIONS = 64 * 1024 * 1024
UPLOAD = 50 * 1000 * 1000
#: Resident memory the worker may gain during the 50 MB upload: a few read buffers.
RSS_SLACK_UPLOAD = 16 * 1024 * 1024


def vmrss(pid: int) -> int:
    """Resident set size of `pid` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def worker_pid(server) -> int:
    with Conn(server.address) as c:
        return int(c.request("GET", "/pid").body)


def timed_request(server, i: int) -> float:
    """One ordinary request on a fresh connection; its latency in seconds."""
    started = time.monotonic()
    with Conn(server.address, timeout=5) as c:
        resp = c.request("GET", f"/echo?ordinary-{i}")
        assert (resp.status, resp.body) == (200, f"GET /echo?ordinary-{i}".encode())
    return time.monotonic() - started


def test_slowloris_and_idle_connections_do_not_hurt_ordinary_clients(ferrule_server):
    server = ferrule_server("--header-timeout", "3s", "--keepalive-timeout", "3s",
                            "--threads", "4", "apps.hostile:app")
    pid = worker_pid(server)
    baseline = [timed_request(server, i) for i in range(20)]
    rss_before = vmrss(pid)

    # 1. The attackers: slowloris connections start a head; idle ones finish a request.
    slow = []
    for _ in range(SLOWLORIS):
        s = socket.create_connection(server.address, timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET /echo?slowloris HTTP/1.1\r\nHost: t\r\n")
        s.setblocking(False)
        slow.append(s)
    opened_slow = time.monotonic()
    idle = []
    for i in range(IDLE):
        c = Conn(server.address)
        assert c.request("GET", f"/echo?idle-{i}").status == 200
        idle.append(c)
    opened_idle = time.monotonic()

    # 2. Watch: trickle a byte per second on every unanswered slowloris connection, note
    #    when each gets its answer, and time ordinary requests in between.
    sel = selectors.DefaultSelector()
    for s in slow:
        sel.register(s, selectors.EVENT_READ)
    answers: dict[socket.socket, tuple[float, bytes]] = {}
    latencies: list[float] = []
    rss_peak = rss_before
    next_byte = time.monotonic() + 1
    trickle = b"X-Slowloris-" + b"a" * 200
    sent = 0
    try:
        while time.monotonic() - opened_slow < WATCH:
            for key, _ in sel.select(timeout=0.02):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                answers[s] = (time.monotonic() - opened_slow, data)
                sel.unregister(s)
            if time.monotonic() >= next_byte:
                for s in slow:
                    if s not in answers:
                        try:
                            s.send(trickle[sent:sent + 1])
                        except OSError:
                            pass
                sent += 1
                next_byte += 1
            latencies.append(timed_request(server, len(latencies)))
            rss_peak = max(rss_peak, vmrss(pid))

        # 3. Every slowloris connection got 408, at header_timeout (counted from accept).
        assert len(answers) == SLOWLORIS, f"{SLOWLORIS - len(answers)} slowloris connections unanswered"
        statuses = {data[:12] for _, data in answers.values()}
        assert statuses == {b"HTTP/1.1 408"}, statuses
        times = sorted(t for t, _ in answers.values())
        assert TIMEOUT - 0.2 < times[0] and times[-1] < TIMEOUT + 2.5, (times[0], times[-1])

        # 4. Every idle keep-alive connection was closed silently at keepalive_timeout.
        assert time.monotonic() - opened_idle > TIMEOUT + 1
        for c in idle:
            assert c.is_closed_by_peer(timeout=0.5) and c.buf == b""
    finally:
        for s in slow:
            s.close()
        for c in idle:
            c.close()

    # 5. Ordinary clients were served at normal latency all along.
    assert len(latencies) > 50, len(latencies)
    usual = statistics.median(baseline)
    median, worst = statistics.median(latencies), max(latencies)
    assert median < max(0.05, 10 * usual), (median, usual)
    assert worst < 1.0, worst
    # 6. Memory stayed bounded.
    assert rss_peak - rss_before < RSS_SLACK_CONNECTIONS, (rss_before, rss_peak)
    print(f"\nslowloris: baseline median {usual * 1000:.2f} ms, under attack median "
          f"{median * 1000:.2f} ms, worst {worst * 1000:.1f} ms over {len(latencies)} requests; "
          f"VmRSS {rss_before >> 10} KiB -> peak {rss_peak >> 10} KiB")


def test_a_50_mb_chunked_upload_read_slowly_does_not_grow_the_worker_by_its_size(ferrule_server):
    server = ferrule_server("apps.hostile:app")
    pid = worker_pid(server)
    rss_before = vmrss(pid)
    block = b"%x\r\n" % 65536 + b"u" * 65536 + b"\r\n"
    blocks, tail = divmod(UPLOAD, 65536)
    conn = Conn(server.address, timeout=30)
    failure: list[OSError] = []

    def upload() -> None:
        try:
            # 64 KiB per read, 3 ms apart: the app takes about 2.5 s for the body, so the
            # client is held back by TCP flow control most of the time.
            conn.send(b"POST /slow-read?size=65536&delay=0.003 HTTP/1.1\r\nHost: t\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(blocks):
                conn.send(block)
            conn.send(b"%x\r\n" % tail + b"u" * tail + b"\r\n0\r\n\r\n")
        except OSError as exc:  # reported by the main thread
            failure.append(exc)

    sender = threading.Thread(target=upload)
    sender.start()
    rss_peak = rss_before
    while sender.is_alive():
        rss_peak = max(rss_peak, vmrss(pid))
        time.sleep(0.01)
    sender.join()
    assert not failure, failure
    with conn:
        resp = conn.read_response()
    rss_peak = max(rss_peak, vmrss(pid))
    assert (resp.status, resp.header("X-Body-Length")) == (200, str(UPLOAD))
    assert rss_peak - rss_before < RSS_SLACK_UPLOAD, (rss_before, rss_peak)
    print(f"\n50 MB upload: VmRSS {rss_before >> 10} KiB -> peak {rss_peak >> 10} KiB")
