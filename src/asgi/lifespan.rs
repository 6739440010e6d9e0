//! Lifespan 2.0 (asgiref `specs/lifespan.rst`), per worker: one task runs the app with a
//! `lifespan` scope for the worker's whole life. Startup runs before the worker accepts
//! (`startup`): `lifespan.startup.failed`, or under `--lifespan on` an exception, is the
//! worker's boot error (the master stops with its exit code). Under `auto`, an app that
//! raises before answering does not support lifespan (Django's handler, plain apps that
//! assert the scope type): logged, and served without. Shutdown (`shutdown`) runs after
//! the last request of a graceful stop or a recycle, bounded by `graceful_timeout`.
//!
//! The `state` dict of the lifespan scope is copied shallowly into every request's scope.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};

use super::awaitable::Ready;
use super::event_loop::Core;
use crate::config::Lifespan;
use crate::log::Level;

/// Which half of the protocol runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Startup,
    Running,
    Shutdown,
}

/// How a phase ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// `lifespan.<phase>.complete`.
    Complete,
    /// `lifespan.<phase>.failed`, with the app's message.
    Failed(String),
    /// The app raised before it sent anything (under `auto`: lifespan unsupported).
    RaisedFirst(String),
    /// The app raised after it had sent something.
    Raised(String),
    /// The app's lifespan coroutine returned without answering.
    Returned,
}

/// The `receive` and `send` of the lifespan scope, and its task's done-callback.
#[pyclass(unsendable, module = "ferrule._ferrule")]
pub(crate) struct LifespanCycle {
    core: Rc<Core>,
    phase: Phase,
    /// Messages for `receive()`, oldest first.
    pending: VecDeque<&'static str>,
    /// A `receive()` waiting.
    receiver: Option<Py<PyAny>>,
    /// Resolved when the current phase ends.
    phase_done: Py<PyAny>,
    outcome: Option<Outcome>,
    sent_anything: bool,
    task_done: bool,
}

/// The lifespan task after a completed startup.
pub(crate) struct Running {
    cycle: Py<LifespanCycle>,
}

impl LifespanCycle {
    fn end_phase(&mut self, py: Python<'_>, outcome: Outcome) -> PyResult<()> {
        if self.outcome.is_some() {
            return Ok(());
        }
        self.outcome = Some(outcome);
        let done = self.phase_done.bind(py);
        if !done.call_method0(intern!(py, "done"))?.is_truthy()? {
            done.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        Ok(())
    }

    fn deliver(&mut self, py: Python<'_>, message: &'static str) -> PyResult<()> {
        if let Some(fut) = self.receiver.take() {
            let fut = fut.bind(py);
            if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                fut.call_method1(intern!(py, "set_result"), (type_message(py, message)?,))?;
                return Ok(());
            }
        }
        self.pending.push_back(message);
        Ok(())
    }
}

fn type_message<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyDict>> {
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), kind)?;
    Ok(message)
}

#[pymethods]
impl LifespanCycle {
    fn receive(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(kind) = self.pending.pop_front() {
            let message = type_message(py, kind)?.into_any().unbind();
            return Ok(Py::new(py, Ready::new(Some(message)))?.into_any());
        }
        let fut = self.core.create_future(py)?;
        self.receiver = Some(fut.clone().unbind());
        Ok(fut.unbind())
    }

    fn send(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let kind: String = message
            .get_item(intern!(py, "type"))?
            .cast_into::<PyString>()
            .map_err(|_| PyRuntimeError::new_err("a lifespan message's 'type' must be a str"))?
            .to_cow()?
            .into_owned();
        self.sent_anything = true;
        let expected = match self.phase {
            Phase::Startup => "lifespan.startup.",
            Phase::Shutdown => "lifespan.shutdown.",
            Phase::Running => "",
        };
        let outcome = match kind.strip_prefix(expected) {
            Some("complete") if !expected.is_empty() => Outcome::Complete,
            Some("failed") if !expected.is_empty() => {
                let text = message
                    .get_item(intern!(py, "message"))
                    .ok()
                    .filter(|m| !m.is_none())
                    .map(|m| m.str().map(|s| s.to_string()))
                    .transpose()?
                    .unwrap_or_default();
                Outcome::Failed(text)
            }
            _ => {
                return Err(PyRuntimeError::new_err(format!(
                    "unexpected lifespan message {kind:?} during {:?}",
                    self.phase
                )))
            }
        };
        self.end_phase(py, outcome)?;
        Ok(self.core.ready_none.clone_ref(py).into_any())
    }

    fn _done(&mut self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<()> {
        self.task_done = true;
        let outcome = if task.call_method0(intern!(py, "cancelled"))?.is_truthy()? {
            Outcome::Raised("the lifespan task was cancelled".to_owned())
        } else {
            let exception = task.call_method0(intern!(py, "exception"))?;
            if exception.is_none() {
                Outcome::Returned
            } else {
                let trace = super::format_exception(py, &PyErr::from_value(exception));
                if self.sent_anything {
                    Outcome::Raised(trace)
                } else {
                    Outcome::RaisedFirst(trace)
                }
            }
        };
        if self.phase == Phase::Running {
            log_at!(
                Level::Debug,
                "the ASGI lifespan task ended before shutdown: {outcome:?}"
            );
            return Ok(());
        }
        self.end_phase(py, outcome)
    }
}

/// Runs lifespan startup on the loop (which is not running yet) and waits for it.
/// `Ok(None)`: lifespan is off, or unsupported by the app under `auto`.
///
/// # Errors
/// The worker's boot error: the app's `startup.failed` message, or (under `on`) how the
/// app failed.
pub(crate) fn startup(
    py: Python<'_>,
    core: &Rc<Core>,
    mode: Lifespan,
) -> Result<Option<Running>, String> {
    if mode == Lifespan::Off {
        return Ok(None);
    }
    let started = (|| -> PyResult<(Py<LifespanCycle>, Py<PyDict>)> {
        let state = PyDict::new(py);
        let asgi = PyDict::new(py);
        asgi.set_item("version", "3.0")?;
        asgi.set_item("spec_version", "2.0")?;
        let scope = PyDict::new(py);
        scope.set_item("type", "lifespan")?;
        scope.set_item("asgi", asgi)?;
        scope.set_item("state", &state)?;
        let cycle = Bound::new(
            py,
            LifespanCycle {
                core: Rc::clone(core),
                phase: Phase::Startup,
                pending: VecDeque::from(["lifespan.startup"]),
                receiver: None,
                phase_done: core.create_future(py)?.unbind(),
                outcome: None,
                sent_anything: false,
                task_done: false,
            },
        )?;
        let called =
            core.app
                .bind(py)
                .call1((scope, cycle.getattr("receive")?, cycle.getattr("send")?));
        match called {
            Ok(coroutine) => {
                let task = core.create_task(py, &coroutine)?;
                task.call_method1("add_done_callback", (cycle.getattr("_done")?,))?;
                let done = cycle.borrow().phase_done.clone_ref(py);
                core.event_loop
                    .bind(py)
                    .call_method1("run_until_complete", (done,))?;
            }
            Err(err) => {
                let trace = super::format_exception(py, &err);
                cycle
                    .borrow_mut()
                    .end_phase(py, Outcome::RaisedFirst(trace))?;
            }
        }
        Ok((cycle.unbind(), state.unbind()))
    })();
    let (cycle, state) = started.map_err(|err| {
        format!(
            "cannot run lifespan startup\n{}",
            super::format_exception(py, &err)
        )
    })?;
    let outcome = cycle.borrow(py).outcome.clone();
    match outcome {
        Some(Outcome::Complete) => {
            cycle.borrow_mut(py).phase = Phase::Running;
            *core.state.borrow_mut() = Some(state);
            log_at!(Level::Debug, "ASGI lifespan startup complete");
            Ok(Some(Running { cycle }))
        }
        Some(Outcome::Failed(message)) => Err(format!("ASGI lifespan startup failed: {message}")),
        Some(Outcome::RaisedFirst(trace)) if mode == Lifespan::Auto => {
            log_at!(
                Level::Info,
                "ASGI lifespan is not supported by the app (it raised on the lifespan scope); serving without it (--lifespan off hides this line)"
            );
            log_at!(Level::Debug, "the app's lifespan error:\n{trace}");
            Ok(None)
        }
        Some(Outcome::Returned) if mode == Lifespan::Auto => {
            log_at!(
                Level::Info,
                "ASGI lifespan is not supported by the app (it returned without answering startup); serving without it"
            );
            Ok(None)
        }
        Some(Outcome::RaisedFirst(trace) | Outcome::Raised(trace)) => Err(format!(
            "ASGI lifespan startup raised (--lifespan {})\n{trace}",
            if mode == Lifespan::On { "on" } else { "auto" }
        )),
        Some(Outcome::Returned) => Err(
            "ASGI lifespan startup: the app returned without answering (--lifespan on)".to_owned(),
        ),
        None => Err("ASGI lifespan startup did not finish".to_owned()),
    }
}

/// Sends `lifespan.shutdown` and waits for the answer, at most `timeout`. Failures are
/// logged: the worker is stopping either way.
pub(crate) fn shutdown(py: Python<'_>, core: &Core, running: &Running, timeout: Duration) {
    let result = (|| -> PyResult<Option<Outcome>> {
        let cycle = running.cycle.bind(py);
        if cycle.borrow().task_done {
            log_at!(
                Level::Warning,
                "ASGI lifespan shutdown skipped: the app's lifespan task had already ended"
            );
            return Ok(None);
        }
        let done = core.create_future(py)?;
        {
            let mut this = cycle.borrow_mut();
            this.phase = Phase::Shutdown;
            this.outcome = None;
            this.phase_done = done.clone().unbind();
            this.deliver(py, "lifespan.shutdown")?;
        }
        let bounded = py.import("asyncio")?.call_method1(
            "wait_for",
            (done, timeout.as_secs_f64().into_bound_py_any(py)?),
        )?;
        if let Err(err) = core
            .event_loop
            .bind(py)
            .call_method1("run_until_complete", (bounded,))
        {
            if err.is_instance_of::<pyo3::exceptions::PyTimeoutError>(py) {
                log_at!(
                    Level::Warning,
                    "ASGI lifespan shutdown did not finish within {timeout:?} (graceful_timeout)"
                );
                return Ok(None);
            }
            return Err(err);
        }
        let outcome = cycle.borrow().outcome.clone();
        Ok(outcome)
    })();
    match result {
        Ok(Some(Outcome::Complete)) => log_at!(Level::Debug, "ASGI lifespan shutdown complete"),
        Ok(Some(Outcome::Failed(message))) => {
            log_at!(Level::Error, "ASGI lifespan shutdown failed: {message}");
        }
        Ok(Some(Outcome::Raised(trace) | Outcome::RaisedFirst(trace))) => {
            log_at!(Level::Error, "ASGI lifespan shutdown raised\n{trace}");
        }
        Ok(Some(Outcome::Returned)) => log_at!(
            Level::Warning,
            "ASGI lifespan shutdown: the app returned without answering"
        ),
        Ok(None) => {}
        Err(err) => log_at!(
            Level::Error,
            "cannot run ASGI lifespan shutdown\n{}",
            super::format_exception(py, &err)
        ),
    }
}
