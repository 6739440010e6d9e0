"""Turns an app reference into a WSGI or ASGI callable: `module:attr`, `module:factory()`,
`module:factory('arg', debug=False)`, or a bare `module` (its `application`, then `app`).

Factory arguments are Python literals only (`ast.literal_eval`); nothing else is evaluated.
Failures are `AppImportError`s whose message names the module or attribute; when the app's own
code raised, that exception is the `__cause__` (and `cli` shows its traceback).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from typing import Any, Callable

from ferrule.errors import AppImportError

__all__ = ["check_reference", "find_module", "import_app"]

#: What a bare `module` reference looks for, in order (mod_wsgi's name first, then Flask's).
DEFAULT_ATTRIBUTES = ("application", "app")


def import_app(reference: str, interface: str = "auto") -> Callable[..., Any]:
    """Imports the module named in `reference` and returns the app it names: a WSGI callable
    `app(environ, start_response)` or an ASGI one `app(scope, receive, send)`, as `interface`
    (`auto`, `wsgi` or `asgi`) allows.

    # Errors
    `AppImportError` when the reference is malformed, the module does not exist or raised
    while being imported, the attribute is missing, a factory raised, or the result cannot be
    called the way `interface` calls apps.
    """
    module_name, colon, expression = reference.partition(":")
    module_name = module_name.strip()
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise _invalid(reference)
    if not colon:
        module = _import_module(module_name)
        for attribute in DEFAULT_ATTRIBUTES:
            if hasattr(module, attribute):
                return _check_app(getattr(module, attribute), f"{module_name}:{attribute}",
                                  interface)
        names = " or ".join(f"'{name}'" for name in DEFAULT_ATTRIBUTES)
        raise AppImportError(f"Attribute {names} not found in module '{module_name}'.")

    path, call = _parse_expression(reference, expression)
    module = _import_module(module_name)
    obj: Any = module
    for depth, attribute in enumerate(path):
        try:
            obj = getattr(obj, attribute)
        except AttributeError:
            dotted = ".".join(path[: depth + 1])
            raise AppImportError(
                f"Attribute '{dotted}' not found in module '{module_name}'."
            ) from None
    target = f"{module_name}:{'.'.join(path)}"
    if call is None:
        return _check_app(obj, target, interface)

    if not callable(obj):
        raise AppImportError(f"'{target}' is not callable.")
    args, kwargs = call
    try:
        app = obj(*args, **kwargs)
    except Exception as err:
        raise AppImportError(
            f"App factory '{reference}' raised {type(err).__name__}."
        ) from err
    if not callable(app):
        raise AppImportError(
            f"App factory '{reference}' returned {type(app).__name__}, which is not callable."
        )
    return app


def check_reference(reference: str) -> None:
    """Checks the syntax of an app reference without importing anything, so a malformed one
    is refused before any socket is bound or worker forked.

    # Errors
    `AppImportError` naming the reference.
    """
    module_name, colon, expression = reference.partition(":")
    module_name = module_name.strip()
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise _invalid(reference)
    if colon:
        _parse_expression(reference, expression)


def find_module(reference: str) -> None:
    """Checks that the top-level package of the app's module can be found on `sys.path`,
    without running any of its code (the workers import it, so that a reload picks up new
    code). A typo in the module name is then reported at once, before binding.

    # Errors
    `AppImportError` when it cannot be found.
    """
    module_name = reference.partition(":")[0].strip()
    top = module_name.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise AppImportError(f"Could not import module '{module_name}'.")


def _parse_expression(
    reference: str, expression: str
) -> tuple[list[str], tuple[list[Any], dict[str, Any]] | None]:
    """Splits `attr.path` or `attr.path(literal, key=literal)` into the attribute path and the
    call's arguments (None when there is no call)."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise _invalid(reference) from None
    call = None
    if isinstance(node, ast.Call):
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(
            keyword.arg is None for keyword in node.keywords
        ):
            raise _non_literal(reference)
        try:
            args = [ast.literal_eval(arg) for arg in node.args]
            kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
        except ValueError:
            raise _non_literal(reference) from None
        call = (args, kwargs)
        node = node.func
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise _invalid(reference)
    path.insert(0, node.id)
    return path, call


def _import_module(name: str) -> Any:
    """Imports `name`, telling "there is no such module" from "the module raised"."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        # Missing: the module itself or one of its parent packages. Anything else missing was
        # imported by the module's own code, which is the module's error.
        if err.name is not None and _is_module_or_parent(err.name, name):
            raise AppImportError(f"Could not import module '{name}'.") from None
        raise _module_raised(name, err) from err
    except (Exception, SystemExit) as err:
        raise _module_raised(name, err) from err


def _is_module_or_parent(missing: str, name: str) -> bool:
    return name == missing or name.startswith(missing + ".")


#: How each interface calls an app, for error messages, with the number of arguments.
_CALLS = {"wsgi": ("app(environ, start_response)", 2), "asgi": ("app(scope, receive, send)", 3)}


def _check_app(obj: Any, target: str, interface: str = "auto") -> Callable[..., Any]:
    """`obj` if it can be called the way `interface` calls apps (`auto`: either way)."""
    if not callable(obj):
        raise AppImportError(f"'{target}' is not callable.")
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return obj  # no signature to check (some builtins and C extensions): trust it
    calls = [_CALLS[interface]] if interface in _CALLS else list(_CALLS.values())
    for _, arguments in calls:
        try:
            signature.bind(*([None] * arguments))
        except TypeError:
            continue
        return obj
    shapes = " or ".join(shape for shape, _ in calls)
    raise AppImportError(
        f"'{target}' cannot be called as {shapes}; "
        f"if it is an app factory, write '{target}()'."
    )


def _is_asgi(obj: Any, signature: inspect.Signature) -> bool:
    """An ASGI app: a coroutine function (or an object whose `__call__` is one), or a
    callable of exactly three positional parameters (`scope, receive, send`)."""
    call = type(obj).__dict__.get("__call__")
    if inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(call):
        return True
    try:
        signature.bind(None, None, None)
    except TypeError:
        return False
    try:
        signature.bind(None, None)
    except TypeError:
        return True
    return False


def _module_raised(name: str, err: BaseException) -> AppImportError:
    return AppImportError(f"Module '{name}' raised {type(err).__name__} while being imported.")


def _invalid(reference: str) -> AppImportError:
    return AppImportError(f"Invalid app reference '{reference}'; expected 'module:attribute'.")


def _non_literal(reference: str) -> AppImportError:
    return AppImportError(
        f"Invalid app reference '{reference}'; app factory arguments must be Python literals."
    )

