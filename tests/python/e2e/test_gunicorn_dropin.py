"""The first hour of a gunicorn user, end to end (issue #13, items 6-12): what the environ
says on unix sockets and for `OPTIONS *`, how Python names the app's threads, unix socket
files (their mode, a live one never taken over, only our own removed), and what `--reload`
logs. The command-line items (1-5, 11) are in tests/python/unit/test_cli.py and
test_config.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest
from ferrule_proc import HERE
from rawhttp import Conn


class UnixConn(Conn):
    """`rawhttp.Conn` over a unix stream socket."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""


@pytest.fixture
def sock_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sock")


def get_json(conn: Conn, target: str = "/", method: str = "GET",
             headers: dict | None = None) -> dict:
    resp = conn.request(method, target, headers=headers)
    assert resp.status == 200, resp.body
    return json.loads(resp.body)


def test_server_name_and_port_come_from_host_on_a_unix_socket(ferrule_server, sock_dir):
    path = str(sock_dir / "host.sock")
    server = ferrule_server("--bind", f"unix:{path}", "apps.dropin:app", bind=None)
    with UnixConn(path) as c:
        env = get_json(c, headers={"Host": "example.com:8080"})
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
        env = get_json(c, headers={"Host": "example.com"})
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "80")
        env = get_json(c, headers={"Host": "[::1]:9000"})
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[::1]", "9000")
    assert server.is_alive()


def test_options_asterisk_reaches_the_app_as_asterisk(ferrule_server):
    server = ferrule_server("apps.dropin:raw_app")
    with Conn(server.address) as c:
        env = get_json(c, "*", method="OPTIONS")
        assert (env["REQUEST_METHOD"], env["PATH_INFO"], env["RAW_URI"]) == ("OPTIONS", "*", "*")
        # The same connection goes on serving ordinary requests.
        assert get_json(c, "/x")["PATH_INFO"] == "/x"


def test_app_threads_are_named_for_logging(ferrule_server):
    server = ferrule_server("--threads", "2", "apps.dropin:app")
    with Conn(server.address) as c:
        assert get_json(c)["thread"] in ("ferrule-thread-0", "ferrule-thread-1")


def test_unix_sockets_let_another_user_connect_by_default(ferrule_server, sock_dir):
    path = str(sock_dir / "mode.sock")
    ferrule_server("--bind", f"unix:{path}", "apps.dropin:app", bind=None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666


def test_a_live_unix_socket_is_never_taken_over(ferrule_server, sock_dir):
    path = str(sock_dir / "live.sock")
    first = ferrule_server("--bind", f"unix:{path}", "apps.dropin:app", bind=None)
    second = subprocess.run(
        [sys.executable, "-m", "ferrule", "--pythonpath", str(HERE), "--bind", f"unix:{path}",
         "apps.dropin:app"], capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"ferrule: cannot bind unix:{path}: another server is listening on this socket (stop "
        "it first, or bind another path)")
    with UnixConn(path) as c:
        assert get_json(c)["PATH_INFO"] == "/"
    assert first.is_alive()


def test_a_stopping_server_leaves_a_socket_file_that_is_no_longer_its_own(ferrule_server,
                                                                          sock_dir):
    path = str(sock_dir / "swap.sock")
    old = ferrule_server("--bind", f"unix:{path}", "apps.dropin:app", bind=None)
    os.unlink(path)  # an operator (or a deploy script) moved it away
    new = ferrule_server("--bind", f"unix:{path}", "apps.dropin:app", bind=None)
    assert old.stop() == 0
    assert "is no longer the socket this server bound; leaving it" in old.log()
    with UnixConn(path) as c:
        assert get_json(c)["PATH_INFO"] == "/"
    assert new.stop() == 0
    assert not os.path.exists(path)  # its own file: removed at its final stop


def test_a_file_change_reload_is_logged_as_such(ferrule_server, tmp_path):
    (tmp_path / "reloaded.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'one']\n")
    server = ferrule_server("--reload", "--chdir", str(tmp_path), "reloaded:app")
    time.sleep(1.2)  # the watcher compares modification times, to the second
    (tmp_path / "reloaded.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'two']\n")
    server.wait_for_log(r"files changed \(--reload\); reloading")
    server.wait_for_log(r"reloading: starting generation 2")
    assert "master received SIGHUP" not in server.log()
