"""Tests for python/ferrule/config.py: sources, precedence, messages, the core dict."""

from __future__ import annotations

from pathlib import Path

import pytest
from ferrule import Config, ConfigError
from ferrule.config import config_fields
from ferrule.settings import SETTINGS


class Err:
    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Err({self.message!r})"


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_config_has_one_attribute_per_setting_in_table_order() -> None:
    assert config_fields() == tuple(setting.name for setting in SETTINGS)


def test_config_is_immutable() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.threads = 8  # type: ignore[misc]


# ---- The dict handed to the core

def test_rust_side_dict_holds_exactly_the_settings_it_reads() -> None:
    assert Config().to_core() == {
        "root_path": "",
        "interface": "auto",
        "loop": "auto",
        "lifespan": "auto",
        "ws_max_message_bytes": 16 * 1024 * 1024,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "ws_per_message_deflate": True,
        "http_protocols": "h2,h1",
        "http2_cleartext": "prior-knowledge",
        "http2_max_concurrent_streams": 100,
        "http2_initial_window_size": 65535,
        "bind": ["127.0.0.1:8000"],
        "threads": 4,
        "reuse_port": False,
        "sendfile": "auto",
        "sched_policy": "batch",
        "unix_socket_mode": 0o666,
        "pid_file": None,
        "user": None,
        "group": None,
        "certfile": None,
        "keyfile": None,
        "ca_certs": None,
        "cert_reqs": "none",
        "tls_min_version": "1.2",
        "static_map": [],
        "static_max_age": 3600.0,
        "static_index": None,
        "static_follow_symlinks": False,
        "forwarded_allow_ips": ["127.0.0.1", "::1"],
        "forwarded_headers": ["forwarded", "x-forwarded-for", "x-forwarded-proto"],
        "secure_scheme_headers": [("X-FORWARDED-PROTOCOL", "ssl"), ("X-FORWARDED-PROTO", "https"),
                                  ("X-FORWARDED-SSL", "on")],
        "proxy_protocol": "off",
        "proxy_allow_ips": ["127.0.0.1", "::1"],
        "protocol": "http",
        "uwsgi_allow_ips": ["127.0.0.1", "::1"],
        "workers": 1,
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
        "metrics_bind": None,
        "statsd_host": None,
        "statsd_prefix": "",
        "dogstatsd_tags": "",
        "max_request_line_bytes": 8192,
        "max_header_count": 100,
        "max_header_bytes": 8192,
        "max_head_bytes": 65536,
        "max_body_bytes": 1073741824,
        "max_connections": 1000,
        "backlog": 2048,
        "header_timeout": 10.0,
        "body_timeout": 30.0,
        "keepalive_timeout": 5.0,
        "request_timeout": None,
        "graceful_timeout": 30.0,
        "worker_timeout": 30.0,
        "shutdown_delay": 0.0,
        "send_timeout": 30.0,
    }


def test_rust_side_dict_value_types_follow_the_contract() -> None:
    core = Config(access_log="-", bind="[::1]:0,unix:/tmp/f.sock", max_worker_lifetime="1h",
                  max_worker_memory="512MiB", proc_name="site",
                  request_timeout="10s", unix_socket_mode="0660", pid_file="/run/x.pid",
                  user=1000, group=1000, certfile="/etc/x.crt", keyfile="/etc/x.key",
                  ca_certs="/etc/ca.pem", cert_reqs=2, metrics_bind="127.0.0.1:9100",
                  statsd_host="localhost", shutdown_delay="5s", static_map="/static=s",
                  static_index="index.html").to_core()
    expected_types = {
        "bind": list, "root_path": str, "access_log": str, "access_log_format": str,
        "error_log": str, "log_level": str, "threads": int, "max_request_line_bytes": int,
        "max_header_count": int, "max_header_bytes": int, "max_head_bytes": int,
        "max_body_bytes": int, "max_connections": int, "backlog": int,
        "header_timeout": float, "body_timeout": float, "keepalive_timeout": float,
        "send_timeout": float, "graceful_timeout": float, "worker_timeout": float,
        "workers": int, "max_requests": int, "max_requests_jitter": int,
        "max_worker_lifetime": float, "max_worker_lifetime_jitter": float,
        "max_worker_memory": int, "proc_name": str, "request_timeout": float,
        "reuse_port": bool, "sendfile": str, "sched_policy": str, "unix_socket_mode": int,
        "pid_file": str, "user": int, "group": int, "certfile": str, "keyfile": str,
        "ca_certs": str, "cert_reqs": str, "tls_min_version": str,
        "interface": str, "loop": str, "lifespan": str,
        "metrics_bind": str, "statsd_host": str,
        "statsd_prefix": str, "dogstatsd_tags": str, "shutdown_delay": float,
        "static_map": list,
        "static_max_age": float, "static_index": str, "static_follow_symlinks": bool,
        "forwarded_allow_ips": list,
        "forwarded_headers": list, "secure_scheme_headers": list, "proxy_protocol": str,
        "proxy_allow_ips": list, "protocol": str, "uwsgi_allow_ips": list,
        "ws_max_message_bytes": int, "ws_ping_interval": float, "ws_ping_timeout": float,
        "ws_per_message_deflate": bool,
        "http_protocols": str, "http2_cleartext": str, "http2_max_concurrent_streams": int,
        "http2_initial_window_size": int,
    }
    assert {name: type(value) for name, value in core.items()} == expected_types
    assert core["bind"] == ["[::1]:0", "unix:/tmp/f.sock"]
    assert core["statsd_host"] == "localhost:8125"


# ---- Config(**settings): keyword values, written as in a config file

@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"threads": 8}, {"threads": 8}),
        ({"threads": "8"}, {"threads": 8}),
        ({"bind": "127.0.0.1:9000"}, {"bind": ("127.0.0.1:9000",)}),
        ({"bind": ["localhost", ":80"]}, {"bind": ("localhost:8000", "0.0.0.0:80")}),
        ({"max_body_bytes": "1MiB"}, {"max_body_bytes": 1048576}),
        ({"max_body_bytes": 0}, {"max_body_bytes": 0}),
        ({"header_timeout": "500ms"}, {"header_timeout": 0.5}),
        ({"header_timeout": 3}, {"header_timeout": 3.0}),
        ({"access_log": None}, {"access_log": None}),
        ({"access_log": "-"}, {"access_log": "-"}),
        ({"log_level": "DEBUG"}, {"log_level": "debug"}),
        ({"root_path": "/api"}, {"root_path": "/api"}),
        ({"metrics_bind": ":9100"}, {"metrics_bind": "0.0.0.0:9100"}),
        ({"metrics_bind": ""}, {"metrics_bind": None}),
        ({"statsd_host": "unix:///run/statsd.sock"}, {"statsd_host": "unix:/run/statsd.sock"}),
        ({"statsd_host": "[::1]"}, {"statsd_host": "[::1]:8125"}),
        ({"shutdown_delay": "5s"}, {"shutdown_delay": 5.0}),
        ({"statsd_host": "h:0"}, Err("statsd_host must have a port between 1 and 65535, got 'h:0'")),
        ({"statsd_host": "fd://3"}, Err("statsd_host must be HOST:PORT or unix:PATH, got 'fd://3'")),
        ({"metrics_bind": "::1"},
         Err("metrics_bind must put an IPv6 address in brackets, like [::1]:8000, got '::1'")),
        ({"threads": 0}, Err("threads must be >= 1, got 0")),
        ({"threads": "x"}, Err("threads must be an integer, got 'x'")),
        ({"threads": True}, Err("threads must be an integer, got True")),
        ({"bind": ""}, Err("bind must name at least one address, got []")),
        ({"bind": "::1"},
         Err("bind must put an IPv6 address in brackets, like [::1]:8000, got '::1'")),
        ({"header_timeout": 0}, Err("header_timeout must be > 0, got 0s")),
        ({"root_path": "/api/"},
         Err("root_path must be empty or start with '/' and not end with '/', got '/api/'")),
        ({"thread": 4}, Err("Unknown setting 'thread'. Did you mean 'threads'?")),
        ({"max-body-bytes": 4},
         Err("Unknown setting 'max-body-bytes'. Did you mean 'max_body_bytes'?")),
        ({"zzz": 4}, Err("Unknown setting 'zzz'.")),
    ],
)
def test_keyword_settings_are_converted_and_checked(settings: dict, expected: object) -> None:
    if isinstance(expected, Err):
        with pytest.raises(ConfigError) as info:
            Config(**settings)
        assert str(info.value) == expected.message
    else:
        config = Config(**settings)
        for name, value in expected.items():
            assert getattr(config, name) == value


# ---- Config.load: argv, env vars, config file

@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, {"threads": 4, "bind": ("127.0.0.1:8000",), "app": None}),
        (["myapp:app"], {}, {"app": "myapp:app"}),
        (["--threads", "8"], {}, {"threads": 8}),
        (["--threads=8"], {}, {"threads": 8}),
        ([], {"FERRULE_THREADS": "6"}, {"threads": 6}),
        (["--threads", "8"], {"FERRULE_THREADS": "6"}, {"threads": 8}),
        (["--threads", "2", "--threads", "3"], {}, {"threads": 3}),
        (["-b", "a:1", "--bind", "b:2"], {}, {"bind": ("a:1", "b:2")}),
        (["-b", "a:1,b:2"], {}, {"bind": ("a:1", "b:2")}),
        ([], {"FERRULE_BIND": "a:1, [::1]:2"}, {"bind": ("a:1", "[::1]:2")}),
        (["-b", "c:3"], {"FERRULE_BIND": "a:1,b:2"}, {"bind": ("c:3",)}),
        (["--keep-alive", "2"], {}, {"keepalive_timeout": 2.0}),
        (["--limit-request-field_size", "4KiB"], {}, {"max_header_bytes": 4096}),
        (["--access-logfile", "-"], {}, {"access_log": "-"}),
        (["--log-file", "/tmp/e.log"], {}, {"error_log": "/tmp/e.log"}),
        (["--pythonpath", "a,b", "--pythonpath", "c"], {}, {"pythonpath": ("a", "b", "c")}),
        ([], {"FERRULE_APP": "env:app"}, {"app": "env:app"}),
        (["cli:app"], {"FERRULE_APP": "env:app"}, {"app": "cli:app"}),
        ([], {"FERRULE_ACCESS_LOG": ""}, {"access_log": None}),
        ([], {"FERRULE_TEST_ECHO_LOG": "1", "FERRULE_NOT_A_SETTING": "x"}, {"threads": 4}),
        (["--threads", "0"], {}, Err("--threads must be >= 1, got 0")),
        (["--threads", "x"], {}, Err("--threads must be an integer, got 'x'")),
        ([], {"FERRULE_THREADS": "x"}, Err("FERRULE_THREADS must be an integer, got 'x'")),
        ([], {"FERRULE_THREADS": "0"}, Err("FERRULE_THREADS must be >= 1, got 0")),
        (["--keepalive-timeout", "0"], {}, Err("--keepalive-timeout must be > 0, got 0s")),
        (["--keepalive-timeout", "soon"], {},
         Err("--keepalive-timeout must be a duration like 30, 30s, 500ms or 1h30m, got 'soon'")),
        (["--max-body-bytes", "1XB"], {},
         Err("--max-body-bytes must be a size like 8192, 8KiB or 1MiB, got '1XB'")),
        (["-b", "localhost:99999"], {},
         Err("-b must have a port between 0 and 65535, got 'localhost:99999'")),
        (["-b", "a:1", "--bind", "a:1"], {},
         Err("-b must not name the same address twice, got ['a:1', 'a:1']")),
        ([], {"FERRULE_BIND": ","}, Err("FERRULE_BIND must name at least one address, got []")),
        (["--log-level", "loud"], {},
         Err("--log-level must be one of debug, info, warning, error, critical, got 'loud'")),
        (["--chdir", "/no/such/dir"], {},
         Err("--chdir must be an existing directory, got '/no/such/dir'")),
        # gunicorn's spellings, values and environment variables (issue #13).
        (["-k", "sync", "-w", "3", "-t", "60"], {},
         {"worker_class": "sync", "workers": 3, "worker_timeout": 60.0}),
        (["--worker-class", "gunicorn.workers.gthread.ThreadWorker"], {},
         {"worker_class": "gthread"}),
        (["--timeout", "0"], {}, {"worker_timeout": 30.0}),
        (["--no-sendfile"], {}, {"sendfile": "off"}),
        (["--worker-connections", "50"], {}, {"max_connections": 50}),
        (["-e", "A=1,2", "--env", "B=x=y"], {}, {"env": (("A", "1,2"), ("B", "x=y"))}),
        (["--bind", "http://127.0.0.1:9000/"], {}, {"bind": ("127.0.0.1:9000",)}),
        (["--bind", "tcp://[::1]:9000"], {}, {"bind": ("[::1]:9000",)}),
        (["--bind", "unix:///run/a.sock"], {}, {"bind": ("unix:/run/a.sock",)}),
        (["--worker-tmp-dir", "/dev/shm", "--header-map", "drop"], {}, {"threads": 4}),
        ([], {"PORT": "5000", "WEB_CONCURRENCY": "3", "SENDFILE": "0"},
         {"bind": ("0.0.0.0:5000",), "workers": 3, "sendfile": "off"}),
        (["-b", "127.0.0.1:1"], {"PORT": "5000"}, {"bind": ("127.0.0.1:1",)}),
        ([], {"GUNICORN_CMD_ARGS": "--workers 2 --keep-alive 7 -k gthread"},
         {"workers": 2, "keepalive_timeout": 7.0, "worker_class": "gthread"}),
        (["-w", "5"], {"GUNICORN_CMD_ARGS": "--workers 2", "FERRULE_WORKERS": "4"},
         {"workers": 5}),
        ([], {"GUNICORN_CMD_ARGS": "--workers 2", "FERRULE_WORKERS": "4"}, {"workers": 4}),
        (["-k", "gevent"], {},
         Err("-k names a gevent, eventlet or tornado worker; ferrule has none: it runs WSGI "
             "apps on OS threads, which wait on I/O with the GIL released. Drop -k and raise "
             "--threads for apps that mostly wait, got 'gevent'")),
        (["-k", "uvicorn.workers.UvicornWorker", "--interface", "wsgi"], {},
         Err("worker_class (flag -k) names an ASGI worker but interface (flag --interface) is "
             "wsgi: drop one of them")),
        (["-k", "uvicorn.workers.UvicornWorker"], {},
         {"worker_class": "asgi", "interface": "asgi"}),
        (["-k", "mine.Worker"], {},
         Err("-k must be sync or gthread (gunicorn's names for what ferrule always does: "
             "threads), or an ASGI worker (uvicorn.workers.UvicornWorker, asgi), got "
             "'mine.Worker'")),
        (["--keep-alive", "0"], {},
         Err("--keep-alive must be above 0 (gunicorn's 0, no keep-alive, is not supported: "
             "ferrule closes an idle connection after this many seconds), got '0'")),
        (["--limit-request-line", "0"], {},
         Err("--limit-request-line must be above 0 (gunicorn's 0, unlimited, is not "
             "supported: ferrule always bounds the request line), got '0'")),
        (["--daemon"], {},
         Err("--daemon is not supported: ferrule does not daemonize: run it under systemd, "
             "supervisord or a container runtime (docs/deploy.md).")),
        (["--header-map", "dangerous"], {},
         Err("--header-map is not supported: ferrule always drops header names with '_', "
             "gunicorn's 'drop' (a name with '_' could impersonate its '-' spelling); only "
             "'drop' is accepted, got 'dangerous'.")),
        ([], {"GUNICORN_CMD_ARGS": "--timeout x"},
         Err("--timeout in GUNICORN_CMD_ARGS must be a duration like 30, 30s, 500ms or 1h30m, "
             "got 'x'")),
        ([], {"GUNICORN_CMD_ARGS": "--nope"}, Err("GUNICORN_CMD_ARGS: Unknown flag '--nope'.")),
        (["-e", "NOEQUALS"], {}, Err("-e must be KEY=VALUE, got 'NOEQUALS'")),
        # Overridden values are still checked.
        (["--threads", "2"], {"FERRULE_THREADS": "0"}, Err("FERRULE_THREADS must be >= 1, got 0")),
        (["--threads", "0", "--threads", "2"], {}, Err("--threads must be >= 1, got 0")),
        # Usage errors from argparse.
        (["--thread", "2"], {}, Err("Unknown flag '--thread'. Did you mean '--threads'?")),
        (["--threads"], {}, Err("Argument --threads: expected one argument.")),
        (["a:app", "b:app"], {}, Err("Unrecognized arguments: b:app.")),
    ],
)
def test_load_resolves_argv_and_env(argv: list[str], env: dict, expected: object) -> None:
    if isinstance(expected, Err):
        with pytest.raises(ConfigError) as info:
            Config.load(argv, env=env)
        assert str(info.value) == expected.message
    else:
        config = Config.load(argv, env=env)
        for name, value in expected.items():
            assert getattr(config, name) == value


def test_load_reads_sys_argv_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["ferrule", "--threads", "3", "x:app"])
    config = Config.load(env={})
    assert (config.threads, config.app) == (3, "x:app")


# ---- Config files

FILE = """\
app = "file:app"
threads = 2
bind = ["127.0.0.1:1", "unix:/tmp/file.sock"]
max_body_bytes = "1MiB"
header_timeout = 7
keepalive_timeout = "1m"
"""


def test_file_values_are_read_from_ferrule_toml(tmp_path: Path) -> None:
    path = write(tmp_path / "ferrule.toml", FILE)
    config = Config.load(["--config", path], env={})
    assert config.config == path
    assert config.app == "file:app"
    assert config.threads == 2
    assert config.bind == ("127.0.0.1:1", "unix:/tmp/file.sock")
    assert config.max_body_bytes == 1048576
    assert config.header_timeout == 7.0
    assert config.keepalive_timeout == 60.0


def test_file_values_are_read_from_the_tool_ferrule_table_of_pyproject(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml",
                 '[project]\nname = "x"\n\n[tool.ferrule]\nthreads = 3\nbind = ":9000"\n')
    config = Config.load(["-c", path], env={})
    assert (config.threads, config.bind) == (3, ("0.0.0.0:9000",))


@pytest.mark.parametrize(
    ("argv", "env", "expected_threads"),
    [
        ([], {}, 2),                                      # file over default
        ([], {"FERRULE_THREADS": "5"}, 5),                # env over file
        (["--threads", "9"], {"FERRULE_THREADS": "5"}, 9),  # flag over env
        (["--threads", "9"], {}, 9),                      # flag over file
    ],
)
def test_precedence_is_default_then_file_then_env_then_flags(
    tmp_path: Path, argv: list[str], env: dict, expected_threads: int
) -> None:
    path = write(tmp_path / "ferrule.toml", "threads = 2\n")
    assert Config.load(["--config", path, *argv], env=env).threads == expected_threads


def test_the_file_can_be_named_by_env_var_and_the_flag_wins(tmp_path: Path) -> None:
    from_env = write(tmp_path / "env.toml", "threads = 2\n")
    from_flag = write(tmp_path / "flag.toml", "threads = 3\n")
    assert Config.load([], env={"FERRULE_CONFIG": from_env}).threads == 2
    assert Config.load(["-c", from_flag], env={"FERRULE_CONFIG": from_env}).threads == 3


def test_no_file_is_read_unless_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "ferrule.toml", "threads = 2\n")
    write(tmp_path / "pyproject.toml", "[tool.ferrule]\nthreads = 3\n")
    config = Config.load([], env={})
    assert (config.config, config.threads) == (None, 4)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("ferrule.toml", "threads = 0\n", "threads in {path} must be >= 1, got 0"),
        ("ferrule.toml", 'threads = "x"\n', "threads in {path} must be an integer, got 'x'"),
        ("ferrule.toml", "threads = 2.5\n", "threads in {path} must be an integer, got 2.5"),
        ("ferrule.toml", "bind = [1]\n", "bind in {path} must be a list of strings, got [1]"),
        ("ferrule.toml", "header_timeout = -1\n", "header_timeout in {path} must be > 0, got -1s"),
        ("ferrule.toml", "header_timeout = inf\n",
         "header_timeout in {path} must be <= 24h, got inf"),
        ("ferrule.toml", "thread = 2\n",
         "Unknown setting 'thread' in {path}. Did you mean 'threads'?"),
        ("ferrule.toml", "max-body-bytes = 2\n",
         "Unknown setting 'max-body-bytes' in {path}. Did you mean 'max_body_bytes'?"),
        ("ferrule.toml", "[limits]\nmax_body_bytes = 2\n", "Unknown setting 'limits' in {path}."),
        ("ferrule.toml", 'config = "other.toml"\n',
         "Setting 'config' cannot be set in a config file ({path})."),
        ("ferrule.toml", "threads = \n",
         "Config file '{path}' is not valid TOML: Invalid value (at line 1, column 11)."),
        ("pyproject.toml", "[tool.ferrule]\nthreads = 0\n",
         "tool.ferrule.threads in {path} must be >= 1, got 0"),
        ("pyproject.toml", "[tool.ferrule]\nthread = 0\n",
         "Unknown setting 'tool.ferrule.thread' in {path}. Did you mean 'threads'?"),
        ("pyproject.toml", '[project]\nname = "x"\n',
         "Config file '{path}' has no [tool.ferrule] table."),
        ("pyproject.toml", "[tool]\nferrule = 3\n",
         "Config file '{path}' has no [tool.ferrule] table."),
    ],
)
def test_file_errors_name_the_key_and_the_file(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        Config.load(["--config", path], env={})
    assert str(info.value) == expected.format(path=path)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as info:
        Config.load(["--config", path], env={})
    assert str(info.value) == f"Config file '{path}' does not exist."


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Config.load(["--config", str(tmp_path)], env={})
    assert str(info.value) == f"Could not read config file '{tmp_path}': Is a directory."


def test_a_bad_file_value_is_reported_even_when_a_flag_overrides_it(tmp_path: Path) -> None:
    path = write(tmp_path / "ferrule.toml", "threads = 0\n")
    with pytest.raises(ConfigError) as info:
        Config.load(["--config", path, "--threads", "4"], env={})
    assert str(info.value) == f"threads in {path} must be >= 1, got 0"


# ---- Proxy settings: gunicorn's spellings and sources

def test_gunicorns_forwarded_allow_ips_env_var_is_read_below_ferrules_own() -> None:
    assert Config.load(["app:x"], env={"FORWARDED_ALLOW_IPS": "10.0.0.0/8,*"}
                       ).forwarded_allow_ips == ("10.0.0.0/8", "*")
    both = {"FORWARDED_ALLOW_IPS": "10.0.0.1", "FERRULE_FORWARDED_ALLOW_IPS": "10.0.0.2"}
    assert Config.load(["app:x"], env=both).forwarded_allow_ips == ("10.0.0.2",)
    assert Config.load(["app:x", "--forwarded-allow-ips", "::1"], env=both
                       ).forwarded_allow_ips == ("::1",)
    with pytest.raises(ConfigError) as info:
        Config.load(["app:x"], env={"FORWARDED_ALLOW_IPS": "proxy.local"})
    assert str(info.value) == ("FORWARDED_ALLOW_IPS must list IP addresses, CIDR ranges "
                               "(10.0.0.0/8) or *, got 'proxy.local'")


def test_a_config_file_overrides_gunicorns_forwarded_allow_ips_env_var(tmp_path: Path) -> None:
    # As in gunicorn, where the variable is the setting's default: an image that sets
    # FORWARDED_ALLOW_IPS=* for uvicorn does not widen the trust a gunicorn.conf.py narrows.
    path = write(tmp_path / "gunicorn.conf.py", "forwarded_allow_ips = '10.0.0.5'\n")
    config = Config.load(["-c", path, "app:x"], env={"FORWARDED_ALLOW_IPS": "*"})
    assert config.forwarded_allow_ips == ("10.0.0.5",)
    assert config.sources()["forwarded_allow_ips"] == f"file {path}"


@pytest.mark.parametrize(("argv", "expected"), [
    (["--proxy-protocol"], "auto"),
    (["--workers", "1", "--proxy-protocol"], "auto"),
    (["--proxy-protocol", "v1"], "v1"),
    (["--proxy-protocol=v2"], "v2"),
    ([], "off"),
])
def test_a_bare_proxy_protocol_flag_means_auto(argv: list[str], expected: str) -> None:
    config = Config.load([*argv, "app:x"], env={})
    assert (config.proxy_protocol, config.app) == (expected, "app:x")
    assert Config.load(["app:x", *argv], env={}).proxy_protocol == expected


def test_gunicorns_allow_from_flags_are_accepted() -> None:
    config = Config.load(["--proxy-allow-from", "10.0.0.1", "--uwsgi-allow-from", "*",
                          "app:x"], env={})
    assert (config.proxy_allow_ips, config.uwsgi_allow_ips) == (("10.0.0.1",), ("*",))


@pytest.mark.parametrize(("raw", "expected"), [
    ("X-Scheme=https", (("X-SCHEME", "https"),)),
    ("X-A=on, x-b = ssl", (("X-A", "on"), ("X-B", "ssl"))),
    ({"X-Forwarded-Ssl": "on"}, (("X-FORWARDED-SSL", "on"),)),
    ("", ()),
    ("X-A", Err("secure_scheme_headers must be NAME=value pairs, got 'X-A'")),
    ("X A=1", Err("secure_scheme_headers must name headers with token characters, "
                  "got 'X A'")),
    (["x"], Err("secure_scheme_headers must be a table of header names to values, "
                "got ['x']")),
])
def test_secure_scheme_headers_take_a_table_or_pairs(raw: object, expected: object) -> None:
    if isinstance(expected, Err):
        with pytest.raises(ConfigError) as info:
            Config(secure_scheme_headers=raw)
        assert str(info.value) == expected.message
    else:
        assert Config(secure_scheme_headers=raw).secure_scheme_headers == expected


def test_forwarded_headers_are_checked_by_name() -> None:
    assert Config(forwarded_headers="X-Forwarded-Host, forwarded").forwarded_headers == (
        "x-forwarded-host", "forwarded")
    with pytest.raises(ConfigError) as info:
        Config(forwarded_headers="x-real-ip")
    assert str(info.value).startswith("forwarded_headers must list headers among forwarded, ")


def test_proxy_settings_come_from_a_config_file(tmp_path: Path) -> None:
    path = write(tmp_path / "ferrule.toml", """
forwarded_allow_ips = ["10.0.0.0/8"]
forwarded_headers = ["x-forwarded-for"]
proxy_protocol = "v2"
protocol = "uwsgi"

[secure_scheme_headers]
X-Forwarded-Ssl = "on"
""")
    config = Config.load(["--config", path, "app:x"], env={})
    assert config.forwarded_allow_ips == ("10.0.0.0/8",)
    assert config.forwarded_headers == ("x-forwarded-for",)
    assert config.secure_scheme_headers == (("X-FORWARDED-SSL", "on"),)
    assert (config.proxy_protocol, config.protocol) == ("v2", "uwsgi")
# ---- Python config files (gunicorn.conf.py)

GUNICORN_CONF = '''\
import multiprocessing
import os
from os.path import join

_PORT = os.environ.get("APP_PORT", "8123")
HOME = "/srv"

bind = f"127.0.0.1:{_PORT}"
workers = multiprocessing.cpu_count() * 0 + 2
threads = 3
timeout = 120
keepalive = 4
accesslog = "-"
errorlog = "-"
loglevel = "warning"
preload_app = False
worker_tmp_dir = "/dev/shm"
raw_env = ["DJANGO_SETTINGS_MODULE=site.settings"]

def post_fork(server, worker):
    server.log.info("worker %s forked", worker.pid)

def pre_request(worker, req):
    worker.log.debug("%s %s", req.method, req.path)
'''


def test_an_unmodified_gunicorn_conf_py_sets_settings_and_hooks(tmp_path: Path) -> None:
    path = tmp_path / "gunicorn.conf.py"
    path.write_text(GUNICORN_CONF)
    config = Config.load(["-c", str(path), "site.wsgi"], env={})
    assert (config.bind, config.workers, config.threads, config.worker_timeout,
            config.keepalive_timeout, config.access_log, config.log_level, config.env) == (
        ("127.0.0.1:8123",), 2, 3, 120.0, 4.0, "-", "warning",
        (("DJANGO_SETTINGS_MODULE", "site.settings"),))
    assert config.post_fork.__name__ == "post_fork"
    assert config.pre_request.__name__ == "pre_request"
    assert config.on_exit is None
    assert config.sources()["workers"] == f"file {path}"
    assert config.sources()["threads"] == f"file {path}"
    assert config.sources()["app"] == "flag app"
    # Only the setting it does not need is mentioned; helpers (`_PORT`, `HOME`, `join`,
    # `multiprocessing`) are not.
    assert config.warnings() == (
        f"worker_tmp_dir in {path} is not needed: workers send their heartbeats to the master "
        "over a pipe, not through a temporary file; ignored.",)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("wokers = 2\n", Err(None)),
        ("worker_class = 'gevent'\n", Err(
            "worker_class in {path} names a gevent, eventlet or tornado worker; ferrule has "
            "none: it runs WSGI apps on OS threads, which wait on I/O with the GIL released. "
            "Drop -k and raise --threads for apps that mostly wait, got 'gevent'")),
        ("def post_fork(server):\n    pass\n", Err(
            "post_fork in {path} must take 2 arguments, got post_fork")),
        ("threads = 0\n", Err("threads in {path} must be >= 1, got 0")),
        ("1/0\n", Err("Config file '{path}' raised ZeroDivisionError; its traceback is above.")),
    ],
)
def test_python_config_file_problems_name_the_setting_and_the_file(
    tmp_path: Path, source: str, expected: Err
) -> None:
    path = tmp_path / "conf.py"
    path.write_text(source)
    if expected.message is None:
        config = Config.load(["-c", str(path)], env={})
        assert config.warnings() == (
            f"{path} sets 'wokers', which is not a setting; ignored. Did you mean 'workers'? "
            "(Start a helper's name with '_' to say it is one.)",)
        return
    with pytest.raises(ConfigError) as info:
        Config.load(["-c", str(path)], env={})
    assert str(info.value) == expected.message.format(path=path)


def test_hooks_can_be_named_by_reference_in_toml_and_env(tmp_path: Path) -> None:
    (tmp_path / "ferrule.toml").write_text("post_fork = 'myproj.hooks:post_fork'\n")
    config = Config.load(["-c", str(tmp_path / "ferrule.toml")],
                         env={"FERRULE_ON_EXIT": "myproj.hooks.on_exit"})
    assert (config.post_fork, config.on_exit) == ("myproj.hooks:post_fork", "myproj.hooks.on_exit")
    with pytest.raises(ConfigError) as info:
        Config.load([], env={"FERRULE_ON_EXIT": "not a reference"})
    assert str(info.value) == (
        "FERRULE_ON_EXIT must be a function or 'module:function', got 'not a reference'")


def test_sources_say_where_each_value_came_from(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text("threads = 2\nbacklog = 10\n")
    config = Config.load(["-c", str(tmp_path / "f.toml"), "--backlog", "20"],
                         env={"PORT": "9000", "FERRULE_MAX_REQUESTS": "5"})
    sources = config.sources()
    assert (sources["config"], sources["threads"], sources["backlog"], sources["bind"],
            sources["max_requests"], sources["workers"]) == (
        "flag -c", f"file {tmp_path / 'f.toml'}", "flag --backlog", "env PORT (as in gunicorn)",
        "env FERRULE_MAX_REQUESTS", "default")
