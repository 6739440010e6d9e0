"""The `ferrule` command: argv → Config → app → the Rust core, and exceptions → exit codes.

Flags are parsed by `flags` (also the `--help` text, to which this module adds the exit
codes) and converted with the env vars and the config file by `config`; the app is imported
by `importer`; hooks are run by `hooks`. Also the two checks that stop before serving,
`--check-config` and `--print-config`. `main` is the only place in ferrule that turns
exceptions into exit codes.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ferrule import importer, logs, paste
from ferrule._core import core
from ferrule.config import Config
from ferrule.errors import AppImportError, ConfigError, FerruleError, WorkerBootError
from ferrule.flags import build_parser, parse_flags
from ferrule.hooks import HookRunner
from ferrule.settings import SETTINGS
from ferrule.watch import SourceWatcher, app_directory

__all__ = [
    "EXIT_APP_LOAD_ERROR",
    "EXIT_CONFIG_ERROR",
    "EXIT_OK",
    "EXIT_SERVE_ERROR",
    "EXIT_WORKER_BOOT_ERROR",
    "main",
]

#: The server ran and stopped after SIGTERM or SIGINT; or --help, --version; or
#: --check-config found nothing wrong.
EXIT_OK = 0
#: The server could not start or failed while running: a bind error, an unwritable log file,
#: a hook that stops the boot; or --check-config found a problem (as in gunicorn).
EXIT_SERVE_ERROR = 1
#: A bad flag, env var or config file (argparse's usage-error code).
EXIT_CONFIG_ERROR = 2
#: A worker could not start for another reason than importing the app (gunicorn's
#: WORKER_BOOT_ERROR).
EXIT_WORKER_BOOT_ERROR = 3
#: The app could not be imported (gunicorn's APP_LOAD_ERROR).
EXIT_APP_LOAD_ERROR = 4

_EPILOG = f"""\
exit status:
  {EXIT_OK}  stopped by SIGTERM or SIGINT (or --help, --version; --check-config: no problem)
  {EXIT_SERVE_ERROR}  the server failed, e.g. an address could not be bound (--check-config:
     a problem)
  {EXIT_CONFIG_ERROR}  a bad flag, environment variable or config file
  {EXIT_WORKER_BOOT_ERROR}  a worker could not start
  {EXIT_APP_LOAD_ERROR}  the app could not be imported"""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ferrule command with `argv` (default `sys.argv[1:]`); returns the exit code.

    Blocks while the server runs.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        # Ctrl-C before the core installed its handlers (e.g. during a slow app import): the
        # user asked to stop, and there is nothing to report.
        return EXIT_OK


def _run(args: list[str]) -> int:
    # Step 1: flags, --help and --version (which need no valid settings).
    try:
        flags = parse_flags(args)
    except ConfigError as err:
        return _fail(err, EXIT_CONFIG_ERROR)
    if flags.help:
        sys.stdout.write(build_parser(epilog=_EPILOG).format_help())
        return EXIT_OK
    if flags.version:
        print(f"ferrule {core().__version__}")
        return EXIT_OK
    checking = flags.check_config or flags.print_config
    # --check-config says "problem" with 1 whatever the problem, as gunicorn's does.
    config_error = EXIT_SERVE_ERROR if checking else EXIT_CONFIG_ERROR
    app_error = EXIT_SERVE_ERROR if checking else EXIT_APP_LOAD_ERROR

    # A new master started by SIGUSR2 runs this same command from the same directory.
    upgrade = (sys.executable, list(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
               os.getcwd())

    # Step 2: settings, the environment, the directory and import path the app is imported
    # from, and the hooks.
    try:
        config = _load_config(args)
        for warning in config.warnings():
            sys.stderr.write(f"ferrule: warning: {warning}\n")
        if config.config is None and os.path.isfile("gunicorn.conf.py"):
            sys.stderr.write(
                "ferrule: warning: ./gunicorn.conf.py is not read: ferrule reads only the "
                "config file it is given; pass -c gunicorn.conf.py to use it.\n")
        if flags.print_config:
            sys.stdout.write(_describe_config(config))
        if config.app is None and config.paste is None:
            raise ConfigError(
                "No app given; name one as MODULE:ATTRIBUTE, e.g. 'ferrule myapp:app'."
            )
        if config.app is not None and config.paste is not None:
            raise ConfigError("Give an app or --paste, not both.")
        if config.app is not None:
            try:
                importer.check_reference(config.app)
            except AppImportError as err:
                raise ConfigError(str(err)) from None
        # The ini's path as given, before chdir: the workers load the app from it.
        paste_uri = None if config.paste is None else paste.absolute(config.paste)
        _apply_env(config)
        _prepare_import_path(config)
        # Python logging, when configured, before anything is logged (the workers inherit it).
        logging_setup = logs.configure(config)
        if paste_uri is not None:
            paste.setup_logging(paste_uri, config.paste_global)
        hooks = HookRunner.for_config(config)
    except ConfigError as err:
        return _fail(err, config_error)
    spec = config.app if paste_uri is None else paste_uri
    interface = config.interface
    variables = config.paste_global

    def load() -> Any:
        if paste_uri is None:
            return importer.import_app(spec, interface)
        return paste.load_app(paste_uri, variables)

    if config.umask is not None:
        os.umask(config.umask)

    # Step 3: the app: imported here with --preload (an error stops us before any worker
    # exists) and by the checks, otherwise by each worker after the fork; then only its
    # module is looked for, so a typo fails before binding.
    app: Any = None
    try:
        if config.preload or checking:
            app = load()
        elif paste_uri is None:
            importer.find_module(spec)
    except AppImportError as err:
        if err.__cause__ is not None:
            sys.stderr.write(_format_app_traceback(err.__cause__))
        return _fail(err, app_error)
    if checking:
        sys.stderr.write(f"ferrule: the settings and the app ({spec}) load without a "
                         "problem.\n")
        return EXIT_OK
    if not config.preload:
        app = None

    # Step 4: serve until SIGTERM/SIGINT/SIGQUIT. BindError is an OSError. SIGHUP re-reads
    # the settings from the same argv, environment and config file.
    watch = None
    if config.reload:
        directory = app_directory(spec) if paste_uri is None else os.path.dirname(paste_uri)
        try:
            watch = SourceWatcher(directory, config.reload_extra, engine=config.reload_engine)
        except ConfigError as err:
            return _fail(err, config_error)
    name = spec if paste_uri is None else os.path.basename(paste_uri)
    settings = config.to_core()
    logging_options: dict[str, Any] = {}
    if logging_setup is not None:
        # The level of the `ferrule.error` logger, as configured, replaces log_level.
        settings["log_level"] = logging_setup["level"]
        logging_options["python_logging"] = logging_setup["access"]
    try:
        core().serve(app, settings, load=lambda: _load_in_worker(load),
                     reload=lambda: _load_config(args).to_core(), name=name, upgrade=upgrade,
                     watch=watch, hooks=hooks, **logging_options)
    except WorkerBootError as err:
        # The worker wrote its own error; this line says why the server stopped.
        return _fail(err, EXIT_APP_LOAD_ERROR if err.app_load else EXIT_WORKER_BOOT_ERROR)
    except (OSError, FerruleError) as err:
        return _fail(err, EXIT_SERVE_ERROR)
    return EXIT_OK


def _load_config(args: list[str]) -> Config:
    """The settings of `args`, the environment and the config file; with `--paste`, the
    ini's `[server:main]` keys below them."""
    config = Config.load(args)
    if config.paste is None:
        return config
    return Config.load(args, base=paste.server_settings(config.paste, config.paste_global))


def _load_in_worker(load: Callable[[], Any]) -> Any:
    """Loads the app inside a worker. An `AppImportError` is reported here (the app's
    traceback, then the message) and re-raised: the worker exits with APP_LOAD_ERROR and the
    master stops."""
    try:
        return load()
    except AppImportError as err:
        if err.__cause__ is not None:
            sys.stderr.write(_format_app_traceback(err.__cause__))
        sys.stderr.write(f"ferrule: {err}\n")
        sys.stderr.flush()
        raise


# --------------------------------------------------------------------------------------------
# Helpers of main


def _describe_config(config: Config) -> str:
    """`--print-config`: one line per setting, `name = value  # source`."""
    sources = config.sources()
    rows = []
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        shown = "none" if value is None else setting.type.show(value)
        rows.append((setting.name, shown, sources.get(setting.name, "default")))
    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(40, max(len(shown) for _, shown, _ in rows))
    return "".join(f"{name:<{name_width}} = {shown:<{value_width}}  # {source}\n"
                   for name, shown, source in rows)


def _apply_env(config: Config) -> None:
    """`--env KEY=VALUE`: set in this process before the app is imported, so the workers
    forked from it have them too."""
    for key, value in config.env:
        os.environ[key] = value


def _prepare_import_path(config: Config) -> None:
    """Applies `chdir`, then puts `pythonpath` and the current directory in front of
    `sys.path` (as gunicorn does), so `myapp:app` is found where the user stands.

    # Errors
    `ConfigError` when the directory cannot be entered.
    """
    if config.chdir is not None:
        try:
            os.chdir(config.chdir)
        except OSError as err:
            raise ConfigError(
                f"Could not change directory to '{config.chdir}': {err.strerror}."
            ) from None
    entries = [os.path.abspath(entry) for entry in config.pythonpath] + [os.getcwd()]
    entries = list(dict.fromkeys(entries))
    sys.path[:] = entries + [entry for entry in sys.path if entry not in entries]


def _format_app_traceback(cause: BaseException) -> str:
    """The traceback of an exception the app's code raised, without the frames of importlib
    and ferrule's importer, which only say how the module was reached."""
    skipped = {os.path.normcase(os.path.abspath(path))
               for path in (importer.__file__, importlib.__file__) if path}

    def is_loader_frame(filename: str) -> bool:
        return (filename.startswith("<frozen importlib")
                or os.path.normcase(os.path.abspath(filename)) in skipped)

    report = traceback.TracebackException.from_exception(cause)
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack if not is_loader_frame(frame.filename)]
    )
    return "".join(report.format())


def _fail(err: BaseException, code: int) -> int:
    sys.stderr.write(f"ferrule: {err}\n")
    return code
