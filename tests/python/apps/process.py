"""An app for the process-model tests: each response names the worker that served it.

Routes: `/pid` answers the worker's pid; `/slow?s=0.5` sleeps that long first; `/grow?mb=N`
keeps N MiB alive in the worker (for `max_worker_memory`); `/version` answers the `VERSION`
of the module named by the `PROCESS_APP_VERSION_MODULE` env var (reloaded code shows up there);
`/env?name=X` answers `X=<the worker's environment variable X, or None>`; `/burn?ms=N`
computes in Python (GIL held, no I/O) for N ms of its thread's CPU time.
Every response is `pid=<pid> <extra>`. Wrapped in `wsgiref.validate.validator`.
`asgi_app` is the same app for ASGI (`/pid` and `/slow`, with `asyncio.sleep`), so the
process tests run against both interfaces.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

# A validator warning is a PEP 3333 violation by the server: make it fail the request.
warnings.simplefilter("error", WSGIWarning)

_KEPT: list[bytes] = []


def _app(environ, start_response):
    query = parse_qs(environ["QUERY_STRING"])
    path = environ["PATH_INFO"]
    extra = ""
    if path == "/slow":
        seconds = float(query.get("s", ["0.5"])[0])
        time.sleep(seconds)
        extra = f"slept={seconds}"
    elif path == "/grow":
        megabytes = int(query.get("mb", ["1"])[0])
        _KEPT.append(b"x" * (megabytes * 1024 * 1024))
        extra = f"kept={sum(map(len, _KEPT)) // (1024 * 1024)}MiB"
    elif path == "/version":
        module = importlib.import_module(os.environ["PROCESS_APP_VERSION_MODULE"])
        extra = f"version={module.VERSION}"
    elif path == "/burn":
        until = time.thread_time() + float(query.get("ms", ["1"])[0]) / 1000
        while time.thread_time() < until:
            sum(range(200))
        extra = "burnt"
    elif path == "/env":
        name = query.get("name", [""])[0]
        extra = f"{name}={os.environ.get(name)}"
    body = f"pid={os.getpid()} {extra}".strip().encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = validator(_app)


def _stuck(environ, start_response):
    """`/sleep`: a Python-level stuck request (`time.sleep(3600)`); `/spin`: a C-level busy
    loop that holds the GIL; `/loop`: a Python-level busy loop. Each records in the error
    log whether `RequestTimeout` reached it (`cleanup ran`)."""
    import ferrule

    path = environ["PATH_INFO"]
    errors = environ["wsgi.errors"]
    try:
        if path == "/sleep":
            time.sleep(3600)
        elif path == "/spin":
            sum(range(10**11))  # minutes in C, GIL held, no bytecode boundary
        elif path == "/loop":
            while True:
                pass
    except ferrule.RequestTimeout:
        errors.write(f"cleanup ran in {path}\n")
        errors.flush()
        raise
    return _app(environ, start_response)


stuck = validator(_stuck)


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return  # no lifespan: served without it
    query = parse_qs(scope["query_string"].decode())
    extra = ""
    if scope["path"] == "/slow":
        seconds = float(query.get("s", ["0.5"])[0])
        await asyncio.sleep(seconds)
        extra = f"slept={seconds}"
    body = f"pid={os.getpid()} {extra}".strip().encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
