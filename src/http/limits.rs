//! Size limits applied while parsing. Every input is bounded; defaults follow the table in
//! `docs/settings.md` (and are the defaults of the Python settings that set them).

/// Size limits for one request. Read by `parse` (head) and `body` (chunk framing, trailers,
/// and `max_body_bytes`, which `BodyDecoder` enforces as the body streams; `conn` may also
/// refuse a too-large `Content-Length` before the app runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, CRLF excluded. Over it: 414. Default 8 KiB.
    pub max_request_line_bytes: usize,
    /// Most header fields in one head (also bounds trailer fields). Over it: 431. Default 100.
    pub max_header_count: usize,
    /// Longest single header field line (`name: value`, CRLF excluded; also bounds each
    /// trailer line). Over it: 431. Default 8 KiB.
    pub max_header_bytes: usize,
    /// Longest whole head, request line through the blank line's CRLF (empty lines before
    /// the request line excluded). Over it: 431. Default 64 KiB.
    pub max_head_bytes: usize,
    /// Largest request body; 0 means unlimited. Over it: 413. Default 1 GiB.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line_bytes: 8 * 1024,
            max_header_count: 100,
            max_header_bytes: 8 * 1024,
            max_head_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024 * 1024,
        }
    }
}
