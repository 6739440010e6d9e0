"""Trusted forwarding over real sockets, without a proxy: a client on 127.0.0.1 plays the
proxy (loopback is trusted by default) or, with `--forwarded-allow-ips` naming another
address, a spoofing client that no header can make into someone else. Malformed and
conflicting headers from a trusted peer are answered 400, and the server keeps serving
others. The real proxies are in `test_proxy_nginx.py` and its neighbours.
"""

from __future__ import annotations

import json
import os

import pytest
from rawhttp import Conn, request

APP = "apps.proxied:app"


def facts(server, headers: dict[str, str], target: str = "/p") -> dict:
    with Conn(server.address) as conn:
        resp = conn.request("GET", target, headers=headers)
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


def still_serves(server) -> None:
    """Another client, on a fresh connection, is served normally."""
    got = facts(server, {})
    assert got["REMOTE_ADDR"] == "127.0.0.1"


def test_a_trusted_peer_sets_the_client_and_the_scheme(ferrule_server):
    server = ferrule_server(APP)
    got = facts(server, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                         "X-Forwarded-Proto": "https"})
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"], got["wsgi.url_scheme"]) == (
        "203.0.113.9", None, "https")
    got = facts(server, {"Forwarded": 'for="[2001:db8::5]:4711";proto=https'})
    assert (got["REMOTE_ADDR"], got["REMOTE_PORT"], got["wsgi.url_scheme"]) == (
        "2001:db8::5", "4711", "https")
    got = facts(server, {"X-Forwarded-Ssl": "on"})
    assert got["wsgi.url_scheme"] == "https"
    # Without forwarding headers the socket's facts stand.
    got = facts(server, {})
    assert got["REMOTE_ADDR"] == "127.0.0.1" and got["REMOTE_PORT"].isdigit()
    assert got["wsgi.url_scheme"] == "http"


SPOOFS = [
    {"X-Forwarded-For": "10.0.0.1"},
    {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https"},
    {"Forwarded": "for=10.0.0.1;proto=https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "443",
     "X-Forwarded-Prefix": "/admin"},
    {"X-Forwarded-For": "garbage, [::zz]", "Forwarded": 'for="unbalanced'},
]


@pytest.mark.parametrize("headers", SPOOFS, ids=lambda h: ",".join(h))
def test_an_untrusted_client_cannot_change_who_it_is_with_any_header(ferrule_server, headers):
    server = ferrule_server(APP, "--forwarded-allow-ips", "10.9.9.9",
                            "--forwarded-headers", "forwarded,x-forwarded-for,"
                            "x-forwarded-proto,x-forwarded-host,x-forwarded-port,"
                            "x-forwarded-prefix")
    got = facts(server, headers)
    assert got["REMOTE_ADDR"] == "127.0.0.1"
    assert got["wsgi.url_scheme"] == "http"
    assert got["HTTP_HOST"] == "test"
    assert got["SCRIPT_NAME"] == ""
    assert got["SERVER_PORT"] == str(server.port)
    # Kept in the environ as sent, like any header (see docs/deploy.md).
    if "X-Forwarded-For" in headers:
        assert got["HTTP_X_FORWARDED_FOR"] == headers["X-Forwarded-For"]


def test_host_port_and_prefix_are_opt_in(ferrule_server):
    sent = {"X-Forwarded-Host": "shop.example", "X-Forwarded-Port": "8443",
            "X-Forwarded-Prefix": "/shop/", "X-Forwarded-Proto": "https"}
    default = facts(ferrule_server(APP), sent)
    assert (default["HTTP_HOST"], default["SCRIPT_NAME"], default["wsgi.url_scheme"]) == (
        "test", "", "https")
    server = ferrule_server(APP, "--forwarded-headers",
                            "x-forwarded-for,x-forwarded-proto,x-forwarded-host,"
                            "x-forwarded-port,x-forwarded-prefix")
    got = facts(server, sent, target="/cart")
    assert got["HTTP_HOST"] == "shop.example:8443"
    assert (got["SERVER_NAME"], got["SERVER_PORT"]) == ("shop.example", "8443")
    assert (got["SCRIPT_NAME"], got["PATH_INFO"]) == ("/shop", "/cart")
    got = facts(server, {"X-Forwarded-Host": "shop.example", "X-Forwarded-Proto": "https"})
    assert (got["SERVER_NAME"], got["SERVER_PORT"]) == ("shop.example", "443")


def test_gunicorns_env_var_sets_the_trusted_peers(ferrule_server):
    server = ferrule_server(APP, env={"FORWARDED_ALLOW_IPS": "10.9.9.9"})
    assert facts(server, {"X-Forwarded-For": "203.0.113.9"})["REMOTE_ADDR"] == "127.0.0.1"


HOSTILE = [
    # (headers, what the 400 says)
    ({"X-Forwarded-For": ", ".join(["10.0.0.1"] * 10_000)}, None),
    ({"X-Forwarded-For": "2001:db8:::1::"}, "invalid X-Forwarded-For header"),
    ({"X-Forwarded-For": "1.2.3.4%0d%0aX-Evil: 1"}, "invalid X-Forwarded-For header"),
    ({"Forwarded": 'for="192.0.2.1;proto=https'}, "invalid Forwarded header"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-PROTO": "http"},
     "conflicting forwarding headers"),
    ({"X-Forwarded-Proto": "javascript"}, "invalid X-Forwarded-Proto header"),
    ({"Forwarded": "for=192.0.2.1", "X-Forwarded-For": "192.0.2.2"},
     "conflicting forwarding headers"),
]


@pytest.mark.parametrize(("headers", "reason"), HOSTILE,
                         ids=["xff-10000", "xff-ipv6-garbage", "xff-crlf-attempt",
                              "forwarded-unbalanced-quote", "two-protos", "bad-proto",
                              "forwarded-vs-xff"])
def test_hostile_forwarding_headers_get_a_clear_answer_and_others_are_served(
        ferrule_server, headers, reason):
    server = ferrule_server(APP, "--max-header-bytes", "256KiB", "--max-head-bytes", "512KiB")
    with Conn(server.address) as conn:
        head = "GET / HTTP/1.1\r\nHost: test\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.send(head.encode())
        resp = conn.read_response()
        if reason is None:
            # Every entry trusted: the leftmost is the client; nothing to refuse.
            assert resp.status == 200
            assert json.loads(resp.body)["REMOTE_ADDR"] == "10.0.0.1"
        else:
            assert resp.status == 400
            assert reason in resp.body.decode()
            assert resp.header("Connection") == "close"
            assert conn.is_closed_by_peer()
    still_serves(server)


def test_the_access_log_shows_the_client_and_keeps_the_peer(ferrule_server, tmp_path):
    log = tmp_path / "access.log"
    server = ferrule_server(APP, "--access-log", str(log),
                            "--access-log-format", "%(h)s via %(peer)s %(s)s")
    facts(server, {"X-Forwarded-For": "203.0.113.9"})
    facts(server, {})
    resp = request(server.address, b"GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-Proto: x\r\n\r\n")
    assert resp.status == 400
    server.stop()
    assert log.read_text().splitlines() == [
        "203.0.113.9 via 127.0.0.1 200", "127.0.0.1 via 127.0.0.1 200",
        "127.0.0.1 via 127.0.0.1 400"]


@pytest.mark.skipif(not os.path.exists("/proc/net/if_inet6"), reason="needs IPv6 loopback")
def test_an_ipv6_loopback_peer_is_trusted_by_default(ferrule_server):
    # ::1 is trusted by default; a client on [::1] plays the proxy over IPv6.
    server = ferrule_server(APP, bind="[::1]:0")
    with Conn(("::1", server.port)) as conn:
        resp = conn.request("GET", "/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert json.loads(resp.body)["REMOTE_ADDR"] == "203.0.113.9"
