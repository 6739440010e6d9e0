//! HTTP/1.1 (and 1.0) on one connection: read a head (`head`), serve it (`exchange`: the
//! request body in `request_body`, the response in `output`), decide whether the
//! connection persists, and loop. Requests are served strictly in order, so pipelined
//! requests are answered in order.

mod exchange;
mod head;
mod output;
mod request_body;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

use super::access::AccessStart;
use super::respond::{self, Page};
use super::{websocket, ConnContext, Transport};
use crate::bridge::{ConnInfo, Handler, Link};
use crate::http::encode::ConnectionHeader;
use crate::http::{self, HttpError, RequestHead};
use crate::log::Level;
use head::HeadFailure;

/// Longest we keep reading (and discarding) after deciding to close while the client may
/// still be sending, so it sees the response instead of a reset. Arbitrary.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// One HTTP/1.x connection: the socket and everything that outlives a single request.
pub(super) struct Connection<T> {
    stream: T,
    /// Bytes read and not yet used: the start of a head, body bytes, pipelined requests.
    /// Allocated when the first bytes can be read (an idle connection holds none).
    buf: BytesMut,
    /// The channels to the app side, reused by each request (see `relay`).
    link: Arc<Link>,
    info: Arc<ConnInfo>,
    /// The client's address for log lines: `-` on unix sockets.
    remote: String,
    ctx: Arc<ConnContext>,
    /// Turns true when the worker stops: the response in progress says `Connection: close`
    /// and an idle connection closes.
    shutdown: watch::Receiver<bool>,
}

impl<T: Transport> Connection<T> {
    pub(super) fn new(
        stream: T,
        info: Arc<ConnInfo>,
        ctx: Arc<ConnContext>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let remote = match info.peer {
            Some(addr) => addr.ip().to_string(),
            None => "-".to_owned(),
        };
        Connection {
            stream,
            buf: BytesMut::new(),
            link: Link::new(Arc::clone(&ctx.waker), exchange::RESPONSE_QUEUE),
            info,
            remote,
            ctx,
            shutdown,
        }
    }

    /// Hands the socket and what comes with it to the WebSocket protocol.
    fn into_websocket(self) -> websocket::Socket<T> {
        websocket::Socket {
            stream: self.stream,
            buf: self.buf,
            link: self.link,
            info: self.info,
            ctx: self.ctx,
            shutdown: self.shutdown,
            remote: self.remote,
        }
    }

    fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Answers a request the server refuses before the app sees it, then closes: whatever
    /// else the client sent is discarded (never parsed), and the close lingers so the
    /// client reads the response instead of a reset. Returns the body length when the page
    /// went out.
    async fn refuse(&mut self, page: &Page) -> Option<u64> {
        let written = respond::write_http1(
            &mut self.stream,
            &self.ctx,
            page,
            false,
            ConnectionHeader::Close,
        )
        .await;
        match written {
            Ok(len) => {
                self.linger().await;
                Some(len)
            }
            Err(err) => {
                log_at!(Level::Debug, "{}: {err}", self.remote);
                None
            }
        }
    }

    /// Half-closes, then reads and discards for a short while, so that unread request bytes
    /// do not turn the close into a reset that destroys the response in flight.
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIME;
        let mut scratch = vec![0u8; 16 * 1024];
        let mut total = 0;
        while total < LINGER_BYTES {
            match timeout_at(deadline, self.stream.read(&mut scratch)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => return,
            }
        }
    }
}

/// Whether a connection carries another request after the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persistence {
    KeepAlive,
    Close(CloseReason),
}

/// Why a connection closes after the current exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseReason {
    /// The client asked: `Connection: close`, or HTTP/1.0 without `keep-alive`.
    Client,
    /// The app's response said `Connection: close`.
    App,
    /// The worker is stopping.
    Shutdown,
    /// An HTTP/1.0 response without a length: its end is the connection's.
    CloseDelimited,
    /// A request body the app left unread that the server will not drain (larger than the
    /// drain limit, or a client still waiting for `100 Continue`).
    UnreadBody,
    /// The request body broke off or broke its framing: the next request cannot be found.
    BrokenBody,
    /// The app sent less body than its `Content-Length` promised.
    ShortResponse,
    /// The server answered on its own after a failure, or the response was cut off.
    Failure,
}

impl Persistence {
    fn for_head(head: &RequestHead) -> Persistence {
        if head.keep_alive {
            Persistence::KeepAlive
        } else {
            Persistence::Close(CloseReason::Client)
        }
    }

    /// Decides to close; the first reason given is kept.
    fn close(&mut self, reason: CloseReason) {
        if *self == Persistence::KeepAlive {
            *self = Persistence::Close(reason);
        }
    }

    fn is_keep_alive(self) -> bool {
        self == Persistence::KeepAlive
    }
}

/// How an exchange left the connection.
pub(super) struct Ended {
    pub persistence: Persistence,
    /// Request bytes may still be on their way (a body the app left unread, requests
    /// pipelined after it): a close must linger.
    pub client_may_send: bool,
}

/// Serves the connection's requests until it closes.
pub(super) async fn serve<T: Transport, H: Handler>(mut conn: Connection<T>, handler: &H) {
    // Latency matters more than packet count: responses are written whole anyway.
    // A socket that refuses TCP_NODELAY still works.
    let _ = conn.stream.set_nodelay();
    let mut first = true;
    loop {
        let head = match head::read(&mut conn, first).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(HeadFailure::Rejected(err)) => {
                log_at!(Level::Debug, "{}: {err}", conn.remote);
                conn.refuse(&Page::Rejected(err)).await;
                return;
            }
            Err(HeadFailure::TimedOut { got_bytes }) => {
                // RFC 9110 §15.5.9: 408 when the client started a request but did not
                // finish it in time; an idle connection is just closed.
                if got_bytes {
                    conn.refuse(&Page::HeadTimeout).await;
                }
                return;
            }
            Err(HeadFailure::Io(err)) => {
                log_at!(Level::Debug, "{}: {err}", conn.remote);
                return;
            }
        };
        first = false;
        if let Some(err) = refused_before_the_app(&head, &conn.ctx) {
            // A parsed request refused before the app runs is still a request: it gets its
            // access record.
            let access = AccessStart::take(&head);
            let page = Page::Rejected(err);
            let written = conn.refuse(&page).await;
            if let Some(access) = access {
                access.write(&conn.remote, page.status(), written.unwrap_or(0), b"");
            }
            return;
        }
        if handler.serves_websockets() && websocket::is_upgrade(&head) {
            // The connection becomes a WebSocket (or answers the handshake and closes).
            // Boxed, as the exchange below: only WebSockets carry the session's state.
            return Box::pin(websocket::serve(conn.into_websocket(), head, handler)).await;
        }
        // Boxed: the exchange's state (~2 KiB) exists only while a request is in progress,
        // not in every idle keep-alive connection's task.
        let ended = Box::pin(exchange::run(&mut conn, head, handler)).await;
        match ended {
            Ok(Ended {
                persistence: Persistence::KeepAlive,
                ..
            }) if !conn.is_shutting_down() => {}
            Ok(Ended {
                client_may_send: true,
                ..
            }) => {
                conn.linger().await;
                return;
            }
            Ok(_) => {
                // Best effort: the response is complete; the close is a courtesy.
                let _ = conn.stream.shutdown().await;
                return;
            }
            Err(err) => {
                log_at!(Level::Debug, "{}: {err}", conn.remote);
                return;
            }
        }
    }
}

/// A request the server refuses from its head alone: a declared body over
/// `max_body_bytes` (RFC 9110 §15.5.14), answered before the app runs or any of the body is
/// read.
fn refused_before_the_app(head: &RequestHead, ctx: &ConnContext) -> Option<HttpError> {
    let limit = ctx.limits.max_body_bytes;
    match head.framing {
        http::BodyFraming::Length(n) if limit != 0 && n > limit => Some(HttpError::BodyTooLarge),
        _ => None,
    }
}
