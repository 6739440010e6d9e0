//! What the accept loop needs from a listening socket, for each kind of listener: wait for
//! a connection, take one already waiting without waiting (the drain at stop), and serve
//! one it accepted. TCP (plain, or TLS when the worker has a TLS config: the handshake runs
//! in the connection's task, never here) and unix sockets.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;

use crate::bridge::{ConnInfo, Handler};
use crate::conn::{self, ConnContext};
use crate::listener::Listener;
use crate::tls::ServerTls;

/// A listening socket the accept loop takes connections from.
pub(super) trait Accept: Send + 'static {
    type Stream: Send + 'static;

    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Arc<ConnInfo>)>> + Send;

    /// A connection already waiting in the kernel's backlog, without waiting: `None` when
    /// there is none (or the listener failed).
    fn accept_waiting(&self) -> Option<io::Result<(Self::Stream, Arc<ConnInfo>)>>;

    /// Serves one connection accepted here, until it closes.
    fn serve<H: Handler>(
        &self,
        stream: Self::Stream,
        info: Arc<ConnInfo>,
        handler: Arc<H>,
        ctx: Arc<ConnContext>,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// Registers `listener` with the current runtime; TCP listeners speak TLS when `tls` is
/// given.
///
/// # Errors
/// The socket cannot be duplicated or registered.
pub(super) fn register(listener: Listener, tls: Option<&ServerTls>) -> io::Result<Registered> {
    Ok(match listener {
        Listener::Tcp(l) => {
            let waiting = l.try_clone()?;
            let local = l.local_addr().ok();
            Registered::Tcp(TcpAccept {
                listener: TcpListener::from_std(l)?,
                waiting,
                local,
                tls: tls.cloned(),
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
    /// Every connection starts with a TLS handshake.
    tls: Option<ServerTls>,
}

impl TcpAccept {
    fn info(&self, peer: std::net::SocketAddr) -> Arc<ConnInfo> {
        Arc::new(ConnInfo {
            peer: Some(peer),
            local: self.local,
            scheme: "http",
            tls: None,
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

    fn serve<H: Handler>(
        &self,
        stream: TcpStream,
        info: Arc<ConnInfo>,
        handler: Arc<H>,
        ctx: Arc<ConnContext>,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tls = self.tls.clone();
        async move {
            match tls {
                Some(tls) => conn::serve_tls(stream, tls, info, handler, ctx, stop).await,
                None => conn::serve(stream, info, handler, ctx, stop).await,
            }
        }
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
        tls: None,
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

    fn serve<H: Handler>(
        &self,
        stream: UnixStream,
        info: Arc<ConnInfo>,
        handler: Arc<H>,
        ctx: Arc<ConnContext>,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        conn::serve(stream, info, handler, ctx, stop)
    }
}
