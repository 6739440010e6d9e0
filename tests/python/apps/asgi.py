"""A raw ASGI 3 app for the ASGI e2e tests (no framework between the test and the server).

Routes: `/scope` (the scope as JSON), `/echo` (the body back, with how it came), `/stream`
(a chunked response), `/big` (a response far larger than the server's queue, to prove
backpressure), `/progress` (what the slow routes have recorded), `/wait-disconnect` (waits
for `http.disconnect`, then tries to send), the failure routes (`/raise-before`,
`/raise-after`, `/raise-after-complete`, `/no-response`, `/incomplete`, `/bad-header`, `/not-bytes`) and `/state`
(the lifespan state).

Lifespan follows `ASGI_LIFESPAN`: `ok` (default: startup puts `greeting` in the state;
shutdown appends a line to `ASGI_SHUTDOWN_FILE` when set), `fail` (startup.failed),
`raise` (raises before answering), `unsupported` (raises on the scope type, like Django).
"""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import parse_qs

# The body `/raise-after-complete` sends in full before it raises.
COMPLETE_CHUNKS = [b"first chunk\n", b"second chunk\n" * 100, b"last\n"]

#: What slow routes have done so far, by key; read with `/progress`.
progress: dict[str, object] = {}


async def lifespan(scope, receive, send):
    mode = os.environ.get("ASGI_LIFESPAN", "ok")
    if mode == "unsupported":
        raise ValueError("this app only handles http")
    message = await receive()
    assert message["type"] == "lifespan.startup"
    if mode == "raise":
        raise RuntimeError("lifespan startup exploded")
    if mode == "fail":
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    scope["state"]["greeting"] = "hello from lifespan"
    scope["state"]["pid"] = os.getpid()
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    target = os.environ.get("ASGI_SHUTDOWN_FILE")
    if target:
        with open(target, "a") as file:
            file.write(f"shutdown {os.getpid()}\n")
    await send({"type": "lifespan.shutdown.complete"})


async def read_body(receive) -> tuple[bytes, list[bool]]:
    """The whole body, and the `more_body` flag of each message."""
    body, flags = b"", []
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message["body"]
        flags.append(message["more_body"])
        if not message["more_body"]:
            return body, flags


async def respond(send, status: int, body: bytes, headers=((b"content-type", b"text/plain"),)):
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


def jsonable(value):
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


async def websocket(scope, receive, send):
    """WebSocket routes: `/ws/echo` (echoes until the client closes; records the close code
    under `echo-<query>`), `/ws/scope`, `/ws/refuse` (close before accept: 403),
    `/ws/deny` (a denial response), `/ws/protocol` (accepts the last offered subprotocol,
    with a header), `/ws/close` (the server closes with 4001), `/ws/raise-before`,
    `/ws/raise-after`, `/ws/late-send` (sends after the client closed), `/ws/flood-out`
    (sends 10 000 messages)."""
    path = scope["path"]
    key = scope["query_string"].decode() or path
    message = await receive()
    assert message == {"type": "websocket.connect"}, message
    if path == "/ws/refuse":
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/ws/deny":
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Token")]})
        await send({"type": "websocket.http.response.body", "body": b"no token, ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"no socket"})
        return
    if path == "/ws/raise-before":
        raise RuntimeError("boom before the accept")
    if path == "/ws/protocol":
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[-1] if offered else None,
                    "headers": [(b"x-chosen", b"yes")]})
        await send({"type": "websocket.send", "text": ",".join(offered)})
        await receive()
        return
    await send({"type": "websocket.accept"})
    if path == "/ws/scope":
        await send({"type": "websocket.send", "text": json.dumps(jsonable(
            {k: v for k, v in scope.items() if k not in ("state", "extensions")}))})
    elif path == "/ws/close":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye from the app"})
        progress[key] = (await receive())["code"]
    elif path == "/ws/raise-after":
        await receive()
        raise RuntimeError("boom after the accept")
    elif path == "/ws/late-send":
        message = await receive()
        progress[key] = message["type"]
        try:
            await send({"type": "websocket.send", "text": "too late"})
            progress[key + "-send"] = "sent"
        except OSError as err:
            progress[key + "-send"] = type(err).__name__
    elif path == "/ws/slow-reader":
        for _ in range(2):
            await asyncio.sleep(1.0)
            message = await receive()
            await send({"type": "websocket.send", "text": message["text"]})
    elif path == "/ws/flood-out":
        for i in range(10_000):
            await send({"type": "websocket.send", "text": f"m{i}"})
        await send({"type": "websocket.close"})
    else:  # /ws/echo
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                progress[key] = message["code"]
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    assert scope["type"] == "http"
    # As Starlette does: `path` includes `root_path`; routes are below it.
    path = scope["path"]
    if scope["root_path"] and path.startswith(scope["root_path"]):
        path = path[len(scope["root_path"]):]
    query = parse_qs(scope["query_string"].decode())

    def arg(name: str, default: str) -> str:
        return query.get(name, [default])[0]

    if path.endswith("/scope"):
        scope = dict(scope)
        scope["state"] = sorted(scope.get("state", {}))
        await respond(send, 200, json.dumps(jsonable(scope)).encode(), [(b"content-type", b"application/json")])
    elif path == "/echo":
        body, flags = await read_body(receive)
        await respond(send, 200, body, [(b"x-messages", str(len(flags)).encode()),
                                        (b"x-more", ",".join(map(str, flags)).encode())])
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(int(arg("n", "3"))):
            await send({"type": "http.response.body", "body": f"part{i};".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        key = arg("key", "big")
        progress[key] = 0
        chunk = b"x" * 65536
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(1024):  # 64 MiB
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                progress[key] += len(chunk)
            await send({"type": "http.response.body", "body": b""})
        except OSError as err:
            progress[key + "-error"] = type(err).__name__
            raise
    elif path == "/pathsend":
        target = arg("path", "")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": target})
    elif path == "/zerocopy":
        with open(arg("path", ""), "rb") as file:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.zerocopysend", "file": file, "offset": 10,
                        "count": 100, "more_body": True})
            file.seek(1000)
            await send({"type": "http.response.zerocopysend", "file": file, "count": 5,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"|tail"})
    elif path == "/progress":
        await respond(send, 200, json.dumps(progress).encode())
    elif path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"trailer", b"x-checksum, x-count")]})
        await send({"type": "http.response.body", "body": b"part one;", "more_body": True})
        await send({"type": "http.response.body", "body": b"part two"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc123")],
                    "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-count", b"2")]})
    elif path == "/bad-trailer":
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"x"})
        await send({"type": "http.response.trailers", "headers": [(b"content-length", b"1")]})
    elif path == "/early":
        await send({"type": "http.response.early_hint",
                    "links": [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]})
        await respond(send, 200, b"with hints")
    elif path == "/block":
        import time
        time.sleep(float(arg("s", "3")))  # a blocking call in async code: the loop stops
        await respond(send, 200, b"unblocked")
    elif path == "/orphan-receive":
        # A task that outlives the app call, waiting in receive().
        key = arg("key", "orphan")

        async def waiter():
            progress[key] = (await receive())["type"]

        await read_body(receive)
        progress[key + "-task"] = asyncio.ensure_future(waiter()) and "spawned"
        await respond(send, 200, b"spawned")
    elif path == "/pid":
        await respond(send, 200, str(os.getpid()).encode())
    elif path == "/drop-elsewhere":
        # receive and send kept by another thread, which lets go of them after the
        # response (as a framework's thread pool may): the last references to the
        # request's objects go on that thread.
        import gc
        import threading
        kept = [receive, send]
        ready = threading.Event()

        def let_go():
            ready.wait(5)
            threading.Event().wait(0.2)  # the request's task has finished by now
            kept.clear()
            gc.collect()

        threading.Thread(target=let_go, daemon=True).start()
        del receive, send
        await respond(kept[1], 200, b"dropped elsewhere")
        ready.set()
    elif path == "/call-elsewhere":
        # receive() called on another thread: refused there with a RuntimeError.
        import threading
        got = []

        def call():
            try:
                receive()
                got.append(b"accepted")
            except RuntimeError as err:
                got.append(str(err).encode())

        caller = threading.Thread(target=call)
        caller.start()
        caller.join()
        await respond(send, 200, got[0])
    elif path == "/slow-read":
        # Reads the body with a pause after each message; records how it ended.
        key, delay, total = arg("key", "slow-read"), float(arg("delay", "0")), 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                progress[key] = "http.disconnect"
                return
            total += len(message["body"])
            if delay:
                await asyncio.sleep(delay)
            if not message["more_body"]:
                break
        progress[key] = total
        await respond(send, 200, str(total).encode())
    elif path == "/wait-disconnect":
        key = arg("key", "wait")
        await read_body(receive)
        message = await receive()
        progress[key] = message["type"]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"too late"})
            progress[key + "-send"] = "sent"
        except OSError as err:
            progress[key + "-send"] = f"{type(err).__module__}.{type(err).__name__}"
            raise
    elif path == "/raise-before":
        raise RuntimeError("boom before the response")
    elif path == "/raise-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after the response started")
    elif path == "/raise-after-complete":
        # The whole body, in several messages, then an exception: WSGI's close() raising
        # after a complete body, in ASGI's terms.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for chunk in COMPLETE_CHUNKS[:-1]:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": COMPLETE_CHUNKS[-1], "more_body": False})
        raise RuntimeError("boom after the response was complete")
    elif path == "/no-response":
        return
    elif path == "/incomplete":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    elif path == "/bad-header":
        await respond(send, 200, b"never", [(b"x-evil", b"a\r\nset-cookie: x=1")])
    elif path == "/not-bytes":
        await respond(send, 200, "a str body")  # type: ignore[arg-type]
    elif path == "/state":
        await respond(send, 200, json.dumps(scope.get("state", {})).encode())
    elif path == "/sleep":
        key = arg("key", "sleep")
        try:
            if arg("stream", "") == "1":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"started", "more_body": True})
            await asyncio.sleep(float(arg("s", "1")))
        except asyncio.CancelledError:
            progress[key] = "cancelled"
            raise
        await respond(send, 200, b"slept")
    else:
        await respond(send, 200, b"hello, asgi")
