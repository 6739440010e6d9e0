//! Conditional and range requests for one static file (RFC 9110 §13.2.2): the
//! preconditions in their order of evaluation, then `Range` and `If-Range`. Takes the
//! request head and the file's validators; says which response to send.

use std::time::{SystemTime, UNIX_EPOCH};

use super::range::{self, RangeRequest, Satisfied};
use crate::http::RequestHead;

/// What identifies the current version of a file (RFC 9110 §8.8).
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The strong `ETag`, quotes included: `"1f4-17a3b2c4d5e6f700"`.
    pub etag: &'a str,
    /// `Last-Modified`, in whole seconds since the epoch.
    pub modified: u64,
    /// The file's length in bytes.
    pub len: u64,
}

/// The response a static request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 200 with the whole file.
    Full,
    /// 206 with bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 304: the client's copy is current.
    NotModified,
    /// 412: `If-Match` or `If-Unmodified-Since` failed.
    PreconditionFailed,
    /// 416: no byte of the requested range exists.
    RangeNotSatisfiable,
}

/// Evaluates the request's preconditions and range against the file (RFC 9110 §13.2.2).
/// `is_get`: ranges apply to GET only (§14.2); HEAD gets the whole file's head. `now`
/// decides whether `Last-Modified` is a strong validator for `If-Range` (§8.8.2.2).
pub fn evaluate(head: &RequestHead, v: &Validators<'_>, is_get: bool, now: SystemTime) -> Decision {
    // Step 1: If-Match, by strong comparison (§13.1.1).
    if let Some(tags) = field_list(head, "if-match") {
        if !matches_any(&tags, v.etag, Comparison::Strong) {
            return Decision::PreconditionFailed;
        }
    } else if let Some(date) = single_date(head, "if-unmodified-since") {
        // Step 2: If-Unmodified-Since, when there is no If-Match (§13.1.4).
        if v.modified > date {
            return Decision::PreconditionFailed;
        }
    }
    // Step 3: If-None-Match, by weak comparison (§13.1.2); GET and HEAD get 304.
    if let Some(tags) = field_list(head, "if-none-match") {
        if matches_any(&tags, v.etag, Comparison::Weak) {
            return Decision::NotModified;
        }
    } else if let Some(date) = single_date(head, "if-modified-since") {
        // Step 4: If-Modified-Since, when there is no If-None-Match (§13.1.3).
        if v.modified <= date {
            return Decision::NotModified;
        }
    }
    // Step 5: Range, for GET, unless If-Range says the client's copy is another version.
    if !is_get {
        return Decision::Full;
    }
    let Some(value) = head.header("range") else {
        return Decision::Full;
    };
    if let Some(condition) = head.header("if-range") {
        if !if_range_holds(condition, v, now) {
            return Decision::Full;
        }
    }
    match range::parse(value) {
        RangeRequest::Ignored => Decision::Full,
        RangeRequest::Single(spec) => match spec.satisfy(v.len) {
            Satisfied::Bytes { start, end } => Decision::Partial { start, end },
            Satisfied::Unsatisfiable => Decision::RangeNotSatisfiable,
            Satisfied::Whole => Decision::Full,
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// A list of entity-tags, or `*`.
enum Tags<'h> {
    Any,
    /// `(weak, opaque-tag with its quotes)`.
    List(Vec<(bool, &'h [u8])>),
}

/// Every value of the `name` fields, read as one list of entity-tags (RFC 9110 §5.3: the
/// field lines combine). `None` when absent, or when a value breaks the grammar (then the
/// precondition is ignored rather than guessed at).
fn field_list<'h>(head: &'h RequestHead, name: &str) -> Option<Tags<'h>> {
    let mut tags = Vec::new();
    let mut any = false;
    let mut present = false;
    for (field, value) in head.header_pairs() {
        if !field.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        present = true;
        if trim(value) == b"*" {
            any = true;
            continue;
        }
        entity_tags(value, &mut tags)?;
    }
    match (present, any) {
        (false, _) => None,
        (true, true) => Some(Tags::Any),
        (true, false) => Some(Tags::List(tags)),
    }
}

/// Appends the entity-tags of one `#entity-tag` value (RFC 9110 §8.8.3): `"x"`, `W/"x"`,
/// separated by commas and optional whitespace. `None` on a grammar error.
fn entity_tags<'h>(value: &'h [u8], out: &mut Vec<(bool, &'h [u8])>) -> Option<()> {
    let mut rest = value;
    loop {
        rest = skip(rest, |b| b == b' ' || b == b'\t' || b == b',');
        if rest.is_empty() {
            return Some(());
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = &rest[2..];
        }
        if rest.first() != Some(&b'"') {
            return None;
        }
        let close = rest[1..].iter().position(|&b| b == b'"')? + 1;
        out.push((weak, &rest[..=close]));
        rest = &rest[close + 1..];
        let after = skip(rest, |b| b == b' ' || b == b'\t');
        if !after.is_empty() && after[0] != b',' {
            return None;
        }
        rest = after;
    }
}

fn skip(bytes: &[u8], pred: impl Fn(u8) -> bool) -> &[u8] {
    let n = bytes.iter().take_while(|&&b| pred(b)).count();
    &bytes[n..]
}

fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = skip(bytes, |b| b == b' ' || b == b'\t');
    let n = bytes
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &bytes[..bytes.len() - n]
}

/// Whether `tags` holds ours (RFC 9110 §8.8.3.2). Ours is always strong.
fn matches_any(tags: &Tags<'_>, ours: &str, comparison: Comparison) -> bool {
    match tags {
        Tags::Any => true,
        Tags::List(list) => list.iter().any(|&(weak, opaque)| {
            opaque == ours.as_bytes() && (comparison == Comparison::Weak || !weak)
        }),
    }
}

/// The date of a field that must have exactly one valid HTTP-date (RFC 9110 §13.1.3,
/// §13.1.4: otherwise the field is ignored), in seconds since the epoch.
fn single_date(head: &RequestHead, name: &str) -> Option<u64> {
    let mut values = head
        .header_pairs()
        .filter(|(field, _)| field.eq_ignore_ascii_case(name.as_bytes()));
    let (_, value) = values.next()?;
    if values.next().is_some() {
        return None;
    }
    http_date(value)
}

fn http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(trim(value)).ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// RFC 9110 §13.1.5: `If-Range` holds when its entity-tag matches ours by strong
/// comparison, or its date equals `Last-Modified` and that is a strong validator: at least
/// one second older than now (§8.8.2.2).
fn if_range_holds(condition: &[u8], v: &Validators<'_>, now: SystemTime) -> bool {
    let condition = trim(condition);
    if condition.starts_with(b"W/") {
        return false;
    }
    if condition.starts_with(b"\"") {
        return condition == v.etag.as_bytes();
    }
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    http_date(condition).is_some_and(|date| date == v.modified && v.modified < now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse, Limits};
    use bytes::BytesMut;
    use std::time::Duration;

    /// Method, request fields, the decision.
    type Row = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Decision,
    );

    const ETAG: &str = "\"64-abc\"";
    /// Sun, 06 Nov 1994 08:49:37 GMT
    const MODIFIED: u64 = 784_111_777;
    const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn decide(method: &str, fields: &[(&str, &str)]) -> Decision {
        let mut text = format!("{method} /f HTTP/1.1\r\nHost: x\r\n");
        for (name, value) in fields {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(value);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        let mut buf = BytesMut::from(text.as_bytes());
        let head = parse::request_head(&mut buf, &Limits::default())
            .expect("valid head")
            .expect("complete head");
        let v = Validators {
            etag: ETAG,
            modified: MODIFIED,
            len: 100,
        };
        let now = UNIX_EPOCH + Duration::from_secs(MODIFIED + 3600);
        evaluate(&head, &v, method == "GET", now)
    }

    #[test]
    fn answers_preconditions_in_the_order_of_rfc_9110() {
        use Decision::*;
        let rows: &[Row] = &[
            ("GET", &[], Full),
            // If-None-Match: weak comparison, any match → 304.
            ("GET", &[("If-None-Match", ETAG)], NotModified),
            ("HEAD", &[("If-None-Match", ETAG)], NotModified),
            ("GET", &[("If-None-Match", "W/\"64-abc\"")], NotModified),
            (
                "GET",
                &[("If-None-Match", "\"x\", \"64-abc\"")],
                NotModified,
            ),
            (
                "GET",
                &[("If-None-Match", "\"x\""), ("If-None-Match", ETAG)],
                NotModified,
            ),
            ("GET", &[("If-None-Match", "*")], NotModified),
            ("GET", &[("If-None-Match", "\"other\"")], Full),
            ("GET", &[("If-None-Match", "64-abc")], Full),
            // If-Modified-Since: only without If-None-Match.
            ("GET", &[("If-Modified-Since", AT)], NotModified),
            ("GET", &[("If-Modified-Since", AFTER)], NotModified),
            ("GET", &[("If-Modified-Since", BEFORE)], Full),
            ("GET", &[("If-Modified-Since", "yesterday")], Full),
            (
                "GET",
                &[("If-Modified-Since", AT), ("If-Modified-Since", AT)],
                Full,
            ),
            (
                "GET",
                &[("If-None-Match", "\"other\""), ("If-Modified-Since", AT)],
                Full,
            ),
            // If-Match: strong comparison, failure → 412, before anything else.
            ("GET", &[("If-Match", ETAG)], Full),
            ("GET", &[("If-Match", "*")], Full),
            ("GET", &[("If-Match", "\"other\"")], PreconditionFailed),
            ("GET", &[("If-Match", "W/\"64-abc\"")], PreconditionFailed),
            (
                "GET",
                &[("If-Match", "\"other\""), ("If-None-Match", ETAG)],
                PreconditionFailed,
            ),
            // If-Unmodified-Since: only without If-Match.
            (
                "GET",
                &[("If-Unmodified-Since", BEFORE)],
                PreconditionFailed,
            ),
            ("GET", &[("If-Unmodified-Since", AT)], Full),
            (
                "GET",
                &[("If-Match", ETAG), ("If-Unmodified-Since", BEFORE)],
                Full,
            ),
            ("GET", &[("If-Unmodified-Since", "garbage")], Full),
        ];
        for (method, fields, want) in rows {
            assert_eq!(decide(method, fields), *want, "{method} {fields:?}");
        }
    }

    #[test]
    fn serves_ranges_to_get_when_if_range_holds() {
        use Decision::*;
        let rows: &[Row] = &[
            (
                "GET",
                &[("Range", "bytes=0-9")],
                Partial { start: 0, end: 9 },
            ),
            (
                "GET",
                &[("Range", "bytes=-10")],
                Partial { start: 90, end: 99 },
            ),
            ("GET", &[("Range", "bytes=100-")], RangeNotSatisfiable),
            ("GET", &[("Range", "bytes=0-1,5-6")], Full),
            ("GET", &[("Range", "lines=1-2")], Full),
            ("HEAD", &[("Range", "bytes=0-9")], Full),
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-Range", ETAG)],
                Partial { start: 0, end: 9 },
            ),
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-Range", "\"old\"")],
                Full,
            ),
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-Range", "W/\"64-abc\"")],
                Full,
            ),
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-Range", AT)],
                Partial { start: 0, end: 9 },
            ),
            ("GET", &[("Range", "bytes=0-9"), ("If-Range", BEFORE)], Full),
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-Range", "nonsense")],
                Full,
            ),
            // A 304 wins over a range; a 412 too.
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-None-Match", ETAG)],
                NotModified,
            ),
            (
                "GET",
                &[("Range", "bytes=0-9"), ("If-Match", "\"x\"")],
                PreconditionFailed,
            ),
        ];
        for (method, fields, want) in rows {
            assert_eq!(decide(method, fields), *want, "{method} {fields:?}");
        }
    }

    #[test]
    fn a_last_modified_of_this_very_second_is_too_weak_for_if_range() {
        let v = Validators {
            etag: ETAG,
            modified: MODIFIED,
            len: 100,
        };
        let now = UNIX_EPOCH + Duration::from_secs(MODIFIED);
        assert!(!if_range_holds(AT.as_bytes(), &v, now));
        assert!(if_range_holds(
            AT.as_bytes(),
            &v,
            now + Duration::from_secs(1)
        ));
    }

    #[test]
    fn a_broken_entity_tag_list_is_ignored() {
        let mut tags = Vec::new();
        assert!(entity_tags(b"\"a\" \"b\"", &mut tags).is_none());
        assert!(entity_tags(b"\"unterminated", &mut tags).is_none());
        assert!(entity_tags(b"abc", &mut tags).is_none());
        tags.clear();
        assert!(entity_tags(b" \"a,b\" ,, W/\"c\" ", &mut tags).is_some());
        assert_eq!(tags, vec![(false, &b"\"a,b\""[..]), (true, &b"\"c\""[..])]);
    }
}
