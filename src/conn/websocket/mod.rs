//! WebSockets (RFC 6455) on an HTTP/1.1 connection: the second protocol on the seam, entered
//! from `http1` when a request asks for an upgrade and the handler serves WebSockets.
//!
//! Steps: check the handshake (`handshake`; a bad one gets 400, or 426 for a version); hand
//! the app a `RequestKind::WebSocket` job through `dispatch` and wait for its answer: an
//! accept (`101`), a close (403), or its own denial response; then `Session` runs the
//! frames (`frames`, with `deflate` when negotiated) until either side closes.
//!
//! Backpressure both ways, as for HTTP bodies: messages to the client go through the
//! bounded response queue (a slow reader holds back the app's `send`); messages from the
//! client are read one ahead of the app at most: the socket is not read while a message
//! waits unacknowledged (the app side acknowledges each with `NeedBody`), so memory per
//! connection is bounded by `ws_max_message_bytes`. Pings and closes are answered here.
//! A stopping worker closes its WebSockets with 1001 shortly before `graceful_timeout`
//! ends, so apps may finish conversations during the graceful window.

mod deflate;
mod frames;
mod handshake;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use super::access::AccessStart;
use super::dispatch;
use super::respond::{self, Page};
use super::{with_send_timeout, ConnContext, ConnError, Transport};
use crate::bridge::{
    AbortReason, BodyEvent, ConnInfo, Handler, Link, RequestKind, ResponseEvent, ResponseHead,
    WsMessage,
};
use crate::http::encode::{self, ConnectionHeader, ResponseFraming, ResponseParts};
use crate::http::RequestHead;
use crate::log::Level;
use crate::proxy::Forwarded;
use deflate::{Deflate, COMPRESS_MIN};
use frames::{close_payload, write_frame, Incoming, Kind, Reader};

pub(super) use handshake::is_upgrade;
pub use handshake::HandshakeError;

/// How long a close waits for the peer's close frame (§7.1.1: then the TCP connection
/// goes anyway). 5 s, chosen without measurement.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long before the end of `graceful_timeout` a stopping worker sends 1001, leaving the
/// closing handshake time to finish before the master's kill. 1 s, chosen without
/// measurement (at most half the timeout).
const GOING_AWAY_MARGIN: Duration = Duration::from_secs(1);

/// The largest denial response (`websocket.http.response`) the server gathers before
/// writing it: such pages are small. 1 MiB, arbitrary.
const DENIAL_LIMIT: usize = 1024 * 1024;

/// Server messages gathered into one write at most.
const GATHER_MESSAGES: usize = 64;

/// 1000, 1001, 1011 (RFC 6455 §7.4.1).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const INTERNAL_ERROR: u16 = 1011;
/// §7.1.5: the connection closed without a close frame (never sent on the wire).
const ABNORMAL: u16 = 1006;

/// What a connection hands over when it becomes a WebSocket.
pub(super) struct Socket<T> {
    pub stream: T,
    /// Bytes after the handshake's head: the first frames, if the client did not wait.
    pub buf: BytesMut,
    pub link: Arc<Link>,
    pub info: Arc<ConnInfo>,
    pub ctx: Arc<ConnContext>,
    pub shutdown: watch::Receiver<bool>,
    /// The client's address for log lines.
    pub remote: String,
    /// The socket's own peer (the access log's `peer`).
    pub peer: String,
}

/// Serves one WebSocket from its handshake to its close. See the module docs.
pub(super) async fn serve<T: Transport, H: Handler>(
    mut socket: Socket<T>,
    head: RequestHead,
    forwarded: Option<Box<Forwarded>>,
    handler: &H,
) {
    let access = AccessStart::take(&head);
    // The access record's `h`: the client after forwarding, as for HTTP requests.
    let client = forwarded
        .as_ref()
        .and_then(|f| f.client.as_ref())
        .map(crate::proxy::forwarded::Client::addr_text);
    let (status, sent) = match run(&mut socket, head, forwarded, handler).await {
        Ok(outcome) => outcome,
        Err((status, err)) => {
            log_at!(Level::Debug, "{}: websocket: {err}", socket.remote);
            (status, 0)
        }
    };
    socket.link.end();
    if let Some(access) = access {
        let remote = client.as_deref().unwrap_or(&socket.remote);
        access.write(remote, &socket.peer, status, sent, b"");
    }
    // Best effort: the session is over.
    let _ = socket.stream.shutdown().await;
}

/// The status the client got and the bytes of messages sent, or the status and why it
/// ended early.
type Outcome = Result<(u16, u64), (u16, ConnError)>;

async fn run<T: Transport, H: Handler>(
    socket: &mut Socket<T>,
    head: RequestHead,
    forwarded: Option<Box<Forwarded>>,
    handler: &H,
) -> Outcome {
    // Step 1: the handshake's rules.
    let ctx = Arc::clone(&socket.ctx);
    let handshake = match handshake::check(&head, ctx.websocket.per_message_deflate) {
        Ok(handshake) => handshake,
        Err(err) => return refuse(socket, &Page::BadHandshake(err)).await,
    };
    // Step 2: the app.
    let admitted = dispatch::admit(&ctx, &socket.link).await;
    let info = Arc::clone(&socket.info);
    if let Err(page) = admitted.hand_over(handler, RequestKind::WebSocket, head, forwarded, &info) {
        socket.link.end();
        return refuse(socket, &page).await;
    }
    // Step 3: its answer.
    let accept = loop {
        match socket.link.recv().await {
            Some(ResponseEvent::WsAccept(accept)) => break accept,
            // Before the accept, the app's receive() needs nothing from the socket.
            Some(ResponseEvent::NeedBody) => {}
            Some(ResponseEvent::Start { head, body, end }) => {
                return deny(socket, head, body, end).await;
            }
            Some(ResponseEvent::Abort(AbortReason::Timeout)) => {
                return refuse(socket, &Page::AppTimeout).await;
            }
            Some(ResponseEvent::Abort(AbortReason::Rejected(err))) => {
                return refuse(socket, &Page::Rejected(err)).await;
            }
            Some(ResponseEvent::Abort(_)) | None => {
                return refuse(socket, &Page::AppFailed).await;
            }
            Some(_) => return refuse(socket, &Page::WebSocketRefused).await,
        }
    };
    let mut out = BytesMut::with_capacity(256);
    handshake::accept_head(&mut out, &handshake, &accept);
    with_send_timeout(&ctx, socket.stream.write_all(&out))
        .await
        .map_err(|e| (101, e))?;
    // Step 4: frames.
    let mut session = Session {
        reader: Reader::new(ctx.websocket.max_message_bytes),
        deflate: handshake.deflate.map(Deflate::new),
        out,
        unacked: 0,
        last_heard: Instant::now(),
        ping_sent: None,
        was_reading: true,
        closing: None,
        going_away_at: None,
        app_gone: false,
        sent: 0,
        socket,
    };
    session.out.clear();
    let sent = session.run().await.map_err(|e| (101, e))?;
    Ok((101, sent))
}

/// Answers the handshake with one of the server's pages, then closes.
async fn refuse<T: Transport>(socket: &mut Socket<T>, page: &Page) -> Outcome {
    let written = respond::write_http1(
        &mut socket.stream,
        &socket.ctx,
        page,
        false,
        ConnectionHeader::Close,
    )
    .await
    .map_err(|e| (page.status(), e))?;
    Ok((page.status(), written))
}

/// The app's own denial response (the `websocket.http.response` extension), gathered and
/// written whole with `Connection: close`.
async fn deny<T: Transport>(
    socket: &mut Socket<T>,
    head: ResponseHead,
    first: Bytes,
    mut end: bool,
) -> Outcome {
    let mut body = BytesMut::from(&first[..]);
    while !end {
        match socket.link.recv().await {
            Some(ResponseEvent::Data(data)) if body.len() + data.len() <= DENIAL_LIMIT => {
                body.extend_from_slice(&data);
            }
            Some(ResponseEvent::End) => end = true,
            Some(ResponseEvent::NeedBody) => {}
            _ => return refuse(socket, &Page::AppFailed).await,
        }
    }
    let mut out = BytesMut::with_capacity(256 + body.len());
    let parts = ResponseParts {
        status_line: &head.status_line,
        header_block: &head.header_block,
        has_date: head.has_date,
        has_server: head.has_server,
    };
    let framing = ResponseFraming::Length(head.content_length.unwrap_or(body.len() as u64));
    encode::response_head(
        &mut out,
        &parts,
        framing,
        head.content_length.is_none(),
        ConnectionHeader::Close,
    );
    out.extend_from_slice(&body);
    with_send_timeout(&socket.ctx, socket.stream.write_all(&out))
        .await
        .map_err(|e| (head.status, e))?;
    Ok((head.status, body.len() as u64))
}

/// Our close frame is out; the session ends at the peer's close or at `deadline`.
struct Closing {
    deadline: Instant,
    /// What the app is told (`websocket.disconnect`).
    code: u16,
    reason: String,
}

/// An open WebSocket. See the module docs.
struct Session<'a, T> {
    socket: &'a mut Socket<T>,
    reader: Reader,
    deflate: Option<Deflate>,
    /// Frames staged for the next write.
    out: BytesMut,
    /// Messages handed to the app that it has not taken yet (it acknowledges each with
    /// `NeedBody`). The socket is read only while this is 0.
    unacked: usize,
    /// When the client last sent a frame (the ping timer runs from it).
    last_heard: Instant,
    /// A ping waits for its answer since then.
    ping_sent: Option<Instant>,
    /// The socket was read in the previous turn of the loop.
    was_reading: bool,
    closing: Option<Closing>,
    /// The worker is stopping: 1001 at this time.
    going_away_at: Option<Instant>,
    /// The app side dropped its sender (its task ended).
    app_gone: bool,
    /// Message bytes sent, for the access record.
    sent: u64,
}

/// What ends a session.
enum End {
    /// The app is told this close code and reason.
    Closed { code: u16, reason: String },
}

impl<T: Transport> Session<'_, T> {
    /// Runs until the WebSocket closes; returns the message bytes sent.
    async fn run(&mut self) -> Result<u64, ConnError> {
        let result = self.serve().await;
        let (code, reason) = match &result {
            Ok(End::Closed { code, reason }) => (*code, reason.clone()),
            Err(_) => (ABNORMAL, String::new()),
        };
        // The app's receive() gets websocket.disconnect; a send after it raises.
        let _ = self
            .socket
            .link
            .send_body(BodyEvent::WsClosed { code, reason });
        result.map(|_| self.sent)
    }

    async fn serve(&mut self) -> Result<End, ConnError> {
        let ws = self.socket.ctx.websocket;
        let graceful = self.socket.ctx.timeouts.graceful;
        loop {
            let reading = self.unacked == 0 || self.closing.is_some();
            if reading {
                // Frames already buffered first (the handshake's packet, a previous read).
                match self
                    .reader
                    .next(&mut self.socket.buf, self.deflate.as_mut())
                {
                    Ok(Some(incoming)) => {
                        if let Some(end) = self.on_incoming(incoming).await? {
                            return Ok(end);
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(violation) => {
                        log_at!(
                            Level::Debug,
                            "{}: websocket closed with {}: {}",
                            self.socket.remote,
                            violation.code,
                            violation.reason
                        );
                        self.write_close(violation.code, violation.reason).await?;
                        return Ok(End::Closed {
                            code: violation.code,
                            reason: violation.reason.to_owned(),
                        });
                    }
                }
            }
            // Pings are only sent, and their answers only heard, while the socket is read:
            // a client is not timed out for an app that does not take its messages.
            if reading && !self.was_reading {
                self.last_heard = Instant::now();
                self.ping_sent = None;
            }
            self.was_reading = reading;
            let timer = self.next_timer(reading, ws.ping_interval, ws.ping_timeout);
            let stopping = self.going_away_at.is_none() && *self.socket.shutdown.borrow();
            if stopping {
                let margin = GOING_AWAY_MARGIN.min(graceful / 2);
                self.going_away_at = Some(Instant::now() + graceful.saturating_sub(margin));
                continue;
            }
            let Socket {
                stream,
                buf,
                link,
                shutdown,
                ..
            } = &mut *self.socket;
            tokio::select! {
                event = link.recv(), if !self.app_gone => {
                    if let Some(end) = self.on_event(event).await? {
                        return Ok(end);
                    }
                }
                read = stream.read_buf(buf), if reading => {
                    match read {
                        Ok(n) if n > 0 => {
                            self.last_heard = Instant::now();
                            self.ping_sent = None;
                        }
                        _ => {
                            // Gone without a close frame (§7.1.5: 1006 to the app).
                            return Ok(End::Closed { code: ABNORMAL, reason: String::new() });
                        }
                    }
                }
                changed = shutdown.changed(), if self.going_away_at.is_none() => {
                    if changed.is_err() {
                        // The server is gone without saying stop: go away now.
                        self.going_away_at = Some(Instant::now());
                    }
                }
                () = sleep_until(timer.unwrap_or_else(far_future)), if timer.is_some() => {
                    if let Some(end) = self.on_timer(ws.ping_interval, ws.ping_timeout).await? {
                        return Ok(end);
                    }
                }
            }
        }
    }

    /// The earliest of: the next ping, a ping's timeout, the close deadline, 1001 time.
    fn next_timer(
        &self,
        reading: bool,
        interval: Option<Duration>,
        ping_timeout: Duration,
    ) -> Option<Instant> {
        let ping = match (self.ping_sent, interval) {
            _ if !reading => None,
            (Some(sent), _) => Some(sent + ping_timeout),
            (None, Some(interval)) if self.closing.is_none() => Some(self.last_heard + interval),
            (None, _) => None,
        };
        [
            ping,
            self.closing.as_ref().map(|c| c.deadline),
            self.going_away_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    async fn on_timer(
        &mut self,
        interval: Option<Duration>,
        ping_timeout: Duration,
    ) -> Result<Option<End>, ConnError> {
        let now = Instant::now();
        if let Some(closing) = &self.closing {
            if now >= closing.deadline {
                return Ok(Some(End::Closed {
                    code: closing.code,
                    reason: closing.reason.clone(),
                }));
            }
        }
        if self.going_away_at.is_some_and(|at| now >= at) && self.closing.is_none() {
            self.going_away_at = None;
            self.begin_close(GOING_AWAY, "server shutting down").await?;
            let wait = Instant::now() + GOING_AWAY_MARGIN;
            if let Some(closing) = &mut self.closing {
                closing.deadline = closing.deadline.min(wait);
            }
            return Ok(None);
        }
        if !self.was_reading {
            return Ok(None);
        }
        match self.ping_sent {
            Some(sent) if now >= sent + ping_timeout => {
                log_at!(
                    Level::Debug,
                    "{}: websocket ping timeout",
                    self.socket.remote
                );
                self.write_close(INTERNAL_ERROR, "keepalive ping timeout")
                    .await?;
                Ok(Some(End::Closed {
                    code: ABNORMAL,
                    reason: String::new(),
                }))
            }
            None if interval.is_some_and(|i| now >= self.last_heard + i) => {
                self.ping_sent = Some(now);
                write_frame(&mut self.out, Kind::Ping, b"", false);
                self.flush().await?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    async fn on_incoming(&mut self, incoming: Incoming) -> Result<Option<End>, ConnError> {
        match incoming {
            Incoming::Message(message) => {
                if self.closing.is_none() {
                    self.unacked += 1;
                    // Closed: the app side finished; its close is on its way.
                    let _ = self.socket.link.send_body(BodyEvent::WsMessage(message));
                }
                Ok(None)
            }
            Incoming::Ping(data) => {
                if self.closing.is_none() {
                    write_frame(&mut self.out, Kind::Pong, &data, false);
                    self.flush().await?;
                }
                Ok(None)
            }
            Incoming::Pong => Ok(None),
            Incoming::Close { code, reason } => {
                if let Some(closing) = self.closing.take() {
                    // The echo of our close: the closing handshake is complete.
                    return Ok(Some(End::Closed {
                        code: closing.code,
                        reason: closing.reason,
                    }));
                }
                // §5.5.1: echo the status code (none for a close without one).
                let payload = if code == 1005 {
                    Vec::new()
                } else {
                    close_payload(code, "")
                };
                write_frame(&mut self.out, Kind::Close, &payload, false);
                self.flush().await?;
                Ok(Some(End::Closed { code, reason }))
            }
        }
    }

    async fn on_event(&mut self, event: Option<ResponseEvent>) -> Result<Option<End>, ConnError> {
        match event {
            Some(ResponseEvent::WsSend(message)) => {
                self.stage(&message);
                let mut gathered = 1;
                while gathered < GATHER_MESSAGES {
                    let Some(ResponseEvent::WsSend(next)) = self
                        .socket
                        .link
                        .try_recv_if(|e| matches!(e, ResponseEvent::WsSend(_)))
                    else {
                        break;
                    };
                    self.stage(&next);
                    gathered += 1;
                }
                self.flush().await?;
                Ok(None)
            }
            Some(ResponseEvent::NeedBody) => {
                self.unacked = self.unacked.saturating_sub(1);
                Ok(None)
            }
            Some(ResponseEvent::WsClose { code, reason }) => {
                self.begin_close(code, &reason).await?;
                Ok(None)
            }
            Some(ResponseEvent::Abort(_)) => {
                self.begin_close(INTERNAL_ERROR, "").await?;
                Ok(None)
            }
            None => {
                // The app's task ended without closing: close normally (as uvicorn does).
                self.app_gone = true;
                self.begin_close(NORMAL, "").await?;
                Ok(None)
            }
            Some(_) => {
                log_at!(
                    Level::Error,
                    "app side sent an HTTP event on an open WebSocket"
                );
                self.begin_close(INTERNAL_ERROR, "").await?;
                Ok(None)
            }
        }
    }

    /// Stages one message frame, compressed when negotiated and worth it.
    fn stage(&mut self, message: &WsMessage) {
        if self.closing.is_some() {
            return;
        }
        let (kind, data) = match message {
            WsMessage::Text(data) => (Kind::Text, data),
            WsMessage::Binary(data) => (Kind::Binary, data),
        };
        self.sent += data.len() as u64;
        match &mut self.deflate {
            Some(deflate) if data.len() >= COMPRESS_MIN => {
                let packed = deflate.compress(data);
                write_frame(&mut self.out, kind, &packed, true);
            }
            _ => write_frame(&mut self.out, kind, data, false),
        }
    }

    /// Sends our close frame (once) and waits for the peer's, at most `CLOSE_WAIT`.
    async fn begin_close(&mut self, code: u16, reason: &str) -> Result<(), ConnError> {
        if self.closing.is_some() {
            return Ok(());
        }
        self.write_close(code, reason).await?;
        self.closing = Some(Closing {
            deadline: Instant::now() + CLOSE_WAIT,
            code,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    async fn write_close(&mut self, code: u16, reason: &str) -> Result<(), ConnError> {
        write_frame(
            &mut self.out,
            Kind::Close,
            &close_payload(code, reason),
            false,
        );
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), ConnError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result =
            with_send_timeout(&self.socket.ctx, self.socket.stream.write_all(&self.out)).await;
        self.out.clear();
        result
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
