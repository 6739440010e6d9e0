//! The worker's asyncio loop and its bridge to tokio. `AsgiLoop` is the `Handler`: it
//! hands jobs to a Python thread that runs one asyncio (or uvloop) loop, where each
//! request becomes a task running the app.
//!
//! The crossing from tokio to the loop is one `Inbox`: `dispatch` and the wakers of
//! waiting `receive()`/`send()` calls push items, and the loop drains them all in one
//! callback. A push writes the eventfd the loop watches only when the inbox is *armed*
//! (the loop has drained everything and may be asleep); while a drain is pending, pushes
//! cost a lock and no syscall, so a busy loop takes many requests per wake-up. The other
//! way, events go through `relay`, whose `LoopWaker` batches wake-ups of tokio the same
//! way. See ARCHITECTURE.md ("The ASGI bridge") for what the alternatives measured.
//!
//! Steps of the loop thread: create the loop; start lifespan (its failure is the worker's
//! boot error); serve until `shut_down` asks to stop and the requests in progress have
//! finished (or `STOP_WAIT` has passed: the rest are cancelled); lifespan shutdown; close.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::awaitable::Ready;
use super::http::HttpCycle;
use super::lifespan;
use super::loop_bound::Grave;
use super::scope::ScopeContext;
use super::websocket::WsCycle;
use crate::bridge::{Handler, Job, RequestKind};
use crate::config::{EventLoop, Lifespan};
use crate::log::Level;

/// How long a stopping worker lets ASGI tasks that outlived their connections (background
/// work after the response) finish before cancelling them. 5 s, chosen without
/// measurement: the connections have had `graceful_timeout` already.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the loop needs to know, from `Config`.
#[derive(Debug, Clone)]
pub struct Options {
    pub event_loop: EventLoop,
    pub lifespan: Lifespan,
    /// `root_path` in every scope.
    pub root_path: String,
    /// How long lifespan shutdown may take (`graceful_timeout`).
    pub shutdown_timeout: Duration,
    /// Requests in progress at once (`Handler::capacity`): each is a task, not a thread,
    /// so the bound is the worker's connections (`max_connections`).
    pub capacity: usize,
    /// `request_timeout`: an HTTP request's task is cancelled past it (WebSockets live as
    /// long as their conversation and are exempt).
    pub request_timeout: Option<Duration>,
}

/// The grace between a request's timeout and calling the loop stuck: the timeout itself, at
/// most 5 s (as the WSGI threads have it).
fn grace(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(5))
}

/// How often the loop checks its requests against `request_timeout`: ten times per
/// timeout, at least every 100 ms, so a request overruns by at most 10 %.
fn tick(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_millis(100))
}

/// When the loop thread last ran its timeout check; read by `is_stuck` from the worker's
/// heartbeat. Milliseconds since the loop started.
#[derive(Debug)]
struct Ticks {
    origin: Instant,
    last: AtomicU64,
}

impl Ticks {
    fn mark(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn since_last(&self) -> Duration {
        let now = self.origin.elapsed();
        now.saturating_sub(Duration::from_millis(self.last.load(Ordering::Relaxed)))
    }
}

/// One item for the loop thread.
pub(crate) enum Item {
    Job(Job),
    /// The `receive()` or `send()` of the request with this id may go on.
    Wake(u64),
    /// Stop taking requests, finish, run lifespan shutdown, end the thread.
    Stop,
    /// A request's state whose Python object went on another thread: dropped here.
    Bury(Grave),
}

/// The crossing from tokio (and any thread) to the loop. See the module docs.
pub(crate) struct Inbox {
    items: Mutex<Vec<Item>>,
    /// The eventfd the loop watches (`add_reader`).
    eventfd: OwnedFd,
    /// The loop took every item and may sleep: the next push must write the eventfd.
    armed: AtomicBool,
}

impl Inbox {
    fn new() -> std::io::Result<Inbox> {
        // SAFETY: eventfd(2) with valid flags; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Inbox {
            items: Mutex::new(Vec::new()),
            // SAFETY: `fd` was just created and is owned by nothing else.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: AtomicBool::new(true),
        })
    }

    pub(crate) fn push(&self, item: Item) {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
        if self.armed.swap(false, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd. It cannot fail but
            // for a counter at its maximum, which the loop's reads keep from happening.
            unsafe {
                libc::write(self.eventfd.as_raw_fd(), std::ptr::addr_of!(one).cast(), 8);
            }
        }
    }

    /// Every item pushed so far; re-arms first, so that a push racing with the swap
    /// writes the eventfd (a spurious wake-up at worst, never a lost one).
    fn take(&self, into: &mut Vec<Item>) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd; EAGAIN
        // (nothing written) leaves it untouched, which is fine.
        unsafe {
            libc::read(
                self.eventfd.as_raw_fd(),
                std::ptr::addr_of_mut!(count).cast(),
                8,
            );
        }
        self.armed.store(true, Ordering::Release);
        std::mem::swap(
            into,
            &mut *self.items.lock().unwrap_or_else(PoisonError::into_inner),
        );
    }
}

/// Wakes one request's waiting `receive()` or `send()` from any thread.
struct RequestWake {
    inbox: Arc<Inbox>,
    id: u64,
}

impl Wake for RequestWake {
    fn wake(self: Arc<Self>) {
        self.inbox.push(Item::Wake(self.id));
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.inbox.push(Item::Wake(self.id));
    }
}

/// The waker of request `id`.
pub(crate) fn waker(inbox: &Arc<Inbox>, id: u64) -> Waker {
    Waker::from(Arc::new(RequestWake {
        inbox: Arc::clone(inbox),
        id,
    }))
}

/// The ASGI side of a worker: the loop thread and the way into it. See the module docs.
pub struct AsgiLoop {
    inbox: Arc<Inbox>,
    thread: JoinHandle<()>,
    /// Set once `shut_down` has asked the loop to stop.
    stopping: AtomicBool,
    capacity: usize,
    request_timeout: Option<Duration>,
    ticks: Arc<Ticks>,
    /// `uvloop` or `asyncio`, for the worker's log line.
    loop_name: String,
}

impl Handler for AsgiLoop {
    fn dispatch(&self, job: Job) -> Result<(), Job> {
        if self.stopping.load(Ordering::Relaxed) || self.thread.is_finished() {
            return Err(job);
        }
        self.inbox.push(Item::Job(job));
        Ok(())
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.capacity)
    }

    fn serves_websockets(&self) -> bool {
        true
    }

    fn describe(&self) -> Option<String> {
        Some(format!("an ASGI app on {}", self.loop_name))
    }

    /// With `request_timeout`, the loop checks its requests every `tick`; a loop that has
    /// not done so for the timeout and its grace is blocked by code that never yields
    /// (a synchronous call in an `async def`): cancelling cannot reach it, so the worker
    /// asks to be replaced.
    /// A loop thread that ended before the stop cannot serve either.
    fn is_stuck(&self) -> bool {
        let died = !self.stopping.load(Ordering::Relaxed) && self.thread.is_finished();
        died || self
            .request_timeout
            .is_some_and(|t| self.ticks.since_last() > t + grace(t) + tick(t))
    }

    /// Asks the loop to stop (it finishes its requests, then runs lifespan shutdown) and
    /// waits for its thread.
    /// A loop that is stuck (see `is_stuck`) cannot take the stop: it gets `stuck_wait`,
    /// then the worker exits without it (`false`).
    fn shut_down(self, stuck_wait: Duration) -> bool {
        let stuck = self.is_stuck();
        self.stopping.store(true, Ordering::Relaxed);
        self.inbox.push(Item::Stop);
        if stuck {
            let deadline = std::time::Instant::now() + stuck_wait;
            // 10 ms polls: joining a thread has no timeout; this runs once, at exit.
            while !self.thread.is_finished() {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // A loop thread that panicked has been logged by the panic hook.
        let _ = self.thread.join();
        true
    }
}

impl AsgiLoop {
    /// Starts the loop thread for `app` and waits until the loop runs and lifespan startup
    /// has completed.
    ///
    /// # Errors
    /// A message saying why the loop could not start: the loop implementation is not
    /// installed, lifespan startup failed (with the app's message), the thread could not
    /// be created.
    pub fn start(py: Python<'_>, app: Py<PyAny>, options: Options) -> Result<AsgiLoop, String> {
        let inbox = Arc::new(Inbox::new().map_err(|e| format!("cannot create an eventfd: {e}"))?);
        if options.event_loop != EventLoop::Asyncio {
            // uvloop notes the main thread when it is first imported, and later takes a
            // thread that imported it for the main one (and fails to install its signal
            // wake-up there): import it here, on the worker's main thread. A missing uvloop
            // is reported by the loop thread (`new_loop`).
            let _ = py.import("uvloop");
        }
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<String, String>>();
        let capacity = options.capacity.max(1);
        let request_timeout = options.request_timeout;
        let ticks = Arc::new(Ticks {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        });
        let thread_ticks = Arc::clone(&ticks);
        let thread_inbox = Arc::clone(&inbox);
        let thread = std::thread::Builder::new()
            .name("ferrule-asgi-loop".to_owned())
            .spawn(move || {
                // GIL: the loop thread holds it while Python runs and releases it whenever
                // the loop waits in epoll (asyncio and uvloop both do).
                Python::attach(|py| {
                    run(py, app, &options, &thread_inbox, &thread_ticks, &started_tx);
                });
            })
            .map_err(|e| format!("cannot start the event loop thread: {e}"))?;
        // GIL: released while the loop thread starts the loop and runs lifespan startup.
        let started = py.detach(move || started_rx.recv());
        match started {
            Ok(Ok(loop_name)) => Ok(AsgiLoop {
                inbox,
                thread,
                stopping: AtomicBool::new(false),
                capacity,
                request_timeout,
                ticks,
                loop_name,
            }),
            Ok(Err(why)) => {
                let _ = py.detach(|| thread.join());
                Err(why)
            }
            Err(_) => Err("the event loop thread ended before the loop started".to_owned()),
        }
    }
}

/// A request in progress: its task's `receive` and `send`.
pub(crate) enum Cycle {
    Http(Py<HttpCycle>),
    WebSocket(Py<WsCycle>),
}

impl Cycle {
    fn clone_ref(&self, py: Python<'_>) -> Cycle {
        match self {
            Cycle::Http(c) => Cycle::Http(c.clone_ref(py)),
            Cycle::WebSocket(c) => Cycle::WebSocket(c.clone_ref(py)),
        }
    }

    fn on_wake(&self, py: Python<'_>) {
        match self {
            Cycle::Http(c) => HttpCycle::on_wake(c.bind(py)),
            Cycle::WebSocket(c) => WsCycle::on_wake(c.bind(py)),
        }
    }

    fn cancel(&self, py: Python<'_>) {
        match self {
            Cycle::Http(c) => HttpCycle::cancel(c.bind(py)),
            Cycle::WebSocket(c) => WsCycle::cancel(c.bind(py)),
        }
    }
}

/// `loop.call_later`'s callback for `request_timeout`: answers and cancels the HTTP
/// requests past it, marks the tick, and schedules itself again.
#[pyclass(unsendable)]
struct TimeoutCheck {
    core: Rc<Core>,
    ticks: Arc<Ticks>,
    timeout: Duration,
}

#[pymethods]
impl TimeoutCheck {
    fn __call__(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.borrow();
        this.ticks.mark();
        let overdue: Vec<Py<HttpCycle>> = this
            .core
            .running
            .borrow()
            .values()
            .filter_map(|cycle| match cycle {
                Cycle::Http(c) if c.borrow(py).is_overdue(this.timeout) => Some(c.clone_ref(py)),
                _ => None,
            })
            .collect();
        for cycle in overdue {
            HttpCycle::on_timeout(cycle.bind(py), this.timeout);
        }
        if !this.core.stopping.get() {
            this.core.event_loop.bind(py).call_method1(
                intern!(py, "call_later"),
                (tick(this.timeout).as_secs_f64(), slf),
            )?;
        }
        Ok(())
    }
}

/// The loop thread's state, shared by the drain callback and every request's `HttpCycle`.
/// Lives on the loop thread only (hence `Rc` and `RefCell`).
pub(crate) struct Core {
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) app: Py<PyAny>,
    pub(crate) event_loop: Py<PyAny>,
    /// `loop.create_task` and `loop.create_future`, looked up once.
    create_task: Py<PyAny>,
    pub(crate) create_future: Py<PyAny>,
    pub(crate) scope: RefCell<ScopeContext>,
    /// The lifespan state, copied into each request's scope when lifespan ran.
    pub(crate) state: RefCell<Option<Py<PyDict>>>,
    /// `ferrule.errors.ClientDisconnected`: what `send()` raises once the client is gone.
    pub(crate) disconnected: Py<PyAny>,
    /// `Ready(None)`, shared.
    pub(crate) ready_none: Py<Ready>,
    /// Requests whose task runs or whose last events wait to be sent, by id.
    running: RefCell<HashMap<u64, Cycle>>,
    next_id: Cell<u64>,
    /// `Stop` came: the `stopped` future resolves when `running` is empty.
    stopping: Cell<bool>,
    /// Resolved when the loop may stop serving; the thread runs the loop until it is.
    stopped: Py<PyAny>,
}

impl Core {
    /// Creates a task running `coro` on the loop.
    pub(crate) fn create_task<'py>(
        &self,
        py: Python<'py>,
        coro: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.create_task.bind(py).call1((coro,))
    }

    pub(crate) fn create_future<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.create_future.bind(py).call0()
    }

    /// A new request id.
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        id
    }

    pub(crate) fn track(&self, id: u64, cycle: Cycle) {
        self.running.borrow_mut().insert(id, cycle);
    }

    /// The request is finished: its task is done and its events are sent.
    pub(crate) fn untrack(&self, py: Python<'_>, id: u64) {
        let removed = self.running.borrow_mut().remove(&id);
        drop(removed);
        if self.stopping.get() && self.running.borrow().is_empty() {
            self.resolve_stopped(py);
        }
    }

    fn on_wake(&self, py: Python<'_>, id: u64) {
        let cycle = self.running.borrow().get(&id).map(|c| c.clone_ref(py));
        if let Some(cycle) = cycle {
            cycle.on_wake(py);
        }
    }

    fn begin_stop(self: &Rc<Self>, py: Python<'_>) -> PyResult<()> {
        self.stopping.set(true);
        if self.running.borrow().is_empty() {
            self.resolve_stopped(py);
            return Ok(());
        }
        log_at!(
            Level::Info,
            "waiting up to {STOP_WAIT:?} for {} ASGI task(s) still running",
            self.running.borrow().len()
        );
        let cancel = Py::new(
            py,
            CancelRemaining {
                core: Rc::clone(self),
            },
        )?;
        self.event_loop
            .bind(py)
            .call_method1(intern!(py, "call_later"), (STOP_WAIT.as_secs_f64(), cancel))?;
        Ok(())
    }

    fn resolve_stopped(&self, py: Python<'_>) {
        let stopped = self.stopped.bind(py);
        if !stopped
            .call_method0(intern!(py, "done"))
            .and_then(|d| d.is_truthy())
            .unwrap_or(true)
        {
            if let Err(err) = stopped.call_method1(intern!(py, "set_result"), (py.None(),)) {
                log_at!(Level::Error, "cannot stop the event loop: {err}");
            }
        }
    }
}

/// `loop.add_reader`'s callback: takes every item from the inbox and handles it.
#[pyclass(unsendable)]
struct Drain {
    core: Rc<Core>,
    /// Reused between drains.
    batch: Vec<Item>,
}

#[pymethods]
impl Drain {
    fn __call__(&mut self, py: Python<'_>) {
        self.core.inbox.take(&mut self.batch);
        for item in self.batch.drain(..) {
            match item {
                Item::Job(job) => match job.request.kind {
                    RequestKind::Http => HttpCycle::spawn(py, &self.core, job),
                    RequestKind::WebSocket => WsCycle::spawn(py, &self.core, job),
                },
                Item::Wake(id) => self.core.on_wake(py, id),
                Item::Bury(grave) => drop(grave),
                Item::Stop => {
                    if let Err(err) = self.core.begin_stop(py) {
                        log_at!(Level::Error, "cannot stop the ASGI loop in order: {err}");
                        self.core.resolve_stopped(py);
                    }
                }
            }
        }
    }
}

/// `STOP_WAIT` passed with tasks still running: cancel them, and stop serving.
#[pyclass(unsendable)]
struct CancelRemaining {
    core: Rc<Core>,
}

#[pymethods]
impl CancelRemaining {
    fn __call__(&self, py: Python<'_>) {
        let cycles: Vec<Cycle> = self
            .core
            .running
            .borrow()
            .values()
            .map(|c| c.clone_ref(py))
            .collect();
        if !cycles.is_empty() {
            log_at!(
                Level::Warning,
                "cancelling {} ASGI task(s) still running after {STOP_WAIT:?}",
                cycles.len()
            );
        }
        for cycle in cycles {
            cycle.cancel(py);
        }
        self.core.resolve_stopped(py);
    }
}

/// A new event loop of the kind `--loop` asks for.
fn new_loop(py: Python<'_>, kind: EventLoop) -> Result<Bound<'_, PyAny>, String> {
    let uvloop = match kind {
        EventLoop::Asyncio => None,
        EventLoop::Uvloop => Some(py.import("uvloop").map_err(|err| {
            format!("--loop uvloop: cannot import uvloop ({err}); install it or use --loop asyncio")
        })?),
        EventLoop::Auto => py.import("uvloop").ok(),
    };
    let created = match uvloop {
        Some(uvloop) => uvloop.call_method0("new_event_loop"),
        None => py
            .import("asyncio")
            .and_then(|asyncio| asyncio.call_method0("new_event_loop")),
    };
    created.map_err(|err| format!("cannot create the event loop: {err}"))
}

/// The loop thread's body (see the module docs for the steps).
fn run(
    py: Python<'_>,
    app: Py<PyAny>,
    options: &Options,
    inbox: &Arc<Inbox>,
    ticks: &Arc<Ticks>,
    started: &std::sync::mpsc::Sender<Result<String, String>>,
) {
    let report = |result: Result<String, String>| {
        // The starting thread waits for this; it is gone only if it panicked.
        let _ = started.send(result);
    };
    // Step 1: the loop, and what every request uses.
    let event_loop = match new_loop(py, options.event_loop) {
        Ok(l) => l,
        Err(why) => return report(Err(why)),
    };
    let core = match build_core(py, app, &event_loop, options, inbox) {
        Ok(core) => Rc::new(core),
        Err(err) => {
            return report(Err(format!(
                "cannot prepare the event loop\n{}",
                super::format_exception(py, &err)
            )))
        }
    };
    let drain = Py::new(
        py,
        Drain {
            core: Rc::clone(&core),
            batch: Vec::new(),
        },
    );
    let watching = drain.and_then(|drain| {
        event_loop.call_method1(
            intern!(py, "add_reader"),
            (inbox.eventfd.as_raw_fd(), drain),
        )
    });
    if let Err(err) = watching {
        return report(Err(format!("cannot watch the eventfd: {err}")));
    }
    // Step 2: lifespan startup.
    let lifespan = match lifespan::startup(py, &core, options.lifespan) {
        Ok(lifespan) => lifespan,
        Err(why) => {
            close(py, &event_loop, inbox);
            return report(Err(why));
        }
    };
    if let Some(timeout) = options.request_timeout {
        ticks.mark();
        let check = Py::new(
            py,
            TimeoutCheck {
                core: Rc::clone(&core),
                ticks: Arc::clone(ticks),
                timeout,
            },
        )
        .and_then(|check| {
            event_loop.call_method1(
                intern!(py, "call_later"),
                (tick(timeout).as_secs_f64(), check),
            )
        });
        if let Err(err) = check {
            return report(Err(format!(
                "cannot schedule the request_timeout check: {err}"
            )));
        }
    }
    let loop_name = event_loop
        .get_type()
        .module()
        .map_or_else(|_| "asyncio".to_owned(), |m| m.to_string());
    let loop_name = if loop_name.starts_with("uvloop") {
        "uvloop"
    } else {
        "asyncio"
    };
    report(Ok(loop_name.to_owned()));
    // Step 3: serve until stopped, in a task that outlives every request: the loop's root
    // task. anyio (Starlette's and FastAPI's `def` endpoints, `run_in_threadpool`) ties its
    // worker threads to the task `run_until_complete` runs and keeps them for reuse while it
    // lives; given the bare future it found no such task, took each request's task for the
    // root, and stopped the request's worker thread when the request ended: a thread
    // created and joined per request. `wait_for(stopped, None)` is a coroutine, so
    // `run_until_complete` wraps it in that task.
    let serving = py
        .import(intern!(py, "asyncio"))
        .and_then(|asyncio| {
            asyncio.call_method1(intern!(py, "wait_for"), (core.stopped.bind(py), py.None()))
        })
        .and_then(|serve| event_loop.call_method1(intern!(py, "run_until_complete"), (serve,)));
    if let Err(err) = serving {
        log_at!(
            Level::Error,
            "the event loop stopped with an error\n{}",
            super::format_exception(py, &err)
        );
    }
    // Step 4: lifespan shutdown, then close.
    if let Some(lifespan) = lifespan {
        lifespan::shutdown(py, &core, &lifespan, options.shutdown_timeout);
    }
    close(py, &event_loop, inbox);
}

fn build_core(
    py: Python<'_>,
    app: Py<PyAny>,
    event_loop: &Bound<'_, PyAny>,
    options: &Options,
    inbox: &Arc<Inbox>,
) -> PyResult<Core> {
    py.import("asyncio")?
        .call_method1("set_event_loop", (event_loop,))?;
    let disconnected = py
        .import("ferrule.errors")?
        .getattr("ClientDisconnected")?
        .unbind();
    let stopped = event_loop.call_method0("create_future")?.unbind();
    Ok(Core {
        inbox: Arc::clone(inbox),
        app,
        event_loop: event_loop.clone().unbind(),
        create_task: event_loop.getattr("create_task")?.unbind(),
        create_future: event_loop.getattr("create_future")?.unbind(),
        scope: RefCell::new(ScopeContext::new(py, &options.root_path)?),
        state: RefCell::new(None),
        disconnected,
        ready_none: Py::new(py, Ready::new(None))?,
        running: RefCell::new(HashMap::new()),
        next_id: Cell::new(0),
        stopping: Cell::new(false),
        stopped,
    })
}

/// Stops watching the eventfd and closes the loop; failures are logged (the thread ends
/// next anyway).
fn close(py: Python<'_>, event_loop: &Bound<'_, PyAny>, inbox: &Inbox) {
    let closed = event_loop
        .call_method1(intern!(py, "remove_reader"), (inbox.eventfd.as_raw_fd(),))
        .and_then(|_| event_loop.call_method0(intern!(py, "close")));
    if let Err(err) = closed {
        log_at!(Level::Debug, "closing the event loop: {err}");
    }
}
