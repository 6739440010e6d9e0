"""Tests for python/ferrule/watch.py: what --reload watches and when it says "changed"."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ferrule.watch import SourceWatcher, app_directory


def touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))


def test_a_changed_py_file_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    watcher = SourceWatcher(str(tmp_path), interval=0)
    assert watcher() is False
    touch_later(tmp_path / "app.py")
    assert watcher() is True
    assert watcher() is False


def test_new_and_removed_files_count_and_caches_and_venvs_do_not(tmp_path: Path) -> None:
    (tmp_path / ".venv").mkdir()
    (tmp_path / "__pycache__").mkdir()
    watcher = SourceWatcher(str(tmp_path), interval=0)
    (tmp_path / ".venv" / "lib.py").write_text("")
    (tmp_path / "__pycache__" / "x.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert watcher() is False
    (tmp_path / "new.py").write_text("")
    assert watcher() is True
    (tmp_path / "new.py").unlink()
    assert watcher() is True


def test_extra_globs_are_watched(tmp_path: Path) -> None:
    (tmp_path / "templates" / "deep").mkdir(parents=True)
    page = tmp_path / "templates" / "deep" / "page.html"
    page.write_text("<p>")
    watcher = SourceWatcher(str(tmp_path), [str(tmp_path / "templates" / "**" / "*.html")],
                            interval=0)
    touch_later(page)
    assert watcher() is True


def test_checks_at_most_once_per_interval(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    watcher = SourceWatcher(str(tmp_path), interval=3600)
    assert watcher() is False  # the first check sets the next one an hour away
    touch_later(tmp_path / "app.py")
    assert watcher() is False


def test_the_app_directory_holds_its_top_level_module(make_module: Callable) -> None:
    module = make_module("watchedapp", "app = None\n")
    assert app_directory("watchedapp:app") == str(module.parent)
    package_module = make_module("watchedpkg.web", "app = None\n")
    assert app_directory("watchedpkg.web:app") == str(package_module.parent.parent)
    assert app_directory("no_such_module_anywhere:app") == os.getcwd()
