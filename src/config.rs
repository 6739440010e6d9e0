//! Typed settings for the Rust core. The Python side parses and validates user input
//! (`python/ferrule/settings.py`); `python.rs` extracts it into `Config`. Nothing here reads
//! argv, env vars or files.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::http::Limits;
use crate::log::Level;

/// Everything one worker needs to serve.
#[derive(Clone, Debug)]
pub struct Config {
    pub binds: Vec<BindSpec>,
    /// Python threads per worker (`--threads`).
    pub threads: NonZeroUsize,
    /// `SCRIPT_NAME` for every request; stripped from the front of `PATH_INFO` when present.
    pub root_path: String,
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// Concurrent connections per worker; the accept loop pauses at this count.
    pub max_connections: usize,
    /// The listen(2) backlog.
    pub backlog: u32,
    /// How `wsgi.file_wrapper` files are sent.
    pub sendfile: Sendfile,
    /// The scheduling policy of worker threads.
    pub sched_policy: SchedPolicy,
    pub log: LogConfig,
    pub process: ProcessConfig,
}

/// How a file body (`wsgi.file_wrapper`) goes out (`--sendfile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sendfile {
    /// sendfile(2), except to a loopback peer.
    #[default]
    Auto,
    /// Always sendfile(2).
    On,
    /// Always read and write.
    Off,
}

/// The Linux scheduling policy of a worker's threads (`--sched-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SchedPolicy {
    /// `SCHED_BATCH`: no wake-up preemption between the worker's own threads.
    #[default]
    Batch,
    /// `SCHED_OTHER`, as the worker was started.
    Normal,
}

impl SchedPolicy {
    /// Sets the policy of the calling thread (threads it creates inherit it). A refusal is
    /// logged and the thread keeps its policy: the setting is about speed, not safety.
    pub fn apply_to_this_thread(self) {
        let policy = match self {
            SchedPolicy::Batch => libc::SCHED_BATCH,
            SchedPolicy::Normal => return,
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param that outlives
        // the call.
        let rc = unsafe { libc::sched_setscheduler(0, policy, &raw const param) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            crate::log_at!(
                crate::log::Level::Warning,
                "sched_policy: cannot switch to SCHED_BATCH ({err}); the worker keeps its scheduling policy"
            );
        }
    }
}

/// How the master runs workers (`--workers`, recycling, titles). Read by `python.rs` to
/// build the supervisor and each worker's `supervisor::worker::Recycle`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessConfig {
    /// Worker processes (`--workers`).
    pub workers: NonZeroUsize,
    /// Requests after which a worker is replaced; `None`: never (`--max-requests 0`).
    pub max_requests: Option<u64>,
    /// Up to this many more requests, drawn per worker, so workers do not retire together.
    pub max_requests_jitter: u64,
    /// Age after which a worker is replaced.
    pub max_worker_lifetime: Option<Duration>,
    /// Up to this much longer, drawn per worker.
    pub max_worker_lifetime_jitter: Duration,
    /// Resident memory above which a worker is replaced.
    pub max_worker_memory: Option<u64>,
    /// The name in process titles (`ferrule: master [NAME]`); the app spec by default.
    pub proc_name: String,
    /// A file the master writes its pid to (`--pid-file`), removed when it stops.
    pub pid_file: Option<PathBuf>,
    /// The user and group workers switch to after fork (`--user`, `--group`).
    pub user: Option<u32>,
    pub group: Option<u32>,
    /// `SO_REUSEPORT` on TCP listeners.
    pub reuse_port: bool,
    /// Mode of unix socket files.
    pub unix_socket_mode: Option<u32>,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            workers: NonZeroUsize::MIN,
            max_requests: None,
            max_requests_jitter: 0,
            max_worker_lifetime: None,
            max_worker_lifetime_jitter: Duration::ZERO,
            max_worker_memory: None,
            proc_name: String::new(),
            pid_file: None,
            user: None,
            group: None,
            reuse_port: false,
            unix_socket_mode: None,
        }
    }
}

/// Time bounds on a connection. Read by `conn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From accept (or the end of the previous response) to a complete head once a byte came.
    pub header: Duration,
    /// Longest idle gap while the app waits for body bytes.
    pub body: Duration,
    /// Longest idle time between requests on a persistent connection.
    pub keepalive: Duration,
    /// Longest time one write may wait for a client that does not read.
    pub send: Duration,
    /// How long a stopping worker may take to finish its requests (`graceful_timeout`).
    /// Read by `server` (its drain) and the master (which kills after it).
    pub graceful: Duration,
    /// How long a worker's event loop may go without a heartbeat (`worker_timeout`).
    pub worker: Duration,
    /// How long the app may run one request (`request_timeout`); `None`: unbounded.
    /// Read by `pool`'s watchdog.
    pub request: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            keepalive: Duration::from_secs(5),
            send: Duration::from_secs(30),
            graceful: Duration::from_secs(30),
            worker: Duration::from_secs(30),
            request: None,
        }
    }
}

/// Where and how to log. Read by `log::init`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `None`: no access log. `Some("-")`: stdout. Otherwise a file path (appended to).
    pub access_log: Option<String>,
    /// gunicorn-style format string (`%(h)s %(r)s …`).
    pub access_log_format: String,
    /// `"-"`: stderr. Otherwise a file path (appended to).
    pub error_log: String,
    pub level: Level,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            access_log: None,
            access_log_format: crate::log::access::DEFAULT_FORMAT.to_owned(),
            error_log: "-".to_owned(),
            level: Level::Info,
        }
    }
}

/// One address to listen on, as given by `--bind` (already normalised by Python).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindSpec {
    /// `host:port` or `[v6]:port`; the host may be a name to resolve.
    Tcp { host: String, port: u16 },
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `fd://N`: a listening socket the process was started with (inherited from a
    /// supervisor such as systemd or a wrapper script).
    Fd(i32),
}

impl BindSpec {
    /// Parses `127.0.0.1:8000`, `[::1]:8000`, `localhost:8000`, `unix:/run/app.sock` or
    /// `fd://3`.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(s: &str) -> Result<BindSpec, String> {
        if let Some(fd) = s.strip_prefix("fd://") {
            return fd
                .parse::<i32>()
                .ok()
                .filter(|fd| *fd >= 0)
                .map(BindSpec::Fd)
                .ok_or_else(|| format!("invalid bind address {s:?}: expected fd://N"));
        }
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!(
                    "invalid bind address {s:?}: empty unix socket path"
                ));
            }
            return Ok(BindSpec::Unix(PathBuf::from(path)));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest
                .split_once("]:")
                .ok_or_else(|| format!("invalid bind address {s:?}: expected [IPv6]:PORT"))?;
            (h, p)
        } else {
            s.rsplit_once(':')
                .ok_or_else(|| format!("invalid bind address {s:?}: expected HOST:PORT"))?
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid bind address {s:?}: bad port {port:?}"))?;
        Ok(BindSpec::Tcp {
            host: host.to_owned(),
            port,
        })
    }
}

impl Config {
    /// A config with every default and the given binds; used by tests and embedders.
    ///
    /// # Panics
    /// Never: the constants it checks are non-zero.
    pub fn with_binds(binds: Vec<BindSpec>) -> Config {
        Config {
            binds,
            threads: NonZeroUsize::new(4).expect("4 is non-zero"),
            root_path: String::new(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            max_connections: 1000,
            backlog: 2048,
            sendfile: Sendfile::Auto,
            sched_policy: SchedPolicy::Batch,
            log: LogConfig::default(),
            process: ProcessConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bind_forms() {
        assert_eq!(
            BindSpec::parse("127.0.0.1:8000"),
            Ok(BindSpec::Tcp {
                host: "127.0.0.1".into(),
                port: 8000
            })
        );
        assert_eq!(
            BindSpec::parse("[::1]:0"),
            Ok(BindSpec::Tcp {
                host: "::1".into(),
                port: 0
            })
        );
        assert_eq!(
            BindSpec::parse("unix:/tmp/a.sock"),
            Ok(BindSpec::Unix("/tmp/a.sock".into()))
        );
        assert!(BindSpec::parse("127.0.0.1").is_err());
        assert!(BindSpec::parse("h:99999").is_err());
        assert!(BindSpec::parse("unix:").is_err());
        assert_eq!(BindSpec::parse("fd://3"), Ok(BindSpec::Fd(3)));
        assert!(BindSpec::parse("fd://x").is_err());
        assert!(BindSpec::parse("fd://-1").is_err());
    }
}
