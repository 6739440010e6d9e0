"""The one exception hierarchy of the Python side: FerruleError and its subclasses.

Raised by `config` (ConfigError), `importer` (AppImportError) and the Rust core
(BindError and WorkerBootError, raised from `python.rs`). Messages are full sentences naming the setting, module
or address. `cli.py` is the only place that turns these into exit codes.
"""

from __future__ import annotations

__all__ = ["AppImportError", "BindError", "ClientDisconnected", "ConfigError", "FerruleError",
           "HookError",
           "RequestTimeout", "WorkerBootError"]


class FerruleError(Exception):
    """Base class of every error ferrule raises on purpose."""


class ConfigError(FerruleError):
    """A setting is unknown or has a bad value, in argv, the environment, a config file or
    keyword arguments. The message names the setting as the user wrote it:
    ``--threads must be >= 1, got 0``."""


class AppImportError(FerruleError):
    """The app reference could not be turned into a WSGI callable.

    When the app's own code raised (while its module was imported, or in a factory), that
    exception is the ``__cause__`` and its traceback is worth showing; when the module simply
    does not exist, there is no cause.
    """


class HookError(FerruleError):
    """A server hook raised; the hook's own exception is the ``__cause__``. Raised into the
    request path when ``pre_request`` fails, so that request is answered 500 and logged with
    both tracebacks."""


class BindError(FerruleError, OSError):
    """Binding a listening socket failed (address in use, permission denied, bad host).

    Raised by the core as ``BindError(errno, message)``, where the message is a full sentence
    naming the address, or as ``BindError(message)``. ``str()`` gives the message without
    OSError's ``[Errno N]`` prefix; ``errno`` stays available for code that wants it.
    """

    def __str__(self) -> str:
        if self.strerror is not None:
            return str(self.strerror)
        return super().__str__()


class WorkerBootError(FerruleError):
    """A worker process could not start, so the master stopped instead of forking it again
    and again. The worker has already written its error (the app's traceback) to stderr.

    ``app_load`` is True when the app could not be imported (gunicorn's APP_LOAD_ERROR),
    False for any other failure (WORKER_BOOT_ERROR).
    """

    app_load: bool = False


class ClientDisconnected(FerruleError, OSError):
    """Raised by an ASGI app's ``await send(...)`` once the client has gone (ASGI HTTP spec
    2.4: a server-specific subclass of OSError). The response can no longer be delivered;
    letting it propagate ends the request quietly (it is logged at debug level only)."""


class RequestTimeout(BaseException):
    """Raised inside the app's thread when a request runs past `request_timeout`, so that
    `finally` blocks and context managers clean up. The client has already been answered
    504 when no response had started.

    A BaseException, like KeyboardInterrupt: a broad ``except Exception`` in the app must not
    swallow it and carry on; catch it by name to clean up, then let it propagate. It is
    delivered between Python bytecodes, so a thread blocked in C (``time.sleep``, a socket
    read) only sees it when that call returns; past a grace, the worker is replaced.
    """
