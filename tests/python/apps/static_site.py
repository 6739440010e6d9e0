"""The app behind tests/python/e2e/test_static_*.py: whatever it answers says the app saw the
request, so a test can tell a static response (which must never reach Python) from the app's.

Wrapped in `wsgiref.validate.validator`.

Routes:
- `/hold?seconds=N`: keeps its thread for N seconds (the only one, under `--threads 1`).
- anything else: 404 `app saw METHOD PATH`.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs
from wsgiref.validate import validator


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hold":
        seconds = float(parse_qs(environ["QUERY_STRING"])["seconds"][0])
        time.sleep(seconds)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"held"]
    body = f"app saw {environ['REQUEST_METHOD']} {path}".encode()
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(body)))])
    return [body]


app = validator(_app)
