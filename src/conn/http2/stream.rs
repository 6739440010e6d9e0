//! One HTTP/2 stream, in a task of its own: its head becomes a `RequestHead` (`head`), the
//! request is admitted and handed over as the same `Job` an HTTP/1.1 request is (with a
//! `Link` of its own), then the app's events are written as HEADERS and DATA frames while
//! its body demands are answered from DATA frames. Flow control is the backpressure both
//! ways: the stream's receive window reopens only as the app takes body bytes, and a
//! response piece is sent only as the client's window allows (`send_timeout` bounds each
//! wait for it).

use std::future::poll_fn;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use tokio::time::{sleep_until, timeout, Instant};

use super::head::{self, Pseudo};
use super::Shared;
use crate::bridge::{
    AbortReason, BodyEvent, BodyFailure, FileBody, Handler, Link, RequestKind, ResponseEvent,
};
use crate::conn::access::AccessStart;
use crate::conn::dispatch;
use crate::conn::respond::Page;
use crate::conn::static_file::{self, StaticAnswer};
use crate::http::{BodyFraming, HttpError, RequestHead};
use crate::log::Level;
use crate::metrics;
use crate::proxy::Forwarded;

/// How a stream ended, for the connection's reset count (the rapid reset defence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamEnd {
    /// The response was sent whole (or the server answered on its own).
    Answered,
    /// The client reset the stream before its response was complete.
    ResetByClient,
    /// The server reset the stream (a failure after the head, a timeout, a broken send).
    ResetByServer,
}

/// Bytes per read of a `wsgi.file_wrapper` file; one DATA frame is 16 KiB, `h2` splits.
const FILE_PIECE: usize = 64 * 1024;

/// Ends the request's channels when the stream's task ends, however it ends (a panic, the
/// connection dropping the task): the app side's next send fails and it stops, instead of
/// waiting for room in a queue nobody reads.
struct LinkGuard(Arc<Link>);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Where the response stands.
enum Respond {
    /// No head sent yet.
    Waiting(SendResponse<Bytes>),
    /// The head is out; DATA frames follow.
    Sending(SendStream<Bytes>),
    /// The stream is complete or reset.
    Done,
}

impl Respond {
    /// The client's `RST_STREAM`, whatever the response's phase.
    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Reason> {
        let polled = match self {
            Respond::Waiting(r) => r.poll_reset(cx),
            Respond::Sending(s) => s.poll_reset(cx),
            Respond::Done => return Poll::Pending,
        };
        match polled {
            Poll::Ready(Ok(reason)) => Poll::Ready(reason),
            Poll::Ready(Err(_)) => Poll::Ready(Reason::CANCEL),
            Poll::Pending => Poll::Pending,
        }
    }

    fn reset(&mut self, reason: Reason) {
        match std::mem::replace(self, Respond::Done) {
            Respond::Waiting(mut r) => r.send_reset(reason),
            Respond::Sending(mut s) => s.send_reset(reason),
            Respond::Done => {}
        }
    }
}

/// The response's facts for the access record and the metrics.
#[derive(Default)]
struct Sent {
    status: u16,
    body_bytes: u64,
    header_block: Vec<u8>,
    /// The app's `Content-Length`: more is cut, less resets the stream.
    declared: Option<u64>,
}

/// Why writing the response stopped.
enum SendFailure {
    /// The client's window stayed closed past `send_timeout`.
    Timeout,
    /// The stream or connection went away.
    Gone,
}

/// Serves one stream to its end.
pub(super) async fn serve<H: Handler>(
    shared: Arc<Shared<H>>,
    request: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
) -> StreamEnd {
    let (parts, body) = request.into_parts();
    let end_of_stream = body.is_end_stream();
    let mut stream = Stream {
        respond: Respond::Waiting(respond),
        body,
        body_phase: if end_of_stream {
            BodyPhase::Ended
        } else {
            BodyPhase::Streaming
        },
        received: 0,
        body_deadline: None,
        continue_sent: false,
        sent: Sent::default(),
        head_only: parts.method == http::Method::HEAD,
        shared,
    };
    let pseudo = Pseudo {
        method: parts.method.as_str(),
        path: parts
            .uri
            .path_and_query()
            .map(http::uri::PathAndQuery::as_str),
        authority: parts.uri.authority().map(http::uri::Authority::as_str),
    };
    let fields: Vec<(&[u8], &[u8])> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
        .collect();
    let limits = &stream.shared.ctx.limits;
    let head = match head::request_head(&pseudo, fields.iter().copied(), end_of_stream, limits) {
        Ok(head) => head,
        Err(err) => {
            log_at!(Level::Debug, "{}: {err}", stream.shared.remote);
            stream.page(&Page::Rejected(err)).await;
            return StreamEnd::Answered;
        }
    };
    stream.run(head).await
}

struct Stream<H> {
    respond: Respond,
    body: RecvStream,
    body_phase: BodyPhase,
    /// Body bytes received so far (`max_body_bytes`).
    received: u64,
    /// The app waits for body bytes until then (`body_timeout`); `None`: it does not wait.
    body_deadline: Option<Instant>,
    /// `100 Continue` went out (RFC 9110 §10.1.1: on the app's first read).
    continue_sent: bool,
    sent: Sent,
    head_only: bool,
    shared: Arc<Shared<H>>,
}

/// Where the request body stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyPhase {
    /// DATA frames may still come.
    Streaming,
    /// The stream ended (`END_STREAM`); the app side has not been told yet.
    Ended,
    /// The app side has been told the end (or the failure): a later demand is ASGI's
    /// watch for `http.disconnect`, answered only by the client's reset.
    Told,
}

/// What woke the stream's loop.
enum Woken {
    Event(Option<ResponseEvent>),
    Data(Option<Result<Bytes, h2::Error>>),
    BodyTimeout,
    Reset(Reason),
}

impl<H: Handler> Stream<H> {
    async fn run(mut self, head: RequestHead) -> StreamEnd {
        let shared = Arc::clone(&self.shared);
        let ctx = &shared.ctx;
        let method = metrics::MethodClass::of(head.method());
        let forwarded = if shared.forwarding {
            match ctx.proxy.forwarding.resolve(&head) {
                Ok(forwarded) => forwarded,
                Err(err) => {
                    log_at!(Level::Debug, "{}: {err}", shared.remote);
                    let access = AccessStart::take(&head);
                    self.page(&Page::BadForwarding(err)).await;
                    self.record_access(access.as_ref(), None);
                    return StreamEnd::Answered;
                }
            }
        } else {
            None
        };
        let access = AccessStart::take(&head).map(|start| (start, forwarded.clone()));
        if let Some(err) = refused_before_the_app(&head, ctx.limits.max_body_bytes) {
            self.page(&Page::Rejected(err)).await;
            self.record_access(access.as_ref().map(|(a, _)| a), forwarded.as_deref());
            return StreamEnd::Answered;
        }
        // A static file (`--static-map`) is answered here, before any request permit.
        if let Some(routed) = ctx.statics.mounts.route(&head) {
            let received = std::time::Instant::now();
            match static_file::answer(ctx, &shared.remote, &head, routed) {
                StaticAnswer::App => {}
                StaticAnswer::Page(page) => {
                    self.page(&page).await;
                    self.finish_record(access.as_ref(), method, received);
                    return StreamEnd::Answered;
                }
                StaticAnswer::File {
                    response,
                    inline,
                    body,
                } => {
                    let end = self.send_static(response, inline, body).await;
                    self.finish_record(access.as_ref(), method, received);
                    return end;
                }
            }
        }
        self.continue_sent = !head.expects_continue;
        let link = Link::new(Arc::clone(&ctx.waker), crate::conn::RESPONSE_QUEUE);
        let guard = LinkGuard(Arc::clone(&link));
        // A client may reset the stream while it waits for a request permit.
        let admitted = tokio::select! {
            admitted = dispatch::admit(ctx, &link) => admitted,
            reason = poll_fn(|cx| self.respond.poll_reset(cx)) => {
                log_at!(Level::Debug, "{}: stream reset by the client ({reason})", shared.remote);
                return StreamEnd::ResetByClient;
            }
        };
        let received = admitted.received;
        if let Err(page) = admitted.hand_over(
            shared.handler.as_ref(),
            RequestKind::Http,
            head,
            forwarded,
            &shared.info,
        ) {
            link.end();
            self.page(&page).await;
            self.finish_record(access.as_ref(), method, received);
            return StreamEnd::Answered;
        }
        let end = self.pump(&link).await;
        drop(guard);
        self.finish_record(access.as_ref(), method, received);
        end
    }

    /// Runs until the response is complete, failed or reset.
    async fn pump(&mut self, link: &Link) -> StreamEnd {
        loop {
            let wanted = self.body_deadline;
            let woken = tokio::select! {
                ev = link.recv() => Woken::Event(ev),
                data = self.body.data(), if wanted.is_some() => Woken::Data(data),
                () = sleep_until(wanted.unwrap_or_else(Instant::now)), if wanted.is_some() => Woken::BodyTimeout,
                reason = poll_fn(|cx| self.respond.poll_reset(cx)) => Woken::Reset(reason),
            };
            let done = match woken {
                Woken::Event(ev) => self.on_event(ev, link).await,
                Woken::Data(data) => {
                    self.on_data(data, link);
                    None
                }
                Woken::BodyTimeout => {
                    metrics::stats().timed_out(metrics::Timeout::Body);
                    self.fail_body(link, BodyFailure::Timeout);
                    None
                }
                Woken::Reset(reason) => {
                    log_at!(
                        Level::Debug,
                        "{}: stream reset by the client ({reason})",
                        self.shared.remote
                    );
                    // A body read in progress (or ASGI's disconnect watch) learns it now.
                    let _ = link.send_body(BodyEvent::Failed(BodyFailure::Disconnected)); // ended: nobody reads
                    self.respond = Respond::Done;
                    Some(StreamEnd::ResetByClient)
                }
            };
            if let Some(end) = done {
                return end;
            }
        }
    }

    /// Handles one event from the app side; `Some` when the stream is done.
    async fn on_event(&mut self, event: Option<ResponseEvent>, link: &Link) -> Option<StreamEnd> {
        match event {
            Some(ResponseEvent::NeedBody) => {
                self.on_need_body(link);
                None
            }
            Some(ResponseEvent::Start { head, body, end }) => {
                let status = head.status;
                let fields = match head::response_fields(&head) {
                    Ok(fields) => fields,
                    Err(why) => {
                        log_at!(Level::Error, "{}: {why}", self.shared.remote);
                        return Some(self.on_abort(&AbortReason::Internal).await);
                    }
                };
                self.sent.status = status;
                self.sent.declared = head.content_length;
                self.sent.header_block = head.header_block;
                let no_body = self.head_only || status == 204 || status == 304;
                let ends_now = no_body || (end && body.is_empty());
                if let Err(end) = self.send_head(status, fields, ends_now) {
                    return Some(end);
                }
                if ends_now {
                    return Some(StreamEnd::Answered);
                }
                self.write(body, end).await
            }
            Some(ResponseEvent::Data(data)) => self.write(data, false).await,
            Some(ResponseEvent::File(file)) => self.write_file(file).await,
            Some(ResponseEvent::End) => self.write(Bytes::new(), true).await,
            Some(ResponseEvent::Trailers(block)) => Some(self.send_trailers(&block)),
            Some(ResponseEvent::EarlyHints(block)) => {
                self.send_early_hints(&block);
                None
            }
            Some(ResponseEvent::Abort(reason)) => Some(self.on_abort(&reason).await),
            Some(
                ResponseEvent::WsAccept(_)
                | ResponseEvent::WsSend(_)
                | ResponseEvent::WsClose { .. },
            ) => {
                log_at!(
                    Level::Error,
                    "app side sent a WebSocket event for an HTTP/2 request"
                );
                Some(self.on_abort(&AbortReason::Internal).await)
            }
            None => {
                log_at!(
                    Level::Error,
                    "response channel closed before the response ended"
                );
                Some(self.on_abort(&AbortReason::Internal).await)
            }
        }
    }

    /// A static file's answer: its head, then the inline bytes or the file's part.
    async fn send_static(
        &mut self,
        response: crate::bridge::ResponseHead,
        inline: Bytes,
        body: Option<FileBody>,
    ) -> StreamEnd {
        let status = response.status;
        let Ok(fields) = head::response_fields(&response) else {
            return self.server_reset(Reason::INTERNAL_ERROR);
        };
        self.sent.status = status;
        self.sent.declared = response.content_length;
        self.sent.header_block = response.header_block;
        let ends_now = self.head_only || (inline.is_empty() && body.is_none());
        if let Err(end) = self.send_head(status, fields, ends_now) {
            return end;
        }
        if ends_now {
            return StreamEnd::Answered;
        }
        if let Some(end) = self.write(inline, body.is_none()).await {
            return end;
        }
        if let Some(body) = body {
            if let Some(end) = self.write_file(body).await {
                return end;
            }
        }
        self.write(Bytes::new(), true)
            .await
            .unwrap_or(StreamEnd::Answered)
    }

    /// `wsgi.input` wants bytes: answer from the stream (or say it ended).
    fn on_need_body(&mut self, link: &Link) {
        match self.body_phase {
            BodyPhase::Streaming => {}
            BodyPhase::Ended => {
                self.body_phase = BodyPhase::Told;
                let _ = link.send_body(BodyEvent::End); // the request ended: nobody reads
                return;
            }
            // A demand after the end: ASGI watching for `http.disconnect`, answered when
            // the client resets the stream (`pump`).
            BodyPhase::Told => return,
        }
        if !self.continue_sent {
            self.continue_sent = true;
            if let Respond::Waiting(respond) = &mut self.respond {
                let interim = http::Response::builder()
                    .status(http::StatusCode::CONTINUE)
                    .body(())
                    .expect("a bare 100 response is valid");
                // A failure here shows again on the stream's next operation.
                let _ = respond.send_informational(interim);
            }
        }
        self.body_deadline = Some(Instant::now() + self.shared.ctx.timeouts.body);
    }

    fn on_data(&mut self, data: Option<Result<Bytes, h2::Error>>, link: &Link) {
        match data {
            Some(Ok(bytes)) => {
                let len = bytes.len();
                // The app has taken these bytes: the client may send as many more
                // (RFC 9113 §5.2: the window follows the app's reads).
                let _ = self.body.flow_control().release_capacity(len); // stream gone: nothing to release
                if len == 0 {
                    return;
                }
                self.received += len as u64;
                let limit = self.shared.ctx.limits.max_body_bytes;
                if limit != 0 && self.received > limit {
                    self.fail_body(link, BodyFailure::TooLarge);
                    return;
                }
                self.body_deadline = None;
                let _ = link.send_body(BodyEvent::Data(bytes)); // the request ended: nobody reads
            }
            None => {
                self.body_deadline = None;
                self.body_phase = BodyPhase::Told;
                let _ = link.send_body(BodyEvent::End); // the request ended: nobody reads
            }
            Some(Err(err)) => {
                log_at!(Level::Debug, "{}: request body: {err}", self.shared.remote);
                self.fail_body(link, BodyFailure::Disconnected);
            }
        }
    }

    fn fail_body(&mut self, link: &Link, failure: BodyFailure) {
        self.body_deadline = None;
        self.body_phase = BodyPhase::Told;
        let _ = link.send_body(BodyEvent::Failed(failure)); // the request ended: nobody reads
    }

    fn send_head(
        &mut self,
        status: u16,
        fields: http::HeaderMap,
        end: bool,
    ) -> Result<(), StreamEnd> {
        let Respond::Waiting(mut respond) = std::mem::replace(&mut self.respond, Respond::Done)
        else {
            return Err(StreamEnd::ResetByServer);
        };
        let mut response = http::Response::new(());
        *response.status_mut() =
            http::StatusCode::from_u16(status).map_err(|_| StreamEnd::ResetByServer)?;
        *response.headers_mut() = fields;
        match respond.send_response(response, end) {
            Ok(stream) => {
                if !end {
                    self.respond = Respond::Sending(stream);
                }
                Ok(())
            }
            Err(err) => {
                log_at!(Level::Debug, "{}: {err}", self.shared.remote);
                Err(StreamEnd::ResetByServer)
            }
        }
    }

    /// Sends body bytes (none after a HEAD's head), `end` closing the stream; `Some` when
    /// the stream is done.
    async fn write(&mut self, mut data: Bytes, end: bool) -> Option<StreamEnd> {
        if let Some(declared) = self.sent.declared {
            let room = declared.saturating_sub(self.sent.body_bytes);
            if data.len() as u64 > room {
                log_at!(
                    Level::Warning,
                    "{}: the app sent more than its Content-Length ({declared}); the excess was cut",
                    self.shared.remote
                );
                data.truncate(usize::try_from(room).unwrap_or(usize::MAX));
            }
            if end && self.sent.body_bytes + data.len() as u64 != declared {
                // RFC 9113 §8.1.1: a body shorter than its content-length is malformed.
                let _ = self.send_data(data, false).await; // the reset below is the answer
                return Some(self.server_reset(Reason::INTERNAL_ERROR));
            }
        }
        let Respond::Sending(_) = &self.respond else {
            return end.then_some(StreamEnd::Answered);
        };
        match self.send_data(data, end).await {
            Err(failure) => Some(self.on_send_failure(&failure)),
            Ok(()) if end => {
                self.respond = Respond::Done;
                Some(StreamEnd::Answered)
            }
            Ok(()) => None,
        }
    }

    /// Sends `data` as the client's window allows, each wait under `send_timeout`; `end`
    /// closes the stream with the last DATA frame (`END_STREAM` on it: a body sent whole
    /// costs one DATA frame, not a second empty one to end the stream).
    async fn send_data(&mut self, mut data: Bytes, end: bool) -> Result<(), SendFailure> {
        let send_timeout = self.shared.ctx.timeouts.send;
        let Respond::Sending(stream) = &mut self.respond else {
            return Ok(());
        };
        if self.head_only {
            data.clear();
        }
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            // The window usually has room: then no timer is set up for the wait.
            let granted = match stream.capacity() {
                0 => match timeout(send_timeout, poll_fn(|cx| stream.poll_capacity(cx))).await {
                    Ok(Some(Ok(n))) => n,
                    Ok(Some(Err(_)) | None) => return Err(SendFailure::Gone),
                    Err(_) => return Err(SendFailure::Timeout),
                },
                n => n,
            };
            if granted == 0 {
                continue;
            }
            let piece = data.split_to(granted.min(data.len()));
            let len = piece.len() as u64;
            stream
                .send_data(piece, end && data.is_empty())
                .map_err(|_| SendFailure::Gone)?;
            self.sent.body_bytes += len;
            if data.is_empty() {
                return Ok(());
            }
        }
        if end {
            // Nothing (left) to send: an empty DATA frame ends the stream.
            stream
                .send_data(Bytes::new(), true)
                .map_err(|_| SendFailure::Gone)?;
        }
        Ok(())
    }

    fn on_send_failure(&mut self, failure: &SendFailure) -> StreamEnd {
        match failure {
            SendFailure::Timeout => {
                metrics::stats().timed_out(metrics::Timeout::Send);
                log_at!(
                    Level::Debug,
                    "{}: timed out writing the response (window closed)",
                    self.shared.remote
                );
                self.server_reset(Reason::CANCEL)
            }
            SendFailure::Gone => {
                self.respond = Respond::Done;
                StreamEnd::ResetByClient
            }
        }
    }

    fn server_reset(&mut self, reason: Reason) -> StreamEnd {
        self.respond.reset(reason);
        StreamEnd::ResetByServer
    }

    /// A `wsgi.file_wrapper` body: read piece by piece, each sent as the window allows.
    async fn write_file(&mut self, file: FileBody) -> Option<StreamEnd> {
        let mut offset = file.offset;
        let mut remaining = file.len;
        let mut piece = vec![
            0u8;
            usize::try_from(remaining)
                .unwrap_or(FILE_PIECE)
                .min(FILE_PIECE)
        ];
        while remaining > 0 && !self.head_only {
            let want = usize::try_from(remaining)
                .unwrap_or(FILE_PIECE)
                .min(FILE_PIECE);
            // A page-cache read; a cold disk blocks the loop as sendfile(2) would.
            let got = match file.file.read_at(&mut piece[..want], offset) {
                Ok(0) | Err(_) => {
                    log_at!(
                        Level::Debug,
                        "{}: file ended before its length was sent",
                        self.shared.remote
                    );
                    return Some(self.server_reset(Reason::INTERNAL_ERROR));
                }
                Ok(n) => n,
            };
            if let Some(end) = self
                .write(Bytes::copy_from_slice(&piece[..got]), false)
                .await
            {
                return Some(end);
            }
            offset += got as u64;
            remaining -= got as u64;
        }
        None
    }

    fn send_trailers(&mut self, block: &[u8]) -> StreamEnd {
        let fields = match head::block_fields(block) {
            Ok(fields) => fields,
            Err(why) => {
                log_at!(Level::Error, "{}: {why}", self.shared.remote);
                return self.server_reset(Reason::INTERNAL_ERROR);
            }
        };
        match std::mem::replace(&mut self.respond, Respond::Done) {
            Respond::Sending(mut stream) => {
                if self.head_only {
                    return match stream.send_data(Bytes::new(), true) {
                        Ok(()) => StreamEnd::Answered,
                        Err(_) => StreamEnd::ResetByServer,
                    };
                }
                match stream.send_trailers(fields) {
                    Ok(()) => StreamEnd::Answered,
                    Err(_) => StreamEnd::ResetByServer,
                }
            }
            _ => StreamEnd::Answered,
        }
    }

    /// RFC 8297 over HTTP/2: a HEADERS frame with `:status 103` before the response's.
    fn send_early_hints(&mut self, block: &[u8]) {
        let Respond::Waiting(respond) = &mut self.respond else {
            return;
        };
        let fields = match head::block_fields(block) {
            Ok(fields) => fields,
            Err(why) => {
                log_at!(
                    Level::Debug,
                    "{}: early hints dropped: {why}",
                    self.shared.remote
                );
                return;
            }
        };
        let mut interim = http::Response::new(());
        *interim.status_mut() = http::StatusCode::EARLY_HINTS;
        *interim.headers_mut() = fields;
        // A failure shows again on the stream's next operation.
        let _ = respond.send_informational(interim);
    }

    /// The app side gave up: before the head, the server's page; after it, a reset.
    async fn on_abort(&mut self, reason: &AbortReason) -> StreamEnd {
        if *reason == AbortReason::AppError {
            metrics::stats().app_error();
        }
        if !matches!(self.respond, Respond::Waiting(_)) {
            log_at!(
                Level::Debug,
                "response aborted after its head was sent ({reason:?}); resetting the stream"
            );
            return self.server_reset(Reason::INTERNAL_ERROR);
        }
        let page = match reason {
            AbortReason::AppError | AbortReason::Internal => Page::AppFailed,
            AbortReason::Timeout => Page::AppTimeout,
            AbortReason::Rejected(err) => Page::Rejected(err.clone()),
        };
        self.page(&page).await;
        StreamEnd::Answered
    }

    /// Answers with one of the server's own pages.
    async fn page(&mut self, page: &Page) {
        if let Page::Rejected(rule) = page {
            metrics::stats().rejected(rule);
        }
        let status = page.status();
        let body = page.body();
        let mut block = page.fields().into_owned().into_bytes();
        block.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
        let head = crate::bridge::ResponseHead {
            status,
            status_line: Bytes::new(),
            header_block: block,
            content_length: Some(body.len() as u64),
            add_content_length: true,
            has_date: false,
            has_server: false,
            wants_close: false,
        };
        let Ok(fields) = head::response_fields(&head) else {
            self.server_reset(Reason::INTERNAL_ERROR);
            return;
        };
        self.sent.status = status;
        self.sent.header_block = head.header_block;
        let ends_now = self.head_only || body.is_empty();
        if self.send_head(status, fields, ends_now).is_err() || ends_now {
            return;
        }
        // The page is small; a client that does not take it within send_timeout is reset.
        if let Some(StreamEnd::ResetByServer | StreamEnd::ResetByClient) =
            self.write(Bytes::from(body), true).await
        {
            log_at!(
                Level::Debug,
                "{}: the server's page was not delivered",
                self.shared.remote
            );
        }
    }

    fn finish_record(
        &self,
        access: Option<&(AccessStart, Option<Box<Forwarded>>)>,
        method: metrics::MethodClass,
        received: std::time::Instant,
    ) {
        metrics::stats().request_finished(method, self.sent.status, received.elapsed());
        if let Some((access, forwarded)) = access {
            self.record_access(Some(access), forwarded.as_deref());
        }
    }

    fn record_access(&self, access: Option<&AccessStart>, forwarded: Option<&Forwarded>) {
        let Some(access) = access else { return };
        let remote = match forwarded.and_then(|f| f.client.as_ref()) {
            Some(client) => client.addr_text(),
            None => self.shared.remote.clone(),
        };
        access.write(
            &remote,
            &self.shared.peer,
            self.sent.status,
            self.sent.body_bytes,
            &self.sent.header_block,
        );
    }
}

/// A declared body over `max_body_bytes`: 413 before the app runs (RFC 9110 §15.5.14).
fn refused_before_the_app(head: &RequestHead, limit: u64) -> Option<HttpError> {
    match head.framing {
        BodyFraming::Length(n) if limit != 0 && n > limit => Some(HttpError::BodyTooLarge),
        _ => None,
    }
}
