"""PEP 3333 "Input and Error Streams" over real sockets: `wsgi.input`'s read methods on
Content-Length and chunked bodies, reads past the end, on-demand streaming from the socket,
and `Expect: 100-continue` answered only when the app reads.

One server for the module (`apps.pep3333`, every route wrapped in `wsgiref.validate`).
"""

from __future__ import annotations

import json
import socket
import time

import ferrule_proc as conftest
import pytest
from rawhttp import Conn


@pytest.fixture(scope="module")
def server():
    server = conftest.start_server("apps.pep3333:app")
    yield server
    server.stop()


def chunked(body: bytes, size: int) -> bytes:
    """`body` in chunked framing, `size` bytes per chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


def post(target: str, body: bytes, framing: str, extra: bytes = b"") -> bytes:
    """A POST of `body` as `content-length` or `chunked` (3-byte chunks, so lines cross chunks)."""
    head = f"POST {target} HTTP/1.1\r\nHost: t\r\n".encode() + extra
    if framing == "chunked":
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 3)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def run_ops(server, ops: str, body: bytes, framing: str):
    # 30 s: the 70 KB body in 3-byte chunks is ~23 000 pulls; a debug build takes ~3.5 s for
    # them on an idle machine, so 5 s timed out now and then on a loaded one. The timeout
    # bounds a hang; the assertions are on the answer.
    with Conn(server.address, timeout=30) as conn:
        conn.send(post(f"/input?ops={ops}", body, framing))
        resp = conn.read_response()
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body)


ALL_BYTES = bytes(range(256))

#: (id, ops run in order, body, expected results: bytes as latin-1 str, lists for readlines/iter)
OPS_ROWS = [
    ("read-all", "read", b"hello\nworld", ["hello\nworld"]),
    ("read-all-binary", "read", ALL_BYTES, [ALL_BYTES.decode("latin-1")]),
    ("read-past-end-is-empty", "read,read,read:5", b"hello", ["hello", "", ""]),
    ("read-n", "read:5,read:100,read:1", b"hello\nworld", ["hello", "\nworld", ""]),
    ("read-zero", "read:0,read:3", b"abc", ["", "abc"]),
    ("read-negative-is-all", "read:-1", b"a\nb", ["a\nb"]),
    ("readline", "readline,readline,readline,readline", b"a\nbb\nccc", ["a\n", "bb\n", "ccc", ""]),
    ("readline-limit", "readline:2,readline:2,readline:5,readline:5", b"abc\nd\nef", ["ab", "c\n", "d\n", "ef"]),
    ("readline-limit-zero", "readline:0,readline", b"ab\n", ["", "ab\n"]),
    ("readline-long-line", "readline,readline", b"x" * 70000 + b"\ny", ["x" * 70000 + "\n", "y"]),
    ("readlines", "readlines,readlines", b"a\nbb\nccc", [["a\n", "bb\n", "ccc"], []]),
    ("readlines-hint-stops-once-reached", "readlines:3,read", b"a\nbb\nccc\n", [["a\n", "bb\n"], "ccc\n"]),
    ("readlines-hint-zero-is-all", "readlines:0", b"a\nb\n", [["a\n", "b\n"]]),
    ("iteration", "iter,iter", b"a\n\nb\nc", [["a\n", "\n", "b\n", "c"], []]),
    ("mixed", "read:2,readline,iter", b"abcd\nef\ng", ["ab", "cd\n", ["ef\n", "g"]]),
    ("empty-body", "read,readline,readlines,iter,read:1", b"", ["", "", [], [], ""]),
]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize(("ops", "body", "expected"), [row[1:] for row in OPS_ROWS], ids=[row[0] for row in OPS_ROWS])
def test_wsgi_input_reads_like_a_file(server, framing, ops, body, expected):
    assert run_ops(server, ops, body, framing) == expected


def test_large_chunked_body_arrives_whole(server):
    body = bytes(i % 251 for i in range(300_000))
    with Conn(server.address, timeout=5) as conn:
        head = b"POST /echo-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        conn.send(head + chunked(body, 7000))
        resp = conn.read_response()
    assert resp.status == 200
    assert resp.body == body


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_app_reads_part_of_a_body_and_answers_before_the_client_finished_sending(server, framing):
    # The client declares (or starts) a large body, sends its first 16 bytes and stops. A
    # server that buffered the body before calling the app would never answer.
    first = b"0123456789abcdef"
    head = b"POST /read-some?n=10 HTTP/1.1\r\nHost: t\r\n"
    if framing == "chunked":
        start = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(first), first)
    else:
        start = head + b"Content-Length: 50000000\r\n\r\n" + first
    with Conn(server.address, timeout=5) as conn:
        conn.send(start)
        resp = conn.read_response()
    assert resp.status == 200
    assert json.loads(resp.body) == {"got": "0123456789"}


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_app_reads_each_piece_as_the_client_sends_it(server, framing):
    # Ping-pong: the client sends the next piece only after the app answered the previous
    # read, so every read must be served from the socket on demand.
    pieces = [b"aaaa", b"bbbb", b"cccc"]
    head = b"POST /read-pieces?n=4&count=3 HTTP/1.1\r\nHost: t\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n" if framing == "chunked" else b"Content-Length: 12\r\n\r\n"
    with Conn(server.address, timeout=5) as conn:
        conn.send(head)
        lines = []
        for i, piece in enumerate(pieces):
            conn.send(b"4\r\n%s\r\n" % piece if framing == "chunked" else piece)
            if i == 0:
                resp_head = conn._read_until(b"\r\n\r\n")
                assert resp_head.startswith(b"HTTP/1.1 200 "), resp_head
                assert b"transfer-encoding: chunked" in resp_head.lower()
            size = int(conn._read_until(b"\r\n")[:-2], 16)
            lines.append(conn._read_exact(size))
            assert conn._read_exact(2) == b"\r\n"
        if framing == "chunked":
            conn.send(b"0\r\n\r\n")
        size = int(conn._read_until(b"\r\n")[:-2], 16)
        lines.append(conn._read_exact(size))
        assert conn._read_until(b"\r\n0\r\n\r\n") == b"\r\n0\r\n\r\n"
    assert lines == [b"4:aaaa\n", b"4:bbbb\n", b"4:cccc\n", b"end:0\n"]


def send_head_expecting_continue(conn: Conn, target: str, length: int) -> None:
    conn.send(f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n".encode())


def nothing_arrives_within(conn: Conn, seconds: float) -> bool:
    conn.sock.settimeout(seconds)
    try:
        data = conn.sock.recv(65536)
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(5)
    conn.buf += data
    return False


def test_continue_is_never_sent_when_the_app_does_not_read_the_body(server):
    with Conn(server.address, timeout=5) as conn:
        send_head_expecting_continue(conn, "/ignore-body", 5)
        time.sleep(0.5)
        resp = conn.read_response()
        assert resp.status == 200
        assert resp.body == b"ignored"
        assert b"100 Continue" not in resp.raw_head
        # Whatever else the server sends on this connection, a late 100 is not part of it.
        conn.sock.settimeout(0.3)
        try:
            late = conn.sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            late = b""
        assert b"100 Continue" not in late


def test_continue_is_sent_when_the_app_reads_and_before_the_body_arrives(server):
    with Conn(server.address, timeout=5) as conn:
        send_head_expecting_continue(conn, "/echo-body", 5)
        assert conn._read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.send(b"hello")
        resp = conn.read_response()
    assert resp.status == 200
    assert resp.body == b"hello"


def test_continue_waits_for_the_apps_first_read(server):
    # The app sleeps 600 ms before reading: no 100 may arrive in that time.
    with Conn(server.address, timeout=5) as conn:
        send_head_expecting_continue(conn, "/echo-body?ms=600", 5)
        assert nothing_arrives_within(conn, 0.3), f"sent before the app read: {conn.buf!r}"
        assert conn._read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.send(b"later")
        resp = conn.read_response()
    assert resp.status == 200
    assert resp.body == b"later"
