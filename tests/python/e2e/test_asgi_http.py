"""ASGI 3.0, HTTP spec 2.5 (asgiref `specs/www.rst`) over real sockets with a raw ASGI app
(`apps.asgi`): every scope key, request bodies as `http.request` messages, streamed
responses, backpressure both ways, `http.disconnect`, `send()` after the client has gone
(spec 2.4: an OSError subclass, not logged as an app error), and the failure rules (500
before the response started, a cut connection after, 500 for no response). Each hostile
row also checks that the next client is served.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from apps.asgi import COMPLETE_CHUNKS
from ferrule_proc import start_server
from rawhttp import Conn


@pytest.fixture(scope="module")
def server():
    running = start_server("--root-path", "/mnt", "apps.asgi:app")
    yield running
    running.stop()


def get(server, target: str, **kwargs):
    with Conn(server.address) as c:
        return c.request("GET", target, **kwargs)


def progress(server) -> dict:
    return json.loads(get(server, "/progress").body)


def still_serves(server) -> None:
    response = get(server, "/")
    assert (response.status, response.body) == (200, b"hello, asgi")


def test_the_scope_has_every_key_of_the_spec(server):
    with Conn(server.address) as c:
        head = ("GET /mnt/a%20b/%C3%A9/scope?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\n"
                "X-Dup: one\r\nX-Dup: two\r\nX-Case: V\r\n\r\n")
        c.send(head.encode())
        response = c.read_response()
        local_port = c.sock.getsockname()[1]
    scope = json.loads(response.body)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/mnt/a b/é/scope"
    assert scope["raw_path"] == "/mnt/a%20b/%C3%A9/scope"
    assert scope["query_string"] == "x=1&y=%20"
    assert scope["root_path"] == "/mnt"
    assert scope["headers"] == [["host", "example.com"], ["x-dup", "one"], ["x-dup", "two"],
                                ["x-case", "V"]]
    assert scope["client"] == ["127.0.0.1", local_port]
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["state"] == ["greeting", "pid"]
    assert scope["extensions"] == {"http.response.pathsend": {}, "http.response.zerocopysend": {},
                                   "http.response.trailers": {}, "http.response.early_hint": {}}


def test_a_root_path_a_proxy_stripped_is_put_back_in_front(server):
    scope = json.loads(get(server, "/scope").body)
    assert (scope["path"], scope["raw_path"], scope["root_path"]) == ("/mnt/scope", "/mnt/scope", "/mnt")


def test_http_1_0_and_head(server):
    with Conn(server.address) as c:
        response = c.request("GET", "/scope", version="HTTP/1.0")
    assert json.loads(response.body)["http_version"] == "1.0"
    with Conn(server.address) as c:
        response = c.request("HEAD", "/")
        assert (response.status, response.body) == (200, b"")
        assert c.request("GET", "/").body == b"hello, asgi"


def test_a_path_that_is_not_utf8_once_decoded_is_refused_with_400(server):
    with Conn(server.address) as c:
        c.send(b"GET /%FF%FE HTTP/1.1\r\nHost: t\r\n\r\n")
        response = c.read_response()
    assert response.status == 400
    assert b"not UTF-8" in response.body
    still_serves(server)


@pytest.mark.parametrize(
    ("body", "chunked", "messages_at_least"),
    [(b"", False, 1), (b"abc", False, 1), (b"x" * 300_000, False, 1), (b"chunky", True, 2)],
    ids=["empty", "small", "large", "chunked"],
)
def test_the_body_arrives_as_http_request_messages(server, body, chunked, messages_at_least):
    with Conn(server.address) as c:
        if chunked:
            c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nchu\r\n3\r\nnky\r\n0\r\n\r\n")
            response = c.read_response()
        else:
            response = c.request("POST", "/echo", body=body, headers={"Content-Length": str(len(body))})
    assert response.status == 200
    assert response.body == body
    flags = response.header("x-more").split(",")
    assert int(response.header("x-messages")) >= messages_at_least
    assert flags[-1] == "False" and all(f == "True" for f in flags[:-1])


def test_keep_alive_and_pipelined_requests_are_answered_in_order(server):
    with Conn(server.address) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
               b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo"
               b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert [c.read_response().body for _ in range(3)] == [b"one", b"two", b"hello, asgi"]


def test_a_streamed_response_is_chunked_and_a_whole_one_gets_a_content_length(server):
    streamed = get(server, "/stream?n=3")
    assert streamed.chunked and streamed.body == b"part0;part1;part2;"
    whole = get(server, "/")
    assert whole.header("content-length") == "11" and not whole.chunked


def test_a_client_that_does_not_read_holds_the_app_back(server):
    """Backpressure: `await send()` waits while the client reads nothing, so the app gets
    at most the socket buffers and the server's 1 MiB queue ahead of the client."""
    c = socket.create_connection(server.address)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.sendall(b"GET /big?key=stalled HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(1.0)
    first = progress(server)["stalled"]
    time.sleep(0.5)
    second = progress(server)["stalled"]
    c.close()
    assert first == second, "the app kept sending to a client that reads nothing"
    assert 0 < first < 16 * 1024 * 1024
    still_serves(server)


def test_receive_and_send_let_go_on_another_thread_are_freed_without_an_error(server):
    """A framework's thread pool may hold a request's receive and send last (Django's
    sync_to_async): the request's state goes back to the loop and is freed there, with no
    "unsendable ... dropped on another thread" error; a call from another thread is
    refused with a RuntimeError instead of touching the loop's state."""
    for _ in range(5):
        response = get(server, "/drop-elsewhere")
        assert (response.status, response.body) == (200, b"dropped elsewhere")
    time.sleep(1.0)  # every thread has let go by now
    still_serves(server)  # and the loop has freed what came back (its next drain)
    log = server.log()
    assert "another thread" not in log and "unsendable" not in log, log[-2000:]
    response = get(server, "/call-elsewhere")
    assert response.status == 200
    assert response.body.startswith(b"ASGI receive() and send() must be called on the event loop's thread"), response.body
    still_serves(server)


def test_receive_gives_http_disconnect_and_send_then_raises_client_disconnected(server):
    c = socket.create_connection(server.address)
    c.sendall(b"GET /wait-disconnect?key=gone HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)
    c.close()
    deadline = time.monotonic() + 5
    while "gone-send" not in progress(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = progress(server)
    assert seen["gone"] == "http.disconnect"
    assert seen["gone-send"] == "ferrule.errors.ClientDisconnected"
    # Not an app error: nothing logged for it at the default level.
    assert "wait-disconnect" not in server.log()


def test_a_client_that_leaves_mid_stream_stops_the_app_with_client_disconnected(server):
    c = socket.create_connection(server.address)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.sendall(b"GET /big?key=left HTTP/1.1\r\nHost: t\r\n\r\n")
    c.recv(65536)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    deadline = time.monotonic() + 45
    while "left-error" not in progress(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert progress(server)["left-error"] == "ClientDisconnected"
    assert "Error handling request GET /big?key=left" not in server.log()
    still_serves(server)


@pytest.mark.parametrize(
    ("target", "status", "logged"),
    [
        ("/raise-before", 500, "boom before the response"),
        ("/no-response", 500, "returned without sending a response"),
        ("/bad-header", 500, "invalid character"),
        ("/not-bytes", 500, "'body' must be bytes"),
        ("/raise-after", None, "boom after the response started"),
        ("/incomplete", None, "returned before the response was complete"),
    ],
)
def test_app_failures_cost_one_request_and_are_logged_once(server, target, status, logged):
    with Conn(server.address) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        if status is not None:
            response = c.read_response()
            assert response.status == status
            assert response.body == b"500 Internal Server Error: the request could not be completed\n"
            # The request was fine: the connection carries the next one.
            assert c.request("GET", "/").status == 200
        else:
            raw = c.read_to_eof()
            assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"partial" in raw and not raw.endswith(b"0\r\n\r\n")
    line = server.wait_for_log(rf"Error handling request GET {target}")
    assert line
    server.wait_for_log(logged)
    assert server.log().count(f"Error handling request GET {target}") == 1
    still_serves(server)


def test_an_app_that_raises_after_a_complete_response_delivers_it_whole(server):
    # ASGI's counterpart of a WSGI close() that raises after the body: the response is
    # complete (last chunk sent), the error is logged once, and the connection is kept.
    with Conn(server.address) as c:
        c.send(b"GET /raise-after-complete HTTP/1.1\r\nHost: t\r\n\r\n")
        response = c.read_response()
        assert response.status == 200 and response.chunked
        assert response.body == b"".join(COMPLETE_CHUNKS)
        assert c.request("GET", "/").status == 200
    server.wait_for_log("boom after the response was complete")
    assert server.log().count("Error handling request GET /raise-after-complete") == 1
    still_serves(server)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_each_event_loop_serves(ferrule_server, loop):
    pytest.importorskip(loop)
    running = ferrule_server("--loop", loop, "apps.asgi:app")
    still_serves(running)
    running.wait_for_log(f"serving with an ASGI app on {loop}, pid")


def test_request_timeout_answers_504_and_cancels_the_task(ferrule_server):
    running = ferrule_server("--request-timeout", "0.5", "apps.asgi:app")
    started = time.monotonic()
    with Conn(running.address) as c:
        response = c.request("GET", "/sleep?s=30&key=slow")
        elapsed = time.monotonic() - started
    assert response.status == 504
    assert elapsed < 3
    assert json.loads(get(running, "/progress").body)["slow"] == "cancelled"
    # Once the head is out, the timeout cuts the response instead.
    with Conn(running.address) as c:
        c.send(b"GET /sleep?s=30&key=streamed&stream=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = c.read_to_eof()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and b"started" in raw
    assert json.loads(get(running, "/progress").body)["streamed"] == "cancelled"
    running.wait_for_log("ran past request_timeout")
    still_serves(running)


def test_pathsend_and_zerocopysend_send_files(server, tmp_path):
    data = bytes(range(256)) * 40
    target = tmp_path / "file.bin"
    target.write_bytes(data)
    whole = get(server, f"/pathsend?path={target}")
    assert (whole.status, whole.header("content-length"), whole.body) == (200, str(len(data)), data)
    parts = get(server, f"/zerocopy?path={target}")
    assert parts.chunked
    assert parts.body == data[10:110] + data[1000:1005] + b"|tail"
    missing = get(server, f"/pathsend?path={tmp_path}/missing")
    assert missing.status == 500
    still_serves(server)


def test_trailers_follow_the_last_chunk(server):
    with Conn(server.address) as c:
        c.send(b"GET /trailers HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        raw = c.read_to_eof()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"trailer: x-checksum, x-count" in head
    assert body == b"9\r\npart one;\r\n8\r\npart two\r\n0\r\nx-checksum: abc123\r\nx-count: 2\r\n\r\n"
    # HTTP/1.0 has no chunks, hence no trailers: the body alone.
    with Conn(server.address) as c:
        c.send(b"GET /trailers HTTP/1.0\r\n\r\n")
        assert c.read_response().body == b"part one;part two"


def test_a_forbidden_trailer_cuts_the_response(server):
    with Conn(server.address) as c:
        c.send(b"GET /bad-trailer HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = c.read_to_eof()
    assert raw.startswith(b"HTTP/1.1 200 OK") and not raw.endswith(b"\r\n\r\n")
    server.wait_for_log("not allowed in a trailer section")
    still_serves(server)


def test_early_hints_come_as_a_103_before_the_response(server):
    with Conn(server.address) as c:
        c.send(b"GET /early HTTP/1.1\r\nHost: t\r\n\r\n")
        hints = c.read_response()
        final = c.read_response()
    assert hints.status == 103
    assert hints.header_all("link") == ["</style.css>; rel=preload; as=style",
                                        "</app.js>; rel=preload; as=script"]
    assert (final.status, final.body) == (200, b"with hints")
    with Conn(server.address) as c:
        response = c.request("GET", "/early", version="HTTP/1.0")
    assert (response.status, response.body) == (200, b"with hints")


def test_a_loop_blocked_past_request_timeout_gets_the_worker_replaced(ferrule_server):
    import threading

    running = ferrule_server("--request-timeout", "0.3", "--graceful-timeout", "2", "apps.asgi:app")
    first = int(get(running, "/pid").body)
    blocked = threading.Thread(target=lambda: socket.create_connection(running.address).sendall(
        b"GET /block?s=4 HTTP/1.1\r\nHost: t\r\n\r\n"), daemon=True)
    blocked.start()
    running.wait_for_log(r"asks to be replaced: a request did not stop after request_timeout")
    deadline = time.monotonic() + 10
    pid = first
    while pid == first and time.monotonic() < deadline:
        try:
            pid = int(get(running, "/pid").body)
        except OSError:
            time.sleep(0.05)
    assert pid != first


def test_a_receive_left_waiting_by_a_spawned_task_gets_http_disconnect(server):
    assert get(server, "/orphan-receive?key=orphan").body == b"spawned"
    deadline = time.monotonic() + 5
    while "orphan" not in progress(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert progress(server)["orphan"] == "http.disconnect"
