"""THE settings table: every setting ferrule has, declared once.

Each `Setting` names its flags, env var, config-file key, value type, default, section, help
and rules. `config` resolves values from these declarations, `cli` builds argparse from them,
`scripts/gen_settings_doc.py` renders `docs/settings.md` from them, and the settings marked
`core` are the keys of the dict handed to the Rust core (checked against
`_ferrule.CORE_SETTINGS`).

Value types convert what the user wrote (a CLI/env string, or a TOML/keyword value) into the
value the core receives, raising `InvalidValue` with the broken rule; `config` adds the name of
the setting as the user wrote it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, ClassVar

__all__ = [
    "BIND_DEFAULT_PORT",
    "BOOL",
    "SECTIONS",
    "SETTINGS",
    "Check",
    "InvalidValue",
    "Setting",
    "ValueType",
    "by_name",
    "normalize_bind",
    "normalize_static_mount",
]


class InvalidValue(ValueError):
    """A value broke a rule. `rule` completes "<setting> ...", `got` shows the value."""

    def __init__(self, rule: str, got: str) -> None:
        super().__init__(f"{rule}, got {got}")
        self.rule = rule
        self.got = got


# --------------------------------------------------------------------------------------------
# Value types. `convert` accepts a string (CLI, env var, TOML string, keyword) and the native
# values a TOML file or a keyword argument can carry. Booleans are never numbers here, though
# Python says `True == 1`.


class ValueType:
    """Converts user input to a setting's value. `name` is what the docs call the type."""

    name = "value"

    def convert(self, raw: object) -> Any:
        raise NotImplementedError

    def show(self, value: Any) -> str:
        """How a converted value appears after "got" in an error message."""
        return repr(value)


class _Int(ValueType):
    name = "integer"
    _SYNTAX = re.compile(r"\s*[+-]?[0-9]+\s*")

    def convert(self, raw: object) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and self._SYNTAX.fullmatch(raw):
            return int(raw)
        raise InvalidValue("must be an integer", repr(raw))

    def show(self, value: Any) -> str:
        return str(value)


class _Bool(ValueType):
    name = "boolean"
    _WORDS: ClassVar[dict[str, bool]] = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}

    def convert(self, raw: object) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in self._WORDS:
            return self._WORDS[raw.strip().lower()]
        raise InvalidValue("must be true or false", repr(raw))


class _Str(ValueType):
    name = "string"

    def convert(self, raw: object) -> str:
        if isinstance(raw, str):
            return raw
        raise InvalidValue("must be a string", repr(raw))


class _OptionalStr(ValueType):
    """A string where empty (or None, from Python) means "off"."""

    name = "string (empty = off)"

    def convert(self, raw: object) -> str | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, str):
            return raw
        raise InvalidValue("must be a string", repr(raw))


class _Path(_OptionalStr):
    name = "path"


class _Choice(ValueType):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.name = "one of " + ", ".join(choices)

    def convert(self, raw: object) -> str:
        if isinstance(raw, str) and raw.strip().lower() in self.choices:
            return raw.strip().lower()
        raise InvalidValue("must be one of " + ", ".join(self.choices), repr(raw))


class _Duration(ValueType):
    """A time span, converted to float seconds: `30` (seconds), `30s`, `500ms`, `2m`, `1h30m`.

    Units come largest first, each at most once, without spaces. TOML numbers are seconds.
    """

    name = "duration"
    _NUMBER = r"[0-9]+(?:\.[0-9]+)?"
    _SYNTAX = re.compile(
        rf"(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?(?:(?P<ms>{_NUMBER})ms)?"
    )
    _SECONDS: ClassVar[dict[str, Any]] = {"h": 3600, "m": 60, "s": 1, "ms": Decimal("0.001")}
    RULE = "must be a duration like 30, 30s, 500ms or 1h30m"

    def convert(self, raw: object) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            text = raw.strip()
            if re.fullmatch(self._NUMBER, text):
                return float(text)
            match = self._SYNTAX.fullmatch(text)
            if text and match:
                total = sum(Decimal(part) * self._SECONDS[unit]
                            for unit, part in match.groupdict().items() if part is not None)
                return float(total)
        raise InvalidValue(self.RULE, repr(raw))

    def show(self, value: Any) -> str:
        return f"{value:g}s" if isinstance(value, float) and math.isfinite(value) else repr(value)


class _ByteSize(ValueType):
    """A size in bytes, converted to int: `8192`, `8KiB`, `8 KiB`, `1MiB`, `1GiB`, `1kB`.

    Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (kB, MB, GB, TB) powers
    of 1000; units are case-insensitive. A fraction is allowed when the result is a whole
    number of bytes (`1.5KiB`).
    """

    name = "size"
    _SYNTAX = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "b": 1,
              "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
              "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
    RULE = "must be a size like 8192, 8KiB or 1MiB"

    def convert(self, raw: object) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            match = self._SYNTAX.fullmatch(raw)
            if match and match.group(2).lower() in self._UNITS:
                try:
                    size = Decimal(match.group(1)) * self._UNITS[match.group(2).lower()]
                except InvalidOperation:  # pragma: no cover - the regex admits only decimals
                    size = Decimal("NaN")
                if size == size.to_integral_value():
                    return int(size)
                raise InvalidValue("must be a whole number of bytes", repr(raw))
        raise InvalidValue(self.RULE, repr(raw))

    def show(self, value: Any) -> str:
        return str(value)


class _List(ValueType):
    """A list of strings. From text (CLI, env var) it is comma-separated; a TOML file or a
    keyword argument may give a list or a comma-separated string. `item` may check and
    normalise each entry. Converted to a tuple (settings are immutable)."""

    def __init__(self, item: Callable[[str], str] | None = None) -> None:
        self.item = item
        self.name = "list of strings (comma-separated in env vars and flags)"

    def convert(self, raw: object) -> tuple[str, ...]:
        if isinstance(raw, str):
            items = [part.strip() for part in raw.split(",")]
            items = [part for part in items if part]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            items = list(raw)
        else:
            raise InvalidValue("must be a list of strings", repr(raw))
        if self.item is not None:
            items = [self.item(part) for part in items]
        return tuple(items)

    def show(self, value: Any) -> str:
        return repr(list(value))


class _JsonObject(ValueType):
    """A mapping: a dict (TOML table, Python config file, keyword) or a JSON object as text
    (CLI, env var). Empty (or None) means unset."""

    name = "JSON object (empty = unset)"

    def convert(self, raw: object) -> dict[str, Any] | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, str):
            import json

            try:
                raw = json.loads(raw)
            except ValueError as err:
                raise InvalidValue(f"must be a JSON object ({err})", repr(raw)) from None
        if isinstance(raw, dict):
            return dict(raw)
        raise InvalidValue("must be a JSON object", repr(raw))

    def show(self, value: Any) -> str:
        return repr(value)


class _Optional(ValueType):
    """Another type, where empty (or None, from Python) means "off"."""

    def __init__(self, inner: ValueType) -> None:
        self.inner = inner
        self.name = f"{inner.name} (empty = off)"

    def convert(self, raw: object) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        return self.inner.convert(raw)

    def show(self, value: Any) -> str:
        return self.inner.show(value)


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


class _Workers(_Int):
    """A worker count, or `auto`: one per CPU this process may run on."""

    name = "integer or auto"

    def convert(self, raw: object) -> int:
        if isinstance(raw, str) and raw.strip().lower() == "auto":
            return _cpu_count()
        try:
            return super().convert(raw)
        except InvalidValue:
            raise InvalidValue("must be an integer or auto", repr(raw)) from None


class _Octal(ValueType):
    """A file mode or umask: `0660`, `0o660` or `660` from text (always octal), an int from a
    TOML file or keyword (`0o660`). Empty or None means unset."""

    name = "octal mode (empty = unset)"

    def convert(self, raw: object) -> int | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip().lower().removeprefix("0o")
            if text and all(ch in "01234567" for ch in text):
                return int(text, 8)
        raise InvalidValue("must be an octal mode like 0660", repr(raw))

    def show(self, value: Any) -> str:
        return oct(value) if isinstance(value, int) else repr(value)


class _CertReqs(ValueType):
    """Whether clients must send a certificate: gunicorn's numbers (`ssl.CERT_NONE` 0,
    `CERT_OPTIONAL` 1, `CERT_REQUIRED` 2) or the names `none`, `optional`, `required`;
    converted to the name."""

    name = "0, 1, 2 (or none, optional, required)"
    choices = ("none", "optional", "required")

    def convert(self, raw: object) -> str:
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 2:
            return self.choices[raw]
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in ("0", "1", "2"):
                return self.choices[int(text)]
            if text in self.choices:
                return text
        raise InvalidValue("must be 0 (none), 1 (optional) or 2 (required)", repr(raw))


class _HttpProtocols(ValueType):
    """The HTTP versions served, in ALPN preference order: gunicorn's comma list of `h1` and
    `h2` (`"h2, h1"`, or a list), converted to `h1`, `h2,h1` or `h1,h2`. HTTP/1.x cannot be
    left out: plain connections without the HTTP/2 preface, and TLS clients without ALPN,
    speak it."""

    name = "h1, h2,h1 or h1,h2"
    choices = ("h1", "h2,h1", "h1,h2")
    RULE = "must be h1, h2,h1 or h1,h2 (HTTP/1.1 cannot be left out)"

    def convert(self, raw: object) -> str:
        if isinstance(raw, str):
            items = [part.strip().lower() for part in raw.split(",")]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            items = [part.strip().lower() for part in raw]
        else:
            raise InvalidValue(self.RULE, repr(raw))
        text = ",".join(items)
        if text in self.choices:
            return text
        raise InvalidValue(self.RULE, repr(raw))


class _Cleartext(ValueType):
    """HTTP/2 without TLS: `prior-knowledge` or `off`. gunicorn's `upgrade` and `both`
    (HTTP/1.1 `Upgrade: h2c`, which RFC 9113 deprecated) are refused with the reason."""

    name = "prior-knowledge or off"
    choices = ("off", "prior-knowledge")

    def convert(self, raw: object) -> str:
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text in self.choices:
            return text
        if text in ("upgrade", "both"):
            raise InvalidValue(
                "must be prior-knowledge or off (the HTTP/1.1 Upgrade: h2c handshake is not "
                "served: RFC 9113 deprecates it, and every h2c client and proxy speaks prior "
                "knowledge)", repr(raw))
        raise InvalidValue("must be prior-knowledge or off", repr(raw))


class _Account(ValueType):
    """A user or group, by name or number, converted to its numeric id."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind} name or id (empty = unchanged)"

    def convert(self, raw: object) -> int | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip()
            if text.isdigit():
                return int(text)
            try:
                if self.kind == "user":
                    import pwd

                    return pwd.getpwnam(text).pw_uid
                import grp

                return grp.getgrnam(text).gr_gid
            except KeyError:
                raise InvalidValue(f"must name an existing {self.kind}", repr(raw)) from None
        raise InvalidValue(f"must be a {self.kind} name or id", repr(raw))

    def show(self, value: Any) -> str:
        return str(value)


class _WorkerClass(ValueType):
    """gunicorn's `-k/--worker-class`, kept so its command lines keep working. gunicorn's
    `sync` and `gthread` workers (by name or class path) both mean what ferrule always does:
    the app runs on `threads` Python threads per worker. The others are refused with what to
    use instead."""

    name = "sync, gthread or an ASGI worker"
    _THREADS: ClassVar[dict[str, str]] = {
        "sync": "sync", "gunicorn.workers.sync.syncworker": "sync",
        "egg:gunicorn#sync": "sync",
        "gthread": "gthread", "gunicorn.workers.gthread.threadworker": "gthread",
        "egg:gunicorn#gthread": "gthread",
    }
    _GREEN = ("gevent", "eventlet", "tornado", "ggevent", "geventworker", "geventpywsgiworker",
              "eventletworker", "tornadoworker", "gevent_wsgi", "gevent_pywsgi", "gtornado")
    _ASGI = ("uvicorn", "uvicornworker", "asgi", "gasgi", "asgiworker")
    RULE = ("must be sync or gthread (gunicorn's names for what ferrule always does: "
            "threads), or an ASGI worker (uvicorn.workers.UvicornWorker, asgi)")

    def convert(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidValue(self.RULE, repr(raw))
        text = raw.strip().lower()
        if text in self._THREADS:
            return self._THREADS[text]
        parts = set(re.split(r"[.:#]", text))
        if parts & set(self._ASGI):
            return "asgi"
        if parts & set(self._GREEN):
            raise InvalidValue(
                "names a gevent, eventlet or tornado worker; ferrule has none: it runs WSGI "
                "apps on OS threads, which wait on I/O with the GIL released. Drop -k and "
                "raise --threads for apps that mostly wait", repr(raw))
        raise InvalidValue(self.RULE, repr(raw))


class _EnvPairs(ValueType):
    """`KEY=VALUE` entries (gunicorn's `-e/--env`, `raw_env`). A string is one entry (values
    may hold commas); a config file may give a list. Converted to a tuple of (key, value)."""

    name = "KEY=VALUE (the flag can be repeated)"

    def convert(self, raw: object) -> tuple[tuple[str, str], ...]:
        if isinstance(raw, str):
            entries = [raw]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            entries = list(raw)
        else:
            raise InvalidValue("must be KEY=VALUE or a list of them", repr(raw))
        pairs = []
        for entry in entries:
            key, equals, value = entry.partition("=")
            if not equals or not key.strip() or "\0" in entry:
                raise InvalidValue("must be KEY=VALUE", repr(entry))
            pairs.append((key.strip(), value))
        return tuple(pairs)

    def show(self, value: Any) -> str:
        return repr([f"{key}={val}" for key, val in value])


class _Hook(ValueType):
    """A server hook: a callable (from a `.py` config file or `ferrule.serve()`), or a
    reference `module:function` (from TOML, an env var) imported when the server starts.
    `arity` is how many arguments gunicorn passes it."""

    _REFERENCE = re.compile(r"[A-Za-z_][\w.]*[:.][A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

    def __init__(self, arity: int) -> None:
        self.arity = arity
        self.name = f"function of {arity} argument{'s' if arity != 1 else ''} (or module:function)"

    def convert(self, raw: object) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            text = raw.strip()
            if not self._REFERENCE.fullmatch(text):
                raise InvalidValue("must be a function or 'module:function'", repr(raw))
            return text
        if not callable(raw):
            raise InvalidValue("must be a function or 'module:function'", repr(raw))
        import inspect

        try:
            inspect.signature(raw).bind(*([None] * self.arity))
        except TypeError:
            raise InvalidValue(
                f"must take {self.arity} argument{'s' if self.arity != 1 else ''}",
                getattr(raw, "__qualname__", repr(raw))) from None
        except ValueError:  # pragma: no cover - builtins without a signature: trust them
            pass
        return raw

    def show(self, value: Any) -> str:
        return value if isinstance(value, str) else f"<{getattr(value, '__qualname__', value)}()>"


#: gunicorn's access log atoms (`gunicorn/glogging.py: Logger.atoms`) that ferrule renders,
#: besides `{header}i` and `{header}o`. gunicorn's `{variable}e` (an environ variable) is
#: not among them: the access log is written by the server, which never sees the environ.
ACCESS_LOG_ATOMS = ("h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T",
                    "M", "D", "L", "p", "peer")
_ATOM = re.compile(r"%\((?P<name>[^()]*)\)(?P<conversion>.?)")


class _AccessLogFormat(_Str):
    """An access log format in gunicorn's syntax, whose atoms must all be known."""

    def convert(self, raw: object) -> str:
        text = super().convert(raw)
        problem = access_log_format_problem(text)
        if problem is not None:
            raise InvalidValue(problem, repr(raw))
        return text


def access_log_format_problem(text: str) -> str | None:
    """What is wrong with an `access_log_format`, or None. gunicorn prints `-` for an atom
    it does not know; ferrule refuses it at startup, naming it."""
    for match in _ATOM.finditer(text):
        name, atom = match.group("name"), match.group()
        if match.group("conversion") != "s":
            return f"must write each atom as %(name)s; {atom!r} is not"
        if name in ACCESS_LOG_ATOMS:
            continue
        if re.fullmatch(r"\{[A-Za-z0-9!#$%&'*+.^_`|~-]+\}[io]", name):
            continue
        if re.fullmatch(r"\{.*\}e", name):
            return (f"has {atom}, an environ variable: not supported, as ferrule writes the "
                    "access log from the request it read, not from the app's environ")
        known = ", ".join(ACCESS_LOG_ATOMS)
        return f"has an unknown atom {atom} (known: {known}, {{header}}i, {{header}}o)"
    if re.search(r"%\((?![^()]*\))", text):
        return "has an unclosed atom: write each as %(name)s"
    return None


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


INT = _Int()
BOOL = _Bool()
STR = _Str()
OPTIONAL_STR = _OptionalStr()
PATH = _Path()
DURATION = _Duration()
BYTE_SIZE = _ByteSize()


# --------------------------------------------------------------------------------------------
# Bind addresses. Decided like gunicorn (`gunicorn/util.py: parse_address`): `HOST:PORT`,
# `[IPv6]:PORT`, `unix:PATH`; a bare `HOST` or `[IPv6]` gets port 8000; `:PORT` means every
# IPv4 interface (gunicorn binds the empty host, which is INADDR_ANY), written out as
# `0.0.0.0:PORT` so the log says what is bound. Port 0 asks the kernel for a free port.
# Unlike gunicorn, a bare IPv6 address without brackets is rejected: `::1:8000` is ambiguous.

BIND_DEFAULT_PORT = 8000
BIND_RULE = "must be HOST:PORT, [IPv6]:PORT or unix:PATH"  # fd://N is rarely typed by hand
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
        raise InvalidValue("must not be https://: TLS is not supported yet (planned, issue "
                           "#10); put a TLS proxy in front", repr(text))
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


# --------------------------------------------------------------------------------------------
# Static mounts: `URL_PREFIX=DIRECTORY`, optionally `;max_age=DURATION` (uWSGI's
# `--static-map` spelling, plus a per-mount cache lifetime). The prefix is a URL path as
# clients send it: it starts with `/`, has no trailing `/` (`/` alone mounts the whole site)
# and only characters that need no percent-encoding, so it matches the request target byte for
# byte. The directory is kept as written: a relative one is opened after `chdir`.

STATIC_MAP_RULE = "must be URL_PREFIX=DIRECTORY, e.g. /static=./static"
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
#: The longest `max_age` a mount may set: ten years, beyond any cache's horizon.
_MAX_AGE_LIMIT = 10 * 365 * 86400


def normalize_static_mount(text: str) -> str:
    """`text` as the core expects it: `"/static=./static"` or `"/media=media;max_age=60"`
    (whole seconds).

    # Errors
    `InvalidValue` naming the broken rule.
    """
    entry = text.strip()
    prefix, equals, rest = entry.partition("=")
    if not equals or not rest:
        raise InvalidValue(STATIC_MAP_RULE, repr(text))
    directory, max_age = rest, None
    head, marker, age_text = rest.rpartition(";max_age=")
    if marker:
        directory = head
        try:
            seconds = DURATION.convert(age_text)
        except InvalidValue:
            raise InvalidValue("must give max_age as a duration like 60s or 1h", repr(text)) from None
        if seconds > _MAX_AGE_LIMIT:
            raise InvalidValue("must give a max_age of at most 10 years", repr(text))
        max_age = int(seconds)
    if prefix != "/":
        prefix = prefix.rstrip("/") if len(prefix) > 1 else prefix
    if not _URL_PATH.fullmatch(prefix) or "//" in prefix or "/./" in prefix + "/" or "/../" in prefix + "/":
        raise InvalidValue(
            "must start with a URL path of plain characters (no %, ?, # or dot segments) before '='",
            repr(text),
        )
    if not directory or "\0" in directory:
        raise InvalidValue("must name a directory after '='", repr(text))
    return f"{prefix}={directory}" + ("" if max_age is None else f";max_age={max_age}")


def _static_prefixes_differ(value: tuple[str, ...]) -> bool:
    prefixes = [entry.partition("=")[0] for entry in value]
    return len(set(prefixes)) == len(prefixes)


# --------------------------------------------------------------------------------------------
# Rules checked after conversion.


@dataclass(frozen=True)
class Check:
    """A rule a converted value must follow. `rule` completes "<setting> ..." in messages."""

    rule: str
    ok: Callable[[Any], bool]


def at_least(minimum: float) -> Check:
    return Check(f"must be >= {minimum:g}", lambda value: value >= minimum)


def at_most(maximum: float, shown: str | None = None) -> Check:
    return Check(f"must be <= {shown or maximum}", lambda value: value <= maximum)


def _is_root_path(value: str) -> bool:
    return value == "" or (value.startswith("/") and not value.endswith("/"))


# Bounds that keep values inside the core's integer types (i32 for counts handed to the
# kernel, i64 for byte counts) and inside what Rust's `Duration::from_secs_f64` accepts.
_MAX_COUNT = 2**31 - 1
_MAX_BYTES = 2**63 - 1
_COUNT = (at_least(1), at_most(_MAX_COUNT))
_OFF_OR_COUNT = (at_least(0), at_most(2**63 - 1))
_SIZE = (at_least(1), at_most(_MAX_BYTES))
_TIMEOUT = (
    Check("must be > 0", lambda value: value > 0),
    # 24h: far beyond any sane request timeout; stops typos like `30h` and infinities.
    at_most(86400.0, "24h"),
)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting. Its spellings are mechanical: name `graceful_timeout`, flag
    `--graceful-timeout`, env var `FERRULE_GRACEFUL_TIMEOUT`, config-file key
    `graceful_timeout`."""

    name: str
    section: str
    type: ValueType
    #: The default as a user would write it (`"8KiB"`, `"10s"`); None means unset.
    default: Any
    help: str
    #: CLI spellings; empty for the positional `app` and for settings that have no flag
    #: (hooks: a config file or an env var names them).
    flags: tuple[str, ...] = ()
    #: gunicorn's spellings where they differ from ours, accepted and hidden from --help:
    #: its flags (`--keep-alive`) and its setting names (`keepalive`), which config files and
    #: `GUNICORN_CMD_ARGS` use. `python/ferrule/gunicorn.py` derives the compatibility table
    #: from them.
    gunicorn: tuple[str, ...] = ()
    #: Whether the value is handed to the Rust core (a key of `Config.to_core()`).
    core: bool = False
    #: Rules on the converted value, checked in order.
    checks: tuple[Check, ...] = ()
    #: The flag may be given several times; the values add up (list settings).
    repeatable: bool = False
    #: Argument name in --help.
    metavar: str | None = None
    #: How the docs and --help describe the default when the value itself says too little.
    default_text: str | None = None
    #: Whether a config file may set it (not `config` itself).
    in_file: bool = True
    #: Accepted for gunicorn's sake but without effect here: why, for the warning a user
    #: who sets it gets (`ferrule: warning: ...`).
    ignored: str | None = None
    #: Other environment variables read for it (gunicorn's `FORWARDED_ALLOW_IPS`), below
    #: `FERRULE_<NAME>` in precedence.
    env_aliases: tuple[str, ...] = ()
    #: The value a flag given without one means (`--proxy-protocol` alone is `auto`).
    bare: str | None = None
    #: The command's positional argument (`app`) rather than a flag.
    positional: bool = False

    @property
    def env(self) -> str:
        return "FERRULE_" + self.name.upper()

    @property
    def gunicorn_flags(self) -> tuple[str, ...]:
        """gunicorn's flag spellings of this setting that are not ours."""
        return tuple(flag for flag in self.gunicorn
                     if flag.startswith("-") and flag not in self.flags)

    @property
    def gunicorn_names(self) -> tuple[str, ...]:
        """gunicorn's setting names for this setting (config-file keys), when not ours."""
        return tuple(name for name in self.gunicorn if not name.startswith("-"))

    def default_value(self) -> Any:
        """The default, converted like user input."""
        return None if self.default is None else self.type.convert(self.default)

    def describe_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, (list, tuple)):
            return ", ".join(self.default)
        return str(self.default)

    def check(self, value: Any) -> None:
        """Raises `InvalidValue` for the first rule `value` breaks; None (unset) passes."""
        if value is None:
            return
        for check in self.checks:
            if not check.ok(value):
                raise InvalidValue(check.rule, self.type.show(value))


SECTIONS = ("Application", "Server", "TLS", "Static files", "Proxy", "Workers", "Logging",
            "Observability", "Limits", "Timeouts", "Hooks")

SETTINGS: tuple[Setting, ...] = (
    # ---- Application: what to serve and how to find it. Python only.
    Setting(
        name="app",
        section="Application",
        type=_Str(),
        default=None,
        default_text="none (required by the ferrule command)",
        positional=True,
        gunicorn=("wsgi_app",),
        metavar="APP",
        help=(
            "The WSGI app to serve: `module:attribute` (e.g. `myapp:app`, `pkg.web:server.app`), "
            "or `module:factory()` to call a factory, with literal arguments if it needs them "
            "(`myapp:create_app('prod', debug=False)`). A bare `module` looks for `application`, "
            "then `app`. Given as the positional argument of the ferrule command; "
            "`ferrule.serve()` takes the app object instead."
        ),
    ),
    Setting(
        name="config",
        section="Application",
        type=PATH,
        default=None,
        default_text="none (no file is read)",
        flags=("-c", "--config"),
        metavar="FILE",
        in_file=False,
        help=(
            "A config file: TOML, `ferrule.toml` (settings as top-level keys) or "
            "`pyproject.toml` (the `[tool.ferrule]` table); or Python, a `.py` file such as an "
            "unmodified `gunicorn.conf.py`, whose module globals are settings and whose "
            "functions are hooks. Nothing is loaded unless this is given, so a stray file "
            "never changes how a server runs. Keys are setting names "
            "(`max_body_bytes = \"1MiB\"`), gunicorn's names accepted; unknown keys are errors "
            "in TOML and warnings in a `.py` file (where helper variables are common; start "
            "their names with `_` to silence the warning)."
        ),
    ),
    Setting(
        name="chdir",
        section="Application",
        type=PATH,
        default=None,
        default_text="none (the current directory)",
        flags=("--chdir",),
        metavar="DIR",
        checks=(Check("must be an existing directory", os.path.isdir),),
        help=(
            "Change to this directory before importing the app. Relative paths in other "
            "settings (log files, unix sockets, `pythonpath`) are then relative to it; the "
            "config file is read before the change."
        ),
    ),
    Setting(
        name="pythonpath",
        section="Application",
        type=_List(),
        default=(),
        default_text="none",
        flags=("--pythonpath",),
        repeatable=True,
        metavar="DIRS",
        help=(
            "Directories to put in front of `sys.path` before importing the app, "
            "comma-separated; the flag can be repeated. The current directory (after `chdir`) "
            "is always on the path, as with gunicorn."
        ),
    ),
    Setting(
        name="env",
        section="Application",
        type=_EnvPairs(),
        default=(),
        default_text="none",
        flags=("-e", "--env"),
        gunicorn=("raw_env",),
        repeatable=True,
        metavar="KEY=VALUE",
        help=(
            "Set an environment variable in the server before the app is imported (in the "
            "master, so every worker has it), e.g. `-e DJANGO_SETTINGS_MODULE=site.settings`; "
            "the flag can be repeated. In a config file, a list of `KEY=VALUE` strings."
        ),
    ),
    Setting(
        name="root_path",
        section="Application",
        type=STR,
        default="",
        default_text='"" (mounted at /)',
        flags=("--root-path",),
        metavar="PATH",
        core=True,
        checks=(Check("must be empty or start with '/' and not end with '/'", _is_root_path),),
        help=(
            "The URL prefix the app is mounted under behind a proxy, e.g. `/api`: it becomes "
            "`SCRIPT_NAME`, and a request path starting with it has it removed from "
            "`PATH_INFO`."
        ),
    ),
    Setting(
        name="interface",
        section="Application",
        type=_Choice("auto", "wsgi", "asgi"),
        default="auto",
        flags=("--interface",),
        metavar="auto|wsgi|asgi",
        core=True,
        help=(
            "The app's interface. `auto`: ASGI when the app is an `async def` function or an "
            "object whose `__call__` is one (FastAPI, Starlette, Django's `ASGIHandler`, Quart, "
            "Litestar), WSGI otherwise, as uvicorn and Granian decide. Say `asgi` for an ASGI "
            "app wrapped in a plain function. ASGI 2 apps (a class whose instances take "
            "`(receive, send)`) are refused with a message: wrap them with asgiref's "
            "`guarantee_single_callable`."
        ),
    ),
    Setting(
        name="loop",
        section="Application",
        type=_Choice("auto", "asyncio", "uvloop"),
        default="auto",
        flags=("--loop",),
        metavar="auto|asyncio|uvloop",
        core=True,
        help=(
            "ASGI: the event loop each worker runs its app on, one per worker on a thread of "
            "its own. `auto`: uvloop when it is installed, else asyncio's."
        ),
    ),
    Setting(
        name="lifespan",
        section="Application",
        type=_Choice("auto", "on", "off"),
        default="auto",
        flags=("--lifespan",),
        metavar="auto|on|off",
        core=True,
        help=(
            "ASGI lifespan, per worker: startup before it accepts (`lifespan.startup.failed` "
            "stops the server, exit 3), shutdown after its last request on every graceful "
            "stop, reload and recycle. `auto`: an app that raises on the lifespan scope before "
            "answering is served without it; `on`: that is a boot error too; `off`: never sent."
        ),
    ),
    Setting(
        name="paste",
        section="Application",
        type=PATH,
        default=None,
        default_text="none",
        flags=("--paste",),
        gunicorn=("--paster",),
        metavar="INI",
        help=(
            "Load the app from a PasteDeploy ini file instead of `APP` (Pyramid's "
            "`development.ini`): the `[app:main]` section, or the one named after `#` "
            "(`production.ini#admin`). Settings in the ini's `[server:main]` section (when it "
            "says `use = egg:ferrule`) apply below env vars and flags, and its logging "
            "sections configure Python's logging, as `pserve` does. See docs/paste.md."
        ),
    ),
    # ---- Server: where to listen and how many requests run the app at once.
    Setting(
        name="bind",
        section="Server",
        type=_List(item=lambda text: normalize_bind(text)),
        default=("127.0.0.1:8000",),
        flags=("-b", "--bind"),
        repeatable=True,
        metavar="ADDRESS",
        core=True,
        checks=(
            Check("must name at least one address", lambda value: len(value) > 0),
            Check("must not name the same address twice",
                  lambda value: len(set(value)) == len(value)),
        ),
        help=(
            "Where to listen: `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH`, or `fd://N` for a "
            "listening socket the process was started with. Under systemd socket activation "
            "(`LISTEN_FDS`) the activated sockets are used instead. A bare `HOST` (or "
            "`[IPv6]`) listens on port 8000; `:PORT` listens on every IPv4 interface "
            "(`0.0.0.0:PORT`), as with gunicorn. Port 0 picks a free port. Repeat the flag (or "
            "separate addresses with commas) to listen on several addresses. `http://` and "
            "`tcp://` in front of `HOST:PORT` are accepted. As with gunicorn, when `PORT` is in "
            "the environment (Heroku, Cloud Run) the default is `0.0.0.0:$PORT`."
        ),
    ),
    Setting(
        name="threads",
        section="Server",
        type=INT,
        # 4, as waitress: enough to overlap apps' I/O waits (database, upstream HTTP), during
        # which the GIL is released, without adding GIL contention and memory for CPU-bound
        # apps. Chosen without measurement; revisit with bench/ numbers.
        default=4,
        flags=("--threads",),
        metavar="N",
        core=True,
        checks=_COUNT,
        help=(
            "Python threads per worker that run the app: at most this many requests run app "
            "code at once in a worker. 4 (as in waitress) overlaps requests that wait on I/O "
            "(databases, upstream HTTP) with the GIL released, without the GIL contention and "
            "memory of many threads in CPU-bound apps; raise it for apps that mostly wait."
        ),
    ),
    Setting(
        name="reuse_port",
        section="Server",
        type=BOOL,
        default=False,
        flags=("--reuse-port",),
        core=True,
        help=(
            "Set SO_REUSEPORT on TCP listening sockets, so that another server (another "
            "ferrule, during a blue-green switch) may bind the same port."
        ),
    ),
    Setting(
        name="ws_per_message_deflate",
        section="Server",
        type=BOOL,
        default=True,
        flags=("--ws-per-message-deflate",),
        core=True,
        help=(
            "Accept a client's permessage-deflate offer (RFC 7692) on WebSockets. The server "
            "compresses without context takeover (no window kept between messages) and inflates "
            "under `ws_max_message_bytes`, so a compressed bomb costs at most that."
        ),
    ),
    Setting(
        name="http_protocols",
        section="Server",
        type=_HttpProtocols(),
        default="h2,h1",
        flags=("--http-protocols",),
        metavar="h2,h1",
        core=True,
        help=(
            "The HTTP versions served, in order of preference: `h2,h1` (HTTP/2 offered by ALPN "
            "on TLS listeners, and on plain ones to clients that open with the HTTP/2 preface, "
            "see `http2_cleartext`), `h1,h2`, or `h1` (HTTP/1.x only). gunicorn's spelling "
            "(`h2, h1`) is accepted."
        ),
    ),
    Setting(
        name="http2_cleartext",
        section="Server",
        type=_Cleartext(),
        default="prior-knowledge",
        flags=("--http2-cleartext",),
        metavar="prior-knowledge|off",
        core=True,
        help=(
            "HTTP/2 on plain (non-TLS) listeners: `prior-knowledge` serves a connection that "
            "opens with the HTTP/2 connection preface (`PRI * HTTP/2.0`, what Envoy, Google "
            "Cloud load balancers and `curl --http2-prior-knowledge` send) as HTTP/2 and every "
            "other as HTTP/1.x; `off` serves HTTP/1.x only. No HTTP/1.1 request starts with "
            "the preface, so the check changes nothing for HTTP/1.x clients. The HTTP/1.1 "
            "`Upgrade: h2c` handshake is not served."
        ),
    ),
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
        name="sendfile",
        section="Server",
        type=_Choice("auto", "on", "off"),
        default="auto",
        flags=("--sendfile",),
        gunicorn=("--no-sendfile",),
        metavar="auto|on|off",
        core=True,
        help=(
            "How a `wsgi.file_wrapper` file is sent: `on`, sendfile(2), with no copy through "
            "the server; `off`, read and written in 256 KiB pieces; `auto`, sendfile except to "
            "a loopback client (a proxy on the same host), where copying costs the machine "
            "less in all: measured on 10 MiB files, the reader took 5.1 ms of CPU per file "
            "from sendfile against 2.7 ms from writes, the server 1.0 ms against 1.9 ms."
        ),
    ),
    Setting(
        name="sched_policy",
        section="Server",
        type=_Choice("batch", "normal"),
        default="batch",
        flags=("--sched-policy",),
        metavar="batch|normal",
        core=True,
        help=(
            "The Linux scheduling policy of the worker processes' threads. `batch` "
            "(SCHED_BATCH, no privileges needed) stops a worker's I/O thread and Python threads "
            "from preempting each other at every hand-off of a request: measured at 1 worker "
            "on 1 core, hello went from 100k to 134k req/s and Django from 14k to 19k, with "
            "lower p50 and p99. The cost: when other processes keep the CPUs busy, a woken "
            "worker thread waits for the running one's time slice (~1-3 ms) instead of "
            "preempting it. With more than one Python thread per worker, the Python threads "
            "themselves stay SCHED_OTHER under `batch`: CPython hands the GIL between them "
            "when a waiting thread's 5 ms timer wakes it, and a batch thread woke too late "
            "(flask at 4 threads on 1 core: p99 64 ms against 44). `normal` is SCHED_OTHER "
            "for every thread."
        ),
    ),
    Setting(
        name="unix_socket_mode",
        section="Server",
        type=_Octal(),
        # 0666: a proxy running as another user (nginx's workers) must be able to connect, as
        # any local user can to a 127.0.0.1 port; gunicorn's sockets are 0777 for the same
        # reason (it binds them under umask 0). The x bits mean nothing on a socket.
        default="0666",
        default_text="0666 (any local user may connect, as to a loopback port)",
        flags=("--unix-socket-mode",),
        metavar="MODE",
        core=True,
        checks=(at_most(0o7777, "0o7777"),),
        help=(
            "The file mode of `unix:` socket files, set after binding whatever the umask. The "
            "default lets a proxy running as another user (nginx's workers) connect, as gunicorn's "
            "sockets do; `0660` limits it to the socket's group. Empty leaves what the umask "
            "gives."
        ),
    ),
    Setting(
        name="pid_file",
        section="Server",
        type=PATH,
        default=None,
        default_text="none (no file)",
        flags=("--pid-file",),
        gunicorn=("-p", "--pid", "pidfile"),
        metavar="FILE",
        core=True,
        help=(
            "Write the master's pid to this file; it is removed when the master stops (unless "
            "a new master, after SIGUSR2, has written its own)."
        ),
    ),
    Setting(
        name="user",
        section="Server",
        type=_Account("user"),
        default=None,
        default_text="none (unchanged)",
        flags=("--user",),
        gunicorn=("-u",),
        metavar="USER",
        core=True,
        help=(
            "Workers switch to this user (name or id) after the fork, before importing the "
            "app; the master keeps its user to bind ports and reopen logs. Without `group`, the "
            "user's primary group."
        ),
    ),
    Setting(
        name="group",
        section="Server",
        type=_Account("group"),
        default=None,
        default_text="none (unchanged, or the user's primary group)",
        flags=("--group",),
        gunicorn=("-g",),
        metavar="GROUP",
        core=True,
        help="Workers switch to this group (name or id) after the fork.",
    ),
    Setting(
        name="umask",
        section="Server",
        type=_Octal(),
        default=None,
        default_text="none (inherited)",
        flags=("--umask",),
        gunicorn=("-m",),
        metavar="MODE",
        checks=(at_most(0o777, "0o777"),),
        help="The umask of the master and its workers (applies to unix socket and log files).",
    ),
    # ---- TLS: served by the worker itself (rustls), on every TCP listener.
    Setting(
        name="certfile",
        section="TLS",
        type=PATH,
        default=None,
        default_text="none (plain HTTP)",
        flags=("--certfile",),
        metavar="FILE",
        core=True,
        help=(
            "The server's certificate chain (PEM, leaf first). Setting it makes every TCP "
            "listener speak TLS 1.2 and 1.3 (unix sockets stay plain). The master reads the "
            "files at startup (a missing or broken file stops it, naming the file) and again "
            "on SIGHUP, for the new generation of workers: that is how a certificate is "
            "rotated without downtime."
        ),
    ),
    Setting(
        name="keyfile",
        section="TLS",
        type=PATH,
        default=None,
        default_text="none (the key is in certfile)",
        flags=("--keyfile",),
        metavar="FILE",
        core=True,
        help=(
            "The private key of `certfile` (PEM: PKCS#8, RSA or EC; RSA, ECDSA and Ed25519 "
            "keys). Read by the master, so it may be readable by root only when workers run "
            "as `user`. An encrypted key is refused: decrypt it and protect the file."
        ),
    ),
    Setting(
        name="ca_certs",
        section="TLS",
        type=PATH,
        default=None,
        default_text="none",
        flags=("--ca-certs",),
        metavar="FILE",
        core=True,
        help="CA certificates (PEM) that client certificates must chain to (`cert_reqs`).",
    ),
    Setting(
        name="cert_reqs",
        section="TLS",
        type=_CertReqs(),
        default="none",
        flags=("--cert-reqs",),
        metavar="0|1|2",
        core=True,
        help=(
            "Client certificates, as gunicorn numbers them: 0 not asked for, 1 asked for and "
            "checked when sent, 2 required (mutual TLS). 1 and 2 need `ca_certs`. A verified "
            "client certificate shows in the environ as `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN`, "
            "`SSL_CLIENT_CERT` and `SSL_CLIENT_VERIFY`."
        ),
    ),
    Setting(
        name="tls_min_version",
        section="TLS",
        type=_Choice("1.2", "1.3"),
        default="1.2",
        flags=("--tls-min-version",),
        metavar="1.2|1.3",
        core=True,
        help="The oldest TLS version served; nothing older than 1.2 ever is.",
    ),
    Setting(
        name="ssl_version",
        section="TLS",
        type=STR,
        default="",
        default_text="ignored",
        flags=("--ssl-version",),
        metavar="VERSION",
        ignored="TLS versions are set by --tls-min-version (1.2 or 1.3); rustls has no older ones",
        help="gunicorn's setting, accepted and ignored (see `tls_min_version`).",
    ),
    Setting(
        name="ciphers",
        section="TLS",
        type=STR,
        default="",
        default_text="ignored",
        flags=("--ciphers",),
        metavar="LIST",
        ignored="rustls offers only AEAD suites with forward secrecy, in its own order",
        help="gunicorn's setting, accepted and ignored: rustls offers only strong suites.",
    ),
    Setting(
        name="do_handshake_on_connect",
        section="TLS",
        type=BOOL,
        default=False,
        flags=("--do-handshake-on-connect",),
        ignored="the handshake always runs first, in the connection's own task, under "
                "header_timeout",
        help="gunicorn's setting, accepted and ignored.",
    ),
    Setting(
        name="suppress_ragged_eofs",
        section="TLS",
        type=BOOL,
        default=True,
        flags=("--suppress-ragged-eofs",),
        ignored="a connection closed without close_notify ends like any closed connection",
        help="gunicorn's setting, accepted and ignored.",
    ),
    # ---- Static files: served by the worker's Rust side, without the app.
    Setting(
        name="static_map",
        section="Static files",
        type=_List(item=lambda text: normalize_static_mount(text)),
        default=(),
        default_text="none",
        flags=("--static-map",),
        repeatable=True,
        metavar="PREFIX=DIR",
        core=True,
        checks=(Check("must not mount the same URL prefix twice", _static_prefixes_differ),),
        help=(
            "Serve the files under `DIR` at the URL path `PREFIX` (`/static=./static`), "
            "without the app: GET and HEAD, conditional and range requests, precompressed "
            "`.br`/`.gz` siblings. Add `;max_age=DURATION` to give this mount its own "
            "`static_max_age`. A path under the prefix that names no file goes to the app; a "
            "refused one (dot segments, dotfiles, encoded slashes, symlinks out of `DIR`) is a "
            "404. Repeat the flag for several mounts; the longest prefix wins. See "
            "docs/static.md."
        ),
    ),
    Setting(
        name="static_max_age",
        section="Static files",
        type=DURATION,
        # 1h: a deploy's unhashed assets reach clients within the hour; hashed names are
        # cached for a year whatever this says. Chosen without measurement.
        default="1h",
        flags=("--static-max-age",),
        metavar="DURATION",
        core=True,
        checks=(at_least(0), at_most(float(_MAX_AGE_LIMIT), "10 years")),
        help=(
            "How long clients and caches may reuse a static file without asking again: "
            "`Cache-Control: public, max-age=SECONDS`; `0` sends `no-cache` (always "
            "revalidate, answered with 304 when unchanged). Files whose names carry a content "
            "hash (`app.3f2a1b9c0d4e.css`, `main-5e0c9a1b.js`) get a year and `immutable` "
            "unless the mount's max_age is 0."
        ),
    ),
    Setting(
        name="static_index",
        section="Static files",
        type=OPTIONAL_STR,
        default=None,
        default_text="none (directories are not served)",
        flags=("--static-index",),
        metavar="NAME",
        core=True,
        checks=(Check("must be a plain file name", lambda value: value is None or (
            "/" not in value and "\\" not in value and "\0" not in value
            and not value.startswith("."))),),
        help=(
            "The file served for a directory's address under a static mount, e.g. "
            "`index.html`: `/docs/` serves `docs/index.html` and `/docs` redirects to `/docs/`. "
            "Directories are never listed."
        ),
    ),
    Setting(
        name="static_follow_symlinks",
        section="Static files",
        type=BOOL,
        default=False,
        flags=("--static-follow-symlinks",),
        core=True,
        help=(
            "Follow symlinks that lead out of a static mount's directory (e.g. a deploy that "
            "links `static/` into a shared release folder). Off: such links are refused (404); "
            "links that stay inside the directory are always followed."
        ),
    ),
    # ---- Proxy: what a proxy in front says about the client, and whom to believe.
    Setting(
        name="forwarded_allow_ips",
        section="Proxy",
        type=_List(item=_peer),
        default=("127.0.0.1", "::1"),
        flags=("--forwarded-allow-ips",),
        env_aliases=("FORWARDED_ALLOW_IPS",),
        metavar="ADDRESSES",
        core=True,
        help=(
            "The peers whose forwarding headers (`forwarded_headers`) are believed: IP "
            "addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`), comma-separated, or `*` "
            "for every peer (only when nothing but your proxies can reach the server). "
            "Unix-socket peers are always believed, as in gunicorn. From any other peer the "
            "headers change nothing. Client lists are walked right to left, skipping these "
            "addresses: the first other one is the client. gunicorn's `FORWARDED_ALLOW_IPS` "
            "environment variable is read too."
        ),
    ),
    Setting(
        name="forwarded_headers",
        section="Proxy",
        type=_List(item=_forwarded_header),
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
        type=_Choice("off", "v1", "v2", "auto"),
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
        type=_List(item=_peer),
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
        type=_Choice("http", "uwsgi"),
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
        type=_List(item=_peer),
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
    # ---- Workers: the master and its worker processes.
    Setting(
        name="workers",
        section="Workers",
        type=_Workers(),
        default=1,
        flags=("--workers",),
        gunicorn=("-w",),
        metavar="N",
        core=True,
        checks=(at_least(1), at_most(1024)),
        help=(
            "Worker processes, forked by the master, each with its own event loop and "
            "`threads` Python threads, all accepting on the same sockets. `auto` starts one per "
            "CPU this process may use. SIGTTIN and SIGTTOU add and remove one while running."
        ),
    ),
    Setting(
        name="worker_class",
        section="Workers",
        type=_WorkerClass(),
        default="gthread",
        flags=("-k", "--worker-class"),
        metavar="CLASS",
        help=(
            "gunicorn's worker class, accepted so its command lines keep working: `sync` and "
            "`gthread` (by name or class path) both mean what ferrule always does, `workers` "
            "processes each running the app on `threads` Python threads (unlike gunicorn's "
            "`sync`, a worker takes `threads` requests at once; `--threads 1` gives one). "
            "gevent, eventlet and tornado workers are refused with what to use instead. An ASGI "
            "worker (`uvicorn.workers.UvicornWorker`, `UvicornH11Worker`, gunicorn's `asgi`) "
            "means `--interface asgi`, served on each worker's event loop (`--loop`); with "
            "`--interface wsgi` it is an error."
        ),
    ),
    Setting(
        name="preload",
        section="Workers",
        type=BOOL,
        default=False,
        flags=("--preload",),
        gunicorn=("preload_app",),
        help=(
            "Import the app in the master before forking workers: workers share its memory "
            "copy-on-write and an import error stops the server before any worker starts, but a "
            "reload (SIGHUP) cannot pick up new code. Without it each worker imports the app."
        ),
    ),
    Setting(
        name="reload",
        section="Workers",
        type=BOOL,
        default=False,
        flags=("--reload",),
        help=(
            "Development: start a new generation of workers (as on SIGHUP) when a `.py` file "
            "under the app's directory, or a file matching `reload_extra`, changes. Watched "
            "as `reload_engine` says; not for production."
        ),
    ),
    Setting(
        name="reload_engine",
        section="Workers",
        type=_Choice("auto", "poll", "inotify"),
        default="auto",
        flags=("--reload-engine",),
        metavar="auto|poll|inotify",
        help=(
            "How `reload` learns of changes. `inotify`: the kernel tells (Linux inotify; a "
            "change reloads within about a second, nothing is rescanned); it is an error when "
            "inotify cannot be set up (the watch limit, sysctl `fs.inotify.max_user_watches`). "
            "`poll`: the files are rescanned once a second and their modification times "
            "compared. `auto`: inotify, or polling (with a warning) when inotify cannot be "
            "set up."
        ),
    ),
    Setting(
        name="reload_extra",
        section="Workers",
        type=_List(),
        default=(),
        default_text="none",
        flags=("--reload-extra",),
        gunicorn=("--reload-extra-file", "reload_extra_files"),
        repeatable=True,
        metavar="GLOBS",
        help=(
            "More files for `reload` to watch, as glob patterns (`templates/**/*.html`; "
            "`**` spans directories), comma-separated; the flag can be repeated."
        ),
    ),
    Setting(
        name="max_requests",
        section="Workers",
        type=INT,
        default=0,
        default_text="0 (off)",
        flags=("--max-requests",),
        metavar="N",
        core=True,
        checks=_OFF_OR_COUNT,
        help=(
            "Replace a worker after it has taken this many requests, to contain memory leaks. "
            "The replacement serves before the old worker stops accepting; one worker is "
            "recycled at a time. 0 turns it off."
        ),
    ),
    Setting(
        name="max_requests_jitter",
        section="Workers",
        type=INT,
        default=0,
        flags=("--max-requests-jitter",),
        metavar="N",
        core=True,
        checks=_OFF_OR_COUNT,
        help=(
            "Add a random 0 to N requests to `max_requests` per worker, so workers started "
            "together are not recycled together."
        ),
    ),
    Setting(
        name="max_worker_lifetime",
        section="Workers",
        type=_Optional(DURATION),
        default=None,
        default_text="none (off)",
        flags=("--max-worker-lifetime",),
        metavar="DURATION",
        core=True,
        checks=_TIMEOUT,
        help="Replace a worker after it has run this long (recycled like `max_requests`).",
    ),
    Setting(
        name="max_worker_lifetime_jitter",
        section="Workers",
        type=DURATION,
        default="0s",
        flags=("--max-worker-lifetime-jitter",),
        metavar="DURATION",
        core=True,
        checks=(at_least(0), at_most(86400.0, "24h")),
        help="Add a random 0 to this much to `max_worker_lifetime` per worker.",
    ),
    Setting(
        name="max_worker_memory",
        section="Workers",
        type=_Optional(BYTE_SIZE),
        default=None,
        default_text="none (off)",
        flags=("--max-worker-memory",),
        metavar="SIZE",
        core=True,
        checks=_SIZE,
        help=(
            "Replace a worker whose resident memory (RSS, checked every second) exceeds this "
            "size (recycled like `max_requests`)."
        ),
    ),
    Setting(
        name="proc_name",
        section="Workers",
        type=OPTIONAL_STR,
        default=None,
        default_text="none (the app, e.g. myapp:app)",
        flags=("--proc-name",),
        gunicorn=("-n", "--name"),
        metavar="NAME",
        core=True,
        help=(
            "The name in process titles: `ferrule: master [NAME]`, `ferrule: worker 3 [NAME]` "
            "(shown by ps and top)."
        ),
    ),
    # ---- Logging.
    Setting(
        name="access_log",
        section="Logging",
        type=OPTIONAL_STR,
        default=None,
        default_text="none (off)",
        flags=("--access-log",),
        gunicorn=("--access-logfile", "accesslog"),
        metavar="FILE",
        core=True,
        help="Where to write one line per request: `-` for stdout, or a file path. Off unless set.",
    ),
    Setting(
        name="access_log_format",
        section="Logging",
        type=_AccessLogFormat(),
        default='%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
        flags=("--access-log-format",),
        gunicorn=("--access-logformat",),
        metavar="FORMAT",
        core=True,
        help=(
            "The access log line, in gunicorn's syntax. The default is gunicorn's: remote "
            "address (`h`), `-` (`l`), user (`u`), time (`t`), request line (`r`), status "
            "(`s`), response body bytes (`b`), referer (`f`), user agent (`a`). Also: method "
            "(`m`), path (`U`), query (`q`), protocol (`H`), body bytes as a number (`B`), "
            "duration in seconds (`T`), milliseconds (`M`), microseconds (`D`), decimal seconds "
            "(`L`), pid (`p`), a request header (`{name}i`), a response header (`{name}o`), the "
            "socket's own peer (`peer`). An unknown atom is an error at startup (gunicorn "
            "prints `-`). `json` writes one JSON object per line instead, every string "
            "escaped: `time` (ISO 8601, UTC), `remote_addr`, `request_id` (the client's "
            "`X-Request-ID` when it is 1-128 characters of `A-Za-z0-9-._~:/+=@`, else a "
            "generated one), `method`, `path`, `query`, `protocol`, `status`, `bytes`, "
            "`duration_us`, `host`, `referer`, `user_agent`, `pid`."
        ),
    ),
    Setting(
        name="error_log",
        section="Logging",
        type=STR,
        default="-",
        default_text="- (stderr)",
        flags=("--error-log",),
        gunicorn=("--error-logfile", "--log-file", "errorlog"),
        metavar="FILE",
        core=True,
        checks=(Check("must not be empty", lambda value: value != ""),),
        help=(
            "Where to write the error log (startup, app errors, warnings): `-` for stderr, or a "
            "file path."
        ),
    ),
    Setting(
        name="log_level",
        section="Logging",
        type=_Choice("debug", "info", "warning", "error", "critical"),
        default="info",
        flags=("--log-level",),
        gunicorn=("loglevel",),
        metavar="LEVEL",
        core=True,
        help="The least severe error log messages written: debug, info, warning, error, critical.",
    ),
    Setting(
        name="log_config",
        section="Logging",
        type=PATH,
        default=None,
        default_text="none (ferrule writes the logs itself)",
        flags=("--log-config",),
        metavar="FILE",
        help=(
            "An ini file for Python's `logging.config.fileConfig` (gunicorn's `logconfig`). "
            "Error log messages then go to the `ferrule.error` logger and access lines (when "
            "`access_log` is set, or `ferrule.access` has a handler) to `ferrule.access`, "
            "instead of `error_log` and `access_log`; the level of `ferrule.error` replaces "
            "`log_level`. Applied in the master before the workers start; SIGUSR1 reopens "
            "every `FileHandler`. Without it (and the two below), logs never call Python."
        ),
    ),
    Setting(
        name="log_config_json",
        section="Logging",
        type=PATH,
        default=None,
        default_text="none",
        flags=("--log-config-json",),
        metavar="FILE",
        help="A JSON file for `logging.config.dictConfig` (gunicorn's `logconfig_json`); as `log_config`.",
    ),
    Setting(
        name="log_config_dict",
        section="Logging",
        type=_JsonObject(),
        default=None,
        default_text="none",
        flags=("--log-config-dict",),
        metavar="JSON",
        help=(
            "A `logging.config.dictConfig` dict (gunicorn's `logconfig_dict`): a table in a "
            "TOML file, a dict in a Python config file, a JSON object on the command line or "
            "in the env var; as `log_config`."
        ),
    ),
    # ---- Observability: metrics, health checks, statsd. The master reports; workers count.
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
    # ---- Limits: every input is bounded, on by default.
    Setting(
        name="max_request_line_bytes",
        section="Limits",
        type=BYTE_SIZE,
        default="8KiB",
        flags=("--max-request-line-bytes",),
        gunicorn=("--limit-request-line", "limit_request_line"),
        metavar="SIZE",
        core=True,
        checks=_SIZE,
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
        checks=_COUNT,
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
        checks=_SIZE,
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
        checks=_SIZE,
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
        checks=(at_least(0), at_most(_MAX_BYTES)),
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
        checks=_COUNT,
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
        checks=_COUNT,
        help=(
            "The listen(2) backlog: connections the kernel queues before ferrule accepts them. "
            "Linux caps it at `net.core.somaxconn`."
        ),
    ),
    # ---- Timeouts: every wait on the client is bounded, on by default.
    Setting(
        name="header_timeout",
        section="Timeouts",
        type=DURATION,
        default="10s",
        flags=("--header-timeout",),
        metavar="DURATION",
        core=True,
        checks=_TIMEOUT,
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
        checks=_TIMEOUT,
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
        checks=_TIMEOUT,
        help="How long an idle keep-alive connection waits for the next request before closing.",
    ),
    Setting(
        name="request_timeout",
        section="Timeouts",
        type=_Optional(DURATION),
        default=None,
        default_text="none (off)",
        flags=("--request-timeout",),
        metavar="DURATION",
        core=True,
        checks=_TIMEOUT,
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
        type=_Optional(DURATION),
        default="20s",
        default_text="20s",
        flags=("--ws-ping-interval",),
        metavar="DURATION",
        core=True,
        checks=_TIMEOUT,
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
        checks=_TIMEOUT,
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
        checks=_TIMEOUT,
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
        checks=_TIMEOUT,
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
        checks=_TIMEOUT,
        help=(
            "How long to wait for the client to accept more response bytes (per write). "
            "Over it: the connection is closed."
        ),
    ),
    # ---- Hooks: gunicorn's server hooks, with its signatures (see docs/hooks.md).
    Setting(
        name="on_starting",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`on_starting(server)`: In the master, before the sockets are bound. Raising stops "
            "the boot (exit 1)."
        ),
    ),
    Setting(
        name="on_reload",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`on_reload(server)`: In the master, on SIGHUP (or a `--reload` file change), before "
            "the new generation starts. Raising is logged and the reload goes on."
        ),
    ),
    Setting(
        name="when_ready",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`when_ready(server)`: In the master, once every worker of the first generation "
            "serves (gunicorn calls it right after binding; ferrule waits until the server really"
            " is ready). Raising stops the server (exit 1)."
        ),
    ),
    Setting(
        name="pre_fork",
        section="Hooks",
        type=_Hook(2),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`pre_fork(server, worker)`: In the master, before each worker is forked "
            "(`worker.pid` is None). Raising is logged and the worker is forked all the same."
        ),
    ),
    Setting(
        name="post_fork",
        section="Hooks",
        type=_Hook(2),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`post_fork(server, worker)`: In the new worker right after the fork, before it "
            "switches user and imports the app: reconnect what must not be shared across "
            "processes (database pools, tracing exporters). Raising stops the worker's boot, "
            "which stops the server (exit 3), as in gunicorn."
        ),
    ),
    Setting(
        name="post_worker_init",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`post_worker_init(worker)`: In the worker, once the app is imported, before it "
            "serves. Raising stops the worker's boot (exit 3)."
        ),
    ),
    Setting(
        name="worker_int",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`worker_int(worker)`: In the worker, after it stopped at once on SIGINT or SIGQUIT. "
            "Raising is logged."
        ),
    ),
    Setting(
        name="worker_abort",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`worker_abort(worker)`: In the worker, when a request is still running past "
            "`request_timeout` and its grace (gunicorn: on SIGABRT after its timeout); the worker"
            " is then replaced. Raising is logged."
        ),
    ),
    Setting(
        name="pre_exec",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`pre_exec(server)`: In the master, on SIGUSR2, before the new master is started. "
            "Raising is logged and the upgrade is abandoned."
        ),
    ),
    Setting(
        name="pre_request",
        section="Hooks",
        type=_Hook(2),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`pre_request(worker, req)`: In the worker's thread, before the app is called; `req` "
            "has `method`, `uri`, `path`, `query`, `version`, `headers` and `remote_addr`. "
            "Raising answers that request with a 500 (logged); other requests are not affected."
        ),
    ),
    Setting(
        name="post_request",
        section="Hooks",
        type=_Hook(4),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`post_request(worker, req, environ, resp)`: In the worker's thread, after the "
            "response was sent; `resp` has `status` (`'200 OK'`), `status_code`, `headers` and "
            "`sent` (body bytes the app produced). Raising is logged."
        ),
    ),
    Setting(
        name="child_exit",
        section="Hooks",
        type=_Hook(2),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`child_exit(server, worker)`: In the master, after a worker exited (`worker.pid` is "
            "the exited pid). Raising is logged."
        ),
    ),
    Setting(
        name="worker_exit",
        section="Hooks",
        type=_Hook(2),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`worker_exit(server, worker)`: In the worker, as it exits after a stop (not after a "
            "kill). Raising is logged."
        ),
    ),
    Setting(
        name="nworkers_changed",
        section="Hooks",
        type=_Hook(3),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`nworkers_changed(server, new_value, old_value)`: In the master, when the number of "
            "workers to run changes (at start, with `old_value` None; on SIGTTIN and SIGTTOU; on "
            "a reload that changes `workers`). Raising is logged."
        ),
    ),
    Setting(
        name="on_exit",
        section="Hooks",
        type=_Hook(1),
        default=None,
        default_text="none",
        metavar="FUNCTION",
        help=(
            "`on_exit(server)`: In the master, just before it exits. Raising is logged."
        ),
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def by_name(name: str) -> Setting:
    """The setting called `name`. # Errors: KeyError when there is none."""
    return _BY_NAME[name]
