"""PEP 3333 responses over real sockets: the app's Content-Length is held to (short → the
connection closes, long → the body is cut), a list gets a computed Content-Length, a generator
is chunked on HTTP/1.1 and close-delimited on HTTP/1.0, the iterable's `close()` is called
exactly once (also on errors and client disconnects), and `wsgi.file_wrapper` over a real file
goes out with sendfile(2), from the file's position.

One server for the module (`apps.pep3333`; every route is wrapped in `wsgiref.validate` except
`list`, `file` and `file-bytesio`, because the validator wraps every result in an iterator and
would hide the list or the FileWrapper from the server).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from urllib.parse import quote

import ferrule_proc as conftest
import pytest
from rawhttp import Conn

_tokens = itertools.count()


def token(name: str) -> str:
    """A fresh close() counter name."""
    return f"{name}-{next(_tokens)}-{os.getpid()}"


@pytest.fixture(scope="module")
def server():
    server = conftest.start_server("apps.pep3333:app")
    yield server
    server.stop()


def get(conn: Conn, target: str, version: str = "HTTP/1.1"):
    conn.send(f"GET {target} {version}\r\nHost: t\r\n\r\n".encode())
    return conn.read_response()


def closes(server, tok: str) -> int:
    """How often close() was called for `tok`, once the first call happened (5 s at most)."""
    with Conn(server.address, timeout=10) as conn:
        resp = get(conn, f"/closes?token={tok}&wait=5")
    assert resp.status == 200
    return json.loads(resp.body)["closes"]


def assert_no_unclosed_iterators(server) -> None:
    # The validator's iterator wrapper reports one garbage collected without close().
    assert "without being closed" not in server.log()


# --- Content-Length ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gen", "list", "write"])
def test_short_body_is_followed_by_a_close(server, kind):
    with Conn(server.address, timeout=5) as conn:
        conn.send(f"GET /short?kind={kind} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        head = conn._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"\r\nContent-Length: 10\r\n" in head
        assert conn.read_to_eof() == b"12345"  # EOF: the server closed the connection
    server.wait_for_log(r"app sent 5 body bytes but declared Content-Length 10")


@pytest.mark.parametrize("kind", ["gen", "list", "write"])
def test_long_body_is_cut_at_content_length(server, kind):
    with Conn(server.address, timeout=5) as conn:
        resp = get(conn, f"/long?kind={kind}")
        assert resp.status == 200
        assert resp.body == b"12345"
        # Nothing of the excess is on the wire: the next response parses cleanly.
        again = get(conn, "/ok")
        assert (again.status, again.body) == (200, b"ok")
    server.wait_for_log(r"more body bytes than its Content-Length \(5\)")


@pytest.mark.parametrize(("n", "size"), [(1, 5), (1, 0), (0, 5), (3, 5), (1, 200_000), (3, 40_000)])
def test_list_body_gets_a_content_length(server, n, size):
    # Unvalidated route: the validator would wrap the list in an iterator.
    with Conn(server.address, timeout=5) as conn:
        resp = get(conn, f"/list?n={n}&size={size}")
    assert resp.status == 200
    assert resp.header("Content-Length") == str(n * size)
    assert resp.header("Transfer-Encoding") is None
    assert resp.body == b"".join(bytes([ord("a") + i]) * size for i in range(n))


def test_generator_body_is_chunked_on_http11(server):
    with Conn(server.address, timeout=5) as conn:
        resp = get(conn, "/gen?n=3")
        assert resp.status == 200
        assert resp.chunked and resp.header("Content-Length") is None
        assert resp.body == b"chunk-0\nchunk-1\nchunk-2\n"
        assert get(conn, "/ok").status == 200  # still open


def test_generator_body_is_close_delimited_on_http10(server):
    with Conn(server.address, timeout=5) as conn:
        resp = get(conn, "/gen?n=3", "HTTP/1.0")  # reads to EOF: no length, not chunked
    assert resp.status == 200
    assert resp.header("Transfer-Encoding") is None and resp.header("Content-Length") is None
    assert resp.body == b"chunk-0\nchunk-1\nchunk-2\n"


# --- close() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "status"), [("normal", 200), ("raise-first", 500), ("raise-mid", 200)])
def test_close_is_called_exactly_once(server, mode, status):
    tok = token(mode)
    with Conn(server.address, timeout=5) as conn:
        conn.send(f"GET /tracked?token={tok}&mode={mode} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        head = conn._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert closes(server, tok) == 1
    assert_no_unclosed_iterators(server)


def test_close_is_called_once_when_the_client_disconnects_mid_response(server):
    tok = token("disconnect")
    # 2000 chunks of 4 KiB, 10 ms apart: 20 s if nobody stops it.
    with Conn(server.address, timeout=5) as conn:
        conn.send(f"GET /tracked?token={tok}&mode=slow&n=2000&size=4096&delay=0.01 HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        conn._read_until(b"\r\n\r\n")
        conn._read_exact(4096)
    started = time.monotonic()
    assert closes(server, tok) == 1
    assert time.monotonic() - started < 5
    assert_no_unclosed_iterators(server)


# --- wsgi.file_wrapper ------------------------------------------------------------------------

SIZE = 5 * 1024 * 1024 + 123


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "big.bin"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return str(path), data


@pytest.fixture(scope="module", params=["on", "off"], ids=["sendfile", "copy"])
def file_server(request):
    """The app served with each way of sending a file (`--sendfile`; `auto` picks `off`
    for these loopback clients)."""
    server = conftest.start_server("apps.pep3333:app", "--sendfile", request.param)
    yield server
    server.stop()


@pytest.mark.parametrize(("offset", "length"), [
    (0, None), (1000, None), (SIZE - 1, None), (SIZE, None), (10, 100), (0, SIZE + 5000)],
    ids=["whole", "from-offset", "last-byte", "at-end", "app-length-shorter", "app-length-longer"])
def test_file_wrapper_sends_the_file_from_its_position(file_server, big_file, offset, length):
    server = file_server
    # Unvalidated route (also below): the validator would hide the FileWrapper.
    path, data = big_file
    tok = token("file")
    target = f"/file?path={quote(path)}&token={tok}&offset={offset}" + (f"&length={length}" if length is not None else "")
    expected = data[offset:] if length is None else data[offset:offset + length]
    with Conn(server.address, timeout=10) as conn:
        conn.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        if length is not None and length > len(expected):
            # The file is shorter than the app's Content-Length: what there is, then a close.
            head = conn._read_until(b"\r\n\r\n")
            assert f"\r\nContent-Length: {length}\r\n".encode() in head
            assert conn.read_to_eof() == expected
        else:
            resp = conn.read_response()
            assert resp.status == 200
            assert resp.header("Content-Length") == str(len(expected))
            assert resp.body == expected
            assert get(conn, "/ok").status == 200
    assert closes(server, tok) == 1


def test_file_wrapper_over_a_file_without_tell_is_iterated_from_its_position(server, big_file):
    path, data = big_file
    tok = token("untellable")
    with Conn(server.address, timeout=10) as conn:
        resp = get(conn, f"/file?path={quote(path)}&token={tok}&offset=1000&untellable=1")
    assert resp.status == 200
    assert resp.body == data[1000:]
    assert closes(server, tok) == 1


def test_file_wrapper_over_bytesio_is_iterated(server):
    tok = token("bytesio")
    with Conn(server.address, timeout=5) as conn:
        resp = get(conn, f"/file-bytesio?size=10500&token={tok}")
    assert resp.status == 200
    assert resp.chunked  # no fileno(): iterated like any iterable, length unknown
    assert resp.body == bytes(48 + i % 10 for i in range(10500))
    assert closes(server, tok) == 1


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("mode", ["on", "off", "auto"])
def test_file_wrapper_body_goes_out_with_sendfile_as_configured(ferrule_server, big_file, tmp_path, mode):
    path, data = big_file
    traced = ferrule_server("apps.pep3333:app", "--sendfile", mode)
    traced.wait_for_log(r"worker 1 \(pid \d+\) serving")
    [worker] = traced.worker_pids()  # the master forks one worker; it does the sending
    out = tmp_path / "strace.out"
    strace = subprocess.Popen(
        ["strace", "-f", "-p", str(worker), "-e", "trace=sendfile", "-o", str(out)],
        stderr=subprocess.PIPE)
    try:
        # strace reports on stderr once it is attached (or why it could not attach).
        sel = selectors.DefaultSelector()
        sel.register(strace.stderr, selectors.EVENT_READ)
        assert sel.select(timeout=10), "strace said nothing"
        line = strace.stderr.readline().decode()
        if "attached" not in line:
            pytest.skip(f"strace cannot attach here: {line.strip()}")
        with Conn(traced.address, timeout=10) as conn:
            resp = get(conn, f"/file?path={quote(path)}&token={token('strace')}&offset=7")
        assert resp.status == 200
        assert resp.body == data[7:]
    finally:
        strace.send_signal(signal.SIGINT)  # detaches from the server, which keeps running
        strace.wait(timeout=10)
    calls = [line for line in out.read_text().splitlines() if "sendfile" in line]
    if mode != "on":
        # `off`, and `auto` to this loopback client: read and written, no sendfile(2).
        assert calls == []
        return
    sent = sum(int(m.group(1)) for line in calls if (m := re.search(r"\) = (\d+)$", line)))
    assert sent == SIZE - 7, calls
    assert re.search(r"sendfile\(\d+, \d+, \[7\]", "\n".join(calls)), calls


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_copied_file_body_goes_out_a_bounded_piece_per_turn(ferrule_server, big_file, tmp_path):
    """Issue #14: a copied file body (`--sendfile off`) is written a piece (256 KiB) at a
    time, and the worker's I/O thread looks for other work (`epoll_wait`) between pieces,
    so a fast reader's file does not hold up every other connection for the whole body
    (before: the whole 5 MiB body in one turn, 20 writes in a row)."""
    path, data = big_file
    traced = ferrule_server("apps.pep3333:app", "--sendfile", "off")
    traced.wait_for_log(r"worker 1 \(pid \d+\) serving")
    [worker] = traced.worker_pids()
    out = tmp_path / "strace.out"
    strace = subprocess.Popen(
        ["strace", "-f", "-p", str(worker), "-e", "trace=sendto,sendfile,writev,epoll_wait",
         "-o", str(out)],
        stderr=subprocess.PIPE)
    try:
        sel = selectors.DefaultSelector()
        sel.register(strace.stderr, selectors.EVENT_READ)
        assert sel.select(timeout=10), "strace said nothing"
        line = strace.stderr.readline().decode()
        if "attached" not in line:
            pytest.skip(f"strace cannot attach here: {line.strip()}")
        with Conn(traced.address, timeout=30) as conn:
            resp = get(conn, f"/file?path={quote(path)}&token={token('pieces')}")
        assert resp.status == 200
        assert resp.body == data
    finally:
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=10)
    # Bytes written to sockets between two looks for other work.
    turns, written = [], 0
    for call in out.read_text().splitlines():
        if "epoll_wait(" in call:
            turns.append(written)
            written = 0
        elif m := re.search(r"(?:sendto|sendfile|writev)(?:\(| resumed>).*\) = (\d+)$", call):
            written += int(m.group(1))
    turns.append(written)
    assert sum(turns) >= SIZE, "the body was not seen going out"
    # One piece per turn; two when a piece's write was split by a full socket that had room
    # again at once, plus the head.
    assert max(turns) <= 2 * 256 * 1024 + 1024, sorted(turns)[-5:]


def _fetch_file_repeatedly(address, target: str, expected: bytes, done: list[int], slot: int,
                           stop: threading.Event, errors: list[str], enough: int) -> None:
    """One keep-alive connection fetching `target` until `stop`; counts whole, correct
    bodies in `done[slot]`, and sets `stop` when it has `enough`. Reads what has arrived
    (up to 256 KiB at a time), as a client with a connection of its own does."""
    request = f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    piece = bytearray(256 * 1024)
    try:
        with socket.create_connection(address, timeout=30) as sock:
            while not stop.is_set():
                sock.sendall(request)
                got = b""
                while b"\r\n\r\n" not in got:
                    data = sock.recv(65536)
                    assert data, "closed before the head"
                    got += data
                head, _, body = got.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 "), head
                assert f"\r\ncontent-length: {len(expected)}\r\n".encode() in head.lower() + b"\r\n"
                first = done[slot] == 0
                seen = bytearray(body) if first else None
                received = len(body)
                while received < len(expected):
                    n = sock.recv_into(piece)
                    assert n, "closed mid-body"
                    if seen is not None:
                        seen += piece[:n]
                    received += n
                assert received == len(expected), "more bytes than the body"
                if seen is not None:
                    assert seen == expected, "the first body differs from the file"
                done[slot] += 1
                if done[slot] >= enough:
                    stop.set()
    except Exception as err:  # noqa: BLE001 (reported by the test, with the connection)
        errors.append(f"connection {slot}: {err!r}")
        stop.set()


@pytest.mark.parametrize("threads", ["1", "4"])
@pytest.mark.parametrize("mode", ["on", "off"], ids=["sendfile", "copy"])
def test_file_wrapper_bodies_are_shared_fairly_between_connections(ferrule_server, big_file, mode, threads):
    """Issue #14 (`file` row): several keep-alive connections fetching a large file body
    over and over each get their turn; none waits while the others complete many responses.
    Each connection reads with its own thread, as separate clients do (wrk's one reader for
    64 connections is not fair itself: see bench/PROFILE.md, issue #14)."""
    path, data = big_file
    server = ferrule_server("apps.pep3333:app", "--sendfile", mode, "--threads", threads)
    connections, enough = 8, 8
    # One token for every request here: close() counts are not what this test is about.
    target = f"/file?path={quote(path)}&token={token('fair')}"
    done = [0] * connections
    errors: list[str] = []
    stop = threading.Event()
    clients = [threading.Thread(target=_fetch_file_repeatedly,
                                args=(server.address, target, data, done, slot, stop, errors, enough))
               for slot in range(connections)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 120
    for client in clients:
        client.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(c.is_alive() for c in clients), f"clients still running after 120 s: {done}"
    assert errors == []
    assert max(done) == enough, done
    # With fair service all counts are within one or two of each other; a starved connection
    # completes none or one while the leader completes `enough`. A gross ratio, for noisy
    # machines: the slowest connection has at least a quarter of the leader's responses.
    assert min(done) >= enough // 4, f"responses per connection: {done}"
