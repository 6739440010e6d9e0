//! The uwsgi wire protocol (`--protocol uwsgi`): one packet per connection from an
//! allowed peer (`--uwsgi-allow-from`), read under `header_timeout`, parsed by
//! `proxy::uwsgi` into the same `RequestHead` an HTTP request has and the facts nginx
//! gives (`REMOTE_ADDR`, `HTTPS`, `SERVER_NAME`, ...); then served like an HTTP/1.0
//! request by `http1` (body by `CONTENT_LENGTH`, response as HTTP/1.x bytes), and the
//! connection closed, which ends the response for nginx.

use bytes::Buf;
use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

use super::http1::{self, Connection};
use super::{peer_text, Page, Transport};
use crate::bridge::Handler;
use crate::log::Level;
use crate::proxy::uwsgi::{self, UwsgiError};

/// Bytes asked for per read: nginx's packets for ordinary requests fit in one.
const READ: usize = 8 * 1024;

/// Serves the one request of a uwsgi connection.
pub(super) async fn serve<T: Transport, H: Handler>(mut conn: Connection<T>, handler: &H) {
    let peer = conn.info().peer;
    if !conn
        .ctx()
        .proxy
        .uwsgi_allow
        .trusts(peer.map(|addr| addr.ip()))
    {
        log_at!(
            Level::Debug,
            "{}: uwsgi connection from a peer not in uwsgi_allow_ips; closing",
            peer_text(peer)
        );
        return;
    }
    let deadline = Instant::now() + conn.ctx().timeouts.header;
    let limits = conn.ctx().limits.clone();
    let parsed = loop {
        let (stream, buf) = conn.stream_and_buf();
        match uwsgi::parse(buf, limits.max_head_bytes) {
            Ok(Some((vars, len))) => break uwsgi::request(&vars, &limits).map(|r| (r, len)),
            Ok(None) => {}
            Err(err) => break Err(err),
        }
        buf.reserve(READ);
        match timeout_at(deadline, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Err(err)) => {
                log_at!(Level::Debug, "{}: {err}", peer_text(peer));
                return;
            }
            // EOF or header_timeout: no request came; nothing to answer.
            _ => return,
        }
    };
    match parsed {
        Ok(((head, forwarded), len)) => {
            conn.stream_and_buf().1.advance(len);
            http1::serve_request(&mut conn, head, Some(Box::new(forwarded)), handler).await;
        }
        Err(UwsgiError::Http(err)) => {
            // A packet that made a request the HTTP rules refuse: the client gets the same
            // answer it would over HTTP, through nginx.
            log_at!(Level::Debug, "{}: uwsgi request: {err}", peer_text(peer));
            conn.refuse(&Page::Rejected(err)).await;
        }
        Err(err) => log_at!(Level::Debug, "{}: {err}; closing", peer_text(peer)),
    }
}
