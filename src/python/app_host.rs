//! A worker's app host: loads the app (unless the master preloaded it), decides its
//! interface (`--interface`, through `ferrule.interface.resolve`), and starts what runs it:
//! the WSGI threads (`wsgi_host`) or the ASGI loop (`asgi_host`). The worker
//! (`crate::worker`) drives it through `AppHost`; `Runner` is its `Handler` either way, so
//! the interface can be decided after the app is loaded (`--interface auto`).

use pyo3::prelude::*;

use super::hooks::Hooks;
use super::{asgi_host, wsgi_host};
use crate::asgi::AsgiLoop;
use crate::bridge::{Handler, Job};
use crate::config::{Choice, Config};
use crate::pool::Pool;
use crate::worker::{AppHost, BootError, Exit};
use crate::wsgi;

/// See the module docs.
pub(super) struct PyAppHost<'py> {
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

/// What runs the app: one `Handler` whatever the interface.
pub(super) enum Runner {
    Wsgi(Pool),
    Asgi(AsgiLoop),
}

impl Handler for Runner {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        match self {
            Runner::Wsgi(pool) => pool.dispatch(job),
            Runner::Asgi(asgi) => asgi.dispatch(job),
        }
    }

    fn describe(&self) -> Option<String> {
        match self {
            Runner::Wsgi(pool) => pool.describe(),
            Runner::Asgi(asgi) => asgi.describe(),
        }
    }

    fn serves_websockets(&self) -> bool {
        match self {
            Runner::Wsgi(pool) => pool.serves_websockets(),
            Runner::Asgi(asgi) => asgi.serves_websockets(),
        }
    }

    fn capacity(&self) -> Option<usize> {
        match self {
            Runner::Wsgi(pool) => pool.capacity(),
            Runner::Asgi(asgi) => asgi.capacity(),
        }
    }

    fn is_stuck(&self) -> bool {
        match self {
            Runner::Wsgi(pool) => pool.is_stuck(),
            Runner::Asgi(asgi) => asgi.is_stuck(),
        }
    }

    fn shut_down(self, stuck_wait: std::time::Duration) -> bool {
        match self {
            Runner::Wsgi(pool) => pool.shut_down(stuck_wait),
            Runner::Asgi(asgi) => asgi.shut_down(stuck_wait),
        }
    }
}

impl PyAppHost<'_> {
    /// The app: preloaded, or loaded now.
    fn load(&self) -> Result<Py<PyAny>, BootError> {
        let py = self.py;
        match (&self.app, &self.load) {
            (Some(app), _) => Ok(app.clone_ref(py)),
            (None, Some(load)) => load.call0(py).map_err(|err| {
                if is_app_import_error(py, &err) {
                    // load() has reported it.
                    BootError::AppLoad
                } else {
                    BootError::Failed(format!(
                        "loading the app raised\n{}",
                        wsgi::response::format_exception(py, &err)
                    ))
                }
            }),
            (None, None) => Err(BootError::Failed("no app to serve".to_owned())),
        }
    }

    /// `"wsgi"` or `"asgi"`, from `--interface` and the app.
    fn interface(&self, app: &Py<PyAny>) -> Result<String, BootError> {
        let py = self.py;
        py.import("ferrule.interface")
            .and_then(|m| m.call_method1("resolve", (app, self.config.interface.name())))
            .and_then(|i| i.extract::<String>())
            .map_err(|err| {
                if is_app_import_error(py, &err) {
                    BootError::Failed(err.value(py).to_string())
                } else {
                    BootError::Failed(format!(
                        "cannot decide the app's interface\n{}",
                        wsgi::response::format_exception(py, &err)
                    ))
                }
            })
    }
}

fn is_app_import_error(py: Python<'_>, err: &PyErr) -> bool {
    py.import("ferrule.errors")
        .and_then(|m| m.getattr("AppImportError"))
        .is_ok_and(|cls| err.is_instance(py, &cls))
}

impl AppHost for PyAppHost<'_> {
    type Handler = Runner;

    fn start(&mut self) -> Result<Runner, BootError> {
        // Step 1: the app; step 2: its interface; step 3: what runs it.
        let app = self.load()?;
        // gunicorn: post_worker_init runs once the app is loaded; raising stops the boot.
        if !self
            .hooks
            .call(self.py, "post_worker_init", (app.clone_ref(self.py),))
        {
            return Err(BootError::Failed(
                "the post_worker_init hook raised (see above)".to_owned(),
            ));
        }
        match self.interface(&app)?.as_str() {
            "asgi" => asgi_host::start(self.py, app, &self.config).map(Runner::Asgi),
            _ => wsgi_host::start(self.py, app, &self.config, &self.hooks).map(Runner::Wsgi),
        }
    }

    fn detached(&mut self, serve: impl FnOnce() -> Exit + Send) -> Exit {
        // GIL: released for the whole life of the worker's event loop; the pool threads
        // take it per job, the ASGI loop thread whenever Python runs.
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
