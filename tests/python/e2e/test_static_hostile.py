"""Static files against hostile input: every way out of a mount that a request path or the
file system offers (dot segments plain and encoded, encoded separators, overlong UTF-8,
backslashes, NUL, dotfiles, very long paths, symlinks, FIFOs), files that vanish or shrink
while being sent, a client that stops reading, and the sendfile(2) policy. Each refusal
asserts the answer AND that the worker still serves other clients.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time

import pytest
from ferrule_proc import start_server
from rawhttp import Conn, request

APP = "apps.static_site:app"
SECRET = b"TOP-SECRET-CONTENT"
NOT_FOUND = b"404 Not Found: no such file\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    site = root / "site"
    (site / "css").mkdir(parents=True)
    (site / "css" / "app.css").write_bytes(b"body{}")
    (root / "secret.txt").write_bytes(SECRET)
    (site / ".env").write_bytes(SECRET)
    (site / ".git").mkdir()
    (site / ".git" / "config").write_bytes(SECRET)
    (site / "%2e%2e").mkdir()  # a directory really named like an encoded dot segment
    os.symlink(root / "secret.txt", site / "absolute-link")
    os.symlink("../secret.txt", site / "relative-link")
    os.symlink("css/app.css", site / "inside-link")
    os.symlink(root, site / "dir-link")
    os.mkfifo(site / "fifo")
    return root


@pytest.fixture(scope="module")
def server(tree):
    running = start_server("--static-map", f"/static={tree / 'site'}", APP)
    yield running
    running.stop()
    assert "panicked" not in running.log(), running.log()


def still_serves(server) -> None:
    """Another client, on a new connection, is served at once."""
    resp = request(server.address, b"GET /static/css/app.css HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"body{}")


@pytest.mark.parametrize("target", [
    "/static/../secret.txt",
    "/static/css/../../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/..%2fsecret.txt",
    "/static/css%2f..%2f..%2fsecret.txt",
    "/static/..%5csecret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",
    "/static/%e0%80%ae%e0%80%ae/secret.txt",
    "/static/%c0%af",
    "/static/css/app.css%00.png",
    "/static/css%00/app.css",
    "/static/app%0a.css",
    "/static/%zz",
    "/static/.env",
    "/static/%2eenv",
    "/static/.git/config",
    "/static/./css/app.css",
    "/static/absolute-link",
    "/static/relative-link",
    "/static/dir-link/secret.txt",
    "/static/fifo",
    "/static/" + "a" * 300,
    "/static/" + "a/" * 2500 + "x",
])
def test_a_path_out_of_the_mount_is_refused_with_404(server, target):
    with Conn(server.address, timeout=5) as conn:
        resp = conn.request("GET", target)
        assert resp.status == 404
        assert resp.body == NOT_FOUND
        assert SECRET not in resp.body
        # The request was fine as HTTP: the connection carries the next one.
        assert conn.request("GET", "/static/css/app.css").body == b"body{}"
    still_serves(server)


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET /static/..\\secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404}),
    (b"GET /static/css\\app.css HTTP/1.1\r\nHost: x\r\n\r\n", {400, 404}),
    (b"GET /static/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
])
def test_backslashes_and_raw_nul_never_reach_a_file(server, raw, status):
    resp = request(server.address, raw)
    assert resp.status in status
    assert SECRET not in resp.body
    assert not resp.body.startswith(b"app saw")
    still_serves(server)


def test_a_double_encoded_dot_segment_is_a_name_not_a_way_up(server):
    # `%252e%252e` decodes once to the name `%2e%2e`: a directory of that name under the
    # mount, never the parent.
    resp = request(server.address,
                   b"GET /static/%252e%252e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert SECRET not in resp.body
    assert resp.body == b"app saw GET /static/%2e%2e/secret.txt"


def test_a_symlink_inside_the_mount_is_followed(server):
    resp = request(server.address, b"GET /static/inside-link HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"body{}")


def test_the_fifo_does_not_hang_the_worker(server):
    started = time.monotonic()
    resp = request(server.address, b"GET /static/fifo HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    assert resp.status == 404
    assert time.monotonic() - started < 2


def test_symlinks_out_of_the_mount_are_followed_only_when_allowed(tree):
    running = start_server("--static-map", f"/static={tree / 'site'}",
                           "--static-follow-symlinks", APP)
    try:
        for target in (b"/static/absolute-link", b"/static/relative-link",
                       b"/static/dir-link/secret.txt"):
            resp = request(running.address, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (resp.status, resp.body) == (200, SECRET), target
        # Dotfiles and dot segments stay refused.
        resp = request(running.address, b"GET /static/.env HTTP/1.1\r\nHost: x\r\n\r\n")
        assert resp.status == 404
    finally:
        running.stop()


# ---- Files that change while being sent, clients that stop reading

SIZE = 32 * 1024 * 1024  # far more than loopback's socket buffers hold in flight


def slow_client(server, target: bytes) -> tuple[socket.socket, int, bytes]:
    """A connection with a small receive buffer that has read the head and a little of the
    body; returns (socket, Content-Length, body bytes read so far)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(10)
    sock.connect(server.address)
    sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    return sock, length, body


def read_rest(sock: socket.socket, want: int) -> bytes:
    out = b""
    while len(out) < want:
        try:
            data = sock.recv(1 << 20)
        except (ConnectionResetError, socket.timeout):
            break
        if not data:
            break
        out += data
    return out


@pytest.fixture(params=["on", "off"])
def changing(request, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "small.txt").write_bytes(b"small")
    running = start_server("--static-map", f"/static={site}", "--sendfile", request.param, APP)
    yield running, site
    running.stop()
    assert "panicked" not in running.log(), running.log()


def test_a_file_deleted_while_being_sent_goes_out_whole(changing):
    server, site = changing
    data = os.urandom(1024) * (SIZE // 1024)
    (site / "big.bin").write_bytes(data)
    sock, length, body = slow_client(server, b"/static/big.bin")
    with sock:
        (site / "big.bin").unlink()
        body += read_rest(sock, length - len(body))
    assert length == SIZE
    assert body == data
    assert request(server.address, b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n").status == 404


def test_a_file_truncated_while_being_sent_ends_the_connection_short(changing):
    server, site = changing
    (site / "big.bin").write_bytes(b"x" * SIZE)
    pid_before = server.worker_pids()
    sock, length, body = slow_client(server, b"/static/big.bin")
    with sock:
        os.truncate(site / "big.bin", 0)
        body += read_rest(sock, length - len(body))
    assert length == SIZE
    assert len(body) < SIZE
    resp = request(server.address, b"GET /static/small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"small")
    assert server.worker_pids() == pid_before


def test_a_client_that_stops_reading_is_cut_off_after_send_timeout(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "big.bin").write_bytes(b"y" * SIZE)
    (site / "small.txt").write_bytes(b"small")
    server = start_server("--static-map", f"/static={site}", "--send-timeout", "1s", APP)
    try:
        sock, length, body = slow_client(server, b"/static/big.bin")
        with sock:
            # Meanwhile another client is served at once.
            resp = request(server.address, b"GET /static/small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            assert resp.body == b"small"
            time.sleep(2.5)
            body += read_rest(sock, length - len(body))
        assert len(body) < length
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_large_file_goes_out_with_sendfile_under_sendfile_on(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    data = os.urandom(256 * 1024)
    (site / "big.bin").write_bytes(data)
    server = start_server("--static-map", f"/static={site}", "--sendfile", "on", APP)
    try:
        server.wait_for_log(r"worker 1 \(pid \d+\) serving")
        [worker] = server.worker_pids()
        out = tmp_path / "strace.out"
        strace = subprocess.Popen(
            ["strace", "-f", "-p", str(worker), "-e", "trace=sendfile", "-o", str(out)],
            stderr=subprocess.PIPE)
        try:
            sel = selectors.DefaultSelector()
            sel.register(strace.stderr, selectors.EVENT_READ)
            assert sel.select(timeout=10), "strace said nothing"
            line = strace.stderr.readline().decode()
            if "attached" not in line:
                pytest.skip(f"strace cannot attach here: {line.strip()}")
            resp = request(server.address,
                           b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=7-\r\n\r\n")
            assert resp.status == 206
            assert resp.body == data[7:]
        finally:
            strace.send_signal(signal.SIGINT)
            strace.wait(timeout=10)
        calls = [line for line in out.read_text().splitlines() if "sendfile" in line]
        sent = sum(int(m.group(1)) for line in calls if (m := re.search(r"\) = (\d+)$", line)))
        assert sent == len(data) - 7, calls
        assert re.search(r"sendfile\(\d+, \d+, \[7\]", "\n".join(calls)), calls
    finally:
        server.stop()
