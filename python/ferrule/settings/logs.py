"""The "Logging" settings: the access log, the error log and Python's logging configuration."""

from __future__ import annotations

import re

from ferrule.settings.setting import Setting
from ferrule.settings.values import (
    OPTIONAL_STR,
    PATH,
    STR,
    Check,
    Choice,
    InvalidValue,
    JsonObject,
    Str,
)

#: gunicorn's access log atoms (`gunicorn/glogging.py: Logger.atoms`) that ferrule renders,
#: besides `{header}i` and `{header}o`. gunicorn's `{variable}e` (an environ variable) is
#: not among them: the access log is written by the server, which never sees the environ.
ACCESS_LOG_ATOMS = ("h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T",
                    "M", "D", "L", "p", "peer")
_ATOM = re.compile(r"%\((?P<name>[^()]*)\)(?P<conversion>.?)")


class _AccessLogFormat(Str):
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


SETTINGS: tuple[Setting, ...] = (
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
        type=Choice("debug", "info", "warning", "error", "critical"),
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
        type=JsonObject(),
        default=None,
        default_text="none",
        flags=("--log-config-dict",),
        gunicorn=("logconfig_dict",),
        metavar="JSON",
        help=(
            "A `logging.config.dictConfig` dict (gunicorn's `logconfig_dict`): a table in a "
            "TOML file, a dict in a Python config file, a JSON object on the command line or "
            "in the env var; as `log_config`."
        ),
    ),
)
