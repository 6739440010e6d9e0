"""PEP 3333 "The start_response() Callable" over real sockets: status and header validation (a
bad head becomes a 500 and never reaches the wire), the `write()` callable, `exc_info`, a lazy
call inside the first iteration, and the head held back until the first non-empty body bytes.

One server for the module (`apps.pep3333`; every route is wrapped in `wsgiref.validate` except
`bad-head`, which breaks the protocol on purpose).
"""

from __future__ import annotations

import re
import socket

import ferrule_proc as conftest
import pytest
from apps.pep3333 import BAD_HEADS
from rawhttp import Conn, Response


@pytest.fixture(scope="module")
def server():
    server = conftest.start_server("apps.pep3333:app")
    yield server
    server.stop()


def exchange(server, target: str) -> tuple[Response, bytes]:
    """One GET with `Connection: close`; returns the parsed response and every byte the server
    sent on the connection (so stray bytes after the response are seen too)."""
    with Conn(server.address, timeout=5) as conn:
        conn.send(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        raw = conn.read_to_eof()
    return Captured(raw).read_response(), raw


class Captured(Conn):
    """Parses bytes already received, without a socket."""

    def __init__(self, raw: bytes):
        self.buf = raw

    def _fill(self) -> bool:
        return False


HOP_BY_HOP = re.compile(rb"^(transfer-encoding|keep-alive|upgrade|te|trailer|proxy-authenticate):", re.IGNORECASE | re.MULTILINE)


@pytest.mark.parametrize("case", [row[0] for row in BAD_HEADS])
def test_invalid_status_or_header_becomes_a_500_and_never_reaches_the_wire(server, case):
    # Unvalidated route: it breaks the protocol on purpose, for the server to catch.
    resp, raw = exchange(server, f"/bad-head?case={case}")
    assert resp.status == 500
    assert b"zzmark" not in raw.lower(), raw
    assert not HOP_BY_HOP.search(resp.raw_head), resp.raw_head
    server.wait_for_log(rf"Error handling request GET /bad-head\?case={re.escape(case)}$")


def test_latin1_header_values_go_out_as_one_byte_per_character(server):
    resp, _raw = exchange(server, "/latin1-header")
    assert resp.status == 200
    assert b"\r\nX-Latin1: caf\xe9 \xff\r\n" in resp.raw_head


@pytest.mark.parametrize(("mode", "body", "framing"), [
    ("only", b"hello world", "chunked"),
    ("length", b"hello world", "content-length"),
    ("mixed", b"abc", "chunked"),
])
def test_write_callable_sends_body_bytes(server, mode, body, framing):
    resp, _ = exchange(server, f"/write?mode={mode}")
    assert resp.status == 200
    assert resp.body == body
    if framing == "chunked":
        assert resp.chunked and resp.header("Content-Length") is None
    else:
        assert not resp.chunked and resp.header("Content-Length") == str(len(body))


def test_exc_info_replaces_the_status_and_headers_when_nothing_was_sent(server):
    resp, _ = exchange(server, "/exc-info-replace")
    assert (resp.status, resp.reason) == (503, "Replaced")
    assert resp.header("X-First") is None
    assert resp.header("X-Second") == "1"
    assert resp.body == b"replaced"


def test_exc_info_reraises_the_apps_exception_once_the_head_was_sent(server):
    resp, _ = exchange(server, "/exc-info-reraise")
    assert resp.status == 200
    assert resp.body == b"partial|reraised-same"


def test_second_start_response_without_exc_info_is_refused(server):
    resp, _ = exchange(server, "/second-call")
    assert resp.status == 200
    assert resp.body == b"refused: RuntimeError"


def test_start_response_may_be_called_in_the_first_iteration(server):
    resp, _ = exchange(server, "/lazy")
    assert resp.status == 200
    assert resp.header("X-Lazy") == "1"
    assert resp.body == b"lazy body"


@pytest.mark.parametrize("via", ["yield", "write"])
def test_nothing_is_sent_before_the_first_non_empty_body_bytes(server, via):
    # An empty chunk (or write(b"")) and then an exception: the client must get a 500, so
    # the app's 200 head cannot have gone out with the empty chunk.
    resp, raw = exchange(server, f"/empty-first?then=raise&via={via}")
    assert resp.status == 500
    assert b"app-head" not in raw
    server.wait_for_log(rf"Error handling request GET /empty-first\?then=raise&via={via}$")


def test_head_goes_out_with_the_first_non_empty_chunk(server):
    # The app yields b"", sleeps 600 ms, then yields b"data".
    with Conn(server.address, timeout=5) as conn:
        conn.send(b"GET /empty-first?then=data&ms=600 HTTP/1.1\r\nHost: t\r\n\r\n")
        conn.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            early = conn.sock.recv(65536)
            pytest.fail(f"bytes before the first non-empty chunk: {early!r}")
        conn.sock.settimeout(5)
        resp = conn.read_response()
    assert resp.status == 200
    assert resp.header("X-Zzmark") == "app-head"
    assert resp.body == b"data"
