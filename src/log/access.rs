//! Access log formatting with gunicorn's atoms. The format string is parsed once into
//! segments; rendering a line walks them. Pure: `conn` builds the `Record`, `log` writes.
//!
//! Atoms: `h` remote address, `l` `-`, `u` user (from Basic auth) or `-`, `t` time (CLF),
//! `r` request line, `m` method, `U` path, `q` query, `H` protocol, `s` status, `B` body
//! bytes, `b` body bytes or `-`, `f` referer, `a` user agent, `T` seconds, `M` milliseconds,
//! `D` microseconds, `L` decimal seconds, `p` pid, `{name}i` a request header,
//! `{name}o` a response header; ours: `peer`, the socket's peer address when `h` shows the
//! client a proxy named (`--forwarded-allow-ips`, PROXY protocol, uwsgi). Unknown atoms
//! render as `-`, as in gunicorn.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::http::RequestHead;

/// gunicorn's default `access_log_format`.
pub const DEFAULT_FORMAT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

/// The facts about one finished exchange that a line may show.
pub struct Record<'a> {
    /// The client's IP address (no port) after forwarding, or `-` for unix sockets.
    pub remote: &'a str,
    /// The socket's peer IP address, whatever a proxy said: `-` for unix sockets.
    pub peer: &'a str,
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
    Peer,
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

/// A parsed `access_log_format`: gunicorn's atoms, or `json` (see `log::json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(Kind);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Atoms(Vec<Segment>),
    Json,
}

/// The `access_log_format` that selects the JSON access log.
pub const JSON: &str = "json";

impl Format {
    /// Parses a gunicorn-style format, or `json`. Never fails: text that is not an atom is
    /// literal.
    pub fn parse(fmt: &str) -> Format {
        if fmt.trim() == JSON {
            return Format(Kind::Json);
        }
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
        Format(Kind::Atoms(segments))
    }

    /// Renders one line, newline included.
    pub fn render(&self, r: &Record<'_>) -> String {
        let segments = match &self.0 {
            Kind::Json => return super::json::render(r),
            Kind::Atoms(segments) => segments,
        };
        let mut out = String::with_capacity(160);
        for segment in segments {
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
        "peer" => Atom::Peer,
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
    let encoded = value
        .strip_prefix(b"Basic ")
        .or_else(|| value.strip_prefix(b"basic "))?;
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
        Atom::Peer => out.push_str(r.peer),
        Atom::Dash | Atom::Unknown => out.push('-'),
        Atom::User => push_or_dash(out, basic_auth_user(head).as_deref()),
        Atom::Time => super::time::push_clf_timestamp(out, r.started),
        Atom::RequestLine => {
            out.push_str(head.method());
            out.push(' ');
            push_escaped(out, head.target());
            out.push(' ');
            out.push_str(head.version.log_str());
        }
        Atom::Method => out.push_str(head.method()),
        Atom::Path => push_escaped(out, head.path()),
        Atom::Query => push_escaped(out, head.query()),
        Atom::Protocol => out.push_str(head.version.log_str()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use std::time::{Duration, UNIX_EPOCH};

    fn head(raw: &[u8]) -> RequestHead {
        let mut buf = BytesMut::from(raw);
        crate::http::parse::request_head(&mut buf, &crate::http::Limits::default())
            .expect("valid")
            .expect("complete")
    }

    fn render(fmt: &str, raw: &str) -> String {
        render_bytes(fmt, raw.as_bytes())
    }

    fn render_bytes(fmt: &str, raw: &[u8]) -> String {
        let head = head(raw);
        let record = Record {
            remote: "192.0.2.7",
            peer: "127.0.0.1",
            head: &head,
            status: 200,
            body_bytes: 13,
            started: UNIX_EPOCH + Duration::from_secs(1_795_494_605),
            elapsed: Duration::from_micros(1_234_567),
            response_headers: b"Content-Type: text/plain\r\nX-Id: 42\r\n",
        };
        Format::parse(fmt).render(&record)
    }

    #[test]
    fn renders_the_default_format_like_gunicorn() {
        let line = render(
            DEFAULT_FORMAT,
            "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nReferer: http://r/\r\nUser-Agent: curl/8\r\n\r\n",
        );
        assert_eq!(
            line,
            "192.0.2.7 - - [24/Nov/2026:04:30:05 +0000] \"GET /a?b=1 HTTP/1.1\" 200 13 \"http://r/\" \"curl/8\"\n"
        );
    }

    #[test]
    fn renders_durations_headers_and_unknown_atoms() {
        let raw = "GET /p?q HTTP/1.0\r\nX-Req: abc\r\nAuthorization: Basic dXNlcjpwdw==\r\n\r\n";
        let rows = [
            ("%(D)s", "1234567"),
            ("%(M)s", "1234"),
            ("%(T)s", "1"),
            ("%(L)s", "1.234567"),
            ("%({x-req}i)s", "abc"),
            ("%({X-Missing}i)s", "-"),
            ("%({x-id}o)s", "42"),
            ("%(u)s", "user"),
            ("%(m)s %(U)s %(q)s %(H)s", "GET /p q HTTP/1.0"),
            ("%(B)s %(b)s", "13 13"),
            ("%(zz)s", "-"),
            ("%(h)s via %(peer)s", "192.0.2.7 via 127.0.0.1"),
            ("plain %", "plain %"),
        ];
        for (fmt, want) in rows {
            assert_eq!(render(fmt, raw), format!("{want}\n"), "{fmt}");
        }
    }

    #[test]
    fn renders_json_with_typed_fields_and_the_clients_request_id() {
        let line = render(
            "json",
            "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Request-ID: abc-123\r\nUser-Agent: \"q\"\r\n\r\n",
        );
        assert_eq!(
            line,
            format!(
                "{{\"time\":\"2026-11-24T04:30:05.000000Z\",\"remote_addr\":\"192.0.2.7\",\"request_id\":\"abc-123\",\"method\":\"GET\",\"path\":\"/a\",\"query\":\"b=1\",\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes\":13,\"duration_us\":1234567,\"host\":\"h\",\"referer\":null,\"user_agent\":\"\\\"q\\\"\",\"pid\":{}}}\n",
                std::process::id()
            )
        );
    }

    #[test]
    fn escapes_control_bytes_from_the_client() {
        let line = render_bytes(
            "%(a)s %(U)s",
            b"GET /%1b HTTP/1.1\r\nHost: h\r\nUser-Agent: a\\b\xff\r\n\r\n",
        );
        assert_eq!(line, "a\\x5cb\\xff /%1b\n");
    }
}
