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
    #: CLI spellings; empty for the positional `app`.
    flags: tuple[str, ...] = ()
    #: gunicorn's spellings where they differ from ours; accepted, hidden from --help.
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

    @property
    def env(self) -> str:
        return "FERRULE_" + self.name.upper()

    @property
    def positional(self) -> bool:
        return not self.flags

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


SECTIONS = ("Application", "Server", "Workers", "Logging", "Limits", "Timeouts")

SETTINGS: tuple[Setting, ...] = (
    # ---- Application: what to serve and how to find it. Python only.
    Setting(
        name="app",
        section="Application",
        type=_Str(),
        default=None,
        default_text="none (required by the ferrule command)",
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
            "A TOML file with settings: `ferrule.toml` (settings as top-level keys) or "
            "`pyproject.toml` (the `[tool.ferrule]` table). Nothing is loaded unless this is "
            "given, so a stray file never changes how a server runs. Keys are setting names "
            "(`max_body_bytes = \"1MiB\"`); unknown keys are errors."
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
            "separate addresses with commas) to listen on several addresses."
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
        name="sendfile",
        section="Server",
        type=_Choice("auto", "on", "off"),
        default="auto",
        flags=("--sendfile",),
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
            "preempting it. `normal` is SCHED_OTHER."
        ),
    ),
    Setting(
        name="unix_socket_mode",
        section="Server",
        type=_Octal(),
        default=None,
        default_text="none (as the umask leaves it)",
        flags=("--unix-socket-mode",),
        metavar="MODE",
        core=True,
        checks=(at_most(0o7777, "0o7777"),),
        help="The file mode of `unix:` socket files, e.g. `0660` to let a proxy's group connect.",
    ),
    Setting(
        name="pid_file",
        section="Server",
        type=PATH,
        default=None,
        default_text="none (no file)",
        flags=("--pid-file",),
        gunicorn=("-p", "--pid"),
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
        name="preload",
        section="Workers",
        type=BOOL,
        default=False,
        flags=("--preload",),
        gunicorn=("--preload-app",),
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
            "under the app's directory, or a file matching `reload_extra`, changes. Checked "
            "once a second by rescanning; not for production."
        ),
    ),
    Setting(
        name="reload_extra",
        section="Workers",
        type=_List(),
        default=(),
        default_text="none",
        flags=("--reload-extra",),
        gunicorn=("--reload-extra-file",),
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
        gunicorn=("--access-logfile",),
        metavar="FILE",
        core=True,
        help="Where to write one line per request: `-` for stdout, or a file path. Off unless set.",
    ),
    Setting(
        name="access_log_format",
        section="Logging",
        type=STR,
        default='%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
        flags=("--access-log-format",),
        gunicorn=("--access-logformat",),
        metavar="FORMAT",
        core=True,
        help=(
            "The access log line, in gunicorn's syntax. The default is gunicorn's: remote "
            "address (`h`), `-` (`l`), user (`u`), time (`t`), request line (`r`), status "
            "(`s`), response body bytes (`b`), referer (`f`), user agent (`a`)."
        ),
    ),
    Setting(
        name="error_log",
        section="Logging",
        type=STR,
        default="-",
        default_text="- (stderr)",
        flags=("--error-log",),
        gunicorn=("--error-logfile", "--log-file"),
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
        metavar="LEVEL",
        core=True,
        help="The least severe error log messages written: debug, info, warning, error, critical.",
    ),
    # ---- Limits: every input is bounded, on by default.
    Setting(
        name="max_request_line_bytes",
        section="Limits",
        type=BYTE_SIZE,
        default="8KiB",
        flags=("--max-request-line-bytes",),
        gunicorn=("--limit-request-line",),
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
        gunicorn=("--limit-request-fields",),
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
        gunicorn=("--limit-request-field_size", "--limit-request-field-size"),
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
        gunicorn=("--keep-alive",),
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
        gunicorn=("-t", "--timeout"),
        metavar="DURATION",
        core=True,
        checks=_TIMEOUT,
        help=(
            "How long a worker's event loop may go without sending the master a heartbeat "
            "before the master kills and replaces it."
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
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def by_name(name: str) -> Setting:
    """The setting called `name`. # Errors: KeyError when there is none."""
    return _BY_NAME[name]
