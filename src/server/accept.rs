//! What the accept loop needs from a listening socket, for each kind of listener: wait for
//! a connection, and take one already waiting without waiting (the drain at stop). TCP and
//! unix sockets today; a TLS listener will wrap one of these, its handshake done in the
//! connection's task, not here.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::bridge::ConnInfo;
use crate::conn::Transport;
use crate::listener::Listener;

/// A listening socket the accept loop takes connections from.
pub(super) trait Accept: Send + 'static {
    type Stream: Transport;

    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Arc<ConnInfo>)>> + Send;

    /// A connection already waiting in the kernel's backlog, without waiting: `None` when
    /// there is none (or the listener failed).
    fn accept_waiting(&self) -> Option<io::Result<(Self::Stream, Arc<ConnInfo>)>>;
}

/// Registers `listener` with the current runtime.
///
/// # Errors
/// The socket cannot be duplicated or registered.
pub(super) fn register(listener: Listener) -> io::Result<Registered> {
    Ok(match listener {
        Listener::Tcp(l) => {
            let waiting = l.try_clone()?;
            let local = l.local_addr().ok();
            Registered::Tcp(TcpAccept {
                listener: TcpListener::from_std(l)?,
                waiting,
                local,
            })
        }
        Listener::Unix(l, _) => {
            let waiting = l.try_clone()?;
            Registered::Unix(UnixAccept {
                listener: UnixListener::from_std(l)?,
                waiting,
            })
        }
    })
}

/// A listener registered with the runtime, by kind.
pub(super) enum Registered {
    Tcp(TcpAccept),
    Unix(UnixAccept),
}

pub(super) struct TcpAccept {
    listener: TcpListener,
    /// A non-blocking duplicate of the listener, so `accept_waiting` answers at once.
    waiting: std::net::TcpListener,
    /// The address connections arrive on (`SERVER_NAME`, `SERVER_PORT`).
    local: Option<std::net::SocketAddr>,
}

impl TcpAccept {
    fn info(&self, peer: std::net::SocketAddr) -> Arc<ConnInfo> {
        Arc::new(ConnInfo {
            peer: Some(peer),
            local: self.local,
            scheme: "http",
        })
    }
}

impl Accept for TcpAccept {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<(TcpStream, Arc<ConnInfo>)> {
        let (stream, peer) = self.listener.accept().await?;
        Ok((stream, self.info(peer)))
    }

    fn accept_waiting(&self) -> Option<io::Result<(TcpStream, Arc<ConnInfo>)>> {
        let (stream, peer) = self.waiting.accept().ok()?;
        Some(
            stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream))
                .map(|stream| (stream, self.info(peer))),
        )
    }
}

pub(super) struct UnixAccept {
    listener: UnixListener,
    /// A non-blocking duplicate of the listener, so `accept_waiting` answers at once.
    waiting: std::os::unix::net::UnixListener,
}

/// Unix socket peers have no address the environ could show.
fn unix_info() -> Arc<ConnInfo> {
    Arc::new(ConnInfo {
        peer: None,
        local: None,
        scheme: "http",
    })
}

impl Accept for UnixAccept {
    type Stream = UnixStream;

    async fn accept(&self) -> io::Result<(UnixStream, Arc<ConnInfo>)> {
        let (stream, _) = self.listener.accept().await?;
        Ok((stream, unix_info()))
    }

    fn accept_waiting(&self) -> Option<io::Result<(UnixStream, Arc<ConnInfo>)>> {
        let (stream, _) = self.waiting.accept().ok()?;
        Some(
            stream
                .set_nonblocking(true)
                .and_then(|()| UnixStream::from_std(stream))
                .map(|stream| (stream, unix_info())),
        )
    }
}
