//! The response side of an exchange: staging the head and body pieces, gathering what
//! the app has queued into one vectored write, files (sendfile(2) or copied), the end of
//! the response, and the server's own pages in place of the app's response.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::{CloseReason, Connection, Persistence};
use crate::bridge::{FileBody, ResponseEvent, ResponseHead};
use crate::config::Sendfile;
use crate::conn::respond::{self, Page};
use crate::conn::{with_send_timeout, ConnContext, ConnError, TimeoutKind, Transport};
use crate::http::encode::{self, ConnectionHeader, ResponseFraming, ResponseParts};
use crate::http::{RequestHead, Version};
use crate::log::Level;

/// At most this many body pieces gathered into one write (well under `IOV_MAX`).
const GATHER_PIECES: usize = 64;

/// Body bytes below this size are copied next to the head or chunk framing so that one
/// write carries both; larger ones are written from their own buffer. Arbitrary.
const COALESCE_LIMIT: usize = 16 * 1024;

/// A copied file body goes out at most this many bytes per turn of the runtime (one read
/// and one write), then the task yields: the other connections on the worker's one I/O
/// thread are served between pieces, not after the whole file. Unbounded, a fast local
/// reader got a whole 5 MiB body in one turn (20 writes in a row), a small request on
/// another connection waited tens of ms behind four such downloads, and wrk's 64
/// connections were served very unevenly (issue #14, `bench/PROFILE.md`). 256 KiB: the
/// body read size, chosen without further measurement; a turn costs one more
/// `epoll_wait`, 40 per 10 MiB.
const FILE_PIECE: u64 = 256 * 1024;

/// Where the response stands.
enum Writing {
    /// Nothing sent yet.
    NotStarted,
    /// The head is out; body bytes follow under its framing. Kept after the end for the
    /// access record.
    Body(Outgoing),
}

struct Outgoing {
    framing: ResponseFraming,
    /// Body bytes sent so far.
    sent: u64,
    status: u16,
    header_block: Vec<u8>,
    /// The app sent more than its Content-Length; the excess was cut (logged once).
    overran: bool,
}

/// How a file body (`wsgi.file_wrapper`) goes out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FileSending {
    /// sendfile(2).
    Sendfile,
    /// Read into a buffer and written.
    Copy,
}

/// The response of one exchange. See the module docs.
pub(super) struct Output {
    writing: Writing,
    /// The request's version: decides framing and the `Connection` header.
    version: Version,
    /// The request was HEAD: the response has no body (RFC 9110 §9.3.2).
    head_only: bool,
    files: FileSending,
    /// Head and small-body staging buffer, reused across writes of this response.
    wbuf: BytesMut,
    /// Staged output for the next write, in order; `wbuf` holds what follows it.
    segments: Vec<Bytes>,
}

/// The `Connection` header that says `persistence` to a client of `version`.
fn connection_header(persistence: Persistence, version: Version) -> ConnectionHeader {
    if !persistence.is_keep_alive() {
        ConnectionHeader::Close
    } else if version == Version::Http10 {
        ConnectionHeader::KeepAlive
    } else {
        ConnectionHeader::Omit
    }
}

impl Output {
    pub(super) fn new<T: Transport>(head: &RequestHead, conn: &Connection<T>) -> Output {
        let to_loopback = conn.info.peer.is_some_and(|p| p.ip().is_loopback());
        let files = match conn.ctx.sendfile {
            _ if !conn.stream.can_sendfile() => FileSending::Copy,
            Sendfile::Off => FileSending::Copy,
            Sendfile::Auto if to_loopback => FileSending::Copy,
            Sendfile::On | Sendfile::Auto => FileSending::Sendfile,
        };
        Output {
            writing: Writing::NotStarted,
            version: head.version,
            head_only: head.is_head(),
            files,
            wbuf: BytesMut::with_capacity(1024),
            segments: Vec::new(),
        }
    }

    /// The request came on HTTP/1.1 (interim responses are for it only).
    pub(super) fn is_http11(&self) -> bool {
        self.version == Version::Http11
    }

    /// The response head has been sent (or staged).
    pub(super) fn is_started(&self) -> bool {
        matches!(self.writing, Writing::Body(_))
    }

    /// What the access record says of the response: status (0: none), body bytes and the
    /// response's header block.
    pub(super) fn record(&self) -> (u16, u64, &[u8]) {
        match &self.writing {
            Writing::Body(out) => (out.status, out.sent, &out.header_block),
            Writing::NotStarted => (0, 0, b""),
        }
    }

    /// Stages the response head and the first body bytes; `flush` writes them.
    /// `persistence` is final once this returns: the head says it.
    pub(super) fn on_start(
        &mut self,
        head: ResponseHead,
        body: Bytes,
        persistence: &mut Persistence,
    ) -> Result<(), ConnError> {
        if self.is_started() {
            log_at!(Level::Error, "app side started a response twice");
            return Err(ConnError::Io(io::Error::other("response started twice")));
        }
        let framing = encode::response_framing(
            self.head_only,
            self.version,
            head.status,
            head.content_length,
        );
        if head.wants_close {
            persistence.close(CloseReason::App);
        }
        if framing == ResponseFraming::CloseDelimited {
            persistence.close(CloseReason::CloseDelimited);
        }
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
            connection_header(*persistence, self.version),
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

    /// Answers with the server's own `page` in place of the app's response (which must not
    /// have started), saying `persistence` in its `Connection` header.
    pub(super) async fn write_page<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        page: &Page,
        persistence: Persistence,
    ) -> Result<(), ConnError> {
        let connection = connection_header(persistence, self.version);
        let sent = respond::write_http1(
            &mut conn.stream,
            &conn.ctx,
            page,
            self.head_only,
            connection,
        )
        .await;
        // Recorded before the result: the access record shows the page even when the
        // client went away while it was written.
        self.writing = Writing::Body(Outgoing {
            framing: ResponseFraming::NoBody,
            sent: *sent.as_ref().unwrap_or(&0),
            status: page.status(),
            header_block: Vec::new(),
            overran: false,
        });
        sent.map(drop)
    }

    pub(super) fn on_data(&mut self, data: Bytes) -> Result<(), ConnError> {
        if self.is_started() {
            self.stage_body(data)
        } else {
            log_at!(Level::Error, "app side sent body bytes before the head");
            Err(ConnError::Io(io::Error::other("body before head")))
        }
    }

    /// Takes the body bytes already queued behind the ones just staged, then writes all
    /// staged output in one vectored write.
    pub(super) async fn gather_and_flush<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
    ) -> Result<(), ConnError> {
        let mut pieces = 1;
        while pieces < GATHER_PIECES {
            let Some(ResponseEvent::Data(data)) = conn
                .link
                .try_recv_if(|ev| matches!(ev, ResponseEvent::Data(_)))
            else {
                break;
            };
            self.stage_body(data)?;
            pieces += 1;
        }
        self.flush(conn).await
    }

    /// Writes everything staged: `segments`, then `wbuf`.
    async fn flush<T: Transport>(&mut self, conn: &mut Connection<T>) -> Result<(), ConnError> {
        if !self.wbuf.is_empty() {
            self.segments.push(self.wbuf.split().freeze());
        }
        if self.segments.is_empty() {
            return Ok(());
        }
        let result = write_all_segments(&conn.ctx, &mut conn.stream, &mut self.segments).await;
        self.segments.clear();
        result
    }

    /// Stages body bytes (which may be empty: then only staged head bytes go out) under
    /// the response framing and the declared length. Small pieces are copied next to the
    /// head or chunk framing; large ones are staged as their own segment.
    fn stage_body(&mut self, mut data: Bytes) -> Result<(), ConnError> {
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

    /// Sends a file body (sendfile(2) or copied), under the framing and declared length.
    pub(super) async fn on_file<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        file: FileBody,
    ) -> Result<(), ConnError> {
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
        self.flush(conn).await?;
        match self.files {
            FileSending::Sendfile => sendfile_all(conn, &file, len).await?,
            FileSending::Copy => copy_file(conn, &file, len).await?,
        }
        if chunked {
            with_send_timeout(&conn.ctx, conn.stream.write_all(encode::CHUNK_END)).await?;
        }
        Ok(())
    }

    /// Completes the response: the last chunk, or the check that the declared length was
    /// met (an app that sent less leaves the client waiting for bytes that will never come,
    /// so the connection is closed).
    pub(super) async fn finish<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        persistence: &mut Persistence,
    ) -> Result<(), ConnError> {
        self.finish_with(conn, persistence, None).await
    }

    /// `finish`, with a trailer section after the last chunk (RFC 9112 §7.1.2); a response
    /// that is not chunked has nowhere to put one, so it is dropped.
    pub(super) async fn finish_with<T: Transport>(
        &mut self,
        conn: &mut Connection<T>,
        persistence: &mut Persistence,
        trailers: Option<&[u8]>,
    ) -> Result<(), ConnError> {
        let Writing::Body(out) = &self.writing else {
            log_at!(Level::Error, "app side ended a response it never started");
            persistence.close(CloseReason::Failure);
            return self.write_page(conn, &Page::AppFailed, *persistence).await;
        };
        let (framing, sent) = (out.framing, out.sent);
        match framing {
            ResponseFraming::Chunked => match trailers {
                Some(fields) => {
                    self.wbuf
                        .extend_from_slice(encode::LAST_CHUNK_BEFORE_TRAILERS);
                    self.wbuf.extend_from_slice(fields);
                    self.wbuf.extend_from_slice(b"\r\n");
                }
                None => self.wbuf.extend_from_slice(encode::LAST_CHUNK),
            },
            ResponseFraming::Length(declared) if sent < declared => {
                log_at!(
                    Level::Error,
                    "app sent {sent} body bytes but declared Content-Length {declared}; closing the connection"
                );
                persistence.close(CloseReason::ShortResponse);
            }
            _ => {}
        }
        self.flush(conn).await?;
        conn.stream.flush().await?;
        Ok(())
    }
}

/// `len` bytes of `file` from its offset, read into a buffer and written: what
/// `--sendfile off` (and `auto` to a loopback client) does.
async fn copy_file<T: Transport>(
    conn: &mut Connection<T>,
    file: &FileBody,
    len: u64,
) -> Result<(), ConnError> {
    use std::os::unix::fs::FileExt;
    let mut piece = vec![0u8; usize::try_from(len.min(FILE_PIECE)).unwrap_or(0)];
    let mut offset = file.offset;
    let mut remaining = len;
    while remaining > 0 {
        if remaining < len {
            tokio::task::yield_now().await;
        }
        let want = usize::try_from(remaining.min(FILE_PIECE)).unwrap_or(piece.len());
        // A page-cache read; a cold disk blocks the loop as sendfile(2) would.
        let got = file.file.read_at(&mut piece[..want], offset)?;
        if got == 0 {
            return Err(ConnError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended before its length was sent",
            )));
        }
        with_send_timeout(&conn.ctx, conn.stream.write_all(&piece[..got])).await?;
        offset += got as u64;
        remaining -= got as u64;
    }
    Ok(())
}

/// `len` bytes of `file` from its offset with sendfile(2).
async fn sendfile_all<T: Transport>(
    conn: &mut Connection<T>,
    file: &FileBody,
    len: u64,
) -> Result<(), ConnError> {
    let fd = file.file.as_raw_fd();
    let mut offset =
        i64::try_from(file.offset).map_err(|_| io::Error::other("file offset too large"))?;
    let mut remaining = len;
    while remaining > 0 {
        with_send_timeout(&conn.ctx, conn.stream.writable()).await?;
        // 1 GiB per call keeps the count inside what sendfile(2) accepts everywhere. Not
        // `FILE_PIECE` and a yield, as copying does: that cost 15-33 % of `file`'s requests
        // per second to 4 local connections (issue #14, `bench/PROFILE.md`). So one call
        // still sends until the socket is full, a whole body to a fast local reader.
        let step = remaining.min(1 << 30) as usize;
        match conn.stream.try_sendfile(fd, &mut offset, step) {
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
            Err(_) => return Err(ConnError::Timeout(TimeoutKind::Send)),
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
            statics: crate::conn::StaticRoots::default(),
            proxy: crate::config::ProxyConfig::default(),
            websocket: crate::config::WebSocketConfig::default(),
            http2: crate::config::Http2Config::default(),
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
