use proptest::prelude::*;

use bytes::BytesMut;

use super::*;

fn pseudo<'a>(method: &'a str, path: Option<&'a str>, authority: Option<&'a str>) -> Pseudo<'a> {
    Pseudo {
        method,
        path,
        authority,
    }
}

fn head_of(
    p: &Pseudo<'_>,
    fields: &[(&[u8], &[u8])],
    end_of_stream: bool,
) -> Result<RequestHead, HttpError> {
    request_head(p, fields.iter().copied(), end_of_stream, &Limits::default())
}

/// The mapping as it was before `parse::request_head_from_parts`: the head written as
/// HTTP/1.1 text and parsed by `parse::request_head`. The oracle of the proptest below.
fn head_via_text(
    p: &Pseudo<'_>,
    fields: &[(&[u8], &[u8])],
    end_of_stream: bool,
    limits: &Limits,
) -> Result<RequestHead, HttpError> {
    fn push_field(raw: &mut BytesMut, name: &[u8], value: &[u8]) -> Result<(), HttpError> {
        if name.is_empty() || name.iter().any(|b| matches!(b, b'\r' | b'\n' | b':' | 0)) {
            return Err(HttpError::InvalidHeaderName);
        }
        if value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(HttpError::InvalidHeaderValue);
        }
        raw.extend_from_slice(name);
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
        Ok(())
    }
    let Some(path) = p.path.filter(|p| !p.is_empty()) else {
        return Err(HttpError::InvalidTarget);
    };
    let mut raw = BytesMut::new();
    raw.extend_from_slice(p.method.as_bytes());
    raw.extend_from_slice(b" ");
    raw.extend_from_slice(path.as_bytes());
    raw.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(authority) = p.authority {
        for (name, value) in fields {
            if name.eq_ignore_ascii_case(b"host")
                && !value
                    .trim_ascii()
                    .eq_ignore_ascii_case(authority.as_bytes())
            {
                return Err(HttpError::DuplicateHost);
            }
        }
        push_field(&mut raw, b"host", authority.as_bytes())?;
    }
    let mut cookie: Option<Vec<u8>> = None;
    for (name, value) in fields {
        if p.authority.is_some() && name.eq_ignore_ascii_case(b"host") {
            continue;
        }
        if name.eq_ignore_ascii_case(b"cookie") {
            let joined = cookie.get_or_insert_with(Vec::new);
            if !joined.is_empty() {
                joined.extend_from_slice(b"; ");
            }
            joined.extend_from_slice(value);
            continue;
        }
        push_field(&mut raw, name, value)?;
    }
    if let Some(cookie) = cookie {
        push_field(&mut raw, b"cookie", &cookie)?;
    }
    raw.extend_from_slice(b"\r\n");
    let Some(mut head) = parse::request_head(&mut raw, limits)? else {
        return Err(HttpError::HeadTooLarge);
    };
    if !raw.is_empty() {
        return Err(HttpError::InvalidHeaderValue);
    }
    head.version = Version::Http2;
    head.keep_alive = true;
    if head.framing == BodyFraming::Empty && !end_of_stream {
        head.framing = BodyFraming::Chunked;
    }
    Ok(head)
}

fn field<'h>(head: &'h RequestHead, name: &str) -> Vec<&'h [u8]> {
    head.header_pairs()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn maps_pseudo_headers_to_an_http2_head() {
    let head = head_of(
        &pseudo("GET", Some("/a/b?x=1"), Some("example.com:8443")),
        &[(b"accept", b"*/*")],
        true,
    )
    .expect("valid");
    assert_eq!(head.method(), "GET");
    assert_eq!(head.path(), b"/a/b");
    assert_eq!(head.query(), b"x=1");
    assert_eq!(head.version, Version::Http2);
    assert_eq!(field(&head, "host"), [b"example.com:8443".as_slice()]);
    assert_eq!(field(&head, "accept"), [b"*/*".as_slice()]);
    assert_eq!(head.framing, BodyFraming::Empty);
    assert!(head.keep_alive);
}

#[test]
fn a_body_without_length_is_framed_until_the_stream_ends() {
    let p = pseudo("POST", Some("/"), Some("h"));
    let open = head_of(&p, &[], false).expect("valid");
    assert_eq!(open.framing, BodyFraming::Chunked);
    let sized = head_of(&p, &[(b"content-length", b"5")], false).expect("valid");
    assert_eq!(sized.framing, BodyFraming::Length(5));
}

#[test]
fn joins_split_cookies() {
    let head = head_of(
        &pseudo("GET", Some("/"), Some("h")),
        &[(b"cookie", b"a=1"), (b"accept", b"x"), (b"cookie", b"b=2")],
        true,
    )
    .expect("valid");
    assert_eq!(field(&head, "cookie"), [b"a=1; b=2".as_slice()]);
}

#[test]
fn refuses_what_http1_refuses() {
    type Fields<'a> = &'a [(&'a [u8], &'a [u8])];
    let rows: &[(Pseudo<'_>, Fields<'_>, HttpError)] = &[
        // No :path: CONNECT tunnels are not served.
        (
            pseudo("CONNECT", None, Some("h:443")),
            &[],
            HttpError::InvalidTarget,
        ),
        // :authority and host disagree.
        (
            pseudo("GET", Some("/"), Some("a.example")),
            &[(b"host", b"b.example")],
            HttpError::DuplicateHost,
        ),
        // Neither :authority nor host.
        (pseudo("GET", Some("/"), None), &[], HttpError::MissingHost),
        // Bytes that would end the line.
        (
            pseudo("GET", Some("/"), Some("h")),
            &[(b"x-a", b"1\r\nx-b: 2")],
            HttpError::InvalidHeaderValue,
        ),
        (
            pseudo("GET", Some("/"), Some("h")),
            &[(b"content-length", b"1"), (b"content-length", b"2")],
            HttpError::ConflictingContentLength,
        ),
    ];
    for (p, fields, expected) in rows {
        assert_eq!(
            head_of(p, fields, true).err().as_ref(),
            Some(expected),
            "{:?}",
            p.path
        );
    }
}

#[test]
fn the_head_limits_hold() {
    let long = "a".repeat(10_000);
    let path = format!("/{long}");
    assert_eq!(
        head_of(&pseudo("GET", Some(&path), Some("h")), &[], true).err(),
        Some(HttpError::RequestLineTooLong)
    );
    let fields: Vec<(&[u8], &[u8])> = (0..200)
        .map(|_| (b"x-a".as_slice(), b"1".as_slice()))
        .collect();
    assert_eq!(
        head_of(&pseudo("GET", Some("/"), Some("h")), &fields, true).err(),
        Some(HttpError::TooManyHeaders)
    );
}

#[test]
fn response_fields_drop_connection_specific_ones_and_add_date_and_server() {
    let head = ResponseHead {
        status: 200,
        status_line: bytes::Bytes::from_static(b"200 OK"),
        header_block: b"Content-Type: text/plain\r\nConnection: close\r\nX-A: 1\r\nX-A: 2\r\n"
            .to_vec(),
        content_length: Some(5),
        add_content_length: true,
        has_date: false,
        has_server: false,
        wants_close: true,
    };
    let map = response_fields(&head).expect("valid");
    assert_eq!(map["content-type"], "text/plain");
    assert!(map.get("connection").is_none());
    assert_eq!(map.get_all("x-a").iter().count(), 2);
    assert_eq!(map["content-length"], "5");
    assert_eq!(map["server"], "ferrule");
    assert_eq!(map["date"].len(), 29);
}

proptest! {
    /// Whatever names and values arrive, the head is either refused with an HttpError or
    /// is one head whose fields are exactly the ones sent (cookies joined, host from
    /// :authority): nothing can smuggle a second field or a second request.
    #[test]
    fn any_field_list_maps_to_the_same_fields_or_an_error(
        fields in proptest::collection::vec(
            ("[a-zA-Z0-9_:\r\n -]{1,12}", proptest::collection::vec(any::<u8>(), 0..24)),
            0..12,
        ),
        path in "/[ -~]{0,30}",
        end in any::<bool>(),
    ) {
        let fields: Vec<(Vec<u8>, Vec<u8>)> = fields
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("cookie") && !n.eq_ignore_ascii_case("host"))
            .map(|(n, v)| (n.into_bytes(), v))
            .collect();
        let borrowed: Vec<(&[u8], &[u8])> =
            fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let p = pseudo("GET", Some(&path), Some("example.com"));
        if let Ok(head) = head_of(&p, &borrowed, end) {
            let got: Vec<(Vec<u8>, Vec<u8>)> = head
                .header_pairs()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(b"host"))
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            let sent: Vec<(Vec<u8>, Vec<u8>)> = fields
                .iter()
                .map(|(n, v)| (n.clone(), v.trim_ascii().to_vec()))
                .collect();
            prop_assert_eq!(got, sent);
            prop_assert_eq!(field(&head, "host"), vec![b"example.com".as_slice()]);
            prop_assert_eq!(head.version, Version::Http2);
        }
    }

    /// The head built from the parts is the head their HTTP/1.1 text parses to: the same
    /// bytes, ranges and framing, or the same error, under tight and default limits alike
    /// (the text's rules and limits are checked in the same order).
    #[test]
    fn the_head_built_from_parts_is_the_head_their_text_parses_to(
        method in "(GET|POST|HEAD|OPTIONS|get|G@T|CONNECT)",
        path in "(\\*|/[!-~]{0,40}|[a-z:/]{0,12})",
        authority in proptest::option::of("[a-z.:0-9\\[\\]@ ]{0,20}"),
        fields in proptest::collection::vec(
            (
                "(host|cookie|content-length|transfer-encoding|content-type|expect|connection|[a-zA-Z0-9_:\r\n \t-]{0,12})",
                "[ \t]?(chunked|gzip|100-continue|close|0|12|1, 1|a=1|[\t -~\\x{80}-\\x{ff}\r\n\x00]{0,24})[ \t]?",
            ),
            0..12,
        ),
        limits in (20usize..120, 0usize..10, 10usize..60, 40usize..400),
        tight in any::<bool>(),
        end in any::<bool>(),
    ) {
        let fields: Vec<(Vec<u8>, Vec<u8>)> = fields
            .into_iter()
            .map(|(n, v)| (n.into_bytes(), v.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()))
            .collect();
        let borrowed: Vec<(&[u8], &[u8])> =
            fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let limits = if tight {
            Limits {
                max_request_line_bytes: limits.0,
                max_header_count: limits.1,
                max_header_bytes: limits.2,
                max_head_bytes: limits.3,
                ..Limits::default()
            }
        } else {
            Limits::default()
        };
        let p = pseudo(&method, Some(&path), authority.as_deref());
        let direct = request_head(&p, borrowed.iter().copied(), end, &limits);
        let text = head_via_text(&p, &borrowed, end, &limits);
        prop_assert_eq!(direct, text);
    }
}
