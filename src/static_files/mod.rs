//! Static files (`--static-map`), sans-I/O: which requests are for a mount (`Mounts::route`),
//! the safe path beneath its directory (`path`), how conditional and range headers are
//! answered (`conditional`, `range`), which precompressed sibling suits the client
//! (`encoding`), and the response head (`head`). `conn` does the I/O: it opens files
//! beneath a mount's directory, reads their metadata, and sends them with the exchange's
//! output, before any request permit is taken or Python is touched.
//!
//! Design: a path that names no file falls through to the app (so the app can answer its
//! own 404, as with whitenoise or uWSGI's `--static-map`); a path refused by the rules of
//! `path` is answered with 404 and never reaches the app.

pub mod conditional;
pub mod encoding;
pub mod head;
pub mod path;
pub mod range;

use std::path::PathBuf;

use crate::config::StaticConfig;
use crate::http::RequestHead;
use head::CachePolicy;
use path::{PathRefusal, RelPath};

/// The mounts of a worker, longest prefix first.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    list: Vec<Mount>,
    /// The file served for a directory (`static_index`).
    pub index: Option<String>,
    /// Symlinks may lead out of a mount's directory (`static_follow_symlinks`).
    pub follow_symlinks: bool,
}

/// One mount: a URL prefix served from a directory.
#[derive(Debug, Clone)]
pub struct Mount {
    /// `/static`; `""` for the whole site (`/`).
    prefix: String,
    /// The directory, as configured; `conn` opens it once per worker.
    pub dir: PathBuf,
    pub cache: CachePolicy,
}

impl Mount {
    /// The prefix as configured (`/` for the whole site).
    pub fn prefix(&self) -> &str {
        if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        }
    }
}

/// How a static request's method is answered (RFC 9110 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Anything else: 405 with `Allow: GET, HEAD` when the file exists.
    Other,
}

/// A request under a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// A path that may name a file beneath mount number `mount` (of `Mounts::get`).
    Path {
        mount: usize,
        path: RelPath,
        method: Method,
    },
    /// A path the rules refuse: 404, without looking at the disk or the app.
    Refused(PathRefusal),
}

impl Mounts {
    pub fn new(config: &StaticConfig) -> Mounts {
        let mut mounts: Vec<Mount> = config
            .mounts
            .iter()
            .map(|m| Mount {
                prefix: m.prefix.trim_end_matches('/').to_owned(),
                dir: m.dir.clone(),
                cache: CachePolicy {
                    max_age: m.max_age.unwrap_or(config.max_age),
                },
            })
            .collect();
        // Longest prefix first: `/static/admin` wins over `/static`.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Mounts {
            list: mounts,
            index: config.index.clone(),
            follow_symlinks: config.follow_symlinks,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The mounts, in the order `Routed::Path::mount` counts them.
    pub fn all(&self) -> &[Mount] {
        &self.list
    }

    pub fn get(&self, index: usize) -> &Mount {
        &self.list[index]
    }

    /// The mount a request's path falls under, and the path beneath it; `None` when the
    /// request is the app's. The prefix is matched against the path as sent (the query is
    /// left out: `?v=3` cache-busters serve the same file), on a segment boundary:
    /// `/static` covers `/static` and `/static/...`, not `/staticfiles`. Origin-form
    /// targets only: `*`, authority-form and absolute-form go to the app.
    pub fn route(&self, head: &RequestHead) -> Option<Routed> {
        if self.list.is_empty() {
            return None;
        }
        let target_path = head.path();
        if !target_path.starts_with(b"/") {
            return None;
        }
        let (number, mount) = self.list.iter().enumerate().find(|(_, m)| {
            let prefix = m.prefix.as_bytes();
            target_path.starts_with(prefix)
                && matches!(target_path.get(prefix.len()), None | Some(b'/'))
        })?;
        let rest = &target_path[mount.prefix.len()..];
        let method = match head.method() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            _ => Method::Other,
        };
        Some(match path::relative(rest) {
            Ok(path) => Routed::Path {
                mount: number,
                path,
                method,
            },
            Err(refusal) => Routed::Refused(refusal),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StaticMount;
    use crate::http::{parse, Limits};
    use bytes::BytesMut;
    use std::time::Duration;

    fn mounts() -> Mounts {
        let mount = |text: &str| StaticMount::parse(text).expect("valid mount");
        Mounts::new(&StaticConfig {
            mounts: vec![
                mount("/static=static"),
                mount("/static/admin=admin;max_age=0"),
                mount("/media=media"),
            ],
            ..StaticConfig::default()
        })
    }

    fn route(mounts: &Mounts, line: &str) -> Option<(String, String, Method)> {
        let mut buf = BytesMut::from(format!("{line} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let head = parse::request_head(&mut buf, &Limits::default())
            .expect("valid head")
            .expect("complete head");
        mounts.route(&head).map(|routed| match routed {
            Routed::Path {
                mount,
                path,
                method,
            } => (mounts.get(mount).prefix().to_owned(), path.path, method),
            Routed::Refused(why) => ("refused".to_owned(), why.to_string(), Method::Other),
        })
    }

    #[test]
    fn routes_requests_to_the_longest_matching_prefix() {
        let m = mounts();
        let row = |p: &str, f: &str, method| Some((p.to_owned(), f.to_owned(), method));
        let rows = [
            (
                "GET /static/app.css",
                row("/static", "app.css", Method::Get),
            ),
            (
                "HEAD /static/app.css?v=3",
                row("/static", "app.css", Method::Head),
            ),
            (
                "POST /static/app.css",
                row("/static", "app.css", Method::Other),
            ),
            ("GET /static", row("/static", "", Method::Get)),
            ("GET /static/", row("/static", "", Method::Get)),
            (
                "GET /static/admin/base.css",
                row("/static/admin", "base.css", Method::Get),
            ),
            (
                "GET /static/administrator.css",
                row("/static", "administrator.css", Method::Get),
            ),
            ("GET /media/a/b.png", row("/media", "a/b.png", Method::Get)),
            (
                "GET /static/../app.py",
                row("refused", "a dot segment", Method::Other),
            ),
            ("GET /staticfiles/app.css", None),
            ("GET /app", None),
            ("GET /", None),
            ("OPTIONS *", None),
            ("GET http://x/static/app.css", None),
        ];
        for (line, want) in rows {
            assert_eq!(route(&m, line), want, "{line}");
        }
    }

    #[test]
    fn a_root_mount_covers_every_path() {
        let m = Mounts::new(&StaticConfig {
            mounts: vec![StaticMount::parse("/=site").expect("valid")],
            ..StaticConfig::default()
        });
        let got = route(&m, "GET /favicon.ico");
        assert_eq!(
            got,
            Some(("/".to_owned(), "favicon.ico".to_owned(), Method::Get))
        );
        assert_eq!(route(&m, "GET /").map(|r| r.1), Some(String::new()));
    }

    #[test]
    fn a_mount_without_its_own_max_age_takes_the_default() {
        let m = mounts();
        let by_prefix = |p: &str| {
            m.all()
                .iter()
                .find(|mount| mount.prefix() == p)
                .expect("mounted")
                .cache
                .max_age
        };
        assert_eq!(by_prefix("/static"), Duration::from_secs(3600));
        assert_eq!(by_prefix("/static/admin"), Duration::ZERO);
    }
}
