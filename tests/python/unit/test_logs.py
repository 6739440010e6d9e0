"""`ferrule.logs`: applying the logging settings and reopening handlers' files."""

from __future__ import annotations

import json
import logging

import pytest
from ferrule.config import Config
from ferrule.errors import ConfigError
from ferrule.logs import configure, reopen


@pytest.fixture(autouse=True)
def _restore_loggers():
    loggers = [logging.getLogger(name) for name in ("ferrule.error", "ferrule.access")]
    saved = [(logger.level, list(logger.handlers), logger.propagate) for logger in loggers]
    yield
    for logger, (level, handlers, propagate) in zip(loggers, saved):
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def _dict(access_handler: bool, level: str = "WARNING") -> dict:
    loggers = {"ferrule.error": {"level": level, "handlers": ["null"], "propagate": False}}
    if access_handler:
        loggers["ferrule.access"] = {"level": "INFO", "handlers": ["null"], "propagate": False}
    return {"version": 1, "disable_existing_loggers": False,
            "handlers": {"null": {"class": "logging.NullHandler"}}, "loggers": loggers}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, None),
        ({"log_config_dict": _dict(True, "DEBUG")}, {"level": "debug", "access": True}),
        ({"log_config_dict": _dict(False, "WARNING")}, {"level": "warning", "access": False}),
        ({"log_config_dict": _dict(False), "access_log": "-"}, {"level": "warning", "access": True}),
        ({"log_config_dict": json.dumps(_dict(True, "ERROR"))}, {"level": "error", "access": True}),
    ],
)
def test_configure_says_what_the_core_needs(settings, expected):
    assert configure(Config(**settings)) == expected


def test_a_config_that_cannot_be_applied_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"^Could not configure logging from log_config_dict: "):
        configure(Config(log_config_dict={"version": 1, "handlers": {"h": {"class": "no.such.Class"}}}))
    missing = tmp_path / "missing.ini"
    with pytest.raises(ConfigError, match=r"does not exist"):
        configure(Config(log_config=str(missing)))


def test_a_log_config_dict_that_is_not_an_object_is_refused():
    with pytest.raises(ConfigError, match=r"^log_config_dict must be a JSON object"):
        Config(log_config_dict="[1, 2]")


def test_reopen_moves_file_handlers_to_a_new_file_at_their_path(tmp_path):
    path = tmp_path / "access.log"
    configure(Config(log_config_dict={
        "version": 1, "disable_existing_loggers": False,
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path)}},
        "loggers": {"ferrule.access": {"level": "INFO", "handlers": ["file"], "propagate": False}},
    }))
    logger = logging.getLogger("ferrule.access")
    logger.info("before")
    path.rename(tmp_path / "access.log.1")
    reopen()
    logger.info("after")
    assert (tmp_path / "access.log.1").read_text() == "before\n"
    assert path.read_text() == "after\n"
