//! WebSocket frames in and out (RFC 6455 §5), sans-I/O: `Reader` turns the bytes a client
//! sent into messages and control frames, enforcing the rules as it goes; `write_frame`
//! encodes the server's frames. Frame heads are parsed and written by tungstenite's
//! `FrameHeader`; the rules are ours, each with the close code it earns.

use std::io::Cursor;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::deflate::{Deflate, InflateError};
use crate::bridge::WsMessage;

/// What the client sent, as the connection acts on it.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Message(WsMessage),
    Ping(Bytes),
    Pong,
    /// A close frame: its code (1005 when it had none, §7.1.5) and reason.
    Close {
        code: u16,
        reason: String,
    },
}

/// A broken rule, with the close code it earns (§7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

const fn violation(code: u16, reason: &'static str) -> Violation {
    Violation { code, reason }
}

/// 1002: the peer broke the protocol.
const PROTOCOL: u16 = 1002;
/// 1007: data inconsistent with the message type (text that is not UTF-8).
const INVALID_DATA: u16 = 1007;
/// 1009: a message too big to process.
const TOO_BIG: u16 = 1009;

/// A message whose frames are still coming.
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
}

/// Reads frames from a connection's buffer. See the module docs.
pub struct Reader {
    /// `ws_max_message_bytes`.
    max_message: usize,
    partial: Option<Partial>,
}

impl Reader {
    pub fn new(max_message: usize) -> Reader {
        Reader {
            max_message,
            partial: None,
        }
    }

    /// The next complete message or control frame in `buf` (its bytes are taken), or
    /// `None` until more bytes come. Continuation frames are gathered here.
    ///
    /// # Errors
    /// The rule the client broke; the connection must be closed with its code.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        deflate: Option<&mut Deflate>,
    ) -> Result<Option<Incoming>, Violation> {
        let mut deflate = deflate;
        loop {
            let mut cursor = Cursor::new(&buf[..]);
            let Some((header, len)) = FrameHeader::parse(&mut cursor)
                .map_err(|_| violation(PROTOCOL, "reserved opcode"))?
            else {
                return Ok(None);
            };
            let head_len = cursor.position() as usize;
            self.check(&header, len, deflate.is_some())?;
            let len = len as usize; // bounded by `check`: at most max_message
            if buf.len() < head_len + len {
                buf.reserve(head_len + len - buf.len());
                return Ok(None);
            }
            let mut payload = buf.split_to(head_len + len);
            payload.advance(head_len);
            if let Some(mask) = header.mask {
                unmask(&mut payload, mask);
            }
            match header.opcode {
                OpCode::Control(Control::Close) => return close_frame(&payload).map(Some),
                OpCode::Control(Control::Ping) => {
                    return Ok(Some(Incoming::Ping(payload.freeze())))
                }
                OpCode::Control(Control::Pong) => return Ok(Some(Incoming::Pong)),
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                    return Err(violation(PROTOCOL, "reserved opcode"))
                }
                OpCode::Data(Data::Continue) => {
                    let partial = self
                        .partial
                        .as_mut()
                        .ok_or(violation(PROTOCOL, "continuation frame without a message"))?;
                    partial.data.extend_from_slice(&payload);
                }
                OpCode::Data(kind) => {
                    if self.partial.is_some() {
                        return Err(violation(PROTOCOL, "new message inside a fragmented one"));
                    }
                    self.partial = Some(Partial {
                        text: kind == Data::Text,
                        compressed: header.rsv1,
                        data: payload,
                    });
                }
            }
            if header.is_final {
                let partial = self.partial.take().expect("a data frame just set it");
                return self.finish(partial, deflate.as_deref_mut()).map(Some);
            }
        }
    }

    /// The rules that can be checked from the head alone, before the payload is buffered.
    fn check(&self, header: &FrameHeader, len: u64, deflate: bool) -> Result<(), Violation> {
        // §5.1: "a client MUST mask all frames that it sends to the server".
        if header.mask.is_none() {
            return Err(violation(PROTOCOL, "unmasked client frame"));
        }
        let control = matches!(header.opcode, OpCode::Control(_));
        // §5.2: RSV bits only with an extension that defines them; RFC 7692 §6: RSV1 on
        // the first frame of a data message, with permessage-deflate.
        let rsv1_allowed = deflate && !control && header.opcode != OpCode::Data(Data::Continue);
        if header.rsv2 || header.rsv3 || (header.rsv1 && !rsv1_allowed) {
            return Err(violation(PROTOCOL, "reserved bits set"));
        }
        // §5.5: control frames are at most 125 bytes and never fragmented.
        if control && (len > 125 || !header.is_final) {
            return Err(violation(PROTOCOL, "invalid control frame"));
        }
        let so_far = self.partial.as_ref().map_or(0, |p| p.data.len() as u64);
        if !control && so_far + len > self.max_message as u64 {
            return Err(violation(
                TOO_BIG,
                "message larger than ws_max_message_bytes",
            ));
        }
        Ok(())
    }

    fn finish(
        &self,
        partial: Partial,
        deflate: Option<&mut Deflate>,
    ) -> Result<Incoming, Violation> {
        let data: Bytes = if partial.compressed {
            let deflate = deflate.ok_or(violation(PROTOCOL, "reserved bits set"))?;
            match deflate.decompress(&partial.data, self.max_message) {
                Ok(data) => data.into(),
                Err(InflateError::TooLarge) => {
                    return Err(violation(
                        TOO_BIG,
                        "message larger than ws_max_message_bytes",
                    ))
                }
                Err(InflateError::Invalid) => {
                    return Err(violation(INVALID_DATA, "invalid compressed data"))
                }
            }
        } else {
            partial.data.freeze()
        };
        if partial.text {
            if std::str::from_utf8(&data).is_err() {
                return Err(violation(INVALID_DATA, "text message is not UTF-8"));
            }
            return Ok(Incoming::Message(WsMessage::Text(data)));
        }
        Ok(Incoming::Message(WsMessage::Binary(data)))
    }
}

/// §5.5.1: an optional 2-byte code, then an optional UTF-8 reason.
fn close_frame(payload: &[u8]) -> Result<Incoming, Violation> {
    match payload {
        [] => Ok(Incoming::Close {
            code: 1005,
            reason: String::new(),
        }),
        [_] => Err(violation(PROTOCOL, "close frame with a 1-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // §7.4: 1005, 1006 and 1015 must never be sent; 0-999 and unassigned 1xxx
            // neither.
            if !CloseCode::from(code).is_allowed() {
                return Err(violation(PROTOCOL, "invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| violation(INVALID_DATA, "close reason is not UTF-8"))?;
            Ok(Incoming::Close {
                code,
                reason: reason.to_owned(),
            })
        }
    }
}

/// §5.3: XOR with the 4-byte key.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// The opcode of a server frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Binary,
    Ping,
    Pong,
    Close,
}

/// Appends one unfragmented, unmasked frame (servers never mask, §5.1).
pub fn write_frame(out: &mut BytesMut, kind: Kind, payload: &[u8], compressed: bool) {
    let opcode = match kind {
        Kind::Text => OpCode::Data(Data::Text),
        Kind::Binary => OpCode::Data(Data::Binary),
        Kind::Ping => OpCode::Control(Control::Ping),
        Kind::Pong => OpCode::Control(Control::Pong),
        Kind::Close => OpCode::Control(Control::Close),
    };
    let header = FrameHeader {
        is_final: true,
        rsv1: compressed,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    out.reserve(header.len(payload.len() as u64) + payload.len());
    header
        .format(payload.len() as u64, &mut out.writer())
        .expect("writing to memory cannot fail");
    out.extend_from_slice(payload);
}

/// A close frame's payload: the code, then the reason cut to fit 125 bytes on a character
/// boundary.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = Vec::with_capacity(2 + end);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0xfe);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0xff);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    fn read_all(bytes: &[u8], max: usize) -> Vec<Result<Incoming, Violation>> {
        let mut reader = Reader::new(max);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match reader.next(&mut buf, None) {
                Ok(Some(incoming)) => out.push(Ok(incoming)),
                Ok(None) => return out,
                Err(v) => {
                    out.push(Err(v));
                    return out;
                }
            }
        }
    }

    #[test]
    fn gathers_fragments_and_answers_control_frames_between_them() {
        let mut bytes = client_frame(0x01, b"hel");
        bytes.extend(client_frame(0x89, b"ping!"));
        bytes.extend(client_frame(0x80, b"lo"));
        bytes.extend(client_frame(0x82, &[0, 255]));
        bytes.extend(client_frame(0x88, &close_payload(1000, "bye")));
        assert_eq!(
            read_all(&bytes, 1024),
            vec![
                Ok(Incoming::Ping(Bytes::from_static(b"ping!"))),
                Ok(Incoming::Message(WsMessage::Text(Bytes::from_static(
                    b"hello"
                )))),
                Ok(Incoming::Message(WsMessage::Binary(Bytes::from_static(&[
                    0, 255
                ])))),
                Ok(Incoming::Close {
                    code: 1000,
                    reason: "bye".into()
                }),
            ]
        );
    }

    #[test]
    fn each_broken_rule_earns_its_close_code() {
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        let rows: Vec<(&str, Vec<u8>, u16)> = vec![
            ("unmasked", unmasked, 1002),
            ("rsv1 without deflate", client_frame(0xC1, b"x"), 1002),
            ("reserved opcode", client_frame(0x83, b"x"), 1002),
            ("fragmented ping", client_frame(0x09, b"x"), 1002),
            ("long ping", client_frame(0x89, &[0; 126]), 1002),
            ("lone continuation", client_frame(0x80, b"x"), 1002),
            ("invalid utf-8", client_frame(0x81, &[0xff, 0xfe]), 1007),
            ("close code 1005", client_frame(0x88, &[0x03, 0xed]), 1002),
            ("1-byte close", client_frame(0x88, &[0x03]), 1002),
            ("too big", client_frame(0x82, &[0; 2000]), 1009),
        ];
        for (name, bytes, code) in rows {
            let got = read_all(&bytes, 1024);
            assert!(
                matches!(got.last(), Some(Err(v)) if v.code == code),
                "{name}: {got:?}"
            );
        }
        // Too big is known from the head: the payload is never buffered.
        let mut huge = client_frame(0x82, &[]);
        huge[1] = 0xff;
        huge.splice(2..2, (1u64 << 40).to_be_bytes());
        assert_eq!(read_all(&huge, 1024).len(), 1);
    }

    #[test]
    fn a_frame_split_across_reads_waits_for_its_payload() {
        let bytes = client_frame(0x82, &[7; 300]);
        let mut reader = Reader::new(1024);
        let mut buf = BytesMut::from(&bytes[..10]);
        assert_eq!(reader.next(&mut buf, None), Ok(None));
        buf.extend_from_slice(&bytes[10..]);
        assert!(matches!(
            reader.next(&mut buf, None),
            Ok(Some(Incoming::Message(WsMessage::Binary(b)))) if b.len() == 300
        ));
    }

    #[test]
    fn writes_unmasked_frames_and_bounded_close_reasons() {
        let mut out = BytesMut::new();
        write_frame(&mut out, Kind::Text, b"hi", false);
        assert_eq!(&out[..], b"\x81\x02hi");
        let payload = close_payload(1001, &"é".repeat(100));
        assert!(payload.len() <= 125);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }
}
