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

/// The reason phrase of a status the server answers on its own (RFC 9110 §15); `""` for
/// one it never sends (the status line stays valid: the phrase may be empty).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        301 => "Moved Permanently",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
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
