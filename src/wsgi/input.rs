//! `wsgi.input` (PEP 3333 "Input and Error Streams"): `read`, `readline`, `readlines` and
//! iteration over the request body, pulled from the connection on demand: each refill
//! asks `conn` for the next bytes (`NeedBody`) and waits, with the GIL released, for one
//! `BodyEvent`. Reading past the end returns `b""`.

use bytes::{Buf, BytesMut};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::bridge::{BodyEvent, ResponseEvent};
use crate::relay::{BodyReceiver, EventSender, TrySendError};

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
    pending: BytesMut,
    state: State,
    /// A failure is sticky: every later read raises it again.
    failure: Option<&'static str>,
}

impl Input {
    /// `empty`: the request has no body, so reads end at once without asking `conn`.
    pub fn new(body: BodyReceiver, events: EventSender, empty: bool) -> Input {
        Input {
            body,
            events,
            pending: BytesMut::new(),
            state: if empty { State::Ended } else { State::Open },
            failure: None,
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
        let events = &self.events;
        let body = &self.body;
        // GIL: released while waiting for room to ask and for the answer.
        let event = py.detach(|| {
            match events.try_send(ResponseEvent::NeedBody) {
                Ok(()) => {}
                Err(TrySendError::Full(ev)) => events.blocking_send(ev).ok()?,
                Err(TrySendError::Closed(_)) => return None,
            }
            body.recv().ok()
        });
        match event {
            Some(BodyEvent::Data(data)) => {
                if self.pending.is_empty() {
                    self.pending = BytesMut::from(data);
                } else {
                    self.pending.extend_from_slice(&data);
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
            None => {
                let msg = "the connection is gone; the request body cannot be read";
                self.failure = Some(msg);
                Err(RequestBodyError::new_err(msg))
            }
        }
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> Bound<'py, PyBytes> {
        let n = n.min(self.pending.len());
        let out = PyBytes::new(py, &self.pending[..n]);
        self.pending.advance(n);
        out
    }

    /// A line (through `\n`) of at most `limit` bytes (`None`: unbounded).
    fn line<'py>(
        &mut self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut scanned = 0;
        loop {
            let avail = limit.map_or(self.pending.len(), |l| self.pending.len().min(l));
            if let Some(i) = self.pending[scanned..avail]
                .iter()
                .position(|&b| b == b'\n')
            {
                return Ok(self.take(py, scanned + i + 1));
            }
            if let Some(l) = limit {
                if self.pending.len() >= l {
                    return Ok(self.take(py, l));
                }
            }
            scanned = avail;
            if !self.fill(py)? {
                let n = self.pending.len();
                return Ok(self.take(py, n));
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
        match limit_of(size) {
            None => {
                while self.fill(py)? {}
                let n = self.pending.len();
                Ok(self.take(py, n))
            }
            Some(n) => {
                while self.pending.len() < n && self.fill(py)? {}
                Ok(self.take(py, n))
            }
        }
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.line(py, limit_of(size))
    }

    /// Lines until their total size reaches `hint` (`None`/`<= 0`: all lines).
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Bound<'py, PyList>> {
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
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.line(py, None)?;
        Ok(if line.as_bytes().is_empty() {
            None
        } else {
            Some(line)
        })
    }
}
