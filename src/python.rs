//! The `ferrule._ferrule` extension module: `serve(app, settings)` and the classes the
//! environ exposes. Startup glue only: settings become a typed `Config` here, errors
//! become Python exceptions here, and everything else is delegated.

use std::num::NonZeroUsize;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::config::{BindSpec, Config, LogConfig, Timeouts};
use crate::http::Limits;
use crate::log::{self, Level};
use crate::pool::Pool;
use crate::wsgi::{self, error_stream::ErrorStream, file_wrapper::FileWrapper, input::Input};
use crate::{listener, server};

/// The settings the core reads, by name. `python/ferrule/settings.py` marks the same
/// names `core=True`; a test keeps the two equal.
pub const CORE_SETTINGS: &[&str] = &[
    "bind",
    "threads",
    "root_path",
    "access_log",
    "access_log_format",
    "error_log",
    "log_level",
    "max_request_line_bytes",
    "max_header_count",
    "max_header_bytes",
    "max_head_bytes",
    "max_body_bytes",
    "max_connections",
    "backlog",
    "header_timeout",
    "body_timeout",
    "keepalive_timeout",
    "send_timeout",
];

/// The settings dict as Python hands it over (already validated there).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct PyConfig {
    bind: Vec<String>,
    threads: usize,
    root_path: String,
    access_log: Option<String>,
    access_log_format: String,
    error_log: String,
    log_level: String,
    max_request_line_bytes: usize,
    max_header_count: usize,
    max_header_bytes: usize,
    max_head_bytes: usize,
    max_body_bytes: u64,
    max_connections: usize,
    backlog: u32,
    header_timeout: f64,
    body_timeout: f64,
    keepalive_timeout: f64,
    send_timeout: f64,
}

fn duration(name: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a non-negative number of seconds, got {secs}")))
}

impl PyConfig {
    fn into_config(self) -> PyResult<Config> {
        let binds = self
            .bind
            .iter()
            .map(|b| BindSpec::parse(b).map_err(PyValueError::new_err))
            .collect::<PyResult<Vec<_>>>()?;
        if binds.is_empty() {
            return Err(PyValueError::new_err("bind must name at least one address"));
        }
        let threads = NonZeroUsize::new(self.threads)
            .ok_or_else(|| PyValueError::new_err(format!("threads must be >= 1, got {}", self.threads)))?;
        Ok(Config {
            binds,
            threads,
            root_path: self.root_path,
            limits: Limits {
                max_request_line_bytes: self.max_request_line_bytes,
                max_header_count: self.max_header_count,
                max_header_bytes: self.max_header_bytes,
                max_head_bytes: self.max_head_bytes,
                max_body_bytes: self.max_body_bytes,
            },
            timeouts: Timeouts {
                header: duration("header_timeout", self.header_timeout)?,
                body: duration("body_timeout", self.body_timeout)?,
                keepalive: duration("keepalive_timeout", self.keepalive_timeout)?,
                send: duration("send_timeout", self.send_timeout)?,
            },
            max_connections: self.max_connections,
            backlog: self.backlog,
            log: LogConfig {
                access_log: self.access_log,
                access_log_format: self.access_log_format,
                error_log: self.error_log,
                level: Level::parse(&self.log_level).map_err(PyValueError::new_err)?,
            },
        })
    }
}

fn bind_error(py: Python<'_>, message: String) -> PyErr {
    match py.import("ferrule.errors").and_then(|m| m.getattr("BindError")) {
        Ok(cls) => match cls.call1((message.clone(),)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(err) => err,
        },
        Err(_) => pyo3::exceptions::PyOSError::new_err(message),
    }
}

/// Serves `app` until SIGTERM or SIGINT, then stops gracefully and returns. Blocks; the
/// GIL is released while serving.
#[pyfunction]
fn serve(py: Python<'_>, app: Py<PyAny>, settings: &Bound<'_, PyDict>) -> PyResult<()> {
    for key in settings.keys() {
        let key: String = key.extract()?;
        if !CORE_SETTINGS.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!("unknown core setting {key:?}")));
        }
    }
    let config = settings.extract::<PyConfig>()?.into_config()?;
    log::init(&config.log).map_err(pyo3::exceptions::PyOSError::new_err)?;

    // 1. Bind every address before anything else, so a bad one fails fast.
    let mut listeners = Vec::with_capacity(config.binds.len());
    for spec in &config.binds {
        listeners.push(listener::bind(spec, config.backlog).map_err(|e| bind_error(py, e.to_string()))?);
    }
    // 2. Start the Python threads.
    let ctx = wsgi::Context::new(py, app, &config.root_path, config.threads.get() > 1)?;
    let (dispatcher, pool) = Pool::start(ctx, config.threads.get())
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot start the Python threads: {e}")))?;
    let threads = config.threads;
    let unix_paths: Vec<std::path::PathBuf> = listeners
        .iter()
        .filter_map(|l| match l {
            listener::Listener::Unix(_, path) => Some(path.clone()),
            listener::Listener::Tcp(_) => None,
        })
        .collect();
    // 3. Serve on one event loop, with the GIL released, until a stop signal.
    // GIL: released for the whole life of the server; the pool threads take it per job.
    let result = py.detach(move || -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the event loop: {e}"))?;
        // The stop signals are installed before "listening on" is logged, so a SIGTERM
        // sent as soon as the server says it listens stops it gracefully.
        let stop = {
            let _runtime = runtime.enter();
            stop_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?
        };
        for l in &listeners {
            log::write(Level::Info, &format!("listening on {}", l.describe()));
        }
        log::write(
            Level::Info,
            &format!("ferrule {} serving with {threads} thread(s), pid {}", env!("CARGO_PKG_VERSION"), std::process::id()),
        );
        let outcome = runtime.block_on(async {
            server::run(listeners, std::sync::Arc::new(dispatcher), &config, stop)
                .await
                .map_err(|e| format!("server failed: {e}"))
        });
        // 4. Close the job queue (the dispatcher was moved into the server and is
        // dropped with it), then wait for the threads to finish their jobs.
        drop(runtime);
        pool.join();
        // 5. Remove the unix socket files this server created; nobody can connect to
        // them any more. A file that is gone already needs nothing.
        for path in &unix_paths {
            let _ = std::fs::remove_file(path);
        }
        outcome
    });
    log::write(Level::Info, "stopped");
    result.map_err(pyo3::exceptions::PyOSError::new_err)
}

/// Completes on the first SIGTERM or SIGINT.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => log::write(Level::Info, "received SIGTERM"),
            _ = int.recv() => log::write(Level::Info, "received SIGINT"),
        }
    })
}

#[pymodule]
fn _ferrule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CORE_SETTINGS", pyo3::types::PyTuple::new(m.py(), CORE_SETTINGS)?)?;
    m.add("RequestBodyError", m.py().get_type::<wsgi::input::RequestBodyError>())?;
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_class::<Input>()?;
    m.add_class::<ErrorStream>()?;
    m.add_class::<FileWrapper>()?;
    m.add_class::<wsgi::start_response::StartResponse>()?;
    Ok(())
}
