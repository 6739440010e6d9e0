"""Prometheus metrics and health checks on the master's `--metrics-bind` listener, end to end:
the real CLI with several workers, real requests, the answer parsed with `prometheus_client`'s
text parser (what a scraper reads), and counters compared across a crash, a recycle and a
reload.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time

import pytest
from ferrule_proc import RunningServer, start_server
from prometheus_client.parser import text_string_to_metric_families
from rawhttp import Conn, request

APP = "apps.ops:app"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def start(*flags: str, workers: int = 2) -> RunningServer:
    server = start_server("--workers", str(workers), "--metrics-bind", "127.0.0.1:0", *flags, APP)
    server.wait_for_log(r"master phase: Running")
    return server


def get(address: tuple[str, int], path: str, method: str = "GET", body: bytes | None = None,
        timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, by (name, sorted labels), parsed by prometheus_client."""
    status, headers, body = get(server.metrics_address(), "/metrics")
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


def counters(samples) -> dict:
    return {key: v for key, v in samples.items()
            if key[0].endswith(("_total", "_bucket", "_count", "_sum"))
            and not key[0].startswith(("ferrule_worker_cpu", "process_"))}


def wait_until(check, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_metrics_sum_every_worker_and_parse_with_prometheus_client():
    server = start()
    for _ in range(6):
        assert get(server.address, "/")[0] == 200
    assert get(server.address, "/body", "POST", b"x" * 1000)[2] == b"1000"
    assert get(server.address, "/status?code=404")[0] == 404
    assert get(server.address, "/", "HEAD")[0] == 200
    assert get(server.address, "/raise")[0] == 500
    samples = scrape(server)

    assert value(samples, "ferrule_requests_total", method="GET", status="200") == 6
    assert value(samples, "ferrule_requests_total", method="POST", status="200") == 1
    assert value(samples, "ferrule_requests_total", method="GET", status="404") == 1
    assert value(samples, "ferrule_requests_total", method="HEAD", status="200") == 1
    assert value(samples, "ferrule_requests_total", method="GET", status="500") == 1
    assert value(samples, "ferrule_request_duration_seconds_count") == 10
    assert value(samples, "ferrule_request_duration_seconds_bucket", le="+Inf") == 10
    assert value(samples, "ferrule_request_queue_seconds_count") == 10
    assert value(samples, "ferrule_app_errors_total") == 1
    assert value(samples, "ferrule_connections_accepted_total") == 10
    assert value(samples, "ferrule_received_bytes_total") > 1000
    assert value(samples, "ferrule_sent_bytes_total") > 10 * len("HTTP/1.1 200 OK\r\n")
    # A thread finishes its job (close(), the permit) just after the response went out.
    settled = wait_until(lambda: (s := scrape(server)) and value(s, "ferrule_threads_busy") == 0 and s,
                         what="the threads to finish")
    assert value(settled, "ferrule_requests_in_flight") == 0
    assert value(samples, "ferrule_workers", phase="serving") == 2
    assert value(samples, "ferrule_ready") == 1
    # The app's traceback went to the error log at level error.
    assert value(samples, "ferrule_log_messages_total", level="error") >= 1
    # Each worker's process figures, labelled by the worker's number; the master's own.
    rss = [v for (name, _), v in samples.items() if name == "ferrule_worker_resident_memory_bytes"]
    assert len(rss) == 2 and all(v > 1_000_000 for v in rss), rss
    assert value(samples, "process_resident_memory_bytes") > 1_000_000
    assert ("ferrule_workers_cpu_seconds_total", ()) in samples
    # The kernel tells the accept queue of a TCP listener.
    queue = [key for key in samples if key[0] == "ferrule_listen_queue_limit"]
    assert len(queue) == 1 and samples[queue[0]] > 0, queue
    # Label values are bounded: no path ever becomes a label.
    assert not any("/status" in v or "/body" in v for (_, ls) in samples for _, v in ls)
    server.stop()


def test_rejections_and_timeouts_are_counted_by_rule_and_kind_while_others_are_served():
    server = start("--header-timeout", "0.3s", "--keepalive-timeout", "0.3s", workers=1)
    assert request(server.address, b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n").status == 400
    assert request(server.address, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n").status == 414
    assert request(server.address, b"GET / HTTP/1.1\r\n\r\n").status == 400  # no Host
    # A head that never ends: 408 after header_timeout.
    with Conn(server.address) as slow:
        slow.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
        assert slow.read_response().status == 408
    # An idle keep-alive connection after one request: closed after keepalive_timeout.
    with Conn(server.address) as idle:
        idle.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert idle.read_response().status == 200
        idle.sock.settimeout(5)
        assert idle.sock.recv(1) == b""
    # Meanwhile another client is served.
    assert get(server.address, "/")[0] == 200
    samples = scrape(server)
    assert value(samples, "ferrule_requests_rejected_total", reason="invalid_header_name", status="400") == 1
    assert value(samples, "ferrule_requests_rejected_total", reason="request_line_too_long", status="414") == 1
    assert value(samples, "ferrule_requests_rejected_total", reason="missing_host", status="400") == 1
    assert value(samples, "ferrule_timeouts_total", kind="head") == 1
    assert value(samples, "ferrule_timeouts_total", kind="keepalive") == 1
    assert value(samples, "ferrule_timeouts_total", kind="send") == 0
    # Every rule and kind is listed, zeros included (rate() has a series from the start).
    assert len([k for k in samples if k[0] == "ferrule_requests_rejected_total"]) == 31
    assert len([k for k in samples if k[0] == "ferrule_timeouts_total"]) == 5
    server.stop()


def test_counters_never_go_backwards_across_a_crash_a_recycle_and_a_reload():
    # max_requests 6: the first worker crashes on its 5th request, its replacement is
    # recycled on its 6th.
    server = start("--max-requests", "6", workers=1)
    history = []

    def step():
        history.append(counters(scrape(server)))

    answered = 0
    for _ in range(3):
        assert get(server.address, "/")[0] == 200
        answered += 1
    step()
    # A crash mid-request: the client gets no answer; the worker's counts survive it.
    pid = int(get(server.address, "/pid")[2])
    answered += 1
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(server.address, "/exit")
    server.wait_for_log(rf"pid {pid}\) died unexpectedly")
    server.wait_for_log(r"worker 2 \(pid \d+\) serving")
    step()
    # A recycle (max_requests 6) and a reload.
    for _ in range(6):
        assert get(server.address, "/")[0] == 200
        answered += 1
    server.wait_for_log(r"is recycled; starting its replacement")
    os.kill(server.proc.pid, signal.SIGHUP)
    server.wait_for_log(r"reloading: starting generation 2")
    wait_until(lambda: value(scrape(server), "ferrule_ready") == 1, what="the reload to finish")
    assert get(server.address, "/")[0] == 200
    answered += 1
    step()
    for earlier, later in zip(history, history[1:]):
        went_back = {k: (v, later.get(k, 0.0)) for k, v in earlier.items() if later.get(k, 0.0) < v}
        assert not went_back, went_back
    # The recycled worker and the old generation exit once drained.
    last = wait_until(lambda: (s := scrape(server)) and value(s, "ferrule_worker_exits_total", reason="stopped") >= 2
                      and s, what="two workers to exit as asked")
    assert value(last, "ferrule_worker_exits_total", reason="crashed") == 1
    assert value(last, "ferrule_worker_recycles_total", reason="max_requests") >= 1
    assert value(last, "ferrule_reloads_total") == 1
    # Every request answered counts once, whoever served it (the crashed one: no status).
    # A request is counted just after its last byte is written, so the client may read its
    # answer a moment before the count moves: wait for it (never past it).
    def counted():
        return value(scrape(server), "ferrule_requests_total", method="GET", status="200")
    try:
        wait_until(lambda: counted() >= answered, timeout=5, what="every answered request counted")
    except AssertionError:
        rows = {k: v for k, v in counters(scrape(server)).items() if k[0] == "ferrule_requests_total"}
        raise AssertionError((answered, rows, server.log())) from None
    last = scrape(server)
    assert value(last, "ferrule_requests_total", method="GET", status="200") == answered
    assert value(last, "ferrule_requests_total", method="GET", status="none") <= 1
    server.stop()


def test_health_checks_answer_ready_live_and_refuse_other_paths_and_methods():
    server = start(workers=1)
    address = server.metrics_address()
    assert get(address, "/readyz") == (200, get(address, "/readyz")[1], b"200 OK: ready\n")
    status, _, body = get(address, "/livez")
    assert (status, body) == (200, b"200 OK: live\n")
    status, headers, body = get(address, "/readyz", "HEAD")
    assert (status, body) == (200, b"") and headers["content-length"] == "14"
    assert get(address, "/")[0] == 404
    status, headers, _ = get(address, "/metrics", "POST", b"")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert request(address, b"GET /readyz HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n").status == 400
    # HAProxy's `option httpchk` sends HTTP/1.0 without a Host.
    assert request(address, b"GET /readyz HTTP/1.0\r\n\r\n").status == 200
    server.stop()


def test_readiness_fails_before_the_listener_stops_accepting():
    server = start("--shutdown-delay", "1.5s", workers=1)
    address = server.metrics_address()
    assert get(address, "/readyz")[0] == 200
    os.kill(server.proc.pid, signal.SIGTERM)
    sent_term = time.monotonic()
    status, _, body = wait_until(lambda: (r := get(address, "/readyz"))[0] == 503 and r,
                                 what="readiness to fail")
    assert body == b"503 Service Unavailable: stopping\n"
    # Not ready, and still serving new connections until the delay is over.
    while time.monotonic() - sent_term < 1.0:
        assert get(server.address, "/")[0] == 200
        time.sleep(0.05)
    assert server.proc.wait(timeout=15) == 0
    assert time.monotonic() - sent_term >= 1.5
    with pytest.raises(ConnectionError):
        socket.create_connection(server.address, timeout=2).close()


def test_a_flood_of_idle_and_slow_clients_on_the_metrics_listener_cannot_stall_the_master():
    server = start(workers=1)
    address = server.metrics_address()
    huge = socket.create_connection(address, timeout=5)
    huge.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
    assert huge.recv(100).startswith(b"HTTP/1.1 431 ")
    huge.close()
    started = time.monotonic()
    slow = socket.create_connection(address, timeout=10)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")
    idle = [socket.create_connection(address, timeout=5) for _ in range(24)]
    # Past 16 clients the master closes new ones at once.
    closed = 0
    for s in idle:
        s.settimeout(0.5)
        try:
            closed += s.recv(1) == b""
        except TimeoutError:
            pass
        except ConnectionError:
            closed += 1
    assert closed >= 24 + 1 - 16, closed
    # Meanwhile the app serves and the master handles signals.
    assert get(server.address, "/")[0] == 200
    os.kill(server.proc.pid, signal.SIGTTIN)
    server.wait_for_log(r"workers: 2 \(one more\)")
    # A client that never finishes its head is closed after 5 s.
    assert slow.recv(1) == b""
    assert 4.5 < time.monotonic() - started < 8
    for s in idle:
        s.close()
    assert get(address, "/readyz")[0] == 200
    server.stop()


def test_the_listen_queue_is_what_waits_in_the_kernel_backlog():
    server = start(workers=1)
    worker = server.worker_pids()[0]
    os.kill(worker, signal.SIGSTOP)
    waiting = []
    try:
        # The worker cannot accept: the kernel completes the handshakes and queues them.
        waiting = [socket.create_connection(server.address, timeout=5) for _ in range(5)]
        samples = wait_until(lambda: (s := scrape(server))
                             and total(s, "ferrule_listen_queue") == 5 and s, what="5 queued connections")
        assert total(samples, "ferrule_listen_queue_limit") >= 5
    finally:
        os.kill(worker, signal.SIGCONT)
    for conn in waiting:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 200 ")
        conn.close()
    wait_until(lambda: total(scrape(server), "ferrule_listen_queue") == 0, what="an empty queue")
    server.stop()


def test_a_new_master_started_by_usr2_serves_the_same_metrics_address():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_server("--workers", "1", "--metrics-bind", f"127.0.0.1:{port}", APP)
    server.wait_for_log(r"master phase: Running")
    assert get(("127.0.0.1", port), "/readyz")[0] == 200
    old_start = value(scrape_at(("127.0.0.1", port)), "process_start_time_seconds")
    server.proc.send_signal(signal.SIGUSR2)
    line = server.wait_for_log(r"started a new master \(pid \d+\)")
    new = int(line.split("(pid ")[1].split(")")[0])
    try:
        assert server.proc.wait(timeout=15) == 0  # the old master drained and left
        # The new master took the metrics listener over: same address, its own figures.
        samples = wait_until(lambda: (s := scrape_at(("127.0.0.1", port))) and value(s, "ferrule_ready") == 1 and s,
                             what="the new master to be ready")
        assert value(samples, "process_start_time_seconds") > old_start
    finally:
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(f"/proc/{new}") or _zombie(new), what="the new master to stop")


def scrape_at(address) -> dict:
    status, _, body = get(address, "/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_metrics_listener_comes_from_an_env_var_and_may_be_a_unix_socket(tmp_path):
    path = str(tmp_path / "metrics.sock")
    server = start_server("--workers", "1", APP, env={"FERRULE_METRICS_BIND": f"unix:{path}"})
    server.wait_for_log(rf"metrics and health checks on unix:{path} ")
    server.wait_for_log(r"master phase: Running")
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(path)
        client.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n200 OK: ready\n")
    assert b"Connection: close\r\n" in answer
    assert server.stop() == 0
    assert not os.path.exists(path), "the master removes its socket file when it stops"
