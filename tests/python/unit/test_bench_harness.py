"""Tests of the bench harness itself (bench/): needs no server and no wrk: the suite's
pure parts, its report rendering on a committed run, the upload client against its own
sink, and the callgrind table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"

# bench/ has a module named `apps`, as tests/python has a package: the bench modules are
# imported with theirs in place and the tests' put back, so both keep working in one run.
_TESTS_APPS = {name: sys.modules.pop(name) for name in list(sys.modules)
               if name == "apps" or name.startswith("apps.")}
_PATH = list(sys.path)
sys.path.insert(0, str(BENCH))
try:
    import callgrind_table  # noqa: E402
    import suite  # noqa: E402
    from apps import WORKLOADS  # noqa: E402
finally:
    sys.path[:] = _PATH  # the bench modules put bench/ on it too
    sys.modules.pop("apps", None)
    sys.modules.update(_TESTS_APPS)

# The committed full run whose figures issue #14 quotes.
COMMITTED = BENCH / "results" / "suite-20261124-075609.json"


@pytest.mark.parametrize("text, expected", [
    ("1", [1]), ("4", [4]), ("1,4", [1, 4]), ("4, 1", [4, 1]), ("1,4,1", [1, 4]),
])
def test_thread_counts_parse_in_order_without_duplicates(text, expected):
    assert suite.parse_thread_counts(text) == expected


@pytest.mark.parametrize("text", ["0", "1,x", "", ",", "-2"])
def test_thread_counts_reject_what_is_not_a_count(text):
    with pytest.raises(Exception, match="thread count"):
        suite.parse_thread_counts(text)


@pytest.mark.parametrize("workload, expected", [
    ("hello", [1, 4]), ("upload", [1, 4]), ("tls-hello", [1, 4]),
    ("asgi-hello", [1]),       # the first count only
    ("sleep", [None]),         # its own 8 threads
])
def test_rows_run_once_per_thread_count_unless_they_have_their_own(workload, expected):
    assert suite.row_thread_configs(WORKLOADS[workload], [1, 4]) == expected


def test_rows_outside_workloads_threads_run_with_the_first_count_only():
    every = set(suite.DEFAULT_ALL_THREADS.split(","))
    assert suite.row_thread_configs(WORKLOADS["echo"], [1, 4], every) == [1, 4]
    assert suite.row_thread_configs(WORKLOADS["tls-hello"], [1, 4], every) == [1]
    assert suite.row_thread_configs(WORKLOADS["sleep"], [1, 4], every) == [None]


@pytest.mark.parametrize("tc, counts, label", [
    (1, [1], "hello 1p"), (4, [4], "hello 1p 4t"), (1, [1, 4], "hello 1p 1t"),
    (4, [1, 4], "hello 1p 4t"), (None, [1, 4], "hello 1p"),
])
def test_row_label_names_the_thread_count_when_it_is_not_the_only_default(tc, counts, label):
    row = {"workload": "hello", "topology": "1p", "thread_config": tc}
    assert suite.row_label(row, counts) == label


def ctx(threads: int, own: bool, workers: int = 1, workload: str = "hello") -> suite.Ctx:
    return suite.Ctx(1, threads, workers, WORKLOADS[workload], Path("/tmp"), Path("/nowhere"),
                     own)


@pytest.mark.parametrize("peer", ["fastwsgi", "bjoern"])
def test_servers_without_threads_are_the_reference_in_a_thread_count_row(peer):
    argv = suite.PEERS[peer].build(ctx(4, own=False))
    assert peer in argv


@pytest.mark.parametrize("peer", ["fastwsgi", "bjoern"])
def test_servers_without_threads_cannot_run_a_row_that_needs_threads(peer):
    with pytest.raises(suite.NotApplicable, match="no thread pool"):
        suite.PEERS[peer].build(ctx(8, own=True, workload="sleep"))


def test_gunicorn_sync_is_not_applicable_in_a_four_thread_row():
    with pytest.raises(suite.NotApplicable, match="1-thread row"):
        suite.PEERS["gunicorn-sync"].build(ctx(4, own=False))


def _rec(rnd: int, rps: float, timeouts: int = 0, ok: bool = True) -> dict:
    return {"round": rnd, "ok": ok, "used": ok, "rps": rps,
            "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": timeouts}}


def _row(workload: str, tc: int, summary: dict, ratios: dict, rounds: dict | None = None,
         topology: str = "1p") -> dict:
    return {"workload": workload, "topology": topology, "threads": tc, "thread_config": tc,
            "summary": summary, "ratios": ratios, "rounds": rounds or {}}


def _targets(rows: list[dict]) -> dict[str, tuple[str, str]]:
    report = {"config": {"threads": [1, 4]}, "rows": rows}
    return {name: (shown, holds) for name, shown, holds in suite.targets(report)}


def test_targets_are_checked_in_each_thread_count_separately():
    rows = [_row("hello", 1, {}, {"fastwsgi": {"rps": 0.92, "cpu_per_req": 1.12}}),
            _row("hello", 4, {}, {"fastwsgi": {"rps": 1.05, "cpu_per_req": 0.98}})]
    t = _targets(rows)
    assert t["hello 1p 1t ≥ 1.0× fastwsgi (#14)"] == ("0.92×", "**no**")
    assert t["hello 1p 4t ≥ 1.0× fastwsgi (#14)"] == ("1.05×", "yes")
    assert t["hello 1p 1t server CPU per request ≤ fastwsgi's (#14)"] == ("1.12×", "**no**")
    assert t["hello 1p 4t server CPU per request ≤ fastwsgi's (#14)"] == ("0.98×", "yes")
    # a row not run: "not measured" with the first count, no line with the others
    assert t["json 1p 1t ≥ 1.5× Granian (#14)"] == ("not measured", "n/a")
    assert "json 1p 4t ≥ 1.5× Granian (#14)" not in t


def test_file_timeouts_count_every_round_that_ran_not_only_the_used_ones():
    noisy = dict(_rec(2, 900, timeouts=3), used=False)
    rows = [_row("file", 1, {}, {}, {suite.SUBJECT: [_rec(1, 1000), noisy]}),
            _row("file", 4, {}, {}, {suite.SUBJECT: [_rec(1, 1000), _rec(2, 990)]})]
    t = _targets(rows)
    assert t["file 1p 1t zero wrk timeouts, every round (#14)"] == ("3 in 2 round(s)", "**no**")
    assert t["file 1p 4t zero wrk timeouts, every round (#14)"] == ("0 in 2 round(s)", "yes")


def test_upload_target_fails_when_the_client_core_was_saturated():
    fast = {"rps": 1.4}
    rows = [_row("upload", 1, {suite.SUBJECT: {"client_core_busy_pct": 99.0},
                               "granian": {"client_core_busy_pct": 97.0}}, {"granian": fast}),
            _row("upload", 4, {suite.SUBJECT: {"client_core_busy_pct": 60.0},
                               "granian": {"client_core_busy_pct": 55.0}}, {"granian": fast})]
    t = _targets(rows)
    name = "upload 1p {}t ≥ 1.3× Granian, client not the limit (#14)"
    assert t[name.format(1)] == ("1.40× (client core 99 % busy: client-bound)", "**no**")
    assert t[name.format(4)] == ("1.40× (client core 60 % busy)", "yes")


def test_stay_ahead_compares_with_the_fastest_peer_but_not_nginx():
    summary = {suite.SUBJECT: {"rps_median": 100.0}, "granian": {"rps_median": 60.0},
               "uwsgi": {"rps_median": 80.0}, "nginx": {"rps_median": 200.0}}
    t = _targets([_row("hello", 1, summary, {}, topology="2p")])
    assert t["hello 2p 1t ≥ 1.0× the fastest peer (#14: stay ahead)"] == ("1.25× (uWSGI)", "yes")


@pytest.mark.skipif(not COMMITTED.exists(), reason="the committed run is not in this checkout")
def test_rendering_the_committed_run_gives_the_figures_issue_14_quotes(tmp_path):
    copy = tmp_path / COMMITTED.name
    shutil.copy(COMMITTED, copy)
    p = subprocess.run([sys.executable, str(BENCH / "suite.py"), "--render", str(copy),
                        "--no-readme"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    md = copy.with_suffix(".md").read_text()
    for line in ["| hello 1p ≥ 1.0× fastwsgi (#14) | 0.92× | **no** |",
                 "| json 1p ≥ 1.5× Granian (#14) | 1.18× | **no** |",
                 "| echo 1p ≥ 1.0× fastwsgi (#14) | 0.90× | **no** |",
                 "| file 1p p99 ≤ Granian's (#14) | 6.60× (1,710 vs 259 ms) | **no** |",
                 "| file 1p zero wrk timeouts, every round (#14) | 17 in 3 round(s) | **no** |",
                 "| hello | 7.3 / 9.7 | 11.1 / 23.3 |"]:
        assert line in md


def test_upload_client_against_its_sink_checks_every_answer(tmp_path):
    sink = subprocess.Popen([sys.executable, str(BENCH / "upload_client.py"), "--sink",
                             "--port", "0", "--sink-lifetime", "30"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = json.loads(sink.stdout.readline())["listening"]
        for method in ("send", "sendfile"):
            p = subprocess.run([sys.executable, str(BENCH / "upload_client.py"), "--port",
                                str(port), "--size", str(3_000_001), "--connections", "2",
                                "--max-uploads", "5", "--duration", "20", "--method", method],
                               capture_output=True, text=True, timeout=60)
            r = json.loads(p.stdout)
            assert r["requests"] == 5, (method, r)
            assert r["errors"] == {"non_2xx": 0, "wrong_body": 0, "socket": 0, "timeout": 0}
            assert r["self_cpu_user_s"] >= 0 and r["self_cpu_system_s"] >= 0
            assert r["mb_per_s"] > 0
    finally:
        sink.kill()
        sink.wait(timeout=10)


def test_upload_client_counts_a_wrong_byte_count(tmp_path):
    # a server that always answers "7": every upload is a wrong body
    code = ("import socket,sys\n"
            "s=socket.create_server(('127.0.0.1',0)); print(s.getsockname()[1], flush=True)\n"
            "c,_=s.accept(); n=0\n"
            "while True:\n"
            "    b=c.recv(1<<20)\n"
            "    if not b: break\n"
            "    n+=len(b)\n"
            "    if n>=1_000_000:\n"
            "        c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\n7'); n=0\n")
    srv = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        p = subprocess.run([sys.executable, str(BENCH / "upload_client.py"), "--port",
                            str(port), "--size", str(1_000_000), "--connections", "1",
                            "--max-uploads", "1", "--duration", "10", "--timeout", "5"],
                           capture_output=True, text=True, timeout=30)
        r = json.loads(p.stdout)
        assert r["errors"]["wrong_body"] == 1
    finally:
        srv.kill()
        srv.wait(timeout=10)


def test_upload_client_gives_up_on_a_server_that_never_answers():
    code = ("import socket\n"
            "s=socket.create_server(('127.0.0.1',0)); print(s.getsockname()[1], flush=True)\n"
            "c,_=s.accept()\n"
            "while c.recv(1<<20): pass\n")
    srv = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, str(BENCH / "upload_client.py"), "--port",
                            str(port), "--size", str(100_000), "--connections", "1",
                            "--max-uploads", "1", "--duration", "10", "--timeout", "1"],
                           capture_output=True, text=True, timeout=30)
        r = json.loads(p.stdout)
        assert r["errors"]["timeout"] == 1 and r["requests"] == 0
        assert time.monotonic() - t0 < 8
    finally:
        srv.kill()
        srv.wait(timeout=10)


def test_callgrind_table_renders_ratios_and_marks_what_was_not_measured():
    base = {"date": "2026-12-07T06:00:00+00:00", "small": 100, "big": 4100,
            "repo_head": "abc1234", "valgrind": "valgrind-3.19.0",
            "versions": {"granian": "2.8.7"}}
    results = {"hello": dict(base, instructions_per_request={"ferrule": 30000.0,
                                                             "granian": 60000.0}),
               "json": dict(base, instructions_per_request={"ferrule": 50000.0})}
    md = callgrind_table.render(results)
    assert "| Ferrule | 30,000 | 50,000 | +20,000 | 1.00 | 1.00 |" in md
    assert "| Granian | 60,000 | not measured | – | 0.50 | – |" in md
    assert "2026-12-07" in md and "abc1234" in md


def _venv_with(tmp_path: Path, *python_flags: str) -> Path:
    """A directory shaped like a venv whose bin/python is this Python with `python_flags`."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" {" ".join(python_flags)} "$@"\n')
    python.chmod(0o755)
    return bin_dir.parent


def test_a_ferrule_venv_without_the_frameworks_is_named_with_the_fix(tmp_path):
    # -I -S: no site-packages, so no flask, django or fastapi (a venv with only Ferrule)
    venv = _venv_with(tmp_path, "-I", "-S")
    why = suite.missing_imports(venv, ["hello", "flask", "django", "fastapi"])
    assert why is not None
    for mod in ("flask", "django", "fastapi", "pydantic"):
        assert mod in why
    assert f"{venv / 'bin' / 'pip'} install flask django fastapi pydantic" in why
    assert "hello" not in why
    # rows whose apps need nothing of the venv ask nothing of it
    assert suite.missing_imports(venv, ["hello", "json", "echo", "ws-echo"]) is None


def test_a_ferrule_venv_with_the_frameworks_passes(tmp_path):
    venv = _venv_with(tmp_path)   # this Python: the test dependencies have the frameworks
    assert suite.missing_imports(venv, ["flask", "django", "fastapi"]) is None


def test_the_suite_refuses_a_ferrule_venv_that_cannot_run_its_rows(tmp_path, capsys):
    venv = _venv_with(tmp_path, "-I", "-S")
    (venv / "bin" / "ferrule").write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "ferrule").chmod(0o755)
    with pytest.raises(SystemExit) as exc:
        suite.main(["--ferrule-venv", str(venv), "--workloads", "flask", "--no-readme",
                    "--out-dir", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert f"--ferrule-venv {venv}: cannot import flask" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()    # refused before anything ran
