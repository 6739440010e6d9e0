"""Which app interface an app speaks: `resolve` decides `--interface auto` (ASGI when the app is
an `async def` function, or an object whose `__call__` is one; WSGI otherwise, as uvicorn and
Granian decide) and refuses what ferrule cannot serve. Called by the core in each worker, once,
after the app is loaded.
"""

from __future__ import annotations

import inspect
from typing import Any

from ferrule.errors import AppImportError

__all__ = ["is_asgi", "resolve"]

INTERFACES = ("auto", "wsgi", "asgi")


def is_asgi(app: Any) -> bool:
    """The app is an ASGI 3 callable: `async def app(scope, receive, send)`, or an instance
    whose `__call__` is a coroutine function (FastAPI, Starlette, Django's ASGIHandler, ...)."""
    if inspect.isclass(app):
        return False
    if inspect.iscoroutinefunction(app):
        return True
    return inspect.iscoroutinefunction(type(app).__call__) if callable(app) else False


def _is_asgi2(app: Any) -> bool:
    """An ASGI 2 "double callable": a class whose instances are made from the scope and take
    `(receive, send)`."""
    return inspect.isclass(app) and inspect.iscoroutinefunction(inspect.getattr_static(app, "__call__", None))


def resolve(app: Any, setting: str) -> str:
    """`wsgi` or `asgi`: what `--interface SETTING` means for this `app`.

    # Errors
    `AppImportError` for an ASGI 2 app, which ferrule does not serve.
    """
    if setting not in INTERFACES:
        raise ValueError(f"interface must be one of {', '.join(INTERFACES)}, got {setting!r}")
    if _is_asgi2(app) and setting != "wsgi":
        raise AppImportError(
            f"The app {getattr(app, '__qualname__', app)!r} looks like an ASGI 2 app (a class "
            "whose instances take (receive, send)); ferrule serves ASGI 3. Wrap it with "
            "asgiref.compatibility.guarantee_single_callable, or pass --interface wsgi if it is "
            "a WSGI app."
        )
    if setting != "auto":
        return setting
    return "asgi" if is_asgi(app) else "wsgi"
