//! Request heads: `request_head` parses and validates a head with `httparse`, then applies
//! the framing rules of RFC 9112 §6.3 and the limits. "Need more bytes" is `Ok(None)`.

use bytes::BytesMut;

use super::{HttpError, Limits, RequestHead};

/// Parses one request head from the front of `buf`.
///
/// On `Ok(Some(head))` the head's bytes have been split off `buf` (without copying); what
/// remains is body or pipelined bytes. On `Ok(None)` nothing is consumed: read more and call
/// again. Limits are checked on incomplete input too, so a client cannot grow a head forever.
///
/// # Errors
/// Any broken rule, as the `HttpError` variant that names it.
pub fn request_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RequestHead>, HttpError> {
    let _ = (buf, limits);
    todo!("implemented by the http work")
}
