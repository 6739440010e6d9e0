//! What `conn` needs from a socket beyond `AsyncRead + AsyncWrite`: readiness and
//! sendfile(2), for TCP and unix streams alike.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::{TcpStream, UnixStream};

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
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize>;
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

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
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

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        UnixStream::try_read_buf(self, buf)
    }
}
