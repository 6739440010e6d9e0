use super::*;

fn parts<'a>(status_line: &'a [u8], header_block: &'a [u8]) -> ResponseParts<'a> {
    ResponseParts {
        status_line,
        header_block,
        has_date: false,
        has_server: false,
    }
}

/// The head with its `Date` value replaced by `<date>`, after checking it is an IMF-fixdate.
fn without_date(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("heads are ASCII");
    let Some(start) = text.find("Date: ") else {
        return text;
    };
    let value = &text[start + 6..start + 6 + IMF_FIXDATE_LEN];
    assert!(
        httpdate::parse_http_date(value).is_ok(),
        "{value:?} is an IMF-fixdate"
    );
    assert!(value.ends_with(" GMT"));
    format!(
        "{}<date>{}",
        &text[..start + 6],
        &text[start + 6 + IMF_FIXDATE_LEN..]
    )
}

#[test]
fn frames_responses_without_content_as_no_body() {
    use ResponseFraming::*;
    let cases = [
        (true, Version::Http11, 200, Some(5), NoBody),
        (true, Version::Http10, 200, None, NoBody),
        (false, Version::Http11, 100, None, NoBody),
        (false, Version::Http11, 101, None, NoBody),
        (false, Version::Http11, 199, None, NoBody),
        (false, Version::Http11, 204, Some(0), NoBody),
        (false, Version::Http11, 304, Some(10), NoBody),
        (false, Version::Http11, 200, Some(5), Length(5)),
        (false, Version::Http10, 200, Some(0), Length(0)),
        (false, Version::Http11, 200, None, Chunked),
        (false, Version::Http11, 500, None, Chunked),
        (false, Version::Http10, 200, None, CloseDelimited),
        (false, Version::Http11, 205, None, Chunked),
    ];
    for (is_head, version, status, length, expected) in cases {
        assert_eq!(
            response_framing(is_head, version, status, length),
            expected,
            "{is_head} {version:?} {status} {length:?}"
        );
    }
}

#[test]
fn writes_a_head_with_server_date_framing_and_connection() {
    let cases: &[(ResponseFraming, bool, ConnectionHeader, &str)] = &[
        (
            ResponseFraming::Length(12),
            true,
            ConnectionHeader::Omit,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nServer: ferrule\r\nDate: <date>\r\nContent-Length: 12\r\n\r\n",
        ),
        (
            ResponseFraming::Length(12),
            false,
            ConnectionHeader::Close,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nServer: ferrule\r\nDate: <date>\r\nConnection: close\r\n\r\n",
        ),
        (
            ResponseFraming::Chunked,
            true,
            ConnectionHeader::Omit,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nServer: ferrule\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        (
            ResponseFraming::CloseDelimited,
            true,
            ConnectionHeader::Close,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nServer: ferrule\r\nDate: <date>\r\nConnection: close\r\n\r\n",
        ),
        (
            ResponseFraming::NoBody,
            true,
            ConnectionHeader::KeepAlive,
            "HTTP/1.1 200 OK\r\nX-A: b\r\nServer: ferrule\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n",
        ),
    ];
    for &(framing, add_length, connection, expected) in cases {
        let mut dst = BytesMut::new();
        response_head(
            &mut dst,
            &parts(b"200 OK", b"X-A: b\r\n"),
            framing,
            add_length,
            connection,
        );
        assert_eq!(without_date(&dst), expected, "{framing:?} {connection:?}");
    }
}

#[test]
fn leaves_server_and_date_to_the_app_when_it_set_them() {
    let mut dst = BytesMut::from(&b"previous"[..]);
    let parts = ResponseParts {
        status_line: b"404 Not Found",
        header_block: b"Server: app\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
        has_date: true,
        has_server: true,
    };
    response_head(
        &mut dst,
        &parts,
        ResponseFraming::Length(0),
        true,
        ConnectionHeader::Omit,
    );
    assert_eq!(
        &dst[..],
        b"previousHTTP/1.1 404 Not Found\r\nServer: app\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn writes_chunk_sizes_in_lowercase_hex() {
    let cases = [
        (1, "1\r\n"),
        (10, "a\r\n"),
        (15, "f\r\n"),
        (16, "10\r\n"),
        (255, "ff\r\n"),
        (4096, "1000\r\n"),
        (0xdead_beef, "deadbeef\r\n"),
        (usize::MAX, "ffffffffffffffff\r\n"),
    ];
    for (len, expected) in cases {
        let mut dst = BytesMut::new();
        chunk_head(&mut dst, len);
        assert_eq!(&dst[..], expected.as_bytes(), "{len}");
    }
}

#[test]
fn writes_simple_responses_with_length_and_optional_close() {
    let mut dst = BytesMut::new();
    simple_response(
        &mut dst,
        400,
        "Bad Request",
        b"bad request\n",
        true,
        ConnectionHeader::Close,
    );
    assert_eq!(
        without_date(&dst),
        "HTTP/1.1 400 Bad Request\r\nServer: ferrule\r\nDate: <date>\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\
         Connection: close\r\n\r\nbad request\n"
    );
    let mut dst = BytesMut::new();
    simple_response(
        &mut dst,
        500,
        "Internal Server Error",
        b"",
        true,
        ConnectionHeader::Omit,
    );
    assert_eq!(
        without_date(&dst),
        "HTTP/1.1 500 Internal Server Error\r\nServer: ferrule\r\nDate: <date>\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n"
    );
    // For a HEAD request: the same head, no body.
    let mut dst = BytesMut::new();
    simple_response(
        &mut dst,
        503,
        "Service Unavailable",
        b"gone\n",
        false,
        ConnectionHeader::KeepAlive,
    );
    assert_eq!(
        without_date(&dst),
        "HTTP/1.1 503 Service Unavailable\r\nServer: ferrule\r\nDate: <date>\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\
         Connection: keep-alive\r\n\r\n"
    );
}

#[test]
fn formats_dates_as_imf_fixdate_and_caches_them_per_second() {
    assert_eq!(&format_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(&format_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
    let mut first = BytesMut::new();
    write_date_field(&mut first);
    let cached = CACHED_DATE.with(Cell::get);
    assert_ne!(cached.0, u64::MAX, "the first call fills the cache");
    assert_eq!(&first[6..6 + IMF_FIXDATE_LEN], &format_date(cached.0));
}

#[test]
fn writes_decimals_without_allocating() {
    for n in [0, 7, 10, 99, 100, 12345, u64::MAX] {
        let mut dst = BytesMut::new();
        write_decimal(&mut dst, n);
        assert_eq!(&dst[..], n.to_string().as_bytes());
    }
}
