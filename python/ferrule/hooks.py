"""Server hooks: gunicorn's hooks with gunicorn's signatures, and the `server`, `worker`,
`req` and `resp` objects they receive (the subset of gunicorn's that hooks commonly read; see
docs/hooks.md).

The core calls a `HookRunner` at each point (`src/python/master.rs`, `wsgi_host.rs`, `pool.rs`,
`wsgi/response.rs`) with plain arguments; the runner builds the objects, calls the user's
function and, when it raises, logs its traceback with the hook's name and tells the core
(`False`), which decides what that stops (the table in docs/hooks.md). `pre_request` raises
instead, so the request is answered 500 like an app error. The core is handed a runner only
when a hook is set, and the request hooks only when they are set: an unset hook costs nothing.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from typing import Any, Callable

from ferrule.config import Config
from ferrule.errors import ConfigError, HookError
from ferrule.gunicorn import GUNICORN, answer
from ferrule.settings import SETTINGS

__all__ = ["HOOKS", "HookRunner", "Log", "Request", "Response", "Server", "Worker"]

#: The hook settings, in the table's order.
HOOKS = tuple(setting.name for setting in SETTINGS if setting.section == "Hooks")


def _write(level: str, message: str) -> None:
    try:
        from ferrule._core import core

        core().log(level, message)
    except Exception:  # pragma: no cover - no core (a broken install): stderr still works
        sys.stderr.write(f"[{level.upper()}] {message}\n")


class Log:
    """`server.log` and `worker.log`: lines in ferrule's error log, as gunicorn's logger
    writes them (`log.info("%s started", name)`)."""

    def _emit(self, level: str, msg: object, args: tuple[Any, ...]) -> None:
        text = str(msg) % args if args else str(msg)
        _write(level, text)

    def debug(self, msg: object, *args: Any, **_: Any) -> None:
        self._emit("debug", msg, args)

    def info(self, msg: object, *args: Any, **_: Any) -> None:
        self._emit("info", msg, args)

    def warning(self, msg: object, *args: Any, **_: Any) -> None:
        self._emit("warning", msg, args)

    warn = warning

    def error(self, msg: object, *args: Any, **_: Any) -> None:
        self._emit("error", msg, args)

    def critical(self, msg: object, *args: Any, **_: Any) -> None:
        self._emit("critical", msg, args)

    def exception(self, msg: object, *args: Any, **_: Any) -> None:
        self._emit("error", f"{str(msg) % args if args else msg}\n{traceback.format_exc()}", ())


class Cfg:
    """`server.cfg` / `worker.cfg`: the settings by ferrule's names and by gunicorn's
    (`cfg.workers`, `cfg.timeout`, `cfg.accesslog`, `cfg.bind` as a list)."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def __getattr__(self, name: str) -> Any:
        config = self.__dict__["_config"]
        if hasattr(type(config), "__dataclass_fields__") and name in type(config).__dataclass_fields__:
            value = getattr(config, name)
        else:
            row = next((row for row in GUNICORN if row.name == name), None)
            claimed = answer(row) if row is not None else None
            setting = getattr(claimed, "setting", None)
            if setting is None:
                raise AttributeError(f"no setting named {name!r}")
            value = getattr(config, setting.name)
        return list(value) if isinstance(value, tuple) else value


class Server:
    """`server`: the master, as gunicorn's `Arbiter` shows it to hooks."""

    def __init__(self, config: Config) -> None:
        self.cfg = Cfg(config)
        self.log = Log()
        self.pid = os.getpid()
        self.num_workers = config.workers
        self.proc_name = config.proc_name or config.app or "ferrule"
        self.address = list(config.bind)
        self.app = None


class Worker:
    """`worker`: one worker process, as gunicorn's `Worker` shows it to hooks. `age` is its
    number (1, 2, ... in the order workers were started, as gunicorn counts them)."""

    def __init__(self, config: Config, age: int, pid: int | None, ppid: int) -> None:
        self.cfg = Cfg(config)
        self.log = Log()
        self.age = age
        self.pid = pid
        self.ppid = ppid
        self.booted = False
        self.alive = True
        self.aborted = False
        self.wsgi: Any = None
        self.max_requests = config.max_requests or sys.maxsize
        self.timeout = config.worker_timeout
        self.started = time.monotonic()


class Request:
    """`req` for `pre_request` and `post_request`, read from the environ."""

    __slots__ = ("environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    @property
    def method(self) -> str:
        return self.environ["REQUEST_METHOD"]

    @property
    def uri(self) -> str:
        return self.environ.get("RAW_URI", "")

    @property
    def path(self) -> str:
        return self.uri.partition("?")[0]

    @property
    def query(self) -> str:
        return self.environ.get("QUERY_STRING", "")

    @property
    def version(self) -> tuple[int, int]:
        protocol = self.environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        major, _, minor = protocol.partition("/")[2].partition(".")
        return (int(major or 1), int(minor or 0))

    @property
    def scheme(self) -> str:
        return self.environ.get("wsgi.url_scheme", "http")

    @property
    def remote_addr(self) -> str:
        return self.environ.get("REMOTE_ADDR", "")

    @property
    def headers(self) -> list[tuple[str, str]]:
        """`(NAME, value)` pairs with upper-case names, as gunicorn's `req.headers`."""
        pairs = []
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                pairs.append((key[5:].replace("_", "-"), value))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                pairs.append((key.replace("_", "-"), value))
        return pairs


class Response:
    """`resp` for `post_request`."""

    __slots__ = ("headers", "sent", "status")

    def __init__(self, status: str, headers: list[tuple[str, str]], sent: int) -> None:
        self.status = status
        self.headers = headers
        self.sent = sent

    @property
    def status_code(self) -> int:
        return int(self.status[:3])

    @property
    def response_length(self) -> int | None:
        for name, value in self.headers:
            if name.lower() == "content-length" and value.isdigit():
                return int(value)
        return None


def resolve(reference: Any, name: str) -> Callable[..., Any]:
    """A hook from its setting's value: the function itself, or `module:function` (also
    `module.function`) imported now.

    # Errors
    `ConfigError` naming the hook when the module or the function cannot be found.
    """
    if not isinstance(reference, str):
        return reference
    module_name, colon, attribute = reference.partition(":")
    if not colon:
        module_name, _, attribute = reference.rpartition(".")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as err:
        raise ConfigError(f"{name} = {reference!r}: cannot load it ({type(err).__name__}: "
                          f"{err}).") from None
    if not callable(target):
        raise ConfigError(f"{name} = {reference!r} is not a function.")
    return target


class HookRunner:
    """What the core calls: one method per hook point. Each returns True when the hook ran
    (or is unset) and False when it raised, after logging its traceback with its name."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.hooks: dict[str, Callable[..., Any]] = {
            name: resolve(getattr(config, name), name)
            for name in HOOKS if getattr(config, name) is not None
        }
        self.server = Server(config)
        #: This process's worker, once it is one.
        self.worker: Worker | None = None

    @staticmethod
    def for_config(config: Config) -> HookRunner | None:
        """A runner when any hook is set; None otherwise (the core then calls nothing)."""
        if all(getattr(config, name) is None for name in HOOKS):
            return None
        return HookRunner(config)

    def _run(self, name: str, *args: Any) -> bool:
        hook = self.hooks.get(name)
        if hook is None:
            return True
        try:
            hook(*args)
        except BaseException as err:  # a hook's SystemExit must not end the process here
            _write("error", f"the {name} hook raised {type(err).__name__}\n"
                            f"{''.join(traceback.format_exception(type(err), err, err.__traceback__))}")
            return False
        return True

    # ---- the master

    def on_starting(self) -> bool:
        self.server.pid = os.getpid()
        return self._run("on_starting", self.server)

    def when_ready(self) -> bool:
        return self._run("when_ready", self.server)

    def on_reload(self) -> bool:
        return self._run("on_reload", self.server)

    def pre_exec(self) -> bool:
        return self._run("pre_exec", self.server)

    def on_exit(self) -> bool:
        return self._run("on_exit", self.server)

    def pre_fork(self, number: int) -> bool:
        return self._run("pre_fork", self.server, Worker(self.config, number, None, os.getpid()))

    def child_exit(self, number: int, pid: int) -> bool:
        return self._run("child_exit", self.server, Worker(self.config, number, pid, os.getpid()))

    def nworkers_changed(self, new: int, old: int | None) -> bool:
        self.server.num_workers = new
        return self._run("nworkers_changed", self.server, new, old)

    # ---- a worker

    def post_fork(self, number: int) -> bool:
        self.worker = Worker(self.config, number, os.getpid(), os.getppid())
        return self._run("post_fork", self.server, self.worker)

    def post_worker_init(self, app: Any) -> bool:
        worker = self._worker()
        worker.wsgi = app
        worker.booted = True
        return self._run("post_worker_init", worker)

    def worker_int(self) -> bool:
        worker = self._worker()
        worker.alive = False
        return self._run("worker_int", worker)

    def worker_abort(self) -> bool:
        worker = self._worker()
        worker.aborted = True
        return self._run("worker_abort", worker)

    def worker_exit(self) -> bool:
        worker = self._worker()
        worker.alive = False
        return self._run("worker_exit", self.server, worker)

    def request_hooks(self) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
        """`(pre, post)` for the core's request path, each None when its hook is unset:
        `pre(environ)` raises `HookError` when the hook raised; `post(environ, status,
        headers, sent)` logs instead."""
        pre_hook, post_hook = self.hooks.get("pre_request"), self.hooks.get("post_request")
        worker = self._worker()

        def pre(environ: dict[str, Any]) -> None:
            assert pre_hook is not None
            try:
                pre_hook(worker, Request(environ))
            except Exception as err:
                raise HookError(f"the pre_request hook raised {type(err).__name__}") from err

        def post(environ: dict[str, Any], status: str, headers: list[tuple[str, str]],
                 sent: int) -> None:
            assert post_hook is not None
            self._run("post_request", worker, Request(environ), environ,
                      Response(status, headers, sent))

        return (pre if pre_hook else None, post if post_hook else None)

    def _worker(self) -> Worker:
        if self.worker is None:  # a preloaded single process (`ferrule.serve`) or a test
            self.worker = Worker(self.config, 1, os.getpid(), os.getppid())
        return self.worker
