"""PEP 3333 "environ Variables" over real sockets: the CGI keys, `HTTP_*` headers, the `wsgi.*`
keys, and that nothing leaks in from the server's own `os.environ`.

One server for the module (`apps.pep3333`, every route wrapped in `wsgiref.validate`), mounted
at `--root-path /mount`, with two threads, and with decoys in its process environment.
"""

from __future__ import annotations

import json

import ferrule_proc as conftest
import pytest
from rawhttp import Conn

ROOT = "/mount"
#: Put into the server's process environment; none of it may reach a request's environ.
DECOYS = {"FERRULE_TEST_SECRET": "1", "HTTP_HOST": "evil", "HTTP_X_DECOY": "evil", "CONTENT_TYPE": "evil"}


class Absent:
    """An expected value meaning "this key must not be in the environ"."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


@pytest.fixture(scope="module")
def server():
    server = conftest.start_server("--root-path", ROOT, "--threads", "2", "apps.pep3333:app", env=DECOYS)
    yield server
    server.stop()


def raw_head(method: str, target: str, headers: list[tuple[str, str]], version: str = "HTTP/1.1") -> bytes:
    """A request head with headers in the given order (repeats allowed), latin-1 encoded."""
    lines = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def environ_of(server, head: bytes, body: bytes = b"") -> tuple[dict, Conn]:
    """Sends one request to the `environ` route; returns the environ it saw and the (open) Conn."""
    conn = Conn(server.address, timeout=5)
    conn.send(head + body)
    resp = conn.read_response()
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body), conn


def check(environ: dict, expected: dict) -> None:
    for key, want in expected.items():
        if want is ABSENT:
            assert key not in environ, f"{key} should be absent, got {environ[key]!r}"
        else:
            assert environ.get(key, ABSENT) == want, f"{key}: {environ.get(key, ABSENT)!r} != {want!r}"


#: (id, method, target, headers, body, expected environ subset)
CGI_ROWS = [
    ("plain-get", "GET", "/mount/environ", [("Host", "h")], b"", {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": ROOT, "PATH_INFO": "/environ", "QUERY_STRING": "",
        "RAW_URI": "/mount/environ", "CONTENT_TYPE": ABSENT, "CONTENT_LENGTH": ABSENT,
        "HTTP_CONTENT_TYPE": ABSENT, "HTTP_CONTENT_LENGTH": ABSENT,
    }),
    ("percent-decoded-path-raw-query", "GET", "/mount/environ/a%20b/c%2Fd?x=%20y&z=%2F", [("Host", "h")], b"", {
        "PATH_INFO": "/environ/a b/c/d", "QUERY_STRING": "x=%20y&z=%2F",
        "RAW_URI": "/mount/environ/a%20b/c%2Fd?x=%20y&z=%2F",
    }),
    ("path-bytes-decoded-as-latin1", "GET", "/mount/environ/%C3%A9%FF%00", [("Host", "h")], b"", {
        "PATH_INFO": "/environ/\xc3\xa9\xff\x00",
    }),
    ("malformed-escape-kept", "GET", "/mount/environ/100%zz", [("Host", "h")], b"", {
        "PATH_INFO": "/environ/100%zz",
    }),
    ("post-with-content-headers", "POST", "/mount/environ",
     [("Host", "h"), ("Content-Type", "text/plain; charset=latin-1"), ("Content-Length", "3")], b"abc", {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain; charset=latin-1", "CONTENT_LENGTH": "3",
        "HTTP_CONTENT_TYPE": ABSENT, "HTTP_CONTENT_LENGTH": ABSENT,
    }),
    ("mount-point-itself", "GET", "/mount", [("Host", "h")], b"", {"SCRIPT_NAME": ROOT, "PATH_INFO": ""}),
    ("mount-point-with-slash", "GET", "/mount/", [("Host", "h")], b"", {"SCRIPT_NAME": ROOT, "PATH_INFO": "/"}),
    ("absolute-form-target", "GET", "http://example.com/mount/environ/x?q=%20", [("Host", "example.com")], b"", {
        "PATH_INFO": "/environ/x", "QUERY_STRING": "q=%20", "RAW_URI": "http://example.com/mount/environ/x?q=%20",
    }),
    ("content-type-without-body", "DELETE", "/mount/environ", [("Host", "h"), ("Content-Type", "x/y")], b"", {
        "REQUEST_METHOD": "DELETE", "CONTENT_TYPE": "x/y", "CONTENT_LENGTH": ABSENT,
    }),
]


@pytest.mark.parametrize(("method", "target", "headers", "body", "expected"),
                         [row[1:] for row in CGI_ROWS], ids=[row[0] for row in CGI_ROWS])
def test_environ_has_the_cgi_keys_of_the_request(server, method, target, headers, body, expected):
    environ, conn = environ_of(server, raw_head(method, target, headers), body)
    conn.close()
    check(environ, expected)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_environ_describes_the_connection(server, version):
    environ, conn = environ_of(server, raw_head("GET", "/mount/environ", [("Host", "h")], version))
    client_port = conn.sock.getsockname()[1]
    conn.close()
    check(environ, {
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(server.port),
        "SERVER_PROTOCOL": version,
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(client_port),
        "wsgi.url_scheme": "http",
    })


#: (id, headers in wire order, expected environ subset)
HEADER_ROWS = [
    ("simple", [("X-Custom", "v")], {"HTTP_X_CUSTOM": "v"}),
    ("name-upper-cased-dashes-to-underscores", [("x-mIxEd-case", "v")], {"HTTP_X_MIXED_CASE": "v"}),
    ("repeated-joined-with-comma", [("X-Multi", "a"), ("X-Other", "o"), ("X-Multi", "b"), ("x-multi", "c")],
     {"HTTP_X_MULTI": "a, b, c", "HTTP_X_OTHER": "o"}),
    ("repeated-cookie-joined-with-semicolon", [("Cookie", "a=1"), ("Cookie", "b=2")], {"HTTP_COOKIE": "a=1; b=2"}),
    ("value-decoded-as-latin1", [("X-Latin1", "caf\xe9 \xff")], {"HTTP_X_LATIN1": "caf\xe9 \xff"}),
    ("underscore-name-dropped", [("X_Auth_User", "evil")], {"HTTP_X_AUTH_USER": ABSENT}),
    ("underscore-name-cannot-impersonate-after", [("X-Auth-User", "real"), ("X_Auth_User", "evil")],
     {"HTTP_X_AUTH_USER": "real"}),
    ("underscore-name-cannot-impersonate-before", [("X_Auth_User", "evil"), ("X-Auth-User", "real")],
     {"HTTP_X_AUTH_USER": "real"}),
    ("underscore-content-type-dropped", [("Content_Type", "evil")], {"CONTENT_TYPE": ABSENT, "HTTP_CONTENT_TYPE": ABSENT}),
]


@pytest.mark.parametrize(("headers", "expected"), [row[1:] for row in HEADER_ROWS], ids=[row[0] for row in HEADER_ROWS])
def test_request_headers_become_http_keys(server, headers, expected):
    environ, conn = environ_of(server, raw_head("GET", "/mount/environ", [("Host", "h"), *headers]))
    conn.close()
    check(environ, expected)


def test_wsgi_keys_are_present_and_truthful(server):
    environ, conn = environ_of(server, raw_head("GET", "/mount/environ", [("Host", "h")]))
    conn.close()
    check(environ, {
        "wsgi.version": [1, 0],
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,  # --threads 2
        "wsgi.multiprocess": False,  # one worker process (the fixture's default --workers 1)
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "file_wrapper_callable": True,
    })
    # The validator wraps the stream objects; their presence and methods are checked by it.
    assert environ["wsgi.input"] == "<InputWrapper>"
    assert environ["wsgi.errors"] == "<ErrorWrapper>"


@pytest.mark.parametrize(("workers", "multiprocess"), [("1", False), ("2", True)])
def test_wsgi_multiprocess_is_true_exactly_when_several_workers_serve(ferrule_server, workers, multiprocess):
    # PEP 3333: true "if an equivalent application object may be simultaneously invoked by
    # another process".
    served = ferrule_server("--workers", workers, "apps.pep3333:app")
    environ, conn = environ_of(served, raw_head("GET", "/environ", [("Host", "h")]))
    conn.close()
    check(environ, {"wsgi.multiprocess": multiprocess})


def test_wsgi_multithread_is_false_with_one_thread(ferrule_server):
    single = ferrule_server("--threads", "1", "apps.pep3333:app")
    environ, conn = environ_of(single, raw_head("GET", "/environ", [("Host", "h")]))
    conn.close()
    check(environ, {"wsgi.multithread": False, "SCRIPT_NAME": "", "PATH_INFO": "/environ"})


@pytest.mark.parametrize(("head", "host"), [
    (raw_head("GET", "/mount/environ", [], "HTTP/1.0"), ABSENT),
    (raw_head("GET", "/mount/environ", [("Host", "real")]), "real"),
], ids=["no-host-header", "with-host-header"])
def test_environ_takes_nothing_from_the_servers_process_environment(server, head, host):
    environ, conn = environ_of(server, head)
    conn.close()
    check(environ, {"HTTP_HOST": host})
    for key in (*DECOYS, "PATH", "HOME", "PYTHONPATH"):
        if key != "HTTP_HOST":
            assert key not in environ, f"{key} leaked from the server's os.environ"
    expected_keys = {k for k in environ if k.startswith(("wsgi.", "HTTP_"))} | {
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
        "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "RAW_URI", "REQUEST_URI", "SERVER_SOFTWARE",
        "GATEWAY_INTERFACE", "file_wrapper_callable",
    }
    assert set(environ) <= expected_keys, f"unexpected keys: {set(environ) - expected_keys}"
    assert not {k for k in environ if k.startswith("HTTP_")} - {"HTTP_HOST"}


def test_wsgi_errors_writes_reach_the_error_log(server):
    with Conn(server.address, timeout=5) as conn:
        resp = conn.request("GET", "/mount/errors?token=e1")
    assert resp.status == 200
    for how in ("write", "writelines-1", "writelines-2"):
        server.wait_for_log(rf"zz-errors-{how} e1")
