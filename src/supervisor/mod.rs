//! The master: binds through its `Spawn` collaborator, starts workers, and supervises them
//! through signals, heartbeats, recycling requests and exits. Owns the master's phases and
//! every decision about which worker starts or stops; the OS work (fork, pipes, kill,
//! waitpid, the signal self-pipe) is behind `Spawn`, implemented by `fork::ForkSpawner`.
//!
//! Design: a single-threaded loop, like gunicorn's arbiter. Signal handlers only enqueue;
//! `Spawn::wait` hands the loop `Event`s and the loop handles each by name. Because the
//! collaborator is an argument, `tests/supervisor.rs` drives the loop with a fake spawner.

pub mod fork;
mod interface;
mod observe;
pub mod sd_notify;
mod status;
pub mod watch;

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crate::log::Level;
use crate::worker::recycle::Limit;
use crate::worker::{APP_LOAD_ERROR, WORKER_BOOT_ERROR};

pub use interface::*;

/// 2 s: how long a QUIT'd worker gets before it is killed. Chosen without measurement;
/// a worker exits on QUIT at once unless its kernel threads are stuck.
const QUICK_TIMEOUT: Duration = Duration::from_secs(2);

/// 1 s: the longest the loop sleeps, so deadlines are checked at least this often.
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Worker {
    pid: Pid,
    spec: WorkerSpec,
    phase: WorkerPhase,
    last_beat: Instant,
    /// When the worker was told to stop: killed if still there at this instant.
    kill_at: Option<Instant>,
    /// The worker asked to be replaced.
    wants_retire: bool,
    /// This worker replaces the one with that pid, which is TERM'd once this one serves.
    replaces: Option<Pid>,
    /// Killed because it missed its heartbeat: replaced when it exits.
    timed_out: bool,
    /// Killed after its stop timeout.
    killed: bool,
}

/// The master's state machine. See the module docs.
pub struct Supervisor<S: Spawn> {
    plan: WorkerPlan,
    spawner: S,
    phase: Phase,
    phases: Vec<Phase>,
    workers: Vec<Worker>,
    next_number: u32,
    generation: u32,
    outcome: Outcome,
    /// The worker count the settings say (`plan.workers` before TTIN/TTOU moved it): a
    /// reload whose settings say the same keeps the moved count.
    configured_workers: NonZeroUsize,
    /// The plan and configured count in force before the reload under way, restored if
    /// it fails.
    plan_before_reload: Option<(WorkerPlan, NonZeroUsize)>,
    /// After TERM with a `shutdown_delay`: when the workers are told to stop.
    stop_at: Option<Instant>,
    /// Exits by `ExitReason`, recycles by `Limit`, reloads: for `MasterStatus`.
    exits: [u64; ExitReason::ALL.len()],
    recycles: [u64; Limit::ALL.len()],
    reloads: u64,
}

impl<S: Spawn> Supervisor<S> {
    pub fn new(plan: WorkerPlan, spawner: S) -> Supervisor<S> {
        Supervisor {
            plan,
            spawner,
            phase: Phase::Starting,
            phases: vec![Phase::Starting],
            workers: Vec::new(),
            next_number: 1,
            generation: 1,
            outcome: Outcome::Stopped,
            configured_workers: plan.workers,
            plan_before_reload: None,
            stop_at: None,
            exits: [0; ExitReason::ALL.len()],
            recycles: [0; Limit::ALL.len()],
            reloads: 0,
        }
    }

    /// What `publish` hands the spawner: readiness, workers (with their last beats, for
    /// `MasterStatus::liveness`) and counts.
    pub fn status(&self) -> MasterStatus {
        let serving = self
            .workers
            .iter()
            .any(|w| w.spec.generation == self.generation && w.phase == WorkerPhase::Serving);
        let not_ready = match self.phase {
            Phase::Running if serving => None,
            Phase::Running => Some("no worker serves"),
            Phase::Starting | Phase::Binding | Phase::Spawning => Some("booting"),
            Phase::Reloading => Some("reloading"),
            Phase::Draining | Phase::Stopped => Some("stopping"),
        };
        MasterStatus {
            not_ready,
            worker_timeout: self.plan.worker_timeout,
            workers: self
                .workers
                .iter()
                .map(|w| WorkerStatus {
                    pid: w.pid,
                    number: w.spec.number,
                    phase: w.phase,
                    last_beat: w.last_beat,
                })
                .collect(),
            exits: ExitReason::ALL
                .iter()
                .zip(self.exits)
                .map(|(r, n)| (r.name(), n))
                .collect(),
            recycles: Limit::ALL
                .iter()
                .zip(self.recycles)
                .map(|(l, n)| (l.name(), n))
                .collect(),
            reloads: self.reloads,
        }
    }

    /// Every phase the master has been in, in order.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The collaborator (tests read what the fake recorded).
    pub fn spawner(&self) -> &S {
        &self.spawner
    }

    /// Binds, starts the workers and supervises them until a stop signal (or a worker that
    /// cannot boot) ends it.
    ///
    /// # Errors
    /// Binding failed, or no worker could be forked.
    pub fn run(&mut self) -> Result<Outcome, SupervisorError> {
        log_at!(
            Level::Debug,
            "master phase: Starting (pid {})",
            std::process::id()
        );
        // Step 1: the sockets, before any worker exists, so a bad address fails fast.
        self.enter(Phase::Binding);
        self.spawner.bind()?;
        // Step 2: the first generation.
        self.enter(Phase::Spawning);
        self.spawner.workers_changed(self.plan.workers.get(), None);
        self.fill()?;
        // Step 3: supervise until the last worker is gone after a stop.
        while self.phase != Phase::Stopped {
            let status = self.status();
            self.spawner.publish(&status);
            let timeout = self.next_timeout(Instant::now());
            for event in self.spawner.wait(timeout) {
                self.on_event(event)?;
            }
            self.on_tick(Instant::now())?;
        }
        Ok(self.outcome)
    }

    fn enter(&mut self, phase: Phase) {
        if self.phase != phase {
            let state = match (self.phase, phase) {
                (Phase::Spawning | Phase::Reloading, Phase::Running) => Some(ServiceState::Ready),
                (_, Phase::Reloading) => Some(ServiceState::Reloading),
                (_, Phase::Draining) => Some(ServiceState::Stopping),
                _ => None,
            };
            self.phase = phase;
            self.phases.push(phase);
            // Before the sockets are bound there is nothing to report unless it fails.
            let level = if phase == Phase::Binding {
                Level::Debug
            } else {
                Level::Info
            };
            log_at!(level, "master phase: {phase:?}");
            if let Some(state) = state {
                self.spawner.service_state(state);
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Result<(), SupervisorError> {
        match event {
            Event::Signal(sig) => self.on_signal(sig),
            Event::Ready(pid) => {
                self.on_ready(pid);
                Ok(())
            }
            Event::Beat(pid) => {
                if let Some(w) = self.worker_mut(pid) {
                    w.last_beat = Instant::now();
                }
                Ok(())
            }
            Event::Retire(pid, limit) => self.on_retire(pid, limit),
            Event::Exited(pid, status) => self.on_exit(pid, status),
            Event::FilesChanged => self.handle_hup(),
        }
    }

    fn on_signal(&mut self, sig: Sig) -> Result<(), SupervisorError> {
        let level = if sig == Sig::Chld {
            Level::Debug
        } else {
            Level::Info
        };
        log_at!(level, "master received SIG{}", signal_name(sig));
        match sig {
            Sig::Term => self.handle_term(),
            Sig::Int | Sig::Quit => self.handle_quit(),
            Sig::Hup => return self.handle_hup(),
            Sig::Ttin => return self.handle_ttin(),
            Sig::Ttou => self.handle_ttou(),
            Sig::Usr1 => self.handle_usr1(),
            Sig::Usr2 => self.handle_usr2(),
            // Exits arrive as `Event::Exited`; the signal only woke the loop.
            Sig::Chld => {}
        }
        Ok(())
    }

    /// Graceful stop: readiness fails at once; after `shutdown_delay` (while load
    /// balancers notice and stop sending) every worker is TERM'd, and what remains after
    /// `graceful_timeout` is killed.
    fn handle_term(&mut self) {
        if self.phase == Phase::Draining {
            return;
        }
        let delay = self.plan.shutdown_delay;
        if delay.is_zero() {
            self.stop_all(Kill::Term, self.plan.graceful_timeout);
            return;
        }
        self.enter(Phase::Draining);
        log_at!(
            Level::Info,
            "not ready (/readyz answers 503); workers serve on for {delay:?} (shutdown_delay), then stop"
        );
        self.stop_at = Some(Instant::now() + delay);
    }

    /// Quick stop: QUIT every worker (also when a graceful stop is under way).
    fn handle_quit(&mut self) {
        self.stop_at = None;
        self.stop_all(Kill::Quit, QUICK_TIMEOUT);
    }

    /// Reload: re-read the settings, start a new generation, and TERM the old one once
    /// every new worker serves (`on_ready`).
    fn handle_hup(&mut self) -> Result<(), SupervisorError> {
        if !matches!(self.phase, Phase::Running | Phase::Reloading) {
            log_at!(Level::Warning, "reload ignored in phase {:?}", self.phase);
            return Ok(());
        }
        self.plan_before_reload = Some((self.plan, self.configured_workers));
        if let Some(mut plan) = self.spawner.reload() {
            // TTIN/TTOU's count survives a reload unless the settings now say another
            // number: then the operator's new number wins. (gunicorn's `Arbiter.setup`
            // sets `num_workers = cfg.workers` on every reload, losing the count.)
            if plan.workers == self.configured_workers {
                plan.workers = self.plan.workers;
            } else {
                self.configured_workers = plan.workers;
            }
            if plan.workers != self.plan.workers {
                self.spawner
                    .workers_changed(plan.workers.get(), Some(self.plan.workers.get()));
            }
            self.plan = plan;
        }
        self.reloads += 1;
        self.generation += 1;
        self.enter(Phase::Reloading);
        log_at!(
            Level::Info,
            "reloading: starting generation {}",
            self.generation
        );
        self.fill()
    }

    fn handle_ttin(&mut self) -> Result<(), SupervisorError> {
        if matches!(self.phase, Phase::Draining | Phase::Stopped) {
            return Ok(());
        }
        let old = self.plan.workers;
        self.plan.workers = self.plan.workers.saturating_add(1);
        log_at!(Level::Info, "workers: {} (one more)", self.plan.workers);
        self.spawner
            .workers_changed(self.plan.workers.get(), Some(old.get()));
        self.fill()
    }

    fn handle_ttou(&mut self) {
        if matches!(self.phase, Phase::Draining | Phase::Stopped) {
            return;
        }
        let Some(fewer) = NonZeroUsize::new(self.plan.workers.get() - 1) else {
            log_at!(
                Level::Info,
                "workers: 1 (TTOU ignored: at least one worker stays)"
            );
            return;
        };
        let old = self.plan.workers;
        self.plan.workers = fewer;
        log_at!(Level::Info, "workers: {fewer} (one fewer)");
        self.spawner.workers_changed(fewer.get(), Some(old.get()));
        self.trim();
    }

    fn handle_usr1(&mut self) {
        self.spawner.reopen_logs();
        let pids: Vec<Pid> = self.workers.iter().map(|w| w.pid).collect();
        for pid in pids {
            self.spawner.signal(pid, Kill::Usr1);
        }
    }

    fn handle_usr2(&mut self) {
        match self.spawner.upgrade() {
            Ok(pid) => log_at!(
                Level::Info,
                "started a new master (pid {pid}) with the listening sockets"
            ),
            Err(err) => log_at!(Level::Error, "upgrade failed: {err}"),
        }
    }

    fn on_ready(&mut self, pid: Pid) {
        let Some(w) = self.worker_mut(pid) else {
            return;
        };
        if w.phase != WorkerPhase::Booting {
            return;
        }
        w.phase = WorkerPhase::Serving;
        w.last_beat = Instant::now();
        let (number, replaces) = (w.spec.number, w.replaces.take());
        log_at!(Level::Info, "worker {number} (pid {pid}) serving");
        if let Some(old) = replaces {
            self.stop_worker(old, Kill::Term, "replaced");
        }
        let generation = self.generation;
        let booting = self
            .workers
            .iter()
            .any(|w| w.spec.generation == generation && w.phase == WorkerPhase::Booting);
        match self.phase {
            Phase::Spawning if !booting => {
                self.enter(Phase::Running);
                self.spawner.on_serving();
                if !self.spawner.when_ready() {
                    log_at!(Level::Critical, "the when_ready hook failed; stopping");
                    self.outcome = Outcome::HookFailed("when_ready");
                    self.stop_all(Kill::Term, self.plan.graceful_timeout);
                }
            }
            Phase::Reloading if !booting => {
                // The new generation serves: now the old one may stop.
                let old: Vec<Pid> = self
                    .workers
                    .iter()
                    .filter(|w| w.spec.generation < generation && w.phase != WorkerPhase::Draining)
                    .map(|w| w.pid)
                    .collect();
                for pid in old {
                    self.stop_worker(pid, Kill::Term, "reload");
                }
                self.enter(Phase::Running);
            }
            _ => {}
        }
    }

    /// Recycling: one worker at a time is replaced, and only once its replacement serves.
    fn on_retire(&mut self, pid: Pid, limit: Limit) -> Result<(), SupervisorError> {
        let Some(w) = self.worker_mut(pid) else {
            return Ok(());
        };
        let first = !w.wants_retire;
        w.wants_retire = true;
        if first {
            self.recycles[limit as usize] += 1;
        }
        self.start_next_retirement()
    }

    fn start_next_retirement(&mut self) -> Result<(), SupervisorError> {
        if self.phase != Phase::Running || self.workers.iter().any(|w| w.replaces.is_some()) {
            return Ok(());
        }
        let Some(old) = self
            .workers
            .iter()
            .find(|w| w.wants_retire && w.phase == WorkerPhase::Serving)
            .map(|w| (w.pid, w.spec.number))
        else {
            return Ok(());
        };
        log_at!(
            Level::Info,
            "worker {} (pid {}) is recycled; starting its replacement",
            old.1,
            old.0
        );
        let new = self.spawn_one()?;
        if let Some(w) = self.worker_mut(new) {
            w.replaces = Some(old.0);
        }
        Ok(())
    }

    fn on_exit(&mut self, pid: Pid, status: ExitStatus) -> Result<(), SupervisorError> {
        let Some(index) = self.workers.iter().position(|w| w.pid == pid) else {
            // Not a worker: a new master started by USR2 that failed; this one serves on.
            log_at!(Level::Error, "process {pid} exited ({status}); if it was a new master (USR2), this master keeps serving");
            return Ok(());
        };
        let w = self.workers.remove(index);
        self.spawner.worker_exited(w.spec, pid);
        let number = w.spec.number;
        let expected = w.phase == WorkerPhase::Draining && !w.timed_out;
        let reason = if w.timed_out {
            ExitReason::Heartbeat
        } else if w.killed {
            ExitReason::Killed
        } else if expected {
            ExitReason::Stopped
        } else if w.phase == WorkerPhase::Booting {
            ExitReason::BootFailed
        } else {
            ExitReason::Crashed
        };
        self.exits[reason as usize] += 1;
        if expected {
            log_at!(Level::Info, "worker {number} (pid {pid}) exited ({status})");
        } else if w.timed_out {
            log_at!(
                Level::Error,
                "worker {number} (pid {pid}) was killed after missing its heartbeat ({status})"
            );
        } else {
            log_at!(
                Level::Error,
                "worker {number} (pid {pid}) died unexpectedly ({status})"
            );
        }
        // A replacement that died before serving leaves its predecessor in place.
        for other in &mut self.workers {
            if other.replaces == Some(pid) {
                other.replaces = None;
            }
        }
        if w.phase == WorkerPhase::Booting
            && self.phase == Phase::Reloading
            && w.spec.generation == self.generation
        {
            // A reload with code or settings that do not boot must not take the site down:
            // the old generation serves on.
            self.abort_reload(number, pid, status);
            return Ok(());
        }
        if w.phase == WorkerPhase::Booting
            && !matches!(self.phase, Phase::Draining | Phase::Stopped)
        {
            // A worker that cannot boot would fail the same way again: stop instead of
            // looping (gunicorn's WORKER_BOOT_ERROR / APP_LOAD_ERROR).
            let code = match status {
                ExitStatus::Code(APP_LOAD_ERROR) => APP_LOAD_ERROR,
                _ => WORKER_BOOT_ERROR,
            };
            log_at!(
                Level::Critical,
                "worker {number} (pid {pid}) failed to boot; stopping"
            );
            self.outcome = Outcome::BootFailed { code };
            self.stop_all(Kill::Quit, QUICK_TIMEOUT);
        }
        match self.phase {
            Phase::Draining if self.workers.is_empty() => self.enter(Phase::Stopped),
            Phase::Spawning | Phase::Running | Phase::Reloading => {
                self.fill()?;
                self.start_next_retirement()?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Undoes a reload whose new generation could not boot: stops the new workers and goes
    /// back to the previous generation and settings.
    fn abort_reload(&mut self, number: u32, pid: Pid, status: ExitStatus) {
        let failed = self.generation;
        let Some(previous) = self
            .workers
            .iter()
            .filter(|o| o.spec.generation < failed)
            .map(|o| o.spec.generation)
            .max()
        else {
            // Nothing old is left to fall back on: treat it as any boot failure.
            self.outcome = Outcome::BootFailed {
                code: WORKER_BOOT_ERROR,
            };
            self.stop_all(Kill::Quit, QUICK_TIMEOUT);
            return;
        };
        log_at!(
            Level::Critical,
            "reload failed: worker {number} (pid {pid}) of generation {failed} could not boot ({status}); generation {previous} keeps serving"
        );
        let new: Vec<Pid> = self
            .workers
            .iter()
            .filter(|o| o.spec.generation == failed)
            .map(|o| o.pid)
            .collect();
        for pid in new {
            self.stop_worker(pid, Kill::Quit, "reload failed");
        }
        self.generation = previous;
        if let Some((plan, configured)) = self.plan_before_reload.take() {
            self.plan = plan;
            self.configured_workers = configured;
        }
        self.enter(Phase::Running);
    }

    /// Kills workers past their stop deadline or their heartbeat.
    fn on_tick(&mut self, now: Instant) -> Result<(), SupervisorError> {
        if self.stop_at.is_some_and(|at| now >= at) {
            self.stop_at = None;
            self.stop_all(Kill::Term, self.plan.graceful_timeout);
        }
        let worker_timeout = self.plan.worker_timeout;
        for w in &mut self.workers {
            if w.kill_at.is_some_and(|at| now >= at) {
                log_at!(
                    Level::Warning,
                    "worker {} (pid {}) still running after its stop timeout; killing it",
                    w.spec.number,
                    w.pid
                );
                w.kill_at = None;
                w.killed = true;
                self.spawner.signal(w.pid, Kill::Kill);
            } else if w.phase == WorkerPhase::Serving
                && now.duration_since(w.last_beat) > worker_timeout
            {
                log_at!(
                    Level::Error,
                    "worker {} (pid {}) sent no heartbeat for {:?} (worker_timeout); killing it",
                    w.spec.number,
                    w.pid,
                    now.duration_since(w.last_beat)
                );
                w.phase = WorkerPhase::Draining;
                w.timed_out = true;
                self.spawner.signal(w.pid, Kill::Kill);
            }
        }
        // A worker killed for its heartbeat is replaced at once; its exit is logged later.
        if matches!(self.phase, Phase::Running | Phase::Reloading) {
            self.fill()?;
        }
        Ok(())
    }

    fn next_timeout(&self, now: Instant) -> Duration {
        let mut timeout = TICK;
        if let Some(at) = self.stop_at {
            timeout = timeout.min(at.saturating_duration_since(now));
        }
        for w in &self.workers {
            if let Some(at) = w.kill_at {
                timeout = timeout.min(at.saturating_duration_since(now));
            }
        }
        timeout
    }

    /// Starts workers of the current generation until `workers` are booting or serving.
    fn fill(&mut self) -> Result<(), SupervisorError> {
        while self.active_count() < self.plan.workers.get() {
            self.spawn_one()?;
        }
        Ok(())
    }

    /// TERMs the newest workers beyond `workers`.
    fn trim(&mut self) {
        while self.active_count() > self.plan.workers.get() {
            let newest = self
                .workers
                .iter()
                .filter(|w| self.is_active(w))
                .max_by_key(|w| w.spec.number)
                .map(|w| w.pid)
                .expect("active_count() > 0");
            self.stop_worker(newest, Kill::Term, "fewer workers");
        }
    }

    /// Workers of the current generation that are not stopping and are not replacements
    /// (a replacement takes its predecessor's place).
    fn active_count(&self) -> usize {
        self.workers.iter().filter(|w| self.is_active(w)).count()
    }

    fn is_active(&self, w: &Worker) -> bool {
        w.spec.generation == self.generation
            && w.phase != WorkerPhase::Draining
            && w.replaces.is_none()
    }

    fn spawn_one(&mut self) -> Result<Pid, SupervisorError> {
        let spec = WorkerSpec {
            number: self.next_number,
            generation: self.generation,
        };
        self.next_number += 1;
        let pid = self.spawner.spawn(spec)?;
        log_at!(Level::Info, "worker {} (pid {pid}) booting", spec.number);
        self.workers.push(Worker {
            pid,
            spec,
            phase: WorkerPhase::Booting,
            last_beat: Instant::now(),
            kill_at: None,
            wants_retire: false,
            replaces: None,
            timed_out: false,
            killed: false,
        });
        Ok(pid)
    }

    fn stop_worker(&mut self, pid: Pid, kill: Kill, why: &str) {
        let timeout = match kill {
            Kill::Quit => QUICK_TIMEOUT,
            _ => self.plan.graceful_timeout,
        };
        let Some(w) = self.worker_mut(pid) else {
            return;
        };
        if w.phase == WorkerPhase::Draining && kill == Kill::Term {
            return;
        }
        w.phase = WorkerPhase::Draining;
        w.kill_at = Some(Instant::now() + timeout);
        log_at!(
            Level::Info,
            "stopping worker {} (pid {pid}): {why}",
            w.spec.number
        );
        self.spawner.signal(pid, kill);
    }

    fn stop_all(&mut self, kill: Kill, timeout: Duration) {
        self.enter(Phase::Draining);
        self.spawner.close_listeners();
        let now = Instant::now();
        for w in &mut self.workers {
            w.phase = WorkerPhase::Draining;
            let at = now + timeout;
            w.kill_at = Some(w.kill_at.map_or(at, |old| old.min(at)));
            self.spawner.signal(w.pid, kill);
        }
        if self.workers.is_empty() {
            self.enter(Phase::Stopped);
        }
    }

    fn worker_mut(&mut self, pid: Pid) -> Option<&mut Worker> {
        self.workers.iter_mut().find(|w| w.pid == pid)
    }
}

fn signal_name(sig: Sig) -> &'static str {
    match sig {
        Sig::Term => "TERM",
        Sig::Int => "INT",
        Sig::Quit => "QUIT",
        Sig::Hup => "HUP",
        Sig::Ttin => "TTIN",
        Sig::Ttou => "TTOU",
        Sig::Usr1 => "USR1",
        Sig::Usr2 => "USR2",
        Sig::Chld => "CHLD",
    }
}
