"""Resolves settings into one immutable `Config`: defaults < config file < env vars < CLI flags.

Reads argv (parsed by `flags.parse_flags`), `FERRULE_*` env vars and an optional TOML file, and
converts and checks each value with the declarations in `settings`. Error messages name the
setting as the user wrote it (`--threads`, `FERRULE_THREADS`, `threads in ferrule.toml`).
`Config.to_core()` is the dict handed to the Rust core.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ferrule.errors import ConfigError
from ferrule.flags import parse_flags
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
    root_path: str
    interface: str
    loop: str
    lifespan: str
    bind: tuple[str, ...]
    threads: int
    reuse_port: bool
    ws_per_message_deflate: bool
    sendfile: str
    sched_policy: str
    unix_socket_mode: int | None
    pid_file: str | None
    user: int | None
    group: int | None
    umask: int | None
    workers: int
    preload: bool
    reload: bool
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
    send_timeout: float

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
             env: Mapping[str, str] = os.environ) -> Config:
        """Resolves every setting from, lowest precedence first: defaults, the config file
        (only when `--config` or `FERRULE_CONFIG` names one), `FERRULE_*` env vars, argv.

        Every value given is checked, even one a higher-precedence source overrides, so a
        broken config file is reported rather than hidden. Unknown `FERRULE_*` env vars are
        ignored (other tools share the prefix in tests and deployments).
        """
        flags = parse_flags(sys.argv[1:] if argv is None else argv)
        from_flags: dict[str, list[tuple[str, object]]] = {}
        for name, spelling, raw in flags.given:
            from_flags.setdefault(name, []).append((spelling, raw))

        values = _defaults()
        # Step 1: where the config file is (flags over env); it is not itself in the file.
        config_setting = _BY_NAME["config"]
        if config_setting.env in env:
            raw = env[config_setting.env]
            values["config"] = _convert(config_setting, [(config_setting.env, raw)])
        if "config" in from_flags:
            values["config"] = _convert(config_setting, from_flags["config"][-1:])
        # Step 2: the file, then env vars, then flags, each overriding the one before.
        if values["config"] is not None:
            for setting, label, raw in _read_config_file(values["config"]):
                values[setting.name] = _convert(setting, [(label, raw)])
        for setting in SETTINGS:
            if setting.env in env and setting.name != "config":
                values[setting.name] = _convert(setting, [(setting.env, env[setting.env])])
        for name, given in from_flags.items():
            setting = _BY_NAME[name]
            if setting.repeatable:
                values[name] = _convert(setting, given)
            else:
                # Like argparse: the last occurrence wins; the earlier ones must still be valid.
                for occurrence in given:
                    values[name] = _convert(setting, [occurrence])
        config = cls.__new__(cls)
        config._assign(values)
        return config

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


def _read_config_file(path: str) -> list[tuple[Setting, str, object]]:
    """The settings in a TOML file, each with the label error messages use for it.

    `pyproject.toml` (by file name) holds them in `[tool.ferrule]`; any other file at the top
    level.

    # Errors
    `ConfigError` when the file cannot be read or parsed, or names an unknown setting.
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

    prefix = ""
    table: object = document
    if os.path.basename(path) == "pyproject.toml":
        prefix = "tool.ferrule."
        tool = document.get("tool")
        table = tool.get("ferrule") if isinstance(tool, dict) else None
        if not isinstance(table, dict):
            raise ConfigError(f"Config file '{path}' has no [tool.ferrule] table.")
    assert isinstance(table, dict)

    entries = []
    for key, raw in table.items():
        setting = _BY_NAME.get(key)
        if setting is None:
            raise ConfigError(f"Unknown setting '{prefix}{key}' in {path}.{_suggestion(key)}")
        if not setting.in_file:
            raise ConfigError(f"Setting '{prefix}{key}' cannot be set in a config file ({path}).")
        entries.append((setting, f"{prefix}{key} in {path}", raw))
    return entries


def _suggestion(key: str) -> str:
    names = [setting.name for setting in SETTINGS]
    normalized = key.replace("-", "_").lower()
    if normalized in names:
        return f" Did you mean '{normalized}'?"
    close = difflib.get_close_matches(normalized, names, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _to_core_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
