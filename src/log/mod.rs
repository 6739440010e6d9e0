//! The error log and the access log sinks. `init` opens them once per process from
//! `LogConfig`; `log_at!` and `write` write gunicorn-style lines
//! (`[2026-11-24 04:30:00 +0000] [1234] [INFO] message`); `access::Format` renders
//! access lines (gunicorn's atoms, or JSON: `json`). Formatting of timestamps lives in
//! `time`.
//!
//! When Python `logging` is configured (`--log-config`, `logconfig_dict`), records go to a
//! `Forward` instead of the sinks (`forward_to`; `python::logging` implements it with the
//! `ferrule.error` and `ferrule.access` loggers). Without it, nothing but one relaxed load
//! per record is spent on the possibility.

pub mod access;
pub mod handover;
mod json;
pub mod panics;
pub mod time;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

/// Severity of an error-log line; lines below the configured level are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Where and how to log (`--access-log`, `--access-log-format`, `--error-log`,
/// `--log-level`). Read by `init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `None`: no access log. `Some("-")`: stdout. Otherwise a file path (appended to).
    pub access_log: Option<String>,
    /// gunicorn-style format string (`%(h)s %(r)s …`).
    pub access_log_format: String,
    /// `"-"`: stderr. Otherwise a file path (appended to).
    pub error_log: String,
    pub level: Level,
    /// Access records are made even without `access_log`, for a `Forward` (Python
    /// `logging` with a handler on `ferrule.access`). Not a setting: `python::serve` sets
    /// it from what the Python side configured.
    pub access_forwarded: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            access_log: None,
            access_log_format: access::DEFAULT_FORMAT.to_owned(),
            error_log: "-".to_owned(),
            level: Level::Info,
            access_forwarded: false,
        }
    }
}

/// Where log lines go.
enum Sink {
    Stdout,
    Stderr,
    File(std::fs::File),
}

impl Sink {
    fn open(target: &str, console: Sink) -> io::Result<Sink> {
        if target == "-" {
            Ok(console)
        } else {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(target)
                .map(Sink::File)
        }
    }

    /// Writes one whole line (or block) with a single write call where possible, so lines
    /// from several threads and processes do not interleave.
    fn write_all(&mut self, bytes: &[u8]) {
        // Logging must never take a request down: a failed log write is dropped.
        let _ = match self {
            Sink::Stdout => io::stdout().lock().write_all(bytes),
            Sink::Stderr => io::stderr().lock().write_all(bytes),
            Sink::File(f) => f.write_all(bytes),
        };
    }
}

struct Logs {
    level: Level,
    error: Mutex<Sink>,
    /// The format, and the sink unless the records are only forwarded.
    access: Option<(access::Format, Option<Mutex<Sink>>)>,
    /// The targets as configured (`-` or a path), for `reopen`.
    targets: (String, Option<String>),
}

static LOGS: OnceLock<Logs> = OnceLock::new();

/// Opens the log sinks. The first call wins; later calls (a second `serve()` in one
/// process) keep the first configuration.
///
/// # Errors
/// A file that cannot be opened, named in the message.
pub fn init(config: &LogConfig) -> Result<(), String> {
    if LOGS.get().is_some() {
        return Ok(());
    }
    let error = Sink::open(&config.error_log, Sink::Stderr)
        .map_err(|e| format!("cannot open --error-log {:?}: {e}", config.error_log))?;
    let format = access::Format::parse(&config.access_log_format);
    let access = match &config.access_log {
        None if config.access_forwarded => Some((format, None)),
        None => None,
        Some(target) => {
            let sink = Sink::open(target, Sink::Stdout)
                .map_err(|e| format!("cannot open --access-log {target:?}: {e}"))?;
            Some((format, Some(Mutex::new(sink))))
        }
    };
    // Another thread may have won the race; either configuration is complete.
    let targets = (config.error_log.clone(), config.access_log.clone());
    let _ = LOGS.set(Logs {
        level: config.level,
        error: Mutex::new(error),
        access,
        targets,
    });
    Ok(())
}

/// A worker's end of its master's hand-over channel (`handover`), set after fork.
static HANDED_OVER: Mutex<Option<std::os::fd::OwnedFd>> = Mutex::new(None);

/// From now on `reopen` takes the files the master sends on `channel` instead of opening
/// the paths (a worker, right after fork).
pub fn reopen_from_master(channel: std::os::fd::OwnedFd) {
    *HANDED_OVER.lock().unwrap_or_else(PoisonError::into_inner) = Some(channel);
}

/// The open log files (tag, descriptor) for `handover::send`: the master's, right after
/// its own reopen. The descriptors stay owned by the sinks; only the master's thread
/// replaces them, and it is the one sending.
pub fn open_files() -> Vec<(u8, std::os::fd::RawFd)> {
    use std::os::fd::AsRawFd;
    let Some(logs) = LOGS.get() else {
        return Vec::new();
    };
    let mut files = Vec::new();
    if let Sink::File(f) = &*logs.error.lock().unwrap_or_else(PoisonError::into_inner) {
        files.push((handover::ERROR_LOG, f.as_raw_fd()));
    }
    if let Some((_, Some(access))) = &logs.access {
        if let Sink::File(f) = &*access.lock().unwrap_or_else(PoisonError::into_inner) {
            files.push((handover::ACCESS_LOG, f.as_raw_fd()));
        }
    }
    files
}

/// Reopens the log files (SIGUSR1, after logrotate moved them): at their configured paths,
/// or, in a worker, as the master hands them over (it reopened them first). Console sinks
/// stay as they are. False when a worker found nothing handed over (a USR1 that did not
/// come from its master, which sends its own once the files are reopened).
///
/// # Errors
/// A file that cannot be opened, named in the message; the old file stays in use.
pub fn reopen() -> Result<bool, String> {
    let Some(logs) = LOGS.get() else {
        return Ok(true);
    };
    if let Some(channel) = &*HANDED_OVER.lock().unwrap_or_else(PoisonError::into_inner) {
        let Some(files) = handover::receive(channel)
            .map_err(|e| format!("cannot receive the reopened log files from the master: {e}"))?
        else {
            return Ok(false);
        };
        for (tag, fd) in files {
            let sink = Sink::File(std::fs::File::from(fd));
            match (tag, &logs.access) {
                (handover::ERROR_LOG, _) => {
                    *logs.error.lock().unwrap_or_else(PoisonError::into_inner) = sink;
                }
                (handover::ACCESS_LOG, Some((_, Some(access)))) => {
                    *access.lock().unwrap_or_else(PoisonError::into_inner) = sink;
                }
                // Not a sink this worker has: the file is closed.
                _ => {}
            }
        }
        // Python `logging` handlers reopen by path (the master gave the files to the
        // workers' user before it sent these).
        if let Some(forward) = forward() {
            forward.reopen();
        }
        return Ok(true);
    }
    let (error_target, access_target) = &logs.targets;
    if error_target != "-" {
        let sink = Sink::open(error_target, Sink::Stderr)
            .map_err(|e| format!("cannot reopen --error-log {error_target:?}: {e}"))?;
        *logs
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = sink;
    }
    if let (Some(target), Some((_, Some(access)))) = (access_target, &logs.access) {
        if target != "-" {
            let sink = Sink::open(target, Sink::Stdout)
                .map_err(|e| format!("cannot reopen --access-log {target:?}: {e}"))?;
            *access
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = sink;
        }
    }
    if let Some(forward) = forward() {
        forward.reopen();
    }
    chown().map(|()| true)
}

/// The workers' user and group (`--user`, `--group`), set in the master only: the files
/// it opens or reopens are given to them (`chown`).
static OWNER: Mutex<(Option<u32>, Option<u32>)> = Mutex::new((None, None));

/// Makes the log files belong to `user` and `group` from now on (the master, before it
/// forks; `(None, None)` in a worker).
///
/// # Errors
/// As `chown`.
pub fn set_owner(user: Option<u32>, group: Option<u32>) -> Result<(), String> {
    *OWNER.lock().unwrap_or_else(PoisonError::into_inner) = (user, group);
    chown()
}

/// Gives the log files to the owner `set_owner` named (the workers' identity), so that a
/// worker can reopen them by path on USR1 after the master, which created them, did. Like
/// gunicorn. The directory must still let the worker reach the file.
///
/// # Errors
/// A file that cannot be given away, named in the message.
fn chown() -> Result<(), String> {
    let (user, group) = *OWNER.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(logs) = LOGS.get() else {
        return Ok(());
    };
    if user.is_none() && group.is_none() {
        return Ok(());
    }
    let (error_target, access_target) = &logs.targets;
    for target in std::iter::once(error_target).chain(access_target) {
        if target != "-" {
            std::os::unix::fs::chown(target, user, group).map_err(|e| {
                format!("cannot give log file {target:?} to the workers' user: {e}")
            })?;
        }
    }
    Ok(())
}

/// Where records go when Python `logging` is configured; see the module docs.
pub trait Forward: Send + Sync {
    /// One error-log message (without the timestamp, pid and level prefix).
    fn error(&self, level: Level, message: &str);
    /// One rendered access line (without its newline).
    fn access(&self, line: &str);
    /// USR1: the handlers' files were moved; reopen them.
    fn reopen(&self);
}

/// Whether a `Forward` is installed: the one load the fast path pays.
static FORWARDING: AtomicBool = AtomicBool::new(false);
static FORWARD: RwLock<Option<Arc<dyn Forward>>> = RwLock::new(None);

/// Sends every record to `forward` from now on (`None`: back to the sinks).
pub fn forward_to(forward: Option<Arc<dyn Forward>>) {
    FORWARDING.store(forward.is_some(), Ordering::Relaxed);
    *FORWARD.write().unwrap_or_else(PoisonError::into_inner) = forward;
}

/// Whether records go to a `Forward`.
pub fn is_forwarding() -> bool {
    FORWARDING.load(Ordering::Relaxed)
}

fn forward() -> Option<Arc<dyn Forward>> {
    if !FORWARDING.load(Ordering::Relaxed) {
        return None;
    }
    FORWARD
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn logs() -> &'static Logs {
    LOGS.get_or_init(|| Logs {
        level: Level::Info,
        error: Mutex::new(Sink::Stderr),
        access: None,
        targets: ("-".to_owned(), None),
    })
}

/// True when a line at `level` would be written; callers skip formatting otherwise.
pub fn enabled(level: Level) -> bool {
    level >= logs().level
}

/// Writes one error-log line.
pub fn write(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    // `Level`'s order is `metrics::LOG_LEVELS`' (debug first).
    crate::metrics::stats().logged(level as usize);
    if let Some(forward) = forward() {
        forward.error(level, message.trim_end_matches('\n'));
        return;
    }
    let mut line = String::with_capacity(message.len() + 48);
    line.push('[');
    time::push_log_timestamp(&mut line, std::time::SystemTime::now());
    line.push_str("] [");
    line.push_str(&std::process::id().to_string());
    line.push_str("] [");
    line.push_str(level.label());
    line.push_str("] ");
    line.push_str(message);
    if !message.ends_with('\n') {
        line.push('\n');
    }
    raw(line.as_bytes());
}

/// Writes bytes to the error log as they are (used by `wsgi.errors`).
pub fn raw(bytes: &[u8]) {
    if let Some(forward) = forward() {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            forward.error(Level::Error, text);
        }
        return;
    }
    let mut sink = logs()
        .error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    sink.write_all(bytes);
}

/// The access log, when one is configured.
pub fn access() -> Option<&'static access::Format> {
    logs().access.as_ref().map(|(f, _)| f)
}

/// Writes one rendered access line (with its newline).
pub fn write_access(line: &[u8]) {
    if let Some(forward) = forward() {
        let text = String::from_utf8_lossy(line);
        forward.access(text.trim_end_matches('\n'));
        return;
    }
    if let Some((_, Some(sink))) = &logs().access {
        sink.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write_all(line);
    }
}

#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, &format!($($arg)*));
        }
    };
}
