"""THE settings table: every setting ferrule has, declared once.

Each `Setting` names its flags, env var, config-file key, value type, default, section, help
and rules; each section's settings, with the value types only they use, live in a module of
this package (`server`, `tls`, `limits`, ...), and `SETTINGS` joins them in `SECTIONS` order.
`config` resolves values from these declarations, `cli` builds argparse from them,
`scripts/gen_settings_doc.py` renders `docs/settings.md` from them, and the settings marked
`core` are the keys of the dict handed to the Rust core (checked against
`_ferrule.CORE_SETTINGS`).

Value types (`values`) convert what the user wrote (a CLI/env string, or a TOML/keyword value)
into the value the core receives, raising `InvalidValue` with the broken rule; `config` adds
the name of the setting as the user wrote it.
"""

from __future__ import annotations

from ferrule.settings import (
    application,
    hooks,
    limits,
    logs,
    observability,
    proxy,
    server,
    static,
    timeouts,
    tls,
    workers,
)
from ferrule.settings.addresses import BIND_DEFAULT_PORT, normalize_bind
from ferrule.settings.setting import Setting
from ferrule.settings.static import normalize_static_mount
from ferrule.settings.values import (
    BOOL,
    BYTE_SIZE,
    DURATION,
    INT,
    OPTIONAL_STR,
    Check,
    InvalidValue,
    ValueType,
)

__all__ = [
    "BIND_DEFAULT_PORT",
    "BOOL",
    "BYTE_SIZE",
    "DURATION",
    "INT",
    "OPTIONAL_STR",
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

#: The sections, in the order of `--help` and docs/settings.md, each with its module.
_TABLES = (
    ("Application", application),
    ("Server", server),
    ("TLS", tls),
    ("Static files", static),
    ("Proxy", proxy),
    ("Workers", workers),
    ("Logging", logs),
    ("Observability", observability),
    ("Limits", limits),
    ("Timeouts", timeouts),
    ("Hooks", hooks),
)

SECTIONS = tuple(section for section, _ in _TABLES)

SETTINGS: tuple[Setting, ...] = tuple(
    setting for _, module in _TABLES for setting in module.SETTINGS
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def by_name(name: str) -> Setting:
    """The setting called `name`. # Errors: KeyError when there is none."""
    return _BY_NAME[name]
