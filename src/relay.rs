//! The channels between `conn` and the app side, built for what a request needs and
//! nothing more: one `Link` per connection, reused by each of its requests, and one
//! `LoopWaker` per worker runtime through which the app side wakes connection tasks.
//! Generic over the two event types (`bridge` names them), so this module knows queues and
//! wake-ups only: no HTTP, no Python.
//!
//! Why not one tokio `mpsc` and one crossbeam channel per request (the first design):
//! creating them cost ~2k instructions per request, and every wake of a task from a
//! foreign thread makes a tokio `current_thread` runtime write its eventfd, one syscall per
//! response even when the runtime is busy and would have seen the event anyway. Here the
//! app side pushes a connection's waker to the `LoopWaker`, and only its task is woken from
//! outside: while it is already scheduled (the runtime is busy), further pushes cost no
//! syscall, and it wakes the connection tasks from the runtime's own thread, which is
//! a local queue push. The strace of `hello` went from ~1 eventfd write per request to
//! one per runtime wake-up.
//!
//! The app side waits in one of two ways: a thread blocks on the link's `Condvar`
//! (`blocking_send`, `BodyReceiver::recv`: the WSGI threads), or an event loop registers a
//! `Waker` and gets on with other work (`try_send_or_wake`, `BodyReceiver::poll_recv`: the
//! ASGI loop), woken from the connection's side exactly where a blocked thread would be.
//!
//! A `Link` carries a generation: `begin` starts a request's channels, `end` closes them.
//! Senders and receivers of an ended request behave as those of a dropped channel (sends
//! fail, receives end), so a late event (a watchdog's abort, a thread that outlived its
//! request) can never reach the next request on the connection.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use tokio::sync::Notify;

/// What `Link` needs to know of the events it queues.
pub trait Event: Send + 'static {
    /// Bytes this event counts against `QueueLimits::bytes` (a body piece's length).
    fn queued_bytes(&self) -> usize;
}

/// Wakes connection tasks on behalf of threads outside the runtime. One per runtime.
#[derive(Debug, Default)]
pub struct LoopWaker {
    wakers: Mutex<Vec<Waker>>,
    notify: Notify,
}

impl LoopWaker {
    /// A waker with its task spawned on the current runtime (which must be running).
    pub fn start() -> Arc<LoopWaker> {
        let waker = Arc::new(LoopWaker::default());
        tokio::spawn(Arc::clone(&waker).run());
        waker
    }

    fn wake(&self, waker: Waker) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(waker);
        // Wakes our task if it waits; otherwise stores the one permit it will find
        // (no syscall).
        self.notify.notify_one();
    }

    async fn run(self: Arc<Self>) {
        let mut batch = Vec::new();
        loop {
            self.notify.notified().await;
            std::mem::swap(
                &mut batch,
                &mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner),
            );
            for waker in batch.drain(..) {
                waker.wake();
            }
        }
    }
}

/// The channel error of `try_send`, with the event given back.
#[derive(Debug)]
pub enum TrySendError<E> {
    /// The queue is at one of its bounds.
    Full(E),
    /// The request ended: nobody receives events any more.
    Closed(E),
}

/// The request ended: nobody receives events (or sends body bytes) any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// One connection's channels; see the module doc. `E` flows from the app side to `conn`
/// (response events), `B` from `conn` to the app side (request body events).
#[derive(Debug)]
pub struct Link<E, B> {
    state: Mutex<State<E, B>>,
    /// The app side waits here for room among the events and for body bytes.
    app_wait: Condvar,
    waker: Arc<LoopWaker>,
    limits: QueueLimits,
}

/// How much response may wait between the app and the socket: a producer blocks when
/// either bound is reached (one event is always let in, however large). Bounded in bytes
/// so that a slow client holds back the app instead of queueing its output; as many as a
/// few events so that `conn` can write them in one `writev`.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub events: usize,
    pub bytes: usize,
}

#[derive(Debug)]
struct State<E, B> {
    generation: u64,
    /// The request of `generation` is in progress.
    open: bool,
    /// Live `EventSender`s of `generation`; at 0, `recv` ends.
    senders: usize,
    events: VecDeque<E>,
    /// Body bytes in `events`.
    queued_bytes: usize,
    /// The connection task waits for an event.
    conn_waker: Option<Waker>,
    body: VecDeque<B>,
    /// An app-side thread waits on `app_wait` for room among the events.
    room_waiting: bool,
    /// An app-side thread waits on `app_wait` for a body event. Kept apart from
    /// `room_waiting` so that taking an event does not wake a body reader for nothing.
    body_waiting: bool,
    /// An event loop waits for room among the events (`try_send_or_wake`); woken with
    /// `room_waiting`'s rule.
    room_waker: Option<Waker>,
    /// An event loop waits for a body event (`BodyReceiver::poll_recv`).
    body_waker: Option<Waker>,
}

/// Wakers of app-side tasks, taken under the lock and woken after it is released.
#[derive(Default)]
struct AppWakers {
    /// Threads wait on the condvar.
    threads: bool,
    tasks: [Option<Waker>; 2],
}

impl AppWakers {
    fn wake<E, B>(self, link: &Link<E, B>) {
        if self.threads {
            link.app_wait.notify_all();
        }
        for waker in self.tasks.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// How `push_event` waits when the queue is full.
#[derive(Clone, Copy)]
enum Wait<'a> {
    /// It does not: `Full`.
    No,
    /// The thread blocks until there is room.
    Block,
    /// `Full`, and the waker is woken when there is room.
    Wake(&'a Waker),
}

impl<E, B> Link<E, B> {
    fn lock(&self) -> MutexGuard<'_, State<E, B>> {
        // The state stays consistent across a panic: every update is a single step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<E: Event, B: Send + 'static> Link<E, B> {
    pub fn new(waker: Arc<LoopWaker>, limits: QueueLimits) -> Arc<Self> {
        Arc::new(Link {
            state: Mutex::new(State {
                generation: 0,
                open: false,
                senders: 0,
                // Allocated on first use: an idle keep-alive connection holds none.
                events: VecDeque::new(),
                queued_bytes: 0,
                conn_waker: None,
                body: VecDeque::new(),
                room_waiting: false,
                body_waiting: false,
                room_waker: None,
                body_waker: None,
            }),
            app_wait: Condvar::new(),
            waker,
            limits: QueueLimits {
                events: limits.events.max(1),
                bytes: limits.bytes,
            },
        })
    }

    /// Opens the channels of a new request: the app side's ends.
    pub fn begin(self: &Arc<Self>) -> (EventSender<E, B>, BodyReceiver<E, B>) {
        let mut st = self.lock();
        st.generation += 1;
        st.open = true;
        st.senders = 1;
        st.body.clear();
        let generation = st.generation;
        drop(st);
        (
            EventSender {
                link: Arc::clone(self),
                generation,
            },
            BodyReceiver {
                link: Arc::clone(self),
                generation,
            },
        )
    }

    /// Closes the request's channels: later sends fail, waiting app threads wake up, and
    /// events nobody will read are dropped (after the lock is released: dropping an event
    /// may close a file). Body events already sent stay readable, as in a channel whose
    /// sender is dropped: a `Failed` sent just before the end still reaches the app.
    pub fn end(&self) {
        let mut st = self.lock();
        st.open = false;
        st.senders = 0;
        st.conn_waker = None;
        let events = std::mem::take(&mut st.events);
        st.queued_bytes = 0;
        let wake = AppWakers {
            threads: std::mem::take(&mut st.room_waiting) | std::mem::take(&mut st.body_waiting),
            tasks: [st.room_waker.take(), st.body_waker.take()],
        };
        drop(st);
        wake.wake(self);
        drop(events);
    }

    /// The next event of the request in progress; `None` when every sender is gone.
    pub async fn recv(&self) -> Option<E> {
        poll_fn(|cx| {
            let mut st = self.lock();
            if let Some((event, wake)) = self.pop(&mut st) {
                drop(st);
                wake.wake(self);
                return Poll::Ready(Some(event));
            }
            if !st.open || st.senders == 0 {
                return Poll::Ready(None);
            }
            match &st.conn_waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.conn_waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// The next event, if one is queued and `wanted` accepts it: `conn` gathers queued body
    /// pieces into one write this way.
    pub fn try_recv_if(&self, wanted: impl FnOnce(&E) -> bool) -> Option<E> {
        let mut st = self.lock();
        if !st.events.front().is_some_and(wanted) {
            return None;
        }
        let (event, wake) = self.pop(&mut st)?;
        drop(st);
        wake.wake(self);
        Some(event)
    }

    /// Takes the first event, with the producers to wake (after the lock is released).
    fn pop(&self, st: &mut State<E, B>) -> Option<(E, AppWakers)> {
        let event = st.events.pop_front()?;
        st.queued_bytes -= event.queued_bytes();
        // A producer blocked on a full queue is woken once the queue has drained to half,
        // not at every event taken: waking it per event cost two futex calls and a context
        // switch per 64 KiB chunk on `big`.
        let mut wake = AppWakers::default();
        let room =
            st.events.len() <= self.limits.events / 2 && st.queued_bytes <= self.limits.bytes / 2;
        if room {
            wake.threads = std::mem::take(&mut st.room_waiting);
            wake.tasks[0] = st.room_waker.take();
        }
        Some((event, wake))
    }

    /// Hands body bytes (or the body's end) to the app side. Never blocks: `conn` bounds
    /// what it sends ahead. `Err` when the request ended.
    ///
    /// # Errors
    /// `Closed` when the request's channels are closed.
    pub fn send_body(&self, event: B) -> Result<(), Closed> {
        let mut st = self.lock();
        if !st.open {
            return Err(Closed);
        }
        st.body.push_back(event);
        let wake = AppWakers {
            threads: std::mem::take(&mut st.body_waiting),
            tasks: [st.body_waker.take(), None],
        };
        drop(st);
        wake.wake(self);
        Ok(())
    }

    fn push_event(&self, generation: u64, event: E, wait: Wait<'_>) -> Result<(), TrySendError<E>> {
        let mut st = self.lock();
        loop {
            if st.generation != generation || !st.open {
                return Err(TrySendError::Closed(event));
            }
            let size = event.queued_bytes();
            if st.events.is_empty()
                || (st.events.len() < self.limits.events
                    && st.queued_bytes + size <= self.limits.bytes)
            {
                st.queued_bytes += size;
                break;
            }
            match wait {
                Wait::No => return Err(TrySendError::Full(event)),
                Wait::Wake(waker) => {
                    st.room_waker = Some(waker.clone());
                    return Err(TrySendError::Full(event));
                }
                Wait::Block => {}
            }
            st.room_waiting = true;
            st = self
                .app_wait
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        st.events.push_back(event);
        let waker = st.conn_waker.take();
        drop(st);
        if let Some(waker) = waker {
            self.waker.wake(waker);
        }
        Ok(())
    }
}

/// The app side's sending end of a request's response events. Cloning counts: when the
/// last clone is dropped, `Link::recv` ends.
#[derive(Debug)]
pub struct EventSender<E, B> {
    link: Arc<Link<E, B>>,
    generation: u64,
}

impl<E: Event, B: Send + 'static> EventSender<E, B> {
    /// Sends without blocking.
    ///
    /// # Errors
    /// `Full` when `capacity` events wait; `Closed` when the request ended.
    pub fn try_send(&self, event: E) -> Result<(), TrySendError<E>> {
        self.link.push_event(self.generation, event, Wait::No)
    }

    /// Sends without blocking; when the queue is full the event comes back and `waker` is
    /// woken once there is room (or the request ended). For app sides on an event loop.
    ///
    /// # Errors
    /// `Full` (the waker is registered) or `Closed`, with the event.
    pub fn try_send_or_wake(&self, event: E, waker: &Waker) -> Result<(), TrySendError<E>> {
        self.link
            .push_event(self.generation, event, Wait::Wake(waker))
    }

    /// The request these channels belong to is still in progress.
    pub fn is_open(&self) -> bool {
        let st = self.link.lock();
        st.generation == self.generation && st.open
    }

    /// Sends, waiting for room. Must not be called on the runtime's thread.
    ///
    /// # Errors
    /// `Closed` (with the event) when the request ended.
    pub fn blocking_send(&self, event: E) -> Result<(), E> {
        match self.link.push_event(self.generation, event, Wait::Block) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(ev) | TrySendError::Full(ev)) => Err(ev),
        }
    }
}

impl<E: Event, B: Send + 'static> Clone for EventSender<E, B> {
    fn clone(&self) -> Self {
        let mut st = self.link.lock();
        if st.generation == self.generation && st.open {
            st.senders += 1;
        }
        drop(st);
        EventSender {
            link: Arc::clone(&self.link),
            generation: self.generation,
        }
    }
}

impl<E, B> Drop for EventSender<E, B> {
    fn drop(&mut self) {
        let mut st = self.link.lock();
        if st.generation != self.generation || !st.open {
            return;
        }
        st.senders = st.senders.saturating_sub(1);
        let waker = if st.senders == 0 {
            st.conn_waker.take()
        } else {
            None
        };
        drop(st);
        if let Some(waker) = waker {
            self.link.waker.wake(waker);
        }
    }
}

/// The app side's receiving end of a request's body events.
#[derive(Debug)]
pub struct BodyReceiver<E, B> {
    link: Arc<Link<E, B>>,
    generation: u64,
}

impl<E: Event, B: Send + 'static> BodyReceiver<E, B> {
    /// The next body event, waiting for it. Must not be called on the runtime's thread.
    ///
    /// # Errors
    /// `Closed` when the request ended.
    pub fn recv(&self) -> Result<B, Closed> {
        let mut st = self.link.lock();
        loop {
            if st.generation != self.generation {
                return Err(Closed);
            }
            if let Some(event) = st.body.pop_front() {
                return Ok(event);
            }
            if !st.open {
                return Err(Closed);
            }
            st.body_waiting = true;
            st = self
                .link
                .app_wait
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next body event, or `Pending` with `waker` registered to be woken when one is
    /// sent or the request ends. For app sides on an event loop.
    pub fn poll_recv(&self, waker: &Waker) -> Poll<Result<B, Closed>> {
        let mut st = self.link.lock();
        if st.generation != self.generation {
            return Poll::Ready(Err(Closed));
        }
        if let Some(event) = st.body.pop_front() {
            return Poll::Ready(Ok(event));
        }
        if !st.open {
            return Poll::Ready(Err(Closed));
        }
        match &st.body_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => st.body_waker = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// No body event waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.link.lock().body.is_empty()
    }

    /// A body event already sent, if there is one.
    pub fn try_recv(&self) -> Option<B> {
        let mut st = self.link.lock();
        if st.generation != self.generation {
            return None;
        }
        st.body.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    /// Response-like events for these tests: only body pieces count bytes.
    #[derive(Debug)]
    enum Ev {
        Data(Bytes),
        End,
        Abort,
    }

    impl Event for Ev {
        fn queued_bytes(&self) -> usize {
            match self {
                Ev::Data(d) => d.len(),
                Ev::End | Ev::Abort => 0,
            }
        }
    }

    /// Body-like events.
    #[derive(Debug, PartialEq, Eq)]
    enum Body {
        End,
        Failed,
    }

    type TestLink = Link<Ev, Body>;

    fn limits(events: usize) -> QueueLimits {
        QueueLimits {
            events,
            bytes: 1 << 20,
        }
    }

    fn data(s: &'static str) -> Ev {
        Ev::Data(Bytes::from_static(s.as_bytes()))
    }

    fn is_data(ev: &Ev) -> bool {
        matches!(ev, Ev::Data(_))
    }

    #[tokio::test]
    async fn events_arrive_in_order_across_threads_and_recv_ends_with_the_last_sender() {
        let link = TestLink::new(LoopWaker::start(), limits(2));
        let (tx, _body) = link.begin();
        let tx2 = tx.clone();
        let producer = std::thread::spawn(move || {
            for s in ["a", "b", "c", "d", "e"] {
                tx.blocking_send(data(s)).expect("open");
            }
            drop(tx);
            tx2.blocking_send(Ev::End).expect("open");
        });
        let mut got = Vec::new();
        while let Some(ev) = link.recv().await {
            got.push(match ev {
                Ev::Data(d) => String::from_utf8_lossy(&d).into_owned(),
                Ev::End => "END".to_owned(),
                Ev::Abort => "ABORT".to_owned(),
            });
        }
        producer.join().expect("producer");
        assert_eq!(got, ["a", "b", "c", "d", "e", "END"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_try_send_and_an_ended_request_refuses_everything() {
        let link = TestLink::new(LoopWaker::start(), limits(1));
        let (tx, body) = link.begin();
        tx.try_send(data("x")).expect("room for one");
        assert!(matches!(tx.try_send(data("y")), Err(TrySendError::Full(_))));
        link.end();
        assert!(matches!(
            tx.try_send(Ev::Abort),
            Err(TrySendError::Closed(_))
        ));
        assert_eq!(body.recv(), Err(Closed));
        assert!(link.send_body(Body::End).is_err());
        // What was sent before the end is still read, as from a channel whose sender is
        // gone.
        let (_tx, body) = link.begin();
        link.send_body(Body::Failed).expect("open");
        link.end();
        assert_eq!(body.recv(), Ok(Body::Failed));
        assert_eq!(body.recv(), Err(Closed));
        // The next request's channels are fresh: the old sender cannot reach them.
        let (tx_next, body_next) = link.begin();
        assert!(matches!(
            tx.try_send(data("late")),
            Err(TrySendError::Closed(_))
        ));
        drop(tx);
        tx_next.try_send(data("new")).expect("open");
        link.send_body(Body::End).expect("open");
        assert_eq!(body_next.try_recv(), Some(Body::End));
        assert!(matches!(link.recv().await, Some(Ev::Data(_))));
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_but_always_lets_one_event_in() {
        let link = TestLink::new(
            LoopWaker::start(),
            QueueLimits {
                events: 16,
                bytes: 100,
            },
        );
        let (tx, _body) = link.begin();
        let big = || Ev::Data(Bytes::from(vec![b'x'; 150]));
        tx.try_send(big()).expect("an empty queue takes any event");
        assert!(matches!(tx.try_send(data("y")), Err(TrySendError::Full(_))));
        assert!(link.try_recv_if(is_data).is_some());
        tx.try_send(data("60 bytes would fit; this is 2"))
            .expect("room");
        tx.try_send(Ev::End).expect("no bytes");
        // Gathering takes what the predicate accepts only, never the end.
        assert!(link.try_recv_if(is_data).is_some());
        assert!(link.try_recv_if(is_data).is_none());
        assert!(matches!(link.recv().await, Some(Ev::End)));
    }

    #[tokio::test]
    async fn end_wakes_an_app_thread_blocked_on_the_body_or_on_room() {
        let link = TestLink::new(LoopWaker::start(), limits(1));
        let (tx, body) = link.begin();
        tx.try_send(data("fill")).expect("room");
        let t1 = std::thread::spawn(move || body.recv());
        let t2 = std::thread::spawn(move || tx.blocking_send(data("blocked")).is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        link.end();
        assert_eq!(t1.join().expect("t1"), Err(Closed));
        assert!(t2.join().expect("t2"));
    }

    /// Counts its wakes: what an event loop's waker would do.
    #[derive(Default)]
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl CountingWaker {
        fn count(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn an_event_loop_side_is_woken_for_body_events_room_and_the_end() {
        let link = TestLink::new(LoopWaker::start(), limits(2));
        let (tx, body) = link.begin();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        // A body event wakes a registered receiver once, and is then taken.
        assert!(body.poll_recv(&waker).is_pending());
        link.send_body(Body::End).expect("open");
        assert_eq!(counter.count(), 1);
        assert_eq!(body.poll_recv(&waker), Poll::Ready(Ok(Body::End)));
        // A full queue hands the event back and wakes the sender when it has drained to
        // half, not before.
        tx.try_send_or_wake(data("a"), &waker).expect("room");
        tx.try_send_or_wake(data("b"), &waker).expect("room");
        assert!(matches!(
            tx.try_send_or_wake(data("c"), &waker),
            Err(TrySendError::Full(_))
        ));
        assert!(link.try_recv_if(is_data).is_some());
        assert_eq!(counter.count(), 2);
        // The end wakes a waiting receiver, which then sees the request closed.
        assert!(body.poll_recv(&waker).is_pending());
        assert!(tx.is_open());
        link.end();
        assert_eq!(counter.count(), 3);
        assert!(!tx.is_open());
        assert_eq!(body.poll_recv(&waker), Poll::Ready(Err(Closed)));
    }
}
