use proptest::prelude::*;

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
}
