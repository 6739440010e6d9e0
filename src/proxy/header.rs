//! The PROXY protocol header (`proxy-protocol.txt` of `HAProxy`, versions 1 and 2): the
//! bytes a load balancer sends before the client's, naming the client's address.
//! Sans-I/O, like `http::parse`: `parse(&buf, versions)` answers `Ok(None)` (need more
//! bytes), the header and its length, or the rule it broke. A buffer that cannot start a
//! header is refused from its first bytes, not after a timeout.
//!
//! Bounds: a v1 line is at most 107 bytes (spec §2.1); a v2 header at most 16 + 4096
//! bytes (`MAX_V2_PAYLOAD`). TLVs (§2.2.7) are walked within the header's length and
//! kept only where a later feature will want them (ALPN, authority, unique ID, TLS);
//! none of them changes how a request is served today.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Which versions a listener accepts (`--proxy-protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// No PROXY header is expected: the connection's bytes are HTTP from the first.
    #[default]
    Off,
    V1,
    V2,
    /// Either, told apart by the first byte.
    Auto,
}

impl ProxyProtocol {
    fn accepts_v1(self) -> bool {
        matches!(self, ProxyProtocol::V1 | ProxyProtocol::Auto)
    }

    fn accepts_v2(self) -> bool {
        matches!(self, ProxyProtocol::V2 | ProxyProtocol::Auto)
    }
}

/// The longest v1 line, CRLF included (spec §2.1: "107 bytes").
pub const MAX_V1_LINE: usize = 107;

/// The longest v2 payload (addresses and TLVs) accepted. The format allows 65535; real
/// senders stay far below (the TLS TLVs of `HAProxy`, the VPC endpoint ID of AWS: tens to
/// hundreds of bytes). 4 KiB: chosen without measurement, generous for them and small enough that a
/// connection cannot make the server buffer much before proving anything.
pub const MAX_V2_PAYLOAD: usize = 4096;

/// The v2 signature (spec §2.2).
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// A parsed PROXY header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    pub version: u8,
    pub addresses: Addresses,
    pub tlvs: Tlvs,
}

/// Who the connection is for, as the header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addresses {
    /// v2 `LOCAL` (the proxy's own connection, e.g. a health check), v1 `UNKNOWN`, or a v2
    /// `UNSPEC` family: the socket's own addresses stand (spec §2.1, §2.2).
    Local,
    /// The client (`source`) and the address it connected to (`destination`).
    Inet {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// v2 `AF_UNIX`: the client reached the proxy over a unix socket; it has no address.
    Unix,
}

/// The TLVs kept from a v2 header (spec §2.2.7); the others are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tlvs {
    /// `PP2_TYPE_ALPN`: the protocol the client negotiated with the proxy.
    pub alpn: Option<Vec<u8>>,
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI).
    pub authority: Option<Vec<u8>>,
    /// `PP2_TYPE_UNIQUE_ID`: the proxy's ID of the connection.
    pub unique_id: Option<Vec<u8>>,
    /// `PP2_TYPE_SSL`: the client spoke TLS to the proxy.
    pub ssl: Option<Ssl>,
}

/// `PP2_TYPE_SSL` (spec §2.2.8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ssl {
    /// `PP2_CLIENT_*` bits.
    pub client: u8,
    /// 0 when the client's certificate was verified.
    pub verify: u32,
    /// `PP2_SUBTYPE_SSL_VERSION`, e.g. `TLSv1.3`.
    pub version: Option<Vec<u8>>,
}

/// The rule a PROXY header broke. The connection is closed without an answer: the peer
/// is a proxy that does not speak what it was configured to, or not a proxy at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("the connection did not start with a PROXY protocol header")]
    Missing,
    #[error("PROXY v1 line without CRLF in its first 107 bytes")]
    V1TooLong,
    #[error("PROXY v1 line is malformed: {0}")]
    V1Syntax(&'static str),
    #[error("PROXY v2 header has an unknown version or command")]
    V2Command,
    #[error("PROXY v2 header has an unknown address family or transport")]
    V2Family,
    #[error("PROXY v2 header's length is too short for its addresses")]
    V2ShortAddresses,
    #[error("PROXY v2 header is longer than 4096 bytes")]
    V2TooLong,
    #[error("a PROXY v2 TLV is longer than the header")]
    V2Tlv,
}

use ProxyHeaderError as E;

/// Parses the PROXY header at the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the header and how many bytes it took.
///
/// # Errors
/// The first rule the bytes break; decided as soon as the bytes in hand show it.
pub fn parse(
    buf: &[u8],
    versions: ProxyProtocol,
) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if versions.accepts_v2() && starts_like(buf, V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if versions.accepts_v1() && starts_like(buf, V1_PREFIX) {
        return parse_v1(buf);
    }
    Err(E::Missing)
}

/// Whether `buf` is `sig` or a prefix of it, or starts with it.
fn starts_like(buf: &[u8], sig: &[u8]) -> bool {
    let n = buf.len().min(sig.len());
    buf[..n] == sig[..n]
}

/// `PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n`, `PROXY TCP6 ...`, `PROXY UNKNOWN ...`.
fn parse_v1(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    let window = &buf[..buf.len().min(MAX_V1_LINE)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_V1_LINE {
            Err(E::V1TooLong)
        } else {
            Ok(None)
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(E::V1Syntax("the line must end with CRLF"));
    }
    let line = std::str::from_utf8(&window[V1_PREFIX.len()..lf - 1])
        .map_err(|_| E::V1Syntax("not ASCII"))?;
    let addresses = if let Some(rest) = line.strip_prefix("UNKNOWN") {
        // §2.1: "the receiver must ignore anything presented before the CRLF".
        if !rest.is_empty() && !rest.starts_with(' ') {
            return Err(E::V1Syntax("unknown protocol"));
        }
        Addresses::Local
    } else {
        let fields: Vec<&str> = line.split(' ').collect();
        let [proto, src, dst, sport, dport] = fields[..] else {
            return Err(E::V1Syntax("expected 5 fields after PROXY"));
        };
        let (source, destination) = match proto {
            "TCP4" => (
                IpAddr::V4(v1_addr::<Ipv4Addr>(src)?),
                IpAddr::V4(v1_addr::<Ipv4Addr>(dst)?),
            ),
            "TCP6" => (
                IpAddr::V6(v1_addr::<Ipv6Addr>(src)?),
                IpAddr::V6(v1_addr::<Ipv6Addr>(dst)?),
            ),
            _ => return Err(E::V1Syntax("unknown protocol")),
        };
        Addresses::Inet {
            source: SocketAddr::new(source, v1_port(sport)?),
            destination: SocketAddr::new(destination, v1_port(dport)?),
        }
    };
    Ok(Some((
        ProxyHeader {
            version: 1,
            addresses,
            tlvs: Tlvs::default(),
        },
        lf + 1,
    )))
}

fn v1_addr<T: std::str::FromStr>(text: &str) -> Result<T, ProxyHeaderError> {
    text.parse()
        .map_err(|_| E::V1Syntax("an address does not match its protocol"))
}

/// A port: decimal, 0 to 65535, no sign and no leading zero.
fn v1_port(text: &str) -> Result<u16, ProxyHeaderError> {
    let bad = E::V1Syntax("a port is not a number from 0 to 65535");
    if text.is_empty()
        || (text.len() > 1 && text.starts_with('0'))
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad);
    }
    text.parse().map_err(|_| bad)
}

/// Spec §2.2: signature, version and command, family and transport, length, addresses,
/// TLVs.
fn parse_v2(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyHeaderError> {
    if buf.len() < 16 {
        // Check what is there already: a wrong version byte need not wait.
        if let Some(&ver_cmd) = buf.get(12) {
            v2_command(ver_cmd)?;
        }
        if let Some(&fam) = buf.get(13) {
            v2_family(fam)?;
        }
        return Ok(None);
    }
    let local = v2_command(buf[12])?;
    let family = v2_family(buf[13])?;
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_V2_PAYLOAD {
        return Err(E::V2TooLong);
    }
    let need = match family {
        Family::Unspec => 0,
        Family::Inet => 12,
        Family::Inet6 => 36,
        Family::Unix => 216,
    };
    if len < need {
        return Err(E::V2ShortAddresses);
    }
    if buf.len() < 16 + len {
        return Ok(None);
    }
    let payload = &buf[16..16 + len];
    let port = |at: usize| u16::from_be_bytes([payload[at], payload[at + 1]]);
    let addresses = match family {
        // §2.2: with LOCAL "the receiver must ... ignore the address information".
        _ if local => Addresses::Local,
        Family::Unspec => Addresses::Local,
        Family::Inet => {
            let octets = |at: usize| -> [u8; 4] {
                payload[at..at + 4]
                    .try_into()
                    .expect("a 4-byte slice of a checked payload")
            };
            Addresses::Inet {
                source: SocketAddr::new(Ipv4Addr::from(octets(0)).into(), port(8)),
                destination: SocketAddr::new(Ipv4Addr::from(octets(4)).into(), port(10)),
            }
        }
        Family::Inet6 => {
            let octets = |at: usize| -> [u8; 16] {
                payload[at..at + 16]
                    .try_into()
                    .expect("a 16-byte slice of a checked payload")
            };
            Addresses::Inet {
                source: SocketAddr::new(Ipv6Addr::from(octets(0)).into(), port(32)),
                destination: SocketAddr::new(Ipv6Addr::from(octets(16)).into(), port(34)),
            }
        }
        Family::Unix => Addresses::Unix,
    };
    let tlvs = parse_tlvs(&payload[need..])?;
    Ok(Some((
        ProxyHeader {
            version: 2,
            addresses,
            tlvs,
        },
        16 + len,
    )))
}

/// The version must be 2; the command LOCAL (`true`) or PROXY (`false`).
fn v2_command(ver_cmd: u8) -> Result<bool, ProxyHeaderError> {
    match ver_cmd {
        0x20 => Ok(true),
        0x21 => Ok(false),
        _ => Err(E::V2Command),
    }
}

enum Family {
    Unspec,
    Inet,
    Inet6,
    Unix,
}

/// The address family; the transport must be unspecified or a stream (a datagram header
/// on a stream connection is a lie).
fn v2_family(fam: u8) -> Result<Family, ProxyHeaderError> {
    let family = match fam >> 4 {
        0 => Family::Unspec,
        1 => Family::Inet,
        2 => Family::Inet6,
        3 => Family::Unix,
        _ => return Err(E::V2Family),
    };
    match (fam & 0x0f, &family) {
        (0, Family::Unspec) | (1, Family::Inet | Family::Inet6 | Family::Unix) => Ok(family),
        _ => Err(E::V2Family),
    }
}

/// A walk over `type(1) length(2, big-endian) value` records.
fn each_tlv(
    mut bytes: &[u8],
    mut f: impl FnMut(u8, &[u8]) -> Result<(), ProxyHeaderError>,
) -> Result<(), ProxyHeaderError> {
    while !bytes.is_empty() {
        let [kind, hi, lo, rest @ ..] = bytes else {
            return Err(E::V2Tlv);
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if rest.len() < len {
            return Err(E::V2Tlv);
        }
        f(*kind, &rest[..len])?;
        bytes = &rest[len..];
    }
    Ok(())
}

const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;

fn parse_tlvs(bytes: &[u8]) -> Result<Tlvs, ProxyHeaderError> {
    let mut tlvs = Tlvs::default();
    each_tlv(bytes, |kind, value| {
        match kind {
            PP2_TYPE_ALPN => tlvs.alpn = Some(value.to_vec()),
            PP2_TYPE_AUTHORITY => tlvs.authority = Some(value.to_vec()),
            PP2_TYPE_UNIQUE_ID => tlvs.unique_id = Some(value.to_vec()),
            PP2_TYPE_SSL => {
                let [client, v0, v1, v2, v3, subs @ ..] = value else {
                    return Err(E::V2Tlv);
                };
                let mut ssl = Ssl {
                    client: *client,
                    verify: u32::from_be_bytes([*v0, *v1, *v2, *v3]),
                    version: None,
                };
                each_tlv(subs, |sub, value| {
                    if sub == PP2_SUBTYPE_SSL_VERSION {
                        ssl.version = Some(value.to_vec());
                    }
                    Ok(())
                })?;
                tlvs.ssl = Some(ssl);
            }
            // CRC32C, NOOP, NETNS and custom types: skipped.
            _ => {}
        }
        Ok(())
    })?;
    Ok(tlvs)
}

#[cfg(test)]
mod tests;
