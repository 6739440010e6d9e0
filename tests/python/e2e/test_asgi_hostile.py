"""The hostile classes of the WSGI suite against an ASGI app (`apps.asgi`): slowloris and
idle connections beside ordinary clients, a 50 MB upload the app reads slowly (the worker
must not hold the body: the app's receive speed bounds memory), a body that stalls
(`body_timeout`: 408 to the client, `http.disconnect` to the app) and a chunked body crossing
`max_body_bytes` (413). Each checks that other clients are still served. The WebSocket
classes are in `test_asgi_websocket.py`.
"""

from __future__ import annotations

import json
import socket
import threading
import time

from rawhttp import Conn
from test_hostile_slow_clients import vmrss


def get(server, target: str):
    with Conn(server.address, timeout=5) as c:
        return c.request("GET", target)


def still_serves(server) -> None:
    assert get(server, "/").body == b"hello, asgi"


def progress(server) -> dict:
    return json.loads(get(server, "/progress").body)


def test_slowloris_and_idle_connections_leave_ordinary_clients_served(ferrule_server):
    server = ferrule_server("--header-timeout", "2s", "--keepalive-timeout", "2s", "apps.asgi:app")
    slow = []
    for _ in range(100):
        s = socket.create_connection(server.address, timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        slow.append(s)
    idle = [Conn(server.address) for _ in range(50)]
    for c in idle:
        assert c.request("GET", "/").status == 200
    latencies = []
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        t0 = time.monotonic()
        still_serves(server)
        latencies.append(time.monotonic() - t0)
    assert max(latencies) < 0.5, max(latencies)
    answers = []
    for s in slow:
        s.settimeout(5)
        answers.append(s.recv(12))
        s.close()
    assert set(answers) == {b"HTTP/1.1 408"}
    for c in idle:
        assert c.is_closed_by_peer(timeout=3)
        c.close()
    still_serves(server)


def test_a_50_mb_upload_read_slowly_is_not_held_by_the_worker(ferrule_server):
    server = ferrule_server("apps.asgi:app")
    pid = int(get(server, "/pid").body)
    before = vmrss(pid)
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], vmrss(pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    size, piece = 50 * 1000 * 1000, b"u" * 65536
    with Conn(server.address, timeout=30) as c:
        c.send(b"POST /slow-read?key=upload&delay=0.0005 HTTP/1.1\r\nHost: t\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent < size:
            chunk = piece[: min(len(piece), size - sent)]
            c.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
        c.send(b"0\r\n\r\n")
        response = c.read_response()
    done.set()
    watcher.join()
    assert (response.status, response.body) == (200, str(size).encode())
    assert peak[0] - before < 16 * 1024 * 1024, (before, peak[0])
    still_serves(server)


def test_a_stalled_body_is_408_for_the_client_and_a_disconnect_for_the_app(ferrule_server):
    server = ferrule_server("--body-timeout", "1s", "apps.asgi:app")
    with Conn(server.address, timeout=5) as c:
        c.send(b"POST /slow-read?key=stalled HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-some")
        response = c.read_response()
    assert response.status == 408
    deadline = time.monotonic() + 5
    while "stalled" not in progress(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert progress(server)["stalled"] == "http.disconnect"
    still_serves(server)


def test_a_chunked_body_crossing_max_body_bytes_is_413(ferrule_server):
    server = ferrule_server("--max-body-bytes", "1KiB", "apps.asgi:app")
    with Conn(server.address, timeout=5) as c:
        c.send(b"POST /slow-read?key=big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"400\r\n" + b"x" * 1024 + b"\r\n" + b"10\r\n" + b"y" * 16 + b"\r\n0\r\n\r\n")
        response = c.read_response()
    assert response.status == 413
    still_serves(server)
