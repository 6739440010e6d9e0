"""Tests for python/ferrule/gunicorn.py: every gunicorn setting has exactly one answer, the
generated table (docs/gunicorn.md) is current, and every gunicorn spelling reaches config."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ferrule import ConfigError, gunicorn
from ferrule.config import Config
from ferrule.flags import parse_flags
from ferrule.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "gunicorn.md"


def load_script():
    spec = importlib.util.spec_from_file_location("gen_gunicorn_doc",
                                                  ROOT / "scripts" / "gen_gunicorn_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorns_list_is_read_from_its_data_file() -> None:
    assert gunicorn.GUNICORN_VERSION == "26.1.0"
    names = [row.name for row in gunicorn.GUNICORN]
    assert len(names) == len(set(names)) == 119
    assert gunicorn.by_name("timeout") == gunicorn.Gunicorn("timeout", ("-t", "--timeout"), "value")
    assert gunicorn.by_flag("--no-sendfile").shape == "switch"


@pytest.mark.parametrize("row", gunicorn.GUNICORN, ids=lambda row: row.name)
def test_every_gunicorn_setting_has_exactly_one_answer(row: gunicorn.Gunicorn) -> None:
    answer = gunicorn.answer(row)
    assert answer is not None, (
        f"gunicorn's {row.name} is missing from the table: claim it with a ferrule setting "
        "(Setting.gunicorn) or give it a line in gunicorn.STANCES")
    if isinstance(answer, gunicorn.Claimed):
        assert row.name not in gunicorn.STANCES, (
            f"gunicorn's {row.name} is claimed by ferrule's {answer.setting.name}: delete its "
            "line in gunicorn.STANCES")


def test_answers_and_conversions_name_gunicorn_settings() -> None:
    names = {row.name for row in gunicorn.GUNICORN}
    assert set(gunicorn.STANCES) <= names
    assert set(gunicorn.CONVERSIONS) <= names


def test_ferrules_gunicorn_spellings_are_gunicorns() -> None:
    flags = {flag for row in gunicorn.GUNICORN for flag in row.flags}
    names = {row.name for row in gunicorn.GUNICORN}
    # Accepted beyond gunicorn's own: the hyphenated spelling of its underscored flag.
    extra = {"--limit-request-field-size"}
    for setting in SETTINGS:
        for spelling in setting.gunicorn:
            assert spelling in (flags | names | extra), (setting.name, spelling)


@pytest.mark.parametrize("row", [row for row in gunicorn.GUNICORN if row.flags],
                         ids=lambda row: row.name)
def test_every_gunicorn_flag_is_known_with_gunicorns_shape(row: gunicorn.Gunicorn) -> None:
    for flag in row.flags:
        # An optional value is given attached, as gunicorn's own parser needs it before the app.
        argv = {"switch": [flag], "value": [flag, "1"], "optional": [f"{flag}=auto"]}[row.shape]
        flags = parse_flags([*argv, "myapp:app"])
        # The app stays the app, whatever the flag.
        assert flags.given[-1] == ("app", "app", "myapp:app")


def test_the_generated_table_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == load_script().render(), (
        "docs/gunicorn.md is stale; run: python scripts/gen_gunicorn_doc.py")


def test_the_table_lists_every_gunicorn_setting_once() -> None:
    text = DOC.read_text(encoding="utf-8")
    for row in gunicorn.GUNICORN:
        assert text.count(f"\n| `{row.name}` |") == 1, row.name


# ---- gunicorn's names as config-file keys (issue #13 item 5)

@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("timeout = 30", {"worker_timeout": 30.0}),
        ("keepalive = 4", {"keepalive_timeout": 4.0}),
        ("accesslog = '-'", {"access_log": "-"}),
        ("errorlog = '/tmp/e.log'", {"error_log": "/tmp/e.log"}),
        ("loglevel = 'debug'", {"log_level": "debug"}),
        ("preload_app = true", {"preload": True}),
        ("pidfile = '/tmp/x.pid'", {"pid_file": "/tmp/x.pid"}),
        ("worker_connections = 10", {"max_connections": 10}),
        ("limit_request_line = 2048", {"max_request_line_bytes": 2048}),
        ("wsgi_app = 'site:app'", {"app": "site:app"}),
        ("sendfile = false", {"sendfile": "off"}),
        ("raw_env = ['A=1']", {"env": (("A", "1"),)}),
        ("daemon = false", {"threads": 4}),  # asks for nothing: accepted
    ],
)
def test_gunicorn_names_work_as_toml_keys(tmp_path: Path, toml: str, expected: dict) -> None:
    (tmp_path / "ferrule.toml").write_text(toml + "\n")
    config = Config.load(["--config", str(tmp_path / "ferrule.toml")], env={})
    assert {name: getattr(config, name) for name in expected} == expected


def test_a_gunicorn_setting_ferrule_refuses_is_an_error_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ferrule.toml"
    path.write_text("daemon = true\n")
    with pytest.raises(ConfigError) as info:
        Config.load(["--config", str(path)], env={})
    assert str(info.value) == (
        f"daemon in {path} is not supported: ferrule does not daemonize: run it under systemd, "
        "supervisord or a container runtime (docs/deploy.md).")


# ---- gunicorn's ASGI, PasteDeploy, logging and TLS settings: refused as "planned" until
# issues #10-#16 brought what they ask for; now claimed, or answered with the reason.

@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--asgi-loop", "asyncio"], {"loop": "asyncio"}),
        (["--asgi-lifespan", "off"], {"lifespan": "off"}),
        (["--paste-global", "db=10.0.0.5", "--paste-global", "who=me"],
         {"paste_global": (("db", "10.0.0.5"), ("who", "me"))}),
    ],
)
def test_gunicorns_asgi_and_paste_flags_set_ferrules_settings(argv: list[str],
                                                               expected: dict) -> None:
    config = Config.load([*argv, "x:app"], env={})
    assert {name: getattr(config, name) for name in expected} == expected
    assert config.warnings() == ()


def test_gunicorns_names_in_a_gunicorn_conf_py_set_ferrules_settings(tmp_path: Path) -> None:
    path = tmp_path / "gunicorn.conf.py"
    path.write_text("asgi_loop = 'asyncio'\n"
                    "asgi_lifespan = 'on'\n"
                    "raw_paste_global_conf = ['db=10.0.0.5']\n"
                    "logconfig_dict = {'version': 1, 'root': {'level': 'INFO'}}\n")
    config = Config.load(["-c", str(path), "x:app"], env={})
    assert (config.loop, config.lifespan) == ("asyncio", "on")
    assert config.paste_global == (("db", "10.0.0.5"),)
    assert config.log_config_dict == {"version": 1, "root": {"level": "INFO"}}


def test_gunicorns_ssl_context_hook_is_refused_with_what_to_set_instead(tmp_path: Path) -> None:
    path = tmp_path / "gunicorn.conf.py"
    path.write_text("def ssl_context(conf, default_ssl_context_factory):\n"
                    "    return default_ssl_context_factory()\n")
    with pytest.raises(ConfigError) as info:
        Config.load(["-c", str(path), "x:app"], env={})
    assert str(info.value) == (
        f"ssl_context in {path} is not supported: ferrule's TLS is rustls, in its core, not "
        "Python's ssl module, so no SSLContext configures it; certfile, keyfile, ca_certs, "
        "cert_reqs and tls_min_version do (docs/tls.md).")


def test_gunicorns_backlog_metric_and_disconnect_grace_are_not_needed() -> None:
    config = Config.load(["--enable-backlog-metric", "--asgi-disconnect-grace-period", "5",
                          "x:app"], env={})
    assert config.warnings() == (
        "--enable-backlog-metric is not needed: the listen queue is always reported: statsd's "
        "gunicorn.backlog and Prometheus' ferrule_listen_queue; ignored.",
        "--asgi-disconnect-grace-period is not needed: an ASGI app whose client went away "
        "gets http.disconnect and runs on to its end, as under uvicorn: ferrule never cancels "
        "it for the disconnect (set request_timeout to bound a request); ignored.",
    )
