"""WebSockets (RFC 6455) for ASGI apps over real sockets: the `websockets` client for the
conversation (text, binary, permessage-deflate, subprotocols, accept headers, closes both
ways with codes and reasons, 403 for a close before the accept, the denial response, 500 /
1011 for app failures, `ClientDisconnected` after the close) and raw frames for the
handshake's refusals and the hostile classes (unmasked frames, bad UTF-8, oversized and
never-ending messages, a deflate bomb, frame and ping floods), each followed by a check
that other clients are still served. Also: idle pings and 1001 at a graceful stop.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import zlib

import pytest
from ferrule_proc import start_server
from rawhttp import Conn
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


@pytest.fixture(scope="module")
def server():
    running = start_server("--ws-max-message-bytes", "64KiB", "apps.asgi:app")
    yield running
    running.stop()


def url(server, path: str) -> str:
    return f"ws://{server.host}:{server.port}{path}"


def progress(server) -> dict:
    with Conn(server.address) as c:
        return json.loads(c.request("GET", "/progress").body)


def wait_progress(server, key: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = progress(server)
        if key in seen:
            return seen[key]
        time.sleep(0.05)
    raise AssertionError(f"{key} never recorded")


def still_serves(server) -> None:
    with Conn(server.address) as c:
        assert c.request("GET", "/").body == b"hello, asgi"
    with connect(url(server, "/ws/echo")) as ws:
        ws.send("still there?")
        assert ws.recv(timeout=5) == "still there?"


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echoes_text_and_binary_with_and_without_deflate(server, compression):
    with connect(url(server, "/ws/echo"), compression=compression, max_size=None) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xff" * 10)
        assert ws.recv(timeout=5) == b"\x00\xff" * 10
        large = "z" * 60_000
        ws.send(large)
        assert ws.recv(timeout=5) == large
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
    if compression:
        assert negotiated.startswith("permessage-deflate; server_no_context_takeover")
    else:
        assert negotiated is None


def test_the_scope_and_the_subprotocols(server):
    with connect(url(server, "/ws/scope?a=1"), subprotocols=["one", "two"]) as ws:
        scope = json.loads(ws.recv(timeout=5))
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/ws/scope"
    assert scope["query_string"] == "a=1"
    assert scope["subprotocols"] == ["one", "two"]
    assert scope["asgi"]["version"] == "3.0"
    assert "method" not in scope
    with connect(url(server, "/ws/protocol"), subprotocols=["one", "two"]) as ws:
        assert ws.subprotocol == "two"
        assert ws.response.headers["x-chosen"] == "yes"
        assert ws.recv(timeout=5) == "one,two"


def test_a_close_before_the_accept_is_403_and_a_denial_response_is_the_apps(server):
    with pytest.raises(InvalidStatus) as refused:
        connect(url(server, "/ws/refuse"))
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as denied:
        connect(url(server, "/ws/deny"))
    assert denied.value.response.status_code == 401
    assert denied.value.response.headers["www-authenticate"] == "Token"
    assert denied.value.response.body == b"no token, no socket"


def test_close_codes_and_reasons_travel_both_ways(server):
    with connect(url(server, "/ws/close?server-close")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye from the app")
    assert wait_progress(server, "server-close") == 4001
    with connect(url(server, "/ws/echo?client-close")) as ws:
        ws.close(code=4321, reason="done here")
    assert wait_progress(server, "client-close") == 4321


def test_app_failures_are_500_before_the_accept_and_1011_after(server):
    with pytest.raises(InvalidStatus) as failed:
        connect(url(server, "/ws/raise-before"))
    assert failed.value.response.status_code == 500
    with connect(url(server, "/ws/raise-after")) as ws:
        ws.send("trigger")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1011
    server.wait_for_log("boom after the accept")
    still_serves(server)


def test_send_after_the_client_closed_raises_client_disconnected(server):
    with connect(url(server, "/ws/late-send?late")):
        pass
    assert wait_progress(server, "late-send") == "ClientDisconnected"
    assert progress(server)["late"] == "websocket.disconnect"


def test_a_slow_reader_gets_every_message_of_a_flood_in_order(server):
    with connect(url(server, "/ws/flood-out")) as ws:
        time.sleep(0.5)
        got = []
        with pytest.raises(ConnectionClosed):
            while True:
                got.append(ws.recv(timeout=5))
    assert got == [f"m{i}" for i in range(10_000)]


# ---- The handshake's refusals and hostile frames, raw.

KEY = base64.b64encode(os.urandom(16)).decode()


def handshake(server, path="/ws/echo", extra="", version="13", key=KEY) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=5)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n").encode())
    return sock


def read_head(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv1: bool = False,
          length: int | None = None) -> bytes:
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_code(sock, timeout: float = 5.0) -> int | None:
    """Reads frames until a close frame; its code (None if the connection just ended)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
        while len(data) >= 2:
            opcode, n = data[0] & 0x0F, data[1] & 0x7F
            start = 2
            if n == 126:
                n, start = struct.unpack("!H", data[2:4])[0], 4
            elif n == 127:
                n, start = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < start + n:
                break
            payload, data = data[start:start + n], data[start + n:]
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [({"key": "short"}, 400), ({"version": "8"}, 426), ({"extra": "Content-Length: 2\r\n"}, 400)],
    ids=["bad-key", "old-version", "with-body"],
)
def test_a_bad_handshake_is_refused_with_its_status(server, kwargs, status):
    with handshake(server, **kwargs) as sock:
        head = read_head(sock)
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    if status == 426:
        assert b"Sec-WebSocket-Version: 13\r\n" in head
    still_serves(server)


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH))[:-4]


HOSTILE = [
    ("unmasked", [frame(0x1, b"hi", masked=False)], 1002, ""),
    ("invalid-utf8", [frame(0x1, b"\xff\xfe")], 1007, ""),
    ("oversized", [frame(0x2, b"x" * 70_000)], 1009, ""),
    ("huge-fragment-header", [frame(0x2, b"", length=1 << 40)], 1009, ""),
    ("never-ending-fragments", [frame(0x2, b"x" * 8000, fin=False)]
     + [frame(0x0, b"x" * 8000, fin=False)] * 10, 1009, ""),
    ("deflate-bomb", [frame(0x2, deflate(b"\0" * (8 << 20)), rsv1=True)], 1009,
     "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    ("rsv1-without-deflate", [frame(0x1, b"x", rsv1=True)], 1002, ""),
    ("bad-close-code", [frame(0x8, struct.pack("!H", 1005))], 1002, ""),
]


@pytest.mark.parametrize(("name", "frames", "code", "extra"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_frames_close_with_their_code_and_others_are_served(server, name, frames, code, extra):
    with handshake(server, extra=extra) as sock:
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        try:
            for f in frames:
                sock.sendall(f)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert close_code(sock) == code
    still_serves(server)


def test_floods_of_small_frames_and_pings_are_answered_in_order(server):
    with handshake(server) as sock:
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        burst = b"".join(frame(0x9, b"p%d" % i) for i in range(2000))
        burst += b"".join(frame(0x1, b"m%d" % i) for i in range(2000))
        burst += frame(0x8, struct.pack("!H", 1000))
        sock.sendall(burst)
        assert close_code(sock, timeout=10) == 1000
    still_serves(server)


def test_an_unresponsive_client_is_pinged_then_closed_with_1011(ferrule_server):
    server = ferrule_server("--ws-ping-interval", "0.3", "--ws-ping-timeout", "0.3", "apps.asgi:app")
    with handshake(server) as sock:
        assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        started = time.monotonic()
        # Frames are read (a ping arrives) but never answered.
        assert close_code(sock, timeout=5) == 1011
        assert time.monotonic() - started < 3
    # A client that answers pings (the websockets library does) stays connected.
    with connect(url(server, "/ws/echo")) as ws:
        time.sleep(1.2)
        ws.send("alive")
        assert ws.recv(timeout=5) == "alive"
    # So does one whose app is slow to take its messages: while a message waits for the
    # app the socket is not read, so no ping is sent that could not be heard.
    with connect(url(server, "/ws/slow-reader")) as ws:
        ws.send("one")
        ws.send("two")
        assert [ws.recv(timeout=5), ws.recv(timeout=5)] == ["one", "two"]


def test_a_graceful_stop_closes_open_websockets_with_1001(ferrule_server):
    server = ferrule_server("--graceful-timeout", "2", "apps.asgi:app")
    with connect(url(server, "/ws/echo?stopping")) as ws:
        ws.send("before")
        assert ws.recv(timeout=5) == "before"
        server.proc.send_signal(15)
        # During the graceful window the conversation goes on.
        ws.send("during")
        assert ws.recv(timeout=5) == "during"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1001
    assert server.proc.wait(timeout=10) == 0
