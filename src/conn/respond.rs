//! Every response the server writes on its own, and only here: the error pages of requests
//! it refuses or cannot complete, and `100 Continue`. One `Page` per cause, each with one
//! text (`<status> <reason>: <detail>`), so a failure reads the same whoever detects it:
//! the head parser, the body decoder, the exchange or the app side.
//!
//! HTTP/1.1 encoding today; an HTTP/2 stream will send the same `Page` as a HEADERS and a
//! DATA frame.

use std::borrow::Cow;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::websocket::HandshakeError;
use super::{with_send_timeout, ConnContext, ConnError, Transport};
use crate::http::encode::{self, ConnectionHeader};
use crate::http::{reason_phrase, HttpError};

/// A response the server makes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The request broke a protocol rule or a limit (400, 413, 414, 431, 501, 505).
    Rejected(HttpError),
    /// A started head did not arrive within `header_timeout` (RFC 9110 §15.5.9: 408).
    HeadTimeout,
    /// The request body stalled for `body_timeout` (408).
    BodyTimeout,
    /// The app failed before its response started (500): it raised, broke PEP 3333, or the
    /// server's own code panicked. The error log has the details; the client gets none.
    AppFailed,
    /// The app did not answer within `request_timeout` (504).
    AppTimeout,
    /// The worker is stopping and runs no more requests (503).
    ShuttingDown,
    /// A WebSocket handshake broke RFC 6455 §4.2.1 (400; 426 for an unsupported version).
    BadHandshake(HandshakeError),
    /// The app closed a WebSocket before accepting it (asgiref `specs/www.rst`: "the server
    /// must respond with HTTP 403").
    WebSocketRefused,
}

impl Page {
    pub fn status(&self) -> u16 {
        match self {
            Page::Rejected(err) => err.status(),
            Page::HeadTimeout | Page::BodyTimeout => 408,
            Page::AppFailed => 500,
            Page::AppTimeout => 504,
            Page::ShuttingDown => 503,
            Page::BadHandshake(HandshakeError::UnsupportedVersion) => 426,
            Page::BadHandshake(_) => 400,
            Page::WebSocketRefused => 403,
        }
    }

    /// Why, in a few words, for the client.
    pub fn detail(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Page::Rejected(err) => return Cow::Owned(err.to_string()),
            Page::BadHandshake(err) => return Cow::Owned(err.to_string()),
            Page::HeadTimeout => "request head not received in time",
            Page::BodyTimeout => "request body not received in time",
            Page::AppFailed => "the request could not be completed",
            Page::AppTimeout => "the app did not answer within request_timeout",
            Page::ShuttingDown => "the server is shutting down",
            Page::WebSocketRefused => "the app refused the WebSocket",
        })
    }

    /// The page's `text/plain` body.
    pub fn body(&self) -> String {
        let status = self.status();
        format!("{status} {}: {}\n", reason_phrase(status), self.detail())
    }

    /// The whole HTTP/1.1 response: head, and the body unless `head_only` (a HEAD request:
    /// RFC 9110 §9.3.2, same header fields, no content). Returns the body's length.
    pub fn encode_http1(
        &self,
        out: &mut BytesMut,
        head_only: bool,
        connection: ConnectionHeader,
    ) -> u64 {
        let status = self.status();
        let body = self.body();
        let extra: &[u8] = match self {
            // RFC 6455 §4.2.2: the versions the server understands.
            Page::BadHandshake(HandshakeError::UnsupportedVersion) => {
                b"Sec-WebSocket-Version: 13\r\n"
            }
            _ => b"",
        };
        encode::simple_response_with(
            out,
            status,
            reason_phrase(status),
            extra,
            body.as_bytes(),
            !head_only,
            connection,
        );
        body.len() as u64
    }
}

/// Writes `page` as a complete HTTP/1.1 response, bounded by `send_timeout`. Returns the
/// body's length (for the access record).
///
/// # Errors
/// The socket failed or the client stopped reading.
pub(super) async fn write_http1<T: Transport>(
    stream: &mut T,
    ctx: &ConnContext,
    page: &Page,
    head_only: bool,
    connection: ConnectionHeader,
) -> Result<u64, ConnError> {
    let mut out = BytesMut::with_capacity(256);
    let len = page.encode_http1(&mut out, head_only, connection);
    with_send_timeout(ctx, stream.write_all(&out)).await?;
    Ok(len)
}

/// Writes the interim `100 Continue` (RFC 9110 §10.1.1), bounded by `send_timeout`.
///
/// # Errors
/// The socket failed or the client stopped reading.
pub(super) async fn write_continue<T: Transport>(
    stream: &mut T,
    ctx: &ConnContext,
) -> Result<(), ConnError> {
    with_send_timeout(ctx, stream.write_all(encode::CONTINUE)).await
}

/// Writes an interim `103 Early Hints` with `links` (`Link: ...\r\n` lines), bounded by
/// `send_timeout`.
///
/// # Errors
/// The socket failed or the client stopped reading.
pub(super) async fn write_early_hints<T: Transport>(
    stream: &mut T,
    ctx: &ConnContext,
    links: &[u8],
) -> Result<(), ConnError> {
    let mut out = BytesMut::with_capacity(encode::EARLY_HINTS.len() + links.len() + 2);
    out.extend_from_slice(encode::EARLY_HINTS);
    out.extend_from_slice(links);
    out.extend_from_slice(b"\r\n");
    with_send_timeout(ctx, stream.write_all(&out)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_reads_status_reason_and_detail() {
        let rows = [
            (
                Page::Rejected(HttpError::InvalidHost),
                "400 Bad Request: invalid Host header value\n",
            ),
            (
                Page::Rejected(HttpError::BodyTooLarge),
                "413 Content Too Large: request body larger than max_body_bytes\n",
            ),
            (
                Page::HeadTimeout,
                "408 Request Timeout: request head not received in time\n",
            ),
            (
                Page::AppFailed,
                "500 Internal Server Error: the request could not be completed\n",
            ),
            (
                Page::AppTimeout,
                "504 Gateway Timeout: the app did not answer within request_timeout\n",
            ),
            (
                Page::ShuttingDown,
                "503 Service Unavailable: the server is shutting down\n",
            ),
        ];
        for (page, body) in rows {
            assert_eq!(page.body(), body);
        }
    }

    #[test]
    fn a_head_request_gets_the_length_but_not_the_body() {
        let mut full = BytesMut::new();
        let mut head = BytesMut::new();
        let len = Page::AppFailed.encode_http1(&mut full, false, ConnectionHeader::Close);
        let same = Page::AppFailed.encode_http1(&mut head, true, ConnectionHeader::Close);
        assert_eq!(len, same);
        let text = String::from_utf8_lossy(&head).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("Content-Length: {len}\r\n")),
            "{text}"
        );
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        assert!(full.ends_with(Page::AppFailed.body().as_bytes()));
    }
}
