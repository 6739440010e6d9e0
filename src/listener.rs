//! Binding listening sockets: TCP (IPv4, IPv6, resolved names) and unix sockets, with the
//! configured backlog; or adopting sockets the process was started with (`fd://N`, systemd's
//! `LISTEN_FDS`, a master's USR2 hand-over). Accepting is `server`'s job; this module only
//! creates, adopts and describes.

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

/// How sockets are bound beyond their address. Read by `bind_with`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenOptions {
    /// The listen(2) backlog.
    pub backlog: u32,
    /// `SO_REUSEPORT` on TCP sockets (`--reuse-port`): other processes may bind the same port.
    pub reuse_port: bool,
    /// chmod for unix socket files (`--unix-socket-mode`); `None`: as the umask leaves it.
    pub unix_socket_mode: Option<u32>,
}

/// Binds one spec. A host name binds to its first resolved address.
///
/// # Errors
/// `BindError` naming the address.
pub fn bind(spec: &BindSpec, backlog: u32) -> Result<Listener, BindError> {
    bind_with(
        spec,
        &ListenOptions {
            backlog,
            ..ListenOptions::default()
        },
    )
}

/// `bind` with every option.
///
/// # Errors
/// `BindError` naming the address.
pub fn bind_with(spec: &BindSpec, options: &ListenOptions) -> Result<Listener, BindError> {
    let backlog = options.backlog;
    match spec {
        BindSpec::Tcp { host, port } => {
            let shown = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let err = |source| BindError {
                address: shown.clone(),
                source,
            };
            let addr = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(err)?
                .next()
                .ok_or_else(|| err(io::Error::new(io::ErrorKind::NotFound, "no address found")))?;
            bind_tcp(addr, backlog, options.reuse_port)
                .map(Listener::Tcp)
                .map_err(err)
        }
        BindSpec::Unix(path) => {
            let err = |source| BindError {
                address: format!("unix:{}", path.display()),
                source,
            };
            let listener = bind_unix(path, backlog).map_err(err)?;
            if let Some(mode) = options.unix_socket_mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(err)?;
            }
            Ok(Listener::Unix(listener, path.clone()))
        }
        BindSpec::Fd(fd) => adopt(*fd).map_err(|source| BindError {
            address: format!("fd://{fd}"),
            source,
        }),
    }
}

/// Takes over descriptor `fd`, which must be a listening stream socket (TCP or unix); it is
/// made non-blocking and close-on-exec.
///
/// # Errors
/// `fd` is not open, not a socket, or not listening.
pub fn adopt(fd: std::os::fd::RawFd) -> io::Result<Listener> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl(F_GETFD) only checks that the descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open and, from here on, owned by this socket: the caller
    // hands it over (it came from our parent or systemd for us to serve on).
    let socket = unsafe { Socket::from_raw_fd(fd) };
    let listening = socket.is_listener();
    let ty = socket.r#type();
    if !matches!(listening, Ok(true)) || !matches!(ty, Ok(t) if t == Type::STREAM) {
        // Not ours to close: give the descriptor back untouched.
        std::mem::forget(socket);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening stream socket",
        ));
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    let local = socket.local_addr()?;
    if let Some(path) = local.as_pathname() {
        let path = path.to_path_buf();
        return Ok(Listener::Unix(socket.into(), path));
    }
    if local.is_unix() {
        return Ok(Listener::Unix(socket.into(), PathBuf::from("(unnamed)")));
    }
    Ok(Listener::Tcp(socket.into()))
}

/// The identity (device, inode) of the file at `path`, to tell later whether a socket file is
/// still the one we bound (another server may have replaced it).
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

impl Listener {
    /// The descriptor, for handing the socket to a new master (USR2).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

fn bind_tcp(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Restarting must not fail on sockets lingering in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
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
    // remove anything that is not a socket, nor a socket another server accepts on (taking
    // it over would leave that server serving nobody, and it would delete ours at its stop).
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another server is listening on this socket (stop it first, or bind another path)",
                ));
            }
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
        let l = bind(
            &BindSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 0,
            },
            16,
        )
        .expect("bind");
        let d = l.describe();
        assert!(d.starts_with("http://127.0.0.1:"), "{d}");
        assert!(!d.ends_with(":0"), "{d}");
    }

    #[test]
    fn adopts_a_listening_socket_by_descriptor_and_refuses_other_descriptors() {
        use std::os::fd::IntoRawFd;
        let Listener::Tcp(l) = bind(
            &BindSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 0,
            },
            16,
        )
        .expect("bind") else {
            panic!("tcp")
        };
        let addr = l.local_addr().expect("addr");
        let adopted = bind(&BindSpec::Fd(l.into_raw_fd()), 16).expect("adopt");
        assert_eq!(adopted.describe(), format!("http://{addr}"));
        let file = std::fs::File::open("/dev/null")
            .expect("open")
            .into_raw_fd();
        let err = bind(&BindSpec::Fd(file), 16).expect_err("not a socket");
        assert_eq!(err.address, format!("fd://{file}"));
        // SAFETY: our own descriptor, given back untouched by `adopt`.
        unsafe { libc::close(file) };
    }

    #[test]
    fn reuse_port_lets_two_sockets_bind_one_port_and_unix_mode_is_applied() {
        use std::os::unix::fs::PermissionsExt;
        let options = ListenOptions {
            backlog: 16,
            reuse_port: true,
            unix_socket_mode: Some(0o600),
        };
        let spec = BindSpec::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        };
        let Listener::Tcp(first) = bind_with(&spec, &options).expect("bind") else {
            panic!("tcp")
        };
        let port = first.local_addr().expect("addr").port();
        bind_with(
            &BindSpec::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            &options,
        )
        .expect("same port");
        let path = std::env::temp_dir().join(format!("ferrule-mode-{}.sock", std::process::id()));
        bind_with(&BindSpec::Unix(path.clone()), &options).expect("unix");
        let mode = std::fs::metadata(&path)
            .expect("socket file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_file(path).expect("cleanup");
    }

    #[test]
    fn a_live_unix_socket_is_refused_and_a_stale_one_replaced() {
        let path = std::env::temp_dir().join(format!("ferrule-live-{}.sock", std::process::id()));
        let spec = BindSpec::Unix(path.clone());
        let first = bind(&spec, 16).expect("first bind");
        let err = bind(&spec, 16).expect_err("a server accepts on it");
        assert_eq!(err.source.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string().contains("another server is listening"),
            "{err}"
        );
        assert!(file_id(&path).is_some());
        // The first server stopped without removing its file: the file is stale, so a new
        // server replaces it.
        drop(first);
        let _second = bind(&spec, 16).expect("stale socket replaced");
        std::os::unix::net::UnixStream::connect(&path).expect("the new socket accepts");
        std::fs::remove_file(path).expect("cleanup");
    }

    #[test]
    fn bind_error_names_the_address() {
        let first = bind(
            &BindSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 0,
            },
            16,
        )
        .expect("bind");
        let Listener::Tcp(l) = &first else {
            panic!("tcp")
        };
        let port = l.local_addr().expect("addr").port();
        // SO_REUSEADDR does not allow two listeners on one port.
        let err = bind(
            &BindSpec::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            16,
        )
        .expect_err("in use");
        assert_eq!(err.address, format!("127.0.0.1:{port}"));
        assert!(err
            .to_string()
            .starts_with(&format!("cannot bind 127.0.0.1:{port}: ")));
    }
}
