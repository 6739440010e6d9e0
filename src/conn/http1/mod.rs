//! HTTP/1.1 (and 1.0) on one connection: read a head (`head`), serve it (`exchange`: the
//! request body in `request_body`, the response in `output`), decide whether the
//! connection persists, and loop. Requests are served strictly in order, so pipelined
//! requests are answered in order.

mod exchange;
mod head;
mod output;
mod request_body;
mod static_file;

use std::borrow::Cow;
use std::net::SocketAddr;
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
use crate::proxy::header::ProxyProtocol;
use crate::proxy::Forwarded;
use head::HeadFailure;

pub(super) use exchange::RESPONSE_QUEUE;

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
    /// The socket's own peer (`info.peer` is the client a PROXY header named, if any):
    /// the access log's `peer` atom.
    socket_peer: Option<SocketAddr>,
    /// Whether this connection's peer is trusted with forwarding headers
    /// (`proxy::Forwarding::applies_to`): decided once, so requests from any other peer
    /// pay nothing for forwarding.
    forwarding: bool,
    /// A proxy keeps this connection in its pool of upstream connections: it came over a
    /// unix socket or after a PROXY header, or a request on it carried forwarding headers
    /// from a trusted peer. At shutdown it is not closed while idle, since the proxy may
    /// be sending a request on it at that very moment (and will not retry a POST): it
    /// closes after a response that says `Connection: close`, when the proxy closes it,
    /// or at `keepalive_timeout`, which the proxy is configured to undercut
    /// (docs/deploy.md, "Zero failed requests through a proxy").
    pooled_by_proxy: bool,
    ctx: Arc<ConnContext>,
    /// Turns true when the worker stops: the response in progress says `Connection: close`
    /// and an idle connection closes.
    shutdown: watch::Receiver<bool>,
    /// When the first request's head is due, when its wait began before this connection
    /// existed (the HTTP/2 preface check read its first bytes); else `header_timeout` from
    /// the first read.
    first_deadline: Option<Instant>,
}

impl<T: Transport> Connection<T> {
    /// A connection on `stream`; `buf` holds bytes already read past a PROXY header.
    pub(in crate::conn) fn new(
        stream: T,
        info: Arc<ConnInfo>,
        socket_peer: Option<SocketAddr>,
        buf: BytesMut,
        ctx: Arc<ConnContext>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let pooled_by_proxy =
            socket_peer.is_none() || ctx.proxy.proxy_protocol != ProxyProtocol::Off;
        let remote = super::peer_text(info.peer);
        let forwarding = ctx
            .proxy
            .forwarding
            .applies_to(info.peer.map(|addr| addr.ip()));
        Connection {
            stream,
            buf,
            link: Link::new(Arc::clone(&ctx.waker), exchange::RESPONSE_QUEUE),
            info,
            remote,
            socket_peer,
            forwarding,
            pooled_by_proxy,
            ctx,
            shutdown,
            first_deadline: None,
        }
    }

    /// The first request's head is due at `at` (see `first_deadline`).
    pub(in crate::conn) fn set_first_deadline(&mut self, at: Instant) {
        self.first_deadline = Some(at);
    }

    pub(in crate::conn) fn ctx(&self) -> &ConnContext {
        &self.ctx
    }

    pub(in crate::conn) fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// The socket and the bytes read from it but not used yet (the uwsgi reader fills
    /// them before a request).
    pub(in crate::conn) fn stream_and_buf(&mut self) -> (&mut T, &mut BytesMut) {
        (&mut self.stream, &mut self.buf)
    }

    /// The access record's `h` (the client, after forwarding) and `peer` (the socket's).
    fn access_addresses(&self, forwarded: Option<&Forwarded>) -> (Cow<'_, str>, String) {
        let remote = match forwarded.and_then(|f| f.client.as_ref()) {
            Some(client) => Cow::Owned(client.addr_text()),
            None => Cow::Borrowed(self.remote.as_str()),
        };
        (remote, super::peer_text(self.socket_peer))
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
            peer: super::peer_text(self.socket_peer),
        }
    }

    fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Answers a request the server refuses before the app sees it, then closes: whatever
    /// else the client sent is discarded (never parsed), and the close lingers so the
    /// client reads the response instead of a reset. Returns the body length when the page
    /// went out.
    pub(in crate::conn) async fn refuse(&mut self, page: &Page) -> Option<u64> {
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
                // Silence after a response is the keep-alive bound; anything else is
                // the head's.
                crate::metrics::stats().timed_out(if first || got_bytes {
                    crate::metrics::Timeout::Head
                } else {
                    crate::metrics::Timeout::KeepAlive
                });
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
        let forwarded = if conn.forwarding {
            match conn.ctx.proxy.forwarding.resolve(&head) {
                Ok(forwarded) => {
                    conn.pooled_by_proxy |= forwarded.is_some();
                    forwarded
                }
                Err(err) => {
                    log_at!(Level::Debug, "{}: {err}", conn.remote);
                    conn.refuse_request(&head, None, &Page::BadForwarding(err))
                        .await;
                    return;
                }
            }
        } else {
            None
        };
        if handler.serves_websockets() && websocket::is_upgrade(&head) {
            if let Some(err) = refused_before_the_app(&head, &conn.ctx) {
                conn.refuse_request(&head, forwarded.as_deref(), &Page::Rejected(err))
                    .await;
                return;
            }
            // The connection becomes a WebSocket (or answers the handshake and closes).
            // Boxed, as the exchange: only WebSockets carry the session's state. The
            // forwarded client is the app's `client` and the access record's `h`.
            return Box::pin(websocket::serve(
                conn.into_websocket(),
                head,
                forwarded,
                handler,
            ))
            .await;
        }
        if !serve_request(&mut conn, head, forwarded, handler).await {
            return;
        }
    }
}

/// Serves one request whose head has been read (from HTTP/1.x, or made from a uwsgi
/// packet); `true` when the connection carries another request, else it has been closed.
pub(in crate::conn) async fn serve_request<T: Transport, H: Handler>(
    conn: &mut Connection<T>,
    head: RequestHead,
    forwarded: Option<Box<Forwarded>>,
    handler: &H,
) -> bool {
    if let Some(err) = refused_before_the_app(&head, &conn.ctx) {
        conn.refuse_request(&head, forwarded.as_deref(), &Page::Rejected(err))
            .await;
        return false;
    }
    // Boxed: the exchange's state (~2 KiB) exists only while a request is in progress,
    // not in every idle keep-alive connection's task.
    let ended = Box::pin(exchange::run(conn, head, forwarded, handler)).await;
    match ended {
        Ok(Ended {
            persistence: Persistence::KeepAlive,
            ..
        }) if !conn.is_shutting_down() => true,
        Ok(Ended {
            client_may_send: true,
            ..
        }) => {
            conn.linger().await;
            false
        }
        Ok(_) => {
            // Best effort: the response is complete; the close is a courtesy.
            let _ = conn.stream.shutdown().await;
            false
        }
        Err(err) => {
            log_at!(Level::Debug, "{}: {err}", conn.remote);
            false
        }
    }
}

impl<T: Transport> Connection<T> {
    /// `refuse` for a parsed request: it is still a request, and gets its access record.
    pub(in crate::conn) async fn refuse_request(
        &mut self,
        head: &RequestHead,
        forwarded: Option<&Forwarded>,
        page: &Page,
    ) {
        let access = AccessStart::take(head);
        let written = self.refuse(page).await;
        if let Some(access) = access {
            let (remote, peer) = self.access_addresses(forwarded);
            access.write(&remote, &peer, page.status(), written.unwrap_or(0), b"");
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
