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
mod loop_bound;
mod outbox;
mod scope;
mod waiters;
mod websocket;

use pyo3::exceptions::PyTypeError;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::http::RequestHead;
use crate::log::{self, Level};

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

/// `GET /path?query` for log lines (`(websocket)` after a WebSocket's), formatted only
/// when a line is written.
pub(crate) struct RequestLine<'a> {
    pub head: &'a RequestHead,
    pub websocket: bool,
}

impl std::fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}{}",
            self.head.method(),
            String::from_utf8_lossy(self.head.target()),
            if self.websocket { " (websocket)" } else { "" }
        )
    }
}

/// Logs an app error with its Python traceback, once, as the WSGI side does.
pub(crate) fn log_app_error(py: Python<'_>, line: &RequestLine<'_>, err: &PyErr) {
    if !log::enabled(Level::Error) {
        return;
    }
    log::write(
        Level::Error,
        &format!(
            "Error handling request {line}\n{}",
            format_exception(py, err)
        ),
    );
}

/// Calls `f` with each `[name, value]` pair of bytes of an ASGI `headers` iterable
/// (response heads, trailers, a WebSocket accept's extra headers).
///
/// # Errors
/// `TypeError` for a pair that is not two bytes objects; `f`'s error.
pub(crate) fn each_header(
    headers: &Bound<'_, PyAny>,
    mut f: impl FnMut(&[u8], &[u8]) -> PyResult<()>,
) -> PyResult<()> {
    for pair in headers.try_iter()? {
        let pair = pair?;
        let mut parts = pair.try_iter()?;
        let (Some(name), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PyTypeError::new_err(
                "each header must be a [name, value] pair of bytes",
            ));
        };
        let (name, value) = (name?, value?);
        let (Ok(name), Ok(value)) = (name.cast::<PyBytes>(), value.cast::<PyBytes>()) else {
            return Err(PyTypeError::new_err(format!(
                "header names and values must be bytes, got ({}, {})",
                name.get_type().name()?,
                value.get_type().name()?
            )));
        };
        f(name.as_bytes(), value.as_bytes())?;
    }
    Ok(())
}

/// An ASGI message as `send()` takes it: a dict with a str `type`.
///
/// # Errors
/// `TypeError` or `ValueError` naming what is wrong with its shape.
pub(crate) fn message_of<'a, 'py>(
    message: &'a Bound<'py, PyAny>,
) -> PyResult<(&'a Bound<'py, PyDict>, String)> {
    let py = message.py();
    let message = message
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("an ASGI message must be a dict"))?;
    let kind: String = message
        .get_item(intern!(py, "type"))?
        .ok_or_else(|| PyValueError::new_err("an ASGI message needs a 'type'"))?
        .extract()
        .map_err(|_| PyTypeError::new_err("an ASGI message's 'type' must be a str"))?;
    Ok((message, kind))
}
