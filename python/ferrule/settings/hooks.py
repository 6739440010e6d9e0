"""The "Hooks" settings: gunicorn's server hooks, with its signatures (see docs/hooks.md)."""

from __future__ import annotations

import re
from typing import Any

from ferrule.settings.setting import Setting
from ferrule.settings.values import InvalidValue, ValueType


class _Hook(ValueType):
    """A server hook: a callable (from a `.py` config file or `ferrule.serve()`), or a
    reference `module:function` (from TOML, an env var) imported when the server starts.
    `arity` is how many arguments gunicorn passes it."""

    _REFERENCE = re.compile(r"[A-Za-z_][\w.]*[:.][A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

    def __init__(self, arity: int) -> None:
        self.arity = arity
        self.name = f"function of {arity} argument{'s' if arity != 1 else ''} (or module:function)"

    def convert(self, raw: object) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            text = raw.strip()
            if not self._REFERENCE.fullmatch(text):
                raise InvalidValue("must be a function or 'module:function'", repr(raw))
            return text
        if not callable(raw):
            raise InvalidValue("must be a function or 'module:function'", repr(raw))
        import inspect

        try:
            inspect.signature(raw).bind(*([None] * self.arity))
        except TypeError:
            raise InvalidValue(
                f"must take {self.arity} argument{'s' if self.arity != 1 else ''}",
                getattr(raw, "__qualname__", repr(raw))) from None
        except ValueError:  # pragma: no cover - builtins without a signature: trust them
            pass
        return raw

    def show(self, value: Any) -> str:
        return value if isinstance(value, str) else f"<{getattr(value, '__qualname__', value)}()>"


def _hook(name: str, arity: int, text: str) -> Setting:
    """A hook setting: no flag (a config file or an env var names it), unset by default."""
    return Setting(name=name, section="Hooks", type=_Hook(arity), default=None,
                   default_text="none", metavar="FUNCTION", help=text)


SETTINGS: tuple[Setting, ...] = (
    _hook("on_starting", 1, (
        "`on_starting(server)`: In the master, before the sockets are bound. Raising stops "
        "the boot (exit 1)."
    )),
    _hook("on_reload", 1, (
        "`on_reload(server)`: In the master, on SIGHUP (or a `--reload` file change), before "
        "the new generation starts. Raising is logged and the reload goes on."
    )),
    _hook("when_ready", 1, (
        "`when_ready(server)`: In the master, once every worker of the first generation "
        "serves (gunicorn calls it right after binding; ferrule waits until the server really"
        " is ready). Raising stops the server (exit 1)."
    )),
    _hook("pre_fork", 2, (
        "`pre_fork(server, worker)`: In the master, before each worker is forked "
        "(`worker.pid` is None). Raising is logged and the worker is forked all the same."
    )),
    _hook("post_fork", 2, (
        "`post_fork(server, worker)`: In the new worker right after the fork, before it "
        "switches user and imports the app: reconnect what must not be shared across "
        "processes (database pools, tracing exporters). Raising stops the worker's boot, "
        "which stops the server (exit 3), as in gunicorn."
    )),
    _hook("post_worker_init", 1, (
        "`post_worker_init(worker)`: In the worker, once the app is imported, before it "
        "serves. Raising stops the worker's boot (exit 3)."
    )),
    _hook("worker_int", 1, (
        "`worker_int(worker)`: In the worker, after it stopped at once on SIGINT or SIGQUIT. "
        "Raising is logged."
    )),
    _hook("worker_abort", 1, (
        "`worker_abort(worker)`: In the worker, when a request is still running past "
        "`request_timeout` and its grace (gunicorn: on SIGABRT after its timeout); the worker"
        " is then replaced. Raising is logged."
    )),
    _hook("pre_exec", 1, (
        "`pre_exec(server)`: In the master, on SIGUSR2, before the new master is started. "
        "Raising is logged and the upgrade is abandoned."
    )),
    _hook("pre_request", 2, (
        "`pre_request(worker, req)`: In the worker's thread, before the app is called; `req` "
        "has `method`, `uri`, `path`, `query`, `version`, `headers` and `remote_addr`. "
        "Raising answers that request with a 500 (logged); other requests are not affected."
    )),
    _hook("post_request", 4, (
        "`post_request(worker, req, environ, resp)`: In the worker's thread, after the "
        "response was sent; `resp` has `status` (`'200 OK'`), `status_code`, `headers` and "
        "`sent` (body bytes the app produced). Raising is logged."
    )),
    _hook("child_exit", 2, (
        "`child_exit(server, worker)`: In the master, after a worker exited (`worker.pid` is "
        "the exited pid). Raising is logged."
    )),
    _hook("worker_exit", 2, (
        "`worker_exit(server, worker)`: In the worker, as it exits after a stop (not after a "
        "kill). Raising is logged."
    )),
    _hook("nworkers_changed", 3, (
        "`nworkers_changed(server, new_value, old_value)`: In the master, when the number of "
        "workers to run changes (at start, with `old_value` None; on SIGTTIN and SIGTTOU; on "
        "a reload that changes `workers`). Raising is logged."
    )),
    _hook("on_exit", 1, (
        "`on_exit(server)`: In the master, just before it exits. Raising is logged."
    )),
)
