//! The heartbeat: a task on the worker's event loop that sends `Message::Beat` every
//! interval and, once, `Message::Retire` when a recycling limit is reached.
//!
//! Design: a beat sent from the event loop proves the loop turns; a worker whose loop is
//! stuck stops beating and the master kills it after `worker_timeout`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipe::{MasterPipe, Message};
use super::recycle::Recycle;
use crate::bridge::Handler;
use crate::log::Level;

/// The beat interval for a `worker_timeout`: four beats per timeout (a missed beat or two
/// is not yet a timeout), at least one a second, at most a hundred.
pub fn interval(worker_timeout: Duration) -> Duration {
    (worker_timeout / 4)
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(10))
}

/// Beats every `interval` until the runtime stops. `taken` counts the jobs the worker took
/// (`RequestLimit` reports `max_requests` itself; here it only stops further checks);
/// `handler` says whether a job is stuck.
pub async fn run<H: Handler>(
    pipe: Arc<MasterPipe>,
    interval: Duration,
    taken: Arc<AtomicU64>,
    recycle: Recycle,
    handler: Arc<H>,
) {
    let born = Instant::now();
    let mut retired = false;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        pipe.send(Message::Beat);
        if retired {
            continue;
        }
        if recycle
            .max_requests
            .is_some_and(|max| taken.load(Ordering::Relaxed) >= max)
        {
            retired = true;
            continue;
        }
        if let Some((limit, reason)) = recycle.reason(born, handler.is_stuck()) {
            log_at!(
                Level::Info,
                "worker {} asks to be replaced: {reason}",
                std::process::id()
            );
            pipe.send(Message::Retire(limit));
            retired = true;
        }
    }
}
