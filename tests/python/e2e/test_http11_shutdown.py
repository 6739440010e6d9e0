"""Graceful stop end to end: on SIGTERM the server finishes the request in flight (with
`Connection: close`), closes idle keep-alive connections, stops accepting, and exits 0.

Each test starts its own server, since each stops it.
"""

from __future__ import annotations

import signal
import socket
import time

from ferrule_proc import start_server
from rawhttp import Conn


def test_finishes_a_request_in_flight_on_sigterm_and_exits_0():
    server = start_server("apps.http11:app")
    with Conn(server.address) as slow, Conn(server.address) as idle:
        assert idle.request("GET", "/echo?idle").status == 200
        slow.send(b"GET /slow?ms=1000&id=inflight HTTP/1.1\r\nHost: t\r\n\r\n")
        server.wait_for_log(r"slow request started: ms=1000&id=inflight")
        server.proc.send_signal(signal.SIGTERM)
        # The idle keep-alive connection is closed at once, without a response.
        assert idle.is_closed_by_peer(timeout=5)
        assert idle.buf == b""
        resp = slow.read_response()
        assert resp.status == 200
        assert resp.body == b"GET /slow?ms=1000&id=inflight"
        assert resp.header_all("Connection") == ["close"]
        assert slow.read_to_eof() == b""
    assert server.proc.wait(timeout=10) == 0
    assert "received SIGTERM" in server.log()


def test_stops_accepting_new_connections_while_draining():
    server = start_server("apps.http11:app")
    with Conn(server.address) as slow:
        slow.send(b"GET /slow?ms=1000&id=drain HTTP/1.1\r\nHost: t\r\n\r\n")
        server.wait_for_log(r"slow request started: ms=1000&id=drain")
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_log(r"shutting down")
        # The listener is closed (refused) or no longer served (reset or EOF when it
        # closes): a new request gets no response at all.
        try:
            with socket.create_connection(server.address, timeout=5) as late:
                late.sendall(b"GET /echo?late HTTP/1.1\r\nHost: t\r\n\r\n")
                data = late.recv(65536)
        except OSError:
            data = b""
        assert data == b""
        assert slow.read_response().status == 200
    assert server.proc.wait(timeout=10) == 0


def test_exits_0_promptly_on_sigterm_when_idle():
    server = start_server("apps.http11:app")
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    assert time.monotonic() - start < 3
