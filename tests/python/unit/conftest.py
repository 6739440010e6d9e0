"""Fixtures for the unit tests of python/ferrule: a fake compiled core and throwaway modules.

Unit tests never start a server: `fake_core` stands in for `ferrule._ferrule` (the package
imports it with `importlib.import_module`, which finds the fake in `sys.modules`).
"""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Callable

import pytest
from ferrule.settings import SETTINGS


class FakeCore(types.ModuleType):
    """Records `serve(app, settings)` calls (the app a worker would serve); `serve_raises`
    makes serve raise instead."""

    def __init__(self) -> None:
        super().__init__("ferrule._ferrule")
        self.__version__ = "9.9.9"
        self.CORE_SETTINGS = tuple(setting.name for setting in SETTINGS if setting.core)
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.serve_raises: BaseException | None = None

    def serve(self, app: Any, settings: dict[str, Any], *, load: Any = None,
              reload: Any = None, name: str | None = None, upgrade: Any = None,
              watch: Any = None, python_logging: bool | None = None,
              hooks: Any = None) -> None:
        """Like the real core with one worker: without `app`, the worker's `load()` gives it,
        and an import error there stops the master with WorkerBootError."""
        from ferrule.errors import AppImportError, WorkerBootError

        self.reload = reload
        self.name = name
        self.upgrade = upgrade
        self.watch = watch
        self.hooks = hooks
        self.python_logging = python_logging
        if app is None:
            try:
                app = load()
            except AppImportError:
                err = WorkerBootError("A worker could not import the app (see the error above).")
                err.app_load = True
                raise err from None
        self.calls.append((app, settings))
        if self.serve_raises is not None:
            raise self.serve_raises


@pytest.fixture
def fake_core(monkeypatch: pytest.MonkeyPatch) -> FakeCore:
    core = FakeCore()
    monkeypatch.setitem(sys.modules, "ferrule._ferrule", core)
    return core


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """`make_module("pkg.web", source)` writes an importable module under tmp_path (on
    sys.path); modules imported during the test are forgotten afterwards."""
    root = tmp_path / "modules"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)

    def make(name: str, source: str) -> Path:
        *packages, leaf = name.split(".")
        directory = root
        for package in packages:
            directory = directory / package
            directory.mkdir(exist_ok=True)
            (directory / "__init__.py").touch()
        path = directory / f"{leaf}.py"
        path.write_text(textwrap.dedent(source))
        return path

    yield make
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FERRULE_* variables from the test runner's environment leak into Config.load()."""
    import os

    for name in list(os.environ):
        if name.startswith("FERRULE_") or name in GUNICORN_ENV:
            monkeypatch.delenv(name)


#: The environment variables gunicorn (and so ferrule) reads besides FERRULE_*.
GUNICORN_ENV = ("PORT", "WEB_CONCURRENCY", "SENDFILE", "GUNICORN_CMD_ARGS",
                "FORWARDED_ALLOW_IPS")
