"""The "Observability" settings: metrics, health checks, statsd. The master reports; workers
count."""

from __future__ import annotations

from ferrule.settings.addresses import BIND_RULE, normalize_bind
from ferrule.settings.setting import Setting
from ferrule.settings.values import STR, InvalidValue, ValueType


class _MetricsBind(ValueType):
    """One address for the master's metrics listener, as `bind` takes them; empty (or None)
    means off."""

    name = "address (empty = off)"

    def convert(self, raw: object) -> str | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, str):
            return normalize_bind(raw)
        raise InvalidValue(BIND_RULE, repr(raw))


STATSD_DEFAULT_PORT = 8125
STATSD_RULE = "must be HOST:PORT or unix:PATH"


class _StatsdAddress(ValueType):
    """The statsd server: `HOST:PORT` (UDP; the port defaults to 8125, as in gunicorn), or
    `unix:PATH` / gunicorn's `unix://PATH` (a datagram socket). Empty (or None) means off."""

    name = "HOST:PORT or unix:PATH (empty = off)"

    def convert(self, raw: object) -> str | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if not isinstance(raw, str):
            raise InvalidValue(STATSD_RULE, repr(raw))
        text = raw.strip()
        if text.startswith("unix:"):
            path = text[len("unix://"):] if text.startswith("unix://") else text[len("unix:"):]
            if not path or "\0" in path:
                raise InvalidValue("must name a socket path after 'unix:'", repr(raw))
            return f"unix:{path}"
        if text.startswith("fd://"):
            raise InvalidValue(STATSD_RULE, repr(raw))
        if ":" not in text or text.endswith("]"):
            text = f"{text}:{STATSD_DEFAULT_PORT}"
        try:
            address = normalize_bind(text)
        except InvalidValue as err:
            raise InvalidValue(STATSD_RULE if err.rule == BIND_RULE else err.rule, repr(raw)) from None
        if address.endswith(":0"):
            raise InvalidValue("must have a port between 1 and 65535", repr(raw))
        return address


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="metrics_bind",
        section="Observability",
        type=_MetricsBind(),
        default=None,
        default_text="none (off)",
        flags=("--metrics-bind",),
        metavar="ADDRESS",
        core=True,
        help=(
            "Where the master serves `GET /metrics` (Prometheus text format: requests by "
            "method and status, durations, queue time, connections, bytes, rejections, "
            "timeouts, workers, process figures; the sum over every worker, exited ones "
            "included), `GET /livez` (200 while the master runs and every worker beats) and "
            "`GET /readyz` (200 once the current generation of workers serves; 503 while "
            "booting, reloading and stopping). An address as `bind` takes it, separate from "
            "the app's: keep it private. Off unless set."
        ),
    ),
    Setting(
        name="statsd_host",
        section="Observability",
        type=_StatsdAddress(),
        default=None,
        default_text="none (off)",
        flags=("--statsd-host",),
        metavar="ADDRESS",
        core=True,
        help=(
            "Send gunicorn's statsd metrics (`gunicorn.requests`, "
            "`gunicorn.request.duration`, `gunicorn.request.status.NNN`, `gunicorn.workers`, "
            "`gunicorn.log.*`, `gunicorn.backlog`) to this address: `HOST:PORT` over UDP "
            "(port 8125 when omitted) or `unix:PATH` (a datagram socket). The master sends "
            "what the workers counted once a second, without blocking: a slow or absent "
            "receiver costs the requests nothing."
        ),
    ),
    Setting(
        name="statsd_prefix",
        section="Observability",
        type=STR,
        default="",
        default_text='"" (none)',
        flags=("--statsd-prefix",),
        metavar="PREFIX",
        core=True,
        help="Put before every statsd name (`myapp` gives `myapp.gunicorn.requests`), as gunicorn does.",
    ),
    Setting(
        name="dogstatsd_tags",
        section="Observability",
        type=STR,
        default="",
        default_text='"" (none)',
        flags=("--dogstatsd-tags",),
        metavar="TAGS",
        core=True,
        help="DogStatsD tags added to every statsd line, comma-separated: `env:prod,service:web`.",
    ),
)
