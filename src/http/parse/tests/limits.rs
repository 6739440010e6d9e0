//! Every size limit at exactly its bound and one byte over it.

use super::*;

#[test]
fn bounds_the_request_line_at_under_and_over_the_limit() {
    let limits = limits(|l| l.max_request_line_bytes = 32);
    let line_of = |len: usize| format!("GET /{} HTTP/1.1", "a".repeat(len - 14));
    for (len, expected) in [
        (31, None),
        (32, None),
        (33, Some(HttpError::RequestLineTooLong)),
    ] {
        let bytes = head(&line_of(len), &["Host: h"]);
        assert_eq!(line_of(len).len(), len);
        assert_eq!(parse_with(&bytes, &limits).err(), expected, "line of {len}");
        assert_same_outcome_for_every_prefix(&bytes, &limits);
    }
    // The limit applies before the CRLF arrives: 33 bytes of a line are already too many.
    let partial = "GET /".to_string() + &"a".repeat(28);
    assert_eq!(
        parse_with(partial.as_bytes(), &limits),
        Err(HttpError::RequestLineTooLong)
    );
    assert_eq!(parse_with(&partial.as_bytes()[..32], &limits), Ok(None));
}

#[test]
fn bounds_each_header_line_at_under_and_over_the_limit() {
    let limits = limits(|l| l.max_header_bytes = 20);
    for (len, expected) in [
        (19, None),
        (20, None),
        (21, Some(HttpError::HeaderTooLarge)),
    ] {
        let field = format!("X: {}", "v".repeat(len - 3));
        let bytes = head("GET / HTTP/1.1", &["Host: h", &field]);
        assert_eq!(
            parse_with(&bytes, &limits).err(),
            expected,
            "field of {len}"
        );
        assert_same_outcome_for_every_prefix(&bytes, &limits);
    }
    let partial = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(18));
    assert_eq!(
        parse_with(partial.as_bytes(), &limits),
        Err(HttpError::HeaderTooLarge)
    );
}

#[test]
fn bounds_the_whole_head_at_under_and_over_the_limit() {
    let base = head("GET / HTTP/1.1", &["Host: h", "X: "]);
    let limit = base.len() + 10;
    let limits = limits(|l| l.max_head_bytes = limit);
    for (extra, expected) in [(9, None), (10, None), (11, Some(HttpError::HeadTooLarge))] {
        let bytes = head(
            "GET / HTTP/1.1",
            &["Host: h", &format!("X: {}", "v".repeat(extra))],
        );
        assert_eq!(bytes.len(), limit - 10 + extra);
        assert_eq!(
            parse_with(&bytes, &limits).err(),
            expected,
            "head of {}",
            bytes.len()
        );
        assert_same_outcome_for_every_prefix(&bytes, &limits);
    }
    // An incomplete head is refused as soon as it holds more than the limit.
    let endless = vec![b'a'; limit + 1];
    let mut endless_head = b"GET / HTTP/1.1\r\nX: ".to_vec();
    endless_head.extend_from_slice(&endless);
    let limits = Limits {
        max_header_bytes: limit * 2,
        ..limits
    };
    assert_eq!(
        parse_with(&endless_head, &limits),
        Err(HttpError::HeadTooLarge)
    );
}

#[test]
fn bounds_the_header_count_at_under_and_over_the_limit() {
    let limits = limits(|l| l.max_header_count = 5);
    for (count, expected) in [(4, None), (5, None), (6, Some(HttpError::TooManyHeaders))] {
        let mut fields = vec!["Host: h".to_string()];
        fields.extend((1..count).map(|i| format!("X-{i}: v")));
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let bytes = head("GET / HTTP/1.1", &fields);
        assert_eq!(
            parse_with(&bytes, &limits).err(),
            expected,
            "{count} fields"
        );
        assert_same_outcome_for_every_prefix(&bytes, &limits);
    }
}

#[test]
fn accepts_a_head_of_exactly_the_default_limits() {
    let defaults = Limits::default();
    // 99 fields of 650 bytes and Host: 64 KiB minus the request line and the blank line.
    let line = format!(
        "GET /{} HTTP/1.1",
        "a".repeat(defaults.max_request_line_bytes - 14)
    );
    assert_eq!(line.len(), defaults.max_request_line_bytes);
    let mut fields = vec!["Host: h".to_string()];
    let filler = defaults.max_head_bytes - (line.len() + 2) - (7 + 2) - 2;
    let per_field = filler / (defaults.max_header_count - 1);
    for i in 0..defaults.max_header_count - 1 {
        let len = if i == 0 {
            filler - per_field * (defaults.max_header_count - 2)
        } else {
            per_field
        };
        fields.push(format!("X{i:02}: {}", "v".repeat(len - 2 - 5)));
    }
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let bytes = head(&line, &fields);
    assert_eq!(bytes.len(), defaults.max_head_bytes);
    let head = parse_with(&bytes, &defaults)
        .expect("at every limit")
        .expect("complete");
    assert_eq!(head.headers.len(), defaults.max_header_count);
    let mut one_more = bytes.clone();
    one_more.insert(line.len() + 2 + 9 + 5, b'v');
    assert_eq!(
        parse_with(&one_more, &defaults).err(),
        Some(HttpError::HeadTooLarge)
    );
}
