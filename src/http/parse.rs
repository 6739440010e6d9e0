//! Request heads: `request_head` validates a head line by line, left to right, applying the
//! limits, then decides framing, persistence and `Expect` (RFC 9112 §2–§6, §9.3).
//! "Need more bytes" is `Ok(None)`. The result goes to `conn`, which builds a `Job` from it.
//!
//! Design: a hand-written scanner rather than `httparse` alone, because every rule must
//! report its own variant, and report the same one however the bytes were split across
//! reads. A line is checked for its length first, then its CRLF, then its content, and
//! lines are checked in order, so the first broken rule in byte order is the one reported.
//! In debug builds every accepted head is re-parsed by `httparse` as a cross-check.

use std::ops::Range;

use bytes::{Buf, BytesMut};

use super::field::{self, FieldLine};
use super::host;
use super::{BodyFraming, HeaderField, HttpError, Limits, RequestHead, Version};

/// Longest accepted method. 32 bytes: about twice the longest registered method
/// (`UPDATEREDIRECTREF`, 17), chosen without measurement.
pub const MAX_METHOD_BYTES: usize = 32;

/// Header fields expected in a typical head; the index grows past it when needed.
/// 16: a browser sends 10–15; chosen without measurement.
const TYPICAL_HEADER_COUNT: usize = 16;

/// Parses one request head from the front of `buf`.
///
/// On `Ok(Some(head))` the head's bytes have been split off `buf` (without copying); what
/// remains is body or pipelined bytes. On `Ok(None)` nothing but leading empty lines has been
/// consumed: read more and call again. Empty lines before the request line are consumed
/// as they arrive (RFC 9112 §2.2), so they never grow the buffer. Limits are checked on
/// incomplete input too, so a client cannot grow a head forever.
///
/// The head is rescanned from its start on every call; `conn` calls it only when
/// `HeadProgress::needs_rescan` says the new bytes can change the answer, so a client that
/// sends one byte per packet does not cost a rescan per byte.
///
/// # Errors
/// Any broken rule, as the `HttpError` variant that names it. After an error `buf` is in an
/// unspecified state: the caller answers and closes the connection.
pub fn request_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, HttpError> {
    skip_empty_lines(buf)?;
    let Some(scanned) = scan(buf, limits)? else {
        return Ok(None);
    };
    let raw = buf.split_to(scanned.len).freeze();
    let head = RequestHead {
        raw,
        method: scanned.method,
        target: scanned.target,
        version: scanned.version,
        headers: scanned.headers,
        framing: scanned.framing,
        keep_alive: scanned.keep_alive,
        expects_continue: scanned.expects_continue,
    };
    #[cfg(debug_assertions)]
    cross_check_with_httparse(&head);
    Ok(Some(head))
}

/// The head of a request that arrived as parts rather than text (an HTTP/2 HEADERS frame,
/// decoded by `h2`): the `RequestHead` that `request_head` returns for the text
/// `method SP target SP HTTP/1.1 CRLF`, `name: value CRLF` per field in order, `CRLF`: the
/// same `raw` bytes, ranges, rules, limits and error variants, checked in the same order,
/// but without searching the text for line ends and colons it was just written from.
/// The caller sets the version (the text's is HTTP/1.1, so `Host` is required).
///
/// # Errors
/// The `HttpError` that `request_head` would return for that text; a name or value holding
/// bytes that would end its line or the head early (CR, LF, NUL, a `:` in a name) is
/// `InvalidHeaderName` / `InvalidHeaderValue` before anything else is judged.
pub fn request_head_from_parts<'a>(
    method: &[u8],
    target: &[u8],
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    limits: &Limits,
) -> Result<RequestHead, HttpError> {
    // Writing the text would have refused a line-breaking field before anything else; it
    // is looked for only when something was refused (the checks below refuse such bytes
    // too, so an accepted head has none).
    head_from_parts(method, target, fields.clone(), limits)
        .map_err(|err| line_breaking_field(fields).unwrap_or(err))
}

/// The error for the first field whose name or value holds bytes that would end its line
/// or the head early in the text form (CR, LF, NUL; `:` or nothing in a name).
fn line_breaking_field<'a>(
    mut fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Option<HttpError> {
    fields.find_map(|(name, value)| {
        if name.is_empty() || name.iter().any(|b| matches!(b, b'\r' | b'\n' | b':' | 0)) {
            Some(HttpError::InvalidHeaderName)
        } else if value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            Some(HttpError::InvalidHeaderValue)
        } else {
            None
        }
    })
}

/// `request_head_from_parts` but for line-breaking fields, which it answers with the
/// error of the line-breaking field instead (a name with `:` may pass here).
fn head_from_parts<'a>(
    method: &[u8],
    target: &[u8],
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    limits: &Limits,
) -> Result<RequestHead, HttpError> {
    const VERSION_LINE_END: &[u8] = b" HTTP/1.1\r\n";
    let line_len = method.len() + 1 + target.len() + VERSION_LINE_END.len() - 2;
    // The text's length: `scan` searches its first `max_head_bytes` only.
    let len = fields.clone().fold(line_len + 2 + 2, |len, (name, value)| {
        len + name.len() + 2 + value.len() + 2
    });
    let window = len.min(limits.max_head_bytes);
    let mut raw = BytesMut::with_capacity(len);
    raw.extend_from_slice(method);
    raw.extend_from_slice(b" ");
    raw.extend_from_slice(target);
    raw.extend_from_slice(VERSION_LINE_END);
    check_line(
        0,
        line_len,
        limits.max_request_line_bytes,
        HttpError::RequestLineTooLong,
        window,
    )?;
    let (method, target, version) = request_line(&raw[..line_len])?;
    let mut headers = Vec::with_capacity(TYPICAL_HEADER_COUNT);
    let mut facts = Facts::default();
    for (name, value) in fields {
        let start = raw.len();
        raw.extend_from_slice(name);
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
        let line_len = raw.len() - 2 - start;
        check_line(
            start,
            line_len,
            limits.max_header_bytes,
            HttpError::HeaderTooLarge,
            window,
        )?;
        match name.first() {
            None => return Err(HttpError::InvalidHeaderName),
            Some(&b) if field::is_ows(b) => return Err(HttpError::ObsoleteLineFolding),
            Some(_) => {}
        }
        if headers.len() == limits.max_header_count {
            return Err(HttpError::TooManyHeaders);
        }
        let line = &raw[start..start + line_len];
        let FieldLine { name, value } =
            if name.iter().all(|&b| field::is_tchar(b)) && field::is_field_value(value) {
                // Trimmed as `split_field_line` trims: after the colon, the space included.
                let value_start = name.len() + 1;
                let trimmed = field::trim_ows(&line[value_start..]);
                FieldLine {
                    name: 0..name.len(),
                    value: value_start + trimmed.start..value_start + trimmed.end,
                }
            } else {
                // Refused with the variant the text gets; `Ok` only for a name with `:`,
                // which the caller refuses.
                field::split_field_line(line)?;
                return Err(HttpError::InvalidHeaderName);
            };
        facts.note(&line[name.clone()], &line[value.clone()]);
        headers.push(HeaderField {
            name: start + name.start..start + name.end,
            value: start + value.start..start + value.end,
        });
    }
    check_line(
        raw.len(),
        0,
        limits.max_header_bytes,
        HttpError::HeaderTooLarge,
        window,
    )?;
    raw.extend_from_slice(b"\r\n");
    let (framing, keep_alive, expects_continue) = facts.decide(version)?;
    let head = RequestHead {
        raw: raw.freeze(),
        method,
        target,
        version,
        headers,
        framing,
        keep_alive,
        expects_continue,
    };
    #[cfg(debug_assertions)]
    cross_check_with_httparse(&head);
    Ok(head)
}

/// What `field::line_end` in `scan` answers for a complete line of `len` bytes (CRLF
/// excluded) at `start`, of a head whose first `window` bytes are searched: the line's limit
/// first, then the head limit (a line that does not end inside the window).
fn check_line(
    start: usize,
    len: usize,
    max_len: usize,
    too_long: HttpError,
    window: usize,
) -> Result<(), HttpError> {
    if len > max_len && window.saturating_sub(start) > max_len {
        return Err(too_long);
    }
    if start + len + 2 > window {
        return Err(HttpError::HeadTooLarge);
    }
    Ok(())
}

/// Remembers what the last `request_head` call that answered `Ok(None)` saw, so the caller
/// can skip calls that cannot answer anything else. Without it, a head trickled in one byte
/// per read is rescanned from its start per byte: O(n²) for an n-byte head.
///
/// Why skipping is exact: after `Ok(None)`, every complete line of the buffer was valid and
/// the last line is unfinished, holds no CR or LF (a CR may only be its last byte), and is
/// within its length limit, and the buffer is within `max_head_bytes`. Appending bytes
/// changes the answer only if they hold a CR or LF, follow a CR (which they may turn into a
/// bare CR), push the unfinished line over its limit, or push the buffer over
/// `max_head_bytes`. Otherwise the answer is `Ok(None)` again, so the error variants are
/// the same as when parsing after every read (`tests/http_props.rs` and the fuzz target
/// `head_rescan` check this).
#[derive(Debug, Default, Clone)]
pub struct HeadProgress {
    /// Buffer length at the last call (`request_head` or `needs_rescan`).
    seen: usize,
    /// Where the unfinished last line starts: after the buffer's last LF, 0 (the request
    /// line) when it has none.
    line_start: usize,
}

impl HeadProgress {
    /// Whether `request_head` must run on `buf`, which is the buffer of the last call with
    /// bytes appended. `false` means it would answer `Ok(None)`; the new bytes are then
    /// counted as seen.
    pub fn needs_rescan(&mut self, buf: &[u8], limits: &Limits) -> bool {
        let from = self.seen.min(buf.len());
        let after_cr = from > 0 && buf[from - 1] == b'\r';
        let line_limit = if self.line_start == 0 {
            limits.max_request_line_bytes
        } else {
            limits.max_header_bytes
        };
        let needed = after_cr
            || buf.len() > limits.max_head_bytes
            || buf.len().saturating_sub(self.line_start) > line_limit
            || buf[from..].iter().any(|&b| b == b'\r' || b == b'\n');
        if !needed {
            self.seen = buf.len();
        }
        needed
    }

    /// Records the buffer `request_head` just answered `Ok(None)` for (it may have consumed
    /// leading empty lines, so positions are recomputed).
    pub fn on_incomplete(&mut self, buf: &[u8]) {
        self.seen = buf.len();
        self.line_start = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    }
}

/// RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD
/// ignore at least one empty line (CRLF) received prior to the request-line". We ignore any
/// number; `header_timeout` bounds a client that sends only empty lines.
fn skip_empty_lines(buf: &mut BytesMut) -> Result<(), HttpError> {
    let mut n = 0;
    loop {
        match &buf[n..] {
            [b'\r', b'\n', ..] => n += 2,
            [b'\n', ..] | [b'\r', _, ..] => return Err(HttpError::BareLineEnding),
            _ => break,
        }
    }
    buf.advance(n);
    Ok(())
}

/// What the scan of a complete head found; ranges are relative to the head's first byte.
struct Scanned {
    /// Bytes of the head, request line through the blank line's CRLF.
    len: usize,
    method: Range<usize>,
    target: Range<usize>,
    version: Version,
    headers: Vec<HeaderField>,
    framing: BodyFraming,
    keep_alive: bool,
    expects_continue: bool,
}

/// Validates the head at the front of `buf`: `Ok(None)` until its blank line has arrived.
fn scan(buf: &[u8], limits: &Limits) -> Result<Option<Scanned>, HttpError> {
    // Only the first `max_head_bytes` can belong to an acceptable head. Running out of this
    // window is "need more" while the buffer fits in it, and `HeadTooLarge` once it doesn't.
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let out_of_window = || {
        if buf.len() > limits.max_head_bytes {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        }
    };

    let Some(line_end) = field::line_end(
        window,
        0,
        limits.max_request_line_bytes,
        HttpError::RequestLineTooLong,
    )?
    else {
        return out_of_window();
    };
    let (method, target, version) = request_line(&window[..line_end])?;

    let mut headers = Vec::with_capacity(TYPICAL_HEADER_COUNT);
    let mut facts = Facts::default();
    let mut start = line_end + 2;
    loop {
        let Some(end) = field::line_end(
            window,
            start,
            limits.max_header_bytes,
            HttpError::HeaderTooLarge,
        )?
        else {
            return out_of_window();
        };
        if end == start {
            let len = end + 2;
            let (framing, keep_alive, expects_continue) = facts.decide(version)?;
            return Ok(Some(Scanned {
                len,
                method,
                target,
                version,
                headers,
                framing,
                keep_alive,
                expects_continue,
            }));
        }
        let line = &window[start..end];
        // RFC 9112 §5.2: obs-fold is rejected; §2.2: so is whitespace between the request
        // line and the first field. Both are a field line that starts with SP or HTAB.
        if field::is_ows(line[0]) {
            return Err(HttpError::ObsoleteLineFolding);
        }
        if headers.len() == limits.max_header_count {
            return Err(HttpError::TooManyHeaders);
        }
        let FieldLine { name, value } = field::split_field_line(line)?;
        facts.note(&line[name.clone()], &line[value.clone()]);
        headers.push(HeaderField {
            name: start + name.start..start + name.end,
            value: start + value.start..start + value.end,
        });
        start = end + 2;
    }
}

/// Splits and validates `method SP request-target SP HTTP-version` (RFC 9112 §3).
/// The rules are checked in this order: shape, method, version, target, so that an
/// `HTTP/2.0` preface (`PRI * HTTP/2.0`) gets 505 rather than 400 for its target.
fn request_line(line: &[u8]) -> Result<(Range<usize>, Range<usize>, Version), HttpError> {
    // RFC 9112 §3: exactly one SP between the parts. Servers that split on any whitespace
    // (§3 ¶4 allows it) disagree with ones that don't; we accept only the strict form.
    if line.contains(&b'\t') {
        return Err(HttpError::MalformedRequestLine);
    }
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::MalformedRequestLine);
    };
    if method.is_empty() || target.is_empty() || version.is_empty() || version.contains(&b' ') {
        return Err(HttpError::MalformedRequestLine);
    }
    if !is_method(method) {
        return Err(HttpError::InvalidMethod);
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        // RFC 9112 §2.3: well-formed, but a version we don't serve. HTTP/1.2+ would be
        // served as 1.1 by §2.3's SHOULD; nobody sends it, so we refuse it instead.
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HttpError::UnsupportedVersion)
        }
        _ => return Err(HttpError::InvalidVersion),
    };
    if !is_target_for(method, target) {
        return Err(HttpError::InvalidTarget);
    }
    let target_start = method.len() + 1;
    Ok((
        0..method.len(),
        target_start..target_start + target.len(),
        version,
    ))
}

/// The method policy: a token (RFC 9110 §9.1) of uppercase letters, digits and the symbols
/// of `tchar` except `#`, at most `MAX_METHOD_BYTES` long. Lowercase is refused as gunicorn
/// does by default: methods are case-sensitive and every registered one is uppercase, so a
/// lowercase method is a mistake or a probe.
pub fn is_method(method: &[u8]) -> bool {
    !method.is_empty()
        && method.len() <= MAX_METHOD_BYTES
        && method
            .iter()
            .all(|&b| field::is_tchar(b) && !b.is_ascii_lowercase() && b != b'#')
}

/// RFC 9112 §3.2: which request-target forms go with which method.
/// - origin-form (`/path?query`) for every method but CONNECT;
/// - absolute-form for every method but CONNECT, limited to `http://` and `https://` URIs
///   with an authority (we are an origin server, not a proxy for other schemes);
/// - authority-form (`host:port`) only, and always, with CONNECT (§3.2.3);
/// - asterisk-form (`*`) only with OPTIONS (§3.2.4).
///
/// Every byte must be a VCHAR; `#` is refused because a fragment is not part of a
/// request-target (§3.2.1) and splitting it off would be a guess.
fn is_target_for(method: &[u8], target: &[u8]) -> bool {
    if !target
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) && b != b'#')
    {
        return false;
    }
    if method == b"CONNECT" {
        return is_authority_form(target);
    }
    match target {
        [b'/', ..] => true,
        b"*" => method == b"OPTIONS",
        _ => is_absolute_form(target),
    }
}

fn is_absolute_form(target: &[u8]) -> bool {
    let Some(sep) = target.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let scheme = &target[..sep];
    let authority_start = sep + 3;
    let authority_len = target[authority_start..]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(target.len() - authority_start);
    (scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https"))
        && authority_len > 0
}

/// `authority-form = uri-host ":" port` (RFC 9112 §3.2.3); no userinfo.
fn is_authority_form(target: &[u8]) -> bool {
    let Some(colon) = target.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let (host, port) = (&target[..colon], &target[colon + 1..]);
    let port_ok = !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    let host_ok = match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        _ => {
            !host.is_empty()
                && host
                    .iter()
                    .all(|&b| host::is_unreserved_or_sub_delim(b) || b == b'%')
        }
    };
    port_ok && host_ok
}

/// What the header fields say about framing, persistence and expectations, gathered while
/// scanning and judged by `decide` once the head is complete.
#[derive(Default)]
struct Facts {
    host_fields: usize,
    /// Whether the first `Host` field's value is valid (`is_host_value`); `None` without
    /// one. Judged in `decide`, after the count, so a second Host field is `DuplicateHost`
    /// whatever the values.
    host_value_valid: Option<bool>,
    content_type_fields: usize,
    /// The first `Content-Length` field's value, parsed; a second field is refused anyway.
    content_length: Option<Result<u64, HttpError>>,
    content_length_fields: usize,
    transfer_codings: TransferCodings,
    connection_close: bool,
    connection_keep_alive: bool,
    expect_continue: bool,
}

/// The `Transfer-Encoding` list so far, across all its fields (RFC 9112 §6.1), one coding
/// at a time.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum TransferCodings {
    /// No Transfer-Encoding field.
    #[default]
    Absent,
    /// Only codings other than `chunked` (gzip, identity, x-foo, ...).
    Unknown,
    /// `chunked` is the last coding so far; `after_unknown` when others came before it.
    Chunked { after_unknown: bool },
    /// `chunked` twice, `chunked` not last, an empty element or a malformed coding.
    Invalid,
}

impl TransferCodings {
    fn note(&mut self, value: &[u8]) {
        for coding in field::list_elements(value) {
            *self = match *self {
                TransferCodings::Invalid
                // Anything after `chunked` means it is not the final coding.
                | TransferCodings::Chunked { .. } => TransferCodings::Invalid,
                _ if coding.is_empty() => TransferCodings::Invalid,
                TransferCodings::Absent if coding.eq_ignore_ascii_case(b"chunked") => {
                    TransferCodings::Chunked { after_unknown: false }
                }
                TransferCodings::Unknown if coding.eq_ignore_ascii_case(b"chunked") => {
                    TransferCodings::Chunked { after_unknown: true }
                }
                TransferCodings::Absent | TransferCodings::Unknown if is_transfer_coding(coding) => {
                    TransferCodings::Unknown
                }
                TransferCodings::Absent | TransferCodings::Unknown => TransferCodings::Invalid,
            };
        }
    }
}

/// `transfer-coding = token *( OWS ";" OWS transfer-parameter )` (RFC 9112 §7), with
/// `transfer-parameter = token BWS "=" BWS ( token / quoted-string )`. `chunked` with
/// parameters is malformed: it defines none.
fn is_transfer_coding(coding: &[u8]) -> bool {
    let name_len = coding
        .iter()
        .position(|&b| !field::is_tchar(b))
        .unwrap_or(coding.len());
    if name_len == 0 || coding[..name_len].eq_ignore_ascii_case(b"chunked") {
        return false;
    }
    let mut rest = &coding[name_len..];
    let skip_ows =
        |bytes: &[u8]| -> usize { bytes.iter().take_while(|&&b| field::is_ows(b)).count() };
    while !rest.is_empty() {
        rest = &rest[skip_ows(rest)..];
        let Some(after_semicolon) = rest.strip_prefix(b";") else {
            return false;
        };
        rest = &after_semicolon[skip_ows(after_semicolon)..];
        let key_len = rest.iter().take_while(|&&b| field::is_tchar(b)).count();
        if key_len == 0 {
            return false;
        }
        rest = &rest[key_len..];
        rest = &rest[skip_ows(rest)..];
        let Some(after_eq) = rest.strip_prefix(b"=") else {
            return false;
        };
        rest = &after_eq[skip_ows(after_eq)..];
        let value_len = match field::quoted_string_len(rest) {
            Some(n) => n,
            None => rest.iter().take_while(|&&b| field::is_tchar(b)).count(),
        };
        if value_len == 0 {
            return false;
        }
        rest = &rest[value_len..];
    }
    true
}

impl Facts {
    fn note(&mut self, name: &[u8], value: &[u8]) {
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        match name.len() {
            4 if is("host") => {
                self.host_fields += 1;
                if self.host_value_valid.is_none() {
                    self.host_value_valid = Some(host::is_host_value(value));
                }
            }
            6 if is("expect") => {
                // RFC 9110 §10.1.1: other expectations MAY get 417; we ignore them.
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            10 if is("connection") => {
                for option in field::list_elements(value) {
                    self.connection_close |= option.eq_ignore_ascii_case(b"close");
                    self.connection_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            12 if is("content-type") => self.content_type_fields += 1,
            14 if is("content-length") => {
                self.content_length_fields += 1;
                if self.content_length.is_none() {
                    self.content_length = Some(parse_content_length(value));
                }
            }
            17 if is("transfer-encoding") => self.transfer_codings.note(value),
            _ => {}
        }
    }

    /// Judges the complete head: returns `(framing, keep_alive, expects_continue)`.
    /// The checks run in this order, so one head always gets the same answer.
    fn decide(&self, version: Version) -> Result<(BodyFraming, bool, bool), HttpError> {
        // 1. RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to
        //    any HTTP/1.1 request message that lacks a Host header field and to any request
        //    message that contains more than one Host header field line or a Host header
        //    field with an invalid field value". The value is judged for every target
        //    form: §3.2.2 has an absolute-form target's authority win over Host, but Host
        //    must still be sent, and §3.2 makes no exception for its syntax.
        if self.host_fields > 1 {
            return Err(HttpError::DuplicateHost);
        }
        if self.host_fields == 0 && version == Version::Http11 {
            return Err(HttpError::MissingHost);
        }
        if self.host_value_valid == Some(false) {
            return Err(HttpError::InvalidHost);
        }
        // 2. RFC 9110 §8.3: Content-Type is a singleton; two of them make CONTENT_TYPE a
        //    guess (gunicorn 26.1 rejects them too).
        if self.content_type_fields > 1 {
            return Err(HttpError::DuplicateContentType);
        }
        // 3. Framing, RFC 9112 §6.3.
        let framing = self.framing(version)?;
        // 4. Persistence, RFC 9112 §9.3.
        let keep_alive = match version {
            // (`parse` reads HTTP/1.x only; HTTP/2 has no Connection header.)
            Version::Http11 | Version::Http2 => !self.connection_close,
            Version::Http10 => self.connection_keep_alive && !self.connection_close,
        };
        // 5. RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in an
        //    HTTP/1.0 request MUST ignore that expectation."
        let expects_continue = self.expect_continue && version == Version::Http11;
        Ok((framing, keep_alive, expects_continue))
    }

    fn framing(&self, version: Version) -> Result<BodyFraming, HttpError> {
        if self.transfer_codings != TransferCodings::Absent {
            // RFC 9112 §6.1 ¶15 (and §6.3 ¶3): a request with both is a smuggling attempt
            // or a broken intermediary; reject rather than let Transfer-Encoding win.
            if self.content_length_fields > 0 {
                return Err(HttpError::ContentLengthWithTransferEncoding);
            }
            // RFC 9112 §6.1 ¶16: Transfer-Encoding in HTTP/1.0 means faulty framing.
            if version == Version::Http10 {
                return Err(HttpError::InvalidTransferEncoding);
            }
        }
        match self.transfer_codings {
            TransferCodings::Absent => {}
            // RFC 9112 §6.3 ¶4: chunked must be the final coding, else 400.
            TransferCodings::Invalid => return Err(HttpError::InvalidTransferEncoding),
            // RFC 9112 §6.1 ¶12: a coding we don't understand gets 501 (even before a final
            // chunked, and also alone, where §6.3 ¶4 would allow 400).
            TransferCodings::Unknown
            | TransferCodings::Chunked {
                after_unknown: true,
            } => return Err(HttpError::UnsupportedTransferEncoding),
            TransferCodings::Chunked {
                after_unknown: false,
            } => return Ok(BodyFraming::Chunked),
        }
        let Some(length) = &self.content_length else {
            return Ok(BodyFraming::Empty);
        };
        if self.content_length_fields > 1 {
            return Err(HttpError::ConflictingContentLength);
        }
        length.clone().map(BodyFraming::Length)
    }
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no spaces, no hex, no `_`.
/// RFC 9112 §6.3 ¶5 allows collapsing a list of identical values; we refuse any second
/// value, identical or not, in a second field (see `Facts::framing`) or in a list (`5, 5`).
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.contains(&b',') {
        return Err(HttpError::ConflictingContentLength);
    }
    if value.is_empty() {
        return Err(HttpError::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(HttpError::InvalidContentLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(HttpError::InvalidContentLength)
    })
}

/// Debug builds only: `httparse` must agree with every head we accept. It accepts a
/// superset of our grammar, so a disagreement is a bug in `scan`.
#[cfg(debug_assertions)]
fn cross_check_with_httparse(head: &RequestHead) {
    let mut fields = vec![httparse::EMPTY_HEADER; head.headers.len()];
    let mut request = httparse::Request::new(&mut fields);
    let status = request
        .parse(&head.raw)
        .expect("httparse accepts every head that parse::scan accepts");
    assert_eq!(status, httparse::Status::Complete(head.raw.len()));
    assert_eq!(request.method, Some(head.method()));
    assert_eq!(request.path.map(str::as_bytes), Some(head.target()));
    let minor = match head.version {
        Version::Http10 => 0,
        // HTTP/2 heads are set after parsing their HTTP/1.1 form.
        Version::Http11 | Version::Http2 => 1,
    };
    assert_eq!(request.version, Some(minor));
    let ours: Vec<(&[u8], &[u8])> = head.header_pairs().collect();
    let theirs: Vec<(&[u8], &[u8])> = request
        .headers
        .iter()
        .map(|h| (h.name.as_bytes(), h.value))
        .collect();
    assert_eq!(ours, theirs);
}

#[cfg(test)]
mod tests;
