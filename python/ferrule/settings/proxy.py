"""The "Proxy" settings: what a proxy in front says about the client, and whom to believe."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ferrule.settings.setting import Setting
from ferrule.settings.values import Choice, InvalidValue, StrList, ValueType


def _peer(text: str) -> str:
    """One entry of a trusted-peer list: an IP address, a CIDR range, or `*`."""
    entry = text.strip()
    if entry == "*":
        return entry
    try:
        if "/" in entry:
            ipaddress.ip_network(entry, strict=False)
        else:
            ipaddress.ip_address(entry)
    except ValueError:
        raise InvalidValue("must list IP addresses, CIDR ranges (10.0.0.0/8) or *",
                           repr(text)) from None
    return entry


#: The headers `forwarded_headers` may list (lower case), as the core knows them.
FORWARDED_HEADER_NAMES = ("forwarded", "x-forwarded-for", "x-forwarded-proto",
                          "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix")


def _forwarded_header(text: str) -> str:
    name = text.strip().lower()
    if name not in FORWARDED_HEADER_NAMES:
        raise InvalidValue("must list headers among " + ", ".join(FORWARDED_HEADER_NAMES),
                           repr(text))
    return name


class _HeaderMap(ValueType):
    """Header names mapped to values, gunicorn's `secure_scheme_headers`: a TOML table or
    keyword dict (`{"X-FORWARDED-PROTO": "https"}`), or `NAME=value` pairs separated by
    commas in flags and env vars. Names are upper-cased (matched case-insensitively);
    values are kept exactly (compared case-sensitively, as gunicorn does). Converted to a
    tuple of `(NAME, value)` pairs. Empty means none."""

    name = "header=value pairs (comma-separated in env vars and flags; a table in TOML)"
    _TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

    def convert(self, raw: object) -> tuple[tuple[str, str], ...]:
        if isinstance(raw, str):
            pairs = []
            for part in raw.split(","):
                if not part.strip():
                    continue
                name, eq, value = part.partition("=")
                if not eq:
                    raise InvalidValue("must be NAME=value pairs", repr(raw))
                pairs.append((name.strip(), value.strip()))
        elif isinstance(raw, dict) and all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in raw.items()):
            pairs = list(raw.items())
        elif isinstance(raw, (list, tuple)) and all(
                isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(x, str) for x in p) for p in raw):
            pairs = [(p[0], p[1]) for p in raw]
        else:
            raise InvalidValue("must be a table of header names to values", repr(raw))
        out = []
        for name, value in pairs:
            if not self._TOKEN.fullmatch(name):
                raise InvalidValue("must name headers with token characters", repr(name))
            if any(ch in value for ch in "\r\n\0"):
                raise InvalidValue("must not hold CR, LF or NUL in a value", repr(value))
            out.append((name.upper(), value))
        return tuple(out)

    def show(self, value: Any) -> str:
        return repr(dict(value))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="forwarded_allow_ips",
        section="Proxy",
        type=StrList(item=_peer),
        default=("127.0.0.1", "::1"),
        flags=("--forwarded-allow-ips",),
        metavar="ADDRESSES",
        core=True,
        help=(
            "The peers whose forwarding headers (`forwarded_headers`) are believed: IP "
            "addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`), comma-separated, or `*` "
            "for every peer (only when nothing but your proxies can reach the server). "
            "Unix-socket peers are always believed, as in gunicorn. From any other peer the "
            "headers change nothing. Client lists are walked right to left, skipping these "
            "addresses: the first other one is the client. gunicorn's (and uvicorn's) "
            "`FORWARDED_ALLOW_IPS` environment variable gives the default, as in gunicorn: a "
            "config file, `FERRULE_FORWARDED_ALLOW_IPS` and the flag override it."
        ),
    ),
    Setting(
        name="forwarded_headers",
        section="Proxy",
        type=StrList(item=_forwarded_header),
        default=("forwarded", "x-forwarded-for", "x-forwarded-proto"),
        flags=("--forwarded-headers",),
        metavar="HEADERS",
        core=True,
        help=(
            "The forwarding headers believed from `forwarded_allow_ips`: `forwarded` (RFC "
            "7239: `for=` and `proto=`), `x-forwarded-for` (REMOTE_ADDR, REMOTE_PORT), "
            "`x-forwarded-proto` (wsgi.url_scheme, with `secure_scheme_headers`), and, opt-in, "
            "`x-forwarded-host` (HTTP_HOST, SERVER_NAME; also `Forwarded: host=`), "
            "`x-forwarded-port` (SERVER_PORT) and `x-forwarded-prefix` (SCRIPT_NAME). Your "
            "proxy must set or remove every header listed. A malformed value, or two headers "
            "that disagree, is answered with 400. Empty turns forwarding off."
        ),
    ),
    Setting(
        name="secure_scheme_headers",
        section="Proxy",
        type=_HeaderMap(),
        default={"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https",
                 "X-FORWARDED-SSL": "on"},
        default_text="`X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on`",
        flags=("--secure-scheme-headers",),
        metavar="PAIRS",
        core=True,
        help=(
            "gunicorn's headers that say a request came over https, with the exact value that "
            "says so; present with any other value, they say http. Read with "
            "`x-forwarded-proto` in `forwarded_headers`; every scheme header present must "
            "agree. `X-Forwarded-Proto` itself must be `http` or `https`."
        ),
    ),
    Setting(
        name="proxy_protocol",
        section="Proxy",
        type=Choice("off", "v1", "v2", "auto"),
        default="off",
        flags=("--proxy-protocol",),
        bare="auto",
        metavar="MODE",
        core=True,
        help=(
            "Expect a PROXY protocol header (HAProxy's, v1 text or v2 binary, `auto` for "
            "either) before each connection's first byte, from the peers in "
            "`proxy_allow_ips`; REMOTE_ADDR and REMOTE_PORT come from it. A connection "
            "without a valid header, or from another peer, is closed without an answer. "
            "`--proxy-protocol` alone means `auto`. v2 `LOCAL` headers (health checks) "
            "keep the connection's own addresses."
        ),
    ),
    Setting(
        name="proxy_allow_ips",
        section="Proxy",
        type=StrList(item=_peer),
        default=("127.0.0.1", "::1"),
        flags=("--proxy-allow-ips",),
        gunicorn=("--proxy-allow-from",),
        metavar="ADDRESSES",
        core=True,
        help=(
            "The peers allowed to send a PROXY protocol header: addresses, CIDR ranges or "
            "`*`, as gunicorn spells it. Unix-socket peers are always allowed."
        ),
    ),
    Setting(
        name="protocol",
        section="Proxy",
        type=Choice("http", "uwsgi"),
        default="http",
        flags=("--protocol",),
        metavar="PROTOCOL",
        core=True,
        help=(
            "The wire protocol of every listener: `http` (HTTP/1.1), or `uwsgi`, the binary "
            "protocol of nginx's `uwsgi_pass`, so uWSGI deployments keep their nginx "
            "configuration (one request per connection; REMOTE_ADDR, HTTPS and SERVER_NAME "
            "come from the packet)."
        ),
    ),
    Setting(
        name="uwsgi_allow_ips",
        section="Proxy",
        type=StrList(item=_peer),
        default=("127.0.0.1", "::1"),
        flags=("--uwsgi-allow-ips",),
        gunicorn=("--uwsgi-allow-from",),
        metavar="ADDRESSES",
        core=True,
        help=(
            "The peers allowed to send uwsgi packets (`protocol = uwsgi`): addresses, CIDR "
            "ranges or `*`, as gunicorn spells it; others are closed at once. Unix-socket "
            "peers are always allowed."
        ),
    ),
)
