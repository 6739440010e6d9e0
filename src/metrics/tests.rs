use std::time::Duration;

use super::fleet::Fleet;
use super::shared::Region;
use super::*;

#[test]
fn counts_a_request_under_its_method_class_status_and_bucket() {
    let stats = Stats::new();
    stats.request_admitted();
    stats.request_admitted();
    stats.request_finished(MethodClass::of("GET"), 200, Duration::from_micros(800));
    stats.request_finished(MethodClass::of("BREW"), 418, Duration::from_secs(60));
    let s = stats.snapshot();
    assert_eq!(
        s.requests(),
        [("GET", "200".to_owned(), 1), ("OTHER", "418".to_owned(), 1)]
    );
    assert_eq!(s.in_flight(), 0);
    let buckets = s.histogram(slot::DURATION, &DURATION_BOUNDS_US);
    assert_eq!(buckets[0], (1, 800), "800 us is in the first (1 ms) bucket");
    assert_eq!(
        buckets.last(),
        Some(&(1, 60_000_000)),
        "60 s is past every bound: +Inf"
    );
}

#[test]
fn labels_every_status_slot_within_bounds() {
    let rows = [
        (0, "none"),
        (100, "100"),
        (200, "200"),
        (599, "599"),
        (600, "other"),
        (99, "other"),
    ];
    for (status, label) in rows {
        let stats = Stats::new();
        stats.request_finished(MethodClass::of("GET"), status, Duration::ZERO);
        assert_eq!(
            stats.snapshot().requests_by_status(),
            [(label.to_owned(), 1)],
            "{status}"
        );
    }
}

#[test]
fn gauges_are_differences_of_counters() {
    let stats = Stats::new();
    stats.connection_accepted();
    stats.connection_accepted();
    stats.connection_closed();
    stats.request_admitted();
    stats.job_started(Duration::from_micros(50));
    let s = stats.snapshot();
    assert_eq!(
        (s.connections_open(), s.in_flight(), s.threads_busy()),
        (1, 1, 1)
    );
    stats.job_finished();
    stats.request_finished(MethodClass::of("GET"), 200, Duration::ZERO);
    let s = stats.snapshot();
    assert_eq!((s.in_flight(), s.threads_busy()), (0, 0));
}

#[test]
fn a_snapshot_never_goes_below_what_it_was_raised_to() {
    let stats = Stats::new();
    stats.received(100);
    let mut kept = Snapshot::default();
    kept.raise_to(&stats.snapshot());
    let smaller = Stats::new().snapshot();
    kept.raise_to(&smaller);
    assert_eq!(kept.get(slot::BYTES_RECEIVED), 100);
}

#[test]
fn the_fleet_keeps_an_exited_workers_counts_and_stops_reading_a_scribbled_region() {
    let mut fleet = Fleet::new();
    let a = Region::new().expect("mmap");
    let b = Region::new().expect("mmap");
    a.stats().received(10);
    b.stats().received(5);
    // The fleet owns the regions; keep raw views to write "from the worker".
    let a_view: *const Stats = a.stats();
    let b_view: *const Stats = b.stats();
    fleet.add(1, a);
    fleet.add(2, b);
    fleet.refresh();
    assert_eq!(fleet.totals().get(slot::BYTES_RECEIVED), 15);
    // SAFETY: the regions are mapped while the fleet holds them (below, until retire).
    unsafe { (*a_view).received(1) };
    fleet.retire(1, 0.5);
    assert_eq!(
        fleet.totals().get(slot::BYTES_RECEIVED),
        16,
        "the final figures count"
    );
    assert_eq!(fleet.live().get(slot::BYTES_RECEIVED), 5);
    // A worker that overwrites its block's magic: its last good figures stand.
    // SAFETY: region 2 is still mapped (the fleet holds it).
    unsafe {
        (*b_view).slots[slot::MAGIC].store(0, Ordering::Relaxed);
        (*b_view).received(1_000_000);
    }
    fleet.refresh();
    assert_eq!(fleet.totals().get(slot::BYTES_RECEIVED), 16);
    assert!((fleet.retired_cpu_seconds() - 0.5).abs() < f64::EPSILON);
}

#[test]
fn a_region_is_shared_with_a_forked_child() {
    let region = Region::new().expect("mmap");
    // SAFETY: the child only touches the shared atomics and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        region.stats().sent(42);
        // SAFETY: ends the child at once, without running the parent's test harness.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(region.stats().snapshot().get(slot::BYTES_SENT), 42);
}

#[test]
fn the_pool_slots_start_on_their_own_cache_line() {
    assert_eq!(slot::JOBS_STARTED % 8, 0);
    assert!(slot::JOBS_STARTED >= slot::LOGS + LOG_LEVELS.len());
    assert_eq!(std::mem::size_of::<Stats>(), slot::LEN * 8);
}
