#!/usr/bin/env python3
"""Streamed-upload load for the `upload` workload (wrk cannot stream a 100 MB body).

    python upload_client.py --port P [--size 100000000] [--connections 2]
                            [--duration 5] [--max-uploads 40] [--timeout 30]

Each connection (one thread) sends `POST /` with Content-Length SIZE and the body in
1 MiB writes, reads the answer (the app's byte count, checked), and starts the next upload
on the same keep-alive connection (a new one if the server closed it), until --duration
has passed (no new upload starts after it) or --max-uploads were sent in all. Bounded:
each socket operation times out after --timeout s. Prints one JSON object: uploads done,
errors, per-upload latency p50/p99/max (ms), elapsed s, uploads/s, MB/s.
"""
import argparse
import json
import socket
import statistics
import threading
import time

PIECE = 1024 * 1024


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=100_000_000)
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--max-uploads", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()

    payload = memoryview(b"u" * PIECE)
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {a.size}\r\n\r\n").encode()
    expect = str(a.size).encode()
    lock = threading.Lock()
    state = {"started": 0}
    lat: list[float] = []
    errors: dict[str, int] = {"non_2xx": 0, "wrong_body": 0, "socket": 0}
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
                    buf = bytearray()
                s = time.monotonic()
                sock.sendall(head)
                left = a.size
                while left > 0:
                    n = min(left, PIECE)
                    sock.sendall(payload[:n])
                    left -= n
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
            except OSError:
                with lock:
                    errors["socket"] += 1
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
    lat_ms = sorted(x * 1000 for x in lat)

    def pct(p: float):
        if not lat_ms:
            return None
        return lat_ms[min(len(lat_ms) - 1, int(round(p / 100 * (len(lat_ms) - 1))))]

    done = len(lat_ms)
    print(json.dumps({
        "requests": done, "elapsed_s": round(elapsed, 3),
        "rps": done / elapsed if elapsed else None,
        "mb_per_s": done * a.size / 1e6 / elapsed if elapsed else None,
        "p50_ms": pct(50), "p99_ms": pct(99), "latency_max_ms": lat_ms[-1] if lat_ms else None,
        "latency_avg_ms": statistics.mean(lat_ms) if lat_ms else None,
        "errors": errors, "size": a.size, "connections": a.connections,
    }))


if __name__ == "__main__":
    main()
