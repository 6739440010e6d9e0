"""`Setting`, one row of the settings table: a setting's spellings, type, default, section,
help and rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferrule.settings.values import Check, InvalidValue, ValueType


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
