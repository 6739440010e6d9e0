// Tables of rows: their types are long, and a table is as long as its rows.
#![allow(
    clippy::type_complexity,
    clippy::too_many_lines,
    clippy::unnecessary_wraps
)]

use super::*;

/// A packet with `vars`, then `body`.
fn packet(vars: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        for s in [k, v] {
            block.extend_from_slice(&u16::try_from(s.len()).expect("short").to_le_bytes());
            block.extend_from_slice(s.as_bytes());
        }
    }
    let mut out = vec![0];
    out.extend_from_slice(&u16::try_from(block.len()).expect("short").to_le_bytes());
    out.push(0);
    out.extend(block);
    out.extend_from_slice(body);
    out
}

/// What nginx's `uwsgi_params` send for `POST /p?q=1` with a body.
fn nginx_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("QUERY_STRING", "q=1"),
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_TYPE", "text/plain"),
        ("CONTENT_LENGTH", "5"),
        ("REQUEST_URI", "/p?q=1"),
        ("PATH_INFO", "/p"),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "https"),
        ("HTTPS", "on"),
        ("REMOTE_ADDR", "192.0.2.10"),
        ("REMOTE_PORT", "50123"),
        ("SERVER_PORT", "443"),
        ("SERVER_NAME", "shop.example"),
        ("HTTP_HOST", "shop.example"),
        ("HTTP_USER_AGENT", "curl/8"),
        ("HTTP_TRANSFER_ENCODING", "chunked"),
        ("HTTP_CONNECTION", "keep-alive"),
    ]
}

#[test]
fn an_nginx_packet_becomes_a_head_and_the_proxys_facts() {
    let bytes = packet(&nginx_vars(), b"hello");
    let (vars, len) = parse(&bytes, 64 * 1024).expect("valid").expect("complete");
    assert_eq!(&bytes[len..], b"hello");
    let (head, forwarded) = request(&vars, &Limits::default()).expect("valid");
    assert_eq!(head.method(), "POST");
    assert_eq!(head.target(), b"/p?q=1");
    assert_eq!(head.framing, http::BodyFraming::Length(5));
    assert!(!head.keep_alive);
    assert_eq!(head.header("host"), Some(&b"shop.example"[..]));
    assert_eq!(head.header("user-agent"), Some(&b"curl/8"[..]));
    assert_eq!(head.header("transfer-encoding"), None);
    assert_eq!(head.header("connection"), None);
    assert_eq!(
        forwarded,
        Forwarded {
            client: Some(Client::Ip("192.0.2.10".parse().expect("ip"), Some(50123))),
            scheme: Some(Scheme::Https),
            http_host: None,
            server_name: Some("shop.example".into()),
            server_port: Some(443),
            script_prefix: None,
            server_protocol: Some("HTTP/1.1".into()),
        }
    );
}

#[test]
fn a_packet_is_complete_only_with_all_its_variables() {
    let bytes = packet(&nginx_vars(), b"");
    for cut in 0..bytes.len() {
        assert_eq!(
            parse(&bytes[..cut], 64 * 1024).map(|o| o.is_some()),
            Ok(false),
            "cut {cut}"
        );
    }
}

#[test]
fn refuses_what_is_not_a_plain_wsgi_request() {
    let mut bad_key = vec![0u8, 0, 0, 0];
    bad_key.extend_from_slice(&[9, 0, b'x']);
    let len = u16::try_from(bad_key.len() - 4).expect("short");
    bad_key[1..3].copy_from_slice(&len.to_le_bytes());
    let rows: Vec<(Vec<u8>, UwsgiError)> = vec![
        (vec![5, 0, 0, 0], UwsgiError::Modifier(5)),
        (b"GET / HTTP/1.1\r\n".to_vec(), UwsgiError::Modifier(b'G')),
        (vec![0, 0xff, 0xff, 0], UwsgiError::TooLarge),
        (bad_key, UwsgiError::Truncated),
    ];
    for (bytes, want) in rows {
        assert_eq!(parse(&bytes, 1024).map(|_| ()), Err(want), "{bytes:?}");
    }
}

#[test]
fn variables_cannot_smuggle_header_lines_or_bodies() {
    let rows: Vec<(Vec<(&str, &str)>, UwsgiError)> = vec![
        (
            vec![
                ("REQUEST_METHOD", "GET"),
                ("HTTP_X_A", "1\r\nX-Injected: 1"),
            ],
            UwsgiError::BadVariable("HTTP_X_A".into()),
        ),
        (
            vec![("REQUEST_METHOD", "GET"), ("HTTP_X:Y", "1")],
            UwsgiError::BadVariable("HTTP_X:Y".into()),
        ),
        (
            vec![("PATH_INFO", "/")],
            UwsgiError::Missing("REQUEST_METHOD"),
        ),
        // Found by fuzzing: environ values are line-safe too.
        (
            vec![("REQUEST_METHOD", "GET"), ("SERVER_PROTOCOL", "HTTP/\r\n1")],
            UwsgiError::BadVariable("SERVER_PROTOCOL".into()),
        ),
        (
            vec![("REQUEST_METHOD", "GET"), ("REMOTE_ADDR", "a\nb")],
            UwsgiError::BadVariable("REMOTE_ADDR".into()),
        ),
        (
            vec![
                ("REQUEST_METHOD", "GET / HTTP/1.1\r\n"),
                ("REQUEST_URI", "/"),
            ],
            UwsgiError::BadVariable("REQUEST_METHOD".into()),
        ),
        (
            vec![("REQUEST_METHOD", "G@T"), ("REQUEST_URI", "/")],
            UwsgiError::Http(HttpError::InvalidMethod),
        ),
        (
            vec![("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "1, 2")],
            UwsgiError::Http(HttpError::ConflictingContentLength),
        ),
    ];
    for (vars, want) in rows {
        let bytes = packet(&vars, b"");
        let (parsed, _) = parse(&bytes, 64 * 1024).expect("valid").expect("complete");
        assert_eq!(
            request(&parsed, &Limits::default()).map(|_| ()),
            Err(want),
            "{vars:?}"
        );
    }
}
