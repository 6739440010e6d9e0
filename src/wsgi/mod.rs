//! PEP 3333 and nothing else: the environ, `start_response` and `write()`, `wsgi.input`,
//! `wsgi.errors`, `wsgi.file_wrapper`, and `call_app`, which runs one job through the app
//! and turns the result into response events. Runs on a Python thread (see `pool`).

pub mod environ;
pub mod error_stream;
pub mod file_wrapper;
pub mod input;
pub mod response;
pub mod start_response;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

pub use environ::EnvironStrings;
pub use response::call_app;

pyo3::create_exception!(
    ferrule._ferrule,
    InternalError,
    pyo3::exceptions::PyBaseException,
    "A bug in ferrule (a panic) while the app called into it; the request is aborted. A \
     BaseException, like PyO3's PanicException, so that `except Exception` does not hide it."
);

/// Runs the body of a method the app calls (`start_response`, `write`, `wsgi.input`,
/// `wsgi.errors`, `wsgi.file_wrapper`), turning a panic into `InternalError`. Without it
/// `PyO3` would raise its `PanicException`, and print the panic again when `call_app` gets
/// it back; this way `pool` alone reports it (see `log::panics`), and `call_app` answers
/// the request as an internal failure.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => Err(InternalError::new_err(
            "internal error in the server (a panic, logged); the request is aborted",
        )),
    }
}

/// Debug builds only: text that makes ferrule's own code panic on demand, as a bug would,
/// for the panic-containment tests (`tests/python/e2e/test_hostile_panics.py`). Written to
/// `wsgi.errors`, it panics inside that method (Python calling into ferrule); yielded as a
/// body chunk, in `call_app` itself. Release builds know no such text.
#[cfg(debug_assertions)]
const TEST_PANIC: &[u8] = b"ferrule-test-panic:";

/// Panics when `bytes` start with `TEST_PANIC` (debug builds only).
///
/// # Panics
/// That is its purpose.
#[cfg(debug_assertions)]
fn panic_on_demand(bytes: &[u8]) {
    if let Some(rest) = bytes.strip_prefix(TEST_PANIC) {
        panic!("on demand: {}", String::from_utf8_lossy(rest));
    }
}

/// What every request of a worker shares, built once with the GIL held.
pub struct Context {
    pub app: Py<PyAny>,
    /// The `pre_request` hook as `pre(environ)`, which raises when the hook did; None when
    /// unset (then nothing is called and nothing is kept per request).
    pub pre_request: Option<Py<PyAny>>,
    /// The `post_request` hook as `post(environ, status, headers, sent)`; None when unset.
    pub post_request: Option<Py<PyAny>>,
    /// The environ template (see `environ::template`).
    pub template: Py<PyDict>,
    /// `SCRIPT_NAME`.
    pub root_path: String,
}

impl Context {
    /// # Errors
    /// Python errors while building the template.
    pub fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        root_path: &str,
        multithread: bool,
        multiprocess: bool,
    ) -> PyResult<Context> {
        Ok(Context {
            app,
            pre_request: None,
            post_request: None,
            template: environ::template(py, root_path, multithread, multiprocess)?,
            root_path: root_path.to_owned(),
        })
    }
}

/// Body pieces at least this large are handed to `conn` without a copy (the `Bytes` keeps
/// the Python `bytes` object alive; the reference is released, deferred by pyo3, the next
/// time a Python thread takes the GIL). Smaller ones are copied: that is cheaper than the
/// deferred release. 16 KiB: where the copy started to show in `big`'s profile.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// The app's body bytes as `Bytes` for `conn`. `bytes` objects are immutable, so sharing
/// one is as good as a copy of it.
pub(crate) fn body_bytes(b: &Bound<'_, PyBytes>) -> Bytes {
    let data = b.as_bytes();
    if data.len() >= ZERO_COPY_MIN {
        Bytes::from_owner(PyBackedBytes::from(b.clone()))
    } else {
        Bytes::copy_from_slice(data)
    }
}
