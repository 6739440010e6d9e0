#!/usr/bin/env python3
"""WebSocket round-trip load for the `ws-echo` workload (wrk speaks no WebSocket).

    python ws_client.py --port P [--path /] [--connections 64] [--duration 5] [--size 32]

Opens --connections WebSockets (the `websockets` client, asyncio, uvloop when installed,
no compression), then on each one sends a --size-byte text message and waits for its echo,
again and again, until --duration has passed. Every echo is checked. Bounded: each wait
times out after 10 s. Prints one JSON object: round trips done, errors, latency p50/p99
(ms), elapsed s, round trips/s (`rps`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time


async def conversation(url: str, size: int, until: float, out: dict, latencies: list) -> None:
    import websockets

    message = "x" * size
    try:
        async with websockets.connect(url, compression=None, max_size=None,
                                      open_timeout=10) as ws:
            while time.monotonic() < until:
                t0 = time.perf_counter()
                await ws.send(message)
                answer = await asyncio.wait_for(ws.recv(), 10)
                latencies.append(time.perf_counter() - t0)
                if answer != message:
                    out["wrong"] += 1
                out["requests"] += 1
    except Exception:  # noqa: BLE001 (any failure of a connection counts as an error)
        out["errors"] += 1


async def main_async(args) -> dict:
    url = f"ws://127.0.0.1:{args.port}{args.path}"
    out = {"requests": 0, "errors": 0, "wrong": 0}
    latencies: list[float] = []
    started = time.monotonic()
    until = started + args.duration
    await asyncio.gather(*(conversation(url, args.size, until, out, latencies)
                           for _ in range(args.connections)))
    wall = time.monotonic() - started
    lat = sorted(latencies) or [0.0]
    return {"requests": out["requests"], "errors": {"socket": out["errors"], "wrong_body": out["wrong"]},
            "elapsed_s": round(wall, 3), "rps": round(out["requests"] / wall, 1),
            "p50_ms": round(1000 * statistics.median(lat), 3),
            "p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
