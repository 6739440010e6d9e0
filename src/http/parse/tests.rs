use super::*;

/// A head with `Host: h` added when `host` and the blank line at the end.
fn head(request_line: &str, fields: &[&str]) -> Vec<u8> {
    let mut out = format!("{request_line}\r\n").into_bytes();
    for field in fields {
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Option<RequestHead>, HttpError> {
    request_head(&mut BytesMut::from(bytes), limits)
}

fn parse(bytes: &[u8]) -> Result<Option<RequestHead>, HttpError> {
    parse_with(bytes, &Limits::default())
}

fn parsed(bytes: &[u8]) -> RequestHead {
    match parse(bytes) {
        Ok(Some(head)) => head,
        other => panic!("{:?} → {other:?}", String::from_utf8_lossy(bytes)),
    }
}

fn error_of(bytes: &[u8], limits: &Limits) -> HttpError {
    match parse_with(bytes, limits) {
        Err(error) => error,
        other => panic!("{:?} → {other:?}", String::from_utf8_lossy(bytes)),
    }
}

/// Every prefix of `bytes` must answer "need more" or the whole input's error: the rule
/// that is reported never depends on how the bytes were split across reads.
fn assert_same_outcome_for_every_prefix(bytes: &[u8], limits: &Limits) {
    let whole = parse_with(bytes, limits).map(|head| head.is_some());
    for cut in 0..bytes.len() {
        match parse_with(&bytes[..cut], limits) {
            Ok(None) => {}
            Ok(Some(_)) => panic!(
                "prefix {cut} of {:?} completed",
                String::from_utf8_lossy(bytes)
            ),
            Err(error) => assert_eq!(
                Err(error),
                whole,
                "prefix {cut} of {:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }
}

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    f(&mut limits);
    limits
}

#[test]
fn parses_a_minimal_get_and_splits_the_head_off_the_buffer() {
    let mut buf = BytesMut::from(&b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\nNEXT"[..]);
    let head = request_head(&mut buf, &Limits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(head.method(), "GET");
    assert_eq!(head.target(), b"/a?b=c");
    assert_eq!(head.path(), b"/a");
    assert_eq!(head.query(), b"b=c");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.header("host"), Some(&b"example.com"[..]));
    assert_eq!(head.framing, BodyFraming::Empty);
    assert!(head.keep_alive);
    assert!(!head.expects_continue);
    assert_eq!(
        &head.raw[..],
        b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n"
    );
    assert_eq!(&buf[..], b"NEXT");
}

#[test]
fn accepts_every_request_target_form_with_its_method() {
    let cases: &[(&str, &str, &str)] = &[
        ("GET / HTTP/1.1", "GET", "/"),
        ("POST /a/b?c=d&e HTTP/1.1", "POST", "/a/b?c=d&e"),
        ("GET /%7Euser/a%20b HTTP/1.1", "GET", "/%7Euser/a%20b"),
        ("GET //double//slash HTTP/1.1", "GET", "//double//slash"),
        ("GET /?q=a|b{c}\"d\" HTTP/1.1", "GET", "/?q=a|b{c}\"d\""),
        ("OPTIONS * HTTP/1.1", "OPTIONS", "*"),
        ("OPTIONS /x HTTP/1.1", "OPTIONS", "/x"),
        (
            "CONNECT example.com:443 HTTP/1.1",
            "CONNECT",
            "example.com:443",
        ),
        ("CONNECT [::1]:8080 HTTP/1.1", "CONNECT", "[::1]:8080"),
        ("CONNECT 10.0.0.1:80 HTTP/1.1", "CONNECT", "10.0.0.1:80"),
        (
            "GET http://example.com/p?q HTTP/1.1",
            "GET",
            "http://example.com/p?q",
        ),
        (
            "GET HTTPS://example.com HTTP/1.1",
            "GET",
            "HTTPS://example.com",
        ),
        ("PROPFIND /dav HTTP/1.1", "PROPFIND", "/dav"),
        ("M-SEARCH /upnp HTTP/1.1", "M-SEARCH", "/upnp"),
        ("VERSION-CONTROL /x HTTP/1.1", "VERSION-CONTROL", "/x"),
        ("X /x HTTP/1.1", "X", "/x"),
        ("A1_.!$%&'*+^`|~ / HTTP/1.1", "A1_.!$%&'*+^`|~", "/"),
    ];
    for &(line, method, target) in cases {
        let head = parsed(&head(line, &["Host: h"]));
        assert_eq!(
            (head.method(), head.target()),
            (method, target.as_bytes()),
            "{line}"
        );
    }
}

#[test]
fn accepts_http_1_0_without_host() {
    let head = parsed(&head("GET / HTTP/1.0", &[]));
    assert_eq!(head.version, Version::Http10);
    assert!(!head.keep_alive);
}

#[test]
fn accepts_method_of_exactly_max_method_bytes_and_rejects_one_more() {
    let at = "A".repeat(MAX_METHOD_BYTES);
    assert!(parse(&head(&format!("{at} / HTTP/1.1"), &["Host: h"])).is_ok());
    let over = "A".repeat(MAX_METHOD_BYTES + 1);
    assert_eq!(
        error_of(
            &head(&format!("{over} / HTTP/1.1"), &["Host: h"]),
            &Limits::default()
        ),
        HttpError::InvalidMethod
    );
}

#[test]
fn rejects_request_lines_by_rule() {
    use HttpError::*;
    let cases: &[(&[u8], HttpError)] = &[
        (b"get / HTTP/1.1", InvalidMethod),
        (b"Get / HTTP/1.1", InvalidMethod),
        (b"-bl / HTTP/1.1", InvalidMethod),
        (b"GET: / HTTP/1.1", InvalidMethod),
        (b"bla:rgh / HTTP/1.1", InvalidMethod),
        (b"GET\x00 / HTTP/1.1", InvalidMethod),
        (b"G#T / HTTP/1.1", InvalidMethod),
        (b"G\"T / HTTP/1.1", InvalidMethod),
        (b"GE\xc3\x9f / HTTP/1.1", InvalidMethod),
        (b"GET  / HTTP/1.1", MalformedRequestLine),
        (b"GET /  HTTP/1.1", MalformedRequestLine),
        (b"GET / HTTP/1.1 ", MalformedRequestLine),
        (b" GET / HTTP/1.1", MalformedRequestLine),
        (b"GET\t/ HTTP/1.1", MalformedRequestLine),
        (b"GET /\tHTTP/1.1", MalformedRequestLine),
        (b"GET /a\tb HTTP/1.1", MalformedRequestLine),
        (b"GET / HTTP/1.1 extra", MalformedRequestLine),
        (b"GET /", MalformedRequestLine),
        (b"GET", MalformedRequestLine),
        (b"GET / ", MalformedRequestLine),
        (b"GET / HTTP/2.0", UnsupportedVersion),
        (b"GET / HTTP/3.0", UnsupportedVersion),
        (b"GET / HTTP/0.9", UnsupportedVersion),
        (b"GET / HTTP/1.2", UnsupportedVersion),
        (b"PRI * HTTP/2.0", UnsupportedVersion),
        (b"GET / HTTP/1.1.1", InvalidVersion),
        (b"GET / HTTP/111", InvalidVersion),
        (b"GET / HTTP/0.99", InvalidVersion),
        (b"GET / HTTP/2", InvalidVersion),
        (b"GET / FTP/1.1", InvalidVersion),
        (b"GET / http/1.1", InvalidVersion),
        (b"GET / HTTP/1.\x00", InvalidVersion),
        (b"GET foo HTTP/1.1", InvalidTarget),
        (b"GET foo/bar HTTP/1.1", InvalidTarget),
        (b"GET ?a HTTP/1.1", InvalidTarget),
        (b"GET * HTTP/1.1", InvalidTarget),
        (b"GET example.com:443 HTTP/1.1", InvalidTarget),
        (b"CONNECT / HTTP/1.1", InvalidTarget),
        (b"CONNECT http://example.com/ HTTP/1.1", InvalidTarget),
        (b"CONNECT example.com HTTP/1.1", InvalidTarget),
        (b"CONNECT example.com: HTTP/1.1", InvalidTarget),
        (b"CONNECT user@example.com:443 HTTP/1.1", InvalidTarget),
        (b"CONNECT :443 HTTP/1.1", InvalidTarget),
        (b"OPTIONS ** HTTP/1.1", InvalidTarget),
        (b"GET ftp://example.com/ HTTP/1.1", InvalidTarget),
        (b"GET http:/x HTTP/1.1", InvalidTarget),
        (b"GET http:///x HTTP/1.1", InvalidTarget),
        (b"GET /a#frag HTTP/1.1", InvalidTarget),
        (b"GET /a\x00b HTTP/1.1", InvalidTarget),
        (b"GET /a\x7fb HTTP/1.1", InvalidTarget),
        (b"GET /caf\xc3\xa9 HTTP/1.1", InvalidTarget),
        (b"GET /\x1b HTTP/1.1", InvalidTarget),
    ];
    for (line, expected) in cases {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\nHost: h\r\n\r\n");
        assert_eq!(
            &error_of(&bytes, &Limits::default()),
            expected,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_same_outcome_for_every_prefix(&bytes, &Limits::default());
    }
}

#[test]
fn rejects_header_sections_by_rule() {
    use HttpError::*;
    let cases: &[(&[u8], HttpError)] = &[
        (b"Host: h\r\n: empty-name\r\n", InvalidHeaderName),
        (b"Host: h\r\nNoColon\r\n", InvalidHeaderName),
        (b"Host: h\r\nContent-Length\x85: 1\r\n", InvalidHeaderName),
        (b"Host: h\r\nContent-Length\xa0: 1\r\n", InvalidHeaderName),
        (b"Host: h\r\nX\xdf: 1\r\n", InvalidHeaderName),
        (b"Host: h\r\nX(y): 1\r\n", InvalidHeaderName),
        (b"Host: h\r\nContent-Length : 0\r\n", WhitespaceBeforeColon),
        (b"Host: h\r\nX\t: 1\r\n", WhitespaceBeforeColon),
        (b" Host: h\r\n", ObsoleteLineFolding),
        (b"\tHost: h\r\n", ObsoleteLineFolding),
        (b"Host: h\r\nX: a\r\n  continued\r\n", ObsoleteLineFolding),
        (b"Host: h\r\nX: a\x00b\r\n", InvalidHeaderValue),
        (b"Host: h\r\nX: a\x7f\r\n", InvalidHeaderValue),
        (b"Host: h\r\nX: a\x01\r\n", InvalidHeaderValue),
        (
            b"Host: h\r\nTransfer-Encoding: \x0bchunked\r\n",
            InvalidHeaderValue,
        ),
        (b"Host: h\r\nX: a\rb\r\n", BareLineEnding),
        (b"Host: h\r\nX: a\nContent-Length: 0\r\n", BareLineEnding),
        (b"Host: h\nX: a\r\n", BareLineEnding),
        (b"Host: h\r\n\n", BareLineEnding),
        (b"Host: h\r\n\rX", BareLineEnding),
        (b"Host: h\r\nUseless:\n\n", BareLineEnding),
        (b"", MissingHost),
        (b"Host: a\r\nHost: b\r\n", DuplicateHost),
        (b"Host: a\r\nhost: a\r\n", DuplicateHost),
        (
            b"Host: h\r\nContent-Type: a\r\nContent-Type: b\r\n",
            DuplicateContentType,
        ),
    ];
    for (fields, expected) in cases {
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        bytes.extend_from_slice(fields);
        if !fields.ends_with(b"\n\n") && !fields.ends_with(b"X") {
            bytes.extend_from_slice(b"\r\n");
        }
        assert_eq!(
            &error_of(&bytes, &Limits::default()),
            expected,
            "{:?}",
            String::from_utf8_lossy(fields)
        );
        assert_same_outcome_for_every_prefix(&bytes, &Limits::default());
    }
}

#[test]
fn rejects_bare_line_endings_in_the_request_line() {
    for bytes in [
        &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\rHost: h\r\n\r\n",
        b"GET /\n HTTP/1.1\r\n",
    ] {
        assert_eq!(
            error_of(bytes, &Limits::default()),
            HttpError::BareLineEnding
        );
        assert_same_outcome_for_every_prefix(bytes, &Limits::default());
    }
}

#[test]
fn trims_optional_whitespace_from_values_and_keeps_obs_text() {
    let head = parsed(&head(
        "GET / HTTP/1.1",
        &[
            "Host:h",
            "X-A: \t spaced \t ",
            "X-Empty:",
            "X-Blank:   ",
            "X-Latin: caf\u{e9}",
        ],
    ));
    let pairs: Vec<(&[u8], &[u8])> = head.header_pairs().collect();
    assert_eq!(
        pairs,
        vec![
            (&b"Host"[..], &b"h"[..]),
            (b"X-A", b"spaced"),
            (b"X-Empty", b""),
            (b"X-Blank", b""),
            (b"X-Latin", "caf\u{e9}".as_bytes()),
        ]
    );
    let raw = parsed(b"GET / HTTP/1.1\r\nHost: h\r\nX: \x80\xff obs\r\n\r\n");
    assert_eq!(raw.header("x"), Some(&b"\x80\xff obs"[..]));
}

#[test]
fn keeps_underscores_and_client_case_in_header_names() {
    let head = parsed(&head(
        "GET / HTTP/1.1",
        &["host: h", "X_Forwarded_For: 1.2.3.4"],
    ));
    let names: Vec<&[u8]> = head.header_pairs().map(|(n, _)| n).collect();
    assert_eq!(names, vec![&b"host"[..], b"X_Forwarded_For"]);
}

#[test]
fn returns_none_until_the_blank_line_arrives() {
    let bytes = head("POST /x HTTP/1.1", &["Host: h", "Content-Length: 3"]);
    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert_eq!(
            request_head(&mut buf, &Limits::default()).map(|h| h.is_some()),
            Ok(false),
            "cut {cut}"
        );
        assert_eq!(&buf[..], &bytes[..cut], "nothing consumed at cut {cut}");
    }
    assert!(parse(&bytes).expect("valid").is_some());
}

#[test]
fn consumes_leading_empty_lines_but_not_bare_ones() {
    let mut buf = BytesMut::from(&b"\r\n\r\n\r"[..]);
    assert_eq!(request_head(&mut buf, &Limits::default()), Ok(None));
    assert_eq!(&buf[..], b"\r");
    buf.extend_from_slice(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let head = request_head(&mut buf, &Limits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(&head.raw[..4], b"GET ");
    assert!(buf.is_empty());

    for bytes in [
        &b"\nGET / HTTP/1.1\r\n"[..],
        b"\r\n\nGET",
        b"\r\r\n",
        b"\rG",
    ] {
        assert_eq!(
            error_of(bytes, &Limits::default()),
            HttpError::BareLineEnding
        );
    }
}

#[test]
fn leaves_pipelined_requests_in_the_buffer() {
    let first = head("GET /1 HTTP/1.1", &["Host: h"]);
    let second = head("GET /2 HTTP/1.1", &["Host: h"]);
    let mut buf = BytesMut::from(&[first.clone(), second.clone()].concat()[..]);
    let one = request_head(&mut buf, &Limits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(one.target(), b"/1");
    assert_eq!(&buf[..], &second[..]);
    let two = request_head(&mut buf, &Limits::default())
        .expect("valid")
        .expect("complete");
    assert_eq!(two.target(), b"/2");
    assert!(buf.is_empty());
}

#[test]
#[allow(clippy::too_many_lines)] // one table, one row per rule
fn decides_framing_by_rfc_9112_section_6_3() {
    use BodyFraming::*;
    use HttpError::*;
    let cases: &[(&[&str], Result<BodyFraming, HttpError>)] = &[
        (&[], Ok(Empty)),
        (&["Content-Length: 0"], Ok(Length(0))),
        (&["Content-Length: 42"], Ok(Length(42))),
        (&["Content-Length: 007"], Ok(Length(7))),
        (&["content-length:  5 "], Ok(Length(5))),
        (
            &["Content-Length: 18446744073709551615"],
            Ok(Length(u64::MAX)),
        ),
        (
            &["Content-Length: 18446744073709551616"],
            Err(InvalidContentLength),
        ),
        (
            &["Content-Length: 99999999999999999999999"],
            Err(InvalidContentLength),
        ),
        (&["Content-Length: +1"], Err(InvalidContentLength)),
        (&["Content-Length: -0"], Err(InvalidContentLength)),
        (&["Content-Length: 0_1"], Err(InvalidContentLength)),
        (&["Content-Length: 0x1"], Err(InvalidContentLength)),
        (&["Content-Length: 1 2"], Err(InvalidContentLength)),
        (&["Content-Length: 1.0"], Err(InvalidContentLength)),
        (&["Content-Length:"], Err(InvalidContentLength)),
        (&["Content-Length: \u{663}"], Err(InvalidContentLength)),
        (&["Content-Length: 5, 5"], Err(ConflictingContentLength)),
        (&["Content-Length: 5,6"], Err(ConflictingContentLength)),
        (
            &["Content-Length: 5", "Content-Length: 5"],
            Err(ConflictingContentLength),
        ),
        (
            &["Content-Length: 5", "Content-Length: 6"],
            Err(ConflictingContentLength),
        ),
        (
            &["Content-Length: 5", "Content-Length: x"],
            Err(ConflictingContentLength),
        ),
        (&["Transfer-Encoding: chunked"], Ok(Chunked)),
        (&["Transfer-Encoding: CHUNKED"], Ok(Chunked)),
        (&["Transfer-Encoding:  chunked\t"], Ok(Chunked)),
        (
            &["Transfer-Encoding: chunked", "Content-Length: 5"],
            Err(ContentLengthWithTransferEncoding),
        ),
        (
            &["Content-Length: 5", "Transfer-Encoding: chunked"],
            Err(ContentLengthWithTransferEncoding),
        ),
        (
            &["Content-Length: 5", "Transfer-Encoding: gzip"],
            Err(ContentLengthWithTransferEncoding),
        ),
        (
            &["Transfer-Encoding: chunked, chunked"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: chunked, gzip"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: chunked", "Transfer-Encoding: identity"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: ,chunked"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: chunked,"],
            Err(InvalidTransferEncoding),
        ),
        (&["Transfer-Encoding:"], Err(InvalidTransferEncoding)),
        (
            &["Transfer-Encoding: chunked;a=b"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: chu nked"],
            Err(InvalidTransferEncoding),
        ),
        (
            &["Transfer-Encoding: \"chunked\""],
            Err(InvalidTransferEncoding),
        ),
        (&["Transfer-Encoding: gzip;q"], Err(InvalidTransferEncoding)),
        (
            &["Transfer-Encoding: gzip"],
            Err(UnsupportedTransferEncoding),
        ),
        (
            &["Transfer-Encoding: identity"],
            Err(UnsupportedTransferEncoding),
        ),
        (
            &["Transfer-Encoding: x-foo"],
            Err(UnsupportedTransferEncoding),
        ),
        (
            &["Transfer-Encoding: gzip, chunked"],
            Err(UnsupportedTransferEncoding),
        ),
        (
            &["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
            Err(UnsupportedTransferEncoding),
        ),
        (
            &["Transfer-Encoding: gzip;level=9 ; x=\"a b\", chunked"],
            Err(UnsupportedTransferEncoding),
        ),
    ];
    for (fields, expected) in cases {
        let mut all = vec!["Host: h"];
        all.extend_from_slice(fields);
        let got = parse(&head("POST / HTTP/1.1", &all)).map(|h| h.expect("complete").framing);
        assert_eq!(&got, expected, "{fields:?}");
    }
}

#[test]
fn rejects_transfer_encoding_on_http_1_0() {
    let bytes = head("POST / HTTP/1.0", &["Transfer-Encoding: chunked"]);
    assert_eq!(
        error_of(&bytes, &Limits::default()),
        HttpError::InvalidTransferEncoding
    );
}

#[test]
fn decides_keep_alive_by_version_and_connection_options() {
    let cases: &[(&str, &[&str], bool)] = &[
        ("HTTP/1.1", &[], true),
        ("HTTP/1.1", &["Connection: close"], false),
        ("HTTP/1.1", &["Connection: CLOSE"], false),
        ("HTTP/1.1", &["Connection: keep-alive, close"], false),
        (
            "HTTP/1.1",
            &["Connection: upgrade", "Connection: Close"],
            false,
        ),
        ("HTTP/1.1", &["Connection: keep-alive"], true),
        ("HTTP/1.1", &["Connection: closed"], true),
        ("HTTP/1.0", &[], false),
        ("HTTP/1.0", &["Connection: keep-alive"], true),
        ("HTTP/1.0", &["Connection: Keep-Alive"], true),
        ("HTTP/1.0", &["Connection: foo , keep-alive"], true),
        (
            "HTTP/1.0",
            &["Connection: keep-alive", "Connection: close"],
            false,
        ),
        ("HTTP/1.0", &["Connection: keep-alives"], false),
    ];
    for &(version, fields, expected) in cases {
        let mut all = vec!["Host: h"];
        all.extend_from_slice(fields);
        let head = parsed(&head(&format!("GET / {version}"), &all));
        assert_eq!(head.keep_alive, expected, "{version} {fields:?}");
    }
}

#[test]
fn expects_continue_only_for_http_1_1_and_exactly_100_continue() {
    let cases: &[(&str, &str, bool)] = &[
        ("HTTP/1.1", "Expect: 100-continue", true),
        ("HTTP/1.1", "Expect: 100-Continue", true),
        ("HTTP/1.1", "Expect:  100-continue ", true),
        ("HTTP/1.1", "Expect: 200-ok", false),
        ("HTTP/1.1", "Expect: 100-continue, foo", false),
        ("HTTP/1.0", "Expect: 100-continue", false),
        ("HTTP/1.1", "X-Expect: 100-continue", false),
    ];
    for &(version, field, expected) in cases {
        let head = parsed(&head(
            &format!("POST / {version}"),
            &["Host: h", "Content-Length: 1", field],
        ));
        assert_eq!(head.expects_continue, expected, "{version} {field}");
    }
}

#[test]
fn reports_the_first_broken_rule_in_byte_order() {
    // A bad method comes before a bad header; a bare LF comes before a missing Host.
    let cases: &[(&[u8], HttpError)] = &[
        (
            b"get / HTTP/1.1\r\nX: \x00\r\n\r\n",
            HttpError::InvalidMethod,
        ),
        (
            b"GET / HTTP/1.1\r\nX: a\nHost: a\r\nHost: b\r\n\r\n",
            HttpError::BareLineEnding,
        ),
        (
            b"GET / HTTP/1.1\r\nX : a\r\n\x85: b\r\n\r\n",
            HttpError::WhitespaceBeforeColon,
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(&error_of(bytes, &Limits::default()), expected);
        assert_same_outcome_for_every_prefix(bytes, &Limits::default());
    }
}

/// Feeds `bytes` one byte per read, as `conn` reads a trickled head: after each byte,
/// `request_head` runs always (`gated` false) or only when `HeadProgress` asks for it.
/// Returns the first answer other than `Ok(None)` (or the last `Ok(None)`) and how many
/// times `request_head` ran.
fn feed_byte_by_byte(
    bytes: &[u8],
    limits: &Limits,
    gated: bool,
) -> (Result<Option<RequestHead>, HttpError>, usize) {
    let mut buf = BytesMut::new();
    let mut progress = HeadProgress::default();
    let mut calls = 0;
    for &b in bytes {
        buf.extend_from_slice(&[b]);
        if gated && !progress.needs_rescan(&buf, limits) {
            continue;
        }
        calls += 1;
        match request_head(&mut buf, limits) {
            Ok(None) => progress.on_incomplete(&buf),
            answer => return (answer, calls),
        }
    }
    (Ok(None), calls)
}

#[test]
fn skips_only_rescans_that_cannot_change_the_answer() {
    let small = limits(|l| {
        l.max_request_line_bytes = 24;
        l.max_header_bytes = 12;
        l.max_head_bytes = 64;
        l.max_header_count = 3;
    });
    let long_line = format!("GET /{} HTTP/1.1", "a".repeat(20));
    let cases: Vec<(Vec<u8>, &Limits)> = vec![
        (head("GET / HTTP/1.1", &["Host: h"]), &small),
        (
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            &small,
        ),
        (b"\r\rGET / HTTP/1.1\r\n".to_vec(), &small),
        (b"GET / HTTP/1.1\rX".to_vec(), &small),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n".to_vec(),
            &small,
        ),
        (b"GET / HTTP/1.1\r\nHost: h\nX".to_vec(), &small),
        (head(&long_line, &["Host: h"]), &small),
        (head("GET / HTTP/1.1", &["Host: h", "X: 123456789"]), &small),
        (
            head("GET / HTTP/1.1", &["Host: h", "X: 1234567890"]),
            &small,
        ),
        (
            head("GET / HTTP/1.1", &["Host: h", "A: 1", "B: 2", "C: 3"]),
            &small,
        ),
        (
            head(
                "GET / HTTP/1.1",
                &["Host: h", "A: 12345", "B: 12345", "C: 1234"],
            ),
            &small,
        ),
        (
            head(
                "GET / HTTP/1.1",
                &["Host: h", "A: 123456", "B: 123456", "C: 12345"],
            ),
            &small,
        ),
        (head("GET / HTTP/1.1", &["Host: h", " folded"]), &small),
        (head("get / HTTP/1.1", &["Host: h"]), &small),
        (head("GET / HTTP/1.1", &["Host: a", "Host: b"]), &small),
        (head("GET / HTTP/1.1", &["Host: a b"]), &small),
        (
            head("GET / HTTP/1.1", &["Host: h", "X-Long-Name-Over-Limit"]),
            &small,
        ),
    ];
    for (bytes, limits) in cases {
        let every = feed_byte_by_byte(&bytes, limits, false);
        let gated = feed_byte_by_byte(&bytes, limits, true);
        assert_eq!(gated.0, every.0, "{:?}", String::from_utf8_lossy(&bytes));
        assert!(gated.1 <= every.1);
    }
}

#[test]
fn scans_a_60_kib_head_fed_byte_by_byte_once_per_line_ending() {
    // Seven fields of 8 000 bytes and a few small ones: 56 KiB-plus of head, every line
    // within the default limits.
    let big = format!("X-Big: {}", "v".repeat(8000 - 7));
    let mut fields = vec!["Host: h"];
    fields.extend(std::iter::repeat_n(big.as_str(), 7));
    let filler = format!("X-Pad: {}", "p".repeat(5500));
    fields.push(&filler);
    let bytes = head("GET / HTTP/1.1", &fields);
    assert!(
        bytes.len() > 60 * 1024 && bytes.len() < 64 * 1024,
        "{}",
        bytes.len()
    );
    let started = std::time::Instant::now();
    let (answer, calls) = feed_byte_by_byte(&bytes, &Limits::default(), true);
    let elapsed = started.elapsed();
    assert!(matches!(answer, Ok(Some(_))), "{answer:?}");
    // One call per CR and one per LF: 2 per line, 11 lines.
    assert!(calls <= 2 * 11, "{calls} scans");
    // Parsing after every byte would scan ~2 GB here; the gated feed scans ~1 MB. Debug
    // builds do that well within this bound on a busy machine.
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}

mod host;
mod limits;
