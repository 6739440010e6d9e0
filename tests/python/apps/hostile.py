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

Faulty routes (not wrapped: the validator would stop most of them before the server saw
them); each fault carries `?token=T` into its message so a test finds its own log record:
- `/fault?kind=K&token=T`: `FAULTS[K]`, an app that breaks in one way.
- `/panic?where=W&token=T`: makes ferrule's own code panic (debug builds only, see
  `wsgi::panic_on_demand`): `errors` inside `wsgi.errors.write`, `body` in `call_app` while
  it handles a body chunk. A release build answers 200 with the text.
"""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

TEXT = [("Content-Type", "text/plain")]
# The body of the close-raises-after-* faults: several chunks, the last one small.
CHUNKS = [b"first chunk\n", b"second chunk\n" * 100, b"last\n"]


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


class _Body:
    """An iterable of `chunks` whose `close` is `close` (a callable, or anything else)."""

    def __init__(self, chunks, close=None):
        self._chunks = iter(chunks)
        if close is not None:
            self.close = close

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)


class _EvilStr(Exception):
    """An exception whose message cannot be formatted."""

    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails too")


class _LyingBytes(bytes):
    def __len__(self) -> int:
        return 10 ** 9


class _EvilList(list):
    def __len__(self) -> int:
        raise RuntimeError("len() of this list fails")


def _raise(exc: BaseException):
    raise exc


def _ignores_generator_exit(token: str):
    i = 0
    while True:
        try:
            yield b"%08d\n" % i * 512
            time.sleep(0.005)
            i += 1
        except GeneratorExit:
            # Wrong on purpose: yielding after close() makes close() raise RuntimeError.
            yield f"zz-yield-after-close-{token}".encode()


def _base_exception(kind: str, token: str) -> BaseException:
    return {"SystemExit": SystemExit, "KeyboardInterrupt": KeyboardInterrupt,
            "GeneratorExit": GeneratorExit}[kind](f"zz-{kind}-{token}")


def fault(environ, start_response):
    q = _query(environ)
    kind, token = q["kind"], q.get("token", "")
    message = f"zz-{kind}-{token}"
    if kind.startswith("base-"):
        raise _base_exception(kind[len("base-"):], token)
    if kind == "evil-str":
        raise _EvilStr()
    if kind == "close-raises-after-length":
        # A complete body of several chunks with its Content-Length, then close() raises.
        start_response("200 OK", TEXT + [("Content-Length", str(len(b"".join(CHUNKS))))])
        return _Body(CHUNKS, close=lambda: _raise(RuntimeError(message)))
    start_response("200 OK", TEXT)
    if kind == "close-raises-after-chunks":
        return _Body(CHUNKS, close=lambda: _raise(RuntimeError(message)))
    if kind == "close-raises":
        return _Body([b"complete body"], close=lambda: _raise(RuntimeError(message)))
    if kind == "list-close-raises":
        class ListWithClose(list):
            def close(self) -> None:
                raise RuntimeError(message)
        return ListWithClose([b"complete body"])
    if kind == "close-not-callable":
        return _Body([b"complete body"], close=42)
    if kind == "iter-raises":
        class IterRaises:
            def __iter__(self):
                raise RuntimeError(message)
        return IterRaises()
    if kind == "interrupt-in-iterable":
        def interrupted():
            yield b"first chunk\n"
            raise KeyboardInterrupt(message)
        return interrupted()
    if kind == "lying-bytes":
        return [_LyingBytes(b"twelve bytes")]
    if kind == "evil-list":
        return _EvilList([b"evil list body"])
    if kind == "ignores-generator-exit":
        return _ignores_generator_exit(token)
    raise AssertionError(f"no fault {kind}")


def panic(environ, start_response):
    q = _query(environ)
    text = f"ferrule-test-panic:zz-panic-{q['where']}-{q.get('token', '')}"
    if q["where"] == "errors":
        environ["wsgi.errors"].write(text)
    start_response("200 OK", TEXT)
    return iter([text.encode()])


ROUTES = {
    "/echo": echo,
    "/pid": pid,
    "/body": body,
    "/stream-then-read": stream_then_read,
    "/slow-read": slow_read,
    "/fault": fault,
    "/panic": panic,
}
UNVALIDATED = {fault, panic}
_WRAPPED = {path: (route if route in UNVALIDATED else validator(route)) for path, route in ROUTES.items()}
_ECHO = validator(echo)


def app(environ, start_response):
    return _WRAPPED.get(environ.get("PATH_INFO", ""), _ECHO)(environ, start_response)
