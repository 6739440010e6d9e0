"""`--reload`: tells the master when source files changed, so it starts a new generation of
workers (as on SIGHUP). Development only: it rescans the tree on every call (about once a
second) and compares modification times; no inotify dependency.

Watched: every `.py` file under the app's directory (the directory holding the app's
top-level module or package, found without importing it), plus the `reload_extra` globs.
Hidden directories, virtualenvs and `__pycache__` are skipped.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import time
from collections.abc import Iterable, Iterator

__all__ = ["SourceWatcher", "app_directory"]

_SKIPPED = {"__pycache__", "node_modules", "site-packages", "venv", ".venv"}


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


class SourceWatcher:
    """Call it to learn whether anything watched changed since the previous call."""

    def __init__(self, root: str, extra: Iterable[str] = (), interval: float = 1.0) -> None:
        self.root = root
        self.extra = tuple(extra)
        self.interval = interval
        self._next = 0.0
        self._seen = self._snapshot()

    def __call__(self) -> bool:
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
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIPPED]
            yield from (os.path.join(directory, f) for f in files if f.endswith(".py"))
        for pattern in self.extra:
            yield from glob.glob(pattern, recursive=True)
