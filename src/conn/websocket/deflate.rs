//! permessage-deflate (RFC 7692), bounded. The negotiation: an offer is taken when the
//! server can honour all of its parameters (any `client_max_window_bits`; no
//! `server_max_window_bits` below 15, which the DEFLATE back end cannot produce), and the
//! answer always says `server_no_context_takeover`, so the server keeps no window between
//! messages it sends. Inflation stops at `ws_max_message_bytes` (close 1009): a small
//! compressed message cannot become a large one in memory. State is made on first use:
//! an idle connection holds none.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Messages shorter than this go out uncompressed (RSV1 clear): compressing them costs more
/// than it saves. 1 KiB, chosen without measurement.
pub const COMPRESS_MIN: usize = 1024;

/// §7.2.1: the four bytes a sync flush ends with, removed after compressing and put back
/// before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// An accepted offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The client offered `client_no_context_takeover`: its window is reset per message,
    /// so ours can be too.
    pub client_no_context_takeover: bool,
}

impl DeflateParams {
    /// One offer of `Sec-WebSocket-Extensions` (`permessage-deflate; param; ...`), if the
    /// server can take it.
    pub fn from_offer(offer: &[u8]) -> Option<DeflateParams> {
        let text = std::str::from_utf8(offer).ok()?;
        let mut parts = text.split(';').map(str::trim);
        if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
            return None;
        }
        let mut params = DeflateParams {
            client_no_context_takeover: false,
        };
        for param in parts {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (param, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
                // We keep no context anyway; any window the client uses can be inflated
                // with ours (15 bits); 15 bits is the only window we compress with.
                ("server_no_context_takeover" | "client_max_window_bits", None)
                | ("server_max_window_bits", Some("15")) => {}
                ("client_max_window_bits", Some(v)) if valid_bits(v) => {}
                _ => return None,
            }
        }
        Some(params)
    }

    /// The `Sec-WebSocket-Extensions` answer.
    pub fn response(self) -> String {
        let mut out = String::from("permessage-deflate; server_no_context_takeover");
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        out
    }
}

fn valid_bits(v: &str) -> bool {
    v.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b))
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// Larger than the limit once inflated (1009).
    TooLarge,
    /// Not a DEFLATE stream (1007: RFC 7692 §8 leaves the code to the endpoint; the data is
    /// inconsistent with the message type).
    Invalid,
}

/// One connection's compression state.
pub struct Deflate {
    params: DeflateParams,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
}

impl Deflate {
    pub fn new(params: DeflateParams) -> Deflate {
        Deflate {
            params,
            compressor: None,
            decompressor: None,
        }
    }

    /// Compresses one whole message (the payload of a frame with RSV1 set).
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let compressor = self
            .compressor
            .get_or_insert_with(|| Compress::new(Compression::fast(), false));
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            let before = compressor.total_in();
            // Writing into a Vec with room cannot fail; an error would be a bug in the
            // back end, and then the bytes sent so far are still a valid stream prefix.
            let status = compressor.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync);
            consumed += usize::try_from(compressor.total_in() - before).unwrap_or(0);
            let room_left = out.len() < out.capacity();
            if status.is_err() || (consumed == data.len() && room_left) {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        // server_no_context_takeover: every message starts from an empty window.
        compressor.reset();
        out
    }

    /// Inflates one whole message, at most `limit` bytes.
    ///
    /// # Errors
    /// `TooLarge` past `limit`; `Invalid` for data that is not DEFLATE.
    pub fn decompress(&mut self, data: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new(false));
        let mut input = Vec::with_capacity(data.len() + TAIL.len());
        input.extend_from_slice(data);
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity((data.len() * 4).clamp(256, limit.saturating_add(1)));
        let mut consumed = 0;
        loop {
            let (before_in, before_out) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Invalid)?;
            consumed += usize::try_from(decompressor.total_in() - before_in).unwrap_or(0);
            if out.len() > limit {
                return Err(InflateError::TooLarge);
            }
            let progressed =
                decompressor.total_in() != before_in || decompressor.total_out() != before_out;
            if status == Status::StreamEnd
                || (consumed == input.len() && out.len() < out.capacity())
                || !progressed && out.len() < out.capacity()
            {
                break;
            }
            if out.len() == out.capacity() {
                let grow = out.capacity().max(256).min(limit + 1 - out.len());
                out.reserve_exact(grow);
            }
        }
        if self.params.client_no_context_takeover {
            // The client starts each message from an empty window: keep no state.
            self.decompressor = None;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_offers_it_can_honour_and_answers_without_server_context() {
        let rows: &[(&[u8], Option<bool>)] = &[
            (b"permessage-deflate", Some(false)),
            (b"permessage-deflate; client_max_window_bits", Some(false)),
            (
                b"permessage-deflate; client_max_window_bits=10",
                Some(false),
            ),
            (
                b"permessage-deflate; client_no_context_takeover",
                Some(true),
            ),
            (
                b"permessage-deflate; server_max_window_bits=15",
                Some(false),
            ),
            (b"permessage-deflate; server_max_window_bits=10", None),
            (b"permessage-deflate; unknown", None),
            (b"x-webkit-deflate-frame", None),
        ];
        for (offer, expected) in rows {
            let got = DeflateParams::from_offer(offer).map(|p| p.client_no_context_takeover);
            assert_eq!(got, *expected, "{}", String::from_utf8_lossy(offer));
        }
        let params = DeflateParams::from_offer(b"permessage-deflate; client_no_context_takeover")
            .expect("taken");
        assert_eq!(
            params.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn round_trips_and_refuses_a_bomb_past_the_limit() {
        let params = DeflateParams {
            client_no_context_takeover: false,
        };
        let mut ours = Deflate::new(params);
        let message = b"hello hello hello hello ".repeat(200);
        let packed = ours.compress(&message);
        assert!(packed.len() < message.len() / 10);
        let mut theirs = Deflate::new(params);
        assert_eq!(theirs.decompress(&packed, 1 << 20), Ok(message.clone()));
        // 10 MiB of zeros compress to ~10 KiB; a 1 MiB limit stops the inflation.
        let bomb = ours.compress(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            Deflate::new(params).decompress(&bomb, 1 << 20),
            Err(InflateError::TooLarge)
        );
        assert_eq!(
            Deflate::new(params).decompress(b"\xff\xff\xff garbage", 1 << 20),
            Err(InflateError::Invalid)
        );
    }
}
