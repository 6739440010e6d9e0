"""Static files (`--static-map`) end to end: the real server serving a real directory tree
to raw sockets. The answers of RFC 9110 (types, validators, conditional and range requests,
405), precompressed siblings, the index file, cache lifetimes, the fall-through to the app,
the access log, and that no Python thread is needed. The hostile paths are in
test_static_hostile.py.
"""

from __future__ import annotations

import gzip
import os
import re
import time
from email.utils import formatdate

import pytest
from ferrule_proc import HERE
from rawhttp import Conn

APP = "apps.static_site:app"
CSS = b"body { color: #c00 }\n" * 10
BIG = bytes(range(256)) * 4096  # 1 MiB: larger than the inline limit, sent as a file


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    site = root / "site"
    (site / "css").mkdir(parents=True)
    (site / "docs").mkdir()
    (site / "empty-dir").mkdir()
    (site / "css" / "app.css").write_bytes(CSS)
    (site / "css" / "app.css.gz").write_bytes(gzip.compress(CSS))
    (site / "css" / "app.css.br").write_bytes(b"pretend-brotli")
    (site / "css" / "stale.css").write_bytes(CSS)
    (site / "css" / "stale.css.gz").write_bytes(b"old")
    os.utime(site / "css" / "stale.css.gz", (1_000_000, 1_000_000))
    (site / "app.3f2a1b9c0d4e.js").write_bytes(b"console.log(1)\n")
    (site / "big.bin").write_bytes(BIG)
    # A modification time in the past: a Last-Modified within the second of the response's
    # Date is a weak validator (RFC 9110 §8.8.2.2), which If-Range must not honour.
    os.utime(site / "big.bin", (1_700_000_000, 1_700_000_000))
    (site / "empty.txt").write_bytes(b"")
    (site / "docs" / "index.html").write_bytes(b"<h1>docs</h1>\n")
    media = root / "media"
    media.mkdir()
    (media / "photo.png").write_bytes(b"\x89PNG fake")
    return root


@pytest.fixture(scope="module")
def server(site):
    from ferrule_proc import start_server

    log = site / "access.log"
    running = start_server(
        "--threads", "1", "--access-log", str(log),
        "--static-map", f"/static={site / 'site'}",
        "--static-map", f"/media={site / 'media'};max_age=0",
        "--static-index", "index.html", APP,
    )
    running.access_log_path = log
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


def get(server, target: str, method: str = "GET", **headers: str):
    with Conn(server.address) as conn:
        return conn.request(method, target, headers=dict(headers))


def test_serves_a_file_with_its_type_length_validators_and_cache_headers(server):
    resp = get(server, "/static/css/app.css")
    assert resp.status == 200
    assert resp.body == CSS
    assert resp.header("Content-Type") == "text/css; charset=utf-8"
    assert resp.header("Content-Length") == str(len(CSS))
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', resp.header("ETag"))
    assert resp.header("Last-Modified").endswith(" GMT")
    assert resp.header("Cache-Control") == "public, max-age=3600"
    assert resp.header("Vary") == "Accept-Encoding"
    assert resp.header("Accept-Ranges") == "bytes"
    assert resp.header("Content-Encoding") is None


def test_a_query_string_serves_the_same_file(server):
    assert get(server, "/static/css/app.css?v=42").body == CSS


def test_a_large_file_is_sent_whole(server):
    resp = get(server, "/static/big.bin")
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/octet-stream"
    assert resp.body == BIG


def test_an_empty_file_is_a_200_with_length_zero(server):
    resp = get(server, "/static/empty.txt")
    assert (resp.status, resp.header("Content-Length"), resp.body) == (200, "0", b"")


def test_head_gets_the_fields_of_get_without_the_body(server):
    with Conn(server.address) as conn:
        full = conn.request("GET", "/static/big.bin")
        head = conn.request("HEAD", "/static/big.bin")
        # The connection carries on: the HEAD response had no body to skip.
        after = conn.request("GET", "/static/css/app.css")
    assert head.status == 200
    assert head.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"):
        assert head.header(name) == full.header(name), name
    assert after.body == CSS


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_on_a_file_get_405_with_allow(server, method):
    resp = get(server, "/static/css/app.css", method)
    assert resp.status == 405
    assert resp.header("Allow") == "GET, HEAD"


def test_other_methods_on_a_missing_path_go_to_the_app(server):
    resp = get(server, "/static/upload", "POST")
    assert resp.body == b"app saw POST /static/upload"


def test_a_path_that_names_no_file_goes_to_the_app(server):
    for target in ("/static/nope.css", "/static/css/app.css/more", "/static/empty-dir/",
                   "/static"):
        resp = get(server, target)
        assert resp.status == 404
        assert resp.body == f"app saw GET {target}".encode(), target


def test_paths_outside_every_mount_go_to_the_app(server):
    assert get(server, "/staticfiles/css/app.css").body == b"app saw GET /staticfiles/css/app.css"


# ---- Conditional requests (RFC 9110 §13.2.2)

@pytest.fixture(scope="module")
def validators(server):
    resp = get(server, "/static/css/app.css")
    return resp.header("ETag"), resp.header("Last-Modified")


@pytest.mark.parametrize(("headers", "status"), [
    ({"If-None-Match": "{etag}"}, 304),
    ({"If-None-Match": 'W/{etag}'}, 304),
    ({"If-None-Match": '"other", {etag}'}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"other"'}, 200),
    ({"If-Modified-Since": "{modified}"}, 304),
    ({"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200),
    ({"If-Modified-Since": "not a date"}, 200),
    ({"If-None-Match": '"other"', "If-Modified-Since": "{modified}"}, 200),
    ({"If-Match": "{etag}"}, 200),
    ({"If-Match": '"other"'}, 412),
    ({"If-Match": "W/{etag}"}, 412),
    ({"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 412),
    ({"If-Unmodified-Since": "{modified}"}, 200),
    ({"If-Match": '"other"', "If-None-Match": "{etag}"}, 412),
], ids=lambda value: str(value))
def test_conditional_requests(server, validators, headers, status):
    etag, modified = validators
    filled = {k: v.format(etag=etag, modified=modified) for k, v in headers.items()}
    resp = get(server, "/static/css/app.css", **filled)
    assert resp.status == status
    if status == 304:
        assert resp.body == b""
        assert resp.header("ETag") == etag
        assert resp.header("Cache-Control") == "public, max-age=3600"
        assert resp.header("Vary") == "Accept-Encoding"
        assert resp.header("Content-Length") is None
    if status == 412:
        assert resp.body.startswith(b"412 Precondition Failed")


def test_a_304_keeps_the_connection(server, validators):
    etag, _ = validators
    with Conn(server.address) as conn:
        assert conn.request("GET", "/static/css/app.css", {"If-None-Match": etag}).status == 304
        assert conn.request("GET", "/static/css/app.css").body == CSS


# ---- Range requests (RFC 9110 §14)

@pytest.mark.parametrize(("range_", "status", "content_range", "body"), [
    ("bytes=0-9", 206, f"bytes 0-9/{len(BIG)}", BIG[:10]),
    ("bytes=1000-", 206, f"bytes 1000-{len(BIG) - 1}/{len(BIG)}", BIG[1000:]),
    ("bytes=-300", 206, f"bytes {len(BIG) - 300}-{len(BIG) - 1}/{len(BIG)}", BIG[-300:]),
    ("bytes=100-99999999", 206, f"bytes 100-{len(BIG) - 1}/{len(BIG)}", BIG[100:]),
    (f"bytes={len(BIG)}-", 416, f"bytes */{len(BIG)}", None),
    ("bytes=-0", 416, f"bytes */{len(BIG)}", None),
    ("bytes=0-1,5-6", 200, None, BIG),
    ("bytes=5-1", 200, None, BIG),
    ("pages=1-2", 200, None, BIG),
])
def test_range_requests(server, range_, status, content_range, body):
    resp = get(server, "/static/big.bin", Range=range_)
    assert resp.status == status
    assert resp.header("Content-Range") == content_range
    if body is not None:
        assert resp.body == body
        assert resp.header("Content-Length") == str(len(body))


def test_a_small_range_of_a_small_file(server):
    resp = get(server, "/static/css/app.css", Range="bytes=5-9")
    assert (resp.status, resp.body) == (206, CSS[5:10])


def test_if_range_serves_the_range_only_for_the_current_version(server):
    first = get(server, "/static/big.bin")
    etag, modified = first.header("ETag"), first.header("Last-Modified")
    assert get(server, "/static/big.bin", Range="bytes=0-3", **{"If-Range": etag}).status == 206
    assert get(server, "/static/big.bin", Range="bytes=0-3", **{"If-Range": modified}).status == 206
    stale = get(server, "/static/big.bin", Range="bytes=0-3", **{"If-Range": '"old"'})
    assert (stale.status, len(stale.body)) == (200, len(BIG))


def test_head_ignores_range(server):
    resp = get(server, "/static/big.bin", "HEAD", Range="bytes=0-9")
    assert resp.status == 200
    assert resp.header("Content-Length") == str(len(BIG))


# ---- Precompressed siblings

@pytest.mark.parametrize(("accept", "encoding", "body"), [
    (None, None, CSS),
    ("identity", None, CSS),
    ("gzip", "gzip", gzip.compress(CSS)),
    ("gzip, deflate, br", "br", b"pretend-brotli"),
    ("br;q=0.5, gzip", "gzip", gzip.compress(CSS)),
    ("br;q=0, gzip;q=0", None, CSS),
    ("*", "br", b"pretend-brotli"),
])
def test_a_precompressed_sibling_is_chosen_by_accept_encoding(server, accept, encoding, body):
    headers = {} if accept is None else {"Accept-Encoding": accept}
    resp = get(server, "/static/css/app.css", **headers)
    assert resp.status == 200
    assert resp.header("Content-Encoding") == encoding
    assert resp.header("Vary") == "Accept-Encoding"
    assert resp.header("Content-Type") == "text/css; charset=utf-8"
    if encoding == "gzip":
        assert gzip.decompress(resp.body) == CSS
    else:
        assert resp.body == body


def test_each_representation_has_its_own_etag(server):
    plain = get(server, "/static/css/app.css").header("ETag")
    zipped = get(server, "/static/css/app.css", **{"Accept-Encoding": "gzip"}).header("ETag")
    assert plain != zipped
    again = get(server, "/static/css/app.css",
                **{"Accept-Encoding": "gzip", "If-None-Match": zipped})
    assert again.status == 304


def test_a_sibling_older_than_its_file_is_not_served(server):
    resp = get(server, "/static/css/stale.css", **{"Accept-Encoding": "gzip"})
    assert resp.header("Content-Encoding") is None
    assert resp.body == CSS


# ---- Directories, cache lifetimes

def test_a_directory_serves_its_index_file_and_is_never_listed(server):
    resp = get(server, "/static/docs/")
    assert resp.status == 200
    assert resp.body == b"<h1>docs</h1>\n"
    assert resp.header("Content-Type") == "text/html; charset=utf-8"


def test_a_directory_without_its_slash_redirects_to_it(server):
    resp = get(server, "/static/docs?x=1")
    assert resp.status == 301
    assert resp.header("Location") == "/static/docs/?x=1"


def test_a_hashed_name_is_cached_for_a_year_as_immutable(server):
    resp = get(server, "/static/app.3f2a1b9c0d4e.js")
    assert resp.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert resp.header("Content-Type") == "text/javascript; charset=utf-8"


def test_a_mount_with_max_age_zero_says_no_cache(server):
    resp = get(server, "/media/photo.png")
    assert resp.status == 200
    assert resp.header("Content-Type") == "image/png"
    assert resp.header("Cache-Control") == "no-cache"


# ---- The worker's Rust side serves them: no Python thread, an access record each

def test_static_files_are_served_while_every_python_thread_is_busy(server):
    with Conn(server.address, timeout=10) as held:
        held.send(b"GET /hold?seconds=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # let the only thread take the request
        started = time.monotonic()
        resp = get(server, "/static/css/app.css")
        took = time.monotonic() - started
        assert resp.status == 200
        assert took < 1.5, f"a static file waited {took:.1f}s for the app's thread"
        assert held.read_response().body == b"held"


def test_every_static_response_is_in_the_access_log(server):
    get(server, "/static/css/app.css?access-log-probe")
    get(server, "/static/big.bin", Range="bytes=0-99")
    wanted = [f'"GET /static/css/app.css?access-log-probe HTTP/1.1" 200 {len(CSS)} ',
              '"GET /static/big.bin HTTP/1.1" 206 100 ']
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = server.access_log_path.read_text()
        if all(line in text for line in wanted):
            return
        time.sleep(0.05)
    raise AssertionError(f"missing access records in:\n{text}")


# ---- Settings errors

def test_a_missing_static_directory_stops_the_server_with_one_line(tmp_path):
    import subprocess
    import sys

    missing = tmp_path / "nope"
    proc = subprocess.run(
        [sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), "--bind", "127.0.0.1:0",
         "--static-map", f"/static={missing}", APP],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert f"ferrule: static_map: cannot open directory '{missing}' for /static: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_malformed_static_map_is_a_config_error():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ferrule", "--static-map", "static", APP],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr == (
        "ferrule: --static-map must be URL_PREFIX=DIRECTORY, e.g. /static=./static, got 'static'\n")


def test_last_modified_is_the_files_mtime(server, site):
    os.utime(site / "site" / "empty.txt", (1_500_000_000, 1_500_000_000))
    resp = get(server, "/static/empty.txt")
    assert resp.header("Last-Modified") == formatdate(1_500_000_000, usegmt=True)
