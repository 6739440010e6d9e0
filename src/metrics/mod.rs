//! This process's counters, and what the master makes of every worker's: `Stats` is one
//! flat block of relaxed atomic counters that a worker writes on its request path (a few
//! `fetch_add`s per request: no lock, no syscall, no allocation); `stats()` is the block
//! of this process. The master puts each worker's block in memory it shares with the
//! worker (`shared::Region`, mapped before fork), reads it whenever it reports, and folds
//! it into its own totals when the worker exits (`fleet::Fleet`). `prometheus` renders a
//! `Report` as the Prometheus text format; `statsd` turns the change since the last flush
//! into gunicorn's statsd lines; `process` reads a process's RSS, CPU and open files from
//! `/proc`.
//!
//! Design: every figure is a counter (a gauge such as "requests in flight" is the
//! difference of two counters: admitted minus finished), so the block can be summed, taken
//! apart and compared slot by slot: `Snapshot` is a copy of the block as plain `u64`s, and
//! totals never go backwards because a worker's snapshot only ever replaces a smaller one
//! (`Snapshot::raise_to`). Labels are bounded by construction: a method class (8), a
//! status code (100-599, `none`, `other`), an `HttpError` kind, a timeout kind, a log
//! level. Never paths.

pub mod fleet;
pub mod process;
pub mod prometheus;
pub mod shared;
pub mod statsd;

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

use crate::http::HttpError;

/// The request methods counted apart; every other method is `OTHER`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];

/// The status labels: `none` (no response was sent: the client went away or the server
/// gave up), the codes 100 to 599, and `other` (a code outside them).
const STATUS_SLOTS: usize = 502;

/// Upper bounds (microseconds) of the request duration buckets: 1 ms to 10 s, the
/// Prometheus client defaults with 1 ms and 2.5 ms added below (a fast app answers in
/// well under 5 ms). The last bucket is +Inf.
pub const DURATION_BOUNDS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Upper bounds (microseconds) of the queue time buckets: 100 µs to 1 s. A request that
/// finds a free thread waits tens of microseconds; one that waits seconds is overload.
pub const QUEUE_BOUNDS_US: [u64; 13] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// Which time bound a connection or a request hit (the `kind` label of
/// `ferrule_timeouts_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// `header_timeout`: a request head did not arrive in time.
    Head,
    /// `body_timeout`: the request body stalled.
    Body,
    /// `keepalive_timeout`: an idle persistent connection was closed.
    KeepAlive,
    /// `send_timeout`: the client stopped reading the response.
    Send,
    /// `request_timeout`: the app did not answer in time.
    Request,
}

impl Timeout {
    pub const ALL: [Timeout; 5] = [
        Timeout::Head,
        Timeout::Body,
        Timeout::KeepAlive,
        Timeout::Send,
        Timeout::Request,
    ];

    /// The `kind` label.
    pub fn name(self) -> &'static str {
        match self {
            Timeout::Head => "head",
            Timeout::Body => "body",
            Timeout::KeepAlive => "keepalive",
            Timeout::Send => "send",
            Timeout::Request => "request",
        }
    }
}

/// The error log levels, lowest first, as `log::Level` orders them (the `level` label of
/// `ferrule_log_messages_total`; statsd's `gunicorn.log.<level>`).
pub const LOG_LEVELS: [&str; 5] = ["debug", "info", "warning", "error", "critical"];

/// Where each figure lives in the block. Every slot is a counter.
pub mod slot {
    use super::{Timeout, DURATION_BOUNDS_US, LOG_LEVELS, METHODS, QUEUE_BOUNDS_US, STATUS_SLOTS};
    use crate::http::HttpError;

    /// `MAGIC_VALUE` when the block is a well-formed `Stats`; the master ignores a region
    /// whose magic has been overwritten.
    pub const MAGIC: usize = 0;
    pub const CONNECTIONS_ACCEPTED: usize = 1;
    pub const CONNECTIONS_CLOSED: usize = 2;
    pub const BYTES_RECEIVED: usize = 3;
    pub const BYTES_SENT: usize = 4;
    /// Requests handed to the app side; minus those finished, the ones in flight.
    pub const REQUESTS_ADMITTED: usize = 5;
    /// Requests whose app raised (500 before the head, a cut response after it).
    pub const APP_ERRORS: usize = 6;
    /// Finished requests by method class and status: `REQUESTS + method * STATUS_SLOTS +
    /// status_slot`.
    pub const REQUESTS: usize = 8;
    pub const DURATION: usize = REQUESTS + METHODS.len() * STATUS_SLOTS;
    /// Two per bucket (the last is +Inf): the count, then the sum in microseconds of what
    /// fell in it (so statsd can send each bucket's exact mean).
    pub const DURATION_LEN: usize = 2 * (DURATION_BOUNDS_US.len() + 1);
    pub const REJECTED: usize = DURATION + DURATION_LEN;
    pub const TIMEOUTS: usize = REJECTED + HttpError::ALL.len();
    pub const LOGS: usize = TIMEOUTS + Timeout::ALL.len();
    /// The slots the Python threads write, on cache lines of their own (64 bytes: 8
    /// slots), so the event loop's and the threads' updates do not bounce one line.
    pub const JOBS_STARTED: usize = (LOGS + LOG_LEVELS.len()).div_ceil(8) * 8;
    pub const JOBS_FINISHED: usize = JOBS_STARTED + 1;
    pub const QUEUE: usize = JOBS_STARTED + 2;
    pub const QUEUE_LEN: usize = 2 * (QUEUE_BOUNDS_US.len() + 1);
    /// Slots in the block.
    pub const LEN: usize = (QUEUE + QUEUE_LEN).div_ceil(8) * 8;
}

/// The value in `slot::MAGIC` of a well-formed block: "ferrule" and a layout version.
pub const MAGIC_VALUE: u64 = 0x6665_7272_756c_6501;

/// One process's counters. See the module docs; `slot` says where each one is.
#[repr(C, align(64))]
pub struct Stats {
    slots: [AtomicU64; slot::LEN],
}

impl Stats {
    /// A block with every counter at zero. `const`: it builds the static `LOCAL`; a
    /// worker's block is mapped, never built on the stack.
    #[allow(clippy::large_stack_arrays)]
    pub const fn new() -> Stats {
        let mut slots = [const { AtomicU64::new(0) }; slot::LEN];
        slots[slot::MAGIC] = AtomicU64::new(MAGIC_VALUE);
        Stats { slots }
    }

    fn add(&self, slot: usize, n: u64) {
        self.slots[slot].fetch_add(n, Ordering::Relaxed);
    }

    /// A plain copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(
            self.slots
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .collect(),
        )
    }

    pub fn connection_accepted(&self) {
        self.add(slot::CONNECTIONS_ACCEPTED, 1);
    }

    pub fn connection_closed(&self) {
        self.add(slot::CONNECTIONS_CLOSED, 1);
    }

    pub fn received(&self, bytes: usize) {
        self.add(slot::BYTES_RECEIVED, bytes as u64);
    }

    pub fn sent(&self, bytes: usize) {
        self.add(slot::BYTES_SENT, bytes as u64);
    }

    /// A request was handed to the app side.
    pub fn request_admitted(&self) {
        self.add(slot::REQUESTS_ADMITTED, 1);
    }

    /// A request ended: its method class, its status (0: no response was sent) and how
    /// long it took from its head to the end of its response.
    pub fn request_finished(&self, method: MethodClass, status: u16, elapsed: Duration) {
        let at = slot::REQUESTS + method.0 * STATUS_SLOTS + status_slot(status);
        self.add(at, 1);
        self.observe(slot::DURATION, &DURATION_BOUNDS_US, elapsed);
    }

    /// The app raised while answering a request.
    pub fn app_error(&self) {
        self.add(slot::APP_ERRORS, 1);
    }

    /// The server refused a request for breaking `rule`.
    pub fn rejected(&self, rule: &HttpError) {
        self.add(slot::REJECTED + rule.kind_index(), 1);
    }

    pub fn timed_out(&self, kind: Timeout) {
        self.add(slot::TIMEOUTS + kind as usize, 1);
    }

    /// An error log line at `level` (an index into `LOG_LEVELS`) was written.
    pub fn logged(&self, level: usize) {
        self.add(slot::LOGS + level.min(LOG_LEVELS.len() - 1), 1);
    }

    /// A Python thread took a job that waited `queued` since its head was read.
    pub fn job_started(&self, queued: Duration) {
        self.add(slot::JOBS_STARTED, 1);
        self.observe(slot::QUEUE, &QUEUE_BOUNDS_US, queued);
    }

    /// A Python thread finished a job.
    pub fn job_finished(&self) {
        self.add(slot::JOBS_FINISHED, 1);
    }

    fn observe(&self, base: usize, bounds: &[u64], elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = bounds.iter().position(|b| us <= *b).unwrap_or(bounds.len());
        self.add(base + 2 * bucket, 1);
        self.add(base + 2 * bucket + 1, us);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// The block a process counts into before (or without) a shared one: the master's own
/// log lines, and every process that is not a forked worker (tests, embedders).
static LOCAL: Stats = Stats::new();

/// This process's block: `LOCAL` until `install` points it at a shared region.
static CURRENT: AtomicPtr<Stats> = AtomicPtr::new(std::ptr::addr_of!(LOCAL).cast_mut());

/// This process's counters. One load and the caller's `fetch_add`s: cheap enough for the
/// request path.
pub fn stats() -> &'static Stats {
    // SAFETY: CURRENT only ever holds `&LOCAL` or a block `install` was given, which lives
    // as long as the process (see `install`).
    unsafe { &*CURRENT.load(Ordering::Relaxed) }
}

/// Makes `block` this process's counters (in a worker, right after fork: the block the
/// master reads).
pub fn install(block: &'static Stats) {
    CURRENT.store(std::ptr::from_ref(block).cast_mut(), Ordering::Relaxed);
}

/// The block of the process before any `install`: the master reports its own log counts
/// from it.
pub fn local() -> &'static Stats {
    &LOCAL
}

/// A request method's class: its index in `METHODS` (the `method` label). Taken when the
/// head is read, since the head moves on to the app side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodClass(usize);

impl MethodClass {
    pub fn of(method: &str) -> MethodClass {
        MethodClass(match method {
            "GET" => 0,
            "HEAD" => 1,
            "POST" => 2,
            "PUT" => 3,
            "DELETE" => 4,
            "PATCH" => 5,
            "OPTIONS" => 6,
            _ => 7,
        })
    }
}

fn status_slot(status: u16) -> usize {
    match status {
        0 => 0,
        100..=599 => usize::from(status) - 99,
        _ => STATUS_SLOTS - 1,
    }
}

/// The label of a status slot.
fn status_label(slot: usize) -> String {
    match slot {
        0 => "none".to_owned(),
        s if s == STATUS_SLOTS - 1 => "other".to_owned(),
        s => (s + 99).to_string(),
    }
}

/// A copy of a `Stats` block as plain numbers, indexed by `slot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(Vec<u64>);

impl Default for Snapshot {
    /// Every counter at zero (the magic slot too: a sum of blocks is not a block).
    fn default() -> Self {
        Snapshot(vec![0; slot::LEN])
    }
}

impl Snapshot {
    /// The counter in `slot`.
    pub fn get(&self, slot: usize) -> u64 {
        self.0[slot]
    }

    /// Whether this is a copy of a well-formed block.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == slot::LEN && self.0[slot::MAGIC] == MAGIC_VALUE
    }

    /// Adds `other` slot by slot (the magic slot is not a counter and stays as it is).
    pub fn add(&mut self, other: &Snapshot) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0).skip(1) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    /// Raises every counter to at least `newer`'s: a worker's figures only ever grow, so a
    /// smaller value (a torn or scribbled block) is ignored rather than let a total go
    /// backwards.
    pub fn raise_to(&mut self, newer: &Snapshot) {
        for (mine, theirs) in self.0.iter_mut().zip(&newer.0).skip(1) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// What grew since `earlier`, slot by slot.
    #[must_use]
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot(
            self.0
                .iter()
                .zip(&earlier.0)
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
        )
    }

    /// Requests in flight: admitted and not finished.
    pub fn in_flight(&self) -> u64 {
        self.get(slot::REQUESTS_ADMITTED)
            .saturating_sub(self.requests_finished())
    }

    /// Requests finished, whatever their method and status.
    pub fn requests_finished(&self) -> u64 {
        self.0[slot::REQUESTS..slot::DURATION].iter().sum()
    }

    /// Connections open: accepted and not closed.
    pub fn connections_open(&self) -> u64 {
        self.get(slot::CONNECTIONS_ACCEPTED)
            .saturating_sub(self.get(slot::CONNECTIONS_CLOSED))
    }

    /// Python threads running a job.
    pub fn threads_busy(&self) -> u64 {
        self.get(slot::JOBS_STARTED)
            .saturating_sub(self.get(slot::JOBS_FINISHED))
    }

    /// Every non-zero (method, status label, count) of the finished requests.
    pub fn requests(&self) -> Vec<(&'static str, String, u64)> {
        let mut out = Vec::new();
        for (m, method) in METHODS.iter().enumerate() {
            let base = slot::REQUESTS + m * STATUS_SLOTS;
            for (s, count) in self.0[base..base + STATUS_SLOTS].iter().enumerate() {
                if *count > 0 {
                    out.push((*method, status_label(s), *count));
                }
            }
        }
        out
    }

    /// Finished requests by status label, whatever the method.
    pub fn requests_by_status(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for s in 0..STATUS_SLOTS {
            let count: u64 = (0..METHODS.len())
                .map(|m| self.0[slot::REQUESTS + m * STATUS_SLOTS + s])
                .sum();
            if count > 0 {
                out.push((status_label(s), count));
            }
        }
        out
    }

    /// A histogram's buckets (not cumulative; the last is +Inf), each as (count, sum of
    /// microseconds).
    pub fn histogram(&self, base: usize, bounds: &[u64]) -> Vec<(u64, u64)> {
        self.0[base..base + 2 * (bounds.len() + 1)]
            .chunks_exact(2)
            .map(|pair| (pair[0], pair[1]))
            .collect()
    }
}

#[cfg(test)]
mod tests;
