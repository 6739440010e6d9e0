//! The real `Spawn`: binds the listeners, forks workers, talks to them over one pipe each,
//! turns signals into `Event`s through a self-pipe, and reaps children with waitpid(2).
//! What a worker runs after fork is the caller's (`ForkHooks`), so this file has no Python.
//!
//! Design: the master has one thread and no runtime. Signal handlers write the signal
//! number to a non-blocking pipe and do nothing else; `wait` polls that pipe and every
//! worker's pipe, then reaps.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use super::observe::Observer;
use super::sd_notify::{Notifier, NOTIFY_SOCKET_ENV};
use super::{
    Event, ExitStatus, Kill, MasterStatus, Pid, ServiceState, Sig, Spawn, SupervisorError,
    WorkerPlan, WorkerSpec,
};
use crate::config::{BindSpec, ObserveConfig};
use crate::listener::{self, Listener};
use crate::log::{self, Level};
use crate::worker::{MasterPipe, Message};

/// How to start a new master on USR2: the program, its arguments (argv\[0\] first) and the
/// directory to start it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeCommand {
    pub program: std::ffi::OsString,
    pub argv: Vec<std::ffi::OsString>,
    pub dir: std::path::PathBuf,
}

/// What the embedding code does around fork and inside a worker.
pub trait ForkHooks {
    /// Runs the master's wait for events (Python: with the GIL released, so threads of an
    /// embedding program run while the master sleeps).
    fn while_waiting(&mut self, wait: &mut (dyn FnMut() + Send));
    /// Called right before fork(2) (Python: `PyOS_BeforeFork`).
    fn before_fork(&mut self);
    /// Called in the master right after fork(2) (`PyOS_AfterFork_Parent`).
    fn after_fork_parent(&mut self);
    /// Runs in the new worker, with the listening sockets and the pipe to the master;
    /// never returns.
    fn run_worker(&mut self, spec: WorkerSpec, listeners: Vec<Listener>, pipe: MasterPipe) -> !;
    /// HUP: re-read the settings; `None` keeps the current ones.
    fn reload(&mut self) -> Option<WorkerPlan>;
    /// `--reload`: whether watched files changed since the last call (called on every turn
    /// of the master's loop, at least once a second); a change reloads like HUP.
    fn files_changed(&mut self) -> bool;
    /// USR2: how to start a new master; `None` when this master cannot be re-executed.
    fn upgrade_command(&mut self) -> Option<UpgradeCommand>;
    /// Called in the master before each fork (the `pre_fork` hook).
    fn pre_fork(&mut self, _spec: WorkerSpec) {}
    /// See `Spawn::when_ready`.
    fn when_ready(&mut self) -> bool {
        true
    }
    /// See `Spawn::worker_exited`.
    fn worker_exited(&mut self, _spec: WorkerSpec, _pid: Pid) {}
    /// See `Spawn::workers_changed`.
    fn workers_changed(&mut self, _new: usize, _old: Option<usize>) {}
}

/// Names the listening descriptors a new master inherits from the old one (USR2).
pub const INHERIT_FDS_ENV: &str = "FERRULE_INHERIT_FDS";
/// The old master's pid, which the new master TERMs once its workers serve.
pub const UPGRADE_FROM_ENV: &str = "FERRULE_UPGRADE_FROM";
/// The metrics listener's descriptor a new master inherits from the old one (USR2).
pub const INHERIT_METRICS_FD_ENV: &str = "FERRULE_INHERIT_METRICS_FD";

/// The metrics listener an old master handed over (USR2); the variable is removed.
fn inherited_metrics_fd() -> Option<RawFd> {
    let fd = std::env::var(INHERIT_METRICS_FD_ENV).ok()?;
    // SAFETY (remove_var): the master is single-threaded.
    std::env::remove_var(INHERIT_METRICS_FD_ENV);
    fd.trim().parse().ok()
}

/// Descriptors handed to this process: by an old master (USR2) or by systemd socket
/// activation (`LISTEN_FDS` starting at 3, when `LISTEN_PID` is this process). The
/// variables are removed so that workers and later masters do not see them.
fn inherited_fds() -> Option<Vec<RawFd>> {
    if let Ok(list) = std::env::var(INHERIT_FDS_ENV) {
        // SAFETY (remove_var): the master is single-threaded; nothing reads the
        // environment concurrently.
        std::env::remove_var(INHERIT_FDS_ENV);
        return Some(
            list.split(',')
                .filter_map(|fd| fd.trim().parse().ok())
                .collect(),
        );
    }
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    if pid != std::process::id() {
        return None;
    }
    let count: RawFd = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    // sd_listen_fds(3): the descriptors start at 3 (SD_LISTEN_FDS_START).
    Some((3..3 + count).collect())
}

/// The write end of the signal self-pipe, for the handler (which may touch nothing else).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

const HANDLED: [(libc::c_int, Sig); 9] = [
    (libc::SIGTERM, Sig::Term),
    (libc::SIGINT, Sig::Int),
    (libc::SIGQUIT, Sig::Quit),
    (libc::SIGHUP, Sig::Hup),
    (libc::SIGTTIN, Sig::Ttin),
    (libc::SIGTTOU, Sig::Ttou),
    (libc::SIGUSR1, Sig::Usr1),
    (libc::SIGUSR2, Sig::Usr2),
    (libc::SIGCHLD, Sig::Chld),
];

extern "C" fn on_signal(signo: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let byte = signo as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is a local byte. A full pipe
        // drops the signal, which is fine: the loop already has that many to handle.
        unsafe {
            libc::write(fd, std::ptr::addr_of!(byte).cast(), 1);
        }
    }
}

fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data initialised by sigfillset; sigprocmask only reads and
    // writes the two sets.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&raw mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &raw const all, &raw mut previous);
        previous
    }
}

fn restore_signal_mask(previous: &libc::sigset_t) {
    // SAFETY: reinstalls a mask sigprocmask returned.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, previous, std::ptr::null_mut());
    }
}

/// The master's OS side. See the module docs.
pub struct ForkSpawner<H: ForkHooks> {
    hooks: H,
    binds: Vec<BindSpec>,
    options: listener::ListenOptions,
    listeners: Vec<Listener>,
    signal_rx: OwnedFd,
    signal_tx: OwnedFd,
    /// Read ends of the workers' pipes, by pid.
    pipes: HashMap<Pid, OwnedFd>,
    /// The dispositions our handlers replaced, restored on drop (an embedding process
    /// such as `ferrule.serve()` gets its own handlers back).
    previous: Vec<(libc::c_int, libc::sigaction)>,
    /// The new master started by USR2, while it runs.
    upgrade_child: Option<Pid>,
    /// The workers' counters, the metrics listener and statsd.
    observer: Observer,
    /// The unix socket files we bound, with their identity then: removed at the final stop
    /// only if still the same file (never another server's).
    unix_files: Vec<(std::path::PathBuf, (u64, u64))>,
    /// systemd's notification socket (`$NOTIFY_SOCKET`), when there is one.
    notifier: Notifier,
    /// Our ends of the workers' log hand-over channels (`log::handover`), by pid: on USR1
    /// each worker gets the files the master reopened, before its signal.
    log_channels: HashMap<Pid, OwnedFd>,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are fresh descriptors we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl<H: ForkHooks> ForkSpawner<H> {
    /// Installs the master's signal handlers.
    ///
    /// # Errors
    /// The self-pipe or a handler could not be set up.
    pub fn new(
        hooks: H,
        binds: Vec<BindSpec>,
        options: listener::ListenOptions,
        observe: ObserveConfig,
    ) -> Result<Self, SupervisorError> {
        let (signal_rx, signal_tx) = pipe().map_err(SupervisorError::Setup)?;
        SIGNAL_PIPE.store(signal_tx.as_raw_fd(), Ordering::Relaxed);
        let mut previous = Vec::with_capacity(HANDLED.len());
        for (signo, _) in HANDLED {
            // SAFETY: `on_signal` only performs an async-signal-safe write. SA_RESTART keeps
            // blocking calls elsewhere from failing with EINTR.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                let mut old: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&raw mut action.sa_mask);
                if libc::sigaction(signo, &raw const action, &raw mut old) != 0 {
                    return Err(SupervisorError::Setup(io::Error::last_os_error()));
                }
                previous.push((signo, old));
            }
        }
        Ok(ForkSpawner {
            hooks,
            binds,
            options,
            listeners: Vec::new(),
            signal_rx,
            signal_tx,
            pipes: HashMap::new(),
            previous,
            upgrade_child: None,
            observer: Observer::new(observe),
            unix_files: Vec::new(),
            notifier: Notifier::from_env(),
            log_channels: HashMap::new(),
        })
    }

    /// The bound listeners (for callers that log or inspect them).
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    fn read_signals(&self, events: &mut Vec<Event>) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a local buffer from a descriptor we own.
            let n = unsafe {
                libc::read(
                    self.signal_rx.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            let Ok(n) = usize::try_from(n) else { return };
            if n == 0 {
                return;
            }
            for &byte in &buf[..n] {
                if let Some((_, sig)) = HANDLED
                    .iter()
                    .find(|(signo, _)| *signo == libc::c_int::from(byte))
                {
                    events.push(Event::Signal(*sig));
                }
            }
        }
    }

    fn read_worker(pid: Pid, fd: &OwnedFd, events: &mut Vec<Event>) {
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: reads into a local buffer from a descriptor we own.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else { return };
            if n == 0 {
                return;
            }
            let mut beat = false;
            for &byte in &buf[..n] {
                match Message::from_byte(byte) {
                    Some(Message::Ready) => events.push(Event::Ready(pid)),
                    Some(Message::Retire(limit)) => events.push(Event::Retire(pid, limit)),
                    Some(Message::Beat) => beat = true,
                    None => {}
                }
            }
            if beat {
                events.push(Event::Beat(pid));
            }
        }
    }

    fn reap(&mut self, events: &mut Vec<Event>) {
        loop {
            let mut status = 0;
            // SAFETY: rusage is plain data wait4 fills in.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: plain wait4 on our own children.
            let pid = unsafe { libc::wait4(-1, &raw mut status, libc::WNOHANG, &raw mut usage) };
            if pid <= 0 {
                return;
            }
            self.observer.exited(pid, cpu_seconds(&usage));
            self.log_channels.remove(&pid);
            // Read what the worker said before it exited (its last messages).
            if let Some(fd) = self.pipes.remove(&pid) {
                Self::read_worker(pid, &fd, events);
            }
            if self.upgrade_child == Some(pid) {
                self.upgrade_child = None;
            }
            let exit = if libc::WIFSIGNALED(status) {
                ExitStatus::Signal(libc::WTERMSIG(status))
            } else {
                ExitStatus::Code(libc::WEXITSTATUS(status))
            };
            events.push(Event::Exited(pid, exit));
        }
    }
}

impl<H: ForkHooks> Spawn for ForkSpawner<H> {
    fn bind(&mut self) -> Result<(), SupervisorError> {
        if let Some(fds) = inherited_fds() {
            // Inherited sockets replace `bind` (as in gunicorn): they are what the old
            // master or systemd listens on.
            for fd in fds {
                let adopted = listener::adopt(fd).map_err(|source| crate::listener::BindError {
                    address: format!("fd://{fd}"),
                    source,
                })?;
                self.listeners.push(adopted);
            }
        } else {
            for spec in &self.binds {
                self.listeners
                    .push(listener::bind_with(spec, &self.options)?);
            }
        }
        for l in &self.listeners {
            if let Listener::Unix(_, path) = l {
                if let Some(id) = listener::file_id(path) {
                    self.unix_files.push((path.clone(), id));
                }
            }
            log::write(Level::Info, &format!("listening on {}", l.describe()));
        }
        let inherited = match inherited_metrics_fd() {
            Some(fd) => Some(
                listener::adopt(fd).map_err(|source| crate::listener::BindError {
                    address: format!("fd://{fd} (metrics)"),
                    source,
                })?,
            ),
            None => None,
        };
        self.observer.bind(inherited)?;
        Ok(())
    }

    fn spawn(&mut self, spec: WorkerSpec) -> Result<Pid, SupervisorError> {
        let (rx, tx) = pipe().map_err(SupervisorError::Spawn)?;
        let (log_ours, log_theirs) = log::handover::channel().map_err(SupervisorError::Spawn)?;
        self.hooks.pre_fork(spec);
        let region = Observer::region_for_next_worker();
        // Every signal is blocked across fork: one that arrived in the child before it reset
        // its handlers would run the master's handler there and land in the master's pipe.
        let previous_mask = block_all_signals();
        self.hooks.before_fork();
        // SAFETY: the master has a single thread (no runtime, no pool), so the child is a
        // consistent copy; it runs only the worker and never returns here.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let err = io::Error::last_os_error();
            self.hooks.after_fork_parent();
            restore_signal_mask(&previous_mask);
            return Err(SupervisorError::Spawn(err));
        }
        if pid == 0 {
            // A worker whose master died (SIGKILL, OOM) must not serve on as an orphan:
            // it gets a TERM and drains. If the master is gone already, stop now.
            // SAFETY: prctl/getppid have no memory-safety preconditions.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() == 1 {
                    libc::_exit(0);
                }
            }
            // In the worker: default signal handlers (the runtime installs its own), and
            // none of the master's descriptors but the listeners and our pipe.
            SIGNAL_PIPE.store(-1, Ordering::Relaxed);
            self.previous.clear();
            for (signo, _) in HANDLED {
                // Signals meant for the master only are ignored (a HUP to the whole process
                // group must not kill workers); the runtime installs TERM, INT, QUIT, USR1.
                let disposition = match signo {
                    libc::SIGHUP | libc::SIGTTIN | libc::SIGTTOU | libc::SIGUSR2 => libc::SIG_IGN,
                    _ => libc::SIG_DFL,
                };
                // SAFETY: setting a standard disposition is always valid.
                unsafe {
                    libc::signal(signo, disposition);
                }
            }
            self.pipes.clear();
            self.log_channels.clear();
            drop(log_ours);
            log::reopen_from_master(log_theirs);
            // A worker (or its app) must not speak for the service: with systemd's
            // `NotifyAccess=all` its READY=1 or STOPPING=1 would be believed.
            // SAFETY (remove_var): the child has one thread.
            std::env::remove_var(NOTIFY_SOCKET_ENV);
            self.observer.in_child(region);
            drop(rx);
            restore_signal_mask(&previous_mask);
            let listeners = std::mem::take(&mut self.listeners);
            self.hooks.run_worker(spec, listeners, MasterPipe::new(tx));
        }
        self.hooks.after_fork_parent();
        restore_signal_mask(&previous_mask);
        drop(tx);
        drop(log_theirs);
        self.pipes.insert(pid, rx);
        self.log_channels.insert(pid, log_ours);
        self.observer.spawned(pid, region);
        Ok(pid)
    }

    fn signal(&mut self, pid: Pid, kill: Kill) {
        let signo = match kill {
            Kill::Term => libc::SIGTERM,
            Kill::Quit => libc::SIGQUIT,
            Kill::Usr1 => {
                // The files first, so the worker finds them when the signal arrives.
                if let Some(channel) = self.log_channels.get(&pid) {
                    if let Err(err) = log::handover::send(channel, &log::open_files()) {
                        log_at!(
                            Level::Error,
                            "cannot hand the reopened log files to worker pid {pid}: {err}"
                        );
                    }
                }
                libc::SIGUSR1
            }
            Kill::Kill => libc::SIGKILL,
        };
        // SAFETY: kill(2) on a child we have not reaped yet (its pid cannot be reused).
        // ESRCH (already exiting) needs nothing.
        unsafe {
            libc::kill(pid, signo);
        }
    }

    fn wait(&mut self, timeout: Duration) -> Vec<Event> {
        let mut fds = Vec::with_capacity(self.pipes.len() + 1);
        fds.push(libc::pollfd {
            fd: self.signal_rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        let pids: Vec<Pid> = self.pipes.keys().copied().collect();
        for pid in &pids {
            fds.push(libc::pollfd {
                fd: self.pipes[pid].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let workers_end = fds.len();
        self.observer.poll_fds(&mut fds);
        let timeout = self.observer.next_deadline().map_or(timeout, |at| {
            timeout.min(at.saturating_duration_since(std::time::Instant::now()))
        });
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        self.hooks.while_waiting(&mut || {
            // SAFETY: `fds` is a valid array of pollfd for the duration of the call. EINTR
            // simply returns early; the signal is in the pipe.
            unsafe {
                libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
            }
        });
        let mut events = Vec::new();
        self.read_signals(&mut events);
        if self.hooks.files_changed() {
            log_at!(Level::Info, "files changed (--reload); reloading");
            events.push(Event::FilesChanged);
        }
        self.observer.on_poll(&fds[workers_end..], &self.listeners);
        for (pid, pfd) in pids.iter().zip(&fds[1..workers_end]) {
            if pfd.revents != 0 {
                Self::read_worker(*pid, &self.pipes[pid], &mut events);
            }
            if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                // The worker closed its end (it is exiting): stop polling it; its exit
                // comes from waitpid.
                self.pipes.remove(pid);
            }
        }
        self.reap(&mut events);
        events
    }

    fn close_listeners(&mut self) {
        // After USR2 the new master serves on the same socket files: leave them.
        let handed_over = self.upgrade_child.is_some();
        for l in self.listeners.drain(..) {
            if let (Listener::Unix(_, path), false) = (l, handed_over) {
                let ours = self
                    .unix_files
                    .iter()
                    .any(|(bound, id)| *bound == path && listener::file_id(&path) == Some(*id));
                if ours {
                    // The stop is final: nobody will accept on this file again. A file that
                    // is gone already needs nothing.
                    let _ = std::fs::remove_file(path);
                } else {
                    log_at!(
                        Level::Warning,
                        "unix:{} is no longer the socket this server bound; leaving it",
                        path.display()
                    );
                }
            }
        }
    }

    fn reopen_logs(&mut self) {
        if let Err(err) = log::reopen().map(drop) {
            log_at!(Level::Error, "cannot reopen log files: {err}");
        }
    }

    fn reload(&mut self) -> Option<WorkerPlan> {
        self.hooks.reload()
    }

    fn upgrade(&mut self) -> Result<Pid, SupervisorError> {
        use std::os::unix::process::CommandExt;
        let Some(UpgradeCommand { program, argv, dir }) = self.hooks.upgrade_command() else {
            return Err(SupervisorError::Spawn(io::Error::new(
                io::ErrorKind::Unsupported,
                "this master cannot start a new one (it was not started by the ferrule command, or the pre_exec hook raised)",
            )));
        };
        let mut fds: Vec<RawFd> = self.listeners.iter().map(Listener::raw_fd).collect();
        let list = fds
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut command = std::process::Command::new(program);
        if let Some((first, rest)) = argv.split_first() {
            command.arg0(first).args(rest);
        }
        command
            .current_dir(dir)
            .env(INHERIT_FDS_ENV, list)
            .env(UPGRADE_FROM_ENV, std::process::id().to_string());
        if let Some(metrics) = self.observer.listener() {
            // The new master serves the same metrics address: it cannot bind it while
            // this one holds it.
            fds.push(metrics.raw_fd());
            command.env(INHERIT_METRICS_FD_ENV, metrics.raw_fd().to_string());
        }
        // SAFETY: the closure runs in the forked child before exec and only calls fcntl,
        // which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                for fd in &fds {
                    // The listeners must survive exec: clear close-on-exec.
                    if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(SupervisorError::Spawn)?;
        let pid = Pid::try_from(child.id()).expect("pids fit in i32");
        self.upgrade_child = Some(pid);
        // The child is reaped by `reap` (waitpid(-1)); dropping the handle does not wait.
        drop(child);
        Ok(pid)
    }

    fn publish(&mut self, status: &MasterStatus) {
        self.observer.publish(status);
    }

    fn when_ready(&mut self) -> bool {
        self.hooks.when_ready()
    }

    fn worker_exited(&mut self, spec: WorkerSpec, pid: Pid) {
        self.hooks.worker_exited(spec, pid);
    }

    fn workers_changed(&mut self, new: usize, old: Option<usize>) {
        self.hooks.workers_changed(new, old);
    }

    fn service_state(&mut self, state: ServiceState) {
        let main_pid = match state {
            // A master started by USR2 becomes the service's main process before it stops
            // the old one (`on_serving`): systemd would otherwise see its main process exit.
            ServiceState::Ready if std::env::var_os(UPGRADE_FROM_ENV).is_some() => {
                Some(std::process::id())
            }
            // The old master of a USR2 hand-over stops, but the service does not.
            ServiceState::Stopping if self.upgrade_child.is_some() => return,
            _ => None,
        };
        self.notifier.notify(state, main_pid);
    }

    fn on_serving(&mut self) {
        let Ok(old) = std::env::var(UPGRADE_FROM_ENV) else {
            return;
        };
        std::env::remove_var(UPGRADE_FROM_ENV);
        let Ok(old) = old.parse::<Pid>() else { return };
        log_at!(
            Level::Info,
            "the new generation serves; telling the old master (pid {old}) to stop"
        );
        // SAFETY: kill(2) on the pid the old master gave us. It is our parent until it
        // exits, so the pid cannot have been reused while we were booting.
        unsafe {
            libc::kill(old, libc::SIGTERM);
        }
    }
}

/// User plus system CPU time in a wait4(2) report.
fn cpu_seconds(usage: &libc::rusage) -> f64 {
    let seconds = |t: libc::timeval| {
        #[allow(clippy::cast_precision_loss)] // seconds of CPU fit in f64 exactly
        let whole = t.tv_sec as f64;
        #[allow(clippy::cast_precision_loss)]
        let micros = t.tv_usec as f64;
        whole + micros / 1e6
    };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

impl<H: ForkHooks> Drop for ForkSpawner<H> {
    fn drop(&mut self) {
        // The master is done: its metrics socket file goes with it, unless a new master
        // (USR2) serves on it now.
        if let (Some(Listener::Unix(_, path)), None) =
            (self.observer.listener(), self.upgrade_child)
        {
            // Gone already, or not ours to remove: nothing more to do at exit.
            let _ = std::fs::remove_file(path);
        }
        // Signals after this point must not write to a closed descriptor number.
        if SIGNAL_PIPE.load(Ordering::Relaxed) == self.signal_tx.as_raw_fd() {
            SIGNAL_PIPE.store(-1, Ordering::Relaxed);
        }
        for (signo, old) in &self.previous {
            // SAFETY: reinstalls a disposition sigaction(2) gave us.
            unsafe {
                libc::sigaction(*signo, old, std::ptr::null_mut());
            }
        }
    }
}
