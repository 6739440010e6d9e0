"""The PROXY protocol (`--proxy-protocol`) over real sockets, with headers written by the
test: v1 and v2 headers set REMOTE_ADDR and REMOTE_PORT; v2 LOCAL (a health check) keeps
the socket's addresses; a missing, malformed or untrusted header closes the connection
without an answer, and other clients are still served. HAProxy itself sends the headers in
`test_proxy_haproxy.py`.
"""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
from rawhttp import Conn

APP = "apps.proxied:app"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
GET = b"GET /p HTTP/1.1\r\nHost: test\r\n\r\n"


def v2(command: int, family: int, payload: bytes) -> bytes:
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(payload)) + payload


def inet4(src: str, dst: str, sport: int, dport: int) -> bytes:
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)


def inet6(src: str, dst: str, sport: int, dport: int) -> bytes:
    return (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
            + struct.pack("!HH", sport, dport))


def served(server, preamble: bytes) -> dict:
    with Conn(server.address) as conn:
        conn.send(preamble + GET)
        resp = conn.read_response()
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


def closed_without_answer(server, data: bytes, wait: float = 5.0) -> None:
    with Conn(server.address) as conn:
        conn.send(data)
        conn.sock.settimeout(wait)
        try:
            got = conn.sock.recv(65536)
        except ConnectionResetError:
            got = b""
        assert got == b"", got[:200]


@pytest.mark.parametrize("mode", ["v1", "auto"])
def test_a_v1_header_names_the_client(ferrule_server, mode):
    server = ferrule_server(APP, "--proxy-protocol", mode)
    got = served(server, b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n")
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"]) == ("203.0.113.7", "56324")
    assert (got["SERVER_NAME"], got["SERVER_PORT"]) == ("192.0.2.1", "443")
    got = served(server, b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n")
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"]) == ("2001:db8::7", "4711")
    got = served(server, b"PROXY UNKNOWN\r\n")
    assert got["REMOTE_ADDR"] == "127.0.0.1"


def test_a_v2_header_names_the_client_and_local_keeps_the_socket(ferrule_server):
    server = ferrule_server(APP, "--proxy-protocol")  # bare: auto
    got = served(server, v2(0x21, 0x11, inet4("203.0.113.7", "192.0.2.1", 56324, 443)))
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"]) == ("203.0.113.7", "56324")
    got = served(server, v2(0x21, 0x21, inet6("2001:db8::7", "2001:db8::1", 4711, 443)
                            + b"\x04\x00\x03pad"))
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"]) == ("2001:db8::7", "4711")
    got = served(server, v2(0x20, 0x00, b""))
    assert got["REMOTE_ADDR"] == "127.0.0.1"


def test_keep_alive_requests_after_the_header_keep_its_client(ferrule_server):
    server = ferrule_server(APP, "--proxy-protocol", "v1")
    with Conn(server.address) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n")
        for _ in range(3):
            resp = conn.request("GET", "/p")
            assert json.loads(resp.body)["REMOTE_ADDR"] == "203.0.113.7"


def test_forwarding_headers_are_judged_on_the_client_the_header_names(ferrule_server):
    # The PROXY header's client is not a trusted forwarder: its X-Forwarded-For is ignored.
    server = ferrule_server(APP, "--proxy-protocol", "v1")
    with Conn(server.address) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n"
                  b"GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
        assert json.loads(conn.read_response().body)["REMOTE_ADDR"] == "203.0.113.7"


HOSTILE = [
    ("missing header", GET),
    ("v1 without CRLF in 107 bytes", b"PROXY TCP4 " + b"1" * 96 + b"\r\n" + GET),
    ("v1 with a bare LF", b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n" + GET),
    ("v1 with garbage addresses", b"PROXY TCP4 999.1.1.1 192.0.2.1 1 2\r\n" + GET),
    ("v2 TLV longer than the header",
     v2(0x21, 0x11, inet4("203.0.113.7", "192.0.2.1", 1, 2) + b"\x01\x00\x40ab") + GET),
    ("v2 unknown family", v2(0x21, 0x51, inet4("203.0.113.7", "192.0.2.1", 1, 2)) + GET),
    ("v2 unknown version", v2(0x31, 0x11, inet4("203.0.113.7", "192.0.2.1", 1, 2)) + GET),
    ("v2 longer than 4 KiB", v2(0x21, 0x11, b"\0" * 5000) + GET),
    ("v2 binary junk", V2_SIGNATURE + bytes(range(256))),
]


@pytest.mark.parametrize(("what", "data"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_bad_header_closes_the_connection_and_others_are_served(ferrule_server, what, data):
    server = ferrule_server(APP, "--proxy-protocol", "auto")
    closed_without_answer(server, data)
    assert served(server, b"PROXY UNKNOWN\r\n")["REMOTE_ADDR"] == "127.0.0.1"


def test_a_length_pointing_past_the_buffer_closes_at_the_header_timeout(ferrule_server):
    server = ferrule_server(APP, "--proxy-protocol", "v2", "--header-timeout", "1s")
    header = bytearray(v2(0x21, 0x11, inet4("203.0.113.7", "192.0.2.1", 1, 2)))
    header[14:16] = struct.pack("!H", 3000)
    started = time.monotonic()
    closed_without_answer(server, bytes(header), wait=5.0)
    assert 0.8 < time.monotonic() - started < 4.0
    assert served(server, v2(0x20, 0x00, b""))["REMOTE_ADDR"] == "127.0.0.1"


def test_a_header_from_a_peer_not_allowed_is_refused(ferrule_server):
    server = ferrule_server(APP, "--proxy-protocol", "auto", "--proxy-allow-from", "10.9.9.9")
    closed_without_answer(server, b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n" + GET)
    closed_without_answer(server, GET)
    other = ferrule_server(APP, "--proxy-protocol", "auto", "--proxy-allow-from", "*")
    assert served(other, b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n")["REMOTE_ADDR"] == (
        "203.0.113.7")


def test_a_valid_header_then_a_smuggling_attempt_is_refused_like_any(ferrule_server):
    server = ferrule_server(APP, "--proxy-protocol", "v1")
    with Conn(server.address) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n"
                  b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n")
        resp = conn.read_response()
        assert resp.status == 400
        assert resp.header("Connection") == "close"
        assert conn.is_closed_by_peer()
    # A second PROXY line inside the HTTP stream is not a header: it is a bad request.
    with Conn(server.address) as conn:
        conn.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n"
                  b"PROXY TCP4 10.0.0.1 192.0.2.1 1 2\r\n" + GET)
        assert conn.read_response().status == 400
    assert served(server, b"PROXY UNKNOWN\r\n")["REMOTE_ADDR"] == "127.0.0.1"


def test_a_unix_socket_listener_takes_the_header_from_any_local_process(ferrule_server,
                                                                       tmp_path):
    path = tmp_path / "f.sock"
    server = ferrule_server(APP, "--proxy-protocol", "v1", bind=f"unix:{path}")
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(path))
    sock.sendall(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n" + GET
                 .replace(b"HTTP/1.1", b"HTTP/1.0"))
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    body = data.partition(b"\r\n\r\n")[2]
    assert json.loads(body)["REMOTE_ADDR"] == "203.0.113.7"
    assert server.is_alive()
