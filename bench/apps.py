"""Benchmark workloads: plain WSGI and ASGI apps, the same callable for every server under test.

Each workload is a `Workload` in `WORKLOADS`, keyed by the name `bench/run.py --workload`
takes. A server is pointed at `apps:<attr>` (with `bench/` on its Python path), and
`run.py` checks one response against `expect_*` before it measures anything, so a server
that answers wrongly is reported as failed instead of being timed.

To add a workload: write the app here, add a `Workload` to `WORKLOADS`.
The plain apps use the stdlib only; `flask_app` and `django_app` import Flask and Django
lazily (only a server pointed at them imports them).
"""

from __future__ import annotations

import json as _json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

HELLO_BODY = b"Hello, world!"
HELLO_HEADERS = [
    ("Content-Type", "text/plain"),
    ("Content-Length", str(len(HELLO_BODY))),
]


def hello(environ, start_response):
    """The smallest useful response: fixed 13-byte body, known length, one chunk."""
    start_response("200 OK", list(HELLO_HEADERS))
    return [HELLO_BODY]


JSON_DOC = {"message": "Hello, world!", "id": 42, "tags": ["a", "b", "c"],
            "ok": True, "score": 3.25}


def json_app(environ, start_response):
    """A small `json.dumps` per request (the TechEmpower-style JSON test)."""
    body = _json.dumps(JSON_DOC).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


JSON_BODY = _json.dumps(JSON_DOC).encode()

BIG_CHUNK = b"x" * (64 * 1024)
BIG_CHUNKS = 16                      # 16 x 64 KiB = 1 MiB


def big(environ, start_response):
    """1 MiB as 16 iterated 64 KiB chunks, Content-Length known."""
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(BIG_CHUNK) * BIG_CHUNKS))])
    return [BIG_CHUNK] * BIG_CHUNKS


def _read_all(environ, piece: int) -> int:
    """Reads the request body in `piece`-byte reads; returns how many bytes there were."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    inp = environ["wsgi.input"]
    total = 0
    while total < length:
        chunk = inp.read(min(piece, length - total))
        if not chunk:
            break
        total += len(chunk)
    return total


def echo(environ, start_response):
    """POST of 64 KiB, read whole (one read), its length returned as text."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(length) if length else b""
    body = str(len(data)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def upload(environ, start_response):
    """A big streamed upload read in 64 KiB pieces; the byte count returned as text."""
    body = str(_read_all(environ, 64 * 1024)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


FILE_SIZE = 10 * 1024 * 1024
FILE_PATH = os.path.join(tempfile.gettempdir(), f"ferrule-bench-{FILE_SIZE}.bin")


def ensure_file() -> str:
    """The 10 MiB file `file` serves (made once, atomically, so workers can race)."""
    if not (os.path.exists(FILE_PATH) and os.path.getsize(FILE_PATH) == FILE_SIZE):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(FILE_PATH))
        with os.fdopen(fd, "wb") as f:
            block = bytes(range(256)) * 4096          # 1 MiB
            for _ in range(FILE_SIZE // len(block)):
                f.write(block)
        os.replace(tmp, FILE_PATH)
    return FILE_PATH


def file_app(environ, start_response):
    """10 MiB from disk (page cache) through wsgi.file_wrapper (sendfile where supported)."""
    f = open(ensure_file(), "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(FILE_SIZE))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 64 * 1024)
    return iter(lambda: f.read(64 * 1024), b"")   # no file_wrapper: plain iteration


# --- TLS: a self-signed certificate for the https rows -----------------------------------

TLS_DIR = os.path.join(tempfile.gettempdir(), "ferrule-bench-tls")


def ensure_cert() -> tuple[str, str]:
    """(certfile, keyfile): a P-256 self-signed certificate for localhost/127.0.0.1, made
    once with openssl (no key is committed). wrk and h2load do not verify it."""
    cert, key = os.path.join(TLS_DIR, "cert.pem"), os.path.join(TLS_DIR, "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        os.makedirs(TLS_DIR, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=TLS_DIR, prefix=".tmp-")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", os.path.join(tmp, "key.pem"), "-out",
                        os.path.join(tmp, "cert.pem")], check=True, capture_output=True)
        os.replace(os.path.join(tmp, "key.pem"), key)
        os.replace(os.path.join(tmp, "cert.pem"), cert)
    return cert, key


# --- static files: one folder served by each server's own static mount ------------------

STATIC_DIR = os.path.join(tempfile.gettempdir(), "ferrule-bench-static")
STATIC_SMALL = b"s" * 1024                     # static-small: 1 KiB
STATIC_BIG_SIZE = 10 * 1024 * 1024             # static-big: 10 MiB


def ensure_static_dir() -> str:
    """The folder the static rows serve under `/static/`: `small.txt` (1 KiB) and `big.bin`
    (10 MiB), made once, each atomically, so workers can race."""
    os.makedirs(STATIC_DIR, exist_ok=True)
    wanted = {"small.txt": (len(STATIC_SMALL), lambda f: f.write(STATIC_SMALL)),
              "big.bin": (STATIC_BIG_SIZE,
                          lambda f: [f.write(bytes(range(256)) * 4096) for _ in range(10)])}
    for name, (size, write) in wanted.items():
        path = os.path.join(STATIC_DIR, name)
        if not (os.path.exists(path) and os.path.getsize(path) == size):
            fd, tmp = tempfile.mkstemp(dir=STATIC_DIR, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                write(f)
            # mkstemp makes it 0600: nginx's workers (another user) must read it too
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    return STATIC_DIR


def static_fallback(environ, start_response):
    """The app behind a static mount: it never sees the static rows' requests (a 404 here
    fails the answer check)."""
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


_WHITENOISE = None


def whitenoise_app(environ, start_response):
    """whitenoise in front of `static_fallback`, serving the same folder at `/static/`
    (how Django and Flask apps serve assets without a proxy); built on first use."""
    global _WHITENOISE
    if _WHITENOISE is None:
        from whitenoise import WhiteNoise

        _WHITENOISE = WhiteNoise(static_fallback, root=ensure_static_dir(), prefix="static/")
    return _WHITENOISE(environ, start_response)


def sleep_app(environ, start_response):
    """10 ms of time.sleep (the GIL released), like a wait on a database."""
    time.sleep(0.010)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


_SOAK_ROUTES = {"/": hello, "/echo": echo, "/big": big, "/sleep": sleep_app}


def soak_app(environ, start_response):
    """The soak's one app (`bench/soak.py`): hello at `/`, echo at `/echo`, big at `/big`,
    sleep at `/sleep`, the same apps as their rows; anything else is a 404."""
    app = _SOAK_ROUTES.get(environ.get("PATH_INFO", ""))
    if app is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                          ("Content-Length", "9")])
        return [b"not found"]
    return app(environ, start_response)


# --- frameworks: a small real view each: routing, a JSON request body, a template -----

ITEM_REQUEST = {"name": "widget", "qty": 3, "tags": ["red", "small", "sale"]}
ITEM_REQUEST_BODY = _json.dumps(ITEM_REQUEST).encode()
ITEM_PATH = "/shop/items/42"
ITEM_TEMPLATE = """<!doctype html>
<html><head><title>Item {{ item_id }}</title></head>
<body><h1>{{ item.name }} (#{{ item_id }})</h1>
<p>Quantity: {{ item.qty }}, total {{ total }}</p>
<ul>{% for t in item.tags %}<li>{{ t }}</li>{% endfor %}</ul>
</body></html>"""


def _expected_item_html() -> bytes:
    tags = "".join(f"<li>{t}</li>" for t in ITEM_REQUEST["tags"])
    return ("<!doctype html>\n<html><head><title>Item 42</title></head>\n"
            f"<body><h1>widget (#42)</h1>\n<p>Quantity: 3, total 29.85</p>\n"
            f"<ul>{tags}</ul>\n</body></html>").encode()


ITEM_HTML = _expected_item_html()


def _make_flask():
    from flask import Flask, abort, render_template, request

    app = Flask("bench_flask")
    template = app.jinja_env.from_string(ITEM_TEMPLATE)    # compiled once, as a file would be

    @app.get("/")
    def index():
        return "index"

    @app.get("/shop/items")
    def items():
        return {"items": []}

    @app.post("/shop/items/<int:item_id>")
    def item(item_id):
        data = request.get_json()
        if not isinstance(data, dict) or "name" not in data:
            abort(400)
        return render_template(template, item_id=item_id, item=data,
                                      total=f"{data['qty'] * 9.95:.2f}")

    @app.get("/shop/users/<name>")
    def user(name):
        return {"user": name}

    return app


def _make_django():
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="bench-only", ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__, USE_TZ=True, MIDDLEWARE=[
                "django.middleware.common.CommonMiddleware",
            ],
            INSTALLED_APPS=[],
            TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                        "DIRS": [], "APP_DIRS": False}],
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application
    return get_wsgi_application()


def _django_views():
    from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
    from django.template import engines

    template = engines["django"].from_string(ITEM_TEMPLATE)

    def index(request):
        return HttpResponse("index")

    def items(request):
        return JsonResponse({"items": []})

    def item(request, item_id):
        if request.method != "POST":
            return HttpResponseBadRequest()
        try:
            data = _json.loads(request.body)
        except ValueError:
            return HttpResponseBadRequest()
        html = template.render({"item_id": item_id, "item": data,
                                "total": f"{data['qty'] * 9.95:.2f}"}, request)
        return HttpResponse(html, content_type="text/html; charset=utf-8")

    def user(request, name):
        return JsonResponse({"user": name})

    return index, items, item, user


def __getattr__(name):
    # urlpatterns for Django (ROOT_URLCONF is this module), built on first use.
    if name == "urlpatterns":
        from django.urls import path
        index, items, item, user = _django_views()
        pats = [path("", index), path("shop/items", items),
                path("shop/items/<int:item_id>", item), path("shop/users/<str:name>", user)]
        globals()["urlpatterns"] = pats
        return pats
    raise AttributeError(name)


class _Lazy:
    """A WSGI app built on the first request's import of the framework (not at import of
    this module, so servers that never serve it need neither Flask nor Django)."""

    def __init__(self, factory):
        self._factory = factory
        self._app = None

    def __call__(self, environ, start_response):
        if self._app is None:
            self._app = self._factory()
        return self._app(environ, start_response)


def flask_app(environ, start_response):
    return _FLASK(environ, start_response)


def django_app(environ, start_response):
    return _DJANGO(environ, start_response)


_FLASK = _Lazy(_make_flask)
_DJANGO = _Lazy(_make_django)


# --- ASGI (issue #16): the same answers as hello, json and echo; a WebSocket echo; FastAPI ---


async def _lifespan(receive, send) -> None:
    """Answers lifespan so that no server logs it as unsupported."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


_HELLO_ASGI_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]


async def asgi_hello(scope, receive, send):
    """hello as ASGI: two sends, fixed 13-byte body."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    await send({"type": "http.response.start", "status": 200, "headers": _HELLO_ASGI_HEADERS})
    await send({"type": "http.response.body", "body": HELLO_BODY})


async def asgi_json(scope, receive, send):
    """json as ASGI: a json.dumps per request."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    body = _json.dumps(JSON_DOC).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def asgi_echo(scope, receive, send):
    """echo as ASGI: the body read whole through receive(), its length returned."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    total = 0
    while True:
        message = await receive()
        total += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(total).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


WS_ECHO_HTTP_BODY = b"ws-echo"


async def ws_echo(scope, receive, send):
    """A WebSocket echo (every message sent back as it came); a plain GET gets `ws-echo`
    (the readiness check)."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"7")]})
        await send({"type": "http.response.body", "body": WS_ECHO_HTTP_BODY})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def _make_fastapi():
    from typing import List  # noqa: UP035 (pydantic evaluates it at run time, Python 3.9 too)

    from fastapi import FastAPI
    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        qty: int
        tags: List[str]  # noqa: UP006 (evaluated at run time, Python 3.9 too)

    api = FastAPI()

    @api.get("/shop/items")
    async def items():
        return []

    @api.get("/shop/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    async def update(item_id, body):
        return {"id": item_id, "name": body.name, "qty": body.qty, "tags": body.tags,
                "total": body.qty * 10}

    # Real types, not this module's string annotations: `Item` is local to this function.
    update.__annotations__ = {"item_id": int, "body": Item}
    api.post("/shop/items/{item_id}")(update)

    @api.delete("/shop/items/{item_id}")
    async def delete(item_id: int):
        return {"deleted": item_id}

    # `fastapi-sync`: a plain `def` endpoint, which FastAPI runs in anyio's worker threads,
    # sharing the GIL with the event loop's thread.
    @api.get("/burn")
    def burn():
        return {"total": _burn()}

    return api


#: `fastapi-sync`'s work: about 0.75 ms of Python on this machine, the same every request.
BURN_N = 20_000


def _burn() -> int:
    return sum(i * i for i in range(BURN_N))


class _LazyAsgi:
    """Builds its ASGI app on first use, so that servers under test that never serve it do
    not import the framework. The same wrapper for every server."""

    def __init__(self, make):
        self._make, self._app = make, None

    async def __call__(self, scope, receive, send):
        if self._app is None:
            self._app = self._make()
        await self._app(scope, receive, send)


fastapi_app = _LazyAsgi(_make_fastapi)
FASTAPI_BODY = _json.dumps({"id": 42, "name": ITEM_REQUEST["name"], "qty": ITEM_REQUEST["qty"],
                            "tags": ITEM_REQUEST["tags"], "total": 30},
                           separators=(",", ":")).encode()
FASTAPI_SYNC_BODY = _json.dumps({"total": _burn()}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Workload:
    """One thing to measure: which app, which request, and what a right answer looks like."""

    name: str
    attr: str                      # attribute in this module: the server's target is "apps:<attr>"
    description: str
    path: str = "/"                # request path wrk hits
    method: str = "GET"
    expect_status: int = 200
    expect_body: bytes | None = None
    expect_headers: dict[str, str] = field(default_factory=dict)   # lower-case name -> value
    body: bytes | None = None      # request body (POST), sent by a wrk Lua script
    content_type: str | None = None
    threads: int | None = None     # Python threads per server for this row (None: --threads)
    kind: str = "wrk"              # "wrk"; "upload" (Python client); "idle" (held conns + wrk);
                                   # "ws" (WebSocket round trips, ws_client.py)
    nginx: bool = False            # nginx has a canned answer for it (ceiling reference)
    static: bool = False           # a file of ensure_static_dir(), from each server's static mount
    interface: str = "wsgi"        # "wsgi" or "asgi": which servers can run it
    tls: bool = False              # served over https (the servers' own TLS)
    http2: bool = False            # h2load over cleartext HTTP/2 (prior knowledge)
    wrk_headers: tuple[str, ...] = ()   # extra request headers for wrk ("Name: value")
    imports: tuple[str, ...] = ()  # modules the app needs in the server's venv (frameworks)

    @property
    def target(self) -> str:
        return f"apps:{self.attr}"


WORKLOADS: dict[str, Workload] = {
    "hello": Workload(
        name="hello",
        attr="hello",
        description='GET / -> 200, text/plain, Content-Length 13, body [b"Hello, world!"]',
        expect_body=HELLO_BODY,
        expect_headers={"content-type": "text/plain", "content-length": "13"},
        nginx=True,
    ),
    "h2-hello": Workload(
        name="h2-hello", attr="hello",
        description="hello over cleartext HTTP/2 (prior knowledge): h2load -c 16 -m 16, "
                    "16 streams in flight per connection (Granian: --http 2)",
        expect_body=HELLO_BODY, kind="h2load", http2=True,
    ),
    "tls-hello": Workload(
        name="tls-hello", attr="hello",
        description="hello over https (TLS 1.3, P-256 certificate), keep-alive: wrk",
        expect_body=HELLO_BODY, tls=True,
    ),
    "tls-handshake": Workload(
        name="tls-handshake", attr="hello",
        description="hello over https with a new connection (a full TLS handshake) per "
                    "request: wrk with Connection: close",
        expect_body=HELLO_BODY, tls=True, wrk_headers=("Connection: close",),
    ),
    "json": Workload(
        name="json", attr="json_app",
        description=f"GET / -> 200 application/json, json.dumps of a {len(JSON_BODY)}-byte "
                    "document per request",
        expect_body=JSON_BODY, expect_headers={"content-type": "application/json"},
    ),
    "big": Workload(
        name="big", attr="big",
        description="GET / -> 1 MiB body as 16 x 64 KiB chunks, Content-Length known",
        expect_body=BIG_CHUNK * BIG_CHUNKS,
    ),
    "echo": Workload(
        name="echo", attr="echo",
        description="POST / with a 64 KiB body, read whole by the app, length returned",
        method="POST", body=b"e" * 65536, content_type="application/octet-stream",
        expect_body=b"65536",
    ),
    "upload": Workload(
        name="upload", attr="upload",
        description="POST / with a 100 MB body, streamed by the client and read by the app "
                    "in 64 KiB pieces; bounded number of uploads",
        method="POST", body=b"u" * 4096, content_type="application/octet-stream",
        expect_body=b"4096", kind="upload",
    ),
    "file": Workload(
        name="file", attr="file_app",
        description="GET / -> a 10 MiB file through wsgi.file_wrapper",
        expect_headers={"content-length": str(FILE_SIZE)},
    ),
    "static-small": Workload(
        name="static-small", attr="static_fallback",
        description="GET /static/small.txt -> a 1 KiB file from the server's static mount "
                    "(nginx: location alias; Granian: --static-path-mount; gunicorn gthread: "
                    "whitenoise), no Python for Ferrule",
        path="/static/small.txt", expect_body=STATIC_SMALL, static=True,
    ),
    "static-big": Workload(
        name="static-big", attr="static_fallback",
        description="GET /static/big.bin -> a 10 MiB file from the server's static mount",
        # the body is compared whole (suite.check_answer); no Content-Length is required:
        # Granian streams its static files without one
        path="/static/big.bin", static=True,
    ),
    "sleep": Workload(
        name="sleep", attr="sleep_app",
        description="GET / -> time.sleep(0.010) then 2 bytes; 8 Python threads per server "
                    "(ideal: 800 req/s per worker)",
        expect_body=b"ok", threads=8,
    ),
    "flask": Workload(
        name="flask", attr="flask_app",
        description=f"Flask: POST {ITEM_PATH} with a JSON body, routed among 4 routes, "
                    "JSON parsed, a Jinja template rendered",
        path=ITEM_PATH, method="POST", body=ITEM_REQUEST_BODY,
        content_type="application/json", expect_body=ITEM_HTML, imports=("flask",),
    ),
    "django": Workload(
        name="django", attr="django_app",
        description=f"Django: POST {ITEM_PATH} with a JSON body, routed among 4 URL "
                    "patterns, JSON parsed, a Django template rendered (CommonMiddleware)",
        path=ITEM_PATH, method="POST", body=ITEM_REQUEST_BODY,
        content_type="application/json", expect_body=ITEM_HTML, imports=("django",),
    ),
    "idle": Workload(
        name="idle", attr="hello",
        description="10 000 keep-alive connections held open (each made one GET) while "
                    "`hello` runs on 64 others; RSS and hello latency",
        expect_body=HELLO_BODY, kind="idle",
    ),
    "asgi-hello": Workload(
        name="asgi-hello", attr="asgi_hello", interface="asgi",
        description="ASGI: GET / -> 200, text/plain, Content-Length 13 (two sends)",
        expect_body=HELLO_BODY, expect_headers={"content-type": "text/plain",
                                                "content-length": "13"},
    ),
    "asgi-json": Workload(
        name="asgi-json", attr="asgi_json", interface="asgi",
        description="ASGI: GET / -> 200 application/json, json.dumps per request",
        expect_body=JSON_BODY, expect_headers={"content-type": "application/json"},
    ),
    "asgi-echo": Workload(
        name="asgi-echo", attr="asgi_echo", interface="asgi",
        description="ASGI: POST / with a 64 KiB body, read through receive(), length returned",
        method="POST", body=b"e" * 65536, content_type="application/octet-stream",
        expect_body=b"65536",
    ),
    "ws-echo": Workload(
        name="ws-echo", attr="ws_echo", interface="asgi", kind="ws",
        description="ASGI WebSocket: 64 connections, each sends a 32-byte text message and "
                    "waits for its echo, again and again (ws_client.py); round trips/s",
        expect_body=WS_ECHO_HTTP_BODY,
    ),
    "ws-idle": Workload(
        name="ws-idle", attr="ws_echo", interface="asgi", kind="idle",
        description="ASGI: 10 000 WebSockets held open idle (each made the handshake) while "
                    "GET / runs on 64 other connections; RSS and latency",
        expect_body=WS_ECHO_HTTP_BODY,
    ),
    "fastapi": Workload(
        name="fastapi", attr="fastapi_app", interface="asgi",
        description=f"FastAPI: POST {ITEM_PATH} with a JSON body, routed among 4 routes, "
                    "validated into a pydantic model, JSON answer",
        path=ITEM_PATH, method="POST", body=ITEM_REQUEST_BODY,
        content_type="application/json", expect_body=FASTAPI_BODY,
        imports=("fastapi", "pydantic"),
    ),
    "fastapi-sync": Workload(
        name="fastapi-sync", attr="fastapi_app", interface="asgi",
        description="FastAPI: GET /burn -> a `def` endpoint (run in anyio's worker threads, "
                    "which share the GIL with the loop's) computing ~0.75 ms of Python, JSON "
                    "answer",
        path="/burn", expect_body=FASTAPI_SYNC_BODY, imports=("fastapi", "pydantic"),
    ),
}
