//! Replays every file of `tests/corpus/requests/{valid,invalid}` through
//! `http::parse::request_head` and `http::body::BodyDecoder`, as `conn` drives them: whole,
//! byte by byte, and in 50 seeded random splits per file. Every chunking must give the same
//! result, and that result must be what the file's `.toml` says (format: tests/corpus/README.md).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code, clippy::pedantic)]
mod entries;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use _ferrule::http::{HttpError, Limits, RequestHead};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The corpus must not silently shrink: valid and invalid `.http` files together.
const MIN_CORPUS_FILES: usize = 80;
/// Random splits per file, from a fixed seed so a failure reproduces.
const RANDOM_SPLITS: usize = 50;
const SEED: u64 = 0x0f3e_2b1e;

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/requests")
        .join(kind)
}

/// The `.http` files of one kind, sorted; each must have its `.toml`.
fn cases(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir(kind))
        .unwrap_or_else(|e| panic!("{kind} corpus: {e}"))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "http"))
        .collect();
    files.sort();
    for file in &files {
        assert!(
            file.with_extension("toml").exists(),
            "{} has no .toml",
            file.display()
        );
    }
    files
}

/// One request as the parser and decoder saw it (or as a `.toml` expects it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    method: String,
    target: Bytes,
    version: String,
    headers: Vec<(Bytes, Bytes)>,
    framing: String,
    body: Bytes,
    keep_alive: bool,
    expects_continue: bool,
}

impl Request {
    fn from_head(head: &RequestHead, body: Vec<u8>) -> Self {
        Request {
            method: head.method().to_string(),
            target: Bytes::copy_from_slice(head.target()),
            version: head.version.as_str().to_string(),
            headers: head
                .header_pairs()
                .map(|(n, v)| (Bytes::copy_from_slice(n), Bytes::copy_from_slice(v)))
                .collect(),
            framing: format!("{:?}", head.framing),
            body: body.into(),
            keep_alive: head.keep_alive,
            expects_continue: head.expects_continue,
        }
    }
}

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// All bytes consumed at a request boundary.
    Clean,
    Error(HttpError),
    /// The input ended inside a head; the bytes left over.
    PartialHead(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Replay {
    requests: Vec<Request>,
    end: End,
}

/// Feeds `bytes` in pieces cut at `cuts` (sorted) through the fuzz targets' driver
/// (`fuzz/src/lib.rs`: parse and decode until each piece is used up, like `conn` does after
/// every read; at the end, EOF; with `gated`, a head is parsed only when `HeadProgress` says
/// the new piece can change the answer), and shows the result in the corpus's terms.
fn replay(bytes: &[u8], limits: &Limits, cuts: &[usize], gated: bool) -> Replay {
    let seen = entries::replay(bytes, limits, cuts, gated);
    Replay {
        requests: seen
            .requests
            .iter()
            .map(|r| Request::from_head(&r.head, r.body.clone()))
            .collect(),
        end: match seen.end {
            entries::End::Clean => End::Clean,
            entries::End::Error(error) => End::Error(error),
            entries::End::PartialHead(left) => End::PartialHead(left.len()),
            entries::End::PartialBody => {
                unreachable!("a finished body answers Done before NeedMore")
            }
        },
    }
}

/// Every chunking of one file: whole, byte by byte, and the seeded random splits.
fn chunkings(len: usize, rng: &mut StdRng) -> Vec<(String, Vec<usize>)> {
    let mut out = vec![
        ("whole".to_string(), Vec::new()),
        ("byte by byte".to_string(), (1..len).collect()),
    ];
    for i in 0..RANDOM_SPLITS {
        let count = rng.random_range(1..=16usize).min(len.saturating_sub(1));
        let mut cuts: Vec<usize> = (0..count)
            .map(|_| rng.random_range(1..len.max(2)))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        out.push((format!("random split {i} at {cuts:?}"), cuts));
    }
    out
}

fn load_toml(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Corpus strings are byte strings written as latin-1: each char is one byte.
fn latin1(value: &toml::Value, what: &str) -> Bytes {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} must be a string"));
    text.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).unwrap_or_else(|_| panic!("{what}: {c:?} is not latin-1"))
        })
        .collect::<Vec<u8>>()
        .into()
}

fn string(table: &toml::Table, key: &str) -> String {
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("missing string `{key}`"))
        .to_string()
}

fn expected_request(table: &toml::Table) -> Request {
    let headers = table
        .get("headers")
        .and_then(toml::Value::as_array)
        .expect("`headers` is an array of [name, value]")
        .iter()
        .map(|pair| {
            let pair = pair.as_array().expect("a header is [name, value]");
            assert_eq!(pair.len(), 2, "a header is [name, value]");
            (
                latin1(&pair[0], "header name"),
                latin1(&pair[1], "header value"),
            )
        })
        .collect();
    let body = match (table.get("body"), table.get("body_hex")) {
        (Some(body), None) => latin1(body, "body"),
        (None, Some(hex)) => decode_hex(hex.as_str().expect("body_hex is a string")).into(),
        (None, None) => Bytes::new(),
        (Some(_), Some(_)) => panic!("give `body` or `body_hex`, not both"),
    };
    Request {
        method: string(table, "method"),
        target: latin1(&table["target"], "target"),
        version: string(table, "version"),
        headers,
        framing: string(table, "framing"),
        body,
        keep_alive: table
            .get("keep_alive")
            .and_then(toml::Value::as_bool)
            .expect("`keep_alive` is a bool"),
        expects_continue: table
            .get("expects_continue")
            .is_some_and(|v| v.as_bool().expect("`expects_continue` is a bool")),
    }
}

fn decode_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "body_hex has an even length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("body_hex is hex"))
        .collect()
}

fn expected_requests(toml: &toml::Table) -> Vec<Request> {
    toml.get("request")
        .map(|v| v.as_array().expect("[[request]] tables"))
        .into_iter()
        .flatten()
        .map(|v| expected_request(v.as_table().expect("[[request]] is a table")))
        .collect()
}

fn limits_of(toml: &toml::Table) -> Limits {
    let mut limits = Limits::default();
    let Some(table) = toml.get("limits") else {
        return limits;
    };
    for (key, value) in table.as_table().expect("[limits] is a table") {
        let n = value.as_integer().expect("limits are integers");
        let n = u64::try_from(n).expect("limits are not negative");
        let size = usize::try_from(n).expect("limit fits usize");
        match key.as_str() {
            "max_request_line_bytes" => limits.max_request_line_bytes = size,
            "max_header_count" => limits.max_header_count = size,
            "max_header_bytes" => limits.max_header_bytes = size,
            "max_head_bytes" => limits.max_head_bytes = size,
            "max_body_bytes" => limits.max_body_bytes = n,
            other => panic!("unknown limit `{other}`"),
        }
    }
    limits
}

/// Replays one file in every chunking; returns a description of each problem.
fn check_file(http: &Path, rng: &mut StdRng) -> Vec<String> {
    let bytes = fs::read(http).expect("readable .http");
    let toml = load_toml(&http.with_extension("toml"));
    let limits = limits_of(&toml);
    let expected = Replay {
        requests: expected_requests(&toml),
        end: match toml.get("error") {
            None => End::Clean,
            Some(name) => {
                let name = name.as_str().expect("`error` is a string");
                let got_status = toml.get("status").and_then(toml::Value::as_integer);
                // Checked against the real variant below, through its Debug name.
                End::Error(error_named(name, got_status))
            }
        },
    };
    let mut problems = Vec::new();
    let name = http.display();
    if let Some(i) = expected.requests.iter().position(|r| !r.keep_alive) {
        if i + 1 != expected.requests.len() || expected.end != End::Clean {
            problems.push(format!(
                "{name}: a request follows one that closes the connection"
            ));
        }
    }
    'chunkings: for (label, cuts) in chunkings(bytes.len(), rng) {
        for gated in [false, true] {
            let got = replay(&bytes, &limits, &cuts, gated);
            if got != expected {
                problems.push(format!(
                    "{name} ({label}, gated: {gated}):\n  expected {expected:?}\n  got      {got:?}"
                ));
                // One chunking's diff is enough to debug a file.
                break 'chunkings;
            }
        }
    }
    problems
}

/// The `HttpError` whose Debug name is `name`, checked to have `status`.
fn error_named(name: &str, status: Option<i64>) -> HttpError {
    let all = [
        HttpError::RequestLineTooLong,
        HttpError::TooManyHeaders,
        HttpError::HeaderTooLarge,
        HttpError::HeadTooLarge,
        HttpError::InvalidMethod,
        HttpError::InvalidTarget,
        HttpError::UnsupportedVersion,
        HttpError::InvalidVersion,
        HttpError::InvalidHeaderName,
        HttpError::InvalidHeaderValue,
        HttpError::WhitespaceBeforeColon,
        HttpError::ObsoleteLineFolding,
        HttpError::BareLineEnding,
        HttpError::MalformedRequestLine,
        HttpError::InvalidContentLength,
        HttpError::ConflictingContentLength,
        HttpError::ContentLengthWithTransferEncoding,
        HttpError::UnsupportedTransferEncoding,
        HttpError::InvalidTransferEncoding,
        HttpError::MissingHost,
        HttpError::DuplicateHost,
        HttpError::InvalidHost,
        HttpError::DuplicateContentType,
        HttpError::InvalidChunkSize,
        HttpError::InvalidChunkExtension,
        HttpError::MissingChunkTerminator,
        HttpError::ForbiddenTrailer,
        HttpError::InvalidTrailer,
        HttpError::BodyTooLarge,
        HttpError::IncompleteBody,
    ];
    let error = all
        .into_iter()
        .find(|e| format!("{e:?}") == name)
        .unwrap_or_else(|| panic!("no HttpError variant named {name}"));
    assert_eq!(
        status,
        Some(i64::from(error.status())),
        "the status of {name} in the corpus"
    );
    error
}

fn check_kind(kind: &str, seed: u64) {
    let files = cases(kind);
    assert!(
        files.len() >= 40,
        "{kind} corpus has only {} files",
        files.len()
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let problems: Vec<String> = files.iter().flat_map(|f| check_file(f, &mut rng)).collect();
    if !problems.is_empty() {
        let mut report = String::new();
        for problem in &problems {
            writeln!(report, "{problem}").expect("writing to a String");
        }
        panic!(
            "{} of {} {kind} files failed:\n{report}",
            problems.len(),
            files.len()
        );
    }
}

#[test]
fn corpus_holds_enough_files() {
    let total = cases("valid").len() + cases("invalid").len();
    assert!(
        total >= MIN_CORPUS_FILES,
        "the corpus holds {total} .http files, fewer than {MIN_CORPUS_FILES}: is tests/corpus missing?"
    );
}

#[test]
fn valid_requests_parse_the_same_in_every_chunking() {
    check_kind("valid", SEED);
}

#[test]
fn invalid_requests_fail_with_the_same_error_in_every_chunking() {
    check_kind("invalid", SEED + 1);
}

#[test]
fn replay_sees_a_split_head_as_need_more() {
    let bytes = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let whole = replay(bytes, &Limits::default(), &[], false);
    assert_eq!(
        whole,
        replay(bytes, &Limits::default(), &[5, 17, 26], false)
    );
    assert_eq!(whole, replay(bytes, &Limits::default(), &[5, 17, 26], true));
    assert_eq!(
        replay(&bytes[..20], &Limits::default(), &[], false).end,
        End::PartialHead(20)
    );
}
