//! A static file (`--static-map`) served on an HTTP/1.1 exchange, before any request
//! permit is taken or Python is touched: `static_files` routes the request and decides the
//! response, `conn::files` opens the file beneath its mount, and the exchange's `Output`
//! sends it (a small file with its head in one write; a larger one by the `--sendfile`
//! policy, under `send_timeout`). Refusals and failed preconditions are `respond` pages;
//! the access record is the exchange's.

use bytes::Bytes;

use super::exchange::Exchange;
use crate::bridge::FileBody;
use crate::conn::files::{Found, StaticFile};
use crate::conn::respond::Page;
use crate::conn::{ConnError, Transport};
use crate::http::RequestHead;
use crate::log::Level;
use crate::static_files::conditional::{self, Decision, Validators};
use crate::static_files::encoding::{self, Coding};
use crate::static_files::head::{self as static_head, FileFacts};
use crate::static_files::{Method, Routed};

/// Files up to this size are read and sent with the head in one write (one TCP segment
/// for a small asset, where a separate sendfile(2) would send two). 16 KiB: the size under
/// which `output` copies body bytes next to the head; chosen without measurement.
const INLINE_LIMIT: u64 = 16 * 1024;

/// Serves `routed` when it names something to answer; `None` when the path names no file
/// and the request goes to the app.
pub(super) async fn serve<T: Transport>(
    ex: &mut Exchange<'_, T>,
    head: &RequestHead,
    routed: Routed,
) -> Option<Result<(), ConnError>> {
    let (mount, path, method) = match routed {
        Routed::Refused(why) => {
            log_at!(
                Level::Debug,
                "{}: static path refused ({why}): {}",
                ex.conn.remote,
                String::from_utf8_lossy(head.path())
            );
            return Some(ex.answer_keeping(&Page::NotFound).await);
        }
        Routed::Path {
            mount,
            path,
            method,
        } => (mount, path, method),
    };
    let codings: Vec<Coding> = if method == Method::Other {
        Vec::new()
    } else {
        encoding::accepted(
            head.header_pairs()
                .filter(|(name, _)| name.eq_ignore_ascii_case(b"accept-encoding"))
                .map(|(_, value)| value),
        )
    };
    let statics = &ex.conn.ctx.statics;
    let found = statics.find(mount, &path, &codings);
    let page = match found {
        Found::Missing => return None,
        Found::File(_) | Found::DirectoryWithoutSlash if method == Method::Other => {
            Page::MethodNotAllowed
        }
        Found::File(file) => {
            let cache = statics.mounts.get(mount).cache;
            return Some(send_file(ex, head, method, file, cache).await);
        }
        Found::DirectoryWithoutSlash => {
            let mut location = statics
                .mounts
                .get(mount)
                .prefix()
                .trim_end_matches('/')
                .to_owned();
            location.push_str(&path.raw);
            location.push('/');
            let query = head.query();
            if !query.is_empty() {
                location.push('?');
                // The target's bytes are visible ASCII (checked by `http::parse`).
                location.push_str(&String::from_utf8_lossy(query));
            }
            Page::MovedToDirectory { location }
        }
        Found::Refused => Page::NotFound,
        Found::Failed(err) => {
            log_at!(
                Level::Error,
                "static file {} under {}: {err}",
                path.path,
                statics.mounts.get(mount).prefix()
            );
            Page::FileUnreadable
        }
    };
    Some(ex.answer_keeping(&page).await)
}

/// Answers a static file's request: 200, 206 or 304 with the file's head, the bytes for
/// GET, or the 412/416 page.
async fn send_file<T: Transport>(
    ex: &mut Exchange<'_, T>,
    head: &RequestHead,
    method: Method,
    file: StaticFile,
    cache: static_head::CachePolicy,
) -> Result<(), ConnError> {
    let facts = FileFacts {
        name: &file.name,
        len: file.len,
        modified: file.modified,
        coding: file.coding,
    };
    let etag = facts.etag();
    let validators = Validators {
        etag: &etag,
        modified: facts.modified_secs(),
        len: file.len,
    };
    let decision = conditional::evaluate(
        head,
        &validators,
        method == Method::Get,
        std::time::SystemTime::now(),
    );
    let (offset, len) = match decision {
        Decision::PreconditionFailed => return ex.answer_keeping(&Page::PreconditionFailed).await,
        Decision::RangeNotSatisfiable => {
            let page = Page::RangeNotSatisfiable {
                complete_length: file.len,
            };
            return ex.answer_keeping(&page).await;
        }
        Decision::Full => (0, file.len),
        Decision::Partial { start, end } => (start, end - start + 1),
        Decision::NotModified => (0, 0),
    };
    let response = static_head::response_head(decision, &facts, &etag, cache)
        .expect("200, 206 and 304 have a head");
    let with_body = method == Method::Get && decision != Decision::NotModified && len > 0;
    let inline = with_body && len <= INLINE_LIMIT;
    let first_bytes = if inline {
        match read_inline(&file.file, offset, len) {
            Ok(bytes) => bytes,
            Err(err) => {
                // Truncated since it was opened, or the disk failed: nothing is sent yet.
                log_at!(Level::Error, "static file {}: {err}", file.name);
                return ex.answer_keeping(&Page::FileUnreadable).await;
            }
        }
    } else {
        Bytes::new()
    };
    ex.settle_persistence();
    ex.output
        .on_start(response, first_bytes, &mut ex.persistence)?;
    if with_body && !inline {
        let body = FileBody {
            file: file.file,
            offset,
            len,
        };
        ex.output.on_file(ex.conn, body).await?;
    }
    ex.output.finish(ex.conn, &mut ex.persistence).await
}

/// `len` bytes of `file` from `offset`, read whole (a page-cache read of at most
/// `INLINE_LIMIT` bytes).
fn read_inline(file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(len).expect("at most INLINE_LIMIT")];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}
