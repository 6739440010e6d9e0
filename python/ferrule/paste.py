"""PasteDeploy: how Pyramid projects (and other `.ini`-configured apps) start ferrule.

Two ways in, one table of settings:
- `pserve development.ini` with `[server:main] use = egg:ferrule`: PasteDeploy calls
  `serve_paste` (the `paste.server_runner` entry point) with the app and the section's keys,
  which become settings as if given to `ferrule.serve()`;
- `ferrule --paste development.ini[#name]` (gunicorn's flag): the app comes from the ini's
  `[app:NAME]` section (`main` by default), loaded in each worker like `APP`; the keys of
  `[server:main]` are settings below the config file, env vars and flags; the ini's logging
  sections configure Python's logging, as `pserve` does; `--paste-global KEY=VALUE` fills
  the ini's `%(KEY)s`, as `pserve development.ini KEY=VALUE` does.

Keys are setting names (`threads = 8`), gunicorn's spellings of them (`keep_alive`,
`access_logfile`), or `host` and `port` (or waitress's `listen`), which become `bind`.
"""

from __future__ import annotations

import configparser
import logging.config
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ferrule.errors import AppImportError, ConfigError
from ferrule.settings import SETTINGS, Setting

__all__ = ["absolute", "load_app", "serve_paste", "server_settings", "setup_logging"]

#: Keys every PasteDeploy server section may carry that are not settings.
_PASTE_KEYS = frozenset({"use", "here", "__file__"})
#: Settings only the ferrule command reads: not from a server section.
_COMMAND_ONLY = frozenset({"app", "config", "paste", "paste_global", "chdir", "pythonpath",
                           "reload", "reload_extra", "preload", "umask"})
#: `paste_global`'s KEY=VALUE pairs: variables for the ini's `%(KEY)s`.
Variables = Sequence[tuple[str, str]]


def _spellings() -> dict[str, Setting]:
    """Every key that names a setting: its name, and its flags and gunicorn's spellings
    without the dashes (`--keep-alive` → `keep_alive`)."""
    keys: dict[str, Setting] = {}
    for setting in SETTINGS:
        for flag in (*setting.gunicorn, *setting.flags):
            if flag.startswith("--"):
                keys.setdefault(flag[2:].replace("-", "_"), setting)
        keys[setting.name] = setting
    return keys


def absolute(uri: str) -> str:
    """`uri` with its path made absolute (from the current directory)."""
    path, _, name = uri.partition("#")
    return os.path.abspath(path) + (f"#{name}" if name else "")


def split_uri(uri: str) -> tuple[str, str]:
    """`development.ini#admin` → (absolute path, `admin`); the name defaults to `main`."""
    path, _, name = uri.partition("#")
    return os.path.abspath(path), name or "main"


def settings_from_section(local_conf: Mapping[str, Any], where: str,
                          strict: bool) -> list[tuple[str, str, object]]:
    """The settings of a server section's keys, as `(name, label, raw)`; `label` names the
    key and `where` for error messages. `strict`: unknown keys are errors (the section is
    ferrule's); otherwise they belong to another server and are skipped.

    # Errors
    `ConfigError` naming the key.
    """
    spellings = _spellings()
    found: list[tuple[str, str, object]] = []
    host = local_conf.get("host")
    port = local_conf.get("port")
    if host is not None or port is not None:
        address = f"{host or '127.0.0.1'}:{port or 8000}"
        found.append(("bind", f"host/port in {where}", address))
    if "listen" in local_conf:
        found.append(("bind", f"listen in {where}", ",".join(str(local_conf["listen"]).split())))
    for key, raw in local_conf.items():
        if key in _PASTE_KEYS or key in ("host", "port", "listen"):
            continue
        setting = spellings.get(key)
        if setting is None:
            if strict:
                raise ConfigError(f"Unknown setting '{key}' in {where}.")
            continue
        if setting.name in _COMMAND_ONLY:
            raise ConfigError(f"Setting '{key}' cannot be set in {where}.")
        found.append((setting.name, f"{key} in {where}", raw))
    return found


def server_settings(uri: str, variables: Variables = ()) -> list[tuple[str, str, object]]:
    """The settings of the ini's `[server:main]` section, for `ferrule --paste`, its
    `%(KEY)s` filled from `variables`; none when it has no such section.

    # Errors
    `ConfigError` when the file cannot be read, or a key names no setting of a section that
    says `use = egg:ferrule`.
    """
    path, _ = split_uri(uri)
    parser = _read(path, variables)
    section = "server:main"
    if not parser.has_section(section):
        return []
    try:
        local_conf = {key: parser.get(section, key) for key in parser.options(section)
                      if key not in parser.defaults()}
    except configparser.Error as err:
        raise ConfigError(f"[{section}] of {path}: {_message(err)}") from None
    strict = local_conf.get("use", "").strip().lower() in ("egg:ferrule", "egg:ferrule#main")
    return settings_from_section(local_conf, f"[{section}] of {path}", strict)


def _read(path: str, variables: Variables = ()) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(defaults=_defaults(path, variables))
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except FileNotFoundError:
        raise ConfigError(f"PasteDeploy file '{path}' does not exist.") from None
    except (OSError, configparser.Error) as err:
        raise ConfigError(f"Could not read PasteDeploy file '{path}': {err}") from None
    return parser


def _defaults(path: str, variables: Variables) -> dict[str, str]:
    """The ini's interpolation defaults: `variables` (below the ini's own `[DEFAULT]`, as in
    PasteDeploy), then `here` and `__file__`."""
    return {**_global_conf(variables), "here": os.path.dirname(path), "__file__": path}


def _global_conf(variables: Variables) -> dict[str, str]:
    """`variables` with their keys lower-cased, as configparser reads every key and every
    `%(KEY)s` (PasteDeploy would keep `WHO` as it is, and `%(WHO)s` would not find it)."""
    return {key.lower(): value for key, value in variables}


def _message(err: configparser.Error) -> str:
    """configparser's message, with what to do about a variable the ini uses but no one
    gave."""
    if isinstance(err, configparser.InterpolationMissingOptionError):
        return (f"{err.option} uses %({err.reference})s, which is not set; give it with "
                f"--paste-global {err.reference}=VALUE")
    return err.message


def setup_logging(uri: str, variables: Variables = ()) -> None:
    """Configures Python's logging from the ini's `[loggers]`, `[handlers]` and
    `[formatters]` sections, when it has them (what `pserve` does)."""
    path, _ = split_uri(uri)
    if not _read(path, variables).has_section("loggers"):
        return
    try:
        logging.config.fileConfig(path, _defaults(path, variables),
                                  disable_existing_loggers=False)
    except configparser.Error as err:
        raise ConfigError(f"The logging sections of {path}: {_message(err)}") from None
    except (KeyError, ValueError, TypeError, AttributeError, ImportError) as err:
        # fileConfig's own errors: a handler or formatter that does not exist or cannot
        # be built.
        raise ConfigError(f"The logging sections of {path}: {err!r}") from None


def load_app(uri: str, variables: Variables = ()) -> Any:
    """The WSGI app of the ini's `[app:NAME]` (or `[pipeline:NAME]`, `[composite:NAME]`)
    section, its `%(KEY)s` filled from `variables`.

    # Errors
    `AppImportError` when PasteDeploy is missing or the app cannot be loaded (its cause
    chained).
    """
    path, name = split_uri(uri)
    try:
        from paste.deploy import loadapp
    except ImportError as err:
        raise AppImportError(
            "--paste needs PasteDeploy; install it with 'pip install PasteDeploy'.") from err
    try:
        return loadapp(f"config:{path}", name=name, global_conf=_global_conf(variables))
    except Exception as err:  # noqa: BLE001 - the app's own error, reported with its traceback
        raise AppImportError(f"Could not load the app '{name}' from '{path}': {err}") from err


def serve_paste(app: Any, global_conf: Mapping[str, Any], **local_conf: Any) -> None:
    """The `paste.server_runner` entry point (`[server:main] use = egg:ferrule`): serves
    `app` with the section's keys as settings until SIGTERM or SIGINT.

    A bad key or value ends the process with one line on stderr (exit status 2, as the
    ferrule command would), not a traceback.
    """
    import ferrule

    where = f"[server:main] of {global_conf.get('__file__', 'the ini file')}"
    try:
        found = settings_from_section(local_conf, where, strict=True)
        settings: dict[str, object] = {}
        labels: dict[str, str] = {}
        for name, label, raw in found:
            settings[name] = raw
            labels[name] = label
        try:
            ferrule.Config(**settings)
        except ConfigError as err:
            name = str(err).split(" ", 1)[0]
            raise ConfigError(str(err).replace(name, labels.get(name, name), 1)) from None
        ferrule.serve(app, **settings)
    except ConfigError as err:
        sys.stderr.write(f"ferrule: {err}\n")
        raise SystemExit(2) from None
