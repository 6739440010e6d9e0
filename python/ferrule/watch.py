"""`--reload`: tells the master when source files changed, so it starts a new generation of
workers (as on SIGHUP). Development only.

Watched: every `.py` file under the app's directory (the directory holding the app's
top-level module or package, found without importing it), plus the `reload_extra` globs.
Hidden directories, virtualenvs and `__pycache__` are skipped.

Two engines (`reload_engine`, gunicorn's `--reload-engine`): `inotify` watches each
directory with the core's `Inotify` (`src/supervisor/watch.rs`: the kernel says what
changed; nothing is rescanned) and `poll` rescans the tree and compares modification times
at most once per `interval`. `auto` (the default) is inotify, or polling when inotify cannot
be set up (the watch limit `fs.inotify.max_user_watches`, too many instances); `inotify`
then is an error instead. The master asks on every turn of its loop (at least once a
second); a change is reported once no more event has come for `SETTLE` seconds, so an
editor's save (write, rename, chmod) reloads once.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ._core import core
from .errors import ConfigError

__all__ = ["ENGINES", "SourceWatcher", "app_directory"]

ENGINES = ("auto", "poll", "inotify")

_SKIPPED = {"__pycache__", "node_modules", "site-packages", "venv", ".venv"}
_GLOB_MAGIC = ("*", "?", "[")

#: 50 ms: how long events must have stopped before a change is reported (inotify). Chosen
#: without measurement: an editor's save takes a few milliseconds.
SETTLE = 0.05


def app_directory(spec: str) -> str:
    """The directory of the top-level module or package of `spec` (`pkg.web:app` → the
    directory holding `pkg`), or the current directory when it cannot be found."""
    top = spec.split(":", 1)[0].split(".", 1)[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.origin and os.path.isfile(found.origin):
        directory = os.path.dirname(found.origin)
        # A package: watch the directory that holds it, where its siblings live too.
        return os.path.dirname(directory) if found.submodule_search_locations else directory
    return os.getcwd()


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED


def _glob_base(pattern: str) -> str:
    """The directory a glob pattern's matches are under: its parts before the first one with
    a wildcard (`templates/**/*.html` → `templates`)."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if any(magic in part for magic in _GLOB_MAGIC):
            break
        fixed.append(part)
    base = os.sep.join(fixed) or ("." if not pattern.startswith(os.sep) else os.sep)
    return base


class SourceWatcher:
    """Call it to learn whether anything watched changed since the previous call.

    Raises `ConfigError` when `engine` is `inotify` and inotify cannot be set up. Nothing
    is logged here (the server's logs are not set up yet when the command builds it): the
    engine in use, and why `auto` polls, are logged at the first call, in the master.
    """

    def __init__(self, root: str, extra: Iterable[str] = (), interval: float = 1.0,
                 engine: str = "auto", settle: float = SETTLE) -> None:
        if engine not in ENGINES:
            raise ConfigError(f"--reload-engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.root = root
        self.extra = tuple(extra)
        self.interval = interval
        self._notes: list[tuple[str, str]] = []
        self._inotify: _InotifyEngine | None = None
        if engine != "poll":
            try:
                self._inotify = _InotifyEngine(root, self.extra, settle)
            except OSError as err:
                reason = _explain(err)
                if engine == "inotify":
                    raise ConfigError(f"--reload-engine inotify: {reason}") from None
                self._notes.append(
                    ("warning", f"--reload-engine auto: {reason}; polling instead"))
        #: The engine in use: `inotify` or `poll`.
        self.engine = "poll" if self._inotify is None else "inotify"
        self._notes.append(("info", f"--reload: watching {root} ({self.engine})"))
        self._next = 0.0
        self._seen = self._snapshot() if self._inotify is None else {}

    def __call__(self) -> bool:
        if self._notes:
            for level, line in self._notes:
                core().log(level, line)
            self._notes = []
        if self._inotify is not None:
            return self._inotify.changed()
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        current = self._snapshot()
        changed = current != self._seen
        self._seen = current
        return changed

    def _snapshot(self) -> dict[str, float]:
        snapshot = {}
        for path in self._files():
            try:
                snapshot[path] = os.stat(path).st_mtime
            except OSError:
                continue
        return snapshot

    def _files(self) -> Iterator[str]:
        for directory, subdirs, files in os.walk(self.root):
            subdirs[:] = [d for d in subdirs if not _skipped(d)]
            yield from (os.path.join(directory, f) for f in files if f.endswith(".py"))
        for pattern in self.extra:
            yield from glob.glob(pattern, recursive=True)


def _explain(err: OSError) -> str:
    """One line for an inotify failure, naming the kernel limit when that is the cause."""
    where = f" {err.filename}" if err.filename else ""
    text = f"cannot watch{where}: {err.strerror or err}"
    if err.errno == 28:  # ENOSPC from inotify_add_watch: the watch limit
        text += " (the inotify watch limit, sysctl fs.inotify.max_user_watches)"
    elif err.errno == 24:  # EMFILE from inotify_init1: the instance limit
        text += " (the inotify instance limit, sysctl fs.inotify.max_user_instances)"
    return text


class _InotifyEngine:
    """Every directory under `root` (skipping what polling skips) and under each extra
    glob's base directory, watched with the core's `Inotify`; new directories are added as
    they appear."""

    def __init__(self, root: str, extra: tuple[str, ...], settle: float) -> None:
        self.root = os.path.abspath(root)
        self.settle = settle
        self.extra = extra
        self.bases = [os.path.abspath(_glob_base(p)) for p in extra]
        self.inotify: Any = core().Inotify()
        for top in (self.root, *self.bases):
            self._add_tree(top)
        self._extra_matches = self._glob_extra()
        self._pending_since: float | None = None
        self._last_event = 0.0

    def _add_tree(self, top: str) -> None:
        if not os.path.isdir(top):
            if top == self.root:
                self._add(top)  # raises, naming it
            return
        self._add(top)
        for directory, subdirs, _ in os.walk(top):
            subdirs[:] = [d for d in subdirs if not _skipped(d)]
            for sub in subdirs:
                self._add(os.path.join(directory, sub))

    def _add(self, directory: str) -> None:
        try:
            self.inotify.add(directory)
        except OSError as err:
            if err.filename is None:
                err.filename = directory
            raise

    def _glob_extra(self) -> set[str]:
        found: set[str] = set()
        for pattern in self.extra:
            found.update(os.path.abspath(p) for p in glob.glob(pattern, recursive=True))
        return found

    def _counts(self, path: str) -> bool:
        relative = os.path.relpath(path, self.root)
        if not relative.startswith(os.pardir) and path.endswith(".py"):
            if not any(_skipped(part) for part in relative.split(os.sep)[:-1]):
                return True
        if any(path == base or path.startswith(base + os.sep) for base in self.bases):
            # A match before or after the change (created, written, removed).
            now = self._glob_extra()
            counts = path in now or path in self._extra_matches
            self._extra_matches = now
            return counts
        return False

    def changed(self) -> bool:
        paths, overflow = self.inotify.read()
        relevant = overflow
        for path, is_dir in paths:
            name = os.path.basename(path)
            if is_dir and not _skipped(name) and os.path.isdir(path):
                try:
                    self._add_tree(path)
                except OSError as err:
                    core().log("error", f"--reload: {_explain(err)}")
                # Files may have been written into it before its watch existed.
                relevant = relevant or self._has_sources(path)
            elif not is_dir and self._counts(path):
                relevant = True
        now = time.monotonic()
        if relevant:
            self._last_event = now
            if self._pending_since is None:
                self._pending_since = now
        if self._pending_since is not None and now - self._last_event >= self.settle:
            self._pending_since = None
            return True
        return False

    def _has_sources(self, directory: str) -> bool:
        for current, subdirs, files in os.walk(directory):
            subdirs[:] = [d for d in subdirs if not _skipped(d)]
            if any(self._counts(os.path.join(current, f)) for f in files):
                return True
        return False
