"""The ferrule command's flags: the argparse parser generated from `settings.SETTINGS` (one
group per section, gunicorn's spellings accepted but hidden), its help text, and
`parse_flags`, which reads argv into raw text per setting.

Every gunicorn flag is known (`gunicorn.GUNICORN`), with its shape: those a ferrule setting
claims are recorded under that setting, the others under `gunicorn:<name>` for `config` to
answer (a warning for what ferrule does not need, an error for what it does not do). An
unknown flag is an error naming it alone: argv is checked before argparse reads it, so an
unknown flag never takes the next word (the app) with it, whatever flags are added.

Values are not converted here: `config` converts flags with the env vars and the config
file, so every bad value gets the same kind of message. A malformed command line (unknown
flag, missing value, extra argument) is a `ConfigError`; `cli` turns it into an exit code and
prints the help, adding the exit codes it owns as the epilog.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ferrule import gunicorn
from ferrule.errors import ConfigError
from ferrule.settings import BOOL, SECTIONS, SETTINGS, InvalidValue, Setting

__all__ = ["GUNICORN_DEST", "Flags", "build_parser", "parse_flags"]

#: The prefix of the `given` names of gunicorn flags no ferrule setting claims.
GUNICORN_DEST = "gunicorn:"

_DESCRIPTION = """\
Serve a WSGI app, e.g. `ferrule myapp:app`.

Settings come from, lowest precedence first: defaults, the config file named by --config,
FERRULE_* environment variables, then these flags. Durations take 30, 30s, 500ms or 1h30m;
sizes take 8192, 8KiB or 1MiB. Every setting is described in docs/settings.md."""


@dataclass(frozen=True)
class Flags:
    """What argv said, before conversion. `given` holds (setting name, spelling as written,
    raw text) per occurrence, in order; `config` converts them."""

    given: tuple[tuple[str, str, Any], ...]
    help: bool
    version: bool
    check_config: bool = False
    print_config: bool = False


class _Parser(argparse.ArgumentParser):
    #: Every option string, with whether it takes a value (`True`, `False`, or `"optional"`).
    shapes: dict[str, Any]

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
    """The argparse parser for the ferrule command, generated from `SETTINGS` and gunicorn's
    flags. `epilog` ends the help text (`cli` passes the exit codes)."""
    parser = _Parser(
        prog="ferrule",
        description=_DESCRIPTION,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,
    )
    parser.shapes = {}

    def add(group: Any, flags: tuple[str, ...], dest: str, help: str,
            shape: dict[str, Any]) -> None:
        group.add_argument(*flags, dest=dest, action=_Record, default=argparse.SUPPRESS,
                           help=help, **shape)
        takes = shape.get("nargs")
        for flag in flags:
            parser.shapes[flag] = "optional" if takes == "?" else takes != 0

    groups = {section: parser.add_argument_group(section) for section in SECTIONS}
    claimed_flags: set[str] = set()
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
        if setting.flags:
            add(group, setting.flags, setting.name, _help_text(setting), shape)
        claimed_flags.update(setting.flags)
        for flag in _alias_flags(setting):
            # A gunicorn flag keeps gunicorn's shape (`--no-sendfile` is a switch).
            row = gunicorn.by_flag(flag)
            alias_shape = _gunicorn_shape(row, flag) if row is not None else shape
            add(group, (flag,), setting.name, argparse.SUPPRESS, alias_shape)
            claimed_flags.add(flag)
    # gunicorn's flags that no setting claims: recorded for `config` to answer.
    hidden = parser.add_argument_group("gunicorn")
    for row in gunicorn.GUNICORN:
        flags = tuple(flag for flag in row.flags
                      if flag not in claimed_flags and flag not in _COMMANDS)
        if flags:
            add(hidden, flags, GUNICORN_DEST + row.name, argparse.SUPPRESS,
                _gunicorn_shape(row, flags[0]))
    other = parser.add_argument_group("Other")
    other.add_argument("--check-config", action="store_true",
                       help="Load the settings and the app, print any problem, and exit: 0 when "
                            "the server would start, 1 otherwise.")
    other.add_argument("--print-config", action="store_true",
                       help="Print every setting with its value and where it came from "
                            "(default, file, env, flag), then exit.")
    other.add_argument("-h", "--help", action="store_true", help="Show this help and exit.")
    other.add_argument("-v", "--version", action="store_true",
                       help="Print 'ferrule <version>' and exit.")
    for flag in ("--check-config", "--print-config", "-h", "--help", "-v", "--version"):
        parser.shapes[flag] = False
    return parser


#: Flags of the command itself, not of a setting.
_COMMANDS = ("--check-config", "--print-config")


def _alias_flags(setting: Setting) -> list[str]:
    """gunicorn's flags for `setting`: those it lists, and those of the gunicorn settings it
    claims by name."""
    flags = list(setting.gunicorn_flags)
    for name in (setting.name, *setting.gunicorn_names):
        row = gunicorn.by_name(name)
        if row is not None:
            flags.extend(flag for flag in row.flags if flag not in setting.flags)
    return list(dict.fromkeys(flags))


def _gunicorn_shape(row: gunicorn.Gunicorn, flag: str) -> dict[str, Any]:
    if row.shape == "switch":
        return {"nargs": 0, "const": gunicorn.SWITCH_VALUES.get(flag, "true")}
    if row.shape == "optional":
        return {"nargs": "?", "const": "true", "metavar": "VALUE"}
    return {"metavar": "VALUE"}


def parse_flags(argv: Sequence[str]) -> Flags:
    """Parses argv without converting values.

    # Errors
    `ConfigError` for unknown flags, a flag without its value, or extra arguments.
    """
    parser = build_parser()
    _check_flags_known(list(argv), parser.shapes)  # type: ignore[attr-defined]
    namespace = argparse.Namespace(given=[], help=False, version=False, check_config=False,
                                   print_config=False)
    parser.parse_args(_fill_bare_values(list(argv)), namespace=namespace)
    return Flags(given=tuple(namespace.given), help=namespace.help, version=namespace.version,
                 check_config=namespace.check_config, print_config=namespace.print_config)


def _check_flags_known(argv: list[str], shapes: dict[str, Any]) -> None:
    """Raises `ConfigError` for the first flag that is not known, naming only it: argparse
    would report it with the next word (`-x myapp:app`), taking the app for its value.

    Flags are `--name`, `--name=value`, `-x` and `-xVALUE` (a short flag with its value
    attached); `--` ends them; a word after a flag that takes a value is that value.
    """
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            return
        if not word.startswith("-") or word == "-" or _is_number(word):
            continue
        name, equals, _ = word.partition("=")
        if not word.startswith("--") and name not in shapes and word[:2] in shapes:
            name, equals = word[:2], "=" if len(word) > 2 else ""  # `-w4`
        shape = shapes.get(name)
        if shape is None:
            raise ConfigError(f"Unknown flag '{name}'.{_suggest_flag(name, shapes)}")
        if shape is True and not equals:
            i += 1


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _suggest_flag(name: str, shapes: dict[str, Any]) -> str:
    visible = [flag for flag in shapes if flag.startswith("--")]
    close = difflib.get_close_matches(name, visible, n=1, cutoff=0.75)
    return f" Did you mean '{close[0]}'?" if close else ""


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
    facts = [f"default: {setting.describe_default()}", f"env: {setting.env}"]
    aliases = _alias_flags(setting)
    if aliases:
        facts.append("gunicorn: " + ", ".join(aliases))
    # argparse %-formats help strings.
    return f"{text} ({'; '.join(facts)})".replace("%", "%%")
