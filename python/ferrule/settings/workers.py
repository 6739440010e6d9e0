"""The "Workers" settings: the master and its worker processes."""

from __future__ import annotations

import os
import re
from typing import ClassVar

from ferrule.settings.setting import Setting
from ferrule.settings.values import (
    BOOL,
    BYTE_SIZE,
    DURATION,
    INT,
    OFF_OR_COUNT,
    OPTIONAL_STR,
    SIZE,
    TIMEOUT,
    Choice,
    Int,
    InvalidValue,
    OrOff,
    StrList,
    ValueType,
    at_least,
    at_most,
)


class _Workers(Int):
    """A worker count, or `auto`: one per CPU this process may run on."""

    name = "integer or auto"

    def convert(self, raw: object) -> int:
        if isinstance(raw, str) and raw.strip().lower() == "auto":
            return _cpu_count()
        try:
            return super().convert(raw)
        except InvalidValue:
            raise InvalidValue("must be an integer or auto", repr(raw)) from None


class _WorkerClass(ValueType):
    """gunicorn's `-k/--worker-class`, kept so its command lines keep working. gunicorn's
    `sync` and `gthread` workers (by name or class path) both mean what ferrule always does:
    the app runs on `threads` Python threads per worker. The others are refused with what to
    use instead."""

    name = "sync, gthread or an ASGI worker"
    _THREADS: ClassVar[dict[str, str]] = {
        "sync": "sync", "gunicorn.workers.sync.syncworker": "sync",
        "egg:gunicorn#sync": "sync",
        "gthread": "gthread", "gunicorn.workers.gthread.threadworker": "gthread",
        "egg:gunicorn#gthread": "gthread",
    }
    _GREEN = ("gevent", "eventlet", "tornado", "ggevent", "geventworker", "geventpywsgiworker",
              "eventletworker", "tornadoworker", "gevent_wsgi", "gevent_pywsgi", "gtornado")
    _ASGI = ("uvicorn", "uvicornworker", "asgi", "gasgi", "asgiworker")
    RULE = ("must be sync or gthread (gunicorn's names for what ferrule always does: "
            "threads), or an ASGI worker (uvicorn.workers.UvicornWorker, asgi)")

    def convert(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidValue(self.RULE, repr(raw))
        text = raw.strip().lower()
        if text in self._THREADS:
            return self._THREADS[text]
        parts = set(re.split(r"[.:#]", text))
        if parts & set(self._ASGI):
            return "asgi"
        if parts & set(self._GREEN):
            raise InvalidValue(
                "names a gevent, eventlet or tornado worker; ferrule has none: it runs WSGI "
                "apps on OS threads, which wait on I/O with the GIL released. Drop -k and "
                "raise --threads for apps that mostly wait", repr(raw))
        raise InvalidValue(self.RULE, repr(raw))


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="workers",
        section="Workers",
        type=_Workers(),
        default=1,
        flags=("--workers",),
        gunicorn=("-w",),
        metavar="N",
        core=True,
        checks=(at_least(1), at_most(1024)),
        help=(
            "Worker processes, forked by the master, each with its own event loop and "
            "`threads` Python threads, all accepting on the same sockets. `auto` starts one per "
            "CPU this process may use. SIGTTIN and SIGTTOU add and remove one while running."
        ),
    ),
    Setting(
        name="worker_class",
        section="Workers",
        type=_WorkerClass(),
        default="gthread",
        flags=("-k", "--worker-class"),
        metavar="CLASS",
        help=(
            "gunicorn's worker class, accepted so its command lines keep working: `sync` and "
            "`gthread` (by name or class path) both mean what ferrule always does, `workers` "
            "processes each running the app on `threads` Python threads (unlike gunicorn's "
            "`sync`, a worker takes `threads` requests at once; `--threads 1` gives one). "
            "gevent, eventlet and tornado workers are refused with what to use instead. An ASGI "
            "worker (`uvicorn.workers.UvicornWorker`, `UvicornH11Worker`, gunicorn's `asgi`) "
            "means `--interface asgi`, served on each worker's event loop (`--loop`); with "
            "`--interface wsgi` it is an error."
        ),
    ),
    Setting(
        name="preload",
        section="Workers",
        type=BOOL,
        default=False,
        flags=("--preload",),
        gunicorn=("preload_app",),
        help=(
            "Import the app in the master before forking workers: workers share its memory "
            "copy-on-write and an import error stops the server before any worker starts, but a "
            "reload (SIGHUP) cannot pick up new code. Without it each worker imports the app."
        ),
    ),
    Setting(
        name="reload",
        section="Workers",
        type=BOOL,
        default=False,
        flags=("--reload",),
        help=(
            "Development: start a new generation of workers (as on SIGHUP) when a `.py` file "
            "under the app's directory, or a file matching `reload_extra`, changes. Watched "
            "as `reload_engine` says; not for production."
        ),
    ),
    Setting(
        name="reload_engine",
        section="Workers",
        type=Choice("auto", "poll", "inotify"),
        default="auto",
        flags=("--reload-engine",),
        metavar="auto|poll|inotify",
        help=(
            "How `reload` learns of changes. `inotify`: the kernel tells (Linux inotify; a "
            "change reloads within about a second, nothing is rescanned); it is an error when "
            "inotify cannot be set up (the watch limit, sysctl `fs.inotify.max_user_watches`). "
            "`poll`: the files are rescanned once a second and their modification times "
            "compared. `auto`: inotify, or polling (with a warning) when inotify cannot be "
            "set up."
        ),
    ),
    Setting(
        name="reload_extra",
        section="Workers",
        type=StrList(),
        default=(),
        default_text="none",
        flags=("--reload-extra",),
        gunicorn=("--reload-extra-file", "reload_extra_files"),
        repeatable=True,
        metavar="GLOBS",
        help=(
            "More files for `reload` to watch, as glob patterns (`templates/**/*.html`; "
            "`**` spans directories), comma-separated; the flag can be repeated."
        ),
    ),
    Setting(
        name="max_requests",
        section="Workers",
        type=INT,
        default=0,
        default_text="0 (off)",
        flags=("--max-requests",),
        metavar="N",
        core=True,
        checks=OFF_OR_COUNT,
        help=(
            "Replace a worker after it has taken this many requests, to contain memory leaks. "
            "The replacement serves before the old worker stops accepting; one worker is "
            "recycled at a time. 0 turns it off."
        ),
    ),
    Setting(
        name="max_requests_jitter",
        section="Workers",
        type=INT,
        default=0,
        flags=("--max-requests-jitter",),
        metavar="N",
        core=True,
        checks=OFF_OR_COUNT,
        help=(
            "Add a random 0 to N requests to `max_requests` per worker, so workers started "
            "together are not recycled together."
        ),
    ),
    Setting(
        name="max_worker_lifetime",
        section="Workers",
        type=OrOff(DURATION),
        default=None,
        default_text="none (off)",
        flags=("--max-worker-lifetime",),
        metavar="DURATION",
        core=True,
        checks=TIMEOUT,
        help="Replace a worker after it has run this long (recycled like `max_requests`).",
    ),
    Setting(
        name="max_worker_lifetime_jitter",
        section="Workers",
        type=DURATION,
        default="0s",
        flags=("--max-worker-lifetime-jitter",),
        metavar="DURATION",
        core=True,
        checks=(at_least(0), at_most(86400.0, "24h")),
        help="Add a random 0 to this much to `max_worker_lifetime` per worker.",
    ),
    Setting(
        name="max_worker_memory",
        section="Workers",
        type=OrOff(BYTE_SIZE),
        default=None,
        default_text="none (off)",
        flags=("--max-worker-memory",),
        metavar="SIZE",
        core=True,
        checks=SIZE,
        help=(
            "Replace a worker whose resident memory (RSS, checked every second) exceeds this "
            "size (recycled like `max_requests`)."
        ),
    ),
    Setting(
        name="proc_name",
        section="Workers",
        type=OPTIONAL_STR,
        default=None,
        default_text="none (the app, e.g. myapp:app)",
        flags=("--proc-name",),
        gunicorn=("-n", "--name"),
        metavar="NAME",
        core=True,
        help=(
            "The name in process titles: `ferrule: master [NAME]`, `ferrule: worker 3 [NAME]` "
            "(shown by ps and top)."
        ),
    ),
)
