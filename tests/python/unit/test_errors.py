"""Tests for python/ferrule/errors.py: one hierarchy, and BindError's message."""

from __future__ import annotations

import pytest
from ferrule import (
    AppImportError,
    BindError,
    ConfigError,
    FerruleError,
    RequestTimeout,
    WorkerBootError,
)


def test_request_timeout_is_not_caught_by_except_exception() -> None:
    assert issubclass(RequestTimeout, BaseException)
    assert not issubclass(RequestTimeout, Exception)


@pytest.mark.parametrize("error", [ConfigError, AppImportError, BindError, WorkerBootError])
def test_every_error_is_a_ferrule_error(error: type) -> None:
    assert issubclass(error, FerruleError)


def test_bind_error_is_an_os_error() -> None:
    assert issubclass(BindError, OSError)


@pytest.mark.parametrize(
    ("args", "message", "errno"),
    [
        ((98, "Could not bind to 127.0.0.1:8000: address already in use."),
         "Could not bind to 127.0.0.1:8000: address already in use.", 98),
        (("cannot bind 127.0.0.1:8000: Address already in use (os error 98)",),
         "cannot bind 127.0.0.1:8000: Address already in use (os error 98)", None),
    ],
)
def test_bind_error_message_has_no_errno_prefix(
    args: tuple, message: str, errno: int | None
) -> None:
    error = BindError(*args)
    assert (str(error), error.errno) == (message, errno)
