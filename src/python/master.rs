//! The master's Python side (`ForkHooks`): the fork hooks `CPython` needs, the worker's body
//! after fork (a `worker::Worker` with a `PyAppHost`), reloading the settings on HUP, the
//! `--reload` file watcher and the USR2 command.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::app_host::PyAppHost;
use super::settings::config_from;
use crate::config::Config;
use crate::listener::Listener;
use crate::log::Level;
use crate::supervisor::fork::{ForkHooks, UpgradeCommand};
use crate::supervisor::{WorkerPlan, WorkerSpec};
use crate::title;
use crate::tls::{self, ServerTls};
use crate::worker::{MasterPipe, OsSignals, Worker};

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
        let log_thread = super::logs::start_in_worker(self.py);
        title::set(&format!("ferrule: worker {} [{}]", spec.number, self.label));
        let host = PyAppHost {
            py: self.py,
            app: self.app.as_ref().map(|app| app.clone_ref(self.py)),
            load: self.load.as_ref().map(|load| load.clone_ref(self.py)),
            config: self.config.clone(),
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
        // Python's buffered streams are flushed by hand: the worker ends with _exit, which
        // skips interpreter teardown (the master's state must not be finalised twice).
        // (`Exit::Abandoned` never comes back here: `PyAppHost::detached` exits at once.)
        let flushed = self.py.import("sys").and_then(|sys| {
            sys.getattr("stdout")?.call_method0("flush")?;
            sys.getattr("stderr")?.call_method0("flush")
        });
        // A stream that cannot be flushed has nowhere to report it.
        drop(flushed);
        if let Some(thread) = log_thread {
            super::logs::finish(self.py, thread);
        }
        // SAFETY: _exit ends this process without running the master's atexit handlers.
        unsafe { libc::_exit(exit.code()) }
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
        self.upgrade.clone()
    }

    fn reload(&mut self) -> Option<WorkerPlan> {
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
        let tls = match tls::load(&config.tls) {
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
