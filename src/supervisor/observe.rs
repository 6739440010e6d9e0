//! What the master reports, and how: each worker's counters in a region shared before
//! fork (`metrics::fleet::Fleet`), the master's own state as the supervisor publishes it
//! (`MasterStatus`), the metrics listener (`status::StatusServer`: `/metrics`, `/livez`,
//! `/readyz`) and statsd (a datagram per metric, once a second, never blocking). Owned by
//! `fork::ForkSpawner`, which calls it around fork, reaping and its poll(2).
//!
//! Design (shared memory rather than the pipe): a worker counts with a few relaxed
//! atomic adds on memory it owns and sends nothing, so the request path has no syscall,
//! lock or allocation for metrics; the master reads the regions only when asked (a
//! scrape, a statsd flush) and once more when a worker exits, so the counts of a worker
//! that crashed or was killed survive it up to its last request. A worker can scribble
//! only on its own region, and `Fleet` checks it before trusting it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::status::StatusServer;
use super::{MasterStatus, WorkerPhase};
use crate::config::ObserveConfig;
use crate::conn::Page;
use crate::http::RequestHead;
use crate::listener::{self, BindError, Listener};
use crate::log::{self, Level};
use crate::metrics::fleet::{Fleet, Pid};
use crate::metrics::prometheus::{self, Backlog, Report, WorkerFigures};
use crate::metrics::shared::Region;
use crate::metrics::statsd::Naming;
use crate::metrics::{self, process, Snapshot};

/// How often statsd lines go out. 1 s: what gunicorn's per-request lines amount to for a
/// statsd server that aggregates over 10 s, at a bounded number of datagrams.
const STATSD_INTERVAL: Duration = Duration::from_secs(1);

/// Where statsd datagrams go.
enum StatsdTarget {
    Udp(UdpSocket, SocketAddr),
    Unix(UnixDatagram, PathBuf),
}

struct Statsd {
    target: StatsdTarget,
    naming: Naming,
    /// The totals at the last flush.
    last: Snapshot,
    next_flush: Instant,
    /// A send failed (no receiver, a full buffer): logged once, at debug level.
    failing: bool,
}

/// See the module docs.
pub(super) struct Observer {
    config: ObserveConfig,
    fleet: Fleet,
    status: MasterStatus,
    server: Option<StatusServer>,
    statsd: Option<Statsd>,
}

impl Observer {
    pub(super) fn new(config: ObserveConfig) -> Observer {
        Observer {
            config,
            fleet: Fleet::new(),
            status: MasterStatus::default(),
            server: None,
            statsd: None,
        }
    }

    /// Binds the metrics listener (or takes `inherited`, from an old master after USR2)
    /// and opens the statsd socket.
    ///
    /// # Errors
    /// The metrics address cannot be bound.
    pub(super) fn bind(&mut self, inherited: Option<Listener>) -> Result<(), BindError> {
        let listener = match (inherited, &self.config.metrics_bind) {
            (Some(listener), _) => Some(listener),
            (None, Some(spec)) => Some(listener::bind_with(
                spec,
                &listener::ListenOptions {
                    backlog: 64,
                    reuse_port: false,
                    unix_socket_mode: None,
                },
            )?),
            (None, None) => None,
        };
        if let Some(listener) = listener {
            let address = listener.describe();
            let server = StatusServer::new(listener).map_err(|source| BindError {
                address: address.clone(),
                source,
            })?;
            log::write(
                Level::Info,
                &format!("metrics and health checks on {address} (/metrics, /livez, /readyz)"),
            );
            self.server = Some(server);
        }
        if let Some(host) = &self.config.statsd_host {
            match statsd_target(host) {
                Ok(target) => {
                    log::write(Level::Info, &format!("sending statsd metrics to {host}"));
                    self.statsd = Some(Statsd {
                        target,
                        naming: Naming::new(
                            &self.config.statsd_prefix,
                            &self.config.dogstatsd_tags,
                        ),
                        last: Snapshot::default(),
                        next_flush: Instant::now() + STATSD_INTERVAL,
                        failing: false,
                    });
                }
                Err(err) => log_at!(Level::Error, "statsd is off: --statsd-host {host:?}: {err}"),
            }
        }
        Ok(())
    }

    /// The metrics listener, which a new master inherits on USR2.
    pub(super) fn listener(&self) -> Option<&Listener> {
        self.server.as_ref().map(StatusServer::listener)
    }

    /// A region for the worker about to be forked; `None` (it counts privately and
    /// reports nothing) when memory cannot be mapped.
    pub(super) fn region_for_next_worker() -> Option<Region> {
        Region::new()
            .map_err(|err| {
                log_at!(
                    Level::Error,
                    "a worker's metrics are off: cannot map its counters: {err}"
                );
            })
            .ok()
    }

    /// In the new worker, right after fork: counts into `region` and lets go of what only
    /// the master serves.
    pub(super) fn in_child(&mut self, region: Option<Region>) {
        self.server = None;
        self.statsd = None;
        self.fleet = Fleet::new();
        if let Some(region) = region {
            metrics::install(region.leak());
        }
    }

    pub(super) fn spawned(&mut self, pid: Pid, region: Option<Region>) {
        if let Some(region) = region {
            self.fleet.add(pid, region);
        }
    }

    pub(super) fn exited(&mut self, pid: Pid, cpu_seconds: f64) {
        self.fleet.retire(pid, cpu_seconds);
    }

    pub(super) fn publish(&mut self, status: &MasterStatus) {
        status.clone_into(&mut self.status);
    }

    /// Appends what to poll (see `StatusServer::poll_fds`).
    pub(super) fn poll_fds(&self, fds: &mut Vec<libc::pollfd>) {
        if let Some(server) = &self.server {
            server.poll_fds(fds);
        }
    }

    /// When the master must wake up for a client's deadline or a statsd flush.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let clients = self.server.as_ref().and_then(StatusServer::next_deadline);
        let flush = self.statsd.as_ref().map(|s| s.next_flush);
        clients.into_iter().chain(flush).min()
    }

    /// After poll: serves the metrics listener's clients (`fds` is what `poll_fds` added),
    /// then flushes statsd when it is time.
    pub(super) fn on_poll(&mut self, fds: &[libc::pollfd], listeners: &[Listener]) {
        if let Some(mut server) = self.server.take() {
            server.on_ready(fds, &mut |head| self.answer(head, listeners));
            self.server = Some(server);
        }
        if self
            .statsd
            .as_ref()
            .is_some_and(|s| Instant::now() >= s.next_flush)
        {
            self.flush_statsd(listeners);
        }
    }

    fn answer(&mut self, head: &RequestHead, listeners: &[Listener]) -> Page {
        if !matches!(head.method(), "GET" | "HEAD") {
            return Page::EndpointMethodNotAllowed;
        }
        match head.path() {
            b"/metrics" => Page::Metrics(self.render(listeners)),
            b"/livez" => Page::Health(self.status.liveness(Instant::now()).map(|()| "live")),
            b"/readyz" => Page::Health(match self.status.not_ready {
                None => Ok("ready"),
                Some(why) => Err(why.to_owned()),
            }),
            _ => Page::NoSuchEndpoint,
        }
    }

    /// Every counter: the workers' (exited and live) and the master's own log lines.
    fn totals(&mut self) -> Snapshot {
        self.fleet.refresh();
        let mut totals = self.fleet.totals();
        totals.add(&metrics::local().snapshot());
        totals
    }

    fn render(&mut self, listeners: &[Listener]) -> String {
        let totals = self.totals();
        let live = self.fleet.live();
        let workers: Vec<WorkerFigures> = self
            .status
            .workers
            .iter()
            .map(|w| WorkerFigures {
                number: w.number,
                phase: match w.phase {
                    WorkerPhase::Booting => "booting",
                    WorkerPhase::Serving => "serving",
                    WorkerPhase::Draining => "draining",
                },
                process: process::read(Some(w.pid)),
            })
            .collect();
        let live_cpu: f64 = workers
            .iter()
            .filter_map(|w| w.process.map(|p| p.cpu_seconds))
            .sum();
        let backlogs: Vec<Backlog> = listeners.iter().filter_map(backlog).collect();
        prometheus::render(&Report {
            totals: &totals,
            live: &live,
            workers: &workers,
            workers_cpu_seconds: self.fleet.retired_cpu_seconds() + live_cpu,
            exits: &self.status.exits,
            recycles: &self.status.recycles,
            reloads: self.status.reloads,
            backlogs: &backlogs,
            ready: self.status.not_ready.is_none(),
            master: process::read(None),
        })
    }

    fn flush_statsd(&mut self, listeners: &[Listener]) {
        let totals = self.totals();
        let workers = self.status.workers.len();
        let queued = listeners
            .iter()
            .filter_map(backlog)
            .map(|b| b.queued)
            .reduce(|a, b| a + b);
        let Some(statsd) = self.statsd.as_mut() else {
            return;
        };
        let delta = totals.since(&statsd.last);
        statsd.last = totals;
        statsd.next_flush = Instant::now() + STATSD_INTERVAL;
        for line in statsd.naming.lines(&delta, workers, queued) {
            // Non-blocking: a full buffer or an absent receiver drops the line.
            let sent = match &statsd.target {
                StatsdTarget::Udp(socket, to) => socket.send_to(line.as_bytes(), to),
                StatsdTarget::Unix(socket, to) => socket.send_to(line.as_bytes(), to),
            };
            match sent {
                Ok(_) => statsd.failing = false,
                Err(err) if !statsd.failing => {
                    statsd.failing = true;
                    log_at!(
                        Level::Debug,
                        "statsd: cannot send (lines are dropped until it works again): {err}"
                    );
                }
                Err(_) => {}
            }
        }
    }
}

/// `HOST:PORT` (UDP), `unix:PATH` or `unix://PATH` (a datagram socket), as a socket that
/// never blocks. The host is resolved once, here.
fn statsd_target(host: &str) -> io::Result<StatsdTarget> {
    if let Some(path) = host
        .strip_prefix("unix://")
        .or_else(|| host.strip_prefix("unix:"))
    {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        return Ok(StatsdTarget::Unix(socket, PathBuf::from(path)));
    }
    let to = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no address"))?;
    let local: SocketAddr = if to.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.set_nonblocking(true)?;
    Ok(StatsdTarget::Udp(socket, to))
}

/// The accept queue of a TCP listener, from `TCP_INFO`: for a listening socket Linux
/// reports the queue's length in `tcpi_unacked` and its limit in `tcpi_sacked` (what
/// `ss -lt` shows as Recv-Q and Send-Q, and gunicorn's `backlog` metric reads).
fn backlog(listener: &Listener) -> Option<Backlog> {
    let Listener::Tcp(tcp) = listener else {
        return None;
    };
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
    // SAFETY: a valid socket, and a buffer of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::addr_of_mut!(info).cast(),
            &raw mut len,
        )
    };
    (rc == 0).then(|| Backlog {
        listener: listener.describe(),
        queued: info.tcpi_unacked,
        limit: info.tcpi_sacked,
    })
}
