//! The master's Python side (`ForkHooks`): the fork hooks `CPython` needs, the worker's body
//! after fork (a `worker::Worker` with a `PyAppHost`), reloading the settings on HUP, the
//! `--reload` file watcher, the USR2 command, and the server hooks that run in the master
//! (`pre_fork`, `when_ready`, `child_exit`, `nworkers_changed`, `on_reload`, `pre_exec`) and
//! around a worker's life (`post_fork`, `worker_int`, `worker_exit`).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::app_host::PyAppHost;
use super::hooks::Hooks;
use super::settings::config_from;
use crate::config::Config;
use crate::listener::Listener;
use crate::log::Level;
use crate::supervisor::fork::{ForkHooks, UpgradeCommand};
use crate::supervisor::{Pid, WorkerPlan, WorkerSpec};
use crate::title;
use crate::tls::{self, ServerTls};
use crate::worker::{Exit, MasterPipe, OsSignals, Worker, WORKER_BOOT_ERROR};

/// The master's plan for its workers, from the settings.
pub(super) fn worker_plan(config: &Config) -> WorkerPlan {
    WorkerPlan {
        workers: config.process.workers,
        graceful_timeout: config.timeouts.graceful,
        worker_timeout: config.timeouts.worker,
        shutdown_delay: config.timeouts.shutdown_delay,
    }
}

/// See the module docs.
pub(super) struct PyHooks<'py> {
    pub py: Python<'py>,
    /// The app, imported before forking (`--preload`, `serve()`).
    pub app: Option<Py<PyAny>>,
    /// Imports the app in a worker otherwise.
    pub load: Option<Py<PyAny>>,
    /// Returns the re-read settings dict on HUP.
    pub reload: Option<Py<PyAny>>,
    pub config: Config,
    /// `config.tls` loaded (by the master: workers inherit it through fork).
    pub tls: Option<ServerTls>,
    /// The name in process titles.
    pub label: String,
    pub upgrade: Option<UpgradeCommand>,
    /// `--reload`: says whether watched files changed.
    pub watch: Option<Py<PyAny>>,
    /// The server hooks (`ferrule.hooks.HookRunner`), when any is set.
    pub hooks: Hooks,
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

    fn run_worker(&mut self, spec: WorkerSpec, listeners: Vec<Listener>, pipe: MasterPipe) -> ! {
        // SAFETY: first thing in the child after fork(2), GIL held, as the C API requires.
        unsafe { pyo3::ffi::PyOS_AfterFork_Child() }
        // The master gives files to the workers' user; a worker cannot.
        // Clearing the owner cannot fail: there is nothing to chown.
        let _ = crate::log::set_owner(None, None);
        // The fork removed `NOTIFY_SOCKET` from the C environment; Python's `os.environ`
        // is a copy made at start-up, where the app would still find it. Popping a key
        // with a default cannot raise but for a broken `os` module: nothing to do then.
        let _ = self.py.import("os").and_then(|os| {
            os.getattr("environ")?.call_method1(
                "pop",
                (
                    crate::supervisor::sd_notify::NOTIFY_SOCKET_ENV,
                    self.py.None(),
                ),
            )
        });
        let log_thread = super::logs::start_in_worker(self.py);
        title::set(&format!("ferrule: worker {} [{}]", spec.number, self.label));
        // gunicorn runs post_fork before the worker switches user and loads the app; a
        // post_fork that raises is a worker that cannot boot.
        if !self.hooks.call(self.py, "post_fork", (spec.number,)) {
            log_at!(
                Level::Critical,
                "worker could not boot: the post_fork hook raised"
            );
            flush_and_exit(self.py, WORKER_BOOT_ERROR);
        }
        let host = PyAppHost {
            py: self.py,
            app: self.app.as_ref().map(|app| app.clone_ref(self.py)),
            load: self.load.as_ref().map(|load| load.clone_ref(self.py)),
            config: self.config.clone(),
            hooks: self.hooks.clone_ref(self.py),
        };
        let mut worker = Worker::new(
            spec.number,
            self.config.clone(),
            listeners,
            pipe,
            host,
            OsSignals,
        )
        .with_tls(self.tls.clone());
        let exit = worker.run();
        drop(worker);
        // (`Exit::Abandoned` never comes back here: `PyAppHost::detached` exits at once.)
        // Failures of these hooks are logged by the runner; the worker exits all the same.
        if exit == Exit::StoppedAtOnce {
            let _ = self.hooks.call(self.py, "worker_int", ());
        }
        let _ = self.hooks.call(self.py, "worker_exit", ());
        if let Some(thread) = log_thread {
            super::logs::finish(self.py, thread);
        }
        flush_and_exit(self.py, exit.code())
    }

    fn pre_fork(&mut self, spec: WorkerSpec) {
        // gunicorn stops the master when pre_fork raises; here it is logged (by the runner)
        // and the worker is forked all the same.
        let _ = self.hooks.call(self.py, "pre_fork", (spec.number,));
    }

    fn when_ready(&mut self) -> bool {
        self.hooks.call(self.py, "when_ready", ())
    }

    fn worker_exited(&mut self, spec: WorkerSpec, pid: Pid) {
        // Logged by the runner when it raises; nothing else to do.
        let _ = self.hooks.call(self.py, "child_exit", (spec.number, pid));
    }

    fn workers_changed(&mut self, new: usize, old: Option<usize>) {
        // As above.
        let _ = self.hooks.call(self.py, "nworkers_changed", (new, old));
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

    fn upgrade_command(&mut self) -> Option<UpgradeCommand> {
        let command = self.upgrade.clone()?;
        if !self.hooks.call(self.py, "pre_exec", ()) {
            log_at!(Level::Error, "upgrade abandoned: the pre_exec hook raised");
            return None;
        }
        Some(command)
    }

    fn reload(&mut self) -> Option<WorkerPlan> {
        if !self.hooks.call(self.py, "on_reload", ()) {
            log_at!(
                Level::Error,
                "reload: the on_reload hook raised; reloading with the current settings"
            );
        }
        let reload = self.reload.as_ref()?;
        let fresh = reload
            .call0(self.py)
            .and_then(|settings| config_from(settings.bind(self.py).cast::<PyDict>()?));
        let config = match fresh {
            Ok(config) => config,
            Err(err) => {
                log_at!(Level::Error, "reload: keeping the current settings: {err}");
                return None;
            }
        };
        // New certificates and keys are read now: a bad one keeps the current generation
        // serving, with the files it has loaded.
        let tls = match tls::load(&config.tls, config.http2.alpn()) {
            Ok(tls) => tls,
            Err(err) => {
                log_at!(Level::Error, "reload: keeping the current settings: {err}");
                return None;
            }
        };
        if config.binds != self.config.binds {
            log_at!(
                Level::Warning,
                "reload: bind changes need a restart (or USR2); keeping the old addresses"
            );
        }
        self.tls = tls;
        self.config = Config {
            binds: self.config.binds.clone(),
            ..config
        };
        Some(worker_plan(&self.config))
    }
}

/// Flushes Python's buffered streams by hand and ends the worker: it ends with `_exit`, which
/// skips interpreter teardown (the master's state must not be finalised twice).
fn flush_and_exit(py: Python<'_>, code: i32) -> ! {
    let flushed = py.import("sys").and_then(|sys| {
        sys.getattr("stdout")?.call_method0("flush")?;
        sys.getattr("stderr")?.call_method0("flush")
    });
    // A stream that cannot be flushed has nowhere to report it.
    drop(flushed);
    // SAFETY: _exit ends this process without running the master's atexit handlers.
    unsafe { libc::_exit(code) }
}
