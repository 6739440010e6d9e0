#!/usr/bin/env python3
"""Streamed-upload load for the `upload` workload (wrk cannot stream a 100 MB body), as
cheap per byte as a loopback TCP client gets.

    python upload_client.py --port P [--size 100000000] [--connections 4]
                            [--duration 5] [--max-uploads 500] [--timeout 30]
                            [--method send|sendfile] [--piece-bytes 16777216]
    python upload_client.py --sink --port P [--sink-mode recv|splice]   # a discarding server

The body is SIZE bytes of b"u", sent from one read-only buffer in 16 MiB sendall calls on
a blocking socket: one syscall per 16 MiB with the GIL released, no Python copy, no poll
before each send (the bounds are kernel timeouts, not Python's). Measured against the
--sink (bench/README.md), that costs less CPU per GB than the 1 MiB writes it replaces and
than os.sendfile (--method sendfile, from a memfd): on this kernel sendfile goes through
4 KiB page-cache pages and a splice pipe, which costs more than the one copy into the
socket buffer it saves. What remains is the kernel's loopback TCP path, which any client
pays: the copy into the socket buffer, TCP/IP transmit, and the receive processing that
loopback runs on the sender's core. Each connection (one thread) sends `POST /` with
Content-Length SIZE, reads the answer (the app's byte count, checked: status 2xx and body
== str(SIZE)), and starts the next upload on the same keep-alive connection (a new one if
the server closed it), until --duration has passed (no new upload starts after it) or
--max-uploads were started in all. Bounded: a send or receive that makes no progress for
--timeout s fails (SO_SNDTIMEO / SO_RCVTIMEO) and is counted as a timeout. Prints one JSON object: uploads done, errors,
per-upload latency p50/p99/max (ms), elapsed s, uploads/s, MB/s, and the client's own CPU
time over the uploads (getrusage of this process: user, system, % of one core, ms per GB),
so a run can show that the client was not the limit.

--sink runs the other end for a sanity check: an HTTP/1.1 server on 127.0.0.1:PORT that
reads each request's body and throws it away (`recv`: recv_into a 1 MiB buffer, the copy
every real server pays; `splice`: socket -> pipe -> /dev/null, no copy), answering with
the byte count, like apps.upload. Against it the client's MB/s is its own ceiling.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import struct
import threading
import time

PIECE = 1024 * 1024


def body_file(size: int) -> int:
    """A file descriptor of `size` bytes of b"u" in memory (memfd; falls back to an unlinked
    file in /dev/shm). sendfile reads it at an explicit offset, so threads share it."""
    try:
        fd = os.memfd_create("upload-body", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        import tempfile
        fd, path = tempfile.mkstemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        os.unlink(path)
    piece = b"u" * PIECE
    left = size
    while left > 0:
        left -= os.write(fd, piece[:min(left, PIECE)])
    return fd


def set_timeouts(sock: socket.socket, timeout: float) -> None:
    """Kernel timeouts on a blocking socket: a stalled sendfile or recv returns EAGAIN after
    `timeout` s (Python's own timeouts would make the socket non-blocking and sendfile a
    select loop)."""
    tv = struct.pack("ll", int(timeout), int((timeout % 1) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bytes, bool]:
    """(status, body, server_keeps_alive). Needs Content-Length (all WSGI apps here set it)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower()] = v.strip()
    length = int(hdrs.get(b"content-length", b"0"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the response body")
        body += chunk
    buf[:] = body[length:]
    keep = (hdrs.get(b"connection", b"").lower() != b"close"
            and lines[0].startswith(b"HTTP/1.1"))
    return status, bytes(body[:length]), keep


def send_body(sock: socket.socket, fd: int, size: int) -> None:
    offset = 0
    while offset < size:
        n = os.sendfile(sock.fileno(), fd, offset, size - offset)
        if n == 0:
            raise ConnectionError("sendfile sent nothing (peer closed?)")
        offset += n


def send_buffer(sock: socket.socket, piece: memoryview, size: int) -> None:
    left = size
    while left > 0:
        n = min(left, len(piece))
        sock.sendall(piece[:n])
        left -= n


def cpu_seconds() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


def upload(a: argparse.Namespace) -> dict:
    # the body, made before the clock starts: a buffer of --piece-bytes for `send`, a
    # memfd of the whole body for `sendfile`
    fd = body_file(a.size) if a.method == "sendfile" else -1
    piece = memoryview(b"u" * min(a.size, a.piece_bytes) if a.method == "send" else b"")
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {a.size}\r\n\r\n").encode()
    expect = str(a.size).encode()
    lock = threading.Lock()
    state = {"started": 0}
    lat: list[float] = []
    errors: dict[str, int] = {"non_2xx": 0, "wrong_body": 0, "socket": 0, "timeout": 0}
    u0, s0 = cpu_seconds()
    t0 = time.monotonic()
    deadline = t0 + a.duration

    def take() -> bool:
        with lock:
            if time.monotonic() >= deadline or state["started"] >= a.max_uploads:
                return False
            state["started"] += 1
            return True

    def worker() -> None:
        sock = None
        buf = bytearray()
        while take():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
                    sock.settimeout(None)          # blocking; the kernel timeouts bound it
                    set_timeouts(sock, a.timeout)
                    if a.sndbuf:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, a.sndbuf)
                    buf = bytearray()
                s = time.monotonic()
                sock.sendall(head, socket.MSG_MORE)
                if a.method == "sendfile":
                    send_body(sock, fd, a.size)
                else:
                    send_buffer(sock, piece, a.size)
                status, body, keep = read_response(sock, buf)
                took = time.monotonic() - s
                with lock:
                    lat.append(took)
                    if not 200 <= status < 300:
                        errors["non_2xx"] += 1
                    elif body != expect:
                        errors["wrong_body"] += 1
                if not keep:
                    sock.close()
                    sock = None
            except OSError as e:
                timed_out = isinstance(e, (BlockingIOError, TimeoutError))
                with lock:
                    errors["timeout" if timed_out else "socket"] += 1
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=worker) for _ in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    u1, s1 = cpu_seconds()
    if fd >= 0:
        os.close(fd)
    lat_ms = sorted(x * 1000 for x in lat)

    def pct(p: float):
        if not lat_ms:
            return None
        return lat_ms[min(len(lat_ms) - 1, int(round(p / 100 * (len(lat_ms) - 1))))]

    done = len(lat_ms)
    cpu = (u1 - u0) + (s1 - s0)
    gb = done * a.size / 1e9
    return {
        "requests": done, "elapsed_s": round(elapsed, 3),
        "rps": done / elapsed if elapsed else None,
        "mb_per_s": done * a.size / 1e6 / elapsed if elapsed else None,
        "p50_ms": pct(50), "p99_ms": pct(99), "latency_max_ms": lat_ms[-1] if lat_ms else None,
        "latency_avg_ms": statistics.mean(lat_ms) if lat_ms else None,
        "errors": errors, "size": a.size, "connections": a.connections,
        # the client's own CPU over the uploads (body file made before the clock started)
        "self_cpu_user_s": round(u1 - u0, 3), "self_cpu_system_s": round(s1 - s0, 3),
        "self_cpu_pct": round(100 * cpu / elapsed, 1) if elapsed else None,
        "self_cpu_ms_per_gb": round(1000 * cpu / gb, 2) if gb else None,
    }


# --------------------------------------------------------------------------------------
# --sink: a discarding HTTP server, the client's own ceiling
# --------------------------------------------------------------------------------------

def sink(a: argparse.Namespace) -> None:
    lsock = socket.create_server(("127.0.0.1", a.port), backlog=64)
    print(json.dumps({"listening": lsock.getsockname()[1], "mode": a.sink_mode}), flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)

    def drain(conn: socket.socket, n: int, mem: memoryview, pipe: tuple[int, int]) -> None:
        while n > 0:
            if a.sink_mode == "splice":
                got = os.splice(conn.fileno(), pipe[1], min(n, PIECE))
                if got == 0:
                    raise ConnectionError("closed in the body")
                left = got
                while left:
                    left -= os.splice(pipe[0], devnull, left)
            else:
                got = conn.recv_into(mem, min(n, PIECE))
                if got == 0:
                    raise ConnectionError("closed in the body")
            n -= got

    def serve(conn: socket.socket) -> None:
        mem = memoryview(bytearray(PIECE))
        pipe = os.pipe()
        try:
            import fcntl
            fcntl.fcntl(pipe[1], fcntl.F_SETPIPE_SZ, PIECE)
        except (ImportError, OSError, AttributeError):
            pass      # a smaller pipe only means more splice calls
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                have = min(len(rest), length)
                buf = rest[length:]
                drain(conn, length - have, mem, pipe)
                answer = str(length).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
        except OSError:
            pass
        finally:
            os.close(pipe[0])
            os.close(pipe[1])
            conn.close()

    deadline = time.monotonic() + a.sink_lifetime
    lsock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            conn, _ = lsock.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=100_000_000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--max-uploads", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--method", choices=["send", "sendfile"], default="send",
                    help="send: blocking sendall of --piece-bytes from one buffer (the "
                         "cheapest here); sendfile: os.sendfile from a memfd")
    ap.add_argument("--piece-bytes", type=int, default=16 * PIECE,
                    help="bytes per send call (default: 16 MiB)")
    ap.add_argument("--sndbuf", type=int, default=0,
                    help="SO_SNDBUF bytes per connection (0: the kernel's autotuning)")
    ap.add_argument("--sink", action="store_true",
                    help="be the server: discard each body, answer with its length")
    ap.add_argument("--sink-mode", choices=["recv", "splice"], default="recv")
    ap.add_argument("--sink-lifetime", type=float, default=120.0,
                    help="the sink stops accepting after this many seconds (bounded)")
    a = ap.parse_args()
    if a.sink:
        sink(a)
        return
    print(json.dumps(upload(a)))


if __name__ == "__main__":
    main()
