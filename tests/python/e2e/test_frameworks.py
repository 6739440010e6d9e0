"""Real frameworks end to end: Flask, Django, Pyramid, Bottle and Falcon apps (apps.frameworks,
each wrapped in wsgiref.validate.validator), and the ASGI ones: Starlette, FastAPI, Django's
ASGI handler, Quart and Litestar, unmodified, behind the real server. For each: a route with a
path parameter and a query string, an urlencoded form, a ~200 KB multipart upload, a streamed
response (chunked on the wire) and a ~1 MB download through the framework's file helper.

One server per framework, shared by that framework's tests.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from apps.frameworks.common import DOWNLOAD_SIZE, STREAM_CHUNKS, download_bytes
from ferrule_proc import start_server
from rawhttp import Conn

FRAMEWORKS = ["flask", "django", "pyramid", "bottle", "falcon",
              "starlette", "fastapi", "django_asgi", "quart", "litestar"]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(request):
    running = start_server("--threads", "2", f"apps.frameworks.{request.param}_app:app")
    yield running
    running.stop()
    # A validator complaint or an app traceback is a failure even if the client was happy.
    assert "Traceback" not in running.log(), running.log()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[str, bytes]:
    """Encodes a multipart/form-data body (RFC 7578); returns (content type, body)."""
    boundary = f"----ferrule{uuid.uuid4().hex}"
    out = []
    for name, value in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   .encode() + value.encode() + b"\r\n")
    for name, (filename, data, ctype) in files.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                   f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
                   + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


def get_json(resp):
    assert resp.status == 200, resp.body[:2000]
    assert resp.header("Content-Type", ).startswith("application/json")
    return json.loads(resp.body)


def test_routes_a_path_parameter_and_reads_the_query_string(server):
    with Conn(server.address) as c:
        resp = c.request("GET", "/items/widget-7?q=blue%20sky&other=1")
        assert get_json(resp) == {"name": "widget-7", "q": "blue sky"}
        # Percent-encoded UTF-8 in the path reaches the route decoded.
        resp = c.request("GET", "/items/caf%C3%A9?q=%C3%BCber")
        assert get_json(resp) == {"name": "café", "q": "über"}


def test_parses_an_urlencoded_form(server):
    body = b"a=1&greeting=hello+world&word=caf%C3%A9&empty="
    with Conn(server.address) as c:
        resp = c.request("POST", "/form", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        fields = get_json(resp)["fields"]
    assert {k: v for k, v in fields.items() if k != "empty"} == {
        "a": "1", "greeting": "hello world", "word": "café"}
    assert fields.get("empty", "") == ""


def test_parses_a_multipart_upload_of_200_kb(server):
    # Every byte value, CRLFs and dashes included, so that the parser cannot cut early.
    data = (bytes(range(256)) * 800 + b"\r\n--\r\n" + b"\x00" * 1000)[:200_003]
    ctype, body = multipart({"title": "Report ✓", "n": "42"},
                            {"file": ("report.bin", data, "application/octet-stream")})
    with Conn(server.address) as c:
        resp = c.request("POST", "/upload", body=body, headers={"Content-Type": ctype})
        got = get_json(resp)
        # The connection stays usable after a large body.
        assert c.request("GET", "/items/after?q=x").status == 200
    assert got["fields"] == {"title": "Report ✓", "n": "42"}
    assert got["file"] == {"filename": "report.bin", "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}


def test_streams_a_generator_response_with_chunked_framing(server):
    with Conn(server.address) as c:
        resp = c.request("GET", "/stream")
        assert resp.status == 200
        assert resp.chunked, resp.headers
        assert resp.header("Content-Length") is None
        assert resp.body == b"".join(STREAM_CHUNKS)
        # The last chunk ended the response: the connection carries another request.
        assert c.request("GET", "/items/next?q=1").status == 200


def test_streams_a_generator_response_close_delimited_on_http10(server):
    with Conn(server.address) as c:
        c.send(b"GET /stream HTTP/1.0\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200
    assert not resp.chunked
    assert resp.body == b"".join(STREAM_CHUNKS)


def test_downloads_a_1_mb_file_through_the_frameworks_file_helper(server):
    expected = download_bytes()
    with Conn(server.address) as c:
        resp = c.request("GET", "/download")
        assert resp.status == 200
        assert resp.header("Content-Length") == str(DOWNLOAD_SIZE)
        assert len(resp.body) == DOWNLOAD_SIZE
        assert resp.body == expected
        # And a HEAD gets the same length without the bytes.
        c.send(b"HEAD /download HTTP/1.1\r\nHost: test\r\n\r\n")
        head = c.read_response(head_request=True)
        assert head.status == 200
        assert head.header("Content-Length") == str(DOWNLOAD_SIZE)
        assert c.request("GET", "/items/after-download?q=1").status == 200
