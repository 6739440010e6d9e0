//! Response heads from apps: `ResponseHead` (what `conn` encodes) and
//! `ResponseHeadBuilder`, which checks an app's status and header fields against RFC 9110
//! and notes what the server must know of them (`Content-Length`, `Date`, `Server`,
//! `Connection: close`). Shared by every app interface: WSGI's `start_response` (text,
//! latin-1: `new`, `add`) and ASGI's `http.response.start` (an integer status and byte
//! strings: `from_code`, `add_bytes`).

use bytes::Bytes;

/// A response head from the app, validated by `ResponseHeadBuilder`; `conn` encodes it.
// The flags are independent facts about the app's headers, not a hidden state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    /// `"200 OK"`.
    pub status_line: Bytes,
    /// The app's headers as `Name: value\r\n` lines.
    pub header_block: Vec<u8>,
    /// The app's `Content-Length`, or the length the server computed.
    pub content_length: Option<u64>,
    /// `content_length` was computed by the server (write it out) rather than set by the app.
    pub add_content_length: bool,
    pub has_date: bool,
    pub has_server: bool,
    /// The app sent `Connection: close`: close after this response.
    pub wants_close: bool,
}

/// RFC 9110 §7.6.1 hop-by-hop fields, which PEP 3333 forbids apps to set.
fn is_hop_by_hop(name: &[u8]) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// Parses and validates `"200 OK"`.
///
/// # Errors
/// A message naming what is wrong.
fn parse_status(status: &str) -> Result<u16, String> {
    let b = status.as_bytes();
    let valid_code = b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ';
    if !valid_code {
        return Err(format!(
            "invalid status {status:?}: expected a 3-digit code, a space and a reason"
        ));
    }
    if let Some(c) = status
        .chars()
        .find(|&c| (c < ' ' && c != '\t') || c == '\x7f' || c > '\u{ff}')
    {
        return Err(format!("invalid status {status:?}: contains {c:?}"));
    }
    let code: u16 = status[..3]
        .parse()
        .map_err(|_| format!("invalid status {status:?}"))?;
    if !(200..=599).contains(&code) {
        return Err(format!(
            "invalid status {status:?}: the code must be 200-599"
        ));
    }
    Ok(code)
}

/// Validates header fields one by one into a `ResponseHead`, borrowing the app's strings
/// (no allocation per header).
pub struct ResponseHeadBuilder {
    head: ResponseHead,
}

impl ResponseHeadBuilder {
    /// Starts a head from the app's status line (`"200 OK"`).
    ///
    /// # Errors
    /// A message naming what is wrong with the status.
    pub fn new(status: &str) -> Result<ResponseHeadBuilder, String> {
        let code = parse_status(status)?;
        Ok(ResponseHeadBuilder {
            head: ResponseHead {
                status: code,
                status_line: Bytes::copy_from_slice(status.as_bytes()),
                header_block: Vec::with_capacity(128),
                content_length: None,
                add_content_length: false,
                has_date: false,
                has_server: false,
                wants_close: false,
            },
        })
    }

    /// Starts a head from a bare status code (ASGI's `status`), with the standard reason
    /// phrase.
    ///
    /// # Errors
    /// A message naming the code when it is not 200-599.
    pub fn from_code(code: u16) -> Result<ResponseHeadBuilder, String> {
        if !(200..=599).contains(&code) {
            return Err(format!("invalid status {code}: the code must be 200-599"));
        }
        let reason = super::reason_phrase(code);
        let mut line = Vec::with_capacity(4 + reason.len());
        line.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
        line.push(b' ');
        line.extend_from_slice(reason.as_bytes());
        Ok(ResponseHeadBuilder {
            head: ResponseHead {
                status: code,
                status_line: Bytes::from(line),
                header_block: Vec::with_capacity(128),
                content_length: None,
                add_content_length: false,
                has_date: false,
                has_server: false,
                wants_close: false,
            },
        })
    }

    /// A builder whose header block alone is used, checked by `add_bytes` like any
    /// response's: a WebSocket accept's extra headers (in a `101`), a trailer section,
    /// early hints' `Link` fields.
    pub fn fields_only() -> ResponseHeadBuilder {
        ResponseHeadBuilder {
            head: ResponseHead {
                status: 101,
                status_line: Bytes::from_static(b"101 Switching Protocols"),
                header_block: Vec::new(),
                content_length: None,
                add_content_length: false,
                has_date: false,
                has_server: false,
                wants_close: false,
            },
        }
    }

    /// Adds one header field, given as text whose characters are bytes (latin-1, as
    /// PEP 3333 has them): a token name, a value without CR, LF, NUL or other controls.
    /// `Connection: close` is honoured rather than copied; other hop-by-hop fields are
    /// refused (the server frames and persists connections itself).
    ///
    /// # Errors
    /// A message naming the offending header.
    pub fn add(&mut self, name: &str, value: &str) -> Result<(), String> {
        if value.is_ascii() {
            return self.add_bytes(name.as_bytes(), value.as_bytes());
        }
        if let Some(c) = value
            .chars()
            .find(|&c| (c < ' ' && c != '\t') || c == '\x7f' || c > '\u{ff}')
        {
            return Err(format!("invalid character {c:?} in response header {name}"));
        }
        let bytes: Vec<u8> = value.chars().map(|c| c as u8).collect();
        self.add_bytes(name.as_bytes(), &bytes)
    }

    /// Adds one header field given as bytes (ASGI's `[name, value]` byte strings), with
    /// `add`'s rules: RFC 9110 §5.1 a token name; §5.5 a value of visible characters,
    /// spaces, tabs and obs-text (bytes from 0x80), never CR, LF, NUL or other controls.
    ///
    /// # Errors
    /// A message naming the offending header.
    pub fn add_bytes(&mut self, name: &[u8], value: &[u8]) -> Result<(), String> {
        // Formatted only for an error: every header of every response passes here.
        let shown = || String::from_utf8_lossy(name);
        if name.is_empty() || !name.iter().copied().all(super::is_tchar) {
            let shown = shown();
            return Err(format!("invalid response header name {shown:?}"));
        }
        if let Some(&c) = value
            .iter()
            .find(|&&b| (b < b' ' && b != b'\t') || b == 0x7f)
        {
            return Err(format!(
                "invalid character {:?} in response header {}",
                char::from(c),
                shown()
            ));
        }
        let head = &mut self.head;
        let is = |h: &str| name.eq_ignore_ascii_case(h.as_bytes());
        if is("connection") && value.trim_ascii().eq_ignore_ascii_case(b"close") {
            // Honoured rather than emitted: the server writes its own Connection header.
            head.wants_close = true;
            return Ok(());
        }
        if is_hop_by_hop(name) {
            return Err(format!(
                "hop-by-hop header {} is not allowed in an app's response (RFC 9110 §7.6.1)",
                shown()
            ));
        }
        if is("content-length") {
            let v = value.trim_ascii();
            if head.content_length.is_some() {
                return Err("duplicate Content-Length response header".to_owned());
            }
            let invalid = || {
                format!(
                    "invalid Content-Length response header {:?}",
                    String::from_utf8_lossy(value)
                )
            };
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                return Err(invalid());
            }
            let text = std::str::from_utf8(v).map_err(|_| invalid())?;
            head.content_length = Some(text.parse().map_err(|_| invalid())?);
        } else if is("date") {
            head.has_date = true;
        } else if is("server") {
            head.has_server = true;
        }
        head.header_block.extend_from_slice(name);
        head.header_block.extend_from_slice(b": ");
        head.header_block.extend_from_slice(value);
        head.header_block.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Adds the `Trailer` field (RFC 9110 §6.6.2) of a response that sends a trailer
    /// section (ASGI's `trailers: True`). `add` refuses it, as PEP 3333's list of
    /// hop-by-hop fields has it: WSGI has no trailers.
    ///
    /// # Errors
    /// A message naming the offending character.
    pub fn add_trailer_field(&mut self, value: &[u8]) -> Result<(), String> {
        if let Some(&c) = value
            .iter()
            .find(|&&b| (b < b' ' && b != b'\t') || b == 0x7f)
        {
            return Err(format!(
                "invalid character {:?} in response header trailer",
                char::from(c)
            ));
        }
        let block = &mut self.head.header_block;
        block.extend_from_slice(b"trailer: ");
        block.extend_from_slice(value);
        block.extend_from_slice(b"\r\n");
        Ok(())
    }

    pub fn finish(self) -> ResponseHead {
        self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a validated `ResponseHead` from the app's status and header list.
    ///
    /// # Errors
    /// A message naming the offending header.
    pub fn validate_head<'a>(
        status: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ResponseHead, String> {
        let mut head = ResponseHeadBuilder::new(status)?;
        for (name, value) in headers {
            head.add(name, value)?;
        }
        Ok(head.finish())
    }

    fn h<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        pairs.iter().copied()
    }

    #[test]
    fn validates_status_lines() {
        assert_eq!(parse_status("200 OK"), Ok(200));
        assert_eq!(parse_status("404 "), Ok(404));
        for bad in [
            "200",
            "20 OK",
            "200OK",
            "abc OK",
            "099 Low",
            "600 High",
            "200 O\r\nK",
            "200 \x00",
        ] {
            assert!(parse_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validates_headers_into_a_block() {
        let head = validate_head(
            "200 OK",
            h(&[
                ("Content-Type", "text/plain"),
                ("Content-Length", "5"),
                ("X-É", "1"),
            ]),
        );
        assert!(head.is_err());
        let head = validate_head(
            "200 OK",
            h(&[
                ("Content-Type", "text/plain"),
                ("Content-Length", "5"),
                ("X-A", "é"),
            ]),
        )
        .expect("valid");
        assert_eq!(
            head.header_block,
            b"Content-Type: text/plain\r\nContent-Length: 5\r\nX-A: \xe9\r\n"
        );
        assert_eq!(head.content_length, Some(5));
    }

    #[test]
    fn rejects_header_injection_and_hop_by_hop() {
        let rows: &[(&str, &str)] = &[
            ("X-A", "a\r\nSet-Cookie: x"),
            ("X-A", "a\nb"),
            ("X-A", "a\0"),
            ("X A", "v"),
            ("X:A", "v"),
            ("", "v"),
            ("Transfer-Encoding", "chunked"),
            ("Keep-Alive", "timeout=5"),
            ("Upgrade", "websocket"),
            ("Content-Length", "-1"),
            ("Content-Length", "1x"),
            ("X-A", "\u{100}"),
        ];
        for (name, value) in rows {
            assert!(
                validate_head("200 OK", h(&[(name, value)])).is_err(),
                "{name:?}: {value:?}"
            );
        }
    }

    #[test]
    fn an_asgi_head_takes_a_code_and_byte_headers_under_the_same_rules() {
        let mut head = ResponseHeadBuilder::from_code(404).expect("valid");
        head.add_bytes(b"content-type", b"text/plain")
            .expect("valid");
        head.add_bytes(b"x-raw", b"caf\xc3\xa9 \xff")
            .expect("obs-text");
        let head = head.finish();
        assert_eq!(&head.status_line[..], b"404 Not Found");
        assert_eq!(
            head.header_block,
            b"content-type: text/plain\r\nx-raw: caf\xc3\xa9 \xff\r\n"
        );
        for code in [0, 99, 101, 199, 600] {
            assert!(ResponseHeadBuilder::from_code(code).is_err(), "{code}");
        }
        let rows: &[(&[u8], &[u8])] = &[
            (b"x-a", b"a\r\nset-cookie: x"),
            (b"x a", b"v"),
            (b"", b"v"),
            (b"transfer-encoding", b"chunked"),
            (b"content-length", b"12a"),
        ];
        for (name, value) in rows {
            let mut head = ResponseHeadBuilder::from_code(200).expect("valid");
            assert!(head.add_bytes(name, value).is_err(), "{name:?}: {value:?}");
        }
    }

    #[test]
    fn honours_connection_close_without_emitting_it() {
        let head = validate_head("200 OK", h(&[("Connection", "close")])).expect("valid");
        assert!(head.wants_close);
        assert!(head.header_block.is_empty());
    }
}
