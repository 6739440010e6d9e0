//! The trust walk over forwarding headers: from a trusted peer's request head, the client,
//! scheme, host, port and prefix a proxy says the request really had. Pure: `conn` calls
//! `Forwarding::resolve` once per request (only when the connection's peer is trusted, see
//! `Forwarding::applies_to`), the environ and the access log read the answer.
//!
//! The rules (also in `docs/deploy.md`):
//! 1. Only the headers listed in `--forwarded-headers` are read, and only from a peer in
//!    `--forwarded-allow-ips` (unix-socket peers always). From any other peer they change
//!    nothing (and stay in the environ as `HTTP_X_FORWARDED_*`, as the client sent them).
//! 2. Client lists (`X-Forwarded-For`, `Forwarded: for=`) are walked right to left; trusted
//!    addresses are proxies and are skipped; the first untrusted entry is the client. So a
//!    client that prepends addresses of its own is still seen as itself: its claims are to
//!    the left of the address its proxy appended. When every entry is trusted, the leftmost
//!    one is the client. Entries to the left of the client are never read.
//! 3. Scheme, host, port and prefix headers carry one value: several values that differ
//!    (two `X-Forwarded-Proto` lines, `https, http`) are a conflict.
//! 4. Every honoured header that speaks of the same fact must agree: `Forwarded: for=` and
//!    `X-Forwarded-For` on the client, `Forwarded: proto=`, `X-Forwarded-Proto` and the
//!    secure scheme headers on the scheme.
//! 5. A malformed value that is read, or a conflict, rejects the request (400). Nothing is
//!    applied in part, and the request is never served as if it came from the proxy itself:
//!    a client that could make the server ignore its proxy's headers by adding a bad one
//!    would be seen with the proxy's (often internal) address.

use std::net::{IpAddr, Ipv6Addr};

use super::trust::{canonical, TrustedPeers};
use crate::http::{is_host_value, RequestHead};

/// Which forwarding headers are honoured from trusted peers (`--forwarded-headers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HeaderSet(u8);

impl HeaderSet {
    /// RFC 7239 `Forwarded`: its `for=` and `proto=` (its `host=` with `X_HOST`).
    pub const FORWARDED: HeaderSet = HeaderSet(1);
    pub const X_FOR: HeaderSet = HeaderSet(1 << 1);
    /// `X-Forwarded-Proto` and the secure scheme headers.
    pub const X_PROTO: HeaderSet = HeaderSet(1 << 2);
    pub const X_HOST: HeaderSet = HeaderSet(1 << 3);
    pub const X_PORT: HeaderSet = HeaderSet(1 << 4);
    pub const X_PREFIX: HeaderSet = HeaderSet(1 << 5);

    /// Every header by its name in `--forwarded-headers` (lower case).
    pub const NAMES: [(&'static str, HeaderSet); 6] = [
        ("forwarded", HeaderSet::FORWARDED),
        ("x-forwarded-for", HeaderSet::X_FOR),
        ("x-forwarded-proto", HeaderSet::X_PROTO),
        ("x-forwarded-host", HeaderSet::X_HOST),
        ("x-forwarded-port", HeaderSet::X_PORT),
        ("x-forwarded-prefix", HeaderSet::X_PREFIX),
    ];

    /// The set named by `names` (`None`: a name that is none of `NAMES`).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Option<HeaderSet> {
        let mut set = HeaderSet::default();
        for name in names {
            let (_, one) = Self::NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_ref().trim()))?;
            set.0 |= one.0;
        }
        Some(set)
    }

    /// The names of the headers in the set, in `NAMES` order.
    pub fn names(self) -> Vec<String> {
        Self::NAMES
            .iter()
            .filter(|(_, one)| self.has(*one))
            .map(|(n, _)| (*n).to_owned())
            .collect()
    }

    pub fn has(self, other: HeaderSet) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// `wsgi.url_scheme` as a proxy reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL of this scheme has when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`, in any case (RFC 3986 §3.1: schemes are case-insensitive).
    fn parse(text: &[u8]) -> Option<Scheme> {
        if text.eq_ignore_ascii_case(b"http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case(b"https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// The client as a proxy names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Client {
    /// An address, with the client's port when the proxy gave it.
    Ip(IpAddr, Option<u16>),
    /// RFC 7239 §6: `unknown`, or an obfuscated identifier (`_hidden`): the proxy chose not
    /// to say. It becomes `REMOTE_ADDR` as written (there is no truer address to give).
    Name(String),
}

impl Client {
    /// `REMOTE_ADDR`.
    pub fn addr_text(&self) -> String {
        match self {
            Client::Ip(ip, _) => ip.to_string(),
            Client::Name(name) => name.clone(),
        }
    }

    /// `REMOTE_PORT`, when known.
    pub fn port(&self) -> Option<u16> {
        match self {
            Client::Ip(_, port) => *port,
            Client::Name(_) => None,
        }
    }

    fn same_client(&self, other: &Client) -> bool {
        match (self, other) {
            (Client::Ip(a, _), Client::Ip(b, _)) => canonical(*a) == canonical(*b),
            (Client::Name(a), Client::Name(b)) => a == b,
            _ => false,
        }
    }
}

/// What the request looked like before the proxies, as far as they told: each field
/// replaces what the environ would say from the socket. `None` fields leave it as it is.
/// Also what a uwsgi packet's variables say (`proxy::uwsgi`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// `REMOTE_ADDR` and `REMOTE_PORT` (removed when the port is unknown).
    pub client: Option<Client>,
    /// `wsgi.url_scheme`.
    pub scheme: Option<Scheme>,
    /// `HTTP_HOST`.
    pub http_host: Option<String>,
    /// `SERVER_NAME`.
    pub server_name: Option<String>,
    /// `SERVER_PORT`.
    pub server_port: Option<u16>,
    /// Put in front of `SCRIPT_NAME` (already percent-decoded, no trailing `/`).
    pub script_prefix: Option<Vec<u8>>,
    /// `SERVER_PROTOCOL`: set only from a uwsgi packet, whose request is parsed as HTTP/1.0
    /// whatever the client spoke to the proxy.
    pub server_protocol: Option<String>,
}

/// Why a trusted peer's forwarding headers were refused (answered with 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForwardedError {
    #[error("invalid {header} header: {rule}")]
    Malformed {
        header: &'static str,
        rule: &'static str,
    },
    #[error("conflicting forwarding headers: {0}")]
    Conflict(&'static str),
}

use ForwardedError::{Conflict, Malformed};

/// Forwarding as configured: who is trusted, and for which headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarding {
    /// `--forwarded-allow-ips`.
    pub allow: TrustedPeers,
    /// `--forwarded-headers`.
    pub headers: HeaderSet,
    /// `secure_scheme_headers` (gunicorn's): `(NAME, value)`; a header present with that
    /// exact value says https, with any other value http.
    pub secure_scheme_headers: Vec<(String, String)>,
}

impl Default for Forwarding {
    /// gunicorn's defaults: loopback trusted; `Forwarded`, `X-Forwarded-For` and
    /// `X-Forwarded-Proto` honoured with gunicorn's secure scheme headers.
    fn default() -> Self {
        Forwarding {
            allow: TrustedPeers::parse(&["127.0.0.1", "::1"]).expect("loopback addresses parse"),
            headers: HeaderSet(HeaderSet::FORWARDED.0 | HeaderSet::X_FOR.0 | HeaderSet::X_PROTO.0),
            secure_scheme_headers: [
                ("X-FORWARDED-PROTOCOL", "ssl"),
                ("X-FORWARDED-PROTO", "https"),
                ("X-FORWARDED-SSL", "on"),
            ]
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        }
    }
}

/// Names of the headers this module reads, in the spelling of error messages.
const FORWARDED: &str = "Forwarded";
const X_FOR: &str = "X-Forwarded-For";
const X_PROTO: &str = "X-Forwarded-Proto";
const X_HOST: &str = "X-Forwarded-Host";
const X_PORT: &str = "X-Forwarded-Port";
const X_PREFIX: &str = "X-Forwarded-Prefix";

impl Forwarding {
    /// Whether forwarding headers are read on a connection from `peer` (`None`: a unix
    /// socket). Decided once per connection; when `false`, requests cost nothing more.
    pub fn applies_to(&self, peer: Option<IpAddr>) -> bool {
        !self.headers.is_empty() && self.allow.trusts(peer)
    }

    /// What the forwarding headers of `head` say, from a peer `applies_to` accepted.
    /// `Ok(None)`: no honoured header was sent.
    ///
    /// # Errors
    /// A malformed honoured header, or two that disagree (see the module docs).
    pub fn resolve(&self, head: &RequestHead) -> Result<Option<Box<Forwarded>>, ForwardedError> {
        // Most requests, even through a proxy, carry none of these headers: one pass of
        // one compare per field says so before anything else is set up.
        if !head.header_pairs().any(|(name, _)| self.may_read(name)) {
            return Ok(None);
        }
        self.resolve_fields(head)
    }

    /// Whether `name` may be a header this module reads: each of the standard ones starts
    /// with `F` or `X` (any case) and is at least `Forwarded` long; a secure scheme header
    /// (any name, `X-TLS` say) shares its first letter.
    #[inline]
    fn may_read(&self, name: &[u8]) -> bool {
        let Some(first) = name.first().map(u8::to_ascii_lowercase) else {
            return false;
        };
        (matches!(first, b'f' | b'x') && name.len() >= FORWARDED.len())
            || self
                .secure_scheme_headers
                .iter()
                .any(|(n, _)| n.as_bytes().first().map(u8::to_ascii_lowercase) == Some(first))
    }

    #[inline(never)]
    fn resolve_fields(&self, head: &RequestHead) -> Result<Option<Box<Forwarded>>, ForwardedError> {
        let fields = Fields::collect(self, head);
        if fields.is_empty() {
            return Ok(None);
        }
        let mut out = Forwarded::default();
        let mut element = None;
        if !fields.forwarded.is_empty() {
            let elements = parse_forwarded(&fields.forwarded)?;
            let chosen = walk(&elements, |e| e.for_node.as_ref(), &self.allow);
            element = chosen.map(|i| elements[i].clone());
        }
        // The client.
        let from_forwarded = element
            .as_ref()
            .and_then(|e| e.for_node.as_ref().map(Node::client));
        let from_x_for = if fields.x_for.is_empty() {
            None
        } else {
            Some(x_forwarded_for(&fields.x_for, &self.allow)?)
        };
        out.client = match (from_forwarded, from_x_for) {
            (Some(a), Some(b)) if !a.same_client(&b) => {
                return Err(Conflict(
                    "Forwarded and X-Forwarded-For name different clients",
                ))
            }
            (Some(a), Some(b)) => Some(if a.port().is_some() { a } else { b }),
            (a, b) => a.or(b),
        };
        // The scheme: every vote must agree.
        let mut scheme = element.as_ref().and_then(|e| e.proto);
        let mut vote = |s: Scheme| match scheme {
            Some(prev) if prev != s => Err(Conflict("the scheme headers disagree")),
            _ => {
                scheme = Some(s);
                Ok(())
            }
        };
        for value in &fields.x_proto {
            for item in list_items(value) {
                vote(Scheme::parse(item).ok_or(Malformed {
                    header: X_PROTO,
                    rule: "the scheme must be http or https",
                })?)?;
            }
        }
        for (index, value) in &fields.secure {
            let secure = self.secure_scheme_headers[*index].1.as_bytes();
            vote(if value.trim_ascii() == secure {
                Scheme::Https
            } else {
                Scheme::Http
            })?;
        }
        out.scheme = scheme;
        // Host and port.
        let mut host = single(&fields.x_host, X_HOST)?;
        let forwarded_host = element
            .as_ref()
            .and_then(|e| e.host.as_deref())
            .filter(|_| self.headers.has(HeaderSet::X_HOST));
        if let Some(h) = forwarded_host {
            match host {
                Some(prev) if prev != h.as_bytes() => {
                    return Err(Conflict(
                        "Forwarded and X-Forwarded-Host name different hosts",
                    ))
                }
                _ => host = Some(h.as_bytes()),
            }
        }
        let port = match single(&fields.x_port, X_PORT)? {
            Some(text) => Some(parse_port(text).ok_or(Malformed {
                header: X_PORT,
                rule: "the port must be a number from 0 to 65535",
            })?),
            None => None,
        };
        if let Some(host) = host {
            apply_host(&mut out, host, port)?;
        } else if let Some(port) = port {
            out.server_port = Some(port);
        }
        // The prefix.
        if let Some(prefix) = single(&fields.x_prefix, X_PREFIX)? {
            out.script_prefix = Some(parse_prefix(prefix)?);
        }
        Ok(Some(Box::new(out)))
    }
}

/// The honoured forwarding fields of one head, by header, in the order received.
#[derive(Default)]
struct Fields<'h> {
    forwarded: Vec<&'h [u8]>,
    x_for: Vec<&'h [u8]>,
    x_proto: Vec<&'h [u8]>,
    /// Secure scheme headers other than `X-Forwarded-Proto`: (index in the setting, value).
    secure: Vec<(usize, &'h [u8])>,
    x_host: Vec<&'h [u8]>,
    x_port: Vec<&'h [u8]>,
    x_prefix: Vec<&'h [u8]>,
}

impl<'h> Fields<'h> {
    fn collect(config: &Forwarding, head: &'h RequestHead) -> Fields<'h> {
        let set = config.headers;
        let secure = set.has(HeaderSet::X_PROTO);
        // No name read here is shorter than this: most fields (`Host`, `Accept`, ...) are
        // passed over after one comparison.
        let shortest = config
            .secure_scheme_headers
            .iter()
            .filter(|_| secure)
            .map(|(n, _)| n.len())
            .fold(FORWARDED.len(), usize::min);
        let mut fields = Fields::default();
        for (name, value) in head.header_pairs() {
            if name.len() < shortest {
                continue;
            }
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            let list = if is(FORWARDED) && set.has(HeaderSet::FORWARDED) {
                &mut fields.forwarded
            } else if is(X_FOR) && set.has(HeaderSet::X_FOR) {
                &mut fields.x_for
            } else if is(X_PROTO) && set.has(HeaderSet::X_PROTO) {
                &mut fields.x_proto
            } else if is(X_HOST) && set.has(HeaderSet::X_HOST) {
                &mut fields.x_host
            } else if is(X_PORT) && set.has(HeaderSet::X_PORT) {
                &mut fields.x_port
            } else if is(X_PREFIX) && set.has(HeaderSet::X_PREFIX) {
                &mut fields.x_prefix
            } else {
                if secure {
                    if let Some(index) = config
                        .secure_scheme_headers
                        .iter()
                        .position(|(n, _)| is(n) && !is(X_PROTO))
                    {
                        fields.secure.push((index, value));
                    }
                }
                continue;
            };
            list.push(value);
        }
        fields
    }

    fn is_empty(&self) -> bool {
        self.forwarded.is_empty()
            && self.x_for.is_empty()
            && self.x_proto.is_empty()
            && self.secure.is_empty()
            && self.x_host.is_empty()
            && self.x_port.is_empty()
            && self.x_prefix.is_empty()
    }
}

/// The comma-separated items of a list field (RFC 9110 §5.6.1), OWS trimmed; empty items
/// are kept (a proxy never writes them; callers decide).
fn list_items(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii)
}

/// The one value of a single-valued header: repeated lines or list items must all be the
/// same (rule 3).
fn single<'h>(
    values: &[&'h [u8]],
    header: &'static str,
) -> Result<Option<&'h [u8]>, ForwardedError> {
    let mut found: Option<&[u8]> = None;
    for value in values {
        for item in list_items(value) {
            if item.is_empty() {
                return Err(Malformed {
                    header,
                    rule: "an empty value",
                });
            }
            match found {
                Some(prev) if prev != item => {
                    return Err(Malformed {
                        header,
                        rule: "several different values",
                    })
                }
                _ => found = Some(item),
            }
        }
    }
    Ok(found)
}

/// The index of the client's entry in `entries` (in order, leftmost first): walking right
/// to left, the first whose node is not a trusted address; the leftmost when all are.
fn walk<T>(
    entries: &[T],
    node: impl Fn(&T) -> Option<&Node>,
    allow: &TrustedPeers,
) -> Option<usize> {
    for (i, entry) in entries.iter().enumerate().rev() {
        match node(entry) {
            Some(Node::Ip(ip, _)) if allow.contains(*ip) => {}
            _ => return Some(i),
        }
    }
    entries.len().checked_sub(1).map(|_| 0)
}

/// A hop as a forwarding header names it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Ip(IpAddr, Option<u16>),
    /// `unknown` or an obfuscated identifier.
    Name(String),
}

impl Node {
    fn client(&self) -> Client {
        match self {
            Node::Ip(ip, port) => Client::Ip(*ip, *port),
            Node::Name(name) => Client::Name(name.clone()),
        }
    }
}

/// `X-Forwarded-For` (every line, in order, as one list): the client by the walk. Entries
/// are read from the right only as far as the client's.
fn x_forwarded_for(values: &[&[u8]], allow: &TrustedPeers) -> Result<Client, ForwardedError> {
    let mut leftmost = None;
    for value in values.iter().rev() {
        for item in list_items(value).rev() {
            let node = parse_node(item, false).ok_or(Malformed {
                header: X_FOR,
                rule: "an entry is not an IP address",
            })?;
            match node {
                Node::Ip(ip, _) if allow.contains(ip) => leftmost = Some(node),
                _ => return Ok(node.client()),
            }
        }
    }
    Ok(leftmost
        .expect("a header line has at least one item")
        .client())
}

/// A node (RFC 7239 §6): `IPv4[:port]`, `[IPv6][:port]`, `unknown`, `_obfuscated`; in
/// `X-Forwarded-For` also a bare IPv6 address (`2001:db8::1`), which is how proxies write
/// it there. Ports may be obfuscated too (`_p`), which is as good as none.
fn parse_node(text: &[u8], rfc7239: bool) -> Option<Node> {
    let text = std::str::from_utf8(text).ok()?;
    if text.eq_ignore_ascii_case("unknown") || is_obfuscated(text) {
        return Some(Node::Name(text.to_owned()));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            _ => node_port(after.strip_prefix(':')?).ok()?,
        };
        return Some(Node::Ip(IpAddr::V6(ip), port));
    }
    if !rfc7239 {
        if let Ok(ip) = text.parse::<Ipv6Addr>() {
            return Some(Node::Ip(IpAddr::V6(ip), None));
        }
    }
    let (ip, port) = match text.split_once(':') {
        Some((ip, port)) => (ip, node_port(port).ok()?),
        None => (text, None),
    };
    Some(Node::Ip(IpAddr::V4(ip.parse().ok()?), port))
}

/// `node-port = port / obfport`: `Ok(None)` for an obfuscated port, `Err` for neither.
fn node_port(text: &str) -> Result<Option<u16>, NotAPort> {
    if is_obfuscated(text) {
        return Ok(None);
    }
    parse_port(text.as_bytes()).map(Some).ok_or(NotAPort)
}

/// `node_port`'s refusal.
struct NotAPort;

/// `obfnode = "_" 1*( ALPHA / DIGIT / "." / "_" / "-")` (RFC 7239 §6.3).
fn is_obfuscated(text: &str) -> bool {
    text.len() > 1
        && text.starts_with('_')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// 1 to 5 digits, at most 65535.
fn parse_port(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// One `forwarded-element` of RFC 7239, reduced to what is used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Element {
    for_node: Option<Node>,
    proto: Option<Scheme>,
    host: Option<String>,
}

/// RFC 7239 §4: `Forwarded = 1#forwarded-element`,
/// `forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )`,
/// `forwarded-pair = token "=" value`, `value = token / quoted-string`. Every line is
/// parsed whole (a quoted string may hold commas); a parameter twice in one element is an
/// error (§4: "MUST NOT occur more than once").
fn parse_forwarded(values: &[&[u8]]) -> Result<Vec<Element>, ForwardedError> {
    let syntax = Malformed {
        header: FORWARDED,
        rule: "it does not follow RFC 7239's grammar",
    };
    let mut elements = Vec::new();
    for value in values {
        let mut current = Element::default();
        let mut seen = 0u8;
        let mut rest = *value;
        loop {
            rest = rest.trim_ascii_start();
            // A pair, or nothing before the next ";" or ",".
            if let Some(&c) = rest.first() {
                if c != b';' && c != b',' {
                    let name_len = rest
                        .iter()
                        .take_while(|&&b| crate::http::is_tchar(b))
                        .count();
                    let (name, after) = rest.split_at(name_len);
                    let after = after.strip_prefix(b"=").ok_or(syntax.clone())?;
                    if name.is_empty() {
                        return Err(syntax);
                    }
                    let (text, after) = forwarded_value(after).ok_or(syntax.clone())?;
                    apply_pair(&mut current, &mut seen, name, &text)?;
                    rest = after.trim_ascii_start();
                }
            }
            match rest.first() {
                None => {
                    elements.push(std::mem::take(&mut current));
                    break;
                }
                Some(b';') => rest = &rest[1..],
                Some(b',') => {
                    elements.push(std::mem::take(&mut current));
                    seen = 0;
                    rest = &rest[1..];
                }
                Some(_) => return Err(syntax),
            }
        }
    }
    Ok(elements)
}

/// A `token` or a `quoted-string` (RFC 9110 §5.6.4, quoted-pairs unescaped) at the start of
/// `input`, and what follows it.
fn forwarded_value(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if let Some(quoted) = input.strip_prefix(b"\"") {
        let mut out = Vec::new();
        let mut i = 0;
        while i < quoted.len() {
            match quoted[i] {
                b'"' => return Some((out, &quoted[i + 1..])),
                b'\\' => {
                    let &next = quoted.get(i + 1)?;
                    out.push(next);
                    i += 2;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        // Unbalanced quote.
        return None;
    }
    let len = input
        .iter()
        .take_while(|&&b| crate::http::is_tchar(b))
        .count();
    (len > 0).then(|| (input[..len].to_vec(), &input[len..]))
}

fn apply_pair(
    element: &mut Element,
    seen: &mut u8,
    name: &[u8],
    value: &[u8],
) -> Result<(), ForwardedError> {
    let (bit, bad) = if name.eq_ignore_ascii_case(b"for") {
        (
            1,
            "a for= value is not a node (IPv4, \"[IPv6]\", unknown or _obfuscated)",
        )
    } else if name.eq_ignore_ascii_case(b"proto") {
        (2, "the proto= scheme must be http or https")
    } else if name.eq_ignore_ascii_case(b"host") {
        (4, "the host= value is not a valid host")
    } else if name.eq_ignore_ascii_case(b"by") {
        (8, "")
    } else {
        // §5.5: other parameters may be defined; ignored.
        return Ok(());
    };
    if *seen & bit != 0 {
        return Err(Malformed {
            header: FORWARDED,
            rule: "a parameter appears twice in one element",
        });
    }
    *seen |= bit;
    let malformed = Malformed {
        header: FORWARDED,
        rule: bad,
    };
    match bit {
        1 => {
            element.for_node = Some(parse_node(value, true).ok_or(malformed)?);
        }
        2 => element.proto = Some(Scheme::parse(value).ok_or(malformed)?),
        4 => {
            if value.is_empty() || !is_host_value(value) {
                return Err(malformed);
            }
            element.host = Some(String::from_utf8(value.to_vec()).map_err(|_| malformed)?);
        }
        _ => {}
    }
    Ok(())
}

/// Sets `HTTP_HOST`, `SERVER_NAME` and `SERVER_PORT` from a forwarded host (and port).
fn apply_host(out: &mut Forwarded, host: &[u8], port: Option<u16>) -> Result<(), ForwardedError> {
    let bad = Malformed {
        header: X_HOST,
        rule: "the value is not a valid host",
    };
    if !is_host_value(host) {
        return Err(bad);
    }
    let host = std::str::from_utf8(host).map_err(|_| bad.clone())?;
    // The host grammar was checked: a `:` after the host (or after `]`) starts the port.
    let (name, host_port) = match host.rfind(':') {
        Some(i)
            if !host[i..].contains(']') && (host.starts_with('[') || !host[..i].contains(':')) =>
        {
            (&host[..i], parse_port(&host.as_bytes()[i + 1..]))
        }
        _ => (host, None),
    };
    if let (Some(a), Some(b)) = (host_port, port) {
        if a != b {
            return Err(Conflict(
                "X-Forwarded-Host and X-Forwarded-Port name different ports",
            ));
        }
    }
    out.server_name = Some(
        name.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    );
    out.server_port = port.or(host_port);
    out.http_host = Some(match port {
        Some(p) if host_port.is_none() => format!("{name}:{p}"),
        _ => host.to_owned(),
    });
    Ok(())
}

/// `X-Forwarded-Prefix`: a path (`/app`), percent-decoded, its trailing `/` removed.
fn parse_prefix(value: &[u8]) -> Result<Vec<u8>, ForwardedError> {
    let ok = value.first() == Some(&b'/')
        && value
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'?' && b != b'#');
    if !ok {
        return Err(Malformed {
            header: X_PREFIX,
            rule: "the value must be a path starting with /",
        });
    }
    let mut decoded: Vec<u8> = percent_encoding::percent_decode(value).collect();
    while decoded.last() == Some(&b'/') {
        decoded.pop();
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests;
