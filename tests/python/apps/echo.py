"""Echoes the request back as JSON, so a test can see what the server made of the bytes it sent.

The response is 200 with `{"method", "path", "query", "headers", "body"}`: `path` is PATH_INFO,
`query` is QUERY_STRING, `headers` holds every `HTTP_*` key plus CONTENT_TYPE and CONTENT_LENGTH
when present, and `body` is the whole body (one `wsgi.input.read()`) decoded as latin-1, so every
byte survives the trip. Wrapped in `wsgiref.validate.validator`, except for `OPTIONS *`:
the validator insists that PATH_INFO start with '/', which PEP 3333 does not require and
which the asterisk form cannot give (ferrule, like gunicorn, waitress and Granian, gives
`*`).
"""

from __future__ import annotations

import json
import warnings
from wsgiref.validate import WSGIWarning, validator

# A validator warning is a PEP 3333 violation by the server: make it fail the request.
warnings.simplefilter("error", WSGIWarning)

_PLAIN = ("CONTENT_TYPE", "CONTENT_LENGTH")


def _echo(environ, start_response):
    # The validator's input wrapper insists on a size argument; PEP 3333 (with
    # wsgi.input_terminated) allows read() without one, so call the server's object.
    stream = environ["wsgi.input"]
    body = getattr(stream, "input", stream).read()
    headers = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k in _PLAIN}
    payload = json.dumps({
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "headers": headers,
        "body": body.decode("latin-1"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


_validated = validator(_echo)


def app(environ, start_response):
    if environ["PATH_INFO"] == "*":
        return _echo(environ, start_response)
    return _validated(environ, start_response)
