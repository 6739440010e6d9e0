"""Tests for python/ferrule/watch.py: what --reload watches and when it says "changed", with
each engine (poll; inotify through the compiled core)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest
from ferrule.errors import ConfigError
from ferrule.watch import SourceWatcher, app_directory


def touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))


def test_a_changed_py_file_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    watcher = SourceWatcher(str(tmp_path), interval=0, engine="poll")
    assert watcher() is False
    touch_later(tmp_path / "app.py")
    assert watcher() is True
    assert watcher() is False


def test_new_and_removed_files_count_and_caches_and_venvs_do_not(tmp_path: Path) -> None:
    (tmp_path / ".venv").mkdir()
    (tmp_path / "__pycache__").mkdir()
    watcher = SourceWatcher(str(tmp_path), interval=0, engine="poll")
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
                            interval=0, engine="poll")
    touch_later(page)
    assert watcher() is True


def test_checks_at_most_once_per_interval(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    watcher = SourceWatcher(str(tmp_path), interval=3600, engine="poll")
    assert watcher() is False  # the first check sets the next one an hour away
    touch_later(tmp_path / "app.py")
    assert watcher() is False


def test_the_app_directory_holds_its_top_level_module(make_module: Callable) -> None:
    module = make_module("watchedapp", "app = None\n")
    assert app_directory("watchedapp:app") == str(module.parent)
    package_module = make_module("watchedpkg.web", "app = None\n")
    assert app_directory("watchedpkg.web:app") == str(package_module.parent.parent)
    assert app_directory("no_such_module_anywhere:app") == os.getcwd()


def inotify_watcher(root: Path, extra: tuple[str, ...] = ()) -> SourceWatcher:
    watcher = SourceWatcher(str(root), extra, engine="inotify", settle=0)
    assert watcher.engine == "inotify"
    return watcher


def test_inotify_reports_a_written_py_file_once_without_rescanning(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("")
    watcher = inotify_watcher(tmp_path)
    assert watcher() is False
    (tmp_path / "notes.txt").write_text("more")
    assert watcher() is False
    (tmp_path / "app.py").write_text("x = 2\n")
    assert watcher() is True
    assert watcher() is False


def test_inotify_watches_new_directories_and_skips_caches_and_venvs(tmp_path: Path) -> None:
    (tmp_path / ".venv").mkdir()
    watcher = inotify_watcher(tmp_path)
    (tmp_path / ".venv" / "lib.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.py").write_text("")
    assert watcher() is False
    (tmp_path / "pkg").mkdir()
    assert watcher() is False  # an empty directory is no source change
    (tmp_path / "pkg" / "mod.py").write_text("")
    assert watcher() is True
    (tmp_path / "pkg" / "mod.py").unlink()
    assert watcher() is True


def test_inotify_watches_extra_globs(tmp_path: Path) -> None:
    (tmp_path / "templates" / "deep").mkdir(parents=True)
    page = tmp_path / "templates" / "deep" / "page.html"
    page.write_text("<p>")
    watcher = inotify_watcher(tmp_path, (str(tmp_path / "templates" / "**" / "*.html"),))
    (tmp_path / "templates" / "deep" / "page.css").write_text("")
    assert watcher() is False
    page.write_text("<p>changed")
    assert watcher() is True


def test_a_change_is_reported_once_events_have_settled(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    watcher = SourceWatcher(str(tmp_path), engine="inotify", settle=3600)
    (tmp_path / "app.py").write_text("x = 1\n")
    assert watcher() is False  # more events may follow within the settle time


def test_auto_polls_when_inotify_cannot_watch_and_inotify_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert SourceWatcher(str(missing), engine="auto").engine == "poll"
    with pytest.raises(ConfigError, match=r"^--reload-engine inotify: cannot watch .*missing: "):
        SourceWatcher(str(missing), engine="inotify")
    assert SourceWatcher(str(tmp_path)).engine == "inotify"
