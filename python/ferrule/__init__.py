"""Ferrule: a WSGI and ASGI server whose per-request work runs in Rust.

The public API: `serve(app, **settings)` (blocking, like `waitress.serve`), `Config`, the
exceptions and `__version__`. Everything else, `_ferrule` included, is private. The compiled
core is imported on first use, so settings and the CLI's error paths work without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ferrule import logs
from ferrule._core import core
from ferrule.config import Config
from ferrule.errors import (
    AppImportError,
    BindError,
    ClientDisconnected,
    ConfigError,
    FerruleError,
    RequestTimeout,
    WorkerBootError,
)
from ferrule.hooks import HookRunner
from ferrule.settings import SETTINGS

if TYPE_CHECKING:
    __version__: str

__all__ = [
    "AppImportError",
    "BindError",
    "ClientDisconnected",
    "Config",
    "ConfigError",
    "FerruleError",
    "RequestTimeout",
    "WorkerBootError",
    "__version__",
    "serve",
]


def serve(app: Callable[..., Any], **settings: Any) -> None:
    """Serves the WSGI `app` until SIGTERM or SIGINT; blocks, then returns.

    `settings` are the server's settings by name, written as in a config file
    (`serve(app, bind="127.0.0.1:8000", threads=8, max_body_bytes="1MiB")`; see
    docs/settings.md), hooks included (`serve(app, post_fork=reconnect)`; docs/hooks.md).
    Settings that only steer the ferrule command (`app`, `config`, `chdir`, `pythonpath`,
    ...) are not accepted.

    # Errors
    `ConfigError` for an unknown or bad setting, `BindError` when a listening socket cannot
    be bound, `TypeError` when `app` is not callable.
    """
    if not callable(app):
        raise TypeError(f"serve() needs a WSGI or ASGI callable as app, got {type(app).__name__}.")
    for name in settings:
        if name in _COMMAND_ONLY:
            raise ConfigError(
                f"Setting '{name}' only applies to the ferrule command; serve() does not take it."
            )
    config = Config(**settings)
    logging_setup = logs.configure(config)
    core_settings = config.to_core()
    logging_options: dict[str, Any] = {}
    if logging_setup is not None:
        core_settings["log_level"] = logging_setup["level"]
        logging_options["python_logging"] = logging_setup["access"]
    core().serve(app, core_settings, hooks=HookRunner.for_config(config), **logging_options)


# Python-only settings that only mean something to the command (importing the app, reading a
# file); the others that are not `core` would be silently ignored by serve(). The logging
# settings and the hooks are applied by serve() itself.
_COMMAND_ONLY = frozenset(setting.name for setting in SETTINGS
                          if not setting.core and setting.section != "Hooks") - logs.SETTINGS


def __getattr__(name: str) -> Any:
    # PEP 562: `__version__` comes from the compiled core, imported on first use.
    if name == "__version__":
        return core().__version__
    raise AttributeError(f"module 'ferrule' has no attribute '{name}'")
