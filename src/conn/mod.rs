//! Connections: everything between an accepted socket and the app side. `serve` reads a
//! PROXY protocol header first when the listener expects one (`proxy_header`), then picks
//! the wire protocol and runs it until the connection closes: HTTP/1.1 (`http1`), which
//! hands over to WebSockets (`websocket`) when an upgrade is accepted, or uwsgi packets
//! (`uwsgi`, nginx's `uwsgi_pass`); or HTTP/2 (`http2`), chosen here by prior knowledge on a
//! plain connection (its first bytes are the HTTP/2 preface) and in `tls` by ALPN. Whatever the protocol, a request reaches the app side through `dispatch` as the
//! same `bridge::Job`, the server's own answers come from `respond`, and access records from
//! `access`.
//!
//! One task per connection; it owns the socket, its timeouts and its buffers.

mod access;
mod counted;
mod dispatch;
mod files;
mod http1;
mod http2;
mod proxy_header;
mod respond;
mod static_file;
mod tls;
mod transport;
mod uwsgi;
mod websocket;

use std::future::Future;
use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::sync::{watch, Semaphore};

use crate::bridge::{ConnInfo, Handler};
use crate::config::{Http2Config, ProxyConfig, Sendfile, Timeouts, WebSocketConfig, WireProtocol};
use crate::http::{HttpError, Limits};
use crate::log::Level;
use crate::proxy::header::ProxyProtocol;
use crate::relay::LoopWaker;

pub use files::StaticRoots;
pub use respond::Page;
pub use transport::Transport;

use http1::RESPONSE_QUEUE;

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
    /// The static mounts (`--static-map`), their directories open.
    pub statics: StaticRoots,
    /// Forwarding headers, PROXY headers and the wire protocol (`--protocol`).
    pub proxy: ProxyConfig,
    /// WebSocket limits and timers.
    pub websocket: WebSocketConfig,
    /// Whether HTTP/2 is served, and its limits.
    pub http2: Http2Config,
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
    Timeout(TimeoutKind),
}

/// Which time bound a connection hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// `header_timeout`: a started head did not complete.
    Head,
    /// `body_timeout`: the request body stalled.
    Body,
    /// `send_timeout`: the client stopped reading the response.
    Send,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Head => "reading the request head",
            TimeoutKind::Body => "reading the request body",
            TimeoutKind::Send => "writing the response",
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
    shutdown: watch::Receiver<bool>,
) {
    let socket_peer = info.peer;
    // A PROXY header, when expected, comes before anything else; the bytes read after it
    // are the protocol's.
    let (info, buf) = match ctx.proxy.proxy_protocol {
        ProxyProtocol::Off => (info, BytesMut::new()),
        versions => match proxy_header::read(&mut stream, &info, &ctx, versions).await {
            Ok(found) => found,
            Err(err) => {
                log_at!(Level::Debug, "{}: {err}", peer_text(socket_peer));
                return;
            }
        },
    };
    // The protocol seam. HTTP/2 by prior knowledge: the connection opens with the preface
    // (RFC 9113 §3.3), which no HTTP/1.x request can start with.
    let mut buf = buf;
    // The first request's head is due `header_timeout` after accept, sniffed or not.
    let first_deadline = tokio::time::Instant::now() + ctx.timeouts.header;
    let mut sniffed = false;
    if ctx.proxy.protocol == WireProtocol::Http && ctx.http2.serves_prior_knowledge() {
        sniffed = true;
        match sniff_preface(&mut stream, &mut buf, first_deadline).await {
            Sniffed::Http2 => {
                let io = http2::Prefixed {
                    read: buf,
                    inner: counted::Counted(stream),
                };
                // Boxed: only HTTP/2 connections carry its state.
                return Box::pin(http2::serve(io, info, socket_peer, handler, ctx, shutdown)).await;
            }
            Sniffed::Http1 => {}
            Sniffed::Gone => return,
        }
    }
    let mut conn = http1::Connection::new(
        counted::Counted(stream),
        info,
        socket_peer,
        buf,
        ctx,
        shutdown,
    );
    if sniffed {
        conn.set_first_deadline(first_deadline);
    }
    match conn.ctx().proxy.protocol {
        WireProtocol::Http => http1::serve(conn, handler.as_ref()).await,
        WireProtocol::Uwsgi => uwsgi::serve(conn, handler.as_ref()).await,
    }
}

/// What a plain connection's first bytes say.
enum Sniffed {
    Http2,
    Http1,
    /// Closed, failed or silent past `header_timeout` before saying (nothing to answer).
    Gone,
}

/// Reads until `buf` holds the HTTP/2 preface or bytes that cannot start it. An HTTP/1.x
/// request differs at its first read (no method is `PRI`), so it costs no extra read:
/// the head reader goes on from `buf`.
async fn sniff_preface<T: Transport>(
    stream: &mut T,
    buf: &mut BytesMut,
    deadline: tokio::time::Instant,
) -> Sniffed {
    loop {
        let seen = buf.len().min(http2::PREFACE.len());
        if buf[..seen] != http2::PREFACE[..seen] {
            return Sniffed::Http1;
        }
        if seen == http2::PREFACE.len() {
            return Sniffed::Http2;
        }
        if buf.capacity() == 0 {
            // As the HTTP/1.1 head reader: an idle new connection holds no buffer.
            match tokio::time::timeout_at(deadline, stream.readable()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Sniffed::Gone,
                Err(_) => {
                    crate::metrics::stats().timed_out(crate::metrics::Timeout::Head);
                    return Sniffed::Gone;
                }
            }
            // 8 KiB: the HTTP/1.1 head reader's own read size.
            buf.reserve(8 * 1024);
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            // Read before the stream is wrapped in `Counted`: counted here.
            Ok(Ok(n)) if n > 0 => crate::metrics::stats().received(n),
            Ok(_) => return Sniffed::Gone,
            Err(_) => {
                crate::metrics::stats().timed_out(crate::metrics::Timeout::Head);
                return Sniffed::Gone;
            }
        }
    }
}

/// A peer's address for log lines: the IP, or `-` on unix sockets.
fn peer_text(peer: Option<std::net::SocketAddr>) -> String {
    match peer {
        Some(addr) => addr.ip().to_string(),
        None => "-".to_owned(),
    }
}

/// Serves one connection accepted on a TLS listener: the handshake (in this task, under
/// `header_timeout`), then HTTP/1.x.
pub async fn serve_tls<H: Handler>(
    stream: tokio::net::TcpStream,
    tls: crate::tls::ServerTls,
    info: Arc<ConnInfo>,
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
) {
    // Boxed: the TLS connection's state (rustls' connection, its buffers, the HTTP/1.1 or
    // HTTP/2 connection over it) is the largest of a connection task's; unboxed, it made
    // every connection's task that large, and tokio moves a task's future several times
    // as it spawns and finishes it (~90,000 instructions of memcpy per TLS connection,
    // bench/PROFILE.md, issue #10).
    Box::pin(tls::serve(stream, tls, info, handler, ctx, shutdown)).await;
}

/// Runs one write under `send_timeout`.
async fn with_send_timeout<F: Future<Output = io::Result<()>>>(
    ctx: &ConnContext,
    f: F,
) -> Result<(), ConnError> {
    match tokio::time::timeout(ctx.timeouts.send, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(ConnError::Io(err)),
        Err(_) => {
            crate::metrics::stats().timed_out(crate::metrics::Timeout::Send);
            Err(ConnError::Timeout(TimeoutKind::Send))
        }
    }
}

#[cfg(test)]
mod tests;
