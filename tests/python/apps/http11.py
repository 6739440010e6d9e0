"""The app behind tests/python/e2e/test_http11_*.py: one route per behaviour under test, each
response a function of the request, so a test can tell which request an answer belongs to.

Wrapped in `wsgiref.validate.validator`: a PEP 3333 violation by the server raises inside the
app and turns into a 500, which fails the test that sent the request.

Routes (anything else is `echo`):
- `/echo`: `METHOD PATH?QUERY` as the body, with a computed Content-Length.
- `/slow?ms=N`: writes `slow request started: QUERY` to wsgi.errors, sleeps N ms, then
  answers as `echo`.
- `/body`: reads the whole body (in 64 KiB reads) and sends it back; `X-Body-Length`,
  `X-Content-Length` and `X-Transfer-Encoding` say what the app saw.
- `/ignore-body`: never reads the body.
- `/read-some?n=N`: reads N bytes of the body (one `read(N)`), answers with them.
- `/stream?n=N`: N chunks `chunk-i\n` from a generator, no Content-Length.
- `/big?blocks=N`: N blocks of 64 KiB from a generator, no Content-Length; writes
  `big response closed after K blocks` to wsgi.errors when the server closes the iterable.
- `/fixed`: a 10-byte body with the app's own Content-Length.
- `/status?code=N`: status N with a body the server must drop for 204 and 304.
- `/own-headers`: the app sets `Server` and `Date` itself.
- `/app-close`: the app sets `Connection: close`.
- `/environ`: a JSON object of the CGI keys a test may look at.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

TEXT = [("Content-Type", "text/plain")]


def _query(environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _echo_bytes(environ) -> bytes:
    return f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}".encode()


def echo(environ, start_response):
    start_response("200 OK", TEXT)
    return [_echo_bytes(environ)]


def slow(environ, start_response):
    # A line a test can wait for: the request is now in the app.
    environ["wsgi.errors"].write(f"slow request started: {environ.get('QUERY_STRING', '')}\n")
    environ["wsgi.errors"].flush()
    time.sleep(int(_query(environ).get("ms", "500")) / 1000)
    return echo(environ, start_response)


def body(environ, start_response):
    stream = environ["wsgi.input"]
    parts = []
    while True:
        part = stream.read(65536)
        if not part:
            break
        parts.append(part)
    data = b"".join(parts)
    start_response("200 OK", TEXT + [
        ("X-Body-Length", str(len(data))),
        ("X-Content-Length", environ.get("CONTENT_LENGTH") or "-"),
        ("X-Transfer-Encoding", environ.get("HTTP_TRANSFER_ENCODING", "-")),
    ])
    return [data]


def ignore_body(environ, start_response):
    start_response("200 OK", TEXT)
    return [b"ignored " + environ["PATH_INFO"].encode()]


def read_some(environ, start_response):
    data = environ["wsgi.input"].read(int(_query(environ).get("n", "1")))
    start_response("200 OK", TEXT)
    return [b"read " + data]


def stream(environ, start_response):
    n = int(_query(environ).get("n", "3"))
    start_response("200 OK", TEXT)

    def chunks():
        for i in range(n):
            yield f"chunk-{i}\n".encode()

    return chunks()


class _Blocks:
    """An iterable that reports, on close(), how many blocks the server took."""

    def __init__(self, n: int, errors):
        self.n, self.sent, self.errors = n, 0, errors

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self.sent == self.n:
            raise StopIteration
        self.sent += 1
        return bytes([48 + self.sent % 10]) * 65536

    def close(self):
        self.errors.write(f"big response closed after {self.sent} blocks\n")
        self.errors.flush()


def big(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _Blocks(int(_query(environ).get("blocks", "16")), environ["wsgi.errors"])


def fixed(environ, start_response):
    start_response("200 OK", TEXT + [("Content-Length", "10")])
    return [b"0123456789"]


def status(environ, start_response):
    code = int(_query(environ).get("code", "200"))
    reasons = {204: "No Content", 304: "Not Modified"}
    headers = [] if code in (204, 304) else list(TEXT)
    start_response(f"{code} {reasons.get(code, 'Whatever')}", headers)
    return [b"this body must not be sent"]


def own_headers(environ, start_response):
    start_response("200 OK", TEXT + [
        ("Server", "app-server/1.0"),
        ("Date", "Tue, 01 Jan 2030 00:00:00 GMT"),
    ])
    return [b"own"]


def app_close(environ, start_response):
    start_response("200 OK", TEXT + [("Connection", "close")])
    return [b"closing"]


def environ_json(environ, start_response):
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL",
            "REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT", "CONTENT_LENGTH", "wsgi.url_scheme"]
    data = {k: environ.get(k) for k in keys}
    data["cwd"] = os.getcwd()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


ROUTES = {
    "/echo": echo,
    "/slow": slow,
    "/body": body,
    "/ignore-body": ignore_body,
    "/read-some": read_some,
    "/stream": stream,
    "/big": big,
    "/fixed": fixed,
    "/status": status,
    "/own-headers": own_headers,
    "/app-close": app_close,
    "/environ": environ_json,
}


def raw_app(environ, start_response):
    return ROUTES.get(environ["PATH_INFO"], echo)(environ, start_response)


app = validator(raw_app)
