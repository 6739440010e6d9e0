"""The compiled core (Rust, `src/python/`). Private: use `ferrule.serve` and the CLI.

Checked against the built module with `python -m mypy.stubtest ferrule._ferrule`.
"""

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, final

__all__ = [
    "CORE_CHOICES",
    "CORE_SETTINGS",
    "EarlyHints",
    "ErrorStream",
    "FileWrapper",
    "Inotify",
    "Input",
    "RequestBodyError",
    "StartResponse",
    "__version__",
    "core_defaults",
    "core_round_trip",
    "log",
    "serve",
]

__version__: str
"""The package version, e.g. `"0.1.0"` (from Cargo.toml)."""

CORE_SETTINGS: tuple[str, ...]
"""The names of the settings `serve` reads from its `settings` dict; equal to the settings
marked `core` in `ferrule.settings.SETTINGS` (a test checks it)."""

CORE_CHOICES: dict[str, tuple[str, ...]]
"""For each core setting whose value is one of a few names (`sendfile`, ...), the names the
core accepts; equal to the choices in `ferrule.settings.SETTINGS` (a test checks it)."""

def core_defaults() -> dict[str, Any]:
    """The core's own default for every core setting but `bind`, spelled as
    `ferrule.Config.to_core()` spells values; equal to `Config().to_core()` (a test checks
    it)."""

def core_round_trip(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` (as `Config.to_core()` makes it) converted to the core's typed config and
    back: equal to `settings` when every setting reaches its own field."""

def serve(
    app: Callable[..., Any] | None,
    settings: dict[str, Any],
    *,
    load: Callable[[], Callable[..., Any]] | None = None,
    reload: Callable[[], dict[str, Any]] | None = None,
    name: str | None = None,
    upgrade: tuple[str, list[str], str] | None = None,
    watch: Callable[[], bool] | None = None,
    python_logging: bool | None = None,
    hooks: Any | None = None,
) -> None:
    """Runs a master that forks `settings["workers"]` workers serving the WSGI `app` (imported
    before the fork) or, when `app` is None, the app `load()` returns inside each worker.
    `settings` is `ferrule.Config.to_core()`: int sizes and counts, float seconds for
    durations, list[str] for `bind`, str or None for strings. `reload()` returns fresh settings
    on SIGHUP; `name` goes in process titles; `upgrade` is `(program, argv, directory)` to
    start a new master with on SIGUSR2, which inherits the listening sockets; `watch()`
    (`--reload`) returns True when source files changed, which reloads like SIGHUP.
    `python_logging`, when not None, sends the error log to the `ferrule.error` logger and
    access lines (made when it is True) to `ferrule.access` (`ferrule.logs.configure`).

    `hooks` is a `ferrule.hooks.HookRunner`, given only when a server hook is set; the core
    calls it at each hook point.

    Blocks; returns after SIGTERM (graceful), SIGINT or SIGQUIT (quick). Raises
    `ferrule.errors.BindError` when a socket cannot be bound and
    `ferrule.errors.WorkerBootError` when a worker cannot boot.
    """

def log(level: str, message: str) -> None:
    """Writes one line to the error log at `level` (`debug` ... `critical`), as the core's
    own lines are written (`server.log` and `worker.log` in hooks use it)."""

@final
class Inotify:
    """`--reload`'s inotify engine: directories watched, changed paths read without waiting.
    Raises `OSError` (with its errno) when inotify cannot be set up or a directory watched."""

    def __new__(cls) -> Inotify: ...
    def add(self, directory: str | os.PathLike[str]) -> None: ...
    def read(self) -> tuple[list[tuple[str, bool]], bool]: ...
    def __len__(self) -> int: ...

# The types of objects the core puts in the environ and hands to the app. Apps only see them
# through PEP 3333's interfaces; they are not constructed from Python.

class RequestBodyError(OSError):
    """`wsgi.input` could not deliver the request body (client gone, timeout, bad framing)."""

@final
class Input:
    """`wsgi.input`."""

    def read(self, size: int | None = None) -> bytes: ...
    def readline(self, size: int | None = None) -> bytes: ...
    def readlines(self, hint: int | None = None) -> list[bytes]: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...

@final
class ErrorStream:
    """`wsgi.errors`."""

    def write(self, s: str) -> None: ...
    def writelines(self, lines: Iterable[str]) -> None: ...
    def flush(self) -> None: ...

@final
class FileWrapper:
    """`wsgi.file_wrapper`."""

    filelike: Any
    def __new__(cls, filelike: Any, blksize: int = 8192) -> FileWrapper: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

@final
class StartResponse:
    """The `start_response` callable; calling it returns `write`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Callable[[bytes], None]: ...
    def write(self, data: bytes) -> None: ...

@final
class EarlyHints:
    """`wsgi.early_hints`: a `103 Early Hints` for the request the calling thread runs."""

    def __call__(self, headers: Any) -> None: ...
