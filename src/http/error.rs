//! `HttpError`: every way a client's bytes can break the protocol, one variant per rule,
//! and the one `status()` match that turns a rule into a response code.

/// A request the server refuses. Always the client's fault; `conn` answers with
/// `status()`, `Connection: close`, and drops whatever else it had read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("request line too long")]
    RequestLineTooLong,
    #[error("too many header fields")]
    TooManyHeaders,
    #[error("header field too large")]
    HeaderTooLarge,
    #[error("request head too large")]
    HeadTooLarge,
    #[error("invalid method")]
    InvalidMethod,
    #[error("invalid request target")]
    InvalidTarget,
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    #[error("invalid HTTP version")]
    InvalidVersion,
    #[error("invalid header name")]
    InvalidHeaderName,
    #[error("invalid header value")]
    InvalidHeaderValue,
    #[error("whitespace before colon in header field")]
    WhitespaceBeforeColon,
    #[error("obsolete line folding")]
    ObsoleteLineFolding,
    #[error("bare CR or LF in line ending")]
    BareLineEnding,
    #[error("malformed request line")]
    MalformedRequestLine,
    #[error("invalid Content-Length")]
    InvalidContentLength,
    #[error("conflicting Content-Length")]
    ConflictingContentLength,
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthWithTransferEncoding,
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    #[error("invalid Transfer-Encoding")]
    InvalidTransferEncoding,
    #[error("missing Host header")]
    MissingHost,
    #[error("duplicate Host header")]
    DuplicateHost,
    /// RFC 9112 §3.2: the Host value is not `uri-host [ ":" port ]` (RFC 9110 §7.2).
    #[error("invalid Host header value")]
    InvalidHost,
    /// The path is not UTF-8 once percent-decoded: ASGI's `path` is text (asgiref
    /// `specs/www.rst`), and replacement characters would hand the app a different path.
    #[error("request path is not UTF-8 after percent-decoding")]
    InvalidPathEncoding,
    #[error("duplicate Content-Type header")]
    DuplicateContentType,
    #[error("invalid chunk size")]
    InvalidChunkSize,
    #[error("invalid chunk extension")]
    InvalidChunkExtension,
    #[error("missing CRLF after chunk data")]
    MissingChunkTerminator,
    #[error("forbidden trailer field")]
    ForbiddenTrailer,
    #[error("invalid trailer section")]
    InvalidTrailer,
    #[error("request body larger than max_body_bytes")]
    BodyTooLarge,
    #[error("incomplete request body")]
    IncompleteBody,
}

impl HttpError {
    /// The status code sent to the client for this error (RFC 9110 §15, RFC 9112).
    /// Every variant is listed, so a new rule needs a decision here.
    pub fn status(&self) -> u16 {
        match self {
            // RFC 9112 §3: a request line longer than the server will parse gets 414.
            HttpError::RequestLineTooLong => 414,
            // RFC 6585 §5.
            HttpError::TooManyHeaders | HttpError::HeaderTooLarge | HttpError::HeadTooLarge => 431,
            // RFC 9110 §15.5.14.
            HttpError::BodyTooLarge => 413,
            // RFC 9112 §6.1: a server that receives a transfer coding it does not understand
            // SHOULD respond with 501.
            HttpError::UnsupportedTransferEncoding => 501,
            // RFC 9110 §15.6.6: 505 for a major version the server does not support.
            HttpError::UnsupportedVersion => 505,
            HttpError::InvalidMethod
            | HttpError::InvalidTarget
            | HttpError::InvalidVersion
            | HttpError::InvalidHeaderName
            | HttpError::InvalidHeaderValue
            | HttpError::WhitespaceBeforeColon
            | HttpError::ObsoleteLineFolding
            | HttpError::BareLineEnding
            | HttpError::MalformedRequestLine
            | HttpError::InvalidContentLength
            | HttpError::ConflictingContentLength
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::InvalidTransferEncoding
            | HttpError::MissingHost
            | HttpError::DuplicateHost
            | HttpError::InvalidHost
            | HttpError::InvalidPathEncoding
            | HttpError::DuplicateContentType
            | HttpError::InvalidChunkSize
            | HttpError::InvalidChunkExtension
            | HttpError::MissingChunkTerminator
            | HttpError::ForbiddenTrailer
            | HttpError::InvalidTrailer
            | HttpError::IncompleteBody => 400,
        }
    }

    /// The reason phrase that goes with `status()`.
    pub fn reason(&self) -> &'static str {
        reason_phrase(self.status())
    }
}

impl HttpError {
    /// Every rule, in declaration order: `metrics` keeps one rejection counter per entry
    /// (its index is `kind_index`).
    pub const ALL: [HttpError; 31] = [
        HttpError::RequestLineTooLong,
        HttpError::TooManyHeaders,
        HttpError::HeaderTooLarge,
        HttpError::HeadTooLarge,
        HttpError::InvalidMethod,
        HttpError::InvalidTarget,
        HttpError::UnsupportedVersion,
        HttpError::InvalidVersion,
        HttpError::InvalidHeaderName,
        HttpError::InvalidHeaderValue,
        HttpError::WhitespaceBeforeColon,
        HttpError::ObsoleteLineFolding,
        HttpError::BareLineEnding,
        HttpError::MalformedRequestLine,
        HttpError::InvalidContentLength,
        HttpError::ConflictingContentLength,
        HttpError::ContentLengthWithTransferEncoding,
        HttpError::UnsupportedTransferEncoding,
        HttpError::InvalidTransferEncoding,
        HttpError::MissingHost,
        HttpError::DuplicateHost,
        HttpError::InvalidHost,
        HttpError::InvalidPathEncoding,
        HttpError::DuplicateContentType,
        HttpError::InvalidChunkSize,
        HttpError::InvalidChunkExtension,
        HttpError::MissingChunkTerminator,
        HttpError::ForbiddenTrailer,
        HttpError::InvalidTrailer,
        HttpError::BodyTooLarge,
        HttpError::IncompleteBody,
    ];

    /// The rule's name in `snake_case`: the `reason` label of
    /// `ferrule_requests_rejected_total`. Bounded: one per variant.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::RequestLineTooLong => "request_line_too_long",
            HttpError::TooManyHeaders => "too_many_headers",
            HttpError::HeaderTooLarge => "header_too_large",
            HttpError::HeadTooLarge => "head_too_large",
            HttpError::InvalidMethod => "invalid_method",
            HttpError::InvalidTarget => "invalid_target",
            HttpError::UnsupportedVersion => "unsupported_version",
            HttpError::InvalidVersion => "invalid_version",
            HttpError::InvalidHeaderName => "invalid_header_name",
            HttpError::InvalidHeaderValue => "invalid_header_value",
            HttpError::WhitespaceBeforeColon => "whitespace_before_colon",
            HttpError::ObsoleteLineFolding => "obsolete_line_folding",
            HttpError::BareLineEnding => "bare_line_ending",
            HttpError::MalformedRequestLine => "malformed_request_line",
            HttpError::InvalidContentLength => "invalid_content_length",
            HttpError::ConflictingContentLength => "conflicting_content_length",
            HttpError::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            HttpError::UnsupportedTransferEncoding => "unsupported_transfer_encoding",
            HttpError::InvalidTransferEncoding => "invalid_transfer_encoding",
            HttpError::MissingHost => "missing_host",
            HttpError::DuplicateHost => "duplicate_host",
            HttpError::InvalidHost => "invalid_host",
            HttpError::InvalidPathEncoding => "invalid_path_encoding",
            HttpError::DuplicateContentType => "duplicate_content_type",
            HttpError::InvalidChunkSize => "invalid_chunk_size",
            HttpError::InvalidChunkExtension => "invalid_chunk_extension",
            HttpError::MissingChunkTerminator => "missing_chunk_terminator",
            HttpError::ForbiddenTrailer => "forbidden_trailer",
            HttpError::InvalidTrailer => "invalid_trailer",
            HttpError::BodyTooLarge => "body_too_large",
            HttpError::IncompleteBody => "incomplete_body",
        }
    }

    /// This rule's position in `ALL`.
    pub fn kind_index(&self) -> usize {
        // A field-less enum's discriminants count from 0 in declaration order, the order
        // of `ALL` (a test checks it).
        self.clone() as usize
    }
}

/// The reason phrase of a status (RFC 9110 §15, plus RFC 6585's 428/429/431 and a few
/// in wide use): the server's own pages, and the status lines of apps that give a code
/// only (ASGI). `""` for any other code (the status line stays valid: the phrase may be
/// empty).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::HttpError;

    #[test]
    fn every_rule_has_one_kind_name_at_its_index() {
        let mut names = std::collections::HashSet::new();
        for (index, err) in HttpError::ALL.iter().enumerate() {
            assert_eq!(err.kind_index(), index, "{err:?}");
            assert!(names.insert(err.kind()), "{} twice", err.kind());
        }
        assert_eq!(HttpError::InvalidHost.kind(), "invalid_host");
        assert_eq!(
            HttpError::RequestLineTooLong.kind(),
            "request_line_too_long"
        );
    }

    #[test]
    fn maps_each_limit_and_unsupported_feature_to_its_own_status() {
        let cases = [
            (HttpError::RequestLineTooLong, 414, "URI Too Long"),
            (
                HttpError::TooManyHeaders,
                431,
                "Request Header Fields Too Large",
            ),
            (
                HttpError::HeaderTooLarge,
                431,
                "Request Header Fields Too Large",
            ),
            (
                HttpError::HeadTooLarge,
                431,
                "Request Header Fields Too Large",
            ),
            (HttpError::BodyTooLarge, 413, "Content Too Large"),
            (
                HttpError::UnsupportedTransferEncoding,
                501,
                "Not Implemented",
            ),
            (
                HttpError::UnsupportedVersion,
                505,
                "HTTP Version Not Supported",
            ),
            (HttpError::InvalidVersion, 400, "Bad Request"),
            (HttpError::ConflictingContentLength, 400, "Bad Request"),
            (HttpError::DuplicateContentType, 400, "Bad Request"),
            (HttpError::InvalidHost, 400, "Bad Request"),
            (HttpError::IncompleteBody, 400, "Bad Request"),
        ];
        for (error, status, reason) in cases {
            assert_eq!(
                (error.status(), error.reason()),
                (status, reason),
                "{error:?}"
            );
        }
    }
}
