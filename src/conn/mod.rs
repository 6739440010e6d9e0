//! Connections: everything between an accepted socket and the app side. `serve` picks the
//! wire protocol and runs it until the connection closes: HTTP/1.1 (`http1`), which hands
//! over to WebSockets (`websocket`) when an upgrade is accepted; HTTP/2 will be chosen here
//! too (by prior knowledge or ALPN). Whatever the protocol, a
//! request reaches the app side through `dispatch` as the same `bridge::Job`, the server's
//! own answers come from `respond`, and access records from `access`.
//!
//! One task per connection; it owns the socket, its timeouts and its buffers.

mod access;
mod dispatch;
mod http1;
mod respond;
mod transport;
mod websocket;

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::sync::{watch, Semaphore};

use crate::bridge::{ConnInfo, Handler};
use crate::config::{Sendfile, Timeouts, WebSocketConfig};
use crate::http::{HttpError, Limits};
use crate::relay::LoopWaker;

pub use respond::Page;
pub use transport::Transport;

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
    /// WebSocket limits and timers.
    pub websocket: WebSocketConfig,
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
    stream: T,
    info: Arc<ConnInfo>,
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
) {
    // The protocol seam: every connection speaks HTTP/1.x today.
    http1::serve(
        http1::Connection::new(stream, info, ctx, shutdown),
        handler.as_ref(),
    )
    .await;
}

/// Runs one write under `send_timeout`.
async fn with_send_timeout<F: Future<Output = io::Result<()>>>(
    ctx: &ConnContext,
    f: F,
) -> Result<(), ConnError> {
    match tokio::time::timeout(ctx.timeouts.send, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(ConnError::Io(err)),
        Err(_) => Err(ConnError::Timeout(TimeoutKind::Send)),
    }
}

#[cfg(test)]
mod tests;
