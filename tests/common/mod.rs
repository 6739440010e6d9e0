//! The harness the Rust integration tests share: `server::run` on 127.0.0.1:0 in its own
//! thread and runtime, with a fake `Handler`, stopped (gracefully) when dropped.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use _ferrule::bridge::{Handler, Job, ResponseEvent, ResponseHead};
use _ferrule::config::{BindSpec, Config};
use _ferrule::listener::{self, Listener};
use _ferrule::server;
use bytes::Bytes;

/// Runs every job on its own thread with the closure.
pub struct SpawnPerJob<F>(pub Arc<F>);

impl<F: Fn(Job) + Send + Sync + 'static> Handler for SpawnPerJob<F> {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        let f = Arc::clone(&self.0);
        thread::spawn(move || f(job));
        Ok(())
    }
}

/// A server running in a background thread.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Running {
    /// A new connection with a 5 s read timeout.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    /// Asks the server to stop, without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may be gone already if a test failed; nothing to stop then.
            let _ = stop.send(());
        }
    }

    /// Stops the server and waits until it has.
    pub fn stop(&mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP listener on 127.0.0.1 and a free port, and its address.
pub fn bind_loopback() -> (Listener, SocketAddr) {
    let l = listener::bind(
        &BindSpec::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        },
        128,
    )
    .expect("bind");
    let Listener::Tcp(std_l) = &l else {
        panic!("bound a TCP listener")
    };
    let addr = std_l.local_addr().expect("addr");
    (l, addr)
}

/// Starts a server with `handler`.
pub fn start_handler<H: Handler>(config: Config, handler: Arc<H>) -> Running {
    let (l, addr) = bind_loopback();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            server::run(vec![l], None, handler, &config, async {
                // A dropped sender stops the server too.
                let _ = rx.await;
            })
            .await
            .expect("server");
        });
    });
    Running {
        addr,
        stop: Some(tx),
        thread: Some(thread),
    }
}

/// Starts a server whose jobs each run `respond` on a thread of their own.
pub fn start<F: Fn(Job) + Send + Sync + 'static>(config: Config, respond: F) -> Running {
    start_handler(config, Arc::new(SpawnPerJob(Arc::new(respond))))
}

/// A response head as `wsgi` would prepare it: `status` like `"200 OK"`, `headers` as
/// `Name: value\r\n` lines.
pub fn head(status: &str, headers: &str, content_length: Option<u64>) -> ResponseHead {
    ResponseHead {
        status: status[..3].parse().expect("status"),
        status_line: Bytes::copy_from_slice(status.as_bytes()),
        header_block: headers.as_bytes().to_vec(),
        content_length,
        add_content_length: false,
        has_date: false,
        has_server: false,
        wants_close: false,
    }
}

/// Sends one response event from a fake handler's thread.
pub fn send(job: &Job, ev: ResponseEvent) {
    job.request
        .events
        .blocking_send(ev)
        .expect("conn is listening");
}
