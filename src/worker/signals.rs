//! How a worker learns that it must stop: TERM asks for a graceful stop, INT and QUIT for
//! an immediate one; USR1 reopens the log files. `OsSignals` listens for the real signals;
//! tests hand `Worker` their own `Signals`.

use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::log::{self, Level};

/// A future the worker waits on.
pub type StopFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The two ways a worker is told to stop.
pub struct Stops {
    /// Completes on a graceful stop: stop accepting, finish what is in progress, exit.
    pub graceful: StopFuture,
    /// Completes on an immediate stop: exit now.
    pub quick: StopFuture,
}

/// Where a worker's stop requests come from.
pub trait Signals: Send + 'static {
    /// Starts listening. Called inside the worker's runtime, once.
    ///
    /// # Errors
    /// A handler that cannot be installed.
    fn listen(self) -> io::Result<Stops>;
}

/// The process's signals: TERM, INT, QUIT, and USR1 (reopen logs, handled here).
pub struct OsSignals;

impl Signals for OsSignals {
    fn listen(self) -> io::Result<Stops> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr1 = signal(SignalKind::user_defined1())?;
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                match log::reopen() {
                    Ok(true) => log::write(Level::Info, "reopened the log files"),
                    Ok(false) => log::write(
                        Level::Debug,
                        "USR1 not from the master: the log files come with the master's",
                    ),
                    Err(err) => log_at!(Level::Error, "{err}"),
                }
            }
        });
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        Ok(Stops {
            graceful: Box::pin(async move {
                term.recv().await;
                log::write(Level::Info, "received SIGTERM");
            }),
            quick: Box::pin(async move {
                tokio::select! {
                    _ = int.recv() => log::write(Level::Info, "received SIGINT"),
                    _ = quit.recv() => log::write(Level::Info, "received SIGQUIT"),
                }
            }),
        })
    }
}
