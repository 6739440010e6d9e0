//! The channels between `conn` and the app side, built for what a request needs and
//! nothing more: one `Link` per connection, reused by each of its requests, and one `Hub`
//! per worker runtime through which the app side wakes connection tasks.
//!
//! Why not one tokio `mpsc` and one crossbeam channel per request (the first design):
//! creating them cost ~2k instructions per request, and every wake of a task from a
//! foreign thread makes a tokio `current_thread` runtime write its eventfd, one syscall per
//! response even when the runtime is busy and would have seen the event anyway. Here the
//! app side pushes a connection's waker to the hub, and only the hub task is woken from
//! outside: while it is already scheduled (the runtime is busy), further pushes cost no
//! syscall, and the hub wakes the connection tasks from the runtime's own thread, which is
//! a local queue push. The strace of `hello` went from ~1 eventfd write per request to
//! one per runtime wake-up.
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

use crate::bridge::{BodyEvent, ResponseEvent};

/// Wakes connection tasks on behalf of threads outside the runtime. One per runtime.
#[derive(Debug, Default)]
pub struct Hub {
    wakers: Mutex<Vec<Waker>>,
    notify: Notify,
}

impl Hub {
    /// A hub with its task spawned on the current runtime (which must be running).
    pub fn start() -> Arc<Hub> {
        let hub = Arc::new(Hub::default());
        tokio::spawn(Arc::clone(&hub).run());
        hub
    }

    fn wake(&self, waker: Waker) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(waker);
        // Wakes the hub task if it waits; otherwise stores the one permit it will find
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
pub enum TrySendError {
    /// `capacity` events wait already.
    Full(ResponseEvent),
    /// The request ended: nobody receives events any more.
    Closed(ResponseEvent),
}

/// The request ended: nobody receives events (or sends body bytes) any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// One connection's channels; see the module doc.
#[derive(Debug)]
pub struct Link {
    state: Mutex<State>,
    /// The app side waits here for room among the events and for body bytes.
    app_wait: Condvar,
    hub: Arc<Hub>,
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

fn event_bytes(event: &ResponseEvent) -> usize {
    match event {
        ResponseEvent::Start { body, .. } => body.len(),
        ResponseEvent::Data(data) => data.len(),
        _ => 0,
    }
}

#[derive(Debug)]
struct State {
    generation: u64,
    /// The request of `generation` is in progress.
    open: bool,
    /// Live `EventSender`s of `generation`; at 0, `recv` ends.
    senders: usize,
    events: VecDeque<ResponseEvent>,
    /// Body bytes in `events`.
    queued_bytes: usize,
    /// The connection task waits for an event.
    conn_waker: Option<Waker>,
    body: VecDeque<BodyEvent>,
    /// An app-side thread waits on `app_wait` for room among the events.
    room_waiting: bool,
    /// An app-side thread waits on `app_wait` for a body event. Kept apart from
    /// `room_waiting` so that taking an event does not wake a body reader for nothing.
    body_waiting: bool,
}

impl Link {
    pub fn new(hub: Arc<Hub>, limits: QueueLimits) -> Arc<Link> {
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
            }),
            app_wait: Condvar::new(),
            hub,
            limits: QueueLimits {
                events: limits.events.max(1),
                bytes: limits.bytes,
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic: every update is a single step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the channels of a new request: the app side's ends.
    pub fn begin(self: &Arc<Self>) -> (EventSender, BodyReceiver) {
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
        let wake_app = std::mem::take(&mut st.room_waiting) | std::mem::take(&mut st.body_waiting);
        drop(st);
        if wake_app {
            self.app_wait.notify_all();
        }
        drop(events);
    }

    /// The next event of the request in progress; `None` when every sender is gone.
    pub async fn recv(&self) -> Option<ResponseEvent> {
        poll_fn(|cx| {
            let mut st = self.lock();
            if let Some((event, wake_app)) = self.pop(&mut st) {
                drop(st);
                if wake_app {
                    self.app_wait.notify_all();
                }
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

    /// The next event if it is body bytes already queued: `conn` gathers these into one
    /// write.
    pub fn try_recv_data(&self) -> Option<bytes::Bytes> {
        let mut st = self.lock();
        if !matches!(st.events.front(), Some(ResponseEvent::Data(_))) {
            return None;
        }
        let (event, wake_app) = self.pop(&mut st)?;
        drop(st);
        if wake_app {
            self.app_wait.notify_all();
        }
        match event {
            ResponseEvent::Data(data) => Some(data),
            _ => None,
        }
    }

    /// Takes the first event; `true` with it when a blocked producer must be woken (after
    /// the lock is released).
    fn pop(&self, st: &mut State) -> Option<(ResponseEvent, bool)> {
        let event = st.events.pop_front()?;
        st.queued_bytes -= event_bytes(&event);
        // A producer blocked on a full queue is woken once the queue has drained to half,
        // not at every event taken: waking it per event cost two futex calls and a context
        // switch per 64 KiB chunk on `big`.
        let wake = st.room_waiting
            && st.events.len() <= self.limits.events / 2
            && st.queued_bytes <= self.limits.bytes / 2;
        if wake {
            st.room_waiting = false;
        }
        Some((event, wake))
    }

    /// Hands body bytes (or the body's end) to the app side. Never blocks: `conn` bounds
    /// what it sends ahead. `Err` when the request ended.
    ///
    /// # Errors
    /// `Closed` when the request's channels are closed.
    pub fn send_body(&self, event: BodyEvent) -> Result<(), Closed> {
        let mut st = self.lock();
        if !st.open {
            return Err(Closed);
        }
        st.body.push_back(event);
        let wake_app = std::mem::take(&mut st.body_waiting);
        drop(st);
        if wake_app {
            self.app_wait.notify_all();
        }
        Ok(())
    }

    fn push_event(
        &self,
        generation: u64,
        event: ResponseEvent,
        block: bool,
    ) -> Result<(), TrySendError> {
        let mut st = self.lock();
        loop {
            if st.generation != generation || !st.open {
                return Err(TrySendError::Closed(event));
            }
            let size = event_bytes(&event);
            if st.events.is_empty()
                || (st.events.len() < self.limits.events
                    && st.queued_bytes + size <= self.limits.bytes)
            {
                st.queued_bytes += size;
                break;
            }
            if !block {
                return Err(TrySendError::Full(event));
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
            self.hub.wake(waker);
        }
        Ok(())
    }
}

/// The app side's sending end of a request's response events. Cloning counts: when the
/// last clone is dropped, `Link::recv` ends.
#[derive(Debug)]
pub struct EventSender {
    link: Arc<Link>,
    generation: u64,
}

impl EventSender {
    /// Sends without blocking.
    ///
    /// # Errors
    /// `Full` when `capacity` events wait; `Closed` when the request ended.
    pub fn try_send(&self, event: ResponseEvent) -> Result<(), TrySendError> {
        self.link.push_event(self.generation, event, false)
    }

    /// Sends, waiting for room. Must not be called on the runtime's thread.
    ///
    /// # Errors
    /// `Closed` (with the event) when the request ended.
    pub fn blocking_send(&self, event: ResponseEvent) -> Result<(), ResponseEvent> {
        match self.link.push_event(self.generation, event, true) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(ev) | TrySendError::Full(ev)) => Err(ev),
        }
    }
}

impl Clone for EventSender {
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

impl Drop for EventSender {
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
            self.link.hub.wake(waker);
        }
    }
}

/// The app side's receiving end of a request's body events.
#[derive(Debug)]
pub struct BodyReceiver {
    link: Arc<Link>,
    generation: u64,
}

impl BodyReceiver {
    /// The next body event, waiting for it. Must not be called on the runtime's thread.
    ///
    /// # Errors
    /// `Closed` when the request ended.
    pub fn recv(&self) -> Result<BodyEvent, Closed> {
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

    /// No body event waits to be taken.
    pub fn is_empty(&self) -> bool {
        self.link.lock().body.is_empty()
    }

    /// A body event already sent, if there is one.
    pub fn try_recv(&self) -> Option<BodyEvent> {
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
    use crate::bridge::AbortReason;
    use bytes::Bytes;
    use std::time::Duration;

    fn limits(events: usize) -> QueueLimits {
        QueueLimits {
            events,
            bytes: 1 << 20,
        }
    }

    fn data(s: &'static str) -> ResponseEvent {
        ResponseEvent::Data(Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test]
    async fn events_arrive_in_order_across_threads_and_recv_ends_with_the_last_sender() {
        let link = Link::new(Hub::start(), limits(2));
        let (tx, _body) = link.begin();
        let tx2 = tx.clone();
        let producer = std::thread::spawn(move || {
            for s in ["a", "b", "c", "d", "e"] {
                tx.blocking_send(data(s)).expect("open");
            }
            drop(tx);
            tx2.blocking_send(ResponseEvent::End).expect("open");
        });
        let mut got = Vec::new();
        while let Some(ev) = link.recv().await {
            got.push(match ev {
                ResponseEvent::Data(d) => String::from_utf8_lossy(&d).into_owned(),
                ResponseEvent::End => "END".to_owned(),
                other => format!("{other:?}"),
            });
        }
        producer.join().expect("producer");
        assert_eq!(got, ["a", "b", "c", "d", "e", "END"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_try_send_and_an_ended_request_refuses_everything() {
        let link = Link::new(Hub::start(), limits(1));
        let (tx, body) = link.begin();
        tx.try_send(data("x")).expect("room for one");
        assert!(matches!(tx.try_send(data("y")), Err(TrySendError::Full(_))));
        link.end();
        assert!(matches!(
            tx.try_send(ResponseEvent::Abort(AbortReason::Timeout)),
            Err(TrySendError::Closed(_))
        ));
        assert_eq!(body.recv(), Err(Closed));
        assert!(link.send_body(BodyEvent::End).is_err());
        // What was sent before the end is still read, as from a channel whose sender is
        // gone.
        let (_tx, body) = link.begin();
        link.send_body(BodyEvent::Failed(crate::bridge::BodyFailure::Timeout))
            .expect("open");
        link.end();
        assert_eq!(
            body.recv(),
            Ok(BodyEvent::Failed(crate::bridge::BodyFailure::Timeout))
        );
        assert_eq!(body.recv(), Err(Closed));
        // The next request's channels are fresh: the old sender cannot reach them.
        let (tx_next, body_next) = link.begin();
        assert!(matches!(
            tx.try_send(data("late")),
            Err(TrySendError::Closed(_))
        ));
        drop(tx);
        tx_next.try_send(data("new")).expect("open");
        link.send_body(BodyEvent::End).expect("open");
        assert_eq!(body_next.try_recv(), Some(BodyEvent::End));
        assert!(matches!(link.recv().await, Some(ResponseEvent::Data(_))));
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_but_always_lets_one_event_in() {
        let link = Link::new(
            Hub::start(),
            QueueLimits {
                events: 16,
                bytes: 100,
            },
        );
        let (tx, _body) = link.begin();
        let big = || ResponseEvent::Data(Bytes::from(vec![b'x'; 150]));
        tx.try_send(big()).expect("an empty queue takes any event");
        assert!(matches!(tx.try_send(data("y")), Err(TrySendError::Full(_))));
        assert!(link.try_recv_data().is_some());
        tx.try_send(data("60 bytes would fit; this is 2"))
            .expect("room");
        tx.try_send(ResponseEvent::End).expect("no bytes");
        // Gathering takes body bytes only, never the end.
        assert!(link.try_recv_data().is_some());
        assert!(link.try_recv_data().is_none());
        assert!(matches!(link.recv().await, Some(ResponseEvent::End)));
    }

    #[tokio::test]
    async fn end_wakes_an_app_thread_blocked_on_the_body_or_on_room() {
        let link = Link::new(Hub::start(), limits(1));
        let (tx, body) = link.begin();
        tx.try_send(data("fill")).expect("room");
        let t1 = std::thread::spawn(move || body.recv());
        let t2 = std::thread::spawn(move || tx.blocking_send(data("blocked")).is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        link.end();
        assert_eq!(t1.join().expect("t1"), Err(Closed));
        assert!(t2.join().expect("t2"));
    }
}
