//! The asyncio futures of a request's `receive()` and `send()` calls that could not finish
//! at once: made when they wait, answered from the drain when their request is woken.
//! Shared by HTTP requests and WebSockets. A future the app cancelled (a `receive()` in a
//! task it stopped) is skipped, never answered.

use std::collections::VecDeque;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::event_loop::Core;
use super::outbox::Flush;

/// The future is resolved or cancelled.
pub(crate) fn is_done(fut: &Bound<'_, PyAny>) -> PyResult<bool> {
    fut.call_method0(intern!(fut.py(), "done"))?.is_truthy()
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Waiters {
    /// `receive()` calls waiting, oldest first.
    receivers: VecDeque<Py<PyAny>>,
    /// A `send()` waiting for room.
    sender: Option<Py<PyAny>>,
}

impl Waiters {
    /// Whether a `receive()` waits already (a new one queues behind it).
    pub(crate) fn has_receive_queued(&self) -> bool {
        !self.receivers.is_empty()
    }

    /// A future for a `receive()` that must wait.
    pub(crate) fn wait_receive(&mut self, core: &Core, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let fut = core.create_future(py)?;
        self.receivers.push_back(fut.clone().unbind());
        Ok(fut.unbind())
    }

    /// A future for a `send()` waiting for room.
    pub(crate) fn wait_send(&mut self, core: &Core, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let fut = core.create_future(py)?;
        self.sender = Some(fut.clone().unbind());
        Ok(fut.unbind())
    }

    /// Answers a waiting `send()` once its events are out (or the client is gone: then
    /// with `ClientDisconnected(why)`).
    pub(crate) fn settle_send(
        &mut self,
        core: &Core,
        py: Python<'_>,
        flushed: &Flush,
        why: &str,
    ) -> PyResult<()> {
        if matches!(flushed, Flush::Waiting) {
            return Ok(());
        }
        let Some(fut) = self.sender.take() else {
            return Ok(());
        };
        let fut = fut.bind(py);
        if is_done(fut)? {
            return Ok(());
        }
        if let Flush::Gone = flushed {
            let err = core.disconnected.bind(py).call1((why,))?;
            fut.call_method1(intern!(py, "set_exception"), (err,))?;
        } else {
            fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        Ok(())
    }

    /// Answers waiting `receive()`s, oldest first, with what `poll` gives, until it has
    /// nothing more (`None`: it has registered the request's waker).
    pub(crate) fn answer_receives<'py>(
        &mut self,
        py: Python<'py>,
        mut poll: impl FnMut() -> PyResult<Option<Bound<'py, PyDict>>>,
    ) -> PyResult<()> {
        while let Some(fut) = self.receivers.front() {
            let fut = fut.bind(py).clone();
            if is_done(&fut)? {
                self.receivers.pop_front();
                continue;
            }
            match poll()? {
                Some(message) => {
                    self.receivers.pop_front();
                    fut.call_method1(intern!(py, "set_result"), (message,))?;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// A `receive()` still waits for an answer: its request must stay tracked.
    pub(crate) fn has_receivers(&self, py: Python<'_>) -> bool {
        self.receivers
            .iter()
            .any(|fut| !is_done(fut.bind(py)).unwrap_or(true))
    }
}
