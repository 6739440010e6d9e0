#!/usr/bin/env python3
"""Holds many idle keep-alive connections open, for the `idle` workload.

    python idle_client.py --port P [--connections 10000] [--setup-timeout 30] [--hold 120]
                          [--websocket PATH]

Opens --connections connections to 127.0.0.1:P, sends one `GET /` (HTTP/1.1 keep-alive)
on each and reads the answer, then holds them all open without sending more. With
--websocket, each connection opens a WebSocket on PATH instead (the handshake, answered
with 101) and holds it open idle. Prints one
JSON line when set up ({"opened", "answered", "failed", "setup_s"}), then waits until its
stdin closes (or --hold s pass), counts how many the server has closed meanwhile, prints a
second JSON line ({"still_open", "closed_by_server"}) and exits, closing them all.
Bounded: setup stops at --setup-timeout, holding at --hold.
"""
import argparse
import errno
import json
import resource
import select
import selectors
import socket
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--setup-timeout", type=float, default=30.0)
    ap.add_argument("--hold", type=float, default=120.0)
    ap.add_argument("--websocket", metavar="PATH",
                    help="open a WebSocket on PATH on each connection instead of a GET")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.connections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    t0 = time.monotonic()
    deadline = t0 + a.setup_timeout
    req = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n\r\n".encode()
    if a.websocket:
        req = (f"GET {a.websocket} HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    failed = 0
    # Connect in non-blocking mode; a full accept queue shows up as a slow connect, which
    # the selector waits for (bounded by the deadline) instead of blocking the loop.
    pending: dict[socket.socket, str] = {}
    got: dict[socket.socket, bytearray] = {}
    answered = 0
    for _ in range(a.connections):
        if time.monotonic() >= deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", a.port))
        if err not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            continue
        socks.append(s)
        pending[s] = "connect"
        sel.register(s, selectors.EVENT_WRITE)
        # drain events as we go, so the server's accept queue keeps moving
        for key, ev in sel.select(timeout=0):
            res = _step(key.fileobj, ev, sel, pending, req, got)
            if res == "answered":
                answered += 1
            elif res == "failed":
                failed += 1
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.2):
            s = key.fileobj
            res = _step(s, ev, sel, pending, req, got)
            if res == "answered":
                answered += 1
            elif res == "failed":
                failed += 1
    setup_s = time.monotonic() - t0
    print(json.dumps({"opened": len(socks), "answered": answered, "failed": failed,
                      "unanswered": len(pending), "setup_s": round(setup_s, 2)}), flush=True)
    # Hold until stdin closes (the harness is done measuring) or --hold passes.
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], min(1.0, max(0.0, end - time.monotonic())))
        if r and not sys.stdin.buffer.read1(4096):
            break
    still = closed = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data == b"":
                closed += 1
            else:
                still += 1
        except BlockingIOError:
            still += 1
        except OSError:
            closed += 1
    print(json.dumps({"still_open": still, "closed_by_server": closed}), flush=True)
    for s in socks:
        s.close()


def _step(s, ev, sel, pending, req, got=None):
    state = pending.get(s)
    if state is None:
        return None
    if state == "connect" and ev & selectors.EVENT_WRITE:
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sel.unregister(s)
            del pending[s]
            return "failed"
        try:
            s.send(req)
        except OSError:
            sel.unregister(s)
            del pending[s]
            return "failed"
        pending[s] = "read"
        sel.modify(s, selectors.EVENT_READ)
        return None
    if state == "read" and ev & selectors.EVENT_READ and got is not None:
        try:
            chunk = s.recv(65536)
        except OSError:
            chunk = b""
        buf = got.setdefault(s, bytearray())
        buf += chunk
        done = b"\r\n\r\n" in buf and (buf.endswith(b"Hello, world!")
                                        or buf.startswith(b"HTTP/1.1 101 "))
        if not chunk or done:
            sel.unregister(s)
            del pending[s]
            got.pop(s, None)
            return "answered" if chunk else "failed"
    return None


if __name__ == "__main__":
    main()
