"""Seeds the working fuzz corpora (fuzz/corpus/<target>/, not committed) from the request
corpus in tests/corpus/requests and the committed minimized corpus in fuzz/corpus-min/.

    python3 fuzz/seed.py
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REQUESTS = FUZZ.parent / "tests" / "corpus" / "requests"
TARGETS = ("request_head", "request_stream", "chunked_body", "proxy_header", "uwsgi_packet",
           "forwarded", "conn_loop")
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def put(target: str, data: bytes) -> None:
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    for http in sorted(REQUESTS.glob("*/*.http")):
        data = http.read_bytes()
        put("request_head", data)
        put("request_stream", data)
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep and re.search(rb"(?i)\r\ntransfer-encoding:[^\r]*chunked", head):
            put("chunked_body", body)
    for data in proxy_headers():
        put("proxy_header", data)
    for data in uwsgi_packets():
        put("uwsgi_packet", data)
    for data in forwarding_blocks():
        put("forwarded", data)
    for data in conn_scripts():
        put("conn_loop", data)
    for target in TARGETS:
        for kept in sorted((FUZZ / "corpus-min" / target).glob("*")):
            put(target, kept.read_bytes())


def conn_script(client: bytes, app: bytes, data: bytes) -> bytes:
    """A `conn_loop` input: the client's script, the app's script, the client's bytes."""
    return bytes([len(client), len(app)]) + client + app + data


def conn_scripts() -> list[bytes]:
    """Connections for `conn_loop`: each request of the corpus as it comes, and pipelined or
    trickled requests with delays, stops, resets and app faults (see fuzz/src/conn_loop.rs
    for the encoding)."""
    get = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    chunked = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    expect = b"PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    http10 = b"GET /old HTTP/1.0\r\n\r\n"
    head = b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"
    out = [conn_script(b"", b"", http.read_bytes()) for http in sorted(REQUESTS.glob("*/*.http"))]
    flags_short = 8  # short timeouts
    out += [
        conn_script(b"", b"", get + post + chunked + head + http10),
        # Trickled: one byte per read, with pauses; short timeouts.
        conn_script(bytes([flags_short]) + bytes([0] * 40) + bytes([0x45, 0x3f]), b"", get + post),
        # The app starts chunked, sends data, trailers; then a Content-Length it breaks.
        conn_script(b"", bytes([3, 0x30, 4, 9, 6, 0, 2, 0x28, 4, 40, 5, 0]), get + get + get),
        # Reads the body, early hints, then an app error, an internal abort, a timeout.
        conn_script(b"", bytes([1, 0, 7, 0, 8, 0, 9, 0, 9, 1]), post + chunked + expect + get),
        # Sleeps past the client, which stops the worker and resets.
        conn_script(bytes([flags_short, 0x10, 0x50, 0xC0, 0x20, 0xC3]), bytes([10, 200, 11, 0, 11, 1]),
                    get + post + get),
        # A reader that stalls (send timeout), partial writes, a half close.
        conn_script(bytes([flags_short | 32, 0xC5 | 0x3c, 0x30, 0xC2]), bytes([2, 0xff, 4, 200, 4, 200]),
                    get + get),
        # The handler is gone (503), one permit.
        conn_script(bytes([0xC0]), b"", get + get),
        # Small limits: 413, 431.
        conn_script(bytes([4]), b"", post.replace(b"5\r\n\r\nhello", b"500\r\n\r\n" + b"z" * 500)),
    ]
    return out


def proxy_headers() -> list[bytes]:
    """PROXY v1 lines and v2 headers of every family, with TLVs, followed by a request."""
    get = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    inet4 = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 56324, 443)
    inet6 = bytes(range(32)) + struct.pack("!HH", 1, 2)
    tlvs = (b"\x01\x00\x02h2" + b"\x02\x00\x04host" + b"\x05\x00\x02id"
            + b"\x20\x00\x0e\x07\x00\x00\x00\x00\x21\x00\x07TLSv1.3" + b"\x04\x00\x01\x00")

    def v2(command: int, family: int, payload: bytes) -> bytes:
        return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(payload)) + payload

    return [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" + get,
        b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 8443\r\n" + get,
        b"PROXY UNKNOWN\r\n" + get,
        b"PROXY UNKNOWN ffff:f...f:ffff 65535 65535\r\n",
        v2(0x21, 0x11, inet4) + get,
        v2(0x21, 0x11, inet4 + tlvs) + get,
        v2(0x21, 0x21, inet6 + tlvs),
        v2(0x21, 0x31, bytes(216)),
        v2(0x20, 0x00, b"") + get,
        v2(0x20, 0x11, inet4),
    ]


def uwsgi_packets() -> list[bytes]:
    """nginx-like uwsgi packets (uwsgi_params), with and without a body."""
    def packet(variables: dict[str, str], body: bytes = b"") -> bytes:
        block = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v))
                         + v.encode() for k, v in variables.items())
        return struct.pack("<BHB", 0, len(block), 0) + block + body

    nginx = {"QUERY_STRING": "q=1", "REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain",
             "CONTENT_LENGTH": "5", "REQUEST_URI": "/p?q=1", "PATH_INFO": "/p",
             "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "https", "HTTPS": "on",
             "REMOTE_ADDR": "192.0.2.10", "REMOTE_PORT": "50123", "SERVER_PORT": "443",
             "SERVER_NAME": "shop.example", "HTTP_HOST": "shop.example",
             "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}
    return [packet(nginx, b"hello"),
            packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "a=b"}),
            packet({"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "SCRIPT_NAME": "/app"})]


def forwarding_blocks() -> list[bytes]:
    """Header blocks with every forwarding header the walk reads."""
    return [
        b"X-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nX-Forwarded-Proto: https\r\n",
        b'Forwarded: for="[2001:db8::1]:4711";proto=https;host=a.example, for=10.0.0.9\r\n',
        b"Forwarded: for=_hidden;by=unknown\r\nX-Forwarded-For: _hidden\r\n",
        b"X-Forwarded-Host: shop.example:8443\r\nX-Forwarded-Port: 8443\r\n"
        b"X-Forwarded-Prefix: /a%20b/\r\nX-Forwarded-Ssl: on\r\n",
        b"X-Forwarded-For: [2001:db8::7]:1, 2001:db8::8\r\nX-Forwarded-Protocol: ssl\r\n",
    ]


if __name__ == "__main__":
    main()
