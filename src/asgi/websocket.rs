//! One WebSocket as ASGI sees it (asgiref `specs/www.rst`, "WebSocket"): `WsCycle` is its
//! `receive` and `send`, and the done-callback of the task running the app.
//!
//! - `receive()`: `websocket.connect` first; then `websocket.receive` per client message,
//!   acknowledging each to `conn` (`NeedBody`), which reads one message ahead at most; then
//!   `websocket.disconnect` with the close code (1006 when the connection just ended).
//! - `send()`: `websocket.accept` (subprotocol, extra headers), `websocket.send` (exactly
//!   one of `bytes` and `text`), `websocket.close` (before the accept: the client gets
//!   403), and the denial extension `websocket.http.response.start` / `.body` before the
//!   accept. After the close, `send()` raises `ClientDisconnected` (spec 2.4).
//! - An exception before the accept is answered with 500, after it the WebSocket is closed
//!   with 1011; a task that ends without a close closes it with 1000. An exception raised
//!   after the app was told of the disconnect is logged at debug level only.

use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};
use tokio::sync::OwnedSemaphorePermit;

use super::awaitable::Ready;
use super::event_loop::{Core, Cycle};
use super::loop_bound::LoopBound;
use super::outbox::{Flush, Outbox};
use super::waiters::Waiters;
use super::{each_header, log_app_error, message_of, RequestLine};
use crate::bridge::{
    AbortReason, BodyEvent, BodyReceiver, Job, Request, ResponseEvent, ResponseHead, WsAccept,
    WsMessage,
};
use crate::http::{RequestHead, ResponseHeadBuilder};
use crate::log::{self, Level};

/// Where the handshake and the connection stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `websocket.connect` not given yet.
    Connecting,
    /// Given; the app has not answered.
    Handshake,
    /// Accepted.
    Open,
    /// The app started a denial response.
    Denying,
    /// The app closed (or refused, or finished its denial).
    Closed,
}

/// See the module docs.
#[pyclass(module = "ferrule._ferrule")]
pub(crate) struct WsCycle {
    state: LoopBound<WsState>,
}

/// One WebSocket's state, on the loop's thread (`LoopBound`: the app may let go of its
/// `receive` and `send` on any thread).
pub(crate) struct WsState {
    core: Rc<Core>,
    id: u64,
    /// For log lines.
    head: RequestHead,
    body: BodyReceiver,
    permit: Option<OwnedSemaphorePermit>,
    out: Outbox,
    phase: Phase,
    /// The denial response's head, held until its first body message.
    denial: Option<ResponseHead>,
    /// The close the app was told (`websocket.disconnect`), once it came.
    disconnected: Option<(u16, String)>,
    /// Futures of `receive()` and `send()` calls waiting.
    waiters: Waiters,
    task: Option<Py<PyAny>>,
    task_done: bool,
}

impl WsCycle {
    /// Starts the app on one WebSocket handshake.
    pub(crate) fn spawn(py: Python<'_>, core: &Rc<Core>, job: Job) {
        // `received` times HTTP requests' queueing; a WebSocket's session is not a request.
        let Job {
            request, permit, ..
        } = job;
        let Request {
            head,
            conn,
            body,
            events,
            ..
        } = request;
        let scope =
            core.scope
                .borrow_mut()
                .websocket(py, &head, &conn, core.state.borrow().as_ref());
        let scope = match scope {
            Ok(Ok(scope)) => scope,
            Ok(Err(rejected)) => {
                // The client is gone if this fails: nobody to answer.
                let _ = events.try_send(ResponseEvent::Abort(AbortReason::Rejected(rejected)));
                return;
            }
            Err(err) => {
                log_app_error(
                    py,
                    &RequestLine {
                        head: &head,
                        websocket: true,
                    },
                    &err,
                );
                let _ = events.try_send(ResponseEvent::Abort(AbortReason::AppError));
                return;
            }
        };
        let id = core.next_id();
        let state = WsState {
            core: Rc::clone(core),
            id,
            head,
            body,
            permit: Some(permit),
            out: Outbox::new(events, Arc::clone(&core.inbox), id),
            phase: Phase::Connecting,
            denial: None,
            disconnected: None,
            waiters: Waiters::default(),
            task: None,
            task_done: false,
        };
        let cycle = WsCycle {
            state: LoopBound::new(state, Arc::clone(&core.inbox)),
        };
        let started = (|| -> PyResult<()> {
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
                    log_app_error(py, &this.line(), &err);
                    this.out.push(ResponseEvent::Abort(AbortReason::AppError));
                    this.out.flush();
                    return Ok(());
                }
            };
            let task = core.create_task(py, &coroutine)?;
            task.call_method1(
                intern!(py, "add_done_callback"),
                (cycle.getattr(intern!(py, "_done"))?,),
            )?;
            cycle.borrow_mut().state.get_mut()?.task = Some(task.unbind());
            core.track(id, Cycle::WebSocket(cycle.unbind()));
            Ok(())
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

impl WsState {
    fn line(&self) -> RequestLine<'_> {
        RequestLine {
            head: &self.head,
            websocket: true,
        }
    }

    /// The next `receive()` message, or `None` when it must wait.
    fn poll_message<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        if self.phase == Phase::Connecting {
            self.phase = Phase::Handshake;
            return type_message(py, intern!(py, "websocket.connect")).map(Some);
        }
        if let Some((code, reason)) = &self.disconnected {
            return disconnect_message(py, *code, reason).map(Some);
        }
        let waker = self.out.waker();
        let event = match self.body.poll_recv(&waker) {
            Poll::Pending => return Ok(None),
            Poll::Ready(Ok(event)) => event,
            Poll::Ready(Err(_)) => BodyEvent::WsClosed {
                code: 1006,
                reason: String::new(),
            },
        };
        match event {
            BodyEvent::WsMessage(message) => {
                // Taken: `conn` may read the next one.
                self.out.push(ResponseEvent::NeedBody);
                self.out.flush();
                let dict = PyDict::new(py);
                dict.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
                match message {
                    WsMessage::Text(data) => {
                        let text = std::str::from_utf8(&data)
                            .map_err(|_| PyValueError::new_err("text message is not UTF-8"))?;
                        dict.set_item(intern!(py, "text"), text)?;
                        dict.set_item(intern!(py, "bytes"), py.None())?;
                    }
                    WsMessage::Binary(data) => {
                        dict.set_item(intern!(py, "bytes"), PyBytes::new(py, &data))?;
                        dict.set_item(intern!(py, "text"), py.None())?;
                    }
                }
                Ok(Some(dict))
            }
            BodyEvent::WsClosed { code, reason } => {
                let message = disconnect_message(py, code, &reason)?;
                self.disconnected = Some((code, reason));
                Ok(Some(message))
            }
            // HTTP body events never reach a WebSocket: read them as a lost connection.
            BodyEvent::Data(_) | BodyEvent::End | BodyEvent::Failed(_) => {
                let message = disconnect_message(py, 1006, "")?;
                self.disconnected = Some((1006, String::new()));
                Ok(Some(message))
            }
        }
    }

    fn on_accept(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        if self.phase != Phase::Handshake && self.phase != Phase::Connecting {
            return Err(PyRuntimeError::new_err(
                "websocket.accept sent after the WebSocket was accepted, refused or closed",
            ));
        }
        let subprotocol = match message.get_item(intern!(py, "subprotocol"))? {
            Some(p) if !p.is_none() => Some(p.extract::<String>().map_err(|_| {
                PyTypeError::new_err("websocket.accept 'subprotocol' must be a str")
            })?),
            _ => None,
        };
        let mut headers = ResponseHeadBuilder::fields_only();
        add_headers(&mut headers, message.get_item(intern!(py, "headers"))?)?;
        self.out.push(ResponseEvent::WsAccept(WsAccept {
            subprotocol,
            header_block: headers.finish().header_block,
        }));
        self.phase = Phase::Open;
        Ok(())
    }

    fn on_send(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        if self.phase != Phase::Open {
            return Err(PyRuntimeError::new_err(
                "websocket.send before websocket.accept",
            ));
        }
        let bytes = message
            .get_item(intern!(py, "bytes"))?
            .filter(|b| !b.is_none());
        let text = message
            .get_item(intern!(py, "text"))?
            .filter(|t| !t.is_none());
        let event = match (bytes, text) {
            (Some(bytes), None) => {
                let bytes = bytes
                    .cast_into::<PyBytes>()
                    .map_err(|_| PyTypeError::new_err("websocket.send 'bytes' must be bytes"))?;
                WsMessage::Binary(Bytes::copy_from_slice(bytes.as_bytes()))
            }
            (None, Some(text)) => {
                let text = text
                    .cast_into::<PyString>()
                    .map_err(|_| PyTypeError::new_err("websocket.send 'text' must be a str"))?;
                WsMessage::Text(Bytes::copy_from_slice(text.to_str()?.as_bytes()))
            }
            _ => {
                return Err(PyValueError::new_err(
                    "websocket.send needs exactly one of 'bytes' and 'text'",
                ))
            }
        };
        self.out.push(ResponseEvent::WsSend(event));
        Ok(())
    }

    fn on_close(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let code = match message.get_item(intern!(py, "code"))? {
            Some(c) if !c.is_none() => c
                .extract::<u16>()
                .map_err(|_| PyTypeError::new_err("websocket.close 'code' must be an int"))?,
            _ => 1000,
        };
        let reason = match message.get_item(intern!(py, "reason"))? {
            Some(r) if !r.is_none() => r
                .extract::<String>()
                .map_err(|_| PyTypeError::new_err("websocket.close 'reason' must be a str"))?,
            _ => String::new(),
        };
        match self.phase {
            Phase::Closed | Phase::Denying => {
                return Err(PyRuntimeError::new_err(
                    "websocket.close sent after the WebSocket was closed",
                ))
            }
            // Before the accept: the handshake is refused with 403.
            Phase::Connecting | Phase::Handshake | Phase::Open => {}
        }
        self.out.push(ResponseEvent::WsClose { code, reason });
        self.phase = Phase::Closed;
        Ok(())
    }

    fn on_denial_start(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        if !matches!(self.phase, Phase::Connecting | Phase::Handshake) || self.denial.is_some() {
            return Err(PyRuntimeError::new_err(
                "websocket.http.response.start is only allowed before websocket.accept",
            ));
        }
        let status: u16 = message
            .get_item(intern!(py, "status"))?
            .ok_or_else(|| PyValueError::new_err("websocket.http.response.start needs a 'status'"))?
            .extract()
            .map_err(|_| PyTypeError::new_err("'status' must be an int"))?;
        let mut head = ResponseHeadBuilder::from_code(status).map_err(PyValueError::new_err)?;
        add_headers(&mut head, message.get_item(intern!(py, "headers"))?)?;
        self.denial = Some(head.finish());
        self.phase = Phase::Denying;
        Ok(())
    }

    fn on_denial_body(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        if self.phase != Phase::Denying {
            return Err(PyRuntimeError::new_err(
                "websocket.http.response.body without websocket.http.response.start",
            ));
        }
        let data = match message.get_item(intern!(py, "body"))? {
            Some(b) => Bytes::copy_from_slice(
                b.cast_into::<PyBytes>()
                    .map_err(|_| PyTypeError::new_err("'body' must be bytes"))?
                    .as_bytes(),
            ),
            None => Bytes::new(),
        };
        let more = match message.get_item(intern!(py, "more_body"))? {
            Some(m) => m.is_truthy()?,
            None => false,
        };
        if let Some(head) = self.denial.take() {
            self.out.push(ResponseEvent::Start {
                head,
                body: data,
                end: !more,
            });
        } else {
            if !data.is_empty() {
                self.out.push(ResponseEvent::Data(data));
            }
            if !more {
                self.out.push(ResponseEvent::End);
            }
        }
        if !more {
            self.phase = Phase::Closed;
        }
        Ok(())
    }

    fn resume(&mut self, py: Python<'_>) -> PyResult<()> {
        let flushed = self.out.flush();
        self.waiters
            .settle_send(&self.core, py, &flushed, "the WebSocket is closed")?;
        let mut waiters = std::mem::take(&mut self.waiters);
        let answered = waiters.answer_receives(py, || self.poll_message(py));
        self.waiters = waiters;
        answered
    }

    fn disconnected_error(&self, py: Python<'_>) -> PyErr {
        match self
            .core
            .disconnected
            .bind(py)
            .call1(("the WebSocket is closed",))
        {
            Ok(err) => PyErr::from_value(err),
            Err(err) => err,
        }
    }
}

impl WsState {
    /// ASGI `receive()`.
    fn receive(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if !self.waiters.has_receive_queued() {
            if let Some(message) = self.poll_message(py)? {
                return Ok(Py::new(py, Ready::new(Some(message.into_any().unbind())))?.into_any());
            }
        }
        self.waiters.wait_receive(&self.core, py)
    }

    /// ASGI `send(message)`.
    fn send(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (message, kind) = message_of(message)?;
        // Spec 2.4: a send on a closed WebSocket raises an OSError subclass.
        if self.disconnected.is_some() && self.phase != Phase::Denying {
            return Err(self.disconnected_error(py));
        }
        match kind.as_str() {
            "websocket.accept" => self.on_accept(message)?,
            "websocket.send" => {
                if self.phase == Phase::Closed {
                    return Err(self.disconnected_error(py));
                }
                self.on_send(message)?;
            }
            "websocket.close" => self.on_close(message)?,
            "websocket.http.response.start" => self.on_denial_start(message)?,
            "websocket.http.response.body" => self.on_denial_body(message)?,
            other => {
                return Err(PyRuntimeError::new_err(format!(
                    "unexpected ASGI message {other:?} for a WebSocket"
                )))
            }
        }
        match self.out.flush() {
            Flush::Sent => Ok(self.core.ready_none.clone_ref(py).into_any()),
            Flush::Waiting => self.waiters.wait_send(&self.core, py),
            Flush::Gone => {
                self.disconnected.get_or_insert((1006, String::new()));
                Err(self.disconnected_error(py))
            }
        }
    }

    /// The task's done-callback: the failure rules (module docs), then the permit goes.
    fn done(&mut self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<()> {
        self.task_done = true;
        self.task = None;
        drop(self.permit.take());
        let failure = if task.call_method0(intern!(py, "cancelled"))?.is_truthy()? {
            Some(None)
        } else {
            let exception = task.call_method0(intern!(py, "exception"))?;
            if exception.is_none() {
                None
            } else {
                Some(Some(PyErr::from_value(exception)))
            }
        };
        match (failure, self.phase) {
            (Some(Some(err)), _) => {
                // Raised once the app knows the client has gone (FastAPI's
                // `WebSocketDisconnect` out of `receive_text`, our `ClientDisconnected`):
                // the end of the conversation, not an app error.
                if self.disconnected.is_some()
                    || err.is_instance(py, self.core.disconnected.bind(py))
                {
                    log_at!(
                        Level::Debug,
                        "{}: the app ended with an exception after the WebSocket closed: {err}",
                        self.line()
                    );
                } else {
                    log_app_error(py, &self.line(), &err);
                }
                if self.phase != Phase::Closed {
                    self.out.push(ResponseEvent::Abort(AbortReason::AppError));
                }
            }
            (Some(None), phase) if phase != Phase::Closed => {
                self.out.push(ResponseEvent::Abort(AbortReason::Internal));
            }
            (None, Phase::Connecting | Phase::Handshake | Phase::Denying) => {
                log::write(
                    Level::Error,
                    &format!(
                        "Error handling request {}: the ASGI app returned without accepting or closing the WebSocket",
                        self.line()
                    ),
                );
                self.out.push(ResponseEvent::Abort(AbortReason::AppError));
            }
            // Open: dropping the sender closes it with 1000; Closed: nothing left to do.
            _ => {}
        }
        self.out.flush();
        // Waiting receive()s of tasks the app spawned get their answer now if it is here.
        self.resume(py)?;
        if self.out.is_empty() && !self.waiters.has_receivers(py) {
            self.core.untrack(py, self.id);
        }
        Ok(())
    }
}

/// `headers` of `websocket.accept` or `websocket.http.response.start`: `[name, value]`
/// pairs of bytes, checked as response headers.
impl WsCycle {
    pub(crate) fn on_wake(cycle: &Bound<'_, WsCycle>) {
        let py = cycle.py();
        let mut this = cycle.borrow_mut();
        let Ok(this) = this.state.get_mut() else {
            return;
        };
        if let Err(err) = this.resume(py) {
            log_at!(
                Level::Error,
                "ASGI websocket {}: cannot resume a waiting receive() or send(): {err}",
                this.line()
            );
        }
        if this.task_done && this.out.is_empty() && !this.waiters.has_receivers(py) {
            this.core.untrack(py, this.id);
        }
    }

    pub(crate) fn cancel(cycle: &Bound<'_, WsCycle>) {
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
impl WsCycle {
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

fn add_headers(head: &mut ResponseHeadBuilder, headers: Option<Bound<'_, PyAny>>) -> PyResult<()> {
    match headers.filter(|h| !h.is_none()) {
        Some(headers) => each_header(&headers, |name, value| {
            head.add_bytes(name, value).map_err(PyValueError::new_err)
        }),
        None => Ok(()),
    }
}

fn type_message<'py>(py: Python<'py>, kind: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyDict>> {
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), kind)?;
    Ok(message)
}

fn disconnect_message<'py>(
    py: Python<'py>,
    code: u16,
    reason: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let message = type_message(py, intern!(py, "websocket.disconnect"))?;
    message.set_item(intern!(py, "code"), code.into_bound_py_any(py)?)?;
    message.set_item(intern!(py, "reason"), reason)?;
    Ok(message)
}
