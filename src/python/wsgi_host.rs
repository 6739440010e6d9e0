//! The WSGI app host of a worker: loads the app (unless the master preloaded it), runs the
//! `post_worker_init` hook, builds the shared `wsgi::Context` (with the request hooks) and
//! starts the Python threads (`pool::Pool`). The worker (`crate::worker`) drives it through
//! `AppHost`.

use pyo3::prelude::*;

use super::hooks::Hooks;
use crate::config::Config;
use crate::pool::Pool;
use crate::worker::{AppHost, BootError, Exit};
use crate::wsgi;

/// See the module docs.
pub(super) struct WsgiHost<'py> {
    pub py: Python<'py>,
    /// The app, when the master imported it before forking (`--preload`, `serve()`).
    pub app: Option<Py<PyAny>>,
    /// Otherwise this returns it (it reports its own import errors and raises
    /// `AppImportError`).
    pub load: Option<Py<PyAny>>,
    pub config: Config,
    /// The server hooks, when any is set.
    pub hooks: Hooks,
}

impl AppHost for WsgiHost<'_> {
    type Handler = Pool;

    fn start(&mut self) -> Result<Pool, BootError> {
        let py = self.py;
        // Step 1: the app.
        let app = match (&self.app, &self.load) {
            (Some(app), _) => app.clone_ref(py),
            (None, Some(load)) => load.call0(py).map_err(|err| {
                let app_load = py
                    .import("ferrule.errors")
                    .and_then(|m| m.getattr("AppImportError"))
                    .is_ok_and(|cls| err.is_instance(py, &cls));
                if app_load {
                    // load() has reported it.
                    BootError::AppLoad
                } else {
                    BootError::Failed(format!(
                        "loading the app raised\n{}",
                        wsgi::response::format_exception(py, &err)
                    ))
                }
            })?,
            (None, None) => return Err(BootError::Failed("no app to serve".to_owned())),
        };
        // gunicorn: post_worker_init runs once the app is loaded; raising stops the boot.
        if !self
            .hooks
            .call(py, "post_worker_init", (app.clone_ref(py),))
        {
            return Err(BootError::Failed(
                "the post_worker_init hook raised (see above)".to_owned(),
            ));
        }
        // Step 2: what every request shares, then the threads.
        let config = &self.config;
        let multithread = config.threads.get() > 1;
        // PEP 3333: wsgi.multiprocess is true when "an equivalent application object may be
        // simultaneously invoked by another process": several workers.
        let multiprocess = config.process.workers.get() > 1;
        let mut ctx = wsgi::Context::new(py, app, &config.root_path, multithread, multiprocess)
            .map_err(|err| {
                BootError::Failed(format!(
                    "cannot prepare the environ\n{}",
                    wsgi::response::format_exception(py, &err)
                ))
            })?;
        (ctx.pre_request, ctx.post_request) = self.hooks.request_hooks(py);
        let on_stuck = self.hooks.method(py, "worker_abort", "worker_abort");
        Pool::start(ctx, config.threads.get(), config.timeouts.request, on_stuck)
            .map_err(|err| BootError::Failed(format!("cannot start the Python threads: {err}")))
    }

    fn detached(&mut self, serve: impl FnOnce() -> Exit + Send) -> Exit {
        // GIL: released for the whole life of the worker's event loop; the pool threads
        // take it per job.
        self.py.detach(|| {
            let exit = serve();
            if exit == Exit::Abandoned {
                // A thread stuck past its RequestTimeout may hold the GIL for good (a loop
                // in C): attaching again could wait forever, so the process ends here.
                // SAFETY: _exit ends the process at once; nothing else needs to run.
                unsafe { libc::_exit(exit.code()) }
            }
            exit
        })
    }
}
