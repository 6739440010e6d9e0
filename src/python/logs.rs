//! Python `logging` as the destination of the core's records (`log::Forward`), when the
//! Python side configured it (`ferrule.logs.configure`): error-log messages go to the
//! `ferrule.error` logger, access lines to `ferrule.access` (INFO).
//!
//! The master calls the loggers directly (`Direct`: its one thread holds the GIL, or takes
//! it back). A worker must never wait for the GIL on its event loop, so there records go
//! through a bounded queue (`Queued`) to one Python thread that logs them; a full queue
//! drops records (counted, and reported once the queue has room).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use pyo3::prelude::*;

use crate::log::{self, Forward, Level};

/// Records that may wait for the log thread. 65 536: seconds of access lines at full
/// speed; chosen without measurement.
const QUEUE: usize = 65_536;

/// Records a full queue dropped.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The loggers' bound methods and `ferrule.logs.reopen`.
pub(super) struct Direct {
    error: Py<PyAny>,
    access: Py<PyAny>,
    reopen: Py<PyAny>,
    /// The workers' user and group: the master gives reopened files to them.
    owner: (Option<u32>, Option<u32>),
}

fn levelno(level: Level) -> u8 {
    match level {
        Level::Debug => 10,
        Level::Info => 20,
        Level::Warning => 30,
        Level::Error => 40,
        Level::Critical => 50,
    }
}

/// A Python logging call that raised (a handler's own errors go to its `handleError`):
/// printed to stderr, the only place left.
fn report(py: Python<'_>, result: PyResult<Py<PyAny>>) {
    if let Err(err) = result {
        err.print(py);
    }
}

impl Forward for Direct {
    fn error(&self, level: Level, message: &str) {
        // GIL: taken for the one call (the master holds it already, or gets it back).
        Python::attach(|py| report(py, self.error.call1(py, (levelno(level), message))));
    }

    fn access(&self, line: &str) {
        // GIL: as above.
        Python::attach(|py| report(py, self.access.call1(py, (line,))));
    }

    fn reopen(&self) {
        // GIL: as above.
        Python::attach(|py| report(py, self.reopen.call1(py, self.owner)));
    }
}

/// Sends the records to the Python loggers from now on, calling them directly (the
/// master). `owner` is the workers' user and group (`--user`, `--group`).
///
/// # Errors
/// `ferrule.logs` or `logging` cannot be imported.
pub(super) fn forward_directly(py: Python<'_>, owner: (Option<u32>, Option<u32>)) -> PyResult<()> {
    let logging = py.import("logging")?;
    let logger = |name: &str| logging.call_method1("getLogger", (name,));
    let direct = Direct {
        error: logger("ferrule.error")?.getattr("log")?.unbind(),
        access: logger("ferrule.access")?.getattr("info")?.unbind(),
        reopen: py.import("ferrule.logs")?.getattr("reopen")?.unbind(),
        owner,
    };
    log::forward_to(Some(Arc::new(direct)));
    Ok(())
}

enum Record {
    Error(Level, String),
    Access(String),
    Reopen,
}

/// A worker's forward: see the module docs.
struct Queued {
    records: crossbeam_channel::Sender<Record>,
}

impl Queued {
    fn send(&self, record: Record) {
        if self.records.try_send(record).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Forward for Queued {
    fn error(&self, level: Level, message: &str) {
        self.send(Record::Error(level, message.to_owned()));
    }

    fn access(&self, line: &str) {
        self.send(Record::Access(line.to_owned()));
    }

    fn reopen(&self) {
        self.send(Record::Reopen);
    }
}

/// The log thread of a worker; `finish` it before the process exits.
pub(super) struct LogThread(JoinHandle<()>);

/// In a new worker whose master forwards to Python: moves the forwarding to a queue and a
/// Python thread of the worker's own. `None` when the master does not forward (or the
/// thread cannot start: then the worker keeps calling the loggers directly).
pub(super) fn start_in_worker(py: Python<'_>) -> Option<LogThread> {
    if !log::is_forwarding() {
        return None;
    }
    let logging = py.import("logging").ok()?;
    let logger = |name: &str| logging.call_method1("getLogger", (name,));
    let direct = Direct {
        error: logger("ferrule.error").ok()?.getattr("log").ok()?.unbind(),
        access: logger("ferrule.access")
            .ok()?
            .getattr("info")
            .ok()?
            .unbind(),
        reopen: py
            .import("ferrule.logs")
            .ok()?
            .getattr("reopen")
            .ok()?
            .unbind(),
        // A worker cannot give files away; the master did.
        owner: (None, None),
    };
    let (tx, rx) = crossbeam_channel::bounded::<Record>(QUEUE);
    let thread = std::thread::Builder::new()
        .name("ferrule-log".to_owned())
        .spawn(move || {
            // GIL: held while logging a batch of records, released while waiting.
            Python::attach(|py| {
                while let Ok(first) = py.detach(|| rx.recv()) {
                    let mut next = Some(first);
                    while let Some(record) = next {
                        match record {
                            Record::Error(level, message) => direct.error(level, &message),
                            Record::Access(line) => direct.access(&line),
                            Record::Reopen => direct.reopen(),
                        }
                        next = rx.try_recv().ok();
                    }
                    let dropped = DROPPED.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        direct.error(
                            Level::Warning,
                            &format!("{dropped} log record(s) dropped: the logging queue was full"),
                        );
                    }
                }
            });
        })
        .ok()?;
    log::forward_to(Some(Arc::new(Queued { records: tx })));
    Some(LogThread(thread))
}

/// Logs what is still queued and stops the log thread (before the worker exits).
pub(super) fn finish(py: Python<'_>, thread: LogThread) {
    // Dropping the forward drops the queue's sender: the thread drains it and ends.
    log::forward_to(None);
    // GIL: released while the log thread, which needs it, finishes.
    let joined = py.detach(|| thread.0.join());
    // A log thread that panicked has nothing left to log.
    drop(joined);
}
