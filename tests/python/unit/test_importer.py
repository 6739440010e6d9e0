"""Tests for python/ferrule/importer.py: app references, and the messages of every failure."""

from __future__ import annotations

import importlib
from typing import Callable

import pytest
from ferrule import AppImportError
from ferrule.importer import import_app

MODULE = """\
def app(environ, start_response):
    return [b"app"]

def application(environ, start_response):
    return [b"application"]

class Holder:
    def inner(environ, start_response):
        return [b"inner"]

holder = Holder

def create_app(*args, **kwargs):
    def made(environ, start_response):
        return [repr((args, kwargs)).encode()]
    return made

def create_nothing():
    return None

def create_broken():
    raise ValueError("no database")

def zero_args():
    return app

class CallableApp:
    def __call__(self, environ, start_response):
        return [b"callable"]

callable_app = CallableApp()
not_callable = 42
"""


def call(app: Callable) -> bytes:
    return b"".join(app({}, lambda status, headers: None))


@pytest.fixture
def web(make_module: Callable) -> None:
    make_module("webmod", MODULE)
    make_module("pkg.sub.web", MODULE)
    make_module("only_app", "def app(environ, start_response):\n    return [b'only app']\n")
    make_module("no_app", "x = 1\n")


@pytest.mark.parametrize(
    ("reference", "body"),
    [
        ("webmod:app", b"app"),
        ("webmod", b"application"),
        ("only_app", b"only app"),
        ("pkg.sub.web:app", b"app"),
        ("webmod:holder.inner", b"inner"),
        ("webmod:callable_app", b"callable"),
        ("webmod:create_app()", b"((), {})"),
        ("webmod:create_app('arg', 2)", b"(('arg', 2), {})"),
        ("webmod:create_app(debug=False, names=['a'])", b"((), {'debug': False, 'names': ['a']})"),
        (" webmod : app ", b"app"),
    ],
)
def test_imports_the_app_a_reference_names(web: None, reference: str, body: bytes) -> None:
    assert call(import_app(reference)) == body


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("webmod:", "Invalid app reference 'webmod:'; expected 'module:attribute'."),
        (":app", "Invalid app reference ':app'; expected 'module:attribute'."),
        ("", "Invalid app reference ''; expected 'module:attribute'."),
        ("web mod:app", "Invalid app reference 'web mod:app'; expected 'module:attribute'."),
        ("webmod.:app", "Invalid app reference 'webmod.:app'; expected 'module:attribute'."),
        ("webmod:app[0]", "Invalid app reference 'webmod:app[0]'; expected 'module:attribute'."),
        ("webmod:1app", "Invalid app reference 'webmod:1app'; expected 'module:attribute'."),
        ("webmod:app:x", "Invalid app reference 'webmod:app:x'; expected 'module:attribute'."),
        ("webmod:create_app()()",
         "Invalid app reference 'webmod:create_app()()'; expected 'module:attribute'."),
        ("webmod:create_app(x)",
         ("Invalid app reference 'webmod:create_app(x)'; app factory arguments must be Python "
          "literals.")),
        ("webmod:create_app(__import__('os'))",
         ("Invalid app reference 'webmod:create_app(__import__('os'))'; app factory arguments "
          "must be Python literals.")),
        ("webmod:create_app(*[1])",
         ("Invalid app reference 'webmod:create_app(*[1])'; app factory arguments must be "
          "Python literals.")),
        ("webmod:create_app(**{})",
         ("Invalid app reference 'webmod:create_app(**{})'; app factory arguments must be "
          "Python literals.")),
        ("nosuchmodule:app", "Could not import module 'nosuchmodule'."),
        ("nosuchpkg.web:app", "Could not import module 'nosuchpkg.web'."),
        ("pkg.nosuch:app", "Could not import module 'pkg.nosuch'."),
        ("webmod:nope", "Attribute 'nope' not found in module 'webmod'."),
        ("webmod:holder.nope", "Attribute 'holder.nope' not found in module 'webmod'."),
        ("webmod:nope()", "Attribute 'nope' not found in module 'webmod'."),
        ("no_app", "Attribute 'application' or 'app' not found in module 'no_app'."),
        ("webmod:not_callable", "'webmod:not_callable' is not callable."),
        ("webmod:not_callable()", "'webmod:not_callable' is not callable."),
        ("webmod:create_nothing()",
         "App factory 'webmod:create_nothing()' returned NoneType, which is not callable."),
        ("webmod:zero_args",
         ("'webmod:zero_args' cannot be called as app(environ, start_response) or "
          "app(scope, receive, send); if it is an app factory, write 'webmod:zero_args()'.")),
    ],
)
def test_failures_are_sentences_naming_the_module(web: None, reference: str, message: str) -> None:
    with pytest.raises(AppImportError) as info:
        import_app(reference)
    assert str(info.value) == message
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("source", "message", "cause"),
    [
        ("1 / 0\n", "Module 'raising' raised ZeroDivisionError while being imported.",
         ZeroDivisionError),
        ("import nosuchdependency\n",
         "Module 'raising' raised ModuleNotFoundError while being imported.",
         ModuleNotFoundError),
        ("from os import nosuchname\n", "Module 'raising' raised ImportError while being imported.",
         ImportError),
        ("def broken(:\n", "Module 'raising' raised SyntaxError while being imported.",
         SyntaxError),
        ("import sys\nsys.exit(3)\n", "Module 'raising' raised SystemExit while being imported.",
         SystemExit),
    ],
)
def test_an_exception_from_the_module_itself_is_kept_as_the_cause(
    make_module: Callable, source: str, message: str, cause: type
) -> None:
    make_module("raising", source)
    with pytest.raises(AppImportError) as info:
        import_app("raising:app")
    assert str(info.value) == message
    assert type(info.value.__cause__) is cause


def test_an_exception_from_a_factory_is_kept_as_the_cause(web: None) -> None:
    with pytest.raises(AppImportError) as info:
        import_app("webmod:create_broken()")
    assert str(info.value) == "App factory 'webmod:create_broken()' raised ValueError."
    assert isinstance(info.value.__cause__, ValueError)
    assert str(info.value.__cause__) == "no database"


def test_a_factory_called_with_wrong_arguments_reports_the_type_error(web: None) -> None:
    with pytest.raises(AppImportError) as info:
        import_app("webmod:create_nothing(1)")
    assert str(info.value) == "App factory 'webmod:create_nothing(1)' raised TypeError."
    assert isinstance(info.value.__cause__, TypeError)


ASGI_MODULE = """\
async def app(scope, receive, send):
    pass

class Starlette:
    async def __call__(self, scope, receive, send):
        pass

starlette = Starlette()

def three(scope, receive, send):
    pass
"""


@pytest.mark.parametrize("attribute", ["app", "starlette", "three"])
def test_an_asgi_app_is_imported_as_it_is(make_module: Callable, attribute: str) -> None:
    # ASGI apps are served (issue #16): the importer hands them over; the interface is
    # decided by ferrule.interface.
    make_module("asgimod", ASGI_MODULE)
    app = import_app(f"asgimod:{attribute}")
    assert app is getattr(importlib.import_module("asgimod"), attribute)


@pytest.mark.parametrize(
    ("reference", "error"),
    [
        ("good:app", None),
        ("pkg.mod:create_app('x', debug=False)", None),
        ("good:app(", "Invalid app reference 'good:app('; expected 'module:attribute'."),
        ("bad-name:app", "Invalid app reference 'bad-name:app'; expected 'module:attribute'."),
        ("m:f(open('x'))",
         "Invalid app reference 'm:f(open('x'))'; app factory arguments must be Python literals."),
    ],
)
def test_references_are_checked_without_importing(reference: str, error: str | None) -> None:
    from ferrule.importer import check_reference

    if error is None:
        check_reference(reference)
    else:
        with pytest.raises(AppImportError) as info:
            check_reference(reference)
        assert str(info.value) == error


def test_a_missing_module_is_found_missing_without_running_code(make_module: Callable) -> None:
    from ferrule.importer import find_module

    make_module("pkg_with_side_effects.web", "raise RuntimeError('must not run')\n")
    find_module("pkg_with_side_effects.web:app")  # found, nothing imported
    with pytest.raises(AppImportError) as info:
        find_module("nosuchmodule_for_ferrule_tests.web:app")
    assert str(info.value) == "Could not import module 'nosuchmodule_for_ferrule_tests.web'."
