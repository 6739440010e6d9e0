"""Timeouts end to end: `header_timeout` (a started head that does not finish gets 408; a
connection that never sends a byte is closed silently), `keepalive_timeout` (an idle
persistent connection is closed silently after it) and `send_timeout` (a client that stops
reading is dropped, and the app's iterable is closed).

Servers with one short timeout each and the others at their defaults, so a test can tell
which timeout closed the connection.
"""

from __future__ import annotations

import socket
import time

import pytest
from ferrule_proc import start_server
from rawhttp import Conn

#: Slack for process scheduling on a busy CI machine. The lower bound proves the timeout did
#: not fire early; the upper one that it fired at all.
EARLY = 0.8
LATE = 3.0


@pytest.fixture(scope="module")
def header_server():
    running = start_server("--header-timeout", "1s", "apps.http11:app")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keepalive_server():
    running = start_server("--keepalive-timeout", "1s", "apps.http11:app")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def send_server():
    running = start_server("--send-timeout", "1s", "apps.http11:app")
    yield running
    running.stop()


def wait_for_close(c: Conn) -> float:
    """Seconds until the server closes `c`; fails if it does not within 10 s."""
    start = time.monotonic()
    assert c.is_closed_by_peer(timeout=10), f"not closed; received {c.buf!r}"
    return time.monotonic() - start


def test_answers_a_half_sent_head_with_408_after_header_timeout(header_server):
    with Conn(header_server.address) as c:
        start = time.monotonic()
        c.send(b"GET /echo HTTP/1.1\r\nHo")
        resp = c.read_response()
        elapsed = time.monotonic() - start
        assert resp.status == 408
        assert resp.header_all("Connection") == ["close"]
        assert EARLY < elapsed < LATE
        assert c.read_to_eof() == b""


def test_counts_header_timeout_from_the_first_byte_not_per_read(header_server):
    # A client trickling a head byte by byte does not reset the clock.
    with Conn(header_server.address) as c:
        start = time.monotonic()
        for b in b"GET /echo HTTP/1.1\r\nHost: t\r\n":
            try:
                c.send(bytes([b]))
            except OSError:
                break
            time.sleep(0.05)
        resp = c.read_response()
        assert resp.status == 408
        assert time.monotonic() - start < LATE


def test_closes_a_silent_new_connection_without_a_response(header_server):
    with Conn(header_server.address) as c:
        elapsed = wait_for_close(c)
        assert c.buf == b""
        assert EARLY < elapsed < LATE


def test_serves_a_head_that_completes_in_time(header_server):
    with Conn(header_server.address) as c:
        c.send(b"GET /echo?in-time HTTP/1.1\r\n")
        time.sleep(0.5)
        c.send(b"Host: t\r\n\r\n")
        assert c.read_response().body == b"GET /echo?in-time"


def test_closes_an_idle_keep_alive_connection_after_keepalive_timeout(keepalive_server):
    with Conn(keepalive_server.address) as c:
        assert c.request("GET", "/echo?one").status == 200
        elapsed = wait_for_close(c)
        assert c.buf == b""
        assert EARLY < elapsed < LATE
    # The server itself is fine.
    with Conn(keepalive_server.address) as c:
        assert c.request("GET", "/echo?fresh").body == b"GET /echo?fresh"


def test_keeps_a_connection_that_is_used_within_keepalive_timeout(keepalive_server):
    with Conn(keepalive_server.address) as c:
        for i in range(3):
            assert c.request("GET", f"/echo?{i}").body == f"GET /echo?{i}".encode()
            time.sleep(0.5)
        assert c.request("GET", "/echo?last").status == 200


def test_gives_the_first_request_header_timeout_not_keepalive_timeout(keepalive_server):
    # header_timeout is 10 s here: a new connection may stay silent past keepalive_timeout.
    with Conn(keepalive_server.address) as c:
        assert not c.is_closed_by_peer(timeout=1.5)
        assert c.request("GET", "/echo?late").body == b"GET /echo?late"


def test_drops_a_client_that_stops_reading_after_send_timeout(send_server):
    # 128 MiB: far more than the socket buffers on both ends hold, so the server's writes
    # stall once they are full.
    with Conn(send_server.address) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        start = time.monotonic()
        c.send(b"GET /big?blocks=2048 HTTP/1.1\r\nHost: test\r\n\r\n")
        line = send_server.wait_for_log(r"big response closed after \d+ blocks", timeout=10)
        assert EARLY < time.monotonic() - start < LATE + 5
        assert int(line.split()[-2]) < 2048
        # What the client finally reads is cut short: no last chunk, then EOF.
        try:
            data = c.read_to_eof()
        except ConnectionResetError:
            data = c.buf
        assert not data.endswith(b"0\r\n\r\n")
