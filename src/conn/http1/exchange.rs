//! One request/response exchange on a connection: a static file is served on the spot
//! (`static_file`); any other request is admitted and handed to the
//! app side (`conn::dispatch`), then pumped: answer the app's body demands
//! (`request_body`), write the response as its events arrive (`output`), answer a body
//! that broke through the client's fault with the client's status (400/408/413, not the
//! 500 the app would make of its failed read), then drain the unread body and write the
//! access record.

use tokio::time::{sleep_until, Instant};

use super::output::Output;
use super::request_body::RequestBody;
use super::static_file;
use super::{CloseReason, Connection, Ended, Persistence};
use crate::bridge::{AbortReason, Handler, RequestKind, ResponseEvent};
use crate::conn::access::AccessStart;
use crate::conn::dispatch;
use crate::conn::respond::{self, Page};
use crate::conn::{ConnError, Transport};
use crate::http::RequestHead;
use crate::log::Level;
use crate::metrics;
use crate::proxy::Forwarded;
use crate::relay::QueueLimits;

/// Response that may wait between the app and the socket (see `relay::QueueLimits`).
/// 1 MiB: `big` (16 x 64 KiB) goes out in one writev, as fastwsgi's does, which took its
/// kernel time per response from ~230 to ~150 us; the bytes are mostly the app's own
/// objects, shared, not copies. 16 events: gathers small chunks of a generator.
pub(in crate::conn) const RESPONSE_QUEUE: QueueLimits = QueueLimits {
    events: 16,
    bytes: 1024 * 1024,
};

/// Serves one request whose head has been read, and says how it left the connection.
pub(super) async fn run<T: Transport, H: Handler>(
    conn: &mut Connection<T>,
    head: RequestHead,
    forwarded: Option<Box<Forwarded>>,
    handler: &H,
) -> Result<Ended, ConnError> {
    let access = AccessStart::take(&head).map(|start| (start, forwarded.clone()));
    let method = metrics::MethodClass::of(head.method());
    if let Some(routed) = conn.ctx.statics.mounts.route(&head) {
        let received = std::time::Instant::now();
        let mut ex = Exchange::new(&head, conn);
        if let Some(result) = static_file::serve(&mut ex, &head, routed).await {
            return ex
                .close_out(result, access.as_ref(), method, received)
                .await;
        }
    }
    let admitted = dispatch::admit(&conn.ctx, &conn.link).await;
    let received = admitted.received;
    let mut ex = Exchange::new(&head, conn);
    ex.body.send_buffered(ex.conn);
    let info = std::sync::Arc::clone(&ex.conn.info);
    if let Err(page) = admitted.hand_over(handler, RequestKind::Http, head, forwarded, &info) {
        ex.conn.link.end();
        let answered = ex.answer(&page, CloseReason::Failure).await;
        ex.record(None, method, received);
        answered?;
        return Ok(ex.ended());
    }
    let result = ex.pump().await;
    // Closing the channels tells the app side that nobody listens any more: its next
    // send fails and it stops iterating (and calls close()).
    ex.conn.link.end();
    ex.close_out(result, access.as_ref(), method, received)
        .await
}

/// The state of one exchange: the connection it runs on, the request body side, the
/// response side, and whether the connection persists after it.
pub(super) struct Exchange<'a, T> {
    pub(super) conn: &'a mut Connection<T>,
    pub(super) body: RequestBody,
    pub(super) output: Output,
    pub(super) persistence: Persistence,
}

impl<'a, T: Transport> Exchange<'a, T> {
    fn new(head: &RequestHead, conn: &'a mut Connection<T>) -> Self {
        Exchange {
            body: RequestBody::new(head, &conn.ctx),
            output: Output::new(head, conn),
            persistence: Persistence::for_head(head),
            conn,
        }
    }

    /// After the response: drains what is left of the request body (or decides to close)
    /// and writes the access record.
    async fn close_out(
        &mut self,
        result: Result<(), ConnError>,
        access: Option<&(AccessStart, Option<Box<Forwarded>>)>,
        method: metrics::MethodClass,
        received: std::time::Instant,
    ) -> Result<Ended, ConnError> {
        if let Err(err) = result {
            self.record(access, method, received);
            return Err(err);
        }
        if self.persistence.is_keep_alive() && !self.body.drain(self.conn).await {
            self.persistence.close(CloseReason::UnreadBody);
        }
        self.record(access, method, received);
        Ok(self.ended())
    }

    fn ended(&self) -> Ended {
        Ended {
            persistence: self.persistence,
            client_may_send: !self.persistence.is_keep_alive()
                && (!self.body.is_done() || !self.conn.buf.is_empty()),
        }
    }

    /// Runs until the app's response is complete (or failed).
    async fn pump(&mut self) -> Result<(), ConnError> {
        loop {
            let wanted_until = self.body.wanted_until();
            let reading = self.body.reads_socket();
            let Connection {
                stream, buf, link, ..
            } = &mut *self.conn;
            tokio::select! {
                ev = link.recv() => {
                    if self.on_event(ev).await? {
                        return Ok(());
                    }
                }
                read = tokio::io::AsyncReadExt::read_buf(stream, buf), if reading => {
                    self.body.on_read(self.conn, read, &mut self.persistence);
                }
                () = sleep_until(wanted_until.unwrap_or_else(Instant::now)), if wanted_until.is_some() => {
                    self.body.on_timeout(self.conn, &mut self.persistence);
                }
            }
            if let Some(page) = self.body.take_rejection() {
                // Once the head is out, the status cannot change: the connection just
                // closes after the app's response.
                if !self.output.is_started() {
                    self.answer(&page, CloseReason::BrokenBody).await?;
                    return Ok(());
                }
            }
        }
    }

    /// Handles one event from the app side; `true` when the response is complete.
    async fn on_event(&mut self, event: Option<ResponseEvent>) -> Result<bool, ConnError> {
        match event {
            Some(ResponseEvent::NeedBody) => {
                let started = self.output.is_started();
                self.body
                    .on_need_body(self.conn, started, &mut self.persistence)
                    .await?;
                Ok(false)
            }
            Some(ResponseEvent::Start { head, body, end }) => {
                self.settle_persistence();
                self.output.on_start(head, body, &mut self.persistence)?;
                if end {
                    self.output.finish(self.conn, &mut self.persistence).await?;
                    return Ok(true);
                }
                self.output.gather_and_flush(self.conn).await?;
                Ok(false)
            }
            Some(ResponseEvent::Data(data)) => {
                self.output.on_data(data)?;
                self.output.gather_and_flush(self.conn).await?;
                Ok(false)
            }
            Some(ResponseEvent::File(file)) => {
                self.output.on_file(self.conn, file).await?;
                Ok(false)
            }
            Some(ResponseEvent::End) => {
                self.output.finish(self.conn, &mut self.persistence).await?;
                Ok(true)
            }
            Some(ResponseEvent::Trailers(fields)) => {
                self.output
                    .finish_with(self.conn, &mut self.persistence, Some(&fields))
                    .await?;
                Ok(true)
            }
            Some(ResponseEvent::EarlyHints(links)) => {
                // RFC 8297: an interim response, for HTTP/1.1 clients, before the head.
                if !self.output.is_started() && self.output.is_http11() {
                    respond::write_early_hints(&mut self.conn.stream, &self.conn.ctx, &links)
                        .await?;
                }
                Ok(false)
            }
            Some(ResponseEvent::Abort(reason)) => {
                self.on_abort(&reason).await?;
                Ok(true)
            }
            Some(
                ResponseEvent::WsAccept(_)
                | ResponseEvent::WsSend(_)
                | ResponseEvent::WsClose { .. },
            ) => {
                // WebSocket events belong to `conn::websocket`, never to an HTTP exchange.
                log_at!(
                    Level::Error,
                    "app side sent a WebSocket event for an HTTP request"
                );
                self.on_abort(&AbortReason::Internal).await?;
                Ok(true)
            }
            None => {
                // The app side vanished without ending the response: a bug in the server,
                // contained to this request.
                log_at!(
                    Level::Error,
                    "response channel closed before the response ended"
                );
                self.on_abort(&AbortReason::Internal).await?;
                Ok(true)
            }
        }
    }

    /// Closes after this response when the worker stops, or when the request body stands
    /// in the way (see `RequestBody::prevents_keep_alive`). Called before a head is
    /// written: the head says what was decided.
    pub(super) fn settle_persistence(&mut self) {
        if self.conn.is_shutting_down() {
            self.persistence.close(CloseReason::Shutdown);
        }
        if self.body.prevents_keep_alive() {
            self.persistence.close(CloseReason::UnreadBody);
        }
    }

    /// The app side gave up. Before the head: the server's page (500, or 504 after
    /// `request_timeout`); an app error keeps the connection (its request was fine), the
    /// other causes close it. After the head: the response is cut and the connection
    /// closes.
    async fn on_abort(&mut self, reason: &AbortReason) -> Result<(), ConnError> {
        if *reason == AbortReason::AppError {
            metrics::stats().app_error();
        }
        if self.output.is_started() {
            self.persistence.close(CloseReason::Failure);
            log_at!(
                Level::Debug,
                "response aborted after its head was sent ({reason:?}); closing"
            );
            return Ok(());
        }
        match reason {
            AbortReason::AppError => self.answer_keeping(&Page::AppFailed).await,
            AbortReason::Internal => self.answer(&Page::AppFailed, CloseReason::Failure).await,
            AbortReason::Timeout => self.answer(&Page::AppTimeout, CloseReason::Failure).await,
            AbortReason::Rejected(err) => {
                self.answer(&Page::Rejected(err.clone()), CloseReason::Failure)
                    .await
            }
        }
    }

    /// Answers with `page`, keeping the connection when nothing else stands in the way
    /// (the request itself was fine: a 404, a 412).
    pub(super) async fn answer_keeping(&mut self, page: &Page) -> Result<(), ConnError> {
        self.settle_persistence();
        self.output
            .write_page(self.conn, page, self.persistence)
            .await
    }

    /// Answers with `page` and closes the connection for `reason`.
    async fn answer(&mut self, page: &Page, reason: CloseReason) -> Result<(), ConnError> {
        self.persistence.close(reason);
        self.output
            .write_page(self.conn, page, self.persistence)
            .await
    }

    /// The request's metrics and its access record.
    fn record(
        &self,
        access: Option<&(AccessStart, Option<Box<Forwarded>>)>,
        method: metrics::MethodClass,
        received: std::time::Instant,
    ) {
        let (status, body_bytes, headers) = self.output.record();
        metrics::stats().request_finished(method, status, received.elapsed());
        if let Some((access, forwarded)) = access {
            let (remote, peer) = self.conn.access_addresses(forwarded.as_deref());
            access.write(&remote, &peer, status, body_bytes, headers);
        }
    }
}
