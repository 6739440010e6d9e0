// Tables of rows: their types are long, and a table is as long as its rows.
#![allow(
    clippy::type_complexity,
    clippy::too_many_lines,
    clippy::unnecessary_wraps
)]

use bytes::BytesMut;

use super::*;
use crate::http::{parse, Limits};

fn head(fields: &[(&str, &str)]) -> RequestHead {
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: app.local\r\n");
    for (name, value) in fields {
        raw.push_str(name);
        raw.push_str(": ");
        raw.push_str(value);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    let mut buf = BytesMut::from(raw.as_bytes());
    parse::request_head(&mut buf, &Limits::default())
        .expect("valid head")
        .expect("complete head")
}

fn forwarding(allow: &[&str], headers: &[&str]) -> Forwarding {
    Forwarding {
        allow: TrustedPeers::parse(allow).expect("valid"),
        headers: HeaderSet::from_names(headers).expect("known names"),
        ..Forwarding::default()
    }
}

fn every_header() -> Forwarding {
    forwarding(
        &["127.0.0.1", "10.0.0.0/8", "fd00::/8"],
        &[
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-port",
            "x-forwarded-prefix",
        ],
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn client(text: &str, port: Option<u16>) -> Option<Client> {
    Some(Client::Ip(ip(text), port))
}

/// The client each header set yields (trusting loopback, `10/8` and `fd00::/8`).
#[test]
fn the_client_is_the_first_untrusted_hop_from_the_right() {
    let rows: &[(&[(&str, &str)], Option<Client>)] = &[
        (
            &[("X-Forwarded-For", "203.0.113.7")],
            client("203.0.113.7", None),
        ),
        // A client prepending a fake address is still itself.
        (
            &[("X-Forwarded-For", "1.1.1.1, 203.0.113.7")],
            client("203.0.113.7", None),
        ),
        // Trusted proxies on the right are skipped.
        (
            &[("X-Forwarded-For", "203.0.113.7, 10.0.0.2, 10.0.0.3")],
            client("203.0.113.7", None),
        ),
        // Several lines are one list, in order.
        (
            &[
                ("X-Forwarded-For", "203.0.113.7"),
                ("X-Forwarded-For", "10.0.0.2"),
            ],
            client("203.0.113.7", None),
        ),
        // Every hop trusted: the leftmost.
        (
            &[("X-Forwarded-For", "10.1.1.1, 10.0.0.2")],
            client("10.1.1.1", None),
        ),
        // Ports and IPv6 forms proxies write.
        (
            &[("X-Forwarded-For", "203.0.113.7:4711")],
            client("203.0.113.7", Some(4711)),
        ),
        (
            &[("X-Forwarded-For", "2001:db8::7")],
            client("2001:db8::7", None),
        ),
        (
            &[("X-Forwarded-For", "[2001:db8::7]:4711")],
            client("2001:db8::7", Some(4711)),
        ),
        (
            &[("X-Forwarded-For", "unknown")],
            Some(Client::Name("unknown".into())),
        ),
        // Garbage to the left of the client is never read.
        (
            &[("X-Forwarded-For", "not-an-ip, 203.0.113.7")],
            client("203.0.113.7", None),
        ),
        // RFC 7239.
        (
            &[("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
            client("192.0.2.60", None),
        ),
        (
            &[("Forwarded", r#"for="[2001:db8:cafe::17]:4711""#)],
            client("2001:db8:cafe::17", Some(4711)),
        ),
        (
            &[("Forwarded", "for=192.0.2.43, for=10.0.0.9")],
            client("192.0.2.43", None),
        ),
        (
            &[("Forwarded", "for=_hidden, for=10.0.0.9")],
            Some(Client::Name("_hidden".into())),
        ),
        (
            &[("Forwarded", r#"For="192.0.2.1:_port""#)],
            client("192.0.2.1", None),
        ),
        // Both, agreeing: the port comes from whichever has one.
        (
            &[
                ("Forwarded", r#"for="192.0.2.9:80""#),
                ("X-Forwarded-For", "192.0.2.9"),
            ],
            client("192.0.2.9", Some(80)),
        ),
        (&[("X-Other", "1")], None),
    ];
    for (fields, want) in rows {
        let got = every_header()
            .resolve(&head(fields))
            .expect("valid")
            .and_then(|f| f.client);
        assert_eq!(&got, want, "{fields:?}");
    }
}

#[test]
fn the_scheme_comes_from_any_scheme_header_and_they_must_agree() {
    let rows: &[(&[(&str, &str)], Result<Option<Scheme>, ForwardedError>)] = &[
        (&[("X-Forwarded-Proto", "https")], Ok(Some(Scheme::Https))),
        (&[("X-Forwarded-Proto", "HTTP")], Ok(Some(Scheme::Http))),
        (&[("X-Forwarded-Ssl", "on")], Ok(Some(Scheme::Https))),
        (&[("X-Forwarded-Protocol", "ssl")], Ok(Some(Scheme::Https))),
        (&[("X-Forwarded-Ssl", "off")], Ok(Some(Scheme::Http))),
        (&[("Forwarded", "proto=https")], Ok(Some(Scheme::Https))),
        (
            &[("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on")],
            Ok(Some(Scheme::Https)),
        ),
        (
            &[
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Proto", "https"),
            ],
            Ok(Some(Scheme::Https)),
        ),
        (
            &[
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Proto", "http"),
            ],
            Err(Conflict("the scheme headers disagree")),
        ),
        (
            &[("X-Forwarded-Proto", "https, http")],
            Err(Conflict("the scheme headers disagree")),
        ),
        (
            &[("X-Forwarded-Proto", "http"), ("X-Forwarded-Ssl", "on")],
            Err(Conflict("the scheme headers disagree")),
        ),
        (
            &[("Forwarded", "proto=http"), ("X-Forwarded-Proto", "https")],
            Err(Conflict("the scheme headers disagree")),
        ),
        (
            &[("X-Forwarded-Proto", "ftp")],
            Err(Malformed {
                header: X_PROTO,
                rule: "the scheme must be http or https",
            }),
        ),
        (
            &[("Forwarded", "proto=gopher")],
            Err(Malformed {
                header: FORWARDED,
                rule: "the proto= scheme must be http or https",
            }),
        ),
    ];
    for (fields, want) in rows {
        let got = every_header()
            .resolve(&head(fields))
            .map(|f| f.and_then(|f| f.scheme));
        assert_eq!(&got, want, "{fields:?}");
    }
}

#[test]
fn malformed_or_conflicting_values_are_refused_whole() {
    let syntax = Err(Malformed {
        header: FORWARDED,
        rule: "it does not follow RFC 7239's grammar",
    });
    let rows: &[(&[(&str, &str)], Result<(), ForwardedError>)] = &[
        (&[("Forwarded", r#"for="192.0.2.1"#)], syntax.clone()),
        (&[("Forwarded", "for")], syntax.clone()),
        (&[("Forwarded", "=x")], syntax.clone()),
        (&[("Forwarded", "for=1.2.3.4 junk")], syntax.clone()),
        (
            &[("Forwarded", "for=1.2.3.4;for=5.6.7.8")],
            Err(Malformed {
                header: FORWARDED,
                rule: "a parameter appears twice in one element",
            }),
        ),
        (
            &[("Forwarded", "for=garbage")],
            Err(Malformed {
                header: FORWARDED,
                rule: "a for= value is not a node (IPv4, \"[IPv6]\", unknown or _obfuscated)",
            }),
        ),
        // RFC 7239 §6: an IPv6 node must be bracketed (and so quoted).
        (
            &[("Forwarded", r#"for="2001:db8::1""#)],
            Err(Malformed {
                header: FORWARDED,
                rule: "a for= value is not a node (IPv4, \"[IPv6]\", unknown or _obfuscated)",
            }),
        ),
        (
            &[("X-Forwarded-For", "2001:db8:::1::")],
            Err(Malformed {
                header: X_FOR,
                rule: "an entry is not an IP address",
            }),
        ),
        (
            &[("X-Forwarded-For", "203.0.113.7,")],
            Err(Malformed {
                header: X_FOR,
                rule: "an entry is not an IP address",
            }),
        ),
        (
            &[("X-Forwarded-For", "1.2.3.4:99999")],
            Err(Malformed {
                header: X_FOR,
                rule: "an entry is not an IP address",
            }),
        ),
        (
            &[
                ("Forwarded", "for=192.0.2.1"),
                ("X-Forwarded-For", "192.0.2.2"),
            ],
            Err(Conflict(
                "Forwarded and X-Forwarded-For name different clients",
            )),
        ),
        (
            &[("X-Forwarded-Host", "a.example, b.example")],
            Err(Malformed {
                header: X_HOST,
                rule: "several different values",
            }),
        ),
        (
            &[("X-Forwarded-Host", "bad host")],
            Err(Malformed {
                header: X_HOST,
                rule: "the value is not a valid host",
            }),
        ),
        (
            &[("X-Forwarded-Port", "http")],
            Err(Malformed {
                header: X_PORT,
                rule: "the port must be a number from 0 to 65535",
            }),
        ),
        (
            &[
                ("X-Forwarded-Host", "a.example:8080"),
                ("X-Forwarded-Port", "9090"),
            ],
            Err(Conflict(
                "X-Forwarded-Host and X-Forwarded-Port name different ports",
            )),
        ),
        (
            &[("X-Forwarded-Prefix", "app")],
            Err(Malformed {
                header: X_PREFIX,
                rule: "the value must be a path starting with /",
            }),
        ),
    ];
    for (fields, want) in rows {
        let got = every_header().resolve(&head(fields)).map(|_| ());
        assert_eq!(&got, want, "{fields:?}");
    }
}

#[test]
fn host_port_and_prefix_set_the_server_facts() {
    let rows: &[(&[(&str, &str)], Forwarded)] = &[
        (
            &[("X-Forwarded-Host", "shop.example")],
            Forwarded {
                http_host: Some("shop.example".into()),
                server_name: Some("shop.example".into()),
                ..Forwarded::default()
            },
        ),
        (
            &[("X-Forwarded-Host", "shop.example:8443")],
            Forwarded {
                http_host: Some("shop.example:8443".into()),
                server_name: Some("shop.example".into()),
                server_port: Some(8443),
                ..Forwarded::default()
            },
        ),
        (
            &[("X-Forwarded-Host", "[2001:db8::1]:8443")],
            Forwarded {
                http_host: Some("[2001:db8::1]:8443".into()),
                server_name: Some("2001:db8::1".into()),
                server_port: Some(8443),
                ..Forwarded::default()
            },
        ),
        (
            &[
                ("X-Forwarded-Host", "shop.example"),
                ("X-Forwarded-Port", "8443"),
            ],
            Forwarded {
                http_host: Some("shop.example:8443".into()),
                server_name: Some("shop.example".into()),
                server_port: Some(8443),
                ..Forwarded::default()
            },
        ),
        (
            &[("X-Forwarded-Port", "443")],
            Forwarded {
                server_port: Some(443),
                ..Forwarded::default()
            },
        ),
        (
            &[("Forwarded", "host=shop.example;proto=https")],
            Forwarded {
                scheme: Some(Scheme::Https),
                http_host: Some("shop.example".into()),
                server_name: Some("shop.example".into()),
                ..Forwarded::default()
            },
        ),
        (
            &[("X-Forwarded-Prefix", "/shop/")],
            Forwarded {
                script_prefix: Some(b"/shop".to_vec()),
                ..Forwarded::default()
            },
        ),
        (
            &[("X-Forwarded-Prefix", "/a%20b")],
            Forwarded {
                script_prefix: Some(b"/a b".to_vec()),
                ..Forwarded::default()
            },
        ),
    ];
    for (fields, want) in rows {
        let got = every_header().resolve(&head(fields)).expect("valid");
        assert_eq!(got.as_deref(), Some(want), "{fields:?}");
    }
}

#[test]
fn a_secure_scheme_header_may_have_a_short_name() {
    let short = Forwarding {
        secure_scheme_headers: vec![("X-TLS".into(), "1".into())],
        ..Forwarding::default()
    };
    let got = short.resolve(&head(&[("x-tls", "1")])).expect("valid");
    assert_eq!(got.and_then(|f| f.scheme), Some(Scheme::Https));
}

#[test]
fn headers_not_listed_are_ignored() {
    // The defaults: Forwarded (for, proto), X-Forwarded-For, X-Forwarded-Proto.
    let defaults = Forwarding::default();
    let fields = [
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "1"),
        ("X-Forwarded-Prefix", "/x"),
        ("Forwarded", "host=evil.example"),
    ];
    assert_eq!(defaults.resolve(&head(&fields)), Ok(Some(Box::default())));
    let only_for = forwarding(&["127.0.0.1"], &["x-forwarded-for"]);
    let got = only_for
        .resolve(&head(&[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-For", "192.0.2.1"),
        ]))
        .expect("valid")
        .expect("some");
    assert_eq!(got.client, client("192.0.2.1", None));
    assert_eq!(got.scheme, None);
}

#[test]
fn trust_is_decided_per_connection() {
    let f = Forwarding::default();
    assert!(f.applies_to(Some(ip("127.0.0.1"))));
    assert!(f.applies_to(Some(ip("::1"))));
    assert!(f.applies_to(None));
    assert!(!f.applies_to(Some(ip("192.0.2.1"))));
    let off = forwarding(&["*"], &[]);
    assert!(!off.applies_to(Some(ip("127.0.0.1"))));
}

#[test]
fn ten_thousand_entries_are_walked_without_trouble() {
    let mut list = vec!["10.0.0.1"; 10_000].join(",");
    list.insert_str(0, "192.0.2.77,");
    let mut buf = BytesMut::from(
        format!("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: {list}\r\n\r\n").as_bytes(),
    );
    let limits = Limits {
        max_header_bytes: 1 << 20,
        max_head_bytes: 1 << 20,
        ..Limits::default()
    };
    let head = parse::request_head(&mut buf, &limits)
        .expect("valid")
        .expect("complete");
    let got = every_header().resolve(&head).expect("valid").expect("some");
    assert_eq!(got.client, client("192.0.2.77", None));
}

#[test]
fn header_sets_read_back_their_names() {
    let set = HeaderSet::from_names(&["X-Forwarded-For", " forwarded "]).expect("known");
    assert_eq!(set.names(), ["forwarded", "x-forwarded-for"]);
    assert_eq!(HeaderSet::from_names(&["x-real-ip"]), None);
    assert!(HeaderSet::from_names::<&str>(&[])
        .expect("empty")
        .is_empty());
}
