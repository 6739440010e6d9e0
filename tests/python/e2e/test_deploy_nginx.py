"""docs/deploy.md's nginx recipe, as written, in front of a real ferrule on a unix socket
(issue #13, item 6): nginx's workers run as another user than ferrule, as on a real host,
and must be able to connect. The recipe is read from the doc (only the socket path and the
listening port are replaced), so the doc cannot drift from what works.

Needs root (nginx switches its workers to another user) and nginx (installed by .ci/run).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from ferrule_proc import start_server
from proxies import tested_block as deploy_block
from rawhttp import Conn

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="nginx must run its workers as another user"),
]


def recipe() -> str:
    """The unix-socket nginx block of docs/deploy.md ("Behind a proxy", `nginx-unix`)."""
    return deploy_block("nginx-unix")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_user() -> str:
    for name in ("www-data", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("no unprivileged user for nginx's workers")


@pytest.fixture
def work_dir():
    # Not pytest's tmp_path: its directories are 0700, which nginx's workers cannot enter.
    path = Path(tempfile.mkdtemp(prefix="ferrule-nginx-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_nginx_recipe_serves_through_a_unix_socket_as_written(work_dir: Path) -> None:
    sock = work_dir / "myapp.sock"
    port = free_port()
    site = recipe()
    assert "server unix:/run/ferrule.sock;" in site and "listen 80;" in site
    site = site.replace("unix:/run/ferrule.sock", f"unix:{sock}").replace(
        "listen 80;", f"listen 127.0.0.1:{port};")
    conf = work_dir / "nginx.conf"
    conf.write_text(
        f"user {worker_user()};\nworker_processes 1;\npid {work_dir}/nginx.pid;\n"
        f"error_log {work_dir}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{site}}}\n")
    # Under the test runner's umask (022 here), as a deploy would start it.
    server = start_server("--bind", f"unix:{sock}", "apps.dropin:app", bind=None)
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = Conn(("127.0.0.1", port))
                break
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read().decode()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        with conn:
            resp = conn.request("GET", "/through-nginx", headers={"Host": "example.com"})
            assert resp.status == 200, (resp.body, (work_dir / "error.log").read_text())
            assert b'"PATH_INFO": "/through-nginx"' in resp.body
            # On a unix socket, SERVER_NAME comes from the Host nginx passes on.
            assert b'"SERVER_NAME": "example.com"' in resp.body
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait(timeout=10)
        server.stop()
