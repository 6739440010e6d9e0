"""The "Application" settings: what to serve and how to find it. Python only."""

from __future__ import annotations

import os
from typing import Any

from ferrule.settings.setting import Setting
from ferrule.settings.values import PATH, STR, Check, Choice, InvalidValue, Str, StrList, ValueType


class _EnvPairs(ValueType):
    """`KEY=VALUE` entries (gunicorn's `-e/--env`, `raw_env`). A string is one entry (values
    may hold commas); a config file may give a list. Converted to a tuple of (key, value)."""

    name = "KEY=VALUE (the flag can be repeated)"

    def convert(self, raw: object) -> tuple[tuple[str, str], ...]:
        if isinstance(raw, str):
            entries = [raw]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            entries = list(raw)
        else:
            raise InvalidValue("must be KEY=VALUE or a list of them", repr(raw))
        pairs = []
        for entry in entries:
            key, equals, value = entry.partition("=")
            if not equals or not key.strip() or "\0" in entry:
                raise InvalidValue("must be KEY=VALUE", repr(entry))
            pairs.append((key.strip(), value))
        return tuple(pairs)

    def show(self, value: Any) -> str:
        return repr([f"{key}={val}" for key, val in value])


def _is_root_path(value: str) -> bool:
    return value == "" or (value.startswith("/") and not value.endswith("/"))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="app",
        section="Application",
        type=Str(),
        default=None,
        default_text="none (required by the ferrule command)",
        positional=True,
        gunicorn=("wsgi_app",),
        metavar="APP",
        help=(
            "The WSGI app to serve: `module:attribute` (e.g. `myapp:app`, `pkg.web:server.app`), "
            "or `module:factory()` to call a factory, with literal arguments if it needs them "
            "(`myapp:create_app('prod', debug=False)`). A bare `module` looks for `application`, "
            "then `app`. Given as the positional argument of the ferrule command; "
            "`ferrule.serve()` takes the app object instead."
        ),
    ),
    Setting(
        name="config",
        section="Application",
        type=PATH,
        default=None,
        default_text="none (no file is read)",
        flags=("-c", "--config"),
        metavar="FILE",
        in_file=False,
        help=(
            "A config file: TOML, `ferrule.toml` (settings as top-level keys) or "
            "`pyproject.toml` (the `[tool.ferrule]` table); or Python, a `.py` file such as an "
            "unmodified `gunicorn.conf.py`, whose module globals are settings and whose "
            "functions are hooks. Nothing is loaded unless this is given, so a stray file "
            "never changes how a server runs. Keys are setting names "
            "(`max_body_bytes = \"1MiB\"`), gunicorn's names accepted; unknown keys are errors "
            "in TOML and warnings in a `.py` file (where helper variables are common; start "
            "their names with `_` to silence the warning)."
        ),
    ),
    Setting(
        name="chdir",
        section="Application",
        type=PATH,
        default=None,
        default_text="none (the current directory)",
        flags=("--chdir",),
        metavar="DIR",
        checks=(Check("must be an existing directory", os.path.isdir),),
        help=(
            "Change to this directory before importing the app. Relative paths in other "
            "settings (log files, unix sockets, `pythonpath`) are then relative to it; the "
            "config file is read before the change."
        ),
    ),
    Setting(
        name="pythonpath",
        section="Application",
        type=StrList(),
        default=(),
        default_text="none",
        flags=("--pythonpath",),
        repeatable=True,
        metavar="DIRS",
        help=(
            "Directories to put in front of `sys.path` before importing the app, "
            "comma-separated; the flag can be repeated. The current directory (after `chdir`) "
            "is always on the path, as with gunicorn."
        ),
    ),
    Setting(
        name="env",
        section="Application",
        type=_EnvPairs(),
        default=(),
        default_text="none",
        flags=("-e", "--env"),
        gunicorn=("raw_env",),
        repeatable=True,
        metavar="KEY=VALUE",
        help=(
            "Set an environment variable in the server before the app is imported (in the "
            "master, so every worker has it), e.g. `-e DJANGO_SETTINGS_MODULE=site.settings`; "
            "the flag can be repeated. In a config file, a list of `KEY=VALUE` strings."
        ),
    ),
    Setting(
        name="root_path",
        section="Application",
        type=STR,
        default="",
        default_text='"" (mounted at /)',
        flags=("--root-path",),
        metavar="PATH",
        core=True,
        checks=(Check("must be empty or start with '/' and not end with '/'", _is_root_path),),
        help=(
            "The URL prefix the app is mounted under behind a proxy, e.g. `/api`: it becomes "
            "`SCRIPT_NAME`, and a request path starting with it has it removed from "
            "`PATH_INFO`."
        ),
    ),
    Setting(
        name="interface",
        section="Application",
        type=Choice("auto", "wsgi", "asgi"),
        default="auto",
        flags=("--interface",),
        metavar="auto|wsgi|asgi",
        core=True,
        help=(
            "The app's interface. `auto`: ASGI when the app is an `async def` function or an "
            "object whose `__call__` is one (FastAPI, Starlette, Django's `ASGIHandler`, Quart, "
            "Litestar), WSGI otherwise, as uvicorn and Granian decide. Say `asgi` for an ASGI "
            "app wrapped in a plain function. ASGI 2 apps (a class whose instances take "
            "`(receive, send)`) are refused with a message: wrap them with asgiref's "
            "`guarantee_single_callable`."
        ),
    ),
    Setting(
        name="loop",
        section="Application",
        type=Choice("auto", "asyncio", "uvloop"),
        default="auto",
        flags=("--loop",),
        gunicorn=("--asgi-loop", "asgi_loop"),
        metavar="auto|asyncio|uvloop",
        core=True,
        help=(
            "ASGI: the event loop each worker runs its app on, one per worker on a thread of "
            "its own. `auto`: uvloop when it is installed, else asyncio's."
        ),
    ),
    Setting(
        name="lifespan",
        section="Application",
        type=Choice("auto", "on", "off"),
        default="auto",
        flags=("--lifespan",),
        gunicorn=("--asgi-lifespan", "asgi_lifespan"),
        metavar="auto|on|off",
        core=True,
        help=(
            "ASGI lifespan, per worker: startup before it accepts (`lifespan.startup.failed` "
            "stops the server, exit 3), shutdown after its last request on every graceful "
            "stop, reload and recycle. `auto`: an app that raises on the lifespan scope before "
            "answering is served without it; `on`: that is a boot error too; `off`: never sent."
        ),
    ),
    Setting(
        name="paste",
        section="Application",
        type=PATH,
        default=None,
        default_text="none",
        flags=("--paste",),
        gunicorn=("--paster",),
        metavar="INI",
        help=(
            "Load the app from a PasteDeploy ini file instead of `APP` (Pyramid's "
            "`development.ini`): the `[app:main]` section, or the one named after `#` "
            "(`production.ini#admin`). Settings in the ini's `[server:main]` section (when it "
            "says `use = egg:ferrule`) apply below env vars and flags, and its logging "
            "sections configure Python's logging, as `pserve` does. See docs/paste.md."
        ),
    ),
    Setting(
        name="paste_global",
        section="Application",
        type=_EnvPairs(),
        default=(),
        default_text="none",
        flags=("--paste-global",),
        gunicorn=("raw_paste_global_conf",),
        repeatable=True,
        metavar="KEY=VALUE",
        help=(
            "A variable for the `paste` ini file, written `%(KEY)s` in it (what `pserve "
            "development.ini KEY=VALUE` passes): it fills the app's and the server's sections "
            "and the logging sections, unless the ini's `[DEFAULT]` sets `KEY` itself. Keys "
            "are case-insensitive, as the ini's are. The flag can be repeated."
        ),
    ),
)
