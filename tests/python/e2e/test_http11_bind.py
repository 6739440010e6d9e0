"""Listening addresses end to end: `--bind unix:PATH` (served over AF_UNIX), `--bind [::1]:0`
(skipped without IPv6), and several `--bind` flags on one server.
"""

from __future__ import annotations

import json
import os
import re
import socket

import pytest
from ferrule_proc import start_server
from rawhttp import Conn


class UnixConn(Conn):
    """`rawhttp.Conn` over a unix stream socket."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""


def has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def sock_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sock")


def test_serves_over_a_unix_socket(sock_dir):
    path = str(sock_dir / "one.sock")
    server = start_server("--bind", f"unix:{path}", "apps.http11:app", bind=None)
    try:
        assert server.unix_path == path
        with UnixConn(path) as c:
            # Keep-alive works the same over AF_UNIX.
            assert c.request("GET", "/echo?unix").body == b"GET /echo?unix"
            seen = json.loads(c.request("GET", "/environ").body)
            assert seen["REMOTE_ADDR"] == ""
            assert seen["wsgi.url_scheme"] == "http"
    finally:
        assert server.stop() == 0
    # A clean stop removes the socket file it created.
    assert not os.path.exists(path)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_serves_on_ipv6_loopback():
    server = start_server("apps.http11:app", bind="[::1]:0")
    try:
        assert server.host == "::1"
        with socket.create_connection(("::1", server.port), timeout=10) as sock:
            c = Conn.__new__(Conn)
            c.sock, c.buf = sock, b""
            seen = json.loads(c.request("GET", "/environ").body)
        assert seen["REMOTE_ADDR"] == "::1"
        assert seen["SERVER_NAME"] == "::1"
    finally:
        assert server.stop() == 0


def test_serves_every_address_given_with_repeated_bind(sock_dir):
    path = str(sock_dir / "two.sock")
    server = start_server("--bind", "127.0.0.1:0", "--bind", f"unix:{path}", "apps.http11:app",
                          bind=None)
    try:
        # The fixture returns on the first "listening on" line; find both.
        server.wait_for_log(r"listening on unix:")
        tcp = [int(p) for p in re.findall(r"listening on http://127\.0\.0\.1:(\d+)", server.log())]
        assert len(tcp) == 1
        assert f"listening on unix:{path}" in server.log()
        with Conn(("127.0.0.1", tcp[0])) as c:
            assert c.request("GET", "/echo?tcp").body == b"GET /echo?tcp"
        with UnixConn(path) as c:
            assert c.request("GET", "/echo?unix").body == b"GET /echo?unix"
    finally:
        assert server.stop() == 0


def test_serves_two_tcp_addresses_at_once():
    # 127.0.0.2 is loopback too on Linux. (The same `127.0.0.1:0` twice is refused by the
    # settings as a duplicate, though port 0 would give two different ports.)
    server = start_server("--bind", "127.0.0.1:0", "--bind", "127.0.0.2:0", "apps.http11:app",
                          bind=None)
    try:
        server.wait_for_log(r"listening on http://127\.0\.0\.2:")
        found = re.findall(r"listening on http://(127\.0\.0\.[12]):(\d+)", server.log())
        assert sorted(host for host, _ in found) == ["127.0.0.1", "127.0.0.2"]
        for host, port in found:
            with Conn((host, int(port))) as c:
                seen = json.loads(c.request("GET", "/environ").body)
                assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == (host, port)
    finally:
        assert server.stop() == 0
