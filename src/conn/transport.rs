//! What `conn` needs from a socket beyond `AsyncRead + AsyncWrite`: readiness and
//! sendfile(2), for TCP and unix streams and TLS over TCP.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use bytes::BytesMut;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::server::TlsStream;

/// A connected stream socket `conn` can serve.
pub trait Transport: AsyncRead + AsyncWrite + AsRawFd + Unpin + Send + 'static {
    /// Waits until the socket may accept more bytes.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Waits until the socket has bytes to read (or EOF, or an error).
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// One sendfile(2) call from `file` at `*offset`, at most `len` bytes; advances
    /// `offset`. `WouldBlock` when the socket buffer is full.
    ///
    /// # Errors
    /// The OS error.
    fn try_sendfile(&self, file: RawFd, offset: &mut i64, len: usize) -> io::Result<usize>;

    /// Turns off Nagle's algorithm where it applies.
    fn set_nodelay(&self) -> io::Result<()>;

    /// One read of what the socket holds already, without waiting: `WouldBlock` when it
    /// holds nothing.
    ///
    /// # Errors
    /// The OS error.
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize>;

    /// Whether `try_sendfile` can work: bytes written to the socket reach the client as
    /// they are (not over TLS).
    fn can_sendfile(&self) -> bool {
        true
    }
}

fn sendfile(out: RawFd, file: RawFd, offset: &mut i64, len: usize) -> io::Result<usize> {
    // SAFETY: both fds are open for the duration of the call (the socket is borrowed from
    // its owner, the file is owned by the caller's `FileBody`), and `offset` is a valid,
    // exclusive pointer to an off_t.
    let n = unsafe { libc::sendfile(out, file, std::ptr::from_mut(offset), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.unsigned_abs())
    }
}

impl Transport for TcpStream {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        TcpStream::writable(self)
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        TcpStream::readable(self)
    }

    fn try_sendfile(&self, file: RawFd, offset: &mut i64, len: usize) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        self.try_io(Interest::WRITABLE, || sendfile(fd, file, offset, len))
    }

    fn set_nodelay(&self) -> io::Result<()> {
        TcpStream::set_nodelay(self, true)
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        TcpStream::try_read_buf(self, buf)
    }
}

impl Transport for UnixStream {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        UnixStream::writable(self)
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        UnixStream::readable(self)
    }

    fn try_sendfile(&self, file: RawFd, offset: &mut i64, len: usize) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        self.try_io(Interest::WRITABLE, || sendfile(fd, file, offset, len))
    }

    fn set_nodelay(&self) -> io::Result<()> {
        Ok(())
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        UnixStream::try_read_buf(self, buf)
    }
}

/// TLS over a socket. Readiness is the socket's, which says little about decrypted bytes:
/// rustls may hold plaintext already read with the handshake, so `readable` answers at once
/// (the read that follows waits properly).
impl<T: Transport> Transport for TlsStream<T> {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.get_ref().0.writable()
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn try_sendfile(&self, _file: RawFd, _offset: &mut i64, _len: usize) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sendfile(2) cannot encrypt",
        ))
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.get_ref().0.set_nodelay()
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        // One poll with a waker that does nothing: what rustls and the socket hold now.
        let mut cx = Context::from_waker(Waker::noop());
        let spare = buf.spare_capacity_mut();
        let mut read = ReadBuf::uninit(spare);
        match Pin::new(self).poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                Ok(n)
            }
            Poll::Ready(Err(err)) => Err(err),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn can_sendfile(&self) -> bool {
        false
    }
}

/// A socket whose first bytes were already read by the server: after a PROXY header, the
/// start of the TLS handshake that came in the same segment. Reads return those bytes
/// first, then the socket's; everything else is the socket's.
pub(super) struct Prefixed<T> {
    head: BytesMut,
    inner: T,
}

impl<T> Prefixed<T> {
    pub(super) fn new(head: BytesMut, inner: T) -> Self {
        Prefixed { head, inner }
    }
}

impl Prefixed<TcpStream> {
    /// The first byte the connection will read, waiting for it: `None` at EOF.
    ///
    /// # Errors
    /// The OS error.
    pub(super) async fn peek_first(&self) -> io::Result<Option<u8>> {
        if let Some(&b) = self.head.first() {
            return Ok(Some(b));
        }
        let mut first = [0u8; 1];
        let n = self.inner.peek(&mut first).await?;
        Ok((n > 0).then_some(first[0]))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.head.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.head.len().min(buf.remaining());
        buf.put_slice(&this.head.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<T: AsRawFd> AsRawFd for Prefixed<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<T: Transport> Transport for Prefixed<T> {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.inner.writable()
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let held = !self.head.is_empty();
        let inner = self.inner.readable();
        async move {
            if held {
                Ok(())
            } else {
                inner.await
            }
        }
    }

    fn try_sendfile(&self, file: RawFd, offset: &mut i64, len: usize) -> io::Result<usize> {
        self.inner.try_sendfile(file, offset, len)
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.inner.set_nodelay()
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if self.head.is_empty() {
            return self.inner.try_read_buf(buf);
        }
        let n = self.head.len();
        buf.extend_from_slice(&self.head.split());
        Ok(n)
    }

    fn can_sendfile(&self) -> bool {
        self.inner.can_sendfile()
    }
}
