//! The response side of an exchange: staging the head and body pieces, gathering what
//! the app has queued into one vectored write, files (sendfile(2) or copied), and the end
//! of the response.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWriteExt;

use super::{Exchange, Outgoing, Writing, DRAIN_LIMIT};
use crate::bridge::{FileBody, ResponseEvent, ResponseHead};
use crate::conn::{with_send_timeout, ConnContext, ConnError, Phase, Transport};
use crate::http::encode::{self, ConnectionHeader, ResponseFraming, ResponseParts};
use crate::http::Version;
use crate::log::Level;

/// At most this many body pieces gathered into one write (well under `IOV_MAX`).
const GATHER_PIECES: usize = 64;

/// Body bytes below this size are copied next to the head or chunk framing so that one
/// write carries both; larger ones are written from their own buffer. Arbitrary.
const COALESCE_LIMIT: usize = 16 * 1024;

impl<T: Transport> Exchange<'_, T> {
    /// Stages the response head and the first body bytes; `flush` writes them.
    pub(super) fn on_start(&mut self, head: ResponseHead, body: Bytes) -> Result<(), ConnError> {
        if !matches!(self.writing, Writing::NotStarted) {
            log_at!(Level::Error, "app side started a response twice");
            return Err(ConnError::Io(io::Error::other("response started twice")));
        }
        let framing =
            encode::response_framing(self.is_head, self.version, head.status, head.content_length);
        if head.wants_close || framing == ResponseFraming::CloseDelimited || *self.shutdown.borrow()
        {
            self.keep_alive = false;
        }
        // A body the app left unread must be drained before the next request. When the
        // client still waits for `100 Continue`, or the declared rest is more than
        // `drain_body` would read, closing is cheaper than draining; say so in the head.
        // (A chunked rest of unknown size is tried; past the limit the connection closes
        // without notice.)
        let waits_for_continue = self.expects_continue && !self.continue_sent;
        let rest_too_large = self
            .declared_body
            .is_some_and(|n| n - self.body_read > DRAIN_LIMIT);
        if !self.decoder.is_done() && (waits_for_continue || rest_too_large) {
            self.keep_alive = false;
        }
        let connection = if !self.keep_alive {
            ConnectionHeader::Close
        } else if self.version == Version::Http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::Omit
        };
        self.wbuf.clear();
        let parts = ResponseParts {
            status_line: &head.status_line,
            header_block: &head.header_block,
            has_date: head.has_date,
            has_server: head.has_server,
        };
        encode::response_head(
            &mut self.wbuf,
            &parts,
            framing,
            head.add_content_length,
            connection,
        );
        self.writing = Writing::Body(Outgoing {
            framing,
            sent: 0,
            status: head.status,
            header_block: head.header_block,
            overran: false,
        });
        self.stage_body(body)
    }

    pub(super) fn on_data(&mut self, data: Bytes) -> Result<(), ConnError> {
        if matches!(self.writing, Writing::Body(_)) {
            self.stage_body(data)
        } else {
            log_at!(Level::Error, "app side sent body bytes before the head");
            Err(ConnError::Io(io::Error::other("body before head")))
        }
    }

    /// Takes the body bytes already queued behind the ones just staged, then writes all
    /// staged output in one vectored write.
    pub(super) async fn gather_and_flush(&mut self) -> Result<(), ConnError> {
        let mut pieces = 1;
        while pieces < GATHER_PIECES {
            let Some(ResponseEvent::Data(data)) = self
                .link
                .try_recv_if(|ev| matches!(ev, ResponseEvent::Data(_)))
            else {
                break;
            };
            self.stage_body(data)?;
            pieces += 1;
        }
        self.flush().await
    }

    /// Writes everything staged: `segments`, then `wbuf`.
    pub(super) async fn flush(&mut self) -> Result<(), ConnError> {
        if !self.wbuf.is_empty() {
            self.segments.push(self.wbuf.split().freeze());
        }
        if self.segments.is_empty() {
            return Ok(());
        }
        let result = write_all_segments(self.ctx, self.stream, &mut self.segments).await;
        self.segments.clear();
        result
    }

    /// Stages body bytes (which may be empty: then only staged head bytes go out) under
    /// the response framing and the declared length. Small pieces are copied next to the
    /// head or chunk framing; large ones are staged as their own segment.
    pub(super) fn stage_body(&mut self, mut data: Bytes) -> Result<(), ConnError> {
        let Writing::Body(out) = &mut self.writing else {
            return Err(ConnError::Io(io::Error::other("no response in progress")));
        };
        match out.framing {
            ResponseFraming::NoBody => data.clear(),
            ResponseFraming::Length(declared) => {
                let room = declared - out.sent;
                if data.len() as u64 > room {
                    if !out.overran {
                        out.overran = true;
                        log_at!(
                            Level::Error,
                            "app sent more body bytes than its Content-Length ({declared}); the excess was cut"
                        );
                    }
                    data.truncate(room as usize);
                }
            }
            ResponseFraming::Chunked | ResponseFraming::CloseDelimited => {}
        }
        out.sent += data.len() as u64;
        let chunked = out.framing == ResponseFraming::Chunked && !data.is_empty();
        if chunked {
            encode::chunk_head(&mut self.wbuf, data.len());
        }
        if data.len() <= COALESCE_LIMIT {
            self.wbuf.extend_from_slice(&data);
        } else {
            if !self.wbuf.is_empty() {
                self.segments.push(self.wbuf.split().freeze());
            }
            self.segments.push(data);
        }
        if chunked {
            self.wbuf.extend_from_slice(encode::CHUNK_END);
        }
        Ok(())
    }

    /// Sends a file body with sendfile(2), under the framing and declared length.
    pub(super) async fn on_file(&mut self, file: FileBody) -> Result<(), ConnError> {
        let Writing::Body(out) = &mut self.writing else {
            log_at!(Level::Error, "app side sent a file before the head");
            return Err(ConnError::Io(io::Error::other("file before head")));
        };
        let mut len = file.len;
        match out.framing {
            ResponseFraming::NoBody => len = 0,
            ResponseFraming::Length(declared) => len = len.min(declared - out.sent),
            ResponseFraming::Chunked | ResponseFraming::CloseDelimited => {}
        }
        out.sent += len;
        let chunked = out.framing == ResponseFraming::Chunked && len > 0;
        if chunked {
            encode::chunk_head(&mut self.wbuf, len as usize);
        }
        self.flush().await?;
        if self.sendfile {
            self.sendfile_all(&file, len).await?;
        } else {
            self.copy_file(&file, len).await?;
        }
        if chunked {
            with_send_timeout(self.ctx, self.stream.write_all(encode::CHUNK_END)).await?;
        }
        Ok(())
    }

    /// `len` bytes of `file` from its offset, read into a buffer and written: what
    /// `--sendfile off` (and `auto` to a loopback client) does.
    pub(super) async fn copy_file(&mut self, file: &FileBody, len: u64) -> Result<(), ConnError> {
        use std::os::unix::fs::FileExt;
        /// Bytes per read and write; chosen as the body read size.
        const PIECE: u64 = 256 * 1024;
        let mut piece = vec![0u8; usize::try_from(len.min(PIECE)).unwrap_or(0)];
        let mut offset = file.offset;
        let mut remaining = len;
        while remaining > 0 {
            let want = usize::try_from(remaining.min(PIECE)).unwrap_or(piece.len());
            // A page-cache read; a cold disk blocks the loop as sendfile(2) would.
            let got = file.file.read_at(&mut piece[..want], offset)?;
            if got == 0 {
                return Err(ConnError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ended before its length was sent",
                )));
            }
            with_send_timeout(self.ctx, self.stream.write_all(&piece[..got])).await?;
            offset += got as u64;
            remaining -= got as u64;
        }
        Ok(())
    }

    /// `len` bytes of `file` from its offset with sendfile(2).
    pub(super) async fn sendfile_all(
        &mut self,
        file: &FileBody,
        len: u64,
    ) -> Result<(), ConnError> {
        let fd = file.file.as_raw_fd();
        let mut offset =
            i64::try_from(file.offset).map_err(|_| io::Error::other("file offset too large"))?;
        let mut remaining = len;
        while remaining > 0 {
            with_send_timeout(self.ctx, self.stream.writable()).await?;
            // 1 GiB per call keeps the count inside what sendfile(2) accepts everywhere.
            let step = remaining.min(1 << 30) as usize;
            match self.stream.try_sendfile(fd, &mut offset, step) {
                Ok(0) => {
                    return Err(ConnError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended before its length was sent",
                    )));
                }
                Ok(n) => remaining -= n as u64,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(ConnError::Io(err)),
            }
        }
        Ok(())
    }

    /// Completes the response: the last chunk, or the check that the declared length was
    /// met (an app that sent less leaves the client waiting for bytes that will never come,
    /// so the connection is closed).
    pub(super) async fn finish(&mut self) -> Result<(), ConnError> {
        let Writing::Body(out) = &self.writing else {
            log_at!(Level::Error, "app side ended a response it never started");
            return self
                .write_error_page(500, "Internal Server Error", "no response")
                .await;
        };
        let (framing, sent) = (out.framing, out.sent);
        match framing {
            ResponseFraming::Chunked => self.wbuf.extend_from_slice(encode::LAST_CHUNK),
            ResponseFraming::Length(declared) if sent < declared => {
                log_at!(
                    Level::Error,
                    "app sent {sent} body bytes but declared Content-Length {declared}; closing the connection"
                );
                self.keep_alive = false;
            }
            ResponseFraming::CloseDelimited => self.keep_alive = false,
            _ => {}
        }
        self.flush().await?;
        self.stream.flush().await?;
        Ok(())
    }
}

/// Writes every segment, in order, with as few vectored writes as the socket allows,
/// consuming `segments`. `send_timeout` bounds each wait for the socket to take more bytes
/// (progress), not the whole write: a large response to a slow but live client is fine.
async fn write_all_segments<T: Transport>(
    ctx: &ConnContext,
    stream: &mut T,
    segments: &mut [Bytes],
) -> Result<(), ConnError> {
    /// Slices per writev(2) call; Linux's `IOV_MAX` is 1024.
    const MAX_IOV: usize = 64;
    let mut first = 0;
    loop {
        while first < segments.len() && segments[first].is_empty() {
            first += 1;
        }
        if first == segments.len() {
            return Ok(());
        }
        let live = &segments[first..segments.len().min(first + MAX_IOV)];
        let mut slices = [io::IoSlice::new(&[]); MAX_IOV];
        for (slot, seg) in slices.iter_mut().zip(live) {
            *slot = io::IoSlice::new(seg);
        }
        let mut write = std::pin::pin!(stream.write_vectored(&slices[..live.len()]));
        // Most writes complete at once: try before arming the timer (and reading the clock).
        let at_once = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match write.as_mut().poll(cx) {
                std::task::Poll::Ready(result) => Some(result),
                std::task::Poll::Pending => None,
            })
        })
        .await;
        let result = match at_once {
            Some(result) => Ok(result),
            None => tokio::time::timeout(ctx.timeouts.send, write).await,
        };
        let mut n = match result {
            Ok(Ok(0)) => return Err(ConnError::Io(io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
            Ok(Err(err)) => return Err(ConnError::Io(err)),
            Err(_) => return Err(ConnError::Timeout(Phase::Writing)),
        };
        for seg in &mut segments[first..] {
            let take = n.min(seg.len());
            seg.advance(take);
            n -= take;
            if n == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::write_all_segments;
    use crate::config::Timeouts;
    use crate::conn::ConnContext;
    use crate::http::Limits;
    use crate::relay::LoopWaker;
    use bytes::Bytes;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixStream;
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn writes_every_segment_in_order_across_partial_writes() {
        let ctx = ConnContext {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            request_permits: Arc::new(Semaphore::new(1)),
            waker: LoopWaker::start(),
            sendfile: crate::config::Sendfile::Auto,
        };
        let (mut a, mut b) = UnixStream::pair().expect("pair");
        let head = Bytes::from(b"3\r\n".repeat(10));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.expect("read");
            got
        });
        // 3 MB cannot fit a socket buffer: the writev is cut several times; 100 segments
        // need two calls even when the socket takes everything.
        let mut segments = vec![head.clone(), Bytes::new(), Bytes::from(data.clone())];
        let mut want = head.to_vec();
        want.extend_from_slice(&data);
        for i in 0..100u8 {
            segments.push(Bytes::from(vec![i; 7]));
            want.extend_from_slice(&[i; 7]);
        }
        write_all_segments(&ctx, &mut a, &mut segments)
            .await
            .expect("write");
        drop(a);
        let got = reader.await.expect("reader");
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}
