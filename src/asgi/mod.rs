//! ASGI 3.0 (asgiref `specs/main.rst`, `specs/www.rst` HTTP 2.5, `specs/lifespan.rst` 2.0)
//! and nothing else: the scope, the `receive` and `send` callables of a request, lifespan,
//! and the event loop that runs them. `event_loop::AsgiLoop` is the ASGI side of the
//! app-interface seam: it implements `bridge::Handler`, and `python/asgi_host.rs` starts it.
//!
//! One asyncio (or uvloop) loop per worker, on a Python thread of its own; the worker's
//! tokio loop never takes the GIL. Jobs and wake-ups cross to the asyncio loop through one
//! inbox with batched eventfd wake-ups (`event_loop`); events cross back through `relay`,
//! whose `LoopWaker` batches the other way. A `receive` or `send` that can complete at once
//! returns an already-completed awaitable (`awaitable::Ready`), so the common request
//! creates no asyncio future at all.

mod awaitable;
pub mod event_loop;
mod http;
mod lifespan;
mod outbox;
mod scope;
mod websocket;

use pyo3::intern;
use pyo3::prelude::*;

pub use event_loop::{AsgiLoop, Options};

/// `traceback.format_exception(type, value, tb)` joined; the exception's `str` when even
/// that fails.
pub(crate) fn format_exception(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let tb = py.import(intern!(py, "traceback"))?;
        let args = (err.get_type(py), err.value(py), err.traceback(py));
        let lines: Vec<String> = tb
            .call_method1(intern!(py, "format_exception"), args)?
            .extract()?;
        Ok(lines.concat())
    })();
    formatted.unwrap_or_else(|_| format!("{err}\n"))
}
