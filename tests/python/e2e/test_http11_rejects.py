"""Baseline strictness end to end: requests the server must refuse (RFC 9112 §2–§7, RFC 9110)
get their status with `Connection: close`, the connection is closed, and bytes pipelined
after the bad request are never processed. A fresh connection is served as usual.

Each row sends `bad + GOOD` in one write and expects exactly one response, then EOF.
"""

from __future__ import annotations

import pytest
from ferrule_proc import start_server
from rawhttp import Conn

GOOD = b"GET /echo?pipelined HTTP/1.1\r\nHost: test\r\n\r\n"


def post(headers: str, body: bytes = b"", path: str = "/body") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode() + body


REJECTED = [
    # Framing (RFC 9112 §6.3)
    pytest.param(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400,
                 id="content-length-and-transfer-encoding"),
    pytest.param(post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), 400,
                 id="transfer-encoding-and-content-length"),
    pytest.param(post("Content-Length: 5x\r\n", b"hello"), 400, id="content-length-not-digits"),
    pytest.param(post("Content-Length: +5\r\n", b"hello"), 400, id="content-length-signed"),
    pytest.param(post("Content-Length: 0x5\r\n", b"hello"), 400, id="content-length-hex"),
    pytest.param(post("Content-Length: \r\n", b"hello"), 400, id="content-length-empty"),
    pytest.param(post("Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400,
                 id="content-length-conflicting"),
    pytest.param(post("Content-Length: 5, 6\r\n", b"hello!"), 400, id="content-length-list"),
    pytest.param(post("Content-Length: 99999999999999999999999\r\n"), 400,
                 id="content-length-overflow"),
    pytest.param(post("Transfer-Encoding: gzip\r\n"), 501, id="transfer-encoding-unknown"),
    pytest.param(post("Transfer-Encoding: identity\r\n"), 501, id="transfer-encoding-identity"),
    pytest.param(post("Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501,
                 id="transfer-encoding-unknown-then-chunked"),
    pytest.param(post("Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400,
                 id="transfer-encoding-chunked-not-last"),
    pytest.param(post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                      b"0\r\n\r\n"), 400, id="transfer-encoding-chunked-twice"),
    pytest.param(post("Transfer-Encoding: chunked;q=1\r\n", b"0\r\n\r\n"), 400,
                 id="transfer-encoding-chunked-with-parameter"),
    pytest.param(b"POST /body HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                 id="transfer-encoding-in-http10"),
    # Chunked body (RFC 9112 §7.1); the app reads the body.
    pytest.param(post("Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"), 400,
                 id="chunk-size-not-hex"),
    pytest.param(post("Transfer-Encoding: chunked\r\n", b"-5\r\nhello\r\n0\r\n\r\n"), 400,
                 id="chunk-size-negative"),
    pytest.param(post("Transfer-Encoding: chunked\r\n", b"\r\nhello\r\n0\r\n\r\n"), 400,
                 id="chunk-size-missing"),
    pytest.param(post("Transfer-Encoding: chunked\r\n", b"1ffffffffffffffff\r\nx\r\n0\r\n\r\n"),
                 400, id="chunk-size-overflow"),
    pytest.param(post("Transfer-Encoding: chunked\r\n", b"5\r\nhelloXX0\r\n\r\n"), 400,
                 id="chunk-data-without-crlf"),
    pytest.param(post("Transfer-Encoding: chunked\r\n", b"5\nhello\r\n0\r\n\r\n"), 400,
                 id="chunk-size-bare-lf"),
    # Line endings (RFC 9112 §2.2)
    pytest.param(b"GET /echo HTTP/1.1\nHost: test\r\n\r\n", 400, id="bare-lf-request-line"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\n\r\n", 400, id="bare-lf-header"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\n\n", 400, id="bare-lf-blank-line"),
    pytest.param(b"GET /echo HTTP/1.1\rHost: test\r\n\r\n", 400, id="bare-cr-request-line"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: te\rst\r\n\r\n", 400, id="bare-cr-in-value"),
    # Field syntax (RFC 9112 §5)
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-A: a\r\n b\r\n\r\n", 400, id="obs-fold"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-A: a\r\n\tb\r\n\r\n", 400,
                 id="obs-fold-tab"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost : test\r\n\r\n", 400, id="space-before-colon"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-A\t: 1\r\n\r\n", 400,
                 id="tab-before-colon"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nX@A: 1\r\n\r\n", 400,
                 id="header-name-invalid-token"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nX A: 1\r\n\r\n", 400,
                 id="header-name-with-space"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\n: empty\r\n\r\n", 400,
                 id="header-name-empty"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nNoColon\r\n\r\n", 400,
                 id="header-without-colon"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test\r\nX-A: a\x00b\r\n\r\n", 400,
                 id="header-value-nul"),
    # Request line (RFC 9112 §3)
    pytest.param(b"G(T /echo HTTP/1.1\r\nHost: test\r\n\r\n", 400, id="method-invalid-token"),
    pytest.param(b"GE\x7fT /echo HTTP/1.1\r\nHost: test\r\n\r\n", 400, id="method-control-byte"),
    pytest.param(b"GET  /echo HTTP/1.1\r\nHost: test\r\n\r\n", 400, id="double-space"),
    pytest.param(b"GET /echo\r\nHost: test\r\n\r\n", 400, id="http09-request-line"),
    pytest.param(b"GET /echo HTTP/2.0\r\nHost: test\r\n\r\n", 505, id="version-http2"),
    pytest.param(b"GET /echo HTTP/3.0\r\nHost: test\r\n\r\n", 505, id="version-http3"),
    pytest.param(b"GET /echo FOO/1.1\r\nHost: test\r\n\r\n", 400, id="version-garbage"),
    pytest.param(b"GET /echo HTTP/1.1.1\r\nHost: test\r\n\r\n", 400, id="version-too-long"),
    pytest.param(b"GET /echo http/1.1\r\nHost: test\r\n\r\n", 400, id="version-lowercase"),
    # Host (RFC 9112 §3.2)
    pytest.param(b"GET /echo HTTP/1.1\r\n\r\n", 400, id="host-missing"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="host-twice"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="host-with-space"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, id="host-with-slash"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, id="host-unclosed-ipv6"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test:80x\r\n\r\n", 400, id="host-port-not-digits"),
    pytest.param(b"GET /echo HTTP/1.1\r\nHost: test:65536\r\n\r\n", 400,
                 id="host-port-over-65535"),
    pytest.param(b"GET http://test/echo HTTP/1.1\r\nHost: a b\r\n\r\n", 400,
                 id="host-with-space-behind-absolute-form"),
]

# Host values of RFC 9110 §7.2 (`uri-host [ ":" port ]`) at the edges of the grammar.
ACCEPTED_HOSTS = ["", "example.com:8080", "127.0.0.1:80", "[::1]:8000", "[v1.fe]", "a%20b",
                  "xn--bcher-kva.example", "localhost:"]


@pytest.fixture(scope="module")
def server():
    running = start_server("apps.http11:app")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def small_body_server():
    running = start_server("--max-body-bytes", "1KiB", "apps.http11:app")
    yield running
    running.stop()


def assert_rejected_then_closed(address, raw: bytes, status: int):
    with Conn(address) as c:
        c.send(raw + GOOD)
        resp = c.read_response()
        assert resp.status == status, resp.body
        assert resp.header_all("Connection") == ["close"]
        assert resp.header("Content-Length") == str(len(resp.body))
        # Exactly one response, then EOF: the pipelined GOOD request was never processed.
        assert c.read_to_eof() == b""
    return resp


def assert_still_serving(address):
    with Conn(address) as c:
        resp = c.request("GET", "/echo?fresh")
        assert (resp.status, resp.body) == (200, b"GET /echo?fresh")


@pytest.mark.parametrize(("raw", "status"), REJECTED)
def test_rejects_and_closes_without_processing_pipelined_bytes(server, raw, status):
    assert_rejected_then_closed(server.address, raw, status)
    assert_still_serving(server.address)


def test_rejects_a_host_with_a_space_naming_the_rule_and_serves_the_next_client(server):
    resp = assert_rejected_then_closed(server.address, b"GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n",
                                       400)
    assert resp.body == b"400 Bad Request: invalid Host header value\n"
    assert_still_serving(server.address)


@pytest.mark.parametrize("host", ACCEPTED_HOSTS)
def test_serves_a_request_whose_host_is_valid_at_the_edge_of_the_grammar(server, host):
    with Conn(server.address) as c:
        resp = c.request("GET", "/echo?host", headers={"Host": host})
        assert (resp.status, resp.body) == (200, b"GET /echo?host")


def test_answers_a_good_request_before_rejecting_the_bad_one_after_it(server):
    good = b"GET /echo?before HTTP/1.1\r\nHost: test\r\n\r\n"
    bad = b"GET /echo?bad HTTP/1.1\r\nHost : test\r\n\r\n"
    with Conn(server.address) as c:
        c.send(good + bad + GOOD)
        first = c.read_response()
        assert (first.status, first.body) == (200, b"GET /echo?before")
        assert first.header("Connection") is None
        assert c.read_response().status == 400
        assert c.read_to_eof() == b""


def test_rejects_a_bad_chunk_even_when_the_app_ignores_the_body(server):
    # The app answers without reading, so its 200 stands; the bad framing is found while
    # draining. The connection must not be reused: the pipelined request after the broken
    # body is never answered.
    with Conn(server.address) as c:
        c.send(post("Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n", "/ignore-body")
               + GOOD)
        resp = c.read_response()
        assert (resp.status, resp.body) == (200, b"ignored /ignore-body")
        assert c.read_to_eof() == b""


def test_refuses_a_declared_body_over_max_body_bytes_before_the_app_runs(small_body_server):
    with Conn(small_body_server.address) as c:
        # Only the head is sent: an app that ran would wait for the body (and time out).
        c.send(post("Content-Length: 1025\r\n"))
        resp = c.read_response()
        assert resp.status == 413
        assert resp.header_all("Connection") == ["close"]
        assert c.read_to_eof() == b""
    assert_still_serving(small_body_server.address)


def test_accepts_a_body_of_exactly_max_body_bytes(small_body_server):
    with Conn(small_body_server.address) as c:
        resp = c.request("POST", "/body", body=b"x" * 1024)
        assert resp.status == 200
        assert resp.header("X-Body-Length") == "1024"


def test_refuses_a_chunked_body_once_it_grows_over_max_body_bytes(small_body_server):
    wire = b"400\r\n" + b"x" * 1024 + b"\r\n1\r\ny\r\n0\r\n\r\n"
    assert_rejected_then_closed(small_body_server.address,
                                post("Transfer-Encoding: chunked\r\n", wire), 413)
    assert_still_serving(small_body_server.address)
