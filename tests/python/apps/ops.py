"""An app for the operations tests (metrics, health, statsd, logs).

Routes: `/` answers `hello`; `/status?code=N` answers with that status; `/slow?s=0.5` sleeps
first; `/raise` raises (the server answers 500 and counts an app error); `/exit` ends the
worker process at once, mid-request (a crash); `/pid` answers the worker's pid; `/body`
reads the request body and answers its length. Wrapped in `wsgiref.validate.validator`.
"""

from __future__ import annotations

import os
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

# A validator warning is a PEP 3333 violation by the server: make it fail the request.
warnings.simplefilter("error", WSGIWarning)

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 404: "Not Found", 418: "I'm a teapot",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _app(environ, start_response):
    query = parse_qs(environ["QUERY_STRING"])
    path = environ["PATH_INFO"]
    code = 200
    body = b"hello"
    if path == "/status":
        code = int(query.get("code", ["200"])[0])
        body = str(code).encode()
    elif path == "/slow":
        time.sleep(float(query.get("s", ["0.5"])[0]))
        body = b"slept"
    elif path == "/raise":
        raise RuntimeError("the ops test app raises on purpose")
    elif path == "/exit":
        os._exit(7)
    elif path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/body":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = str(len(environ["wsgi.input"].read(length))).encode()
    start_response(f"{code} {_REASONS.get(code, 'Other')}",
                   [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = validator(_app)
