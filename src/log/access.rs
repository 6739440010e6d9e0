//! Access log formatting with gunicorn's atoms. The format string is parsed once into
//! segments; rendering a line walks them. Pure: `conn` builds the `Record`, `log` writes.
//!
//! Atoms: `h` remote address, `l` `-`, `u` user (from Basic auth) or `-`, `t` time (CLF),
//! `r` request line, `m` method, `U` path, `q` query, `H` protocol, `s` status, `B` body
//! bytes, `b` body bytes or `-`, `f` referer, `a` user agent, `T` seconds, `M` milliseconds,
//! `D` microseconds, `L` decimal seconds, `p` pid, `{name}i` a request header,
//! `{name}o` a response header. Unknown atoms render as `-`, as in gunicorn.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::http::RequestHead;

/// gunicorn's default `access_log_format`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// The facts about one finished exchange that a line may show.
pub struct Record<'a> {
    /// Peer IP address (no port), or `-` for unix sockets.
    pub remote: &'a str,
    pub head: &'a RequestHead,
    pub status: u16,
    /// Body bytes sent to the client (head excluded).
    pub body_bytes: u64,
    /// When the head was complete.
    pub started: SystemTime,
    pub elapsed: Duration,
    /// The app's response header block (`Name: value\r\n` lines).
    pub response_headers: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Remote,
    Dash,
    User,
    Time,
    RequestLine,
    Method,
    Path,
    Query,
    Protocol,
    Status,
    BytesNumber,
    BytesOrDash,
    Seconds,
    Millis,
    Micros,
    DecimalSeconds,
    Pid,
    RequestHeader(String),
    ResponseHeader(String),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Atom(Atom),
}

/// A parsed `access_log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    segments: Vec<Segment>,
}

impl Format {
    /// Parses a gunicorn-style format. Never fails: text that is not an atom is literal.
    pub fn parse(fmt: &str) -> Format {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = fmt;
        while let Some(start) = rest.find("%(") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(")s") else { break };
            literal.push_str(&rest[..start]);
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Atom(atom(&after[..end])));
            rest = &after[end + 2..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Format { segments }
    }

    /// Renders one line, newline included.
    pub fn render(&self, r: &Record<'_>) -> String {
        let mut out = String::with_capacity(160);
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Atom(a) => push_atom(&mut out, a, r),
            }
        }
        out.push('\n');
        out
    }
}

fn atom(name: &str) -> Atom {
    if let Some(h) = name.strip_prefix('{') {
        if let Some(h) = h.strip_suffix("}i") {
            return Atom::RequestHeader(h.to_ascii_lowercase());
        }
        if let Some(h) = h.strip_suffix("}o") {
            return Atom::ResponseHeader(h.to_ascii_lowercase());
        }
        return Atom::Unknown;
    }
    match name {
        "h" => Atom::Remote,
        "l" => Atom::Dash,
        "u" => Atom::User,
        "t" => Atom::Time,
        "r" => Atom::RequestLine,
        "m" => Atom::Method,
        "U" => Atom::Path,
        "q" => Atom::Query,
        "H" => Atom::Protocol,
        "s" => Atom::Status,
        "B" => Atom::BytesNumber,
        "b" => Atom::BytesOrDash,
        "f" => Atom::RequestHeader("referer".into()),
        "a" => Atom::RequestHeader("user-agent".into()),
        "T" => Atom::Seconds,
        "M" => Atom::Millis,
        "D" => Atom::Micros,
        "L" => Atom::DecimalSeconds,
        "p" => Atom::Pid,
        _ => Atom::Unknown,
    }
}

/// Appends bytes from the wire as text; bytes that are not printable ASCII are escaped
/// (`\xNN`) so a client cannot forge log lines.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

fn push_or_dash(out: &mut String, value: Option<&[u8]>) {
    match value {
        Some(v) => push_escaped(out, v),
        None => out.push('-'),
    }
}

fn response_header<'a>(block: &'a [u8], name: &str) -> Option<&'a [u8]> {
    block.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        if line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
            Some(line[colon + 1..].trim_ascii())
        } else {
            None
        }
    })
}

fn basic_auth_user(head: &RequestHead) -> Option<Vec<u8>> {
    let value = head.header("authorization")?;
    let encoded = value.strip_prefix(b"Basic ").or_else(|| value.strip_prefix(b"basic "))?;
    let decoded = base64_decode(encoded.trim_ascii())?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[..colon].to_vec())
}

fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn push_atom(out: &mut String, atom: &Atom, r: &Record<'_>) {
    let head = r.head;
    match atom {
        Atom::Remote => out.push_str(r.remote),
        Atom::Dash | Atom::Unknown => out.push('-'),
        Atom::User => push_or_dash(out, basic_auth_user(head).as_deref()),
        Atom::Time => super::time::push_clf_timestamp(out, r.started),
        Atom::RequestLine => {
            out.push_str(head.method());
            out.push(' ');
            push_escaped(out, head.target());
            out.push(' ');
            out.push_str(head.version.as_str());
        }
        Atom::Method => out.push_str(head.method()),
        Atom::Path => push_escaped(out, head.path()),
        Atom::Query => push_escaped(out, head.query()),
        Atom::Protocol => out.push_str(head.version.as_str()),
        Atom::Status => {
            let _ = write!(out, "{}", r.status);
        }
        Atom::BytesNumber => {
            let _ = write!(out, "{}", r.body_bytes);
        }
        Atom::BytesOrDash => {
            if r.body_bytes == 0 {
                out.push('-');
            } else {
                let _ = write!(out, "{}", r.body_bytes);
            }
        }
        Atom::Seconds => {
            let _ = write!(out, "{}", r.elapsed.as_secs());
        }
        Atom::Millis => {
            let _ = write!(out, "{}", r.elapsed.as_millis());
        }
        Atom::Micros => {
            let _ = write!(out, "{}", r.elapsed.as_micros());
        }
        Atom::DecimalSeconds => {
            let _ = write!(out, "{:.6}", r.elapsed.as_secs_f64());
        }
        Atom::Pid => {
            let _ = write!(out, "{}", std::process::id());
        }
        Atom::RequestHeader(name) => push_or_dash(out, head.header(name)),
        Atom::ResponseHeader(name) => push_or_dash(out, response_header(r.response_headers, name)),
    }
}
