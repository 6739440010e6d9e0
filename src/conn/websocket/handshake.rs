//! The opening handshake, server side (RFC 6455 §4.2), sans-I/O: whether a request asks for
//! a WebSocket, what is wrong with one that asks badly, the subprotocols it offers, the
//! permessage-deflate offer it makes (RFC 7692 §7.1) and the `101` that accepts it.

use bytes::BytesMut;

use super::deflate::DeflateParams;
use crate::bridge::WsAccept;
use crate::http::{BodyFraming, RequestHead, Version};

/// Why a request that asks for a WebSocket cannot have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// RFC 6455 §4.2.1 ¶1-4: a GET on HTTP/1.1 (or later), with `Connection: upgrade`.
    #[error("a WebSocket handshake must be an HTTP/1.1 GET with Connection: upgrade")]
    NotAGetUpgrade,
    /// §4.2.1 ¶5: `Sec-WebSocket-Key` is the base64 of 16 bytes.
    #[error("missing or invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// §4.2.1 ¶6: version 13 only (answered 426 with `Sec-WebSocket-Version: 13`).
    #[error("unsupported Sec-WebSocket-Version (13 is supported)")]
    UnsupportedVersion,
    /// A body on a handshake would be read as the first frames.
    #[error("a WebSocket handshake cannot have a body")]
    HasBody,
}

/// A valid handshake request: what the `101` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// `Sec-WebSocket-Accept`'s value.
    pub accept_key: String,
    /// `Sec-WebSocket-Protocol`, in the client's order.
    pub subprotocols: Vec<String>,
    /// The client's permessage-deflate offer, when it made one the server can take.
    pub deflate: Option<DeflateParams>,
}

fn header_tokens<'a>(head: &'a RequestHead, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    head.header_pairs()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// The request asks for a WebSocket (`Upgrade: websocket`): `conn` then serves it as one,
/// or refuses it, rather than as a plain request.
pub fn is_upgrade(head: &RequestHead) -> bool {
    header_tokens(head, "upgrade").any(|t| t.eq_ignore_ascii_case(b"websocket"))
}

/// Checks a request that `is_upgrade` (RFC 6455 §4.2.1).
///
/// # Errors
/// The rule it breaks.
pub fn check(head: &RequestHead, deflate_allowed: bool) -> Result<Handshake, HandshakeError> {
    let connection_upgrade =
        header_tokens(head, "connection").any(|t| t.eq_ignore_ascii_case(b"upgrade"));
    if head.method() != "GET" || head.version != Version::Http11 || !connection_upgrade {
        return Err(HandshakeError::NotAGetUpgrade);
    }
    if !matches!(head.framing, BodyFraming::Empty | BodyFraming::Length(0)) {
        return Err(HandshakeError::HasBody);
    }
    let versions: Vec<&[u8]> = header_tokens(head, "sec-websocket-version").collect();
    if versions != [b"13"] {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let mut keys = head
        .header_pairs()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-key"))
        .map(|(_, v)| v.trim_ascii());
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_base64_of_16_bytes(key) => key,
        _ => return Err(HandshakeError::InvalidKey),
    };
    let subprotocols = header_tokens(head, "sec-websocket-protocol")
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let deflate = if deflate_allowed {
        head.header_pairs()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-extensions"))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .find_map(DeflateParams::from_offer)
    } else {
        None
    };
    Ok(Handshake {
        accept_key: tungstenite::handshake::derive_accept_key(key),
        subprotocols,
        deflate,
    })
}

/// 24 base64 characters ending in `==`: 16 bytes (§4.1: "a randomly selected 16-byte value
/// that has been base64-encoded").
fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The `101 Switching Protocols` head accepting `handshake` with the app's choices.
pub fn accept_head(out: &mut BytesMut, handshake: &Handshake, accept: &WsAccept) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.extend_from_slice(handshake.accept_key.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(protocol) = &accept.subprotocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(deflate) = &handshake.deflate {
        out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        out.extend_from_slice(deflate.response().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&accept.header_block);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse, Limits};

    fn head(extra: &str) -> RequestHead {
        let raw = format!("GET /ws HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        let mut buf = BytesMut::from(raw.as_bytes());
        parse::request_head(&mut buf, &Limits::default())
            .expect("valid")
            .expect("complete")
    }

    const GOOD: &str = "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    #[test]
    fn accepts_the_rfc_example_with_its_accept_key() {
        let h = head(&format!(
            "{GOOD}Sec-WebSocket-Protocol: chat, superchat\r\n"
        ));
        assert!(is_upgrade(&h));
        let hs = check(&h, true).expect("valid");
        // RFC 6455 §1.3's example.
        assert_eq!(hs.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(hs.subprotocols, ["chat", "superchat"]);
        assert_eq!(hs.deflate, None);
    }

    #[test]
    fn names_the_rule_a_bad_handshake_breaks() {
        let rows = [
            (
                "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
                HandshakeError::NotAGetUpgrade,
            ),
            (
                "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n",
                HandshakeError::InvalidKey,
            ),
            (
                "Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
                HandshakeError::UnsupportedVersion,
            ),
            (
                &format!("{GOOD}Content-Length: 3\r\n"),
                HandshakeError::HasBody,
            ),
        ];
        for (extra, expected) in rows {
            assert_eq!(check(&head(extra), true), Err(expected), "{extra}");
        }
    }

    #[test]
    fn takes_a_deflate_offer_only_when_allowed() {
        let h = head(&format!(
            "{GOOD}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        ));
        assert!(check(&h, true).expect("valid").deflate.is_some());
        assert!(check(&h, false).expect("valid").deflate.is_none());
    }
}
