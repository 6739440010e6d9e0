//! Typed settings for the Rust core. The Python side parses and validates user input
//! (`python/ferrule/settings/`, the one table of settings); `for_each_core_setting!` below
//! declares, once, which of them the core reads and which `Config` field each sets, and
//! `python::settings` expands it into the conversion from Python. Nothing here reads argv,
//! env vars or files.

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use crate::http::Limits;
use crate::log::{Level, LogConfig};
use crate::proxy::header::ProxyProtocol;
use crate::proxy::{Forwarding, TrustedPeers};

/// Every setting the core reads, declared once: its name in `ferrule.settings` (where it is
/// marked `core=True`) and the `Config` field it sets. `$apply` is a macro that receives
/// the list as `name => field.path,` entries; `python::settings` generates from it the
/// conversion from the settings dict, the conversion back (for the drift test), and
/// `_ferrule.CORE_SETTINGS`. The field's type says how the value crosses (see
/// `python::settings::CoreValue`).
macro_rules! for_each_core_setting {
    ($apply:ident) => {
        $apply! {
            bind => binds,
            threads => threads,
            root_path => root_path,
            access_log => log.access_log,
            access_log_format => log.access_log_format,
            error_log => log.error_log,
            log_level => log.level,
            max_request_line_bytes => limits.max_request_line_bytes,
            max_header_count => limits.max_header_count,
            max_header_bytes => limits.max_header_bytes,
            max_head_bytes => limits.max_head_bytes,
            max_body_bytes => limits.max_body_bytes,
            max_connections => max_connections,
            backlog => backlog,
            header_timeout => timeouts.header,
            body_timeout => timeouts.body,
            keepalive_timeout => timeouts.keepalive,
            send_timeout => timeouts.send,
            graceful_timeout => timeouts.graceful,
            worker_timeout => timeouts.worker,
            request_timeout => timeouts.request,
            workers => process.workers,
            max_requests => process.max_requests,
            max_requests_jitter => process.max_requests_jitter,
            max_worker_lifetime => process.max_worker_lifetime,
            max_worker_lifetime_jitter => process.max_worker_lifetime_jitter,
            max_worker_memory => process.max_worker_memory,
            proc_name => process.proc_name,
            pid_file => process.pid_file,
            user => process.user,
            group => process.group,
            reuse_port => process.reuse_port,
            unix_socket_mode => process.unix_socket_mode,
            sendfile => sendfile,
            sched_policy => sched_policy,
            certfile => tls.certfile,
            keyfile => tls.keyfile,
            ca_certs => tls.ca_certs,
            cert_reqs => tls.cert_reqs,
            tls_min_version => tls.min_version,
            interface => interface,
            loop => asgi.event_loop,
            lifespan => asgi.lifespan,
            metrics_bind => observe.metrics_bind,
            shutdown_delay => timeouts.shutdown_delay,
            statsd_host => observe.statsd_host,
            statsd_prefix => observe.statsd_prefix,
            dogstatsd_tags => observe.dogstatsd_tags,
            static_map => statics.mounts,
            static_max_age => statics.max_age,
            static_index => statics.index,
            static_follow_symlinks => statics.follow_symlinks,
            forwarded_allow_ips => proxy.forwarding.allow,
            forwarded_headers => proxy.forwarding.headers,
            secure_scheme_headers => proxy.forwarding.secure_scheme_headers,
            proxy_protocol => proxy.proxy_protocol,
            proxy_allow_ips => proxy.proxy_allow,
            protocol => proxy.protocol,
            uwsgi_allow_ips => proxy.uwsgi_allow,
            ws_max_message_bytes => websocket.max_message_bytes,
            ws_ping_interval => websocket.ping_interval,
            ws_ping_timeout => websocket.ping_timeout,
            ws_per_message_deflate => websocket.per_message_deflate,
            http_protocols => http2.protocols,
            http2_cleartext => http2.cleartext,
            http2_max_concurrent_streams => http2.max_concurrent_streams,
            http2_initial_window_size => http2.initial_window_size,
        }
    };
}
pub(crate) use for_each_core_setting;

/// A setting whose value is one of a few names (`--sendfile auto|on|off`). The names are
/// `ferrule.settings`'; the drift test compares the two lists.
pub trait Choice: Sized + Copy + PartialEq + 'static {
    /// Every value, with its name.
    const CHOICES: &'static [(&'static str, Self)];

    /// The value named `name`.
    fn from_name(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// This value's name.
    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }
}

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
    pub tls: TlsConfig,
    /// Which app interface the worker serves (`--interface`).
    pub interface: Interface,
    pub asgi: AsgiConfig,
    pub observe: ObserveConfig,
    /// Directories served as static files (`--static-map`). Read by `conn`.
    pub statics: StaticConfig,
    pub proxy: ProxyConfig,
    pub websocket: WebSocketConfig,
    pub http2: Http2Config,
}

/// TLS on every listener, when `certfile` is set (`--certfile`, `--keyfile`, `--ca-certs`,
/// `--cert-reqs`, `--tls-min-version`). Read by the master, which loads the files once
/// (`tls::load`) so that a bad file stops it at startup and a key only root may read is
/// read before workers switch user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, PEM, leaf first. `None`: plain HTTP.
    pub certfile: Option<PathBuf>,
    /// The private key, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC); `None`: in `certfile`.
    pub keyfile: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    pub ca_certs: Option<PathBuf>,
    pub cert_reqs: ClientCerts,
    pub min_version: TlsVersion,
}

/// Whether clients must present a certificate (`--cert-reqs`, gunicorn's 0/1/2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientCerts {
    /// Not asked for (0, `ssl.CERT_NONE`).
    #[default]
    None,
    /// Asked for and checked against `ca_certs` when sent (1, `ssl.CERT_OPTIONAL`).
    Optional,
    /// Required (2, `ssl.CERT_REQUIRED`): mutual TLS.
    Required,
}

impl Choice for ClientCerts {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("none", ClientCerts::None),
        ("optional", ClientCerts::Optional),
        ("required", ClientCerts::Required),
    ];
}

/// The oldest TLS version served (`--tls-min-version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

impl Choice for TlsVersion {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("1.2", TlsVersion::Tls12), ("1.3", TlsVersion::Tls13)];
}

/// WebSocket limits and timers (`ws_*`). Read by `conn::websocket`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebSocketConfig {
    /// The largest message from a client, after inflation (close 1009 past it).
    pub max_message_bytes: usize,
    /// A ping after this long without a frame from the client; `None`: no pings.
    pub ping_interval: Option<Duration>,
    /// How long the client has to answer a ping.
    pub ping_timeout: Duration,
    /// Accept permessage-deflate offers.
    pub per_message_deflate: bool,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_bytes: 16 * 1024 * 1024,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
            per_message_deflate: true,
        }
    }
}

/// HTTP/2 (`--http-protocols`, `--http2-*`). Read by `conn` (which protocol a connection
/// speaks, the limits of an HTTP/2 connection) and by the master's `tls::load` (ALPN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http2Config {
    pub protocols: HttpProtocols,
    pub cleartext: Cleartext,
    /// Streams a client may have open at once on one connection (SETTINGS
    /// `MAX_CONCURRENT_STREAMS`); also bounds the streams the server still works on after
    /// the client reset them. Default 100 (RFC 9113 §6.5.2 recommends at least 100).
    pub max_concurrent_streams: u32,
    /// Each stream's receive window (SETTINGS `INITIAL_WINDOW_SIZE`): the request body a
    /// client may send ahead of the app's reads. Default 64 KiB (the protocol's 65 535).
    pub initial_window_size: u32,
}

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            protocols: HttpProtocols::default(),
            cleartext: Cleartext::default(),
            max_concurrent_streams: 100,
            initial_window_size: 65_535,
        }
    }
}

impl Http2Config {
    /// HTTP/2 is served at all.
    pub fn is_enabled(&self) -> bool {
        self.protocols != HttpProtocols::H1
    }

    /// ALPN protocol names a TLS listener offers, the server's preference first.
    pub fn alpn(&self) -> Vec<Vec<u8>> {
        match self.protocols {
            HttpProtocols::H1 => vec![b"http/1.1".to_vec()],
            HttpProtocols::H2H1 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpProtocols::H1H2 => vec![b"http/1.1".to_vec(), b"h2".to_vec()],
        }
    }

    /// A plain (cleartext) connection that opens with the HTTP/2 preface is served as
    /// HTTP/2.
    pub fn serves_prior_knowledge(&self) -> bool {
        self.is_enabled() && self.cleartext == Cleartext::PriorKnowledge
    }
}

/// Which HTTP versions are served, in ALPN preference order (`--http-protocols`,
/// gunicorn's spelling `h2,h1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpProtocols {
    /// HTTP/1.x only.
    H1,
    /// HTTP/2 preferred, HTTP/1.1 for clients without it.
    #[default]
    H2H1,
    /// HTTP/1.1 preferred: ALPN picks h2 only for clients that do not offer http/1.1.
    H1H2,
}

impl Choice for HttpProtocols {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("h1", HttpProtocols::H1),
        ("h2,h1", HttpProtocols::H2H1),
        ("h1,h2", HttpProtocols::H1H2),
    ];
}

/// HTTP/2 without TLS (`--http2-cleartext`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Cleartext {
    /// Plain listeners speak HTTP/1.x only.
    Off,
    /// A plain connection whose first bytes are the HTTP/2 connection preface
    /// (RFC 9113 §3.3, "prior knowledge") is HTTP/2; any other is HTTP/1.x.
    #[default]
    PriorKnowledge,
}

impl Choice for Cleartext {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("off", Cleartext::Off),
        ("prior-knowledge", Cleartext::PriorKnowledge),
    ];
}

/// The app interface (`--interface`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Interface {
    /// ASGI when the app is a coroutine function or its `__call__` is one, else WSGI (as
    /// uvicorn and Granian decide).
    #[default]
    Auto,
    Wsgi,
    Asgi,
}

impl Choice for Interface {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("auto", Interface::Auto),
        ("wsgi", Interface::Wsgi),
        ("asgi", Interface::Asgi),
    ];
}

/// What an ASGI worker runs on. Read by `asgi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AsgiConfig {
    /// `--loop`.
    pub event_loop: EventLoop,
    /// `--lifespan`.
    pub lifespan: Lifespan,
}

/// The asyncio loop implementation (`--loop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EventLoop {
    /// uvloop when it can be imported, else asyncio's.
    #[default]
    Auto,
    Asyncio,
    Uvloop,
}

impl Choice for EventLoop {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("auto", EventLoop::Auto),
        ("asyncio", EventLoop::Asyncio),
        ("uvloop", EventLoop::Uvloop),
    ];
}

/// ASGI lifespan (`--lifespan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lifespan {
    /// Run it; an app that raises before answering does not support it.
    #[default]
    Auto,
    /// Run it; any failure is a boot error.
    On,
    Off,
}

impl Choice for Lifespan {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("auto", Lifespan::Auto),
        ("on", Lifespan::On),
        ("off", Lifespan::Off),
    ];
}

/// How the master reports (`--metrics-bind`, `--statsd-host`, ...). Read by the master
/// only (`supervisor::observe`); workers count whatever it says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObserveConfig {
    /// Where the master serves `/metrics`, `/livez` and `/readyz`; `None`: nowhere.
    pub metrics_bind: Option<BindSpec>,
    /// The statsd server: `HOST:PORT` (UDP) or `unix:PATH` (datagram socket); `None`: no
    /// statsd.
    pub statsd_host: Option<String>,
    /// Put before every statsd name (gunicorn's `statsd_prefix`).
    pub statsd_prefix: String,
    /// dogstatsd tags appended to every statsd line (`tag:value,tag2`).
    pub dogstatsd_tags: String,
}

/// Static files served by the worker's Rust side (`--static-map` and the `static_*`
/// settings). Read by `conn` (the directories are opened when a worker starts) and by
/// `static_files` (which request is a static file, and its response head).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticConfig {
    /// The mounts, as given; the longest matching prefix wins.
    pub mounts: Vec<StaticMount>,
    /// `Cache-Control: max-age` of mounts that do not set their own (`--static-max-age`).
    pub max_age: Duration,
    /// The file served for a directory's address (`--static-index`); `None`: directories
    /// are not served.
    pub index: Option<String>,
    /// Follow symlinks that lead out of a mount's directory (`--static-follow-symlinks`).
    pub follow_symlinks: bool,
}

impl Default for StaticConfig {
    fn default() -> Self {
        StaticConfig {
            mounts: Vec::new(),
            max_age: Duration::from_secs(3600),
            index: None,
            follow_symlinks: false,
        }
    }
}

/// What the server believes of a proxy in front, and which protocol listeners speak. Read
/// by `conn` (through `ConnContext`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `--forwarded-allow-ips`, `--forwarded-headers`, `secure_scheme_headers`.
    pub forwarding: Forwarding,
    /// `--proxy-protocol`: whether a PROXY header precedes each connection's bytes.
    pub proxy_protocol: ProxyProtocol,
    /// `--proxy-allow-from`: the peers that may send one.
    pub proxy_allow: TrustedPeers,
    /// `--protocol`: HTTP/1.1 or uwsgi packets.
    pub protocol: WireProtocol,
    /// `--uwsgi-allow-from`: the peers that may send uwsgi packets.
    pub uwsgi_allow: TrustedPeers,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let loopback = TrustedPeers::parse(&["127.0.0.1", "::1"]).expect("loopback parses");
        ProxyConfig {
            forwarding: Forwarding::default(),
            proxy_protocol: ProxyProtocol::Off,
            proxy_allow: loopback.clone(),
            protocol: WireProtocol::Http,
            uwsgi_allow: loopback,
        }
    }
}

/// One `--static-map URL_PREFIX=DIRECTORY[;max_age=SECONDS]`, as `ferrule.settings` normalises
/// it: the prefix starts with `/` and has no trailing `/` (the whole site is `/`), the
/// directory is non-empty, `max_age` is whole seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticMount {
    /// The URL path prefix, matched against the request path as sent (still
    /// percent-encoded).
    pub prefix: String,
    /// The directory, relative to the working directory after `chdir`.
    pub dir: PathBuf,
    /// This mount's own `max-age`; `None`: `StaticConfig::max_age`.
    pub max_age: Option<Duration>,
}

/// What a listener's connections speak (`--protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WireProtocol {
    /// HTTP/1.1 and 1.0.
    #[default]
    Http,
    /// uwsgi packets (nginx's `uwsgi_pass`), one request per connection.
    Uwsgi,
}

impl StaticMount {
    /// Parses the normalised spelling `ferrule.settings` hands over.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(s: &str) -> Result<StaticMount, String> {
        let (prefix, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("invalid static mount {s:?}: expected URL_PREFIX=DIRECTORY"))?;
        let (dir, max_age) = match rest.rsplit_once(";max_age=") {
            Some((dir, secs)) => {
                let secs: u64 = secs
                    .parse()
                    .map_err(|_| format!("invalid static mount {s:?}: bad max_age {secs:?}"))?;
                (dir, Some(Duration::from_secs(secs)))
            }
            None => (rest, None),
        };
        let prefix_ok = prefix == "/" || (prefix.starts_with('/') && !prefix.ends_with('/'));
        if !prefix_ok || dir.is_empty() {
            return Err(format!(
                "invalid static mount {s:?}: expected /PREFIX=DIRECTORY"
            ));
        }
        Ok(StaticMount {
            prefix: prefix.to_owned(),
            dir: PathBuf::from(dir),
            max_age,
        })
    }
}

impl fmt::Display for StaticMount {
    /// The spelling `parse` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.prefix, self.dir.display())?;
        if let Some(max_age) = self.max_age {
            write!(f, ";max_age={}", max_age.as_secs())?;
        }
        Ok(())
    }
}

impl Choice for WireProtocol {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("http", WireProtocol::Http), ("uwsgi", WireProtocol::Uwsgi)];
}

impl Choice for ProxyProtocol {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("off", ProxyProtocol::Off),
        ("v1", ProxyProtocol::V1),
        ("v2", ProxyProtocol::V2),
        ("auto", ProxyProtocol::Auto),
    ];
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

impl Choice for Sendfile {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("auto", Sendfile::Auto),
        ("on", Sendfile::On),
        ("off", Sendfile::Off),
    ];
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

impl Choice for Level {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("warning", Level::Warning),
        ("error", Level::Error),
        ("critical", Level::Critical),
    ];
}

impl Choice for SchedPolicy {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("batch", SchedPolicy::Batch),
        ("normal", SchedPolicy::Normal),
    ];
}

/// How the master runs workers (`--workers`, recycling, titles). Read by the master
/// (`supervisor::WorkerPlan`) and by each worker (`worker::recycle::Recycle`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessConfig {
    /// Worker processes (`--workers`).
    pub workers: NonZeroUsize,
    /// Requests after which a worker is replaced; `None`: never (`--max-requests 0`).
    pub max_requests: Option<NonZeroU64>,
    /// Up to this many more requests, drawn per worker, so workers do not retire together.
    pub max_requests_jitter: u64,
    /// Age after which a worker is replaced.
    pub max_worker_lifetime: Option<Duration>,
    /// Up to this much longer, drawn per worker.
    pub max_worker_lifetime_jitter: Duration,
    /// Resident memory above which a worker is replaced.
    pub max_worker_memory: Option<u64>,
    /// The name in process titles (`ferrule: master [NAME]`); `None`: the app spec.
    pub proc_name: Option<String>,
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
            proc_name: None,
            pid_file: None,
            user: None,
            group: None,
            reuse_port: false,
            // 0666: see `unix_socket_mode` in settings/server.py.
            unix_socket_mode: Some(0o666),
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
    /// After TERM, how long workers keep serving with readiness failed before they stop
    /// (`shutdown_delay`). Read by the master.
    pub shutdown_delay: Duration,
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
            shutdown_delay: Duration::ZERO,
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

impl fmt::Display for BindSpec {
    /// The spelling `parse` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindSpec::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindSpec::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindSpec::Unix(path) => write!(f, "unix:{}", path.display()),
            BindSpec::Fd(fd) => write!(f, "fd://{fd}"),
        }
    }
}

impl Default for Config {
    /// Every setting at its default (the defaults of `ferrule.settings`; the drift test compares
    /// them), with no address to bind.
    fn default() -> Self {
        Config {
            binds: Vec::new(),
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
            tls: TlsConfig::default(),
            interface: Interface::Auto,
            asgi: AsgiConfig::default(),
            observe: ObserveConfig::default(),
            statics: StaticConfig::default(),
            proxy: ProxyConfig::default(),
            websocket: WebSocketConfig::default(),
            http2: Http2Config::default(),
        }
    }
}

impl Config {
    /// A config with every default and the given binds; used by tests and embedders.
    pub fn with_binds(binds: Vec<BindSpec>) -> Config {
        Config {
            binds,
            ..Config::default()
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

    #[test]
    fn a_bind_spec_reads_back_what_it_writes() {
        for text in [
            "127.0.0.1:8000",
            "[::1]:0",
            "unix:/tmp/a.sock",
            "fd://3",
            "localhost:80",
        ] {
            let spec = BindSpec::parse(text).expect("valid");
            assert_eq!(spec.to_string(), text);
        }
    }

    #[test]
    fn a_static_mount_reads_back_what_it_writes() {
        for text in [
            "/static=static",
            "/=/srv/site;max_age=0",
            "/media=./up;loads;max_age=60",
        ] {
            let mount = StaticMount::parse(text).expect("valid");
            assert_eq!(mount.to_string(), text);
        }
        let mount = StaticMount::parse("/media=./up;loads;max_age=60").expect("valid");
        assert_eq!(mount.dir, PathBuf::from("./up;loads"));
        assert_eq!(mount.max_age, Some(Duration::from_secs(60)));
        for bad in [
            "static=dir",
            "/static/=dir",
            "/static=",
            "/static",
            "/s=d;max_age=x",
        ] {
            assert!(StaticMount::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_choice_names_every_value_once() {
        for (name, value) in Sendfile::CHOICES {
            assert_eq!(Sendfile::from_name(name), Some(*value));
            assert_eq!(value.name(), *name);
        }
        assert_eq!(SchedPolicy::from_name("batch"), Some(SchedPolicy::Batch));
        assert_eq!(SchedPolicy::from_name("BATCH"), None);
    }
}
