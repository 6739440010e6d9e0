"""Resolves settings into one immutable `Config`. Lowest precedence first: defaults, the
environment variables gunicorn reads for a default (`PORT`, `WEB_CONCURRENCY`, `SENDFILE`),
the config file (TOML or Python), `GUNICORN_CMD_ARGS`, `FERRULE_*` env vars, CLI flags.

Reads argv (parsed by `flags.parse_flags`), the environment and an optional config file, and
converts and checks each value with the declarations in `settings`; gunicorn's spellings are
resolved through `gunicorn` (a setting ferrule has, one it does not need, or one it refuses).
Error messages name the setting as the user wrote it (`--threads`, `FERRULE_THREADS`,
`threads in ferrule.toml`, `--timeout in GUNICORN_CMD_ARGS`). `Config.to_core()` is the dict
handed to the Rust core; `Config.sources()` says where each value came from (`--print-config`)
and `Config.warnings()` what was accepted but ignored.
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
import traceback
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ferrule import gunicorn
from ferrule.errors import ConfigError
from ferrule.flags import GUNICORN_DEST, parse_flags
from ferrule.settings import SETTINGS, InvalidValue, Setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = ["Config"]

_BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True, init=False)
class Config:
    """Every setting, converted and checked; one attribute per entry of `settings.SETTINGS`
    (see docs/settings.md). Sizes and counts are ints, durations float seconds, lists tuples.

    `Config(threads=8, bind="127.0.0.1:9000")` takes keyword settings, written as in a config
    file; `Config.load()` reads argv, the environment and the config file.

    # Errors
    `ConfigError` for an unknown setting or a bad value.
    """

    app: str | None
    config: str | None
    chdir: str | None
    pythonpath: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    root_path: str
    interface: str
    loop: str
    lifespan: str
    paste: str | None
    paste_global: tuple[tuple[str, str], ...]
    bind: tuple[str, ...]
    threads: int
    reuse_port: bool
    ws_per_message_deflate: bool
    http_protocols: str
    http2_cleartext: str
    sendfile: str
    sched_policy: str
    unix_socket_mode: int | None
    pid_file: str | None
    user: int | None
    group: int | None
    umask: int | None
    certfile: str | None
    keyfile: str | None
    ca_certs: str | None
    cert_reqs: str
    tls_min_version: str
    ssl_version: str
    ciphers: str
    do_handshake_on_connect: bool
    suppress_ragged_eofs: bool
    static_map: tuple[str, ...]
    static_max_age: float
    static_index: str | None
    static_follow_symlinks: bool
    forwarded_allow_ips: tuple[str, ...]
    forwarded_headers: tuple[str, ...]
    secure_scheme_headers: tuple[tuple[str, str], ...]
    proxy_protocol: str
    proxy_allow_ips: tuple[str, ...]
    protocol: str
    uwsgi_allow_ips: tuple[str, ...]
    workers: int
    worker_class: str
    preload: bool
    reload: bool
    reload_engine: str
    reload_extra: tuple[str, ...]
    max_requests: int
    max_requests_jitter: int
    max_worker_lifetime: float | None
    max_worker_lifetime_jitter: float
    max_worker_memory: int | None
    proc_name: str | None
    access_log: str | None
    access_log_format: str
    error_log: str
    log_level: str
    log_config: str | None
    log_config_json: str | None
    log_config_dict: dict[str, Any] | None
    metrics_bind: str | None
    statsd_host: str | None
    statsd_prefix: str
    dogstatsd_tags: str
    http2_max_concurrent_streams: int
    http2_initial_window_size: int
    max_request_line_bytes: int
    max_header_count: int
    max_header_bytes: int
    max_head_bytes: int
    max_body_bytes: int
    ws_max_message_bytes: int
    max_connections: int
    backlog: int
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    request_timeout: float | None
    ws_ping_interval: float | None
    ws_ping_timeout: float
    graceful_timeout: float
    worker_timeout: float
    shutdown_delay: float
    send_timeout: float
    on_starting: Any
    on_reload: Any
    when_ready: Any
    pre_fork: Any
    post_fork: Any
    post_worker_init: Any
    worker_int: Any
    worker_abort: Any
    pre_exec: Any
    pre_request: Any
    post_request: Any
    child_exit: Any
    worker_exit: Any
    nworkers_changed: Any
    on_exit: Any

    def __init__(self, **settings: Any) -> None:
        values = _defaults()
        for name, raw in settings.items():
            setting = _BY_NAME.get(name)
            if setting is None:
                raise ConfigError(f"Unknown setting '{name}'.{_suggestion(name)}")
            values[name] = _convert(setting, [(name, raw)])
        self._assign(values)

    @classmethod
    def load(cls, argv: Sequence[str] | None = None,
             env: Mapping[str, str] = os.environ,
             base: Iterable[tuple[str, str, object]] = ()) -> Config:
        """Resolves every setting from, lowest precedence first: defaults, `base`
        (`(name, label, raw)` triples: a PasteDeploy server section), the environment
        variables gunicorn reads for defaults (`PORT`, `WEB_CONCURRENCY`, `SENDFILE`,
        `FORWARDED_ALLOW_IPS`), the config file (only when `--config`, `FERRULE_CONFIG` or
        `-c` in `GUNICORN_CMD_ARGS` names one), `GUNICORN_CMD_ARGS`, `FERRULE_*` env vars,
        argv.

        Every value given is checked, even one a higher-precedence source overrides, so a
        broken config file is reported rather than hidden. Unknown `FERRULE_*` env vars are
        ignored (other tools share the prefix in tests and deployments).
        """
        flags = parse_flags(sys.argv[1:] if argv is None else argv)
        from_env_args = None
        if "GUNICORN_CMD_ARGS" in env:
            try:
                words = shlex.split(env["GUNICORN_CMD_ARGS"])
                from_env_args = parse_flags(words)
            except (ValueError, ConfigError) as err:
                raise ConfigError(f"GUNICORN_CMD_ARGS: {err}") from None
        resolver = _Resolver()

        for name, label, raw in base:
            resolver.set(_BY_NAME[name], [(label, raw)], label)
        # Step 1: where the config file is (flags over env vars); it is not itself in a file.
        config_setting = _BY_NAME["config"]
        if from_env_args is not None:
            resolver.apply_flags(from_env_args.given, "GUNICORN_CMD_ARGS", only="config")
        if config_setting.env in env:
            resolver.set(config_setting, [(config_setting.env, env[config_setting.env])],
                         f"env {config_setting.env}")
        resolver.apply_flags(flags.given, "", only="config")
        path, path_source = resolver.values["config"], resolver.sources["config"]
        # Step 2: gunicorn's environment defaults, the file, GUNICORN_CMD_ARGS, FERRULE_* env
        # vars, then flags, each overriding the ones before.
        for name, conversion in gunicorn.CONVERSIONS.items():
            row = gunicorn.by_name(name)
            answer = gunicorn.answer(row) if row is not None else None
            if not isinstance(answer, gunicorn.Claimed):
                continue
            for variable, to_value in conversion.env:
                if variable in env:
                    resolver.set(answer.setting, [(variable, to_value(env[variable]))],
                                 f"env {variable} (as in gunicorn)")
        if path is not None:
            resolver.apply_file(path)
        resolver.values["config"], resolver.sources["config"] = path, path_source
        if from_env_args is not None:
            resolver.apply_flags(from_env_args.given, "GUNICORN_CMD_ARGS", skip="config")
        for setting in SETTINGS:
            if setting.name == "config":
                continue
            if setting.env in env:
                resolver.set(setting, [(setting.env, env[setting.env])], f"env {setting.env}")
        resolver.apply_flags(flags.given, "", skip="config")
        resolver.interface_from_worker_class()
        config = cls.__new__(cls)
        config._assign(resolver.values)
        object.__setattr__(config, "_sources", dict(resolver.sources))
        object.__setattr__(config, "_warnings", tuple(resolver.warnings))
        return config

    def sources(self) -> dict[str, str]:
        """Where each setting's value came from: `default`, `file gunicorn.conf.py`,
        `env FERRULE_THREADS`, `flag --threads`, ..."""
        return dict(getattr(self, "_sources", {name: "keyword" for name in _BY_NAME}))

    def warnings(self) -> tuple[str, ...]:
        """What was accepted but does nothing here, one sentence each: a gunicorn setting
        ferrule does not need, an unknown name in a `.py` config file, and gunicorn's TLS
        settings that rustls makes meaningless (`--ciphers is accepted for gunicorn's sake
        and ignored: ...`)."""
        ignored = tuple(
            f"--{setting.name.replace('_', '-')} is accepted for gunicorn's sake and ignored: "
            f"{setting.ignored}"
            for setting in SETTINGS
            if setting.ignored is not None
            and getattr(self, setting.name) != setting.default_value()
        )
        return tuple(getattr(self, "_warnings", ())) + ignored

    def to_core(self) -> dict[str, Any]:
        """The settings the Rust core reads (`Setting.core`), as plain Python values: int for
        sizes and counts, float seconds for durations, list[str] for `bind`, str or None for
        strings."""
        return {
            setting.name: _to_core_value(getattr(self, setting.name))
            for setting in SETTINGS
            if setting.core
        }

    def _assign(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)


def config_fields() -> tuple[str, ...]:
    """The attribute names of `Config`, in order (checked against SETTINGS by a test)."""
    return tuple(field.name for field in fields(Config))


def _defaults() -> dict[str, Any]:
    return {setting.name: setting.default_value() for setting in SETTINGS}


def _convert(setting: Setting, given: Iterable[tuple[str, object]]) -> Any:
    """Converts and checks one setting's value. `given` pairs the spelling the user wrote
    (`--bind`, `FERRULE_BIND`, `bind in ferrule.toml`) with the raw value; several pairs (a
    repeated list flag) are joined into one list.

    # Errors
    `ConfigError` naming that spelling.
    """
    given = list(given)
    parts = []
    for label, raw in given:
        try:
            parts.append(setting.type.convert(raw))
        except InvalidValue as err:
            raise ConfigError(f"{label} {err.rule}, got {err.got}") from None
    value = parts[0] if len(parts) == 1 else tuple(item for part in parts for item in part)
    try:
        setting.check(value)
    except InvalidValue as err:
        raise ConfigError(f"{given[0][0]} {err.rule}, got {err.got}") from None
    return value


class _Resolver:
    """The values being resolved, where each came from, and the warnings so far."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = _defaults()
        self.sources: dict[str, str] = {name: "default" for name in self.values}
        self.warnings: list[str] = []

    def set(self, setting: Setting, given: list[tuple[str, object]], source: str) -> None:
        self.values[setting.name] = _convert(setting, given)
        self.sources[setting.name] = source

    def interface_from_worker_class(self) -> None:
        """An ASGI worker class (`-k uvicorn.workers.UvicornWorker`) asks for the ASGI
        interface, as it does under gunicorn.

        # Errors
        `ConfigError` when `interface` says `wsgi`.
        """
        if self.values["worker_class"] != "asgi":
            return
        if self.values["interface"] == "wsgi":
            raise ConfigError(
                f"worker_class ({self.sources['worker_class']}) names an ASGI worker but "
                f"interface ({self.sources['interface']}) is wsgi: drop one of them")
        self.values["interface"] = "asgi"
        self.sources["interface"] = f"{self.sources['worker_class']} (an ASGI worker class)"

    def apply_flags(self, given: Iterable[tuple[str, str, Any]], where: str,
                    only: str | None = None, skip: str | None = None) -> None:
        """Applies parsed flags: `where` is "" for argv, else the env var they came from."""
        grouped: dict[str, list[tuple[str, Any]]] = {}
        for name, spelling, raw in given:
            if (only is not None and name != only) or name == skip:
                continue
            label = f"{spelling} in {where}" if where else spelling
            if name.startswith(GUNICORN_DEST):
                self.gunicorn_only(name[len(GUNICORN_DEST):], label, raw)
                continue
            row = gunicorn.by_flag(spelling)
            converted = self.converted(row.name if row is not None else None, label, raw)
            if converted is not _UNSET:
                grouped.setdefault(name, []).append((label, converted))
        for name, occurrences in grouped.items():
            setting = _BY_NAME[name]
            source = f"{where} ({occurrences[-1][0].split()[0]})" if where else \
                f"flag {occurrences[-1][0]}"
            if setting.repeatable:
                self.set(setting, occurrences, source)
            else:
                # Like argparse: the last occurrence wins; the earlier ones must still be valid.
                for occurrence in occurrences:
                    self.set(setting, [occurrence], source)

    def converted(self, gunicorn_name: str | None, label: str, raw: Any) -> Any:
        """`raw` as ferrule's type takes it, when it was written with a gunicorn spelling
        whose values differ; `_UNSET` when it leaves the setting as it is."""
        conversion = gunicorn.CONVERSIONS.get(gunicorn_name) if gunicorn_name else None
        if conversion is None:
            return raw
        try:
            value = conversion.convert(raw)
        except InvalidValue as err:
            raise ConfigError(f"{label} {err.rule}, got {err.got}") from None
        if value is None and raw is not None:
            self.warnings.append(f"{label}: {conversion.unset_note}.")
            return _UNSET
        return value

    def gunicorn_only(self, name: str, label: str, raw: Any) -> None:
        """A gunicorn setting no ferrule setting claims: answered by its stance."""
        row = gunicorn.by_name(name)
        stance = gunicorn.answer(row) if row is not None else None
        if isinstance(stance, gunicorn.Fixed):
            wanted = stance.value
            matches = (BOOL_WORDS.get(str(raw).strip().lower(), raw) == wanted
                       if isinstance(wanted, bool)
                       else str(raw).strip().lower() == str(wanted))
            if not matches:
                raise ConfigError(f"{label} is not supported: {stance.why}; only "
                                  f"{wanted!r} is accepted, got {raw!r}.")
        elif isinstance(stance, gunicorn.NotNeeded):
            self.warnings.append(f"{label} is not needed: {stance.why}; ignored.")
        elif isinstance(stance, gunicorn.Same):
            self.warnings.append(f"{label} is a command-line action ({stance.how}); ignored "
                                 "here.")
        elif gunicorn.asks_nothing(raw):
            return
        elif isinstance(stance, gunicorn.Unsupported):
            raise ConfigError(f"{label} is not supported: {stance.why}.")

    def apply_file(self, path: str) -> None:
        """The settings in a config file: ferrule's names and gunicorn's."""
        python = path.endswith(".py")
        entries = _read_python_file(path) if python else _read_toml_file(path)
        prefix = "tool.ferrule." if os.path.basename(path) == "pyproject.toml" else ""
        for key, raw in entries:
            label = f"{prefix}{key} in {path}"
            setting = _BY_NAME.get(key)
            row = gunicorn.by_name(key)
            if setting is None and row is not None:
                answer = gunicorn.answer(row)
                if not isinstance(answer, gunicorn.Claimed):
                    self.gunicorn_only(key, label, raw)
                    continue
                setting = answer.setting
            if setting is None:
                if python:
                    self.warnings.append(
                        f"{path} sets '{key}', which is not a setting; ignored.{_suggestion(key)}"
                        " (Start a helper's name with '_' to say it is one.)")
                    continue
                raise ConfigError(f"Unknown setting '{prefix}{key}' in {path}.{_suggestion(key)}")
            if not setting.in_file:
                raise ConfigError(
                    f"Setting '{prefix}{key}' cannot be set in a config file ({path}).")
            value = self.converted(key if row is not None else None, label, raw)
            if value is not _UNSET:
                self.set(setting, [(label, value)], f"file {path}")


#: A converted value that leaves the setting as it was.
_UNSET = object()
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}


def _read_toml_file(path: str) -> list[tuple[str, object]]:
    """The keys and values of a TOML config file. `pyproject.toml` (by file name) holds them
    in `[tool.ferrule]`; any other file at the top level.

    # Errors
    `ConfigError` when the file cannot be read or parsed.
    """
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"Config file '{path}' does not exist.") from None
    except OSError as err:
        raise ConfigError(f"Could not read config file '{path}': {err.strerror}.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"Config file '{path}' is not valid TOML: {err}.") from None
    table: object = document
    if os.path.basename(path) == "pyproject.toml":
        tool = document.get("tool")
        table = tool.get("ferrule") if isinstance(tool, dict) else None
        if not isinstance(table, dict):
            raise ConfigError(f"Config file '{path}' has no [tool.ferrule] table.")
    assert isinstance(table, dict)
    return list(table.items())


def _read_python_file(path: str) -> list[tuple[str, object]]:
    """The settings and hooks of a Python config file (`gunicorn.conf.py`): its module
    globals, run as gunicorn runs them (`__name__` is `"__config__"`). Imported modules,
    functions and classes defined elsewhere, names starting with `_` and ALL_CAPS constants
    are the file's helpers, not settings.

    # Errors
    `ConfigError` when the file cannot be read or raises (its traceback is printed first).
    """
    try:
        with open(path, "rb") as file:
            source = file.read()
    except FileNotFoundError:
        raise ConfigError(f"Config file '{path}' does not exist.") from None
    except OSError as err:
        raise ConfigError(f"Could not read config file '{path}': {err.strerror}.") from None
    namespace: dict[str, Any] = {"__builtins__": __builtins__, "__name__": "__config__",
                                 "__file__": path, "__doc__": None, "__package__": None}
    try:
        exec(compile(source, path, "exec"), namespace)
    except (Exception, SystemExit) as err:
        report = traceback.TracebackException.from_exception(err)
        report.stack = traceback.StackSummary.from_list(
            [frame for frame in report.stack if frame.filename == path])
        sys.stderr.write("".join(report.format()))
        raise ConfigError(
            f"Config file '{path}' raised {type(err).__name__}; its traceback is above."
        ) from None
    entries = []
    for key, value in namespace.items():
        if key.startswith("_") or (key.isupper() and key not in _BY_NAME):
            continue
        if isinstance(value, types.ModuleType):
            continue
        if (callable(value) and getattr(value, "__module__", "__config__") != "__config__"
                and key not in _BY_NAME and gunicorn.by_name(key) is None):
            continue  # `from multiprocessing import cpu_count`
        entries.append((key, value))
    return entries


def _suggestion(key: str) -> str:
    names = [setting.name for setting in SETTINGS] + [row.name for row in gunicorn.GUNICORN]
    normalized = key.replace("-", "_").lower()
    if normalized in names:
        return f" Did you mean '{normalized}'?"
    close = difflib.get_close_matches(normalized, names, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _to_core_value(value: Any) -> Any:
    # Lists of strings, and `secure_scheme_headers`' pairs, cross as lists.
    return list(value) if isinstance(value, tuple) else value
