//! The request body side of an exchange: answering the app's demands (`NeedBody`) from the
//! connection's buffer and socket, `100 Continue` on the first demand, the body bytes sent
//! unasked before the app starts, `body_timeout`, and draining what the app left unread.
//!
//! Design: a pull. The socket is read for the body only while a demand is open
//! (`BodyState::Wanted`), so at most one read buffer of body is in memory per request and
//! `100 Continue` goes out only if the app reads (see ARCHITECTURE.md, step 6).

use std::io;

use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

use super::{CloseReason, Connection, Persistence};
use crate::bridge::{BodyEvent, BodyFailure};
use crate::conn::respond::{self, Page};
use crate::conn::{ConnContext, ConnError, Transport};
use crate::http::body::{BodyDecoder, Decoded};
use crate::http::{BodyFraming, HttpError, RequestHead};
use crate::log::Level;

/// How much to ask the socket for per body read. 64 KiB: large enough for typical form
/// posts in one read, chosen without measurement.
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// Body reads while more than this of a `Content-Length` body is left (`upload`: a quarter
/// of the thread hand-offs per megabyte; the memory is one read buffer, which the app drains
/// before the next read).
const LARGE_BODY_READ: usize = 256 * 1024;

/// Room for what a client sends while a disconnect is watched (`BodyState::Watching`):
/// nothing, usually; a pipelined request at most. Arbitrary.
const WATCH_READ: usize = 4096;

/// Unread request body the server will read and discard to keep a connection alive
/// after the response. Past it, the connection is closed instead. Arbitrary.
pub(super) const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Whether the app's last demand is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// No demand is open.
    Idle,
    /// The app asked and the buffer held nothing to give: the socket is read until bytes
    /// come or `deadline` (`body_timeout` after the demand or the last bytes) passes.
    Wanted { deadline: Instant },
    /// The body is complete and the app asks again: it waits for the client to leave
    /// (ASGI's `http.disconnect`). The socket is read without a deadline: EOF answers
    /// `Failed(Disconnected)`; bytes (a pipelined request) stay in the buffer, and past
    /// `READ_CHUNK` of them the watch ends unanswered (the request's end answers it).
    Watching,
}

/// Where `Expect: 100-continue` stands (RFC 9110 §10.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continue {
    /// The client did not ask for it.
    NotExpected,
    /// The client waits for it before sending the body.
    Expected,
    /// Sent (or made moot by the response starting first).
    Sent,
}

/// See the module docs.
pub(super) struct RequestBody {
    decoder: BodyDecoder,
    state: BodyState,
    expect: Continue,
    /// The request's `Content-Length`, if it has one; with `read`, what is left to drain.
    declared: Option<u64>,
    /// Body bytes handed to the app so far.
    read: u64,
    /// `BodyEvent::End` was sent: a further demand watches for the disconnect.
    end_sent: bool,
    /// The body failed through the client's fault: the exchange answers with this page if
    /// the response has not started.
    rejection: Option<Page>,
}

impl RequestBody {
    pub(super) fn new(head: &RequestHead, ctx: &ConnContext) -> RequestBody {
        RequestBody {
            decoder: BodyDecoder::new(head.framing, &ctx.limits),
            state: BodyState::Idle,
            expect: if head.expects_continue {
                Continue::Expected
            } else {
                Continue::NotExpected
            },
            declared: match head.framing {
                BodyFraming::Length(n) => Some(n),
                BodyFraming::Empty | BodyFraming::Chunked => None,
            },
            read: 0,
            end_sent: false,
            rejection: None,
        }
    }

    /// The whole body has been decoded.
    pub(super) fn is_done(&self) -> bool {
        self.decoder.is_done()
    }

    /// Whether keep-alive is out of reach however the response goes: a body the app left
    /// unread whose client still waits for `100 Continue`, or whose declared rest is more
    /// than the drain would read. (A chunked rest of unknown size is tried; past the limit
    /// the connection closes without notice.)
    pub(super) fn prevents_keep_alive(&self) -> bool {
        let waits_for_continue = self.expect == Continue::Expected;
        let rest_too_large = self.declared.is_some_and(|n| n - self.read > DRAIN_LIMIT);
        !self.decoder.is_done() && (waits_for_continue || rest_too_large)
    }

    /// When the socket must be read for the app, until when.
    pub(super) fn wanted_until(&self) -> Option<Instant> {
        match self.state {
            BodyState::Wanted { deadline } => Some(deadline),
            BodyState::Idle | BodyState::Watching => None,
        }
    }

    /// The socket must be read for the app: a demand is open, or a disconnect is watched.
    pub(super) fn reads_socket(&self) -> bool {
        self.state != BodyState::Idle
    }

    /// The page answering a body that failed through the client's fault, once.
    pub(super) fn take_rejection(&mut self) -> Option<Page> {
        self.rejection.take()
    }

    /// Hands the app, before it starts, the body bytes that arrived with the head, and
    /// what else of the body the socket holds already (one non-blocking read, when the
    /// rest is at most `READ_CHUNK`): round trips saved for small bodies (`echo`: from
    /// three to one). Only for `Content-Length` bodies whose client is not waiting for
    /// `100 Continue`; nothing is waited for.
    pub(super) fn send_buffered<T: Transport>(&mut self, conn: &mut Connection<T>) {
        let Some(declared) = self.declared else {
            return;
        };
        if self.expect == Continue::Expected {
            return;
        }
        let mut read_once = false;
        loop {
            let rest = declared - self.read;
            if !read_once && rest > 0 && rest <= READ_CHUNK as u64 && (conn.buf.len() as u64) < rest
            {
                read_once = true;
                conn.buf.reserve(READ_CHUNK);
                // Nothing there (or an error, which the next real read will see): fine.
                let _ = conn.stream.try_read_buf(&mut conn.buf);
            }
            match self.decoder.decode(&mut conn.buf) {
                Ok(Decoded::Data(data)) => {
                    self.read += data.len() as u64;
                    // The request's channels were opened just before: they take it.
                    let _ = conn.link.send_body(BodyEvent::Data(data));
                }
                Ok(Decoded::Done) => {
                    self.end_sent = true;
                    let _ = conn.link.send_body(BodyEvent::End);
                    return;
                }
                // A body over max_body_bytes is refused before this; nothing was taken.
                Ok(Decoded::NeedMore) | Err(_) => return,
            }
        }
    }

    /// The app asks for body bytes. RFC 9110 §10.1.1: `100 Continue` goes out on the first
    /// demand, and not at all if the app never asks (or its response started first).
    pub(super) async fn on_need_body<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        response_started: bool,
        persistence: &mut Persistence,
    ) -> Result<(), ConnError> {
        if self.expect == Continue::Expected && !self.decoder.is_done() {
            self.expect = Continue::Sent;
            if !response_started {
                respond::write_continue(&mut conn.stream, &conn.ctx).await?;
            }
        }
        if self.end_sent {
            self.state = BodyState::Watching;
            conn.buf.reserve(WATCH_READ);
            return Ok(());
        }
        self.answer_demand(conn, persistence);
        Ok(())
    }

    /// The socket read for an open demand finished.
    pub(super) fn on_read<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        read: io::Result<usize>,
        persistence: &mut Persistence,
    ) {
        if self.state == BodyState::Watching {
            match read {
                Ok(n) if n > 0 => {
                    if conn.buf.len() >= READ_CHUNK {
                        self.state = BodyState::Idle;
                    } else {
                        conn.buf.reserve(WATCH_READ);
                    }
                }
                _ => {
                    persistence.close(CloseReason::BrokenBody);
                    self.send(conn, BodyEvent::Failed(BodyFailure::Disconnected));
                }
            }
            return;
        }
        match read {
            Ok(0) => {
                persistence.close(CloseReason::BrokenBody);
                self.send(conn, BodyEvent::Failed(BodyFailure::Disconnected));
            }
            Ok(_) => {
                self.state = BodyState::Wanted {
                    deadline: Instant::now() + conn.ctx.timeouts.body,
                };
                self.answer_demand(conn, persistence);
            }
            Err(err) => {
                persistence.close(CloseReason::BrokenBody);
                self.send(conn, BodyEvent::Failed(BodyFailure::Disconnected));
                log_at!(Level::Debug, "reading request body: {err}");
            }
        }
    }

    /// `body_timeout` passed with a demand open.
    pub(super) fn on_timeout<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        persistence: &mut Persistence,
    ) {
        persistence.close(CloseReason::BrokenBody);
        crate::metrics::stats().timed_out(crate::metrics::Timeout::Body);
        self.rejection = Some(Page::BodyTimeout);
        self.send(conn, BodyEvent::Failed(BodyFailure::Timeout));
    }

    fn send<T: Transport>(&mut self, conn: &mut Connection<T>, event: BodyEvent) {
        self.state = BodyState::Idle;
        if event == BodyEvent::End {
            self.end_sent = true;
        }
        // Closed channels mean the app side finished the job; nothing waits for the bytes.
        let _ = conn.link.send_body(event);
    }

    /// Answers the open demand from the buffer if it can; otherwise leaves it open so the
    /// exchange reads the socket.
    fn answer_demand<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        persistence: &mut Persistence,
    ) {
        match self.decoder.decode(&mut conn.buf) {
            Ok(Decoded::Data(data)) => {
                self.read += data.len() as u64;
                self.send(conn, BodyEvent::Data(data));
            }
            Ok(Decoded::Done) => self.send(conn, BodyEvent::End),
            Ok(Decoded::NeedMore) => {
                if self.state == BodyState::Idle {
                    self.state = BodyState::Wanted {
                        deadline: Instant::now() + conn.ctx.timeouts.body,
                    };
                }
                conn.buf.reserve(self.read_size());
            }
            Err(err) => {
                // The framing is lost: no further request can be read from this
                // connection.
                persistence.close(CloseReason::BrokenBody);
                let failure = if err == HttpError::BodyTooLarge {
                    BodyFailure::TooLarge
                } else {
                    BodyFailure::Invalid
                };
                log_at!(Level::Debug, "request body: {err}");
                self.rejection = Some(Page::Rejected(err));
                self.send(conn, BodyEvent::Failed(failure));
            }
        }
    }

    /// How much to ask the socket for: `LARGE_BODY_READ` while more than that of a
    /// `Content-Length` body is left, else `READ_CHUNK`.
    fn read_size(&self) -> usize {
        match self.declared {
            Some(n) if n - self.read > LARGE_BODY_READ as u64 => LARGE_BODY_READ,
            _ => READ_CHUNK,
        }
    }

    /// Reads and discards what the app left of the body, within `DRAIN_LIMIT` and
    /// `body_timeout` per read, so the connection can carry the next request. `false`:
    /// close instead.
    pub(super) async fn drain<T: Transport>(&mut self, conn: &mut Connection<T>) -> bool {
        let mut drained: u64 = 0;
        loop {
            match self.decoder.decode(&mut conn.buf) {
                Ok(Decoded::Done) => return true,
                Ok(Decoded::Data(data)) => {
                    drained += data.len() as u64;
                    if drained > DRAIN_LIMIT {
                        return false;
                    }
                }
                Ok(Decoded::NeedMore) => {
                    conn.buf.reserve(READ_CHUNK);
                    let deadline = Instant::now() + conn.ctx.timeouts.body;
                    match timeout_at(deadline, conn.stream.read_buf(&mut conn.buf)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return false,
                    }
                }
                Err(_) => return false,
            }
        }
    }
}
