//! Every response the server writes on its own, and only here: the error pages of requests
//! it refuses or cannot complete, `100 Continue`, and the master's answers on the metrics
//! listener (`/metrics`, `/livez`, `/readyz`). One `Page` per cause, each with one
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
use crate::proxy::ForwardedError;

/// A response the server makes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The request broke a protocol rule or a limit (400, 413, 414, 431, 501, 505).
    Rejected(HttpError),
    /// A trusted proxy's forwarding headers were malformed or disagreed (400): serving the
    /// request as the proxy's own would misname its client (`proxy::forwarded`).
    BadForwarding(ForwardedError),
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
    /// `GET /metrics` on the metrics listener: the Prometheus text format (200).
    Metrics(String),
    /// `/livez` or `/readyz` on the metrics listener: 200 when `Ok`, 503 with why not.
    Health(Result<&'static str, String>),
    /// A path the metrics listener does not serve (404).
    NoSuchEndpoint,
    /// A method other than GET and HEAD on the metrics listener (405).
    EndpointMethodNotAllowed,
    /// A static path the rules refuse (`static_files::path`, a symlink out of the mount, a
    /// FIFO): 404, whatever the reason, which the client is not told.
    NotFound,
    /// A static file asked for with a method other than GET or HEAD (RFC 9110 §15.5.6:
    /// 405 with `Allow`).
    MethodNotAllowed,
    /// A static request whose `If-Match` or `If-Unmodified-Since` failed (412).
    PreconditionFailed,
    /// A static request whose range starts past the file's end (RFC 9110 §15.5.17: 416 with
    /// `Content-Range: bytes */LENGTH`).
    RangeNotSatisfiable { complete_length: u64 },
    /// A static directory named without its trailing slash (301 to the address with it, so
    /// the index page's relative links resolve).
    MovedToDirectory { location: String },
    /// A static file that could not be opened or read for a reason not the client's (500).
    FileUnreadable,
    /// Plaintext HTTP on a TLS listener (400, written in plaintext, as nginx does).
    PlainHttpOnTlsPort,
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
            Page::BadHandshake(HandshakeError::UnsupportedVersion) => 426,
            Page::PlainHttpOnTlsPort | Page::BadForwarding(_) | Page::BadHandshake(_) => 400,
            Page::HeadTimeout | Page::BodyTimeout => 408,
            Page::AppFailed | Page::FileUnreadable => 500,
            Page::AppTimeout => 504,
            Page::ShuttingDown | Page::Health(Err(_)) => 503,
            Page::Metrics(_) | Page::Health(Ok(_)) => 200,
            Page::NoSuchEndpoint | Page::NotFound => 404,
            Page::EndpointMethodNotAllowed | Page::MethodNotAllowed => 405,
            Page::PreconditionFailed => 412,
            Page::RangeNotSatisfiable { .. } => 416,
            Page::MovedToDirectory { .. } => 301,
            Page::WebSocketRefused => 403,
        }
    }

    /// Why, in a few words, for the client.
    pub fn detail(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Page::Rejected(err) => return Cow::Owned(err.to_string()),
            Page::Health(Err(why)) => return Cow::Owned(why.clone()),
            Page::Health(Ok(what)) => what,
            Page::Metrics(_) => "metrics",
            Page::NoSuchEndpoint => "the metrics listener serves /metrics, /livez and /readyz",
            Page::EndpointMethodNotAllowed => "the metrics listener answers GET and HEAD",
            Page::BadForwarding(err) => return Cow::Owned(err.to_string()),
            Page::BadHandshake(err) => return Cow::Owned(err.to_string()),
            Page::HeadTimeout => "request head not received in time",
            Page::BodyTimeout => "request body not received in time",
            Page::AppFailed => "the request could not be completed",
            Page::AppTimeout => "the app did not answer within request_timeout",
            Page::ShuttingDown => "the server is shutting down",
            Page::NotFound => "no such file",
            Page::MethodNotAllowed => "a static file takes GET and HEAD only",
            Page::PreconditionFailed => "the file does not match the request's precondition",
            Page::RangeNotSatisfiable { .. } => "the range starts past the end of the file",
            Page::MovedToDirectory { .. } => "this is a directory; its address ends with /",
            Page::FileUnreadable => "the file could not be read",
            Page::PlainHttpOnTlsPort => "plain HTTP sent to an HTTPS port",
            Page::WebSocketRefused => "the app refused the WebSocket",
        })
    }

    /// The header fields the page's status calls for, as `Name: value\r\n` lines.
    pub fn fields(&self) -> Cow<'static, str> {
        match self {
            // RFC 9110 §15.5.6: a 405 says which methods are allowed.
            Page::MethodNotAllowed | Page::EndpointMethodNotAllowed => {
                Cow::Borrowed("Allow: GET, HEAD\r\n")
            }
            Page::RangeNotSatisfiable { complete_length } => {
                Cow::Owned(format!("Content-Range: bytes */{complete_length}\r\n"))
            }
            Page::MovedToDirectory { location } => Cow::Owned(format!("Location: {location}\r\n")),
            // RFC 6455 §4.2.2: the versions the server understands.
            Page::BadHandshake(HandshakeError::UnsupportedVersion) => {
                Cow::Borrowed("Sec-WebSocket-Version: 13\r\n")
            }
            _ => Cow::Borrowed(""),
        }
    }

    /// The page's body: `<status> <reason>: <detail>`, or the metrics.
    pub fn body(&self) -> String {
        if let Page::Metrics(text) = self {
            return text.clone();
        }
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
        let content_type = match self {
            Page::Metrics(_) => crate::metrics::prometheus::CONTENT_TYPE,
            _ => "text/plain; charset=utf-8",
        };
        let fields = self.fields();
        encode::typed_response(
            out,
            status,
            reason_phrase(status),
            encode::SimpleBody {
                content_type,
                extra_fields: fields.as_bytes(),
                body: body.as_bytes(),
                with_body: !head_only,
            },
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
    if let Page::Rejected(rule) = page {
        crate::metrics::stats().rejected(rule);
    }
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
                Page::BadForwarding(ForwardedError::Conflict("the scheme headers disagree")),
                "400 Bad Request: conflicting forwarding headers: the scheme headers disagree\n",
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
            (Page::Health(Ok("ready")), "200 OK: ready\n"),
            (
                Page::Health(Err("reloading".to_owned())),
                "503 Service Unavailable: reloading\n",
            ),
            (
                Page::EndpointMethodNotAllowed,
                "405 Method Not Allowed: the metrics listener answers GET and HEAD\n",
            ),
            (Page::Metrics("a 1\n".to_owned()), "a 1\n"),
            (Page::NotFound, "404 Not Found: no such file\n"),
            (
                Page::RangeNotSatisfiable { complete_length: 9 },
                "416 Range Not Satisfiable: the range starts past the end of the file\n",
            ),
            (
                Page::PlainHttpOnTlsPort,
                "400 Bad Request: plain HTTP sent to an HTTPS port\n",
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
