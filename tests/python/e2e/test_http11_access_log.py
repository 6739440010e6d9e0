"""The access log end to end: `--access-log -` writes gunicorn's default format on stdout;
`--access-log FILE` with `--access-log-format` renders the timing and header atoms.

The fixture only reads stderr, so the stdout test reads the process's stdout pipe itself.
"""

from __future__ import annotations

import os
import re
import select
import time

import pytest
from ferrule_proc import start_server
from rawhttp import Conn

#: gunicorn's default: h l u t "r" s b "f" "a".
DEFAULT_LINE = re.compile(
    r'127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
    r'"(?P<r>[^"]*)" (?P<s>\d{3}) (?P<b>\d+|-) "(?P<f>[^"]*)" "(?P<a>[^"]*)"'
)
CUSTOM_FORMAT = '%(s)s D=%(D)s L=%(L)s x=%({x-req}i)s "%(r)s"'
CUSTOM_LINE = re.compile(r'(?P<s>\d{3}) D=(?P<D>\d+) L=(?P<L>\d+\.\d{6}) x=(?P<x>\S+) "(?P<r>[^"]*)"')


@pytest.fixture(scope="module")
def stdout_server():
    running = start_server("--access-log", "-", "apps.http11:app")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def file_server(tmp_path_factory):
    log = tmp_path_factory.mktemp("access") / "access.log"
    running = start_server("--access-log", str(log), "--access-log-format", CUSTOM_FORMAT,
                           "--max-body-bytes", "1KiB", "apps.http11:app")
    running.access_log_path = log
    yield running
    running.stop()


def read_stdout_line(server, timeout: float = 5.0) -> str:
    """The next line the server wrote on stdout. Reads the pipe with os.read and keeps the
    rest, so a second line that arrived with the first is not lost in a file buffer."""
    pending = getattr(server, "stdout_pending", b"")
    fd = server.proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while b"\n" not in pending:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        assert ready, f"no access log line on stdout; have {pending!r}"
        data = os.read(fd, 65536)
        assert data, "stdout closed"
        pending += data
    line, _, server.stdout_pending = pending.partition(b"\n")
    return line.decode("utf-8", "replace")


def wait_for_file_line(path, pattern: str, timeout: float = 5.0) -> str:
    """The access record is written after the response; wait for it to land."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                if pattern in line:
                    return line
        time.sleep(0.02)
    raise AssertionError(f"no line with {pattern!r} in {path}")


def test_writes_gunicorns_default_format_on_stdout(stdout_server):
    with Conn(stdout_server.address) as c:
        resp = c.request("GET", "/echo?a=1", headers={"Referer": "http://ref.example/",
                                                       "User-Agent": "probe/1.0"})
    line = read_stdout_line(stdout_server)
    m = DEFAULT_LINE.fullmatch(line)
    assert m, line
    assert m["r"] == "GET /echo?a=1 HTTP/1.1"
    assert m["s"] == "200"
    assert m["b"] == str(len(resp.body))
    assert (m["f"], m["a"]) == ("http://ref.example/", "probe/1.0")


def test_logs_one_line_per_request_with_dashes_for_missing_values(stdout_server):
    with Conn(stdout_server.address) as c:
        c.send(b"GET /status?code=204 HTTP/1.1\r\nHost: t\r\n\r\n"
               b"GET /fixed HTTP/1.1\r\nHost: t\r\n\r\n")
        c.read_response()
        c.read_response()
    first = DEFAULT_LINE.fullmatch(read_stdout_line(stdout_server))
    second = DEFAULT_LINE.fullmatch(read_stdout_line(stdout_server))
    assert first and second
    assert (first["r"], first["s"], first["b"], first["f"], first["a"]) == \
           ("GET /status?code=204 HTTP/1.1", "204", "-", "-", "-")
    assert (second["r"], second["s"], second["b"]) == ("GET /fixed HTTP/1.1", "200", "10")


def test_renders_duration_and_request_header_atoms(file_server):
    with Conn(file_server.address) as c:
        resp = c.request("GET", "/slow?ms=150", headers={"X-Req": "req-42"})
        assert resp.status == 200
    line = wait_for_file_line(file_server.access_log_path, "/slow?ms=150")
    m = CUSTOM_LINE.fullmatch(line)
    assert m, line
    assert m["s"] == "200"
    assert m["x"] == "req-42"
    assert m["r"] == "GET /slow?ms=150 HTTP/1.1"
    micros, seconds = int(m["D"]), float(m["L"])
    assert 150_000 <= micros < 5_000_000
    assert 0.15 <= seconds < 5.0
    # Both atoms measure the same span.
    assert abs(micros / 1e6 - seconds) < 0.001


def test_renders_a_missing_request_header_as_a_dash(file_server):
    with Conn(file_server.address) as c:
        c.request("GET", "/echo?no-header")
    line = wait_for_file_line(file_server.access_log_path, "/echo?no-header")
    m = CUSTOM_LINE.fullmatch(line)
    assert m and m["x"] == "-"


def test_logs_requests_the_server_rejects_itself(file_server):
    # A body that breaks mid-way is answered by the server; it is still a request to log.
    with Conn(file_server.address) as c:
        c.send(b"POST /body?broken HTTP/1.1\r\nHost: t\r\nX-Req: bad-body\r\n"
               b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        assert c.read_response().status == 400
    line = wait_for_file_line(file_server.access_log_path, "/body?broken")
    m = CUSTOM_LINE.fullmatch(line)
    assert m and (m["s"], m["x"]) == ("400", "bad-body")


def test_logs_a_request_refused_for_its_declared_size(file_server):
    with Conn(file_server.address) as c:
        c.send(b"POST /body?too-big HTTP/1.1\r\nHost: t\r\nX-Req: big-one\r\n"
               b"Content-Length: 5000\r\n\r\n")
        assert c.read_response().status == 413
    line = wait_for_file_line(file_server.access_log_path, "/body?too-big")
    m = CUSTOM_LINE.fullmatch(line)
    assert m and (m["s"], m["x"]) == ("413", "big-one")
