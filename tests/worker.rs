//! The worker process's lifecycle driven in a test thread: a real `Worker` on 127.0.0.1:0
//! with a fake `AppHost` (whose handler answers from Rust threads), fake `Signals` (oneshot
//! channels instead of TERM and QUIT), and the master's end of its pipe read here. Each
//! test asserts the phase sequence and what the worker told the master, in the style of
//! `tests/supervisor.rs`.

// Fake handlers take the job by value: that is the `Handler` contract.
#![allow(clippy::needless_pass_by_value)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use _ferrule::bridge::{Handler, Job, ResponseEvent};
use _ferrule::config::Config;
use _ferrule::worker::recycle::Limit;
use _ferrule::worker::{
    AppHost, BootError, Exit, MasterPipe, Message, Phase, Signals, Stops, Worker,
};
use bytes::Bytes;
use tokio::sync::oneshot;

mod common;

use Phase::{Booting, Draining, Exited, Serving};

/// Answers every job from a thread of its own: `/slow` after 300 ms; `/block` blocks the
/// caller (the event loop) for 300 ms before handing the job on.
struct FakeHandler {
    stuck: bool,
    shut_down: Arc<AtomicBool>,
}

impl Handler for FakeHandler {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        if job.request.head.path() == b"/block" {
            thread::sleep(Duration::from_millis(300));
        }
        thread::spawn(move || {
            if job.request.head.path() == b"/slow" {
                thread::sleep(Duration::from_millis(300));
            }
            let body = Bytes::from_static(b"ok");
            common::send(
                &job,
                ResponseEvent::Start {
                    head: common::head("200 OK", "", Some(2)),
                    body,
                    end: true,
                },
            );
        });
        Ok(())
    }

    fn is_stuck(&self) -> bool {
        self.stuck
    }

    fn shut_down(self, _stuck_wait: Duration) -> bool {
        self.shut_down.store(true, Ordering::SeqCst);
        !self.stuck
    }
}

/// An app host that hands over a `FakeHandler`, or fails to boot.
struct FakeHost {
    handler: Option<FakeHandler>,
    boot: Option<BootError>,
}

impl AppHost for FakeHost {
    type Handler = FakeHandler;

    fn start(&mut self) -> Result<FakeHandler, BootError> {
        if let Some(err) = self.boot.take() {
            return Err(err);
        }
        Ok(self.handler.take().expect("started once"))
    }

    fn detached(&mut self, serve: impl FnOnce() -> Exit + Send) -> Exit {
        serve()
    }
}

/// Stops that the test triggers.
struct FakeSignals {
    graceful: oneshot::Receiver<()>,
    quick: oneshot::Receiver<()>,
}

impl Signals for FakeSignals {
    fn listen(self) -> std::io::Result<Stops> {
        // A dropped sender (a test that never stops the worker) must not stop it.
        let (graceful, quick) = (self.graceful, self.quick);
        Ok(Stops {
            graceful: Box::pin(async move {
                if graceful.await.is_err() {
                    std::future::pending::<()>().await;
                }
            }),
            quick: Box::pin(async move {
                if quick.await.is_err() {
                    std::future::pending::<()>().await;
                }
            }),
        })
    }
}

/// What the master's end of the pipe received, with arrival times.
type Received = Arc<Mutex<Vec<(Instant, Message)>>>;

/// A worker running in a thread.
struct Running {
    addr: SocketAddr,
    received: Received,
    graceful: Option<oneshot::Sender<()>>,
    quick: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<(Exit, Vec<Phase>)>>,
    shut_down: Arc<AtomicBool>,
}

impl Running {
    fn messages(&self) -> Vec<Message> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, m)| *m)
            .collect()
    }

    /// Waits up to 5 s for `message` to have been received `count` times.
    fn wait_for(&self, message: Message, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.messages().iter().filter(|m| **m == message).count() < count {
            assert!(
                Instant::now() < deadline,
                "{message:?} x{count} never came: {:?}",
                self.messages()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop_gracefully(&mut self) {
        let _ = self.graceful.take().expect("once").send(());
    }

    fn stop_at_once(&mut self) {
        let _ = self.quick.take().expect("once").send(());
    }

    fn join(&mut self) -> (Exit, Vec<Phase>) {
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("worker thread")
    }
}

fn config() -> Config {
    let mut config = Config::with_binds(vec![]);
    // Short enough that a test that fails to drain fails fast.
    config.timeouts.graceful = Duration::from_secs(5);
    config
}

fn start(config: Config, stuck: bool, boot: Option<BootError>) -> Running {
    let (l, addr) = common::bind_loopback();
    let (ours, theirs) = UnixStream::pair().expect("pipe");
    let received: Received = Arc::default();
    {
        let received = Arc::clone(&received);
        let mut ours = ours;
        thread::spawn(move || {
            let mut byte = [0u8; 1];
            // Ends at EOF, when the worker (and its end of the pipe) is dropped.
            while let Ok(1) = ours.read(&mut byte) {
                let message = Message::from_byte(byte[0]).expect("a known message");
                received
                    .lock()
                    .expect("lock")
                    .push((Instant::now(), message));
            }
        });
    }
    theirs.set_nonblocking(true).expect("nonblocking");
    let pipe = MasterPipe::new(OwnedFd::from(theirs));
    let shut_down = Arc::new(AtomicBool::new(false));
    let host = FakeHost {
        handler: Some(FakeHandler {
            stuck,
            shut_down: Arc::clone(&shut_down),
        }),
        boot,
    };
    let (graceful_tx, graceful) = oneshot::channel();
    let (quick_tx, quick) = oneshot::channel();
    let thread = thread::spawn(move || {
        let mut worker = Worker::new(
            7,
            config,
            vec![l],
            pipe,
            host,
            FakeSignals { graceful, quick },
        );
        let exit = worker.run();
        (exit, worker.phases())
    });
    Running {
        addr,
        received,
        graceful: Some(graceful_tx),
        quick: Some(quick_tx),
        thread: Some(thread),
        shut_down,
    }
}

/// Sends one request and reads its response until the server closes or the body is in.
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn a_graceful_stop_finishes_the_request_in_progress_then_exits() {
    let mut w = start(config(), false, None);
    w.wait_for(Message::Ready, 1);
    assert!(get(w.addr, "/").starts_with("HTTP/1.1 200 OK\r\n"));
    let addr = w.addr;
    let slow = thread::spawn(move || get(addr, "/slow"));
    // The slow request is with the handler before the stop.
    thread::sleep(Duration::from_millis(100));
    w.stop_gracefully();
    let answer = slow.join().expect("client");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
    let (exit, phases) = w.join();
    assert_eq!(exit, Exit::Stopped);
    assert_eq!(exit.code(), 0);
    assert_eq!(phases, [Booting, Serving, Draining, Exited]);
    assert!(
        w.shut_down.load(Ordering::SeqCst),
        "the handler was shut down"
    );
    // Once stopped, nothing listens any more.
    assert!(TcpStream::connect(w.addr).is_err());
}

#[test]
fn an_immediate_stop_exits_without_draining() {
    let mut w = start(config(), false, None);
    w.wait_for(Message::Ready, 1);
    w.stop_at_once();
    let (exit, phases) = w.join();
    assert_eq!(exit, Exit::StoppedAtOnce);
    assert_eq!(phases, [Booting, Serving, Exited]);
    assert!(!w.shut_down.load(Ordering::SeqCst));
}

#[test]
fn an_app_that_cannot_load_exits_with_app_load_error_before_serving() {
    let mut w = start(config(), false, Some(BootError::AppLoad));
    let (exit, phases) = w.join();
    assert_eq!(exit, Exit::BootFailed(BootError::AppLoad));
    assert_eq!(exit.code(), 4);
    assert_eq!(phases, [Booting, Exited]);
    assert!(!w.messages().contains(&Message::Ready));
    let other = Exit::BootFailed(BootError::Failed("no threads".into()));
    assert_eq!(other.code(), 3);
}

#[test]
fn the_request_that_reaches_max_requests_asks_to_be_replaced_at_once() {
    let mut config = config();
    config.process.max_requests = std::num::NonZeroU64::new(2);
    // No heartbeat during the test: the retire message must come from the request itself.
    config.timeouts.worker = Duration::from_secs(3600);
    let mut w = start(config, false, None);
    w.wait_for(Message::Ready, 1);
    assert!(get(w.addr, "/").starts_with("HTTP/1.1 200"));
    thread::sleep(Duration::from_millis(50));
    assert!(!w.messages().contains(&Message::Retire(Limit::MaxRequests)));
    assert!(get(w.addr, "/").starts_with("HTTP/1.1 200"));
    w.wait_for(Message::Retire(Limit::MaxRequests), 1);
    // Recycling only asks: the worker serves on until the master stops it.
    assert!(get(w.addr, "/").starts_with("HTTP/1.1 200"));
    w.stop_gracefully();
    let (exit, _) = w.join();
    assert_eq!(exit, Exit::Stopped);
    let retires = w
        .messages()
        .iter()
        .filter(|m| matches!(m, Message::Retire(_)))
        .count();
    assert_eq!(retires, 1, "asked once");
}

#[test]
fn heartbeats_stop_while_the_event_loop_is_blocked() {
    let mut config = config();
    // 40 ms: a beat every 10 ms.
    config.timeouts.worker = Duration::from_millis(40);
    let mut w = start(config, false, None);
    w.wait_for(Message::Ready, 1);
    w.wait_for(Message::Beat, 5);
    let before = Instant::now();
    assert!(get(w.addr, "/block").starts_with("HTTP/1.1 200"));
    let after = Instant::now();
    w.wait_for(Message::Beat, w.messages().len() + 3);
    let beats: Vec<Instant> = w
        .received
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, m)| *m == Message::Beat)
        .map(|(at, _)| *at)
        .collect();
    let longest_gap = beats
        .windows(2)
        .filter(|pair| pair[1] > before && pair[0] < after)
        .map(|pair| pair[1] - pair[0])
        .max()
        .expect("beats around the blocked loop");
    assert!(
        longest_gap >= Duration::from_millis(250),
        "no beat may come while the loop is blocked; longest gap {longest_gap:?}"
    );
    let steady = beats
        .windows(2)
        .filter(|pair| pair[1] < before)
        .map(|pair| pair[1] - pair[0])
        .max()
        .expect("beats before");
    assert!(
        steady < Duration::from_millis(150),
        "steady beats: {steady:?}"
    );
    w.stop_gracefully();
    assert_eq!(w.join().0, Exit::Stopped);
}

#[test]
fn a_stuck_job_asks_to_be_replaced_and_is_left_behind_at_exit() {
    let mut config = config();
    config.timeouts.worker = Duration::from_millis(40);
    let mut w = start(config, true, None);
    w.wait_for(Message::Retire(Limit::StuckRequest), 1);
    w.stop_gracefully();
    let (exit, phases) = w.join();
    assert_eq!(exit, Exit::Abandoned);
    assert_eq!(exit.code(), 0);
    assert_eq!(phases, [Booting, Serving, Draining, Exited]);
}
