#!/usr/bin/env python3
"""Instructions per request (callgrind) for several servers on hello and json, as a
markdown table to paste into the README (issue #14 keeps one there: it does not depend on
machine noise).

    bench/callgrind_table.py                                   # run, then print the table
    bench/callgrind_table.py --servers ferrule,granian,fastwsgi,bjoern \\
        --ferrule-venv /tmp/ferrule-rel --venv bench/.venv --out table.md
    bench/callgrind_table.py --from DIR_HELLO DIR_JSON         # only render earlier runs

Runs bench/callgrind.sh once per workload (WORKLOAD=hello, WORKLOAD=json: every server
in turn, SMALL and BIG requests over one keep-alive connection, one worker, one Python
thread), each into its own directory, reads the result.json that callgrind.sh writes
there, and renders the table: one line per server, instructions per request on each
workload, the json - hello difference, and Ferrule ÷ server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORKLOADS = ("hello", "json")
LABELS = {"ferrule": "Ferrule", "granian": "Granian", "fastwsgi": "fastwsgi",
          "bjoern": "bjoern", "uvicorn": "uvicorn", "bare": "the app alone (no server)"}


def run(workload: str, servers: list[str], out: Path, venv: Path, ferrule_venv: Path,
        small: int, big: int) -> dict:
    env = dict(os.environ, WORKLOAD=workload, OUT=str(out), VENV=str(venv),
               FERRULE_VENV=str(ferrule_venv), SMALL=str(small), BIG=str(big), TOP="0")
    env.pop("APP", None)
    print(f"callgrind_table: {workload}: {' '.join(servers)} -> {out}", file=sys.stderr,
          flush=True)
    p = subprocess.run([str(BENCH_DIR / "callgrind.sh"), *servers], env=env, check=False)
    result = load(out)
    if p.returncode != 0:
        missing = [s for s in servers if s not in result.get("instructions_per_request", {})]
        print(f"callgrind_table: callgrind.sh exited {p.returncode} on {workload}; not "
              f"measured: {', '.join(missing) or 'none'}", file=sys.stderr)
    return result


def load(out: Path) -> dict:
    path = out / "result.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def render(results: dict[str, dict]) -> str:
    """results: workload -> a callgrind.sh result.json. Servers missing from a workload show
    as 'not measured', never as a number."""
    servers: list[str] = []
    for r in results.values():
        for s in r.get("instructions_per_request", {}):
            if s not in servers:
                servers.append(s)
    if not servers:
        raise SystemExit("no callgrind results to render")
    per = {w: results.get(w, {}).get("instructions_per_request", {}) for w in WORKLOADS}
    first = next(r for r in results.values() if r)
    dates = sorted({r["date"][:10] for r in results.values() if r.get("date")})
    heads = sorted({r["repo_head"] for r in results.values() if r.get("repo_head")})
    versions: dict[str, str] = {}
    for r in results.values():
        versions.update({k: v for k, v in r.get("versions", {}).items() if v})

    def cell(w: str, s: str) -> str:
        v = per[w].get(s)
        return f"{v:,.0f}" if v is not None else "not measured"

    def ratio(w: str, s: str) -> str:
        f, v = per[w].get("ferrule"), per[w].get(s)
        return f"{f / v:.2f}" if f is not None and v else "–"

    def diff(s: str) -> str:
        h, j = per["hello"].get(s), per["json"].get(s)
        return f"{j - h:+,.0f}" if h is not None and j is not None else "–"

    lines = [
        f"Instructions per request (callgrind; ({first['big']} requests − {first['small']} "
        f"requests) ÷ {first['big'] - first['small']}, over one keep-alive connection, one "
        f"worker, one Python thread; user-space instructions only, the kernel's share is not "
        f"counted; {', '.join(dates)}; bench scripts at {', '.join(heads)}; "
        f"{first.get('valgrind', 'valgrind')}):",
        "",
        "| server | hello | json | json − hello | Ferrule ÷ server, hello | Ferrule ÷ server, json |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in servers:
        lines.append(f"| {LABELS.get(s, s)} | {cell('hello', s)} | {cell('json', s)} | "
                     f"{diff(s)} | {ratio('hello', s)} | {ratio('json', s)} |")
    lines.append("")
    build = first.get("ferrule_build")
    lines.append("Versions: " + ", ".join(f"{LABELS.get(k, k)} {v.removeprefix(k + ' ')}"
                                         for k, v in versions.items())
                 + (f" ({build})" if build else "") + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="ferrule,granian,fastwsgi",
                    help="comma-separated, any of callgrind.sh's (default: %(default)s)")
    ap.add_argument("--venv", type=Path, default=BENCH_DIR / ".venv",
                    help="the peers' venv (callgrind.sh's VENV)")
    ap.add_argument("--ferrule-venv", type=Path, help="Ferrule's venv (default: --venv)")
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--big", type=int, default=4100)
    ap.add_argument("--work-dir", type=Path,
                    help="where the callgrind runs go (default: "
                         "bench/results/tmp/callgrind-table-<stamp>)")
    ap.add_argument("--from", dest="from_dirs", type=Path, nargs=2,
                    metavar=("HELLO_DIR", "JSON_DIR"),
                    help="measure nothing: render the result.json of two earlier runs")
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    a = ap.parse_args(argv)
    if a.from_dirs:
        results = {w: load(d) for w, d in zip(WORKLOADS, a.from_dirs)}
    else:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        work = a.work_dir or BENCH_DIR / "results" / "tmp" / f"callgrind-table-{stamp}"
        servers = [s.strip() for s in a.servers.split(",") if s.strip()]
        results = {w: run(w, servers, work / w, a.venv, a.ferrule_venv or a.venv, a.small,
                          a.big) for w in WORKLOADS}
    md = render(results)
    if a.out:
        a.out.write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
