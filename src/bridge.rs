//! The seam between `conn` (async, owns the socket) and the Python threads (blocking, own
//! the app): the `Job` handed over per request, the events flowing back, and the `Handler`
//! trait `server` is generic over. No logic, no pyo3.
//!
//! Body bytes are pulled: the app's first read of `wsgi.input` sends `NeedBody` on the
//! response channel; `conn` answers with one `BodyEvent` per demand. So a body is never
//! buffered whole, and `100 Continue` goes out only if the app reads. Two things come
//! unasked: before the job is handed over, the body bytes that arrived with the head; and
//! `wsgi.input` asks for the next piece as soon as it has one, so `conn` reads one piece
//! ahead. The channels themselves are `relay`'s, instantiated here with these event types.
//!
//! This is the app-interface seam: whatever runs apps (the WSGI thread pool today, an ASGI
//! event loop next) implements `Handler` and answers `Request`s with `ResponseEvent`s;
//! whatever speaks a wire protocol (HTTP/1.1 today, HTTP/2 next) turns what it reads into
//! `Request`s and writes the events out.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::http::RequestHead;
use crate::proxy::Forwarded;
use crate::relay;

/// One connection's channels to the app side, reused by each of its requests.
pub type Link = relay::Link<ResponseEvent, BodyEvent>;
/// The app side's end for response events.
pub type EventSender = relay::EventSender<ResponseEvent, BodyEvent>;
/// The app side's end for request body events.
pub type BodyReceiver = relay::BodyReceiver<ResponseEvent, BodyEvent>;
/// `EventSender::try_send`'s error.
pub type TrySendError = relay::TrySendError<ResponseEvent>;

/// Facts about the connection a request arrived on; shared by its requests.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address; `None` on unix sockets.
    pub peer: Option<SocketAddr>,
    /// The listening address the connection was accepted on; `None` on unix sockets.
    pub local: Option<SocketAddr>,
    /// `wsgi.url_scheme`.
    pub scheme: &'static str,
    /// What the TLS handshake established; `None` on plain connections.
    pub tls: Option<Arc<TlsFacts>>,
}

/// A TLS connection's facts, as Apache's `mod_ssl` names them in the environ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFacts {
    /// `SSL_PROTOCOL`: `TLSv1.2` or `TLSv1.3`.
    pub protocol: &'static str,
    /// `SSL_CIPHER`: the IANA name of the cipher suite.
    pub cipher: String,
    /// The client's certificate, when it sent one (rustls has verified it by then).
    pub client: Option<ClientCert>,
}

/// A verified client certificate (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// `SSL_CLIENT_S_DN`: the subject, RFC 4514 (`CN=alice,O=Example`).
    pub subject: String,
    /// `SSL_CLIENT_I_DN`: the issuer.
    pub issuer: String,
    /// `SSL_CLIENT_CERT`: the certificate, PEM.
    pub pem: String,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// An HTTP exchange.
    Http,
    /// A WebSocket handshake (RFC 6455 §4.2.1), offered to a handler that serves WebSockets
    /// (`Handler::serves_websockets`): the app accepts (`WsAccept`) or refuses it, then
    /// messages flow both ways (`WsSend`, `BodyEvent::WsMessage`).
    WebSocket,
}

/// One request as the app interface sees it: the head, the connection's facts, and the
/// two ends of its channels.
pub struct Request {
    pub kind: RequestKind,
    pub head: RequestHead,
    pub conn: Arc<ConnInfo>,
    /// What a trusted proxy says the request really was (client, scheme, host, prefix),
    /// replacing what `conn` says; `None` when no proxy spoke (always, from untrusted
    /// peers). Resolved once by `conn` (`proxy::Forwarding::resolve`, or a uwsgi packet).
    pub forwarded: Option<Box<Forwarded>>,
    /// Body events from `conn`: one per `NeedBody`, and possibly one sent ahead.
    pub body: BodyReceiver,
    /// Events back to `conn`.
    pub events: EventSender,
}

/// One request handed to a `Handler`, with the permit that admitted it.
pub struct Job {
    pub request: Request,
    /// One of the request permits that bound how many requests a worker accepts at once
    /// (backpressure counts requests). The handler holds it until the request is finished.
    pub permit: tokio::sync::OwnedSemaphorePermit,
    /// When the request's head had been read: the handler measures the request's queue
    /// time (`ferrule_request_queue_seconds`) from it.
    pub received: std::time::Instant,
}

pub use crate::http::ResponseHead;

/// A body served from an open file with sendfile(2).
#[derive(Debug)]
pub struct FileBody {
    pub file: std::fs::File,
    pub offset: u64,
    pub len: u64,
}

/// Why the app side gave up on a response. Before its head was sent, `conn` answers with
/// its own page (`conn::Page`); after, it cuts the response and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// The app raised or broke its interface's rules; the app side has logged why. Before
    /// the head: 500, and the connection may carry the next request.
    AppError,
    /// The app could not be run to the end (a panic in the server's own code).
    Internal,
    /// The app ran past `request_timeout` (sent by `pool`'s watchdog or the ASGI loop):
    /// 504 if nothing was sent yet.
    Timeout,
    /// The app side cannot represent the request to the app (ASGI: a path that is not
    /// UTF-8): the client's fault, answered with the error's status before the app runs.
    Rejected(crate::http::HttpError),
}

/// Events from the app side to `conn`, in order.
#[derive(Debug)]
pub enum ResponseEvent {
    /// The head and the first body bytes (possibly empty); `end` means nothing follows.
    Start {
        head: ResponseHead,
        body: Bytes,
        end: bool,
    },
    /// More body bytes (never empty).
    Data(Bytes),
    /// Body bytes from a file.
    File(FileBody),
    /// The response is complete.
    End,
    /// The response is complete, with a trailer section (`Name: value\r\n` lines, checked
    /// by the app side): sent after the last chunk when the response is chunked, dropped
    /// otherwise (RFC 9112 §7.1.2).
    Trailers(Vec<u8>),
    /// An interim `103 Early Hints` (RFC 8297) with these `Link: ...\r\n` lines, before the
    /// response's head; dropped for HTTP/1.0 clients or once the head went out.
    EarlyHints(Vec<u8>),
    /// The response cannot be completed; close the connection.
    Abort(AbortReason),
    /// `wsgi.input` wants the next body bytes; answer with one `BodyEvent`. WebSocket:
    /// the app wants the next message.
    NeedBody,
    /// WebSocket: accept the handshake (`101 Switching Protocols`).
    WsAccept(WsAccept),
    /// WebSocket: a message for the client.
    WsSend(WsMessage),
    /// WebSocket: close with this code and reason; before the accept, refuse the handshake
    /// (403).
    WsClose { code: u16, reason: String },
}

/// A WebSocket message, either way (RFC 6455 §5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// UTF-8 text (checked on the way in; `str` on the app's side).
    Text(Bytes),
    Binary(Bytes),
}

impl WsMessage {
    pub fn len(&self) -> usize {
        match self {
            WsMessage::Text(b) | WsMessage::Binary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The app's acceptance of a WebSocket handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsAccept {
    /// `Sec-WebSocket-Protocol`: one of the client's subprotocols.
    pub subprotocol: Option<String>,
    /// The app's extra headers as `Name: value\r\n` lines, checked like a response's.
    pub header_block: Vec<u8>,
}

impl relay::Event for ResponseEvent {
    fn queued_bytes(&self) -> usize {
        match self {
            ResponseEvent::Start { body, .. } => body.len(),
            ResponseEvent::Data(data) => data.len(),
            ResponseEvent::WsSend(message) => message.len(),
            _ => 0,
        }
    }
}

/// Answers to `NeedBody`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The body is complete.
    End,
    /// The body cannot be read to the end.
    Failed(BodyFailure),
    /// WebSocket: a message from the client (one per `NeedBody`, one sent ahead).
    WsMessage(WsMessage),
    /// WebSocket: the connection is closed: the close frame's code and reason, or 1006
    /// when it ended without one (RFC 6455 §7.1.5).
    WsClosed { code: u16, reason: String },
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// The client closed the connection before the body ended.
    Disconnected,
    /// No body bytes within `body_timeout`.
    Timeout,
    /// The body is larger than `max_body_bytes`.
    TooLarge,
    /// Chunked framing was broken.
    Invalid,
}

impl BodyFailure {
    pub fn message(self) -> &'static str {
        match self {
            BodyFailure::Disconnected => "client disconnected before the request body ended",
            BodyFailure::Timeout => "timed out waiting for the request body",
            BodyFailure::TooLarge => "request body larger than max_body_bytes",
            BodyFailure::Invalid => "invalid chunked framing in the request body",
        }
    }
}

/// Runs jobs: the app-interface seam. Implemented by `pool::Pool` (Python threads running
/// a WSGI app) and by fakes in tests.
// Returning the job whole is the contract (the caller answers it); the error path is rare.
#[allow(clippy::result_large_err)]
pub trait Handler: Send + Sync + 'static {
    /// Hands a job over without blocking. The caller holds a request permit, so the
    /// hand-off queue always has room; `Err` returns the job when the handler is gone.
    ///
    /// # Errors
    /// The job back, when the handler no longer runs jobs.
    fn dispatch(&self, job: Job) -> Result<(), Job>;

    /// What runs the app, for the worker's "serving with ..." log line; `None`: the
    /// worker's Python threads (`--threads`).
    fn describe(&self) -> Option<String> {
        None
    }

    /// The handler serves WebSockets: `conn` hands it upgrade requests as
    /// `RequestKind::WebSocket` (otherwise they are plain HTTP requests).
    fn serves_websockets(&self) -> bool {
        false
    }

    /// How many requests may be with the handler at once, running or queued: the number of
    /// the worker's request permits. `None`: the server's default for a pool of threads.
    fn capacity(&self) -> Option<usize> {
        None
    }

    /// A job outlived every bound and cannot be stopped: the worker asks to be replaced.
    /// Read by the worker's heartbeat.
    fn is_stuck(&self) -> bool {
        false
    }

    /// Stops taking jobs and waits for those in progress to finish; once a job is stuck,
    /// waits at most `stuck_wait`. `false`: a job is still running (the worker exits
    /// anyway, without touching the app side again).
    fn shut_down(self, stuck_wait: std::time::Duration) -> bool
    where
        Self: Sized,
    {
        // Nothing runs beyond the calls to `dispatch`.
        let _ = stuck_wait;
        true
    }
}
