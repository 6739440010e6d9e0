//! The uwsgi binary protocol (uWSGI's `uwsgi` packet, what nginx's `uwsgi_pass` sends), as
//! a second wire format on the same seam as HTTP/1.1: one packet per connection, its
//! variables turned into the same `RequestHead` an HTTP request has (so every limit and
//! framing rule of `http::parse` applies) plus a `Forwarded` with what the proxy says of
//! the client and the server (`REMOTE_ADDR`, `HTTPS`, `SERVER_NAME`, ...). Sans-I/O.
//!
//! A packet (uWSGI docs, "The uwsgi protocol"): `modifier1` (1 byte, 0 = WSGI request),
//! `datasize` (2 bytes, little-endian), `modifier2` (1 byte), then `datasize` bytes of
//! variables, each `key_len (2, LE) key val_len (2, LE) value`. The request body follows,
//! `CONTENT_LENGTH` bytes long; the response is HTTP/1.x bytes, ended by closing the
//! connection (nginx keeps no uwsgi connection alive).

use std::net::IpAddr;

use bytes::BytesMut;

use super::forwarded::{Client, Forwarded, Scheme};
use crate::http::{self, HttpError, Limits, RequestHead};

/// The packet header's length.
pub const HEADER_LEN: usize = 4;

/// Why a uwsgi packet was refused: the connection closes without an answer (the peer is
/// not speaking uwsgi), or with 400 when a request could be made out but broke a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UwsgiError {
    #[error("uwsgi packet with modifier1 {0}: only 0 (a WSGI request) is served")]
    Modifier(u8),
    #[error("uwsgi variables are larger than max_head_bytes")]
    TooLarge,
    #[error("uwsgi variable block is truncated")]
    Truncated,
    #[error("uwsgi variable {0:?} is not allowed in a request")]
    BadVariable(String),
    #[error("uwsgi variable {0} is missing")]
    Missing(&'static str),
    #[error("uwsgi request: {0}")]
    Http(#[from] HttpError),
}

/// The variables of one packet, borrowed from the buffer, in order.
pub type Vars<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Parses the packet at the start of `buf`: `Ok(None)` until it is complete, then its
/// variables and its length. `max_head_bytes` bounds the variable block.
///
/// # Errors
/// A modifier other than 0, a block over the limit, or a variable that overruns it.
pub fn parse(buf: &[u8], max_head_bytes: usize) -> Result<Option<(Vars<'_>, usize)>, UwsgiError> {
    let [modifier1, lo, hi, _modifier2, rest @ ..] = buf else {
        if let Some(&m) = buf.first() {
            if m != 0 {
                return Err(UwsgiError::Modifier(m));
            }
        }
        return Ok(None);
    };
    if *modifier1 != 0 {
        return Err(UwsgiError::Modifier(*modifier1));
    }
    let size = usize::from(u16::from_le_bytes([*lo, *hi]));
    if size > max_head_bytes {
        return Err(UwsgiError::TooLarge);
    }
    if rest.len() < size {
        return Ok(None);
    }
    let mut block = &rest[..size];
    let mut vars = Vec::new();
    while !block.is_empty() {
        let (key, after) = sized(block)?;
        let (value, after) = sized(after)?;
        vars.push((key, value));
        block = after;
    }
    Ok(Some((vars, HEADER_LEN + size)))
}

/// A `len (2, LE) bytes` string at the start of `block`, and what follows.
fn sized(block: &[u8]) -> Result<(&[u8], &[u8]), UwsgiError> {
    let [lo, hi, rest @ ..] = block else {
        return Err(UwsgiError::Truncated);
    };
    let len = usize::from(u16::from_le_bytes([*lo, *hi]));
    if rest.len() < len {
        return Err(UwsgiError::Truncated);
    }
    Ok(rest.split_at(len))
}

/// Request headers nginx passes as `HTTP_*` variables that describe its hop with the
/// client, not this one: nginx has already decoded the body (`CONTENT_LENGTH` says its
/// length), answered `100 Continue`, and closes this connection after the response.
const HOP_BY_HOP: &[&[u8]] = &[
    b"HTTP_CONNECTION",
    b"HTTP_KEEP_ALIVE",
    b"HTTP_TRANSFER_ENCODING",
    b"HTTP_TE",
    b"HTTP_UPGRADE",
    b"HTTP_EXPECT",
    b"HTTP_CONTENT_LENGTH",
    b"HTTP_CONTENT_TYPE",
    b"HTTP_PROXY_CONNECTION",
];

/// The request a packet carries: its head, as if it had come as HTTP/1.0 (so the response
/// needs no chunked framing and ends with the connection), and what the variables say
/// of the client and the server.
///
/// # Errors
/// A missing `REQUEST_METHOD`, a variable that cannot be a header, or a head `http::parse`
/// refuses (every limit and framing rule applies).
pub fn request(vars: &Vars<'_>, limits: &Limits) -> Result<(RequestHead, Forwarded), UwsgiError> {
    let get = |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| *v)
    };
    // A value is put on a line of the head: CR, LF and NUL would end it early.
    let line_safe = |name: &str, value: &[u8]| {
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            Err(UwsgiError::BadVariable(name.to_owned()))
        } else {
            Ok(())
        }
    };
    // The request line's parts, and what becomes environ values as it is (found by
    // fuzzing: a SERVER_PROTOCOL holding CRLF reached the environ).
    for name in [
        "REQUEST_METHOD",
        "REQUEST_URI",
        "PATH_INFO",
        "QUERY_STRING",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SCRIPT_NAME",
        "HTTPS",
        "REQUEST_SCHEME",
    ] {
        if let Some(value) = get(name) {
            line_safe(name, value)?;
        }
    }
    let method = get("REQUEST_METHOD").ok_or(UwsgiError::Missing("REQUEST_METHOD"))?;
    let mut head = BytesMut::with_capacity(256);
    head.extend_from_slice(method);
    head.extend_from_slice(b" ");
    if let Some(uri) = get("REQUEST_URI").filter(|uri| !uri.is_empty()) {
        head.extend_from_slice(uri);
    } else {
        let path = get("PATH_INFO").filter(|p| !p.is_empty()).unwrap_or(b"/");
        head.extend_from_slice(path);
        if let Some(query) = get("QUERY_STRING").filter(|q| !q.is_empty()) {
            head.extend_from_slice(b"?");
            head.extend_from_slice(query);
        }
    }
    head.extend_from_slice(b" HTTP/1.0\r\n");
    for (key, value) in vars {
        let name: &[u8] = match *key {
            b"CONTENT_LENGTH" => b"Content-Length",
            b"CONTENT_TYPE" => b"Content-Type",
            k if k.starts_with(b"HTTP_") && !HOP_BY_HOP.contains(&k) => &k[5..],
            _ => continue,
        };
        if value.is_empty() && name.starts_with(b"Content-") {
            // nginx sends CONTENT_LENGTH and CONTENT_TYPE empty when the request has none.
            continue;
        }
        let bad = || UwsgiError::BadVariable(String::from_utf8_lossy(key).into_owned());
        if name.is_empty()
            || !name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(bad());
        }
        line_safe(&String::from_utf8_lossy(key), value)?;
        for &b in name {
            head.extend_from_slice(&[if b == b'_' { b'-' } else { b }]);
        }
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let parsed = http::parse::request_head(&mut head, limits)?
        .ok_or(UwsgiError::Http(HttpError::HeaderTooLarge))?;
    Ok((parsed, forwarded(&get)))
}

/// What nginx's `uwsgi_params` say of the client and the server.
fn forwarded<'a>(get: &impl Fn(&str) -> Option<&'a [u8]>) -> Forwarded {
    let text = |name: &str| {
        get(name)
            .filter(|v| !v.is_empty())
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let port = |name: &str| text(name).and_then(|p| p.parse::<u16>().ok());
    let client = text("REMOTE_ADDR").map(|addr| match addr.parse::<IpAddr>() {
        Ok(ip) => Client::Ip(ip, port("REMOTE_PORT")),
        Err(_) => Client::Name(addr.to_owned()),
    });
    let https = text("HTTPS").is_some_and(|v| v.eq_ignore_ascii_case("on") || v == "1")
        || text("REQUEST_SCHEME").is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let scheme = if https {
        Some(Scheme::Https)
    } else {
        text("REQUEST_SCHEME").map(|_| Scheme::Http)
    };
    Forwarded {
        client,
        scheme,
        http_host: None,
        server_name: text("SERVER_NAME").map(str::to_owned),
        server_port: port("SERVER_PORT"),
        script_prefix: text("SCRIPT_NAME")
            .filter(|s| s.starts_with('/'))
            .map(|s| s.trim_end_matches('/').as_bytes().to_vec()),
        server_protocol: text("SERVER_PROTOCOL")
            .filter(|p| {
                p.len() <= 16
                    && p.strip_prefix("HTTP/").is_some_and(|v| {
                        !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    })
            })
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests;
