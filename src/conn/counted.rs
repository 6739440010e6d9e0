//! `Counted`: a `Transport` that adds every byte read from and written to the client to
//! this process's counters (`ferrule_received_bytes_total`, `ferrule_sent_bytes_total`).
//! One wrapper in `serve` instead of a count at each of the reads and writes of every
//! protocol: one relaxed atomic add per read or write call, which is a syscall anyway.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Transport;
use crate::metrics;

/// See the module docs.
pub(super) struct Counted<T>(pub T);

impl<T: Transport> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            metrics::stats().received(buf.filled().len() - before);
        }
        polled
    }
}

fn count_sent(polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = polled {
        metrics::stats().sent(n);
    }
    polled
}

impl<T: Transport> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        count_sent(Pin::new(&mut self.0).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        count_sent(Pin::new(&mut self.0).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<T: AsRawFd> AsRawFd for Counted<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl<T: Transport> Transport for Counted<T> {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.0.writable()
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.0.readable()
    }

    fn try_sendfile(&self, file: RawFd, offset: &mut i64, len: usize) -> io::Result<usize> {
        let sent = self.0.try_sendfile(file, offset, len);
        if let Ok(n) = sent {
            metrics::stats().sent(n);
        }
        sent
    }

    fn set_nodelay(&self) -> io::Result<()> {
        self.0.set_nodelay()
    }

    fn can_sendfile(&self) -> bool {
        self.0.can_sendfile()
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let read = self.0.try_read_buf(buf);
        if let Ok(n) = read {
            metrics::stats().received(n);
        }
        read
    }
}
