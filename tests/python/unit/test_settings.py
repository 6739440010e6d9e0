"""Tests for python/ferrule/settings/: the table's shape, value types, bind addresses."""

from __future__ import annotations

import os
from typing import Any

import pytest
from ferrule import settings
from ferrule.settings import SECTIONS, SETTINGS, InvalidValue, by_name, normalize_bind


class Err:
    """An expected InvalidValue: the broken rule and how the value is shown."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Err({self.message!r})"


def check_conversion(convert: Any, raw: object, expected: object) -> None:
    if isinstance(expected, Err):
        with pytest.raises(InvalidValue) as info:
            convert(raw)
        assert str(info.value) == expected.message
    else:
        assert convert(raw) == expected


# ---- The table

EXPECTED_DEFAULTS = {
    "app": None,
    "config": None,
    "chdir": None,
    "pythonpath": (),
    "env": (),
    "root_path": "",
    "interface": "auto",
    "loop": "auto",
    "lifespan": "auto",
    "paste": None,
    "paste_global": (),
    "bind": ("127.0.0.1:8000",),
    "threads": 4,
    "reuse_port": False,
    "ws_per_message_deflate": True,
    "http_protocols": "h2,h1",
    "http2_cleartext": "prior-knowledge",
    "sendfile": "auto",
    "sched_policy": "batch",
    "unix_socket_mode": 0o666,
    "pid_file": None,
    "user": None,
    "group": None,
    "umask": None,
    "certfile": None,
    "keyfile": None,
    "ca_certs": None,
    "cert_reqs": "none",
    "tls_min_version": "1.2",
    "ssl_version": "",
    "ciphers": "",
    "do_handshake_on_connect": False,
    "suppress_ragged_eofs": True,
    "static_map": (),
    "static_max_age": 3600.0,
    "static_index": None,
    "static_follow_symlinks": False,
    "forwarded_allow_ips": ("127.0.0.1", "::1"),
    "forwarded_headers": ("forwarded", "x-forwarded-for", "x-forwarded-proto"),
    "secure_scheme_headers": (("X-FORWARDED-PROTOCOL", "ssl"), ("X-FORWARDED-PROTO", "https"),
                              ("X-FORWARDED-SSL", "on")),
    "proxy_protocol": "off",
    "proxy_allow_ips": ("127.0.0.1", "::1"),
    "protocol": "http",
    "uwsgi_allow_ips": ("127.0.0.1", "::1"),
    "workers": 1,
    "worker_class": "gthread",
    "preload": False,
    "reload": False,
    "reload_engine": "auto",
    "reload_extra": (),
    "max_requests": 0,
    "max_requests_jitter": 0,
    "max_worker_lifetime": None,
    "max_worker_lifetime_jitter": 0.0,
    "max_worker_memory": None,
    "proc_name": None,
    "access_log": None,
    "access_log_format": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    "error_log": "-",
    "log_level": "info",
    "log_config": None,
    "log_config_json": None,
    "log_config_dict": None,
    "metrics_bind": None,
    "statsd_host": None,
    "statsd_prefix": "",
    "dogstatsd_tags": "",
    "http2_max_concurrent_streams": 100,
    "http2_initial_window_size": 65535,
    "max_request_line_bytes": 8 * 1024,
    "max_header_count": 100,
    "max_header_bytes": 8 * 1024,
    "max_head_bytes": 64 * 1024,
    "max_body_bytes": 1024**3,
    "ws_max_message_bytes": 16 * 1024 * 1024,
    "max_connections": 1000,
    "backlog": 2048,
    "header_timeout": 10.0,
    "body_timeout": 30.0,
    "keepalive_timeout": 5.0,
    "request_timeout": None,
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 20.0,
    "graceful_timeout": 30.0,
    "worker_timeout": 30.0,
    "shutdown_delay": 0.0,
    "send_timeout": 30.0,
    "on_starting": None,
    "on_reload": None,
    "when_ready": None,
    "pre_fork": None,
    "post_fork": None,
    "post_worker_init": None,
    "worker_int": None,
    "worker_abort": None,
    "pre_exec": None,
    "pre_request": None,
    "post_request": None,
    "child_exit": None,
    "worker_exit": None,
    "nworkers_changed": None,
    "on_exit": None,
}

HOOKS = {setting.name for setting in SETTINGS if setting.section == "Hooks"}

PYTHON_ONLY = {"app", "config", "chdir", "pythonpath", "paste", "paste_global", "preload", "umask", "reload",
               "reload_engine", "reload_extra", "ssl_version", "ciphers", "do_handshake_on_connect",
               "suppress_ragged_eofs", "log_config", "log_config_json", "log_config_dict", "env",
               "worker_class"} | HOOKS


def test_the_table_declares_exactly_the_expected_settings_in_order() -> None:
    assert [setting.name for setting in SETTINGS] == list(EXPECTED_DEFAULTS)


def test_each_section_module_declares_only_its_own_section() -> None:
    # SETTINGS joins the section modules in SECTIONS order: a setting filed in the wrong
    # module (or with the wrong `section`) breaks the grouping.
    sections = [setting.section for setting in SETTINGS]
    assert sections == sorted(sections, key=SECTIONS.index)
    assert set(sections) == set(SECTIONS)


@pytest.mark.parametrize(("name", "expected"), EXPECTED_DEFAULTS.items())
def test_default_converts_and_passes_its_own_checks(name: str, expected: object) -> None:
    setting = by_name(name)
    value = setting.default_value()
    assert value == expected
    setting.check(value)


def test_python_only_settings_are_exactly_the_command_ones() -> None:
    assert {setting.name for setting in SETTINGS if not setting.core} == PYTHON_ONLY


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_spellings_are_mechanical(setting: settings.Setting) -> None:
    assert setting.env == "FERRULE_" + setting.name.upper()
    assert setting.section in SECTIONS
    if setting.section == "Hooks":
        assert setting.flags == ()  # a config file or an env var names a hook
    elif setting.name != "app":
        assert "--" + setting.name.replace("_", "-") in setting.flags
    assert setting.help.endswith(".")


def test_every_flag_belongs_to_one_setting() -> None:
    spellings = [flag for setting in SETTINGS for flag in (*setting.flags, *setting.gunicorn)]
    assert len(spellings) == len(set(spellings))


@pytest.mark.parametrize(
    ("gunicorn_flag", "name"),
    [
        ("--access-logfile", "access_log"),
        ("--error-logfile", "error_log"),
        ("--log-file", "error_log"),
        ("--log-level", "log_level"),
        ("--chdir", "chdir"),
        ("--pythonpath", "pythonpath"),
        ("--threads", "threads"),
        ("--bind", "bind"),
        ("-b", "bind"),
        ("--backlog", "backlog"),
        ("--limit-request-line", "max_request_line_bytes"),
        ("--limit-request-fields", "max_header_count"),
        ("--limit-request-field_size", "max_header_bytes"),
        ("--keep-alive", "keepalive_timeout"),
        ("--access-logformat", "access_log_format"),
        ("-w", "workers"),
        ("--workers", "workers"),
        ("--preload", "preload"),
        ("--graceful-timeout", "graceful_timeout"),
        ("-t", "worker_timeout"),
        ("--timeout", "worker_timeout"),
        ("--max-requests", "max_requests"),
        ("--max-requests-jitter", "max_requests_jitter"),
        ("-n", "proc_name"),
        ("-p", "pid_file"),
        ("--pid", "pid_file"),
        ("-u", "user"),
        ("-g", "group"),
        ("-m", "umask"),
        ("--reuse-port", "reuse_port"),
        ("--name", "proc_name"),
    ],
)
def test_accepts_gunicorns_flag_spelling(gunicorn_flag: str, name: str) -> None:
    setting = by_name(name)
    assert gunicorn_flag in setting.flags + setting.gunicorn


def test_gunicorn_aliases_differ_from_our_flags() -> None:
    for setting in SETTINGS:
        assert not set(setting.gunicorn) & set(setting.flags), setting.name


# ---- Value types

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        ("30s", 30.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("1h30m10s250ms", 5410.25),
        (" 5s ", 5.0),
        ("0", 0.0),
        (30, 30.0),
        (2.5, 2.5),
        ("", Err("must be a duration like 30, 30s, 500ms or 1h30m, got ''")),
        ("abc", Err("must be a duration like 30, 30s, 500ms or 1h30m, got 'abc'")),
        ("5 s", Err("must be a duration like 30, 30s, 500ms or 1h30m, got '5 s'")),
        ("30m1h", Err("must be a duration like 30, 30s, 500ms or 1h30m, got '30m1h'")),
        ("-1", Err("must be a duration like 30, 30s, 500ms or 1h30m, got '-1'")),
        ("1d", Err("must be a duration like 30, 30s, 500ms or 1h30m, got '1d'")),
        (True, Err("must be a duration like 30, 30s, 500ms or 1h30m, got True")),
        ([1], Err("must be a duration like 30, 30s, 500ms or 1h30m, got [1]")),
    ],
)
def test_duration_converts_to_float_seconds(raw: object, expected: object) -> None:
    check_conversion(settings.DURATION.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8192", 8192),
        ("8KiB", 8192),
        ("8 KiB", 8192),
        ("8kib", 8192),
        ("1MiB", 1024**2),
        ("1GiB", 1024**3),
        ("1TiB", 1024**4),
        ("1kB", 1000),
        ("1KB", 1000),
        ("2MB", 2_000_000),
        ("1GB", 10**9),
        ("10B", 10),
        ("1.5KiB", 1536),
        ("0", 0),
        (4096, 4096),
        ("1.0001KiB", Err("must be a whole number of bytes, got '1.0001KiB'")),
        ("8k", Err("must be a size like 8192, 8KiB or 1MiB, got '8k'")),
        ("-1", Err("must be a size like 8192, 8KiB or 1MiB, got '-1'")),
        ("", Err("must be a size like 8192, 8KiB or 1MiB, got ''")),
        (1.5, Err("must be a size like 8192, 8KiB or 1MiB, got 1.5")),
        (False, Err("must be a size like 8192, 8KiB or 1MiB, got False")),
    ],
)
def test_byte_size_converts_to_int_bytes(raw: object, expected: object) -> None:
    check_conversion(settings.BYTE_SIZE.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4", 4),
        (" 4 ", 4),
        ("-3", -3),
        (7, 7),
        ("x", Err("must be an integer, got 'x'")),
        ("4.0", Err("must be an integer, got '4.0'")),
        ("1_000", Err("must be an integer, got '1_000'")),
        ("", Err("must be an integer, got ''")),
        (True, Err("must be an integer, got True")),
        (4.0, Err("must be an integer, got 4.0")),
    ],
)
def test_int_accepts_only_integers(raw: object, expected: object) -> None:
    check_conversion(settings.INT.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True), ("Yes", True), ("on", True), ("1", True), (True, True),
        ("false", False), ("NO", False), ("off", False), ("0", False), (False, False),
        ("maybe", Err("must be true or false, got 'maybe'")),
        (1, Err("must be true or false, got 1")),
    ],
)
def test_bool_accepts_the_usual_words(raw: object, expected: object) -> None:
    check_conversion(settings.BOOL.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("debug", "debug"),
        ("WARNING", "warning"),
        ("warn", Err("must be one of debug, info, warning, error, critical, got 'warn'")),
        (1, Err("must be one of debug, info, warning, error, critical, got 1")),
    ],
)
def test_log_level_is_one_of_the_names(raw: object, expected: object) -> None:
    check_conversion(by_name("log_level").type.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("-", "-"),
        ("/var/log/access.log", "/var/log/access.log"),
        ("", None),
        (None, None),
        (3, Err("must be a string, got 3")),
    ],
)
def test_optional_string_treats_empty_as_off(raw: object, expected: object) -> None:
    check_conversion(settings.OPTIONAL_STR.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a,b", ("a", "b")),
        (" a , b ,", ("a", "b")),
        ("", ()),
        (["a", "b"], ("a", "b")),
        (("a",), ("a",)),
        ([1], Err("must be a list of strings, got [1]")),
        (5, Err("must be a list of strings, got 5")),
    ],
)
def test_list_splits_text_on_commas(raw: object, expected: object) -> None:
    check_conversion(by_name("pythonpath").type.convert, raw, expected)


# ---- Bind addresses

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:8000", "127.0.0.1:8000"),
        ("0.0.0.0:0", "0.0.0.0:0"),
        ("localhost", "localhost:8000"),
        ("LocalHost:80", "localhost:80"),
        ("example.com:443", "example.com:443"),
        (":9000", "0.0.0.0:9000"),
        ("[::1]:8000", "[::1]:8000"),
        ("[::1]", "[::1]:8000"),
        ("[0:0:0:0:0:0:0:1]:80", "[::1]:80"),
        ("[::]:65535", "[::]:65535"),
        ("unix:/tmp/x.sock", "unix:/tmp/x.sock"),
        ("unix:relative.sock", "unix:relative.sock"),
        ("fd://3", "fd://3"),
        ("fd://03", "fd://3"),
        ("fd://x", Err("must name a file descriptor number after 'fd://', got 'fd://x'")),
        ("fd://", Err("must name a file descriptor number after 'fd://', got 'fd://'")),
        (" 127.0.0.1:8000 ", "127.0.0.1:8000"),
        ("::1", Err("must put an IPv6 address in brackets, like [::1]:8000, got '::1'")),
        ("::1:8000", Err("must put an IPv6 address in brackets, like [::1]:8000, got '::1:8000'")),
        ("127.0.0.1:65536", Err("must have a port between 0 and 65535, got '127.0.0.1:65536'")),
        ("127.0.0.1:", Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got '127.0.0.1:'")),
        ("127.0.0.1:http",
         Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got '127.0.0.1:http'")),
        ("127.0.0.1:-1", Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got '127.0.0.1:-1'")),
        ("", Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got ''")),
        ("my host:80", Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got 'my host:80'")),
        ("256.1.1.1:80", Err("must have a valid IPv4 address, got '256.1.1.1:80'")),
        ("[::1", Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got '[::1'")),
        ("[::1]8000", Err("must be HOST:PORT, [IPv6]:PORT or unix:PATH, got '[::1]8000'")),
        ("[nope]:80", Err("must have an IPv6 address inside [brackets], got '[nope]:80'")),
        ("unix:", Err("must name a socket path after 'unix:', got 'unix:'")),
        ("https://x:443", Err("must not be https:// (write HOST:PORT), got 'https://x:443'")),
    ],
)
def test_bind_addresses_are_normalised(raw: str, expected: object) -> None:
    check_conversion(normalize_bind, raw, expected)


@pytest.mark.parametrize(("name", "rule"), [
    # Only `bind` serves TLS: the metrics listener is plain HTTP, statsd a UDP client.
    ("bind", "must not be https://: bind HOST:PORT and give certfile and keyfile, which serve "
             "TLS on every TCP address"),
    ("metrics_bind", "must not be https:// (write HOST:PORT)"),
    ("statsd_host", "must not be https:// (write HOST:PORT)"),
])
def test_an_https_address_is_refused_with_what_the_setting_needs(name: str, rule: str) -> None:
    with pytest.raises(InvalidValue) as info:
        by_name(name).type.convert("https://127.0.0.1:9000")
    assert info.value.rule == rule


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (("127.0.0.1:8000", "[::1]:8000"), None),
        ((), "must name at least one address, got []"),
        (("127.0.0.1:8000", "127.0.0.1:8000"),
         "must not name the same address twice, got ['127.0.0.1:8000', '127.0.0.1:8000']"),
    ],
)
def test_bind_needs_distinct_addresses(value: tuple[str, ...], expected: str | None) -> None:
    if expected is None:
        by_name("bind").check(value)
    else:
        with pytest.raises(InvalidValue) as info:
            by_name("bind").check(value)
        assert str(info.value) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4", 4),
        (2, 2),
        ("auto", len(os.sched_getaffinity(0))),
        (" AUTO ", len(os.sched_getaffinity(0))),
        ("many", Err("must be an integer or auto, got 'many'")),
        (True, Err("must be an integer or auto, got True")),
    ],
)
def test_workers_take_a_count_or_auto(raw: object, expected: object) -> None:
    check_conversion(by_name("workers").type.convert, raw, expected)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("max_worker_lifetime", "", None),
        ("max_worker_lifetime", None, None),
        ("max_worker_lifetime", "1h", 3600.0),
        ("max_worker_lifetime", "soon", Err("must be a duration like 30, 30s, 500ms or 1h30m, "
                                            "got 'soon'")),
        ("max_worker_memory", "", None),
        ("max_worker_memory", "512MiB", 512 * 1024**2),
    ],
)
def test_optional_values_treat_empty_as_off(name: str, raw: object, expected: object) -> None:
    check_conversion(by_name(name).type.convert, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0660", 0o660),
        ("0o660", 0o660),
        ("660", 0o660),
        (0o600, 0o600),
        ("", None),
        ("0668", Err("must be an octal mode like 0660, got '0668'")),
        ("rw", Err("must be an octal mode like 0660, got 'rw'")),
    ],
)
def test_modes_are_octal(raw: object, expected: object) -> None:
    check_conversion(by_name("unix_socket_mode").type.convert, raw, expected)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("user", "root", 0),
        ("user", "0", 0),
        ("user", 1000, 1000),
        ("user", "", None),
        ("user", "no-such-user-here", Err("must name an existing user, got 'no-such-user-here'")),
        ("group", "root", 0),
        ("group", "no-such-group", Err("must name an existing group, got 'no-such-group'")),
    ],
)
def test_accounts_resolve_to_ids(name: str, raw: object, expected: object) -> None:
    check_conversion(by_name(name).type.convert, raw, expected)


# ---- Checks on converted values

@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("threads", 1, None),
        ("threads", 0, "must be >= 1, got 0"),
        ("threads", 2**31, "must be <= 2147483647, got 2147483648"),
        ("max_body_bytes", 0, None),
        ("max_body_bytes", -1, "must be >= 0, got -1"),
        ("max_header_bytes", 0, "must be >= 1, got 0"),
        ("header_timeout", 0.001, None),
        ("header_timeout", 0.0, "must be > 0, got 0s"),
        ("keepalive_timeout", 86400.0, None),
        ("keepalive_timeout", 90000.0, "must be <= 24h, got 90000s"),
        ("send_timeout", float("inf"), "must be <= 24h, got inf"),
        ("send_timeout", float("nan"), "must be > 0, got nan"),
        ("root_path", "", None),
        ("root_path", "/api", None),
        ("root_path", "api", "must be empty or start with '/' and not end with '/', got 'api'"),
        ("root_path", "/api/", "must be empty or start with '/' and not end with '/', got '/api/'"),
        ("root_path", "/", "must be empty or start with '/' and not end with '/', got '/'"),
        ("error_log", "", "must not be empty, got ''"),
        ("chdir", "/", None),
        ("chdir", "/no/such/dir", "must be an existing directory, got '/no/such/dir'"),
        ("workers", 1, None),
        ("workers", 0, "must be >= 1, got 0"),
        ("workers", 1025, "must be <= 1024, got 1025"),
        ("max_requests", 0, None),
        ("max_requests", -1, "must be >= 0, got -1"),
        ("max_worker_lifetime", None, None),
        ("max_worker_lifetime", 0.0, "must be > 0, got 0s"),
        ("max_worker_memory", 0, "must be >= 1, got 0"),
        ("graceful_timeout", 0.0, "must be > 0, got 0s"),
    ],
)
def test_checks_name_the_broken_rule(name: str, value: object, expected: str | None) -> None:
    if expected is None:
        by_name(name).check(value)
    else:
        with pytest.raises(InvalidValue) as info:
            by_name(name).check(value)
        assert str(info.value) == expected


# ---- Drift guard against the compiled core

def test_core_settings_match_the_names_the_compiled_core_extracts() -> None:
    from ferrule import _ferrule as core

    assert {setting.name for setting in SETTINGS if setting.core} == set(core.CORE_SETTINGS)


def test_core_choices_match_the_names_the_compiled_core_accepts() -> None:
    from ferrule import _ferrule as core

    declared = {setting.name: tuple(setting.type.choices) for setting in SETTINGS
                if setting.core and hasattr(setting.type, "choices")}
    assert declared == dict(core.CORE_CHOICES)


def test_core_defaults_match_the_defaults_declared_here() -> None:
    from ferrule import _ferrule as core
    from ferrule.config import Config

    expected = Config().to_core()
    del expected["bind"]
    assert core.core_defaults() == expected


#: A value for every core setting, each different from its default and from the others of
#: its type, so that a setting converted into another's field shows in the round trip.
_EVERY_CORE_SETTING_CHANGED = {
    "bind": ["127.0.0.1:9001", "[::1]:9002", "unix:/tmp/ferrule-drift.sock", "fd://5"],
    "threads": 3,
    "root_path": "/api",
    "access_log": "-",
    "access_log_format": "%(h)s %(s)s",
    "error_log": "/tmp/ferrule-drift.log",
    "log_level": "debug",
    "max_request_line_bytes": 1001,
    "max_header_count": 11,
    "max_header_bytes": 1002,
    "max_head_bytes": 1003,
    "max_body_bytes": 1004,
    "max_connections": 12,
    "backlog": 13,
    "header_timeout": 1.5,
    "body_timeout": 2.5,
    "keepalive_timeout": 3.5,
    "send_timeout": 4.5,
    "graceful_timeout": 5.5,
    "worker_timeout": 6.5,
    "request_timeout": 7.5,
    "workers": 2,
    "max_requests": 14,
    "max_requests_jitter": 15,
    "max_worker_lifetime": 8.5,
    "max_worker_lifetime_jitter": 9.5,
    "max_worker_memory": 1005,
    "proc_name": "drift",
    "pid_file": "/tmp/ferrule-drift.pid",
    "user": 1,
    "group": 2,
    "reuse_port": True,
    "unix_socket_mode": 0o660,
    "sendfile": "off",
    "sched_policy": "normal",
    "certfile": "/tmp/ferrule-drift.crt",
    "keyfile": "/tmp/ferrule-drift.key",
    "ca_certs": "/tmp/ferrule-drift-ca.pem",
    "cert_reqs": "required",
    "tls_min_version": "1.3",
    "interface": "asgi",
    "loop": "asyncio",
    "lifespan": "on",
    "metrics_bind": "127.0.0.1:9102",
    "shutdown_delay": 10.5,
    "statsd_host": "127.0.0.1:9125",
    "statsd_prefix": "drift",
    "dogstatsd_tags": "env:drift",
    "static_map": ["/static=./static", "/=site;max_age=0"],
    "static_max_age": 120.0,
    "static_index": "index.html",
    "static_follow_symlinks": True,
    "forwarded_allow_ips": ["10.0.0.0/8", "fd00::/8", "192.0.2.1"],
    "forwarded_headers": ["x-forwarded-for", "x-forwarded-host", "x-forwarded-prefix"],
    "secure_scheme_headers": {"X-SCHEME": "secure"},
    "proxy_protocol": "v2",
    "proxy_allow_ips": ["*"],
    "protocol": "uwsgi",
    "uwsgi_allow_ips": ["10.1.0.0/16"],
    "ws_max_message_bytes": 1006,
    "ws_ping_interval": 10.5,
    "ws_ping_timeout": 11.5,
    "ws_per_message_deflate": False,
    "http_protocols": "h1,h2",
    "http2_cleartext": "off",
    "http2_max_concurrent_streams": 7,
    "http2_initial_window_size": 1 << 20,
}


@pytest.mark.parametrize("changed", [False, True], ids=["defaults", "every-setting-changed"])
def test_every_core_setting_reaches_its_own_field(changed: bool) -> None:
    from ferrule import _ferrule as core
    from ferrule.config import Config

    if changed:
        assert set(_EVERY_CORE_SETTING_CHANGED) == set(core.CORE_SETTINGS)
    config = Config(**_EVERY_CORE_SETTING_CHANGED) if changed else Config()
    settings = config.to_core()
    assert core.core_round_trip(settings) == settings


@pytest.mark.parametrize(("raw", "expected"), [
    ("h2,h1", "h2,h1"), ("h2, h1", "h2,h1"), (" H1 ", "h1"), (["h1", "h2"], "h1,h2"),
    ("h2", Err("must be h1, h2,h1 or h1,h2 (HTTP/1.1 cannot be left out), got 'h2'")),
    ("h3,h1", Err("must be h1, h2,h1 or h1,h2 (HTTP/1.1 cannot be left out), got 'h3,h1'")),
])
def test_http_protocols_takes_gunicorns_list(raw: object, expected: object) -> None:
    check_conversion(by_name("http_protocols").type.convert, raw, expected)


@pytest.mark.parametrize(("raw", "expected"), [
    ("prior-knowledge", "prior-knowledge"), ("OFF", "off"),
    ("upgrade", Err("must be prior-knowledge or off (the HTTP/1.1 Upgrade: h2c handshake is not "
                    "served: RFC 9113 deprecates it, and every h2c client and proxy speaks prior "
                    "knowledge), got 'upgrade'")),
    ("yes", Err("must be prior-knowledge or off, got 'yes'")),
])
def test_http2_cleartext_refuses_the_upgrade_handshake(raw: object, expected: object) -> None:
    check_conversion(by_name("http2_cleartext").type.convert, raw, expected)


@pytest.mark.parametrize(("raw", "expected"), [
    (0, "none"), (1, "optional"), (2, "required"), ("2", "required"), (" Optional ", "optional"),
    ("none", "none"), (3, Err("must be 0 (none), 1 (optional) or 2 (required), got 3")),
    ("yes", Err("must be 0 (none), 1 (optional) or 2 (required), got 'yes'")),
    (True, Err("must be 0 (none), 1 (optional) or 2 (required), got True")),
])
def test_cert_reqs_takes_gunicorns_numbers_or_names(raw: object, expected: object) -> None:
    cert_reqs = by_name("cert_reqs").type
    if isinstance(expected, Err):
        with pytest.raises(InvalidValue) as info:
            cert_reqs.convert(raw)
        assert str(info.value) == expected.message
    else:
        assert cert_reqs.convert(raw) == expected
# ---- Static mounts

@pytest.mark.parametrize(("text", "expected"), [
    ("/static=./static", "/static=./static"),
    (" /static/=static ", "/static=static"),
    ("/=site", "/=site"),
    ("/media=/srv/media;max_age=0", "/media=/srv/media;max_age=0"),
    ("/media=media;max_age=1h30m", "/media=media;max_age=5400"),
    ("/a=dir;with;semicolons", "/a=dir;with;semicolons"),
    ("/static", InvalidValue("must be URL_PREFIX=DIRECTORY, e.g. /static=./static", "'/static'")),
    ("/static=", InvalidValue("must be URL_PREFIX=DIRECTORY, e.g. /static=./static", "'/static='")),
    ("static=dir", InvalidValue(
        "must start with a URL path of plain characters (no %, ?, # or dot segments) before '='",
        "'static=dir'")),
    ("/st%61tic=dir", InvalidValue(
        "must start with a URL path of plain characters (no %, ?, # or dot segments) before '='",
        "'/st%61tic=dir'")),
    ("/a/../b=dir", InvalidValue(
        "must start with a URL path of plain characters (no %, ?, # or dot segments) before '='",
        "'/a/../b=dir'")),
    ("/s=d;max_age=soon", InvalidValue("must give max_age as a duration like 60s or 1h",
                                       "'/s=d;max_age=soon'")),
    ("/s=d;max_age=3650d1h", InvalidValue("must give max_age as a duration like 60s or 1h",
                                          "'/s=d;max_age=3650d1h'")),
    ("/s=d;max_age=100000h", InvalidValue("must give a max_age of at most 10 years",
                                          "'/s=d;max_age=100000h'")),
])
def test_normalize_static_mount(text: str, expected: object) -> None:
    from ferrule.settings import normalize_static_mount

    if isinstance(expected, InvalidValue):
        with pytest.raises(InvalidValue) as info:
            normalize_static_mount(text)
        assert (info.value.rule, info.value.got) == (expected.rule, expected.got)
    else:
        assert normalize_static_mount(text) == expected


def test_static_map_refuses_the_same_prefix_twice() -> None:
    from ferrule.config import Config
    from ferrule.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Config.load(["--static-map", "/s=a", "--static-map", "/s/=b", "app:app"], env={})
    assert str(info.value) == (
        "--static-map must not mount the same URL prefix twice, got ['/s=a', '/s=b']"
    )


def test_static_and_paste_settings_come_from_env_and_config_files(tmp_path) -> None:
    from ferrule.config import Config

    toml = tmp_path / "ferrule.toml"
    toml.write_text('static_map = ["/static=./static", "/media=./media;max_age=0"]\n'
                    'static_index = "index.html"\nstatic_follow_symlinks = true\n')
    config = Config.load(["--config", str(toml), "app:app"],
                         env={"FERRULE_STATIC_MAX_AGE": "10m", "FERRULE_PASTE": "dev.ini"})
    assert config.static_map == ("/static=./static", "/media=./media;max_age=0")
    assert (config.static_index, config.static_follow_symlinks) == ("index.html", True)
    assert config.static_max_age == 600.0
    assert config.paste == "dev.ini"
    from_env = Config.load(["app:app"], env={"FERRULE_STATIC_MAP": "/a=x, /b=y;max_age=1h"})
    assert from_env.static_map == ("/a=x", "/b=y;max_age=3600")
