"""The "Timeouts" settings: every wait on the client is bounded, on by default."""

from __future__ import annotations

from ferrule.settings.setting import Setting
from ferrule.settings.values import DURATION, TIMEOUT, OrOff, at_least, at_most

SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="header_timeout",
        section="Timeouts",
        type=DURATION,
        default="10s",
        flags=("--header-timeout",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long a client may take to send a whole request head: from accept for a "
            "connection's first request, from the first byte for later ones (the idle time "
            "before it is keepalive_timeout). Over it: 408 if any byte came, else a silent "
            "close."
        ),
    ),
    Setting(
        name="body_timeout",
        section="Timeouts",
        type=DURATION,
        default="30s",
        flags=("--body-timeout",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long to wait for more request body bytes while the app reads the body (per "
            "read, so large uploads over slow links still work). Over it: the read fails and "
            "the connection is closed."
        ),
    ),
    Setting(
        name="keepalive_timeout",
        section="Timeouts",
        type=DURATION,
        default="5s",
        flags=("--keepalive-timeout",),
        gunicorn=("--keep-alive", "keepalive"),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help="How long an idle keep-alive connection waits for the next request before closing.",
    ),
    Setting(
        name="request_timeout",
        section="Timeouts",
        type=OrOff(DURATION),
        default=None,
        default_text="none (off)",
        flags=("--request-timeout",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long the app may take on one request. Past it the client gets a 504 (if no "
            "response has started) and `ferrule.RequestTimeout` is raised in the request's "
            "thread so the app can clean up; if the request still runs after a grace (the "
            "timeout, at most 5s), its Python stack is logged and the worker is replaced."
        ),
    ),
    Setting(
        name="ws_ping_interval",
        section="Timeouts",
        type=OrOff(DURATION),
        default="20s",
        default_text="20s",
        flags=("--ws-ping-interval",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "Send a WebSocket ping after this long without a frame from the client, so dead "
            "peers and idle proxies are found; empty turns it off. uvicorn spells it the same way."
        ),
    ),
    Setting(
        name="ws_ping_timeout",
        section="Timeouts",
        type=DURATION,
        default="20s",
        flags=("--ws-ping-timeout",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long a client has to answer a ping (with a pong or any frame) before the "
            "WebSocket is closed with 1011."
        ),
    ),
    Setting(
        name="graceful_timeout",
        section="Timeouts",
        type=DURATION,
        default="30s",
        flags=("--graceful-timeout",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long a stopping worker (SIGTERM, reload, recycling) may take to finish the "
            "requests it has; what is still running after it is killed and logged."
        ),
    ),
    Setting(
        name="worker_timeout",
        section="Timeouts",
        type=DURATION,
        default="30s",
        flags=("--worker-timeout",),
        gunicorn=("-t", "--timeout", "timeout"),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long a worker's event loop may go without sending the master a heartbeat "
            "before the master kills and replaces it."
        ),
    ),
    Setting(
        name="shutdown_delay",
        section="Timeouts",
        type=DURATION,
        default="0s",
        flags=("--shutdown-delay",),
        metavar="DURATION",
        core=True,
        checks=(at_least(0), at_most(3600.0, "1h")),
        help=(
            "After SIGTERM, keep serving this long with `/readyz` answering 503 before the "
            "workers stop accepting, so that load balancers and Kubernetes (whose probes "
            "read `/readyz` on `metrics_bind`) stop sending requests first. Then the "
            "graceful stop runs as usual (`graceful_timeout`). SIGINT and SIGQUIT do not wait."
        ),
    ),
    Setting(
        name="send_timeout",
        section="Timeouts",
        type=DURATION,
        default="30s",
        flags=("--send-timeout",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help=(
            "How long to wait for the client to accept more response bytes (per write). "
            "Over it: the connection is closed."
        ),
    ),
)
