//! `start_response` and `write()` (PEP 3333 "The `start_response()` Callable"): validates
//! the status and headers into a `ResponseHead`, holds it until the first non-empty body
//! bytes (or the end), and sends response events to `conn`.
//!
//! Validation rejects what must never reach the wire (CR, LF, NUL or other controls, a
//! non-token name, a value outside latin-1, hop-by-hop headers): `start_response` raises,
//! the app's error becomes a 500, and the header is never emitted.

use std::cell::RefCell;

use bytes::Bytes;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::bridge::{EventSender, ResponseEvent, ResponseHead, TrySendError};
use crate::http::ResponseHeadBuilder;

/// The connection is gone: nobody receives response events any more.
#[derive(Debug)]
pub struct Disconnected;

/// Sends one event, waiting with the GIL released when the channel is full.
pub fn send_event(
    py: Python<'_>,
    events: &EventSender,
    event: ResponseEvent,
) -> Result<(), Disconnected> {
    match events.try_send(event) {
        Ok(()) => Ok(()),
        // GIL: released while the client reads what is already queued.
        Err(TrySendError::Full(event)) => py
            .detach(|| events.blocking_send(event))
            .map_err(|_| Disconnected),
        Err(TrySendError::Closed(_)) => Err(Disconnected),
    }
}

/// The `start_response` callable handed to the app, and the response's state.
#[pyclass(module = "ferrule._ferrule")]
pub struct StartResponse {
    events: EventSender,
    /// The validated head, until it is sent.
    head: Option<ResponseHead>,
    headers_sent: bool,
    /// The response was completed (`End` or a final `Start` sent).
    finished: bool,
    /// For the `post_request` hook only (None otherwise, so nothing is kept): the status and
    /// headers the app gave, and the body bytes sent so far.
    recorded: Option<Recorded>,
}

/// What `post_request` is told about the response.
#[derive(Default)]
pub struct Recorded {
    /// The status `str` the app gave `start_response` (the last one, with `exc_info`).
    pub status: Option<Py<PyAny>>,
    /// The header list the app gave with it.
    pub headers: Option<Py<PyAny>>,
    /// Body bytes the app produced and `call_app` sent on.
    pub sent: u64,
}

const HEADER_SHAPE: &str = "each response header must be a (name, value) tuple of str";

/// Validates the app's header list (a list or tuple of `(str, str)` tuples) into `head`.
fn add_headers(head: &mut ResponseHeadBuilder, headers: &Bound<'_, PyAny>) -> PyResult<()> {
    if !(headers.is_instance_of::<pyo3::types::PyList>() || headers.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!(
            "response headers must be a list of (name, value) tuples, not {}",
            headers.get_type().name()?
        )));
    }
    for item in headers.try_iter()? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err(HEADER_SHAPE))?;
        if pair.len() != 2 {
            return Err(PyTypeError::new_err(HEADER_SHAPE));
        }
        let name = pair.get_borrowed_item(0)?;
        let value = pair.get_borrowed_item(1)?;
        let (Ok(name), Ok(value)) = (name.cast::<PyString>(), value.cast::<PyString>()) else {
            return Err(PyTypeError::new_err(format!(
                "response header names and values must be str, got ({}, {})",
                name.get_type().name()?,
                value.get_type().name()?
            )));
        };
        head.add(&name.to_cow()?, &value.to_cow()?)
            .map_err(PyValueError::new_err)?;
    }
    Ok(())
}

impl StartResponse {
    pub fn new(events: EventSender) -> StartResponse {
        StartResponse {
            events,
            head: None,
            headers_sent: false,
            finished: false,
            recorded: None,
        }
    }

    /// Keeps what `post_request` reads (`recorded`).
    #[must_use]
    pub fn recording(mut self) -> StartResponse {
        self.recorded = Some(Recorded::default());
        self
    }

    /// What was recorded (`recording`), once the response is done.
    pub fn take_recorded(&mut self) -> Option<Recorded> {
        self.recorded.take()
    }

    fn count(&mut self, bytes: u64) {
        if let Some(recorded) = &mut self.recorded {
            recorded.sent += bytes;
        }
    }

    pub fn headers_sent(&self) -> bool {
        self.headers_sent
    }

    /// The pending head, for the driver's fast paths (e.g. to add a computed length).
    pub fn head_mut(&mut self) -> Option<&mut ResponseHead> {
        self.head.as_mut()
    }

    /// Sends body bytes; the head goes out with the first non-empty ones.
    ///
    /// # Errors
    /// `start_response` was not called (a Python error), or the client is gone.
    pub fn send_body(&mut self, py: Python<'_>, data: Bytes) -> Result<(), SendError> {
        if data.is_empty() {
            return Ok(());
        }
        self.count(data.len() as u64);
        if self.headers_sent {
            return send_event(py, &self.events, ResponseEvent::Data(data))
                .map_err(|_| SendError::Disconnected);
        }
        let head = self.take_head()?;
        self.headers_sent = true;
        send_event(
            py,
            &self.events,
            ResponseEvent::Start {
                head,
                body: data,
                end: false,
            },
        )
        .map_err(|_| SendError::Disconnected)
    }

    /// Sends the whole response at once (head, body, end).
    ///
    /// # Errors
    /// As `send_body`.
    pub fn send_whole(&mut self, py: Python<'_>, body: Bytes) -> Result<(), SendError> {
        let head = self.take_head()?;
        self.count(body.len() as u64);
        self.headers_sent = true;
        self.finished = true;
        send_event(
            py,
            &self.events,
            ResponseEvent::Start {
                head,
                body,
                end: true,
            },
        )
        .map_err(|_| SendError::Disconnected)
    }

    /// Sends an event after the head (a file body).
    ///
    /// # Errors
    /// As `send_body`.
    pub fn send_after_head(
        &mut self,
        py: Python<'_>,
        event: ResponseEvent,
    ) -> Result<(), SendError> {
        if !self.headers_sent {
            let head = self.take_head()?;
            self.headers_sent = true;
            send_event(
                py,
                &self.events,
                ResponseEvent::Start {
                    head,
                    body: Bytes::new(),
                    end: false,
                },
            )
            .map_err(|_| SendError::Disconnected)?;
        }
        if let ResponseEvent::File(file) = &event {
            self.count(file.len);
        }
        send_event(py, &self.events, event).map_err(|_| SendError::Disconnected)
    }

    /// Completes the response: the head if it never went out (empty body), then the end.
    ///
    /// # Errors
    /// As `send_body`.
    pub fn finish(&mut self, py: Python<'_>) -> Result<(), SendError> {
        if self.finished {
            return Ok(());
        }
        if !self.headers_sent {
            return self.send_whole(py, Bytes::new());
        }
        self.finished = true;
        send_event(py, &self.events, ResponseEvent::End).map_err(|_| SendError::Disconnected)
    }

    /// Sends a `103 Early Hints` (RFC 8297) with these `(name, value)` fields, checked as
    /// response headers are, before the response's head. Ignored once the head is out;
    /// `conn` drops it for HTTP/1.0.
    fn early_hints(&self, py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.headers_sent {
            return Ok(());
        }
        let mut fields = ResponseHeadBuilder::fields_only();
        add_headers(&mut fields, headers)?;
        let block = fields.finish().header_block;
        if !block.is_empty() {
            // A disconnected client shows at the response's own send.
            let _ = send_event(py, &self.events, ResponseEvent::EarlyHints(block));
        }
        Ok(())
    }

    fn take_head(&mut self) -> Result<ResponseHead, SendError> {
        self.head.take().ok_or_else(|| {
            SendError::App(PyRuntimeError::new_err(
                "the app sent a body without calling start_response() first",
            ))
        })
    }
}

/// Why body bytes could not be sent.
#[derive(Debug)]
pub enum SendError {
    /// A protocol error by the app, as a Python exception.
    App(PyErr),
    Disconnected,
}

#[pymethods]
impl StartResponse {
    /// `start_response(status, response_headers, exc_info=None)`; returns `write`.
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        super::guard(|| {
            let exc_info = exc_info.filter(|e| !e.is_none());
            {
                let this = slf.borrow();
                if let Some(exc_info) = exc_info {
                    // PEP 3333: if the headers were already sent, re-raise the app's exception.
                    if this.headers_sent {
                        let value = exc_info.get_item(1)?;
                        return Err(PyErr::from_value(value));
                    }
                } else if this.head.is_some() || this.headers_sent {
                    return Err(PyRuntimeError::new_err(
                        "start_response() called a second time without exc_info (PEP 3333)",
                    ));
                }
            }
            let status = status.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "status must be str, not {}",
                    status
                        .get_type()
                        .name()
                        .map_or_else(|_| "?".into(), |n| n.to_string())
                ))
            })?;
            let mut head =
                ResponseHeadBuilder::new(&status.to_cow()?).map_err(PyValueError::new_err)?;
            add_headers(&mut head, headers)?;
            let mut this = slf.borrow_mut();
            this.head = Some(head.finish());
            if let Some(recorded) = &mut this.recorded {
                recorded.status = Some(status.clone().into_any().unbind());
                recorded.headers = Some(headers.clone().unbind());
            }
            drop(this);
            slf.getattr(pyo3::intern!(slf.py(), "write"))
        })
    }

    /// `write(data)`: the imperative body API. Sends at once (PEP 3333: the data must be
    /// handed on before `write` returns).
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        super::guard(|| {
            let data = data.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "write() takes bytes, not {}",
                    data.get_type()
                        .name()
                        .map_or_else(|_| "?".into(), |n| n.to_string())
                ))
            })?;
            match self.send_body(py, super::body_bytes(data)) {
                Ok(()) => Ok(()),
                Err(SendError::App(err)) => Err(err),
                Err(SendError::Disconnected) => {
                    Err(pyo3::exceptions::PyOSError::new_err("client disconnected"))
                }
            }
        })
    }
}

thread_local! {
    /// The `start_response` of the request this Python thread is running, while
    /// `call_app` runs it (`Serving`): where `wsgi.early_hints` sends.
    static SERVING: RefCell<Option<Py<StartResponse>>> = const { RefCell::new(None) };
}

/// While alive, `wsgi.early_hints` on this thread belongs to `sr`'s request; the previous
/// one (none: `call_app` does not nest) comes back on drop.
pub struct Serving(Option<Py<StartResponse>>);

impl Serving {
    pub fn new(sr: &Bound<'_, StartResponse>) -> Serving {
        Serving(SERVING.with(|s| s.replace(Some(sr.clone().unbind()))))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let previous = self.0.take();
        // The request's reference is released here, with the GIL `call_app` holds.
        drop(SERVING.with(|s| s.replace(previous)));
    }
}

/// `wsgi.early_hints(headers)` (gunicorn 25's extension): a `103 Early Hints` (RFC 8297)
/// for the request the calling thread is running. One object per worker, in the environ
/// template, so a request pays nothing for it: the request is found through `Serving`
/// instead of being bound into a new callable each time (a method object per request cost
/// ~500 instructions, 1.5 % of `hello`). Called where this thread runs no request (from
/// another thread, or after the response) it does nothing, as hints are advisory. An app
/// that keeps an environ past its request (PEP 3333 gives it no such lifetime) and calls
/// this during a later request of the same thread hints that request.
#[pyclass(frozen, module = "ferrule._ferrule")]
pub struct EarlyHints;

#[pymethods]
impl EarlyHints {
    #[allow(clippy::unused_self)] // the callable object carries no state: see `SERVING`
    fn __call__(&self, py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        super::guard(|| {
            let Some(sr) = SERVING.with(|s| s.borrow().as_ref().map(|sr| sr.clone_ref(py))) else {
                return Ok(());
            };
            // Busy: ferrule itself is in the middle of this response (cannot happen from
            // the app's own thread); the hints are dropped rather than waited for.
            let Ok(sr) = sr.bind(py).try_borrow() else {
                return Ok(());
            };
            sr.early_hints(py, headers)
        })
    }
}
