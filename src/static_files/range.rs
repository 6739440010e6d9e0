//! The `Range` header (RFC 9110 §14.1.2, §14.2) for one file: a single byte range is
//! served (206); several ranges are answered with the whole file (200), which RFC 9110
//! §14.2 allows ("a server MAY ignore the Range header field"): no multipart bodies, and no
//! amplification by many overlapping ranges (the "Apache Killer", CVE-2011-3192).

/// What a `Range` header asks of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// One range-spec.
    Single(RangeSpec),
    /// Not a byte range set we serve: another unit, several ranges, bad syntax. RFC 9110
    /// §14.2: ignored, the whole file is sent.
    Ignored,
}

/// One byte range-spec (RFC 9110 §14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-` or `first-last` (last inclusive, at least first).
    From { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// How a range applies to a file of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Satisfied {
    /// Bytes `start..=end` (206).
    Bytes { start: u64, end: u64 },
    /// RFC 9110 §14.1.1: no byte of the range exists (416).
    Unsatisfiable,
    /// A suffix range of an empty file: satisfiable, but no byte can be named in a
    /// `Content-Range`; the whole (empty) file is sent.
    Whole,
}

/// Parses a `Range` value: `bytes=0-499`, `bytes=500-`, `bytes=-500`.
pub fn parse(value: &[u8]) -> RangeRequest {
    let Ok(text) = std::str::from_utf8(value) else {
        return RangeRequest::Ignored;
    };
    let Some((unit, set)) = text.trim().split_once('=') else {
        return RangeRequest::Ignored;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Ignored;
    }
    // RFC 9110 §5.6.1: empty list elements are allowed and ignored.
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeRequest::Ignored;
    };
    parse_spec(spec).map_or(RangeRequest::Ignored, RangeRequest::Single)
}

fn parse_spec(spec: &str) -> Option<RangeSpec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(RangeSpec::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(RangeSpec::From { first, last: None });
    }
    let last = digits(last)?;
    // RFC 9110 §14.1.1: a last-pos below first-pos makes the range-spec invalid.
    (last >= first).then_some(RangeSpec::From {
        first,
        last: Some(last),
    })
}

/// A non-empty run of ASCII digits that fits a u64.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl RangeSpec {
    /// Applies the range to a file of `len` bytes (RFC 9110 §14.1.1: an int-range is
    /// satisfiable when its first byte exists, a suffix-range when its length is not 0; a
    /// last-pos past the end means the end).
    pub fn satisfy(self, len: u64) -> Satisfied {
        match self {
            RangeSpec::From { first, last } => {
                if first >= len {
                    return Satisfied::Unsatisfiable;
                }
                let end = last.map_or(len - 1, |last| last.min(len - 1));
                Satisfied::Bytes { start: first, end }
            }
            RangeSpec::Suffix(0) => Satisfied::Unsatisfiable,
            RangeSpec::Suffix(_) if len == 0 => Satisfied::Whole,
            RangeSpec::Suffix(n) => Satisfied::Bytes {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::{Ignored, Single};
    use RangeSpec::{From, Suffix};

    #[test]
    fn reads_one_byte_range_and_ignores_everything_else() {
        let rows: &[(&str, RangeRequest)] = &[
            (
                "bytes=0-499",
                Single(From {
                    first: 0,
                    last: Some(499),
                }),
            ),
            (
                "bytes=500-",
                Single(From {
                    first: 500,
                    last: None,
                }),
            ),
            ("bytes=-500", Single(Suffix(500))),
            (
                "Bytes = 1-2 ",
                Single(From {
                    first: 1,
                    last: Some(2),
                }),
            ),
            (
                "bytes=1-2,",
                Single(From {
                    first: 1,
                    last: Some(2),
                }),
            ),
            ("bytes=0-0,-1", Ignored),
            ("bytes=0-1,2-3,4-5", Ignored),
            ("bytes=5-4", Ignored),
            ("bytes=-", Ignored),
            ("bytes=a-b", Ignored),
            ("bytes=+1-2", Ignored),
            ("bytes=1-2-3", Ignored),
            ("bytes=99999999999999999999-", Ignored),
            ("items=0-1", Ignored),
            ("bytes", Ignored),
            ("bytes=", Ignored),
        ];
        for (value, want) in rows {
            assert_eq!(parse(value.as_bytes()), *want, "{value}");
        }
    }

    #[test]
    fn applies_a_range_to_the_file_length() {
        use Satisfied::{Bytes, Unsatisfiable, Whole};
        let rows: &[(RangeSpec, u64, Satisfied)] = &[
            (
                From {
                    first: 0,
                    last: Some(9),
                },
                100,
                Bytes { start: 0, end: 9 },
            ),
            (
                From {
                    first: 90,
                    last: Some(200),
                },
                100,
                Bytes { start: 90, end: 99 },
            ),
            (
                From {
                    first: 99,
                    last: None,
                },
                100,
                Bytes { start: 99, end: 99 },
            ),
            (
                From {
                    first: 100,
                    last: None,
                },
                100,
                Unsatisfiable,
            ),
            (
                From {
                    first: 0,
                    last: None,
                },
                0,
                Unsatisfiable,
            ),
            (Suffix(10), 100, Bytes { start: 90, end: 99 }),
            (Suffix(500), 100, Bytes { start: 0, end: 99 }),
            (Suffix(0), 100, Unsatisfiable),
            (Suffix(5), 0, Whole),
        ];
        for (spec, len, want) in rows {
            assert_eq!(spec.satisfy(*len), *want, "{spec:?} of {len}");
        }
    }
}
