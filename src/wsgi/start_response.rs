//! `start_response` and `write()` (PEP 3333 "The `start_response()` Callable"): validates
//! the status and headers into a `ResponseHead`, holds it until the first non-empty body
//! bytes (or the end), and sends response events to `conn`.
//!
//! Validation rejects what must never reach the wire (CR, LF, NUL or other controls, a
//! non-token name, a value outside latin-1, hop-by-hop headers): `start_response` raises,
//! the app's error becomes a 500, and the header is never emitted.

use bytes::Bytes;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::bridge::{EventSender, TrySendError};
use crate::bridge::{ResponseEvent, ResponseHead};

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
}

/// `true` for RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 §7.6.1 hop-by-hop fields, which PEP 3333 forbids apps to set.
fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Parses and validates `"200 OK"`.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_status(status: &str) -> Result<u16, String> {
    let b = status.as_bytes();
    let valid_code = b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ';
    if !valid_code {
        return Err(format!(
            "invalid status {status:?}: expected a 3-digit code, a space and a reason"
        ));
    }
    if let Some(c) = status
        .chars()
        .find(|&c| (c < ' ' && c != '\t') || c == '\x7f' || c > '\u{ff}')
    {
        return Err(format!("invalid status {status:?}: contains {c:?}"));
    }
    let code: u16 = status[..3]
        .parse()
        .map_err(|_| format!("invalid status {status:?}"))?;
    if !(200..=599).contains(&code) {
        return Err(format!(
            "invalid status {status:?}: the code must be 200-599"
        ));
    }
    Ok(code)
}

/// Builds a validated `ResponseHead` from the app's status and header list.
///
/// # Errors
/// A message naming the offending header.
pub fn validate_head<'a>(
    status: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ResponseHead, String> {
    let mut head = HeadBuilder::new(status)?;
    for (name, value) in headers {
        head.add(name, value)?;
    }
    Ok(head.finish())
}

/// Validates header fields one by one into a `ResponseHead`, borrowing the app's strings
/// (no allocation per header).
struct HeadBuilder {
    head: ResponseHead,
}

impl HeadBuilder {
    fn new(status: &str) -> Result<HeadBuilder, String> {
        let code = parse_status(status)?;
        Ok(HeadBuilder {
            head: ResponseHead {
                status: code,
                status_line: Bytes::copy_from_slice(status.as_bytes()),
                header_block: Vec::with_capacity(128),
                content_length: None,
                add_content_length: false,
                has_date: false,
                has_server: false,
                wants_close: false,
            },
        })
    }

    fn add(&mut self, name: &str, value: &str) -> Result<(), String> {
        let head = &mut self.head;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("invalid response header name {name:?}"));
        }
        let latin1 = if value.is_ascii() {
            if let Some(c) = value
                .bytes()
                .find(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
            {
                return Err(format!(
                    "invalid character {:?} in response header {name}",
                    char::from(c)
                ));
            }
            false
        } else {
            if let Some(c) = value
                .chars()
                .find(|&c| (c < ' ' && c != '\t') || c == '\x7f' || c > '\u{ff}')
            {
                return Err(format!("invalid character {c:?} in response header {name}"));
            }
            true
        };
        if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
            // Honoured rather than emitted: the server writes its own Connection header.
            head.wants_close = true;
            return Ok(());
        }
        if is_hop_by_hop(name) {
            return Err(format!(
                "hop-by-hop header {name} is not allowed from a WSGI app (PEP 3333)"
            ));
        }
        if name.eq_ignore_ascii_case("content-length") {
            let v = value.trim();
            if head.content_length.is_some() {
                return Err("duplicate Content-Length response header".to_owned());
            }
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("invalid Content-Length response header {value:?}"));
            }
            head.content_length = Some(
                v.parse()
                    .map_err(|_| format!("invalid Content-Length response header {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("date") {
            head.has_date = true;
        } else if name.eq_ignore_ascii_case("server") {
            head.has_server = true;
        }
        head.header_block.extend_from_slice(name.as_bytes());
        head.header_block.extend_from_slice(b": ");
        if latin1 {
            head.header_block.extend(value.chars().map(|c| c as u8));
        } else {
            head.header_block.extend_from_slice(value.as_bytes());
        }
        head.header_block.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn finish(self) -> ResponseHead {
        self.head
    }
}

const HEADER_SHAPE: &str = "each response header must be a (name, value) tuple of str";

/// Validates the app's header list (a list or tuple of `(str, str)` tuples) into `head`.
fn add_headers(head: &mut HeadBuilder, headers: &Bound<'_, PyAny>) -> PyResult<()> {
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
        let mut head = HeadBuilder::new(&status.to_cow()?).map_err(PyValueError::new_err)?;
        add_headers(&mut head, headers)?;
        slf.borrow_mut().head = Some(head.finish());
        slf.getattr(pyo3::intern!(slf.py(), "write"))
    }

    /// `write(data)`: the imperative body API. Sends at once (PEP 3333: the data must be
    /// handed on before `write` returns).
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        pairs.iter().copied()
    }

    #[test]
    fn validates_status_lines() {
        assert_eq!(parse_status("200 OK"), Ok(200));
        assert_eq!(parse_status("404 "), Ok(404));
        for bad in [
            "200",
            "20 OK",
            "200OK",
            "abc OK",
            "099 Low",
            "600 High",
            "200 O\r\nK",
            "200 \x00",
        ] {
            assert!(parse_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validates_headers_into_a_block() {
        let head = validate_head(
            "200 OK",
            h(&[
                ("Content-Type", "text/plain"),
                ("Content-Length", "5"),
                ("X-É", "1"),
            ]),
        );
        assert!(head.is_err());
        let head = validate_head(
            "200 OK",
            h(&[
                ("Content-Type", "text/plain"),
                ("Content-Length", "5"),
                ("X-A", "é"),
            ]),
        )
        .expect("valid");
        assert_eq!(
            head.header_block,
            b"Content-Type: text/plain\r\nContent-Length: 5\r\nX-A: \xe9\r\n"
        );
        assert_eq!(head.content_length, Some(5));
    }

    #[test]
    fn rejects_header_injection_and_hop_by_hop() {
        let rows: &[(&str, &str)] = &[
            ("X-A", "a\r\nSet-Cookie: x"),
            ("X-A", "a\nb"),
            ("X-A", "a\0"),
            ("X A", "v"),
            ("X:A", "v"),
            ("", "v"),
            ("Transfer-Encoding", "chunked"),
            ("Keep-Alive", "timeout=5"),
            ("Upgrade", "websocket"),
            ("Content-Length", "-1"),
            ("Content-Length", "1x"),
            ("X-A", "\u{100}"),
        ];
        for (name, value) in rows {
            assert!(
                validate_head("200 OK", h(&[(name, value)])).is_err(),
                "{name:?}: {value:?}"
            );
        }
    }

    #[test]
    fn honours_connection_close_without_emitting_it() {
        let head = validate_head("200 OK", h(&[("Connection", "close")])).expect("valid");
        assert!(head.wants_close);
        assert!(head.header_block.is_empty());
    }
}
