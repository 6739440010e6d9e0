//! The events one request sends to `conn`, in order, from the loop thread: what the queue
//! does not take now waits here, and the request's waker (made on first need) is woken
//! when the queue has room again. Shared by HTTP requests and WebSockets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use super::event_loop::{self, Inbox};
use crate::bridge::{EventSender, ResponseEvent, TrySendError};

/// What flushing did.
pub(crate) enum Flush {
    Sent,
    /// The queue is full; the waker is registered.
    Waiting,
    /// The request's channels are closed: the client is gone (or the request ended).
    Gone,
}

/// See the module docs.
pub(crate) struct Outbox {
    pub(crate) events: EventSender,
    queue: VecDeque<ResponseEvent>,
    /// Made on the first wait.
    waker: Option<Waker>,
    inbox: Arc<Inbox>,
    id: u64,
}

impl Outbox {
    pub(crate) fn new(events: EventSender, inbox: Arc<Inbox>, id: u64) -> Outbox {
        Outbox {
            events,
            queue: VecDeque::new(),
            waker: None,
            inbox,
            id,
        }
    }

    /// The request's waker (its wakes reach `on_wake` of request `id`).
    pub(crate) fn waker(&mut self) -> Waker {
        self.waker
            .get_or_insert_with(|| event_loop::waker(&self.inbox, self.id))
            .clone()
    }

    pub(crate) fn push(&mut self, event: ResponseEvent) {
        self.queue.push_back(event);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Hands queued events to `conn`, in order.
    pub(crate) fn flush(&mut self) -> Flush {
        while let Some(event) = self.queue.pop_front() {
            let sent = match self.events.try_send(event) {
                Err(TrySendError::Full(event)) => {
                    let waker = self.waker();
                    self.events.try_send_or_wake(event, &waker)
                }
                other => other,
            };
            match sent {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.queue.push_front(event);
                    return Flush::Waiting;
                }
                Err(TrySendError::Closed(_)) => {
                    self.queue.clear();
                    return Flush::Gone;
                }
            }
        }
        Flush::Sent
    }
}
