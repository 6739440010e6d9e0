//! `serve` over a unix socket pair with a fake `Handler` that behaves like `wsgi` does: it
//! asks for the body and answers 500 when the read fails. The client side writes raw bytes
//! and reads until EOF.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{watch, Semaphore};

use super::{serve, ConnContext};
use crate::bridge::{AbortReason, BodyEvent, ConnInfo, Handler, Job, ResponseEvent, ResponseHead};
use crate::config::Timeouts;
use crate::http::Limits;
use crate::relay::LoopWaker;

/// Reads the whole body, then answers 200 with it; a failed read becomes a 500, as
/// `wsgi::call_app` turns the app's `RequestBodyError` into one.
struct ReadsBody;

impl Handler for ReadsBody {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        thread::spawn(move || {
            let mut body = Vec::new();
            let failed = loop {
                job.request
                    .events
                    .blocking_send(ResponseEvent::NeedBody)
                    .expect("conn listens");
                match job.request.body.recv() {
                    Ok(BodyEvent::Data(data)) => body.extend_from_slice(&data),
                    Ok(BodyEvent::End) => break false,
                    Ok(
                        BodyEvent::Failed(_) | BodyEvent::WsMessage(_) | BodyEvent::WsClosed { .. },
                    )
                    | Err(_) => break true,
                }
            };
            let (status, body) = if failed {
                ("500 Internal Server Error", Bytes::new())
            } else {
                ("200 OK", Bytes::from(body))
            };
            let head = ResponseHead {
                status: status[..3].parse().expect("a 3-digit status"),
                status_line: Bytes::from_static(status.as_bytes()),
                header_block: Vec::new(),
                content_length: Some(body.len() as u64),
                add_content_length: true,
                has_date: false,
                has_server: false,
                wants_close: false,
            };
            // The connection may have answered by itself and gone; nothing to do then.
            let _ = job.request.events.blocking_send(ResponseEvent::Start {
                head,
                body,
                end: true,
            });
        });
        Ok(())
    }
}

/// Answers 200 at once without reading the body.
struct IgnoresBody;

impl Handler for IgnoresBody {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        let head = ResponseHead {
            status: 200,
            status_line: Bytes::from_static(b"200 OK"),
            header_block: Vec::new(),
            content_length: Some(2),
            add_content_length: true,
            has_date: false,
            has_server: false,
            wants_close: false,
        };
        job.request
            .events
            .try_send(ResponseEvent::Start {
                head,
                body: Bytes::from_static(b"ok"),
                end: true,
            })
            .expect("a fresh channel has room");
        Ok(())
    }
}

/// A worker's shared connection state as `server` builds it (inside a runtime: the hub
/// task is spawned on it).
fn context(limits: Limits, timeouts: Timeouts) -> Arc<ConnContext> {
    Arc::new(ConnContext {
        limits,
        timeouts,
        request_permits: Arc::new(Semaphore::new(4)),
        waker: LoopWaker::start(),
        sendfile: crate::config::Sendfile::Auto,
        statics: crate::conn::StaticRoots::default(),
        proxy: crate::config::ProxyConfig::default(),
        websocket: crate::config::WebSocketConfig::default(),
        http2: crate::config::Http2Config::default(),
    })
}

/// Serves `request` on one connection with `handler`, `limits` and `timeouts`; returns
/// everything the server wrote until it closed (or half-closed) the connection. The client
/// sends nothing after `request`, and never closes first.
async fn exchange_with<H: Handler>(
    handler: H,
    request: &[u8],
    limits: Limits,
    timeouts: Timeouts,
) -> String {
    let (server_side, mut client) = UnixStream::pair().expect("socket pair");
    let ctx = context(limits, timeouts);
    let info = Arc::new(ConnInfo {
        peer: None,
        local: None,
        scheme: "http",
        tls: None,
    });
    let (_stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(serve(server_side, info, Arc::new(handler), ctx, stop_rx));
    client.write_all(request).await.expect("write request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .expect("read");
    // Closing our side ends a lingering close at once.
    drop(client);
    task.await.expect("conn task");
    String::from_utf8_lossy(&out).into_owned()
}

async fn exchange(request: &[u8], limits: Limits, timeouts: Timeouts) -> String {
    exchange_with(ReadsBody, request, limits, timeouts).await
}

const NEXT: &[u8] = b"POST /next HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut raw = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    raw.extend_from_slice(body);
    raw.extend_from_slice(NEXT);
    raw
}

fn assert_one_response(out: &str, status_line: &str) {
    assert!(out.starts_with(status_line), "{out}");
    assert!(out.contains("\r\nConnection: close\r\n"), "{out}");
    assert_eq!(
        out.matches("HTTP/1.1 ").count(),
        1,
        "the pipelined request must not be served: {out}"
    );
}

#[tokio::test]
async fn answers_bad_chunk_framing_with_400_instead_of_the_apps_500() {
    let out = exchange(
        &chunked(b"zz\r\nhello\r\n0\r\n\r\n"),
        Limits::default(),
        Timeouts::default(),
    )
    .await;
    assert_one_response(&out, "HTTP/1.1 400 Bad Request\r\n");
}

#[tokio::test]
async fn answers_a_chunked_body_over_the_limit_with_413() {
    let limits = Limits {
        max_body_bytes: 4,
        ..Limits::default()
    };
    let out = exchange(
        &chunked(b"5\r\nhello\r\n0\r\n\r\n"),
        limits,
        Timeouts::default(),
    )
    .await;
    assert_one_response(&out, "HTTP/1.1 413 Content Too Large\r\n");
}

#[tokio::test]
async fn answers_a_stalled_body_with_408() {
    let timeouts = Timeouts {
        body: Duration::from_millis(100),
        ..Timeouts::default()
    };
    let request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello";
    let out = exchange(request, Limits::default(), timeouts).await;
    assert_one_response(&out, "HTTP/1.1 408 Request Timeout\r\n");
}

#[tokio::test]
async fn serves_a_good_chunked_body_and_the_next_request() {
    let out = exchange(
        &[
            chunked(b"5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
            b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
        ]
        .concat(),
        Limits::default(),
        Timeouts::default(),
    )
    .await;
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{out}");
    assert!(out.contains("\r\n\r\nhello"), "{out}");
}

#[tokio::test]
async fn announces_close_when_the_unread_body_is_more_than_it_would_drain() {
    // 5 MB declared, 5 bytes sent: draining would read past `DRAIN_LIMIT`, so the response
    // says close, and the server closes without waiting for the rest.
    let request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\nhello";
    let out = exchange_with(IgnoresBody, request, Limits::default(), Timeouts::default()).await;
    assert_one_response(&out, "HTTP/1.1 200 OK\r\n");
}

#[tokio::test]
async fn drains_an_unread_body_within_the_limit_and_serves_the_next_request() {
    let mut request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 100_000));
    request.extend_from_slice(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let out = exchange_with(
        IgnoresBody,
        &request,
        Limits::default(),
        Timeouts::default(),
    )
    .await;
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{out}");
    assert_eq!(out.matches("Connection: close").count(), 1, "{out}");
}

/// A client that delivers its request one byte per read and collects what the server
/// writes: the worst case for a parser that rescans the head on every read.
struct Trickle {
    request: Vec<u8>,
    at: usize,
    written: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl tokio::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.at < self.request.len() {
            let byte = self.request[self.at];
            self.at += 1;
            buf.put_slice(&[byte]);
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Trickle {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.written
            .lock()
            .expect("no test thread panics holding it")
            .extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl std::os::fd::AsRawFd for Trickle {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        -1
    }
}

impl super::Transport for Trickle {
    fn writable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn try_sendfile(
        &self,
        _file: std::os::fd::RawFd,
        _offset: &mut i64,
        _len: usize,
    ) -> std::io::Result<usize> {
        Err(std::io::Error::other("no sendfile on a test stream"))
    }

    fn set_nodelay(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn try_read_buf(&mut self, _buf: &mut bytes::BytesMut) -> std::io::Result<usize> {
        // One byte per read, and only through poll_read.
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

#[tokio::test]
async fn serves_a_60_kib_head_trickled_one_byte_per_read_in_linear_time() {
    let mut request = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".to_vec();
    for i in 0..8 {
        request.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(7700)).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    assert!(request.len() > 60 * 1024 && request.len() < 64 * 1024);
    let ctx = context(Limits::default(), Timeouts::default());
    let info = Arc::new(ConnInfo {
        peer: None,
        local: None,
        scheme: "http",
        tls: None,
    });
    let (_stop_tx, stop_rx) = watch::channel(false);
    let written = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stream = Trickle {
        request,
        at: 0,
        written: Arc::clone(&written),
    };
    let started = std::time::Instant::now();
    serve(stream, info, Arc::new(IgnoresBody), ctx, stop_rx).await;
    let elapsed = started.elapsed();
    let out = String::from_utf8_lossy(&written.lock().expect("not poisoned")).into_owned();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // One rescan per read would be ~2·10⁹ byte steps here (minutes in a debug build).
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// Gives up before any response, as `wsgi` does when the app raises first.
struct FailsFirst(AbortReason);

impl Handler for FailsFirst {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        job.request
            .events
            .try_send(ResponseEvent::Abort(self.0.clone()))
            .expect("a fresh channel has room");
        Ok(())
    }
}

/// No longer runs jobs: the worker is stopping.
struct Gone;

impl Handler for Gone {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        Err(job)
    }
}

const TWO_GETS: &[u8] =
    b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn an_app_error_before_the_head_gets_the_one_500_page_and_keeps_the_connection() {
    let out = exchange_with(
        FailsFirst(AbortReason::AppError),
        TWO_GETS,
        Limits::default(),
        Timeouts::default(),
    )
    .await;
    let page = "500 Internal Server Error: the request could not be completed\n";
    assert_eq!(
        out.matches(page).count(),
        2,
        "both requests answered: {out}"
    );
    assert_eq!(out.matches("Connection: close").count(), 1, "{out}");
}

#[tokio::test]
async fn a_panic_or_a_timeout_before_the_head_closes_the_connection() {
    for (reason, status_line) in [
        (
            AbortReason::Internal,
            "HTTP/1.1 500 Internal Server Error\r\n",
        ),
        (AbortReason::Timeout, "HTTP/1.1 504 Gateway Timeout\r\n"),
    ] {
        let out = exchange_with(
            FailsFirst(reason),
            TWO_GETS,
            Limits::default(),
            Timeouts::default(),
        )
        .await;
        assert_one_response(&out, status_line);
    }
}

#[tokio::test]
async fn a_head_request_gets_the_pages_head_without_its_body() {
    let out = exchange_with(
        FailsFirst(AbortReason::AppError),
        b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Limits::default(),
        Timeouts::default(),
    )
    .await;
    assert!(
        out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\nContent-Length: 62\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "no body after the head: {out}");
}

#[tokio::test]
async fn a_handler_that_is_gone_gets_a_503() {
    let out = exchange_with(Gone, TWO_GETS, Limits::default(), Timeouts::default()).await;
    assert_one_response(&out, "HTTP/1.1 503 Service Unavailable\r\n");
    assert!(
        out.ends_with("503 Service Unavailable: the server is shutting down\n"),
        "{out}"
    );
}
