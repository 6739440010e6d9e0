"""Real-world gunicorn command lines, with `gunicorn` replaced by `ferrule` and nothing else
changed (issue #13): the forms of the common deployment guides (Heroku `web:` lines, Docker
`CMD`s, Cloud Run, systemd units, Kubernetes `args`, `GUNICORN_CMD_ARGS`, a
`gunicorn.conf.py`). Each either starts and serves, or fails with the message
docs/gunicorn.md documents for it.

`{port}` in a row is a free port; `{dir}` the row's working directory, which holds the
project: `myproject/wsgi.py` (a real Django app, as `startproject` lays it out), `main.py`
and `app.py` (`app` and a Flask-style `create_app()` factory).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ferrule_proc import HERE, start_server
from rawhttp import Conn


@dataclass
class Row:
    id: str
    #: The command as the guide writes it, `gunicorn` replaced by `ferrule`.
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: None: starts and serves; else (exit code, the last line of stderr).
    fails: tuple[int, str] | None = None
    #: Served over this unix socket (relative to the working directory) instead of TCP.
    unix: str | None = None


GUNICORN_CONF = textwrap.dedent("""\
    # gunicorn.conf.py, in the style of the common deployment guides.
    import multiprocessing
    import os

    bind = "127.0.0.1:" + os.environ.get("APP_PORT", "8000")
    workers = min(multiprocessing.cpu_count() * 2 + 1, 2)
    threads = 2
    timeout = 120
    keepalive = 5
    accesslog = "-"
    errorlog = "-"
    loglevel = "info"
    access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'

    def post_fork(server, worker):
        server.log.info("Worker spawned (pid: %s)", worker.pid)

    def pre_request(worker, req):
        worker.log.debug("%s %s", req.method, req.path)
    """)

APP = textwrap.dedent("""\
    def app(environ, start_response):
        body = ("%s %s" % (environ["PATH_INFO"], environ.get("DJANGO_SETTINGS_MODULE_SEEN", ""))).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    def create_app():
        return app
    """)

APP_ASGI = textwrap.dedent("""\
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})
    """)

APP_WITH_ENV = textwrap.dedent("""\
    import os

    def app(environ, start_response):
        body = os.environ.get("DJANGO_SETTINGS_MODULE", "-").encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    """)

ROWS = [
    # Heroku's Procfile (Django's deployment docs): PORT and WEB_CONCURRENCY come from the
    # platform.
    Row("heroku-django", ["ferrule", "myproject.wsgi"], env={"PORT": "{port}",
                                                            "WEB_CONCURRENCY": "2"}),
    Row("heroku-log-file", ["ferrule", "myproject.wsgi", "--log-file", "-"],
        env={"PORT": "{port}"}),
    Row("heroku-gthread", ["ferrule", "--worker-class", "gthread", "--threads", "4",
                           "myproject.wsgi:application"], env={"PORT": "{port}"}),
    # Docker CMDs.
    Row("docker-django", ["ferrule", "--bind", "0.0.0.0:{port}", "--workers", "3",
                          "myproject.wsgi:application"]),
    Row("docker-shm", ["ferrule", "--worker-tmp-dir", "/dev/shm", "--workers=2", "--threads=4",
                       "--worker-class=gthread", "--log-file=-", "--bind", "0.0.0.0:{port}",
                       "app:app"]),
    Row("docker-flask-factory", ["ferrule", "-w", "2", "-b", ":{port}", "app:create_app()"]),
    # Google Cloud Run's Python quickstart.
    Row("cloud-run", ["ferrule", "--bind", ":{port}", "--workers", "1", "--threads", "8",
                      "--timeout", "0", "main:app"]),
    # GUNICORN_CMD_ARGS (Render, DigitalOcean App Platform).
    Row("cmd-args-env", ["ferrule", "app:app"],
        env={"GUNICORN_CMD_ARGS": "--bind=127.0.0.1:{port} --workers=2 --access-logfile=-"}),
    # systemd unit (DigitalOcean's Django tutorial), on a unix socket.
    Row("systemd-socket", ["ferrule", "--access-logfile", "-", "--workers", "3", "--bind",
                           "unix:{dir}/gunicorn.sock", "myproject.wsgi:application"],
        unix="gunicorn.sock"),
    # Kubernetes container args.
    Row("kubernetes-args", ["ferrule", "--bind=0.0.0.0:{port}", "--workers=2", "--timeout=60",
                            "--graceful-timeout=30", "--keep-alive=5", "--max-requests=1000",
                            "--max-requests-jitter=50", "--chdir", "{dir}", "app:app"]),
    # A gunicorn.conf.py with hooks, unmodified.
    Row("conf-py", ["ferrule", "-c", "gunicorn.conf.py", "app:app"], env={"APP_PORT": "{port}"}),
    Row("env-flag", ["ferrule", "-e", "DJANGO_SETTINGS_MODULE=myproject.settings", "-b",
                     "127.0.0.1:{port}", "withenv:app"]),
    Row("preload", ["ferrule", "--preload", "-w", "2", "-b", "127.0.0.1:{port}", "app:app"]),
    # What ferrule refuses, with the documented message.
    # FastAPI's "Server Workers" guide (the gunicorn + uvicorn worker recipe).
    Row("uvicorn-worker", ["ferrule", "main_asgi:app", "--workers", "2", "--worker-class",
                           "uvicorn.workers.UvicornWorker", "--bind", "127.0.0.1:{port}"]),
    # Behind a proxy that sets X-Forwarded-* (gunicorn's deployment docs); statsd (its
    # instrumentation docs), to a port nobody reads: UDP sends do not fail.
    Row("forwarded", ["ferrule", "--forwarded-allow-ips", "*", "-b", "127.0.0.1:{port}",
                      "app:app"]),
    Row("statsd", ["ferrule", "--statsd-host", "127.0.0.1:9", "--statsd-prefix", "myapp",
                   "-b", "127.0.0.1:{port}", "app:app"]),
    Row("gevent", ["ferrule", "-k", "gevent", "--worker-connections", "1000", "app:app"],
        fails=(2, "ferrule: -k names a gevent, eventlet or tornado worker; ferrule has none: it "
                  "runs WSGI apps on OS threads, which wait on I/O with the GIL released. Drop "
                  "-k and raise --threads for apps that mostly wait, got 'gevent'")),
    Row("daemon", ["ferrule", "--daemon", "--pid", "{dir}/app.pid", "app:app"],
        fails=(2, "ferrule: --daemon is not supported: ferrule does not daemonize: run it under "
                  "systemd, supervisord or a container runtime (docs/deploy.md).")),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "myproject").mkdir()
    (root / "myproject" / "__init__.py").write_text("")
    (root / "myproject" / "wsgi.py").write_text(
        "from apps.frameworks.django_app import app as application\n")
    (root / "main.py").write_text(APP)
    (root / "app.py").write_text(APP)
    (root / "withenv.py").write_text(APP_WITH_ENV)
    (root / "main_asgi.py").write_text(APP_ASGI)
    (root / "gunicorn.conf.py").write_text(GUNICORN_CONF)
    return root


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_a_gunicorn_command_line_starts_and_serves_or_says_why_not(project: Path,
                                                                   row: Row) -> None:
    port = free_port()

    def fill(text: str) -> str:
        return text.replace("{port}", str(port)).replace("{dir}", str(project))

    command = [fill(word) for word in row.command]
    assert command[0] == "ferrule"
    env = {name: fill(value) for name, value in row.env.items()}
    # The project's directory is the working directory, as in each guide; apps.* (the Django
    # app behind myproject.wsgi) comes from PYTHONPATH.
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])

    if row.fails is not None:
        result = subprocess.run([sys.executable, "-m", "ferrule", *command[1:]],
                                capture_output=True, text=True, timeout=60, cwd=project,
                                env=dict(os.environ, **env), check=False)
        assert (result.returncode, result.stderr.strip().splitlines()[-1]) == row.fails
        return

    server = start_server(*command[1:], bind=None, cwd=str(project), env=env)
    try:
        if row.unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            sock.connect(str(project / row.unix))
            conn = Conn.__new__(Conn)
            conn.sock, conn.buf = sock, b""
        else:
            conn = Conn(("127.0.0.1", port))
        django = "myproject.wsgi" in " ".join(command)
        with conn:
            resp = conn.request("GET", "/items/corpus" if django else "/corpus/",
                                headers={"Host": "localhost"})
            assert resp.status == 200, resp.body
            if django:
                assert json.loads(resp.body) == {"name": "corpus", "q": None}
            elif row.id == "env-flag":
                assert resp.body == b"myproject.settings"
            else:
                assert resp.body.startswith(b"/corpus/")
    finally:
        assert server.stop() == 0, server.log()
