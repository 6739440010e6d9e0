"""TLS served by the worker itself (rustls): the environ of a TLS request, client
certificates (mutual TLS), errors at startup that name the file, certificate rotation on
SIGHUP, plaintext sent to a TLS port, a client that opens TLS and says nothing, and
gunicorn's TLS flags that have no effect here. Certificates are made by `trustme` at test
time; no key is committed."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
from ferrule_proc import HERE, start_server

trustme = pytest.importorskip("trustme")

APP = "apps.pep3333:app"


@pytest.fixture
def ca():
    return trustme.CA()


def write_pair(tmp_path, cert, name="server"):
    certfile, keyfile = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    keyfile.write_bytes(cert.private_key_pem.bytes())
    return str(certfile), str(keyfile)


def client_context(ca, **versions) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    for name, value in versions.items():
        setattr(ctx, name, value)
    return ctx


def get_environ(server, ctx) -> dict:
    conn = http.client.HTTPSConnection(*server.address, context=ctx, timeout=10)
    try:
        conn.request("GET", "/environ")
        resp = conn.getresponse()
        assert resp.status == 200
        first = json.loads(resp.read())
        # Keep-alive over TLS: a second request on the same connection.
        conn.request("GET", "/environ")
        resp = conn.getresponse()
        assert resp.status == 200
        json.loads(resp.read())
        return first
    finally:
        conn.close()


def tls_server(tmp_path, ca, *extra):
    certfile, keyfile = write_pair(tmp_path, ca.issue_cert("127.0.0.1", "localhost"))
    return start_server("--certfile", certfile, "--keyfile", keyfile, *extra, APP)


def test_a_tls_request_sees_https_and_the_tls_facts(tmp_path, ca):
    server = tls_server(tmp_path, ca)
    try:
        environ = get_environ(server, client_context(ca))
        assert environ["wsgi.url_scheme"] == "https"
        assert environ["HTTPS"] == "on"
        assert environ["SSL_PROTOCOL"] == "TLSv1.3"
        assert environ["SSL_CIPHER"].startswith("TLS_"), environ["SSL_CIPHER"]
        assert environ["SSL_CLIENT_VERIFY"] == "NONE"
        assert "SSL_CLIENT_S_DN" not in environ
        tls12 = get_environ(server, client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2))
        assert tls12["SSL_PROTOCOL"] == "TLSv1.2"
        assert "ECDHE" in tls12["SSL_CIPHER"], tls12["SSL_CIPHER"]
    finally:
        assert server.stop() == 0


def request_on_new_connection(server, ctx, session=None) -> tuple[bytes, ssl.SSLSession, bool]:
    """One GET on a new TLS connection (`Connection: close`), offering `session`: the raw
    answer, the session to resume next time, and whether this handshake resumed one."""
    host, port = server.address
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            # TLS 1.3 tickets come after the handshake: the session is read after the answer.
            return answer, tls.session, tls.session_reused


@pytest.mark.parametrize("version", ["TLSv1_3", "TLSv1_2"])
def test_a_client_resumes_its_session_on_a_new_connection(tmp_path, ca, version):
    """A returning client (wrk with Connection: close does this) skips the certificate and
    its signature: TLS 1.3 tickets, TLS 1.2 session ids, both kept by the worker."""
    server = tls_server(tmp_path, ca)
    try:
        ctx = client_context(ca, maximum_version=getattr(ssl.TLSVersion, version))
        answer, session, resumed = request_on_new_connection(server, ctx)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\nok"), answer
        assert not resumed
        for _ in range(3):
            answer, session, resumed = request_on_new_connection(server, ctx, session)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\nok"), answer
            assert resumed, f"{version}: the session was not resumed"
        # A session the server never issued is not resumed (a full handshake, still served).
        (tmp_path / "other").mkdir()
        other = tls_server(tmp_path / "other", ca)
        try:
            answer, _, resumed = request_on_new_connection(other, ctx, session)
            assert answer.startswith(b"HTTP/1.1 200") and not resumed
        finally:
            other.stop()
    finally:
        assert server.stop() == 0


def negotiated_suite(server, ctx) -> str:
    host, port = server.address
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.cipher()[0]


def openssl_tls13_suite(server, ca_file, client_order: str) -> str:
    """The TLS 1.3 suite `openssl s_client` gets offering `client_order` (Python's `ssl`
    cannot set TLS 1.3 suites)."""
    host, port = server.address
    out = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-tls1_3",
                          "-CAfile", ca_file, "-ciphersuites", client_order],
                         input=b"", capture_output=True, timeout=20, check=False).stdout.decode()
    found = re.search(r"Cipher is (\S+)", out)
    assert found, out
    return found.group(1)


def test_the_server_prefers_aes_128_gcm_unless_the_client_asks_for_chacha20_first(tmp_path, ca):
    """OpenSSL clients ask for AES-256-GCM first; the server answers in its own order,
    AES-128-GCM first, except to a client that puts ChaCha20-Poly1305 first (no AES
    hardware), which gets it (docs/tls.md)."""
    server = tls_server(tmp_path, ca)
    try:
        assert negotiated_suite(server, client_context(ca)) == "TLS_AES_128_GCM_SHA256"
        tls12 = client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
        tls12.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        assert negotiated_suite(server, tls12).endswith("AES128-GCM-SHA256")
        tls12.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        assert negotiated_suite(server, tls12).endswith("CHACHA20-POLY1305")
        if shutil.which("openssl"):
            ca_file = tmp_path / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_file))
            assert openssl_tls13_suite(server, str(ca_file),
                                       "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
                                       ) == "TLS_CHACHA20_POLY1305_SHA256"
            assert openssl_tls13_suite(server, str(ca_file),
                                       "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
                                       ) == "TLS_AES_256_GCM_SHA384"
        # The environ names what was negotiated.
        assert get_environ(server, client_context(ca))["SSL_CIPHER"] == "TLS_AES_128_GCM_SHA256"
    finally:
        assert server.stop() == 0


def test_curl_fetches_over_tls(tmp_path, ca):
    curl = pytest.importorskip("shutil").which("curl")
    if curl is None:
        pytest.skip("curl is not installed (.ci/run installs it)")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = tls_server(tmp_path, ca)
    try:
        host, port = server.address
        out = subprocess.run([curl, "-sS", "--cacert", str(ca_file), f"https://{host}:{port}/environ"],
                             capture_output=True, timeout=20, check=True).stdout
        assert json.loads(out)["HTTPS"] == "on"
    finally:
        server.stop()


def test_tls_min_version_1_3_refuses_a_tls_1_2_client(tmp_path, ca):
    server = tls_server(tmp_path, ca, "--tls-min-version", "1.3")
    try:
        with pytest.raises(ssl.SSLError):
            get_environ(server, client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2))
        assert get_environ(server, client_context(ca))["SSL_PROTOCOL"] == "TLSv1.3"
    finally:
        server.stop()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path, ca):
    ca_file = tmp_path / "clients-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = tls_server(tmp_path, ca, "--ca-certs", str(ca_file), "--cert-reqs", "2")
    try:
        # No certificate: refused (TLS 1.3 reports it on the first read).
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            get_environ(server, client_context(ca))
        # A certificate from another CA: refused too.
        stranger = trustme.CA().issue_cert("mallory@example.org")
        ctx = client_context(ca)
        stranger.configure_cert(ctx)
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            get_environ(server, ctx)
        # One from the CA: served, and the environ shows it.
        alice = ca.issue_cert("alice@example.org", common_name="alice")
        ctx = client_context(ca)
        alice.configure_cert(ctx)
        environ = get_environ(server, ctx)
        assert environ["SSL_CLIENT_VERIFY"] == "SUCCESS"
        # RFC 4514: the last RDN (here the CN) first.
        assert environ["SSL_CLIENT_S_DN"].startswith("CN=alice,"), environ["SSL_CLIENT_S_DN"]
        assert environ["SSL_CLIENT_I_DN"].startswith(("O=", "OU=", "CN=")), environ["SSL_CLIENT_I_DN"]
        pem = environ["SSL_CLIENT_CERT"]
        assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
        assert ssl.PEM_cert_to_DER_cert(pem) == ssl.PEM_cert_to_DER_cert(alice.cert_chain_pems[0].bytes().decode())
    finally:
        assert server.stop() == 0


def run_cli(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "ferrule", "--pythonpath", str(HERE),
                           "--bind", "127.0.0.1:0", *args, APP],
                          capture_output=True, text=True, timeout=timeout)


def test_bad_tls_files_stop_the_server_at_startup_naming_the_file(tmp_path, ca):
    certfile, keyfile = write_pair(tmp_path, ca.issue_cert("127.0.0.1"))
    _, other_key = write_pair(tmp_path, ca.issue_cert("127.0.0.1"), name="other")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")
    missing = str(tmp_path / "missing.crt")
    rows = [
        (("--certfile", missing, "--keyfile", keyfile), f"ferrule: cannot read --certfile {missing}"),
        (("--certfile", certfile, "--keyfile", other_key),
         f"ferrule: --keyfile {other_key} does not match the certificate in --certfile {certfile}"),
        (("--certfile", certfile, "--keyfile", str(encrypted)), f"ferrule: --keyfile {encrypted} is encrypted"),
        (("--certfile", certfile, "--keyfile", keyfile, "--cert-reqs", "2"),
         "ferrule: --cert-reqs required needs --ca-certs"),
    ]
    for args, message in rows:
        done = run_cli(*args)
        assert done.returncode == 1, (args, done.stderr)
        assert message in done.stderr, (message, done.stderr)
        assert "Traceback" not in done.stderr


def peer_cert(server, ca) -> bytes:
    with socket.create_connection(server.address, timeout=10) as raw:
        with client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def wait_until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition never held")


def test_sighup_rotates_the_certificate_and_a_bad_one_keeps_the_old(tmp_path, ca):
    first = ca.issue_cert("127.0.0.1")
    certfile, keyfile = write_pair(tmp_path, first)
    server = start_server("--certfile", certfile, "--keyfile", keyfile, APP)
    try:
        der = lambda cert: ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())  # noqa: E731
        assert peer_cert(server, ca) == der(first)
        second = ca.issue_cert("127.0.0.1")
        write_pair(tmp_path, second)
        os.kill(server.proc.pid, signal.SIGHUP)
        # The new generation serves with the new certificate once the old one has gone.
        wait_until(lambda: peer_cert(server, ca) == der(second))
        # A broken certificate on the next reload: the current generation keeps serving.
        (tmp_path / "server.crt").write_text("not a certificate\n")
        os.kill(server.proc.pid, signal.SIGHUP)
        server.wait_for_log(r"reload: keeping the current settings: --certfile .*server\.crt")
        assert peer_cert(server, ca) == der(second)
    finally:
        assert server.stop() == 0


def test_plain_http_sent_to_a_tls_port_gets_a_400_in_plaintext(tmp_path, ca):
    server = tls_server(tmp_path, ca)
    try:
        with socket.create_connection(server.address, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
        assert answer.endswith(b"400 Bad Request: plain HTTP sent to an HTTPS port\n")
        assert get_environ(server, client_context(ca))["HTTPS"] == "on"
    finally:
        server.stop()


def test_a_client_that_opens_tls_and_says_nothing_is_cut_at_header_timeout(tmp_path, ca):
    server = tls_server(tmp_path, ca, "--header-timeout", "1s")
    try:
        silent = socket.create_connection(server.address, timeout=10)
        started = time.monotonic()
        # Others are served meanwhile.
        assert get_environ(server, client_context(ca))["HTTPS"] == "on"
        assert silent.recv(1) == b""
        assert time.monotonic() - started < 5
        silent.close()
    finally:
        server.stop()


def test_gunicorns_tls_flags_without_effect_are_accepted_with_a_warning(tmp_path, ca):
    server = tls_server(tmp_path, ca, "--ciphers", "ECDHE+AESGCM", "--do-handshake-on-connect")
    try:
        log = server.log()
        assert "ferrule: warning: --ciphers is accepted for gunicorn's sake and ignored" in log
        assert "ferrule: warning: --do-handshake-on-connect is accepted for gunicorn's sake and ignored" in log
        assert get_environ(server, client_context(ca))["HTTPS"] == "on"
    finally:
        server.stop()


def tls_request_after(server, ca, preamble: bytes, same_segment: bool) -> dict:
    """GET /environ over TLS on a socket that first carried `preamble` (a PROXY header).
    `same_segment`: the header and the ClientHello leave in one write, as a load balancer
    may send them, so the server reads part of the handshake with the header."""
    ctx = client_context(ca)
    sock = socket.create_connection(server.address, timeout=10)
    try:
        if not same_segment:
            sock.sendall(preamble)
            tls = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        else:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
            with pytest.raises(ssl.SSLWantReadError):
                obj.do_handshake()
            sock.sendall(preamble + outgoing.read())
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    data = sock.recv(65536)
                    assert data, "closed during the handshake"
                    incoming.write(data)
            sock.sendall(outgoing.read())
            obj.write(b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            sock.sendall(outgoing.read())
            raw = b""
            while True:
                try:
                    chunk = obj.read(65536)
                except ssl.SSLWantReadError:
                    data = sock.recv(65536)
                    if not data:
                        break
                    incoming.write(data)
                    continue
                except ssl.SSLZeroReturnError:
                    break
                if not chunk:
                    break
                raw += chunk
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            return json.loads(body)
        tls.sendall(b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := tls.recv(65536):
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return json.loads(body)
    finally:
        sock.close()


@pytest.mark.parametrize("same_segment", [False, True], ids=["separate", "one-segment"])
def test_a_proxy_header_before_the_tls_handshake_names_the_client(tmp_path, ca, same_segment):
    server = tls_server(tmp_path, ca, "--proxy-protocol", "auto")
    try:
        v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n"
        got = tls_request_after(server, ca, v1, same_segment)
        assert (got["REMOTE_ADDR"], got["REMOTE_PORT"]) == ("203.0.113.7", "56324")
        assert got["wsgi.url_scheme"] == "https" and got["HTTPS"] == "on"
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton("198.51.100.9")
              + socket.inet_aton("192.0.2.1") + (4711).to_bytes(2, "big")
              + (443).to_bytes(2, "big"))
        got = tls_request_after(server, ca, v2, same_segment)
        assert (got["REMOTE_ADDR"], got["REMOTE_PORT"]) == ("198.51.100.9", "4711")
        # No header where one is required: closed without an answer; others still served.
        sock = client_context(ca).wrap_socket(
            socket.create_connection(server.address, timeout=10), server_hostname="127.0.0.1",
            do_handshake_on_connect=False)
        with sock, pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            sock.do_handshake()
        got = tls_request_after(server, ca, v1, same_segment)
        assert got["REMOTE_ADDR"] == "203.0.113.7"
    finally:
        assert server.stop() == 0


def test_haproxy_passing_tls_through_sends_the_client_in_a_proxy_header(tmp_path, ca, proxies):
    from proxies import start_haproxy_tls_passthrough

    server = tls_server(tmp_path, ca, "--proxy-protocol", "v2")
    try:
        haproxy = proxies(start_haproxy_tls_passthrough, server)
        ctx = client_context(ca)
        for _ in range(3):
            raw = socket.create_connection(haproxy.address, timeout=10,
                                           source_address=("127.0.0.2", 0))
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                got = b""
                while chunk := tls.recv(65536):
                    got += chunk
            head, _, body = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            environ = json.loads(body)
            assert environ["REMOTE_ADDR"] == "127.0.0.2"
            assert environ["HTTPS"] == "on"
    finally:
        assert server.stop() == 0
