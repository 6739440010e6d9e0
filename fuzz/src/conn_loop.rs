//! The `conn_loop` entry: one connection served by the real `conn::serve` (HTTP/1.1 loop,
//! exchange, output, body drain, timeouts, shutdown) over a scripted in-memory stream, with
//! a fake app side run as tasks on the same runtime. Time is tokio's paused clock, so the
//! delays the input asks for cost nothing and every run is deterministic.
//!
//! The input is three parts: `[a, b, client script (a bytes), app script (b bytes), the
//! client's bytes]`. The client script cuts the client's bytes into reads and puts delays,
//! a half close, a reset, a stalled reader or a worker stop between them; the app script
//! says, job after job, what the fake app does: read the body, start a response (with or
//! without Content-Length, right or wrong), send data, trailers, early hints, sleep, abort
//! for each `AbortReason`, or drop its job (what `pool` makes of a panic). When a script
//! runs out, the client sends the rest whole, and a job reads its body and answers 200.
//!
//! Properties checked: `serve` returns (no hang in virtual time), every job ends and gives
//! its request permit back, and what the server wrote is a sequence of well-formed
//! responses: heads that parse, no Content-Length with chunked, chunked bodies well
//! framed, nothing after a `Connection: close` response or a cut body.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use _ferrule::bridge::{
    AbortReason, BodyEvent, ConnInfo, EventSender, Handler, Job, ResponseEvent, ResponseHead,
};
use _ferrule::config::Timeouts;
use _ferrule::conn::{self, ConnContext, Transport};
use _ferrule::http::{HttpError, Limits};
use _ferrule::relay::LoopWaker;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};

/// Virtual time a connection may take before it counts as hung: far beyond any sum of the
/// script's delays (at most 255 x 6.3 s) and the timeouts.
const HANG: Duration = Duration::from_secs(7 * 24 * 3600);

/// A byte cursor; an exhausted one answers `None`.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }
}

/// What the client does next.
#[derive(Debug)]
enum ClientOp {
    Send(Vec<u8>),
    /// Nothing to read until this much time has passed.
    Delay(Duration),
    /// Stop reading what the server writes for this long (its writes pend).
    StallWrites(Duration),
    /// The worker is asked to stop (the `shutdown` watch turns true).
    Stop,
    /// The client half-closes: reads see EOF from here on.
    Eof,
    /// The connection is reset: reads and writes fail from here on.
    Reset,
}

fn client_ops(script: &[u8], mut data: &[u8], end_with_eof: bool) -> VecDeque<ClientOp> {
    let mut ops = VecDeque::new();
    let mut script = Cursor(script);
    while !data.is_empty() {
        let Some(op) = script.next() else {
            ops.push_back(ClientOp::Send(data.to_vec()));
            break;
        };
        let arg = usize::from(op & 63);
        match op >> 6 {
            0 | 2 => {
                let n = if op >> 6 == 0 {
                    arg + 1
                } else {
                    (arg + 1) * 16
                };
                let (now, rest) = data.split_at(n.min(data.len()));
                ops.push_back(ClientOp::Send(now.to_vec()));
                data = rest;
            }
            1 => ops.push_back(ClientOp::Delay(Duration::from_millis(100 * arg as u64))),
            _ => match arg % 4 {
                0 => ops.push_back(ClientOp::Stop),
                1 => ops.push_back(ClientOp::StallWrites(Duration::from_millis(
                    400 * (arg / 4) as u64,
                ))),
                2 => {
                    ops.push_back(ClientOp::Eof);
                    data = &[];
                }
                _ => {
                    ops.push_back(ClientOp::Reset);
                    data = &[];
                }
            },
        }
    }
    if end_with_eof {
        ops.push_back(ClientOp::Eof);
    }
    ops
}

/// The scripted client as the server's socket.
struct Scripted {
    ops: Mutex<VecDeque<ClientOp>>,
    /// The running `Delay`: when it ends.
    delay: Mutex<Option<Instant>>,
    sleep: Pin<Box<Sleep>>,
    write_sleep: Pin<Box<Sleep>>,
    stalled_until: Option<Instant>,
    eof: bool,
    reset: bool,
    /// Most bytes one write takes (partial writes).
    max_write: usize,
    written: Arc<Mutex<Vec<u8>>>,
    stop: watch::Sender<bool>,
}

impl Scripted {
    /// When the next read can make progress: `None` never (the client idles).
    fn ready_at(&self) -> Option<Instant> {
        if self.eof || self.reset {
            return Some(Instant::now());
        }
        let ops = self.ops.lock().unwrap_or_else(PoisonError::into_inner);
        match ops.front() {
            None => None,
            Some(ClientOp::Delay(d)) => {
                let mut delay = self.delay.lock().unwrap_or_else(PoisonError::into_inner);
                Some(*delay.get_or_insert_with(|| Instant::now() + *d))
            }
            Some(_) => Some(Instant::now()),
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.reset {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            let this = &mut *self;
            let mut ops = this.ops.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(op) = ops.front_mut() else {
                // The script is over and the client neither sends nor closes.
                return Poll::Pending;
            };
            match op {
                ClientOp::Send(bytes) => {
                    let n = bytes.len().min(buf.remaining());
                    buf.put_slice(&bytes[..n]);
                    bytes.drain(..n);
                    if bytes.is_empty() {
                        ops.pop_front();
                    }
                    return Poll::Ready(Ok(()));
                }
                ClientOp::Delay(d) => {
                    let mut delay = this.delay.lock().unwrap_or_else(PoisonError::into_inner);
                    let until = *delay.get_or_insert_with(|| Instant::now() + *d);
                    if Instant::now() < until {
                        this.sleep.as_mut().reset(until);
                        if this.sleep.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    *delay = None;
                    ops.pop_front();
                }
                ClientOp::StallWrites(d) => {
                    this.stalled_until = Some(Instant::now() + *d);
                    ops.pop_front();
                }
                ClientOp::Stop => {
                    // Nobody listens once serve has returned.
                    let _ = this.stop.send(true);
                    ops.pop_front();
                }
                ClientOp::Eof => {
                    this.eof = true;
                    ops.pop_front();
                }
                ClientOp::Reset => {
                    this.reset = true;
                    ops.pop_front();
                }
            }
        }
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.reset {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if let Some(until) = self.stalled_until {
            if Instant::now() < until {
                self.write_sleep.as_mut().reset(until);
                if self.write_sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            self.stalled_until = None;
        }
        let n = buf.len().min(self.max_write);
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl std::os::fd::AsRawFd for Scripted {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        -1
    }
}

impl Transport for Scripted {
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let at = self.ready_at();
        async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
            Ok(())
        }
    }

    fn try_sendfile(&self, _file: i32, _offset: &mut i64, _len: usize) -> io::Result<usize> {
        Err(io::Error::other("no sendfile on a scripted stream"))
    }

    fn set_nodelay(&self) -> io::Result<()> {
        Ok(())
    }

    fn try_read_buf(&mut self, _buf: &mut BytesMut) -> io::Result<usize> {
        // Reads happen through poll_read only, where the script's delays are kept.
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// The fake app side: each job is a task on the connection's runtime, following the app
/// script; the script is shared by the jobs in the order they run.
struct FakeApp {
    script: Arc<Mutex<VecDeque<u8>>>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Refuses every job (the handler is gone: 503).
    gone: bool,
}

impl Handler for FakeApp {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        if self.gone {
            return Err(job);
        }
        let script = Arc::clone(&self.script);
        let task = tokio::spawn(run_job(job, script));
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
        Ok(())
    }
}

async fn send(events: &EventSender, event: ResponseEvent) -> Result<(), ()> {
    let mut event = Some(event);
    poll_fn(|cx| {
        let ev = event.take().expect("polled again only while Full");
        match events.try_send_or_wake(ev, cx.waker()) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_ferrule::relay::TrySendError::Full(ev)) => {
                event = Some(ev);
                Poll::Pending
            }
            Err(_ferrule::relay::TrySendError::Closed(_)) => Poll::Ready(Err(())),
        }
    })
    .await
}

/// One `NeedBody` and its answer; `None` when the request ended.
async fn read_once(job: &Job) -> Option<BodyEvent> {
    send(&job.request.events, ResponseEvent::NeedBody)
        .await
        .ok()?;
    poll_fn(|cx| job.request.body.poll_recv(cx.waker()))
        .await
        .ok()
}

fn head(status: u16, content_length: Option<u64>, wants_close: bool) -> ResponseHead {
    let status_line: &'static [u8] = match status {
        204 => b"204 No Content",
        304 => b"304 Not Modified",
        404 => b"404 Not Found",
        500 => b"500 Internal Server Error",
        _ => b"200 OK",
    };
    let header_block = match content_length {
        Some(n) => format!("X-Fuzz: 1\r\nContent-Length: {n}\r\n").into_bytes(),
        None => b"X-Fuzz: 1\r\n".to_vec(),
    };
    ResponseHead {
        status,
        status_line: Bytes::from_static(status_line),
        header_block,
        content_length,
        add_content_length: false,
        has_date: false,
        has_server: false,
        wants_close,
    }
}

/// Body bytes of the fake app: never `HTTP/`, so the checker can tell a body from a head.
fn body(n: usize) -> Bytes {
    Bytes::from(vec![b'x'; n])
}

/// Reads once, or the whole body, unless the body has ended; `false` when the request
/// ended. Once the body ended, a further `NeedBody` is ASGI's wait for a disconnect: it
/// waits on the client for as long as it keeps the connection open, with no server bound
/// (by design: the app chose to wait), so the fake app, like `wsgi.input`, does not ask
/// again. (The first fuzzing run found this in the harness: `regressions/conn_loop`.)
async fn read_body(job: &Job, body_done: &mut bool, whole: bool) -> bool {
    while !*body_done {
        match read_once(job).await {
            Some(BodyEvent::Data(_)) if whole => {}
            Some(BodyEvent::Data(_)) => return true,
            Some(_) => *body_done = true,
            None => return false,
        }
    }
    true
}

async fn run_job(job: Job, script: Arc<Mutex<VecDeque<u8>>>) {
    let next = || {
        script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    };
    let events = job.request.events.clone();
    let mut started = false;
    let mut body_done = false;
    loop {
        let Some(op) = next() else {
            // The default: read the body, answer 200 (or end what was started).
            if !read_body(&job, &mut body_done, true).await {
                return;
            }
            let event = if started {
                ResponseEvent::End
            } else {
                ResponseEvent::Start {
                    head: head(200, Some(2), false),
                    body: body(2),
                    end: true,
                }
            };
            let _ = send(&events, event).await;
            return;
        };
        let arg = next().unwrap_or(0);
        let event = match op % 12 {
            0 | 1 => {
                if !read_body(&job, &mut body_done, op % 12 == 1).await {
                    return;
                }
                continue;
            }
            2 | 3 => {
                // A Content-Length (op 2) the app may or may not keep to, or none.
                let status = [200, 204, 304, 404, 500, 200, 200, 200][usize::from(arg & 7)];
                let first = usize::from(arg >> 4);
                let length = (op % 12 == 2).then_some(u64::from(arg >> 3));
                started = true;
                ResponseEvent::Start {
                    head: head(status, length, arg & 0x80 != 0 && arg & 1 != 0),
                    body: body(first),
                    end: arg & 0x40 != 0 && arg & 2 != 0,
                }
            }
            4 => ResponseEvent::Data(body(usize::from(arg) + 1)),
            5 => ResponseEvent::End,
            6 => ResponseEvent::Trailers(b"X-Trailer: 1\r\n".to_vec()),
            7 => ResponseEvent::EarlyHints(b"Link: </a.css>; rel=preload\r\n".to_vec()),
            8 => ResponseEvent::Abort(AbortReason::AppError),
            9 => ResponseEvent::Abort(match arg % 4 {
                0 => AbortReason::Internal,
                1 => AbortReason::Timeout,
                2 => AbortReason::Rejected(HttpError::InvalidTarget),
                _ => AbortReason::AppError,
            }),
            10 => {
                tokio::time::sleep(Duration::from_millis(50 * u64::from(arg))).await;
                continue;
            }
            _ => {
                // A panic in the app side: `pool` catches it and aborts; a dropped job
                // (every sender gone) is what a lost one looks like.
                if arg & 1 == 0 {
                    let _ = send(&events, ResponseEvent::Abort(AbortReason::Internal)).await;
                }
                return;
            }
        };
        let ends = match &event {
            ResponseEvent::Start { end, .. } => *end,
            ResponseEvent::End | ResponseEvent::Trailers(_) | ResponseEvent::Abort(_) => true,
            _ => false,
        };
        if send(&events, event).await.is_err() || ends {
            return;
        }
    }
}

fn limits(small: bool) -> Limits {
    if small {
        Limits {
            max_request_line_bytes: 64,
            max_header_count: 6,
            max_header_bytes: 48,
            max_head_bytes: 256,
            max_body_bytes: 100,
        }
    } else {
        Limits::default()
    }
}

fn timeouts(short: bool) -> Timeouts {
    let mut t = Timeouts::default();
    if short {
        t.header = Duration::from_millis(1500);
        t.body = Duration::from_millis(1500);
        t.keepalive = Duration::from_millis(1000);
        t.send = Duration::from_millis(1500);
    }
    t
}

/// Serves one scripted connection; see the module doc.
///
/// # Panics
/// When a property breaks.
pub fn run(data: &[u8]) {
    // The fake app's faults make `conn` log errors by the thousand; only a broken property
    // matters here. The first configuration wins, so this is one check after the first call.
    let _ = _ferrule::log::init(&_ferrule::log::LogConfig {
        level: _ferrule::log::Level::Critical,
        .._ferrule::log::LogConfig::default()
    });
    let Some((&[client_len, app_len], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (client_script, rest) = rest.split_at(usize::from(client_len).min(rest.len()));
    let (app_script, client_bytes) = rest.split_at(usize::from(app_len).min(rest.len()));
    // The first byte of the client script also sets the stage.
    let flags = client_script.first().copied().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let written = Arc::new(Mutex::new(Vec::new()));
    let permits = 1 + usize::from(flags & 3);
    runtime.block_on(async {
        let ctx = Arc::new(ConnContext {
            limits: limits(flags & 4 != 0),
            timeouts: timeouts(flags & 8 != 0),
            request_permits: Arc::new(Semaphore::new(permits)),
            waker: LoopWaker::start(),
            sendfile: _ferrule::config::Sendfile::Auto,
            statics: conn::StaticRoots::default(),
            proxy: _ferrule::config::ProxyConfig::default(),
            websocket: _ferrule::config::WebSocketConfig::default(),
            http2: _ferrule::config::Http2Config::default(),
        });
        let info = Arc::new(ConnInfo {
            peer: None,
            local: None,
            scheme: "http",
            tls: None,
        });
        let (stop, stop_rx) = watch::channel(false);
        let stream = Scripted {
            ops: Mutex::new(client_ops(
                client_script.get(1..).unwrap_or(&[]),
                client_bytes,
                flags & 16 == 0,
            )),
            delay: Mutex::new(None),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            write_sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            stalled_until: None,
            eof: false,
            reset: false,
            max_write: if flags & 32 != 0 { 7 } else { usize::MAX },
            written: Arc::clone(&written),
            stop,
        };
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let app = FakeApp {
            script: Arc::new(Mutex::new(app_script.iter().copied().collect())),
            tasks: Arc::clone(&tasks),
            gone: flags & 0xC0 == 0xC0,
        };
        tokio::time::timeout(
            HANG,
            conn::serve(stream, info, Arc::new(app), Arc::clone(&ctx), stop_rx),
        )
        .await
        .expect("serve returns: the connection never hangs");
        let tasks = std::mem::take(&mut *tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            tokio::time::timeout(HANG, task)
                .await
                .expect("every job ends once its connection is gone")
                .expect("a fake job does not panic");
        }
        assert_eq!(
            ctx.request_permits.available_permits(),
            permits,
            "every request permit is given back"
        );
    });
    check_responses(&written.lock().unwrap_or_else(PoisonError::into_inner));
}

/// The server's output is a sequence of responses, the last possibly cut short.
fn check_responses(mut out: &[u8]) {
    while !out.is_empty() {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut fields);
        let n = match response.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            // A head cut by a reset or a send timeout.
            Ok(httparse::Status::Partial) => return,
            Err(err) => panic!("a malformed response head ({err}): {out:?}"),
        };
        let code = response.code.expect("a complete head has a status");
        assert!((100..600).contains(&code), "status {code}");
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        for field in response.headers.iter() {
            let name = field.name.to_ascii_lowercase();
            let value = String::from_utf8_lossy(field.value).to_ascii_lowercase();
            match name.as_str() {
                "content-length" => {
                    assert!(length.is_none(), "one Content-Length");
                    length = Some(value.parse::<usize>().expect("a numeric Content-Length"));
                }
                "transfer-encoding" => chunked = value == "chunked",
                "connection" => close = value.split(',').any(|t| t.trim() == "close"),
                _ => {}
            }
        }
        assert!(
            !(chunked && length.is_some()),
            "Content-Length and chunked together"
        );
        out = &out[n..];
        if (100..200).contains(&code) {
            assert!(!close && length.is_none() && !chunked, "an interim head");
            continue;
        }
        // No body: a HEAD request's, a 204's or a 304's (the next head follows, or nothing).
        let bodiless = out.is_empty() || out.starts_with(b"HTTP/1.");
        if !bodiless {
            if chunked {
                match chunked_len(out) {
                    Some(len) => out = &out[len..],
                    None => return,
                }
            } else if let Some(len) = length {
                if out.len() < len {
                    return;
                }
                out = &out[len..];
            } else {
                // Delimited by the close.
                return;
            }
        }
        if close {
            assert!(out.is_empty(), "bytes after a Connection: close response");
        }
    }
}

/// The length of a complete chunked body at the start of `out`; `None` when it is cut
/// short (then nothing may follow it). Panics on bad framing.
fn chunked_len(out: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = find_crlf(&out[at..])?;
        let line = std::str::from_utf8(&out[at..at + line_end]).expect("an ASCII size line");
        let size = usize::from_str_radix(line, 16).expect("a hex chunk size");
        at += line_end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let end = find_crlf(&out[at..])?;
                at += end + 2;
                if end == 0 {
                    return Some(at);
                }
            }
        }
        if out.len() < at + size + 2 {
            return None;
        }
        assert_eq!(
            &out[at + size..at + size + 2],
            b"\r\n",
            "CRLF after a chunk"
        );
        at += size + 2;
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}
