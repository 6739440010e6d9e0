//! A static file (`--static-map`) served on an HTTP/1.1 exchange: `conn::static_file`
//! decides the answer; the exchange's `Output` sends it (a small file with its head in one
//! write; a larger one by the `--sendfile` policy, under `send_timeout`). The access record
//! is the exchange's.

use super::exchange::Exchange;
use crate::conn::static_file::{self, StaticAnswer};
use crate::conn::{ConnError, Transport};
use crate::http::RequestHead;
use crate::static_files::Routed;

/// Serves `routed` when it names something to answer; `None` when the path names no file
/// and the request goes to the app.
pub(super) async fn serve<T: Transport>(
    ex: &mut Exchange<'_, T>,
    head: &RequestHead,
    routed: Routed,
) -> Option<Result<(), ConnError>> {
    match static_file::answer(&ex.conn.ctx, &ex.conn.remote, head, routed) {
        StaticAnswer::App => None,
        StaticAnswer::Page(page) => Some(ex.answer_keeping(&page).await),
        StaticAnswer::File {
            response,
            inline,
            body,
        } => Some(send(ex, response, inline, body).await),
    }
}

async fn send<T: Transport>(
    ex: &mut Exchange<'_, T>,
    response: crate::bridge::ResponseHead,
    inline: bytes::Bytes,
    body: Option<crate::bridge::FileBody>,
) -> Result<(), ConnError> {
    ex.settle_persistence();
    ex.output.on_start(response, inline, &mut ex.persistence)?;
    if let Some(body) = body {
        ex.output.on_file(ex.conn, body).await?;
    }
    ex.output.finish(ex.conn, &mut ex.persistence).await
}
