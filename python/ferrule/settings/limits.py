"""The "Limits" settings: every input is bounded, on by default."""

from __future__ import annotations

from ferrule.settings.setting import Setting
from ferrule.settings.values import BYTE_SIZE, COUNT, INT, MAX_BYTES, SIZE, at_least, at_most

SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="http2_max_concurrent_streams",
        section="Limits",
        type=INT,
        default=100,
        flags=("--http2-max-concurrent-streams",),
        metavar="N",
        core=True,
        checks=(at_least(1), at_most(2**31 - 1)),
        help=(
            "Streams (requests) one HTTP/2 client may have open at once. Also bounds the "
            "streams still being worked on after the client reset them; a client that keeps "
            "resetting past it gets a GOAWAY (the rapid reset attack, CVE-2023-44487)."
        ),
    ),
    Setting(
        name="http2_initial_window_size",
        section="Limits",
        type=BYTE_SIZE,
        default=65535,
        flags=("--http2-initial-window-size",),
        metavar="SIZE",
        core=True,
        checks=(at_least(1), at_most(2**31 - 1)),
        help=(
            "How much request body an HTTP/2 client may send on a stream ahead of the app's "
            "reads of it (the stream's flow-control window); the window reopens as the app "
            "reads. Bounds request-body memory per stream."
        ),
    ),
    Setting(
        name="max_request_line_bytes",
        section="Limits",
        type=BYTE_SIZE,
        default="8KiB",
        flags=("--max-request-line-bytes",),
        gunicorn=("--limit-request-line", "limit_request_line"),
        metavar="SIZE",
        core=True,
        checks=SIZE,
        help="The longest request line (method, target, version), CRLF excluded. Longer: 414.",
    ),
    Setting(
        name="max_header_count",
        section="Limits",
        type=INT,
        default=100,
        flags=("--max-header-count",),
        gunicorn=("--limit-request-fields", "limit_request_fields"),
        metavar="N",
        core=True,
        checks=COUNT,
        help="The most header fields in one request head (trailers count too). More: 431.",
    ),
    Setting(
        name="max_header_bytes",
        section="Limits",
        type=BYTE_SIZE,
        default="8KiB",
        flags=("--max-header-bytes",),
        gunicorn=("--limit-request-field_size", "--limit-request-field-size",
                  "limit_request_field_size"),
        metavar="SIZE",
        core=True,
        checks=SIZE,
        help="The longest single header field line (`name: value`). Longer: 431.",
    ),
    Setting(
        name="max_head_bytes",
        section="Limits",
        type=BYTE_SIZE,
        # 64 KiB: room for 100 headers of typical size, chosen without measurement.
        default="64KiB",
        flags=("--max-head-bytes",),
        metavar="SIZE",
        core=True,
        checks=SIZE,
        help="The largest whole request head, request line to blank line. Larger: 431.",
    ),
    Setting(
        name="max_body_bytes",
        section="Limits",
        type=BYTE_SIZE,
        default="1GiB",
        flags=("--max-body-bytes",),
        metavar="SIZE",
        core=True,
        checks=(at_least(0), at_most(MAX_BYTES)),
        help="The largest request body; 0 means unlimited. Larger: 413.",
    ),
    Setting(
        name="ws_max_message_bytes",
        section="Limits",
        type=BYTE_SIZE,
        default="16MiB",
        flags=("--ws-max-message-bytes",),
        metavar="SIZE",
        core=True,
        checks=(at_least(1), at_most(1024**3)),
        help=(
            "The largest WebSocket message a client may send, fragments together and after "
            "permessage-deflate inflation; larger: the connection is closed with 1009. The "
            "server reads at most one message ahead of the app. uvicorn calls it `--ws-max-size`."
        ),
    ),
    Setting(
        name="max_connections",
        section="Limits",
        type=INT,
        default=1000,
        flags=("--max-connections",),
        gunicorn=("--worker-connections", "worker_connections"),
        metavar="N",
        core=True,
        checks=COUNT,
        help=(
            "The most client connections a worker holds open at once. At the limit the worker "
            "stops accepting; new connections wait in the listen backlog."
        ),
    ),
    Setting(
        name="backlog",
        section="Limits",
        type=INT,
        default=2048,
        flags=("--backlog",),
        metavar="N",
        core=True,
        checks=COUNT,
        help=(
            "The listen(2) backlog: connections the kernel queues before ferrule accepts them. "
            "Linux caps it at `net.core.somaxconn`."
        ),
    ),
)
