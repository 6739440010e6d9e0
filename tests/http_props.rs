//! Property tests for `http::parse` and `http::body`: any request we serialise, split at
//! arbitrary points, parses back to the same head and body, and the decoder never consumes
//! a byte past the end of the body (a pipelined request behind it stays intact). Requests
//! damaged by a few hostile bytes get the same answer however they are split, whether every
//! read is parsed or only those `HeadProgress` lets through (as `conn` does).

use _ferrule::http::body::{BodyDecoder, Decoded};
use _ferrule::http::parse::HeadProgress;
use _ferrule::http::{parse, BodyFraming, HttpError, Limits, RequestHead, Version};
use bytes::BytesMut;
use proptest::prelude::*;

/// The request every generated one is followed by, to prove nothing past a body is eaten.
const PIPELINED: &[u8] = b"GET /next HTTP/1.1\r\nHost: pipelined\r\n\r\n";

const METHODS: &[&str] = &[
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "PROPFIND",
    "X-CUSTOM_1",
];

/// How a generated body is framed on the wire.
#[derive(Clone, Debug)]
enum WireBody {
    None,
    Length(Vec<u8>),
    /// Chunks of the body, each with its extension suffix (`;a=b`, may be empty), the last
    /// chunk's extension, and trailer lines.
    Chunked {
        chunks: Vec<(Vec<u8>, String, bool)>,
        last_ext: String,
        trailers: Vec<(String, Vec<u8>)>,
    },
}

#[derive(Clone, Debug)]
struct Generated {
    method: &'static str,
    target: String,
    version: Version,
    /// (name, value as it should parse, OWS written before and after it).
    headers: Vec<(String, Vec<u8>, String, String)>,
    body: WireBody,
}

impl Generated {
    fn wire(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} {}\r\nHost: example.com\r\n",
            self.method,
            self.target,
            self.version.as_str()
        )
        .into_bytes();
        for (name, value, before, after) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(before.as_bytes());
            out.extend_from_slice(value);
            out.extend_from_slice(after.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match &self.body {
            WireBody::None => out.extend_from_slice(b"\r\n"),
            WireBody::Length(body) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            WireBody::Chunked {
                chunks,
                last_ext,
                trailers,
            } => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for (data, ext, upper) in chunks {
                    let size = if *upper {
                        format!("{:X}", data.len())
                    } else {
                        format!("{:x}", data.len())
                    };
                    out.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(format!("0{last_ext}\r\n").as_bytes());
                for (name, value) in trailers {
                    out.extend_from_slice(format!("{name}: ").as_bytes());
                    out.extend_from_slice(value);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    fn body(&self) -> Vec<u8> {
        match &self.body {
            WireBody::None => Vec::new(),
            WireBody::Length(body) => body.clone(),
            WireBody::Chunked { chunks, .. } => {
                chunks.iter().flat_map(|(d, _, _)| d.clone()).collect()
            }
        }
    }

    fn framing(&self) -> BodyFraming {
        match &self.body {
            WireBody::None => BodyFraming::Empty,
            WireBody::Length(body) => BodyFraming::Length(body.len() as u64),
            WireBody::Chunked { .. } => BodyFraming::Chunked,
        }
    }

    /// The header fields the parser must report, in order.
    fn expected_headers(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = vec![(b"Host".to_vec(), b"example.com".to_vec())];
        out.extend(
            self.headers
                .iter()
                .map(|(n, v, _, _)| (n.as_bytes().to_vec(), v.clone())),
        );
        match &self.body {
            WireBody::None => {}
            WireBody::Length(body) => {
                out.push((
                    b"Content-Length".to_vec(),
                    body.len().to_string().into_bytes(),
                ));
            }
            WireBody::Chunked { .. } => {
                out.push((b"Transfer-Encoding".to_vec(), b"chunked".to_vec()));
            }
        }
        out
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// A header name that is not one the parser gives meaning to.
fn header_name() -> impl Strategy<Value = String> {
    token().prop_map(|t| format!("X-{t}"))
}

/// A field value: field-vchar and obs-text, with SP/HTAB only inside.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let vchar = prop_oneof![0x21u8..=0x7e, 0x80u8..=0xff];
    let inner = prop_oneof![4 => vchar.clone(), 1 => Just(b' '), 1 => Just(b'\t')];
    prop_oneof![
        1 => Just(Vec::new()),
        6 => (vchar.clone(), proptest::collection::vec(inner, 0..40), vchar).prop_map(|(first, mid, last)| {
            let mut v = vec![first];
            v.extend(mid);
            v.push(last);
            v
        }),
    ]
}

fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,3}"
}

/// A path of pchars (percent-encoded or not) and an optional query.
fn target() -> impl Strategy<Value = String> {
    let segment = "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){0,10}";
    (
        proptest::collection::vec(segment, 1..5),
        proptest::option::of("([A-Za-z0-9._~!$&'()*+,;=:@/?|{}-]|%[0-9A-Fa-f]{2}){0,30}"),
    )
        .prop_map(|(segments, query)| {
            let mut t = format!("/{}", segments.join("/"));
            if let Some(q) = query {
                t.push('?');
                t.push_str(&q);
            }
            t
        })
}

/// A chunk extension suffix: `;name`, `;name=token` or `;name="quoted"`, with BWS.
fn chunk_ext() -> impl Strategy<Value = String> {
    let one = (
        ows(),
        token(),
        proptest::option::of((
            ows(),
            prop_oneof![
                token(),
                "[ !#-\\[\\]-~]{0,10}".prop_map(|q| format!("\"{q}\"")),
                Just("\"a\\\"b\"".to_string()),
            ],
        )),
    )
        .prop_map(|(bws, name, value)| match value {
            None => format!("{bws};{name}"),
            Some((bws2, v)) => format!("{bws};{bws2}{name}{bws2}={bws2}{v}"),
        });
    proptest::collection::vec(one, 0..3).prop_map(|v| v.concat())
}

fn chunked_body() -> impl Strategy<Value = WireBody> {
    (
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 1..64),
                chunk_ext(),
                any::<bool>(),
            ),
            0..6,
        ),
        chunk_ext(),
        proptest::collection::vec((header_name(), header_value()), 0..3),
    )
        .prop_map(|(chunks, last_ext, trailers)| WireBody::Chunked {
            chunks,
            last_ext,
            trailers,
        })
}

fn request() -> impl Strategy<Value = Generated> {
    let method = proptest::sample::select(METHODS);
    let version = prop_oneof![3 => Just(Version::Http11), 1 => Just(Version::Http10)];
    let headers = proptest::collection::vec((header_name(), header_value(), ows(), ows()), 0..8);
    (method, target(), version, headers).prop_flat_map(|(method, target, version, headers)| {
        let body = if version == Version::Http11 {
            prop_oneof![
                Just(WireBody::None),
                proptest::collection::vec(any::<u8>(), 0..300).prop_map(WireBody::Length),
                chunked_body(),
            ]
            .boxed()
        } else {
            prop_oneof![
                Just(WireBody::None),
                proptest::collection::vec(any::<u8>(), 0..300).prop_map(WireBody::Length),
            ]
            .boxed()
        };
        body.prop_map(move |body| Generated {
            method,
            target: target.clone(),
            version,
            headers: headers.clone(),
            body,
        })
    })
}

/// The result of feeding one request and the pipelined one behind it.
struct Fed {
    head: RequestHead,
    body: Vec<u8>,
    /// What was left after the body's `Done`: the buffer plus the bytes not fed yet.
    after: Vec<u8>,
}

/// Feeds `bytes` in pieces cut at `cuts`, parsing one head (behind the `HeadProgress` gate,
/// as `conn` does) and decoding its body.
fn feed(bytes: &[u8], cuts: &[usize]) -> Fed {
    let limits = Limits::default();
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    bounds.sort_unstable();
    bounds.push(bytes.len());
    let mut start = 0;
    let mut pieces = bounds.into_iter().map(move |end| {
        let piece = &bytes[start..end];
        start = end;
        piece
    });
    let mut buf = BytesMut::new();
    let mut progress = HeadProgress::default();
    let head = loop {
        if buf.is_empty() || !progress.needs_rescan(&buf, &limits) {
            buf.extend_from_slice(pieces.next().expect("the head completes"));
            continue;
        }
        if let Some(head) =
            parse::request_head(&mut buf, &limits).expect("a generated head is valid")
        {
            break head;
        }
        progress.on_incomplete(&buf);
        buf.extend_from_slice(pieces.next().expect("the head completes"));
    };
    let mut decoder = BodyDecoder::new(head.framing, &limits);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf).expect("a generated body is valid") {
            Decoded::Data(data) => body.extend_from_slice(&data),
            Decoded::NeedMore => buf.extend_from_slice(pieces.next().expect("the body completes")),
            Decoded::Done => break,
        }
    }
    let mut after = buf.to_vec();
    after.extend(pieces.flatten());
    Fed { head, body, after }
}

/// A generated request with a few bytes replaced or inserted: bytes that end lines, separate
/// fields, or are refused somewhere in a head.
fn damaged_request() -> impl Strategy<Value = Vec<u8>> {
    let hostile = prop::sample::select(vec![
        b'\r', b'\n', b' ', b'\t', b':', b',', b';', 0, 0x7f, 0x85, b'a',
    ]);
    (
        request(),
        proptest::collection::vec((0usize..4000, hostile), 0..6),
    )
        .prop_map(|(generated, edits)| {
            let mut wire = generated.wire();
            for (at, byte) in edits {
                let i = at % (wire.len() + 1);
                if at % 2 == 0 && i < wire.len() {
                    wire[i] = byte;
                } else {
                    wire.insert(i, byte);
                }
            }
            wire
        })
}

/// Limits small enough for generated requests to cross them.
fn small_limits() -> Limits {
    Limits {
        max_request_line_bytes: 40,
        max_header_count: 4,
        max_header_bytes: 30,
        max_head_bytes: 160,
        max_body_bytes: 64,
    }
}

/// Feeds `bytes` cut at `cuts` to `request_head` (only when `HeadProgress` asks, if `gated`);
/// the first answer other than "need more".
fn head_in_pieces(
    bytes: &[u8],
    limits: &Limits,
    cuts: &[usize],
    gated: bool,
) -> Result<Option<RequestHead>, HttpError> {
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    bounds.sort_unstable();
    bounds.push(bytes.len());
    let mut buf = BytesMut::new();
    let mut progress = HeadProgress::default();
    let mut start = 0;
    for end in bounds {
        buf.extend_from_slice(&bytes[start..end]);
        start = end;
        if buf.is_empty() || (gated && !progress.needs_rescan(&buf, limits)) {
            continue;
        }
        match parse::request_head(&mut buf, limits) {
            Ok(None) => progress.on_incomplete(&buf),
            answer => return answer,
        }
    }
    Ok(None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_head_gets_the_same_answer_in_any_split_with_or_without_the_rescan_gate(
        bytes in damaged_request(),
        cuts in proptest::collection::vec(0usize..4000, 0..16),
        small in any::<bool>(),
    ) {
        let limits = if small { small_limits() } else { Limits::default() };
        let whole = parse::request_head(&mut BytesMut::from(&bytes[..]), &limits);
        prop_assert_eq!(&head_in_pieces(&bytes, &limits, &cuts, false), &whole);
        prop_assert_eq!(&head_in_pieces(&bytes, &limits, &cuts, true), &whole);
        let every_byte: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(&head_in_pieces(&bytes, &limits, &every_byte, true), &whole);
    }

    #[test]
    fn any_serialised_request_parses_back_in_any_split(
        generated in request(),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let mut bytes = generated.wire();
        let len = bytes.len();
        bytes.extend_from_slice(PIPELINED);
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        let fed = feed(&bytes, &cuts);

        prop_assert_eq!(fed.head.method(), generated.method);
        prop_assert_eq!(fed.head.target(), generated.target.as_bytes());
        prop_assert_eq!(fed.head.version, generated.version);
        let headers: Vec<(Vec<u8>, Vec<u8>)> =
            fed.head.header_pairs().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        prop_assert_eq!(headers, generated.expected_headers());
        prop_assert_eq!(fed.head.framing, generated.framing());
        prop_assert_eq!(fed.head.keep_alive, generated.version == Version::Http11);
        prop_assert_eq!(&fed.body, &generated.body());
        prop_assert_eq!(&fed.after[..], PIPELINED, "consumed exactly {} bytes", len);
    }

    #[test]
    fn the_pipelined_request_behind_a_body_parses_too(generated in request(), cut in 0usize..2000) {
        let mut bytes = generated.wire();
        bytes.extend_from_slice(PIPELINED);
        let cut = cut % (bytes.len() + 1);
        let fed = feed(&bytes, &[cut]);
        let next = feed(&fed.after, &[]);
        prop_assert_eq!(next.head.target(), b"/next");
        prop_assert!(next.after.is_empty());
    }
}
