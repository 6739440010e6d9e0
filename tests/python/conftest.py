"""Shared fixtures: the real ferrule CLI in a subprocess, on port 0, over real sockets.

The launcher lives in `ferrule_proc` (a plain module, so test files import it by a name
no other conftest.py shadows); this file only wraps it in fixtures.
"""

from __future__ import annotations

import pytest
from ferrule_proc import HERE, LISTENING, START_TIMEOUT, RunningServer, start_server

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
