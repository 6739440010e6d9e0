"""The app behind tests/python/e2e/test_hostile_*.py: routes that let a test see what a
hostile client did to the worker, and whether the app's reads failed.

Wrapped in `wsgiref.validate.validator` (a PEP 3333 violation by the server becomes a 500).

Routes (anything else is `echo`):
- `/echo`: `METHOD PATH?QUERY` as the body.
- `/pid`: the worker's process id, so a test can read its `/proc/PID/status`.
- `/body`: reads the whole body in 64 KiB reads; answers `X-Body-Length`. A failed read is
  written to wsgi.errors as `hostile: read failed after N bytes: TYPE: MESSAGE` (with the
  query string, so tests can tell requests apart), then raised again.
- `/stream-then-read`: starts a streamed response (`started\\n`), then reads the body like
  `/body`, then sends `read N\\n`.
- `/slow-read?size=S&delay=D`: reads the body S bytes at a time, sleeping D seconds between
  reads, and answers the byte count. Holds at most S bytes of body at a time.
"""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

TEXT = [("Content-Type", "text/plain")]


def _query(environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _read_all(environ, size: int = 65536, delay: float = 0.0) -> int:
    stream = environ["wsgi.input"]
    total = 0
    try:
        while True:
            part = stream.read(size)
            if not part:
                return total
            total += len(part)
            if delay:
                time.sleep(delay)
    except Exception as exc:
        errors = environ["wsgi.errors"]
        errors.write(f"hostile: read failed after {total} bytes ({environ.get('QUERY_STRING', '')}): "
                     f"{type(exc).__name__}: {exc}\n")
        errors.flush()
        raise


def echo(environ, start_response):
    start_response("200 OK", TEXT)
    return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}".encode()]


def pid(environ, start_response):
    start_response("200 OK", TEXT)
    return [str(os.getpid()).encode()]


def body(environ, start_response):
    n = _read_all(environ)
    start_response("200 OK", TEXT + [("X-Body-Length", str(n))])
    return [b"read %d" % n]


def stream_then_read(environ, start_response):
    start_response("200 OK", TEXT)

    def chunks():
        yield b"started\n"
        n = _read_all(environ)
        yield b"read %d\n" % n

    return chunks()


def slow_read(environ, start_response):
    q = _query(environ)
    n = _read_all(environ, int(q.get("size", "65536")), float(q.get("delay", "0")))
    start_response("200 OK", TEXT + [("X-Body-Length", str(n))])
    return [b"read %d" % n]


ROUTES = {
    "/echo": echo,
    "/pid": pid,
    "/body": body,
    "/stream-then-read": stream_then_read,
    "/slow-read": slow_read,
}
_WRAPPED = {path: validator(route) for path, route in ROUTES.items()}
_ECHO = validator(echo)


def app(environ, start_response):
    return _WRAPPED.get(environ.get("PATH_INFO", ""), _ECHO)(environ, start_response)
