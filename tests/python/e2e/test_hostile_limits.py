"""Every size limit end to end, at its default, over TCP: a request just under the bound and
exactly at it is served, one byte (or one field) over it gets the limit's status with
`Connection: close` and nothing pipelined behind it is processed, and the next client is
served as usual. Then the connection limit (`max_connections`, default 1000) and the listen
backlog (`backlog`, default 2048), and `body_timeout` (1 s here), whose failed read the app
sees as an exception.

Limits and statuses (docs/settings.md, docs/hostile-input.md):
`max_request_line_bytes` 8 KiB → 414; `max_header_bytes` 8 KiB (one field line) → 431;
`max_header_count` 100 → 431; `max_head_bytes` 64 KiB → 431; `max_body_bytes` 1 GiB → 413
before the app runs when Content-Length says so, and when a chunked body crosses it, 413 if
the response has not started, else the connection is closed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from ferrule_proc import start_server
from rawhttp import Conn

KIB = 1024
GIB = 1024 ** 3
GOOD = b"GET /echo?pipelined HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(scope="module")
def server():
    """All limits at their defaults."""
    running = start_server("apps.hostile:app")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def small_body_server():
    running = start_server("--max-body-bytes", "1KiB", "--body-timeout", "1s", "apps.hostile:app")
    yield running
    running.stop()


def head(request_line: str, fields: list[str]) -> bytes:
    return "".join(f"{line}\r\n" for line in [request_line, *fields]).encode("latin-1") + b"\r\n"


def request_line_of(length: int) -> str:
    """`GET /echo?aaa… HTTP/1.1` of exactly `length` bytes (CRLF excluded)."""
    base = "GET /echo? HTTP/1.1"
    line = f"GET /echo?{'a' * (length - len(base))} HTTP/1.1"
    assert len(line) == length
    return line


def field_of(length: int, name: str = "X-Big") -> str:
    """A field line `name: vvv…` of exactly `length` bytes (CRLF excluded)."""
    line = f"{name}: " + "v" * (length - len(name) - 2)
    assert len(line) == length
    return line


def head_of_size(total: int) -> bytes:
    """A GET head of exactly `total` bytes, request line through the blank line, made of
    field lines of at most 8 KiB."""
    fixed = head("GET /echo?big-head HTTP/1.1", ["Host: t"])
    fields, rest, i = [], total - len(fixed), 0
    while rest > 0:
        take = min(rest, 8 * KIB + 2)
        if 0 < rest - take < 16:  # leave room for a last field line
            take -= 16
        fields.append(field_of(take - 2, f"X-Pad-{i:02}"))
        rest -= take
        i += 1
    raw = head("GET /echo?big-head HTTP/1.1", ["Host: t", *fields])
    assert len(raw) == total
    return raw


def assert_served(server) -> None:
    """The next client gets an ordinary answer."""
    with Conn(server.address) as c:
        resp = c.request("GET", "/echo?next-client")
        assert (resp.status, resp.body) == (200, b"GET /echo?next-client")


def assert_rejected(server, raw: bytes, status: int) -> None:
    """`raw` (with a good request pipelined behind it) gets `status`, `Connection: close`, and
    EOF: the pipelined request is never processed. Then the next client is served."""
    with Conn(server.address) as c:
        try:
            c.send(raw + GOOD)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything
        resp = c.read_response()
        assert resp.status == status, resp.body[:200]
        assert resp.header_all("Connection") == ["close"]
        try:
            rest = c.read_to_eof()
        except ConnectionResetError:
            rest = b""
        assert b"HTTP/1.1" not in rest
    assert_served(server)


def assert_accepted(server, raw: bytes, query: str) -> None:
    with Conn(server.address) as c:
        c.send(raw)
        resp = c.read_response()
        assert resp.status == 200, resp.body[:200]
        assert resp.body.startswith(f"GET /echo?{query}".encode())
    assert_served(server)


# --- the head -------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "status"), [(8 * KIB - 1, 200), (8 * KIB, 200), (8 * KIB + 1, 414)],
                         ids=["under", "at", "over"])
def test_max_request_line_bytes_default_8kib(server, length, status):
    raw = head(request_line_of(length), ["Host: t"])
    if status == 200:
        assert_accepted(server, raw, "aaa")
    else:
        assert_rejected(server, raw, status)


@pytest.mark.parametrize(("length", "status"), [(8 * KIB - 1, 200), (8 * KIB, 200), (8 * KIB + 1, 431)],
                         ids=["under", "at", "over"])
def test_max_header_bytes_default_8kib_per_field_line(server, length, status):
    raw = head("GET /echo?field HTTP/1.1", ["Host: t", field_of(length)])
    if status == 200:
        assert_accepted(server, raw, "field")
    else:
        assert_rejected(server, raw, status)


@pytest.mark.parametrize(("count", "status"), [(99, 200), (100, 200), (101, 431)],
                         ids=["under", "at", "over"])
def test_max_header_count_default_100(server, count, status):
    fields = ["Host: t"] + [f"X-Field-{i:03}: {i}" for i in range(1, count)]
    raw = head("GET /echo?count HTTP/1.1", fields)
    if status == 200:
        assert_accepted(server, raw, "count")
    else:
        assert_rejected(server, raw, status)


@pytest.mark.parametrize(("total", "status"), [(64 * KIB - 1, 200), (64 * KIB, 200), (64 * KIB + 1, 431)],
                         ids=["under", "at", "over"])
def test_max_head_bytes_default_64kib(server, total, status):
    raw = head_of_size(total)
    if status == 200:
        assert_accepted(server, raw, "big-head")
    else:
        assert_rejected(server, raw, status)


def test_a_60_kib_head_trickled_in_small_pieces_is_parsed_quickly(server):
    # The head is rescanned only when a piece holds a line ending (HeadProgress), so 60 KiB
    # in 1 000 pieces costs about one scan per line, not one per piece.
    raw = head_of_size(60 * KIB)
    with Conn(server.address) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.monotonic()
        step = len(raw) // 1000 + 1
        for i in range(0, len(raw), step):
            c.send(raw[i:i + step])
        resp = c.read_response()
        assert resp.status == 200
        assert time.monotonic() - started < 5


# --- the body -------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "status"), [(GIB - 1, 200), (GIB, 200), (GIB + 1, 413)],
                         ids=["under", "at", "over"])
def test_max_body_bytes_default_1gib_by_content_length(server, length, status):
    # Only the head is sent. Under and at the limit the app runs (`echo` does not read the
    # body) and the server closes rather than drain a gigabyte; over it, 413 before the app.
    raw = f"POST /echo?declared HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n".encode()
    with Conn(server.address) as c:
        c.send(raw)
        resp = c.read_response()
        assert resp.status == status
        assert resp.header_all("Connection") == ["close"]
        if status == 200:
            assert resp.body == b"POST /echo?declared"
        else:
            assert b"max_body_bytes" in resp.body
    assert_served(server)


@pytest.mark.parametrize(("length", "status"), [(KIB - 1, 200), (KIB, 200), (KIB + 1, 413)],
                         ids=["under", "at", "over"])
def test_max_body_bytes_by_content_length_before_the_app_runs(small_body_server, length, status):
    q = f"cl-{length}"
    raw = f"POST /body?{q} HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n".encode()
    with Conn(small_body_server.address) as c:
        c.send(raw + b"x" * length)
        resp = c.read_response()
        assert resp.status == status
        if status == 200:
            assert resp.header("X-Body-Length") == str(length)
        else:
            assert resp.header_all("Connection") == ["close"]
    if status == 413:
        # The app never ran, so it never read.
        assert f"({q})" not in small_body_server.log()
    assert_served(small_body_server)


def chunked(length: int) -> bytes:
    """`length` body bytes as chunks of at most 512 bytes, then the last chunk."""
    out, left = b"", length
    while left:
        n = min(left, 512)
        out += b"%x\r\n" % n + b"x" * n + b"\r\n"
        left -= n
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize(("length", "status"), [(KIB - 1, 200), (KIB, 200), (KIB + 1, 413)],
                         ids=["under", "at", "over"])
def test_max_body_bytes_when_a_chunked_body_crosses_it(small_body_server, length, status):
    q = f"chunked-{length}"
    raw = f"POST /body?{q} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked(length)
    if status == 200:
        with Conn(small_body_server.address) as c:
            c.send(raw)
            resp = c.read_response()
            assert (resp.status, resp.header("X-Body-Length")) == (200, str(length))
        assert_served(small_body_server)
        return
    assert_rejected(small_body_server, raw, 413)
    # The app's read raised (its 64 KiB read had not returned the 1 KiB before it).
    small_body_server.wait_for_log(rf"hostile: read failed after \d+ bytes \({q}\): RequestBodyError: "
                                   "request body larger than max_body_bytes")


def test_a_chunked_body_crossing_max_body_bytes_after_the_response_started_closes_the_connection(
        small_body_server):
    q = "stream-over"
    raw = (f"POST /stream-then-read?{q} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
           + chunked(KIB + 1))
    with Conn(small_body_server.address) as c:
        c.send(raw + GOOD)
        head = c._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        try:
            rest = c.read_to_eof()
        except ConnectionResetError:
            rest = c.buf
        # The first chunk, then EOF: no last chunk, no response to the pipelined request.
        assert rest.startswith(b"8\r\nstarted\n\r\n"), rest
        assert not rest.endswith(b"0\r\n\r\n") and b"HTTP/1.1" not in rest, rest
    small_body_server.wait_for_log(rf"hostile: read failed after \d+ bytes \({q}\): RequestBodyError")
    assert_served(small_body_server)


# --- body_timeout ---------------------------------------------------------------------------


def test_body_timeout_fails_the_apps_read_and_answers_408_before_the_response(small_body_server):
    q = "stalled"
    with Conn(small_body_server.address) as c:
        started = time.monotonic()
        c.send(f"POST /body?{q} HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello".encode())
        resp = c.read_response()
        elapsed = time.monotonic() - started
        assert resp.status == 408
        assert resp.header_all("Connection") == ["close"]
        assert 0.8 < elapsed < 4
        assert c.read_to_eof() == b""
    small_body_server.wait_for_log(rf"hostile: read failed after \d+ bytes \({q}\): RequestBodyError: "
                                   "timed out waiting for the request body")
    assert_served(small_body_server)


def test_body_timeout_after_the_response_started_closes_the_connection(small_body_server):
    q = "stalled-stream"
    with Conn(small_body_server.address) as c:
        c.send(f"POST /stream-then-read?{q} HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello".encode())
        assert c._read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
        rest = c.read_to_eof()
        assert rest == b"8\r\nstarted\n\r\n", rest
    small_body_server.wait_for_log(rf"hostile: read failed after \d+ bytes \({q}\): RequestBodyError")
    assert_served(small_body_server)


def test_body_timeout_is_per_gap_so_a_slow_but_steady_upload_is_served(small_body_server):
    with Conn(small_body_server.address) as c:
        c.send(b"POST /body?steady HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        for b in b"hello":  # 2.5 s in all, 0.5 s per gap, under the 1 s body_timeout
            time.sleep(0.5)
            c.send(bytes([b]))
        resp = c.read_response()
        assert (resp.status, resp.header("X-Body-Length")) == (200, "5")


# --- connections ----------------------------------------------------------------------------


def test_max_connections_default_1000_holds_the_next_client_in_the_backlog(server):
    # 999 silent connections and one that asks: 1000 open, all accepted. The 1001st
    # completes its handshake in the kernel backlog but is not served until one closes.
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(999)]
    try:
        with Conn(server.address) as at_limit:
            resp = at_limit.request("GET", "/echo?thousandth")
            assert resp.status == 200
            over = Conn(server.address, timeout=1)
            with over:
                over.send(b"GET /echo?over HTTP/1.1\r\nHost: t\r\n\r\n")
                with pytest.raises(socket.timeout):
                    over.read_response()
                idle.pop().close()
                over.sock.settimeout(5)
                assert over.read_response().body == b"GET /echo?over"
    finally:
        for s in idle:
            s.close()
    assert_served(server)


def listen_backlog(port: int) -> int:
    """The backlog of the listening socket on `port`, as `ss` reports it (Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    return int(out.split()[2])


def somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


needs_ss = pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the backlog")


@needs_ss
def test_backlog_default_2048(server):
    assert listen_backlog(server.port) == min(2048, somaxconn())


@needs_ss
def test_backlog_setting_reaches_listen(ferrule_server):
    running = ferrule_server("--backlog", "16", "apps.hostile:app")
    assert listen_backlog(running.port) == 16
    assert_served(running)
