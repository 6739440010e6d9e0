"""PEP 3333 error handling over real sockets: an exception before the head was sent becomes a
500 with the traceback in the error log; after it, the connection is aborted (a chunked body
without its last chunk, then EOF) and logged; an app returning something that is not an
iterable of bytes gets a 500. After each, the worker keeps serving.

One server for the module (`apps.pep3333`; every route is wrapped in `wsgiref.validate` except
`garbage`, whose results the validator would reject before the server saw them).
"""

from __future__ import annotations

import itertools
import re

import ferrule_proc as conftest
import pytest
from rawhttp import Conn

_tokens = itertools.count()


@pytest.fixture(scope="module")
def server():
    server = conftest.start_server("apps.pep3333:app")
    yield server
    server.stop()


def get(server, target: str):
    with Conn(server.address, timeout=5) as conn:
        conn.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return conn.read_response()


def error_record(server, target: str) -> str:
    """The error log record for `GET target`: its first line and the lines up to the next
    record (records start with `[`)."""
    first = server.wait_for_log(rf"Error handling request GET {re.escape(target)}$")
    lines = server.log().splitlines(keepends=True)
    start = lines.index(first)
    record = [first]
    for line in lines[start + 1:]:
        if line.startswith("["):
            break
        record.append(line)
    return "".join(record)


def assert_still_serving(server) -> None:
    resp = get(server, "/ok")
    assert (resp.status, resp.body) == (200, b"ok")


@pytest.mark.parametrize("where", ["before-start", "after-start", "first-chunk"])
def test_exception_before_the_head_becomes_a_500_with_a_traceback_in_the_log(server, where):
    tok = next(_tokens)
    target = f"/raise?where={where}&token={tok}"
    resp = get(server, target)
    assert resp.status == 500
    record = error_record(server, target)
    assert "Traceback (most recent call last):" in record, record
    assert f"RuntimeError: zz-raise-{where}-{tok}" in record, record
    assert "pep3333.py" in record, record  # the app's own frames are in the traceback
    assert_still_serving(server)


@pytest.mark.parametrize("via", ["gen", "write"])
def test_exception_after_the_head_aborts_the_connection(server, via):
    tok = next(_tokens)
    target = f"/raise-after?via={via}&token={tok}"
    with Conn(server.address, timeout=5) as conn:
        conn.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        head = conn._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"\r\nTransfer-Encoding: chunked\r\n" in head
        rest = conn.read_to_eof()  # returns only because the server closed the connection
    assert rest == b"8\r\npart-one\r\n", rest  # no terminating 0-chunk
    record = error_record(server, target)
    assert "Traceback (most recent call last):" in record, record
    assert f"RuntimeError: zz-after-{tok}" in record, record
    assert_still_serving(server)


#: (kind, what the log must name)
GARBAGE_ROWS = [
    ("str", "str"),
    ("none", "NoneType"),
    ("int", "int"),
    ("bytes", "int"),  # iterating bytes yields ints
    ("str-items", "str"),
    ("list-of-str", "str"),
]


@pytest.mark.parametrize(("kind", "type_name"), GARBAGE_ROWS)
def test_app_returning_garbage_gets_a_500(server, kind, type_name):
    # Unvalidated route: it breaks the protocol on purpose, for the server to catch.
    target = f"/garbage?kind={kind}"
    resp = get(server, target)
    assert resp.status == 500
    assert b"bare bytes" not in resp.body and b"str" not in resp.body
    record = error_record(server, target)
    assert re.search(rf"TypeError: .*\bnot {type_name}\b", record), record
    assert_still_serving(server)


def test_app_that_never_calls_start_response_gets_a_500(server):
    # Unvalidated route: it breaks the protocol on purpose, for the server to catch.
    target = "/garbage?kind=no-start-response"
    resp = get(server, target)
    assert resp.status == 500
    record = error_record(server, target)
    assert "without calling start_response()" in record, record
    assert_still_serving(server)
