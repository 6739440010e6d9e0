"""Real nginx in front of ferrule, with the configs of docs/deploy.md: over TCP (http and
https) and over a unix socket, with upstream keep-alive, the app sees the client's
address, scheme and host; a client's own X-Forwarded-For is not believed. The client
talks from 127.0.0.2 so its address differs from nginx's (127.0.0.1).
"""

from __future__ import annotations

import json
import socket
import ssl

from proxies import start_nginx
from rawhttp import Conn, Response

APP = "apps.proxied:app"
CLIENT = "127.0.0.2"


def client_conn(address: tuple[str, int]) -> Conn:
    """A connection from 127.0.0.2: Linux routes all of 127.0.0.0/8 to loopback."""
    conn = Conn.__new__(Conn)
    conn.sock = socket.create_connection(address, timeout=10, source_address=(CLIENT, 0))
    conn.buf = b""
    return conn


def get(conn: Conn, target: str = "/p", headers: dict | None = None,
        body: bytes = b"", method: str = "GET") -> tuple[Response, dict]:
    resp = conn.request(method, target, headers={"Host": "shop.example", **(headers or {})},
                        body=body)
    assert resp.status == 200, (resp.status, resp.body)
    return resp, json.loads(resp.body)


def test_over_tcp_the_app_sees_the_client_scheme_and_host(ferrule_server, proxies, tmp_path):
    access = tmp_path / "access.log"
    server = ferrule_server(APP, "--access-log", str(access),
                            "--access-log-format", "%(h)s via %(peer)s %(m)s")
    nginx = proxies(start_nginx, "nginx-tcp", server)
    with client_conn(nginx.address) as conn:
        for _ in range(3):  # upstream keep-alive: several requests, one connection
            _, got = get(conn, headers={"X-Forwarded-For": "6.6.6.6"})
            assert got["REMOTE_ADDR"] == CLIENT
            assert got["wsgi.url_scheme"] == "http"
            assert got["HTTP_HOST"] == "shop.example"
            # What the client wrote is kept, to the left of what nginx appended.
            assert got["HTTP_X_FORWARDED_FOR"] == f"6.6.6.6, {CLIENT}"
        _, got = get(conn, "/form", body=b"x" * 5000, method="POST")
        assert (got["REQUEST_METHOD"], got["body_length"]) == ("POST", 5000)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", nginx.tls_port), timeout=10,
                                   source_address=(CLIENT, 0))
    with Conn.__new__(Conn) as tls:
        tls.sock = context.wrap_socket(raw, server_hostname="localhost")
        tls.buf = b""
        _, got = get(tls)
    assert (got["REMOTE_ADDR"], got["wsgi.url_scheme"]) == (CLIENT, "https")
    server.stop()
    assert access.read_text().splitlines() == [f"{CLIENT} via 127.0.0.1 GET"] * 3 + [
        f"{CLIENT} via 127.0.0.1 POST", f"{CLIENT} via 127.0.0.1 GET"]


def test_over_a_unix_socket_the_app_sees_the_client(ferrule_server, proxies, tmp_path):
    server = ferrule_server(APP, bind=f"unix:{tmp_path / 'ferrule.sock'}")
    nginx = proxies(start_nginx, "nginx-unix", server)
    with client_conn(nginx.address) as conn:
        for _ in range(2):
            _, got = get(conn, headers={"X-Forwarded-Proto": "https"})
            assert got["REMOTE_ADDR"] == CLIENT
            # nginx overwrote the client's X-Forwarded-Proto with its own $scheme.
            assert got["wsgi.url_scheme"] == "http"


def test_a_clients_forwarded_header_is_cleared_by_the_documented_config(ferrule_server,
                                                                        proxies):
    server = ferrule_server(APP)
    nginx = proxies(start_nginx, "nginx-tcp", server)
    with client_conn(nginx.address) as conn:
        _, got = get(conn, headers={"Forwarded": "for=6.6.6.6;proto=https"})
    assert (got["REMOTE_ADDR"], got["wsgi.url_scheme"], got["HTTP_FORWARDED"]) == (
        CLIENT, "http", None)
