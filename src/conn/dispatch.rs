//! Hands one request to the app side, whatever protocol it came in on: `admit` takes a
//! request permit (the worker's backpressure: requests with the app side are bounded) and
//! opens the request's channels on the connection's `Link`; `Admitted::hand_over` gives the
//! `Job` to the `Handler`. HTTP/1.1 calls these per request today; an HTTP/2 stream will
//! call them per stream.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use super::respond::Page;
use super::ConnContext;
use crate::bridge::{
    BodyReceiver, ConnInfo, EventSender, Handler, Job, Link, Request, RequestKind,
};
use crate::http::RequestHead;
use crate::proxy::Forwarded;

/// A request admitted to the app side, not yet handed over. Body events may be sent on the
/// link already (the bytes that came with the head).
pub(super) struct Admitted {
    /// When `admit` was called, right after the head was read: the start of the
    /// request's duration and of its queue time.
    pub received: Instant,
    permit: OwnedSemaphorePermit,
    events: EventSender,
    body: BodyReceiver,
}

/// Waits for a request permit, then opens the request's channels on `link`.
pub(super) async fn admit(ctx: &ConnContext, link: &Arc<Link>) -> Admitted {
    let received = Instant::now();
    let permit = Arc::clone(&ctx.request_permits)
        .acquire_owned()
        .await
        .expect("the request semaphore is never closed");
    let (events, body) = link.begin();
    crate::metrics::stats().request_admitted();
    Admitted {
        received,
        permit,
        events,
        body,
    }
}

impl Admitted {
    /// Gives the job to `handler`.
    ///
    /// # Errors
    /// `Page::ShuttingDown` when the handler no longer runs jobs (the caller ends the link
    /// and answers with it).
    pub(super) fn hand_over<H: Handler>(
        self,
        handler: &H,
        kind: RequestKind,
        head: RequestHead,
        forwarded: Option<Box<Forwarded>>,
        conn: &Arc<ConnInfo>,
    ) -> Result<(), Page> {
        let job = Job {
            request: Request {
                kind,
                head,
                conn: Arc::clone(conn),
                forwarded,
                body: self.body,
                events: self.events,
            },
            permit: self.permit,
            received: self.received,
        };
        handler.dispatch(job).map_err(|_| Page::ShuttingDown)
    }
}
