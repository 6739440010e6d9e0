"""Tests for python/ferrule/demo.py, under wsgiref.validate (PEP 3333 checks both ways)."""

from __future__ import annotations

import io
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
from ferrule.demo import app


def request(method: str = "GET", path: str = "/", body: bytes = b"",
            **extra: Any) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path,
                               "QUERY_STRING": ""}
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    environ.update(extra)
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, dict(headers)
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()
    return captured["status"], captured["headers"], content


def test_get_shows_method_path_and_environ() -> None:
    status, headers, body = request("GET", "/hello")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))
    page = body.decode()
    assert "GET <code>/hello</code>" in page
    assert '<form method=post action="/hello">' in page
    assert "<th>wsgi.url_scheme</th><td>http</td>" in page
    assert "Received" not in page


@pytest.mark.parametrize(("body", "shown"), [
    (b"text=hello", "Received 10 bytes of body."),
    (b"x", "Received 1 byte of body."),
    (b"a" * 200_000, "Received 200000 bytes of body."),
])
def test_post_reports_the_body_length(body: bytes, shown: str) -> None:
    status, _, page = request("POST", "/", body)
    assert status == "200 OK"
    assert shown in page.decode()


def test_post_without_a_body_reports_zero() -> None:
    _, _, page = request("POST", "/")
    assert "Received 0 bytes of body." in page.decode()


def test_environ_values_are_escaped() -> None:
    _, _, body = request("GET", "/<b>", HTTP_X_EVIL="<script>alert(1)</script>")
    page = body.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>/&lt;b&gt;</code>" in page
    assert 'action="/%3Cb%3E"' in page


def test_head_is_allowed() -> None:
    status, _, _ = request("HEAD", "/")
    assert status == "200 OK"


def test_other_methods_get_405_with_allow() -> None:
    status, headers, body = request("DELETE", "/")
    assert status == "405 Method Not Allowed"
    assert headers["Allow"] == "GET, HEAD, POST"
    assert body == b"Method DELETE is not allowed here.\n"
