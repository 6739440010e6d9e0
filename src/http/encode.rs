//! Response encoding: the status line and headers, chunk framing, canned error responses,
//! the cached `Date` value, and the one decision of how a response body is framed.
//! `conn` calls these on every response, so they write into its buffer without allocating.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use super::Version;

/// How the end of a response body is shown to the client (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body may be sent: HEAD requests, 1xx, 204, 304.
    NoBody,
    /// The app declared `Content-Length` (or the server computed it).
    Length(u64),
    /// HTTP/1.1 without a declared length.
    Chunked,
    /// HTTP/1.0 without a declared length: the body ends when the connection closes.
    CloseDelimited,
}

/// What to say in the `Connection` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// Nothing (HTTP/1.1 persistent by default).
    Omit,
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive` (HTTP/1.0 clients that asked for it).
    KeepAlive,
}

/// The pieces of a response head that `wsgi` prepared.
#[derive(Clone, Copy, Debug)]
pub struct ResponseParts<'a> {
    /// `"200 OK"`: validated status code, space, reason.
    pub status_line: &'a [u8],
    /// The app's header fields, validated, each already written as `Name: value\r\n`.
    pub header_block: &'a [u8],
    /// The app set `Date` itself; the server does not add one.
    pub has_date: bool,
    /// The app set `Server` itself; the server does not add one.
    pub has_server: bool,
}

/// Decides response framing once, from the request and the app's head.
pub fn response_framing(
    request_is_head: bool,
    version: Version,
    status: u16,
    content_length: Option<u64>,
) -> ResponseFraming {
    // RFC 9110 §6.4.1: HEAD responses, 1xx, 204 and 304 never have content.
    if request_is_head || (100..200).contains(&status) || status == 204 || status == 304 {
        return ResponseFraming::NoBody;
    }
    match (content_length, version) {
        (Some(n), _) => ResponseFraming::Length(n),
        // HTTP/2 frames its own bodies; `Chunked` there only says "length unknown".
        (None, Version::Http11 | Version::Http2) => ResponseFraming::Chunked,
        // RFC 9112 §6.3 ¶8: without a length, an HTTP/1.0 body ends when the connection does.
        (None, Version::Http10) => ResponseFraming::CloseDelimited,
    }
}

/// Writes `HTTP/1.1 <status_line>\r\n`, the app's headers, `Server` and `Date` unless the
/// app set them, `Transfer-Encoding: chunked` for `Chunked`, `Content-Length` for `Length`
/// when `add_content_length` (the app did not declare it), the `Connection` header, and
/// the blank line.
pub fn response_head(
    dst: &mut BytesMut,
    parts: &ResponseParts<'_>,
    framing: ResponseFraming,
    add_content_length: bool,
    connection: ConnectionHeader,
) {
    // 128: room for Server, Date, one framing header and Connection.
    dst.reserve(parts.status_line.len() + parts.header_block.len() + 128);
    dst.extend_from_slice(b"HTTP/1.1 ");
    dst.extend_from_slice(parts.status_line);
    dst.extend_from_slice(b"\r\n");
    dst.extend_from_slice(parts.header_block);
    if !parts.has_server {
        dst.extend_from_slice(SERVER_FIELD);
    }
    if !parts.has_date {
        write_date_field(dst);
    }
    match framing {
        ResponseFraming::Chunked => dst.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ResponseFraming::Length(n) if add_content_length => write_content_length(dst, n),
        ResponseFraming::Length(_) | ResponseFraming::NoBody | ResponseFraming::CloseDelimited => {}
    }
    write_connection(dst, connection);
    dst.extend_from_slice(b"\r\n");
}

/// Writes the size line of one chunk (`<hex>\r\n`); the caller writes the data and then
/// `CHUNK_END`. `len` must be > 0.
pub fn chunk_head(dst: &mut BytesMut, len: usize) {
    debug_assert!(len > 0, "a zero-size chunk would end the body");
    let mut digits = [0u8; 2 * std::mem::size_of::<usize>()];
    let mut start = digits.len();
    let mut rest = len;
    loop {
        start -= 1;
        digits[start] = b"0123456789abcdef"[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    dst.reserve(digits.len() - start + 2);
    dst.extend_from_slice(&digits[start..]);
    dst.extend_from_slice(b"\r\n");
}

/// Ends one chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// The interim response for `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The last chunk without the empty line that ends a trailer section (RFC 9112 §7.1).
pub const LAST_CHUNK_BEFORE_TRAILERS: &[u8] = b"0\r\n";

/// The status line of an interim `103 Early Hints` (RFC 8297); its fields and the empty
/// line follow.
pub const EARLY_HINTS: &[u8] = b"HTTP/1.1 103 Early Hints\r\n";

/// A complete small response with a `text/plain` body, `Content-Length`, `Server`, `Date`
/// and the `Connection` header; the body itself only when `with_body` (not for a HEAD
/// request). Used for the server's own pages (`conn::respond`).
pub fn simple_response(
    dst: &mut BytesMut,
    status: u16,
    reason: &str,
    body: &[u8],
    with_body: bool,
    connection: ConnectionHeader,
) {
    simple_response_with(dst, status, reason, b"", body, with_body, connection);
}

/// `simple_response` with more header fields (`Allow`, `Location`, `Content-Range`),
/// given as `Name: value\r\n` lines.
pub fn simple_response_with(
    dst: &mut BytesMut,
    status: u16,
    reason: &str,
    fields: &[u8],
    body: &[u8],
    with_body: bool,
    connection: ConnectionHeader,
) {
    typed_response(
        dst,
        status,
        reason,
        SimpleBody {
            content_type: "text/plain; charset=utf-8",
            extra_fields: fields,
            body,
            with_body,
        },
        connection,
    );
}

/// The body of a `typed_response` and what describes it.
#[derive(Clone, Copy)]
pub struct SimpleBody<'a> {
    pub content_type: &'a str,
    /// More header lines, each ending in CRLF (`Allow: GET, HEAD\r\n`).
    pub extra_fields: &'a [u8],
    pub body: &'a [u8],
    /// False for a HEAD request: the same fields, no content.
    pub with_body: bool,
}

/// A complete response like `simple_response`'s, with its own `Content-Type` and extra
/// header lines (the master's `/metrics` and health answers).
pub fn typed_response(
    dst: &mut BytesMut,
    status: u16,
    reason: &str,
    content: SimpleBody<'_>,
    connection: ConnectionHeader,
) {
    let SimpleBody {
        content_type,
        extra_fields,
        body,
        with_body,
    } = content;
    // 192: room for every fixed field below with a 20-digit length.
    dst.reserve(reason.len() + content_type.len() + extra_fields.len() + body.len() + 192);
    dst.extend_from_slice(b"HTTP/1.1 ");
    write_decimal(dst, u64::from(status));
    dst.extend_from_slice(b" ");
    dst.extend_from_slice(reason.as_bytes());
    dst.extend_from_slice(b"\r\n");
    dst.extend_from_slice(SERVER_FIELD);
    write_date_field(dst);
    dst.extend_from_slice(b"Content-Type: ");
    dst.extend_from_slice(content_type.as_bytes());
    dst.extend_from_slice(b"\r\n");
    dst.extend_from_slice(extra_fields);
    write_content_length(dst, body.len() as u64);
    write_connection(dst, connection);
    dst.extend_from_slice(b"\r\n");
    if with_body {
        dst.extend_from_slice(body);
    }
}

const SERVER_FIELD: &[u8] = b"Server: ferrule\r\n";
/// The `Server` value the server adds when the app sets none.
pub const SERVER_VALUE: &str = "ferrule";

/// Length of an IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

thread_local! {
    /// The `Date` value for the current second, formatted at most once per second per
    /// thread: (unix second, IMF-fixdate bytes).
    static CACHED_DATE: Cell<(u64, [u8; IMF_FIXDATE_LEN])> =
        const { Cell::new((u64::MAX, [0; IMF_FIXDATE_LEN])) };
}

/// Writes `Date: <IMF-fixdate>\r\n` for the current second (RFC 9110 §6.6.1).
fn write_date_field(dst: &mut BytesMut) {
    dst.extend_from_slice(b"Date: ");
    dst.extend_from_slice(&date_value());
    dst.extend_from_slice(b"\r\n");
}

/// The `Date` value for the current second (RFC 9110 §6.6.1), from the per-thread cache:
/// HTTP/2 responses carry it as a header value.
pub fn date_value() -> [u8; IMF_FIXDATE_LEN] {
    // A clock set before 1970 is not the client's doing and must not fail a response:
    // such a clock reads as the epoch.
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED_DATE.with(|cached| {
        let (cached_second, date) = cached.get();
        if cached_second == second {
            return date;
        }
        let date = format_date(second);
        cached.set((second, date));
        date
    })
}

fn format_date(unix_second: u64) -> [u8; IMF_FIXDATE_LEN] {
    let formatted = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_second));
    formatted
        .as_bytes()
        .try_into()
        .expect("an IMF-fixdate between 1970 and 9999 is 29 bytes")
}

fn write_content_length(dst: &mut BytesMut, n: u64) {
    dst.extend_from_slice(b"Content-Length: ");
    write_decimal(dst, n);
    dst.extend_from_slice(b"\r\n");
}

fn write_connection(dst: &mut BytesMut, connection: ConnectionHeader) {
    match connection {
        ConnectionHeader::Omit => {}
        ConnectionHeader::Close => dst.extend_from_slice(b"Connection: close\r\n"),
        ConnectionHeader::KeepAlive => dst.extend_from_slice(b"Connection: keep-alive\r\n"),
    }
}

fn write_decimal(dst: &mut BytesMut, n: u64) {
    dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests;
