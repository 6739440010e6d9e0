"""HTTP/2 served by the worker itself: real clients (`curl --http2` over TLS by ALPN,
`curl --http2-prior-knowledge` on a plain bind, `nghttp`, `h2load`) and hostile frame
sequences written with the Python `h2` library (rapid reset, CONTINUATION flood, an
oversized header list, PING and SETTINGS floods, a window held shut, an idle connection).
Each hostile test checks the answer and that another client is still served. Certificates
are made by `trustme` at test time."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import pytest
from ferrule_proc import start_server

trustme = pytest.importorskip("trustme")

APP = "apps.pep3333:app"
ASGI_APP = "apps.asgi:app"

needs_nghttp = pytest.mark.skipif(shutil.which("nghttp") is None, reason="nghttp2-client not installed")
needs_h2load = pytest.mark.skipif(shutil.which("h2load") is None, reason="nghttp2-client not installed")


def curl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "15", *args], capture_output=True,
                          timeout=timeout, check=False)


def url(server, path: str, scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{server.address[1]}{path}"


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    log = tmp_path_factory.mktemp("h2log") / "access.log"
    server = start_server("--threads", "4", "--access-log", str(log), APP)
    server.access_log_path = log
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def tls(tmp_path_factory, ca):
    tmp = tmp_path_factory.mktemp("h2tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, cafile = tmp / "s.crt", tmp / "s.key", tmp / "ca.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    keyfile.write_bytes(cert.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(cafile))
    server = start_server("--certfile", str(certfile), "--keyfile", str(keyfile), APP)
    server.cafile = str(cafile)
    yield server
    server.stop()


class GoAway:
    """A GOAWAY the server sent. The client's `h2` closes its state machine at the first
    GOAWAY and then refuses the PING of a graceful two-step GOAWAY (RFC 9113 §6.8), so
    GOAWAY frames are taken out of the byte stream and recorded here instead."""

    def __init__(self, payload: bytes) -> None:
        self.last_stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        self.error_code = int.from_bytes(payload[4:8], "big")


class H2Client:
    """A raw HTTP/2 client over one socket (cleartext, prior knowledge)."""

    def __init__(self, address, settings: dict | None = None, timeout: float = 10) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                          header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.events: list = []
        self.pending = b""

    def feed(self, data: bytes) -> None:
        """Hands whole frames to `h2`, except GOAWAY frames (see `GoAway`)."""
        self.pending += data
        while len(self.pending) >= 9:
            length = int.from_bytes(self.pending[:3], "big")
            if len(self.pending) < 9 + length:
                return
            frame, self.pending = self.pending[:9 + length], self.pending[9 + length:]
            if frame[3] == 0x7:
                self.events.append(GoAway(frame[9:]))
                continue
            self.events.extend(self.conn.receive_data(frame))

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers(self, path: str, method: str = "GET", authority: str = "127.0.0.1",
                extra=(), end: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                                     (":authority", authority), *extra], end_stream=end)
        self.flush()
        return sid

    def pump(self, until, deadline: float = 10) -> list:
        """Reads until `until(event)` is true for an event, or the connection ends."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for ev in self.events:
                if until(ev):
                    return self.events
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError, socket.timeout):
                return self.events
            if not data:
                return self.events
            try:
                self.feed(data)
            except h2.exceptions.ProtocolError:
                return self.events
            for ev in self.events:
                if isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            try:
                self.flush()
            except OSError:
                return self.events
        raise AssertionError(f"no matching event within {deadline}s: {self.events}")

    def get(self, path: str, **kw) -> tuple[int, bytes]:
        sid = self.headers(path, **kw)
        self.pump(lambda ev: isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset))
                  and ev.stream_id == sid)
        status, body = 0, b""
        for ev in self.events:
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = int(dict(ev.headers)[":status"])
            if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                body += ev.data
        return status, body

    def goaway(self):
        return next((ev for ev in self.events if isinstance(ev, (GoAway, h2.events.ConnectionTerminated))),
                    None)

    def goaway_last_id(self) -> int | None:
        """The lowest last-stream-id of the GOAWAYs received (a graceful GOAWAY comes
        twice: first with the largest id, then with the last stream accepted)."""
        ids = [ev.last_stream_id for ev in self.events if isinstance(ev, GoAway)]
        return min(ids) if ids else None

    def close(self) -> None:
        self.sock.close()


def still_served(server) -> None:
    """Another client gets an answer over HTTP/2 and over HTTP/1.1."""
    client = H2Client(server.address)
    try:
        assert client.get("/ok")[0] == 200
    finally:
        client.close()
    got = curl("-o", "/dev/null", "-w", "%{http_code}", url(server, "/ok"))
    assert got.stdout == b"200", got


# --- real clients ------------------------------------------------------------------------


def test_curl_prior_knowledge_gets_a_pep3333_environ_over_http2(plain):
    got = curl("--http2-prior-knowledge", "-w", "\n%{http_version}", "-H", "X-Custom: yes",
               "-b", "a=1", url(plain, "/environ?q=1"))
    assert got.returncode == 0, got
    body, version = got.stdout.rsplit(b"\n", 1)
    assert version == b"2"
    environ = json.loads(body)
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"
    assert environ["HTTP_HOST"] == f"127.0.0.1:{plain.address[1]}"
    assert environ["HTTP_X_CUSTOM"] == "yes"
    assert environ["HTTP_COOKIE"] == "a=1"
    assert environ["QUERY_STRING"] == "q=1"
    assert environ["wsgi.input_terminated"] is True
    assert environ["wsgi.url_scheme"] == "http"
    assert "HTTP_CONNECTION" not in environ
    # The access log writes one record per stream, protocol HTTP/2.0.
    deadline = time.monotonic() + 5
    while '"GET /environ?q=1 HTTP/2.0" 200' not in plain.access_log_path.read_text():
        assert time.monotonic() < deadline, plain.access_log_path.read_text()
        time.sleep(0.05)


def test_curl_http1_on_the_same_plain_port_is_unchanged(plain):
    got = curl("--http1.1", "-w", "\n%{http_version}", url(plain, "/environ"))
    body, version = got.stdout.rsplit(b"\n", 1)
    assert version == b"1.1"
    assert json.loads(body)["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_request_bodies_and_file_bodies_stream_over_http2(plain, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    src = tmp_path / "body.bin"
    src.write_bytes(data)
    out = tmp_path / "out.bin"
    # 3 MiB through a 64 KiB window: the window reopens only as the app reads.
    got = curl("--http2-prior-knowledge", "--data-binary", f"@{src}", "-o", str(out),
               url(plain, "/echo-body"))
    assert got.returncode == 0, got
    assert out.read_bytes() == data
    got = curl("--http2-prior-knowledge", "-o", str(out), url(plain, f"/file?path={src}&token=h2"))
    assert got.returncode == 0, got
    assert out.read_bytes() == data


def test_static_files_are_served_on_http2_streams(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    small, big = b"s" * 1000, os.urandom(300_000)
    (site / "small.txt").write_bytes(small)
    (site / "big.bin").write_bytes(big)
    server = start_server("--static-map", f"/static={site}", APP)
    try:
        def get(path: str, *args: str) -> tuple[bytes, bytes]:
            got = curl("--http2-prior-knowledge", "-D", "-", *args, url(server, path))
            assert got.returncode == 0, got
            head, _, body = got.stdout.partition(b"\r\n\r\n")
            return head, body
        head, body = get("/static/small.txt")
        assert head.startswith(b"HTTP/2 200"), head
        assert body == small
        etag = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n")
                    if line.lower().startswith(b"etag:"))
        head, body = get("/static/big.bin")
        assert head.startswith(b"HTTP/2 200") and body == big
        head, body = get("/static/big.bin", "-H", "Range: bytes=10-19")
        assert head.startswith(b"HTTP/2 206") and body == big[10:20]
        head, body = get("/static/small.txt", "-H", "If-None-Match: " + etag.decode())
        assert head.startswith(b"HTTP/2 304") and body == b""
        head, body = get("/static/nothing.txt")
        assert head.startswith(b"HTTP/2 404"), head
        head, body = get("/environ")  # not under the mount: the app
        assert json.loads(body)["SERVER_PROTOCOL"] == "HTTP/2"
    finally:
        server.stop()


def test_curl_negotiates_http2_by_alpn_over_tls(tls):
    got = curl("--http2", "--cacert", tls.cafile, "-w", "\n%{http_version}",
               url(tls, "/environ", "https", "localhost"))
    assert got.returncode == 0, got
    body, version = got.stdout.rsplit(b"\n", 1)
    assert version == b"2"
    environ = json.loads(body)
    assert environ["SERVER_PROTOCOL"] == "HTTP/2"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTPS"] == "on"
    assert environ["SSL_PROTOCOL"] == "TLSv1.3"
    got = curl("--http1.1", "--cacert", tls.cafile, "-w", "\n%{http_version}",
               url(tls, "/environ", "https", "localhost"))
    assert got.stdout.rsplit(b"\n", 1)[1] == b"1.1"


@pytest.mark.skipif(shutil.which("sslscan") is None, reason="sslscan not installed")
def test_sslscan_finds_nothing_below_tls12_and_no_weak_suite(tls):
    got = subprocess.run(["sslscan", "--no-colour", f"127.0.0.1:{tls.address[1]}"],
                         capture_output=True, text=True, timeout=60, check=False)
    out = got.stdout
    for old in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
        assert re.search(rf"^{re.escape(old)}\s+disabled", out, re.M), out
    assert re.search(r"^TLSv1\.2\s+enabled", out, re.M), out
    assert re.search(r"^TLSv1\.3\s+enabled", out, re.M), out
    suites = re.findall(r"^(?:Preferred|Accepted)\s+TLSv1\.[23]\s+(\d+) bits\s+(\S+)", out, re.M)
    assert suites, out
    for bits, name in suites:
        assert int(bits) >= 128, name
        assert re.search(r"GCM|CHACHA20", name), f"not an AEAD suite: {name}"
        assert not re.search(r"RC4|DES|NULL|EXP|MD5|CBC|anon", name), name


def test_http_protocols_h1_turns_http2_off(tmp_path, ca):
    server = start_server("--http-protocols", "h1", APP)
    try:
        got = curl("--http2-prior-knowledge", url(server, "/ok"))
        assert got.returncode != 0
        still = curl("-o", "/dev/null", "-w", "%{http_code}", url(server, "/ok"))
        assert still.stdout == b"200"
    finally:
        server.stop()


@needs_nghttp
def test_nghttp_gets_answers_on_concurrent_streams(plain):
    paths = [url(plain, f"/ok?{i}") for i in range(5)]
    got = subprocess.run(["nghttp", "-ns", "-t", "10", *paths], capture_output=True, timeout=30,
                         check=False)
    assert got.returncode == 0, got
    # nghttp's statistics: one row per stream, "id responseEnd requestStart process code
    # size path".
    rows = re.findall(rb"^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s+(\d+)\s+(/ok\?\d)$", got.stdout, re.M)
    assert sorted(path for _, _, path in rows) == [f"/ok?{i}".encode() for i in range(5)], got.stdout
    assert {(code, size) for code, size, _ in rows} == {(b"200", b"2")}


@needs_h2load
def test_h2load_gets_2000_answers_all_2xx(plain):
    got = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "8", url(plain, "/ok")],
                         capture_output=True, timeout=60, check=False)
    out = got.stdout.decode()
    assert got.returncode == 0, out
    assert "2000 succeeded" in out, out
    assert "status codes: 2000 2xx" in out, out


def test_asgi_scope_says_http_version_2_and_early_hints_arrive(tmp_path):
    server = start_server("--interface", "asgi", ASGI_APP)
    try:
        got = curl("--http2-prior-knowledge", url(server, "/scope"))
        assert json.loads(got.stdout)["http_version"] == "2"
        client = H2Client(server.address)
        sid = client.headers("/early")
        client.pump(lambda ev: isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid)
        kinds = [type(ev).__name__ for ev in client.events if getattr(ev, "stream_id", None) == sid]
        assert kinds.index("InformationalResponseReceived") < kinds.index("ResponseReceived")
        hint = next(ev for ev in client.events if isinstance(ev, h2.events.InformationalResponseReceived))
        assert dict(hint.headers)[":status"] == "103"
        # ASGI trailers: a trailing HEADERS frame.
        sid = client.headers("/trailers")
        client.pump(lambda ev: isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid)
        trailers = [dict(ev.headers) for ev in client.events
                    if isinstance(ev, h2.events.TrailersReceived) and ev.stream_id == sid]
        assert trailers == [{"x-checksum": "abc123", "x-count": "2"}], client.events
        body = b"".join(ev.data for ev in client.events
                        if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid)
        assert body == b"part one;part two"
        # A reset stream is the app's http.disconnect (its receive() waits for it, and
        # the server does not spin meanwhile).
        sid = client.headers("/wait-disconnect?key=h2wait")
        time.sleep(0.5)
        client.conn.reset_stream(sid)
        client.flush()
        deadline = time.monotonic() + 5
        while True:
            got = json.loads(curl("--http2-prior-knowledge", url(server, "/progress")).stdout)
            if got.get("h2wait") == "http.disconnect":
                break
            assert time.monotonic() < deadline, got
            time.sleep(0.1)
        client.close()
    finally:
        server.stop()


def early_hints_over(server, version: bytes) -> bytes:
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(b"GET /early-hints HTTP/" + version + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_wsgi_early_hints_send_103_on_http11_and_http2_not_on_http10(plain):
    h11 = early_hints_over(plain, b"1.1")
    assert h11.startswith(b"HTTP/1.1 103 Early Hints\r\n"), h11
    assert b"\r\nLink: </style.css>; rel=preload; as=style\r\n" in h11.split(b"\r\n\r\n")[0] + b"\r\n"
    assert b"HTTP/1.1 200 OK\r\n" in h11
    h10 = early_hints_over(plain, b"1.0")
    assert h10.startswith(b"HTTP/1.1 200 OK\r\n"), h10
    assert b" 103 " not in h10
    client = H2Client(plain.address)
    sid = client.headers("/early-hints")
    client.pump(lambda ev: isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid)
    kinds = [type(ev).__name__ for ev in client.events if getattr(ev, "stream_id", None) == sid]
    assert kinds.index("InformationalResponseReceived") < kinds.index("ResponseReceived")
    hint = next(ev for ev in client.events if isinstance(ev, h2.events.InformationalResponseReceived))
    assert dict(hint.headers) == {":status": "103", "link": "</style.css>; rel=preload; as=style"}
    client.close()


def test_wsgi_early_hints_belong_to_the_thread_running_the_request(plain):
    """`wsgi.early_hints` is one object per worker that sends for the request its calling
    thread runs: from the body's generator it still hints; from another thread, during
    the request or after it, it sends nothing, to this client or the next request's."""
    with socket.create_connection(plain.address, timeout=10) as sock:
        def exchange(path: bytes, end: bytes) -> bytes:
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(end):
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            return data
        elsewhere = exchange(b"/early-hints-elsewhere", b"\r\n\r\nnot hinted")
        assert elsewhere.startswith(b"HTTP/1.1 200 OK\r\n") and b" 103 " not in elsewhere, elsewhere
        time.sleep(0.6)  # the late call has been made by now, while this connection idles
        after = exchange(b"/ok", b"\r\n\r\nok")
        assert after.startswith(b"HTTP/1.1 200 OK\r\n") and b"elsewhere" not in after, after
        in_body = exchange(b"/early-hints-in-body", b"\r\nhinted\r\n0\r\n\r\n")
        assert in_body.startswith(
            b"HTTP/1.1 103 Early Hints\r\nLink: </late.js>; rel=preload; as=script\r\n"), in_body
        assert b"HTTP/1.1 200 OK\r\n" in in_body
    assert plain.is_alive()


# --- limits and attacks --------------------------------------------------------------------


def test_a_whole_body_goes_out_in_one_data_frame_that_ends_the_stream(plain):
    """A body the app gives whole (a one-item list, as the bench's hello): HEADERS, then one
    DATA frame with END_STREAM, not a second, empty DATA frame to end the stream (one frame
    less per response, as hyper sends it)."""
    client = H2Client(plain.address)
    try:
        for _ in range(2):
            sid = client.headers("/list?n=1&size=5")
            client.pump(lambda ev, sid=sid: isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid)
            data = [ev for ev in client.events
                    if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid]
            assert [ev.data for ev in data] == [b"aaaaa"]
            assert data[0].stream_ended is not None
        # A body in pieces (a generator) still ends its stream, and HEAD sends no body.
        assert client.get("/gen?n=3") == (200, b"chunk-0\nchunk-1\nchunk-2\n")
        status, body = client.get("/ok", method="HEAD")
        assert (status, body) == (200, b"")
    finally:
        client.close()


def test_settings_advertise_the_stream_limit(plain):
    client = H2Client(plain.address)
    client.pump(lambda ev: isinstance(ev, h2.events.RemoteSettingsChanged))
    assert client.conn.remote_settings.max_concurrent_streams == 100
    client.close()


def test_rapid_reset_gets_goaway(plain):
    client = H2Client(plain.address)
    for _ in range(600):
        try:
            sid = client.headers("/echo-body?ms=50", end=False)
            client.conn.reset_stream(sid)
            client.flush()
        except (OSError, h2.exceptions.ProtocolError):
            break
    client.pump(lambda ev: isinstance(ev, (GoAway, h2.events.ConnectionTerminated)))
    goaway = client.goaway()
    assert goaway is not None
    assert goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    client.close()
    still_served(plain)


def test_resets_of_streams_the_app_already_has_get_goaway(plain):
    """The rapid reset variant h2's own pending-accept bound does not see: each stream is
    accepted and handed to the app before the client resets it. Ferrule's own count
    (`ResetGuard`) sends the GOAWAY."""
    client = H2Client(plain.address)
    try:
        for _ in range(40):
            sids = [client.headers("/echo-body?ms=20", end=False) for _ in range(10)]
            time.sleep(0.03)
            for sid in sids:
                client.conn.reset_stream(sid)
            client.flush()
            client.sock.settimeout(0.01)
            try:
                client.feed(client.sock.recv(65536))
            except (TimeoutError, socket.timeout, h2.exceptions.ProtocolError):
                pass
            if client.goaway() is not None:
                break
    except OSError:
        pass
    client.sock.settimeout(10)
    client.pump(lambda ev: isinstance(ev, (GoAway, h2.events.ConnectionTerminated)))
    goaway = client.goaway()
    assert goaway is not None
    assert goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    # Well past the first ten: these streams were accepted before being reset.
    assert goaway.last_stream_id > 100, goaway.last_stream_id
    client.close()
    still_served(plain)


def test_continuation_flood_is_cut(plain):
    from hyperframe.frame import ContinuationFrame, HeadersFrame

    client = H2Client(plain.address)
    encoder = client.conn.encoder
    block = encoder.encode([(":method", "GET"), (":path", "/ok"), (":scheme", "http"),
                            (":authority", "127.0.0.1")])
    frame = HeadersFrame(1, block)  # no END_HEADERS: CONTINUATION frames follow
    client.sock.sendall(frame.serialize())
    junk = encoder.encode([("x-flood", "a" * 4000)])
    sent = 0
    try:
        for _ in range(2000):
            client.sock.sendall(ContinuationFrame(1, junk).serialize())
            sent += 1
    except OSError:
        pass
    closed = False
    try:
        client.sock.settimeout(10)
        while client.sock.recv(65536):
            pass
        closed = True
    except OSError:
        closed = True
    assert closed
    client.close()
    still_served(plain)


def test_an_oversized_header_list_is_refused(plain):
    client = H2Client(plain.address)
    # 100 KiB of headers, over the 64 KiB head limit (as an HPACK-compressed bomb would be
    # once decoded).
    sid = client.headers("/ok", extra=[(f"x-big-{i}", "b" * 1000) for i in range(100)])
    client.pump(lambda ev: isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset,
                                           h2.events.ConnectionTerminated, GoAway))
                and getattr(ev, "stream_id", sid) in (sid, None))
    statuses = [dict(ev.headers)[":status"] for ev in client.events
                if isinstance(ev, h2.events.ResponseReceived)]
    assert statuses == ["431"], client.events
    client.close()
    still_served(plain)


def test_ping_and_settings_floods_do_not_stop_the_server(plain):
    client = H2Client(plain.address)
    try:
        for i in range(20000):
            client.conn.ping(i.to_bytes(8, "big"))
            if i % 2 == 0:
                client.conn.update_settings({h2.settings.SettingCodes.HEADER_TABLE_SIZE: 4096})
            if i % 500 == 0:
                client.flush()
        client.flush()
    except (OSError, h2.exceptions.ProtocolError):
        pass
    # Either this client is still answered or it was cut; others always are.
    try:
        status, _ = client.get("/ok")
        assert status in (0, 200)
    except (OSError, h2.exceptions.ProtocolError, AssertionError):
        pass
    client.close()
    still_served(plain)


def test_a_window_held_shut_is_reset_after_send_timeout(tmp_path):
    server = start_server("--send-timeout", "1", APP)
    try:
        client = H2Client(server.address, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        client.pump(lambda ev: isinstance(ev, h2.events.SettingsAcknowledged))
        sid = client.headers("/file-bytesio?size=200000&token=zw")
        started = time.monotonic()
        client.pump(lambda ev: isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid,
                    deadline=10)
        assert time.monotonic() - started < 8
        client.close()
        still_served(server)
    finally:
        server.stop()


def test_an_idle_connection_gets_goaway_after_keepalive_timeout(tmp_path):
    server = start_server("--keepalive-timeout", "1", APP)
    try:
        client = H2Client(server.address)
        assert client.get("/ok")[0] == 200
        started = time.monotonic()
        client.pump(lambda ev: isinstance(ev, (GoAway, h2.events.ConnectionTerminated)), deadline=8)
        assert client.goaway() is not None
        assert time.monotonic() - started < 6
        client.close()
        still_served(server)
    finally:
        server.stop()


# --- graceful ----------------------------------------------------------------------------


def test_term_sends_goaway_and_finishes_streams_in_flight(tmp_path):
    server = start_server("--workers", "1", APP)
    try:
        client = H2Client(server.address)
        slow = [client.headers("/echo-body?ms=800") for _ in range(3)]
        time.sleep(0.3)
        os.kill(server.proc.pid, signal.SIGTERM)
        client.pump(lambda ev: all(any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid
                                       for e in client.events) for sid in slow), deadline=10)
        for sid in slow:
            assert any(isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid
                       and dict(ev.headers)[":status"] == "200" for ev in client.events)
        client.pump(lambda ev: isinstance(ev, (GoAway, h2.events.ConnectionTerminated)), deadline=5)
        assert client.goaway() is not None
        client.close()
        assert server.proc.wait(timeout=15) == 0
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["hup", "max-requests"])
def test_zero_drop_over_http2(how):
    """Requests on several HTTP/2 connections while HUP replaces the workers, or while
    max_requests recycles them: every one is answered (a connection told GOAWAY is
    replaced by a new one, as clients do)."""
    extra = ("--max-requests", "40") if how == "max-requests" else ()
    server = start_server("--workers", "2", *extra, APP)
    failures: list = []
    done = threading.Event()
    counts = [0]

    def client_loop() -> None:
        client = H2Client(server.address)
        while not done.is_set():
            sid = None
            try:
                sid = client.headers("/ok")
                client.pump(lambda ev, sid=sid: isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset))
                            and ev.stream_id == sid)
            except (OSError, AssertionError, h2.exceptions.ProtocolError):
                pass
            status = next((int(dict(ev.headers)[":status"]) for ev in client.events
                           if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid), 0)
            if status == 200 and any(isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid
                                     for ev in client.events):
                counts[0] += 1
                continue
            last = client.goaway_last_id()
            if last is not None and (sid is None or sid > last):
                # Above GOAWAY's last stream id: never started, so retried elsewhere
                # (RFC 9113 §6.8). A stream at or below it must have been answered.
                client.close()
                client = H2Client(server.address)
                continue
            failures.append((status, sid, last))
            client.close()
            client = H2Client(server.address)
        client.close()

    try:
        threads = [threading.Thread(target=client_loop) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        if how == "hup":
            os.kill(server.proc.pid, signal.SIGHUP)
            server.wait_for_log(r"reload", timeout=15)
        else:
            server.wait_for_log(r"asks to be replaced: .*max_requests", timeout=15)
        time.sleep(1.5)
        done.set()
        for t in threads:
            t.join(timeout=15)
        assert failures == []
        assert counts[0] > 20
    finally:
        done.set()
        server.stop()
