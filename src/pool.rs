//! The Python threads (`--threads`) of a worker: each takes jobs from one queue and runs
//! them through `wsgi::call_app`. `Pool` is the WSGI side of the app-interface seam: it
//! implements `bridge::Handler`.
//!
//! The queue is unbounded in type but bounded in fact: `conn` takes a request permit for
//! every job it hands over (`server` sizes the permits, see `QUEUED_REQUESTS`), and the
//! thread that runs the job releases it when the job is done.
//! A panic while running a job costs that job (its connection gets a 500 or is closed),
//! never the thread, and is logged once, with the request (`log::panics`).
//!
//! With `request_timeout`, each thread records the job it runs in a `Slot`, and a watchdog
//! thread checks the slots: past the timeout the client gets a 504 (if nothing was sent)
//! and `ferrule.errors.RequestTimeout` is raised in the thread (`PyThreadState_SetAsyncExc`);
//! past a further grace, the thread's Python stack is logged, the `worker_abort` hook runs
//! (when set) and `stuck` is set, which makes the worker ask the master to replace it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::bridge::{AbortReason, EventSender, Handler, Job, ResponseEvent};
use crate::config::SchedPolicy;
use crate::log::{panics, Level};
use crate::worker::scheduling;
use crate::wsgi::{self, Context};

/// The running threads and the sending side of their job queue.
pub struct Pool {
    jobs: crossbeam_channel::Sender<Job>,
    threads: Vec<JoinHandle<()>>,
    /// Set by the watchdog when a job did not stop after `RequestTimeout`; read by the
    /// worker's heartbeat (which asks to be replaced) and by `shut_down`.
    stuck: Arc<AtomicBool>,
}

impl Handler for Pool {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        self.jobs.send(job).map_err(|e| e.0)
    }

    fn is_stuck(&self) -> bool {
        self.stuck.load(Ordering::Relaxed)
    }

    /// Closes the queue (each thread finishes its job, then sees the queue closed and
    /// exits) and joins the threads. When a job is stuck, waits at most `stuck_wait`.
    fn shut_down(self, stuck_wait: Duration) -> bool {
        let Pool {
            jobs,
            threads,
            stuck,
        } = self;
        drop(jobs);
        if stuck.load(Ordering::Relaxed) {
            let deadline = Instant::now() + stuck_wait;
            // 10 ms polls: joining a thread has no timeout; this runs once, at exit.
            while !threads.iter().all(JoinHandle::is_finished) {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for t in threads {
            // A thread that panicked outside a job has already been logged by the
            // panic hook; there is nothing more to do with it.
            let _ = t.join();
        }
        true
    }
}

/// `GET /path?query` of a job, for the log line of a panic: shares the head's bytes.
struct JobLine {
    raw: bytes::Bytes,
    method: std::ops::Range<usize>,
    target: std::ops::Range<usize>,
}

impl std::fmt::Display for JobLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |range: &std::ops::Range<usize>| {
            self.raw
                .get(range.clone())
                .map_or_else(|| "?".into(), String::from_utf8_lossy)
        };
        write!(f, "{} {}", part(&self.method), part(&self.target))
    }
}

/// What one thread is running, for the watchdog.
#[derive(Default)]
struct Slot {
    /// `threading.get_ident()` of the thread (what `PyThreadState_SetAsyncExc` takes).
    ident: u64,
    running: Option<Running>,
}

struct Running {
    started: Instant,
    events: EventSender,
    /// 0: running; 1: timed out (504 sent, `RequestTimeout` raised); 2: declared stuck.
    stage: u8,
}

type Slots = Arc<Vec<Mutex<Slot>>>;

impl Pool {
    /// Starts `count` Python threads serving `ctx.app` (their scheduling policy:
    /// `worker::scheduling::python_thread`), and the watchdog when `request_timeout` is
    /// set.
    ///
    /// # Errors
    /// The OS refused to create a thread.
    pub fn start(
        ctx: Context,
        count: usize,
        sched_policy: SchedPolicy,
        request_timeout: Option<Duration>,
        on_stuck: Option<Py<PyAny>>,
    ) -> std::io::Result<Pool> {
        panics::install();
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let ctx = Arc::new(ctx);
        let slots: Option<Slots> = request_timeout
            .map(|_| Arc::new((0..count).map(|_| Mutex::new(Slot::default())).collect()));
        let stuck = Arc::new(AtomicBool::new(false));
        let handoff = Arc::new(Handoff::default());
        let mut threads = Vec::with_capacity(count);
        for n in 0..count {
            let rx = rx.clone();
            let ctx = Arc::clone(&ctx);
            let slot = slots.clone().map(|slots| (slots, n));
            let handoff = Arc::clone(&handoff);
            let handle = std::thread::Builder::new()
                .name(format!("ferrule-thread-{n}"))
                .spawn(move || {
                    scheduling::python_thread(sched_policy, count);
                    Python::attach(|py| {
                        name_thread(py, n);
                        run_thread(py, &ctx, &rx, &handoff, slot.as_ref());
                    });
                })?;
            threads.push(handle);
        }
        if let (Some(slots), Some(timeout)) = (slots, request_timeout) {
            let stuck = Arc::clone(&stuck);
            std::thread::Builder::new()
                .name("ferrule-watchdog".to_owned())
                .spawn(move || watch(&slots, timeout, &stuck, on_stuck))?;
        }
        Ok(Pool {
            jobs: tx,
            threads,
            stuck,
        })
    }
}

/// The grace between `RequestTimeout` and declaring the job stuck: the timeout itself, at
/// most 5 s. Chosen without measurement; enough for `finally` blocks that close
/// connections.
fn grace(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(5))
}

/// The watchdog: never takes the GIL itself (a thread looping in C code may hold it for
/// good); the Python work (raising, reading stacks) goes to a helper thread.
fn watch(slots: &Slots, timeout: Duration, stuck: &AtomicBool, on_stuck: Option<Py<PyAny>>) {
    // (slot index, the job's start, raise or log the stack)
    let (gil_tx, gil_rx) = crossbeam_channel::unbounded::<(usize, Instant, bool)>();
    let helper_slots = Arc::clone(slots);
    let helper = std::thread::Builder::new()
        .name("ferrule-watchdog-gil".to_owned())
        .spawn(move || {
            while let Ok((index, started, raise)) = gil_rx.recv() {
                // GIL: taken only to raise in, or read the stack of, one thread. With the
                // GIL held the slot's thread runs no Python, so checking that it still runs
                // the same job makes sure the exception does not hit the next request.
                Python::attach(|py| {
                    let slot = helper_slots[index]
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if slot.running.as_ref().is_some_and(|r| r.started == started) {
                        if raise {
                            raise_timeout(py, slot.ident);
                        } else {
                            log_stack(py, slot.ident);
                            if let Some(hook) = &on_stuck {
                                // The runner logs the hook's own failure.
                                if let Err(err) = hook.call0(py) {
                                    log_at!(Level::Error, "cannot run worker_abort: {err}");
                                }
                            }
                        }
                    }
                });
            }
        });
    if let Err(err) = helper {
        log_at!(
            Level::Error,
            "cannot start the request_timeout helper thread: {err}"
        );
        return;
    }
    // Ten checks per timeout, at least every 100 ms: a request overruns by at most 10 %.
    let tick = (timeout / 10).min(Duration::from_millis(100));
    loop {
        std::thread::sleep(tick);
        for (index, slot) in slots.iter().enumerate() {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(running) = slot.running.as_mut() else {
                continue;
            };
            let elapsed = running.started.elapsed();
            if running.stage == 0 && elapsed >= timeout {
                running.stage = 1;
                crate::metrics::stats().timed_out(crate::metrics::Timeout::Request);
                log_at!(
                    Level::Error,
                    "a request ran past request_timeout ({timeout:?}); answering 504 and raising RequestTimeout in its thread"
                );
                // A full channel means the response is streaming: the head went out and
                // a 504 is no longer possible; the exception still stops the app.
                let _ = running
                    .events
                    .try_send(ResponseEvent::Abort(AbortReason::Timeout));
                // The helper thread ends only with the process.
                let _ = gil_tx.send((index, running.started, true));
            } else if running.stage == 1 && elapsed >= timeout + grace(timeout) {
                running.stage = 2;
                log_at!(
                    Level::Critical,
                    "a request is still running {:?} after RequestTimeout; this worker stops taking requests and is replaced",
                    elapsed.saturating_sub(timeout)
                );
                stuck.store(true, Ordering::Relaxed);
                // As above: the helper ends only with the process.
                let _ = gil_tx.send((index, running.started, false));
            }
        }
    }
}

fn raise_timeout(py: Python<'_>, ident: u64) {
    let cls = match py
        .import("ferrule.errors")
        .and_then(|m| m.getattr("RequestTimeout"))
    {
        Ok(cls) => cls,
        Err(err) => {
            log_at!(Level::Error, "cannot raise RequestTimeout: {err}");
            return;
        }
    };
    let Ok(id) = std::ffi::c_long::try_from(ident) else {
        return;
    };
    // SAFETY: GIL held; `cls` is a live exception class; a thread id that is gone makes
    // the call return 0 and do nothing.
    unsafe {
        pyo3::ffi::PyThreadState_SetAsyncExc(id, cls.as_ptr());
    }
}

fn log_stack(py: Python<'_>, ident: u64) {
    let stack = (|| -> PyResult<String> {
        let frames = py.import("sys")?.call_method0("_current_frames")?;
        let Some(frame) = frames.get_item(ident).ok() else {
            return Ok("(the thread is no longer running Python code)".to_owned());
        };
        let lines: Vec<String> = py
            .import("traceback")?
            .call_method1("format_stack", (frame,))?
            .extract()?;
        Ok(lines.concat())
    })();
    match stack {
        Ok(stack) => log_at!(
            Level::Critical,
            "the stuck request's thread is at:\n{stack}"
        ),
        Err(err) => log_at!(Level::Error, "cannot read the stuck thread's stack: {err}"),
    }
}

/// `sys.getswitchinterval()` as the app left it (it is imported before the threads
/// start); the interpreter default, 5 ms, if it cannot be read.
fn switch_interval(py: Python<'_>) -> Duration {
    py.import("sys")
        .and_then(|sys| sys.call_method0("getswitchinterval"))
        .and_then(|v| v.extract::<f64>())
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .unwrap_or(Duration::from_millis(5))
}

/// Names the thread for Python as for the OS (`ferrule-thread-N`): `threading` would call
/// a thread it did not start `Dummy-N`, which logging's `%(threadName)s` shows.
fn name_thread(py: Python<'_>, n: usize) {
    let named = py
        .import("threading")
        .and_then(|threading| threading.call_method0("current_thread"))
        .and_then(|thread| thread.setattr("name", format!("ferrule-thread-{n}")));
    if let Err(err) = named {
        log_at!(Level::Debug, "cannot name a Python thread: {err}");
    }
}

fn run_thread(
    py: Python<'_>,
    ctx: &Context,
    jobs: &crossbeam_channel::Receiver<Job>,
    handoff: &Handoff,
    slot: Option<&(Slots, usize)>,
) {
    let mut strings = wsgi::EnvironStrings::new(py);
    let slot = slot.map(|(slots, n)| &slots[*n]);
    if let Some(slot) = slot {
        let ident = py
            .import("threading")
            .and_then(|t| t.call_method0("get_ident"))
            .and_then(|i| i.extract::<u64>());
        match ident {
            Ok(ident) => slot.lock().unwrap_or_else(PoisonError::into_inner).ident = ident,
            Err(err) => log_at!(Level::Error, "request_timeout is off in this thread: {err}"),
        }
    }
    let mut turn = Turn::new(py);
    loop {
        let Some(job) = handoff.next_job(py, jobs, &mut turn) else {
            return;
        };
        let Job {
            request,
            permit,
            received,
        } = job;
        crate::metrics::stats().job_started(received.elapsed());
        let events = request.events.clone();
        // For the log line of a panic: the request itself is gone by then.
        let line = JobLine {
            raw: request.head.raw.clone(),
            method: request.head.method.clone(),
            target: request.head.target.clone(),
        };
        if let Some(slot) = slot {
            slot.lock().unwrap_or_else(PoisonError::into_inner).running = Some(Running {
                started: Instant::now(),
                events: events.clone(),
                stage: 0,
            });
        }
        let outcome = panics::contain(|| wsgi::call_app(py, ctx, &mut strings, request));
        if let Some(slot) = slot {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.running.take().is_some_and(|r| r.stage > 0) {
                if let Ok(id) = std::ffi::c_long::try_from(slot.ident) {
                    // SAFETY: GIL held; a NULL exception clears a RequestTimeout that was
                    // raised too late to be delivered, so the next job does not get it.
                    unsafe {
                        pyo3::ffi::PyThreadState_SetAsyncExc(id, std::ptr::null_mut());
                    }
                }
            }
        }
        // The panic's one report: the hook kept it to itself (also when PyO3 or
        // `wsgi::guard` caught it inside the job).
        if let Some(panic) = &outcome.panic {
            log_at!(
                Level::Error,
                "panic while handling {line}: {panic}; the request was aborted"
            );
        }
        if outcome.value.is_none() {
            // If the client is gone there is nobody to tell.
            let _ = wsgi::start_response::send_event(
                py,
                &events,
                ResponseEvent::Abort(AbortReason::Internal),
            );
        }
        // The job is done: its slot in the worker's backpressure is free again.
        crate::metrics::stats().job_finished();
        drop(permit);
    }
}

/// Hand-offs of the GIL between the pool's threads at job boundaries. The interpreter
/// gives a waiting thread the GIL only after its switch interval (5 ms), in the middle of
/// whatever the holder runs, and to one waiter of several at random: under a CPU-bound
/// load a request held by a thread that keeps losing waits many intervals. Here a thread
/// that has held the GIL for a tenth of the interval and sees a pool thread waiting with a
/// job lets go between two jobs and waits until a waiter has taken it (so it does not take
/// the GIL straight back, which would also restart the waiters' intervals).
#[derive(Default)]
struct Handoff {
    /// Pool threads with a job, waiting for the GIL.
    waiting: std::sync::atomic::AtomicUsize,
    /// Bumped each time a waiting pool thread gets the GIL.
    seq: std::sync::atomic::AtomicU64,
    /// Threads in `wait_past`.
    yielding: std::sync::atomic::AtomicUsize,
    lock: Mutex<()>,
    taken: std::sync::Condvar,
}

/// One thread's turn on the GIL, for `Handoff`.
struct Turn {
    /// `sys.getswitchinterval()` (the interpreter keeps it at 1 us or more).
    interval: Duration,
    /// When this thread last took the GIL with a new job.
    since: Instant,
}

impl Turn {
    fn new(py: Python<'_>) -> Turn {
        Turn {
            interval: switch_interval(py),
            since: Instant::now(),
        }
    }

    /// Whether this thread has kept the GIL across jobs long enough to give it to a
    /// waiter: a tenth of the switch interval (500 us at the interpreter's 5 ms). Measured
    /// on flask at 4 threads, 300 us to 1 ms all gave p99 12-20 ms against 45 without
    /// hand-offs, for ~3 % of req/s (bench/PROFILE.md).
    fn is_over(&self) -> bool {
        self.since.elapsed() >= self.interval / 10
    }
}

impl Handoff {
    /// The next job, for a thread holding the GIL; `None` once the queue is closed. GIL: a
    /// job already queued is taken without letting go of the GIL, unless another pool
    /// thread has waited with its job and this thread's turn is over: then
    /// the GIL goes to it first. Otherwise the GIL is released while waiting for a job.
    fn next_job(
        &self,
        py: Python<'_>,
        jobs: &crossbeam_channel::Receiver<Job>,
        turn: &mut Turn,
    ) -> Option<Job> {
        let hand_over = self.waiting.load(Ordering::Relaxed) > 0 && turn.is_over();
        if !hand_over {
            match jobs.try_recv() {
                Ok(job) => return Some(job),
                Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
        }
        let seen = hand_over.then(|| self.seq.load(Ordering::SeqCst));
        let interval = turn.interval;
        let job = py
            .detach(|| {
                if let Some(seen) = seen {
                    self.wait_past(seen, interval);
                }
                let job = jobs.recv();
                if job.is_ok() {
                    self.waiting.fetch_add(1, Ordering::Relaxed);
                }
                job
            })
            .ok()?;
        self.arrived();
        turn.since = Instant::now();
        Some(job)
    }

    /// A waiting thread has the GIL now.
    fn arrived(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        // SeqCst here and in `wait_past`: each side stores, then loads what the other
        // stores; weaker orders would let both miss the other (a wait to its limit).
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.yielding.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.taken.notify_all();
        }
    }

    /// Waits (GIL released) until a waiting thread got the GIL after `seen`, at most
    /// `limit` (the switch interval: the interpreter would have switched by then anyway).
    fn wait_past(&self, seen: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        self.yielding.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.seq.load(Ordering::SeqCst) == seen {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            guard = self
                .taken
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(guard);
        self.yielding.fetch_sub(1, Ordering::SeqCst);
    }
}
