//! HTTP/2 heads in both directions, without I/O. A request's pseudo-headers and fields
//! (decoded and HPACK-bounded by the `h2` crate) become the same `RequestHead` an HTTP/1.1
//! request is: `http::parse::request_head_from_parts` builds it from them directly, with
//! the bytes, rules and limits of the head written as HTTP/1.1 text, so every rule and
//! limit of the HTTP/1.1 path (token methods, targets, field syntax, `Host`, the
//! head limits, duplicate `Content-Type`, names with `_`) holds for HTTP/2 too, with one
//! implementation. An app's `ResponseHead` becomes the field map of a HEADERS frame.

use std::cell::RefCell;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::bridge::ResponseHead;
use crate::http::encode;
use crate::http::{parse, BodyFraming, HttpError, Limits, RequestHead, Version};

/// What the request head needs from a HEADERS frame: `h2` has checked the pseudo-headers'
/// presence and order (RFC 9113 §8.3.1) and refused connection-specific fields (§8.2.2).
pub(super) struct Pseudo<'a> {
    pub method: &'a str,
    /// `:path` with the query; `None` without one (CONNECT).
    pub path: Option<&'a str>,
    /// `:authority`.
    pub authority: Option<&'a str>,
}

/// The request head of one stream. `end_of_stream`: the HEADERS frame ended the stream
/// (no body). A body without `content-length` has `BodyFraming::Chunked`: "length unknown
/// until the stream ends", as a chunked HTTP/1.1 body.
///
/// # Errors
/// The `HttpError` the same request over HTTP/1.1 would get (400, 414, 431...).
pub(super) fn request_head<'a>(
    pseudo: &Pseudo<'a>,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    end_of_stream: bool,
    limits: &Limits,
) -> Result<RequestHead, HttpError> {
    // RFC 9113 §8.5: CONNECT carries no :path; tunnels are not served.
    let Some(path) = pseudo.path.filter(|p| !p.is_empty()) else {
        return Err(HttpError::InvalidTarget);
    };
    // RFC 9113 §8.3.1: `:authority` stands for `Host`; a `Host` field beside it must name
    // the same authority (RFC 9110 §7.2), else which one the app sees would be a guess.
    // RFC 9113 §8.2.3: a client may split `cookie` into one field per pair; they are
    // joined with "; " before reaching an HTTP/1.1-shaped app.
    let authority = pseudo.authority.map(str::as_bytes);
    let mut cookie: Option<Vec<u8>> = None;
    for (name, value) in fields.clone() {
        if let Some(authority) = authority {
            if name.eq_ignore_ascii_case(b"host")
                && !value.trim_ascii().eq_ignore_ascii_case(authority)
            {
                return Err(HttpError::DuplicateHost);
            }
        }
        if name.eq_ignore_ascii_case(b"cookie") {
            let joined = cookie.get_or_insert_with(Vec::new);
            if !joined.is_empty() {
                joined.extend_from_slice(b"; ");
            }
            joined.extend_from_slice(value);
        }
    }
    // The fields in the order the head keeps them: `host` from `:authority` first, the
    // joined `cookie` last.
    let host = authority.map(|a| (b"host".as_slice(), a));
    let rest = fields.filter(move |(name, _)| {
        !(name.eq_ignore_ascii_case(b"cookie")
            || (authority.is_some() && name.eq_ignore_ascii_case(b"host")))
    });
    let cookie = cookie.as_deref().map(|c| (b"cookie".as_slice(), c));
    let lines = host.into_iter().chain(rest.map(shorten)).chain(cookie);
    let mut head =
        parse::request_head_from_parts(pseudo.method.as_bytes(), path.as_bytes(), lines, limits)?;
    head.version = Version::Http2;
    // HTTP/2 has no Connection header: the stream ends, the connection stays.
    head.keep_alive = true;
    if head.framing == BodyFraming::Empty && !end_of_stream {
        head.framing = BodyFraming::Chunked;
    }
    Ok(head)
}

/// A field borrowed for a shorter time: the request's fields and the joined `cookie` (a
/// local) in one iterator.
fn shorten<'s, 'a: 's>(field: (&'a [u8], &'a [u8])) -> (&'s [u8], &'s [u8]) {
    field
}

/// RFC 9113 §8.2.2: fields that mean something for one HTTP/1.1 connection only, never sent
/// on HTTP/2 (an app's response cannot carry most of them anyway: `ResponseHeadBuilder`
/// refuses hop-by-hop fields; these are dropped again here so no path can send one).
fn is_connection_specific(name: &[u8]) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// The fields of an app's response head for a HEADERS frame: the app's fields (names
/// lowercased, RFC 9113 §8.2), `content-length` when the server computed it, `server` and
/// `date` unless the app set them.
///
/// # Errors
/// A message naming a field `h2` cannot carry (the app side has validated every field, so
/// this is a server bug, contained to the response).
pub(super) fn response_fields(head: &ResponseHead) -> Result<HeaderMap, String> {
    let mut map = block_fields(&head.header_block)?;
    if head.add_content_length {
        if let Some(n) = head.content_length {
            map.append(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    if !head.has_server {
        map.append(
            http::header::SERVER,
            HeaderValue::from_static(encode::SERVER_VALUE),
        );
    }
    if !head.has_date {
        map.append(http::header::DATE, date_value()?);
    }
    Ok(map)
}

thread_local! {
    /// The `date` value of the current second (`encode::date_value`) as a `HeaderValue`,
    /// made at most once per second per thread; responses take a clone (a reference count).
    static DATE: RefCell<([u8; 29], HeaderValue)> =
        const { RefCell::new(([0; 29], HeaderValue::from_static(""))) };
}

/// The `date` field's value for the current second.
fn date_value() -> Result<HeaderValue, String> {
    let date = encode::date_value();
    DATE.with_borrow_mut(|(cached, value)| {
        if *cached != date {
            *value = HeaderValue::from_bytes(&date).map_err(|e| format!("date: {e}"))?;
            *cached = date;
        }
        Ok(value.clone())
    })
}

/// `Name: value\r\n` lines (a response's fields, a trailer section, early hints) as a field
/// map, connection-specific fields dropped.
///
/// # Errors
/// A message naming a line that is not a valid field.
pub(super) fn block_fields(block: &[u8]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(format!(
                "response field without a colon: {:?}",
                String::from_utf8_lossy(line)
            ));
        };
        let name = &line[..colon];
        if is_connection_specific(name) {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        let name = HeaderName::from_bytes(name).map_err(|e| {
            format!(
                "response field name {:?}: {e}",
                String::from_utf8_lossy(name)
            )
        })?;
        let value =
            HeaderValue::from_bytes(value).map_err(|e| format!("response field {name}: {e}"))?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests;
