"""Real HAProxy in front of ferrule with the config of docs/deploy.md: `send-proxy-v2` and
`send-proxy` (v1) carry the client's address in a PROXY header; HAProxy's health checks
(v2 `LOCAL`, or v1) are answered, so HAProxy marks the server UP. The client talks from
127.0.0.2 so its address differs from HAProxy's.
"""

from __future__ import annotations

import time

import pytest
from proxies import haproxy_server_status, start_haproxy
from test_proxy_nginx import CLIENT, client_conn, get

APP = "apps.proxied:app"


def wait_up(proxy, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = haproxy_server_status(proxy)
        if status.startswith("UP"):
            return
        time.sleep(0.1)
    raise AssertionError(f"HAProxy sees the server {status}:\n{proxy.log()}")


@pytest.mark.parametrize(("send_proxy", "mode"), [("send-proxy-v2", "v2"),
                                                   ("send-proxy", "v1"),
                                                   ("send-proxy-v2", "auto")])
def test_the_client_address_travels_in_the_proxy_header(ferrule_server, proxies,
                                                         send_proxy, mode, tmp_path):
    access = tmp_path / "access.log"
    server = ferrule_server(APP, "--proxy-protocol", mode, "--access-log", str(access),
                            "--access-log-format", "%(h)s %(U)s")
    haproxy = proxies(start_haproxy, server, send_proxy=send_proxy)
    wait_up(haproxy)
    with client_conn(haproxy.address) as conn:
        for _ in range(3):
            _, got = get(conn, headers={"X-Forwarded-For": "6.6.6.6"})
            assert got["REMOTE_ADDR"] == CLIENT
            assert got["REMOTE_PORT"].isdigit()
        _, got = get(conn, "/form", body=b"y" * 3000, method="POST")
        assert got["body_length"] == 3000
    # The health checks reached the app, from HAProxy itself (LOCAL keeps the socket's
    # address; a v1 check names HAProxy's own).
    server.stop()
    lines = access.read_text().splitlines()
    assert "127.0.0.1 /health" in lines
    assert f"{CLIENT} /p" in lines


def test_a_server_expecting_v1_refuses_v2_and_haproxy_marks_it_down(ferrule_server,
                                                                    proxies):
    server = ferrule_server(APP, "--proxy-protocol", "v1")
    haproxy = proxies(start_haproxy, server, send_proxy="send-proxy-v2")
    deadline = time.monotonic() + 10
    while not haproxy_server_status(haproxy).startswith("DOWN"):
        assert time.monotonic() < deadline, haproxy_server_status(haproxy)
        time.sleep(0.1)
    with client_conn(haproxy.address) as conn:
        resp = conn.request("GET", "/p", headers={"Host": "shop.example"})
    assert resp.status == 503
    assert server.is_alive()
    # Nothing reached the app.
    assert not [line for line in server.log().splitlines() if "Traceback" in line]

