//! When a worker asks to be replaced: `Recycle` holds the limits (`max_requests`,
//! `max_worker_lifetime`, `max_worker_memory`, with their jitter drawn), `RequestLimit`
//! counts the jobs a worker takes and asks on the one that reaches `max_requests`, and
//! `Recycle::reason` says whether another limit has been reached (checked at every
//! heartbeat).
//!
//! Design: the worker only asks (`Message::Retire`); the master decides when, and replaces
//! one worker at a time once its replacement serves.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipe::{MasterPipe, Message};
use crate::bridge::{Handler, Job};
use crate::config::ProcessConfig;
use crate::log::Level;

/// Which limit made a worker ask to be replaced: the `reason` label of
/// `ferrule_worker_recycles_total`, and what the master is told (`Message::Retire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    MaxRequests,
    MaxLifetime,
    MaxMemory,
    /// A request did not stop after `request_timeout` and its grace.
    StuckRequest,
}

impl Limit {
    pub const ALL: [Limit; 4] = [
        Limit::MaxRequests,
        Limit::MaxLifetime,
        Limit::MaxMemory,
        Limit::StuckRequest,
    ];

    /// The setting that set the limit.
    pub fn name(self) -> &'static str {
        match self {
            Limit::MaxRequests => "max_requests",
            Limit::MaxLifetime => "max_worker_lifetime",
            Limit::MaxMemory => "max_worker_memory",
            Limit::StuckRequest => "request_timeout",
        }
    }
}

/// A worker's recycling limits, jitter already added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recycle {
    /// Requests after which the worker retires.
    pub max_requests: Option<u64>,
    /// Age after which the worker retires.
    pub max_lifetime: Option<Duration>,
    /// Resident set size, in bytes, above which the worker retires.
    pub max_memory: Option<u64>,
}

impl Recycle {
    /// This worker's limits: the configured ones plus a draw of their jitter, so that
    /// workers started together do not all retire together.
    pub fn draw(process: &ProcessConfig) -> Recycle {
        Recycle {
            max_requests: process
                .max_requests
                .map(|n| n.get() + jitter(process.max_requests_jitter)),
            max_lifetime: process.max_worker_lifetime.map(|d| {
                let extra = u64::try_from(process.max_worker_lifetime_jitter.as_millis())
                    .unwrap_or(u64::MAX);
                d + Duration::from_millis(jitter(extra))
            }),
            max_memory: process.max_worker_memory,
        }
    }

    /// Why the worker should retire now, if it should: a job stuck past `request_timeout`,
    /// its age, or its memory. (`max_requests` is `RequestLimit`'s to report, at once.)
    pub fn reason(&self, born: Instant, stuck: bool) -> Option<(Limit, String)> {
        if stuck {
            return Some((
                Limit::StuckRequest,
                "a request did not stop after request_timeout".to_owned(),
            ));
        }
        if self.max_lifetime.is_some_and(|max| born.elapsed() >= max) {
            return Some((
                Limit::MaxLifetime,
                format!("ran for {:?} (max_worker_lifetime)", born.elapsed()),
            ));
        }
        self.max_memory
            .and_then(|max| resident_bytes().filter(|rss| *rss > max))
            .map(|rss| {
                (
                    Limit::MaxMemory,
                    format!("uses {rss} bytes of memory (max_worker_memory)"),
                )
            })
    }
}

/// A `Handler` that counts the jobs it hands on and asks to be replaced on the job that
/// reaches `max_requests` (at once, not at the next heartbeat).
pub struct RequestLimit<H> {
    pub inner: Arc<H>,
    /// Jobs taken so far; the heartbeat reads it too.
    pub taken: Arc<AtomicU64>,
    /// `max_requests` (jitter added) and the pipe to tell the master.
    pub limit: Option<(NonZeroU64, Arc<MasterPipe>)>,
}

impl<H: Handler> Handler for RequestLimit<H> {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        let n = self.taken.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some((max, pipe)) = &self.limit {
            if n == max.get() {
                log_at!(
                    Level::Info,
                    "worker {} asks to be replaced: served {n} requests (max_requests)",
                    std::process::id()
                );
                pipe.send(Message::Retire(Limit::MaxRequests));
            }
        }
        self.inner.dispatch(job)
    }

    fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }

    fn serves_websockets(&self) -> bool {
        self.inner.serves_websockets()
    }

    fn describe(&self) -> Option<String> {
        self.inner.describe()
    }

    fn is_stuck(&self) -> bool {
        self.inner.is_stuck()
    }
}

/// A number in `0..=jitter` that differs between workers, so that limits with jitter do
/// not recycle every worker at once. Not cryptographic: pid and clock mixed.
pub fn jitter(jitter: u64) -> u64 {
    if jitter == 0 {
        return 0;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    // splitmix64 finaliser: spreads nearby inputs.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    x % (jitter + 1)
}

/// This process's resident set size, from /proc/self/statm; `None` where it cannot be read.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(pages * page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        assert_eq!(jitter(0), 0);
        for _ in 0..100 {
            assert!(jitter(5) <= 5);
        }
    }

    #[test]
    fn reads_its_own_resident_size() {
        assert!(resident_bytes().is_some_and(|rss| rss > 0));
    }

    #[test]
    fn names_the_limit_that_was_reached() {
        let born = Instant::now()
            .checked_sub(Duration::from_secs(10))
            .expect("the clock is past its first 10 s");
        let none = Recycle::default();
        assert_eq!(none.reason(born, false), None);
        assert!(none.reason(born, true).is_some_and(
            |(limit, r)| limit == Limit::StuckRequest && r.contains("request_timeout")
        ));
        let old = Recycle {
            max_lifetime: Some(Duration::from_secs(5)),
            ..Recycle::default()
        };
        assert!(old.reason(born, false).is_some_and(
            |(limit, r)| limit == Limit::MaxLifetime && r.contains("max_worker_lifetime")
        ));
        let small = Recycle {
            max_memory: Some(1),
            ..Recycle::default()
        };
        assert!(
            small.reason(born, false).is_some_and(
                |(limit, r)| limit == Limit::MaxMemory && r.contains("max_worker_memory")
            )
        );
    }
}
