"""Writes the request corpus: tests/corpus/requests/{valid,invalid}/NNN.http + NNN.toml.

The cases below are the source of truth; the generated files are committed so that Rust
and Python read exact bytes without running this script. Run it after editing a case:

    python3 tests/corpus/generate.py

Every byte of a `.http` file is spelled out here (CRLF exact). Expectations are written by
hand next to each case, never derived from the bytes, so the generator cannot share a bug
with the parser. The file format is documented in tests/corpus/README.md.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "requests"


@dataclass
class Req:
    """One expected request of a valid pipeline (or one before the error of an invalid one)."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    version: str = "HTTP/1.1"
    framing: str = "Empty"
    body: bytes = b""
    keep_alive: bool = True
    expects_continue: bool = False


@dataclass
class Valid:
    description: str
    wire: bytes
    requests: list[Req]


@dataclass
class Invalid:
    description: str
    wire: bytes
    error: str
    status: int
    requests: list[Req] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)


def head(line: str | bytes, *fields: str | bytes) -> bytes:
    """A head from a request line and field lines, each ended by CRLF, plus the blank line."""
    def b(x: str | bytes) -> bytes:
        return x.encode("latin-1") if isinstance(x, str) else x
    return b"".join(b(x) + b"\r\n" for x in (line, *fields)) + b"\r\n"


def get(target: str = "/", *more: str, host: str = "example.com") -> bytes:
    return head(f"GET {target} HTTP/1.1", f"Host: {host}", *more)


H = [("Host", "example.com")]

# ------------------------------------------------------------------------------------------
# Valid requests
# ------------------------------------------------------------------------------------------

BIG_LINE_TARGET = "/" + "a" * (8192 - len("GET / HTTP/1.1"))
BIG_FIELD_VALUE = "v" * (8192 - len("X-Big: "))
HUNDRED_FIELDS = [("Host", "example.com")] + [(f"X-Field-{i:02}", f"value {i}") for i in range(1, 100)]
ALL_BYTES = bytes(range(256))

VALID: list[Valid] = [
    Valid("minimal GET", get("/"), [Req("GET", "/", H)]),
    Valid(
        "GET with a query string and browser-like fields",
        head("GET /search?q=ferrule&page=2 HTTP/1.1", "Host: example.com",
             "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0",
             "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
             "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate, br"),
        [Req("GET", "/search?q=ferrule&page=2",
             H + [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0"),
                  ("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
                  ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "gzip, deflate, br")])],
    ),
    Valid(
        "POST with a Content-Length form body",
        head("POST /login HTTP/1.1", "Host: example.com",
             "Content-Type: application/x-www-form-urlencoded", "Content-Length: 28")
        + b"user=alice&password=s%26cret",
        [Req("POST", "/login", H + [("Content-Type", "application/x-www-form-urlencoded"),
                                    ("Content-Length", "28")],
             framing="Length(28)", body=b"user=alice&password=s%26cret")],
    ),
    Valid("HEAD request", head("HEAD /index.html HTTP/1.1", "Host: example.com"),
          [Req("HEAD", "/index.html", H)]),
    Valid("OPTIONS with the asterisk form", head("OPTIONS * HTTP/1.1", "Host: example.com"),
          [Req("OPTIONS", "*", H)]),
    Valid("CONNECT with the authority form",
          head("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
          [Req("CONNECT", "example.com:443", [("Host", "example.com:443")])]),
    Valid("HTTP/1.0 GET without Host closes by default", head("GET /old HTTP/1.0"),
          [Req("GET", "/old", [], version="HTTP/1.0", keep_alive=False)]),
    Valid("HTTP/1.0 with Connection: keep-alive persists, pipelined",
          head("GET /a HTTP/1.0", "Connection: keep-alive")
          + head("GET /b HTTP/1.0", "Host: example.com", "Connection: Keep-Alive"),
          [Req("GET", "/a", [("Connection", "keep-alive")], version="HTTP/1.0"),
           Req("GET", "/b", H + [("Connection", "Keep-Alive")], version="HTTP/1.0")]),
    Valid("HTTP/1.1 with Connection: close",
          get("/bye", "Connection: close"),
          [Req("GET", "/bye", H + [("Connection", "close")], keep_alive=False)]),
    Valid(
        "chunked POST",
        head("POST /upload HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked")
        + b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
        [Req("POST", "/upload", H + [("Transfer-Encoding", "chunked")], framing="Chunked",
             body=b"hello, world")],
    ),
    Valid(
        "chunked with token and quoted extensions and BWS",
        head("POST /ext HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked")
        + b"4;name=value\r\nWiki\r\n5 ; a ; b = \"quoted; \\\"value\\\"\"\r\npedia\r\n"
          b"e;x\r\n in\r\n\r\nchunks.\r\n0;last=\"yes\"\r\n\r\n",
        [Req("POST", "/ext", H + [("Transfer-Encoding", "chunked")], framing="Chunked",
             body=b"Wikipedia in\r\n\r\nchunks.")],
    ),
    Valid(
        "chunked with trailer fields, which are discarded",
        head("POST /trailers HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked",
             "Trailer: X-Checksum, X-Note")
        + b"3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\nX-Note:  done \r\n\r\n",
        [Req("POST", "/trailers", H + [("Transfer-Encoding", "chunked"),
                                       ("Trailer", "X-Checksum, X-Note")],
             framing="Chunked", body=b"abc")],
    ),
    Valid(
        "chunked sizes in uppercase hex with leading zeros",
        head("PUT /hex HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked")
        + b"0000A\r\n0123456789\r\n000000000000000F\r\nABCDEFGHIJKLMNO\r\n000\r\n\r\n",
        [Req("PUT", "/hex", H + [("Transfer-Encoding", "chunked")], framing="Chunked",
             body=b"0123456789ABCDEFGHIJKLMNO")],
    ),
    Valid("three pipelined GETs", get("/1") + get("/2") + get("/3"),
          [Req("GET", "/1", H), Req("GET", "/2", H), Req("GET", "/3", H)]),
    Valid(
        "pipelined POST with Content-Length, then GET",
        head("POST /form HTTP/1.1", "Host: example.com", "Content-Length: 7") + b"a=1&b=2"
        + get("/after"),
        [Req("POST", "/form", H + [("Content-Length", "7")], framing="Length(7)", body=b"a=1&b=2"),
         Req("GET", "/after", H)],
    ),
    Valid(
        "pipelined chunked POST, then GET",
        head("POST /c HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked")
        + b"2\r\nok\r\n0\r\n\r\n" + get("/next"),
        [Req("POST", "/c", H + [("Transfer-Encoding", "chunked")], framing="Chunked", body=b"ok"),
         Req("GET", "/next", H)],
    ),
    Valid("percent-encoded path", get("/caf%C3%A9/a%20b/%2Fslash/%7Euser"),
          [Req("GET", "/caf%C3%A9/a%20b/%2Fslash/%7Euser", H)]),
    Valid("query with reserved and unusual characters",
          get("/q?a=1&b=x%3Dy&c=a+b&d=|{}&e=&&f=%ZZ&g=?/:@!$'()*,;"),
          [Req("GET", "/q?a=1&b=x%3Dy&c=a+b&d=|{}&e=&&f=%ZZ&g=?/:@!$'()*,;", H)]),
    Valid("repeated fields keep their order",
          get("/", "Accept: text/html", "X-Forwarded-For: 10.0.0.1", "Accept: application/json",
              "X-Forwarded-For: 10.0.0.2, 10.0.0.3"),
          [Req("GET", "/", H + [("Accept", "text/html"), ("X-Forwarded-For", "10.0.0.1"),
                                ("Accept", "application/json"),
                                ("X-Forwarded-For", "10.0.0.2, 10.0.0.3")])]),
    Valid("obs-text bytes in a field value",
          get("/", b"X-Latin: caf\xe9 \x80\xff".decode("latin-1")),
          [Req("GET", "/", H + [("X-Latin", b"caf\xe9 \x80\xff".decode("latin-1"))])]),
    Valid("optional whitespace around values is trimmed (SP and HTAB only)",
          get("/", "X-A:  \t padded \t ", "X-B:tight", "X-C: inner  space\tkept"),
          [Req("GET", "/", H + [("X-A", "padded"), ("X-B", "tight"),
                                ("X-C", "inner  space\tkept")])]),
    Valid("empty and whitespace-only values", get("/", "X-Empty:", "X-Blank:   "),
          [Req("GET", "/", H + [("X-Empty", ""), ("X-Blank", "")])]),
    Valid("field names keep case and underscores",
          head("GET / HTTP/1.1", "host: example.com", "X_Custom_Header: u", "x-lower: l",
               "X-UPPER: U"),
          [Req("GET", "/", [("host", "example.com"), ("X_Custom_Header", "u"), ("x-lower", "l"),
                            ("X-UPPER", "U")])]),
    Valid("absolute-form target", head("GET http://example.com/abs?x=1 HTTP/1.1", "Host: example.com"),
          [Req("GET", "http://example.com/abs?x=1", H)]),
    Valid("request line of exactly 8192 bytes", get(BIG_LINE_TARGET),
          [Req("GET", BIG_LINE_TARGET, H)]),
    Valid("field line of exactly 8192 bytes", get("/", f"X-Big: {BIG_FIELD_VALUE}"),
          [Req("GET", "/", H + [("X-Big", BIG_FIELD_VALUE)])]),
    Valid("exactly 100 header fields",
          head("GET /many HTTP/1.1", *[f"{n}: {v}" for n, v in HUNDRED_FIELDS]),
          [Req("GET", "/many", HUNDRED_FIELDS)]),
    Valid(
        "Expect: 100-continue with a body",
        head("POST /upload HTTP/1.1", "Host: example.com", "Expect: 100-continue",
             "Content-Length: 4") + b"data",
        [Req("POST", "/upload", H + [("Expect", "100-continue"), ("Content-Length", "4")],
             framing="Length(4)", body=b"data", expects_continue=True)],
    ),
    Valid("empty lines before the request line are ignored", b"\r\n\r\n" + get("/after-crlf"),
          [Req("GET", "/after-crlf", H)]),
    Valid(
        "DELETE, PUT with a body and PATCH pipelined",
        head("DELETE /item/1 HTTP/1.1", "Host: example.com")
        + head("PUT /item/2 HTTP/1.1", "Host: example.com", "Content-Length: 2") + b"{}"
        + head("PATCH /item/3 HTTP/1.1", "Host: example.com", "Content-Length: 3") + b"[1]",
        [Req("DELETE", "/item/1", H),
         Req("PUT", "/item/2", H + [("Content-Length", "2")], framing="Length(2)", body=b"{}"),
         Req("PATCH", "/item/3", H + [("Content-Length", "3")], framing="Length(3)", body=b"[1]")],
    ),
    Valid(
        "WebDAV PROPFIND with an XML body",
        head("PROPFIND /dav/ HTTP/1.1", "Host: example.com", "Depth: 1",
             "Content-Type: application/xml", "Content-Length: 20") + b"<propfind xmlns=\"\"/>",
        [Req("PROPFIND", "/dav/", H + [("Depth", "1"), ("Content-Type", "application/xml"),
                                       ("Content-Length", "20")],
             framing="Length(20)", body=b"<propfind xmlns=\"\"/>")],
    ),
    Valid("unregistered uppercase token methods",
          head("PURGE /cache HTTP/1.1", "Host: example.com")
          + head("X-CUSTOM_1.0 /x HTTP/1.1", "Host: example.com"),
          [Req("PURGE", "/cache", H), Req("X-CUSTOM_1.0", "/x", H)]),
    Valid("POST with Content-Length: 0",
          head("POST /empty HTTP/1.1", "Host: example.com", "Content-Length: 0"),
          [Req("POST", "/empty", H + [("Content-Length", "0")], framing="Length(0)")]),
    Valid("Content-Length with leading zeros",
          head("POST /zeros HTTP/1.1", "Host: example.com", "Content-Length: 0005") + b"12345",
          [Req("POST", "/zeros", H + [("Content-Length", "0005")], framing="Length(5)",
               body=b"12345")]),
    Valid("binary body with every byte value",
          head("POST /bin HTTP/1.1", "Host: example.com", "Content-Type: application/octet-stream",
               "Content-Length: 256") + ALL_BYTES,
          [Req("POST", "/bin", H + [("Content-Type", "application/octet-stream"),
                                    ("Content-Length", "256")],
               framing="Length(256)", body=ALL_BYTES)]),
    Valid(
        "chunk data that looks like chunk framing",
        head("POST /tricky HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked")
        + b"b\r\n0\r\n\r\nGET / \r\n0\r\n\r\n",
        [Req("POST", "/tricky", H + [("Transfer-Encoding", "chunked")], framing="Chunked",
             body=b"0\r\n\r\nGET / ")],
    ),
    Valid(
        "many one-byte chunks",
        head("POST /drip HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked")
        + b"".join(b"1\r\n" + bytes([c]) + b"\r\n" for c in b"drip-drop") + b"0\r\n\r\n",
        [Req("POST", "/drip", H + [("Transfer-Encoding", "chunked")], framing="Chunked",
             body=b"drip-drop")],
    ),
    Valid(
        "Transfer-Encoding in mixed case with HTAB around it",
        head("POST /case HTTP/1.1", "Host: example.com", "transfer-encoding:\tChUnKeD\t")
        + b"1\r\nx\r\n0\r\n\r\n",
        [Req("POST", "/case", H + [("transfer-encoding", "ChUnKeD")], framing="Chunked", body=b"x")],
    ),
    Valid("HTTP/1.0 POST with Content-Length",
          head("POST /form HTTP/1.0", "Content-Length: 3") + b"a=b",
          [Req("POST", "/form", [("Content-Length", "3")], version="HTTP/1.0", framing="Length(3)",
               body=b"a=b", keep_alive=False)]),
    Valid("Connection options other than close are ignored on HTTP/1.1",
          get("/", "Connection: Upgrade, keep-alive", "Upgrade: websocket"),
          [Req("GET", "/", H + [("Connection", "Upgrade, keep-alive"), ("Upgrade", "websocket")])]),
    Valid(
        "Sec-WebSocket-Key1 does not imply a body (gunicorn < 20.1)",
        get("/ws", "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5") + b"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [Req("GET", "/ws", H + [("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5")]),
         Req("GET", "/smuggled", H)],
    ),
    Valid("Cookie value with separators",
          get("/", 'Cookie: a=1; b="two, three"; c=x=y; d=%3B'),
          [Req("GET", "/", H + [("Cookie", 'a=1; b="two, three"; c=x=y; d=%3B')])]),
    Valid(
        "an extra CRLF after a body, before the next request",
        head("POST /a HTTP/1.1", "Host: example.com", "Content-Length: 1") + b"x\r\n" + get("/b"),
        [Req("POST", "/a", H + [("Content-Length", "1")], framing="Length(1)", body=b"x"),
         Req("GET", "/b", H)],
    ),
    Valid("field value with colons and protocol-like text",
          get("/", "X-Note: a: b: GET / HTTP/1.1", "Referer: http://example.com:8080/x?y=z"),
          [Req("GET", "/", H + [("X-Note", "a: b: GET / HTTP/1.1"),
                                ("Referer", "http://example.com:8080/x?y=z")])]),
    Valid("long query string", get("/long?" + "&".join(f"k{i}=v{i}" for i in range(400))),
          [Req("GET", "/long?" + "&".join(f"k{i}=v{i}" for i in range(400)), H)]),
    Valid("HEAD with Content-Length: 0",
          head("HEAD /h HTTP/1.1", "Host: example.com", "Content-Length: 0"),
          [Req("HEAD", "/h", H + [("Content-Length", "0")], framing="Length(0)")]),
    Valid("GET with a body",
          head("GET /with-body HTTP/1.1", "Host: example.com", "Content-Length: 5") + b"hello",
          [Req("GET", "/with-body", H + [("Content-Length", "5")], framing="Length(5)",
               body=b"hello")]),
    Valid("Host with a port and an IPv6 literal host, pipelined",
          head("GET /p HTTP/1.1", "Host: example.com:8080")
          + head("GET /v6 HTTP/1.1", "Host: [::1]:8000"),
          [Req("GET", "/p", [("Host", "example.com:8080")]),
           Req("GET", "/v6", [("Host", "[::1]:8000")])]),
    Valid("HTTP/1.0 keep-alive, then HTTP/1.0 close",
          head("GET /1 HTTP/1.0", "Connection: keep-alive") + head("GET /2 HTTP/1.0"),
          [Req("GET", "/1", [("Connection", "keep-alive")], version="HTTP/1.0"),
           Req("GET", "/2", [], version="HTTP/1.0", keep_alive=False)]),
    Valid("Connection: close among other options, across fields",
          get("/", "Connection: keep-alive", "Connection: foo, CLOSE"),
          [Req("GET", "/", H + [("Connection", "keep-alive"), ("Connection", "foo, CLOSE")],
               keep_alive=False)]),
    Valid("Expect with another value is ignored",
          head("POST /e HTTP/1.1", "Host: example.com", "Expect: something-else",
               "Content-Length: 1") + b"z",
          [Req("POST", "/e", H + [("Expect", "something-else"), ("Content-Length", "1")],
               framing="Length(1)", body=b"z")]),
    Valid("Expect: 100-continue on HTTP/1.0 is ignored",
          head("POST /e HTTP/1.0", "Expect: 100-continue", "Content-Length: 1") + b"z",
          [Req("POST", "/e", [("Expect", "100-continue"), ("Content-Length", "1")],
               version="HTTP/1.0", framing="Length(1)", body=b"z", keep_alive=False)]),
    Valid("method of exactly 32 bytes", head("A" * 32 + " / HTTP/1.1", "Host: example.com"),
          [Req("A" * 32, "/", H)]),
    # Host values (RFC 9110 §7.2, RFC 3986 §3.2.2): the edges of `uri-host [ ":" port ]`.
    Valid("Host forms: empty, IPv4, IPvFuture, percent-encoded, A-label, empty port, pipelined",
          head("GET /empty HTTP/1.1", "Host:")
          + head("GET /v4 HTTP/1.1", "Host: 127.0.0.1:80")
          + head("GET /future HTTP/1.1", "Host: [v1.fe]")
          + head("GET /pct HTTP/1.1", "Host: a%20b")
          + head("GET /idn HTTP/1.1", "Host: xn--bcher-kva.example")
          + head("GET /port HTTP/1.1", "Host: localhost:"),
          [Req("GET", "/empty", [("Host", "")]),
           Req("GET", "/v4", [("Host", "127.0.0.1:80")]),
           Req("GET", "/future", [("Host", "[v1.fe]")]),
           Req("GET", "/pct", [("Host", "a%20b")]),
           Req("GET", "/idn", [("Host", "xn--bcher-kva.example")]),
           Req("GET", "/port", [("Host", "localhost:")])]),
]

# ------------------------------------------------------------------------------------------
# Invalid requests
# ------------------------------------------------------------------------------------------

def chunked_post(body_wire: bytes, *more: str) -> bytes:
    return head("POST /c HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked", *more) + body_wire


def with_field(*fields: str | bytes, line: str = "POST / HTTP/1.1") -> bytes:
    return head(line, "Host: example.com", *fields)


INVALID: list[Invalid] = [
    # Request line: method.
    Invalid("lowercase method", head("get / HTTP/1.1", "Host: example.com"), "InvalidMethod", 400),
    Invalid("method with a colon", head("GET: / HTTP/1.1", "Host: example.com"), "InvalidMethod", 400),
    Invalid("method bla:rgh", head("bla:rgh / HTTP/1.1", "Host: example.com"), "InvalidMethod", 400),
    Invalid("method -bl (lowercase, gunicorn's conservative policy)",
            head("-bl / HTTP/1.1", "Host: example.com"), "InvalidMethod", 400),
    Invalid("NUL in the method", head(b"GET\x00 / HTTP/1.1", "Host: example.com"), "InvalidMethod", 400),
    Invalid("method of 33 bytes", head("A" * 33 + " / HTTP/1.1", "Host: example.com"),
            "InvalidMethod", 400),
    # Request line: shape.
    Invalid("two spaces after the method", head("GET  / HTTP/1.1", "Host: example.com"),
            "MalformedRequestLine", 400),
    Invalid("HTAB as a separator", head("GET\t/\tHTTP/1.1", "Host: example.com"),
            "MalformedRequestLine", 400),
    Invalid("trailing space after the version", head("GET / HTTP/1.1 ", "Host: example.com"),
            "MalformedRequestLine", 400),
    Invalid("HTTP/0.9 simple request without a version", b"GET /\r\n\r\n", "MalformedRequestLine", 400),
    # Request line: version.
    Invalid("version HTTP/1.1.1", head("GET / HTTP/1.1.1", "Host: example.com"), "InvalidVersion", 400),
    Invalid("version HTTP/111", head("GET / HTTP/111", "Host: example.com"), "InvalidVersion", 400),
    Invalid("version HTTP/0.99", head("GET / HTTP/0.99", "Host: example.com"), "InvalidVersion", 400),
    Invalid("version FTP/1.1", head("GET / FTP/1.1", "Host: example.com"), "InvalidVersion", 400),
    Invalid("lowercase version http/1.1", head("GET / http/1.1", "Host: example.com"),
            "InvalidVersion", 400),
    Invalid("HTTP/2.0 on an HTTP/1 port", head("GET / HTTP/2.0", "Host: example.com"),
            "UnsupportedVersion", 505),
    Invalid("HTTP/0.9 with a version", head("GET / HTTP/0.9", "Host: example.com"),
            "UnsupportedVersion", 505),
    Invalid("the HTTP/2 connection preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "UnsupportedVersion", 505),
    # Request line: target.
    Invalid("relative target", head("GET foo/bar HTTP/1.1", "Host: example.com"), "InvalidTarget", 400),
    Invalid("authority form outside CONNECT", head("GET example.com:443 HTTP/1.1", "Host: example.com"),
            "InvalidTarget", 400),
    Invalid("asterisk form outside OPTIONS", head("GET * HTTP/1.1", "Host: example.com"),
            "InvalidTarget", 400),
    Invalid("CONNECT with an origin-form target", head("CONNECT / HTTP/1.1", "Host: example.com"),
            "InvalidTarget", 400),
    Invalid("control byte in the target", head(b"GET /a\x01b HTTP/1.1", "Host: example.com"),
            "InvalidTarget", 400),
    Invalid("non-ASCII byte in the target", head(b"GET /caf\xc3\xa9 HTTP/1.1", "Host: example.com"),
            "InvalidTarget", 400),
    Invalid("fragment in the target", head("GET /page#section HTTP/1.1", "Host: example.com"),
            "InvalidTarget", 400),
    Invalid("request line of 8193 bytes", get("/" + "a" * (8193 - len("GET / HTTP/1.1"))),
            "RequestLineTooLong", 414),
    # Line endings (CVE-2019-16785 and HTTP Garden).
    Invalid("bare LF ends a field line, hiding a second Content-Length",
            b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\nX-Header: x\n"
            b"Content-Length: 0\r\n\r\n0123456789", "BareLineEnding", 400),
    Invalid("bare CR inside a field value", b"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\rb\r\n\r\n",
            "BareLineEnding", 400),
    Invalid("bare LF ends the request line", b"GET / HTTP/1.1\nHost: example.com\r\n\r\n",
            "BareLineEnding", 400),
    Invalid("bare LF ends the head", b"GET / HTTP/1.1\r\nHost: example.com\r\nUseless:\n\n",
            "BareLineEnding", 400),
    # Field lines.
    Invalid("whitespace between field name and colon", with_field("Content-Length : 3") + b"abc",
            "WhitespaceBeforeColon", 400),
    Invalid("obs-fold continuation line",
            head("GET / HTTP/1.1", "Host: example.com", "X-Folded: first", " second"),
            "ObsoleteLineFolding", 400),
    Invalid("whitespace before the first field line",
            head("GET / HTTP/1.1", " Host: example.com"), "ObsoleteLineFolding", 400),
    Invalid("empty field name", with_field(": value"), "InvalidHeaderName", 400),
    Invalid("0x85 at the end of a field name", with_field(b"Content-Length\x85: 10") + b"0123456789",
            "InvalidHeaderName", 400),
    Invalid("0xA0 at the end of a field name", with_field(b"Transfer-Encoding\xa0: chunked"),
            "InvalidHeaderName", 400),
    Invalid("non-ASCII letter in a field name", with_field("Stra\u00dfe: 1".encode("utf-8")),
            "InvalidHeaderName", 400),
    Invalid("NUL in a field value", with_field(b"X-Value: a\x00b"), "InvalidHeaderValue", 400),
    Invalid("vertical tab before chunked (CVE-2019-16789)",
            with_field(b"Transfer-Encoding: \x0bchunked") + b"0\r\n\r\n", "InvalidHeaderValue", 400),
    Invalid("DEL in a field value", with_field(b"X-Value: a\x7f"), "InvalidHeaderValue", 400),
    Invalid("field line of 8193 bytes", get("/", "X-Big: " + "v" * (8193 - len("X-Big: "))),
            "HeaderTooLarge", 431),
    Invalid("101 header fields",
            head("GET / HTTP/1.1", "Host: example.com", *[f"X-F{i:03}: v" for i in range(100)]),
            "TooManyHeaders", 431),
    Invalid("head larger than max_head_bytes (1 KiB here)",
            get("/", *[f"X-F{i}: " + "v" * 90 for i in range(11)]), "HeadTooLarge", 431,
            limits={"max_head_bytes": 1024}),
    # Host (RFC 9112 §3.2) and Content-Type.
    Invalid("HTTP/1.1 without Host", head("GET / HTTP/1.1", "Accept: */*"), "MissingHost", 400),
    Invalid("two Host fields", head("GET / HTTP/1.1", "Host: example.com", "Host: evil.example"),
            "DuplicateHost", 400),
    Invalid("two Content-Type fields",
            with_field("Content-Type: text/plain", "Content-Type: application/json",
                       "Content-Length: 2") + b"{}", "DuplicateContentType", 400),
    # Framing (RFC 9112 §6): request smuggling.
    Invalid("Content-Length and Transfer-Encoding (CL.TE)",
            with_field("Content-Length: 6", "Transfer-Encoding: chunked") + b"0\r\n\r\nG",
            "ContentLengthWithTransferEncoding", 400),
    Invalid("Transfer-Encoding and Content-Length (TE.CL)",
            with_field("Transfer-Encoding: chunked", "Content-Length: 4") + b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n",
            "ContentLengthWithTransferEncoding", 400),
    Invalid("chunked twice", with_field("Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("chunked not last", with_field("Transfer-Encoding: chunked, gzip") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("empty list element before chunked", with_field("Transfer-Encoding: ,chunked") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("chunked then identity in two fields (CVE-2024-1135)",
            with_field("Transfer-Encoding: chunked", "Transfer-Encoding: identity") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("identity transfer coding", with_field("Transfer-Encoding: identity") + b"x",
            "UnsupportedTransferEncoding", 501),
    Invalid("gzip before chunked (CVE-2019-16786)",
            with_field("Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n",
            "UnsupportedTransferEncoding", 501),
    Invalid("Transfer-Encoding on HTTP/1.0",
            head("POST / HTTP/1.0", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("Content-Length with a plus sign", with_field("Content-Length: +1") + b"x",
            "InvalidContentLength", 400),
    Invalid("Content-Length -0", with_field("Content-Length: -0"), "InvalidContentLength", 400),
    Invalid("Content-Length with an underscore", with_field("Content-Length: 0_1") + b"x",
            "InvalidContentLength", 400),
    Invalid("Content-Length in hex", with_field("Content-Length: 0x1") + b"x",
            "InvalidContentLength", 400),
    Invalid("Content-Length with inner space", with_field("Content-Length: 1 2") + b"x" * 12,
            "InvalidContentLength", 400),
    Invalid("empty Content-Length", with_field("Content-Length:"), "InvalidContentLength", 400),
    Invalid("Content-Length overflowing u64", with_field("Content-Length: 18446744073709551616"),
            "InvalidContentLength", 400),
    Invalid("Content-Length list 5, 5", with_field("Content-Length: 5, 5") + b"hello",
            "ConflictingContentLength", 400),
    Invalid("two identical Content-Length fields",
            with_field("Content-Length: 5", "Content-Length: 5") + b"hello",
            "ConflictingContentLength", 400),
    Invalid("two different Content-Length fields (CVE-2019-16792)",
            with_field("Content-Length: 5", "Content-Length: 0") + b"hello",
            "ConflictingContentLength", 400),
    # Chunked bodies (RFC 9112 §7.1).
    Invalid("chunk size 0x5", chunked_post(b"0x5\r\nhello\r\n0\r\n\r\n"), "InvalidChunkSize", 400),
    Invalid("chunk size +5", chunked_post(b"+5\r\nhello\r\n0\r\n\r\n"), "InvalidChunkSize", 400),
    Invalid("chunk size -5", chunked_post(b"-5\r\nhello\r\n0\r\n\r\n"), "InvalidChunkSize", 400),
    Invalid("chunk size 0_2e", chunked_post(b"0_2e\r\n" + b"x" * 46 + b"\r\n0\r\n\r\n"),
            "InvalidChunkSize", 400),
    Invalid("whitespace before the chunk size", chunked_post(b" 5\r\nhello\r\n0\r\n\r\n"),
            "InvalidChunkSize", 400),
    Invalid("whitespace after the chunk size", chunked_post(b"5 \r\nhello\r\n0\r\n\r\n"),
            "InvalidChunkSize", 400),
    Invalid("empty chunk size", chunked_post(b"\r\nhello\r\n0\r\n\r\n"), "InvalidChunkSize", 400),
    Invalid("chunk size of 17 hex digits", chunked_post(b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
            "InvalidChunkSize", 400),
    Invalid("bare CR in a chunk extension", chunked_post(b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
            "BareLineEnding", 400),
    Invalid("CR inside a quoted chunk extension", chunked_post(b"5;a=\"b\rc\"\r\nhello\r\n0\r\n\r\n"),
            "InvalidChunkExtension", 400),
    Invalid("NUL in a chunk extension", chunked_post(b"5;a=b\x00\r\nhello\r\n0\r\n\r\n"),
            "InvalidChunkExtension", 400),
    Invalid("chunk data not followed by CRLF", chunked_post(b"5\r\nhelloXX0\r\n\r\n"),
            "MissingChunkTerminator", 400),
    Invalid("bare LF after chunk data", chunked_post(b"5\r\nhello\n0\r\n\r\n"), "BareLineEnding", 400),
    Invalid("bare LF after the chunk size", chunked_post(b"5\nhello\r\n0\r\n\r\n"), "BareLineEnding", 400),
    Invalid("Content-Length trailer", chunked_post(b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
            "ForbiddenTrailer", 400),
    Invalid("Host trailer", chunked_post(b"5\r\nhello\r\n0\r\nX-Ok: 1\r\nHost: evil\r\n\r\n"),
            "ForbiddenTrailer", 400),
    Invalid("Transfer-Encoding trailer",
            chunked_post(b"0\r\ntransfer-encoding: chunked\r\n\r\n"), "ForbiddenTrailer", 400),
    Invalid("folded trailer line", chunked_post(b"0\r\nX-A: 1\r\n folded\r\n\r\n"), "InvalidTrailer", 400),
    Invalid("trailer line without a colon", chunked_post(b"0\r\nNoColon\r\n\r\n"), "InvalidTrailer", 400),
    Invalid("truncated chunked body: no final CRLF", chunked_post(b"5\r\nhello\r\n0\r\n"),
            "IncompleteBody", 400),
    Invalid("truncated Content-Length body", with_field("Content-Length: 10") + b"short",
            "IncompleteBody", 400),
    Invalid("Content-Length over max_body_bytes (16 here)",
            with_field("Content-Length: 17") + b"x" * 17, "BodyTooLarge", 413,
            limits={"max_body_bytes": 16}),
    Invalid("chunked body over max_body_bytes (16 here)",
            chunked_post(b"a\r\n0123456789\r\n7\r\nabcdefg\r\n0\r\n\r\n"), "BodyTooLarge", 413,
            limits={"max_body_bytes": 16}),
    # Pipelines: the requests before the bad one are served.
    Invalid("valid GET, then a smuggled CL.TE request",
            get("/first") + with_field("Content-Length: 3", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
            "ContentLengthWithTransferEncoding", 400, requests=[Req("GET", "/first", H)]),
    Invalid("valid chunked POST, then a bare LF",
            chunked_post(b"1\r\na\r\n0\r\n\r\n") + b"GET / HTTP/1.1\nHost: example.com\r\n\r\n",
            "BareLineEnding", 400,
            requests=[Req("POST", "/c", H + [("Transfer-Encoding", "chunked")], framing="Chunked",
                          body=b"a")]),
    # Added for issue #3 (hostile input): the remaining bare line endings, Transfer-Encoding
    # and target shapes, and the limits on chunk lines and trailer sections.
    Invalid("bare CR ends the request line", b"GET / HTTP/1.1\rHost: example.com\r\n\r\n",
            "BareLineEnding", 400),
    Invalid("bare CR inside the request line", b"GET /a\rb HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "BareLineEnding", 400),
    Invalid("bare LF before the request line", b"\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "BareLineEnding", 400),
    Invalid("bare CR before the request line", b"\rGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "BareLineEnding", 400),
    Invalid("bare CR after chunk data", chunked_post(b"5\r\nhello\rX0\r\n\r\n"), "BareLineEnding", 400),
    Invalid("bare CR ends the last chunk line", chunked_post(b"0\r\r\n\r\n"), "BareLineEnding", 400),
    Invalid("bare LF ends a trailer line", chunked_post(b"0\r\nX-T: 1\n\r\n"), "BareLineEnding", 400),
    Invalid("bare LF ends the trailer section", chunked_post(b"0\r\n\n"), "BareLineEnding", 400),
    Invalid("chunked in two Transfer-Encoding fields",
            with_field("Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("empty Transfer-Encoding", with_field("Transfer-Encoding:") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("empty list element after chunked", with_field("Transfer-Encoding: chunked,") + b"0\r\n\r\n",
            "InvalidTransferEncoding", 400),
    Invalid("Content-Length 1_0", with_field("Content-Length: 1_0") + b"x" * 10,
            "InvalidContentLength", 400),
    Invalid("NUL in a field name", with_field(b"X\x00Y: 1"), "InvalidHeaderName", 400),
    Invalid("absolute-form with a scheme other than http(s)",
            head("GET ftp://example.com/f HTTP/1.1", "Host: example.com"), "InvalidTarget", 400),
    Invalid("chunk size line of 4097 bytes", chunked_post(b"5;a=" + b"b" * 4093 + b"\r\nhello\r\n0\r\n\r\n"),
            "InvalidChunkExtension", 400),
    Invalid("three trailer fields over max_header_count (2 here)",
            chunked_post(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), "TooManyHeaders", 431,
            limits={"max_header_count": 2}),
    Invalid("trailer line over max_header_bytes (32 here)",
            chunked_post(b"0\r\nX-Long: " + b"t" * 30 + b"\r\n\r\n"), "HeaderTooLarge", 431,
            limits={"max_header_bytes": 32}),
    # Host values that are not `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 9110 §7.2).
    Invalid("space inside the Host value", head("GET / HTTP/1.1", "Host: a b"), "InvalidHost", 400),
    Invalid("path in the Host value", head("GET / HTTP/1.1", "Host: a/b"), "InvalidHost", 400),
    Invalid("userinfo in the Host value", head("GET / HTTP/1.1", "Host: user@example.com"),
            "InvalidHost", 400),
    Invalid("unclosed IPv6 literal in Host", head("GET / HTTP/1.1", "Host: [::1"), "InvalidHost", 400),
    Invalid("non-numeric port in Host", head("GET / HTTP/1.1", "Host: example.com:80x"),
            "InvalidHost", 400),
    Invalid("port over 65535 in Host", head("GET / HTTP/1.1", "Host: example.com:65536"),
            "InvalidHost", 400),
    Invalid("raw UTF-8 in the Host value", head("GET / HTTP/1.1", "Host: b\xc3\xbccher.example"),
            "InvalidHost", 400),
    Invalid("invalid Host behind an absolute-form target",
            head("GET http://example.com/ HTTP/1.1", "Host: a b"), "InvalidHost", 400),
    Invalid("valid GET, then a Host with a space",
            get("/first") + head("GET /second HTTP/1.1", "Host: exa mple.com"),
            "InvalidHost", 400, requests=[Req("GET", "/first", H)]),
]


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------

def toml_string(value: str) -> str:
    """A TOML basic string; every char outside printable ASCII is written as \\u00XX."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\r\n\t":
            out.append({"\r": "\\r", "\n": "\\n", "\t": "\\t"}[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            assert code <= 0xFF, "corpus strings are latin-1 byte strings"
            out.append(f"\\u{code:04X}")
    out.append('"')
    return "".join(out)


def body_fields(body: bytes) -> list[str]:
    text_like = all(b in (9, 10, 13) or 0x20 <= b < 0x7F for b in body)
    if text_like:
        return [f"body = {toml_string(body.decode('latin-1'))}"]
    return [f'body_hex = "{body.hex()}"']


def request_table(req: Req) -> list[str]:
    lines = ["", "[[request]]",
             f"method = {toml_string(req.method)}",
             f"target = {toml_string(req.target)}",
             f"version = {toml_string(req.version)}"]
    if req.headers:
        lines.append("headers = [")
        lines += [f"    [{toml_string(n)}, {toml_string(v)}]," for n, v in req.headers]
        lines.append("]")
    else:
        lines.append("headers = []")
    lines.append(f"framing = {toml_string(req.framing)}")
    lines += body_fields(req.body)
    lines.append(f"keep_alive = {str(req.keep_alive).lower()}")
    if req.expects_continue:
        lines.append("expects_continue = true")
    return lines


def write_all() -> None:
    for kind in ("valid", "invalid"):
        shutil.rmtree(ROOT / kind, ignore_errors=True)
        (ROOT / kind).mkdir(parents=True)
    for n, case in enumerate(VALID, 1):
        stem = ROOT / "valid" / f"{n:03}"
        stem.with_suffix(".http").write_bytes(case.wire)
        lines = [f"description = {toml_string(case.description)}"]
        for req in case.requests:
            lines += request_table(req)
        stem.with_suffix(".toml").write_text("\n".join(lines) + "\n")
    for n, case in enumerate(INVALID, 1):
        stem = ROOT / "invalid" / f"{n:03}"
        stem.with_suffix(".http").write_bytes(case.wire)
        lines = [f"description = {toml_string(case.description)}",
                 f"error = {toml_string(case.error)}",
                 f"status = {case.status}"]
        if case.limits:
            lines += ["", "[limits]"] + [f"{k} = {v}" for k, v in case.limits.items()]
        for req in case.requests:
            lines += request_table(req)
        stem.with_suffix(".toml").write_text("\n".join(lines) + "\n")
    print(f"{len(VALID)} valid, {len(INVALID)} invalid")


if __name__ == "__main__":
    write_all()
