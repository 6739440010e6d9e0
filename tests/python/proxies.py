"""Real proxies in front of ferrule for the e2e tests: nginx, HAProxy and Apache httpd, each
started on free loopback ports with a config generated from the block of `docs/deploy.md`
that documents it (marked `<!-- tested: NAME -->`), and stopped by PID.

The blocks are used verbatim but for their addresses: `127.0.0.1:8000` (ferrule) becomes
the test server's address, `unix:/run/ferrule.sock` its socket, `listen 80`/`bind :80`
/`*:80` a free port, and the certificate paths a self-signed pair made for the test. Each
replacement must happen, so a doc edit that the tests no longer follow fails loudly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
START_TIMEOUT = 15.0


def tested_block(name: str) -> str:
    """The fenced block after `<!-- tested: NAME -->` in docs/deploy.md."""
    text = DEPLOY_DOC.read_text()
    match = re.search(rf"<!-- tested: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"no tested block {name!r} in {DEPLOY_DOC}"
    return match.group(1)


def replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is no longer in the documented config"
    return text.replace(old, new)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require(binary: str) -> str:
    """The path of a proxy's binary; the test is skipped only outside CI (which installs
    them in .ci/run)."""
    for directory in ("/usr/sbin", "/usr/bin", "/sbin"):
        path = Path(directory) / binary
        if path.exists():
            return str(path)
    found = shutil.which(binary)
    if found:
        return found
    if os.environ.get("CI"):
        raise AssertionError(f"{binary} is not installed; .ci/run installs it")
    pytest.skip(f"{binary} is not installed (apt-get install nginx-light haproxy apache2)")


class Proxy:
    """A proxy process: its listening port(s), stopped by PID."""

    def __init__(self, name: str, proc: subprocess.Popen, port: int, workdir: Path,
                 tls_port: int | None = None) -> None:
        self.name = name
        self.proc = proc
        self.port = port
        self.tls_port = tls_port
        self.workdir = workdir

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def log(self) -> str:
        return "".join(path.read_text(errors="replace")
                       for path in sorted(self.workdir.glob("*.log")))

    def stop(self) -> None:
        if self.proc.poll() is None:
            # nginx and HAProxy stop quickly on TERM, Apache's -DFOREGROUND too.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_listening(proxy: Proxy, *addresses: int | Path) -> None:
    """Wait until `proxy` accepts connections on each of `addresses`: TCP ports on
    127.0.0.1, or the paths of Unix sockets."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(addresses)
    while pending:
        if proxy.proc.poll() is not None:
            out = proxy.proc.stdout.read().decode(errors="replace") if proxy.proc.stdout else ""
            raise AssertionError(f"{proxy.name} exited with {proxy.proc.returncode}:\n{out}\n"
                                 f"{proxy.log()}")
        try:
            _connect(pending[0])
            pending.pop(0)
        except OSError:
            if time.monotonic() > deadline:
                proxy.stop()
                raise AssertionError(f"{proxy.name} did not listen on {pending[0]}:\n"
                                     f"{proxy.log()}") from None
            time.sleep(0.05)


def _connect(address: int | Path) -> None:
    """Connects to `address` (a TCP port on 127.0.0.1, or a Unix socket's path) and closes."""
    if isinstance(address, Path):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(address))
    else:
        with socket.create_connection(("127.0.0.1", address), timeout=1):
            pass


def self_signed(workdir: Path) -> tuple[Path, Path]:
    cert, key = workdir / "site.pem", workdir / "site.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def ferrule_upstream(server) -> str:
    return f"unix:{server.unix_path}" if server.unix_path else f"{server.host}:{server.port}"


def start_nginx(workdir: Path, block: str, server) -> Proxy:
    """nginx with the documented block `block` ("nginx-tcp", "nginx-unix", "nginx-uwsgi")
    in front of `server`."""
    binary = require("nginx")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    text = tested_block(block)
    if server.unix_path:
        text = replace(text, "server unix:/run/ferrule.sock;", f"server unix:{server.unix_path};")
    else:
        text = replace(text, "server 127.0.0.1:8000;", f"server {ferrule_upstream(server)};")
    text = replace(text, "listen 80;", f"listen 127.0.0.1:{port};")
    tls_port = None
    if "listen 443 ssl;" in text:
        tls_port = free_port()
        cert, key = self_signed(workdir)
        text = replace(text, "listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;")
        text = replace(text, "/etc/ssl/certs/site.pem", str(cert))
        text = replace(text, "/etc/ssl/private/site.key", str(key))
    if "include uwsgi_params;" in text:
        shutil.copy("/etc/nginx/uwsgi_params", workdir / "uwsgi_params")
    temp = workdir / "temp"
    temp.mkdir(exist_ok=True)
    # As root nginx's workers would switch to nobody, who cannot reach a socket or a
    # directory the test made; the test's own user is fine.
    user = "user root;" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{text}
}}
""")
    proc = subprocess.Popen([binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proxy = Proxy("nginx", proc, port, workdir, tls_port)
    wait_listening(proxy, port, *([tls_port] if tls_port else []))
    return proxy


def start_haproxy(workdir: Path, server, send_proxy: str = "send-proxy-v2") -> Proxy:
    """HAProxy with the documented config in front of `server`; `send_proxy` is the
    server line's `send-proxy-v2` or `send-proxy`."""
    binary = require("haproxy")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    text = tested_block("haproxy")
    text = replace(text, "bind :80", f"bind 127.0.0.1:{port}")
    text = replace(text, "127.0.0.1:8000", ferrule_upstream(server))
    text = replace(text, "send-proxy-v2", send_proxy)
    stats = workdir / "stats.sock"
    (workdir / "haproxy.cfg").write_text(f"""
global
    stats socket {stats} level admin
    log stdout format raw local0 info
{text}
""")
    proc = subprocess.Popen([binary, "-db", "-f", str(workdir / "haproxy.cfg")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proxy = Proxy("haproxy", proc, port, workdir)
    # HAProxy may listen on the TCP port before it has bound the stats socket (seen in 9
    # of 40 starts of 2.6), so a caller's first `show stat` could find no socket.
    wait_listening(proxy, port, stats)
    return proxy


def start_haproxy_tls_passthrough(workdir: Path, server) -> Proxy:
    """HAProxy in TCP mode in front of a TLS `server`: the TLS session is the client's and
    Ferrule's (HAProxy never decrypts), the client's address travels in a v2 PROXY header
    sent before the handshake (`docs/tls.md`, "Behind a TCP load balancer")."""
    binary = require("haproxy")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (workdir / "haproxy.cfg").write_text(f"""
global
    log stdout format raw local0 info
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend tls_in
    bind 127.0.0.1:{port}
    default_backend app
backend app
    server s1 {ferrule_upstream(server)} send-proxy-v2
""")
    proc = subprocess.Popen([binary, "-db", "-f", str(workdir / "haproxy.cfg")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proxy = Proxy("haproxy", proc, port, workdir)
    wait_listening(proxy, port)
    return proxy


def haproxy_server_status(proxy: Proxy) -> str:
    """The `status` column of `show stat` for the backend's server (`UP`, `DOWN`, ...)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(proxy.workdir / "stats.sock"))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    columns = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(columns, line.split(",")))
        if row.get("svname") == "app1":
            return row["status"]
    raise AssertionError(f"no server app1 in:\n{data.decode()}")


APACHE_MODULES = ("mpm_event", "authz_core", "proxy", "proxy_http", "headers")


def start_apache(workdir: Path, server) -> Proxy:
    """Apache httpd with the documented virtual host in front of `server`."""
    binary = require("apache2")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    text = tested_block("apache")
    text = replace(text, "<VirtualHost *:80>", f"<VirtualHost 127.0.0.1:{port}>")
    text = replace(text, "http://127.0.0.1:8000/", f"http://{ferrule_upstream(server)}/")
    # Debian builds some modules in (`apache2 -l`); load only the others.
    built_in = subprocess.run([binary, "-l"], capture_output=True, text=True).stdout
    modules = "\n".join(f"LoadModule {name}_module /usr/lib/apache2/modules/mod_{name}.so"
                        for name in APACHE_MODULES if f"mod_{name}.c" not in built_in)
    user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
    (workdir / "httpd.conf").write_text(f"""
ServerRoot {workdir}
ServerName localhost
DefaultRuntimeDir {workdir}
PidFile {workdir}/httpd.pid
ErrorLog {workdir}/error.log
LogLevel warn
Mutex file:{workdir} default
{user}
{modules}
Listen 127.0.0.1:{port}
{text}
""")
    env = dict(os.environ, APACHE_RUN_DIR=str(workdir), APACHE_LOCK_DIR=str(workdir),
               APACHE_LOG_DIR=str(workdir))
    proc = subprocess.Popen([binary, "-f", str(workdir / "httpd.conf"), "-DFOREGROUND"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    proxy = Proxy("apache", proc, port, workdir)
    wait_listening(proxy, port)
    return proxy
