#!/usr/bin/env python3
"""The full benchmark suite: Ferrule against Granian, gunicorn (sync, gthread), uWSGI,
waitress, bjoern, fastwsgi and nginx (ceiling reference for `hello`) on the WSGI workloads
of bench/apps.py, and against uvicorn (httptools + uvloop), Granian's ASGI interface,
gunicorn's ASGI worker (uvicorn-worker) and hypercorn on the ASGI ones, in two topologies.

Normally started by `bench/run.sh --suite full` (which installs everything first);
`--workloads hello,json` and `--topologies 1p` narrow it down. `--ferrule-baseline VENV`
adds a second Ferrule build (another commit's) as the peer `ferrule-base`, same flags, in
the same interleaved rounds: its ratio column is this build ÷ that one. `--threads 1,4`
measures every WSGI row once per thread count, as separate rows ('hello 1p 4t'), and
checks the targets in each. See bench/README.md.

Per row (workload x topology), per round, each server in turn (interleaved A B C, A B C):
  wait (bounded) for a quiet machine; start the server on 127.0.0.1 and a free port
  (1p: pinned to core 0, one worker; 2p: two workers, unpinned); check one answer against
  the workload; warm up (discarded); measure with wrk (or the upload / idle clients);
  read the process tree's peak RSS and CPU time; stop it by PID.
Then medians and spread over rounds, ratios Ferrule / each peer, and under bench/results/:
suite-<stamp>.md (tables), suite-<stamp>.json (every raw run), suite-<stamp>.png (chart).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import run as R  # noqa: E402  (the /proc helpers, wrk parsing, machine facts)
from apps import WORKLOADS, Workload, ensure_cert, ensure_file, ensure_static_dir  # noqa: E402

SUBJECT = "ferrule"
BASELINE = "ferrule-base"     # --ferrule-baseline: another Ferrule build, as a peer
IDLE_CONNECTIONS = 10_000
UPLOAD_SIZE = 100_000_000
DEFAULT_2P = "hello,json,flask"
# the rows measured with every --threads count (the others with the first only): those
# with an issue #14 target, which must hold in both configurations
DEFAULT_ALL_THREADS = "hello,json,big,echo,upload,file,flask,django"


def parse_thread_counts(text: str) -> list[int]:
    """--threads: "4" or "1,4" -> [1, 4] (distinct, in the order given, each >= 1)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            n = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a thread count: {part!r}") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"thread counts start at 1, not {n}")
        if n not in out:
            out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("no thread count given")
    return out


def row_thread_configs(wl: Workload, counts: list[int],
                       every: set[str] | None = None) -> list[int | None]:
    """The --threads counts a workload is measured with: each, for the WSGI rows in
    `every` (None: all of them); the first only for the others and for the ASGI rows (an
    event loop: the pool size is not what they measure); none (None: the row's own count)
    for a row with its own, like sleep's 8."""
    if wl.threads is not None:
        return [None]
    if wl.interface == "asgi" or (every is not None and wl.name not in every):
        return counts[:1]
    return list(counts)


def config_thread_counts(cfg: dict) -> list[int]:
    """The run's --threads as a list (an older report stored one int)."""
    t = cfg.get("threads", 1)
    return [t] if isinstance(t, int) else list(t)


def row_thread_config(row: dict, counts: list[int]) -> int | None:
    if "thread_config" in row:
        return row["thread_config"]
    # an older report: every row without its own count ran the one --threads
    return None if WORKLOADS[row["workload"]].threads is not None else counts[0]


def row_label(row: dict, counts: list[int]) -> str:
    """'hello 1p', or 'hello 1p 4t' when the run measures several thread counts (or one
    other than 1): the name of the row in the tables, the chart and the targets."""
    tc = row_thread_config(row, counts)
    base = f"{row['workload']} {row['topology']}"
    return f"{base} {tc}t" if tc is not None and (len(counts) > 1 or tc != 1) else base


class NotApplicable(Exception):
    """This server cannot run this row; the reason is shown as n/a in the table."""


@dataclass
class Ctx:
    port: int
    threads: int
    workers: int
    wl: Workload
    tmp: Path          # per-run scratch dir (nginx config, ...)
    venv_bin: Path
    # True when the thread count is the row's own (sleep: 8), which a server without
    # threads cannot honour; False when it is a --threads configuration, where a server
    # without threads runs its only configuration, one thread, as the reference.
    own_threads: bool = False


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    dist: str | None                      # distribution for the version (None: not Python)
    build: Callable[[Ctx], list[str]]     # argv, or raises NotApplicable
    venv: Path | None = None              # its own venv instead of --venv


def peer_bin(peer: Peer, args) -> Path:
    return (peer.venv or args.venv) / "bin"


def missing_imports(venv: Path, workloads: list[str]) -> str | None:
    """What `venv`'s Python cannot import of what the `workloads`' apps need (Ferrule runs
    the app in its own venv, so a venv with only Ferrule answers 500 on the framework rows),
    as one line with the fix; None when it has all of it."""
    need: dict[str, list[str]] = {}
    for w in workloads:
        for mod in WORKLOADS[w].imports:
            need.setdefault(mod, []).append(w)
    if not need:
        return None
    probe = ("import importlib.util, sys\n"
             "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe, *need],
                         capture_output=True, text=True, check=False)
    missing = out.stdout.split() if out.returncode == 0 else list(need)
    if not missing:
        return None
    rows = sorted({w for m in missing for w in need[m]})
    return (f"cannot import {', '.join(missing)} (the app of the {', '.join(rows)} "
            f"row(s)); install it there: {venv / 'bin' / 'pip'} install {' '.join(missing)}")


def use_ferrule_venvs(ferrule_venv: Path | None, baseline: Path | None) -> None:
    """--ferrule-venv: the Ferrule row runs that venv's ferrule; --ferrule-baseline: a
    second Ferrule build as the peer `ferrule-base`, with exactly the Ferrule row's flags
    (the same _ferrule), so its ratio is this build ÷ that one."""
    if ferrule_venv is not None:
        PEERS[SUBJECT] = replace(PEERS[SUBJECT], venv=ferrule_venv)
        PEERS["ferrule-observed"] = replace(PEERS["ferrule-observed"], venv=ferrule_venv)
        PEERS["ferrule-normal"] = replace(PEERS["ferrule-normal"], venv=ferrule_venv)
    if baseline is not None:
        PEERS[BASELINE] = Peer(BASELINE, "Ferrule baseline", "ferrule", _ferrule, venv=baseline)


def _wsgi_only(c: Ctx, who: str) -> None:
    if c.wl.interface != "wsgi":
        raise NotApplicable(f"{who} does not serve ASGI apps")


def _asgi_only(c: Ctx, who: str) -> None:
    if c.wl.interface != "asgi":
        raise NotApplicable(f"{who} serves ASGI apps only")


def _ferrule(c: Ctx) -> list[str]:
    argv = [str(c.venv_bin / "ferrule"), "--bind", f"127.0.0.1:{c.port}",
            "--threads", str(c.threads), "--pythonpath", str(BENCH_DIR),
            "--log-level", "warning"]
    if ferrule_has_workers(c.venv_bin):
        argv += ["--workers", str(c.workers)]
    elif c.workers > 1:
        raise NotApplicable("Ferrule has no --workers yet (one worker process only)")
    if c.wl.kind == "idle":
        argv += ["--max-connections", str(IDLE_CONNECTIONS + 2000), "--keepalive-timeout", "600s"]
        if c.wl.interface == "asgi":
            # The idle client answers no pings: measure memory, not the keep-alive pings.
            argv += ["--ws-ping-interval", ""]
    if c.wl.interface == "asgi":
        argv += ["--interface", "asgi"]
    if c.wl.static:
        argv += ["--static-map", f"/static={ensure_static_dir()}"]
    if c.wl.tls:
        cert, key = ensure_cert()
        argv += ["--certfile", cert, "--keyfile", key]
    # h2-hello: cleartext HTTP/2 by prior knowledge is on by default (--http2-cleartext).
    return argv + [c.wl.target]


def _ferrule_observed(c: Ctx) -> list[str]:
    """Ferrule with everything issue #11 reports switched on: the metrics listener and
    statsd (sent once a second to a port nothing listens on, so the master reads every
    worker's counters and sends each second, as under a scraper). The counting itself runs
    in every Ferrule row (it is always on): its cost is an A/B against a build without it
    (`--ferrule-baseline`), this row's the cost of reporting."""
    argv = _ferrule(c)
    if "--metrics-bind" not in R._run_text([str(c.venv_bin / "ferrule"), "--help"]):
        raise NotApplicable("this Ferrule build has no --metrics-bind (issue #11)")
    return argv[:-1] + ["--metrics-bind", "127.0.0.1:0", "--statsd-host", "127.0.0.1:9"] + argv[-1:]


def _ferrule_sched_normal(c: Ctx) -> list[str]:
    """Ferrule with `--sched-policy normal` (every worker thread SCHED_OTHER): the other
    side of the default `batch`, for apps whose requests run in threads the app starts
    (docs/deploy.md, "Scheduling policy")."""
    argv = _ferrule(c)
    return argv[:-1] + ["--sched-policy", "normal"] + argv[-1:]


def _no_static(c: Ctx, who: str) -> None:
    if c.wl.static:
        raise NotApplicable(f"{who}: no static file serving of its own")


_HAS_WORKERS: dict[str, bool] = {}


def ferrule_has_workers(venv_bin: Path) -> bool:
    key = str(venv_bin)
    if key not in _HAS_WORKERS:
        out = R._run_text([str(venv_bin / "ferrule"), "--help"])
        _HAS_WORKERS[key] = "--workers" in out
    return _HAS_WORKERS[key]


def _granian(c: Ctx) -> list[str]:
    return [str(c.venv_bin / "granian"), "--interface", c.wl.interface, "--host", "127.0.0.1",
            "--port", str(c.port), "--workers", str(c.workers),
            "--blocking-threads", str(c.threads), "--runtime-threads", "1",
            "--http", "2" if c.wl.http2 else "1",
            *([] if c.wl.kind == "ws" or c.wl.name == "ws-idle" else ["--no-ws"]),
            "--no-access-log",
            "--log-level", "warning",
            "--working-dir", str(BENCH_DIR)] + (
        # its default backpressure (backlog / workers = 1024) would leave most of the idle
        # connections unserved
        ["--backlog", "4096", "--backpressure", str(IDLE_CONNECTIONS + 2000)]
        if c.wl.kind == "idle" else []) + (
        ["--static-path-route", "/static", "--static-path-mount", ensure_static_dir()]
        if c.wl.static else []) + (
        ["--ssl-certificate", ensure_cert()[0], "--ssl-keyfile", ensure_cert()[1]]
        if c.wl.tls else []) + [c.wl.target]


def _gunicorn_sync(c: Ctx) -> list[str]:
    if c.wl.static:
        raise NotApplicable("the whitenoise row runs under gunicorn gthread")
    _wsgi_only(c, "gunicorn's sync worker")
    if c.threads > 1:
        raise NotApplicable("sync worker: one request at a time per process, no threads"
                            + ("" if c.own_threads else
                               " (its one-thread figure is in the 1-thread row)"))
    if c.wl.kind == "idle":
        raise NotApplicable("sync worker: no keep-alive, closes every connection")
    return [str(c.venv_bin / "gunicorn"), "--worker-class", "sync", "--workers", str(c.workers),
            "--bind", f"127.0.0.1:{c.port}", "--chdir", str(BENCH_DIR), "--log-level",
            "warning", c.wl.target]


def _gunicorn_gthread(c: Ctx) -> list[str]:
    _wsgi_only(c, "gunicorn's gthread worker")
    argv = [str(c.venv_bin / "gunicorn"), "--worker-class", "gthread", "--workers",
            str(c.workers), "--threads", str(c.threads), "--bind", f"127.0.0.1:{c.port}",
            "--chdir", str(BENCH_DIR), "--log-level", "warning"]
    if c.wl.kind == "idle":
        argv += ["--worker-connections", str(IDLE_CONNECTIONS + 2000), "--keep-alive", "600"]
    if c.wl.http2:
        raise NotApplicable("gunicorn's HTTP/2 (beta) needs TLS and the h2 package")
    if c.wl.tls:
        cert, key = ensure_cert()
        argv += ["--certfile", cert, "--keyfile", key]
    if c.wl.static:
        # gunicorn has no static files: whitenoise in the app, as Django projects deploy it
        return argv + ["apps:whitenoise_app"]
    return argv + [c.wl.target]


def _uwsgi(c: Ctx) -> list[str]:
    _wsgi_only(c, "uWSGI (as benchmarked here)")
    if c.wl.kind == "idle":
        raise NotApplicable("--http-socket has no keep-alive: closes every connection")
    # --http-socket closes the connection after every response; without a
    # `Connection: close` header wrk would count each close as a read error, so the header
    # is added and wrk reconnects cleanly (uWSGI pays a connection per request, as
    # deployed this way). --http11-socket (keep-alive) ties a worker thread to one
    # connection: with 64 connections and 1 thread it serves one client and starves 63.
    argv = [str(c.venv_bin / "uwsgi"), "--http-socket", f"127.0.0.1:{c.port}",
            "--add-header", "Connection: close", "--master",
            "--processes", str(c.workers), "--pythonpath", str(BENCH_DIR), "--module",
            c.wl.target, "--need-app", "--die-on-term", "--disable-logging",
            "--buffer-size", "32768", "--enable-threads"]
    if c.threads > 1:
        argv += ["--threads", str(c.threads)]
    if c.wl.static:
        argv += ["--static-map", f"/static={ensure_static_dir()}"]
    return argv


def _waitress(c: Ctx) -> list[str]:
    _no_static(c, "waitress")
    _wsgi_only(c, "waitress")
    if c.workers > 1:
        raise NotApplicable("one process only (no workers)")
    argv = [str(c.venv_bin / "waitress-serve"), f"--listen=127.0.0.1:{c.port}",
            f"--threads={c.threads}", "--asyncore-use-poll"]
    if c.wl.kind == "idle":
        argv += [f"--connection-limit={IDLE_CONNECTIONS + 2000}", "--channel-timeout=600"]
    # waitress-serve imports the app from the current directory (cwd is bench/)
    return argv + [c.wl.target]


def _one_thread_only(c: Ctx, who: str) -> None:
    """bjoern and fastwsgi: one process, one thread. In a --threads N row (N > 1) they run
    that one thread all the same, as the single-threaded reference the issue #14 targets
    compare with in both configurations; only a row that needs threads (sleep) is n/a."""
    if c.workers > 1:
        raise NotApplicable(f"{who}: one process only (no workers)")
    if c.threads > 1 and c.own_threads:
        raise NotApplicable(f"{who}: one thread, no thread pool (a blocking app blocks all)")


def _bjoern(c: Ctx) -> list[str]:
    _no_static(c, "bjoern")
    _wsgi_only(c, "bjoern")
    _one_thread_only(c, "bjoern")
    return [str(c.venv_bin / "python"), str(BENCH_DIR / "serve_other.py"), "bjoern",
            str(c.port), c.wl.target]


def _fastwsgi(c: Ctx) -> list[str]:
    _no_static(c, "fastwsgi")
    _wsgi_only(c, "fastwsgi")
    _one_thread_only(c, "fastwsgi")
    return [str(c.venv_bin / "python"), str(BENCH_DIR / "serve_other.py"), "fastwsgi",
            str(c.port), c.wl.target]


NGINX_CONF = """worker_processes {workers};
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    # for the static rows, as nginx guides configure static files; `hello` is unaffected
    sendfile on;
    tcp_nopush on;
    include /etc/nginx/mime.types;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/plain;
            return 200 "Hello, world!";
        }}
        location /static/ {{
            alias {static}/;
        }}
    }}
}}
"""


def _nginx(c: Ctx) -> list[str]:
    if not (c.wl.nginx or c.wl.static):
        raise NotApplicable("not a WSGI server: a canned answer for hello, and static files")
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        raise NotApplicable("nginx not installed (Debian nginx-light)")
    d = c.tmp / "nginx"
    d.mkdir(parents=True, exist_ok=True)
    (d / "nginx.conf").write_text(NGINX_CONF.format(workers=c.workers, dir=d, port=c.port,
                                                    static=ensure_static_dir()))
    return [exe, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"]


def _uvicorn(c: Ctx) -> list[str]:
    _asgi_only(c, "uvicorn")
    return [str(c.venv_bin / "uvicorn"), "--host", "127.0.0.1", "--port", str(c.port),
            "--workers", str(c.workers), "--loop", "uvloop", "--http", "httptools",
            "--ws", "websockets", "--no-access-log", "--log-level", "warning",
            "--app-dir", str(BENCH_DIR), c.wl.target]


def _gunicorn_asgi(c: Ctx) -> list[str]:
    _asgi_only(c, "gunicorn's ASGI worker")
    return [str(c.venv_bin / "gunicorn"), "--worker-class", "uvicorn_worker.UvicornWorker",
            "--workers", str(c.workers), "--bind", f"127.0.0.1:{c.port}",
            "--chdir", str(BENCH_DIR), "--log-level", "warning", c.wl.target]


def _hypercorn(c: Ctx) -> list[str]:
    _asgi_only(c, "hypercorn")
    return [str(c.venv_bin / "hypercorn"), "--bind", f"127.0.0.1:{c.port}", "--workers",
            str(c.workers), "--worker-class", "uvloop", "--log-level", "warning",
            c.wl.target]


def _http1_plain(build: Callable[[Ctx], list[str]], who: str) -> Callable[[Ctx], list[str]]:
    """A peer measured here over plain HTTP/1.1 only: n/a for the TLS and HTTP/2 rows."""
    def checked(c: Ctx) -> list[str]:
        if c.wl.tls or c.wl.http2:
            raise NotApplicable(f"{who}: TLS and HTTP/2 rows run against Ferrule, Granian "
                                "(and gunicorn gthread for TLS) only")
        return build(c)
    return checked


PEERS: dict[str, Peer] = {p.name: p for p in [
    Peer("ferrule", "Ferrule", "ferrule", _ferrule),
    Peer("ferrule-observed", "Ferrule, metrics + statsd on", "ferrule", _ferrule_observed),
    Peer("ferrule-normal", "Ferrule, --sched-policy normal", "ferrule", _ferrule_sched_normal),
    Peer("granian", "Granian", "granian", _granian),
    Peer("gunicorn-sync", "gunicorn sync", "gunicorn", _http1_plain(_gunicorn_sync, "gunicorn sync")),
    Peer("gunicorn-gthread", "gunicorn gthread", "gunicorn", _gunicorn_gthread),
    Peer("uwsgi", "uWSGI", "uwsgi", _http1_plain(_uwsgi, "uWSGI")),
    Peer("waitress", "waitress", "waitress", _http1_plain(_waitress, "waitress")),
    Peer("bjoern", "bjoern", "bjoern", _http1_plain(_bjoern, "bjoern")),
    Peer("fastwsgi", "fastwsgi", "fastwsgi", _http1_plain(_fastwsgi, "fastwsgi")),
    Peer("nginx", "nginx (static)", None, _http1_plain(_nginx, "nginx (static)")),
    Peer("uvicorn", "uvicorn", "uvicorn", _http1_plain(_uvicorn, "uvicorn")),
    Peer("gunicorn-asgi", "gunicorn ASGI worker", "uvicorn-worker", _http1_plain(_gunicorn_asgi, "gunicorn ASGI worker")),
    Peer("hypercorn", "hypercorn", "hypercorn", _http1_plain(_hypercorn, "hypercorn")),
]}


# --------------------------------------------------------------------------------------
# Topologies
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Topo:
    name: str
    workers: int
    server_cpu: str | None     # taskset list, or None (unpinned)
    client_cpu: str | None
    wrk_threads: int
    note: str


TOPOS = {
    "1p": Topo("1p", 1, "0", "1", 1,
               "one worker process, server pinned to core 0, load generator pinned to core 1"),
    "2p": Topo("2p", 2, None, None, 2,
               "two worker processes, unpinned; the load generator competes with the "
               "server for the same 2 cores"),
}


# --------------------------------------------------------------------------------------
# Requests: the readiness check, wrk Lua scripts
# --------------------------------------------------------------------------------------

def check_answer_h2(port: int, wl: Workload, timeout: float = 2.0) -> tuple[bool, str]:
    """The readiness check of an HTTP/2 row: curl by prior knowledge (Granian's --http 2
    serves no HTTP/1.1)."""
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", f"{timeout:g}",
                        "-w", "\n%{http_code} %{http_version}", f"http://127.0.0.1:{port}{wl.path}"],
                       capture_output=True, timeout=timeout + 5, check=False)
    if p.returncode != 0:
        raise OSError(p.stderr.decode(errors="replace").strip() or f"curl exited {p.returncode}")
    body, _, tail = p.stdout.rpartition(b"\n")
    problems = []
    if tail != f"{wl.expect_status} 2".encode():
        problems.append(f"status and version {tail!r} != {wl.expect_status} 2")
    if wl.expect_body is not None and body != wl.expect_body:
        problems.append(f"body {body[:60]!r} != {wl.expect_body[:60]!r}")
    return (not problems), ("; ".join(problems) if problems else tail.decode())


def check_answer(port: int, wl: Workload, timeout: float = 2.0) -> tuple[bool, str]:
    if wl.http2:
        return check_answer_h2(port, wl, timeout)
    if wl.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {}
        if wl.body is not None:
            headers["Content-Type"] = wl.content_type or "application/octet-stream"
        conn.request(wl.method, wl.path, body=wl.body, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    problems = []
    if resp.status != wl.expect_status:
        problems.append(f"status {resp.status} != {wl.expect_status}")
    expect = wl.expect_body
    if wl.name == "file":
        expect = Path(ensure_file()).read_bytes()
    if wl.name == "static-big":
        expect = (Path(ensure_static_dir()) / "big.bin").read_bytes()
    if expect is not None and body != expect:
        problems.append(f"body ({len(body)} bytes) {body[:60]!r} != expected ({len(expect)} "
                        f"bytes) {expect[:60]!r}")
    for name, value in wl.expect_headers.items():
        if hdrs.get(name) != value:
            problems.append(f"header {name}: {hdrs.get(name)!r} != {value!r}")
    return (not problems), ("; ".join(problems) if problems else f"{resp.status}")


def lua_script(wl: Workload, tmp: Path) -> Path | None:
    if wl.body is None:
        return None
    body = tmp / f"{wl.name}.body"
    body.write_bytes(wl.body)
    script = tmp / f"{wl.name}.lua"
    script.write_text(
        f'wrk.method = "{wl.method}"\n'
        f'wrk.headers["Content-Type"] = "{wl.content_type or "application/octet-stream"}"\n'
        f'local f = assert(io.open("{body}", "rb"))\n'
        'wrk.body = f:read("*a")\n'
        'f:close()\n')
    return script


def _taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus is not None else []


# --------------------------------------------------------------------------------------
# One run: start, check, warm up, measure, stop
# --------------------------------------------------------------------------------------

class Run:
    def __init__(self, peer: Peer, wl: Workload, topo: Topo, threads: int, args, tmp: Path,
                 log: Path, own_threads: bool = False):
        self.peer, self.wl, self.topo, self.args, self.log = peer, wl, topo, args, log
        self.port = R.free_port()
        self.ctx = Ctx(self.port, threads, topo.workers, wl, tmp, peer_bin(peer, args),
                       own_threads)
        self.argv = peer.build(self.ctx)               # may raise NotApplicable
        self.cmd = _taskset(topo.server_cpu) + self.argv
        self.proc: subprocess.Popen | None = None
        self.tree: dict[int, str] = {}

    def start(self) -> float:
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        env.pop("PYTHONPATH", None)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=BENCH_DIR, env=env,
                                         start_new_session=True)
        t0 = time.monotonic()
        last = "no answer"
        while time.monotonic() < t0 + R.READY_TIMEOUT:
            if self.proc.poll() is not None:
                raise R.ServerFailed(f"exited with status {self.proc.returncode} before "
                                     f"answering; log tail:\n{R.log_tail(self.log)}")
            try:
                ok, detail = check_answer(self.port, self.wl)
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
                time.sleep(0.1)
                continue
            if not ok:
                raise R.ServerFailed(f"wrong answer: {detail}")
            self.tree = R.process_tree(self.proc.pid)
            return time.monotonic() - t0
        raise R.ServerFailed(f"no answer within {R.READY_TIMEOUT:.0f} s ({last}); log tail:\n"
                             f"{R.log_tail(self.log)}")

    def refresh(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.tree.update(R.process_tree(self.proc.pid))

    def stop(self) -> dict:
        # Same as run.py's Server.stop: SIGTERM, SIGKILL after the grace; leftovers by PID.
        srv = R.Server.__new__(R.Server)
        srv.proc, srv.tree = self.proc, self.tree
        return R.Server.stop(srv)

    # -- load generators ---------------------------------------------------------------

    def wrk(self, duration: float, connections: int, path: str | None = None,
            script: Path | None = None) -> dict:
        scheme = "https" if self.wl.tls else "http"
        url = f"{scheme}://127.0.0.1:{self.port}{path or self.wl.path}"
        cmd = _taskset(self.topo.client_cpu) + [
            "wrk", f"-t{self.topo.wrk_threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--latency", "--timeout", f"{self.args.wrk_timeout:g}s"]
        for header in self.wl.wrk_headers:
            cmd += ["-H", header]
        if script is not None:
            cmd += ["-s", str(script)]
        cmd.append(url)
        return self._client(cmd, duration, R.parse_wrk, "Requests/sec")

    def h2load(self, duration: float) -> dict:
        """h2load over cleartext HTTP/2: 16 connections, 16 streams in flight on each (the
        issue's `h2load -c 16 -m 16`), for `duration` seconds."""
        cmd = _taskset(self.topo.client_cpu) + [
            "h2load", "-c", "16", "-m", "16", "-t", str(self.topo.wrk_threads),
            "-D", str(max(1, round(duration))), f"http://127.0.0.1:{self.port}{self.wl.path}"]
        return self._client(cmd, duration, R.parse_h2load, "req/s")

    def uploads(self, duration: float) -> dict:
        cmd = _taskset(self.topo.client_cpu) + [
            sys.executable, str(BENCH_DIR / "upload_client.py"), "--port", str(self.port),
            "--size", str(self.args.upload_size), "--connections",
            str(self.args.upload_connections), "--duration", f"{duration:g}",
            "--max-uploads", str(self.args.max_uploads)]

        def parse(out: str) -> dict:
            r = json.loads(out.strip().splitlines()[-1])
            e = r.pop("errors")
            r["non_2xx_3xx"] = e["non_2xx"]
            r["wrong_body"] = e["wrong_body"]
            r["socket_errors"] = {"connect": 0, "read": e["socket"], "write": 0,
                                  "timeout": e.get("timeout", 0)}
            return r
        return self._client(cmd, duration + 60, parse, '"requests"')

    def ws(self, duration: float, connections: int) -> dict:
        # The bench venv's Python: it has the `websockets` client (the suite's own may not).
        cmd = _taskset(self.topo.client_cpu) + [
            str(self.args.venv / "bin" / "python"), str(BENCH_DIR / "ws_client.py"),
            "--port", str(self.port),
            "--connections", str(connections), "--duration", f"{duration:g}"]

        def parse(out: str) -> dict:
            r = json.loads(out.strip().splitlines()[-1])
            e = r.pop("errors")
            r["non_2xx_3xx"] = 0
            r["wrong_body"] = e["wrong_body"]
            r["socket_errors"] = {"connect": 0, "read": e["socket"], "write": 0, "timeout": 0}
            return r
        return self._client(cmd, duration + 30, parse, '"requests"')

    def _client(self, cmd: list[str], duration: float, parse, marker: str) -> dict:
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + R.WRK_SLACK)
        wall = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0 or marker not in p.stdout:
            raise R.ServerFailed(f"load client failed ({p.returncode}): {p.stdout[-400:]} "
                                 f"{p.stderr[-400:]}")
        r = parse(p.stdout)
        r.update(client_cmd=cmd, wall_s=round(wall, 3), raw=p.stdout[-3000:],
                 client_cpu_s=round((ru1.ru_utime - ru0.ru_utime)
                                    + (ru1.ru_stime - ru0.ru_stime), 3))
        return r


def measure(peer: Peer, wl: Workload, topo: Topo, threads: int, args, tmp: Path,
            log_dir: Path, rnd: int, own_threads: bool = False) -> dict:
    rec: dict = {"server": peer.name, "round": rnd, "ok": False}
    try:
        run = Run(peer, wl, topo, threads, args, tmp, log_dir / f"{peer.name}-r{rnd}.log",
                  own_threads)
    except NotApplicable as e:
        rec["na"] = str(e)
        return rec
    exe = Path(run.argv[0])
    if not exe.exists():
        rec["error"] = f"not installed ({exe} missing)"
        failed = peer_bin(peer, args).parent / f"{peer.dist}-build-failed.txt"
        if failed.exists():
            rec["error"] = failed.read_text(errors="replace").strip()
        return rec
    rec["machine_before"] = R.wait_for_quiet(args.quiet_wait, args.quiet_threshold)
    rec["cmd"] = run.cmd
    script = lua_script(wl, tmp)
    idle = None
    try:
        rec["ready_s"] = round(run.start(), 3)
        if wl.kind == "idle":
            idle = subprocess.Popen(
                _taskset(topo.client_cpu) + [sys.executable, str(BENCH_DIR / "idle_client.py"),
                                             "--port", str(run.port), "--connections",
                                             str(args.idle_connections), "--setup-timeout",
                                             "40", "--hold", "180"]
                + (["--websocket", "/ws"] if wl.interface == "asgi" else []),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = idle.stdout.readline()
            if not line:
                raise R.ServerFailed(f"idle client failed: {idle.stderr.read()[-400:]}")
            rec["idle_setup"] = json.loads(line)
        if args.warmup > 0:
            if wl.kind == "upload":
                warm = run.uploads(args.warmup)
            elif wl.kind == "ws":
                warm = run.ws(args.warmup, args.connections)
            elif wl.kind == "h2load":
                warm = run.h2load(args.warmup)
            else:
                warm = run.wrk(args.warmup, args.connections, script=script)
            rec["warmup"] = {k: warm.get(k) for k in ("rps", "non_2xx_3xx", "socket_errors")}
        run.refresh()
        cpu0, srv0 = R.cpu_times(), R.tree_cpu_seconds(run.tree)
        if wl.kind == "upload":
            res = run.uploads(args.duration)
        elif wl.kind == "ws":
            res = run.ws(args.duration, args.connections)
        elif wl.kind == "h2load":
            res = run.h2load(args.duration)
        else:
            res = run.wrk(args.duration, args.connections, script=script)
        cpu1, srv1 = R.cpu_times(), R.tree_cpu_seconds(run.tree)
        run.refresh()
        rec["memory"] = R.tree_memory(run.tree)
        if idle is not None:
            rec["idle_rss_now_mib"] = round(sum(p["vmrss_kib"] or 0 for p in
                                                rec["memory"]["processes"]) / 1024, 1)
            idle.stdin.close()             # tells it to count what is still open and exit
            try:
                idle.wait(timeout=30)
                out = idle.stdout.read()
                rec["idle_end"] = json.loads(out.strip().splitlines()[-1])
            except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
                rec["idle_end"] = {"error": str(e)}
        if run.proc.poll() is not None:
            raise R.ServerFailed(f"server died during the run (status {run.proc.returncode}); "
                                 f"log tail:\n{R.log_tail(run.log)}")
        wall = res["wall_s"]
        srv_cpu = srv1 - srv0
        res["server_cpu_s"] = round(srv_cpu, 3)
        res["server_cpu_pct"] = round(100 * srv_cpu / wall, 1)
        res["cpu_s_per_1k"] = (1000 * srv_cpu / res["requests"]) if res.get("requests") else None
        if topo.server_cpu is not None:
            busy, steal = R.core_busy_seconds(cpu0, cpu1, topo.server_cpu)
            cbusy, _ = R.core_busy_seconds(cpu0, cpu1, topo.client_cpu)
            res["server_core_other_pct"] = round(100 * max(0.0, busy - srv_cpu) / wall, 1)
            res["server_core_steal_pct"] = round(100 * steal / wall, 1)
            res["client_core_busy_pct"] = round(100 * cbusy / wall, 1)
            res["client_core_other_pct"] = round(
                100 * max(0.0, cbusy - res["client_cpu_s"]) / wall, 1)
        else:
            # Unpinned: everything busy on the machine less the server's and the client's
            # own time is other work; shown per core (over the 2 cores).
            busy = sum(R.core_busy_seconds(cpu0, cpu1, c[3:])[0] for c in cpu1)
            other = max(0.0, busy - srv_cpu - res["client_cpu_s"]) / max(1, len(cpu1))
            res["server_core_other_pct"] = round(100 * other / wall, 1)
            res["client_core_other_pct"] = res["server_core_other_pct"]
            res["client_core_busy_pct"] = round(100 * res["client_cpu_s"] / wall, 1)
        rec.update(res)
        rec["ok"] = True
    except R.ServerFailed as e:
        rec["error"] = str(e)
    except subprocess.TimeoutExpired as e:
        rec["error"] = f"timed out: {e}"
    finally:
        if idle is not None and idle.poll() is None:
            idle.kill()
            idle.wait(timeout=10)
        rec["stop"] = run.stop() if run.proc is not None else None
        rec["log"] = str(run.log)
    return rec


# --------------------------------------------------------------------------------------
# Summary and report
# --------------------------------------------------------------------------------------

def summarize(records: list[dict], keep_noisy: bool) -> dict:
    na = next((r["na"] for r in records if r.get("na")), None)
    if na:
        return {"na": na, "rounds": len(records), "rounds_ok": 0}
    s = R.summarize(records, keep_noisy)
    if s.get("rps_median") is not None:
        used = [r for r in records if r.get("used")]
        s["cpu_s_per_1k"] = R._median([r.get("cpu_s_per_1k") for r in used])
        s["wrong_body"] = sum(r.get("wrong_body", 0) for r in used)
        if any("idle_setup" in r for r in used):
            s["idle_answered_min"] = min(r["idle_setup"]["answered"] for r in used)
            still = [r.get("idle_end", {}).get("still_open") for r in used]
            s["idle_still_open_min"] = None if None in still else min(still)
            s["idle_rss_now_mib"] = max(r.get("idle_rss_now_mib", 0) for r in used)
        if any("mb_per_s" in r for r in used):
            s["mb_per_s"] = R._median([r.get("mb_per_s") for r in used])
            # the upload client's own CPU (getrusage in the client): % of its core
            s["upload_client_cpu_pct"] = R._median([r.get("self_cpu_pct") for r in used])
    return s


def row_ratios(by_server: dict[str, list[dict]], sums: dict[str, dict]) -> dict:
    subj = sums.get(SUBJECT, {})
    out = {}
    for name, s in sums.items():
        if name == SUBJECT:
            continue
        if not subj.get("rps_median") or not s.get("rps_median"):
            out[name] = None
            continue
        per = []
        for a in by_server[SUBJECT]:
            b = next((r for r in by_server[name] if r["round"] == a["round"]), None)
            if a.get("used") and b and b.get("used"):
                per.append(a["rps"] / b["rps"])
        out[name] = {
            "rps": subj["rps_median"] / s["rps_median"],
            "rps_per_round_min": min(per) if per else None,
            "rps_per_round_max": max(per) if per else None,
            "p99": subj["p99_ms"] / s["p99_ms"] if subj.get("p99_ms") and s.get("p99_ms")
            else None,
            "rss": subj["rss_tree_mib"] / s["rss_tree_mib"] if s.get("rss_tree_mib") else None,
            "cpu_per_req": (subj["cpu_s_per_1k"] / s["cpu_s_per_1k"])
            if subj.get("cpu_s_per_1k") and s.get("cpu_s_per_1k") else None,
        }
    return out


def _cell_status(s: dict) -> str:
    if s.get("na"):
        return "n/a"
    if s.get("skipped"):
        return "not run"
    if not s.get("rps_median"):
        return "FAILED"
    return ""


NOT_PEERS = (SUBJECT, BASELINE, "ferrule-observed", "ferrule-normal", "nginx")   # not "the fastest peer"
# upload: a client core this busy (its own CPU and the kernel's loopback work there) means
# the client, not the server, may have set the rate; chosen without measurement
CLIENT_BOUND_PCT = 90.0


def targets(report: dict) -> list[tuple[str, str, str]]:
    """The "must reach" targets of issues #5, #10, #12, #14 and #16: (target, measured,
    holds?). The speed targets are checked once per --threads count (issue #14: "every
    target holds in both configurations"); the rows with their own thread count (sleep)
    and the ASGI rows once."""
    counts = config_thread_counts(report["config"])
    rows = {(r["workload"], r["topology"], row_thread_config(r, counts)): r
            for r in report["rows"]}
    out = []

    def check(name, value, ok, shown):
        out.append((name, shown if value is not None else "not measured",
                    "n/a" if value is None else ("yes" if ok else "**no**")))

    for tc in counts:
        start = len(out)

        def row(w, t, tc=tc):
            r = rows.get((w, t, tc))
            return r if r and not r.get("skipped") else None

        def ratio(w, t, peer, key="rps"):
            r = row(w, t)
            x = r and r.get("ratios", {}).get(peer)
            return x.get(key) if x else None

        def summ(w, t, server, key):
            r = row(w, t)
            return r and r.get("summary", {}).get(server, {}).get(key)

        def name(w, t, tc=tc):
            return row_label({"workload": w, "topology": t, "thread_config": tc}, counts)

        def at_least(w, t, peer, need, issue):
            v = ratio(w, t, peer)
            check(f"{name(w, t)} ≥ {need}× {PEERS[peer].label} ({issue})", v,
                  v is not None and v >= need, f"{v:.2f}×" if v else "")

        def fastest_peer(w, t, issue, what="≥ 1.0× the fastest peer"):
            r = row(w, t)
            cands = [(s.get("rps_median"), p) for p, s in r["summary"].items()
                     if p not in NOT_PEERS and s.get("rps_median")] if r else []
            best = max(cands) if cands else None
            f = summ(w, t, SUBJECT, "rps_median")
            v = f / best[0] if best and f else None
            check(f"{name(w, t)} {what} ({issue})", v, v is not None and v >= 1.0,
                  f"{v:.2f}× ({PEERS[best[1]].label})" if v else "")

        # issue #14's table (speed round 2)
        for w, peer, need in [("hello", "fastwsgi", 1.0),
                              ("json", "granian", 1.5), ("json", "fastwsgi", 1.0),
                              ("echo", "granian", 1.3), ("echo", "fastwsgi", 1.0)]:
            at_least(w, "1p", peer, need, "#14")
        # upload: valid only if the client was not the limit. Its core (its own CPU plus
        # the loopback receive work the kernel does there) near 100 % busy says it was.
        v = ratio("upload", "1p", "granian")
        busy = [summ("upload", "1p", p, "client_core_busy_pct") for p in (SUBJECT, "granian")]
        busy = max((b for b in busy if b is not None), default=None)
        bound = busy is not None and busy >= CLIENT_BOUND_PCT
        check(f"{name('upload', '1p')} ≥ 1.3× Granian, client not the limit (#14)", v,
              v is not None and v >= 1.3 and not bound,
              f"{v:.2f}× (client core {busy:.0f} % busy"
              f"{': client-bound' if bound else ''})" if v and busy is not None
              else (f"{v:.2f}×" if v else ""))
        v = ratio("hello", "1p", "fastwsgi", "cpu_per_req")
        check(f"{name('hello', '1p')} server CPU per request ≤ fastwsgi's (#14)", v,
              v is not None and v <= 1.0, f"{v:.2f}×" if v else "")
        v = ratio("file", "1p", "granian", "p99")
        check(f"{name('file', '1p')} p99 ≤ Granian's (#14)", v, v is not None and v <= 1.0,
              f"{v:.2f}× ({summ('file', '1p', SUBJECT, 'p99_ms'):,.0f} vs "
              f"{summ('file', '1p', 'granian', 'p99_ms'):,.0f} ms)" if v else "")
        r = row("file", "1p")
        ran = [x for x in r["rounds"].get(SUBJECT, []) if x.get("ok")] if r else []
        v = sum(x["socket_errors"]["timeout"] for x in ran) if ran else None
        check(f"{name('file', '1p')} zero wrk timeouts, every round (#14)", v, v == 0,
              f"{v} in {len(ran)} round(s)" if v is not None else "")
        fastest_peer("file", "1p", "#5, #14: throughput kept")
        # "stay ahead": big, flask, django and the 2p rows
        for w, t in [("big", "1p"), ("flask", "1p"), ("django", "1p"), ("hello", "2p"),
                     ("json", "2p"), ("flask", "2p")]:
            fastest_peer(w, t, "#14: stay ahead" if (w, t) != ("big", "1p") else "#5, #14")
        # issue #5
        for w, t, peer, need in [("hello", "1p", "granian", 1.5),
                                 ("flask", "1p", "granian", 1.1),
                                 ("flask", "1p", "gunicorn-gthread", 2.0),
                                 ("django", "1p", "granian", 1.1),
                                 ("django", "1p", "gunicorn-gthread", 2.0),
                                 ("hello", "2p", "granian", 1.5)]:
            at_least(w, t, peer, need, "#5")
        v = ratio("hello", "1p", "granian", "p99")
        check(f"{name('hello', '1p')} p99 ≤ Granian (#5)", v, v is not None and v <= 1.0,
              f"{v:.2f}× ({summ('hello', '1p', SUBJECT, 'p99_ms'):.2f} vs "
              f"{summ('hello', '1p', 'granian', 'p99_ms'):.2f} ms)" if v else "")
        v = ratio("idle", "1p", "granian", "rss")
        check(f"{name('idle', '1p')} peak RSS ≤ Granian (#5)", v, v is not None and v <= 1.0,
              f"{v:.2f}× ({summ('idle', '1p', SUBJECT, 'rss_tree_mib'):.0f} vs "
              f"{summ('idle', '1p', 'granian', 'rss_tree_mib'):.0f} MiB)" if v else "")
        # issue #10: TLS and HTTP/2
        for w, peer, need in [("tls-hello", "granian", 1.3),
                              ("tls-hello", "gunicorn-gthread", 3.0),
                              ("h2-hello", "granian", 1.3),
                              ("tls-handshake", "granian", 1.0)]:
            at_least(w, "1p", peer, need, "#10")
        # issue #12: static files from the worker's Rust side
        for peer, need in (("nginx", 0.8), ("granian", 1.5), ("gunicorn-gthread", 10.0)):
            v = ratio("static-small", "1p", peer)
            who = ("whitenoise (gunicorn gthread)" if peer == "gunicorn-gthread"
                   else PEERS[peer].label)
            check(f"{name('static-small', '1p')} ≥ {need}× {who} (#12)", v,
                  v is not None and v >= need, f"{v:.2f}×" if v else "")
        if tc != counts[0]:
            # rows not planned with this count (--workloads-threads): no target line (every
            # target name starts with its row's workload and topology)
            out[start:] = [e for e in out[start:] if (*e[0].split()[:2], tc) in rows]

    # once: the ASGI rows (the first thread count) and the rows with their own count
    first = counts[0]
    for w, peer, need in [("asgi-hello", "granian", 1.0), ("asgi-hello", "uvicorn", 2.0),
                          ("fastapi", "granian", 1.0), ("fastapi", "uvicorn", 2.0)]:
        r = rows.get((w, "1p", first))
        x = r and r.get("ratios", {}).get(peer)
        v = x.get("rps") if x else None
        check(f"{w} 1p ≥ {need}× {PEERS[peer].label} (#16)", v, v is not None and v >= need,
              f"{v:.2f}×" if v else "")
    r = rows.get(("ws-idle", "1p", first))
    x = r and r.get("ratios", {}).get("granian")
    v = x.get("rss") if x else None
    check("ws-idle 1p peak RSS ≤ Granian (#16)", v, v is not None and v <= 1.0,
          f"{v:.2f}×" if v else "")
    r = rows.get(("sleep", "1p", None))
    v = r and r.get("summary", {}).get(SUBJECT, {}).get("rps_median")
    check("sleep 1p ≥ 0.95 × 800 req/s (760) (#5)", v, v is not None and v >= 760,
          f"{v:,.0f} req/s" if v else "")
    return out


def render_targets(report: dict) -> list[str]:
    L = ["| target (issue: must reach) | measured (Ferrule ÷ peer) | holds |",
         "|---|---:|:-:|"]
    L += [f"| {a} | {b} | {c} |" for a, b, c in targets(report)]
    return L


def label_rows(report: dict) -> None:
    """Every row's display name (also for reports written before rows had one)."""
    counts = config_thread_counts(report["config"])
    for row in report["rows"]:
        row["label"] = row_label(row, counts)


def render_cpu_per_worker(report: dict) -> list[str]:
    """Issue #14: the cost per core as workers are added. Server CPU per request in µs
    (the whole tree, so at 2p both workers and the master), 1p next to 2p, for every
    workload and thread count measured in both."""
    peers = report["config"]["servers"]
    by = {}
    for row in report["rows"]:
        if not row.get("skipped"):
            key = row["label"].replace(f" {row['topology']}", "", 1)
            by.setdefault(key, {})[row["topology"]] = row
    pairs = [(k, v) for k, v in by.items() if "1p" in v and "2p" in v]
    if not pairs:
        return []

    def us(row, p):
        c = row["summary"].get(p, {}).get("cpu_s_per_1k")
        return f"{1000 * c:.1f}" if c else "–"

    shown = [p for p in peers
             if any(k["2p"]["summary"].get(p, {}).get("cpu_s_per_1k") for _, k in pairs)]
    L = ["### Server CPU per request, µs: 1p / 2p (the cost per core)", "",
         "utime+stime of the whole process tree (at 2p: both workers and the master) per "
         "request, median over rounds, absolute. Equal figures at 1p and 2p mean adding a "
         "worker costs nothing per request; 10⁶ ÷ µs is the req/s one fully busy core "
         "would serve. Servers with one process only (waitress, bjoern, fastwsgi) have no "
         "2p row.", "",
         "| workload | " + " | ".join(PEERS[p].label for p in shown) + " |",
         "|---|" + "---:|" * len(shown)]
    for key, v in pairs:
        L.append(f"| {key} | " + " | ".join(f"{us(v['1p'], p)} / {us(v['2p'], p)}"
                                             for p in shown) + " |")
    L.append("")
    return L


def render(report: dict) -> str:
    cfg = report["config"]
    peers = cfg["servers"]
    label_rows(report)
    counts = config_thread_counts(cfg)
    others = [p for p in peers if p != SUBJECT]
    L = [f"# Ferrule benchmark suite, {report['started']}", ""]
    L.append(f"{cfg['rounds']} round(s) per row, interleaved (every server once per round), "
             f"{cfg['duration']:g} s measured after {cfg['warmup']:g} s of warm-up; wrk "
             f"`-c{cfg['connections']} --latency --timeout {cfg['wrk_timeout']:g}s`; medians "
             f"over rounds. Topologies: " + "; ".join(
                 f"**{t}**: {TOPOS[t].note}" for t in cfg["topologies"]) +
             f". Python threads per server: {', '.join(map(str, counts))} (sleep: 8), the "
             f"same for every threaded server in a row"
             + (f"; the WSGI rows of {cfg.get('workloads_threads', 'all')} are measured "
                f"once per count, named by it ('hello 1p {counts[-1]}t'), the other rows with "
                f"{counts[0]} only; in a row of more than "
                f"one thread, bjoern and fastwsgi (no threads) run their only configuration "
                f"as the single-threaded reference, gunicorn sync is n/a"
                if len(counts) > 1 or counts != [1] else "")
             + f". Wall time: {report['elapsed_min']:.1f} min.")
    L.append("")
    L.append("## Ratios: Ferrule ÷ peer, requests/s (>1: Ferrule faster)")
    L.append("")
    L.append("Median ratio, with the range of the per-round ratios (each Ferrule round "
             "against the same round of the peer). n/a: that server cannot run the row "
             "(reasons below); FAILED: it ran but did not answer right or died (details "
             "below).")
    if BASELINE in peers:
        L.append("")
        L.append("Ferrule baseline: another Ferrule build (see Machine and versions), run "
                 "with the same flags in the same rounds; its column is this build ÷ that "
                 "one (>1: this build faster).")
    L.append("")
    L.append("| workload | " + " | ".join(PEERS[p].label for p in others) + " |")
    L.append("|---|" + "---:|" * len(others))
    for row in report["rows"]:
        cells = []
        subj = row["summary"].get(SUBJECT, {})
        for p in others:
            s = row["summary"].get(p, {})
            r = row["ratios"].get(p)
            st = _cell_status(s)
            if r:
                cells.append(f"{r['rps']:.2f} ({R._f(r['rps_per_round_min'])}–"
                             f"{R._f(r['rps_per_round_max'])})")
            elif st:
                cells.append(st)
            elif _cell_status(subj):
                cells.append(f"(Ferrule {_cell_status(subj)})")
            else:
                cells.append("–")
        L.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("### Server CPU time per request: Ferrule ÷ peer (<1: Ferrule cheaper)")
    L.append("")
    L.append("utime+stime of the whole process tree per request, median over rounds. Less "
             "sensitive than req/s to a load generator starved by other work (then every "
             "server idles part of the time and req/s ratios shrink toward 1), though "
             "cache and scheduling interference still show.")
    L.append("")
    L.append("| workload | " + " | ".join(PEERS[p].label for p in others) + " |")
    L.append("|---|" + "---:|" * len(others))
    for row in report["rows"]:
        cells = []
        for p in others:
            r = row["ratios"].get(p)
            st = _cell_status(row["summary"].get(p, {}))
            cells.append(f"{r['cpu_per_req']:.2f}" if r and r.get("cpu_per_req")
                         else (st or "–"))
        L.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    L.append("")
    L.extend(render_cpu_per_worker(report))
    L.append("### Targets")
    L.append("")
    L.extend(render_targets(report))
    L.append("")
    # reasons
    na_lines = {}
    for row in report["rows"]:
        for p in peers:
            s = row["summary"].get(p, {})
            if s.get("na"):
                na_lines.setdefault((PEERS[p].label, s["na"]), []).append(
                    row["label"])
    if na_lines:
        L.append("n/a:")
        L.append("")
        for (label, why), rows in na_lines.items():
            L.append(f"- {label} — {why}: {', '.join(rows)}")
        L.append("")
    L.append("## Per row")
    L.append("")
    L.append("req/s median (min–max over rounds); latency p50 / p99 / max in ms (medians over "
             "rounds; wrk measures from send, so under saturation these are queueing "
             "figures); errors = non-2xx/3xx + socket errors (connect/read/write/timeout), "
             "summed over rounds; peak RSS = sum of VmHWM over the server's process tree "
             "(largest round; process count); CPU = server tree utime+stime per 1000 "
             "requests; 'other' = the largest share of a core other work took during a used "
             "round.")
    L.append("")
    failures = []
    for row in report["rows"]:
        wl = WORKLOADS[row["workload"]]
        L.append(f"### {row['label']}")
        L.append("")
        L.append(f"{wl.description}. Threads: {row['threads']}"
                 + (" (servers without threads, bjoern and fastwsgi, run their one thread "
                    "as the single-threaded reference)" if row["threads"] > 1
                    and row_thread_config(row, counts) is not None else "") + ".")
        if row.get("skipped"):
            L.append("")
            L.append(f"Not run: {row['skipped']}.")
            L.append("")
            continue
        L.append("")
        extra = ""
        if wl.kind == "idle":
            extra = " idle conns answered / still open at end | RSS with them held MiB |"
        if wl.kind == "upload":
            extra = " MB/s | client CPU % | client core busy % |"
        L.append("| server | req/s | p50 | p99 | max | errors | peak RSS MiB | CPU s / 1k req "
                 "| other % | rounds |" + extra)
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" +
                 ("---:|" * extra.count("|")))
        for p in peers:
            s = row["summary"].get(p, {})
            label = PEERS[p].label
            if s.get("na"):
                L.append(f"| {label} | n/a: {s['na']} |" + " |" * (9 + extra.count("|")))
                continue
            if not s.get("rps_median"):
                err = (s.get("error") or "failed").strip()
                failures.append((row["label"], label, err))
                first = err.splitlines()[0][:120].replace("|", "\\|") if err else ""
                L.append(f"| {label} | FAILED: {first} |" + " |" * (9 + extra.count("|")))
                continue
            se = s["socket_errors"]
            errs = f"{s['non_2xx_3xx'] + s.get('wrong_body', 0)} + " \
                   f"{se['connect']}/{se['read']}/{se['write']}/{se['timeout']}"
            line = (f"| {label} | {s['rps_median']:,.0f} ({s['rps_min']:,.0f}–"
                    f"{s['rps_max']:,.0f}) | {R._f(s['p50_ms'])} | {R._f(s['p99_ms'])} | "
                    f"{R._f(s['max_ms'])} | {errs} | {s['rss_tree_mib']:.1f} "
                    f"({s['processes']}) | {R._f(s.get('cpu_s_per_1k'), '{:.3f}')} | "
                    f"{s['server_core_other_pct_max']:.0f} | {s['rounds_ok']}/{s['rounds']}"
                    f"{' ({} noisy out)'.format(s['noisy_left_out']) if s['noisy_left_out'] else ''} |")
            if wl.kind == "idle":
                line += (f" {s.get('idle_answered_min')} / "
                         f"{R._f(s.get('idle_still_open_min'), '{}', '?')} | "
                         f"{R._f(s.get('idle_rss_now_mib'), '{:.1f}')} |")
            if wl.kind == "upload":
                line += (f" {R._f(s.get('mb_per_s'), '{:.0f}')} |"
                         f" {R._f(s.get('upload_client_cpu_pct'), '{:.0f}')} |"
                         f" {R._f(s.get('client_core_busy_pct'), '{:.0f}')} |")
            L.append(line)
        L.append("")
    if failures:
        L.append("## Failures")
        L.append("")
        for where, label, err in failures:
            L.append(f"- **{label}**, {where}:")
            L.append("")
            L.append("  ```")
            L.extend("  " + x for x in err.splitlines()[:12])
            L.append("  ```")
        L.append("")
    noisy = [r for row in report["rows"] for rs in row["rounds"].values() for r in rs
             if r.get("noisy")]
    redone = sum(len(r.get("discarded_attempts", [])) for row in report["rows"]
                 for rs in row["rounds"].values() for r in rs)
    L.append("## Noise")
    L.append("")
    L.append(f"{redone} run(s) were measured again because other work took more than "
             f"{cfg['quiet_threshold'] * 100:.0f}% of a core; {len(noisy)} kept run(s) were "
             f"still noisy ({sum(1 for r in noisy if r.get('used'))} of them used in a "
             f"median because the server had no clean round in that row). Details per run "
             f"in the JSON (`server_core_other_pct`, `client_core_other_pct`, "
             f"`machine_before`, `discarded_attempts`).")
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.extend(machine_lines(report))
    L.append("")
    return "\n".join(L) + "\n"


def machine_lines(report: dict) -> list[str]:
    facts = report["machine"]
    v = report["versions"]
    own_venv = report["config"].get("ferrule_venv")
    base = report.get("ferrule_baseline")
    return [
        f"- CPU: {facts['cpu_model']}, nproc {facts['nproc']}, governor "
        f"{facts['cpu_governor']}, memory {facts['mem_total']}",
        f"- OS: {facts['os']}, kernel {facts['kernel']}, Python {facts['python']}",
        f"- Ferrule {v.get('ferrule') or 'not installed'} "
        f"({facts['ferrule_build'] or 'build of unknown commit'}; repo at "
        f"{facts['git_head']}{', dirty tree' if facts['git_dirty'] else ''}; "
        + (f"venv {own_venv}; " if own_venv else "") +
        f"--workers: {'yes' if report.get('ferrule_workers') else 'no'})",
    ] + ([
        f"- Ferrule baseline (`{BASELINE}`) {base['version'] or 'not installed'} "
        f"({base['build'] or 'build of unknown commit'}; venv {base['venv']}; "
        f"--workers: {'yes' if base['workers'] else 'no'})",
    ] if base else []) + [
        "- " + ", ".join(f"{k} {v.get(k)}" for k in
                         ("granian", "gunicorn", "uwsgi", "waitress", "bjoern", "fastwsgi",
                          "flask", "django")) + f"; {v.get('nginx')}; {facts['wrk']}",
    ]


def ferrule_facts(venv: Path) -> dict:
    """Version, recorded build (the ferrule-build.txt bench/run.sh writes, if any) and
    --workers support of the Ferrule in a venv other than --venv."""
    return {"venv": str(venv), "version": versions(venv / "bin" / "python").get("ferrule"),
            "build": R._read(venv / "ferrule-build.txt"),
            "workers": ferrule_has_workers(venv / "bin")}


def versions(venv_python: Path) -> dict:
    code = ("import importlib.metadata as m, json\nout = {}\n"
            "for d in ('ferrule','granian','gunicorn','uwsgi','waitress','bjoern','fastwsgi',"
            "'flask','django','matplotlib'):\n"
            "    try: out[d] = m.version(d)\n"
            "    except m.PackageNotFoundError: out[d] = None\n"
            "print(json.dumps(out))")
    try:
        out = json.loads(R._run_text([str(venv_python), "-c", code]))
    except json.JSONDecodeError:
        out = {}
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    out["nginx"] = R._run_text([nginx, "-v"]).replace("nginx version: ", "") \
        if Path(nginx).exists() else "nginx not installed"
    return out


def chart(report: dict, path: Path) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no chart: {e}"
    label_rows(report)
    peers = [p for p in report["config"]["servers"] if p != SUBJECT]
    rows = [r for r in report["rows"] if not r.get("skipped")]
    if not rows:
        return "no chart: no rows"
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(rows)), 5.5))
    width = 0.8 / max(1, len(peers))
    cmap = plt.get_cmap("tab10")
    for i, p in enumerate(peers):
        xs, ys, lo, hi = [], [], [], []
        for j, row in enumerate(rows):
            r = row["ratios"].get(p)
            if not r:
                continue
            xs.append(j + (i - (len(peers) - 1) / 2) * width)
            ys.append(r["rps"])
            # the ratio of medians can fall outside the per-round range: no negative bars
            lo.append(max(0.0, r["rps"] - (r["rps_per_round_min"] or r["rps"])))
            hi.append(max(0.0, (r["rps_per_round_max"] or r["rps"]) - r["rps"]))
        if xs:
            ax.bar(xs, ys, width, label=PEERS[p].label, color=cmap(i % 10),
                   yerr=[lo, hi], capsize=2, error_kw={"elinewidth": 0.8})
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter
    fmt = FuncFormatter(lambda v, _: f"{v:g}×")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["label"].replace(" ", "\n", 1) for r in rows])
    ax.set_ylabel("Ferrule req/s ÷ peer req/s (log scale; >1 = Ferrule faster)")
    ax.set_title(f"Ferrule ÷ peer, requests/s (median of rounds, bars = per-round range)\n"
                 f"{report['started']}, {report['machine']['cpu_model']}", fontsize=9)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


README_START = "<!-- suite-results:start -->"
README_END = "<!-- suite-results:end -->"


def update_readme(report: dict, md: str, name: str) -> None:
    readme = BENCH_DIR / "README.md"
    text = readme.read_text()
    if README_START not in text:
        return
    ratios = md.split("## Ratios", 1)[1].split("## Per row", 1)[0]
    block = [README_START, "", f"Latest full run: `bench/results/{name}.md` (all numbers), "
             f"`{name}.json` (raw), `{name}.png` (chart), {report['started']}, "
             f"{report['elapsed_min']:.0f} min.", "", "### Ratios" + ratios.rstrip(), "",
             f"![ratios](results/{name}.png)", "", "Machine and versions:", ""]
    block += machine_lines(report) + ["", README_END]
    before, rest = text.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    readme.write_text(before + "\n".join(block) + after)


# --------------------------------------------------------------------------------------

def estimate_cell(wl: Workload, args) -> float:
    base = 2.5 + args.warmup + args.duration     # quiet check + start/stop + load
    if wl.kind == "idle":
        base += 8
    if wl.kind in ("upload", "ws"):
        base += 3
    return base


def summarize_rows(rows: list[dict], keep_noisy: bool) -> None:
    for row in rows:
        if row.get("skipped"):
            row["summary"] = {s: {"skipped": True} for s in row["rounds"]}
            row["ratios"] = {}
            continue
        row["summary"] = {s: summarize(rs, keep_noisy) for s, rs in row["rounds"].items()}
        row["ratios"] = row_ratios(row["rounds"], row["summary"])


def rerender(path: Path, readme: bool) -> int:
    report = json.loads(path.read_text())
    cfg = report["config"]
    use_ferrule_venvs(*(Path(cfg[k]) if cfg.get(k) else None
                        for k in ("ferrule_venv", "ferrule_baseline")))
    summarize_rows(report["rows"], report["config"].get("keep_noisy", False))
    md = render(report)
    path.with_suffix(".md").write_text(md)
    err = chart(report, path.with_suffix(".png"))
    if err:
        print(err, file=sys.stderr)
    if readme and not cfg.get("ferrule_baseline"):
        update_readme(report, md, path.stem)
    print(md)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="full", choices=["full"],
                    help="which suite (only 'full'; narrow it with --workloads/--topologies)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma-separated, from: " + ", ".join(WORKLOADS))
    ap.add_argument("--topologies", default="1p,2p", help="comma-separated: 1p, 2p")
    ap.add_argument("--workloads-2p", default=DEFAULT_2P,
                    help="the workloads also run in 2p (default: %(default)s; 'all' for all)")
    ap.add_argument("--servers", default=",".join(p for p in PEERS
                                                  if p not in ("ferrule-observed", "ferrule-normal")),
                    help="comma-separated, from: " + ", ".join(PEERS))
    ap.add_argument("--duration", type=int, default=4, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of discarded warm-up")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=parse_thread_counts, default=[1], metavar="N[,M...]",
                    help="Python threads per server; a list (e.g. 1,4) measures every WSGI "
                         "row once per count, as separate rows ('hello 1p 4t'). Rows with "
                         "their own count (sleep = 8) and the ASGI rows (the first count) "
                         "run once (default: 1)")
    ap.add_argument("--workloads-threads", default=DEFAULT_ALL_THREADS,
                    help="the WSGI workloads measured with every --threads count, the "
                         "others with the first only (default: %(default)s, the rows with "
                         "an issue #14 target; 'all' for every WSGI row)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-timeout", type=float, default=2.0)
    ap.add_argument("--upload-size", type=int, default=UPLOAD_SIZE)
    ap.add_argument("--max-uploads", type=int, default=500,
                    help="at most this many uploads per measured run (a bound: normally "
                         "--duration ends the run first)")
    ap.add_argument("--upload-connections", type=int, default=4,
                    help="connections of the upload client (default: %(default)s)")
    ap.add_argument("--idle-connections", type=int, default=IDLE_CONNECTIONS)
    ap.add_argument("--quiet-wait", type=float, default=3.0,
                    help="max seconds to wait before each run for both cores to be idle")
    ap.add_argument("--quiet-threshold", type=float, default=0.10)
    ap.add_argument("--noisy-retries", type=int, default=1)
    ap.add_argument("--keep-noisy", action="store_true")
    ap.add_argument("--budget-minutes", type=float, default=30.0,
                    help="rows that would end past this are not run (reported as such); "
                         "a noisy run is retried only while the rest still fits")
    ap.add_argument("--venv", type=Path, default=BENCH_DIR / ".venv")
    ap.add_argument("--ferrule-venv", type=Path, metavar="VENV",
                    help="run the Ferrule row with VENV/bin/ferrule (default: the one in "
                         "--venv, where bench/run.sh builds this checkout)")
    ap.add_argument("--ferrule-baseline", type=Path, metavar="VENV",
                    help=f"A/B two builds: add VENV/bin/ferrule (e.g. the commit before a "
                         f"change) as the peer '{BASELINE}', with the Ferrule row's flags, "
                         f"interleaved in the same rounds; its ratio is this build ÷ that "
                         f"one. Implies --no-readme")
    ap.add_argument("--out-dir", type=Path, default=BENCH_DIR / "results")
    ap.add_argument("--no-readme", action="store_true",
                    help="do not put the ratio table into bench/README.md")
    ap.add_argument("--tag", default="")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="measure nothing: recompute the summaries of a suite-*.json and "
                         "write its .md, .png (and the README table) again")
    args = ap.parse_args(argv)
    if args.render:
        return rerender(args.render, not args.no_readme)

    for flag, venv in (("--ferrule-venv", args.ferrule_venv),
                       ("--ferrule-baseline", args.ferrule_baseline)):
        if venv is not None and not (venv / "bin" / "ferrule").exists():
            ap.error(f"{flag}: no {venv / 'bin' / 'ferrule'}")
    use_ferrule_venvs(args.ferrule_venv, args.ferrule_baseline)
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip() in WORKLOADS]
    for flag, venv in (("--ferrule-venv", args.ferrule_venv),
                       ("--ferrule-baseline", args.ferrule_baseline)):
        if venv is not None and (why := missing_imports(venv, wanted)):
            ap.error(f"{flag} {venv}: {why}")
    if args.ferrule_baseline is not None:
        args.no_readme = True      # an A/B run is not the suite's latest full results

    wls = [w.strip() for w in args.workloads.split(",") if w.strip()]
    topos = [t.strip() for t in args.topologies.split(",") if t.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for bad, known, what in ((wls, WORKLOADS, "workload"), (topos, TOPOS, "topology"),
                             (servers, PEERS, "server")):
        unknown = [x for x in bad if x not in known]
        if unknown:
            ap.error(f"unknown {what}(s): {unknown}")
    if SUBJECT in servers:
        servers.remove(SUBJECT)
    servers.insert(0, SUBJECT)
    if args.ferrule_baseline is not None and BASELINE not in servers:
        servers.insert(1, BASELINE)
    two = set(WORKLOADS) if args.workloads_2p == "all" else set(args.workloads_2p.split(","))
    # most important first (each thread count, 2p right after 1p, next to the same
    # workload's other rows), so that a row the time budget leaves out is one of the last
    every = None if args.workloads_threads == "all" else set(args.workloads_threads.split(","))
    rows_plan = [(w, t, tc) for w in wls
                 for tc in row_thread_configs(WORKLOADS[w], args.threads, every)
                 for t in topos if t == "1p" or w in two]
    if not rows_plan:
        ap.error("nothing to run")
    tools = ["wrk", "taskset"] + (["h2load"] if any(WORKLOADS[w].http2 for w in wls) else [])
    for tool in tools:
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found; run bench/run.sh, which installs it")
    if not {0, 1} <= os.sched_getaffinity(0):
        ap.error("needs CPUs 0 and 1")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if "idle" in wls and hard < args.idle_connections + 500:
        print(f"warning: open-file limit {hard} is below what idle needs "
              f"({args.idle_connections} + 500); run.sh raises it", file=sys.stderr)

    def _interrupt(signum, frame):
        raise KeyboardInterrupt
    # SIGTERM (and SIGINT, which a background job ignores) end the run cleanly: the server
    # being measured is stopped and what was measured is reported
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)

    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    name = f"suite-{stamp}" + (f"-{args.tag}" if args.tag else "")
    work = args.out_dir / "tmp" / name
    work.mkdir(parents=True, exist_ok=True)
    venv_bin = args.venv / "bin"
    facts = R.machine_facts(venv_bin / "python")
    vers = versions(venv_bin / "python")
    if args.ferrule_venv is not None:
        own = ferrule_facts(args.ferrule_venv)
        vers["ferrule"], facts["ferrule_build"] = own["version"], own["build"]
    t_start = time.monotonic()
    budget = args.budget_minutes * 60

    def cells(w: str, t: str, tc: int | None) -> int:
        """Runs a row will really measure (n/a cells cost nothing)."""
        n = 0
        for s in servers:
            try:
                PEERS[s].build(Ctx(1, tc or WORKLOADS[w].threads, TOPOS[t].workers,
                                   WORKLOADS[w], work, peer_bin(PEERS[s], args), tc is None))
                n += 1
            except NotApplicable:
                pass
        return n * args.rounds

    plan_est = [estimate_cell(WORKLOADS[w], args) * cells(w, t, tc) for w, t, tc in rows_plan]
    spent_est = 0.0          # estimate of what has been run so far
    print(f"suite: estimated {sum(plan_est) / 60:.1f} min; "
          f"{len(rows_plan)} rows (threads {','.join(map(str, args.threads))}) x "
          f"{len(servers)} servers x {args.rounds} rounds; "
          f"budget {args.budget_minutes:g} min; logs in {work}", file=sys.stderr)
    rows = []

    def scale() -> float:
        """Actual / estimated time so far: calibrates the estimates of what is left."""
        el = time.monotonic() - t_start
        return max(1.0, el / spent_est) if spent_est > 30 else 1.0

    try:
        for i, (wname, tname, tc) in enumerate(rows_plan):
            wl, topo = WORKLOADS[wname], TOPOS[tname]
            threads = tc or wl.threads
            # thread_config: the --threads count this row measures (None: the row's own)
            row = {"workload": wname, "topology": tname, "threads": threads,
                   "thread_config": tc, "rounds": {s: [] for s in servers}}
            row["label"] = row_label(row, args.threads)
            rows.append(row)
            rtag = row["label"]
            est = plan_est[i] * scale()
            if time.monotonic() - t_start + est > budget:
                row["skipped"] = (f"time budget ({args.budget_minutes:g} min) would be "
                                  f"exceeded (row estimated at {est / 60:.1f} min)")
                print(f"[{rtag}] skipped: {row['skipped']}", file=sys.stderr)
                continue
            tmp = work / rtag.replace(" ", "-")
            tmp.mkdir(exist_ok=True)
            row_t0 = time.monotonic()
            for rnd in range(1, args.rounds + 1):
                for s in servers:
                    discarded = []
                    while True:
                        rec = measure(PEERS[s], wl, topo, threads, args, tmp, tmp, rnd,
                                      own_threads=tc is None)
                        rec["noisy"] = R.is_noisy(rec, args)
                        # retry a noisy run only while the rest of the plan still fits
                        left = (sum(plan_est[i:]) * scale() - (time.monotonic() - row_t0))
                        late = time.monotonic() - t_start + left > budget
                        if not rec["noisy"] or len(discarded) >= args.noisy_retries or late:
                            break
                        discarded.append(rec)
                    rec["discarded_attempts"] = discarded
                    row["rounds"][s].append(rec)
                    if rec.get("na"):
                        msg = "n/a: " + rec["na"]
                    elif rec.get("ok"):
                        p99 = (f"{rec['p99_ms']:.2f} ms" if rec.get("p99_ms") is not None
                               else "n/a")
                        msg = (f"{rec['rps']:,.0f} req/s, p99 {p99}, err "
                               f"{rec['non_2xx_3xx']}+{sum(rec['socket_errors'].values())}, "
                               f"RSS {rec['memory']['vmhwm_sum_kib'] / 1024:.0f} MiB, other "
                               f"{rec['server_core_other_pct']:.0f}/"
                               f"{rec['client_core_other_pct']:.0f}%"
                               + (f", idle {rec['idle_setup']['answered']}"
                                  if 'idle_setup' in rec else ""))
                    else:
                        msg = "FAILED: " + (rec.get("error") or "?").splitlines()[0][:150]
                    print(f"[{rtag}] r{rnd} {s:16s} {msg}", file=sys.stderr)
            spent_est += plan_est[i]
    except KeyboardInterrupt:
        print("interrupted; reporting what was measured", file=sys.stderr)

    summarize_rows(rows, args.keep_noisy)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "elapsed_min": (time.monotonic() - t_start) / 60,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"servers": servers, "topologies": topos},
        "machine": facts, "versions": vers,
        "ferrule_workers": ferrule_has_workers(peer_bin(PEERS[SUBJECT], args)),
        "ferrule_baseline": ferrule_facts(args.ferrule_baseline)
        if args.ferrule_baseline is not None else None,
        "rows": rows,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    # the raw data first: a bug in the rendering below must not lose a 30-minute run
    (args.out_dir / f"{name}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out_dir / name}.json", file=sys.stderr)
    try:
        md = render(report)
        (args.out_dir / f"{name}.md").write_text(md)
        print(md)
    except Exception:
        import traceback
        traceback.print_exc()
        return 1
    try:
        err = chart(report, args.out_dir / f"{name}.png")
        if err:
            print(err, file=sys.stderr)
    except Exception:
        import traceback
        traceback.print_exc()
    if not args.no_readme:
        update_readme(report, md, name)
    print(f"wrote {args.out_dir / name}.md and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
