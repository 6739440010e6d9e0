"""Shared fixtures: the real ferrule CLI in a subprocess, on port 0, over real sockets.

The launcher lives in `ferrule_proc` (a plain module, so test files import it by a name
no other conftest.py shadows); this file only wraps it in fixtures.
"""

from __future__ import annotations

import pytest
from ferrule_proc import HERE, LISTENING, START_TIMEOUT, RunningServer, start_server
from proxies import Proxy

__all__ = ["HERE", "LISTENING", "START_TIMEOUT", "RunningServer", "start_server"]


@pytest.fixture
def ferrule_server():
    """Factory: `ferrule_server("apps.basic:app", "--threads", "2")` → RunningServer."""
    started: list[RunningServer] = []

    def factory(*args: str, **kwargs) -> RunningServer:
        server = start_server(*args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def proxies(tmp_path):
    """Factory: `proxies(start_nginx, "nginx-tcp", server)` → Proxy (see `proxies.py`);
    every proxy started is stopped by PID at teardown."""
    started: list[Proxy] = []

    def factory(starter, *args, **kwargs) -> Proxy:
        proxy = starter(tmp_path / f"proxy{len(started)}", *args, **kwargs)
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        proxy.stop()
