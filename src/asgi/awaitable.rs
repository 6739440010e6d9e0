//! `Ready`: an awaitable that is already complete. `receive()` and `send()` return one
//! whenever they can finish at once (the body bytes are here, the event queue has room),
//! which is almost always: awaiting it costs two C calls, where an asyncio future costs an
//! allocation, a callback and a trip through the loop's ready queue.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

/// See the module docs. `await Ready(value)` evaluates to `value`; stateless, so one
/// `Ready(None)` serves every `send()` of a worker.
#[pyclass(module = "ferrule._ferrule", frozen)]
pub(crate) struct Ready {
    value: Option<Py<PyAny>>,
}

impl Ready {
    pub(crate) fn new(value: Option<Py<PyAny>>) -> Ready {
        Ready { value }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Ends the iteration at once: `StopIteration(value)` is how an awaitable returns.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match &self.value {
            None => Ok(None),
            Some(value) => Err(PyStopIteration::new_err((value.clone_ref(py),))),
        }
    }
}
