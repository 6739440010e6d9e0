//! Binding listening sockets: TCP (IPv4, IPv6, resolved names) and unix sockets, with the
//! configured backlog. Accepting is `server`'s job; this module only creates and describes.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::config::BindSpec;

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

/// Binding failed; carries the address as the user wrote it.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {address}: {source}")]
pub struct BindError {
    pub address: String,
    #[source]
    pub source: io::Error,
}

impl Listener {
    /// `http://127.0.0.1:8000`, `http://[::1]:8000` or `unix:/path`: the address clients use,
    /// with the real port when the spec said 0.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(_) => "http://(unknown)".to_owned(),
            },
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }
}

/// Binds one spec. A host name binds to its first resolved address.
///
/// # Errors
/// `BindError` naming the address.
pub fn bind(spec: &BindSpec, backlog: u32) -> Result<Listener, BindError> {
    match spec {
        BindSpec::Tcp { host, port } => {
            let shown = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            let err = |source| BindError { address: shown.clone(), source };
            let addr = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(err)?
                .next()
                .ok_or_else(|| err(io::Error::new(io::ErrorKind::NotFound, "no address found")))?;
            bind_tcp(addr, backlog).map(Listener::Tcp).map_err(err)
        }
        BindSpec::Unix(path) => {
            let err = |source| BindError { address: format!("unix:{}", path.display()), source };
            bind_unix(path, backlog).map(|l| Listener::Unix(l, path.clone())).map_err(err)
        }
    }
}

fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Restarting must not fail on sockets lingering in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

fn bind_unix(path: &Path, backlog: u32) -> io::Result<std::os::unix::net::UnixListener> {
    // A socket file left by an earlier run would make bind fail; remove it, but never
    // remove anything that is not a socket.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_port_zero_and_describes_real_port() {
        let l = bind(&BindSpec::Tcp { host: "127.0.0.1".into(), port: 0 }, 16).expect("bind");
        let d = l.describe();
        assert!(d.starts_with("http://127.0.0.1:"), "{d}");
        assert!(!d.ends_with(":0"), "{d}");
    }

    #[test]
    fn bind_error_names_the_address() {
        let first = bind(&BindSpec::Tcp { host: "127.0.0.1".into(), port: 0 }, 16).expect("bind");
        let Listener::Tcp(l) = &first else { panic!("tcp") };
        let port = l.local_addr().expect("addr").port();
        // SO_REUSEADDR does not allow two listeners on one port.
        let err = bind(&BindSpec::Tcp { host: "127.0.0.1".into(), port }, 16).expect_err("in use");
        assert_eq!(err.address, format!("127.0.0.1:{port}"));
        assert!(err.to_string().starts_with(&format!("cannot bind 127.0.0.1:{port}: ")));
    }
}
