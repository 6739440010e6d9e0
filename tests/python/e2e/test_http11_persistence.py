"""HTTP/1.1 connection persistence end to end (RFC 9112 §9): keep-alive, pipelining, HTTP/1.0
persistence, `Connection: close` from either side, and draining a body the app left unread.

One server (apps.http11) for the module; raw bytes over real sockets.
"""

from __future__ import annotations

import json
import time

import pytest
from ferrule_proc import start_server
from rawhttp import Conn


@pytest.fixture(scope="module")
def server():
    running = start_server("--threads", "4", "apps.http11:app")
    yield running
    running.stop()


def get(path: str, version: str = "HTTP/1.1", headers: str = "") -> bytes:
    host = "Host: test\r\n" if version == "HTTP/1.1" else ""
    return f"GET {path} {version}\r\n{host}{headers}\r\n".encode()


def test_keeps_alive_across_several_requests_on_one_socket(server):
    with Conn(server.address) as c:
        client_port = c.sock.getsockname()[1]
        for i in range(5):
            resp = c.request("GET", f"/environ?i={i}")
            assert resp.status == 200
            assert resp.header("Connection") is None
            seen = json.loads(resp.body)
            assert seen["QUERY_STRING"] == f"i={i}"
            # The server saw every request on this very connection.
            assert (seen["REMOTE_ADDR"], seen["REMOTE_PORT"]) == ("127.0.0.1", str(client_port))
        assert c.sock.getsockname()[1] == client_port
        assert not c.is_closed_by_peer(timeout=0.2)


def test_answers_pipelined_requests_in_order_even_when_the_first_is_slow(server):
    with Conn(server.address) as c:
        c.send(get("/slow?ms=300") + get("/echo?n=1") + get("/echo?n=2") + get("/fixed")
               + get("/echo?n=3"))
        bodies = [c.read_response().body for _ in range(5)]
    assert bodies == [b"GET /slow?ms=300", b"GET /echo?n=1", b"GET /echo?n=2", b"0123456789",
                      b"GET /echo?n=3"]


def test_answers_pipelined_requests_split_across_writes(server):
    data = get("/echo?n=1") + get("/echo?n=2") + get("/echo?n=3")
    with Conn(server.address) as c:
        # Cut through the middle of the second head.
        cut = len(get("/echo?n=1")) + 7
        c.send(data[:cut])
        assert c.read_response().body == b"GET /echo?n=1"
        c.send(data[cut:])
        assert [c.read_response().body for _ in range(2)] == [b"GET /echo?n=2", b"GET /echo?n=3"]


def test_closes_http10_connections_by_default(server):
    with Conn(server.address) as c:
        c.send(get("/fixed", "HTTP/1.0") + get("/echo?never", "HTTP/1.0"))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"0123456789"
        assert resp.header("Connection") == "close"
        assert c.read_to_eof() == b""


def test_keeps_http10_connections_alive_on_request(server):
    with Conn(server.address) as c:
        for i in range(3):
            c.send(get(f"/fixed?i={i}", "HTTP/1.0", "Connection: keep-alive\r\n"))
            resp = c.read_response()
            assert resp.status == 200
            assert resp.body == b"0123456789"
            assert resp.header("Connection") == "keep-alive"
        assert not c.is_closed_by_peer(timeout=0.2)
        # Without the token the next exchange is the last.
        c.send(get("/fixed", "HTTP/1.0"))
        assert c.read_response().header("Connection") == "close"
        assert c.read_to_eof() == b""


def test_http10_keep_alive_without_a_length_ends_with_the_connection(server):
    # A close-delimited body cannot be followed by another response.
    with Conn(server.address) as c:
        c.send(get("/stream?n=2", "HTTP/1.0", "Connection: keep-alive\r\n"))
        resp = c.read_response()
        assert resp.header("Connection") == "close"
        assert resp.body == b"chunk-0\nchunk-1\n"


@pytest.mark.parametrize("token", ["close", "Close", "keep-alive, close"])
def test_honours_connection_close_from_the_client(server, token):
    with Conn(server.address) as c:
        c.send(get("/echo?first", headers=f"Connection: {token}\r\n") + get("/echo?second"))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"GET /echo?first"
        assert resp.header_all("Connection") == ["close"]
        # The pipelined second request is never answered.
        assert c.read_to_eof() == b""


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_honours_connection_close_from_the_app_and_sends_the_header_once(server, version):
    keep = "Connection: keep-alive\r\n" if version == "HTTP/1.0" else ""
    with Conn(server.address) as c:
        c.send(get("/app-close", version, keep) + get("/echo?second", version, keep))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"closing"
        assert resp.header_all("Connection") == ["close"]
        assert c.read_to_eof() == b""


@pytest.mark.parametrize("size", [0, 1, 100_000])
def test_parses_the_next_request_after_an_unread_length_body(server, size):
    body = bytes(i % 251 for i in range(size))
    head = (f"POST /ignore-body HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n").encode()
    with Conn(server.address) as c:
        c.send(head + body + get("/echo?after"))
        first = c.read_response()
        assert (first.status, first.body) == (200, b"ignored /ignore-body")
        second = c.read_response()
        assert (second.status, second.body) == (200, b"GET /echo?after")
        # And the connection is still usable.
        assert c.request("GET", "/echo?third").body == b"GET /echo?third"


def test_parses_the_next_request_after_an_unread_chunked_body(server):
    chunks = b"".join(f"{n:x}\r\n".encode() + b"x" * n + b"\r\n" for n in (10, 4000, 1))
    raw = (b"POST /ignore-body HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunks + b"0\r\nX-Trailer: yes\r\n\r\n" + get("/echo?after"))
    with Conn(server.address) as c:
        c.send(raw)
        assert c.read_response().body == b"ignored /ignore-body"
        assert c.read_response().body == b"GET /echo?after"


def test_parses_the_next_request_when_the_unread_body_arrives_after_the_response(server):
    # The app answers before the body is sent; the server must still skip it.
    with Conn(server.address) as c:
        c.send(b"POST /ignore-body HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n")
        assert c.read_response().body == b"ignored /ignore-body"
        c.send(b"0123456789" + get("/echo?after"))
        assert c.read_response().body == b"GET /echo?after"


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_parses_the_next_request_after_a_partly_read_body(server, chunked):
    body = b"abcdefghij" * 7_000
    if chunked:
        framing = "Transfer-Encoding: chunked"
        wire = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n"
                        for p in (body[:5], body[5:40_000], body[40_000:])) + b"0\r\n\r\n"
    else:
        framing = f"Content-Length: {len(body)}"
        wire = body
    with Conn(server.address) as c:
        c.send(f"POST /read-some?n=3 HTTP/1.1\r\nHost: test\r\n{framing}\r\n\r\n".encode() + wire
               + get("/echo?after"))
        assert c.read_response().body == b"read abc"
        assert c.read_response().body == b"GET /echo?after"


def test_announces_close_when_the_unread_body_is_too_large_to_drain(server):
    # 5 MB declared, 1 KB sent, the app never reads: draining the rest is not worth it, so
    # the response says close and the server closes without waiting for the body.
    with Conn(server.address) as c:
        c.send(b"POST /ignore-body HTTP/1.1\r\nHost: test\r\nContent-Length: 5000000\r\n\r\n"
               + b"x" * 1000 + get("/echo?never"))
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"ignored /ignore-body")
        assert resp.header_all("Connection") == ["close"]
        start = time.monotonic()
        assert c.is_closed_by_peer(timeout=10)
        assert time.monotonic() - start < 1
