//! `wsgi.errors` (PEP 3333 "Input and Error Streams"): a text stream whose writes go to
//! the error log as they are.

use pyo3::prelude::*;

use crate::log;

/// The object behind `environ["wsgi.errors"]`; one per worker, shared by all requests.
#[pyclass(module = "ferrule._ferrule", frozen)]
pub struct ErrorStream;

// The methods take `&self` because Python calls them on the instance; the stream itself
// is stateless (the error log is process-wide).
#[pymethods]
#[allow(clippy::unused_self)]
impl ErrorStream {
    fn write(&self, s: &str) -> PyResult<usize> {
        super::guard(|| {
            #[cfg(debug_assertions)]
            super::panic_on_demand(s.as_bytes());
            log::raw(s.as_bytes());
            Ok(s.chars().count())
        })
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        super::guard(|| {
            for line in lines.try_iter()? {
                let line = line?;
                log::raw(line.extract::<&str>()?.as_bytes());
            }
            Ok(())
        })
    }

    /// Every write is already handed to the OS; nothing is buffered here.
    fn flush(&self) {}
}
