"""A tiny raw HTTP/1.1 client for tests: send exact bytes, read exact responses.

No HTTP library sits between a test and the wire, so tests see precisely what ferrule sent.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Conn:
    """One client connection with a read buffer that survives across responses."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise ConnectionError(f"EOF before {marker!r}; have {self.buf[:200]!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(f"EOF after {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True if the server closed the connection (EOF or reset) with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        if data:
            self.buf += data
            return False
        return True

    def read_response(self, head_request: bool = False) -> Response:
        """Reads one response; handles Content-Length, chunked and close-delimited bodies."""
        raw_head = self._read_until(b"\r\n\r\n")
        lines = raw_head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status_s, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k, v.strip()))
        resp = Response(version, int(status_s), reason, headers, raw_head=raw_head)
        if head_request or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te is not None and te.lower() == "chunked":
            resp.chunked = True
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line[:-2].split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exact(size)
                assert self._read_exact(2) == b"\r\n", "chunk data not followed by CRLF"
            resp.body = body
        elif cl is not None:
            resp.body = self._read_exact(int(cl))
        else:
            resp.body = self.read_to_eof()
        return resp

    def request(self, method: str = "GET", target: str = "/", headers: dict | None = None,
                body: bytes = b"", version: str = "HTTP/1.1") -> Response:
        hdrs = {"Host": "test"}
        if body:
            hdrs["Content-Length"] = str(len(body))
        hdrs.update(headers or {})
        head = f"{method} {target} {version}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.send(head.encode("latin-1") + body)
        return self.read_response(head_request=(method == "HEAD"))


def request(address: tuple[str, int], raw: bytes, timeout: float = 10.0) -> Response:
    """Sends `raw` on a fresh connection and reads one response."""
    with Conn(address, timeout) as c:
        c.send(raw)
        return c.read_response()
