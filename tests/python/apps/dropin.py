"""Apps for the gunicorn drop-in tests (tests/python/e2e/test_gunicorn_*.py).

`app` answers with what the tests look at: a few environ keys and the name of the Python
thread running it, as JSON (wrapped in `wsgiref.validate.validator`). `raw_app` is the same
without the validator, for `OPTIONS *`: wsgiref's validator insists that PATH_INFO start with
'/', which PEP 3333 does not require and peers (gunicorn, waitress, Granian) do not do for
`*`. `/boom` raises, for the hooks' error paths; `/sleep` sleeps 5 s in C (in `time.sleep`,
where `ferrule.RequestTimeout` cannot reach it), for `worker_abort`.
"""

from __future__ import annotations

import json
import threading
import time
from wsgiref.validate import validator

KEYS = ("REQUEST_METHOD", "PATH_INFO", "RAW_URI", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
        "SCRIPT_NAME")


def raw_app(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(5)
    body = {key: environ.get(key) for key in KEYS}
    body["thread"] = threading.current_thread().name
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]


app = validator(raw_app)
