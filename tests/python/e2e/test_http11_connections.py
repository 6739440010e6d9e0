"""The connection limit end to end: with `--max-connections 2`, a third client waits in the
listen backlog (no response) until one of the two open connections closes, then is served.
"""

from __future__ import annotations

import socket

import pytest
from ferrule_proc import start_server
from rawhttp import Conn


@pytest.fixture(scope="module")
def server():
    running = start_server("--max-connections", "2", "apps.http11:app")
    yield running
    running.stop()


def test_holds_a_connection_over_the_limit_in_the_backlog_until_one_closes(server):
    first, second = Conn(server.address), Conn(server.address)
    try:
        assert first.request("GET", "/echo?first").status == 200
        assert second.request("GET", "/echo?second").status == 200
        # The kernel completes the handshake, but the server does not take the connection.
        third = Conn(server.address, timeout=1)
        with third:
            third.send(b"GET /echo?third HTTP/1.1\r\nHost: test\r\n\r\n")
            with pytest.raises(socket.timeout):
                third.read_response()
            first.close()
            third.sock.settimeout(5)
            assert third.read_response().body == b"GET /echo?third"
    finally:
        first.close()
        second.close()
