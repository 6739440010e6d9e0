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

/// TLS over TCP. Readiness is the socket's, which says little about decrypted bytes: rustls
/// may hold plaintext already read with the handshake, so `readable` answers at once (the
/// read that follows waits properly).
impl Transport for TlsStream<TcpStream> {
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
        self.get_ref().0.set_nodelay(true)
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
