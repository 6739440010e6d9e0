//! Response encoding: the status line and headers, chunk framing, canned error responses,
//! the cached `Date` value, and the one decision of how a response body is framed.

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
    let _ = (request_is_head, version, status, content_length);
    todo!("implemented by the http work")
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
    let _ = (dst, parts, framing, add_content_length, connection);
    todo!("implemented by the http work")
}

/// Writes the size line of one chunk (`<hex>\r\n`); the caller writes the data and then
/// `CHUNK_END`. `len` must be > 0.
pub fn chunk_head(dst: &mut BytesMut, len: usize) {
    let _ = (dst, len);
    todo!("implemented by the http work")
}

/// Ends one chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// The interim response for `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A complete small response with a `text/plain` body, `Content-Length`, `Server`, `Date`,
/// and `Connection: close` when `close`. Used for protocol errors (4xx/5xx) and the
/// server's own 500 page.
pub fn simple_response(dst: &mut BytesMut, status: u16, reason: &str, body: &[u8], close: bool) {
    let _ = (dst, status, reason, body, close);
    todo!("implemented by the http work")
}
