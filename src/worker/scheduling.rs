//! The Linux scheduling policy of a worker's threads (`--sched-policy`). Set on the worker's
//! main thread before any other thread exists, so the event loop and every Python thread
//! inherit it.
//!
//! Design: `SCHED_BATCH` removes wake-up preemption between the worker's own threads, so
//! the I/O thread and the Python threads hand requests over in batches instead of
//! preempting each other at every hand-off (see ARCHITECTURE.md, "Performance design
//! notes").

use crate::config::SchedPolicy;
use crate::log::Level;

/// Sets the policy of the calling thread (threads it creates inherit it). A refusal is
/// logged and the thread keeps its policy: the setting is about speed, not safety.
pub fn apply(policy: SchedPolicy) {
    let policy = match policy {
        SchedPolicy::Batch => libc::SCHED_BATCH,
        SchedPolicy::Normal => return,
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param that outlives
    // the call.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &raw const param) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        log_at!(
            Level::Warning,
            "sched_policy: cannot switch to SCHED_BATCH ({err}); the worker keeps its scheduling policy"
        );
    }
}
