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
use crate::bridge::{BodyEvent, ConnInfo, Handler, Job, ResponseEvent, ResponseHead};
use crate::config::Timeouts;
use crate::http::Limits;

/// Reads the whole body, then answers 200 with it; a failed read becomes a 500, as
/// `wsgi::call_app` turns the app's `RequestBodyError` into one.
struct ReadsBody;

impl Handler for ReadsBody {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        thread::spawn(move || {
            let mut body = Vec::new();
            let failed = loop {
                job.events
                    .blocking_send(ResponseEvent::NeedBody)
                    .expect("conn listens");
                match job.body.recv() {
                    Ok(BodyEvent::Data(data)) => body.extend_from_slice(&data),
                    Ok(BodyEvent::End) => break false,
                    Ok(BodyEvent::Failed(_)) | Err(_) => break true,
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
            let _ = job.events.blocking_send(ResponseEvent::Start {
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
        job.events
            .try_send(ResponseEvent::Start {
                head,
                body: Bytes::from_static(b"ok"),
                end: true,
            })
            .expect("a fresh channel has room");
        Ok(())
    }
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
    let ctx = Arc::new(ConnContext {
        limits,
        timeouts,
        request_permits: Arc::new(Semaphore::new(4)),
    });
    let info = Arc::new(ConnInfo {
        peer: None,
        local: None,
        scheme: "http",
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
