"""ferrule.paste: the keys of a PasteDeploy server section as settings, and where they rank
among the other sources (`ferrule --paste`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from ferrule.cli import _load_config
from ferrule.errors import ConfigError
from ferrule.paste import (
    absolute,
    server_settings,
    settings_from_section,
    setup_logging,
    split_uri,
)

WHERE = "[server:main] of x.ini"


@pytest.mark.parametrize(("conf", "expected"), [
    ({"threads": "8"}, [("threads", "threads in " + WHERE, "8")]),
    ({"keep_alive": "7"}, [("keepalive_timeout", "keep_alive in " + WHERE, "7")]),
    ({"access_logfile": "-"}, [("access_log", "access_logfile in " + WHERE, "-")]),
    ({"limit_request_line": "4096"},
     [("max_request_line_bytes", "limit_request_line in " + WHERE, "4096")]),
    ({"host": "0.0.0.0", "port": "6543"}, [("bind", "host/port in " + WHERE, "0.0.0.0:6543")]),
    ({"port": "6543"}, [("bind", "host/port in " + WHERE, "127.0.0.1:6543")]),
    ({"listen": "localhost:6543 [::1]:6543"},
     [("bind", "listen in " + WHERE, "localhost:6543,[::1]:6543")]),
    ({"use": "egg:ferrule", "here": "/x", "__file__": "/x/x.ini"}, []),
])
def test_section_keys_become_settings(conf, expected):
    assert settings_from_section(conf, WHERE, strict=True) == expected


@pytest.mark.parametrize(("conf", "message"), [
    ({"thredas": "8"}, "Unknown setting 'thredas' in [server:main] of x.ini."),
    ({"preload": "true"}, "Setting 'preload' cannot be set in [server:main] of x.ini."),
    ({"paste": "other.ini"}, "Setting 'paste' cannot be set in [server:main] of x.ini."),
])
def test_bad_keys_are_config_errors(conf, message):
    with pytest.raises(ConfigError) as info:
        settings_from_section(conf, WHERE, strict=True)
    assert str(info.value) == message


def test_another_servers_keys_are_skipped():
    conf = {"use": "egg:waitress#main", "listen": "localhost:6543", "url_scheme": "https",
            "threads": "6"}
    assert settings_from_section(conf, WHERE, strict=False) == [
        ("bind", "listen in " + WHERE, "localhost:6543"),
        ("threads", "threads in " + WHERE, "6"),
    ]


def test_uris_name_a_file_and_an_app_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert split_uri("development.ini") == (str(tmp_path / "development.ini"), "main")
    assert split_uri("a/production.ini#admin") == (str(tmp_path / "a/production.ini"), "admin")
    assert absolute("p.ini#admin") == f"{tmp_path / 'p.ini'}#admin"


def write_ini(tmp_path: Path, server: str) -> str:
    ini = tmp_path / "development.ini"
    ini.write_text("[app:main]\nuse = call:x:main\n\n[server:main]\n" + server)
    return str(ini)


def test_server_section_keys_interpolate_here(tmp_path):
    ini = write_ini(tmp_path, "use = egg:ferrule\nstatic_map = /static=%(here)s/static\n")
    assert server_settings(ini) == [
        ("static_map", f"static_map in [server:main] of {ini}", f"/static={tmp_path}/static"),
    ]


def test_an_ini_without_a_server_section_has_no_settings(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:x:main\n")
    assert server_settings(str(ini)) == []


def test_the_server_section_ranks_below_env_and_flags(tmp_path, monkeypatch):
    ini = write_ini(tmp_path, "use = egg:ferrule\nthreads = 8\nbacklog = 99\nworkers = 2\n")
    monkeypatch.setenv("FERRULE_BACKLOG", "77")
    config = _load_config(["--paste", ini, "--threads", "3"])
    assert (config.threads, config.backlog, config.workers) == (3, 77, 2)


def test_a_bad_value_in_the_server_section_names_the_ini(tmp_path):
    ini = write_ini(tmp_path, "use = egg:ferrule\nthreads = none\n")
    with pytest.raises(ConfigError) as info:
        _load_config(["--paste", ini])
    assert str(info.value) == (
        f"threads in [server:main] of {ini} must be an integer, got 'none'")


def test_paste_global_fills_the_server_section_below_the_inis_default(tmp_path):
    # `--paste-global KEY=VALUE` (gunicorn's raw_paste_global_conf, pserve's KEY=VALUE) fills
    # `%(KEY)s`; the ini's own [DEFAULT] keeps its value, as in PasteDeploy.
    ini = tmp_path / "development.ini"
    ini.write_text("[DEFAULT]\nn_workers = 2\n\n[app:main]\nuse = call:x:main\n\n"
                   "[server:main]\nuse = egg:ferrule\nthreads = %(n_threads)s\n"
                   "workers = %(n_workers)s\n")
    config = _load_config(["--paste", str(ini), "--paste-global", "n_threads=6",
                           "--paste-global", "n_workers=5"])
    assert (config.threads, config.workers) == (6, 2)
    assert config.paste_global == (("n_threads", "6"), ("n_workers", "5"))


def test_a_variable_no_one_gave_is_a_config_error_naming_the_flag(tmp_path):
    ini = write_ini(tmp_path, "use = egg:ferrule\nthreads = %(n_threads)s\n")
    with pytest.raises(ConfigError) as info:
        _load_config(["--paste", ini])
    assert str(info.value) == (
        f"[server:main] of {ini}: threads uses %(n_threads)s, which is not set; give it with "
        "--paste-global n_threads=VALUE")


def test_a_broken_logging_section_is_a_config_error(tmp_path):
    ini = write_ini(tmp_path, "use = egg:ferrule\n")
    with open(ini, "a") as file:
        file.write("\n[loggers]\nkeys = root\n\n[handlers]\nkeys = console\n\n"
                   "[formatters]\nkeys =\n\n[logger_root]\nlevel = %(lvl)s\nhandlers = console\n\n"
                   "[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\n")
    with pytest.raises(ConfigError) as info:
        setup_logging(ini)
    assert str(info.value) == (
        f"The logging sections of {ini}: level uses %(lvl)s, which is not set; give it with "
        "--paste-global lvl=VALUE")
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    try:
        setup_logging(ini, [("LVL", "WARNING")])  # upper case in the flag, lower in the ini
        assert root.level == logging.WARNING
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def test_paste_global_cannot_be_set_in_the_server_section():
    with pytest.raises(ConfigError) as info:
        settings_from_section({"paste_global": "a=b"}, WHERE, strict=True)
    assert str(info.value) == f"Setting 'paste_global' cannot be set in {WHERE}."
