//! The per-connection loop. Owns the socket, the read/write timeouts, keep-alive,
//! `100 Continue`, streaming the request body on demand, writing the response and draining
//! what the app left unread. Parsing is delegated to `http`; running the app to a
//! `Handler`, which talks back over the channels in `bridge`.
//!
//! One connection is one task; it serves its requests strictly in order, so pipelined
//! requests are answered in order.

mod exchange;
mod transport;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio::time::{timeout_at, Instant};

use crate::bridge::Link;
use crate::bridge::{ConnInfo, Handler};
use crate::config::{Sendfile, Timeouts};
use crate::http::{self, encode, HttpError, Limits, RequestHead};
use crate::log::Level;
use crate::relay::LoopWaker;
use exchange::Next;

pub use transport::Transport;

/// How much to ask the socket for per read. 64 KiB: large enough for typical form posts
/// in one read, chosen without measurement.
const READ_CHUNK: usize = 64 * 1024;

/// Longest we keep reading (and discarding) after an error response, so the client sees
/// the response instead of a reset. Arbitrary.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Settings and shared state every connection of a worker reads.
#[derive(Debug)]
pub struct ConnContext {
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// One permit per request that may be with the Python threads at once (running or
    /// queued). Waiting for one is the backpressure of the whole worker.
    pub request_permits: Arc<Semaphore>,
    /// Wakes connection tasks for the Python threads (see `relay`).
    pub waker: Arc<LoopWaker>,
    /// How file bodies are sent.
    pub sendfile: Sendfile,
}

/// Why a connection ended other than by a clean close. Logged at debug level: these are
/// the client's doing or the network's, never worth an operator's attention.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("rejected request: {0}")]
    Http(#[from] HttpError),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("timed out {0}")]
    Timeout(Phase),
}

/// What the connection was doing when a timeout struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    ReadingHead,
    ReadingBody,
    Writing,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::ReadingHead => "reading the request head",
            Phase::ReadingBody => "reading the request body",
            Phase::Writing => "writing the response",
        })
    }
}

/// Serves one connection until it closes. `shutdown` turning true asks the connection to
/// finish the request in progress (answering it with `Connection: close`) and stop.
pub async fn serve<T: Transport, H: Handler>(
    mut stream: T,
    info: Arc<ConnInfo>,
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Latency matters more than packet count: responses are written whole anyway.
    // A socket that refuses TCP_NODELAY still works.
    let _ = stream.set_nodelay();
    let remote = match info.peer {
        Some(addr) => addr.ip().to_string(),
        None => "-".to_owned(),
    };
    // Allocated when the first bytes can be read: a connection that sends nothing holds
    // no buffer (see `read_head`).
    let mut buf = BytesMut::new();
    let link = Link::new(Arc::clone(&ctx.waker), exchange::RESPONSE_QUEUE);
    let mut first = true;
    loop {
        let head = match read_head(&mut stream, &mut buf, &ctx, first, &mut shutdown).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(HeadFailure::Rejected(err)) => {
                log_at!(Level::Debug, "{remote}: {err}");
                reject(
                    &mut stream,
                    &ctx,
                    err.status(),
                    err.reason(),
                    &err.to_string(),
                )
                .await;
                return;
            }
            Err(HeadFailure::TimedOut { got_bytes }) => {
                // RFC 9110 §15.5.9: 408 when the client started a request but did not
                // finish it in time; an idle connection is just closed.
                if got_bytes {
                    reject(
                        &mut stream,
                        &ctx,
                        408,
                        "Request Timeout",
                        "request head not received in time",
                    )
                    .await;
                }
                return;
            }
            Err(HeadFailure::Io(err)) => {
                log_at!(Level::Debug, "{remote}: {err}");
                return;
            }
        };
        first = false;
        if let http::BodyFraming::Length(n) = head.framing {
            let limit = ctx.limits.max_body_bytes;
            if limit != 0 && n > limit {
                // A parsed request refused before the app runs is still a request: it gets
                // its access record.
                let (started_wall, started) = (SystemTime::now(), std::time::Instant::now());
                let err = HttpError::BodyTooLarge;
                let detail = "request body larger than max_body_bytes";
                let written =
                    write_rejection(&mut stream, &ctx, err.status(), err.reason(), detail).await;
                exchange::log_refused(
                    &remote,
                    &head,
                    err.status(),
                    written.unwrap_or(0),
                    started_wall,
                    started,
                );
                if written.is_some() {
                    linger(&mut stream).await;
                }
                return;
            }
        }
        // Boxed: the exchange's state (~2 KiB) exists only while a request is in progress,
        // not in every idle keep-alive connection's task.
        let outcome = Box::pin(exchange::run(
            &mut stream,
            &mut buf,
            &link,
            head,
            &info,
            &remote,
            handler.as_ref(),
            &ctx,
            &shutdown,
        ))
        .await;
        match outcome {
            Ok(Next::KeepAlive) if !*shutdown.borrow() => {}
            Ok(Next::CloseLingering) => {
                linger(&mut stream).await;
                return;
            }
            Ok(Next::KeepAlive | Next::Close) => {
                // Best effort: the response is complete; the close is a courtesy.
                let _ = stream.shutdown().await;
                return;
            }
            Err(err) => {
                log_at!(Level::Debug, "{remote}: {err}");
                return;
            }
        }
    }
}

enum HeadFailure {
    Rejected(HttpError),
    TimedOut { got_bytes: bool },
    Io(io::Error),
}

/// How long an idle keep-alive connection stays open after shutdown for a request that
/// was already on its way. 250 ms: far longer than a request takes to cross a LAN, short
/// enough not to delay a stop noticeably; chosen without measurement.
const DRAIN_LINGER: Duration = Duration::from_millis(250);

/// Buffer space asked for per read of a request head. Heads are rarely over 1 KiB; a
/// larger one grows the buffer read by read (up to `max_head_bytes`). Was 64 KiB: with
/// 10 000 idle connections, the heap space each one held but never touched was later
/// carved up by busy connections and became resident (the idle workload's worker RSS
/// grew from 80 to 150 MiB while `hello` ran beside them).
const HEAD_READ: usize = 8 * 1024;

/// Reads until `buf` holds a complete head. `Ok(None)`: the connection ended cleanly
/// between requests (EOF, idle timeout, or shutdown while idle).
async fn read_head<T: Transport>(
    stream: &mut T,
    buf: &mut BytesMut,
    ctx: &ConnContext,
    first: bool,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<RequestHead>, HeadFailure> {
    let timeouts = &ctx.timeouts;
    // The first request of a connection gets `header_timeout` from accept; later ones
    // may idle for `keepalive_timeout`, then get `header_timeout` from their first byte.
    let mut deadline = if first || !buf.is_empty() {
        Instant::now() + timeouts.header
    } else {
        Instant::now() + timeouts.keepalive
    };
    let mut waiting_idle = !first && buf.is_empty();
    let mut lingering = false;
    let mut progress = http::parse::HeadProgress::default();
    loop {
        if !buf.is_empty() && progress.needs_rescan(buf, &ctx.limits) {
            match http::parse::request_head(buf, &ctx.limits) {
                Ok(Some(head)) => return Ok(Some(head)),
                Ok(None) => progress.on_incomplete(buf),
                Err(err) => return Err(HeadFailure::Rejected(err)),
            }
        }
        // At shutdown an idle keep-alive connection closes once `DRAIN_LINGER` passes
        // without a request: one already on its way (sent before the client could know)
        // is still answered, with `Connection: close`. A connection's first request, or a
        // started head, is served in full (bounded by header_timeout).
        if buf.is_empty() && !first && !lingering && *shutdown.borrow() {
            lingering = true;
            deadline = deadline.min(Instant::now() + DRAIN_LINGER);
        }
        if buf.capacity() == 0 {
            // A new connection: wait for its first bytes before allocating a buffer.
            let ready = tokio::select! {
                r = timeout_at(deadline, stream.readable()) => r,
                _ = shutdown.changed(), if !first && !lingering => continue,
            };
            match ready {
                Err(_elapsed) if lingering => return Ok(None),
                Err(_elapsed) => return Err(HeadFailure::TimedOut { got_bytes: false }),
                Ok(Err(err)) => return Err(HeadFailure::Io(err)),
                Ok(Ok(())) => {}
            }
        }
        buf.reserve(HEAD_READ.min(ctx.limits.max_head_bytes + 2));
        let read = tokio::select! {
            r = timeout_at(deadline, stream.read_buf(buf)) => r,
            _ = shutdown.changed(), if buf.is_empty() && !first && !lingering => continue,
        };
        match read {
            Err(_elapsed) if lingering && buf.is_empty() => return Ok(None),
            Err(_elapsed) => {
                return Err(HeadFailure::TimedOut {
                    got_bytes: !buf.is_empty(),
                });
            }
            Ok(Ok(0)) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                return Err(HeadFailure::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the request head",
                )));
            }
            Ok(Ok(_)) => {
                if waiting_idle {
                    waiting_idle = false;
                    deadline = Instant::now() + timeouts.header;
                }
            }
            Ok(Err(err)) => return Err(HeadFailure::Io(err)),
        }
    }
}

/// Answers a request the server refuses, then closes: `Connection: close`, whatever else
/// the client sent is discarded (never parsed), and the close lingers so the client reads
/// the response instead of a reset.
async fn reject<T: Transport>(
    stream: &mut T,
    ctx: &ConnContext,
    status: u16,
    reason: &str,
    detail: &str,
) {
    if write_rejection(stream, ctx, status, reason, detail)
        .await
        .is_some()
    {
        linger(stream).await;
    }
}

/// Writes the error page of `reject`; `Some(body bytes)` when it went out.
async fn write_rejection<T: Transport>(
    stream: &mut T,
    ctx: &ConnContext,
    status: u16,
    reason: &str,
    detail: &str,
) -> Option<u64> {
    let mut out = BytesMut::with_capacity(256);
    let body = format!("{status} {reason}: {detail}\n");
    encode::simple_response(&mut out, status, reason, body.as_bytes(), true);
    with_send_timeout(ctx, stream.write_all(&out))
        .await
        .ok()
        .map(|()| body.len() as u64)
}

/// Half-closes, then reads and discards for a short while, so that unread request bytes
/// do not turn the close into a reset that destroys the response in flight.
async fn linger<T: Transport>(stream: &mut T) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut scratch = vec![0u8; 16 * 1024];
    let mut total = 0;
    while total < LINGER_BYTES {
        match timeout_at(deadline, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => return,
        }
    }
}

async fn with_send_timeout<F: Future<Output = io::Result<()>>>(
    ctx: &ConnContext,
    f: F,
) -> Result<(), ConnError> {
    match tokio::time::timeout(ctx.timeouts.send, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(ConnError::Io(err)),
        Err(_) => Err(ConnError::Timeout(Phase::Writing)),
    }
}

#[cfg(test)]
mod tests;
