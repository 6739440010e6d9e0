"""Tests for python/ferrule/interface.py: what `--interface auto` decides for each kind of app,
and the refusal of ASGI 2 apps."""

from __future__ import annotations

import functools

import pytest
from ferrule.errors import AppImportError
from ferrule.interface import resolve


def wsgi_function(environ, start_response):
    return []


async def asgi_function(scope, receive, send):
    pass


class AsgiInstance:
    async def __call__(self, scope, receive, send):
        pass


class WsgiInstance:
    def __call__(self, environ, start_response):
        return []


class WsgiClass:
    """A class is a valid WSGI app: calling it returns the iterable."""

    def __init__(self, environ, start_response):
        pass

    def __iter__(self):
        return iter([])


class Asgi2:
    def __init__(self, scope):
        pass

    async def __call__(self, receive, send):
        pass


class Asgi2Subclass(Asgi2):
    pass


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (wsgi_function, "wsgi"),
        (asgi_function, "asgi"),
        (AsgiInstance(), "asgi"),
        (WsgiInstance(), "wsgi"),
        (WsgiClass, "wsgi"),
        (functools.partial(asgi_function), "asgi"),
    ],
    ids=["wsgi-function", "asgi-function", "asgi-instance", "wsgi-instance", "wsgi-class",
         "asgi-partial"],
)
def test_auto_tells_asgi_from_wsgi(app, expected) -> None:
    assert resolve(app, "auto") == expected


@pytest.mark.parametrize("setting", ["wsgi", "asgi"])
def test_an_explicit_interface_is_taken_as_given(setting) -> None:
    assert resolve(wsgi_function, setting) == setting


@pytest.mark.parametrize("app", [Asgi2, Asgi2Subclass])
@pytest.mark.parametrize("setting", ["auto", "asgi"])
def test_an_asgi2_app_is_refused_with_what_to_do(app, setting) -> None:
    with pytest.raises(AppImportError) as info:
        resolve(app, setting)
    assert "looks like an ASGI 2 app" in str(info.value)
    assert "guarantee_single_callable" in str(info.value)
