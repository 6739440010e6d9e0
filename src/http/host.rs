//! The `Host` field's grammar (RFC 9110 §7.2, RFC 3986 §3.2.2-3), which `parse` applies
//! to the first `Host` value of every head, and the `uri-host` characters the
//! authority-form target shares with it.

use std::net::Ipv6Addr;

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2): `uri-host` is RFC 3986 §3.2.2's
/// `host = IP-literal / IPv4address / reg-name`, `port = *DIGIT` (§3.2.3). RFC 9112 §3.2
/// answers any other value with 400, whatever the target's form. Where the grammar leaves
/// room, we decide:
/// - The empty value is valid: RFC 9112 §3.2 has a client send it when the target URI has
///   no authority. An empty host before a port (`:80`) is not: RFC 9110 §4.2.1 says a
///   recipient "MUST reject" an http URI with an empty host, and Host is that authority.
/// - `[...]` holds an `IPv6address` as `std::net::Ipv6Addr` parses it (the RFC 4291 §2.2
///   text forms RFC 3986 spells out), or an `IPvFuture` (`v1.x`). No zone ID
///   (`[fe80::1%25eth0]`): RFC 6874 adds it to URIs, and RFC 9110 does not cite RFC 6874.
/// - `IPv4address` needs no rule of its own: every one is also a `reg-name`, as is
///   `256.0.0.1`; whether a name resolves is not a question of syntax.
/// - `reg-name` is ASCII: an internationalized name travels as its A-label (`xn--`).
///   The obs-text that other field values may carry is refused here.
/// - An empty port (`localhost:`) is valid, as `*DIGIT` says. A port above 65535 is
///   refused although `*DIGIT` allows it: it names no TCP port, so no client means it,
///   and an app that parses `HTTP_HOST` (Python's `urllib.parse` `.port`) would raise on
///   it, turning the client's error into the app's 500. Leading zeros are kept (`:080`).
pub fn is_host_value(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let (host_ok, after_host) = if let Some(literal) = value.strip_prefix(b"[") {
        // IP-literal = "[" ( IPv6address / IPvFuture ) "]": neither holds a `]`.
        let Some(close) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        (is_ip_literal(&literal[..close]), &literal[close + 1..])
    } else {
        // A reg-name holds no `:`, so the first one starts the port.
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        (end > 0 && is_reg_name(&value[..end]), &value[end..])
    };
    host_ok
        && match after_host {
            [] => true,
            [b':', port @ ..] => is_port(port),
            _ => false,
        }
}

/// The inside of `[...]`: `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`
/// (RFC 3986 §3.2.2; ABNF literals ignore case, so `V` too), else an IPv6 address.
fn is_ip_literal(inner: &[u8]) -> bool {
    if let [b'v' | b'V', version_and_address @ ..] = inner {
        let digits = version_and_address
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        return match &version_and_address[digits..] {
            [b'.', address @ ..] => {
                digits > 0
                    && !address.is_empty()
                    && address
                        .iter()
                        .all(|&b| is_unreserved_or_sub_delim(b) || b == b':')
            }
            _ => false,
        };
    }
    std::str::from_utf8(inner).is_ok_and(|text| text.parse::<Ipv6Addr>().is_ok())
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )` (RFC 3986 §3.2.2), with
/// `pct-encoded = "%" HEXDIG HEXDIG` (§2.1).
fn is_reg_name(name: &[u8]) -> bool {
    let mut rest = name;
    while let [first, tail @ ..] = rest {
        rest = match (*first, tail) {
            (b'%', [hi, lo, after @ ..]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                after
            }
            (b, _) if is_unreserved_or_sub_delim(b) => tail,
            _ => return false,
        };
    }
    true
}

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` and `sub-delims = "!" / "$" / "&" /
/// "'" / "(" / ")" / "*" / "+" / "," / ";" / "="` (RFC 3986 §2.2, §2.3), as a table: every
/// request's Host value is checked byte by byte (a table lookup is one load per byte, the
/// `matches!` chain was ~15 compares).
static UNRESERVED_OR_SUB_DELIM: [bool; 256] = byte_class!(|b| b.is_ascii_alphanumeric()
    || matches!(
        b,
        b'-' | b'.'
            | b'_'
            | b'~'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
    ));

#[inline]
pub(super) fn is_unreserved_or_sub_delim(b: u8) -> bool {
    UNRESERVED_OR_SUB_DELIM[usize::from(b)]
}

/// `port = *DIGIT` (RFC 3986 §3.2.3), empty included, with a value of at most 65535 (see
/// `is_host_value` for why).
fn is_port(port: &[u8]) -> bool {
    port.iter()
        .try_fold(0u16, |n, &b| {
            if !b.is_ascii_digit() {
                return None;
            }
            n.checked_mul(10)?.checked_add(u16::from(b - b'0'))
        })
        .is_some()
}
