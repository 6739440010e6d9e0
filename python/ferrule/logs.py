"""Python `logging` for the server's own records, as gunicorn offers it: `log_config` (an ini
file for `logging.config.fileConfig`), `log_config_json` (a JSON file) and `log_config_dict`
(a dict, e.g. `logconfig_dict` in a Python config file) for `logging.config.dictConfig`.

When one is set, the core sends its error-log messages to the `ferrule.error` logger and its
access lines to `ferrule.access` (at INFO) instead of writing `error_log` and `access_log`
itself; without one, the core writes them in Rust and Python is never called. `configure`
applies the settings in the master (workers inherit the configured loggers at fork) and says
what the core needs; `reopen` reopens the handlers' files on SIGUSR1.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
from typing import Any

from ferrule.errors import ConfigError

__all__ = ["ACCESS_LOGGER", "ERROR_LOGGER", "SETTINGS", "configure", "reopen"]

ERROR_LOGGER = "ferrule.error"
ACCESS_LOGGER = "ferrule.access"
#: The settings this module applies.
SETTINGS = frozenset({"log_config", "log_config_json", "log_config_dict"})

_LEVELS = ((logging.DEBUG, "debug"), (logging.INFO, "info"), (logging.WARNING, "warning"),
           (logging.ERROR, "error"))


def configure(config: Any) -> dict[str, Any] | None:
    """Applies `config`'s logging settings (dict, then JSON file, then ini file, each over the
    one before). Returns `None` when none is set, else what the core needs: `level`, the
    least severe level `ferrule.error` takes (the core skips formatting below it), and
    `access`, whether access records are wanted (`access_log` is set, or `ferrule.access`
    has a handler and takes INFO).

    # Errors
    `ConfigError` naming the setting whose configuration failed.
    """
    if config.log_config is None and config.log_config_json is None and config.log_config_dict is None:
        return None
    if config.log_config_dict is not None:
        _apply("log_config_dict", lambda: logging.config.dictConfig(dict(config.log_config_dict)))
    if config.log_config_json is not None:
        path = config.log_config_json

        def from_json() -> None:
            with open(path, encoding="utf-8") as file:
                logging.config.dictConfig(json.load(file))

        _apply(f"log_config_json '{path}'", from_json)
    if config.log_config is not None:
        path = config.log_config
        if not os.path.exists(path):
            raise ConfigError(f"log_config '{path}' does not exist.")
        defaults = {"__file__": os.path.abspath(path), "here": os.path.dirname(os.path.abspath(path))}
        _apply(f"log_config '{path}'",
               lambda: logging.config.fileConfig(path, defaults=defaults, disable_existing_loggers=False))
    error = logging.getLogger(ERROR_LOGGER).getEffectiveLevel()
    level = next((name for number, name in _LEVELS if error <= number), "critical")
    access = logging.getLogger(ACCESS_LOGGER)
    wants_access = config.access_log is not None or (access.isEnabledFor(logging.INFO) and access.hasHandlers())
    return {"level": level, "access": wants_access}


def _apply(what: str, apply: Any) -> None:
    try:
        apply()
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError, RuntimeError) as err:
        raise ConfigError(f"Could not configure logging from {what}: {err}") from None


def reopen(user: int | None = None, group: int | None = None) -> None:
    """Reopens the file of every `logging.FileHandler` (SIGUSR1, after logrotate moved the
    files). In the master, `user` and `group` (the workers' identity) become the files'
    owners, so the workers can reopen them after it."""
    for handler in _file_handlers():
        handler.acquire()
        try:
            if handler.stream is not None:
                handler.stream.close()
            handler.stream = handler._open()
        finally:
            handler.release()
        if user is not None or group is not None:
            try:
                os.chown(handler.baseFilename, -1 if user is None else user, -1 if group is None else group)
            except OSError:
                pass  # The worker's reopen will report it, naming the file.


def _file_handlers() -> list[logging.FileHandler]:
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    found: dict[int, logging.FileHandler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                found[id(handler)] = handler
    return list(found.values())
