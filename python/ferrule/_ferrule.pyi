"""The compiled core (Rust, `src/python.rs`). Private: use `ferrule.serve` and the CLI.

Checked against the built module with `python -m mypy.stubtest ferrule._ferrule`.
"""

from typing import Any, Callable

__version__: str
"""The package version, e.g. `"0.1.0"` (from Cargo.toml)."""

CORE_SETTINGS: tuple[str, ...]
"""The names of the settings `serve` reads from its `settings` dict; equal to the settings
marked `core` in `ferrule.settings.SETTINGS` (a test checks it)."""

def serve(app: Callable[..., Any], settings: dict[str, Any]) -> None:
    """Serves the WSGI `app` with `settings` (`ferrule.Config.to_core()`: int sizes and counts,
    float seconds for durations, list[str] for `bind`, str or None for strings).

    Blocks with the GIL released; returns after SIGTERM or SIGINT once in-flight requests
    finished (graceful stop). Raises `ferrule.errors.BindError` when a socket cannot be bound.
    """
