//! HTTP/2 (RFC 9113) on one connection, over TLS (ALPN `h2`) or cleartext by prior
//! knowledge (the connection preface, `conn::serve`). The `h2` crate owns the frame layer,
//! HPACK and flow control; this module owns what the server decides: the connection's
//! limits (streams, header lists, windows, resets), its timers (the handshake under
//! `header_timeout`, GOAWAY after `keepalive_timeout` idle), GOAWAY at the worker's stop,
//! and one task per stream (`stream`), whose request is the same `Job` an HTTP/1.1
//! request is. `head` maps heads both ways, sans-I/O.

mod head;
mod stream;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use h2::Reason;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::ConnContext;
use crate::bridge::{ConnInfo, Handler};
use crate::log::Level;
use stream::StreamEnd;

/// The HTTP/2 connection preface a client sends first (RFC 9113 §3.4).
pub(super) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a connection the server is closing (idle, or the worker stopping with no
/// stream in flight) may take to exchange its last frames (GOAWAY, the PING that confirms
/// it) before the socket is closed anyway. Arbitrary.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The connection-level receive window: the request body all of a connection's streams
/// may have in flight together, past what the app has read. 1 MiB: room for several
/// uploads at once at the default per-stream window; chosen without measurement.
const CONNECTION_WINDOW: u32 = 1024 * 1024;

/// What every stream task of a connection reads.
pub(super) struct Shared<H> {
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    info: Arc<ConnInfo>,
    /// The client's address for log lines and the access record's `h`.
    remote: String,
    /// The socket's own peer: the access record's `peer`.
    peer: String,
    /// The peer is trusted with forwarding headers (decided once per connection).
    forwarding: bool,
}

/// Serves an HTTP/2 connection until it closes. `io` is positioned at the preface (bytes
/// already read come first through `Prefixed`).
pub(super) async fn serve<T, H>(
    io: T,
    info: Arc<ConnInfo>,
    socket_peer: Option<SocketAddr>,
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    mut shutdown: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let settings = ctx.http2;
    let remote = super::peer_text(info.peer);
    let Some(mut conn) = handshake(io, &ctx, &remote).await else {
        return;
    };
    let forwarding = ctx
        .proxy
        .forwarding
        .applies_to(info.peer.map(|addr| addr.ip()));
    let shared = Arc::new(Shared {
        handler,
        peer: super::peer_text(socket_peer),
        remote,
        forwarding,
        info,
        ctx,
    });
    let max_streams = settings.max_concurrent_streams as usize;
    let mut streams = JoinSet::new();
    let mut guard = ResetGuard::new(max_streams);
    // Step 2: streams until the connection closes. The first request may take
    // header_timeout to come; later silences keepalive_timeout.
    let mut idle_until = Some(Instant::now() + shared.ctx.timeouts.header);
    let mut closing_until: Option<Instant> = None;
    let mut stopping = *shutdown.borrow();
    if stopping {
        conn.graceful_shutdown();
    }
    loop {
        tokio::select! {
            accepted = conn.accept() => match accepted {
                Some(Ok((request, mut respond))) => {
                    if streams.len() >= max_streams {
                        // Streams the client reset but the app still works on count too:
                        // the work a connection causes stays bounded (CVE-2023-44487).
                        respond.send_reset(Reason::REFUSED_STREAM);
                        if guard.on_reset() {
                            log_at!(Level::Debug, "{}: too many streams reset; GOAWAY", shared.remote);
                            conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                        }
                        continue;
                    }
                    idle_until = None;
                    // Boxed: a stream's state is ~2 KiB, and tokio moves a task's future
                    // several times as it spawns and finishes it (memcpy of the whole
                    // state each time: ~2,500 instructions per stream, bench/PROFILE.md).
                    streams.spawn(Box::pin(stream::serve(Arc::clone(&shared), request, respond)));
                }
                Some(Err(err)) => {
                    // h2 has sent GOAWAY with the reason when the client broke the protocol.
                    log_at!(Level::Debug, "{}: HTTP/2: {err}", shared.remote);
                    break;
                }
                None => break,
            },
            Some(joined) = streams.join_next(), if !streams.is_empty() => {
                match joined {
                    Ok(StreamEnd::ResetByClient) => {
                        if guard.on_reset() {
                            log_at!(Level::Debug, "{}: too many streams reset; GOAWAY", shared.remote);
                            conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                        }
                    }
                    Ok(StreamEnd::Answered | StreamEnd::ResetByServer) => guard.on_answered(),
                    Err(err) => {
                        // A panic in the stream's task: it cost that stream (its link was
                        // ended by its guard, h2 reset it); the connection goes on.
                        log_at!(Level::Error, "HTTP/2 stream task failed: {err}");
                    }
                }
                if streams.is_empty() {
                    if stopping {
                        closing_until.get_or_insert(Instant::now() + CLOSE_GRACE);
                    } else {
                        idle_until = Some(Instant::now() + shared.ctx.timeouts.keepalive);
                    }
                }
            }
            () = sleep_until(idle_until.unwrap_or_else(Instant::now)), if idle_until.is_some() => {
                crate::metrics::stats().timed_out(crate::metrics::Timeout::KeepAlive);
                idle_until = None;
                stopping = true;
                conn.graceful_shutdown();
                closing_until = Some(Instant::now() + CLOSE_GRACE);
            }
            changed = shutdown.changed(), if !stopping => {
                // The worker stops (TERM, HUP's new generation, USR2, max_requests):
                // GOAWAY, finish the streams in flight, refuse new ones.
                if changed.is_err() || *shutdown.borrow() {
                    stopping = true;
                    idle_until = None;
                    conn.graceful_shutdown();
                    if streams.is_empty() {
                        closing_until = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
            }
            () = sleep_until(closing_until.unwrap_or_else(Instant::now)), if closing_until.is_some() => {
                log_at!(Level::Debug, "{}: HTTP/2 connection closed after GOAWAY", shared.remote);
                break;
            }
        }
    }
    // Streams still running lose their connection: their guards end their links.
    streams.abort_all();
}

/// The preface and the SETTINGS exchange, under `header_timeout` (a client that opens a
/// connection and says nothing holds its connection permit that long at most); `None` when
/// the client failed it.
async fn handshake<T>(
    io: T,
    ctx: &ConnContext,
    remote: &str,
) -> Option<h2::server::Connection<T, bytes::Bytes>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings = ctx.http2;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(settings.max_concurrent_streams)
        .initial_window_size(settings.initial_window_size)
        .initial_connection_window_size(CONNECTION_WINDOW.max(settings.initial_window_size))
        // The head limits bound a header list, as they bound an HTTP/1.1 head: HPACK
        // decoding stops at it (a CONTINUATION flood or an HPACK bomb costs at most this),
        // and h2 answers 431.
        .max_header_list_size(u32::try_from(ctx.limits.max_head_bytes).unwrap_or(u32::MAX));
    let deadline = Instant::now() + ctx.timeouts.header;
    match timeout_at(deadline, builder.handshake::<T, bytes::Bytes>(io)).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(err)) => {
            log_at!(Level::Debug, "{remote}: HTTP/2 handshake failed: {err}");
            None
        }
        Err(_) => {
            crate::metrics::stats().timed_out(crate::metrics::Timeout::Head);
            log_at!(
                Level::Debug,
                "{remote}: HTTP/2 preface not received within header_timeout"
            );
            None
        }
    }
}

/// Counts a connection's resets (streams the client reset before their response was
/// complete, and streams refused for being over the limit) against its completed streams:
/// a client that keeps resetting is the rapid reset attack (CVE-2023-44487). `h2` itself
/// refuses resets of streams not yet accepted (`max_pending_accept_reset_streams`); this
/// counts those the app was already working on.
struct ResetGuard {
    resets: usize,
    answered: usize,
    /// Resets tolerated before the ratio is looked at.
    allowance: usize,
}

impl ResetGuard {
    fn new(max_streams: usize) -> Self {
        ResetGuard {
            resets: 0,
            answered: 0,
            allowance: max_streams.max(32),
        }
    }

    /// A reset; `true` when the connection should be closed: more resets than the
    /// allowance, and more than answered streams (a browser that cancels now and then stays
    /// far below both). Chosen without measurement.
    fn on_reset(&mut self) -> bool {
        self.resets += 1;
        self.resets > self.allowance && self.resets > self.answered
    }

    fn on_answered(&mut self) {
        self.answered += 1;
    }
}

/// A stream with bytes already read in front of it: the preface sniffed by `conn::serve`
/// comes first, then the socket.
pub(super) struct Prefixed<T> {
    pub(super) read: BytesMut,
    pub(super) inner: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::ResetGuard;

    #[test]
    fn reset_guard_tolerates_a_client_that_cancels_now_and_then() {
        let mut guard = ResetGuard::new(100);
        for _ in 0..10_000 {
            for _ in 0..10 {
                guard.on_answered();
            }
            assert!(!guard.on_reset());
        }
    }

    #[test]
    fn reset_guard_closes_a_connection_that_mostly_resets() {
        let mut guard = ResetGuard::new(100);
        let tripped = (0..1000).position(|_| guard.on_reset());
        assert_eq!(tripped, Some(100));
    }
}
