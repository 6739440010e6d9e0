//! The HTTP and WebSocket connection scopes (asgiref `specs/www.rst`): a template dict per
//! kind built once per worker with the keys that never change, copied per request and
//! completed from the request head and the connection. Header names are lowercased
//! (the spec: "Header names should be lowercased") and kept in order, duplicates included.
//!
//! `path` is the percent-decoded path as UTF-8 text; a path that is not UTF-8 once decoded
//! cannot be given to the app faithfully, so the request is refused (400) rather than
//! handed over with replacement characters. With `--root-path`, `path` and `raw_path`
//! start with the root path: kept when the client sent it, put in front when a proxy
//! stripped it (as uvicorn does).

use std::collections::HashMap;
use std::net::SocketAddr;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use crate::bridge::ConnInfo;
use crate::http::{HttpError, RequestHead, Version};

/// Header names remembered as lowercased `bytes`. 256: far above the distinct names real
/// clients send, chosen without measurement.
const CACHED_NAMES: usize = 256;

/// Connections whose `client` and `server` tuples are remembered (formatting an address is
/// ~1,800 instructions, the rest of the scope's keys ~10,000): cleared when full. 512, as
/// `wsgi::environ`'s table, for the same reason (memory grew with every new connection
/// until the bound).
const CACHED_CONNECTIONS: usize = 512;

/// A connection's `(local, peer)` addresses.
type AddrKey = (Option<SocketAddr>, Option<SocketAddr>);

/// What every scope of a worker shares, and the strings the loop thread reuses. Lives on
/// the loop thread only.
pub(crate) struct ScopeContext {
    /// `type`, `asgi`, `root_path`, `extensions`.
    template: Py<PyDict>,
    /// The same for WebSocket scopes.
    ws_template: Py<PyDict>,
    root_path: String,
    /// Lowercased header names as `bytes`, by the client's spelling.
    names: HashMap<Box<[u8]>, Py<PyBytes>>,
    methods: HashMap<&'static str, Py<PyString>>,
    /// `client` and `server` by connection: the tuples are immutable, so every request of
    /// a connection shares them.
    addrs: HashMap<AddrKey, [Py<PyAny>; 2]>,
}

impl ScopeContext {
    /// # Errors
    /// Python errors while building the template (out of memory).
    pub(crate) fn new(py: Python<'_>, root_path: &str) -> PyResult<ScopeContext> {
        let asgi = PyDict::new(py);
        asgi.set_item("version", "3.0")?;
        asgi.set_item("spec_version", "2.5")?;
        let template = PyDict::new(py);
        template.set_item("type", "http")?;
        template.set_item("asgi", &asgi)?;
        template.set_item("root_path", root_path)?;
        // Advertised because they work (asgiref `specs/extensions.rst`): files sent with
        // sendfile(2) under `--sendfile`.
        let http_extensions = PyDict::new(py);
        http_extensions.set_item("http.response.pathsend", PyDict::new(py))?;
        http_extensions.set_item("http.response.zerocopysend", PyDict::new(py))?;
        // Trailers after the last chunk (dropped on a response with a length, or to an
        // HTTP/1.0 client); early hints as a 103 to HTTP/1.1 clients.
        http_extensions.set_item("http.response.trailers", PyDict::new(py))?;
        http_extensions.set_item("http.response.early_hint", PyDict::new(py))?;
        template.set_item("extensions", http_extensions)?;
        let ws_template = PyDict::new(py);
        ws_template.set_item("type", "websocket")?;
        ws_template.set_item("asgi", asgi)?;
        ws_template.set_item("root_path", root_path)?;
        let extensions = PyDict::new(py);
        // The denial response: the app may answer the handshake with an HTTP response.
        extensions.set_item("websocket.http.response", PyDict::new(py))?;
        ws_template.set_item("extensions", extensions)?;
        let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
            .into_iter()
            .map(|m| (m, PyString::intern(py, m).unbind()))
            .collect();
        Ok(ScopeContext {
            template: template.unbind(),
            ws_template: ws_template.unbind(),
            root_path: root_path.to_owned(),
            names: HashMap::new(),
            methods,
            addrs: HashMap::new(),
        })
    }

    /// The scope of one HTTP request. `state` is the lifespan state, copied shallowly into
    /// the scope (the spec: each request gets a copy of the namespace).
    ///
    /// # Errors
    /// `Ok(Err(..))`: the request cannot be given to the app (its path is not UTF-8 once
    /// decoded); `Err`: a Python error while building the dict.
    pub(crate) fn http<'py>(
        &mut self,
        py: Python<'py>,
        head: &RequestHead,
        conn: &ConnInfo,
        state: Option<&Py<PyDict>>,
    ) -> PyResult<Result<Bound<'py, PyDict>, HttpError>> {
        let scope = self.template.bind(py).copy()?;
        let method = head.method();
        match self.methods.get(method) {
            Some(m) => scope.set_item(intern!(py, "method"), m.bind(py))?,
            None => scope.set_item(intern!(py, "method"), method)?,
        }
        scope.set_item(intern!(py, "scheme"), conn.scheme)?;
        self.fill(py, scope, head, conn, state)
    }

    /// The scope of one WebSocket handshake: the HTTP keys but `method`, `ws`/`wss` as
    /// the scheme, and the client's `subprotocols`.
    ///
    /// # Errors
    /// As `http`.
    pub(crate) fn websocket<'py>(
        &mut self,
        py: Python<'py>,
        head: &RequestHead,
        conn: &ConnInfo,
        state: Option<&Py<PyDict>>,
    ) -> PyResult<Result<Bound<'py, PyDict>, HttpError>> {
        let scope = self.ws_template.bind(py).copy()?;
        let scheme = if conn.scheme == "https" { "wss" } else { "ws" };
        scope.set_item(intern!(py, "scheme"), scheme)?;
        let subprotocols = PyList::empty(py);
        for (name, value) in head.header_pairs() {
            if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
                for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if !token.is_empty() {
                        subprotocols.append(String::from_utf8_lossy(token))?;
                    }
                }
            }
        }
        scope.set_item(intern!(py, "subprotocols"), subprotocols)?;
        self.fill(py, scope, head, conn, state)
    }

    /// The keys HTTP and WebSocket scopes share.
    fn fill<'py>(
        &mut self,
        py: Python<'py>,
        scope: Bound<'py, PyDict>,
        head: &RequestHead,
        conn: &ConnInfo,
        state: Option<&Py<PyDict>>,
    ) -> PyResult<Result<Bound<'py, PyDict>, HttpError>> {
        let raw_path = head.origin_path();
        let decoded = percent_encoding::percent_decode(raw_path).collect::<Vec<u8>>();
        let Ok(path) = String::from_utf8(decoded) else {
            return Ok(Err(HttpError::InvalidPathEncoding));
        };
        let version = match head.version {
            Version::Http11 => intern!(py, "1.1"),
            Version::Http10 => intern!(py, "1.0"),
            Version::Http2 => intern!(py, "2"),
        };
        scope.set_item(intern!(py, "http_version"), version)?;
        let root = self.root_path.as_str();
        let (path, raw_path): (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, [u8]>) =
            if root.is_empty() || starts_with_segment(&path, root) {
                (path.into(), raw_path.into())
            } else {
                (
                    format!("{root}{path}").into(),
                    [root.as_bytes(), raw_path].concat().into(),
                )
            };
        scope.set_item(intern!(py, "path"), path.as_ref())?;
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, &raw_path))?;
        scope.set_item(intern!(py, "query_string"), PyBytes::new(py, head.query()))?;
        let headers = PyList::empty(py);
        for (name, value) in head.header_pairs() {
            let pair = PyTuple::new(
                py,
                [
                    self.name(py, name).into_any(),
                    PyBytes::new(py, value).into_any(),
                ],
            )?;
            headers.append(pair)?;
        }
        scope.set_item(intern!(py, "headers"), headers)?;
        let [client, server] = self.addrs(py, conn)?;
        scope.set_item(intern!(py, "client"), client)?;
        scope.set_item(intern!(py, "server"), server)?;
        if let Some(state) = state {
            scope.set_item(intern!(py, "state"), state.bind(py).copy()?)?;
        }
        Ok(Ok(scope))
    }

    /// `[client, server]` of a connection, made once per connection.
    fn addrs<'py>(&mut self, py: Python<'py>, conn: &ConnInfo) -> PyResult<[Bound<'py, PyAny>; 2]> {
        let key = (conn.local, conn.peer);
        if let Some(pair) = self.addrs.get(&key) {
            return Ok(pair.each_ref().map(|o| o.bind(py).clone()));
        }
        let pair = [address(py, conn.peer)?, address(py, conn.local)?];
        if self.addrs.len() >= CACHED_CONNECTIONS {
            self.addrs.clear();
        }
        self.addrs
            .insert(key, pair.each_ref().map(|o| o.clone().unbind()));
        Ok(pair)
    }

    /// A header name lowercased, as `bytes`.
    fn name<'py>(&mut self, py: Python<'py>, name: &[u8]) -> Bound<'py, PyBytes> {
        if let Some(cached) = self.names.get(name) {
            return cached.bind(py).clone();
        }
        let lower = PyBytes::new(py, &name.to_ascii_lowercase());
        if self.names.len() < CACHED_NAMES {
            self.names.insert(name.into(), lower.clone().unbind());
        }
        lower
    }
}

/// `path` starts with `root` followed by `/` or nothing.
fn starts_with_segment(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `(host, port)`, or `None` when there is no IP address (unix sockets).
fn address(py: Python<'_>, addr: Option<SocketAddr>) -> PyResult<Bound<'_, PyAny>> {
    match addr {
        Some(addr) => (addr.ip().to_string(), addr.port()).into_bound_py_any(py),
        None => Ok(py.None().into_bound(py)),
    }
}

#[cfg(test)]
mod tests {
    use super::starts_with_segment;

    #[test]
    fn a_root_path_matches_whole_segments_only() {
        assert!(starts_with_segment("/api", "/api"));
        assert!(starts_with_segment("/api/users", "/api"));
        assert!(!starts_with_segment("/apiary", "/api"));
        assert!(!starts_with_segment("/", "/api"));
    }
}
