"""A panic in ferrule's own code while it runs a request (a bug; provoked on demand in debug
builds, see `wsgi::panic_on_demand` and `apps.hostile`'s `/panic`): it costs that request a
500, it is logged exactly once, in one error-log line naming the request's method and path
(not by Rust's panic hook, PyO3 and the pool each), and the worker serves the next request.
"""

from __future__ import annotations

import itertools
import re

import pytest
from ferrule_proc import start_server
from rawhttp import Conn

_tokens = itertools.count()


@pytest.fixture(scope="module")
def server():
    running = start_server("--threads", "2", "apps.hostile:app")
    yield running
    running.stop()


@pytest.mark.parametrize("where", ["errors", "body"])
def test_a_panic_costs_its_request_a_500_and_is_logged_once_with_the_request(server, where):
    token = f"t{next(_tokens)}"
    target = f"/panic?where={where}&token={token}"
    with Conn(server.address, timeout=5) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        response = c.read_response()
        if response.status == 200:
            pytest.skip("a release build: no panic on demand")
        assert response.status == 500
        assert response.header("Connection") == "close"
    message = f"zz-panic-{where}-{token}"
    line = server.wait_for_log(rf"\[ERROR\] panic while handling GET {re.escape(target)}: .*{message}")
    assert "(at src/wsgi/" in line, line
    # Anything else about this panic would have been written before the line above.
    copies = [text.strip() for text in server.log().splitlines() if message in text]
    assert copies == [line.strip()], copies
    with Conn(server.address, timeout=5) as c:
        for i in range(2):
            assert c.request("GET", f"/echo?after-panic-{i}").body == f"GET /echo?after-panic-{i}".encode()
    assert server.is_alive()
