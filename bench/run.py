#!/usr/bin/env python3
"""Ferrule vs. Granian vs. gunicorn on one workload, one worker, same Python thread count.

Normally started by `bench/run.sh` (which installs everything first); this file only runs
what is installed in `bench/.venv`. See bench/README.md for what it measures and why.

Per round, for each server in turn (rounds interleaved: A B C, A B C, ...):
  start it pinned to --server-cpu with taskset, on 127.0.0.1 and a free port;
  poll GET until it answers (bounded, 20 s) and check the answer against the workload;
  warm up (wrk, 2 s, discarded); measure (wrk --latency, --duration s) pinned to --client-cpu;
  read peak RSS (VmHWM) and CPU time of the server's process tree; stop it by PID
  (SIGTERM, SIGKILL after 5 s).
Then medians and min-max over rounds, ratios Ferrule / each peer, a Markdown table
(printed and written to bench/results/<workload>-<stamp>.md) and all raw rounds as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from apps import WORKLOADS, Workload  # noqa: E402

READY_TIMEOUT = 20.0       # s: a server must answer its first GET within this
STOP_GRACE = 5.0           # s: SIGTERM, then SIGKILL after this
WRK_SLACK = 30.0           # s: a wrk run is killed if it overruns its duration by this much
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------
# Servers under test. Each builds its command line; all get the same app, host, port,
# thread count and one worker process. Add a server by adding a ServerSpec to SERVERS.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerSpec:
    name: str
    label: str
    executable: str                                           # in the venv's bin/
    build: Callable[[Path, int, int, Workload], list[str]]    # (exe, port, threads, wl) -> argv
    dist: str                                                 # distribution name for its version


def _ferrule(exe: Path, port: int, threads: int, wl: Workload) -> list[str]:
    return [str(exe), "--bind", f"127.0.0.1:{port}", "--threads", str(threads),
            "--pythonpath", str(BENCH_DIR), "--log-level", "warning", wl.target]


def _granian(exe: Path, port: int, threads: int, wl: Workload) -> list[str]:
    return [str(exe), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--blocking-threads", str(threads), "--runtime-threads", "1",
            "--http", "1", "--no-ws", "--no-access-log", "--log-level", "warning",
            "--working-dir", str(BENCH_DIR), wl.target]


def _gunicorn(exe: Path, port: int, threads: int, wl: Workload) -> list[str]:
    return [str(exe), "--worker-class", "gthread", "--workers", "1", "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--chdir", str(BENCH_DIR), "--log-level", "warning",
            wl.target]


SERVERS: dict[str, ServerSpec] = {
    "ferrule": ServerSpec("ferrule", "Ferrule", "ferrule", _ferrule, "ferrule"),
    "granian": ServerSpec("granian", "Granian", "granian", _granian, "granian"),
    "gunicorn": ServerSpec("gunicorn", "gunicorn (gthread)", "gunicorn", _gunicorn, "gunicorn"),
}
SUBJECT = "ferrule"   # the server every other one is compared with


class ServerFailed(Exception):
    """The server could not be started or answered wrongly; reported, never fatal."""


# --------------------------------------------------------------------------------------
# /proc helpers: process tree, peak RSS, CPU time, per-core busy time
# --------------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parens: split after the last ')'
    rest = raw[raw.rindex(")") + 2:].split()
    return rest   # rest[0] = state (field 3), rest[1] = ppid, rest[11] = utime, rest[19] = starttime


def _alive(pid: int, starttime: str | None = None) -> bool:
    f = _stat_fields(pid)
    if f is None or f[0] in ("Z", "X"):
        return False
    return starttime is None or f[19] == starttime


def process_tree(root: int) -> dict[int, str]:
    """pid -> starttime for root and all its descendants (found by scanning /proc)."""
    parent: dict[int, int] = {}
    start: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        f = _stat_fields(int(entry))
        if f is None:
            continue
        parent[int(entry)] = int(f[1])
        start[int(entry)] = f[19]
    tree = {root: start.get(root, "")} if root in start else {}
    frontier = [root]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in tree:
                tree[child] = start[child]
                frontier.append(child)
    return tree


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def tree_memory(tree: dict[int, str]) -> dict:
    procs = []
    for pid, st in tree.items():
        if not _alive(pid, st):
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                "utf-8", "replace").strip()
        except OSError:
            cmd = "?"
        procs.append({"pid": pid, "vmhwm_kib": _status_kib(pid, "VmHWM"),
                      "vmrss_kib": _status_kib(pid, "VmRSS"),
                      "threads": _status_kib(pid, "Threads"), "cmdline": cmd[:200]})
    hwm = [p["vmhwm_kib"] or 0 for p in procs]
    return {"processes": procs, "vmhwm_sum_kib": sum(hwm), "vmhwm_max_kib": max(hwm, default=0)}


def tree_cpu_seconds(tree: dict[int, str]) -> float:
    """utime+stime (all threads) of the live processes in tree, in seconds."""
    total = 0
    for pid, st in tree.items():
        f = _stat_fields(pid)
        if f is not None and f[19] == st:
            total += int(f[11]) + int(f[12])
    return total / CLK_TCK


def cpu_times() -> dict[str, dict[str, int]]:
    """Per-core jiffies from /proc/stat: {'cpu0': {'busy': .., 'idle': .., 'steal': ..}}."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if not re.match(r"cpu\d+ ", line):
            continue
        name, *vals = line.split()
        v = [int(x) for x in vals] + [0] * 10
        user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
        out[name] = {"busy": user + nice + system + irq + softirq, "idle": idle + iowait,
                     "steal": steal}
    return out


def core_busy_seconds(before: dict, after: dict, core: str) -> tuple[float, float]:
    b, a = before.get(f"cpu{core}"), after.get(f"cpu{core}")
    if not b or not a:
        return float("nan"), float("nan")
    return (a["busy"] - b["busy"]) / CLK_TCK, (a["steal"] - b["steal"]) / CLK_TCK


def wait_for_quiet(max_wait: float, threshold: float) -> dict:
    """Waits (bounded) until both cores are less than `threshold` busy over a 1 s sample.

    Other work on this 2-core machine (builds, tests) skews every number; this waits a
    little for it to pass and records what it saw either way."""
    deadline = time.monotonic() + max_wait
    waited = 0.0
    while True:
        before = cpu_times()
        time.sleep(1.0)
        after = cpu_times()
        busy = {}
        for core in after:
            d_busy = after[core]["busy"] - before[core]["busy"]
            d_all = d_busy + after[core]["idle"] - before[core]["idle"]
            busy[core] = round(d_busy / d_all, 3) if d_all else 0.0
        waited += 1.0
        quiet = all(v < threshold for v in busy.values())
        if quiet or time.monotonic() >= deadline:
            return {"quiet": quiet, "busy_fraction": busy, "waited_s": waited,
                    "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


# --------------------------------------------------------------------------------------
# Server lifecycle
# --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_response(port: int, wl: Workload, timeout: float = 1.0) -> tuple[bool, str]:
    """One request; (ok, detail). Raises OSError while the server does not answer yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(wl.method, wl.path)
        resp = conn.getresponse()
        body = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    problems = []
    if resp.status != wl.expect_status:
        problems.append(f"status {resp.status} != {wl.expect_status}")
    if wl.expect_body is not None and body != wl.expect_body:
        problems.append(f"body {body[:80]!r} != {wl.expect_body[:80]!r}")
    for name, value in wl.expect_headers.items():
        if headers.get(name) != value:
            problems.append(f"header {name}: {headers.get(name)!r} != {value!r}")
    detail = f"{resp.status} {headers}"
    return (not problems), ("; ".join(problems) if problems else detail)


def log_tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


class Server:
    def __init__(self, spec: ServerSpec, exe: Path, args, wl: Workload, log_path: Path):
        self.spec = spec
        self.port = free_port()
        self.argv = spec.build(exe, self.port, args.threads, wl)
        self.cmd = ["taskset", "-c", str(args.server_cpu)] + self.argv
        self.wl = wl
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.tree: dict[int, str] = {}
        self.ready_s: float | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTHONPATH", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=BENCH_DIR, env=env,
                                         start_new_session=True)
        t0 = time.monotonic()
        deadline = t0 + READY_TIMEOUT
        last_err = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"exited with status {self.proc.returncode} before answering; "
                                   f"log tail:\n{log_tail(self.log_path)}")
            try:
                ok, detail = check_response(self.port, self.wl)
            except (OSError, http.client.HTTPException) as e:
                last_err = f"{type(e).__name__}: {e}"
                time.sleep(0.1)
                continue
            self.ready_s = time.monotonic() - t0
            if not ok:
                raise ServerFailed(f"wrong answer: {detail}")
            self.tree = process_tree(self.proc.pid)
            return
        raise ServerFailed(f"no answer within {READY_TIMEOUT:.0f} s ({last_err}); "
                           f"log tail:\n{log_tail(self.log_path)}")

    def refresh_tree(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.tree.update(process_tree(self.proc.pid))

    def stop(self) -> dict:
        """SIGTERM the server, SIGKILL after STOP_GRACE; then any leftover descendant we saw."""
        info = {"signal": None, "returncode": None, "leftovers_killed": []}
        if self.proc is None:
            return info
        self.refresh_tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            info["signal"] = "SIGTERM"
            try:
                self.proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                info["signal"] = "SIGKILL"
                self.proc.wait(timeout=STOP_GRACE)
        info["returncode"] = self.proc.returncode
        # Children (e.g. a worker process) normally exit with their parent; give them the
        # same grace, then kill by PID any that are still the very process we saw.
        deadline = time.monotonic() + STOP_GRACE
        rest = {p: s for p, s in self.tree.items() if p != self.proc.pid}
        while any(_alive(p, s) for p, s in rest.items()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid, st in rest.items():
            if _alive(pid, st):
                try:
                    os.kill(pid, signal.SIGKILL)
                    info["leftovers_killed"].append(pid)
                except ProcessLookupError:
                    pass
        return info


# --------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unparsable wrk time {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(out: str) -> dict:
    r: dict = {"non_2xx_3xx": 0,
               "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        r["latency_avg_ms"], r["latency_stdev_ms"], r["latency_max_ms"] = (
            _ms(m.group(1)), _ms(m.group(2)), _ms(m.group(3)))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+(\S+)", out, re.M)
        r[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["elapsed_s"] = _ms(m.group(2)) / 1000.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                      map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non_2xx_3xx"] = int(m.group(1))
    return r


def parse_h2load(out: str) -> dict:
    """h2load's summary: req/s, requests done, status classes, failures; mean latency from
    "time for request" (h2load reports no percentiles)."""
    r: dict = {"non_2xx_3xx": 0,
               "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"finished in ([\d.]+)(\w+), ([\d.]+) req/s", out)
    r["rps"] = float(m.group(3)) if m else None
    if m:
        r["elapsed_s"] = _ms(m.group(1) + m.group(2)) / 1000.0
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if m:
        r["requests"] = int(m.group(4))
        r["socket_errors"] = {"connect": 0, "read": int(m.group(6)), "write": 0,
                              "timeout": int(m.group(7))}
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["non_2xx_3xx"] = int(m.group(3)) + int(m.group(4))
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        r["latency_avg_ms"], r["latency_stdev_ms"], r["latency_max_ms"] = (
            _ms(m.group(3)), _ms(m.group(4)), _ms(m.group(2)))
    for pct in ("50", "75", "90", "99"):
        r[f"p{pct}_ms"] = None
    return r


def run_wrk(args, port: int, wl: Workload, duration: float) -> dict:
    url = f"http://127.0.0.1:{port}{wl.path}"
    cmd = ["taskset", "-c", str(args.client_cpu), "wrk", f"-t{args.wrk_threads}",
           f"-c{args.connections}", f"-d{duration:g}s", "--latency", "--timeout",
           f"{args.wrk_timeout:g}s", url]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + WRK_SLACK)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or "Requests/sec" not in proc.stdout:
        raise ServerFailed(f"wrk failed ({proc.returncode}): {proc.stdout[-500:]} "
                           f"{proc.stderr[-500:]}")
    res = parse_wrk(proc.stdout)
    res.update(wrk_cmd=cmd, wall_s=round(wall, 3), raw=proc.stdout,
               wrk_cpu_s=round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 3))
    return res


# --------------------------------------------------------------------------------------
# One measurement, rounds, summary
# --------------------------------------------------------------------------------------

def measure(spec: ServerSpec, args, wl: Workload, venv_bin: Path, log_dir: Path, rnd: int) -> dict:
    rec: dict = {"server": spec.name, "round": rnd, "ok": False}
    exe = venv_bin / spec.executable
    if not exe.exists():
        rec["error"] = f"not installed ({exe} missing)"
        failed = venv_bin.parent / f"{spec.dist}-build-failed.txt"
        if failed.exists():
            rec["error"] = failed.read_text(errors="replace").strip()
        return rec
    rec["machine_before"] = wait_for_quiet(args.quiet_wait, args.quiet_threshold)
    server = Server(spec, exe, args, wl, log_dir / f"{spec.name}-r{rnd}.log")
    rec["cmd"] = server.cmd
    try:
        server.start()
        rec["ready_s"] = round(server.ready_s or 0, 3)
        if args.warmup > 0:
            warm = run_wrk(args, server.port, wl, args.warmup)
            rec["warmup"] = {k: warm.get(k) for k in ("rps", "non_2xx_3xx", "socket_errors")}
        server.refresh_tree()
        cpu0, srv0 = cpu_times(), tree_cpu_seconds(server.tree)
        res = run_wrk(args, server.port, wl, args.duration)
        cpu1, srv1 = cpu_times(), tree_cpu_seconds(server.tree)
        server.refresh_tree()
        rec["memory"] = tree_memory(server.tree)
        if server.proc.poll() is not None:
            raise ServerFailed(f"server died during the run (status {server.proc.returncode}); "
                               f"log tail:\n{log_tail(server.log_path)}")
        busy_s, steal_s = core_busy_seconds(cpu0, cpu1, str(args.server_cpu))
        cbusy_s, _ = core_busy_seconds(cpu0, cpu1, str(args.client_cpu))
        srv_cpu = srv1 - srv0
        wall = res["wall_s"]
        res["server_cpu_s"] = round(srv_cpu, 3)
        res["server_cpu_pct"] = round(100 * srv_cpu / wall, 1)
        # Busy time on the server's core not spent by the server: other work stealing it.
        res["server_core_other_pct"] = round(100 * max(0.0, busy_s - srv_cpu) / wall, 1)
        res["server_core_steal_pct"] = round(100 * steal_s / wall, 1)
        res["client_core_busy_pct"] = round(100 * cbusy_s / wall, 1)
        # Busy time on the client's core not spent by wrk.
        res["client_core_other_pct"] = round(100 * max(0.0, cbusy_s - res["wrk_cpu_s"]) / wall, 1)
        rec.update(res)
        rec["ok"] = True
    except ServerFailed as e:
        rec["error"] = str(e)
    except subprocess.TimeoutExpired as e:
        rec["error"] = f"timed out: {e}"
    finally:
        rec["stop"] = server.stop()
        rec["log"] = str(server.log_path)
    return rec


def is_noisy(rec: dict, args) -> bool:
    """Other work took a real share of the server's or the client's core during the run."""
    limit = args.quiet_threshold * 100
    return rec.get("ok", False) and (rec.get("server_core_other_pct", 0) > limit
                                     or rec.get("client_core_other_pct", 0) > limit)


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(records: list[dict], keep_noisy: bool = False) -> dict:
    """Medians etc. over the rounds used: the clean ones, or all that ran if none was clean
    (or with keep_noisy). Marks each record's "used"."""
    ran = [r for r in records if r.get("ok")]
    clean = [r for r in ran if not r.get("noisy")]
    ok = ran if (keep_noisy or not clean) else clean
    for r in records:
        r["used"] = any(r is x for x in ok)
    s: dict = {"rounds_ok": len(ok), "rounds": len(records), "rounds_ran": len(ran),
               "noisy_left_out": len(ran) - len(ok)}
    if not ok:
        s["error"] = next((r.get("error") for r in records if r.get("error")), "no rounds")
        return s
    rps = [r["rps"] for r in ok]
    s.update(
        rps_median=_median(rps), rps_min=min(rps), rps_max=max(rps),
        p50_ms=_median([r.get("p50_ms") for r in ok]),
        p99_ms=_median([r.get("p99_ms") for r in ok]),
        max_ms=_median([r.get("latency_max_ms") for r in ok]),
        max_ms_worst=max(r.get("latency_max_ms") or 0 for r in ok),
        requests=sum(r.get("requests", 0) for r in ok),
        non_2xx_3xx=sum(r["non_2xx_3xx"] for r in ok),
        socket_errors={k: sum(r["socket_errors"][k] for r in ok)
                       for k in ("connect", "read", "write", "timeout")},
        rss_tree_mib=max(r["memory"]["vmhwm_sum_kib"] for r in ok) / 1024,
        rss_largest_mib=max(r["memory"]["vmhwm_max_kib"] for r in ok) / 1024,
        processes=max(len(r["memory"]["processes"]) for r in ok),
        server_cpu_pct=_median([r.get("server_cpu_pct") for r in ok]),
        server_core_other_pct_max=max(r.get("server_core_other_pct", 0) for r in ok),
        client_core_busy_pct=_median([r.get("client_core_busy_pct") for r in ok]),
    )
    if len(ok) < len(records):
        s["error"] = "; ".join(f"round {r['round']}: {r.get('error')}" for r in records
                               if not r.get("ok"))
    return s


def ratios(by_server: dict[str, list[dict]], summaries: dict[str, dict]) -> dict:
    out = {}
    subj = summaries.get(SUBJECT, {})
    for name, s in summaries.items():
        if name == SUBJECT:
            continue
        if not subj.get("rps_median") or not s.get("rps_median"):
            out[name] = None
            continue
        per_round = []
        for a in by_server[SUBJECT]:
            b = next((r for r in by_server[name] if r["round"] == a["round"]), None)
            if a.get("used") and b and b.get("used"):
                per_round.append(a["rps"] / b["rps"])
        out[name] = {
            "rps": subj["rps_median"] / s["rps_median"],
            "rps_per_round_min": min(per_round) if per_round else None,
            "rps_per_round_max": max(per_round) if per_round else None,
            "p99": (subj["p99_ms"] / s["p99_ms"]) if subj.get("p99_ms") and s.get("p99_ms")
            else None,
            "rss": subj["rss_tree_mib"] / s["rss_tree_mib"] if s.get("rss_tree_mib") else None,
        }
    return out


# --------------------------------------------------------------------------------------
# Facts and report
# --------------------------------------------------------------------------------------

def _run_text(cmd: list[str], timeout: float = 20) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


def machine_facts(venv_python: Path) -> dict:
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions_py = ("import importlib.metadata as m, json, sys\n"
                   "out = {'python': sys.version.split()[0]}\n"
                   "for d in ('ferrule', 'granian', 'gunicorn'):\n"
                   "    try: out[d] = m.version(d)\n"
                   "    except m.PackageNotFoundError: out[d] = None\n"
                   "print(json.dumps(out))")
    try:
        versions = json.loads(_run_text([str(venv_python), "-c", versions_py]))
    except json.JSONDecodeError:
        versions = {}
    wrk_v = _run_text(["wrk", "-v"]).splitlines()
    governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    return {
        "nproc": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "os": _os_release(),
        "python": versions.get("python"),
        "versions": {k: v for k, v in versions.items() if k != "python"},
        "wrk": wrk_v[0] if wrk_v else "?",
        "cpu_governor": governor.read_text().strip() if governor.exists() else "n/a",
        "git_head": _run_text(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"]),
        # anything outside bench/ that differs from HEAD, untracked files included
        "git_dirty": bool(_run_text(["git", "-C", str(REPO_DIR), "status", "--porcelain",
                                     "--", ".", ":!bench"])),
        "mem_total": _meminfo("MemTotal"),
        "ferrule_build": _read(venv_python.parent.parent / "ferrule-build.txt"),
    }


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "?"


def _meminfo(key: str) -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def _f(x, fmt="{:.2f}", none="–"):
    return none if x is None else fmt.format(x)


def render_markdown(report: dict) -> str:
    cfg, facts, sums, rat = report["config"], report["machine"], report["summary"], report["ratios"]
    v = facts["versions"]
    L = []
    L.append(f"# `{cfg['workload']}` benchmark, {report['started']}")
    L.append("")
    L.append(f"Workload: {report['workload_description']}. One worker process per server, "
             f"{cfg['threads']} Python thread(s) each, server pinned to core {cfg['server_cpu']}; "
             f"`wrk -t{cfg['wrk_threads']} -c{cfg['connections']} -d{cfg['duration']:g}s "
             f"--latency` pinned to core {cfg['client_cpu']}; {cfg['warmup']:g} s warm-up "
             f"discarded; {cfg['rounds']} round(s) interleaved. Medians over rounds, "
             f"spread = min–max.")
    L.append("")
    L.append("| server | req/s (median) | req/s min–max | p50 ms | p99 ms | max ms | "
             "non-2xx/3xx | socket errors c/r/w/t | peak RSS tree MiB | server CPU % | wrk core % | "
             "rounds used |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in cfg["servers"]:
        s = sums[name]
        label = SERVERS[name].label
        if not s.get("rps_median"):
            err = " / ".join(x.strip() for x in (s.get("error") or "failed").splitlines()[:3])
            err = (err[:200] + " …").replace("|", "\\|")
            L.append(f"| {label} | FAILED: {err} | | | | | | | | | | 0/{s['rounds']} |")
            continue
        se = s["socket_errors"]
        L.append(f"| {label} | {s['rps_median']:,.0f} | {s['rps_min']:,.0f}–{s['rps_max']:,.0f} | "
                 f"{_f(s['p50_ms'])} | {_f(s['p99_ms'])} | {_f(s['max_ms'])} | "
                 f"{s['non_2xx_3xx']} | {se['connect']}/{se['read']}/{se['write']}/{se['timeout']} | "
                 f"{s['rss_tree_mib']:.1f} ({s['processes']} proc) | "
                 f"{_f(s['server_cpu_pct'], '{:.0f}')} | {_f(s['client_core_busy_pct'], '{:.0f}')} | "
                 f"{s['rounds_ok']}/{s['rounds']}"
                 f"{' ({} noisy left out)'.format(s['noisy_left_out']) if s['noisy_left_out'] else ''} |")
    L.append("")
    L.append(f"Ratios, {SERVERS[SUBJECT].label} ÷ peer (req/s: >1 means {SERVERS[SUBJECT].label} "
             "is faster; p99 and RSS: <1 means lower):")
    L.append("")
    L.append("| Ferrule ÷ | req/s | per-round req/s ratio min–max | p99 latency | peak RSS |")
    L.append("|---|---:|---:|---:|---:|")
    for name, r in rat.items():
        label = SERVERS[name].label
        if r is None:
            L.append(f"| {label} | n/a | n/a | n/a | n/a |")
            continue
        L.append(f"| {label} | {r['rps']:.2f}× | {_f(r['rps_per_round_min'])}–"
                 f"{_f(r['rps_per_round_max'])} | {_f(r['p99'])}× | {_f(r['rss'])}× |")
    L.append("")
    failures = [(n, s["error"]) for n, s in sums.items() if s.get("error")]
    if failures:
        L.append("Failures:")
        L.append("")
        for n, e in failures:
            L.append(f"- **{SERVERS[n].label}**:")
            L.append("")
            L.append("  ```")
            L.extend("  " + line for line in e.splitlines()[:20])
            L.append("  ```")
        L.append("")
    kept = [r for rs in report["rounds"].values() for r in rs]
    noisy = [r for r in kept if r.get("noisy")]
    unquiet = [r for r in kept if r.get("machine_before") and not r["machine_before"]["quiet"]]
    redone = sum(len(r.get("discarded_attempts", [])) for r in kept)
    if redone:
        L.append(f"{redone} run(s) were measured again because other work took more than "
                 f"{cfg['quiet_threshold'] * 100:.0f}% of the server's or client's core "
                 f"(kept under `discarded_attempts` in the JSON).")
        L.append("")
    if noisy or unquiet:
        used_noisy = sum(1 for r in noisy if r.get("used"))
        L.append(f"**Noise warning** ({used_noisy} of them used in the medians, the rest left "
                 f"out): {len(noisy)} kept run(s) still had other work taking "
                 f"more than {cfg['quiet_threshold'] * 100:.0f}% of the server's or client's "
                 f"core, and {len(unquiet)} started on a busy machine (see "
                 f"`server_core_other_pct`, `client_core_other_pct` and `machine_before` in "
                 f"the JSON).")
        L.append("")
    L.append("Machine and versions:")
    L.append("")
    L.append(f"- CPU: {facts['cpu_model']}, nproc {facts['nproc']}, governor "
             f"{facts['cpu_governor']}, memory {facts['mem_total']}")
    L.append(f"- OS: {facts['os']}, kernel {facts['kernel']}")
    L.append(f"- Python {facts['python']}; Ferrule {v.get('ferrule') or 'not installed'} "
             f"({facts['ferrule_build'] or 'build of unknown commit'}; repo now at "
             f"{facts['git_head']}{', dirty tree' if facts['git_dirty'] else ''}); "
             f"Granian {v.get('granian')}; gunicorn {v.get('gunicorn')}; {facts['wrk']}")
    L.append("")
    L.append("Commands (port varies per run):")
    L.append("")
    for name in cfg["servers"]:
        cmd = next((r["cmd"] for r in report["rounds"][name] if r.get("cmd")), None)
        if cmd:
            L.append(f"- {SERVERS[name].label}: `{_shorten(' '.join(cmd))}`")
    wrk_cmd = next((r["wrk_cmd"] for rs in report["rounds"].values() for r in rs
                    if r.get("wrk_cmd")), None)
    if wrk_cmd:
        L.append(f"- load: `{' '.join(wrk_cmd)}`")
    L.append("")
    return "\n".join(L) + "\n"


def _shorten(cmd: str) -> str:
    return cmd.replace(str(BENCH_DIR), "bench").replace(str(REPO_DIR) + "/", "")


# --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default="hello", choices=sorted(WORKLOADS))
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help="comma-separated, from: " + ", ".join(SERVERS))
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of discarded warm-up")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="Python threads per server (same for all); 1 measures per-request "
                         "overhead without GIL hand-offs")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--wrk-timeout", type=float, default=2.0,
                    help="wrk's per-request timeout (s); slower replies count as timeouts")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="max seconds to wait before each run for the machine to go idle")
    ap.add_argument("--quiet-threshold", type=float, default=0.10,
                    help="a core busier than this fraction counts as not idle")
    ap.add_argument("--noisy-retries", type=int, default=2,
                    help="measure a run again (at most this many times) when other work took "
                         "more than --quiet-threshold of the server's or client's core")
    ap.add_argument("--keep-noisy", action="store_true",
                    help="use noisy runs in the medians too (by default they are left out "
                         "whenever the same server has at least one clean run)")
    ap.add_argument("--venv", type=Path, default=BENCH_DIR / ".venv")
    ap.add_argument("--out-dir", type=Path, default=BENCH_DIR / "results")
    ap.add_argument("--tag", default="", help="appended to the result file names")
    args = ap.parse_args(argv)

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        ap.error(f"unknown server(s): {unknown}")
    if not (0 < args.duration <= 600 and 0 <= args.warmup <= 60 and 1 <= args.rounds <= 20):
        ap.error("duration must be in (0, 600], warmup in [0, 60], rounds in [1, 20]")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found; run bench/run.sh, which installs it")
    cpus = os.sched_getaffinity(0)
    if args.server_cpu not in cpus or args.client_cpu not in cpus or \
            args.server_cpu == args.client_cpu:
        ap.error(f"--server-cpu and --client-cpu must be two different CPUs of {sorted(cpus)}")
    venv_bin = args.venv / "bin"
    wl = WORKLOADS[args.workload]

    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    name = f"{wl.name}-{stamp}" + (f"-{args.tag}" if args.tag else "")
    log_dir = args.out_dir / "tmp" / name
    log_dir.mkdir(parents=True, exist_ok=True)

    facts = machine_facts(venv_bin / "python")
    print(f"{wl.name}: {', '.join(servers)}; {args.rounds} round(s) x {args.duration:g} s, "
          f"{args.threads} thread(s); logs in {log_dir}", file=sys.stderr)

    by_server: dict[str, list[dict]] = {s: [] for s in servers}
    try:
        for rnd in range(1, args.rounds + 1):
            for s in servers:
                discarded = []
                while True:
                    rec = measure(SERVERS[s], args, wl, venv_bin, log_dir, rnd)
                    rec["noisy"] = is_noisy(rec, args)
                    if not rec["noisy"] or len(discarded) >= args.noisy_retries:
                        break
                    print(f"  round {rnd} {s:9s} other work took the cores (server core "
                          f"{rec['server_core_other_pct']:.0f}%, client core "
                          f"{rec['client_core_other_pct']:.0f}%): measuring again",
                          file=sys.stderr)
                    discarded.append(rec)
                rec["discarded_attempts"] = discarded
                by_server[s].append(rec)
                if rec.get("ok"):
                    msg = (f"{rec['rps']:,.0f} req/s, p99 {rec['p99_ms']:.2f} ms, "
                           f"non-2xx/3xx {rec['non_2xx_3xx']}, sock err "
                           f"{sum(rec['socket_errors'].values())}, "
                           f"RSS {rec['memory']['vmhwm_sum_kib'] / 1024:.1f} MiB, "
                           f"srv CPU {rec['server_cpu_pct']:.0f}%, "
                           f"other work on server/client core "
                           f"{rec['server_core_other_pct']:.0f}%/{rec['client_core_other_pct']:.0f}%")
                else:
                    msg = "FAILED: " + (rec.get("error") or "?").splitlines()[0]
                print(f"  round {rnd} {s:9s} {msg}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; reporting what was measured", file=sys.stderr)

    summaries = {s: summarize(rs, args.keep_noisy) for s, rs in by_server.items()}
    report = {
        "started": started.isoformat(timespec="seconds"),
        "workload_description": wl.description,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"servers": servers},
        "machine": facts,
        "summary": summaries,
        "ratios": ratios(by_server, summaries) if SUBJECT in servers else {},
        "rounds": by_server,
    }
    md = render_markdown(report)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{name}.md").write_text(md)
    (args.out_dir / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(md)
    print(f"wrote {args.out_dir / (name + '.md')} and .json", file=sys.stderr)
    # A server that failed is reported in the table, not fatal; fail only if nothing ran.
    return 0 if any(s.get("rps_median") for s in summaries.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
