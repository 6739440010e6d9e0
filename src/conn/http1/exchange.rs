//! One request/response exchange on a connection: admit the request and hand it to the
//! app side (`conn::dispatch`), then pump: answer the app's body demands
//! (`request_body`), write the response as its events arrive (`output`), answer a body
//! that broke through the client's fault with the client's status (400/408/413, not the
//! 500 the app would make of its failed read), then drain the unread body and write the
//! access record.

use tokio::time::{sleep_until, Instant};

use super::output::Output;
use super::request_body::RequestBody;
use super::{CloseReason, Connection, Ended, Persistence};
use crate::bridge::{AbortReason, Handler, RequestKind, ResponseEvent};
use crate::conn::access::AccessStart;
use crate::conn::dispatch;
use crate::conn::respond::{self, Page};
use crate::conn::{ConnError, Transport};
use crate::http::RequestHead;
use crate::log::Level;
use crate::relay::QueueLimits;

/// Response that may wait between the app and the socket (see `relay::QueueLimits`).
/// 1 MiB: `big` (16 x 64 KiB) goes out in one writev, as fastwsgi's does, which took its
/// kernel time per response from ~230 to ~150 us; the bytes are mostly the app's own
/// objects, shared, not copies. 16 events: gathers small chunks of a generator.
pub(super) const RESPONSE_QUEUE: QueueLimits = QueueLimits {
    events: 16,
    bytes: 1024 * 1024,
};

/// Serves one request whose head has been read, and says how it left the connection.
pub(super) async fn run<T: Transport, H: Handler>(
    conn: &mut Connection<T>,
    head: RequestHead,
    handler: &H,
) -> Result<Ended, ConnError> {
    let access = AccessStart::take(&head);
    let admitted = dispatch::admit(&conn.ctx, &conn.link).await;
    let mut ex = Exchange {
        body: RequestBody::new(&head, &conn.ctx),
        output: Output::new(&head, conn),
        persistence: Persistence::for_head(&head),
        conn,
    };
    ex.body.send_buffered(ex.conn);
    let info = std::sync::Arc::clone(&ex.conn.info);
    if let Err(page) = admitted.hand_over(handler, RequestKind::Http, head, &info) {
        ex.conn.link.end();
        ex.answer(&page, CloseReason::Failure).await?;
        return Ok(ex.ended());
    }
    let result = ex.pump().await;
    // Closing the channels tells the app side that nobody listens any more: its next
    // send fails and it stops iterating (and calls close()).
    ex.conn.link.end();
    if let Err(err) = result {
        ex.write_access(access.as_ref());
        return Err(err);
    }
    if ex.persistence.is_keep_alive() && !ex.body.drain(ex.conn).await {
        ex.persistence.close(CloseReason::UnreadBody);
    }
    ex.write_access(access.as_ref());
    Ok(ex.ended())
}

/// The state of one exchange: the connection it runs on, the request body side, the
/// response side, and whether the connection persists after it.
struct Exchange<'a, T> {
    conn: &'a mut Connection<T>,
    body: RequestBody,
    output: Output,
    persistence: Persistence,
}

impl<T: Transport> Exchange<'_, T> {
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
    fn settle_persistence(&mut self) {
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
        if self.output.is_started() {
            self.persistence.close(CloseReason::Failure);
            log_at!(
                Level::Debug,
                "response aborted after its head was sent ({reason:?}); closing"
            );
            return Ok(());
        }
        match reason {
            AbortReason::AppError => {
                self.settle_persistence();
                self.output
                    .write_page(self.conn, &Page::AppFailed, self.persistence)
                    .await
            }
            AbortReason::Internal => self.answer(&Page::AppFailed, CloseReason::Failure).await,
            AbortReason::Timeout => self.answer(&Page::AppTimeout, CloseReason::Failure).await,
            AbortReason::Rejected(err) => {
                self.answer(&Page::Rejected(err.clone()), CloseReason::Failure)
                    .await
            }
        }
    }

    /// Answers with `page` and closes the connection for `reason`.
    async fn answer(&mut self, page: &Page, reason: CloseReason) -> Result<(), ConnError> {
        self.persistence.close(reason);
        self.output
            .write_page(self.conn, page, self.persistence)
            .await
    }

    fn write_access(&self, access: Option<&AccessStart>) {
        if let Some(access) = access {
            let (status, body_bytes, headers) = self.output.record();
            access.write(&self.conn.remote, status, body_bytes, headers);
        }
    }
}
