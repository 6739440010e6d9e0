"""Logs, end to end: the JSON access log (every line parsed by a strict JSON parser, whatever
the client sent), Python `logging` (`--log-config` ini, `log_config_dict` from an env var and a
TOML table) receiving the error and access records in every worker, and SIGUSR1 reopening
every log file after a logrotate-style move, including when the workers run as another user.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ferrule_proc import HERE, start_server
from rawhttp import request

APP = "apps.ops:app"


def get(address, path: str = "/", headers: dict | None = None) -> int:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def wait_for_lines(path: Path, pattern: str, count: int = 1, timeout: float = 10.0) -> list[str]:
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        # Only whole lines: a line being written may be read half-way.
        lines = text[: text.rfind("\n") + 1].splitlines()
        found = [line for line in lines if rx.search(line)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} lines matching {pattern!r} not in {path}:\n" + "\n".join(lines))
        time.sleep(0.02)


def test_the_json_access_log_is_valid_json_whatever_the_client_sends(tmp_path):
    log = tmp_path / "access.log"
    server = start_server("--access-log", str(log), "--access-log-format", "json", APP)
    assert get(server.address, "/a?b=1", {"X-Request-ID": "req-42", "User-Agent": 'q"uo\\te'}) == 200
    assert get(server.address, "/status?code=404", {"X-Request-ID": "not sane!"}) == 404
    raw = b"GET /obs HTTP/1.1\r\nHost: h\r\nUser-Agent: caf\xc3\xa9 \xff\xfe\r\nReferer: x\r\n\r\n"
    assert request(server.address, raw).status == 200
    lines = wait_for_lines(log, r".", 3)
    server.stop()
    records = [json.loads(line) for line in lines]
    first, second, third = records
    assert list(first) == ["time", "remote_addr", "request_id", "method", "path", "query", "protocol",
                           "status", "bytes", "duration_us", "host", "referer", "user_agent", "pid"]
    assert (first["request_id"], first["method"], first["path"], first["query"], first["protocol"],
            first["status"], first["bytes"], first["remote_addr"], first["user_agent"]) == (
        "req-42", "GET", "/a", "b=1", "HTTP/1.1", 200, 5, "127.0.0.1", 'q"uo\\te')
    assert isinstance(first["duration_us"], int) and first["duration_us"] > 0
    assert first["referer"] is None
    stamp = datetime.datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 60
    # An id that is not sane is replaced by a generated one; ids differ.
    assert re.fullmatch(r"[0-9a-f]{32}", second["request_id"]) and second["status"] == 404
    assert re.fullmatch(r"[0-9a-f]{32}", third["request_id"]) and third["request_id"] != second["request_id"]
    # Bytes that are not UTF-8 become U+FFFD; valid UTF-8 stays.
    assert third["user_agent"] == "caf\u00e9 \ufffd\ufffd" and third["referer"] == "x"


def _ini(tmp_path: Path, error_file: Path, access_file: Path) -> Path:
    ini = tmp_path / "logging.ini"
    ini.write_text(f"""
[loggers]
keys=root,error,access

[handlers]
keys=stderr,errorfile,accessfile

[formatters]
keys=plain

[logger_root]
level=WARNING
handlers=stderr

[logger_error]
level=INFO
handlers=stderr,errorfile
propagate=0
qualname=ferrule.error

[logger_access]
level=INFO
handlers=accessfile
propagate=0
qualname=ferrule.access

[handler_stderr]
class=StreamHandler
formatter=plain
args=(sys.stderr,)

[handler_errorfile]
class=FileHandler
formatter=plain
args=({str(error_file)!r}, 'a')

[handler_accessfile]
class=FileHandler
formatter=plain
args=({str(access_file)!r}, 'a')

[formatter_plain]
format=%(name)s %(levelname)s %(process)d %(message)s
""")
    return ini


def test_log_config_sends_error_and_access_records_to_python_loggers_in_every_worker(tmp_path):
    error_file, access_file = tmp_path / "error.log", tmp_path / "access.log"
    server = start_server("--workers", "2", "--log-config", str(_ini(tmp_path, error_file, access_file)), APP)
    server.wait_for_log(r"master phase: Running")
    # New connections until both workers have answered (the kernel picks which accepts).
    pids: set[int] = set()
    served = 0
    deadline = time.monotonic() + 10
    while served < 8 or (pids != set(server.worker_pids()) and time.monotonic() < deadline):
        conn = http.client.HTTPConnection(*server.address, timeout=10)
        conn.request("GET", "/pid")
        pids.add(int(conn.getresponse().read()))
        conn.close()
        served += 1
    assert get(server.address, "/raise") == 500
    access = wait_for_lines(access_file, r'"GET /pid HTTP/1.1" 200', served)
    assert all(line.startswith("ferrule.access INFO ") for line in access)
    # Each record was logged by the worker that served the request...
    assert {int(line.split()[2]) for line in access} == pids
    assert pids <= set(server.worker_pids())
    # ...and every worker's error log goes through Python too.
    for pid in server.worker_pids():
        assert wait_for_lines(error_file, rf"^ferrule.error INFO {pid} ferrule .* worker \d+ serving")
    assert wait_for_lines(error_file, r"^ferrule.error ERROR \d+ Error handling request GET /raise")
    assert wait_for_lines(error_file, r"^RuntimeError: the ops test app raises on purpose")
    assert wait_for_lines(error_file, r"ferrule.error INFO \d+ master phase: Running")
    server.stop()
    # The master's last words went through Python too.
    assert wait_for_lines(error_file, r"ferrule.error INFO \d+ stopped")


@pytest.mark.parametrize("source", ["env", "toml"])
def test_log_config_dict_comes_from_an_env_var_or_a_toml_table(tmp_path, source):
    access_file = tmp_path / "access.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"bare": {"format": "dict %(message)s"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.FileHandler", "filename": str(access_file), "formatter": "bare"},
        },
        "loggers": {
            "ferrule.error": {"level": "DEBUG", "handlers": ["stderr"], "propagate": False},
            "ferrule.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }
    if source == "env":
        server = start_server(APP, env={"FERRULE_LOG_CONFIG_DICT": json.dumps(config)})
    else:
        toml = tmp_path / "ferrule.toml"
        toml.write_text(
            "[log_config_dict]\nversion = 1\ndisable_existing_loggers = false\n"
            "[log_config_dict.formatters.bare]\nformat = \"dict %(message)s\"\n"
            "[log_config_dict.handlers.stderr]\nclass = \"logging.StreamHandler\"\nstream = \"ext://sys.stderr\"\n"
            f"[log_config_dict.handlers.access]\nclass = \"logging.FileHandler\"\nfilename = {json.dumps(str(access_file))}\n"
            "formatter = \"bare\"\n"
            "[log_config_dict.loggers.\"ferrule.error\"]\nlevel = \"DEBUG\"\nhandlers = [\"stderr\"]\npropagate = false\n"
            "[log_config_dict.loggers.\"ferrule.access\"]\nlevel = \"INFO\"\nhandlers = [\"access\"]\npropagate = false\n"
        )
        server = start_server("--config", str(toml), APP)
    assert get(server.address, "/") == 200
    assert wait_for_lines(access_file, r'^dict 127\.0\.0\.1 - - \[.*\] "GET / HTTP/1.1" 200 5')
    # The logger's DEBUG level replaced log_level: debug lines are written.
    server.wait_for_log(r"worker phase: Serving")
    server.stop()


def test_a_broken_log_config_is_a_config_error_naming_it(tmp_path):
    broken = tmp_path / "broken.ini"
    broken.write_text("[loggers]\nkeys=root\n")
    result = subprocess.run([sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), "--log-config",
                             str(broken), APP], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith(f"ferrule: Could not configure logging from log_config '{broken}': ")
    assert "Traceback" not in result.stderr


# ---- SIGUSR1 after logrotate, workers running as another user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching the workers' user needs root")
@pytest.mark.parametrize("sinks", ["rust", "python"])
def test_usr1_reopens_every_log_file_after_a_move_even_when_workers_run_as_another_user(sinks):
    nobody = pwd.getpwnam("nobody")
    # A directory the workers cannot create files in: only the master may make new ones.
    logs = Path(tempfile.mkdtemp(prefix="ferrule-usr1-", dir="/tmp"))
    os.chmod(logs, 0o755)
    try:
        error_file, access_file = logs / "error.log", logs / "access.log"
        port = _free_port()
        # --preload: the interpreter under /root is not readable by nobody.
        flags = ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--preload", "--user", "nobody",
                 "--group", str(nobody.pw_gid)]
        if sinks == "rust":
            flags += ["--error-log", str(error_file), "--access-log", str(access_file)]
        else:
            ini = _ini(logs, error_file, access_file)
            ini.chmod(0o644)
            flags += ["--log-config", str(ini)]
        proc = subprocess.Popen([sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), *flags, APP],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_lines(error_file, r"master phase: Running", timeout=20)
            workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
            assert workers and all(_uid(pid) == nobody.pw_uid for pid in workers)
            for _ in range(4):
                assert get(("127.0.0.1", port), "/status?code=201") == 201
            wait_for_lines(access_file, r" 201 ", 4)
            # logrotate's default: move the files away, then signal.
            os.rename(access_file, logs / "access.log.1")
            os.rename(error_file, logs / "error.log.1")
            os.kill(proc.pid, signal.SIGUSR1)
            # Every worker reopened (it says so in the new error log), as the workers' user.
            wait_for_lines(error_file, r"reopened the log files", 2)
            for _ in range(4):
                assert get(("127.0.0.1", port), "/status?code=202") == 202
            wait_for_lines(access_file, r" 202 ", 4)
            assert " 202 " not in (logs / "access.log.1").read_text()
            assert " 201 " not in access_file.read_text()
            assert access_file.stat().st_uid == nobody.pw_uid
            assert not re.search(r"cannot reopen|Permission denied", error_file.read_text())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching the workers' user needs root")
def test_usr1_gives_workers_their_reopened_files_in_a_directory_only_root_may_enter():
    """/var/log/myapp as packages make it (root, 0700): the workers' user cannot reach the
    files by path at all, and logrotate's `create 0600 root root` leaves new files to root.
    The master reopens them and hands the workers the open files."""
    nobody = pwd.getpwnam("nobody")
    logs = Path(tempfile.mkdtemp(prefix="ferrule-usr1-root-", dir="/tmp"))
    os.chmod(logs, 0o700)
    try:
        error_file, access_file = logs / "error.log", logs / "access.log"
        port = _free_port()
        # --preload: the interpreter under /root is not readable by nobody.
        flags = ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--preload", "--user", "nobody",
                 "--group", str(nobody.pw_gid), "--error-log", str(error_file),
                 "--access-log", str(access_file)]
        proc = subprocess.Popen([sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), *flags, APP],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_lines(error_file, r"master phase: Running", timeout=20)
            for _ in range(4):
                assert get(("127.0.0.1", port), "/status?code=201") == 201
            wait_for_lines(access_file, r" 201 ", 4)
            # logrotate's `create 0600 root root`: move, create the new files, signal.
            for path in (access_file, error_file):
                os.rename(path, path.with_name(path.name + ".1"))
                path.touch(mode=0o600)
            os.kill(proc.pid, signal.SIGUSR1)
            wait_for_lines(error_file, r"reopened the log files", 2)
            for _ in range(4):
                assert get(("127.0.0.1", port), "/status?code=202") == 202
            wait_for_lines(access_file, r" 202 ", 4)
            assert " 202 " not in (logs / "access.log.1").read_text()
            assert not re.search(r"cannot reopen|Permission denied", error_file.read_text())
            assert not re.search(r"cannot reopen|Permission denied",
                                 (logs / "error.log.1").read_text())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    finally:
        shutil.rmtree(logs, ignore_errors=True)
