//! One HTTP request as ASGI sees it (asgiref `specs/www.rst`): `HttpCycle` is the request's
//! `receive` and `send`, and the done-callback of the task running the app.
//!
//! - `receive()` gives the body as `http.request` messages, one per piece `conn` reads,
//!   asking for the next piece only when the app has taken the last one (so the app's
//!   receive speed bounds the memory a body takes: one piece read ahead at most). After the
//!   body it waits until the response is complete or the client is gone, then gives
//!   `http.disconnect`.
//! - `send()` turns `http.response.start` and `http.response.body` into response events.
//!   The head is held until the first body message, so head and body leave in one event
//!   (and a whole body sent at once gets a `Content-Length`). When the event queue is full
//!   the app's `await send()` waits: a slow client holds back the app.
//! - Spec 2.4: `send()` after the client has gone raises `ClientDisconnected` (an
//!   `OSError`), which is not logged as an app error.
//! - Extensions: `pathsend` and `zerocopysend` (files with sendfile(2)), `trailers` (a
//!   trailer section after the last chunk), `early_hint` (a `103` before the response).
//! - The failure rules: an exception (or returning without a response) before the response
//!   started is answered with 500; after it started, the connection is closed.

use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};
use pyo3::{intern, IntoPyObjectExt};
use tokio::sync::OwnedSemaphorePermit;

mod extensions;

use super::awaitable::Ready;
use super::event_loop::{Core, Cycle};
use super::loop_bound::LoopBound;
use super::outbox::{Flush, Outbox};
use super::waiters::Waiters;
use super::{each_header, log_app_error, message_of, RequestLine};
use crate::bridge::{
    AbortReason, BodyEvent, BodyReceiver, EventSender, Job, Request, ResponseEvent, ResponseHead,
};
use crate::http::{BodyFraming, RequestHead, ResponseHeadBuilder};
use crate::log::{self, Level};

/// Body pieces at least this large are handed to `conn` without a copy (the `Bytes` keeps
/// the Python `bytes` alive); smaller ones are copied, which is cheaper than the deferred
/// release. 16 KiB, as `wsgi` measured it.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Where the request body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiving {
    /// The request has no body: the first `receive()` says so without asking `conn`.
    NoBody,
    /// Body pieces come from `conn`.
    Body,
    /// The body was given whole; `receive()` waits for the disconnect.
    Ended,
    /// The response is complete or the client is gone: `http.disconnect`.
    Disconnected,
}

/// Where the response stands.
enum Response {
    NotStarted,
    /// `http.response.start` came; the head waits for the first body message.
    HeadPending(ResponseHead),
    /// The head went out; more body follows.
    Streaming,
    /// The last body message went out and `http.response.start` promised trailers: the
    /// trailer fields gathered so far (`http.response.trailers`, `more_trailers`).
    AwaitingTrailers(Vec<u8>),
    /// The last body message went out.
    Done,
}

/// Where the request's task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Running,
    /// Past `request_timeout`: answered and cancelled, not yet done.
    TimedOut,
    Done,
}

/// See the module docs: the request's `receive`, `send` and the task's done-callback.
/// Its state stays on the loop's thread (`LoopBound`), so the app may let go of it on any.
#[pyclass(module = "ferrule._ferrule")]
pub(crate) struct HttpCycle {
    state: LoopBound<HttpState>,
}

/// One request's state, on the loop's thread.
pub(crate) struct HttpState {
    core: Rc<Core>,
    id: u64,
    /// For log lines.
    head: RequestHead,
    body: BodyReceiver,
    /// Released when the task is done (the worker's backpressure counts it until then).
    permit: Option<OwnedSemaphorePermit>,
    /// Events for `conn`, and the request's waker.
    out: Outbox,
    receiving: Receiving,
    /// Bytes left of a `Content-Length` body (`None`: chunked), so the last piece says
    /// `more_body: False` without another round trip.
    body_left: Option<u64>,
    /// A `NeedBody` is out and its answer not yet taken.
    asked: bool,
    /// Futures of `receive()` and `send()` calls waiting.
    waiters: Waiters,
    response: Response,
    /// `http.response.start` said `trailers: True`.
    trailers_promised: bool,
    client_gone: bool,
    task: Option<Py<PyAny>>,
    state: TaskState,
    /// When the task started, for `request_timeout`.
    started: Instant,
}

/// The body's length when known from the head (`None`: chunked).
fn body_length(head: &RequestHead) -> Option<u64> {
    match head.framing {
        BodyFraming::Empty => Some(0),
        BodyFraming::Length(n) => Some(n),
        BodyFraming::Chunked => None,
    }
}

impl HttpCycle {
    /// Starts the app on one request: builds the scope, calls the app and makes a task of
    /// its coroutine. Failures before the task exists are answered here.
    pub(crate) fn spawn(py: Python<'_>, core: &Rc<Core>, job: Job) {
        let Job {
            request,
            permit,
            received,
        } = job;
        let Request {
            head,
            conn,
            body,
            events,
            ..
        } = request;
        let scope = core
            .scope
            .borrow_mut()
            .http(py, &head, &conn, core.state.borrow().as_ref());
        let scope = match scope {
            Ok(Ok(scope)) => scope,
            Ok(Err(rejected)) => {
                log_at!(
                    Level::Debug,
                    "{}: {rejected}",
                    RequestLine {
                        head: &head,
                        websocket: false
                    }
                );
                // The client is gone if this fails: nobody to answer.
                let _ = events.try_send(ResponseEvent::Abort(AbortReason::Rejected(rejected)));
                return;
            }
            Err(err) => {
                log_app_error(
                    py,
                    &RequestLine {
                        head: &head,
                        websocket: false,
                    },
                    &err,
                );
                let _ = events.try_send(ResponseEvent::Abort(AbortReason::AppError));
                return;
            }
        };
        let id = core.next_id();
        crate::metrics::stats().job_started(received.elapsed());
        let state = HttpState::new(core, id, head, body, permit, events);
        let cycle = HttpCycle {
            state: LoopBound::new(state, Arc::clone(&core.inbox)),
        };
        let started = (|| -> PyResult<Py<HttpCycle>> {
            let cycle = Bound::new(py, cycle)?;
            let called = core.app.bind(py).call1((
                scope,
                cycle.getattr(intern!(py, "receive"))?,
                cycle.getattr(intern!(py, "send"))?,
            ));
            let coroutine = match called {
                Ok(coroutine) => coroutine,
                Err(err) => {
                    let mut this = cycle.borrow_mut();
                    let this = this.state.get_mut()?;
                    this.on_app_error(py, &err);
                    this.flush();
                    return Ok(cycle.unbind());
                }
            };
            let task = core.create_task(py, &coroutine)?;
            task.call_method1(
                intern!(py, "add_done_callback"),
                (cycle.getattr(intern!(py, "_done"))?,),
            )?;
            cycle.borrow_mut().state.get_mut()?.task = Some(task.unbind());
            core.track(id, Cycle::Http(cycle.clone().unbind()));
            Ok(cycle.unbind())
        })();
        if let Err(err) = started {
            log_at!(
                Level::Error,
                "cannot start the ASGI task\n{}",
                super::format_exception(py, &err)
            );
        }
    }
}

impl HttpState {
    fn new(
        core: &Rc<Core>,
        id: u64,
        head: RequestHead,
        body: BodyReceiver,
        permit: OwnedSemaphorePermit,
        events: EventSender,
    ) -> HttpState {
        let body_left = body_length(&head);
        HttpState {
            core: Rc::clone(core),
            id,
            head,
            body,
            permit: Some(permit),
            out: Outbox::new(events, Arc::clone(&core.inbox), id),
            receiving: if body_left == Some(0) {
                Receiving::NoBody
            } else {
                Receiving::Body
            },
            body_left,
            asked: false,
            waiters: Waiters::default(),
            response: Response::NotStarted,
            trailers_promised: false,
            client_gone: false,
            task: None,
            state: TaskState::Running,
            started: Instant::now(),
        }
    }

    fn line(&self) -> RequestLine<'_> {
        RequestLine {
            head: &self.head,
            websocket: false,
        }
    }

    fn poll_body(&mut self) -> Poll<Result<BodyEvent, crate::relay::Closed>> {
        let waker = self.out.waker();
        self.body.poll_recv(&waker)
    }

    /// The next `receive()` message, or `None` when it must wait (the waker is
    /// registered).
    fn poll_message<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        loop {
            match self.receiving {
                Receiving::Disconnected => {
                    // Spec 2.4: once the app has been told, its sends raise.
                    self.client_gone = true;
                    return disconnect_message(py).map(Some);
                }
                Receiving::NoBody => {
                    self.receiving = Receiving::Ended;
                    return request_message(py, &[], false).map(Some);
                }
                Receiving::Ended => {
                    // Asks `conn` to watch the socket: a demand after the body's end is
                    // answered only by the client leaving (or the request ending).
                    if !self.asked && self.body.is_empty() {
                        self.asked = true;
                        self.out.push(ResponseEvent::NeedBody);
                        if let Flush::Gone = self.flush() {
                            self.receiving = Receiving::Disconnected;
                            continue;
                        }
                    }
                    match self.poll_body() {
                        Poll::Ready(Ok(BodyEvent::Failed(_)) | Err(_)) => {
                            self.receiving = Receiving::Disconnected;
                        }
                        // The body's end after its last byte was counted: it answered the
                        // last demand; ask again.
                        Poll::Ready(Ok(_)) => self.asked = false,
                        Poll::Pending => return Ok(None),
                    }
                }
                Receiving::Body => {
                    let event = if let Some(event) = self.body.try_recv() {
                        event
                    } else {
                        if !self.asked {
                            self.asked = true;
                            self.out.push(ResponseEvent::NeedBody);
                            if let Flush::Gone = self.flush() {
                                self.receiving = Receiving::Disconnected;
                                continue;
                            }
                        }
                        match self.poll_body() {
                            Poll::Ready(Ok(event)) => event,
                            Poll::Ready(Err(_)) => {
                                self.receiving = Receiving::Disconnected;
                                continue;
                            }
                            Poll::Pending => return Ok(None),
                        }
                    };
                    // Whatever came answers the demand if there was one: `NeedBody` is only
                    // sent when nothing waits.
                    self.asked = false;
                    match event {
                        BodyEvent::Data(data) => {
                            let more = match &mut self.body_left {
                                Some(left) => {
                                    *left = left.saturating_sub(data.len() as u64);
                                    *left > 0
                                }
                                None => true,
                            };
                            if more {
                                // Read ahead: `conn` reads the next piece while the app
                                // works on this one (never more than one).
                                if self.body.is_empty() {
                                    self.asked = true;
                                    self.out.push(ResponseEvent::NeedBody);
                                    // A closed queue shows at the next receive.
                                    let _ = self.flush();
                                }
                            } else {
                                self.receiving = Receiving::Ended;
                            }
                            return request_message(py, &data, more).map(Some);
                        }
                        BodyEvent::End => {
                            self.receiving = Receiving::Ended;
                            return request_message(py, &[], false).map(Some);
                        }
                        BodyEvent::WsMessage(_) | BodyEvent::WsClosed { .. } => {
                            self.receiving = Receiving::Disconnected;
                        }
                        BodyEvent::Failed(failure) => {
                            log_at!(Level::Debug, "{}: {}", self.line(), failure.message());
                            self.receiving = Receiving::Disconnected;
                        }
                    }
                }
            }
        }
    }

    /// Hands queued events to `conn`; notes a client that is gone.
    fn flush(&mut self) -> Flush {
        let flushed = self.out.flush();
        if let Flush::Gone = flushed {
            self.client_gone = true;
        }
        flushed
    }

    /// `http.response.start`: validates the head and holds it.
    fn on_start(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        if !matches!(self.response, Response::NotStarted) {
            return Err(PyRuntimeError::new_err(
                "http.response.start sent twice: the response has already started",
            ));
        }
        let status = message
            .get_item(intern!(py, "status"))?
            .ok_or_else(|| PyValueError::new_err("http.response.start needs a 'status'"))?;
        let status: u16 = status.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "http.response.start 'status' must be an int, got {status}"
            ))
        })?;
        let mut head = ResponseHeadBuilder::from_code(status).map_err(PyValueError::new_err)?;
        let trailers = match message.get_item(intern!(py, "trailers"))? {
            Some(t) => t.is_truthy()?,
            None => false,
        };
        if let Some(headers) = message.get_item(intern!(py, "headers"))? {
            each_header(&headers, |name, value| {
                if trailers && name.eq_ignore_ascii_case(b"trailer") {
                    head.add_trailer_field(value)
                } else {
                    head.add_bytes(name, value)
                }
                .map_err(PyValueError::new_err)
            })?;
        }
        self.trailers_promised = trailers;
        self.response = Response::HeadPending(head.finish());
        Ok(())
    }

    /// `http.response.body`: queues the head (first time) and the bytes.
    fn on_body(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let data = match message.get_item(intern!(py, "body"))? {
            None => Bytes::new(),
            Some(body) => {
                let body = body.cast_into::<PyBytes>().map_err(|e| {
                    PyTypeError::new_err(format!(
                        "http.response.body 'body' must be bytes, got {}",
                        e.into_inner().get_type()
                    ))
                })?;
                body_bytes(&body)
            }
        };
        let more = match message.get_item(intern!(py, "more_body"))? {
            None => false,
            Some(more) => more.is_truthy()?,
        };
        match std::mem::replace(&mut self.response, Response::Done) {
            Response::NotStarted => {
                self.response = Response::NotStarted;
                return Err(PyRuntimeError::new_err(
                    "http.response.body sent before http.response.start",
                ));
            }
            Response::HeadPending(mut head) => {
                // Trailers need chunked framing: no computed length then.
                if !more && !self.trailers_promised && head.content_length.is_none() {
                    head.content_length = Some(data.len() as u64);
                    head.add_content_length = true;
                }
                self.out.push(ResponseEvent::Start {
                    head,
                    body: data,
                    end: !more && !self.trailers_promised,
                });
            }
            Response::Streaming => {
                if !data.is_empty() {
                    self.out.push(ResponseEvent::Data(data));
                }
                if !more && !self.trailers_promised {
                    self.out.push(ResponseEvent::End);
                }
            }
            done @ (Response::Done | Response::AwaitingTrailers(_)) => {
                self.response = done;
                return Err(PyRuntimeError::new_err(
                    "http.response.body sent after the last body message",
                ));
            }
        }
        if more {
            self.response = Response::Streaming;
        } else if self.trailers_promised {
            self.response = Response::AwaitingTrailers(Vec::new());
        }
        Ok(())
    }

    /// The app raised (or broke the protocol): logged, and the response aborted.
    fn on_app_error(&mut self, py: Python<'_>, err: &PyErr) {
        let disconnect = err.is_instance(py, self.core.disconnected.bind(py));
        if disconnect || self.client_gone {
            log_at!(
                Level::Debug,
                "{}: client disconnected during the response",
                self.line()
            );
        } else {
            log_app_error(py, &self.line(), err);
        }
        self.abort(AbortReason::AppError);
    }

    /// Queues an abort unless the response is complete (then there is nothing to undo).
    fn abort(&mut self, reason: AbortReason) {
        if !matches!(self.response, Response::Done) {
            self.response = Response::Done;
            self.out.push(ResponseEvent::Abort(reason));
        }
    }

    fn resume(&mut self, py: Python<'_>) -> PyResult<()> {
        let flushed = self.flush();
        self.waiters.settle_send(
            &self.core,
            py,
            &flushed,
            "the client disconnected before the response was sent",
        )?;
        let mut waiters = std::mem::take(&mut self.waiters);
        let answered = waiters.answer_receives(py, || self.poll_message(py));
        self.waiters = waiters;
        answered
    }

    fn is_overdue(&self, timeout: Duration) -> bool {
        self.state == TaskState::Running && self.started.elapsed() >= timeout
    }

    fn receive(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if !self.waiters.has_receive_queued() {
            if let Some(message) = self.poll_message(py)? {
                return Ok(Py::new(py, Ready::new(Some(message.into_any().unbind())))?.into_any());
            }
        }
        self.waiters.wait_receive(&self.core, py)
    }

    fn send(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (message, kind) = message_of(message)?;
        if self.client_gone && !matches!(self.response, Response::Done) {
            return Err(PyErr::from_value(
                self.core
                    .disconnected
                    .bind(py)
                    .call1(("the client disconnected",))?,
            ));
        }
        match kind.as_str() {
            "http.response.start" => self.on_start(message)?,
            "http.response.body" => self.on_body(message)?,
            "http.response.pathsend" => self.on_pathsend(message)?,
            "http.response.zerocopysend" => self.on_zerocopysend(message)?,
            "http.response.trailers" => self.on_trailers(message)?,
            "http.response.early_hint" => self.on_early_hint(message)?,
            other => {
                return Err(PyRuntimeError::new_err(format!(
                    "unexpected ASGI message {other:?} for an HTTP request (expected http.response.start or http.response.body)"
                )))
            }
        }
        match self.flush() {
            Flush::Sent => Ok(self.core.ready_none.clone_ref(py).into_any()),
            Flush::Waiting => self.waiters.wait_send(&self.core, py),
            Flush::Gone => Err(PyErr::from_value(
                self.core
                    .disconnected
                    .bind(py)
                    .call1(("the client disconnected",))?,
            )),
        }
    }

    /// The failure rules (module docs), then the permit goes.
    fn done(&mut self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<()> {
        self.state = TaskState::Done;
        self.task = None;
        if let Some(permit) = self.permit.take() {
            drop(permit);
            crate::metrics::stats().job_finished();
        }
        let cancelled = task.call_method0(intern!(py, "cancelled"))?.is_truthy()?;
        if cancelled {
            self.abort(AbortReason::Internal);
        } else {
            let exception = task.call_method0(intern!(py, "exception"))?;
            if exception.is_none() {
                match self.response {
                    Response::Done => {}
                    Response::NotStarted | Response::HeadPending(_) => {
                        if !self.client_gone {
                            log::write(
                                Level::Error,
                                &format!(
                                    "Error handling request {}: the ASGI app returned without sending a response",
                                    self.line()
                                ),
                            );
                        }
                        self.abort(AbortReason::AppError);
                    }
                    Response::Streaming | Response::AwaitingTrailers(_) => {
                        if !self.client_gone {
                            log::write(
                                Level::Error,
                                &format!(
                                    "Error handling request {}: the ASGI app returned before the response was complete (more_body was still True)",
                                    self.line()
                                ),
                            );
                        }
                        self.abort(AbortReason::AppError);
                    }
                }
            } else {
                self.on_app_error(py, &PyErr::from_value(exception));
            }
        }
        self.flush();
        // Waiting receive()s of tasks the app spawned get their answer now if it is here.
        self.resume(py)?;
        if self.out.is_empty() && !self.waiters.has_receivers(py) {
            self.core.untrack(py, self.id);
        }
        Ok(())
    }
}

impl HttpCycle {
    /// The task runs past `timeout` and has not been told yet.
    pub(crate) fn is_overdue(&self, timeout: Duration) -> bool {
        self.state.get().is_ok_and(|s| s.is_overdue(timeout))
    }

    /// Something this request waited for happened (room among the events, a body event,
    /// the end of the request): resumes what waits.
    pub(crate) fn on_wake(cycle: &Bound<'_, HttpCycle>) {
        let py = cycle.py();
        let mut this = cycle.borrow_mut();
        let Ok(this) = this.state.get_mut() else {
            return;
        };
        if let Err(err) = this.resume(py) {
            log_at!(
                Level::Error,
                "ASGI request {}: cannot resume a waiting receive() or send(): {err}",
                this.line()
            );
        }
        if this.state == TaskState::Done && this.out.is_empty() && !this.waiters.has_receivers(py) {
            this.core.untrack(py, this.id);
        }
    }

    /// `request_timeout` passed: 504 if no response started (else the connection closes),
    /// and the task is cancelled, so the app sees `CancelledError` at its next `await`.
    pub(crate) fn on_timeout(cycle: &Bound<'_, HttpCycle>, timeout: Duration) {
        let py = cycle.py();
        let mut this = cycle.borrow_mut();
        let Ok(this) = this.state.get_mut() else {
            return;
        };
        this.state = TaskState::TimedOut;
        log_at!(
            Level::Error,
            "{}: the request ran past request_timeout ({timeout:?}); answering 504 and cancelling its task",
            this.line()
        );
        this.abort(AbortReason::Timeout);
        this.flush();
        if let Some(task) = &this.task {
            // A task that cannot be cancelled is finishing anyway.
            let _ = task.bind(py).call_method0(intern!(py, "cancel"));
        }
    }

    /// Cancels the task (a stopping worker's leftovers).
    pub(crate) fn cancel(cycle: &Bound<'_, HttpCycle>) {
        let py = cycle.py();
        if let Some(task) = cycle
            .borrow()
            .state
            .get()
            .ok()
            .and_then(|s| s.task.as_ref())
        {
            // A task that cannot be cancelled is finishing anyway.
            let _ = task.bind(py).call_method0(intern!(py, "cancel"));
        }
    }
}

#[pymethods]
impl HttpCycle {
    /// ASGI `receive()`.
    fn receive(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.state.get_mut()?.receive(py)
    }

    /// ASGI `send(message)`.
    fn send(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.state.get_mut()?.send(py, message)
    }

    /// The task's done-callback.
    fn _done(&mut self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<()> {
        self.state.get_mut()?.done(py, task)
    }
}

fn request_message<'py>(py: Python<'py>, data: &[u8], more: bool) -> PyResult<Bound<'py, PyDict>> {
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
    message.set_item(intern!(py, "body"), PyBytes::new(py, data))?;
    message.set_item(intern!(py, "more_body"), more.into_bound_py_any(py)?)?;
    Ok(message)
}

fn disconnect_message(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
    Ok(message)
}

/// The app's body bytes for `conn` (see `ZERO_COPY_MIN`).
fn body_bytes(b: &Bound<'_, PyBytes>) -> Bytes {
    let data = b.as_bytes();
    if data.len() >= ZERO_COPY_MIN {
        Bytes::from_owner(PyBackedBytes::from(b.clone()))
    } else {
        Bytes::copy_from_slice(data)
    }
}
