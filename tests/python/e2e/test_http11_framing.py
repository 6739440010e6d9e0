"""Message framing end to end (RFC 9112 §6, §7): chunked request bodies reach the app intact,
responses without a length are chunked on 1.1 and close-delimited on 1.0, HEAD/204/304 carry
no body, and every response has `Date` and `Server` unless the app set its own.

One server (apps.http11) for the module; raw bytes over real sockets.
"""

from __future__ import annotations

import re
import socket
import time
from email.utils import parsedate_to_datetime

import pytest
from ferrule_proc import start_server
from rawhttp import Conn

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)


@pytest.fixture(scope="module")
def server():
    running = start_server("apps.http11:app")
    yield running
    running.stop()


def get(path: str, method: str = "GET", version: str = "HTTP/1.1") -> bytes:
    host = "Host: test\r\n" if version == "HTTP/1.1" else ""
    return f"{method} {path} {version}\r\n{host}\r\n".encode()


def chunked_post(path: str, wire_body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + wire_body)


# --------------------------------------------------------------------------------------------
# Chunked request bodies

CHUNKED_BODIES = [
    pytest.param(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world", id="plain"),
    pytest.param(b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", b"0123456789abcdefghij",
                 id="hex-digits-both-cases"),
    pytest.param(b"005\r\nhello\r\n0000\r\n\r\n", b"hello", id="leading-zeros"),
    pytest.param(b"5;name=value\r\nhello\r\n6;a;b=\"quoted;\\\"str\"\r\n world\r\n0;last\r\n\r\n",
                 b"hello world", id="extensions"),
    pytest.param(b"5 ; name = value\r\nhello\r\n0\r\n\r\n", b"hello", id="extension-with-bws"),
    pytest.param(b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n", b"hello",
                 id="trailers"),
    pytest.param(b"5;x=y\r\nhello\r\n0;z\r\nX-Checksum: abc\r\n\r\n", b"hello",
                 id="extensions-and-trailers"),
    pytest.param(b"0\r\n\r\n", b"", id="empty"),
    pytest.param(b"".join(b"1\r\n" + bytes([65 + i % 26]) + b"\r\n" for i in range(300))
                 + b"0\r\n\r\n", bytes(65 + i % 26 for i in range(300)), id="300-one-byte-chunks"),
]


@pytest.mark.parametrize(("wire", "expected"), CHUNKED_BODIES)
def test_delivers_chunked_request_bodies_intact(server, wire, expected):
    with Conn(server.address) as c:
        c.send(chunked_post("/body", wire) + get("/echo?after"))
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == expected
        assert resp.header("X-Body-Length") == str(len(expected))
        # PEP 3333: no CONTENT_LENGTH for a chunked body; the app sees the coding.
        assert resp.header("X-Content-Length") == "-"
        assert resp.header("X-Transfer-Encoding") == "chunked"
        # The whole chunked body (trailers included) was consumed: the next head parses.
        assert c.read_response().body == b"GET /echo?after"


def test_delivers_a_chunked_body_sent_byte_by_byte(server):
    wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
    with Conn(server.address) as c:
        # One segment per byte where the stack allows.
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(chunked_post("/body", b""))
        for i in range(len(wire)):
            c.send(wire[i:i + 1])
        assert c.read_response().body == b"hello world"


def test_delivers_a_large_chunked_body_in_many_writes(server):
    payload = bytes((i * 7) % 256 for i in range(600_000))
    with Conn(server.address) as c:
        c.send(chunked_post("/body", b""))
        for start in range(0, len(payload), 50_000):
            piece = payload[start:start + 50_000]
            c.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        c.send(b"0\r\n\r\n")
        resp = c.read_response()
        assert resp.header("X-Body-Length") == str(len(payload))
        assert resp.body == payload


def test_delivers_a_length_body_intact(server):
    payload = bytes(range(256)) * 1000
    with Conn(server.address) as c:
        resp = c.request("POST", "/body", body=payload)
        assert resp.body == payload
        assert resp.header("X-Content-Length") == str(len(payload))
        assert resp.header("X-Transfer-Encoding") == "-"


# --------------------------------------------------------------------------------------------
# Response framing


def test_chunks_a_response_without_length_on_http11(server):
    with Conn(server.address) as c:
        c.send(get("/stream?n=3") + get("/echo?after"))
        raw = c._read_until(b"0\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"\r\nTransfer-Encoding: chunked" in head
        assert b"Content-Length" not in head
        assert b"Connection" not in head
        assert body == b"8\r\nchunk-0\n\r\n8\r\nchunk-1\n\r\n8\r\nchunk-2\n\r\n0\r\n\r\n"
        # The connection stays usable after the last chunk.
        assert c.read_response().body == b"GET /echo?after"


def test_chunks_an_empty_streamed_response_as_just_the_last_chunk(server):
    with Conn(server.address) as c:
        c.send(get("/stream?n=0") + get("/echo?after"))
        resp = c.read_response()
        assert resp.status == 200
        assert (resp.chunked, resp.body) == (True, b"")
        assert c.read_response().body == b"GET /echo?after"


def test_delimits_a_response_without_length_by_close_on_http10(server):
    with Conn(server.address) as c:
        c.send(get("/stream?n=3", version="HTTP/1.0"))
        raw = c.read_to_eof()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Transfer-Encoding" not in head
    assert b"Content-Length" not in head
    assert b"\r\nConnection: close" in head
    assert body == b"chunk-0\nchunk-1\nchunk-2\n"


def test_keeps_the_apps_content_length(server):
    with Conn(server.address) as c:
        resp = c.request("GET", "/fixed")
        assert resp.header_all("Content-Length") == ["10"]
        assert resp.header("Transfer-Encoding") is None
        assert resp.body == b"0123456789"


# --------------------------------------------------------------------------------------------
# Responses without a body


def _comparable(headers):
    return [(k, v) for k, v in headers if k.lower() != "date"]


@pytest.mark.parametrize("path", ["/fixed", "/echo?x=1"])
def test_answers_head_with_the_get_headers_and_no_body(server, path):
    with Conn(server.address) as c:
        get_resp = c.request("GET", path)
        c.send(get(path, method="HEAD") + get("/echo?after"))
        head_resp = c.read_response(head_request=True)
        assert head_resp.status == 200
        if get_resp.header("Content-Length") is not None:
            assert _comparable(head_resp.headers) == _comparable(get_resp.headers)
        else:
            # No length known without running the body; the rest is the same.
            assert [h for h in _comparable(head_resp.headers) if h[0] != "Transfer-Encoding"] == \
                   [h for h in _comparable(get_resp.headers) if h[0] != "Transfer-Encoding"]
        # Zero body bytes: the next response starts right after the head.
        after = c.read_response()
        assert (after.status, after.body) == (200, b"GET /echo?after")


@pytest.mark.parametrize("code", [204, 304])
def test_sends_no_body_for_204_and_304(server, code):
    with Conn(server.address) as c:
        c.send(get(f"/status?code={code}") + get("/echo?after"))
        resp = c.read_response()
        assert resp.status == code
        assert resp.header("Content-Length") is None
        assert resp.header("Transfer-Encoding") is None
        after = c.read_response()
        assert (after.status, after.body) == (200, b"GET /echo?after")


# --------------------------------------------------------------------------------------------
# Date and Server


@pytest.mark.parametrize("path", ["/echo", "/fixed", "/stream", "/status?code=204"])
def test_adds_date_and_server(server, path):
    with Conn(server.address) as c:
        resp = c.request("GET", path)
    dates = resp.header_all("Date")
    assert len(dates) == 1
    assert IMF_FIXDATE.fullmatch(dates[0]), dates[0]
    assert abs(parsedate_to_datetime(dates[0]).timestamp() - time.time()) < 5
    assert resp.header_all("Server") == ["ferrule"]


def test_adds_date_and_server_to_error_responses(server):
    with Conn(server.address) as c:
        c.send(b"GET /echo HTTP/1.1\r\n\r\n")  # no Host
        resp = c.read_response()
    assert resp.status == 400
    assert IMF_FIXDATE.fullmatch(resp.header("Date") or "")
    assert resp.header_all("Server") == ["ferrule"]


def test_keeps_the_apps_own_server_and_date(server):
    with Conn(server.address) as c:
        resp = c.request("GET", "/own-headers")
    assert resp.header_all("Server") == ["app-server/1.0"]
    assert resp.header_all("Date") == ["Tue, 01 Jan 2030 00:00:00 GMT"]
