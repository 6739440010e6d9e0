//! `wsgi.input` (PEP 3333 "Input and Error Streams"): `read`, `readline`, `readlines` and
//! iteration over the request body, pulled from the connection on demand: a refill takes
//! what `conn` already sent (the body bytes that came with the head, or a piece read
//! ahead), else asks for the next bytes (`NeedBody`) and waits, with the GIL released, for
//! one `BodyEvent`. After each piece it asks for the next one without waiting, so `conn`
//! reads the socket while the app works on the piece (one piece ahead at most). Reading
//! past the end returns `b""`.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::bridge::{BodyEvent, ResponseEvent};
use crate::bridge::{BodyReceiver, EventSender, TrySendError};

pyo3::create_exception!(
    ferrule._ferrule,
    RequestBodyError,
    PyOSError,
    "The request body could not be read to its end (client gone, timeout, too large, bad framing)."
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Ended,
}

/// The object behind `environ["wsgi.input"]`.
#[pyclass(module = "ferrule._ferrule")]
pub struct Input {
    body: BodyReceiver,
    events: EventSender,
    /// Bytes received and not yet returned to the app.
    pending: Pending,
    state: State,
    /// A failure is sticky: every later read raises it again.
    failure: Option<&'static str>,
    /// A `NeedBody` was sent and its answer not yet taken.
    asked: bool,
}

impl Input {
    /// `empty`: the request has no body, so reads end at once without asking `conn`.
    pub fn new(body: BodyReceiver, events: EventSender, empty: bool) -> Input {
        Input {
            body,
            events,
            pending: Pending::default(),
            state: if empty { State::Ended } else { State::Open },
            failure: None,
            asked: false,
        }
    }

    /// Fetches the next body bytes into `pending`. `Ok(false)` at the end of the body.
    fn fill(&mut self, py: Python<'_>) -> PyResult<bool> {
        if let Some(msg) = self.failure {
            return Err(RequestBodyError::new_err(msg));
        }
        if self.state == State::Ended {
            return Ok(false);
        }
        let event = if let Some(event) = self.body.try_recv() {
            Some(event)
        } else {
            let (events, body, asked) = (&self.events, &self.body, self.asked);
            // GIL: released while waiting for room to ask and for the answer.
            py.detach(|| {
                if !asked {
                    match events.try_send(ResponseEvent::NeedBody) {
                        Ok(()) => {}
                        Err(TrySendError::Full(ev)) => events.blocking_send(ev).ok()?,
                        Err(TrySendError::Closed(_)) => return None,
                    }
                }
                body.recv().ok()
            })
        };
        // Whatever came answers the demand if there was one: `NeedBody` is only sent when
        // nothing waits, so earlier events were all taken before it.
        self.asked = false;
        match event {
            Some(BodyEvent::Data(data)) => {
                self.pending.push(data);
                // Read ahead: ask for the next piece now, unless something waits already
                // (the end, say). A full event queue just skips it.
                if self.body.is_empty() && self.events.try_send(ResponseEvent::NeedBody).is_ok() {
                    self.asked = true;
                }
                Ok(true)
            }
            Some(BodyEvent::End) => {
                self.state = State::Ended;
                Ok(false)
            }
            Some(BodyEvent::Failed(failure)) => {
                self.failure = Some(failure.message());
                Err(RequestBodyError::new_err(failure.message()))
            }
            // WebSocket events never reach a WSGI request; read as a lost connection.
            Some(BodyEvent::WsMessage(_) | BodyEvent::WsClosed { .. }) | None => {
                let msg = "the connection is gone; the request body cannot be read";
                self.failure = Some(msg);
                Err(RequestBodyError::new_err(msg))
            }
        }
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyBytes>> {
        let n = n.min(self.pending.len());
        let pending = &mut self.pending;
        if let Some(front) = pending.chunks.front_mut().filter(|c| c.len() >= n) {
            // Within one piece (the usual case): one copy, and no zeroing first as
            // `new_with` does.
            let out = PyBytes::new(py, &front[..n]);
            front.advance(n);
            pending.len -= n;
            if front.is_empty() {
                pending.chunks.pop_front();
            }
            return Ok(out);
        }
        PyBytes::new_with(py, n, |out| {
            pending.take_into(out);
            Ok(())
        })
    }

    /// A line (through `\n`) of at most `limit` bytes (`None`: unbounded).
    fn line<'py>(
        &mut self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut scanned = 0;
        // Where the scan stopped, so each new piece is searched once: a long line sent in
        // tiny chunks (3-byte chunks of a 70 KB line: 23 000 pieces) would otherwise be
        // rescanned from its first piece after every fill, quadratic in its length.
        let mut cursor = ScanCursor::default();
        loop {
            let avail = limit.map_or(self.pending.len(), |l| self.pending.len().min(l));
            if let Some(i) = self.pending.find_newline_from(&mut cursor, scanned, avail) {
                return self.take(py, i + 1);
            }
            if let Some(l) = limit {
                if self.pending.len() >= l {
                    return self.take(py, l);
                }
            }
            scanned = avail;
            if !self.fill(py)? {
                let n = self.pending.len();
                return self.take(py, n);
            }
        }
    }
}

/// The first piece a line search has not searched whole yet, and its offset.
#[derive(Default)]
struct ScanCursor {
    index: usize,
    base: usize,
}

/// Body pieces received and not yet read, kept as they came: a read copies them once,
/// straight into the `bytes` object it returns.
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.len += data.len();
            self.chunks.push_back(data);
        }
    }

    /// The offset of the first `\n` in `from..to`.
    #[cfg(test)]
    fn find_newline(&self, from: usize, to: usize) -> Option<usize> {
        self.find_newline_from(&mut ScanCursor::default(), from, to)
    }

    /// The offset of the first `\n` in `from..to`, starting at `cursor`, which is moved
    /// past the pieces searched whole (valid while no piece is taken from the front).
    fn find_newline_from(&self, cursor: &mut ScanCursor, from: usize, to: usize) -> Option<usize> {
        let mut base = cursor.base;
        for (index, chunk) in self.chunks.iter().enumerate().skip(cursor.index) {
            if base >= to {
                break;
            }
            let end = base + chunk.len();
            if end > from {
                let start = from.saturating_sub(base);
                let stop = (to - base).min(chunk.len());
                if let Some(i) = chunk[start..stop].iter().position(|&b| b == b'\n') {
                    return Some(base + start + i);
                }
            }
            if end <= to {
                *cursor = ScanCursor {
                    index: index + 1,
                    base: end,
                };
            }
            base = end;
        }
        None
    }

    /// Fills `out` from the front (`out.len() <= self.len()`).
    fn take_into(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            let Some(chunk) = self.chunks.front_mut() else {
                break;
            };
            let n = out.len().min(chunk.len());
            out[..n].copy_from_slice(&chunk[..n]);
            chunk.advance(n);
            self.len -= n;
            out = &mut out[n..];
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
        }
    }
}

/// `None` or a negative size means "no limit", as in `io`.
fn limit_of(size: Option<isize>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        super::guard(|| match limit_of(size) {
            None => {
                while self.fill(py)? {}
                let n = self.pending.len();
                self.take(py, n)
            }
            Some(n) => {
                while self.pending.len() < n && self.fill(py)? {}
                self.take(py, n)
            }
        })
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        super::guard(|| self.line(py, limit_of(size)))
    }

    /// Lines until their total size reaches `hint` (`None`/`<= 0`: all lines).
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
        super::guard(|| {
            let hint = limit_of(hint).filter(|&h| h > 0);
            let lines = PyList::empty(py);
            let mut total = 0;
            loop {
                let line = self.line(py, None)?;
                let len = line.as_bytes().len();
                if len == 0 {
                    break;
                }
                lines.append(line)?;
                total += len;
                if hint.is_some_and(|h| total >= h) {
                    break;
                }
            }
            Ok(lines)
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        super::guard(|| {
            let line = self.line(py, None)?;
            Ok(if line.as_bytes().is_empty() {
                None
            } else {
                Some(line)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;
    use bytes::Bytes;

    fn pending(parts: &[&'static str]) -> Pending {
        let mut p = Pending::default();
        for part in parts {
            p.push(Bytes::from_static(part.as_bytes()));
        }
        p
    }

    #[test]
    fn finds_a_newline_in_any_piece_within_the_window() {
        let p = pending(&["ab", "", "c\nd", "ef\n"]);
        assert_eq!(p.len(), 8);
        assert_eq!(p.find_newline(0, 8), Some(3));
        assert_eq!(p.find_newline(4, 8), Some(7));
        assert_eq!(p.find_newline(0, 3), None);
        assert_eq!(p.find_newline(4, 7), None);
    }

    #[test]
    fn a_cursor_searches_each_piece_once_across_fills() {
        let mut p = pending(&["ab", "cd"]);
        let mut cursor = super::ScanCursor::default();
        assert_eq!(p.find_newline_from(&mut cursor, 0, 4), None);
        assert_eq!((cursor.index, cursor.base), (2, 4));
        p.push(Bytes::from_static(b"e"));
        p.push(Bytes::from_static(b"f\ng"));
        // Searching a window that ends inside a piece does not move past that piece.
        assert_eq!(p.find_newline_from(&mut cursor, 4, 6), None);
        assert_eq!((cursor.index, cursor.base), (3, 5));
        assert_eq!(p.find_newline_from(&mut cursor, 6, 8), Some(6));
    }

    #[test]
    fn takes_across_pieces_in_order() {
        let mut p = pending(&["ab", "cde", "f"]);
        let mut out = [0u8; 4];
        p.take_into(&mut out);
        assert_eq!(&out, b"abcd");
        assert_eq!(p.len(), 2);
        assert_eq!(p.find_newline(0, 2), None);
        let mut rest = [0u8; 2];
        p.take_into(&mut rest);
        assert_eq!(&rest, b"ef");
        assert_eq!(p.len(), 0);
    }
}
