//! The WSGI environ (PEP 3333 "environ Variables"): a template dict built once per worker
//! with the keys that never change, copied per request and completed from the request
//! head and the connection. Nothing comes from `os.environ`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, SocketAddr};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};

use super::error_stream::ErrorStream;
use super::file_wrapper::FileWrapper;
use super::input::Input;
use super::start_response::EarlyHints;
use crate::bridge::{ConnInfo, TlsFacts};
use crate::http::RequestHead;
use crate::proxy::Forwarded;

/// The keys `build` sets on every request.
const PER_REQUEST_KEYS: &[&str] = &[
    "REQUEST_METHOD",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "REQUEST_URI",
    "SERVER_PROTOCOL",
    "SERVER_NAME",
    "SERVER_PORT",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "wsgi.url_scheme",
    "wsgi.input",
];

/// Builds the per-worker template: `wsgi.*` constants, `SCRIPT_NAME`, server software.
///
/// # Errors
/// Python errors while creating the dict (out of memory).
/// `multithread` and `multiprocess` say whether the app may run in another thread or
/// another process at the same time (PEP 3333: `wsgi.multithread`, `wsgi.multiprocess`).
pub fn template(
    py: Python<'_>,
    root_path: &str,
    multithread: bool,
    multiprocess: bool,
) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("wsgi.version", (1, 0))?;
    d.set_item("wsgi.errors", Py::new(py, ErrorStream)?)?;
    d.set_item("wsgi.multithread", multithread)?;
    d.set_item("wsgi.multiprocess", multiprocess)?;
    d.set_item("wsgi.run_once", false)?;
    d.set_item("wsgi.input_terminated", true)?;
    d.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
    d.set_item("wsgi.early_hints", Py::new(py, EarlyHints)?)?;
    d.set_item("SCRIPT_NAME", root_path)?;
    d.set_item(
        "SERVER_SOFTWARE",
        concat!("ferrule/", env!("CARGO_PKG_VERSION")),
    )?;
    d.set_item("GATEWAY_INTERFACE", "CGI/1.1")?;
    // Placeholders for the keys every request sets: a copy of the template then has room
    // for them, and setting them replaces values instead of growing the dict.
    for key in PER_REQUEST_KEYS {
        d.set_item(PyString::intern(py, key), py.None())?;
    }
    Ok(d.unbind())
}

/// What environ key a request header maps to.
#[derive(Debug, PartialEq, Eq)]
pub enum CgiKey {
    /// `CONTENT_TYPE` / `CONTENT_LENGTH`: no `HTTP_` prefix (PEP 3333, CGI).
    Plain(&'static str),
    /// `HTTP_` + the upper-cased name with `-` as `_`.
    Http(String),
}

/// Maps a header name to its environ key. `None` for names containing `_`: after mapping
/// they would collide with the `-` spelling (`X_Auth_User` impersonating `X-Auth-User`),
/// so they are dropped, as nginx and Apache do.
pub fn cgi_key(name: &[u8]) -> Option<CgiKey> {
    if name.contains(&b'_') {
        return None;
    }
    if name.eq_ignore_ascii_case(b"content-type") {
        return Some(CgiKey::Plain("CONTENT_TYPE"));
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        return Some(CgiKey::Plain("CONTENT_LENGTH"));
    }
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    for &b in name {
        key.push(if b == b'-' {
            '_'
        } else {
            char::from(b.to_ascii_uppercase())
        });
    }
    Some(CgiKey::Http(key))
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are (as gunicorn and
/// werkzeug do).
pub fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.contains(&b'%') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(percent_encoding::percent_decode(raw).collect())
}

/// `PATH_INFO`: percent-decoded path with `root_path` removed from its front when it is
/// there (then it is `SCRIPT_NAME`'s part).
pub fn path_info<'a>(path: &'a [u8], root_path: &str) -> Cow<'a, [u8]> {
    let decoded = percent_decode(path);
    let root = root_path.as_bytes();
    if !root.is_empty() && decoded.starts_with(root) {
        let rest_at = root.len();
        if decoded.len() == rest_at || decoded[rest_at] == b'/' {
            return Cow::Owned(decoded[rest_at..].to_vec());
        }
    }
    decoded
}

/// Bytes as a Python `str`, one character per byte (PEP 3333: "native strings" are
/// latin-1 decoded).
///
/// # Panics
/// Out of memory, as `PyString::new` does.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    // CPython's latin-1 decoder: one pass (ASCII is checked a word at a time and copied),
    // where `str::from_utf8` + `is_ascii` + `PyString::new` (which decodes UTF-8 again)
    // took three.
    let len = isize::try_from(bytes.len()).expect("a slice is at most isize::MAX bytes");
    // SAFETY: `bytes` is valid for `len` bytes, and `errors` may be null; decoding latin-1
    // cannot fail, so a null result means only that memory ran out.
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeLatin1(bytes.as_ptr().cast(), len, std::ptr::null());
        match Bound::from_owned_ptr_or_err(py, ptr) {
            Ok(s) => s.cast_into_unchecked(),
            Err(err) => panic!("cannot allocate a str: {err}"),
        }
    }
}

/// Python strings a thread reuses across requests: environ keys for header names, and
/// the usual methods and protocol versions. One per Python thread (no locking); filled
/// lazily and bounded, so odd header names cannot grow it without limit.
pub struct EnvironStrings {
    keys: HashMap<Box<[u8]>, Option<Py<PyString>>, BuildHasherDefault<Fnv1a>>,
    values: HashMap<&'static str, Py<PyString>, BuildHasherDefault<Fnv1a>>,
    /// `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`, `REMOTE_PORT` by connection
    /// addresses: keep-alive connections format theirs once.
    addrs: HashMap<ConnAddrs, [Py<PyString>; 4], BuildHasherDefault<Fnv1a>>,
}

/// A connection's (local, peer) addresses.
type ConnAddrs = (Option<SocketAddr>, Option<SocketAddr>);

/// Connections whose address strings a thread remembers; the table is emptied when full.
/// 512: more than the keep-alive connections a thread serves in turn in usual deployments
/// (a proxy's upstream pool; the benchmarks' 64). An entry is ~640 bytes, so a thread's
/// table stays under ~330 KiB; at 4096, a worker with 4 threads grew by 10 MiB as new
/// connections filled them (the soak's RSS slope).
const CACHED_CONNECTIONS: usize = 512;

/// Header names remembered per thread. 256: far above the distinct names real clients
/// send, chosen without measurement.
const CACHED_KEYS: usize = 256;

/// Values worth keeping as ready Python strings.
const COMMON_VALUES: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HTTP/1.0", "HTTP/1.1", "http",
    "https", "",
];

impl EnvironStrings {
    pub fn new(py: Python<'_>) -> EnvironStrings {
        let mut values = HashMap::default();
        for v in COMMON_VALUES {
            values.insert(*v, PyString::intern(py, v).unbind());
        }
        EnvironStrings {
            keys: HashMap::default(),
            values,
            addrs: HashMap::default(),
        }
    }

    /// The environ key for a header name (`None`: the header is dropped, see `cgi_key`).
    fn key<'py>(&mut self, py: Python<'py>, name: &[u8]) -> Option<Bound<'py, PyString>> {
        if let Some(key) = self.keys.get(name) {
            return key.as_ref().map(|k| k.bind(py).clone());
        }
        let key = cgi_key(name).map(|k| match k {
            CgiKey::Plain(k) => PyString::intern(py, k),
            CgiKey::Http(k) => PyString::intern(py, &k),
        });
        if self.keys.len() < CACHED_KEYS {
            self.keys
                .insert(name.into(), key.as_ref().map(|k| k.clone().unbind()));
        }
        key
    }

    /// `[SERVER_NAME, SERVER_PORT, REMOTE_ADDR, REMOTE_PORT]` for a connection.
    fn addrs<'py>(&mut self, py: Python<'py>, conn: &ConnInfo) -> [Bound<'py, PyString>; 4] {
        let key = (conn.local, conn.peer);
        if let Some(strings) = self.addrs.get(&key) {
            return strings.each_ref().map(|s| s.bind(py).clone());
        }
        let (server_name, server_port) = match conn.local {
            Some(addr) => (ip_text(addr.ip()), port_text(addr.port())),
            None => ("localhost".to_owned(), "80".to_owned()),
        };
        let (remote_addr, remote_port) = match conn.peer {
            Some(addr) => (ip_text(addr.ip()), port_text(addr.port())),
            None => (String::new(), String::new()),
        };
        let strings =
            [server_name, server_port, remote_addr, remote_port].map(|s| PyString::new(py, &s));
        if self.addrs.len() >= CACHED_CONNECTIONS {
            self.addrs.clear();
        }
        self.addrs
            .insert(key, strings.each_ref().map(|s| s.clone().unbind()));
        strings
    }

    fn value<'py>(&self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        match self.values.get(s) {
            Some(v) => v.bind(py).clone(),
            None => PyString::new(py, s),
        }
    }
}

/// FNV-1a: header names are short, and the table is private to one thread and bounded,
/// so a fast non-keyed hash is enough.
#[derive(Default)]
pub struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// `ip` as text without going through `fmt` for IPv4 (the common case on the hot path).
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(*octet));
            }
            out
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

fn port_text(port: u16) -> String {
    itoa::Buffer::new().format(port).to_owned()
}

/// Builds one request's environ from the template, the head and the connection, then
/// what a trusted proxy said (`forwarded`), which replaces what the socket says.
///
/// # Errors
/// Python errors while filling the dict.
// One argument per source of the environ; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn build<'py>(
    py: Python<'py>,
    cache: &mut EnvironStrings,
    template: &Bound<'py, PyDict>,
    root_path: &str,
    head: &RequestHead,
    conn: &ConnInfo,
    forwarded: Option<&Forwarded>,
    input: Bound<'py, Input>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = template.copy()?;
    env.set_item(
        intern!(py, "REQUEST_METHOD"),
        cache.value(py, head.method()),
    )?;
    env.set_item(
        intern!(py, "PATH_INFO"),
        latin1(py, &path_info(head.origin_path(), root_path)),
    )?;
    env.set_item(intern!(py, "QUERY_STRING"), latin1(py, head.query()))?;
    let raw_uri = latin1(py, head.target());
    env.set_item(intern!(py, "RAW_URI"), &raw_uri)?;
    env.set_item(intern!(py, "REQUEST_URI"), raw_uri)?;
    env.set_item(
        intern!(py, "SERVER_PROTOCOL"),
        cache.value(py, head.version.as_str()),
    )?;
    let [server_name, server_port, remote_addr, remote_port] = cache.addrs(py, conn);
    // A unix socket has no address of its own: PEP 3333 derives the server's name and port
    // from Host when there is one.
    let from_host = if conn.local.is_none() {
        host_name_and_port(head, conn.scheme)
    } else {
        None
    };
    if let Some((name, port)) = from_host {
        env.set_item(intern!(py, "SERVER_NAME"), latin1(py, name))?;
        env.set_item(intern!(py, "SERVER_PORT"), latin1(py, port))?;
    } else {
        env.set_item(intern!(py, "SERVER_NAME"), server_name)?;
        env.set_item(intern!(py, "SERVER_PORT"), server_port)?;
    }
    env.set_item(intern!(py, "REMOTE_ADDR"), remote_addr)?;
    if conn.peer.is_some() {
        env.set_item(intern!(py, "REMOTE_PORT"), remote_port)?;
    } else {
        // Unix sockets have no client port; the template's placeholder goes.
        env.del_item(intern!(py, "REMOTE_PORT"))?;
    }
    env.set_item(intern!(py, "wsgi.url_scheme"), cache.value(py, conn.scheme))?;
    if let Some(tls) = &conn.tls {
        add_tls_keys(py, &env, tls)?;
    }
    env.set_item(intern!(py, "wsgi.input"), input)?;
    for (name, value) in head.header_pairs() {
        let Some(key) = cache.key(py, name) else {
            continue;
        };
        let value = latin1(py, value);
        // Repeated fields are joined (RFC 9110 §5.3); cookies with "; " (RFC 6265 §5.4).
        match env.get_item(&key)? {
            Some(prev) => {
                let sep = if key.to_cow()? == "HTTP_COOKIE" {
                    "; "
                } else {
                    ", "
                };
                let joined = format!(
                    "{}{sep}{}",
                    prev.extract::<Cow<'_, str>>()?,
                    value.to_cow()?
                );
                env.set_item(key, joined.into_py_any(py)?)?;
            }
            None => env.set_item(key, value)?,
        }
    }
    if let Some(forwarded) = forwarded {
        apply_forwarded(py, cache, &env, forwarded, root_path)?;
    }
    Ok(env)
}

/// The keys Apache's `mod_ssl` sets (and `mod_wsgi` users read) for a TLS connection:
/// `HTTPS`, `SSL_PROTOCOL`, `SSL_CIPHER`, and, with a client certificate, `SSL_CLIENT_*`.
fn add_tls_keys(py: Python<'_>, env: &Bound<'_, PyDict>, tls: &TlsFacts) -> PyResult<()> {
    env.set_item(intern!(py, "HTTPS"), intern!(py, "on"))?;
    env.set_item(intern!(py, "SSL_PROTOCOL"), tls.protocol)?;
    env.set_item(intern!(py, "SSL_CIPHER"), tls.cipher.as_str())?;
    match &tls.client {
        Some(client) => {
            env.set_item(intern!(py, "SSL_CLIENT_VERIFY"), intern!(py, "SUCCESS"))?;
            env.set_item(intern!(py, "SSL_CLIENT_S_DN"), client.subject.as_str())?;
            env.set_item(intern!(py, "SSL_CLIENT_I_DN"), client.issuer.as_str())?;
            env.set_item(intern!(py, "SSL_CLIENT_CERT"), client.pem.as_str())?;
        }
        None => env.set_item(intern!(py, "SSL_CLIENT_VERIFY"), intern!(py, "NONE"))?,
    }
    Ok(())
}

/// Replaces the keys a proxy spoke of (see `proxy::Forwarded`): the client, the scheme,
/// the host and port the client asked for, the prefix the app is mounted under.
fn apply_forwarded<'py>(
    py: Python<'py>,
    cache: &EnvironStrings,
    env: &Bound<'py, PyDict>,
    forwarded: &Forwarded,
    root_path: &str,
) -> PyResult<()> {
    if let Some(client) = &forwarded.client {
        env.set_item(intern!(py, "REMOTE_ADDR"), client.addr_text())?;
        match client.port() {
            Some(port) => env.set_item(intern!(py, "REMOTE_PORT"), port_text(port))?,
            // The proxy's port would be a lie about the client; PEP 3333 does not require
            // the key (unix sockets have none either).
            None => {
                if env.contains(intern!(py, "REMOTE_PORT"))? {
                    env.del_item(intern!(py, "REMOTE_PORT"))?;
                }
            }
        }
    }
    if let Some(scheme) = forwarded.scheme {
        env.set_item(
            intern!(py, "wsgi.url_scheme"),
            cache.value(py, scheme.as_str()),
        )?;
    }
    if let Some(host) = &forwarded.http_host {
        env.set_item(intern!(py, "HTTP_HOST"), host)?;
    }
    if let Some(name) = &forwarded.server_name {
        env.set_item(intern!(py, "SERVER_NAME"), name)?;
    }
    if let Some(port) = forwarded.server_port {
        env.set_item(intern!(py, "SERVER_PORT"), port_text(port))?;
    } else if forwarded.http_host.is_some() {
        // A host without a port: the default port of the scheme the client used.
        let scheme = forwarded.scheme.map_or_else(
            || {
                env.get_item(intern!(py, "wsgi.url_scheme"))
                    .map(|s| s.map(|s| s.to_string()))
            },
            |s| Ok(Some(s.as_str().to_owned())),
        )?;
        let port = if scheme.as_deref() == Some("https") {
            443
        } else {
            80
        };
        env.set_item(intern!(py, "SERVER_PORT"), port_text(port))?;
    }
    if let Some(prefix) = &forwarded.script_prefix {
        let mut script_name = prefix.clone();
        script_name.extend_from_slice(root_path.as_bytes());
        env.set_item(intern!(py, "SCRIPT_NAME"), latin1(py, &script_name))?;
    }
    if let Some(protocol) = &forwarded.server_protocol {
        env.set_item(intern!(py, "SERVER_PROTOCOL"), cache.value(py, protocol))?;
    }
    Ok(())
}

/// `(name, port)` from the request's `Host` (RFC 9110 §7.2: `host [":" port]`, an IPv6
/// literal in brackets), the port defaulting to the scheme's. None without a Host.
fn host_name_and_port<'h>(head: &'h RequestHead, scheme: &str) -> Option<(&'h [u8], &'h [u8])> {
    let (_, host) = head
        .header_pairs()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"host"))?;
    if host.is_empty() {
        return None;
    }
    let default_port: &[u8] = if scheme == "https" { b"443" } else { b"80" };
    let port_at = match host.iter().rposition(|&b| b == b':') {
        // `[::1]` without a port: the last ':' is inside the brackets.
        Some(i) if !host[i..].contains(&b']') => Some(i),
        _ => None,
    };
    Some(match port_at {
        Some(i) if i + 1 < host.len() => (&host[..i], &host[i + 1..]),
        Some(i) => (&host[..i], default_port),
        None => (host, default_port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_header_names_to_cgi_keys() {
        let rows: &[(&[u8], Option<CgiKey>)] = &[
            (b"Host", Some(CgiKey::Http("HTTP_HOST".into()))),
            (
                b"x-forwarded-for",
                Some(CgiKey::Http("HTTP_X_FORWARDED_FOR".into())),
            ),
            (b"Content-Type", Some(CgiKey::Plain("CONTENT_TYPE"))),
            (b"CONTENT-LENGTH", Some(CgiKey::Plain("CONTENT_LENGTH"))),
            (b"X_Auth_User", None),
            (b"content_type", None),
        ];
        for (name, want) in rows {
            assert_eq!(&cgi_key(name), want, "{}", String::from_utf8_lossy(name));
        }
    }

    fn head(raw: &str) -> RequestHead {
        let mut buf = bytes::BytesMut::from(raw);
        crate::http::parse::request_head(&mut buf, &crate::http::Limits::default())
            .expect("valid")
            .expect("complete")
    }

    #[test]
    fn server_name_and_port_come_from_host() {
        type Row<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
        let rows: &[Row<'_>] = &[
            (
                "Host: example.com:8080",
                "http",
                Some(("example.com", "8080")),
            ),
            ("Host: example.com", "http", Some(("example.com", "80"))),
            ("Host: example.com", "https", Some(("example.com", "443"))),
            ("Host: [::1]:9000", "http", Some(("[::1]", "9000"))),
            ("Host: [::1]", "http", Some(("[::1]", "80"))),
            ("Host: example.com:", "http", Some(("example.com", "80"))),
            ("X-Other: 1", "http", None),
        ];
        for (field, scheme, want) in rows {
            // HTTP/1.0: a request without Host is valid there.
            let head = head(&format!("GET / HTTP/1.0\r\n{field}\r\n\r\n"));
            let got = host_name_and_port(&head, scheme);
            let want = want.map(|(n, p)| (n.as_bytes(), p.as_bytes()));
            assert_eq!(got, want, "{field} ({scheme})");
        }
    }

    #[test]
    fn an_asterisk_target_is_its_own_path() {
        assert_eq!(
            head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").origin_path(),
            b"*"
        );
        assert_eq!(
            head("GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n").origin_path(),
            b"/x"
        );
        assert_eq!(
            head("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n").origin_path(),
            b"/b"
        );
    }

    #[test]
    fn formats_addresses_without_fmt() {
        assert_eq!(ip_text("127.0.0.1".parse().expect("ip")), "127.0.0.1");
        assert_eq!(ip_text("10.200.3.255".parse().expect("ip")), "10.200.3.255");
        assert_eq!(ip_text("::1".parse().expect("ip")), "::1");
        assert_eq!(port_text(0), "0");
        assert_eq!(port_text(65535), "65535");
    }

    #[test]
    fn decodes_path_and_strips_root_path() {
        assert_eq!(&*path_info(b"/a%20b/%2F", ""), b"/a b//");
        assert_eq!(&*path_info(b"/bad%zz", ""), b"/bad%zz");
        assert_eq!(&*path_info(b"/app/x", "/app"), b"/x");
        assert_eq!(&*path_info(b"/app", "/app"), b"");
        assert_eq!(&*path_info(b"/apple", "/app"), b"/apple");
        assert_eq!(
            &*path_info(b"/%C3%A9", ""),
            "/\u{c3}\u{a9}"
                .chars()
                .map(|c| c as u8)
                .collect::<Vec<_>>()
                .as_slice()
        );
    }
}
