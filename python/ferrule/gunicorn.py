"""gunicorn compatibility: what ferrule does with each of gunicorn's settings.

gunicorn's list is data (`gunicorn_settings.txt`, written by `scripts/gunicorn_list.py` from
gunicorn's `config.py`): each setting's name, flags and flag shape. Ferrule's answer for each
is derived, not written twice:

- *same* or *mapped*: a ferrule setting claims it, by having its name or by listing its name
  or one of its flags in `Setting.gunicorn` (`ferrule.settings`). Its gunicorn spellings are
  then accepted as flags, config-file keys (TOML and `.py`) and in `GUNICORN_CMD_ARGS`, and the
  environment variables gunicorn reads for it (`PORT`, `WEB_CONCURRENCY`, ...) give its
  default, as in gunicorn. `CONVERSIONS` translates values whose meaning differs.
- otherwise `STANCES` says: *not needed* (accepted with a warning, nothing to do),
  *unsupported* (an error saying why and what to do), or *fixed* (ferrule always behaves as
  one gunicorn value does: that value is accepted, any other is an error).

`scripts/gen_gunicorn_doc.py` renders `docs/gunicorn.md` from this; `tests/python/unit/
test_gunicorn.py` fails when a gunicorn setting has no answer, or two (a claimed setting that
still has a `STANCES` line: when a branch adds a setting that claims one, delete its line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

from ferrule.settings import SETTINGS, InvalidValue, Setting

__all__ = [
    "CONVERSIONS",
    "GUNICORN",
    "GUNICORN_VERSION",
    "STANCES",
    "SWITCH_VALUES",
    "Claimed",
    "Fixed",
    "Gunicorn",
    "NotNeeded",
    "Same",
    "Unsupported",
    "answer",
    "asks_nothing",
    "by_flag",
    "by_name",
]

_LIST = Path(__file__).with_name("gunicorn_settings.txt")


@dataclass(frozen=True)
class Gunicorn:
    """One gunicorn setting, as its `config.py` declares it."""

    name: str
    flags: tuple[str, ...]
    #: `value` (the flag takes one), `switch` (it takes none) or `optional`.
    shape: str


def _read_list() -> tuple[str, tuple[Gunicorn, ...]]:
    version, rows = "?", []
    for line in _LIST.read_text(encoding="utf-8").splitlines():
        if line.startswith("# gunicorn "):
            version = line.split()[2].rstrip(":")
        if not line or line.startswith("#"):
            continue
        name, flags, shape = line.split("\t")
        rows.append(Gunicorn(name, () if flags == "-" else tuple(flags.split(",")), shape))
    return version, tuple(rows)


GUNICORN_VERSION, GUNICORN = _read_list()
_BY_NAME = {row.name: row for row in GUNICORN}
_BY_FLAG = {flag: row for row in GUNICORN for flag in row.flags}


#: What a gunicorn switch gives when it is not `True` (`store_const` in its `config.py`).
SWITCH_VALUES: dict[str, Any] = {"--no-sendfile": False}


def by_name(name: str) -> Gunicorn | None:
    return _BY_NAME.get(name)


def by_flag(flag: str) -> Gunicorn | None:
    return _BY_FLAG.get(flag)


# --------------------------------------------------------------------------------------------
# Answers for the settings no ferrule setting claims.


@dataclass(frozen=True)
class NotNeeded:
    """Accepted and ignored with a warning: ferrule needs nothing for it. `why` completes
    "not needed: ..."."""

    why: str


@dataclass(frozen=True)
class Unsupported:
    """Refused. `why` says why and what to do instead."""

    why: str


@dataclass(frozen=True)
class Fixed:
    """ferrule always behaves as gunicorn does with `value`: that value is accepted (and
    ignored), any other refused with `why`."""

    value: Any
    why: str


@dataclass(frozen=True)
class Same:
    """Works as in gunicorn without being a setting (a command-line action)."""

    how: str


Stance = Union[NotNeeded, Unsupported, Fixed, Same]

_DIRTY = Unsupported(
    "gunicorn's dirty arbiters (a second pool for long tasks) have no equivalent; run long "
    "tasks in a task queue")
_SYSLOG = Unsupported(
    "ferrule logs to stderr or files, not to syslog; under systemd, journald collects stderr")
_STRICT = "ferrule's HTTP parser is strict and has no switch for it (docs/hostile-input.md)"

#: One line per gunicorn setting that no ferrule setting claims. When a branch adds a setting
#: that claims one of these, delete its line (the test says which).
STANCES: dict[str, Stance] = {
    "check_config": Same("--check-config: load the config and the app, print problems, exit 0/1"),
    "print_config": Same("--print-config: print every setting with where its value came from"),
    "spew": Unsupported("tracing every line executed is a debugger's job: run the app under "
                        "python -m trace or pdb"),
    "daemon": Unsupported("ferrule does not daemonize: run it under systemd, supervisord or a "
                          "container runtime (docs/deploy.md)"),
    "worker_tmp_dir": NotNeeded("workers send their heartbeats to the master over a pipe, not "
                                "through a temporary file"),
    "initgroups": Unsupported("workers switched with --user keep only their primary group "
                              "(--group); give that group the access they need"),
    "tmp_upload_dir": NotNeeded("request bodies are streamed to the app through wsgi.input, "
                                "never spooled to disk"),
    "disable_redirect_access_to_syslog": _SYSLOG,
    "capture_output": Unsupported("the app's print() output goes to the server's stdout and "
                                  "stderr as it is; redirect those (systemd, docker logs)"),
    "logger_class": Unsupported("ferrule's logs are written by its core; use --access-log-format "
                                "and --log-level"),
    "syslog_addr": _SYSLOG,
    "syslog": _SYSLOG,
    "syslog_prefix": _SYSLOG,
    "syslog_facility": _SYSLOG,
    "enable_stdio_inheritance": NotNeeded("ferrule never daemonizes, so its stdio is always "
                                          "inherited"),
    "enable_backlog_metric": NotNeeded("the listen queue is always reported: statsd's "
                                       "gunicorn.backlog and Prometheus' "
                                       "ferrule_listen_queue"),
    "default_proc_name": NotNeeded("it is internal to gunicorn; proc_name defaults to the app"),
    "ssl_context": Unsupported("ferrule's TLS is rustls, in its core, not Python's ssl "
                               "module, so no SSLContext configures it; certfile, keyfile, "
                               "ca_certs, cert_reqs and tls_min_version do (docs/tls.md)"),
    "http2_max_frame_size": NotNeeded("HTTP/2 frames are read up to the protocol's 16 KiB "
                                      "default; larger frames gain nothing for request bodies"),
    "http2_max_header_list_size": NotNeeded("an HTTP/2 header list is bounded by max_head_bytes, "
                                            "max_header_bytes and max_header_count, as an "
                                            "HTTP/1.1 head is"),
    "permit_obsolete_folding": Fixed(False, "ferrule always rejects obsolete line folding with "
                                     "400 (RFC 9112 §5.2; " + _STRICT + ")"),
    "strip_header_spaces": Fixed(False, "ferrule always rejects whitespace before a header's "
                                 "colon with 400 (RFC 9112 §5.1; " + _STRICT + ")"),
    "permit_unconventional_http_method": Fixed(False, "ferrule accepts any token as a method "
                                               "and nothing else (" + _STRICT + ")"),
    "permit_unconventional_http_version": Fixed(False, "ferrule serves HTTP/1.0 and 1.1 and "
                                                "answers other versions 505 (" + _STRICT + ")"),
    "casefold_http_method": Fixed(False, "ferrule passes the method as the client sent it "
                                  "(methods are case-sensitive, RFC 9110 §9.1)"),
    "forwarder_headers": Unsupported("ferrule drops every header whose name has '_' (as nginx "
                                     "does), forwarders' included"),
    "header_map": Fixed("drop", "ferrule always drops header names with '_', gunicorn's "
                        "'drop' (a name with '_' could impersonate its '-' spelling)"),
    "asgi_disconnect_grace_period": NotNeeded(
        "an ASGI app whose client went away gets http.disconnect and runs on to its end, as "
        "under uvicorn: ferrule never cancels it for the disconnect (set request_timeout to "
        "bound a request)"),
    "http_parser": NotNeeded("ferrule has one HTTP parser, in its Rust core"),
    "dirty_apps": _DIRTY,
    "dirty_workers": _DIRTY,
    "dirty_timeout": _DIRTY,
    "dirty_threads": _DIRTY,
    "dirty_graceful_timeout": _DIRTY,
    "on_dirty_starting": _DIRTY,
    "dirty_post_fork": _DIRTY,
    "dirty_worker_init": _DIRTY,
    "dirty_worker_exit": _DIRTY,
    "control_socket": Unsupported("there is no control socket: signals control the server "
                                  "(docs/signals.md)"),
    "control_socket_mode": Unsupported("there is no control socket: signals control the server "
                                       "(docs/signals.md)"),
    "control_socket_disable": NotNeeded("there is no control socket to disable"),
}


# --------------------------------------------------------------------------------------------
# Claimed settings whose values mean something else in gunicorn.


@dataclass(frozen=True)
class Conversion:
    """How a value written with a gunicorn spelling becomes ferrule's. `convert` returns the
    value ferrule's type converts, `None` to leave the setting as it was (with `note`
    printed), or raises `InvalidValue`. `note` is also the table's explanation."""

    convert: Callable[[Any], Any]
    note: str
    #: Environment variables gunicorn reads for the setting's default, with how each becomes
    #: a value (gunicorn: `PORT` gives `0.0.0.0:$PORT`).
    env: tuple[tuple[str, Callable[[str], Any]], ...] = ()
    #: Printed when `convert` returns None (the setting keeps its value).
    unset_note: str = ""


def _is_zero(raw: object) -> bool:
    return isinstance(raw, (int, float, str)) and not isinstance(raw, bool) \
        and str(raw).strip() in ("0", "0.0")


def _timeout(raw: object) -> Any:
    if _is_zero(raw):
        return None
    return raw


def _refuse_zero(rule: str) -> Callable[[Any], Any]:
    def convert(raw: object) -> Any:
        if _is_zero(raw):
            raise InvalidValue(rule, repr(raw))
        return raw
    return convert


def _sendfile(raw: object) -> Any:
    # gunicorn: `--no-sendfile` (a switch giving False), `sendfile = False`.
    if raw is False or raw in ("false",):
        return "off"
    if raw is True:
        return "on"
    return raw


def _sendfile_env(text: str) -> str:
    # gunicorn/config.py: `SENDFILE` in ("y", "1", "yes", "true") turns it on, anything
    # else off.
    return "on" if text.strip().lower() in ("y", "1", "yes", "true") else "off"


def _worker_class(raw: object) -> Any:
    # gunicorn accepts a worker class object in a .py file.
    if isinstance(raw, type):
        return f"{raw.__module__}.{raw.__qualname__}"
    return raw


CONVERSIONS: dict[str, Conversion] = {
    "bind": Conversion(lambda raw: raw, "",
                       env=(("PORT", lambda port: f"0.0.0.0:{port.strip()}"),)),
    "workers": Conversion(lambda raw: raw, "", env=(("WEB_CONCURRENCY", str.strip),)),
    "worker_class": Conversion(
        _worker_class,
        "`sync` and `gthread` run the app on ferrule's threads (`--threads`, default 4: a "
        "`sync` worker takes 4 requests at once unless `--threads 1`); gevent, eventlet and "
        "tornado are refused with what to use instead; an ASGI worker "
        "(`uvicorn.workers.UvicornWorker`, `asgi`) means `--interface asgi`"),
    "timeout": Conversion(
        _timeout,
        "`worker_timeout` watches the worker's event loop, which never runs app code, so a "
        "slow request never trips it (bound requests with `--request-timeout`). gunicorn's "
        "`0` (never) keeps the default",
        unset_note="gunicorn's 0 (never kill a silent worker) keeps worker_timeout at its "
                   "default: it watches the worker's event loop, never a request (bound "
                   "requests with --request-timeout)"),
    "keepalive": Conversion(_refuse_zero(
        "must be above 0 (gunicorn's 0, no keep-alive, is not supported: ferrule closes an idle "
        "connection after this many seconds)"),
                            "seconds; gunicorn's default is 2, ferrule's 5. `0` is refused"),
    "limit_request_line": Conversion(_refuse_zero(
        "must be above 0 (gunicorn's 0, unlimited, is not supported: ferrule always bounds the "
        "request line)"),
                                     "bytes; gunicorn's `0` (unlimited) is refused"),
    "limit_request_field_size": Conversion(_refuse_zero(
        "must be above 0 (gunicorn's 0, unlimited, is not supported: ferrule always bounds "
        "header fields)"),
                                           "bytes; gunicorn's `0` (unlimited) is refused"),
    # gunicorn's variable (uvicorn's too) gives the default, below a config file, as in
    # gunicorn: an image that sets FORWARDED_ALLOW_IPS=* does not override the file's list.
    "forwarded_allow_ips": Conversion(lambda raw: raw, "",
                                      env=(("FORWARDED_ALLOW_IPS", str.strip),)),
    "sendfile": Conversion(
        _sendfile, "`--no-sendfile` and `sendfile = False` mean `off`, `True` means `on`",
        env=(("SENDFILE", _sendfile_env),)),
}

# --------------------------------------------------------------------------------------------
# Resolving a gunicorn setting to ferrule's answer.


@dataclass(frozen=True)
class Claimed:
    """A ferrule setting takes this gunicorn setting: *same* when the names and meaning
    agree, *mapped* otherwise."""

    setting: Setting
    conversion: Conversion | None
    row_name: str

    @property
    def same(self) -> bool:
        return self.setting.name == self.row_name and (
            self.conversion is None or not self.conversion.note)


def _claimant(row: Gunicorn) -> Setting | None:
    for setting in SETTINGS:
        if setting.name == row.name or row.name in setting.gunicorn:
            return setting
        if any(flag in setting.gunicorn or flag in setting.flags for flag in row.flags):
            return setting
    return None


def answer(row: Gunicorn) -> Claimed | Stance | None:
    """What ferrule does with gunicorn's `row`: the ferrule setting that claims it, else its
    entry in `STANCES`; None when there is neither (the test makes that fail)."""
    setting = _claimant(row)
    if setting is not None:
        return Claimed(setting, CONVERSIONS.get(row.name), row.name)
    return STANCES.get(row.name)


def asks_nothing(raw: object) -> bool:
    """Whether a value of a setting ferrule lacks leaves it off (`daemon = False`,
    `certfile = None`, `dirty_workers = 0`): such a line asks for nothing and is accepted."""
    if raw is None or raw is False or (isinstance(raw, (list, tuple, dict, str)) and not raw):
        return True
    if isinstance(raw, str):
        return raw.strip().lower() in ("false", "no", "off", "0", "none")
    return isinstance(raw, int) and not isinstance(raw, bool) and raw == 0
