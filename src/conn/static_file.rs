//! What a static file request (`--static-map`) is answered with, whatever the protocol:
//! `static_files` routes the request and decides the response, `conn::files` opens the
//! file beneath its mount, and this turns both into a `StaticAnswer` that HTTP/1.1
//! (`http1/static_file.rs`) and HTTP/2 (`http2/stream.rs`) send, before any request
//! permit is taken or Python is touched. Refusals and failed preconditions are `respond`
//! pages.

use bytes::Bytes;

use super::files::{Found, StaticFile};
use super::respond::Page;
use super::ConnContext;
use crate::bridge::{FileBody, ResponseHead};
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

/// How a routed static request is answered.
pub(super) enum StaticAnswer {
    /// The path names no file: the request goes to the app.
    App,
    /// One of the server's pages (404, 405, 301 to the directory, 412, 416, 500).
    Page(Page),
    /// 200, 206 or 304 with the file's head; `inline` is the whole body of a small file,
    /// `body` the part of a larger one to send after the head.
    File {
        response: ResponseHead,
        inline: Bytes,
        body: Option<FileBody>,
    },
}

/// Decides the answer to `routed`. `remote` names the client in log lines.
pub(super) fn answer(
    ctx: &ConnContext,
    remote: &str,
    head: &RequestHead,
    routed: Routed,
) -> StaticAnswer {
    let (mount, path, method) = match routed {
        Routed::Refused(why) => {
            log_at!(
                Level::Debug,
                "{remote}: static path refused ({why}): {}",
                String::from_utf8_lossy(head.path())
            );
            return StaticAnswer::Page(Page::NotFound);
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
    let statics = &ctx.statics;
    let page = match statics.find(mount, &path, &codings) {
        Found::Missing => return StaticAnswer::App,
        Found::File(_) | Found::DirectoryWithoutSlash if method == Method::Other => {
            Page::MethodNotAllowed
        }
        Found::File(file) => {
            let cache = statics.mounts.get(mount).cache;
            return file_answer(head, method, file, cache);
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
    StaticAnswer::Page(page)
}

/// A found file's answer: 200, 206 or 304 with the file's head and the bytes for GET, or
/// the 412/416 page.
fn file_answer(
    head: &RequestHead,
    method: Method,
    file: StaticFile,
    cache: static_head::CachePolicy,
) -> StaticAnswer {
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
        Decision::PreconditionFailed => return StaticAnswer::Page(Page::PreconditionFailed),
        Decision::RangeNotSatisfiable => {
            return StaticAnswer::Page(Page::RangeNotSatisfiable {
                complete_length: file.len,
            });
        }
        Decision::Full => (0, file.len),
        Decision::Partial { start, end } => (start, end - start + 1),
        Decision::NotModified => (0, 0),
    };
    let response = static_head::response_head(decision, &facts, &etag, cache)
        .expect("200, 206 and 304 have a head");
    let with_body = method == Method::Get && decision != Decision::NotModified && len > 0;
    if with_body && len <= INLINE_LIMIT {
        return match read_inline(&file.file, offset, len) {
            Ok(inline) => StaticAnswer::File {
                response,
                inline,
                body: None,
            },
            Err(err) => {
                // Truncated since it was opened, or the disk failed: nothing is sent yet.
                log_at!(Level::Error, "static file {}: {err}", file.name);
                StaticAnswer::Page(Page::FileUnreadable)
            }
        };
    }
    StaticAnswer::File {
        response,
        inline: Bytes::new(),
        body: with_body.then_some(FileBody {
            file: file.file,
            offset,
            len,
        }),
    }
}

/// `len` bytes of `file` from `offset`, read whole (a page-cache read of at most
/// `INLINE_LIMIT` bytes).
fn read_inline(file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(len).expect("at most INLINE_LIMIT")];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Bytes::from(buf))
}
