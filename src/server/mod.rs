//! Inside a worker: the accept loops, the connection limit, request backpressure and the
//! drain on shutdown. Connections are served by `conn`; requests by a `Handler`.
//!
//! Design: one task per listener runs the same loop whatever the listener's kind
//! (`accept::Accept`: TCP and unix today, TLS next), under two bounds. A connection permit
//! (`max_connections`) is taken per connection; before each accept the loop also waits
//! until a request permit is free, so a worker whose Python threads are all busy (and
//! whose hand-off queue is full) leaves new connections in the kernel backlog, where
//! another worker can take them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use crate::bridge::{ConnInfo, Handler};
use crate::config::Config;
use crate::conn::ConnContext;
use crate::listener::Listener;
use crate::log::Level;
use crate::metrics;
use crate::relay::LoopWaker;
use crate::tls::ServerTls;
use accept::{Accept, Registered};

mod accept;

/// Requests that may wait for a Python thread, beyond one running per thread. A deep
/// queue lets the event loop hand a burst over in one wake-up and lets a thread run jobs
/// back to back without releasing the GIL; it stays bounded so an overloaded worker stops
/// accepting. Measured on `hello` (1 thread, 64 connections, one core): 2 queued →
/// 28.6 k req/s, 16 → 52 k, 64 → 64 k (bench/ has the method).
const QUEUED_REQUESTS: usize = 64;

/// Serves `listeners` (TCP ones over TLS when `tls` is given) until `shutdown` completes,
/// then stops accepting, lets connections finish their current request, and returns when
/// all are closed (or after `config.timeouts.graceful`). Must run inside a tokio runtime with I/O and time enabled.
///
/// # Errors
/// A listener that cannot be registered with the runtime.
pub async fn run<H: Handler>(
    listeners: Vec<Listener>,
    tls: Option<ServerTls>,
    handler: Arc<H>,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_connections = config.max_connections.max(1);
    let connections = Arc::new(Semaphore::new(max_connections));
    let ctx = Arc::new(ConnContext {
        limits: config.limits.clone(),
        timeouts: config.timeouts,
        request_permits: Arc::new(Semaphore::new(
            handler
                .capacity()
                .unwrap_or(config.threads.get() + QUEUED_REQUESTS),
        )),
        waker: LoopWaker::start(),
        sendfile: config.sendfile,
        statics: crate::conn::StaticRoots::open(&config.statics)?,
        proxy: config.proxy.clone(),
        websocket: config.websocket,
        http2: config.http2,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let acceptor = Acceptor {
            handler: Arc::clone(&handler),
            ctx: Arc::clone(&ctx),
            connections: Arc::clone(&connections),
            stop: stop_rx.clone(),
        };
        accept_tasks.push(match accept::register(listener, tls.as_ref())? {
            Registered::Tcp(l) => tokio::spawn(acceptor.run(l)),
            Registered::Unix(l) => tokio::spawn(acceptor.run(l)),
        });
    }

    shutdown.await;
    log_at!(
        Level::Info,
        "shutting down: no new connections; finishing requests in progress"
    );
    // 1. Stop accepting and tell idle connections to close.
    // A send error means no receiver is left, which is what we want anyway.
    let _ = stop_tx.send(true);
    for task in accept_tasks {
        // The accept loops end promptly on `stop`; a panicked one has nothing to clean up.
        let _ = task.await;
    }
    // 2. Wait until every connection permit is back: each connection task holds one.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.timeouts.graceful, connections.acquire_many(all))
        .await
        .is_err()
    {
        log_at!(
            Level::Warning,
            "{} connection(s) still open after the graceful timeout; closing them",
            max_connections - connections.available_permits()
        );
    }
    Ok(())
}

struct Acceptor<H> {
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    connections: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
}

impl<H: Handler> Acceptor<H> {
    /// Waits for a connection permit and a free request slot, or for `stop`.
    async fn admit(&mut self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let wait = async {
            let permit = Arc::clone(&self.connections)
                .acquire_owned()
                .await
                .expect("the connection semaphore is never closed");
            // Backpressure: do not take a new connection while every request slot is in
            // use. The permit is released at once; it only gates the accept.
            drop(
                self.ctx
                    .request_permits
                    .acquire()
                    .await
                    .expect("the request semaphore is never closed"),
            );
            permit
        };
        tokio::select! {
            permit = wait => Some(permit),
            _ = self.stop.wait_for(|stop| *stop) => None,
        }
    }

    /// Accepts until `stop`, then drains the backlog.
    async fn run<A: Accept>(mut self, listener: A) {
        loop {
            let Some(permit) = self.admit().await else {
                return self.drain(&listener);
            };
            let accepted = tokio::select! {
                r = listener.accept() => Some(r),
                _ = self.stop.wait_for(|stop| *stop) => None,
            };
            let Some(accepted) = accepted else {
                return self.drain(&listener);
            };
            match accepted {
                Ok((stream, info)) => self.spawn(&listener, stream, info, permit),
                Err(err) => on_accept_error(&err).await,
            }
        }
    }

    /// At stop, takes every connection already waiting in the kernel's backlog, so that when
    /// this is the last open copy of the socket (a final stop) they are served (their first
    /// request, with `Connection: close`) instead of reset when it closes.
    fn drain<A: Accept>(&self, listener: &A) {
        while let Some(accepted) = listener.accept_waiting() {
            let Some(permit) = self.drained_permit() else {
                return;
            };
            match accepted {
                Ok((stream, info)) => self.spawn(listener, stream, info, permit),
                Err(err) => log_at!(
                    Level::Error,
                    "cannot serve a connection from the backlog: {err}"
                ),
            }
        }
    }

    /// A connection permit for a connection taken from the backlog at stop; `None` (the
    /// connection is closed) at `max_connections`.
    fn drained_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = Arc::clone(&self.connections).try_acquire_owned().ok();
        if permit.is_none() {
            log_at!(
                Level::Warning,
                "max_connections reached while draining; closing a connection from the backlog"
            );
        }
        permit
    }

    fn spawn<A: Accept>(
        &self,
        listener: &A,
        stream: A::Stream,
        info: Arc<ConnInfo>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let served = listener.serve(
            stream,
            info,
            Arc::clone(&self.handler),
            Arc::clone(&self.ctx),
            self.stop.clone(),
        );
        metrics::stats().connection_accepted();
        tokio::spawn(async move {
            served.await;
            metrics::stats().connection_closed();
            drop(permit);
        });
    }
}

/// accept(2) errors such as EMFILE are transient: log, back off briefly, keep going.
async fn on_accept_error(err: &std::io::Error) {
    log_at!(Level::Error, "accept failed: {err}");
    // 100 ms: long enough to let descriptors free up, short enough to go unnoticed.
    tokio::time::sleep(Duration::from_millis(100)).await;
}
