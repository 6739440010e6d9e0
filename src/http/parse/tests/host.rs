//! `Host` values judged through the whole head parser: the grammar's table, and where the
//! check sits among the head's other rules.

use super::*;

#[test]
fn judges_host_values_by_the_uri_host_and_port_grammar() {
    use HttpError::*;
    let cases: &[(&[u8], Result<(), HttpError>)] = &[
        (b"example.com", Ok(())),
        (b"EXAMPLE.com.", Ok(())),
        (b"h", Ok(())),
        (b"example.com:8080", Ok(())),
        (b"example.com:65535", Ok(())),
        (b"example.com:0", Ok(())),
        (b"example.com:080", Ok(())),
        (b"127.0.0.1:80", Ok(())),
        // Not an IPv4address, but a well-formed reg-name (RFC 3986 §3.2.2).
        (b"256.0.0.1", Ok(())),
        (b"[::1]", Ok(())),
        (b"[::1]:8000", Ok(())),
        (b"[2001:DB8::a:b]", Ok(())),
        (b"[::ffff:192.0.2.1]:443", Ok(())),
        (b"[1:2:3:4:5:6:7:8]", Ok(())),
        (b"[v1.fe]", Ok(())),
        (b"[V1a.b:c~!]:1", Ok(())),
        (b"a%20b", Ok(())),
        (b"%41%7e", Ok(())),
        (b"xn--bcher-kva.example", Ok(())),
        (b"a_b~c-d", Ok(())),
        (b"a,b;c=d!$&'()*+", Ok(())),
        (b"", Ok(())),
        (b"localhost:", Ok(())),
        (b"[::1]:", Ok(())),
        (b"a b", Err(InvalidHost)),
        (b"a/b", Err(InvalidHost)),
        (b"exa mple.com", Err(InvalidHost)),
        (b"example.com/", Err(InvalidHost)),
        (b"example.com?q", Err(InvalidHost)),
        (b"example.com#f", Err(InvalidHost)),
        (b"a\"b", Err(InvalidHost)),
        (b"a\tb", Err(InvalidHost)),
        (b"@", Err(InvalidHost)),
        (b"user@example.com", Err(InvalidHost)),
        (b"a%zz", Err(InvalidHost)),
        (b"a%2", Err(InvalidHost)),
        (b"%", Err(InvalidHost)),
        (b"b\xc3\xbccher.example", Err(InvalidHost)),
        (b"\x80", Err(InvalidHost)),
        (b"host:port", Err(InvalidHost)),
        (b"host:80x", Err(InvalidHost)),
        (b"host:+80", Err(InvalidHost)),
        (b"host:-1", Err(InvalidHost)),
        (b"host: 80", Err(InvalidHost)),
        (b"a:1:2", Err(InvalidHost)),
        (b"example.com:65536", Err(InvalidHost)),
        (b"example.com:99999999999999999999", Err(InvalidHost)),
        (b":80", Err(InvalidHost)),
        (b":", Err(InvalidHost)),
        (b"[::1", Err(InvalidHost)),
        (b"[::1]x", Err(InvalidHost)),
        (b"[::1]]", Err(InvalidHost)),
        (b"[::1]:80:81", Err(InvalidHost)),
        (b"::1", Err(InvalidHost)),
        (b"[]", Err(InvalidHost)),
        (b"[:::1]", Err(InvalidHost)),
        (b"[1:2:3:4:5:6:7:8:9]", Err(InvalidHost)),
        (b"[12345::1]", Err(InvalidHost)),
        (b"[1.2.3.4]", Err(InvalidHost)),
        (b"[example.com]", Err(InvalidHost)),
        (b"[fe80::1%25eth0]", Err(InvalidHost)),
        (b"[[::1]]", Err(InvalidHost)),
        (b"[v1.]", Err(InvalidHost)),
        (b"[v.fe]", Err(InvalidHost)),
        (b"[v1fe]", Err(InvalidHost)),
        (b"[v1.a/b]", Err(InvalidHost)),
        (b"x[::1]", Err(InvalidHost)),
        // Control bytes break the field-value rule first (RFC 9110 §5.5): also a 400.
        (b"a\x00b", Err(InvalidHeaderValue)),
        (b"a\x01b", Err(InvalidHeaderValue)),
        (b"a\x7f", Err(InvalidHeaderValue)),
        (b"a\x0bb", Err(InvalidHeaderValue)),
    ];
    for (value, expected) in cases {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n\r\n");
        let got = parse(&bytes).map(|head| {
            let head = head.expect("complete");
            assert_eq!(head.header("host"), Some(&value[..]));
        });
        assert_eq!(&got, expected, "{:?}", String::from_utf8_lossy(value));
        assert_same_outcome_for_every_prefix(&bytes, &Limits::default());
    }
}

#[test]
fn judges_the_host_value_after_the_host_count_for_every_version_and_target_form() {
    use HttpError::*;
    type Case = (
        &'static str,
        &'static [&'static [u8]],
        Result<(), HttpError>,
    );
    let cases: &[Case] = &[
        // Two Host fields stay DuplicateHost, whichever of them is malformed.
        (
            "GET / HTTP/1.1",
            &[b"Host: a b", b"Host: h"],
            Err(DuplicateHost),
        ),
        (
            "GET / HTTP/1.1",
            &[b"Host: h", b"Host: a b"],
            Err(DuplicateHost),
        ),
        // RFC 9112 §3.2: "any request message", so HTTP/1.0 too.
        ("GET / HTTP/1.0", &[b"Host: a b"], Err(InvalidHost)),
        ("GET / HTTP/1.0", &[b"Host: h:80"], Ok(())),
        // §3.2.2: the authority of an absolute-form target wins over Host, which is
        // still checked for syntax but not compared with it.
        (
            "GET http://example.com/ HTTP/1.1",
            &[b"Host: a b"],
            Err(InvalidHost),
        ),
        (
            "GET http://example.com/ HTTP/1.1",
            &[b"Host: other.example"],
            Ok(()),
        ),
        (
            "CONNECT example.com:443 HTTP/1.1",
            &[b"Host: a b"],
            Err(InvalidHost),
        ),
        ("OPTIONS * HTTP/1.1", &[b"Host:"], Ok(())),
        // OWS around the value is not part of it (RFC 9110 §5.5).
        ("GET / HTTP/1.1", &[b"Host: \t example.com:80 \t"], Ok(())),
        // The value is a head-level rule: every line's own rules come first, then Host
        // comes before framing.
        (
            "GET / HTTP/1.1",
            &[b"Host: a b", b"X: a\x00b"],
            Err(InvalidHeaderValue),
        ),
        (
            "GET / HTTP/1.1",
            &[b"Host: a b", b"Content-Length: x"],
            Err(InvalidHost),
        ),
    ];
    for (line, fields, expected) in cases {
        let mut bytes = format!("{line}\r\n").into_bytes();
        for field in *fields {
            bytes.extend_from_slice(field);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        let got = parse(&bytes).map(|head| assert!(head.is_some(), "complete"));
        assert_eq!(&got, expected, "{:?}", String::from_utf8_lossy(&bytes));
        assert_same_outcome_for_every_prefix(&bytes, &Limits::default());
    }
}
