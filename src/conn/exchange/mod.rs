//! One request/response exchange on a connection: hand the job over, answer the app's
//! body demands from the socket, write the response as its events arrive, enforce the
//! declared length, drain the unread body, and write the access record.
//!
//! A request body that turns out broken (bad chunk framing, over `max_body_bytes`, too
//! slow) before the response has started is answered here with the client's status
//! (400/413/408), not with the 500 the app would make of its failed read.

use std::sync::Arc;
use std::time::{Instant as StdInstant, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::{with_send_timeout, ConnContext, ConnError, Transport, READ_CHUNK};
use crate::bridge::{
    AbortReason, BodyEvent, BodyFailure, ConnInfo, Handler, Job, Link, Request, ResponseEvent,
};
use crate::config::Sendfile;
use crate::http::body::{BodyDecoder, Decoded};
use crate::http::encode::{self, ResponseFraming};
use crate::http::{BodyFraming, HttpError, RequestHead, Version};
use crate::log::{self, Level};
use crate::relay::QueueLimits;

mod output;

/// Response that may wait between the app and the socket (see `relay::QueueLimits`).
/// 1 MiB: `big` (16 x 64 KiB) goes out in one writev, as fastwsgi's does, which took its
/// kernel time per response from ~230 to ~150 us; the bytes are mostly the app's own
/// objects, shared, not copies. 16 events: gathers small chunks of a generator.
pub(super) const RESPONSE_QUEUE: QueueLimits = QueueLimits {
    events: 16,
    bytes: 1024 * 1024,
};

/// Unread request body the server will read and discard to keep a connection alive
/// after the response. Past it, the connection is closed instead. Arbitrary.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Where the response stands.
enum Writing {
    /// Nothing sent yet.
    NotStarted,
    /// The head is out; body bytes follow in `framing`. Kept after the end for the
    /// access record.
    Body(Outgoing),
}

/// Why the server answers a request itself after the app has started on it: the request
/// body broke off, and that is the client's doing.
struct BodyRejection {
    status: u16,
    reason: &'static str,
    detail: String,
}

impl BodyRejection {
    fn from_http(err: &HttpError) -> BodyRejection {
        BodyRejection {
            status: err.status(),
            reason: err.reason(),
            detail: err.to_string(),
        }
    }
}

struct Outgoing {
    framing: ResponseFraming,
    /// Body bytes sent so far.
    sent: u64,
    status: u16,
    header_block: Vec<u8>,
    /// The app sent more than its Content-Length; the excess was cut (logged once).
    overran: bool,
}

/// How the connection goes on after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close; nothing more is expected from the client.
    Close,
    /// Close, though the client may still be sending (a body the app left unread, bytes
    /// pipelined after it): linger, so that the close does not turn into a reset that
    /// destroys the response in flight.
    CloseLingering,
}

/// Serves one request whose head has been read, and says whether the connection may carry
/// another.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run<T: Transport, H: Handler>(
    stream: &mut T,
    buf: &mut BytesMut,
    link: &Arc<Link>,
    head: RequestHead,
    info: &Arc<ConnInfo>,
    remote: &str,
    handler: &H,
    ctx: &ConnContext,
    shutdown: &watch::Receiver<bool>,
) -> Result<Next, ConnError> {
    // Taken only when there is an access log: two clock reads and a copy of the head's
    // field list per request otherwise spent for nothing.
    let access = log::access().is_some().then(|| AccessStart {
        head: head.clone(),
        wall: SystemTime::now(),
        started: StdInstant::now(),
    });
    let permit = Arc::clone(&ctx.request_permits)
        .acquire_owned()
        .await
        .expect("the request semaphore is never closed");
    let (events_tx, body_rx) = link.begin();
    let mut ex = Exchange {
        stream,
        buf,
        ctx,
        decoder: BodyDecoder::new(head.framing, &ctx.limits),
        link,
        version: head.version,
        is_head: head.is_head(),
        expects_continue: head.expects_continue,
        continue_sent: false,
        body_wanted: false,
        body_deadline: None,
        declared_body: match head.framing {
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Empty | BodyFraming::Chunked => None,
        },
        body_read: 0,
        keep_alive: head.keep_alive,
        shutdown,
        rejection: None,
        writing: Writing::NotStarted,
        sendfile: match ctx.sendfile {
            Sendfile::On => true,
            Sendfile::Off => false,
            Sendfile::Auto => !info.peer.is_some_and(|p| p.ip().is_loopback()),
        },
        wbuf: BytesMut::with_capacity(1024),
        segments: Vec::new(),
    };
    ex.send_buffered_body();
    let job = Job {
        request: Request {
            head,
            conn: Arc::clone(info),
            body: body_rx,
            events: events_tx,
        },
        permit,
    };
    if handler.dispatch(job).is_err() {
        link.end();
        ex.write_error_page(503, "Service Unavailable", "the server is shutting down")
            .await?;
        return Ok(ex.next(false));
    }

    let result = ex.pump().await;
    // Closing the channels tells the app side that nobody listens any more: its next
    // send fails and it stops iterating (and calls close()).
    link.end();
    let mut keep_alive = match result {
        Ok(keep_alive) => keep_alive,
        Err(err) => {
            ex.log_access(remote, access.as_ref());
            return Err(err);
        }
    };
    if keep_alive {
        keep_alive = ex.drain_body().await;
    }
    ex.log_access(remote, access.as_ref());
    Ok(ex.next(keep_alive))
}

// The flags are independent facts about this exchange (HTTP/1.0, HEAD, Expect, ...).
#[allow(clippy::struct_excessive_bools)]
struct Exchange<'a, T> {
    stream: &'a mut T,
    buf: &'a mut BytesMut,
    ctx: &'a ConnContext,
    decoder: BodyDecoder,
    link: &'a Link,
    version: Version,
    is_head: bool,
    expects_continue: bool,
    continue_sent: bool,
    /// The app asked for body bytes and the buffer had none: read the socket.
    body_wanted: bool,
    /// When waiting for body bytes gives up (`body_timeout` after the demand).
    body_deadline: Option<Instant>,
    /// The request's `Content-Length`, if it has one; with `body_read`, what is left to drain.
    declared_body: Option<u64>,
    /// Body bytes handed to the app so far.
    body_read: u64,
    keep_alive: bool,
    /// Turns true when the worker stops: the response in progress says `Connection: close`.
    shutdown: &'a watch::Receiver<bool>,
    /// Set when the request body failed through the client's fault; `pump` answers it.
    rejection: Option<BodyRejection>,
    writing: Writing,
    /// File bodies go out with sendfile(2) (else read and written; see `--sendfile`).
    sendfile: bool,
    /// Head and small-body staging buffer, reused across writes of this response.
    wbuf: BytesMut,
    /// Staged output for the next write, in order; `wbuf` holds what follows it.
    segments: Vec<Bytes>,
}

impl<T: Transport> Exchange<'_, T> {
    fn next(&self, keep_alive: bool) -> Next {
        if keep_alive {
            Next::KeepAlive
        } else if !self.decoder.is_done() || !self.buf.is_empty() {
            Next::CloseLingering
        } else {
            Next::Close
        }
    }

    /// Runs until the app's response is complete (or failed). `Ok(keep_alive)`.
    async fn pump(&mut self) -> Result<bool, ConnError> {
        let link = self.link;
        loop {
            let deadline = self.body_deadline;
            let read_body = self.body_wanted;
            tokio::select! {
                ev = link.recv() => {
                    match ev {
                        Some(ResponseEvent::NeedBody) => self.on_need_body().await?,
                        Some(ResponseEvent::Start { head, body, end }) => {
                            self.on_start(head, body)?;
                            if end {
                                self.finish().await?;
                                return Ok(self.keep_alive);
                            }
                            self.gather_and_flush().await?;
                        }
                        Some(ResponseEvent::Data(data)) => {
                            self.on_data(data)?;
                            self.gather_and_flush().await?;
                        }
                        Some(ResponseEvent::File(file)) => self.on_file(file).await?,
                        Some(ResponseEvent::End) => {
                            self.finish().await?;
                            return Ok(self.keep_alive);
                        }
                        Some(ResponseEvent::Abort(reason)) => {
                            self.on_abort(&reason).await?;
                            return Ok(false);
                        }
                        None => {
                            // The app side vanished without ending the response: a bug in
                            // the server, contained to this request.
                            log_at!(Level::Error, "response channel closed before the response ended");
                            self.on_abort(&AbortReason::Internal).await?;
                            return Ok(false);
                        }
                    }
                }
                read = self.stream.read_buf(self.buf), if read_body => {
                    match read {
                        Ok(0) => {
                            self.keep_alive = false;
                            self.send_body(BodyEvent::Failed(BodyFailure::Disconnected));
                        }
                        Ok(_) => {
                            self.body_deadline = Some(Instant::now() + self.ctx.timeouts.body);
                            self.try_answer_body_demand();
                        }
                        Err(err) => {
                            self.keep_alive = false;
                            self.send_body(BodyEvent::Failed(BodyFailure::Disconnected));
                            log_at!(Level::Debug, "reading request body: {err}");
                        }
                    }
                }
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if read_body && deadline.is_some() => {
                    self.keep_alive = false;
                    self.rejection = Some(BodyRejection {
                        status: 408,
                        reason: "Request Timeout",
                        detail: "request body not received in time".to_owned(),
                    });
                    self.send_body(BodyEvent::Failed(BodyFailure::Timeout));
                }
            }
            if let Some(rejection) = self.rejection.take() {
                // Once the head is out, the status cannot change: the connection just
                // closes after the app's response.
                if matches!(self.writing, Writing::NotStarted) {
                    self.write_error_page(rejection.status, rejection.reason, &rejection.detail)
                        .await?;
                    return Ok(false);
                }
            }
        }
    }

    /// Hands the app, before it starts, the body bytes that arrived with the head, and
    /// what else of the body the socket holds already (one non-blocking read, when the
    /// rest is at most `READ_CHUNK`): round trips saved for small bodies (`echo`: from
    /// three to one). Only for `Content-Length` bodies whose client is not waiting for
    /// `100 Continue`; nothing is waited for.
    fn send_buffered_body(&mut self) {
        let Some(declared) = self.declared_body else {
            return;
        };
        if self.expects_continue {
            return;
        }
        let mut read_once = false;
        loop {
            let rest = declared - self.body_read;
            if !read_once && rest > 0 && rest <= READ_CHUNK as u64 && (self.buf.len() as u64) < rest
            {
                read_once = true;
                self.buf.reserve(READ_CHUNK);
                // Nothing there (or an error, which the next real read will see): fine.
                let _ = self.stream.try_read_buf(self.buf);
            }
            match self.decoder.decode(self.buf) {
                Ok(Decoded::Data(data)) => {
                    self.body_read += data.len() as u64;
                    let _ = self.link.send_body(BodyEvent::Data(data));
                }
                Ok(Decoded::Done) => {
                    let _ = self.link.send_body(BodyEvent::End);
                    return;
                }
                // A body over max_body_bytes is refused before this; nothing was taken.
                Ok(Decoded::NeedMore) | Err(_) => return,
            }
        }
    }

    /// How much to ask the socket for when reading the body for the app: 64 KiB, or
    /// 256 KiB while more than that of a `Content-Length` body is left (`upload`: a
    /// quarter of the thread hand-offs per megabyte; the memory is one read buffer, which
    /// the app drains before the next read).
    fn body_read_size(&self) -> usize {
        const LARGE_BODY_READ: usize = 256 * 1024;
        match self.declared_body {
            Some(n) if n - self.body_read > LARGE_BODY_READ as u64 => LARGE_BODY_READ,
            _ => READ_CHUNK,
        }
    }

    fn send_body(&mut self, event: BodyEvent) {
        self.body_wanted = false;
        self.body_deadline = None;
        // Closed channels mean the app side finished the job; nothing waits for the bytes.
        let _ = self.link.send_body(event);
    }

    /// Answers the pending demand from the buffer if it can; otherwise leaves
    /// `body_wanted` set so the pump reads the socket.
    fn try_answer_body_demand(&mut self) {
        match self.decoder.decode(self.buf) {
            Ok(Decoded::Data(data)) => {
                self.body_read += data.len() as u64;
                self.send_body(BodyEvent::Data(data));
            }
            Ok(Decoded::Done) => self.send_body(BodyEvent::End),
            Ok(Decoded::NeedMore) => {
                self.body_wanted = true;
                if self.body_deadline.is_none() {
                    self.body_deadline = Some(Instant::now() + self.ctx.timeouts.body);
                }
                self.buf.reserve(self.body_read_size());
            }
            Err(err) => {
                // The framing is lost: no further request can be read from this
                // connection.
                self.keep_alive = false;
                let failure = if err == HttpError::BodyTooLarge {
                    BodyFailure::TooLarge
                } else {
                    BodyFailure::Invalid
                };
                log_at!(Level::Debug, "request body: {err}");
                self.rejection = Some(BodyRejection::from_http(&err));
                self.send_body(BodyEvent::Failed(failure));
            }
        }
    }

    async fn on_need_body(&mut self) -> Result<(), ConnError> {
        // RFC 9110 §10.1.1: send 100 (Continue) when the app first asks for the body,
        // and not at all if it never does.
        if self.expects_continue && !self.continue_sent && !self.decoder.is_done() {
            self.continue_sent = true;
            if matches!(self.writing, Writing::NotStarted) {
                with_send_timeout(self.ctx, self.stream.write_all(encode::CONTINUE)).await?;
            }
        }
        self.try_answer_body_demand();
        Ok(())
    }

    async fn on_abort(&mut self, reason: &AbortReason) -> Result<(), ConnError> {
        self.keep_alive = false;
        match self.writing {
            Writing::NotStarted if *reason == AbortReason::Timeout => {
                self.write_error_page(
                    504,
                    "Gateway Timeout",
                    "the app did not answer within request_timeout",
                )
                .await
            }
            Writing::NotStarted => {
                self.write_error_page(
                    500,
                    "Internal Server Error",
                    "the request could not be completed",
                )
                .await
            }
            Writing::Body(_) => {
                log_at!(
                    Level::Debug,
                    "response aborted after its head was sent ({reason:?}); closing"
                );
                Ok(())
            }
        }
    }

    /// Answers with the server's own page and `Connection: close`, in place of the app's
    /// response (which must not have started).
    async fn write_error_page(
        &mut self,
        status: u16,
        reason: &str,
        detail: &str,
    ) -> Result<(), ConnError> {
        let mut out = BytesMut::with_capacity(256);
        let body = format!("{status} {reason}: {detail}\n");
        encode::simple_response(&mut out, status, reason, body.as_bytes(), true);
        self.keep_alive = false;
        self.writing = Writing::Body(Outgoing {
            framing: ResponseFraming::Length(body.len() as u64),
            sent: body.len() as u64,
            status,
            header_block: Vec::new(),
            overran: false,
        });
        with_send_timeout(self.ctx, self.stream.write_all(&out)).await
    }

    /// Reads and discards what the app left of the request body, within bounds, so the
    /// connection can carry the next request. `false`: close instead.
    async fn drain_body(&mut self) -> bool {
        let mut drained: u64 = 0;
        loop {
            match self.decoder.decode(self.buf) {
                Ok(Decoded::Done) => return true,
                Ok(Decoded::Data(data)) => {
                    drained += data.len() as u64;
                    if drained > DRAIN_LIMIT {
                        return false;
                    }
                }
                Ok(Decoded::NeedMore) => {
                    self.buf.reserve(READ_CHUNK);
                    let deadline = Instant::now() + self.ctx.timeouts.body;
                    match timeout_at(deadline, self.stream.read_buf(self.buf)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return false,
                    }
                }
                Err(_) => return false,
            }
        }
    }

    fn log_access(&self, remote: &str, access: Option<&AccessStart>) {
        let Some(AccessStart {
            head,
            wall,
            started,
        }) = access
        else {
            return;
        };
        let (status, body_bytes, header_block): (u16, u64, &[u8]) = match &self.writing {
            Writing::Body(out) => (out.status, out.sent, &out.header_block),
            Writing::NotStarted => (0, 0, b""),
        };
        write_access_record(
            remote,
            head,
            status,
            body_bytes,
            header_block,
            *wall,
            *started,
        );
    }
}

/// What the access record needs from the start of the exchange.
struct AccessStart {
    head: RequestHead,
    wall: SystemTime,
    started: StdInstant,
}

/// Writes the access record of a request `conn` refused before handing it to the app (a
/// `Content-Length` over `max_body_bytes`): `status` and `body_bytes` describe the error
/// page.
pub(super) fn log_refused(
    remote: &str,
    head: &RequestHead,
    status: u16,
    body_bytes: u64,
    started_wall: SystemTime,
    started: StdInstant,
) {
    write_access_record(remote, head, status, body_bytes, b"", started_wall, started);
}

fn write_access_record(
    remote: &str,
    head: &RequestHead,
    status: u16,
    body_bytes: u64,
    response_headers: &[u8],
    started_wall: SystemTime,
    started: StdInstant,
) {
    let Some(format) = log::access() else { return };
    let record = log::access::Record {
        remote,
        head,
        status,
        body_bytes,
        started: started_wall,
        elapsed: started.elapsed(),
        response_headers,
    };
    log::write_access(format.render(&record).as_bytes());
}
