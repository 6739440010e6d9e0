// Tables of rows: their types are long, and a table is as long as its rows.
#![allow(
    clippy::type_complexity,
    clippy::too_many_lines,
    clippy::unnecessary_wraps
)]

use super::*;

fn sock(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}

fn inet(source: &str, destination: &str) -> Addresses {
    Addresses::Inet {
        source: sock(source),
        destination: sock(destination),
    }
}

/// A v2 header: command byte, family byte, payload.
fn v2(ver_cmd: u8, fam: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(fam);
    out.extend_from_slice(&u16::try_from(payload.len()).expect("short").to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn inet4_payload() -> Vec<u8> {
    let mut p = vec![192, 0, 2, 1, 198, 51, 100, 2];
    p.extend_from_slice(&56324u16.to_be_bytes());
    p.extend_from_slice(&443u16.to_be_bytes());
    p
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).expect("short").to_be_bytes());
    out.extend_from_slice(value);
    out
}

type Row = (
    Vec<u8>,
    ProxyProtocol,
    Result<Option<(Addresses, usize)>, ProxyHeaderError>,
);

#[test]
fn parses_every_kind_of_header_and_refuses_each_broken_rule() {
    let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".to_vec();
    let v1_len = v1.len();
    let mut v6_payload = Vec::new();
    v6_payload.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("ip").octets());
    v6_payload.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("ip").octets());
    v6_payload.extend_from_slice(&4711u16.to_be_bytes());
    v6_payload.extend_from_slice(&8443u16.to_be_bytes());
    let mut with_tlv = inet4_payload();
    with_tlv.extend(tlv(0x04, b"pad"));
    let mut bad_tlv = inet4_payload();
    bad_tlv.extend_from_slice(&[0x01, 0x00, 0x09, b'h']);
    let rows: Vec<Row> = vec![
        (
            v1.clone(),
            ProxyProtocol::V1,
            Ok(Some((inet("192.0.2.1:56324", "198.51.100.2:443"), v1_len))),
        ),
        (
            v1.clone(),
            ProxyProtocol::Auto,
            Ok(Some((inet("192.0.2.1:56324", "198.51.100.2:443"), v1_len))),
        ),
        (v1.clone(), ProxyProtocol::V2, Err(E::Missing)),
        (v1[..20].to_vec(), ProxyProtocol::V1, Ok(None)),
        (
            b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 8443\r\nGET".to_vec(),
            ProxyProtocol::V1,
            Ok(Some((inet("[2001:db8::1]:4711", "[2001:db8::2]:8443"), 46))),
        ),
        (
            b"PROXY UNKNOWN\r\n".to_vec(),
            ProxyProtocol::V1,
            Ok(Some((Addresses::Local, 15))),
        ),
        (
            b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n".to_vec(),
            ProxyProtocol::V1,
            Ok(Some((Addresses::Local, 35))),
        ),
        (
            b"GET / HTTP/1.1\r\n".to_vec(),
            ProxyProtocol::Auto,
            Err(E::Missing),
        ),
        (b"PROXYTCP4".to_vec(), ProxyProtocol::V1, Err(E::Missing)),
        // 107 bytes and no CRLF.
        (
            [b"PROXY TCP4 ".as_slice(), &[b'1'; 96]].concat(),
            ProxyProtocol::V1,
            Err(E::V1TooLong),
        ),
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n".to_vec(),
            ProxyProtocol::V1,
            Err(E::V1Syntax("the line must end with CRLF")),
        ),
        (
            b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n".to_vec(),
            ProxyProtocol::V1,
            Err(E::V1Syntax("an address does not match its protocol")),
        ),
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n".to_vec(),
            ProxyProtocol::V1,
            Err(E::V1Syntax("a port is not a number from 0 to 65535")),
        ),
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.2 080 443\r\n".to_vec(),
            ProxyProtocol::V1,
            Err(E::V1Syntax("a port is not a number from 0 to 65535")),
        ),
        (
            b"PROXY TCP4  192.0.2.1 198.51.100.2 80 443\r\n".to_vec(),
            ProxyProtocol::V1,
            Err(E::V1Syntax("expected 5 fields after PROXY")),
        ),
        (
            b"PROXY UDP4 192.0.2.1 198.51.100.2 80 443\r\n".to_vec(),
            ProxyProtocol::V1,
            Err(E::V1Syntax("unknown protocol")),
        ),
        // v2.
        (
            v2(0x21, 0x11, &inet4_payload()),
            ProxyProtocol::V2,
            Ok(Some((inet("192.0.2.1:56324", "198.51.100.2:443"), 28))),
        ),
        (
            v2(0x21, 0x21, &v6_payload),
            ProxyProtocol::Auto,
            Ok(Some((inet("[2001:db8::1]:4711", "[2001:db8::2]:8443"), 52))),
        ),
        (
            v2(0x20, 0x00, &[]),
            ProxyProtocol::V2,
            Ok(Some((Addresses::Local, 16))),
        ),
        // LOCAL ignores whatever addresses follow.
        (
            v2(0x20, 0x11, &inet4_payload()),
            ProxyProtocol::V2,
            Ok(Some((Addresses::Local, 28))),
        ),
        (
            v2(0x21, 0x31, &[0; 216]),
            ProxyProtocol::V2,
            Ok(Some((Addresses::Unix, 232))),
        ),
        (
            v2(0x21, 0x11, &with_tlv),
            ProxyProtocol::V2,
            Ok(Some((inet("192.0.2.1:56324", "198.51.100.2:443"), 34))),
        ),
        (
            v2(0x21, 0x11, &inet4_payload())[..20].to_vec(),
            ProxyProtocol::V2,
            Ok(None),
        ),
        (
            v2(0x21, 0x11, &inet4_payload()),
            ProxyProtocol::V1,
            Err(E::Missing),
        ),
        (
            v2(0x11, 0x11, &inet4_payload()),
            ProxyProtocol::V2,
            Err(E::V2Command),
        ),
        (
            v2(0x22, 0x11, &inet4_payload()),
            ProxyProtocol::V2,
            Err(E::V2Command),
        ),
        // A wrong version byte is refused before the rest arrives.
        (
            v2(0x31, 0x11, &[])[..13].to_vec(),
            ProxyProtocol::V2,
            Err(E::V2Command),
        ),
        (
            v2(0x21, 0x41, &inet4_payload()),
            ProxyProtocol::V2,
            Err(E::V2Family),
        ),
        (
            v2(0x21, 0x12, &inet4_payload()),
            ProxyProtocol::V2,
            Err(E::V2Family),
        ),
        (
            v2(0x21, 0x11, &inet4_payload()[..8]),
            ProxyProtocol::V2,
            Err(E::V2ShortAddresses),
        ),
        (v2(0x21, 0x11, &bad_tlv), ProxyProtocol::V2, Err(E::V2Tlv)),
        (
            v2(0x21, 0x11, &vec![0; MAX_V2_PAYLOAD + 1]),
            ProxyProtocol::V2,
            Err(E::V2TooLong),
        ),
    ];
    for (bytes, versions, want) in rows {
        let got = parse(&bytes, versions).map(|o| o.map(|(h, n)| (h.addresses, n)));
        assert_eq!(
            got,
            want,
            "{:?} {versions:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn a_length_pointing_past_the_buffer_waits_for_bytes_that_never_come() {
    // The header says 300 bytes follow and only 12 do: the parser asks for more; the
    // caller's header_timeout ends the wait.
    let mut bytes = v2(0x21, 0x11, &inet4_payload());
    bytes[14..16].copy_from_slice(&300u16.to_be_bytes());
    assert_eq!(parse(&bytes, ProxyProtocol::V2), Ok(None));
}

#[test]
fn keeps_the_tlvs_a_later_feature_needs() {
    let mut payload = inet4_payload();
    payload.extend(tlv(0x01, b"h2"));
    payload.extend(tlv(0x02, b"shop.example"));
    payload.extend(tlv(0x05, b"id-1"));
    let mut ssl = vec![0x07, 0, 0, 0, 0];
    ssl.extend(tlv(0x21, b"TLSv1.3"));
    ssl.extend(tlv(0x22, b"client-cn"));
    payload.extend(tlv(0x20, &ssl));
    payload.extend(tlv(0xE0, b"custom"));
    let (header, _) = parse(&v2(0x21, 0x11, &payload), ProxyProtocol::V2)
        .expect("valid")
        .expect("complete");
    assert_eq!(
        header.tlvs,
        Tlvs {
            alpn: Some(b"h2".to_vec()),
            authority: Some(b"shop.example".to_vec()),
            unique_id: Some(b"id-1".to_vec()),
            ssl: Some(Ssl {
                client: 7,
                verify: 0,
                version: Some(b"TLSv1.3".to_vec()),
            }),
        }
    );
    // An SSL TLV too short for its own fields, and a sub-TLV past its parent.
    let mut short = inet4_payload();
    short.extend(tlv(0x20, &[1, 0]));
    assert_eq!(
        parse(&v2(0x21, 0x11, &short), ProxyProtocol::V2),
        Err(E::V2Tlv)
    );
    let mut past = inet4_payload();
    past.extend(tlv(0x20, &[1, 0, 0, 0, 0, 0x21, 0, 9, b'x']));
    assert_eq!(
        parse(&v2(0x21, 0x11, &past), ProxyProtocol::V2),
        Err(E::V2Tlv)
    );
}

#[test]
fn the_answer_does_not_depend_on_how_the_bytes_arrive() {
    let mut inputs = vec![
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n".to_vec(),
        v2(0x21, 0x11, &inet4_payload()),
        b"PROXY TCP4 1.2.3.4\r\n".to_vec(),
    ];
    inputs.push([v2(0x20, 0x00, &[]), b"GET".to_vec()].concat());
    for input in inputs {
        let whole = parse(&input, ProxyProtocol::Auto);
        for cut in 0..input.len() {
            match parse(&input[..cut], ProxyProtocol::Auto) {
                Ok(None) => {}
                early => assert_eq!(early, whole, "cut at {cut}"),
            }
        }
    }
}
