"""Tests for python/ferrule/flags.py: what the parser records from argv, its usage errors, and
its help text. Converting the recorded values is config's (tests/python/unit/test_config.py)."""

from __future__ import annotations

import pytest
from ferrule import ConfigError
from ferrule.flags import Flags, build_parser, parse_flags


class Err:
    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Err({self.message!r})"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], Flags(given=(), help=False, version=False)),
        (["myapp:app"], Flags(given=(("app", "app", "myapp:app"),), help=False, version=False)),
        (["--threads", "0", "--threads=x"],
         Flags(given=(("threads", "--threads", "0"), ("threads", "--threads", "x")),
               help=False, version=False)),
        (["--keep-alive", "2"],
         Flags(given=(("keepalive_timeout", "--keep-alive", "2"),), help=False, version=False)),
        (["--preload"], Flags(given=(("preload", "--preload", "true"),), help=False, version=False)),
        (["-h"], Flags(given=(), help=True, version=False)),
        (["--version", "x:app"],
         Flags(given=(("app", "app", "x:app"),), help=False, version=True)),
        (["--thread", "2"], Err("Unknown flag '--thread'. Did you mean '--threads'?")),
        # An unknown flag is named alone: it never takes the next word (the app) with it.
        (["-x", "myapp:app"], Err("Unknown flag '-x'.")),
        (["--bogus=1", "myapp:app"], Err("Unknown flag '--bogus'.")),
        # gunicorn's flags are all known, with gunicorn's shapes.
        (["-k", "gthread", "myapp:app"],
         Flags(given=(("worker_class", "-k", "gthread"), ("app", "app", "myapp:app")),
               help=False, version=False)),
        (["--worker-tmp-dir", "/dev/shm", "myapp:app"],
         Flags(given=(("gunicorn:worker_tmp_dir", "--worker-tmp-dir", "/dev/shm"),
                      ("app", "app", "myapp:app")), help=False, version=False)),
        (["--no-sendfile", "-w4", "myapp:app"],
         Flags(given=(("sendfile", "--no-sendfile", False), ("workers", "-w", "4"),
                      ("app", "app", "myapp:app")), help=False, version=False)),
        (["--check-config", "myapp:app"],
         Flags(given=(("app", "app", "myapp:app"),), help=False, version=False,
               check_config=True)),
        (["--", "-w"], Flags(given=(("app", "app", "-w"),), help=False, version=False)),
        (["--threads"], Err("Argument --threads: expected one argument.")),
        (["--thr=2"], Err("Unknown flag '--thr'.")),  # no abbreviations
        (["a:app", "b:app"], Err("Unrecognized arguments: b:app.")),
    ],
)
def test_parse_flags_records_each_occurrence_as_written(argv: list[str], expected: object) -> None:
    if isinstance(expected, Err):
        with pytest.raises(ConfigError) as info:
            parse_flags(argv)
        assert str(info.value) == expected.message
    else:
        assert parse_flags(argv) == expected


def test_the_epilog_ends_the_help() -> None:
    assert build_parser(epilog="the end").format_help().endswith("\nthe end\n")


def test_parser_escapes_percent_signs_in_help() -> None:
    assert '%(h)s %(l)s' in build_parser().format_help()
