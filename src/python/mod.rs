//! The `ferrule._ferrule` extension module: the façade between the Python package and the
//! core. `serve` is the master's entry; settings become a typed `Config` in `settings`;
//! Rust errors become `ferrule.errors` exceptions here; the master's Python hooks are in
//! `master`, a worker's app host in `app_host` (WSGI: `wsgi_host`, ASGI: `asgi_host`),
//! Python logging in `logs`, and the server hooks' call points (`ferrule.hooks`) in
//! `hooks`. Everything that runs per request or per process is delegated (`supervisor`,
//! `worker`, `server`, `pool`, `wsgi`).

mod app_host;
mod asgi_host;
mod hooks;
mod logs;
mod master;
mod settings;
mod watch;
mod wsgi_host;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::listener;
use crate::log::{self, Level};
use crate::supervisor::fork::{ForkSpawner, UpgradeCommand};
use crate::supervisor::{Outcome, Supervisor, SupervisorError};
use crate::title;
use crate::worker::APP_LOAD_ERROR;
use crate::wsgi::{self, error_stream::ErrorStream, file_wrapper::FileWrapper, input::Input};
use hooks::Hooks;
use master::{worker_plan, PyHooks};
use settings::{config_from, CORE_SETTINGS};

/// An instance of `ferrule.errors.<name>(message)`, or `fallback(message)` when that module
/// cannot be imported (a broken install).
fn ferrule_error(
    py: Python<'_>,
    name: &str,
    message: String,
    fallback: fn(String) -> PyErr,
) -> PyErr {
    let cls = py.import("ferrule.errors").and_then(|m| m.getattr(name));
    match cls {
        Ok(cls) => match cls.call1((message,)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(err) => err,
        },
        Err(_) => fallback(message),
    }
}

/// Serves until SIGTERM, SIGINT or SIGQUIT, as a master with `workers` forked worker
/// processes, then stops and returns. Blocks.
///
/// Each worker serves `app` when it is given (imported before the fork: `--preload` and
/// `ferrule.serve()`), otherwise the app `load()` returns in the worker. `reload()`, when
/// given, returns the re-read settings on SIGHUP. `name` goes in process titles.
/// `upgrade` is `(program, argv, directory)` to start a new master with on SIGUSR2.
/// `watch()`, when given (`--reload`), returns True when source files changed.
/// `python_logging`, when given, says the Python side configured `logging`
/// (`ferrule.logs.configure`): records go to the `ferrule.error` and `ferrule.access`
/// loggers, access records being made when it is true. `hooks`, when given, is a
/// `ferrule.hooks.HookRunner` (only when a hook is set).
#[pyfunction]
#[pyo3(signature = (app, settings, *, load=None, reload=None, name=None, upgrade=None, watch=None, python_logging=None, hooks=None))]
// Keyword-only options of one Python call.
#[allow(clippy::too_many_arguments)]
// One sequence of start-up steps (settings, logs, hooks, TLS, binding, the master's loop, the
// exit); split, it would read out of order.
#[allow(clippy::too_many_lines)]
fn serve(
    py: Python<'_>,
    app: Option<Py<PyAny>>,
    settings: &Bound<'_, PyDict>,
    load: Option<Py<PyAny>>,
    reload: Option<Py<PyAny>>,
    name: Option<String>,
    upgrade: Option<(
        std::ffi::OsString,
        Vec<std::ffi::OsString>,
        std::path::PathBuf,
    )>,
    watch: Option<Py<PyAny>>,
    python_logging: Option<bool>,
    hooks: Option<Py<PyAny>>,
) -> PyResult<()> {
    let mut config = config_from(settings)?;
    config.log.access_forwarded = python_logging == Some(true);
    let hooks = Hooks::new(hooks);
    if app.is_none() && load.is_none() {
        return Err(PyValueError::new_err(
            "serve() needs an app or a load() callable",
        ));
    }
    log::init(&config.log).map_err(PyOSError::new_err)?;
    let owner = (config.process.user, config.process.group);
    if python_logging.is_some() {
        logs::forward_directly(py, owner)?;
    }
    if let Err(err) = log::set_owner(owner.0, owner.1) {
        log_at!(Level::Warning, "{err}; workers may not reopen it on USR1");
    }
    // Each worker opens the static directories again; checked here first so a missing
    // one stops the server before any worker starts, with one line naming it.
    if let Err(err) = crate::conn::StaticRoots::open(&config.statics) {
        return Err(ferrule_error(
            py,
            "ConfigError",
            err.to_string(),
            PyValueError::new_err,
        ));
    }
    let label = config
        .process
        .proc_name
        .clone()
        .or(name)
        .unwrap_or_else(|| "app".to_owned());
    title::set(&format!("ferrule: master [{label}]"));
    // gunicorn calls on_starting before the sockets are bound; raising stops the boot.
    if !hooks.call(py, "on_starting", ()) {
        return Err(ferrule_error(
            py,
            "FerruleError",
            "The on_starting hook raised; its traceback is above.".to_owned(),
            PyRuntimeError::new_err,
        ));
    }
    let options = listener::ListenOptions {
        backlog: config.backlog,
        reuse_port: config.process.reuse_port,
        unix_socket_mode: config.process.unix_socket_mode,
    };
    let pid_file = config.process.pid_file.clone();
    if let Some(path) = &pid_file {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            PyOSError::new_err(format!("cannot write --pid-file {}: {e}", path.display()))
        })?;
    }
    // Certificates and keys: read here, before any worker exists, so that a bad file stops
    // the server at startup with its name (exit 1).
    let tls = crate::tls::load(&config.tls, config.http2.alpn())
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    let plan = worker_plan(&config);
    let binds = config.binds.clone();
    let observe = config.observe.clone();
    let exit_hooks = hooks.clone_ref(py);
    let hooks = PyHooks {
        py,
        app,
        load,
        reload,
        config,
        tls,
        label,
        upgrade: upgrade.map(|(program, argv, dir)| UpgradeCommand { program, argv, dir }),
        watch,
        hooks,
    };
    let spawner = ForkSpawner::new(hooks, binds, options, observe)
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    let mut master = Supervisor::new(plan, spawner);
    let outcome = master.run();
    drop(master);
    // Its failure is logged by the runner; the master exits all the same.
    let _ = exit_hooks.call(py, "on_exit", ());
    if outcome.is_ok() {
        log::write(Level::Info, "stopped");
    }
    // The pid file is ours to remove unless a new master (USR2) has written its own.
    if let Some(path) = &pid_file {
        if std::fs::read_to_string(path)
            .is_ok_and(|text| text.trim() == std::process::id().to_string())
        {
            // Gone already, or not removable: nothing more to do at exit.
            let _ = std::fs::remove_file(path);
        }
    }
    match outcome {
        Ok(Outcome::Stopped | Outcome::Upgraded) => Ok(()),
        Ok(Outcome::HookFailed(hook)) => Err(ferrule_error(
            py,
            "FerruleError",
            format!("The {hook} hook raised; its traceback is above."),
            PyRuntimeError::new_err,
        )),
        Ok(Outcome::BootFailed { code }) => {
            let app_load = code == APP_LOAD_ERROR;
            let message = if app_load {
                "A worker could not import the app (see the error above)."
            } else {
                "A worker could not start (see the error above)."
            };
            let err = ferrule_error(
                py,
                "WorkerBootError",
                message.to_owned(),
                PyRuntimeError::new_err,
            );
            err.value(py).setattr("app_load", app_load)?;
            Err(err)
        }
        Err(SupervisorError::Bind(err)) => Err(ferrule_error(
            py,
            "BindError",
            err.to_string(),
            PyOSError::new_err,
        )),
        Err(err) => Err(PyOSError::new_err(err.to_string())),
    }
}

/// Writes one line to the error log at `level` (`debug` ... `critical`): how Python code
/// of the server (hooks, `server.log`) logs like the core does.
///
/// # Errors
/// `ValueError` for an unknown level.
#[pyfunction]
#[pyo3(name = "log")]
fn log_line(level: &str, message: &str) -> PyResult<()> {
    let level = <Level as crate::config::Choice>::from_name(level)
        .ok_or_else(|| PyValueError::new_err(format!("unknown log level {level:?}")))?;
    log::write(level, message);
    Ok(())
}

/// The core's defaults for every core setting but `bind`, as `Config.to_core()` spells
/// them (the drift test compares them with `ferrule.settings`').
#[pyfunction]
fn core_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = settings::to_dict(py, &crate::config::Config::default())?;
    d.del_item("bind")?;
    Ok(d)
}

/// `settings` converted to the core's `Config` and back (the drift test checks that every
/// setting arrives where it is meant to).
#[pyfunction]
fn core_round_trip<'py>(
    py: Python<'py>,
    settings: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    settings::to_dict(py, &config_from(settings)?)
}

#[pymodule]
fn _ferrule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CORE_SETTINGS", PyTuple::new(py, CORE_SETTINGS)?)?;
    m.add("CORE_CHOICES", settings::core_choices(py)?)?;
    m.add(
        "RequestBodyError",
        py.get_type::<wsgi::input::RequestBodyError>(),
    )?;
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_function(wrap_pyfunction!(log_line, m)?)?;
    m.add_function(wrap_pyfunction!(core_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(core_round_trip, m)?)?;
    m.add_class::<Input>()?;
    m.add_class::<ErrorStream>()?;
    m.add_class::<FileWrapper>()?;
    m.add_class::<watch::Inotify>()?;
    m.add_class::<wsgi::start_response::StartResponse>()?;
    m.add_class::<wsgi::start_response::EarlyHints>()?;
    Ok(())
}
