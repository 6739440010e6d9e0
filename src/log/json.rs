//! The JSON access log (`--access-log-format json`): one object per line, with typed fields
//! and every string escaped, so that no client can break a line or forge a field (gunicorn
//! #2457: a printf-style JSON format is broken, or forged, by any header holding a quote).
//!
//! Fields, in this order: `time` (ISO 8601, UTC, microseconds; when the head was read),
//! `remote_addr` (the access record's client address), `request_id` (`X-Request-ID` when
//! present and sane, else generated), `method`, `path`, `query`, `protocol`, `status` (0:
//! no response was sent), `bytes` (body bytes sent), `duration_us`, `host`, `referer`,
//! `user_agent` (each `null` when absent), `pid`.
//!
//! Strings: `"` and `\` are escaped, control characters become `\uXXXX` (or `\n`, `\r`,
//! `\t`), U+2028 and U+2029 are escaped too, and bytes from the wire that are not UTF-8
//! become U+FFFD: every line is valid UTF-8 JSON whatever the client sent.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::access::Record;
use super::time;

/// The longest `X-Request-ID` taken as it is. 128: room for a UUID with a prefix, or a
/// W3C trace id and span id; chosen without measurement.
const MAX_REQUEST_ID: usize = 128;

/// Renders one JSON line, newline included.
pub(super) fn render(r: &Record<'_>) -> String {
    let head = r.head;
    let mut out = String::with_capacity(320);
    out.push_str("{\"time\":\"");
    time::push_iso8601(&mut out, r.started);
    out.push_str("\",\"remote_addr\":");
    push_str(&mut out, r.remote.as_bytes());
    out.push_str(",\"request_id\":");
    if let Some(id) = head
        .header("x-request-id")
        .filter(|id| is_sane_request_id(id))
    {
        push_str(&mut out, id);
    } else {
        out.push('"');
        push_generated_id(&mut out);
        out.push('"');
    }
    out.push_str(",\"method\":");
    push_str(&mut out, head.method().as_bytes());
    out.push_str(",\"path\":");
    push_str(&mut out, head.path());
    out.push_str(",\"query\":");
    push_str(&mut out, head.query());
    out.push_str(",\"protocol\":");
    push_str(&mut out, head.version.log_str().as_bytes());
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        ",\"status\":{},\"bytes\":{},\"duration_us\":{}",
        r.status,
        r.body_bytes,
        r.elapsed.as_micros()
    );
    for (field, header) in [
        ("host", "host"),
        ("referer", "referer"),
        ("user_agent", "user-agent"),
    ] {
        let _ = write!(out, ",\"{field}\":");
        match head.header(header) {
            Some(value) => push_str(&mut out, value),
            None => out.push_str("null"),
        }
    }
    let _ = writeln!(out, ",\"pid\":{}}}", std::process::id());
    out
}

/// `bytes` as a JSON string (quotes included). See the module docs.
pub(super) fn push_str(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        if !chunk.invalid().is_empty() {
            out.push('\u{fffd}');
        }
    }
    out.push('"');
}

/// A request id a client or proxy sent that can be logged as it is: 1 to 128 characters
/// of letters, digits and `-._~:/+=@` (UUIDs, W3C trace ids, base64 ids).
fn is_sane_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/+=@".contains(b))
}

/// 32 hex digits, unique within the process (a counter through a bijective mix, keyed by
/// a per-process seed), so unique across workers in practice. Not a secret.
fn push_generated_id(out: &mut String) {
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let _ = write!(
        out,
        "{:016x}{:016x}",
        mix(seed ^ n),
        mix(seed.rotate_left(17).wrapping_add(n))
    );
}

/// splitmix64's finaliser: a bijection on u64 that spreads nearby inputs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &[u8]) -> String {
        let mut out = String::new();
        push_str(&mut out, bytes);
        out
    }

    #[test]
    fn escapes_quotes_controls_and_invalid_utf8() {
        let rows: [(&[u8], &str); 7] = [
            (b"plain", r#""plain""#),
            (b"a\"b\\c", r#""a\"b\\c""#),
            (b"line\r\nbreak\t", r#""line\r\nbreak\t""#),
            (b"\x00\x1b\x7f", r#""\u0000\u001b\u007f""#),
            (b"caf\xc3\xa9", "\"caf\u{e9}\""),
            (b"bad\xff\xfebyte", "\"bad\u{fffd}\u{fffd}byte\""),
            ("\u{2028}".as_bytes(), r#""\u2028""#),
        ];
        for (input, output) in rows {
            assert_eq!(json(input), output, "{input:?}");
        }
    }

    #[test]
    fn takes_a_sane_request_id_and_refuses_others() {
        assert!(is_sane_request_id(b"7f1c2a9e-1b2c-4d3e-8f90-1234567890ab"));
        assert!(is_sane_request_id(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in [&b""[..], b"a b", b"a\"b", b"x\n", &[b'a'; 129]] {
            assert!(!is_sane_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_32_hex_digits_and_differ() {
        let (mut a, mut b) = (String::new(), String::new());
        push_generated_id(&mut a);
        push_generated_id(&mut b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
