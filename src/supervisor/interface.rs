//! What the supervisor is told and what it tells: the master's and workers' phases, the
//! signals and events its loop handles, what it asks a worker to be (`WorkerSpec`,
//! `WorkerPlan`), the status it reports, and `Spawn`, the collaborator that does the OS
//! work (`fork::ForkSpawner`, or the fake in `tests/supervisor.rs`).

use std::fmt;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crate::worker::recycle::Limit;

/// A worker's process id.
pub type Pid = i32;

/// The master's lifecycle. Logged on every change; `Supervisor::phases` keeps the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Binding,
    Spawning,
    Running,
    Reloading,
    Draining,
    Stopped,
}

/// A worker's lifecycle as the master sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerPhase {
    /// Forked; has not said it serves yet (importing the app, starting threads).
    Booting,
    /// Accepting and serving.
    Serving,
    /// Told to stop (TERM or QUIT); finishing what it has.
    Draining,
}

/// What the master tells a service manager (systemd's `Type=notify`): derived from its phase
/// changes in `Supervisor::enter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// The (new) generation serves: after start, and after a reload.
    Ready,
    /// A reload started (HUP, `--reload`).
    Reloading,
    /// The master stops (TERM, INT, QUIT, a boot failure).
    Stopping,
}

/// The signals the master handles, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    Term,
    Int,
    Quit,
    Hup,
    Ttin,
    Ttou,
    Usr1,
    Usr2,
    Chld,
}

/// What the master sends to a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// Graceful stop: stop accepting, finish in-flight requests, exit.
    Term,
    /// Quick stop: exit now.
    Quit,
    /// Reopen log files.
    Usr1,
    /// Not a request: the end.
    Kill,
}

/// How a process ended, as waitpid(2) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(sig) => write!(f, "signal {sig}"),
        }
    }
}

/// What `Spawn::wait` reports to the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Signal(Sig),
    /// The worker serves (sent once, after its accept loops started).
    Ready(Pid),
    /// The worker's event loop is alive.
    Beat(Pid),
    /// The worker asks to be replaced (it reached `max_requests`, its lifetime or its
    /// memory limit); it keeps serving until its replacement serves.
    Retire(Pid, Limit),
    Exited(Pid, ExitStatus),
    /// `--reload` saw a watched file change: reload as on HUP (logged as what it is).
    FilesChanged,
}

/// One worker to start: `number` names it in logs and its process title; `generation`
/// grows with every reload (HUP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerSpec {
    pub number: u32,
    pub generation: u32,
}

/// How many workers the master keeps and how long it gives them; `Spawn::reload` may hand
/// a new plan on HUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerPlan {
    /// Workers to keep running (`--workers`); TTIN/TTOU move it by one.
    pub workers: NonZeroUsize,
    /// How long a TERM'd worker may take to finish before it is killed.
    pub graceful_timeout: Duration,
    /// How long a serving worker may go without a heartbeat before it is killed.
    pub worker_timeout: Duration,
    /// After TERM, how long the workers keep serving while `/readyz` says 503, before they
    /// are told to stop (`shutdown_delay`).
    pub shutdown_delay: Duration,
}

/// Why a worker exited: the `reason` label of `ferrule_worker_exits_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// It was told to stop (TERM, QUIT, a reload, recycling, fewer workers) and did.
    Stopped,
    /// It was told to stop and was killed after its stop timeout.
    Killed,
    /// It was killed for missing its heartbeat (`worker_timeout`).
    Heartbeat,
    /// It exited before serving, unasked (an app that cannot be imported).
    BootFailed,
    /// It died while serving, unasked: a crash, a signal, the OOM killer.
    Crashed,
}

impl ExitReason {
    pub const ALL: [ExitReason; 5] = [
        ExitReason::Stopped,
        ExitReason::Killed,
        ExitReason::Heartbeat,
        ExitReason::BootFailed,
        ExitReason::Crashed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExitReason::Stopped => "stopped",
            ExitReason::Killed => "killed",
            ExitReason::Heartbeat => "heartbeat",
            ExitReason::BootFailed => "boot_failed",
            ExitReason::Crashed => "crashed",
        }
    }
}

/// One worker in a `MasterStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerStatus {
    pub pid: Pid,
    pub number: u32,
    pub phase: WorkerPhase,
    /// Its last heartbeat (or when it started serving).
    pub last_beat: Instant,
}

/// What the master says of itself after every turn of its loop (`Spawn::publish`): what
/// `/readyz`, `/livez` and `/metrics` report and statsd sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterStatus {
    /// `None` when the current generation serves; otherwise why not (`booting`,
    /// `reloading`, `stopping`, `no worker serves`).
    pub not_ready: Option<&'static str>,
    /// How long a serving worker may go without a heartbeat (`liveness`).
    pub worker_timeout: Duration,
    pub workers: Vec<WorkerStatus>,
    /// Exits by reason (`ExitReason::ALL`'s order), recycles by limit (`Limit::ALL`'s).
    pub exits: Vec<(&'static str, u64)>,
    pub recycles: Vec<(&'static str, u64)>,
    pub reloads: u64,
}

impl MasterStatus {
    /// What `/livez` says at `now`: every serving worker has beaten within
    /// `worker_timeout`, or which one has not. Judged when asked, not when published, so a
    /// master whose loop lags still tells the truth about its workers.
    ///
    /// # Errors
    /// The first serving worker that missed its heartbeat, described.
    pub fn liveness(&self, now: Instant) -> Result<(), String> {
        match self.workers.iter().find(|w| {
            w.phase == WorkerPhase::Serving
                && now.saturating_duration_since(w.last_beat) > self.worker_timeout
        }) {
            None => Ok(()),
            Some(w) => Err(format!(
                "worker {} (pid {}) sent no heartbeat for {:?}",
                w.number,
                w.pid,
                now.saturating_duration_since(w.last_beat)
            )),
        }
    }
}

/// How the master ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by TERM, INT or QUIT.
    Stopped,
    /// A worker could not boot; `code` is its exit code (`APP_LOAD_ERROR` when the app could
    /// not be imported, `WORKER_BOOT_ERROR` otherwise).
    BootFailed { code: i32 },
    /// Replaced by a new master (USR2) that took the listening sockets over.
    Upgraded,
    /// A server hook that must succeed failed (`when_ready`); the workers were stopped.
    HookFailed(&'static str),
}

/// What stops the master from supervising at all.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Bind(#[from] crate::listener::BindError),
    #[error("cannot start a worker: {0}")]
    Spawn(std::io::Error),
    #[error("cannot set up the master: {0}")]
    Setup(std::io::Error),
}

/// The OS side of the master. `fork::ForkSpawner` is the real one; tests pass a fake.
pub trait Spawn {
    /// Binds (or inherits) the listening sockets and logs where it listens.
    ///
    /// # Errors
    /// An address that cannot be bound.
    fn bind(&mut self) -> Result<(), SupervisorError>;
    /// Starts one worker.
    ///
    /// # Errors
    /// fork(2) or pipe(2) failed.
    fn spawn(&mut self, spec: WorkerSpec) -> Result<Pid, SupervisorError>;
    /// Sends `kill` to a worker. A worker that is already gone is not an error.
    fn signal(&mut self, pid: Pid, kill: Kill);
    /// Waits up to `timeout` for events; may return none.
    fn wait(&mut self, timeout: Duration) -> Vec<Event>;
    /// Closes the master's copies of the listening sockets (the stop is final).
    fn close_listeners(&mut self);
    /// Reopens the master's log files (USR1).
    fn reopen_logs(&mut self);
    /// Re-reads the configuration (HUP); `None` keeps the current settings.
    fn reload(&mut self) -> Option<WorkerPlan>;
    /// Starts a new master that inherits the listening sockets (USR2).
    ///
    /// # Errors
    /// The new master could not be started.
    fn upgrade(&mut self) -> Result<Pid, SupervisorError>;
    /// Every first-generation worker serves. A master started by USR2 tells the old master
    /// to stop here.
    fn on_serving(&mut self);
    /// The master's state after a turn of its loop, for what reports it (health checks,
    /// metrics, statsd). Called before every `wait`.
    fn publish(&mut self, status: &MasterStatus) {
        // A spawner that reports nothing needs nothing.
        let _ = status;
    }
    /// Every first-generation worker serves (after `on_serving`): the `when_ready` hook.
    /// False stops the server (`Outcome::HookFailed`).
    fn when_ready(&mut self) -> bool {
        true
    }
    /// A worker exited and was reaped (the `child_exit` hook).
    fn worker_exited(&mut self, _spec: WorkerSpec, _pid: Pid) {}
    /// The number of workers to run changed: at start (`old` is None), on TTIN, TTOU, and a
    /// reload that changes it (the `nworkers_changed` hook).
    fn workers_changed(&mut self, _new: usize, _old: Option<usize>) {}
    /// The service's state changed (systemd's `sd_notify`). `Ready` comes before
    /// `on_serving`, so a master started by USR2 names itself the main process before it
    /// stops the old one.
    fn service_state(&mut self, _state: ServiceState) {}
}
