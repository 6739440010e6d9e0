"""Listening addresses as `bind` takes them (`HOST:PORT`, `[IPv6]:PORT`, `unix:PATH`,
`fd://N`), normalised to the spelling the core parses.
"""

from __future__ import annotations

import ipaddress
import re

from ferrule.settings.values import InvalidValue

# Bind addresses. Decided like gunicorn (`gunicorn/util.py: parse_address`): `HOST:PORT`,
# `[IPv6]:PORT`, `unix:PATH`; a bare `HOST` or `[IPv6]` gets port 8000; `:PORT` means every
# IPv4 interface (gunicorn binds the empty host, which is INADDR_ANY), written out as
# `0.0.0.0:PORT` so the log says what is bound. Port 0 asks the kernel for a free port.
# Unlike gunicorn, a bare IPv6 address without brackets is rejected: `::1:8000` is ambiguous.

BIND_DEFAULT_PORT = 8000
BIND_RULE = "must be HOST:PORT, [IPv6]:PORT or unix:PATH"  # fd://N is rarely typed by hand
HTTPS_RULE = "must not be https:// (write HOST:PORT)"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def normalize_bind(text: str) -> str:
    """`text` as the core expects it: `"127.0.0.1:8000"`, `"[::1]:8000"`, `"unix:/tmp/x.sock"`.

    # Errors
    `InvalidValue` when the syntax is wrong or the port is out of range.
    """
    address = text.strip()
    # URL-style spellings people paste from a browser or from gunicorn's docs: `tcp://`
    # (gunicorn's), `http://` (what the log prints), `unix://` (gunicorn's). A path or a
    # query after the address means something else was pasted.
    scheme, sep, rest = address.partition("://")
    if sep and scheme.lower() in ("http", "tcp"):
        address = rest[:-1] if rest.endswith("/") else rest
        if "/" in address or "?" in address or "@" in address:
            raise InvalidValue(BIND_RULE + " (an http:// address takes no path)", repr(text))
    elif sep and scheme.lower() == "https":
        raise InvalidValue(HTTPS_RULE, repr(text))
    elif sep and scheme.lower() == "unix":
        address = "unix:" + rest
    if address.startswith("fd://"):
        number = address[len("fd://"):]
        if not (number.isascii() and number.isdigit()):
            raise InvalidValue("must name a file descriptor number after 'fd://'", repr(text))
        return f"fd://{int(number)}"
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if not path or "\0" in path:
            raise InvalidValue("must name a socket path after 'unix:'", repr(text))
        return address
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket:
            raise InvalidValue(BIND_RULE, repr(text))
        try:
            host = ipaddress.IPv6Address(host).compressed
        except ValueError:
            raise InvalidValue("must have an IPv6 address inside [brackets]", repr(text)) from None
        return f"[{host}]:{_port(rest, text)}"
    if address.count(":") > 1:
        raise InvalidValue("must put an IPv6 address in brackets, like [::1]:8000", repr(text))
    host, colon, port_text = address.partition(":")
    port = _port(colon + port_text, text)
    if host == "" and colon:
        host = "0.0.0.0"
    if not _HOSTNAME.fullmatch(host):
        raise InvalidValue(BIND_RULE, repr(text))
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidValue("must have a valid IPv4 address", repr(text)) from None
    return f"{host.lower()}:{port}"


def _port(rest: str, text: str) -> int:
    """The port in `rest` (`""` or `":PORT"`), defaulting to 8000."""
    if rest == "":
        return BIND_DEFAULT_PORT
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii():
        raise InvalidValue(BIND_RULE, repr(text))
    port = int(rest[1:])
    if port > 65535:
        raise InvalidValue("must have a port between 0 and 65535", repr(text))
    return port
