"""The uwsgi protocol (`--protocol uwsgi`): real nginx with `uwsgi_pass` and the stock
`uwsgi_params` (docs/deploy.md), and hostile packets written by the test. The app sees
the client nginx saw; bodies arrive whole; packets that are not plain WSGI requests, or
that come from a peer not allowed, are closed without an answer.
"""

from __future__ import annotations

import json
import struct

import pytest
from proxies import start_nginx
from rawhttp import Conn
from test_proxy_nginx import CLIENT, client_conn, get

APP = "apps.proxied:app"


def test_nginx_uwsgi_pass_reaches_the_app(ferrule_server, proxies):
    server = ferrule_server(APP, "--protocol", "uwsgi")
    nginx = proxies(start_nginx, "nginx-uwsgi", server)
    with client_conn(nginx.address) as conn:
        for _ in range(2):
            _, got = get(conn, "/a%20b?q=1", headers={"X-Forwarded-For": "6.6.6.6"})
            assert (got["REMOTE_ADDR"], got["wsgi.url_scheme"]) == (CLIENT, "http")
            assert got["REMOTE_PORT"].isdigit()
            assert (got["PATH_INFO"], got["QUERY_STRING"]) == ("/a b", "q=1")
            # nginx sends an empty SERVER_NAME without a server_name directive: the
            # listening address stands.
            assert (got["HTTP_HOST"], got["SERVER_NAME"]) == ("shop.example", "127.0.0.1")
            assert got["SERVER_PORT"] == str(nginx.port)
            assert got["SERVER_PROTOCOL"] == "HTTP/1.1"
        _, got = get(conn, "/form", body=b"u" * 70_000, method="POST")
        assert (got["REQUEST_METHOD"], got["body_length"]) == ("POST", 70_000)
        # A chunked request body: nginx decodes it and sends CONTENT_LENGTH.
        conn.send(b"POST /chunked HTTP/1.1\r\nHost: shop.example\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        resp = conn.read_response()
        assert resp.status == 200, resp.body
        assert json.loads(resp.body)["body_length"] == 5


def packet(variables: dict[str, str], modifier1: int = 0) -> bytes:
    block = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v))
                     + v.encode() for k, v in variables.items())
    return struct.pack("<BHB", modifier1, len(block), 0) + block


def answer(server, data: bytes) -> bytes:
    """Everything the server sent back before closing (a close with our bytes unread may
    come as a reset: then nothing was sent)."""
    with Conn(server.address) as conn:
        conn.send(data)
        try:
            return conn.read_to_eof()
        except ConnectionResetError:
            assert conn.buf == b""
            return b""


def test_a_packet_written_by_hand_is_served_and_the_connection_closes(ferrule_server):
    server = ferrule_server(APP, "--protocol", "uwsgi")
    raw = answer(server, packet({"REQUEST_METHOD": "GET", "REQUEST_URI": "/x",
                                 "REMOTE_ADDR": "192.0.2.5", "HTTPS": "on",
                                 "SERVER_NAME": "shop.example", "SERVER_PORT": "443",
                                 "HTTP_HOST": "shop.example"}))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    got = json.loads(body)
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"], got["wsgi.url_scheme"]) == (
        "192.0.2.5", None, "https")
    assert (got["SERVER_NAME"], got["SERVER_PORT"]) == ("shop.example", "443")


HOSTILE = [
    ("not uwsgi", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b""),
    ("modifier1 other than 0", packet({"REQUEST_METHOD": "GET"}, modifier1=30), b""),
    ("variable past the block", struct.pack("<BHB", 0, 3, 0) + b"\x09\x00x", b""),
    ("header injection", packet({"REQUEST_METHOD": "GET", "REQUEST_URI": "/",
                                 "HTTP_X_A": "1\r\nX-B: 2"}), b""),
    ("smuggling by length", packet({"REQUEST_METHOD": "POST", "REQUEST_URI": "/",
                                    "CONTENT_LENGTH": "1, 20"}), b"HTTP/1.1 400"),
]


@pytest.mark.parametrize(("what", "data", "starts"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_packets_are_refused_and_others_served(ferrule_server, what, data, starts):
    server = ferrule_server(APP, "--protocol", "uwsgi")
    assert answer(server, data).startswith(starts)
    raw = answer(server, packet({"REQUEST_METHOD": "GET", "REQUEST_URI": "/"}))
    assert raw.startswith(b"HTTP/1.1 200 OK")


def test_a_peer_not_allowed_gets_nothing(ferrule_server):
    server = ferrule_server(APP, "--protocol", "uwsgi", "--uwsgi-allow-from", "10.9.9.9")
    assert answer(server, packet({"REQUEST_METHOD": "GET", "REQUEST_URI": "/"})) == b""
