"""The shared request corpus (tests/corpus/requests, format in its README.md) replayed over TCP
against the real server running `apps.echo:app`.

Each file is sent whole, in seeded random chunks, and byte by byte (with TCP_NODELAY) when it
is small. Valid files: every pipelined request is echoed back with the expected method, path,
query and body, and the connection then persists or closes as the last request asked.
Invalid files: the requests before the bad one are served, the bad one gets its status with
`Connection: close`, the server closes the connection, and a fresh connection still gets 200.

One server per distinct `[limits]` table for the whole module (a server per test would cost
more than the tests); `start_server` is what the `ferrule_server` fixture runs.
"""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path

import pytest
from ferrule_proc import RunningServer, start_server
from rawhttp import Conn, Response

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: the corpus needs a TOML reader
    tomllib = pytest.importorskip("tomli")

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "requests"
# Files up to this size are also sent one byte per send(): every head and body boundary
# then falls between two reads somewhere. 300 bytes: all the small cases, chosen by eye.
BYTE_BY_BYTE_MAX = 300
# Random chunks are 1..64 bytes, with a short pause so that the server sees them as
# separate reads rather than one coalesced segment.
CHUNK_PAUSE = 0.0005
SEED = 0x0F3E2B1E
# The methods `wsgiref.validate` knows. The echo app turns its warning about any other method
# into an exception, so those requests get the server's 500 after reaching the app with the
# right REQUEST_METHOD, which the error log shows.
VALIDATOR_METHODS = {"GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE"}


def _cases(kind: str) -> list[tuple[str, bytes, dict]]:
    out = []
    for http in sorted((CORPUS / kind).glob("*.http")):
        with open(http.with_suffix(".toml"), "rb") as f:
            out.append((f"{kind}/{http.stem}", http.read_bytes(), tomllib.load(f)))
    return out


VALID = _cases("valid")
INVALID = _cases("invalid")


def _params(cases):
    params = []
    for name, data, expected in cases:
        params.append(pytest.param(data, expected, "whole", id=f"{name}-whole"))
        params.append(pytest.param(data, expected, "random", id=f"{name}-random"))
        if len(data) <= BYTE_BY_BYTE_MAX:
            params.append(pytest.param(data, expected, "bytes", id=f"{name}-bytes"))
    return params


def test_corpus_is_there():
    assert len(VALID) >= 40 and len(INVALID) >= 40, f"corpus missing under {CORPUS}"


@pytest.fixture(scope="module")
def server_for():
    """`server_for(limits)`: the echo server started with those `[limits]` as flags."""
    started: dict[tuple, RunningServer] = {}

    def get(limits: dict) -> RunningServer:
        key = tuple(sorted(limits.items()))
        if key not in started:
            flags = []
            for name, value in key:
                flags += ["--" + name.replace("_", "-"), str(value)]
            # The corpus is HTTP/1.x: its HTTP/2 preface (invalid/018) is a 505 to the
            # HTTP/1.1 parser, which it meets only with cleartext HTTP/2 off (on by default
            # it starts an HTTP/2 connection: tests/python/e2e/test_http2.py).
            started[key] = start_server("--threads", "4", "--http2-cleartext", "off", *flags,
                                        "apps.echo:app")
        return started[key]

    yield get
    for server in started.values():
        server.stop()


def send(conn: Conn, data: bytes, how: str, rng: random.Random) -> None:
    """Sends `data` whole, in random chunks, or byte by byte. Stops quietly if the server
    closed first: after a rejection it may not read the rest."""
    if how == "whole":
        pieces = [data]
    elif how == "bytes":
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pieces = [data[i:i + 1] for i in range(len(data))]
    else:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pieces, i = [], 0
        while i < len(data):
            n = rng.randint(1, 64)
            pieces.append(data[i:i + n])
            i += n
    try:
        for piece in pieces:
            conn.send(piece)
            if how == "random":
                time.sleep(CHUNK_PAUSE)
    except (BrokenPipeError, ConnectionResetError):
        pass


def read_final_response(conn: Conn, head_request: bool) -> Response:
    """The next final response, skipping interim ones (`100 Continue`)."""
    while True:
        resp = conn.read_response(head_request=head_request)
        if not 100 <= resp.status < 200:
            return resp


def latin1_body(req: dict) -> str:
    if "body_hex" in req:
        return bytes.fromhex(req["body_hex"]).decode("latin-1")
    return req.get("body", "")


def check_echo(resp: Response, req: dict) -> None:
    """`resp` is the echo of `req` (a `[[request]]` table)."""
    assert resp.status == 200, (resp.status, resp.body[:200])
    method, target = req["method"], req["target"]
    if method == "HEAD":
        return
    seen = json.loads(resp.body)
    assert seen["method"] == method
    if target == "*":
        # PATH_INFO is '*', as in gunicorn, waitress and Granian (issue #13, item 12).
        assert seen["path"] == "*"
        return
    query = target.partition("?")[2]
    assert seen["query"] == query
    path = target.partition("?")[0]
    if path.startswith("/") and "%" not in path:
        assert seen["path"] == path
    assert seen["body"] == latin1_body(req)


def assert_fresh_connection_is_served(server: RunningServer) -> None:
    with Conn(server.address) as fresh:
        resp = fresh.request("GET", "/fresh?after=corpus")
        assert resp.status == 200
        assert json.loads(resp.body)["query"] == "after=corpus"


@pytest.mark.parametrize(("data", "expected", "how"), _params(VALID))
def test_valid_request_is_echoed(server_for, data, expected, how):
    server = server_for(expected.get("limits", {}))
    requests = expected["request"]
    with Conn(server.address) as conn:
        send(conn, data, how, random.Random(SEED + len(data)))
        for req in requests:
            resp = read_final_response(conn, req["method"] == "HEAD")
            if req["method"] not in VALIDATOR_METHODS:
                assert resp.status == 500, (resp.status, resp.body[:200])
                server.wait_for_log(f"Unknown REQUEST_METHOD: '{req['method']}'")
                continue
            check_echo(resp, req)
        if requests[-1]["keep_alive"]:
            # The connection persists and holds no leftover bytes: one more request works.
            resp = conn.request("GET", "/again?still=open")
            assert resp.status == 200
            assert json.loads(resp.body)["query"] == "still=open"
        else:
            assert conn.is_closed_by_peer(), "the server closes after a non-persistent request"


@pytest.mark.parametrize(("data", "expected", "how"), _params(INVALID))
def test_invalid_request_is_rejected_and_closed(server_for, data, expected, how):
    server = server_for(expected.get("limits", {}))
    with Conn(server.address) as conn:
        send(conn, data, how, random.Random(SEED + len(data)))
        for req in expected.get("request", []):
            check_echo(read_final_response(conn, req["method"] == "HEAD"), req)
        if expected["error"] == "IncompleteBody":
            # The client ends mid-body: the server may answer, but must not wait or serve on.
            conn.sock.shutdown(socket.SHUT_WR)
            rest = conn.read_to_eof()
            if rest:
                status = int(rest.split(b" ", 2)[1])
                assert status >= 400, rest[:200]
        else:
            resp = read_final_response(conn, head_request=False)
            assert resp.status == expected["status"], (resp.status, resp.body[:200])
            assert resp.header("Connection") == "close"
            assert conn.is_closed_by_peer(), "the server closes after a rejection"
    assert_fresh_connection_is_served(server)
