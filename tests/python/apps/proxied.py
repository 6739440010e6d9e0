"""What a proxy changed: every response is JSON with the environ keys forwarding may set
(`REMOTE_ADDR`, `REMOTE_PORT` or null, `wsgi.url_scheme`, `HTTP_HOST`, `SERVER_NAME`,
`SERVER_PORT`, `SCRIPT_NAME`, `PATH_INFO`, `SERVER_PROTOCOL`), the forwarding headers as
the app sees them, the method and the body length. `/slow?s=0.3` sleeps first (for the
rollout tests); a POST's body is read whole. Wrapped in `wsgiref.validate.validator`.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

# A validator warning is a PEP 3333 violation by the server: make it fail the request.
warnings.simplefilter("error", WSGIWarning)

_KEYS = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME",
         "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL",
         "REQUEST_METHOD", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED")


def _app(environ, start_response):
    body = environ["wsgi.input"].input.read()
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(parse_qs(environ["QUERY_STRING"]).get("s", ["0.3"])[0]))
    facts = {key: environ.get(key) for key in _KEYS}
    facts["body_length"] = len(body)
    facts["pid"] = os.getpid()
    payload = json.dumps(facts).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(payload)))])
    return [payload]


app = validator(_app)
