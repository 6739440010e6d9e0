//! `call_app`: runs one job through the app (PEP 3333 "Specification Details"):
//! 1. build the environ and `start_response`; call the app;
//! 2. send the result: a one-element list in one event with a computed Content-Length,
//!    a `FileWrapper` over a regular file with sendfile, anything else by iteration
//!    (bytes only; the head goes out with the first non-empty chunk);
//! 3. call the iterable's `close()` exactly once, whatever happened, before the response
//!    is ended; an exception from `close()` is logged and ends nothing: a complete body
//!    is still ended properly;
//! 4. an exception is logged with its traceback and aborts the response: before the head
//!    was sent the server answers with its 500 page (`conn::respond`), after it the
//!    connection closes.
//!
//! The `pre_request` hook runs before the app (raising is an app error: 500) and
//! `post_request` after the response is complete; each is one `Option` check when unset.

use bytes::BytesMut;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::file_wrapper::FileWrapper;
use super::input::Input;
use super::start_response::{send_event, SendError, Serving, StartResponse};
use super::{environ, Context};
use crate::bridge::{AbortReason, EventSender, FileBody, Request, ResponseEvent, ResponseHead};
use crate::http::{BodyFraming, RequestHead};
use crate::log::{self, Level};

/// A list whose total size is at most this is joined and sent in one event. 64 KiB:
/// one write for typical pages, chosen without measurement.
const JOIN_LIMIT: usize = 64 * 1024;

/// How the app's run ended.
enum Outcome {
    Done,
    /// The app raised (or broke the protocol).
    Failed(PyErr),
    /// The client went away; nothing more can be sent.
    Disconnected,
}

impl From<SendError> for Outcome {
    fn from(e: SendError) -> Outcome {
        match e {
            SendError::App(err) => Outcome::Failed(err),
            SendError::Disconnected => Outcome::Disconnected,
        }
    }
}

/// Runs one job. Never fails: every error is answered (500 or abort) and logged here.
pub fn call_app(
    py: Python<'_>,
    ctx: &Context,
    cache: &mut environ::EnvironStrings,
    request: Request,
) {
    let Request {
        head,
        conn,
        forwarded,
        body,
        events,
        ..
    } = request;
    let request = RequestLine(&head);
    let empty = matches!(head.framing, BodyFraming::Empty | BodyFraming::Length(0));
    let input = match Bound::new(py, Input::new(body, events.clone(), empty)) {
        Ok(i) => i,
        Err(err) => return fail_before_head(py, &events, &request, &err),
    };
    let env = match environ::build(
        py,
        cache,
        ctx.template.bind(py),
        &ctx.root_path,
        &head,
        &conn,
        forwarded.as_deref(),
        input,
    ) {
        Ok(env) => env,
        Err(err) => return fail_before_head(py, &events, &request, &err),
    };
    let start_response = StartResponse::new(events.clone());
    let start_response = if ctx.post_request.is_some() {
        start_response.recording()
    } else {
        start_response
    };
    let sr = match Bound::new(py, start_response) {
        Ok(sr) => sr,
        Err(err) => return fail_before_head(py, &events, &request, &err),
    };
    // `wsgi.early_hints` (the template's) sends for this request until call_app returns.
    let _serving = Serving::new(&sr);
    if let Some(pre) = &ctx.pre_request {
        if let Err(err) = pre.call1(py, (&env,)) {
            return fail_before_head(py, &events, &request, &err);
        }
    }
    let kept_env = ctx.post_request.as_ref().map(|_| env.clone());
    let (outcome, iterable) = match ctx.app.bind(py).call1((env, &sr)) {
        Ok(result) => (send_result(py, &result, &sr), Some(result)),
        Err(err) => (Outcome::Failed(err), None),
    };
    // PEP 3333: "If the iterable returned by the application has a close() method, the
    // server or gateway must call that method upon completion of the current request,
    // whether the request was completed normally, or terminated early due to an
    // application error during iteration or an early disconnect of the browser."
    // A close() that raises is logged and changes nothing else: after a complete body the
    // response still ends properly (its last chunk, or a connection that stays open), as
    // gunicorn does; the body the client got is the whole body.
    if let Some(err) = iterable.and_then(|it| close(py, &it).err()) {
        log_app_error(py, &request, "in close()", &err);
    }
    // The client got the server's 500 page when the app failed before its head went out
    // (only asked when post_request will be told).
    let answered_500 = ctx.post_request.is_some()
        && matches!(outcome, Outcome::Failed(_))
        && !sr.borrow().headers_sent();
    match outcome {
        Outcome::Done => {
            // A disconnect needs nothing more; a protocol error by the app becomes a 500.
            if let Err(SendError::App(err)) = sr.borrow_mut().finish(py) {
                log_app_error(py, &request, "", &err);
                // A failed send means the client is gone.
                let _ = send_event(py, &events, ResponseEvent::Abort(AbortReason::AppError));
            }
        }
        Outcome::Disconnected => {
            log::write(
                Level::Debug,
                &format!("{request}: client disconnected during the response"),
            );
        }
        Outcome::Failed(err) => {
            log_app_error(py, &request, "", &err);
            // A bug in ferrule rather than the app's: closed like one (`pool` reports it).
            let reason = if err.is_instance_of::<super::InternalError>(py) {
                AbortReason::Internal
            } else {
                AbortReason::AppError
            };
            // A failed send means the client is gone; there is nobody left to tell.
            let _ = send_event(py, &events, ResponseEvent::Abort(reason));
        }
    }
    if let (Some(post), Some(env)) = (&ctx.post_request, kept_env) {
        run_post_request(py, post, &env, &sr, answered_500);
    }
}

/// Calls `post(environ, status, headers, sent)`; the hook runner logs the hook's failures.
/// `answered_500`: the server answered with its 500 page, whatever the app had started.
fn run_post_request(
    py: Python<'_>,
    post: &Py<PyAny>,
    env: &Bound<'_, pyo3::types::PyDict>,
    sr: &Bound<'_, StartResponse>,
    answered_500: bool,
) {
    let recorded = sr
        .borrow_mut()
        .take_recorded()
        .expect("call_app records the response whenever post_request is set");
    let (status, headers) = match (recorded.status, recorded.headers) {
        (Some(status), Some(headers)) if !answered_500 => (status, headers),
        _ => (
            pyo3::types::PyString::new(py, "500 Internal Server Error")
                .into_any()
                .unbind(),
            PyList::empty(py).into_any().unbind(),
        ),
    };
    if let Err(err) = post.call1(py, (env, status, headers, recorded.sent)) {
        log::write(Level::Error, &format!("cannot run post_request: {err}"));
    }
}

/// Sends the app's result (step 2 of the module docs).
fn send_result(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    sr: &Bound<'_, StartResponse>,
) -> Outcome {
    if let Ok(list) = result.cast_exact::<PyList>() {
        if let Some(outcome) = send_list(py, list, sr) {
            return outcome;
        }
    }
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        if let Some(outcome) = send_file(py, wrapper.get(), sr) {
            return outcome;
        }
    }
    iterate(py, result, sr)
}

/// The fast path for lists of bytes: the whole body is known, so it gets a
/// Content-Length and (when small) goes out in one event. `None`: not applicable.
fn send_list(
    py: Python<'_>,
    list: &Bound<'_, PyList>,
    sr: &Bound<'_, StartResponse>,
) -> Option<Outcome> {
    let mut sr = sr.borrow_mut();
    if sr.headers_sent() {
        return None;
    }
    let head = sr.head_mut()?;
    if list.len() == 1 {
        // The common case (`return [body]`), without collecting.
        let item = list.get_item(0).ok()?;
        let body = item.cast::<PyBytes>().ok()?;
        if head.content_length.is_none() {
            head.content_length = Some(body.as_bytes().len() as u64);
            head.add_content_length = true;
        }
        let body = super::body_bytes(body);
        return Some(
            sr.send_whole(py, body)
                .map_or_else(Outcome::from, |()| Outcome::Done),
        );
    }
    let items: Vec<Bound<'_, PyBytes>> = list
        .iter()
        .map(|item| item.cast_into::<PyBytes>().ok())
        .collect::<Option<_>>()?;
    let total: usize = items.iter().map(|b| b.as_bytes().len()).sum();
    if head.content_length.is_none() {
        head.content_length = Some(total as u64);
        head.add_content_length = true;
    }
    if total <= JOIN_LIMIT {
        let body = match items.as_slice() {
            [one] => super::body_bytes(one),
            many => {
                let mut joined = BytesMut::with_capacity(total);
                for b in many {
                    joined.extend_from_slice(b.as_bytes());
                }
                joined.freeze()
            }
        };
        return Some(
            sr.send_whole(py, body)
                .map_or_else(Outcome::from, |()| Outcome::Done),
        );
    }
    for item in &items {
        if let Err(e) = sr.send_body(py, super::body_bytes(item)) {
            return Some(e.into());
        }
    }
    Some(Outcome::Done)
}

/// `wsgi.file_wrapper` over a regular file: sendfile. `None`: not a regular file (or
/// the head already went out through `write()`), iterate instead.
fn send_file(
    py: Python<'_>,
    wrapper: &FileWrapper,
    sr: &Bound<'_, StartResponse>,
) -> Option<Outcome> {
    let mut sr = sr.borrow_mut();
    if sr.headers_sent() {
        return None;
    }
    let head: &mut ResponseHead = sr.head_mut()?;
    let file = wrapper.sendable(py)?;
    let len = if let Some(declared) = head.content_length {
        file.len.min(declared)
    } else {
        head.content_length = Some(file.len);
        head.add_content_length = true;
        file.len
    };
    let event = ResponseEvent::File(FileBody {
        file: file.file,
        offset: file.offset,
        len,
    });
    Some(
        sr.send_after_head(py, event)
            .map_or_else(Outcome::from, |()| Outcome::Done),
    )
}

/// The general case: iterate, bytes only.
fn iterate(py: Python<'_>, result: &Bound<'_, PyAny>, sr: &Bound<'_, StartResponse>) -> Outcome {
    let Ok(iter) = result.try_iter() else {
        return Outcome::Failed(PyTypeError::new_err(format!(
            "the app must return an iterable of bytes, not {}",
            type_name(result)
        )));
    };
    for item in iter {
        let item = match item {
            Ok(item) => item,
            Err(err) => return Outcome::Failed(err),
        };
        let Ok(chunk) = item.cast::<PyBytes>() else {
            return Outcome::Failed(PyTypeError::new_err(format!(
                "the app's iterable must yield bytes, not {}",
                type_name(&item)
            )));
        };
        #[cfg(debug_assertions)]
        super::panic_on_demand(chunk.as_bytes());
        let data = super::body_bytes(chunk);
        if let Err(e) = sr.borrow_mut().send_body(py, data) {
            return e.into();
        }
    }
    Outcome::Done
}

fn close(py: Python<'_>, iterable: &Bound<'_, PyAny>) -> PyResult<()> {
    if iterable.is_exact_instance_of::<PyList>() {
        return Ok(());
    }
    match iterable.getattr_opt(intern!(py, "close"))? {
        Some(close) => close.call0().map(drop),
        None => Ok(()),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

fn fail_before_head(py: Python<'_>, events: &EventSender, request: &RequestLine<'_>, err: &PyErr) {
    log_app_error(py, request, "", err);
    // A failed send means the client is gone.
    let _ = send_event(py, events, ResponseEvent::Abort(AbortReason::AppError));
}

/// `GET /path?query` for log lines, formatted only when a line is written.
pub struct RequestLine<'a>(pub &'a RequestHead);

impl std::fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.0.method(),
            String::from_utf8_lossy(self.0.target())
        )
    }
}

/// Logs an app error with its Python traceback, once. An `InternalError` is not the app's:
/// `pool` reports the panic behind it, with the request.
pub fn log_app_error(py: Python<'_>, request: &RequestLine<'_>, context: &str, err: &PyErr) {
    if !log::enabled(Level::Error) || err.is_instance_of::<super::InternalError>(py) {
        return;
    }
    let trace = format_exception(py, err);
    let sep = if context.is_empty() { "" } else { " " };
    log::write(
        Level::Error,
        &format!("Error handling request {request}{sep}{context}\n{trace}"),
    );
}

/// `traceback.format_exception(type, value, tb)` joined; falls back to the exception's `str`.
///
/// The traceback is passed explicitly: before Python 3.12 a fetched error keeps it apart from
/// the exception object (`value.__traceback__` is unset), so `format_exception(value)` alone
/// would print the message without the traceback.
pub fn format_exception(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let tb = py.import(intern!(py, "traceback"))?;
        let args = (err.get_type(py), err.value(py), err.traceback(py));
        let lines = tb.call_method1(intern!(py, "format_exception"), args)?;
        let lines: Vec<String> = lines.extract()?;
        Ok(lines.concat())
    })();
    formatted.unwrap_or_else(|_| format!("{err}\n"))
}
