//! The response head of a static file: 200, 206 or 304, with `Content-Type` from the file
//! name (`mime_guess`, charset for text), a strong `ETag` and `Last-Modified`,
//! `Cache-Control` from the mount's policy, `Vary: Accept-Encoding` and, for a
//! precompressed sibling, `Content-Encoding`.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::conditional::Decision;
use super::encoding::Coding;
use crate::http::ResponseHead;

/// What a mount tells caches (`static_max_age`, or the mount's own `max_age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub max_age: Duration,
}

/// How long a file whose name carries a content hash may be cached: a year, the longest
/// lifetime RFC 9111 caches are commonly trusted with (and what whitenoise and nginx
/// guides use).
const HASHED_MAX_AGE: u64 = 365 * 24 * 3600;

impl CachePolicy {
    /// The `Cache-Control` value for the file `name`: `no-cache` when the lifetime is 0;
    /// a year and `immutable` (RFC 8246) for a hashed name; `max-age` otherwise.
    pub fn cache_control(self, name: &str) -> String {
        let secs = self.max_age.as_secs();
        if secs == 0 {
            "no-cache".to_owned()
        } else if is_hashed(name) {
            format!("public, max-age={HASHED_MAX_AGE}, immutable")
        } else {
            format!("public, max-age={secs}")
        }
    }
}

/// Whether a file name carries a content hash, so its content never changes under it:
/// one of its dot- or dash-separated parts before the extension is 8 or more hex digits
/// with both a digit and a letter among them (Django's `app.3f2a1b9c0d4e.css`, webpack's
/// `main.5e0c9a1b.js`, `chunk-8e0d2b1f.js`). The digit-and-letter rule keeps dates
/// (`report-20240101.pdf`) and words (`deadbeef`) out; a hash that happens to be all
/// digits or letters is only cached for the mount's lifetime, which is safe.
pub fn is_hashed(name: &str) -> bool {
    let Some((stem, _extension)) = name.rsplit_once('.') else {
        return false;
    };
    stem.split(['.', '-']).any(|part| {
        part.len() >= 8
            && part.bytes().all(|b| b.is_ascii_hexdigit())
            && part.bytes().any(|b| b.is_ascii_digit())
            && part.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

/// The `Content-Type` of a file named `name`: by its extension, `; charset=utf-8` on text
/// types (assets are UTF-8 today; without it browsers guess), `application/octet-stream`
/// when the extension is unknown (RFC 9110 §8.3: the recipient may then sniff or save).
pub fn content_type(name: &str) -> String {
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    let Some(mime) = mime_guess::from_ext(extension).first_raw() else {
        return "application/octet-stream".to_owned();
    };
    let is_text = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/xml"
        || mime == "image/svg+xml";
    if is_text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}

/// The file behind a static response, as `conn` found it.
#[derive(Debug, Clone)]
pub struct FileFacts<'a> {
    /// The name the client asked for (for `Content-Type` and the cache policy), not the
    /// sibling's.
    pub name: &'a str,
    /// The length of the file sent (the sibling's, when there is one).
    pub len: u64,
    /// Its modification time.
    pub modified: SystemTime,
    /// The coding of the sibling sent, if one is.
    pub coding: Option<Coding>,
}

impl FileFacts<'_> {
    /// A strong entity-tag (RFC 9110 §8.8.3): the length and the modification time to the
    /// nanosecond, in hex, and the coding. Not the inode, so that servers sharing the same
    /// files (behind one balancer) agree, as nginx does.
    pub fn etag(&self) -> String {
        let since = self
            .modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let mut tag = format!("\"{:x}-{:x}", self.len, since.as_nanos());
        if let Some(coding) = self.coding {
            tag.push('-');
            tag.push_str(coding.token());
        }
        tag.push('"');
        tag
    }

    /// `Last-Modified` in whole seconds since the epoch (before it: 0).
    pub fn modified_secs(&self) -> u64 {
        self.modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// The response head for `decision` (200, 206 or 304; the others are server pages).
/// Returns `None` for the decisions answered by pages (412, 416).
///
/// # Panics
/// Never: the status lines are constants.
pub fn response_head(
    decision: Decision,
    file: &FileFacts<'_>,
    etag: &str,
    cache: CachePolicy,
) -> Option<ResponseHead> {
    let (status_line, body_len): (&'static str, Option<u64>) = match decision {
        Decision::Full => ("200 OK", Some(file.len)),
        Decision::Partial { start, end } => ("206 Partial Content", Some(end - start + 1)),
        Decision::NotModified => ("304 Not Modified", None),
        Decision::PreconditionFailed | Decision::RangeNotSatisfiable => return None,
    };
    let mut block = String::with_capacity(256);
    // Writing to a String cannot fail.
    let mut field = |name: &str, value: &str| {
        let _ = write!(block, "{name}: {value}\r\n");
    };
    if let Some(len) = body_len {
        field("Content-Type", &content_type(file.name));
        // Written here rather than by `encode`, so a HEAD response has it too (RFC 9110
        // §9.3.2: the same fields as GET).
        field("Content-Length", itoa::Buffer::new().format(len));
        if let Decision::Partial { start, end } = decision {
            field(
                "Content-Range",
                &format!("bytes {start}-{end}/{}", file.len),
            );
        }
        if let Some(coding) = file.coding {
            field("Content-Encoding", coding.token());
        }
        field("Accept-Ranges", "bytes");
    }
    // RFC 9110 §15.4.5: a 304 carries the ETag, Cache-Control and Vary a 200 would.
    field("ETag", etag);
    field(
        "Last-Modified",
        &httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(file.modified_secs())),
    );
    field("Cache-Control", &cache.cache_control(file.name));
    // Always: whether a sibling exists can change, and a cache must not hand a
    // Brotli body to a client that did not ask for one.
    field("Vary", "Accept-Encoding");
    let status: u16 = status_line[..3].parse().expect("a three-digit status");
    Some(ResponseHead {
        status,
        status_line: Bytes::from_static(status_line.as_bytes()),
        header_block: block.into_bytes(),
        content_length: body_len,
        add_content_length: false,
        has_date: false,
        has_server: false,
        wants_close: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_hashed_names_from_plain_ones() {
        let rows = [
            ("app.3f2a1b9c0d4e.css", true),
            ("main.5e0c9a1b.js", true),
            ("chunk-8e0d2b1f.js", true),
            ("main.8e0d2b1f.chunk.js", true),
            ("3f2a1b9c0d4e.css", true),
            ("app.css", false),
            ("report-20240101.pdf", false),
            ("deadbeefcafe.css", false),
            ("app.3f2a1b9.css", false),
            ("app.3f2a1b9c0d4e", false),
            ("3f2a1b9c0d4e", false),
            ("app.ghijklmn12.css", false),
        ];
        for (name, hashed) in rows {
            assert_eq!(is_hashed(name), hashed, "{name}");
        }
    }

    #[test]
    fn picks_the_content_type_from_the_extension() {
        let rows = [
            ("app.css", "text/css; charset=utf-8"),
            ("index.html", "text/html; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("logo.svg", "image/svg+xml; charset=utf-8"),
            ("data.json", "application/json"),
            ("logo.png", "image/png"),
            ("font.woff2", "font/woff2"),
            ("archive.gz", "application/gzip"),
            ("README", "application/octet-stream"),
            ("x.unknownext", "application/octet-stream"),
        ];
        for (name, want) in rows {
            assert_eq!(content_type(name), want, "{name}");
        }
    }

    #[test]
    fn sets_cache_control_from_the_mount_and_the_name() {
        let hour = CachePolicy {
            max_age: Duration::from_secs(3600),
        };
        let never = CachePolicy {
            max_age: Duration::ZERO,
        };
        assert_eq!(hour.cache_control("app.css"), "public, max-age=3600");
        assert_eq!(
            hour.cache_control("app.3f2a1b9c0d4e.css"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(never.cache_control("app.css"), "no-cache");
        assert_eq!(never.cache_control("app.3f2a1b9c0d4e.css"), "no-cache");
    }

    fn facts(coding: Option<Coding>) -> FileFacts<'static> {
        FileFacts {
            name: "app.css",
            len: 1000,
            modified: UNIX_EPOCH + Duration::new(784_111_777, 5),
            coding,
        }
    }

    #[test]
    fn an_etag_names_length_time_and_coding() {
        assert_eq!(facts(None).etag(), "\"3e8-ae1b981bc490a05\"");
        assert_eq!(facts(Some(Coding::Br)).etag(), "\"3e8-ae1b981bc490a05-br\"");
    }

    #[test]
    fn writes_the_fields_of_each_status() {
        let cache = CachePolicy {
            max_age: Duration::from_secs(60),
        };
        let file = facts(Some(Coding::Gzip));
        let text = |decision| {
            let head = response_head(decision, &file, "\"t\"", cache).expect("a head");
            (
                head.status,
                String::from_utf8(head.header_block).expect("ascii"),
                head.content_length,
            )
        };
        let (status, block, len) = text(Decision::Full);
        assert_eq!((status, len), (200, Some(1000)));
        assert_eq!(
            block,
            "Content-Type: text/css; charset=utf-8\r\nContent-Length: 1000\r\n\
             Content-Encoding: gzip\r\nAccept-Ranges: bytes\r\nETag: \"t\"\r\n\
             Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Cache-Control: public, max-age=60\r\nVary: Accept-Encoding\r\n"
        );
        let (status, block, len) = text(Decision::Partial { start: 10, end: 19 });
        assert_eq!((status, len), (206, Some(10)));
        assert!(
            block.contains("Content-Range: bytes 10-19/1000\r\n"),
            "{block}"
        );
        assert!(block.contains("Content-Length: 10\r\n"), "{block}");
        let (status, block, len) = text(Decision::NotModified);
        assert_eq!((status, len), (304, None));
        assert_eq!(
            block,
            "ETag: \"t\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Cache-Control: public, max-age=60\r\nVary: Accept-Encoding\r\n"
        );
        assert!(response_head(Decision::PreconditionFailed, &file, "\"t\"", cache).is_none());
    }
}
