//! Reading a request head: the first request of a connection gets `header_timeout` from
//! accept; later ones may idle for `keepalive_timeout`, then get `header_timeout` from
//! their first byte. At shutdown an idle connection closes after a short grace, except
//! one a proxy pools (`Connection::pooled_by_proxy`), which keeps its idle timeout.

use std::io;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

use super::Connection;
use crate::conn::Transport;
use crate::http::{self, HttpError, RequestHead};

/// Why no head could be read.
pub(super) enum HeadFailure {
    Rejected(HttpError),
    TimedOut { got_bytes: bool },
    Io(io::Error),
}

/// How long an idle keep-alive connection stays open after shutdown for a request that
/// was already on its way. 250 ms: far longer than a request takes to cross a LAN, short
/// enough not to delay a stop noticeably; chosen without measurement.
const DRAIN_LINGER: Duration = Duration::from_millis(250);

/// Buffer space asked for per read of a request head. Heads are rarely over 1 KiB; a
/// larger one grows the buffer read by read (up to `max_head_bytes`). Was 64 KiB: with
/// 10 000 idle connections, the heap space each one held but never touched was later
/// carved up by busy connections and became resident (the idle workload's worker RSS
/// grew from 80 to 150 MiB while `hello` ran beside them).
const HEAD_READ: usize = 8 * 1024;

/// Reads until the connection's buffer holds a complete head. `Ok(None)`: the connection
/// ended cleanly between requests (EOF, idle timeout, or shutdown while idle).
pub(super) async fn read<T: Transport>(
    conn: &mut Connection<T>,
    first: bool,
) -> Result<Option<RequestHead>, HeadFailure> {
    let Connection {
        stream,
        buf,
        ctx,
        shutdown,
        pooled_by_proxy,
        first_deadline,
        ..
    } = conn;
    let timeouts = &ctx.timeouts;
    let mut deadline = if first {
        first_deadline.unwrap_or_else(|| Instant::now() + timeouts.header)
    } else if !buf.is_empty() {
        Instant::now() + timeouts.header
    } else {
        Instant::now() + timeouts.keepalive
    };
    let mut waiting_idle = !first && buf.is_empty();
    let mut lingering = false;
    let mut progress = http::parse::HeadProgress::default();
    loop {
        if !buf.is_empty() && progress.needs_rescan(buf, &ctx.limits) {
            match http::parse::request_head(buf, &ctx.limits) {
                Ok(Some(head)) => return Ok(Some(head)),
                Ok(None) => progress.on_incomplete(buf),
                Err(err) => return Err(HeadFailure::Rejected(err)),
            }
        }
        // At shutdown an idle keep-alive connection closes once `DRAIN_LINGER` passes
        // without a request: one already on its way (sent before the client could know)
        // is still answered, with `Connection: close`. A connection's first request, or a
        // started head, is served in full (bounded by header_timeout). A connection a
        // proxy pools keeps its idle deadline: closing it now could meet a request the
        // proxy is sending, which it would not retry if it were a POST.
        if buf.is_empty() && !first && !lingering && *shutdown.borrow() {
            lingering = true;
            if !*pooled_by_proxy {
                deadline = deadline.min(Instant::now() + DRAIN_LINGER);
            }
        }
        if buf.capacity() == 0 {
            // A new connection: wait for its first bytes before allocating a buffer.
            let ready = tokio::select! {
                r = timeout_at(deadline, stream.readable()) => r,
                _ = shutdown.changed(), if !first && !lingering => continue,
            };
            match ready {
                Err(_elapsed) if lingering => return Ok(None),
                Err(_elapsed) => return Err(HeadFailure::TimedOut { got_bytes: false }),
                Ok(Err(err)) => return Err(HeadFailure::Io(err)),
                Ok(Ok(())) => {}
            }
        }
        buf.reserve(HEAD_READ.min(ctx.limits.max_head_bytes + 2));
        let read = tokio::select! {
            r = timeout_at(deadline, stream.read_buf(buf)) => r,
            _ = shutdown.changed(), if buf.is_empty() && !first && !lingering => continue,
        };
        match read {
            Err(_elapsed) if lingering && buf.is_empty() => return Ok(None),
            Err(_elapsed) => {
                return Err(HeadFailure::TimedOut {
                    got_bytes: !buf.is_empty(),
                });
            }
            Ok(Ok(0)) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                return Err(HeadFailure::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the request head",
                )));
            }
            Ok(Ok(_)) => {
                if waiting_idle {
                    waiting_idle = false;
                    deadline = Instant::now() + timeouts.header;
                }
            }
            Ok(Err(err)) => return Err(HeadFailure::Io(err)),
        }
    }
}
