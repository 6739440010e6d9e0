//! The Linux scheduling policy of a worker's threads (`--sched-policy`). Set on the worker's
//! main thread before any other thread exists, so the event loop and every Python thread
//! inherit it.
//!
//! Design: `SCHED_BATCH` removes wake-up preemption between the worker's own threads, so
//! the I/O thread and the Python threads hand requests over in batches instead of
//! preempting each other at every hand-off (see ARCHITECTURE.md, "Performance design
//! notes"). Where a worker has more than one Python thread, those threads go back to
//! `SCHED_OTHER` (`python_thread`): the interpreter hands the GIL over when a waiting
//! thread's timed wait (the 5 ms switch interval) wakes it up and it asks the holder to let
//! go; a batch thread woken by that timer waits for the holder's time slice to end first,
//! and a request held by such a thread waited far longer than the interval (flask at 4
//! threads: p99 64 ms against 44 in `suite-20261207-170556-sched-ab`, at 8 threads 377-841
//! against 103-125; bench/PROFILE.md). The I/O thread stays batch, so a Python thread that
//! wakes it with a response does not preempt it: throughput and CPU per request did not
//! change.

use crate::config::SchedPolicy;
use crate::log::Level;

/// Sets the policy of the calling thread (threads it creates inherit it). A refusal is
/// logged and the thread keeps its policy: the setting is about speed, not safety.
pub fn apply(policy: SchedPolicy) {
    if policy == SchedPolicy::Batch {
        set(libc::SCHED_BATCH, "SCHED_BATCH");
    }
}

/// Called by each Python thread of a pool of `threads`, first thing: under `batch` with
/// more than one Python thread, the calling thread takes `SCHED_OTHER` back, so that the
/// GIL's timed hand-offs between Python threads preempt (module doc). With one Python
/// thread there is no hand-off between Python threads and it stays batch.
pub fn python_thread(policy: SchedPolicy, threads: usize) {
    if policy == SchedPolicy::Batch && threads > 1 {
        set(libc::SCHED_OTHER, "SCHED_OTHER");
    }
}

fn set(policy: libc::c_int, name: &str) {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param that outlives
    // the call.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &raw const param) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        log_at!(
            Level::Warning,
            "sched_policy: cannot switch a thread to {name} ({err}); it keeps its scheduling policy"
        );
    }
}
