"""Tests for python/ferrule/__init__.py: the public API and serve()."""

from __future__ import annotations

import ferrule
import pytest
from ferrule import Config, ConfigError, serve


def app(environ, start_response):
    start_response("204 No Content", [])
    return []


def test_public_names() -> None:
    assert ferrule.__all__ == [
        "AppImportError", "BindError", "ClientDisconnected", "Config", "ConfigError",
        "FerruleError", "RequestTimeout", "WorkerBootError", "__version__", "serve",
    ]


def test_version_comes_from_the_compiled_core() -> None:
    from ferrule import _ferrule

    assert ferrule.__version__ == _ferrule.__version__


def test_version_is_read_lazily(fake_core) -> None:
    assert ferrule.__version__ == "9.9.9"


def test_unknown_attributes_still_raise() -> None:
    with pytest.raises(AttributeError):
        ferrule.__getattr__("nope")


def test_serve_hands_the_app_and_checked_settings_over(fake_core) -> None:
    serve(app, bind="127.0.0.1:0", threads=8, max_body_bytes="1MiB")
    assert fake_core.calls == [
        (app, Config(bind="127.0.0.1:0", threads=8, max_body_bytes=1048576).to_core())
    ]


def test_serve_uses_the_defaults(fake_core) -> None:
    serve(app)
    assert fake_core.calls == [(app, Config().to_core())]
    assert fake_core.hooks is None  # no hook set: the core gets no hook runner


def test_serve_takes_hooks(fake_core) -> None:
    def post_fork(server, worker):
        pass

    serve(app, post_fork=post_fork)
    assert fake_core.hooks.hooks == {"post_fork": post_fork}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threads": 0}, "threads must be >= 1, got 0"),
        ({"bind": "nope:port"},
         "bind must be HOST:PORT, [IPv6]:PORT or unix:PATH, got 'nope:port'"),
        ({"treads": 2}, "Unknown setting 'treads'. Did you mean 'threads'?"),
        ({"chdir": "/"},
         "Setting 'chdir' only applies to the ferrule command; serve() does not take it."),
        ({"pythonpath": ["x"]},
         "Setting 'pythonpath' only applies to the ferrule command; serve() does not take it."),
        ({"config": "f.toml"},
         "Setting 'config' only applies to the ferrule command; serve() does not take it."),
    ],
)
def test_serve_rejects_bad_settings_before_starting(
    fake_core, settings: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        serve(app, **settings)
    assert str(info.value) == message
    assert fake_core.calls == []


def test_serve_rejects_an_app_that_is_not_callable(fake_core) -> None:
    with pytest.raises(TypeError) as info:
        serve("myapp:app")  # type: ignore[arg-type]
    assert str(info.value) == "serve() needs a WSGI or ASGI callable as app, got str."


def test_serve_applies_python_logging_and_tells_the_core(fake_core) -> None:
    import logging

    served = app
    error = logging.getLogger("ferrule.error")
    saved = (error.level, list(error.handlers), error.propagate)
    try:
        ferrule.serve(served, log_config_dict={
            "version": 1, "disable_existing_loggers": False,
            "handlers": {"null": {"class": "logging.NullHandler"}},
            "loggers": {"ferrule.error": {"level": "ERROR", "handlers": ["null"], "propagate": False}},
        })
    finally:
        error.setLevel(saved[0])
        error.handlers[:] = saved[1]
        error.propagate = saved[2]
    (_, settings), = fake_core.calls
    assert settings["log_level"] == "error"
    assert fake_core.python_logging is False
