//! Request body decoding: `BodyDecoder` turns framed bytes from the connection buffer into
//! body data, for `Content-Length` and chunked bodies (RFC 9112 §6, §7.1), enforcing
//! `max_body_bytes` as it goes. It never consumes bytes past the end of the body.

use bytes::{Bytes, BytesMut};

use super::{BodyFraming, HttpError, Limits};

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
    _private: (),
}

impl BodyDecoder {
    pub fn new(framing: BodyFraming, limits: &Limits) -> Self {
        let _ = (framing, limits);
        todo!("implemented by the http work")
    }

    /// Takes body bytes from the front of `buf`.
    ///
    /// # Errors
    /// Chunk framing errors and `BodyTooLarge`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, HttpError> {
        let _ = buf;
        todo!("implemented by the http work")
    }

    /// True once `decode` has returned `Done`.
    pub fn is_done(&self) -> bool {
        todo!("implemented by the http work")
    }
}
