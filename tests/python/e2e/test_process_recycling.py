"""Recycling and heartbeats, end to end: a worker that reaches `max_requests`, its
lifetime or its memory limit is replaced (the replacement serves before the old one stops),
and a worker whose event loop stops beating is killed after `worker_timeout` and replaced.
The process tree is read from /proc before and after.
"""

from __future__ import annotations

import os
import re
import signal
import time

from ferrule_proc import children
from test_process_signals import get, served_by, start, wait_for_count


def replaced_in_order(log: str, old: int) -> None:
    """`old`'s replacement said it serves before `old` was told to stop."""
    match = re.search(rf"worker (\d+) \(pid {old}\) is recycled", log)
    assert match, log
    stop = log.index(f"(pid {old}): replaced")
    ready = re.search(r"worker \d+ \(pid \d+\) serving", log[match.end():])
    assert ready and match.end() + ready.start() < stop, log


def test_max_requests_replaces_the_worker_after_its_requests_and_nothing_fails():
    server = start("--max-requests", "10", workers=1)
    [first] = children(server.proc.pid)
    retired = re.compile(r"asks to be replaced: served 10 requests \(max_requests\)")
    sent = 0
    deadline = time.monotonic() + 15
    while len(retired.findall(server.log())) < 3 and time.monotonic() < deadline:
        get(server)  # asserts a 200
        sent += 1
    assert len(retired.findall(server.log())) >= 3, server.log()
    wait_for_count(server, r"exited \(exit code 0\)", 2)
    log = server.log()
    replaced_in_order(log, first)
    # A third replacement may still be under way: one or two workers, never the first.
    now = children(server.proc.pid)
    assert 1 <= len(now) <= 2 and first not in now
    assert sent >= 30
    assert server.stop() == 0


def test_max_worker_lifetime_replaces_an_old_worker():
    server = start("--max-worker-lifetime", "1s", workers=1)
    [first] = children(server.proc.pid)
    server.wait_for_log(r"asks to be replaced: ran for .* \(max_worker_lifetime\)")
    server.wait_for_log(rf"worker 1 \(pid {first}\) exited \(exit code 0\)")
    [second] = children(server.proc.pid)
    assert second != first
    assert served_by(get(server)) in children(server.proc.pid)
    assert server.stop() == 0


def test_max_worker_memory_replaces_a_worker_that_grew():
    server = start("--max-worker-memory", "150MiB", workers=1)
    [first] = children(server.proc.pid)
    assert get(server, "/grow?mb=200").endswith("kept=200MiB")
    server.wait_for_log(r"asks to be replaced: uses \d+ bytes of memory \(max_worker_memory\)")
    server.wait_for_log(rf"worker 1 \(pid {first}\) exited \(exit code 0\)")
    [second] = children(server.proc.pid)
    assert second != first
    assert get(server, "/pid") == f"pid={second}"
    assert server.stop() == 0


def test_a_worker_without_heartbeat_is_killed_and_replaced():
    server = start("--worker-timeout", "1s", workers=2)
    before = children(server.proc.pid)
    os.kill(before[0], signal.SIGSTOP)  # its event loop stops turning
    server.wait_for_log(rf"\(pid {before[0]}\) sent no heartbeat for .* killing it")
    server.wait_for_log(rf"\(pid {before[0]}\) was killed after missing its heartbeat \(signal 9\)")
    wait_for_count(server, r"worker \d+ \(pid \d+\) serving", 3)
    after = children(server.proc.pid)
    assert len(after) == 2 and before[0] not in after and before[1] in after
    assert server.stop() == 0
