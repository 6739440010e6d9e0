//! One request/response exchange on a connection: hand the job over, answer the app's
//! body demands from the socket, write the response as its events arrive, enforce the
//! declared length, drain the unread body, and write the access record.
//!
//! A request body that turns out broken (bad chunk framing, over `max_body_bytes`, too
//! slow) before the response has started is answered here with the client's status
//! (400/413/408), not with the 500 the app would make of its failed read.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Instant as StdInstant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::{with_send_timeout, ConnContext, ConnError, Transport, READ_CHUNK};
use crate::bridge::{
    AbortReason, BodyEvent, BodyFailure, ConnInfo, FileBody, Handler, Job, ResponseEvent,
    ResponseHead,
};
use crate::config::Sendfile;
use crate::http::body::{BodyDecoder, Decoded};
use crate::http::encode::{self, ConnectionHeader, ResponseFraming, ResponseParts};
use crate::http::{BodyFraming, HttpError, RequestHead, Version};
use crate::log::{self, Level};
use crate::relay::{Link, QueueLimits};

/// Response that may wait between the app and the socket (see `relay::QueueLimits`).
/// 1 MiB: `big` (16 x 64 KiB) goes out in one writev, as fastwsgi's does, which took its
/// kernel time per response from ~230 to ~150 us; the bytes are mostly the app's own
/// objects, shared, not copies. 16 events: gathers small chunks of a generator.
pub(super) const RESPONSE_QUEUE: QueueLimits = QueueLimits {
    events: 16,
    bytes: 1024 * 1024,
};

/// At most this many body pieces gathered into one write (well under `IOV_MAX`).
const GATHER_PIECES: usize = 64;

/// Unread request body the server will read and discard to keep a connection alive
/// after the response. Past it, the connection is closed instead. Arbitrary.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Body bytes below this size are copied next to the head or chunk framing so that one
/// write carries both; larger ones are written from their own buffer. Arbitrary.
const COALESCE_LIMIT: usize = 16 * 1024;

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
        head,
        conn: Arc::clone(info),
        body: body_rx,
        events: events_tx,
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

    /// Stages the response head and the first body bytes; `flush` writes them.
    fn on_start(&mut self, head: ResponseHead, body: Bytes) -> Result<(), ConnError> {
        if !matches!(self.writing, Writing::NotStarted) {
            log_at!(Level::Error, "app side started a response twice");
            return Err(ConnError::Io(io::Error::other("response started twice")));
        }
        let framing =
            encode::response_framing(self.is_head, self.version, head.status, head.content_length);
        if head.wants_close || framing == ResponseFraming::CloseDelimited || *self.shutdown.borrow()
        {
            self.keep_alive = false;
        }
        // A body the app left unread must be drained before the next request. When the
        // client still waits for `100 Continue`, or the declared rest is more than
        // `drain_body` would read, closing is cheaper than draining; say so in the head.
        // (A chunked rest of unknown size is tried; past the limit the connection closes
        // without notice.)
        let waits_for_continue = self.expects_continue && !self.continue_sent;
        let rest_too_large = self
            .declared_body
            .is_some_and(|n| n - self.body_read > DRAIN_LIMIT);
        if !self.decoder.is_done() && (waits_for_continue || rest_too_large) {
            self.keep_alive = false;
        }
        let connection = if !self.keep_alive {
            ConnectionHeader::Close
        } else if self.version == Version::Http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::Omit
        };
        self.wbuf.clear();
        let parts = ResponseParts {
            status_line: &head.status_line,
            header_block: &head.header_block,
            has_date: head.has_date,
            has_server: head.has_server,
        };
        encode::response_head(
            &mut self.wbuf,
            &parts,
            framing,
            head.add_content_length,
            connection,
        );
        self.writing = Writing::Body(Outgoing {
            framing,
            sent: 0,
            status: head.status,
            header_block: head.header_block,
            overran: false,
        });
        self.stage_body(body)
    }

    fn on_data(&mut self, data: Bytes) -> Result<(), ConnError> {
        if matches!(self.writing, Writing::Body(_)) {
            self.stage_body(data)
        } else {
            log_at!(Level::Error, "app side sent body bytes before the head");
            Err(ConnError::Io(io::Error::other("body before head")))
        }
    }

    /// Takes the body bytes already queued behind the ones just staged, then writes all
    /// staged output in one vectored write.
    async fn gather_and_flush(&mut self) -> Result<(), ConnError> {
        let mut pieces = 1;
        while pieces < GATHER_PIECES {
            let Some(data) = self.link.try_recv_data() else {
                break;
            };
            self.stage_body(data)?;
            pieces += 1;
        }
        self.flush().await
    }

    /// Writes everything staged: `segments`, then `wbuf`.
    async fn flush(&mut self) -> Result<(), ConnError> {
        if !self.wbuf.is_empty() {
            self.segments.push(self.wbuf.split().freeze());
        }
        if self.segments.is_empty() {
            return Ok(());
        }
        let result = write_all_segments(self.ctx, self.stream, &mut self.segments).await;
        self.segments.clear();
        result
    }

    /// Stages body bytes (which may be empty: then only staged head bytes go out) under
    /// the response framing and the declared length. Small pieces are copied next to the
    /// head or chunk framing; large ones are staged as their own segment.
    fn stage_body(&mut self, mut data: Bytes) -> Result<(), ConnError> {
        let Writing::Body(out) = &mut self.writing else {
            return Err(ConnError::Io(io::Error::other("no response in progress")));
        };
        match out.framing {
            ResponseFraming::NoBody => data.clear(),
            ResponseFraming::Length(declared) => {
                let room = declared - out.sent;
                if data.len() as u64 > room {
                    if !out.overran {
                        out.overran = true;
                        log_at!(
                            Level::Error,
                            "app sent more body bytes than its Content-Length ({declared}); the excess was cut"
                        );
                    }
                    data.truncate(room as usize);
                }
            }
            ResponseFraming::Chunked | ResponseFraming::CloseDelimited => {}
        }
        out.sent += data.len() as u64;
        let chunked = out.framing == ResponseFraming::Chunked && !data.is_empty();
        if chunked {
            encode::chunk_head(&mut self.wbuf, data.len());
        }
        if data.len() <= COALESCE_LIMIT {
            self.wbuf.extend_from_slice(&data);
        } else {
            if !self.wbuf.is_empty() {
                self.segments.push(self.wbuf.split().freeze());
            }
            self.segments.push(data);
        }
        if chunked {
            self.wbuf.extend_from_slice(encode::CHUNK_END);
        }
        Ok(())
    }

    /// Sends a file body with sendfile(2), under the framing and declared length.
    async fn on_file(&mut self, file: FileBody) -> Result<(), ConnError> {
        let Writing::Body(out) = &mut self.writing else {
            log_at!(Level::Error, "app side sent a file before the head");
            return Err(ConnError::Io(io::Error::other("file before head")));
        };
        let mut len = file.len;
        match out.framing {
            ResponseFraming::NoBody => len = 0,
            ResponseFraming::Length(declared) => len = len.min(declared - out.sent),
            ResponseFraming::Chunked | ResponseFraming::CloseDelimited => {}
        }
        out.sent += len;
        let chunked = out.framing == ResponseFraming::Chunked && len > 0;
        if chunked {
            encode::chunk_head(&mut self.wbuf, len as usize);
        }
        self.flush().await?;
        if self.sendfile {
            self.sendfile_all(&file, len).await?;
        } else {
            self.copy_file(&file, len).await?;
        }
        if chunked {
            with_send_timeout(self.ctx, self.stream.write_all(encode::CHUNK_END)).await?;
        }
        Ok(())
    }

    /// `len` bytes of `file` from its offset, read into a buffer and written: what
    /// `--sendfile off` (and `auto` to a loopback client) does.
    async fn copy_file(&mut self, file: &FileBody, len: u64) -> Result<(), ConnError> {
        use std::os::unix::fs::FileExt;
        /// Bytes per read and write; chosen as the body read size.
        const PIECE: u64 = 256 * 1024;
        let mut piece = vec![0u8; usize::try_from(len.min(PIECE)).unwrap_or(0)];
        let mut offset = file.offset;
        let mut remaining = len;
        while remaining > 0 {
            let want = usize::try_from(remaining.min(PIECE)).unwrap_or(piece.len());
            // A page-cache read; a cold disk blocks the loop as sendfile(2) would.
            let got = file.file.read_at(&mut piece[..want], offset)?;
            if got == 0 {
                return Err(ConnError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ended before its length was sent",
                )));
            }
            with_send_timeout(self.ctx, self.stream.write_all(&piece[..got])).await?;
            offset += got as u64;
            remaining -= got as u64;
        }
        Ok(())
    }

    /// `len` bytes of `file` from its offset with sendfile(2).
    async fn sendfile_all(&mut self, file: &FileBody, len: u64) -> Result<(), ConnError> {
        let fd = file.file.as_raw_fd();
        let mut offset =
            i64::try_from(file.offset).map_err(|_| io::Error::other("file offset too large"))?;
        let mut remaining = len;
        while remaining > 0 {
            with_send_timeout(self.ctx, self.stream.writable()).await?;
            // 1 GiB per call keeps the count inside what sendfile(2) accepts everywhere.
            let step = remaining.min(1 << 30) as usize;
            match self.stream.try_sendfile(fd, &mut offset, step) {
                Ok(0) => {
                    return Err(ConnError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended before its length was sent",
                    )));
                }
                Ok(n) => remaining -= n as u64,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(ConnError::Io(err)),
            }
        }
        Ok(())
    }

    /// Completes the response: the last chunk, or the check that the declared length was
    /// met (an app that sent less leaves the client waiting for bytes that will never come,
    /// so the connection is closed).
    async fn finish(&mut self) -> Result<(), ConnError> {
        let Writing::Body(out) = &self.writing else {
            log_at!(Level::Error, "app side ended a response it never started");
            return self
                .write_error_page(500, "Internal Server Error", "no response")
                .await;
        };
        let (framing, sent) = (out.framing, out.sent);
        match framing {
            ResponseFraming::Chunked => self.wbuf.extend_from_slice(encode::LAST_CHUNK),
            ResponseFraming::Length(declared) if sent < declared => {
                log_at!(
                    Level::Error,
                    "app sent {sent} body bytes but declared Content-Length {declared}; closing the connection"
                );
                self.keep_alive = false;
            }
            ResponseFraming::CloseDelimited => self.keep_alive = false,
            _ => {}
        }
        self.flush().await?;
        self.stream.flush().await?;
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

/// Writes every segment, in order, with as few vectored writes as the socket allows,
/// consuming `segments`. `send_timeout` bounds each wait for the socket to take more bytes
/// (progress), not the whole write: a large response to a slow but live client is fine.
async fn write_all_segments<T: Transport>(
    ctx: &ConnContext,
    stream: &mut T,
    segments: &mut [Bytes],
) -> Result<(), ConnError> {
    /// Slices per writev(2) call; Linux's `IOV_MAX` is 1024.
    const MAX_IOV: usize = 64;
    let mut first = 0;
    loop {
        while first < segments.len() && segments[first].is_empty() {
            first += 1;
        }
        if first == segments.len() {
            return Ok(());
        }
        let live = &segments[first..segments.len().min(first + MAX_IOV)];
        let mut slices = [io::IoSlice::new(&[]); MAX_IOV];
        for (slot, seg) in slices.iter_mut().zip(live) {
            *slot = io::IoSlice::new(seg);
        }
        let mut write = std::pin::pin!(stream.write_vectored(&slices[..live.len()]));
        // Most writes complete at once: try before arming the timer (and reading the clock).
        let at_once = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match write.as_mut().poll(cx) {
                std::task::Poll::Ready(result) => Some(result),
                std::task::Poll::Pending => None,
            })
        })
        .await;
        let result = match at_once {
            Some(result) => Ok(result),
            None => tokio::time::timeout(ctx.timeouts.send, write).await,
        };
        let mut n = match result {
            Ok(Ok(0)) => return Err(ConnError::Io(io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
            Ok(Err(err)) => return Err(ConnError::Io(err)),
            Err(_) => return Err(ConnError::Timeout(super::Phase::Writing)),
        };
        for seg in &mut segments[first..] {
            let take = n.min(seg.len());
            seg.advance(take);
            n -= take;
            if n == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::write_all_segments;
    use crate::config::Timeouts;
    use crate::conn::ConnContext;
    use crate::http::Limits;
    use crate::relay::Hub;
    use bytes::Bytes;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn writes_every_segment_in_order_across_partial_writes() {
        let ctx = ConnContext {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            request_permits: Arc::new(Semaphore::new(1)),
            hub: Hub::start(),
            sendfile: crate::config::Sendfile::Auto,
        };
        let (mut a, mut b) = UnixStream::pair().expect("pair");
        let head = Bytes::from(b"3\r\n".repeat(10));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        });
        // 3 MB cannot fit a socket buffer: the writev is cut several times; 100 segments
        // need two calls even when the socket takes everything.
        let mut segments = vec![head.clone(), Bytes::new(), Bytes::from(data.clone())];
        let mut want = head.to_vec();
        want.extend_from_slice(&data);
        for i in 0..100u8 {
            segments.push(Bytes::from(vec![i; 7]));
            want.extend_from_slice(&[i; 7]);
        }
        write_all_segments(&ctx, &mut a, &mut segments)
            .await
            .expect("write");
        drop(a);
        let got = reader.await.expect("reader");
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}
