//! The safe relative path of a static request: the part of the request path after a
//! mount's prefix, percent-decoded segment by segment, refused unless every segment is a
//! plain file name. What comes out can only name something beneath the mount's directory
//! (symlinks aside, which `conn` resolves with the kernel's `RESOLVE_BENEATH`).
//!
//! RFC 3986 §3.3 (segments), §2.1 (percent-encoding); the refusals are the traversal
//! classes of `docs/static.md`.

use std::fmt;

/// The longest decoded relative path (Linux's `PATH_MAX` less the terminating NUL).
pub const MAX_PATH_BYTES: usize = 4095;
/// The longest decoded segment (Linux's `NAME_MAX`).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A path beneath a mount's directory: decoded, non-empty segments joined with `/`
/// (empty for the directory itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    /// `css/app.css`: what `conn` opens beneath the mount's directory.
    pub path: String,
    /// The request path ended with `/`: it names a directory (served by its index file).
    pub trailing_slash: bool,
    /// The request path's segments as sent (still percent-encoded), for a redirect to the
    /// directory's address: `/css` → `/css/`.
    pub raw: String,
}

impl RelPath {
    /// The last segment (the file name), empty for the directory itself.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// Why a request path cannot name a static file. Each is answered with 404, never handed
/// to the app (which might serve files naively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// A `.` or `..` segment, sent plainly or percent-encoded (`%2e%2e`).
    DotSegment,
    /// A segment starting with `.` (`.env`, `.git`): dotfiles are never served.
    DotFile,
    /// `%2f` (or `%5c`): a slash or backslash hidden inside a segment.
    EncodedSeparator,
    /// A backslash, which some file systems and proxies take for a separator.
    Backslash,
    /// NUL or another control character, sent percent-encoded.
    ControlCharacter,
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// Decoded bytes that are not UTF-8: overlong forms (`%c0%ae`) among them.
    NotUtf8,
    /// Longer than `MAX_PATH_BYTES`, or a segment longer than `MAX_SEGMENT_BYTES`.
    TooLong,
}

impl fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathRefusal::DotSegment => "a dot segment",
            PathRefusal::DotFile => "a dotfile",
            PathRefusal::EncodedSeparator => "an encoded separator",
            PathRefusal::Backslash => "a backslash",
            PathRefusal::ControlCharacter => "a control character",
            PathRefusal::BadPercentEncoding => "bad percent-encoding",
            PathRefusal::NotUtf8 => "bytes that are not UTF-8",
            PathRefusal::TooLong => "a path too long",
        })
    }
}

/// The path beneath the mount named by `rest`, the request path after the mount's prefix
/// (empty, or starting with `/`). Empty segments (`//`) are skipped.
///
/// # Errors
/// The first rule a segment breaks.
pub fn relative(rest: &[u8]) -> Result<RelPath, PathRefusal> {
    if rest.contains(&b'\\') {
        return Err(PathRefusal::Backslash);
    }
    let mut path = String::new();
    let mut raw = String::new();
    for segment in rest.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        let decoded = decode_segment(segment)?;
        if decoded == "." || decoded == ".." {
            return Err(PathRefusal::DotSegment);
        }
        if decoded.starts_with('.') {
            return Err(PathRefusal::DotFile);
        }
        if decoded.len() > MAX_SEGMENT_BYTES {
            return Err(PathRefusal::TooLong);
        }
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&decoded);
        raw.push('/');
        // The target's bytes are visible ASCII (checked by `http::parse`).
        raw.push_str(std::str::from_utf8(segment).map_err(|_| PathRefusal::NotUtf8)?);
        if path.len() > MAX_PATH_BYTES {
            return Err(PathRefusal::TooLong);
        }
    }
    Ok(RelPath {
        path,
        trailing_slash: rest.ends_with(b"/"),
        raw,
    })
}

/// One segment, percent-decoded (RFC 3986 §2.1) and checked.
fn decode_segment(segment: &[u8]) -> Result<String, PathRefusal> {
    let mut out = Vec::with_capacity(segment.len());
    let mut i = 0;
    while i < segment.len() {
        let b = segment[i];
        if b == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .ok_or(PathRefusal::BadPercentEncoding)?;
            let byte = hex_value(hex[0])
                .zip(hex_value(hex[1]))
                .map(|(hi, lo)| hi << 4 | lo)
                .ok_or(PathRefusal::BadPercentEncoding)?;
            match byte {
                b'/' | b'\\' => return Err(PathRefusal::EncodedSeparator),
                0..=0x1f | 0x7f => return Err(PathRefusal::ControlCharacter),
                _ => out.push(byte),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathRefusal::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request path and what it maps to: the path and whether it named a directory.
    type Row<'a> = (&'a str, Result<(String, bool), PathRefusal>);

    // A row's expected value, in the same shape as the refusals.
    #[allow(clippy::unnecessary_wraps)]
    fn ok(path: &str, trailing_slash: bool) -> Result<(String, bool), PathRefusal> {
        Result::Ok((path.to_owned(), trailing_slash))
    }

    #[test]
    fn maps_request_paths_to_paths_beneath_the_mount_or_refuses_them() {
        use PathRefusal::*;
        let long_segment = format!("/{}", "a".repeat(256));
        let long_path = "/aaaaaaaa".repeat(600);
        let rows: &[Row] = &[
            ("", ok("", false)),
            ("/", ok("", true)),
            ("/app.css", ok("app.css", false)),
            ("/css/app.css", ok("css/app.css", false)),
            ("//css///app.css", ok("css/app.css", false)),
            ("/docs/", ok("docs", true)),
            ("/caf%C3%A9.txt", ok("café.txt", false)),
            ("/a%20b.txt", ok("a b.txt", false)),
            ("/a+b.txt", ok("a+b.txt", false)),
            ("/..", Err(DotSegment)),
            ("/../etc/passwd", Err(DotSegment)),
            ("/css/../../etc/passwd", Err(DotSegment)),
            ("/.", Err(DotSegment)),
            ("/%2e%2e/etc/passwd", Err(DotSegment)),
            ("/%2E%2E/etc/passwd", Err(DotSegment)),
            ("/.%2e/x", Err(DotSegment)),
            ("/%2e", Err(DotSegment)),
            ("/.env", Err(DotFile)),
            ("/.git/config", Err(DotFile)),
            ("/%2egit/config", Err(DotFile)),
            ("/css/.htaccess", Err(DotFile)),
            ("/..%2f..%2fetc/passwd", Err(EncodedSeparator)),
            ("/a%2fb", Err(EncodedSeparator)),
            ("/a%2Fb", Err(EncodedSeparator)),
            ("/a%5cb", Err(EncodedSeparator)),
            ("/..\\..\\etc\\passwd", Err(Backslash)),
            ("/a\\b", Err(Backslash)),
            ("/a%00.css", Err(ControlCharacter)),
            ("/a%0a.css", Err(ControlCharacter)),
            ("/a%7f", Err(ControlCharacter)),
            ("/a%", Err(BadPercentEncoding)),
            ("/a%2", Err(BadPercentEncoding)),
            ("/a%zz", Err(BadPercentEncoding)),
            ("/%c0%ae%c0%ae/etc/passwd", Err(NotUtf8)),
            ("/%e0%80%ae", Err(NotUtf8)),
            ("/%ff", Err(NotUtf8)),
            (long_segment.as_str(), Err(TooLong)),
            (long_path.as_str(), Err(TooLong)),
        ];
        for (rest, want) in rows {
            let got = relative(rest.as_bytes()).map(|rel| (rel.path, rel.trailing_slash));
            assert_eq!(&got, want, "{rest}");
        }
    }

    #[test]
    fn keeps_the_raw_segments_for_a_redirect() {
        let rel = relative(b"//caf%C3%A9//docs").expect("valid");
        assert_eq!(rel.raw, "/caf%C3%A9/docs");
        assert_eq!(rel.file_name(), "docs");
    }
}
