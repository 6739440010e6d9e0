//! The worker process, from fork to exit, without Python: it switches to its user and
//! group, sets its scheduling policy, starts the app side (`AppHost`), serves its
//! listeners on one event loop (`server::run`), beats and asks to be recycled over its
//! pipe to the master, and stops on a graceful stop (TERM: drain) or an immediate one
//! (INT, QUIT). What runs the app (Python threads and a WSGI app today) is the `AppHost`'s
//! business; where stop requests come from is `Signals`'.
//!
//! Phases: `Booting → Serving → Draining → Exited`, logged at debug level
//! (`worker phase: Serving`) and kept in order by `Worker::phases` (`tests/worker.rs`).

pub mod heartbeat;
pub mod identity;
mod pipe;
pub mod recycle;
pub mod scheduling;
mod signals;

use std::num::NonZeroU64;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::bridge::Handler;
use crate::config::Config;
use crate::listener::Listener;
use crate::log::{self, Level};
use crate::server;
use crate::tls::ServerTls;
use recycle::{Recycle, RequestLimit};

pub use pipe::{MasterPipe, Message};
pub use signals::{OsSignals, Signals, StopFuture, Stops};

/// Exit code of a worker that could not start for another reason than loading the app
/// (gunicorn's `WORKER_BOOT_ERROR`). The master stops rather than respawn it.
pub const WORKER_BOOT_ERROR: i32 = 3;
/// Exit code of a worker that could not load the app (gunicorn's `APP_LOAD_ERROR`).
pub const APP_LOAD_ERROR: i32 = 4;

/// How long a stopping worker waits for a job that is stuck past `request_timeout` before
/// it exits without it. 1 s, chosen without measurement: such a job has already had its
/// timeout and its grace.
const STUCK_JOB_WAIT: Duration = Duration::from_secs(1);

/// A worker's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Forked: switching user, starting the app side.
    Booting,
    /// Accepting and serving.
    Serving,
    /// Told to stop gracefully: no new connections; finishing what it has.
    Draining,
    /// Done; the process exits with `Exit::code`.
    Exited,
}

/// Why the app side could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootError {
    /// The app could not be loaded; the host has reported why (with the app's traceback).
    AppLoad,
    /// Anything else, described.
    Failed(String),
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// After a graceful stop, every job finished.
    Stopped,
    /// After an immediate stop (INT, QUIT).
    StoppedAtOnce,
    /// The app side could not start.
    BootFailed(BootError),
    /// Serving failed (the event loop or a listener could not be set up).
    Failed(String),
    /// After a graceful stop, with a job still running past `request_timeout`: the process
    /// must exit without touching the app side again (a thread may hold the GIL for good).
    Abandoned,
}

impl Exit {
    /// The process exit code.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Stopped | Exit::StoppedAtOnce | Exit::Abandoned => 0,
            Exit::BootFailed(BootError::AppLoad) => APP_LOAD_ERROR,
            Exit::BootFailed(BootError::Failed(_)) => WORKER_BOOT_ERROR,
            Exit::Failed(_) => 1,
        }
    }
}

/// The app side of a worker: the seam between the worker process and an app interface
/// (the WSGI thread pool today, an ASGI event loop next).
pub trait AppHost {
    type Handler: Handler;

    /// Loads the app and starts what runs it. Called once, after the user switch and the
    /// scheduling policy, so app code runs with the worker's identity and threads inherit
    /// the policy.
    ///
    /// # Errors
    /// The app cannot be loaded, or its runner cannot start.
    fn start(&mut self) -> Result<Self::Handler, BootError>;

    /// Runs `serve` with the app side free to run beside it (Python: the GIL released) and
    /// returns how it ended. After `Exit::Abandoned` the app side must not be touched
    /// again (a thread may hold the GIL for good): a host may end the process right there.
    fn detached(&mut self, serve: impl FnOnce() -> Exit + Send) -> Exit;
}

/// One worker process. See the module docs.
pub struct Worker<A, S> {
    /// Names the worker in log lines.
    number: u32,
    config: Config,
    listeners: Vec<Listener>,
    /// TLS for the TCP listeners, loaded by the master.
    tls: Option<ServerTls>,
    pipe: Arc<MasterPipe>,
    app: A,
    /// Taken by `run`.
    signals: Option<S>,
    phases: Arc<PhaseLog>,
}

impl<A: AppHost, S: Signals> Worker<A, S> {
    pub fn new(
        number: u32,
        config: Config,
        listeners: Vec<Listener>,
        pipe: MasterPipe,
        app: A,
        signals: S,
    ) -> Self {
        Worker {
            number,
            config,
            listeners,
            tls: None,
            pipe: Arc::new(pipe),
            app,
            signals: Some(signals),
            phases: Arc::new(PhaseLog::default()),
        }
    }

    /// Serves the TCP listeners over TLS with `tls` (loaded by the master).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.tls = tls;
        self
    }

    /// Every phase the worker has been in, in order.
    pub fn phases(&self) -> Vec<Phase> {
        self.phases.list()
    }

    /// The app side (tests read what their fake recorded).
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Boots, serves until a stop, and says how it ended. Runs once; the caller exits the
    /// process with `Exit::code`.
    pub fn run(&mut self) -> Exit {
        self.phases.enter(Phase::Booting);
        let exit = self.boot_and_serve();
        self.phases.enter(Phase::Exited);
        match &exit {
            Exit::Stopped => log::write(Level::Info, "worker stopped"),
            Exit::StoppedAtOnce => log::write(Level::Info, "worker stopped at once (quick stop)"),
            Exit::Abandoned | Exit::BootFailed(BootError::AppLoad) => {}
            Exit::BootFailed(BootError::Failed(why)) => {
                log_at!(Level::Critical, "worker could not boot: {why}");
            }
            Exit::Failed(why) => log_at!(Level::Error, "worker failed: {why}"),
        }
        exit
    }

    fn boot_and_serve(&mut self) -> Exit {
        let Worker {
            number,
            config,
            listeners,
            tls,
            pipe,
            app,
            signals,
            phases,
        } = self;
        // Step 1: the worker's identity, before any app code runs.
        if let Err(err) = identity::switch(config.process.user, config.process.group) {
            return Exit::BootFailed(BootError::Failed(format!(
                "cannot switch user/group: {err}"
            )));
        }
        // Step 2: the scheduling policy, inherited by every thread made from here on.
        scheduling::apply(config.sched_policy);
        // Step 3: the app side.
        let handler = match app.start() {
            Ok(handler) => handler,
            Err(err) => return Exit::BootFailed(err),
        };
        // Step 4: serve, with the app side free to run, until a stop.
        let Some(signals) = signals.take() else {
            return Exit::Failed("Worker::run called twice".to_owned());
        };
        let serving = Serving {
            number: *number,
            config,
            listeners: std::mem::take(listeners),
            tls: tls.clone(),
            pipe: Arc::clone(pipe),
            phases: Arc::clone(phases),
        };
        app.detached(move || serving.run(handler, signals))
    }
}

/// What the serving part of `run` needs, moved to where the app side is detached.
struct Serving<'a> {
    number: u32,
    config: &'a Config,
    listeners: Vec<Listener>,
    tls: Option<ServerTls>,
    pipe: Arc<MasterPipe>,
    phases: Arc<PhaseLog>,
}

/// How serving stopped.
enum Stopped {
    Gracefully,
    AtOnce,
}

impl Serving<'_> {
    fn run<H: Handler, S: Signals>(self, handler: H, signals: S) -> Exit {
        let Serving {
            number,
            config,
            listeners,
            tls,
            pipe,
            phases,
        } = self;
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(err) => return Exit::Failed(format!("cannot start the event loop: {err}")),
        };
        let handler = Arc::new(handler);
        let recycle = Recycle::draw(&config.process);
        let taken = Arc::new(AtomicU64::new(0));
        let stopped = runtime.block_on(async {
            let stops = signals
                .listen()
                .map_err(|e| format!("cannot install signal handlers: {e}"))?;
            tokio::spawn(heartbeat::run(
                Arc::clone(&pipe),
                heartbeat::interval(config.timeouts.worker),
                Arc::clone(&taken),
                recycle,
                Arc::clone(&handler),
            ));
            pipe.send(Message::Ready);
            phases.enter(Phase::Serving);
            log::write(
                Level::Info,
                &format!(
                    "ferrule {} worker {number} serving with {}, pid {}",
                    env!("CARGO_PKG_VERSION"),
                    handler
                        .describe()
                        .unwrap_or_else(|| format!("{} thread(s)", config.threads)),
                    std::process::id()
                ),
            );
            let limited = Arc::new(RequestLimit {
                inner: Arc::clone(&handler),
                taken,
                limit: recycle
                    .max_requests
                    .and_then(NonZeroU64::new)
                    .map(|max| (max, Arc::clone(&pipe))),
            });
            let graceful = async {
                stops.graceful.await;
                phases.enter(Phase::Draining);
            };
            tokio::select! {
                served = server::run(listeners, tls, limited, config, graceful) => served
                    .map(|()| Stopped::Gracefully)
                    .map_err(|e| format!("server failed: {e}")),
                () = stops.quick => Ok(Stopped::AtOnce),
            }
        });
        match stopped {
            Err(why) => return Exit::Failed(why),
            Ok(Stopped::AtOnce) => return Exit::StoppedAtOnce,
            Ok(Stopped::Gracefully) => {}
        }
        // Step 5: the event loop and its tasks are gone, and with them every other
        // reference to the handler: stop it, letting running jobs finish.
        drop(runtime);
        match Arc::try_unwrap(handler).map(|handler| handler.shut_down(STUCK_JOB_WAIT)) {
            Ok(true) => Exit::Stopped,
            Ok(false) => {
                log::write(
                    Level::Error,
                    "worker exits with a request still running past request_timeout",
                );
                Exit::Abandoned
            }
            Err(_) => {
                log_at!(Level::Error, "the app side is still referenced after the event loop stopped; not waiting for it");
                Exit::Stopped
            }
        }
    }
}

/// The phases a worker went through; each change is logged.
#[derive(Debug, Default)]
struct PhaseLog(Mutex<Vec<Phase>>);

impl PhaseLog {
    fn enter(&self, phase: Phase) {
        log_at!(Level::Debug, "worker phase: {phase:?}");
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(phase);
    }

    fn list(&self) -> Vec<Phase> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
