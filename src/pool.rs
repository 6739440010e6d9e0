//! The Python threads (`--threads`) of a worker: each takes jobs from one queue and runs
//! them through `wsgi::call_app`. Implements `bridge::Handler` for `server`.
//!
//! The queue is unbounded in type but bounded in fact: `conn` holds a request permit for
//! every job it hands over, and `server` sizes the permits (see `QUEUED_REQUESTS`).
//! A panic while running a job costs that job (its connection gets a 500 or is closed),
//! never the thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

use pyo3::prelude::*;

use crate::bridge::{AbortReason, Handler, Job, ResponseEvent};
use crate::log::Level;
use crate::wsgi::{self, Context};

/// The sending side of the job queue; what `server` and `conn` see.
pub struct Dispatcher {
    jobs: crossbeam_channel::Sender<Job>,
}

impl Handler for Dispatcher {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

/// The running threads.
pub struct Pool {
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `count` Python threads serving `ctx.app`.
    ///
    /// # Errors
    /// The OS refused to create a thread.
    pub fn start(ctx: Context, count: usize) -> std::io::Result<(Dispatcher, Pool)> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let ctx = Arc::new(ctx);
        let mut threads = Vec::with_capacity(count);
        for n in 0..count {
            let rx = rx.clone();
            let ctx = Arc::clone(&ctx);
            let handle = std::thread::Builder::new()
                .name(format!("ferrule-thread-{n}"))
                .spawn(move || Python::attach(|py| run_thread(py, &ctx, &rx)))?;
            threads.push(handle);
        }
        Ok((Dispatcher { jobs: tx }, Pool { threads }))
    }

    /// Waits for every thread to finish its job and exit. The `Dispatcher` must be
    /// dropped first (that closes the queue).
    pub fn join(self) {
        for t in self.threads {
            // A thread that panicked outside a job has already been logged by the
            // panic hook; there is nothing more to do with it.
            let _ = t.join();
        }
    }
}

fn run_thread(py: Python<'_>, ctx: &Context, jobs: &crossbeam_channel::Receiver<Job>) {
    let mut cache = wsgi::Cache::new(py);
    loop {
        // GIL: a job already queued is taken without letting go of the GIL; otherwise the
        // GIL is released while waiting for the next one.
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            Err(crossbeam_channel::TryRecvError::Empty) => match py.detach(|| jobs.recv()) {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let events = job.events.clone();
        if catch_unwind(AssertUnwindSafe(|| wsgi::call_app(py, ctx, &mut cache, job))).is_err() {
            log_at!(Level::Error, "internal error (panic) while handling a request; the request was aborted");
            // If the client is gone there is nobody to tell.
            let _ = wsgi::start_response::send_event(py, &events, ResponseEvent::Abort(AbortReason::Internal));
        }
    }
}
