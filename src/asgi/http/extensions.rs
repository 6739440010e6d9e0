//! The response extensions of an HTTP request (asgiref `specs/extensions.rst`), as more
//! `HttpState::send` messages: `http.response.pathsend` and `http.response.zerocopysend`
//! (file bodies, sent with sendfile(2) under `--sendfile`), `http.response.trailers` (a
//! trailer section after the last chunk) and `http.response.early_hint` (a `103`).

use bytes::Bytes;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::{HttpState, Response};
use crate::asgi::each_header;
use crate::bridge::{FileBody, ResponseEvent};
use crate::http::ResponseHeadBuilder;
use crate::log::Level;

/// RFC 9110 §6.5.1: fields a trailer section must not carry (framing, routing,
/// representation metadata, the trailer list itself).
fn is_forbidden_trailer(name: &[u8]) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "host",
        "content-type",
        "content-encoding",
        "content-range",
        "trailer",
        "set-cookie",
    ]
    .iter()
    .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
}

impl HttpState {
    /// Queues a file body: `http.response.pathsend` (`more` false) and
    /// `http.response.zerocopysend`. The head goes first when it waits; a whole response
    /// from one file gets the file's length as its `Content-Length`.
    fn on_file(&mut self, file: FileBody, more: bool, what: &str) -> PyResult<()> {
        match std::mem::replace(&mut self.response, Response::Done) {
            Response::NotStarted => {
                self.response = Response::NotStarted;
                return Err(PyRuntimeError::new_err(format!(
                    "{what} sent before http.response.start"
                )));
            }
            Response::HeadPending(mut head) => {
                if !more && !self.trailers_promised && head.content_length.is_none() {
                    head.content_length = Some(file.len);
                    head.add_content_length = true;
                }
                self.out.push(ResponseEvent::Start {
                    head,
                    body: Bytes::new(),
                    end: false,
                });
            }
            Response::Streaming => {}
            done @ (Response::Done | Response::AwaitingTrailers(_)) => {
                self.response = done;
                return Err(PyRuntimeError::new_err(format!(
                    "{what} sent after the last body message"
                )));
            }
        }
        if file.len > 0 {
            self.out.push(ResponseEvent::File(file));
        }
        if more {
            self.response = Response::Streaming;
        } else if self.trailers_promised {
            self.response = Response::AwaitingTrailers(Vec::new());
        } else {
            self.out.push(ResponseEvent::End);
        }
        Ok(())
    }

    /// `http.response.pathsend` (asgiref `specs/extensions.rst`): the file at `path`,
    /// whole, sent with sendfile(2) under the `--sendfile` policy.
    pub(super) fn on_pathsend(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let path: std::path::PathBuf = message
            .get_item(intern!(py, "path"))?
            .ok_or_else(|| PyValueError::new_err("http.response.pathsend needs a 'path'"))?
            .extract()
            .map_err(|_| PyTypeError::new_err("http.response.pathsend 'path' must be a str"))?;
        if !path.is_absolute() {
            return Err(PyValueError::new_err(format!(
                "http.response.pathsend 'path' must be absolute, got {}",
                path.display()
            )));
        }
        // A page-cache open and stat on the loop thread, as the app's own open would be.
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        self.on_file(
            FileBody {
                file,
                offset: 0,
                len,
            },
            false,
            "http.response.pathsend",
        )
    }

    /// `http.response.zerocopysend`: `count` bytes (default: to the end) of the open
    /// `file` from `offset` (default: its position), sent with sendfile(2). The server
    /// sends from its own duplicate of the descriptor, so the app may close its file.
    pub(super) fn on_zerocopysend(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let py = message.py();
        let file = message
            .get_item(intern!(py, "file"))?
            .ok_or_else(|| PyValueError::new_err("http.response.zerocopysend needs a 'file'"))?;
        let fd: i32 = file.call_method0(intern!(py, "fileno"))?.extract()?;
        // SAFETY: dup(2) of a descriptor the app holds open; the result is checked.
        let copy = unsafe { libc::dup(fd) };
        if copy < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: `copy` was just made and nothing else owns it.
        let owned = unsafe { std::fs::File::from_raw_fd(copy) };
        let offset = match message.get_item(intern!(py, "offset"))? {
            Some(o) if !o.is_none() => o.extract::<u64>()?,
            // SAFETY: lseek(2) on our own descriptor.
            _ => u64::try_from(unsafe { libc::lseek(owned.as_raw_fd(), 0, libc::SEEK_CUR) })
                .map_err(|_| std::io::Error::last_os_error())?,
        };
        let size = owned.metadata()?.len();
        let count = match message.get_item(intern!(py, "count"))? {
            Some(c) if !c.is_none() => c.extract::<u64>()?,
            _ => size.saturating_sub(offset),
        };
        let more = match message.get_item(intern!(py, "more_body"))? {
            Some(m) => m.is_truthy()?,
            None => false,
        };
        self.on_file(
            FileBody {
                file: owned,
                offset,
                len: count,
            },
            more,
            "http.response.zerocopysend",
        )
    }

    /// `http.response.trailers` (asgiref `specs/extensions.rst`): the trailer fields, after
    /// the last body message of a response that promised them; the response ends with the
    /// message whose `more_trailers` is false.
    pub(super) fn on_trailers(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        let Response::AwaitingTrailers(block) = &mut self.response else {
            return Err(PyRuntimeError::new_err(
                "http.response.trailers is only allowed after the last body message of a response started with trailers: True",
            ));
        };
        let mut fields = ResponseHeadBuilder::fields_only();
        if let Some(headers) = message.get_item(intern!(py, "headers"))? {
            each_header(&headers, |name, value| {
                if is_forbidden_trailer(name) {
                    return Err(PyValueError::new_err(format!(
                        "{} is not allowed in a trailer section (RFC 9110 §6.5.1)",
                        String::from_utf8_lossy(name)
                    )));
                }
                fields.add_bytes(name, value).map_err(PyValueError::new_err)
            })?;
        }
        block.extend_from_slice(&fields.finish().header_block);
        let more = match message.get_item(intern!(py, "more_trailers"))? {
            Some(m) => m.is_truthy()?,
            None => false,
        };
        if !more {
            let Response::AwaitingTrailers(block) =
                std::mem::replace(&mut self.response, Response::Done)
            else {
                unreachable!("checked above");
            };
            self.out.push(ResponseEvent::Trailers(block));
        }
        Ok(())
    }

    /// `http.response.early_hint` (asgiref `specs/extensions.rst`): a `103 Early Hints`
    /// with a `Link` field per entry of `links`, before the response starts; ignored after.
    pub(super) fn on_early_hint(&mut self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let py = message.py();
        if !matches!(self.response, Response::NotStarted) {
            log_at!(
                Level::Debug,
                "{}: http.response.early_hint after http.response.start ignored",
                self.line()
            );
            return Ok(());
        }
        let mut fields = ResponseHeadBuilder::fields_only();
        if let Some(links) = message.get_item(intern!(py, "links"))? {
            for link in links.try_iter()? {
                let link = link?;
                let link = link.cast::<PyBytes>().map_err(|_| {
                    PyTypeError::new_err("http.response.early_hint 'links' must be bytes")
                })?;
                fields
                    .add_bytes(b"link", link.as_bytes())
                    .map_err(PyValueError::new_err)?;
            }
        }
        let block = fields.finish().header_block;
        if !block.is_empty() {
            self.out.push(ResponseEvent::EarlyHints(block));
        }
        Ok(())
    }
}
