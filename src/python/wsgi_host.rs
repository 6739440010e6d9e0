//! The WSGI side of a worker's app host (`app_host`): builds the shared `wsgi::Context`
//! (with the request hooks) and starts the Python threads (`pool::Pool`).

use pyo3::prelude::*;

use super::hooks::Hooks;
use crate::config::Config;
use crate::pool::Pool;
use crate::worker::BootError;
use crate::wsgi;

/// Starts `config.threads` Python threads serving the WSGI `app`.
///
/// # Errors
/// The environ template cannot be built, or a thread cannot be started.
pub(super) fn start(
    py: Python<'_>,
    app: Py<PyAny>,
    config: &Config,
    hooks: &Hooks,
) -> Result<Pool, BootError> {
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
    (ctx.pre_request, ctx.post_request) = hooks.request_hooks(py);
    let on_stuck = hooks.method(py, "worker_abort", "worker_abort");
    Pool::start(
        ctx,
        config.threads.get(),
        config.sched_policy,
        config.timeouts.request,
        on_stuck,
    )
    .map_err(|err| BootError::Failed(format!("cannot start the Python threads: {err}")))
}
