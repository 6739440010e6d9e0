//! Sans-I/O HTTP/1.1 for the server role: request heads (`parse`), request body framing
//! and decoding (`body`), apps' response heads (`response`), encoding responses and chunks
//! (`encode`), limits and the error type;
//! `field` holds the field-line grammar that heads and trailers share.
//! No sockets, no timers, no Python: `conn` feeds bytes in and writes bytes out.
//!
//! Framing is decided once per request, in `parse`, by RFC 9112 §6.3; everything
//! ambiguous is rejected rather than guessed.

/// A byte class of the grammar as a 256-entry table built at compile time: checking a byte
/// is one load (`byte_class!(|b| b.is_ascii_digit())`). Defined before the modules that use
/// it (`field`, `host`).
macro_rules! byte_class {
    (|$b:ident| $member:expr) => {{
        let mut class = [false; 256];
        let mut i = 0;
        while i < 256 {
            #[allow(clippy::cast_possible_truncation)] // i < 256
            let $b = i as u8;
            class[i] = $member;
            i += 1;
        }
        class
    }};
}

pub mod body;
pub mod encode;
mod error;
mod field;
mod host;
mod limits;
pub mod parse;
mod response;

use std::ops::Range;

use bytes::Bytes;

pub use error::{reason_phrase, HttpError};
pub use field::is_tchar;
pub use host::is_host_value;
pub use limits::Limits;
pub use response::{ResponseHead, ResponseHeadBuilder};

/// The protocol version of a request. `parse` accepts HTTP/1.0 and HTTP/1.1 only (505
/// otherwise); `Http2` is set by `conn`'s HTTP/2 streams on the head they build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    Http2,
}

impl Version {
    /// `SERVER_PROTOCOL` (RFC 9113 names the version `HTTP/2`, as Apache's `mod_http2` and
    /// gunicorn write it in the environ).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2",
        }
    }

    /// The access log's protocol (`%(H)s`): `HTTP/2.0` for HTTP/2, as gunicorn and nginx
    /// log it.
    pub fn log_str(self) -> &'static str {
        match self {
            Version::Http2 => "HTTP/2.0",
            v => v.as_str(),
        }
    }
}

/// How the end of a request body is known (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding was sent.
    Empty,
    /// `Content-Length: n` (n may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// One header field of a request, as byte ranges into `RequestHead::raw`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// A parsed, validated request head. It owns the raw head bytes (split off the connection
/// buffer without copying) and refers to its parts by range, so parsing allocates only the
/// header index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The head's bytes, request line through the blank line.
    pub raw: Bytes,
    pub method: Range<usize>,
    /// The request-target exactly as sent (origin-form, absolute-form, authority-form or `*`).
    pub target: Range<usize>,
    pub version: Version,
    pub headers: Vec<HeaderField>,
    pub framing: BodyFraming,
    /// Whether the client allows the connection to persist after this exchange
    /// (RFC 9112 §9.3: 1.1 persists unless `Connection: close`; 1.0 only with `keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (on HTTP/1.1); `conn` answers it on first body demand.
    pub expects_continue: bool,
}

impl RequestHead {
    /// # Panics
    /// Never: `parse` accepts only ASCII token methods.
    pub fn method(&self) -> &str {
        // Validated as an ASCII token in `parse`.
        std::str::from_utf8(&self.raw[self.method.clone()]).expect("method is an ASCII token")
    }

    pub fn target(&self) -> &[u8] {
        &self.raw[self.target.clone()]
    }

    /// The path part of the target (before `?`), still percent-encoded.
    pub fn path(&self) -> &[u8] {
        let t = self.target();
        match t.iter().position(|&b| b == b'?') {
            Some(i) => &t[..i],
            None => t,
        }
    }

    /// The query part of the target (after the first `?`), raw; empty when absent.
    pub fn query(&self) -> &[u8] {
        let t = self.target();
        match t.iter().position(|&b| b == b'?') {
            Some(i) => &t[i + 1..],
            None => b"",
        }
    }

    /// The path of the target as bytes, still percent-encoded: origin-form's path as is,
    /// the path of an absolute-form target (`/` when it has none), `*` for asterisk-form
    /// (`OPTIONS *`, as gunicorn, waitress and Granian give it: frameworks route an empty
    /// path as `/`), empty for authority-form. What `PATH_INFO` and ASGI's `path` are made
    /// from.
    pub fn origin_path(&self) -> &[u8] {
        let path = self.path();
        if path.first() == Some(&b'/') || path == b"*" {
            return path;
        }
        // absolute-form: scheme "://" authority path
        if let Some(i) = path.windows(3).position(|w| w == b"://") {
            let rest = &path[i + 3..];
            return match rest.iter().position(|&b| b == b'/') {
                Some(j) => &rest[j..],
                None => b"/",
            };
        }
        b""
    }

    pub fn header_name(&self, field: &HeaderField) -> &[u8] {
        &self.raw[field.name.clone()]
    }

    pub fn header_value(&self, field: &HeaderField) -> &[u8] {
        &self.raw[field.value.clone()]
    }

    /// Iterates `(name, value)` in the order received; names keep the client's case.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(move |f| (self.header_name(f), self.header_value(f)))
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    pub fn is_head(&self) -> bool {
        &self.raw[self.method.clone()] == b"HEAD"
    }
}
