//! The `ferrule._ferrule` extension module: `serve(app, settings)` and the classes the
//! environ exposes. Startup glue only: settings become a typed `Config` here, errors
//! become Python exceptions here, the master's fork hooks and the worker's body (app,
//! threads, event loop) live here, and everything else is delegated to `supervisor`.

use std::num::NonZeroUsize;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::config::{BindSpec, Config, LogConfig, ProcessConfig, SchedPolicy, Sendfile, Timeouts};
use crate::http::Limits;
use crate::log::{self, Level};
use crate::pool::Pool;
use crate::supervisor::fork::{ForkHooks, ForkSpawner};
use crate::supervisor::worker::{self, Link, Recycle};
use crate::supervisor::{self, title, Outcome, Supervisor, SupervisorError, WorkerSpec};
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
    "graceful_timeout",
    "worker_timeout",
    "workers",
    "max_requests",
    "max_requests_jitter",
    "max_worker_lifetime",
    "max_worker_lifetime_jitter",
    "max_worker_memory",
    "proc_name",
    "request_timeout",
    "pid_file",
    "user",
    "group",
    "reuse_port",
    "unix_socket_mode",
    "sendfile",
    "sched_policy",
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
    graceful_timeout: f64,
    worker_timeout: f64,
    workers: usize,
    /// 0: off.
    max_requests: u64,
    max_requests_jitter: u64,
    /// None: off.
    max_worker_lifetime: Option<f64>,
    max_worker_lifetime_jitter: f64,
    /// None: off.
    max_worker_memory: Option<u64>,
    proc_name: Option<String>,
    /// None: off.
    request_timeout: Option<f64>,
    pid_file: Option<String>,
    /// Already resolved from a name by Python.
    user: Option<u32>,
    group: Option<u32>,
    reuse_port: bool,
    unix_socket_mode: Option<u32>,
    /// "auto", "on" or "off" (checked by Python).
    sendfile: String,
    /// "batch" or "normal" (checked by Python).
    sched_policy: String,
}

fn duration(name: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds, got {secs}"
        ))
    })
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
        let threads = NonZeroUsize::new(self.threads).ok_or_else(|| {
            PyValueError::new_err(format!("threads must be >= 1, got {}", self.threads))
        })?;
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
                graceful: duration("graceful_timeout", self.graceful_timeout)?,
                worker: duration("worker_timeout", self.worker_timeout)?,
                request: self
                    .request_timeout
                    .map(|secs| duration("request_timeout", secs))
                    .transpose()?,
            },
            max_connections: self.max_connections,
            backlog: self.backlog,
            sched_policy: match self.sched_policy.as_str() {
                "batch" => SchedPolicy::Batch,
                "normal" => SchedPolicy::Normal,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "sched_policy must be batch or normal, got {other:?}"
                    )))
                }
            },
            sendfile: match self.sendfile.as_str() {
                "on" => Sendfile::On,
                "off" => Sendfile::Off,
                "auto" => Sendfile::Auto,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "sendfile must be auto, on or off, got {other:?}"
                    )))
                }
            },
            log: LogConfig {
                access_log: self.access_log,
                access_log_format: self.access_log_format,
                error_log: self.error_log,
                level: Level::parse(&self.log_level).map_err(PyValueError::new_err)?,
            },
            process: ProcessConfig {
                workers: NonZeroUsize::new(self.workers).ok_or_else(|| {
                    PyValueError::new_err(format!("workers must be >= 1, got {}", self.workers))
                })?,
                max_requests: (self.max_requests > 0).then_some(self.max_requests),
                max_requests_jitter: self.max_requests_jitter,
                max_worker_lifetime: self
                    .max_worker_lifetime
                    .map(|secs| duration("max_worker_lifetime", secs))
                    .transpose()?,
                max_worker_lifetime_jitter: duration(
                    "max_worker_lifetime_jitter",
                    self.max_worker_lifetime_jitter,
                )?,
                max_worker_memory: self.max_worker_memory,
                proc_name: self.proc_name.unwrap_or_default(),
                pid_file: self.pid_file.map(std::path::PathBuf::from),
                user: self.user,
                group: self.group,
                reuse_port: self.reuse_port,
                unix_socket_mode: self.unix_socket_mode,
            },
        })
    }
}

fn bind_error(py: Python<'_>, message: String) -> PyErr {
    ferrule_error(py, "BindError", message.clone())
        .unwrap_or_else(|| pyo3::exceptions::PyOSError::new_err(message))
}

/// An instance of `ferrule.errors.<name>(message)`, or `None` when that module cannot be
/// imported (a broken install).
fn ferrule_error(py: Python<'_>, name: &str, message: String) -> Option<PyErr> {
    let cls = py
        .import("ferrule.errors")
        .and_then(|m| m.getattr(name))
        .ok()?;
    Some(match cls.call1((message,)) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    })
}

/// Serves until SIGTERM, SIGINT or SIGQUIT, as a master with `workers` forked worker
/// processes, then stops and returns. Blocks.
///
/// Each worker serves `app` when it is given (imported before the fork: `--preload` and
/// `ferrule.serve()`), otherwise the app `load()` returns in the worker. `reload()`, when
/// given, returns the re-read settings on SIGHUP. `name` goes in process titles.
/// `upgrade` is `(program, argv, directory)` to start a new master with on SIGUSR2.
/// `watch()`, when given (`--reload`), returns True when source files changed.
#[pyfunction]
#[pyo3(signature = (app, settings, *, load=None, reload=None, name=None, upgrade=None, watch=None))]
#[allow(clippy::too_many_arguments)] // keyword-only options of one Python call
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
) -> PyResult<()> {
    let config = config_from(settings)?;
    if app.is_none() && load.is_none() {
        return Err(PyValueError::new_err(
            "serve() needs an app or a load() callable",
        ));
    }
    log::init(&config.log).map_err(pyo3::exceptions::PyOSError::new_err)?;
    let label = if config.process.proc_name.is_empty() {
        name.unwrap_or_else(|| "app".to_owned())
    } else {
        config.process.proc_name.clone()
    };
    title::set(&format!("ferrule: master [{label}]"));
    let settings = supervisor_settings(&config);
    let hooks = PyHooks {
        py,
        app,
        load,
        reload,
        config: config.clone(),
        label,
        upgrade,
        watch,
    };
    let options = listener::ListenOptions {
        backlog: config.backlog,
        reuse_port: config.process.reuse_port,
        unix_socket_mode: config.process.unix_socket_mode,
    };
    let pid_file = config.process.pid_file.clone();
    if let Some(path) = &pid_file {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!(
                "cannot write --pid-file {}: {e}",
                path.display()
            ))
        })?;
    }
    let spawner = ForkSpawner::new(hooks, config.binds.clone(), options)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    let mut master = Supervisor::new(settings, spawner);
    let outcome = master.run();
    drop(master);
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
        Ok(Outcome::BootFailed { code }) => {
            let app_load = code == supervisor::APP_LOAD_ERROR;
            let message = if app_load {
                "A worker could not import the app; its traceback is above.".to_owned()
            } else {
                "A worker could not start; its error is above.".to_owned()
            };
            let err = ferrule_error(py, "WorkerBootError", message.clone())
                .unwrap_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(message));
            err.value(py).setattr("app_load", app_load)?;
            Err(err)
        }
        Err(SupervisorError::Bind(err)) => Err(bind_error(py, err.to_string())),
        Err(err) => Err(pyo3::exceptions::PyOSError::new_err(err.to_string())),
    }
}

fn config_from(settings: &Bound<'_, PyDict>) -> PyResult<Config> {
    for key in settings.keys() {
        let key: String = key.extract()?;
        if !CORE_SETTINGS.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "unknown core setting {key:?}"
            )));
        }
    }
    settings.extract::<PyConfig>()?.into_config()
}

fn supervisor_settings(config: &Config) -> supervisor::Settings {
    supervisor::Settings {
        workers: config.process.workers,
        graceful_timeout: config.timeouts.graceful,
        worker_timeout: config.timeouts.worker,
    }
}

/// The master's Python side: the fork hooks, the worker's body, and reloading settings.
struct PyHooks<'py> {
    py: Python<'py>,
    app: Option<Py<PyAny>>,
    load: Option<Py<PyAny>>,
    reload: Option<Py<PyAny>>,
    config: Config,
    label: String,
    /// How to start a new master on USR2: program, argv, directory.
    upgrade: Option<(
        std::ffi::OsString,
        Vec<std::ffi::OsString>,
        std::path::PathBuf,
    )>,
    /// `--reload`: says whether watched files changed.
    watch: Option<Py<PyAny>>,
}

impl ForkHooks for PyHooks<'_> {
    fn while_waiting(&mut self, wait: &mut (dyn FnMut() + Send)) {
        // GIL: released while the master sleeps in poll(2); `ferrule.serve()` may run in a
        // program with other Python threads.
        self.py.detach(wait);
    }

    fn before_fork(&mut self) {
        // SAFETY: called with the GIL held (the master's only thread is attached), right
        // before fork(2), as the C API requires.
        unsafe { pyo3::ffi::PyOS_BeforeFork() }
    }

    fn after_fork_parent(&mut self) {
        // SAFETY: paired with `PyOS_BeforeFork` in the same thread, GIL held.
        unsafe { pyo3::ffi::PyOS_AfterFork_Parent() }
    }

    fn run_worker(
        &mut self,
        spec: WorkerSpec,
        listeners: Vec<listener::Listener>,
        link: Link,
    ) -> ! {
        // SAFETY: first thing in the child after fork(2), GIL held, as the C API requires.
        unsafe { pyo3::ffi::PyOS_AfterFork_Child() }
        title::set(&format!("ferrule: worker {} [{}]", spec.number, self.label));
        log_at!(Level::Debug, "worker phase: Booting");
        if let Err(err) = drop_privileges(self.config.process.user, self.config.process.group) {
            log_at!(Level::Critical, "cannot switch user/group: {err}");
            // SAFETY: ends this worker before it runs any app code.
            unsafe { libc::_exit(supervisor::WORKER_BOOT_ERROR) }
        }
        let code = self.worker_body(spec, listeners, link);
        // Python's buffered streams are flushed by hand: the worker ends with _exit, which
        // skips interpreter teardown (the master's state must not be finalised twice).
        let flushed = self.py.import("sys").and_then(|sys| {
            sys.getattr("stdout")?.call_method0("flush")?;
            sys.getattr("stderr")?.call_method0("flush")
        });
        // A stream that cannot be flushed has nowhere to report it.
        drop(flushed);
        log_at!(Level::Debug, "worker phase: Exited ({code})");
        // SAFETY: _exit ends this process without running the master's atexit handlers.
        unsafe { libc::_exit(code) }
    }

    fn files_changed(&mut self) -> bool {
        let Some(watch) = &self.watch else {
            return false;
        };
        match watch
            .call0(self.py)
            .and_then(|changed| changed.is_truthy(self.py))
        {
            Ok(changed) => changed,
            Err(err) => {
                log_at!(Level::Error, "--reload cannot check files: {err}");
                false
            }
        }
    }

    fn upgrade_command(
        &mut self,
    ) -> Option<(
        std::ffi::OsString,
        Vec<std::ffi::OsString>,
        std::path::PathBuf,
    )> {
        self.upgrade.clone()
    }

    fn reload(&mut self) -> Option<supervisor::Settings> {
        let reload = self.reload.as_ref()?;
        let fresh = reload
            .call0(self.py)
            .and_then(|settings| config_from(settings.bind(self.py).cast::<PyDict>()?));
        match fresh {
            Ok(config) => {
                if config.binds != self.config.binds {
                    log_at!(
                        Level::Warning,
                        "reload: bind changes need a restart (or USR2); keeping the old addresses"
                    );
                }
                self.config = Config {
                    binds: self.config.binds.clone(),
                    ..config
                };
                Some(supervisor_settings(&self.config))
            }
            Err(err) => {
                log_at!(Level::Error, "reload: keeping the current settings: {err}");
                None
            }
        }
    }
}

impl PyHooks<'_> {
    /// The worker: the app, the threads, the event loop, until TERM (graceful) or INT/QUIT
    /// (now). Returns the exit code.
    // One numbered start-up and shut-down sequence; split, it would read out of order.
    #[allow(clippy::too_many_lines)]
    fn worker_body(
        &mut self,
        spec: WorkerSpec,
        listeners: Vec<listener::Listener>,
        link: Link,
    ) -> i32 {
        let py = self.py;
        let config = self.config.clone();
        // Step 0: the scheduling policy, inherited by every thread made from here on.
        config.sched_policy.apply_to_this_thread();
        // Step 1: the app (imported here unless the master preloaded it).
        let app = match (&self.app, &self.load) {
            (Some(app), _) => app.clone_ref(py),
            (None, Some(load)) => match load.call0(py) {
                Ok(app) => app,
                Err(err) => {
                    let app_load = py
                        .import("ferrule.errors")
                        .and_then(|m| m.getattr("AppImportError"))
                        .is_ok_and(|cls| err.is_instance(py, &cls));
                    if app_load {
                        // load() has reported it.
                        return supervisor::APP_LOAD_ERROR;
                    }
                    err.print(py);
                    return supervisor::WORKER_BOOT_ERROR;
                }
            },
            (None, None) => return supervisor::WORKER_BOOT_ERROR,
        };
        // Step 2: the Python threads.
        let started = wsgi::Context::new(py, app, &config.root_path, config.threads.get() > 1)
            .and_then(|ctx| {
                Pool::start(ctx, config.threads.get(), config.timeouts.request).map_err(|e| {
                    pyo3::exceptions::PyOSError::new_err(format!(
                        "cannot start the Python threads: {e}"
                    ))
                })
            });
        let (dispatcher, pool) = match started {
            Ok(started) => started,
            Err(err) => {
                err.print(py);
                return supervisor::WORKER_BOOT_ERROR;
            }
        };
        let stuck = pool.stuck();
        let recycle = Recycle {
            max_requests: config
                .process
                .max_requests
                .map(|n| n + worker::jitter(config.process.max_requests_jitter)),
            max_lifetime: config.process.max_worker_lifetime.map(|d| {
                let extra = u64::try_from(config.process.max_worker_lifetime_jitter.as_millis())
                    .unwrap_or(u64::MAX);
                d + Duration::from_millis(worker::jitter(extra))
            }),
            max_memory: config.process.max_worker_memory,
        };
        // Step 3: serve on one event loop, with the GIL released, until a stop signal.
        // GIL: released for the whole life of the worker; the pool threads take it per job.
        let result = py.detach(move || -> Result<bool, String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the event loop: {e}"))?;
            let link = std::sync::Arc::new(link);
            let jobs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let quick = runtime.block_on(async {
                let signals = WorkerSignals::install()
                    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
                // 4 beats per worker_timeout, at least one a second: a missed beat or two
                // is not yet a timeout.
                let interval = (config.timeouts.worker / 4)
                    .min(Duration::from_secs(1))
                    .max(Duration::from_millis(10));
                tokio::spawn(worker::beat(
                    std::sync::Arc::clone(&link),
                    interval,
                    std::sync::Arc::clone(&jobs),
                    recycle,
                    stuck,
                ));
                link.send(worker::MSG_READY);
                log_at!(Level::Debug, "worker phase: Serving");
                log::write(
                    Level::Info,
                    &format!(
                        "ferrule {} worker {} serving with {} thread(s), pid {}",
                        env!("CARGO_PKG_VERSION"),
                        spec.number,
                        config.threads,
                        std::process::id()
                    ),
                );
                let limit = recycle
                    .max_requests
                    .map(|max| (max, std::sync::Arc::clone(&link)));
                let handler = std::sync::Arc::new(worker::Counted {
                    inner: dispatcher,
                    jobs,
                    limit,
                });
                let (graceful, quick) = signals.split();
                tokio::select! {
                    served = server::run(listeners, handler, &config, graceful) => {
                        served.map_err(|e| format!("server failed: {e}")).map(|()| false)
                    }
                    () = quick => Ok(true),
                }
            })?;
            if quick {
                return Ok(true);
            }
            // Step 4: close the job queue (the dispatcher was moved into the server and is
            // dropped with it), then wait for the threads to finish their jobs.
            drop(runtime);
            // A thread stuck past its RequestTimeout is left behind: the process exits.
            // That thread may hold the GIL for good (a loop in C), so the worker exits
            // here, without attaching again.
            if !pool.join(Duration::from_secs(1)) {
                log::write(
                    Level::Error,
                    "worker exits with a request still running past request_timeout",
                );
                // SAFETY: _exit ends the process at once; nothing else needs to run.
                unsafe { libc::_exit(0) }
            }
            Ok(false)
        });
        match result {
            Ok(true) => {
                log::write(Level::Info, "worker stopped at once (quick stop)");
                0
            }
            Ok(false) => {
                log::write(Level::Info, "worker stopped");
                0
            }
            Err(err) => {
                log_at!(Level::Error, "worker failed: {err}");
                1
            }
        }
    }
}

/// Switches the worker to `--group` then `--user` (the group first: after setuid the
/// process may no longer change groups). Supplementary groups are reduced to `group`.
fn drop_privileges(user: Option<u32>, group: Option<u32>) -> std::io::Result<()> {
    // Without --group, the user's primary group (as gunicorn does).
    // SAFETY: getpwuid returns NULL or a pointer valid until the next call; this process
    // has one thread (just forked).
    let group = group.or_else(|| {
        user.and_then(|uid| unsafe {
            let entry = libc::getpwuid(uid);
            (!entry.is_null()).then(|| (*entry).pw_gid)
        })
    });
    // SAFETY: plain system calls on this process's credentials.
    unsafe {
        if let Some(gid) = group {
            if libc::setgroups(1, &raw const gid) != 0 || libc::setgid(gid) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if let Some(uid) = user {
            if libc::setuid(uid) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// A worker's signals: TERM stops gracefully, INT and QUIT at once, USR1 reopens logs.
struct WorkerSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl WorkerSignals {
    fn install() -> std::io::Result<WorkerSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr1 = signal(SignalKind::user_defined1())?;
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                match log::reopen() {
                    Ok(()) => log::write(Level::Info, "reopened the log files"),
                    Err(err) => log_at!(Level::Error, "{err}"),
                }
            }
        });
        Ok(WorkerSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// The graceful stop (TERM) and the quick stop (INT, QUIT) as two futures.
    fn split(
        self,
    ) -> (
        impl std::future::Future<Output = ()>,
        impl std::future::Future<Output = ()>,
    ) {
        let WorkerSignals {
            mut term,
            mut int,
            mut quit,
        } = self;
        let graceful = async move {
            term.recv().await;
            log::write(Level::Info, "received SIGTERM");
            log_at!(Level::Debug, "worker phase: Draining");
        };
        let quick = async move {
            tokio::select! {
                _ = int.recv() => log::write(Level::Info, "received SIGINT"),
                _ = quit.recv() => log::write(Level::Info, "received SIGQUIT"),
            }
        };
        (graceful, quick)
    }
}

#[pymodule]
fn _ferrule(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "CORE_SETTINGS",
        pyo3::types::PyTuple::new(m.py(), CORE_SETTINGS)?,
    )?;
    m.add(
        "RequestBodyError",
        m.py().get_type::<wsgi::input::RequestBodyError>(),
    )?;
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_class::<Input>()?;
    m.add_class::<ErrorStream>()?;
    m.add_class::<FileWrapper>()?;
    m.add_class::<wsgi::start_response::StartResponse>()?;
    Ok(())
}
