"""The app behind tests/python/e2e/test_pep3333_*.py: one route per PEP 3333 behaviour, chosen by
the first segment of PATH_INFO (`/input?ops=...` runs the `input` route).

Every route is wrapped in `wsgiref.validate.validator`, with its warnings turned into errors, so
a PEP 3333 violation by the server raises inside the app and turns into a 500 that fails the
test. Routes in `UNVALIDATED` are not wrapped, on purpose, and say why: some break the protocol
themselves (the validator would reject them before the server could), and some must hand the
server their own return type (the validator wraps every result in an iterator, which would
hide a `list` or a `FileWrapper` from the server). Those still run `check_environ`.

`close()` calls are counted per `token` in this process; `/closes?token=T` reports them, so a
test can check "exactly once" after a disconnect.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, check_environ, validator

# A validator warning is a PEP 3333 violation by the server: make it fail the request.
warnings.simplefilter("error", WSGIWarning)

TEXT = ("Content-Type", "text/plain")


def _query(environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _raw_input(environ):
    """The server's own `wsgi.input`. The validator's wrapper insists on `read(size)`, while
    PEP 3333 with `wsgi.input_terminated` allows `read()`; its `__iter__` also goes through
    `readline`, hiding the server's own iteration."""
    inp = environ["wsgi.input"]
    return getattr(inp, "input", inp)


def _json(start_response, obj, status: str = "200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _text(start_response, body: bytes, status: str = "200 OK", extra=()):
    start_response(status, [TEXT, ("Content-Length", str(len(body))), *extra])
    return [body]


# --- environ -------------------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, tuple):
        return list(value)
    return f"<{type(value).__name__}>"


def environ_route(environ, start_response):
    """The environ as JSON: str/bool/int values as they are, tuples as lists, objects as
    `<TypeName>`; `wsgi.file_wrapper` also as `file_wrapper_callable`."""
    out = {k: _jsonable(v) for k, v in environ.items()}
    out["file_wrapper_callable"] = callable(environ.get("wsgi.file_wrapper"))
    return _json(start_response, out)


def errors_route(environ, start_response):
    """Writes `zz-errors-<how> <token>` lines to `wsgi.errors` with write, writelines, flush."""
    token = _query(environ)["token"]
    errors = environ["wsgi.errors"]
    errors.write(f"zz-errors-write {token}\n")
    errors.writelines([f"zz-errors-writelines-1 {token}\n", f"zz-errors-writelines-2 {token}\n"])
    errors.flush()
    return _text(start_response, b"written")


# --- wsgi.input ----------------------------------------------------------------------------


def _run_op(inp, raw, op: str):
    name, _, arg = op.partition(":")
    n = int(arg) if arg else None
    if name == "read":
        return (raw.read() if n is None else inp.read(n)).decode("latin-1")
    if name == "readline":
        return (inp.readline() if n is None else inp.readline(n)).decode("latin-1")
    if name == "readlines":
        lines = inp.readlines() if n is None else inp.readlines(n)
        return [line.decode("latin-1") for line in lines]
    if name == "iter":
        return [line.decode("latin-1") for line in raw]
    raise ValueError(f"unknown op {op!r}")


def input_route(environ, start_response):
    """`?ops=read:5,readline,...`: runs each op on `wsgi.input` in order, answers the results
    (bytes as latin-1 str, lists for readlines/iter). `read` without a size and `iter` use the
    server's object directly (see `_raw_input`); sized calls go through the validator."""
    ops = _query(environ)["ops"].split(",")
    inp = environ["wsgi.input"]
    raw = _raw_input(environ)
    return _json(start_response, [_run_op(inp, raw, op) for op in ops])


def read_some_route(environ, start_response):
    """Reads `n` bytes once, answers them; the rest of the body is never read."""
    n = int(_query(environ)["n"])
    got = environ["wsgi.input"].read(n)
    return _json(start_response, {"got": got.decode("latin-1")})


def read_pieces_route(environ, start_response):
    """A generator: for each of `count` reads of `n` bytes, yields `len:bytes\\n`, then
    `end:len\\n` for one more read (which must be empty). The client sends the next piece only
    after it has seen the line for the previous one."""
    q = _query(environ)
    n, count = int(q["n"]), int(q["count"])
    inp = environ["wsgi.input"]
    start_response("200 OK", [TEXT])

    def body():
        for _ in range(count):
            piece = inp.read(n)
            yield f"{len(piece)}:{piece.decode('latin-1')}\n".encode()
        yield f"end:{len(inp.read(n))}\n".encode()

    return body()


def echo_body_route(environ, start_response):
    """Reads the whole body (after `ms` milliseconds), answers it."""
    ms = int(_query(environ).get("ms", "0"))
    time.sleep(ms / 1000)
    body = _raw_input(environ).read()
    return _text(start_response, body)


def ignore_body_route(environ, start_response):
    """Never touches `wsgi.input`."""
    return _text(start_response, b"ignored")


# --- start_response ------------------------------------------------------------------------

#: Heads the server must refuse: (id, status, headers). Every row carries `zzmark` somewhere,
#: so a test can assert the bytes on the wire never contain it.
BAD_HEADS: list[tuple[str, object, list]] = [
    ("cr-in-value", "200 OK", [("X-Zzmark", "a\rb")]),
    ("lf-in-value", "200 OK", [("X-Zzmark", "a\nb")]),
    ("crlf-injection", "200 OK", [("X-A", "1\r\nSet-Cookie: zzmark=1")]),
    ("nul-in-value", "200 OK", [("X-Zzmark", "a\x00b")]),
    ("escape-in-value", "200 OK", [("X-Zzmark", "a\x1bb")]),
    ("crlf-in-name", "200 OK", [("X-A\r\nX-Zzmark", "1")]),
    ("space-in-name", "200 OK", [("X Zzmark", "1")]),
    ("colon-in-name", "200 OK", [("X-Zzmark:", "1")]),
    ("empty-name", "200 OK", [("", "zzmark")]),
    ("non-token-name", "200 OK", [("X-Zzmark(1)", "1")]),
    ("non-ascii-name", "200 OK", [("X-Zzmark\xe9", "1")]),
    ("non-latin1-value", "200 OK", [("X-Zzmark", "\u20ac")]),
    ("bytes-value", "200 OK", [("X-Zzmark", b"1")]),
    ("bytes-name", "200 OK", [(b"X-Zzmark", "1")]),
    ("not-a-pair", "200 OK", [("X-Zzmark", "1", "2")]),
    ("invalid-content-length", "200 OK", [("Content-Length", "zzmark")]),
    ("hop-by-hop-transfer-encoding", "200 OK", [("Transfer-Encoding", "zzmark")]),
    ("hop-by-hop-keep-alive", "200 OK", [("Keep-Alive", "timeout=5, zzmark")]),
    ("hop-by-hop-upgrade", "200 OK", [("Upgrade", "zzmark/1")]),
    ("hop-by-hop-connection", "200 OK", [("Connection", "zzmark")]),
    ("hop-by-hop-te", "200 OK", [("TE", "zzmark")]),
    ("hop-by-hop-trailer", "200 OK", [("Trailer", "X-Zzmark")]),
    ("hop-by-hop-proxy-authenticate", "200 OK", [("Proxy-Authenticate", "Basic zzmark")]),
    ("status-with-crlf", "200 OK\r\nX-Zzmark: 1", []),
    ("status-without-reason", "200", [("X-Zzmark", "1")]),
    ("status-code-too-short", "20 Zzmark", []),
    ("status-not-str", b"200 Zzmark", []),
    ("status-non-latin1", "200 Zzmark\u20ac", []),
]
_BAD_HEADS = {row[0]: row for row in BAD_HEADS}


def bad_head_route(environ, start_response):
    """UNVALIDATED: passes `BAD_HEADS[case]` to the server's start_response (the validator would
    reject most rows itself). If the server accepts the head, the body goes out too."""
    check_environ(environ)
    _, status, headers = _BAD_HEADS[_query(environ)["case"]]
    start_response(status, [TEXT, *headers])
    return [b"zzmark body"]


def latin1_header_route(environ, start_response):
    return _text(start_response, b"ok", extra=[("X-Latin1", "caf\xe9 \xff")])


def write_route(environ, start_response):
    """`?mode=only`: the body through write() alone; `mixed`: write() then a returned iterable;
    `length`: write() under the app's own Content-Length."""
    mode = _query(environ)["mode"]
    headers = [TEXT]
    if mode == "length":
        headers.append(("Content-Length", "11"))
    write = start_response("200 OK", headers)
    if mode in ("only", "length"):
        write(b"hello ")
        write(b"world")
        return []
    write(b"a")

    def rest():
        yield b"b"
        yield b"c"

    return rest()


def exc_info_replace_route(environ, start_response):
    """start_response, then an error before any body: start_response again with exc_info
    replaces the status and headers."""
    start_response("200 OK", [TEXT, ("X-First", "1")])
    try:
        raise ValueError("zz-replaced")
    except ValueError:
        start_response("503 Replaced", [TEXT, ("X-Second", "1")], sys.exc_info())
    return [b"replaced"]


def exc_info_reraise_route(environ, start_response):
    """After the head went out (through write), start_response with exc_info must re-raise that
    very exception; the app reports whether it did in the rest of the body."""
    write = start_response("200 OK", [TEXT])
    write(b"partial")
    original = RuntimeError("zz-original")
    try:
        raise original
    except RuntimeError:
        try:
            start_response("500 Replaced", [TEXT], sys.exc_info())
        except RuntimeError as err:
            outcome = b"|reraised-same" if err is original else b"|reraised-other"
        except BaseException as err:
            outcome = f"|raised-{type(err).__name__}".encode()
        else:
            outcome = b"|not-raised"
    return [outcome]


def second_call_route(environ, start_response):
    """Calls start_response twice without exc_info: the server must refuse the second call."""
    start_response("200 OK", [TEXT])
    try:
        start_response("201 Created", [TEXT])
    except Exception as err:
        outcome = f"refused: {type(err).__name__}".encode()
    else:
        outcome = b"accepted"
    return [outcome]


def lazy_route(environ, start_response):
    """start_response is called inside the first iteration of the returned generator."""

    def body():
        start_response("200 OK", [TEXT, ("X-Lazy", "1")])
        yield b"lazy "
        yield b"body"

    return body()


def empty_first_route(environ, start_response):
    """`?then=raise`: yields b'' (or writes b'' when `via=write`), then raises: nothing may
    have been sent, so the client gets a 500. `then=data`: yields b'', sleeps `ms`, yields."""
    q = _query(environ)
    ms = int(q.get("ms", "0"))

    def body():
        write = start_response("200 OK", [TEXT, ("X-Zzmark", "app-head")])
        if q.get("via") == "write":
            write(b"")
        else:
            yield b""
        time.sleep(ms / 1000)
        if q["then"] == "raise":
            raise RuntimeError("zz-empty-then-raise")
        yield b"data"

    return body()


# --- response ------------------------------------------------------------------------------


def _body_as(kind: str, chunks: list[bytes], write):
    if kind == "list":
        return [b"".join(chunks)]
    if kind == "write":
        for c in chunks:
            write(c)
        return []
    return iter(chunks) if kind == "iter" else (c for c in chunks)


def short_route(environ, start_response):
    """Declares Content-Length 10, sends 5 bytes (`?kind=gen|list|write`)."""
    write = start_response("200 OK", [TEXT, ("Content-Length", "10")])
    return _body_as(_query(environ)["kind"], [b"123", b"45"], write)


def long_route(environ, start_response):
    """Declares Content-Length 5, sends 10 bytes (`?kind=gen|list|write`)."""
    write = start_response("200 OK", [TEXT, ("Content-Length", "5")])
    return _body_as(_query(environ)["kind"], [b"12345", b"67890"], write)


def list_route(environ, start_response):
    """UNVALIDATED (the validator would hide the list): `?n=N` elements of `?size=S` bytes, no
    Content-Length from the app."""
    check_environ(environ)
    q = _query(environ)
    n, size = int(q["n"]), int(q.get("size", "5"))
    start_response("200 OK", [TEXT])
    return [bytes([ord("a") + i]) * size for i in range(n)]


def gen_route(environ, start_response):
    """`?n=N` chunks `chunk-i\\n` from a generator, no Content-Length."""
    n = int(_query(environ)["n"])
    start_response("200 OK", [TEXT])
    return (f"chunk-{i}\n".encode() for i in range(n))


_closes: dict[str, int] = {}
_closed: dict[str, threading.Event] = {}
_closes_lock = threading.Lock()


def _record_close(token: str) -> None:
    with _closes_lock:
        _closes[token] = _closes.get(token, 0) + 1
        event = _closed.setdefault(token, threading.Event())
    event.set()


class Tracked:
    """An iterable whose close() is counted under `token`. `mode`: `normal` (n chunks),
    `raise-first` (raises before any chunk), `raise-mid` (one chunk, then raises), `slow` (n
    chunks of `size` bytes, `delay` seconds apart)."""

    def __init__(self, token: str, mode: str, n: int = 3, size: int = 8, delay: float = 0.0):
        self.token, self.mode, self.n, self.size, self.delay = token, mode, n, size, delay
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        i, self.i = self.i, self.i + 1
        if self.mode == "raise-first" or (self.mode == "raise-mid" and i == 1):
            raise RuntimeError(f"zz-tracked-{self.mode}")
        if i >= self.n:
            raise StopIteration
        if self.mode == "slow" and i > 0:
            time.sleep(self.delay)
        return (f"{i:07d}\n".encode() * (self.size // 8 + 1))[: self.size]

    def close(self) -> None:
        _record_close(self.token)


def tracked_route(environ, start_response):
    """`?token=T&mode=M[&n=&size=&delay=]`: answers a `Tracked` iterable."""
    q = _query(environ)
    start_response("200 OK", [TEXT])
    return Tracked(q["token"], q["mode"], int(q.get("n", "3")), int(q.get("size", "8")),
                   float(q.get("delay", "0")))


def closes_route(environ, start_response):
    """`?token=T&wait=S`: waits up to S seconds for the first close() of T, then 0.2 s more (a
    second close would come right after the first), and answers `{"closes": count}`."""
    q = _query(environ)
    with _closes_lock:
        event = _closed.setdefault(q["token"], threading.Event())
    if event.wait(float(q.get("wait", "0"))):
        time.sleep(0.2)
    with _closes_lock:
        return _json(start_response, {"closes": _closes.get(q["token"], 0)})


class TrackedFile(io.FileIO):
    """A real file whose close() is counted under `token`."""

    def __init__(self, path: str, token: str):
        super().__init__(path, "rb")
        self.token = token

    def close(self) -> None:
        if not self.closed:
            _record_close(self.token)
        super().close()


class TrackedBytesIO(io.BytesIO):
    def __init__(self, data: bytes, token: str):
        super().__init__(data)
        self.token = token

    def close(self) -> None:
        _record_close(self.token)
        super().close()


class UntellableFile:
    """A file-like object over a real file whose tell() fails: the server cannot know where
    it stands, so it must not guess."""

    def __init__(self, f):
        self.f = f

    def fileno(self) -> int:
        return self.f.fileno()

    def tell(self) -> int:
        raise OSError("tell() is not supported here")

    def read(self, size: int = -1) -> bytes:
        return self.f.read(size)

    def close(self) -> None:
        self.f.close()


def file_route(environ, start_response):
    """UNVALIDATED (the validator would hide the FileWrapper): `?path=P&token=T[&offset=N]
    [&length=L][&untellable=1]` answers `wsgi.file_wrapper` over the file at P, positioned at
    N, with the app's Content-Length L if given, behind `UntellableFile` if asked."""
    check_environ(environ)
    q = _query(environ)
    f = TrackedFile(q["path"], q["token"])
    f.seek(int(q.get("offset", "0")))
    if q.get("untellable"):
        f = UntellableFile(f)
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in q:
        headers.append(("Content-Length", q["length"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, 64 * 1024)


def file_bytesio_route(environ, start_response):
    """UNVALIDATED (as `file`): `wsgi.file_wrapper` over a BytesIO of `?size=N` bytes `0-9…`."""
    check_environ(environ)
    q = _query(environ)
    data = bytes(48 + i % 10 for i in range(int(q["size"])))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](TrackedBytesIO(data, q["token"]), 1000)


# --- errors --------------------------------------------------------------------------------


def raise_route(environ, start_response):
    """`?where=W&token=T` raises `RuntimeError("zz-raise-W-T")` before anything is sent: W is
    `before-start` (before start_response), `after-start`, or `first-chunk` (in the generator,
    after start_response)."""
    q = _query(environ)
    message = f"zz-raise-{q['where']}-{q['token']}"
    if q["where"] == "before-start":
        raise RuntimeError(message)
    start_response("200 OK", [TEXT])
    if q["where"] == "after-start":
        raise RuntimeError(message)

    def body():
        raise RuntimeError(message)
        yield b"never"  # unreachable: the yield makes body() a generator

    return body()


def raise_after_route(environ, start_response):
    """`?via=gen|write&token=T`: sends `part-one`, then raises `RuntimeError("zz-after-T")`."""
    q = _query(environ)
    message = f"zz-after-{q['token']}"
    write = start_response("200 OK", [TEXT])
    if q["via"] == "write":
        write(b"part-one")
        raise RuntimeError(message)

    def body():
        yield b"part-one"
        raise RuntimeError(message)

    return body()


#: What a broken app returns instead of an iterable of bytes.
GARBAGE = {
    "str": lambda: "a str body",
    "none": lambda: None,
    "int": lambda: 42,
    "bytes": lambda: b"bare bytes",
    "str-items": lambda: iter(["a str chunk"]),
    "list-of-str": lambda: ["a str chunk"],
}


def garbage_route(environ, start_response):
    """UNVALIDATED (the validator rejects these results itself): `?kind=K` returns `GARBAGE[K]`;
    `kind=no-start-response` returns an empty list without calling start_response."""
    check_environ(environ)
    kind = _query(environ)["kind"]
    if kind == "no-start-response":
        return []
    start_response("200 OK", [TEXT])
    return GARBAGE[kind]()


def early_hints_route(environ, start_response):
    """Sends `wsgi.early_hints` (gunicorn 25's extension) before its response."""
    environ["wsgi.early_hints"]([("Link", "</style.css>; rel=preload; as=style")])
    return _text(start_response, b"hinted")


def early_hints_in_body_route(environ, start_response):
    """Sends its hints from the body's generator, before the first chunk: the head is not
    out yet, so they still come first."""
    def body():
        environ["wsgi.early_hints"]([("Link", "</late.js>; rel=preload; as=script")])
        yield b"hinted"
    start_response("200 OK", [TEXT])
    return body()


def early_hints_elsewhere_route(environ, start_response):
    """Calls `wsgi.early_hints` from another thread during the request (joined before the
    response), and from one more thread 0.3 s after the response: neither is this
    thread's request, so neither sends anything."""
    hints = environ["wsgi.early_hints"]
    link = [("Link", "</elsewhere.css>; rel=preload; as=style")]
    during = threading.Thread(target=hints, args=(link,))
    during.start()
    during.join()
    threading.Timer(0.3, hints, args=(link,)).start()
    return _text(start_response, b"not hinted")


def ok_route(environ, start_response):
    return _text(start_response, b"ok")


UNVALIDATED = {bad_head_route, list_route, file_route, file_bytesio_route, garbage_route}

ROUTES = {
    "": environ_route,  # the mount point itself (PATH_INFO "" or "/")
    "environ": environ_route,
    "errors": errors_route,
    "input": input_route,
    "read-some": read_some_route,
    "read-pieces": read_pieces_route,
    "echo-body": echo_body_route,
    "ignore-body": ignore_body_route,
    "bad-head": bad_head_route,
    "latin1-header": latin1_header_route,
    "write": write_route,
    "exc-info-replace": exc_info_replace_route,
    "exc-info-reraise": exc_info_reraise_route,
    "second-call": second_call_route,
    "lazy": lazy_route,
    "empty-first": empty_first_route,
    "short": short_route,
    "long": long_route,
    "list": list_route,
    "gen": gen_route,
    "tracked": tracked_route,
    "closes": closes_route,
    "file": file_route,
    "file-bytesio": file_bytesio_route,
    "raise": raise_route,
    "raise-after": raise_after_route,
    "garbage": garbage_route,
    "ok": ok_route,
    "early-hints": early_hints_route,
    "early-hints-in-body": early_hints_in_body_route,
    "early-hints-elsewhere": early_hints_elsewhere_route,
}
_WRAPPED = {name: (route if route in UNVALIDATED else validator(route)) for name, route in ROUTES.items()}
_NOT_FOUND = validator(lambda environ, start_response: _text(start_response, b"no such route", "404 Not Found"))


def app(environ, start_response):
    """Dispatches on the first segment of PATH_INFO; `/environ/...` still runs `environ`."""
    first = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
    return _WRAPPED.get(first, _NOT_FOUND)(environ, start_response)
