"""PasteDeploy end to end with a Pyramid project laid out as its scaffold does
(tests/python/apps/pyramid_project: `development.ini` with `[app:main]`, `[server:main]
use = egg:ferrule` and logging sections): started by `pserve development.ini` and by
`ferrule --paste development.ini`, each serving the Pyramid app and a static mount from the
ini's settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ferrule_proc import HERE, start_command, start_server
from rawhttp import request

PROJECT = HERE / "apps" / "pyramid_project"
PSERVE = shutil.which("pserve", path=os.path.dirname(sys.executable))
ENV = {"PYTHONPATH": str(PROJECT)}


def get(server, target: str):
    return request(server.address, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def check_serves_the_project(server) -> None:
    home = get(server, "/")
    assert home.status == 200
    assert home.body == b"pyramid says hello from the ini"
    # The ini's static_map: served by ferrule (its validators), not by Pyramid.
    css = get(server, "/static/site.css")
    assert css.status == 200
    assert css.body == b"body { font-family: serif }\n"
    assert css.header("ETag") is not None
    # Pyramid's own static view still works through the app.
    assert get(server, "/assets/site.css").body == css.body
    # The ini's logging sections configured the app's logger (pserve's behaviour).
    server.wait_for_log(r"INFO  \[pyramid_demo\] home view for /")


def test_ferrule_paste_serves_the_ini_app_with_its_server_section():
    server = start_server("--paste", "development.ini", bind=None, cwd=str(PROJECT), env=ENV)
    try:
        check_serves_the_project(server)
        assert "worker 1 (pid" in server.log()
        assert "serving with 2 thread(s)" in server.log()  # threads = 2 in [server:main]
    finally:
        assert server.stop() == 0


def test_ferrule_paste_takes_the_app_section_after_the_hash():
    server = start_server("--paste", "development.ini#admin", bind=None, cwd=str(PROJECT),
                          env=ENV)
    try:
        assert get(server, "/").body == b"pyramid says hello from the admin section"
    finally:
        server.stop()


def test_paste_global_fills_the_inis_variables():
    # gunicorn's --paste-global (raw_paste_global_conf): `%(who)s` in [app:vars], given in
    # upper case as configparser reads every key (PasteDeploy alone would keep `WHO`).
    server = start_server("--paste", "development.ini#vars", "--paste-global",
                          "WHO=the command line", bind=None, cwd=str(PROJECT), env=ENV)
    try:
        assert get(server, "/").body == b"pyramid says hello from the command line"
    finally:
        assert server.stop() == 0


def test_flags_override_the_server_section():
    server = start_server("--paste", "development.ini", "--threads", "3", bind=None,
                          cwd=str(PROJECT), env=ENV)
    try:
        server.wait_for_log(r"serving with 3 thread\(s\)")
    finally:
        server.stop()


@pytest.mark.skipif(PSERVE is None, reason="pserve (pyramid) is not installed")
def test_pserve_starts_ferrule_from_the_ini():
    server = start_command([PSERVE, "development.ini"], cwd=str(PROJECT), env=ENV)
    try:
        check_serves_the_project(server)
    finally:
        assert server.stop() == 0


@pytest.mark.skipif(PSERVE is None, reason="pserve (pyramid) is not installed")
def test_pserve_with_a_bad_key_stops_with_one_line(tmp_path: Path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[app:main]\nuse = call:pyramid_demo:main\ngreeting = x\n\n"
                   "[server:main]\nuse = egg:ferrule\nthreads = 0\n")
    proc = subprocess.run([PSERVE, str(ini)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **ENV})
    # pserve turns the runner's SystemExit(2) into "Exiting 2" (and its own exit status).
    assert f"ferrule: threads in [server:main] of {ini} must be >= 1, got 0\n" in proc.stderr
    assert "Exiting 2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ferrule_paste_with_a_missing_ini_is_a_config_error(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "ferrule", "--paste", "nope.ini"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == f"ferrule: PasteDeploy file '{tmp_path / 'nope.ini'}' does not exist.\n"


def test_an_app_and_paste_together_is_a_config_error():
    proc = subprocess.run(
        [sys.executable, "-m", "ferrule", "--paste", "development.ini", "apps.echo:app"],
        capture_output=True, text=True, timeout=60, cwd=PROJECT)
    assert proc.returncode == 2
    assert proc.stderr == "ferrule: Give an app or --paste, not both.\n"
