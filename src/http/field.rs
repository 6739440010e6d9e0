//! Field lines (RFC 9110 §5, RFC 9112 §5): the byte classes of the grammar, finding the
//! CRLF that ends a line, splitting `name: value`, and walking comma-separated lists.
//! Shared by `parse` (header section) and `body` (chunk lines and the trailer section), so
//! headers and trailers obey one set of rules.

use std::ops::Range;

use super::HttpError;

/// `tchar` of RFC 9110 §5.6.2: the bytes of a token.
static TCHAR: [bool; 256] = byte_class!(|b| b.is_ascii_alphanumeric()
    || matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ));

/// RFC 9110 §5.5: `field-value` bytes are `VCHAR / obs-text` plus SP and HTAB inside.
/// NUL, CR, LF, the other CTLs and DEL are refused.
static FIELD_VALUE: [bool; 256] =
    byte_class!(|b| b == b'\t' || (b >= b' ' && b <= b'~') || b >= 0x80);

/// RFC 9110 §5.6.2 `tchar`: the bytes of a token (field names, methods, transfer codings).
pub fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Whether every byte of `value` may appear in a `field-value` (RFC 9110 §5.5).
pub(super) fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&b| FIELD_VALUE[usize::from(b)])
}

/// Optional whitespace (RFC 9110 §5.6.3): SP and HTAB only. Nothing else is stripped,
/// whatever `char::is_whitespace` thinks of `\x0b`, `\x0c`, `\x85` or `\xa0`.
pub(super) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `qdtext / quoted-pair` payload bytes of RFC 9110 §5.6.4 (without `"` and `\`).
pub(super) fn is_qdtext(b: u8) -> bool {
    b == b'\t'
        || b == b' '
        || b == 0x21
        || (0x23..=0x5B).contains(&b)
        || (0x5D..=0x7E).contains(&b)
        || b >= 0x80
}

/// The byte after a `\` in a quoted-pair: HTAB, SP, VCHAR or obs-text.
pub(super) fn is_quoted_pair_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Finds the CRLF that ends the line starting at `start`, with the line's content (CRLF
/// excluded) bounded by `max_len`.
///
/// Returns the index of the CR, or `None` when more bytes are needed. The length check
/// comes first and is the only check made on an unfinished line, so a line is rejected
/// for the same reason however its bytes were split across reads.
///
/// # Errors
/// `too_long` when the content exceeds `max_len`; `BareLineEnding` for an LF without CR
/// or a CR followed by anything but LF.
pub(super) fn line_end(
    bytes: &[u8],
    start: usize,
    max_len: usize,
    too_long: HttpError,
) -> Result<Option<usize>, HttpError> {
    let rest = &bytes[start..];
    let searched = &rest[..rest.len().min(max_len.saturating_add(1))];
    match find_cr_or_lf(searched) {
        None if rest.len() > max_len => Err(too_long),
        None => Ok(None),
        Some(i) if searched[i] == b'\n' => Err(HttpError::BareLineEnding),
        Some(i) => match rest.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(start + i)),
            Some(_) => Err(HttpError::BareLineEnding),
        },
    }
}

/// The index of the first CR or LF in `bytes`, eight bytes at a time: every head byte
/// passes through here, so this is the parser's hot loop.
fn find_cr_or_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero iff its bit in `(x - ONES) & !x & HIGHS` is set; a borrow can
    // only mark bytes above a real zero, so the lowest mark is always a true match.
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("chunks_exact(8) yields 8 bytes"));
        let marks =
            zero_bytes(w ^ (ONES * u64::from(b'\r'))) | zero_bytes(w ^ (ONES * u64::from(b'\n')));
        if marks != 0 {
            return Some(offset + (marks.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| offset + i)
}

/// A `name: value` line split into ranges relative to the line; the value range excludes
/// leading and trailing OWS.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FieldLine {
    pub(super) name: Range<usize>,
    pub(super) value: Range<usize>,
}

/// Splits and validates one field line (CRLF already removed; not empty). The caller has
/// already refused a line that starts with whitespace (obs-fold, RFC 9112 §5.2).
///
/// # Errors
/// `InvalidHeaderName` for an empty name, a missing colon or a non-token byte in the name;
/// `WhitespaceBeforeColon` (RFC 9112 §5.1: "No whitespace is allowed between the field
/// name and colon"); `InvalidHeaderValue` for a byte outside `field-value`.
pub(super) fn split_field_line(line: &[u8]) -> Result<FieldLine, HttpError> {
    let name_end = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    let colon = match line.get(name_end) {
        Some(b':') if name_end > 0 => name_end,
        Some(&b) if is_ows(b) && name_end > 0 => {
            let after_ws = line[name_end..]
                .iter()
                .position(|&b| !is_ows(b))
                .map(|i| name_end + i);
            return Err(match after_ws.map(|i| line[i]) {
                Some(b':') => HttpError::WhitespaceBeforeColon,
                _ => HttpError::InvalidHeaderName,
            });
        }
        _ => return Err(HttpError::InvalidHeaderName),
    };
    let value = &line[colon + 1..];
    if !value.iter().all(|&b| FIELD_VALUE[usize::from(b)]) {
        return Err(HttpError::InvalidHeaderValue);
    }
    let offset = colon + 1;
    let trimmed = trim_ows(value);
    Ok(FieldLine {
        name: 0..name_end,
        value: offset + trimmed.start..offset + trimmed.end,
    })
}

/// The range of `bytes` without leading and trailing SP/HTAB.
pub(super) fn trim_ows(bytes: &[u8]) -> Range<usize> {
    let Some(start) = bytes.iter().position(|&b| !is_ows(b)) else {
        return 0..0;
    };
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .expect("a non-OWS byte exists")
        + 1;
    start..end
}

/// The elements of a comma-separated list (RFC 9110 §5.6.1), OWS-trimmed, empty elements
/// included (callers decide whether an empty element is an error).
pub(super) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|element| &element[trim_ows(element)])
}

/// Length of the `quoted-string` (RFC 9110 §5.6.4) at the start of `bytes`, quotes included,
/// or `None` when `bytes` does not start with a complete, valid one.
pub(super) fn quoted_string_len(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => return Some(i + 1),
            b'\\' => {
                if !bytes.get(i + 1).is_some_and(|&b| is_quoted_pair_byte(b)) {
                    return None;
                }
                i += 2;
            }
            b if is_qdtext(b) => i += 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_token_bytes_as_rfc_9110_tchar() {
        let tchars: Vec<u8> = (0..=255u8).filter(|&b| is_tchar(b)).collect();
        let expected: Vec<u8> =
            b"!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~"
                .to_vec();
        assert_eq!(tchars, expected);
    }

    #[test]
    fn finds_line_end_at_crlf_within_the_bound() {
        type Case = (&'static [u8], usize, Result<Option<usize>, HttpError>);
        let cases: &[Case] = &[
            (b"abc\r\n", 3, Ok(Some(3))),
            (b"abc\r\n", 2, Err(HttpError::HeaderTooLarge)),
            (b"abc\r", 3, Ok(None)),
            (b"abc", 3, Ok(None)),
            (b"abcd", 3, Err(HttpError::HeaderTooLarge)),
            (b"ab\nc\r\n", 3, Err(HttpError::BareLineEnding)),
            (b"ab\rc\r\n", 3, Err(HttpError::BareLineEnding)),
            (b"\r\n", 0, Ok(Some(0))),
            (b"x", 0, Err(HttpError::HeaderTooLarge)),
        ];
        for (bytes, max, expected) in cases {
            let got = line_end(bytes, 0, *max, HttpError::HeaderTooLarge);
            assert_eq!(
                &got,
                expected,
                "{:?} max {max}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn splits_field_lines_and_trims_only_sp_and_htab() {
        let ok: &[(&[u8], &[u8], &[u8])] = &[
            (b"Host: example.com", b"Host", b"example.com"),
            (b"A:b", b"A", b"b"),
            (b"A: \t b c \t ", b"A", b"b c"),
            (b"A:", b"A", b""),
            (b"A:   ", b"A", b""),
            (b"X_Y: \x80\xff", b"X_Y", b"\x80\xff"),
        ];
        for &(line, name, value) in ok {
            let field = split_field_line(line).expect("valid line");
            assert_eq!(&line[field.name], name);
            assert_eq!(&line[field.value], value);
        }
    }

    #[test]
    fn rejects_malformed_field_lines_by_rule() {
        let cases: &[(&[u8], HttpError)] = &[
            (b": x", HttpError::InvalidHeaderName),
            (b"NoColon", HttpError::InvalidHeaderName),
            (b"Content-Length\x85: 1", HttpError::InvalidHeaderName),
            (b"Content-Length\xa0: 1", HttpError::InvalidHeaderName),
            (b"Stra\xdfe: 1", HttpError::InvalidHeaderName),
            (b"A\"B: 1", HttpError::InvalidHeaderName),
            (b"Foo bar: x", HttpError::InvalidHeaderName),
            (b"Content-Length : 3", HttpError::WhitespaceBeforeColon),
            (b"Content-Length\t: 3", HttpError::WhitespaceBeforeColon),
            (b"A: b\x00c", HttpError::InvalidHeaderValue),
            (b"A: b\x7f", HttpError::InvalidHeaderValue),
            (b"A: \x1b[0m", HttpError::InvalidHeaderValue),
            (
                b"Transfer-Encoding: \x0bchunked",
                HttpError::InvalidHeaderValue,
            ),
            (b"A: b\x0c", HttpError::InvalidHeaderValue),
        ];
        for (line, expected) in cases {
            assert_eq!(
                split_field_line(line).as_ref().map_err(Clone::clone).err(),
                Some(expected.clone()),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn finds_the_first_cr_or_lf_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for (byte, other) in [(b'\r', b'\n'), (b'\n', b'\r')] {
                    // Neighbours of CR and LF, and the same low bits with the high bit set.
                    let fill = [0x0b, 0x0c, 0x0e, 0x09, 0x8d, 0x8a, 0x00];
                    let mut bytes: Vec<u8> = (0..len).map(|i| fill[i % fill.len()]).collect();
                    bytes[at] = byte;
                    if at + 1 < len {
                        bytes[at + 1] = other;
                    }
                    assert_eq!(find_cr_or_lf(&bytes), Some(at), "len {len} at {at}");
                }
            }
            let clean = vec![0x0e; len];
            assert_eq!(find_cr_or_lf(&clean), None);
            let high = vec![0x8d; len];
            assert_eq!(find_cr_or_lf(&high), None, "0x8d is not CR");
        }
    }

    #[test]
    fn walks_list_elements_keeping_empty_ones() {
        let got: Vec<&[u8]> = list_elements(b" gzip ,, chunked,").collect();
        assert_eq!(got, vec![&b"gzip"[..], b"", b"chunked", b""]);
    }

    #[test]
    fn measures_quoted_strings_with_escapes() {
        assert_eq!(quoted_string_len(b"\"abc\"rest"), Some(5));
        assert_eq!(quoted_string_len(b"\"a\\\"b\""), Some(6));
        assert_eq!(quoted_string_len(b"\"\""), Some(2));
        assert_eq!(quoted_string_len(b"\"abc"), None);
        assert_eq!(quoted_string_len(b"\"a\rb\""), None);
        assert_eq!(quoted_string_len(b"\"a\\\x00\""), None);
        assert_eq!(quoted_string_len(b"abc"), None);
    }
}
