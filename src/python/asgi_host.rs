//! The ASGI side of a worker's app host (`app_host`): starts the worker's asyncio loop
//! (`asgi::AsgiLoop`), which runs lifespan startup before the worker accepts; lifespan
//! shutdown runs in `Handler::shut_down`.

use pyo3::prelude::*;

use crate::asgi::{AsgiLoop, Options};
use crate::config::Config;
use crate::worker::BootError;

/// Starts the ASGI loop for `app`.
///
/// # Errors
/// The loop cannot start, or lifespan startup failed: the worker's boot error (exit 3).
pub(super) fn start(
    py: Python<'_>,
    app: Py<PyAny>,
    config: &Config,
) -> Result<AsgiLoop, BootError> {
    let options = Options {
        event_loop: config.asgi.event_loop,
        lifespan: config.asgi.lifespan,
        root_path: config.root_path.clone(),
        shutdown_timeout: config.timeouts.graceful,
        capacity: config.max_connections,
        request_timeout: config.timeouts.request,
    };
    AsgiLoop::start(py, app, options).map_err(BootError::Failed)
}
