"""The ferrule command's flags: the argparse parser generated from `settings.SETTINGS` (one
group per section, gunicorn's spellings accepted but hidden), its help text, and
`parse_flags`, which reads argv into raw text per setting.

Values are not converted here: `config` converts flags with the env vars and the config
file, so every bad value gets the same kind of message. A malformed command line (unknown
flag, missing value, extra argument) is a `ConfigError`; `cli` turns it into an exit code and
prints the help, adding the exit codes it owns as the epilog.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ferrule.errors import ConfigError
from ferrule.settings import BOOL, SECTIONS, SETTINGS, InvalidValue, Setting

__all__ = ["Flags", "build_parser", "parse_flags"]

_DESCRIPTION = """\
Serve a WSGI app, e.g. `ferrule myapp:app`.

Settings come from, lowest precedence first: defaults, the config file named by --config,
FERRULE_* environment variables, then these flags. Durations take 30, 30s, 500ms or 1h30m;
sizes take 8192, 8KiB or 1MiB. Every setting is described in docs/settings.md."""


@dataclass(frozen=True)
class Flags:
    """What argv said, before conversion. `given` holds (setting name, spelling as written,
    raw text) per occurrence, in order; `config` converts them."""

    given: tuple[tuple[str, str, str], ...]
    help: bool
    version: bool


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print usage and exit; cli.main decides exits, so raise instead.
        raise ConfigError(message[:1].upper() + message[1:] + ".")


class _Record(argparse.Action):
    """Records each occurrence of a setting's flag with the spelling the user wrote, so that
    messages can say `--keep-alive must be ...` to someone who typed gunicorn's flag."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if self.nargs == 0 or values is None:
            # A switch (boolean settings: `--preload` means true), or a flag whose value is
            # optional given alone (`--proxy-protocol` means auto).
            values = self.const
        namespace.given.append((self.dest, option_string or self.dest, values))


def build_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser for the ferrule command, generated from `SETTINGS`. `epilog` ends
    the help text (`cli` passes the exit codes)."""
    parser = _Parser(
        prog="ferrule",
        description=_DESCRIPTION,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,
    )
    groups = {section: parser.add_argument_group(section) for section in SECTIONS}
    for setting in SETTINGS:
        group = groups[setting.section]
        if setting.positional:
            group.add_argument(setting.name, nargs="?", action=_Record, default=argparse.SUPPRESS,
                               metavar=setting.metavar, help=_help_text(setting))
            continue
        # Boolean settings are switches on the command line, as in gunicorn (`--preload`);
        # their env var and config-file key take true/false.
        shape: dict[str, Any] = (
            {"nargs": 0, "const": "true"} if setting.type is BOOL else {"metavar": setting.metavar}
        )
        if setting.bare is not None:
            # `--proxy-protocol` alone means `auto`, as in gunicorn.
            shape = {"nargs": "?", "const": setting.bare, "metavar": setting.metavar}
        group.add_argument(*setting.flags, dest=setting.name, action=_Record,
                           default=argparse.SUPPRESS, help=_help_text(setting), **shape)
        aliases = [flag for flag in setting.gunicorn if flag not in setting.flags]
        if aliases:
            group.add_argument(*aliases, dest=setting.name, action=_Record,
                               default=argparse.SUPPRESS, help=argparse.SUPPRESS, **shape)
    other = parser.add_argument_group("Other")
    other.add_argument("-h", "--help", action="store_true", help="Show this help and exit.")
    other.add_argument("--version", action="store_true",
                       help="Print 'ferrule <version>' and exit.")
    return parser


def parse_flags(argv: Sequence[str]) -> Flags:
    """Parses argv without converting values.

    # Errors
    `ConfigError` for unknown flags, a flag without its value, or extra arguments.
    """
    namespace = argparse.Namespace(given=[], help=False, version=False)
    build_parser().parse_args(_fill_bare_values(list(argv)), namespace=namespace)
    return Flags(given=tuple(namespace.given), help=namespace.help, version=namespace.version)


def _fill_bare_values(argv: list[str]) -> list[str]:
    """argv with the value of each bare optional-value flag written out:
    `--proxy-protocol myapp:app` would otherwise take the app as its value, so a flag whose
    next argument is not one of its values gets its `bare` value (`auto`) inserted."""
    bare = {flag: setting for setting in SETTINGS if setting.bare is not None
            for flag in (*setting.flags, *setting.gunicorn)}
    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        setting = bare.get(arg)
        if setting is None or "--" in argv[:i]:
            continue
        following = argv[i + 1] if i + 1 < len(argv) else None
        try:
            setting.type.convert(following)
        except InvalidValue:
            out.append(setting.bare)  # type: ignore[arg-type]
    return out


def _help_text(setting: Setting) -> str:
    text = setting.help.replace("`", "")
    facts = [f"default: {setting.describe_default()}",
             "env: " + ", ".join((setting.env, *setting.env_aliases))]
    aliases = [flag for flag in setting.gunicorn if flag not in setting.flags]
    if aliases:
        facts.append("gunicorn: " + ", ".join(aliases))
    # argparse %-formats help strings.
    return f"{text} ({'; '.join(facts)})".replace("%", "%%")
