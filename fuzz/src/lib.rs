//! The fuzz entry functions: each takes arbitrary bytes, runs one of Ferrule's own parsers
//! on them in several chunkings, and panics when a property breaks. The cargo-fuzz targets
//! in `fuzz_targets/` call them under libFuzzer; `tests/fuzz_regressions.rs` (stable Rust)
//! feeds them every committed input under `fuzz/corpus-min/` and `fuzz/regressions/`.
//!
//! The property common to all: the answer never depends on how the bytes were split across
//! reads. Each input is fed whole, byte by byte, and in a few cuts derived from its bytes,
//! and with the `HeadProgress` gate on and off (as `conn` drives the parser); every
//! chunking must give the same requests, bodies, leftover bytes and error variant.
//! Debug assertions (`cargo fuzz run -a`) add the `httparse` cross-check of every accepted
//! head.

mod conn_loop;

/// One connection served by `conn` under a script; see `conn_loop.rs`.
///
/// # Panics
/// When a property breaks.
pub fn conn_loop(data: &[u8]) {
    conn_loop::run(data);
}

use _ferrule::http::body::{BodyDecoder, Decoded};
use _ferrule::http::parse::{self, HeadProgress};
use _ferrule::http::{BodyFraming, HttpError, Limits, RequestHead};
use bytes::BytesMut;

/// Inputs up to this size are also fed byte by byte without the gate: that costs a rescan
/// per byte, O(n²). 1 KiB keeps a run fast; chosen without measurement.
const UNGATED_BYTE_BY_BYTE_MAX: usize = 1024;

/// The limit sets every input runs under: the defaults, and small ones that put every
/// limit within reach of a short input.
fn limit_sets() -> [Limits; 2] {
    [
        Limits::default(),
        Limits {
            max_request_line_bytes: 64,
            max_header_count: 6,
            max_header_bytes: 48,
            max_head_bytes: 256,
            max_body_bytes: 100,
        },
    ]
}

/// One request as the parser and decoder saw it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub head: RequestHead,
    pub body: Vec<u8>,
}

/// How feeding ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte was consumed at a request boundary.
    Clean,
    Error(HttpError),
    /// The input ended inside a head (the bytes left) or a body.
    PartialHead(Vec<u8>),
    PartialBody,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Replay {
    pub requests: Vec<Request>,
    pub end: End,
}

/// Cut points derived from the input, so a crash reproduces from the input alone.
fn cuts_of(data: &[u8], count: usize) -> Vec<usize> {
    if data.len() < 2 {
        return Vec::new();
    }
    // FNV-1a, then xorshift64: any spread will do.
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1 + (state % (data.len() as u64 - 1)) as usize
        })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// The chunkings every input is fed in: whole, a few derived cuts, byte by byte.
fn chunkings(data: &[u8]) -> Vec<(Vec<usize>, bool)> {
    let mut out = vec![
        (Vec::new(), false),
        (cuts_of(data, 3), false),
        (cuts_of(data, 3), true),
    ];
    out.push((cuts_of(data, 17), true));
    out.push(((1..data.len()).collect(), true));
    if data.len() <= UNGATED_BYTE_BY_BYTE_MAX {
        out.push(((1..data.len()).collect(), false));
    }
    out
}

fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> impl Iterator<Item = &'a [u8]> {
    let mut bounds = cuts.to_vec();
    bounds.push(data.len());
    let mut start = 0;
    bounds.into_iter().filter_map(move |end| {
        let piece = &data[start..end];
        start = end;
        (!piece.is_empty()).then_some(piece)
    })
}

/// Feeds `data` cut at `cuts` through `request_head` and `BodyDecoder` as `conn` drives
/// them: requests one after another (pipelined), each body decoded by the framing its head
/// decided, until an error or the end of the input. With `gated`, a head is parsed only
/// when `HeadProgress` asks for it.
pub fn replay(data: &[u8], limits: &Limits, cuts: &[usize], gated: bool) -> Replay {
    let mut pieces = pieces(data, cuts);
    let mut requests = Vec::new();
    let mut buf = BytesMut::new();
    let mut current: Option<(RequestHead, BodyDecoder, Vec<u8>)> = None;
    let mut progress = HeadProgress::default();
    loop {
        loop {
            if let Some((_, decoder, body)) = current.as_mut() {
                match decoder.decode(&mut buf) {
                    Ok(Decoded::Data(data)) => {
                        assert!(!data.is_empty(), "Data is never empty");
                        body.extend_from_slice(&data);
                    }
                    Ok(Decoded::NeedMore) => break,
                    Ok(Decoded::Done) => {
                        let (head, _, body) = current.take().expect("a request in progress");
                        requests.push(Request { head, body });
                    }
                    Err(error) => {
                        return Replay {
                            requests,
                            end: End::Error(error),
                        }
                    }
                }
            } else {
                if gated && (buf.is_empty() || !progress.needs_rescan(&buf, limits)) {
                    break;
                }
                match parse::request_head(&mut buf, limits) {
                    Ok(Some(head)) => {
                        check_head(&head, limits);
                        let decoder = BodyDecoder::new(head.framing, limits);
                        current = Some((head, decoder, Vec::new()));
                        progress = HeadProgress::default();
                    }
                    Ok(None) => {
                        progress.on_incomplete(&buf);
                        break;
                    }
                    Err(error) => {
                        return Replay {
                            requests,
                            end: End::Error(error),
                        }
                    }
                }
            }
        }
        if let Some(piece) = pieces.next() {
            buf.extend_from_slice(piece);
            continue;
        }
        let end = match &current {
            Some((_, decoder, _)) => match decoder.on_eof() {
                Err(error) => End::Error(error),
                Ok(()) => End::PartialBody,
            },
            None if buf.is_empty() => End::Clean,
            None => End::PartialHead(buf.to_vec()),
        };
        return Replay { requests, end };
    }
}

/// What every accepted head must satisfy, whatever the input.
fn check_head(head: &RequestHead, limits: &Limits) {
    assert!(
        head.raw.ends_with(b"\r\n\r\n"),
        "a head ends with its blank line"
    );
    assert!(
        head.raw.len() <= limits.max_head_bytes,
        "head within max_head_bytes"
    );
    assert!(
        head.headers.len() <= limits.max_header_count,
        "within max_header_count"
    );
    let line_end = head
        .raw
        .iter()
        .position(|&b| b == b'\r')
        .expect("a request line");
    assert!(
        line_end <= limits.max_request_line_bytes,
        "request line within its limit"
    );
    assert!(parse::is_method(head.method().as_bytes()));
    assert!(!head.target().is_empty());
    for (name, value) in head.header_pairs() {
        assert!(!name.is_empty());
        assert!(!value.contains(&b'\r') && !value.contains(&b'\n') && !value.contains(&0));
        assert!(name.len() + 1 + value.len() <= limits.max_header_bytes);
    }
    if let BodyFraming::Length(_) | BodyFraming::Chunked = head.framing {
        let cl = head.header("content-length").is_some();
        let te = head.header("transfer-encoding").is_some();
        assert!(
            cl != te,
            "exactly one of Content-Length and Transfer-Encoding frames a body"
        );
    }
}

/// Request heads and pipelines: every chunking gives the same replay, under each limit set.
pub fn request_stream(data: &[u8]) {
    for limits in limit_sets() {
        let mut chunkings = chunkings(data).into_iter();
        let (cuts, gated) = chunkings.next().expect("the whole input first");
        let whole = replay(data, &limits, &cuts, gated);
        for (cuts, gated) in chunkings {
            let split = replay(data, &limits, &cuts, gated);
            assert_eq!(split, whole, "cut at {cuts:?}, gated: {gated}");
        }
    }
}

/// One request head: `request_head` on the whole input, then on every chunking fed with
/// and without the gate; the first answer that is not "need more" must be the same.
pub fn request_head(data: &[u8]) {
    for limits in limit_sets() {
        let mut buf = BytesMut::from(data);
        let whole = parse::request_head(&mut buf, &limits);
        if let Ok(Some(head)) = &whole {
            check_head(head, &limits);
            // The head was split off the front; the rest is untouched.
            assert!(data.ends_with(&buf[..]));
            assert!(data[..data.len() - buf.len()].ends_with(&head.raw[..]));
        }
        for (cuts, gated) in chunkings(data).into_iter().skip(1) {
            let split = head_in_pieces(data, &limits, &cuts, gated);
            assert_eq!(split, whole, "cut at {cuts:?}, gated: {gated}");
        }
    }
}

fn head_in_pieces(
    data: &[u8],
    limits: &Limits,
    cuts: &[usize],
    gated: bool,
) -> Result<Option<RequestHead>, HttpError> {
    let mut buf = BytesMut::new();
    let mut progress = HeadProgress::default();
    for piece in pieces(data, cuts) {
        buf.extend_from_slice(piece);
        if gated && !progress.needs_rescan(&buf, limits) {
            continue;
        }
        match parse::request_head(&mut buf, limits) {
            Ok(None) => progress.on_incomplete(&buf),
            answer => return answer,
        }
    }
    Ok(None)
}

/// How decoding a chunked body ended: the body, then `Done` with the bytes after it, an
/// error, or the input ran out.
#[derive(Debug, PartialEq, Eq)]
enum BodyEnd {
    Done(Vec<u8>),
    Error(HttpError),
    NeedMore,
}

fn chunked_in_pieces(data: &[u8], limits: &Limits, cuts: &[usize]) -> (Vec<u8>, BodyEnd) {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut pieces = pieces(data, cuts);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty(), "Data is never empty");
                body.extend_from_slice(&data);
                if limits.max_body_bytes != 0 {
                    assert!(
                        body.len() as u64 <= limits.max_body_bytes,
                        "body within max_body_bytes"
                    );
                }
            }
            Ok(Decoded::Done) => {
                // Done again, and nothing more taken.
                let len = buf.len();
                assert_eq!(decoder.decode(&mut buf), Ok(Decoded::Done));
                assert_eq!(buf.len(), len);
                assert!(decoder.on_eof().is_ok());
                let mut after = buf.to_vec();
                after.extend(pieces.flatten());
                return (body, BodyEnd::Done(after));
            }
            Ok(Decoded::NeedMore) => match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => {
                    assert_eq!(decoder.on_eof(), Err(HttpError::IncompleteBody));
                    return (body, BodyEnd::NeedMore);
                }
            },
            Err(error) => return (body, BodyEnd::Error(error)),
        }
    }
}

/// A chunked request body: every chunking decodes the same bytes and ends the same way,
/// and the decoder stops at the end of the framing. Fed byte by byte, it answers `Done`
/// with nothing buffered: it never needed a byte past the framing.
pub fn chunked_body(data: &[u8]) {
    for limits in limit_sets() {
        let whole = chunked_in_pieces(data, &limits, &[]);
        if let BodyEnd::Done(after) = &whole.1 {
            assert!(data.ends_with(after));
            // The framing ends where `after` starts: a byte-by-byte feed of just the framing
            // must reach Done with its last byte.
            let framing = &data[..data.len() - after.len()];
            let (body, end) =
                chunked_in_pieces(framing, &limits, &(1..framing.len()).collect::<Vec<_>>());
            assert_eq!((&body, end), (&whole.0, BodyEnd::Done(Vec::new())));
        }
        for (cuts, _) in chunkings(data).into_iter().skip(1) {
            let split = chunked_in_pieces(data, &limits, &cuts);
            assert_eq!(split, whole, "cut at {cuts:?}");
        }
    }
}

// ---- What a proxy in front sends: PROXY headers, uwsgi packets, forwarding headers.

use _ferrule::proxy::header::{
    self as proxy_header_parser, ProxyProtocol, MAX_V1_LINE, MAX_V2_PAYLOAD,
};
use _ferrule::proxy::uwsgi;
use _ferrule::proxy::{Forwarding, HeaderSet, TrustedPeers};

/// A PROXY protocol header (`proxy::header::parse`) under each accepted-versions setting:
/// the first answer that is not "need more" is the same however the bytes arrive (every
/// prefix answers "need more" or that same answer), a header never claims more bytes than
/// it was given, nor more than the spec's bounds.
pub fn proxy_header(data: &[u8]) {
    for versions in [ProxyProtocol::V1, ProxyProtocol::V2, ProxyProtocol::Auto] {
        let whole = proxy_header_parser::parse(data, versions);
        if let Ok(Some((header, len))) = &whole {
            assert!(*len <= data.len(), "a header within the bytes given");
            let bound = if header.version == 1 {
                MAX_V1_LINE
            } else {
                16 + MAX_V2_PAYLOAD
            };
            assert!(*len <= bound, "a header within the spec's bounds");
            // The same header from exactly its own bytes.
            assert_eq!(
                proxy_header_parser::parse(&data[..*len], versions),
                whole,
                "a header needs no byte past its end"
            );
        }
        for cut in cuts_of(data, 17).into_iter().chain(0..data.len().min(64)) {
            match proxy_header_parser::parse(&data[..cut], versions) {
                Ok(None) => {}
                early => assert_eq!(early, whole, "prefix of {cut} bytes, {versions:?}"),
            }
        }
    }
}

/// A uwsgi packet (`proxy::uwsgi`): every prefix of a complete packet is incomplete (or
/// refused the same way), the packet claims no byte past its block, and a request made of
/// its variables is a head `http::parse` accepted, with no line break in any value, that
/// never keeps the connection alive.
pub fn uwsgi_packet(data: &[u8]) {
    for limits in limit_sets() {
        let whole = uwsgi::parse(data, limits.max_head_bytes);
        for cut in cuts_of(data, 17) {
            match uwsgi::parse(&data[..cut], limits.max_head_bytes) {
                Ok(None) => {}
                early => assert_eq!(early, whole, "prefix of {cut} bytes"),
            }
        }
        let Ok(Some((vars, len))) = whole else {
            continue;
        };
        assert!(len <= data.len() && len >= uwsgi::HEADER_LEN);
        if let Ok((head, forwarded)) = uwsgi::request(&vars, &limits) {
            check_head(&head, &limits);
            assert!(!head.keep_alive, "a uwsgi connection carries one request");
            let texts = [
                forwarded.client.as_ref().map(|c| c.addr_text()),
                forwarded.server_name.clone(),
                forwarded.server_protocol.clone(),
                forwarded.http_host.clone(),
            ];
            for text in texts.iter().flatten() {
                assert!(!text.contains(['\r', '\n', '\0']), "{text:?}");
            }
            if let Some(prefix) = &forwarded.script_prefix {
                assert!(!prefix.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
            }
        }
    }
}

/// Forwarding headers (`proxy::Forwarding::resolve`): the input is a header block after a
/// fixed request line; whatever head the parser accepts, every header honoured, under a
/// few trust sets, resolving never panics, gives the same answer twice, and what it gives
/// is safe to put in the environ (no CR, LF or NUL; a prefix starting with `/`).
pub fn forwarded(data: &[u8]) {
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    raw.extend_from_slice(data);
    if !raw.ends_with(b"\r\n\r\n") {
        raw.extend_from_slice(b"\r\n\r\n");
    }
    let mut buf = BytesMut::from(&raw[..]);
    let Ok(Some(head)) = parse::request_head(&mut buf, &Limits::default()) else {
        return;
    };
    let every = HeaderSet::from_names(&HeaderSet::NAMES.map(|(n, _)| n)).expect("known names");
    for allow in [&["10.0.0.0/8", "fd00::/8"][..], &["*"], &[]] {
        let forwarding = Forwarding {
            allow: TrustedPeers::parse(allow).expect("valid"),
            headers: every,
            ..Forwarding::default()
        };
        let first = forwarding.resolve(&head);
        assert_eq!(
            forwarding.resolve(&head),
            first,
            "resolving is a function of the head"
        );
        let Ok(Some(found)) = first else { continue };
        let texts = [
            found.client.as_ref().map(|c| c.addr_text()),
            found.http_host.clone(),
            found.server_name.clone(),
        ];
        for text in texts.iter().flatten() {
            assert!(!text.contains(['\r', '\n', '\0']), "{text:?}");
        }
        if let Some(prefix) = &found.script_prefix {
            assert!(prefix.is_empty() || prefix[0] == b'/');
            assert!(!prefix.ends_with(b"/"));
        }
    }
}
