"""App-side faults the PEP 3333 suite (test_pep3333_errors.py, test_pep3333_start_response.py,
test_pep3333_response.py) does not cover yet: close() that raises or is not callable, an
iterable whose iter() raises, BaseExceptions (SystemExit, KeyboardInterrupt, GeneratorExit)
from the app or its iterable, an exception whose str() fails, a bytes subclass that lies
about its length, a list subclass whose len() raises (served by iteration), and a generator
that yields after close().

Each costs its own request at most (a 500, or a cut connection once the head is out), is
logged once as `Error handling request ...` with the app's exception, and the worker
serves the next request. One server for the module (`apps.hostile`, route `/fault`).
"""

from __future__ import annotations

import itertools
import re

import pytest
from apps.hostile import CHUNKS
from ferrule_proc import start_server
from rawhttp import Conn

_tokens = itertools.count()


@pytest.fixture(scope="module")
def server():
    running = start_server("--threads", "2", "apps.hostile:app")
    yield running
    running.stop()


def fault(server, kind: str):
    """Runs `/fault?kind=kind` on a fresh connection: (token, response or None, raw bytes)."""
    token = f"{kind}-{next(_tokens)}"
    with Conn(server.address, timeout=5) as c:
        c.send(f"GET /fault?kind={kind}&token={token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
               .encode())
        try:
            raw = c.read_to_eof()
        except ConnectionResetError:
            raw = c.buf
    return token, raw


def records_for(server, kind: str, token: str) -> list[str]:
    """The `Error handling request` lines of this request, after waiting for the first."""
    target = re.escape(f"GET /fault?kind={kind}&token={token}")
    server.wait_for_log(rf"Error handling request {target}\b")
    return [line for line in server.log().splitlines() if re.search(rf"Error handling request {target}\b", line)]


def assert_still_serving(server) -> None:
    """The next request, on a keep-alive connection, twice."""
    with Conn(server.address, timeout=5) as c:
        for i in range(2):
            resp = c.request("GET", f"/echo?after-fault-{i}")
            assert (resp.status, resp.body) == (200, f"GET /echo?after-fault-{i}".encode())
    assert server.is_alive()


@pytest.mark.parametrize("kind", ["base-SystemExit", "base-KeyboardInterrupt", "base-GeneratorExit",
                                  "evil-str", "iter-raises"])
def test_a_fault_before_the_head_is_a_500_logged_once(server, kind):
    token, raw = fault(server, kind)
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), raw[:200]
    assert b"zz-" not in raw, "the app's message never reaches the client"
    assert len(records_for(server, kind, token)) == 1
    if kind.startswith("base-"):
        assert f"{kind[5:]}: zz-{kind[5:]}-{token}" in server.log()
    assert_still_serving(server)


def test_keyboard_interrupt_in_the_iterable_after_the_head_cuts_the_response(server):
    kind = "interrupt-in-iterable"
    token, raw = fault(server, kind)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    assert raw.endswith(b"c\r\nfirst chunk\n\r\n"), "the first chunk, then no last chunk"
    assert len(records_for(server, kind, token)) == 1
    assert f"KeyboardInterrupt: zz-{kind}-{token}" in server.log()
    assert_still_serving(server)


@pytest.mark.parametrize("kind", ["close-raises", "list-close-raises", "close-not-callable"])
def test_a_failing_close_is_logged_once_and_the_worker_serves_on(server, kind):
    token, raw = fault(server, kind)
    # The body was complete when close() failed: it is ended properly (the last chunk), and
    # the failure is only logged.
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    assert raw.endswith(b"\r\n\r\nd\r\ncomplete body\r\n0\r\n\r\n"), raw
    assert len(records_for(server, kind, token)) == 1
    assert_still_serving(server)


@pytest.mark.parametrize("kind", ["close-raises-after-chunks", "close-raises-after-length"])
def test_a_close_that_raises_after_a_complete_body_still_delivers_the_whole_body(server, kind):
    # The body is complete when close() raises: the client gets all of it, properly ended
    # (the chunked terminator, or exactly Content-Length bytes), and the error is logged.
    token = f"{kind}-{next(_tokens)}"
    with Conn(server.address, timeout=5) as c:
        c.send(f"GET /fault?kind={kind}&token={token} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body == b"".join(CHUNKS)
        if kind.endswith("chunks"):
            assert resp.chunked, resp.raw_head
        else:
            assert resp.header("Content-Length") == str(len(b"".join(CHUNKS))), resp.raw_head
        # Nothing after the response, however the connection goes on.
        if not c.is_closed_by_peer(timeout=0.5):
            assert c.buf == b"", c.buf
    records = records_for(server, kind, token)
    assert len(records) == 1 and records[0].endswith("in close()"), records
    assert f"RuntimeError: zz-{kind}-{token}" in server.log()
    assert_still_serving(server)


def test_a_bytes_subclass_that_lies_about_its_length_is_sent_as_its_real_bytes(server):
    _token, raw = fault(server, "lying-bytes")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    assert body == b"twelve bytes"
    assert b"\r\nContent-Length: 12\r\n" in head
    assert_still_serving(server)


def test_a_list_subclass_whose_len_raises_is_iterated_not_measured(server):
    _token, raw = fault(server, "evil-list")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw[:200]
    assert raw.endswith(b"\r\n\r\ne\r\nevil list body\r\n0\r\n\r\n"), raw
    assert_still_serving(server)


def test_a_generator_that_yields_after_close_costs_only_its_own_request(server):
    # The client reads a little of an endless response and leaves; the server closes the
    # generator, which yields again, so close() raises RuntimeError.
    kind = "ignores-generator-exit"
    token = f"{kind}-{next(_tokens)}"
    with Conn(server.address, timeout=5) as c:
        c.send(f"GET /fault?kind={kind}&token={token} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        c._read_until(b"\r\n\r\n")
        c._read_exact(4096)
    records = records_for(server, kind, token)
    assert len(records) == 1 and records[0].endswith("in close()"), records
    assert "generator ignored GeneratorExit" in server.log()
    assert_still_serving(server)
