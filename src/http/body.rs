//! Request body decoding: `BodyDecoder` turns framed bytes from the connection buffer into
//! body data, for `Content-Length` and chunked bodies (RFC 9112 §6, §7.1), enforcing
//! `max_body_bytes` as it goes. It never consumes bytes past the end of the body.
//!
//! Design: a state machine (`State`) that consumes only complete framing units (a chunk
//! size line, the CRLF after chunk data, one trailer line) and hands out data as soon as it
//! arrives, split off the buffer without copying.

use bytes::{Buf, Bytes, BytesMut};

use super::field::{self, FieldLine};
use super::{BodyFraming, HttpError, Limits};

/// Longest chunk size line, chunk size and extensions included, CRLF excluded. Over it:
/// `InvalidChunkExtension` (the 16 hex digits of a size always fit). 4 KiB: room for any
/// extension seen in practice, chosen without measurement.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// The most hex digits a chunk size may have: 16 digits fill a `u64`.
const MAX_CHUNK_SIZE_DIGITS: usize = 16;

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The buffer holds no further complete unit; read more from the socket.
    NeedMore,
    /// The body ended (for chunked: the last chunk and trailer section were consumed).
    Done,
}

/// Decodes one request body out of the connection buffer.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// Chunked bodies: body bytes announced by chunk sizes so far, checked against
    /// `max_body_bytes` when each size line arrives.
    announced: u64,
    /// 0 means unlimited, as in `Limits`.
    max_body_bytes: u64,
    /// Bounds each trailer line, as `max_header_bytes` bounds each header line.
    max_trailer_line_bytes: usize,
    /// Bounds the trailer section, as `max_header_count` bounds the header section.
    max_trailer_count: usize,
}

/// Where the decoder is in the body. Chunked states follow RFC 9112 §7.1:
/// `*chunk last-chunk trailer-section CRLF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Content-Length` body with this many bytes still to hand out.
    Length {
        remaining: u64,
    },
    /// A `Content-Length` over `max_body_bytes`: every call answers `BodyTooLarge`.
    TooLarge,
    /// Expecting `chunk-size [ chunk-ext ] CRLF`; `line` is how far its bytes were scanned.
    ChunkSize {
        line: LineScan,
    },
    /// Inside a chunk's data.
    ChunkData {
        remaining: u64,
    },
    /// Expecting the CRLF after a chunk's data.
    ChunkDataEnd,
    /// After the last chunk: trailer field lines, then the final CRLF.
    Trailers {
        fields: usize,
    },
    Done,
}

impl BodyDecoder {
    /// A decoder for one body framed as `framing` (from the request head), bounded by
    /// `max_body_bytes` and, for trailers, by the header limits.
    pub fn new(framing: BodyFraming, limits: &Limits) -> Self {
        let max_body_bytes = limits.max_body_bytes;
        let state = match framing {
            BodyFraming::Empty => State::Done,
            BodyFraming::Length(n) if max_body_bytes != 0 && n > max_body_bytes => State::TooLarge,
            BodyFraming::Length(n) => State::Length { remaining: n },
            BodyFraming::Chunked => State::ChunkSize {
                line: LineScan::default(),
            },
        };
        BodyDecoder {
            state,
            announced: 0,
            max_body_bytes,
            max_trailer_line_bytes: limits.max_header_bytes,
            max_trailer_count: limits.max_header_count,
        }
    }

    /// Takes body bytes from the front of `buf`.
    ///
    /// Returns `Data` with as many body bytes as `buf` holds (up to the end of the current
    /// chunk), `NeedMore` when `buf` holds no complete unit, and `Done` once the body has
    /// ended; after that it keeps answering `Done` without touching `buf`.
    ///
    /// # Errors
    /// Chunk framing errors and `BodyTooLarge`. After an error the decoder's state is
    /// unspecified: the caller answers and closes the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, HttpError> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::TooLarge => return Err(HttpError::BodyTooLarge),
                State::Length { remaining: 0 } => {
                    self.state = State::Done;
                    return Ok(Decoded::Done);
                }
                State::Length { remaining } => {
                    return Ok(match take(buf, remaining) {
                        Some(data) => {
                            self.state = State::Length {
                                remaining: remaining - data.len() as u64,
                            };
                            Decoded::Data(data)
                        }
                        None => Decoded::NeedMore,
                    });
                }
                State::ChunkSize { mut line } => {
                    let Some((size, line_len)) = chunk_size_line(buf, &mut line)? else {
                        self.state = State::ChunkSize { line };
                        return Ok(Decoded::NeedMore);
                    };
                    self.announce(size)?;
                    buf.advance(line_len);
                    self.state = if size == 0 {
                        State::Trailers { fields: 0 }
                    } else {
                        State::ChunkData { remaining: size }
                    };
                }
                State::ChunkData { remaining } => {
                    return Ok(match take(buf, remaining) {
                        Some(data) => {
                            let left = remaining - data.len() as u64;
                            self.state = if left == 0 {
                                State::ChunkDataEnd
                            } else {
                                State::ChunkData { remaining: left }
                            };
                            Decoded::Data(data)
                        }
                        None => Decoded::NeedMore,
                    });
                }
                // RFC 9112 §7.1: `chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF`.
                State::ChunkDataEnd => match buf[..] {
                    [] | [b'\r'] => return Ok(Decoded::NeedMore),
                    [b'\r', b'\n', ..] => {
                        buf.advance(2);
                        self.state = State::ChunkSize {
                            line: LineScan::default(),
                        };
                    }
                    [b'\n', ..] | [b'\r', _, ..] => return Err(HttpError::BareLineEnding),
                    [_, ..] => return Err(HttpError::MissingChunkTerminator),
                },
                State::Trailers { fields } => {
                    let Some(end) = field::line_end(
                        buf,
                        0,
                        self.max_trailer_line_bytes,
                        HttpError::HeaderTooLarge,
                    )?
                    else {
                        return Ok(Decoded::NeedMore);
                    };
                    if end == 0 {
                        buf.advance(2);
                        self.state = State::Done;
                        return Ok(Decoded::Done);
                    }
                    if fields == self.max_trailer_count {
                        return Err(HttpError::TooManyHeaders);
                    }
                    check_trailer(&buf[..end])?;
                    buf.advance(end + 2);
                    self.state = State::Trailers { fields: fields + 1 };
                }
            }
        }
    }

    /// True once `decode` has returned `Done`.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The peer closed its side: fine if the body was complete, else `IncompleteBody`.
    /// A `Content-Length` body whose last byte was handed out counts as complete.
    ///
    /// # Errors
    /// `IncompleteBody` when the body had not ended.
    pub fn on_eof(&self) -> Result<(), HttpError> {
        match self.state {
            State::Done | State::Length { remaining: 0 } => Ok(()),
            _ => Err(HttpError::IncompleteBody),
        }
    }

    /// Counts a chunk's size against `max_body_bytes` before its data is read.
    fn announce(&mut self, size: u64) -> Result<(), HttpError> {
        let total = self
            .announced
            .checked_add(size)
            .ok_or(HttpError::BodyTooLarge)?;
        if self.max_body_bytes != 0 && total > self.max_body_bytes {
            return Err(HttpError::BodyTooLarge);
        }
        self.announced = total;
        Ok(())
    }
}

/// Splits up to `limit` bytes off the front of `buf`; `None` when `buf` is empty.
fn take(buf: &mut BytesMut, limit: u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let n = usize::try_from(limit).map_or(buf.len(), |limit| limit.min(buf.len()));
    Some(buf.split_to(n).freeze())
}

/// Where `chunk_size_line` is inside `chunk-size [ chunk-ext ] CRLF`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum LineState {
    #[default]
    Size,
    /// Whitespace after the size; only `;` may follow (BWS before a chunk-ext).
    AfterSize,
    BeforeName,
    Name,
    AfterName,
    BeforeValue,
    TokenValue,
    QuotedValue,
    QuotedEscape,
    AfterQuotedValue,
    AfterValue,
    Cr,
}

/// How much of an unfinished chunk size line `chunk_size_line` has scanned, kept in the
/// decoder between reads so that a line trickled in one byte per read is scanned once
/// (without it, every read rescanned the line: O(n²) up to `MAX_CHUNK_LINE_BYTES`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LineScan {
    /// Bytes of the line scanned so far (the buffer keeps them until the line ends).
    scanned: usize,
    state: LineState,
    size: u64,
    digits: usize,
}

/// Parses a chunk size line at the front of `bytes`: `Ok(Some((size, line_len)))` with the
/// CRLF counted in `line_len`, or `Ok(None)` until the line is complete. Scanning resumes
/// where `scan` says the last call stopped, and `scan` records where this one stopped.
///
/// RFC 9112 §7.1 and §7.1.1, byte by byte, so the first bad byte decides the error
/// however the line was split across reads:
/// ```text
/// chunk-size     = 1*HEXDIG
/// chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-name = token
/// chunk-ext-val  = token / quoted-string
/// ```
/// A CR or LF inside a quoted string is an invalid extension byte; elsewhere a CR not
/// followed by LF, or an LF without CR, is a bare line ending. Extensions are validated and
/// discarded.
fn chunk_size_line(bytes: &[u8], scan: &mut LineScan) -> Result<Option<(u64, usize)>, HttpError> {
    use LineState as S;
    let LineScan {
        scanned,
        mut state,
        mut size,
        mut digits,
    } = *scan;
    for (i, &b) in bytes.iter().enumerate().skip(scanned) {
        if i >= MAX_CHUNK_LINE_BYTES && !matches!(state, S::Cr) && b != b'\r' {
            return Err(HttpError::InvalidChunkExtension);
        }
        let ows = field::is_ows(b);
        let tchar = field::is_tchar(b);
        state = match (state, b) {
            (S::Size, _) if b.is_ascii_hexdigit() => {
                digits += 1;
                if digits > MAX_CHUNK_SIZE_DIGITS {
                    return Err(HttpError::InvalidChunkSize);
                }
                let digit = (b as char).to_digit(16).expect("checked: a hex digit");
                size = (size << 4) | u64::from(digit);
                S::Size
            }
            (S::Size, _) if digits == 0 => return Err(HttpError::InvalidChunkSize),
            (S::Size, b'\r') => S::Cr,
            (S::Size | S::AfterSize, b';') => S::BeforeName,
            (S::Size | S::AfterSize, _) if ows => S::AfterSize,
            (S::Size | S::AfterSize, b'\n') => return Err(HttpError::BareLineEnding),
            (S::Size | S::AfterSize, _) => return Err(HttpError::InvalidChunkSize),

            (S::BeforeName, _) if ows => S::BeforeName,
            (S::BeforeName | S::Name, _) if tchar => S::Name,
            (S::Name | S::AfterName, _) if ows => S::AfterName,
            (S::Name | S::AfterName, b'=') => S::BeforeValue,
            (S::BeforeValue, _) if ows => S::BeforeValue,
            (S::BeforeValue, b'"') => S::QuotedValue,
            (S::BeforeValue | S::TokenValue, _) if tchar => S::TokenValue,
            (S::QuotedValue, b'"') => S::AfterQuotedValue,
            (S::QuotedValue, b'\\') => S::QuotedEscape,
            (S::QuotedValue, _) if field::is_qdtext(b) => S::QuotedValue,
            (S::QuotedEscape, _) if field::is_quoted_pair_byte(b) => S::QuotedValue,
            (S::QuotedValue | S::QuotedEscape, _) => return Err(HttpError::InvalidChunkExtension),
            (S::TokenValue | S::AfterQuotedValue | S::AfterValue, _) if ows => S::AfterValue,
            (
                S::Name | S::AfterName | S::TokenValue | S::AfterQuotedValue | S::AfterValue,
                b';',
            ) => S::BeforeName,
            (S::Name | S::TokenValue | S::AfterQuotedValue, b'\r') => S::Cr,

            (S::Cr, b'\n') => return Ok(Some((size, i + 1))),
            (_, b'\n') | (S::Cr, _) => return Err(HttpError::BareLineEnding),
            (_, _) => return Err(HttpError::InvalidChunkExtension),
        };
    }
    *scan = LineScan {
        scanned: bytes.len(),
        state,
        size,
        digits,
    };
    Ok(None)
}

/// Validates one trailer line (RFC 9112 §7.1.2) like a header line, then refuses the fields
/// that would change framing or routing if a later hop merged trailers into the head
/// (RFC 9110 §6.5.1). Trailers are discarded after this check.
fn check_trailer(line: &[u8]) -> Result<(), HttpError> {
    if field::is_ows(line[0]) {
        return Err(HttpError::InvalidTrailer);
    }
    let FieldLine { name, .. } =
        field::split_field_line(line).map_err(|_| HttpError::InvalidTrailer)?;
    let name = &line[name];
    if FORBIDDEN_TRAILERS
        .iter()
        .any(|forbidden| name.eq_ignore_ascii_case(forbidden.as_bytes()))
    {
        return Err(HttpError::ForbiddenTrailer);
    }
    Ok(())
}

/// Trailer fields we refuse. Only framing and routing fields: the others RFC 9110 §6.5.1
/// lists are harmless here because trailers never reach the app.
const FORBIDDEN_TRAILERS: [&str; 3] = ["content-length", "transfer-encoding", "host"];

#[cfg(test)]
mod tests;
