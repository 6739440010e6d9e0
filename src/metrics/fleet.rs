//! The master's view of its workers' counters: one shared `Region` per live worker, the
//! last good snapshot of each, and the totals of the workers that exited. Counters never
//! go backwards: a worker's snapshot only replaces a smaller one, an exited worker's last
//! figures are folded into `retired` (kept in the master's own memory), and its region is
//! then unmapped. A region whose magic is gone (a worker that scribbled over it) is not
//! read again; its last good figures stand.

use std::collections::HashMap;

use super::shared::Region;
use super::Snapshot;

/// A worker's process id (as `supervisor::Pid`).
pub type Pid = i32;

struct Member {
    region: Region,
    /// The highest figures read so far.
    last: Snapshot,
    /// The region's magic was overwritten: its figures are no longer read.
    broken: bool,
}

/// See the module docs.
#[derive(Default)]
pub struct Fleet {
    live: HashMap<Pid, Member>,
    retired: Snapshot,
    /// CPU seconds of the workers that exited (their final figures, from wait4(2)).
    retired_cpu_seconds: f64,
}

impl Fleet {
    pub fn new() -> Fleet {
        Fleet::default()
    }

    /// Starts following the worker `pid`, which counts into `region`.
    pub fn add(&mut self, pid: Pid, region: Region) {
        self.live.insert(
            pid,
            Member {
                region,
                last: Snapshot::default(),
                broken: false,
            },
        );
    }

    /// Reads every live region.
    pub fn refresh(&mut self) {
        for member in self.live.values_mut() {
            read(member);
        }
    }

    /// The worker `pid` exited after using `cpu_seconds`: its final figures join the
    /// totals and its region is unmapped.
    pub fn retire(&mut self, pid: Pid, cpu_seconds: f64) {
        if let Some(mut member) = self.live.remove(&pid) {
            read(&mut member);
            self.retired.add(&member.last);
            self.retired_cpu_seconds += cpu_seconds;
        }
    }

    /// Every counter: the exited workers' and the live ones' (as last read).
    pub fn totals(&self) -> Snapshot {
        let mut totals = self.retired.clone();
        totals.add(&self.live());
        totals
    }

    /// The live workers' figures only: gauges (in flight, open connections, busy threads)
    /// are differences of counters that only the live workers' are meaningful for.
    pub fn live(&self) -> Snapshot {
        let mut sum = Snapshot::default();
        for member in self.live.values() {
            sum.add(&member.last);
        }
        sum
    }

    /// CPU seconds of the workers that exited.
    pub fn retired_cpu_seconds(&self) -> f64 {
        self.retired_cpu_seconds
    }

    /// Whether the worker `pid` is followed.
    pub fn follows(&self, pid: Pid) -> bool {
        self.live.contains_key(&pid)
    }
}

fn read(member: &mut Member) {
    if member.broken {
        return;
    }
    let now = member.region.stats().snapshot();
    if now.is_well_formed() {
        member.last.raise_to(&now);
    } else {
        member.broken = true;
    }
}
