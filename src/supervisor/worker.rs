//! The worker's side of the master–worker pipe: `Link` writes one-byte messages (ready,
//! heartbeat, retire), `beat` is the event-loop task that sends heartbeats and asks to be
//! recycled, and `Counted` counts the requests a worker has taken for `max_requests`.
//!
//! Design: a heartbeat sent from a tokio task proves the event loop turns; a worker whose
//! loop is stuck stops beating and the master kills it (`worker_timeout`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bridge::{Handler, Job};
use crate::log::Level;

/// "I serve": sent once, when the accept loops start.
pub const MSG_READY: u8 = b'R';
/// "My event loop turns."
pub const MSG_BEAT: u8 = b'.';
/// "Replace me": a recycling limit was reached.
pub const MSG_RETIRE: u8 = b'X';

/// The write end of a worker's pipe to the master.
#[derive(Debug)]
pub struct Link {
    fd: OwnedFd,
}

impl Link {
    pub(crate) fn new(fd: OwnedFd) -> Link {
        Link { fd }
    }

    /// Sends one message byte. A full pipe (a master that is not reading) drops it: the
    /// next heartbeat comes soon enough.
    pub fn send(&self, message: u8) {
        // SAFETY: writes one local byte to a descriptor we own.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), std::ptr::addr_of!(message).cast(), 1) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock {
                log_at!(Level::Debug, "cannot write to the master: {err}");
            }
        }
    }
}

/// When a worker asks to be replaced. Read by `beat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recycle {
    /// Requests after which the worker retires (jitter already added).
    pub max_requests: Option<u64>,
    /// Age after which the worker retires (jitter already added).
    pub max_lifetime: Option<Duration>,
    /// Resident set size, in bytes, above which the worker retires.
    pub max_memory: Option<u64>,
}

/// A `Handler` that counts the jobs it hands on and asks to be replaced on the job that
/// reaches `max_requests` (at once, not at the next heartbeat).
pub struct Counted<H> {
    pub inner: H,
    pub jobs: Arc<AtomicU64>,
    /// `max_requests` (jitter added) and the pipe to tell the master.
    pub limit: Option<(u64, Arc<Link>)>,
}

impl<H: Handler> Handler for Counted<H> {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        let n = self.jobs.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some((max, link)) = &self.limit {
            if n == *max {
                log_at!(
                    Level::Info,
                    "worker {} asks to be replaced: served {n} requests (max_requests)",
                    std::process::id()
                );
                link.send(MSG_RETIRE);
            }
        }
        self.inner.dispatch(job)
    }
}

/// Sends a heartbeat every `interval`, and `MSG_RETIRE` once when a `recycle` limit is
/// reached. Runs until the runtime stops.
/// `stuck` is set by the pool when a request did not stop after `request_timeout`.
pub async fn beat(
    link: Arc<Link>,
    interval: Duration,
    jobs: Arc<AtomicU64>,
    recycle: Recycle,
    stuck: Arc<AtomicBool>,
) {
    let born = Instant::now();
    let mut retired = false;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        link.send(MSG_BEAT);
        if retired {
            continue;
        }
        // max_requests is `Counted`'s to report; here it only stops further checks.
        if recycle
            .max_requests
            .is_some_and(|max| jobs.load(Ordering::Relaxed) >= max)
        {
            retired = true;
            continue;
        }
        let reason = if stuck.load(Ordering::Relaxed) {
            Some("a request did not stop after request_timeout".to_owned())
        } else if recycle
            .max_lifetime
            .is_some_and(|max| born.elapsed() >= max)
        {
            Some(format!(
                "ran for {:?} (max_worker_lifetime)",
                born.elapsed()
            ))
        } else {
            recycle
                .max_memory
                .and_then(|max| resident_bytes().filter(|rss| *rss > max))
                .map(|rss| format!("uses {rss} bytes of memory (max_worker_memory)"))
        };
        if let Some(reason) = reason {
            log_at!(
                Level::Info,
                "worker {} asks to be replaced: {reason}",
                std::process::id()
            );
            link.send(MSG_RETIRE);
            retired = true;
        }
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
}
