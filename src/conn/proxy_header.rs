//! The PROXY protocol step (`--proxy-protocol`): before a connection's protocol runs, read
//! the header a load balancer sends first, under `header_timeout` and the parser's size
//! bounds, and replace the connection's addresses with the ones it names. A peer outside
//! `--proxy-allow-from`, or a missing or malformed header, closes the connection before
//! anything is served: the spec (§1) has a receiver never guess whether a header is
//! there, and a connection that should have one and has not is not from the proxy.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

use super::{ConnContext, Transport};
use crate::bridge::ConnInfo;
use crate::proxy::header::{self, Addresses, ProxyHeaderError, ProxyProtocol};

/// Why a connection was closed at its PROXY header.
#[derive(Debug, thiserror::Error)]
pub(super) enum ProxyRefused {
    #[error("PROXY protocol header from a peer not in proxy_allow_ips; closing")]
    Untrusted,
    #[error("{0}; closing")]
    Header(#[from] ProxyHeaderError),
    #[error("no PROXY protocol header within header_timeout; closing")]
    TimedOut,
    #[error("connection closed before its PROXY protocol header ended")]
    Closed,
    #[error("i/o error reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes asked for per read: a v1 line, or a v2 header with a few TLVs, in one read.
const READ: usize = 512;

/// Reads the PROXY header: the connection's facts as it names them, and the bytes read
/// after it (the start of the first request).
///
/// # Errors
/// `ProxyRefused`: the connection must be closed without an answer.
pub(super) async fn read<T: Transport>(
    stream: &mut T,
    info: &Arc<ConnInfo>,
    ctx: &ConnContext,
    versions: ProxyProtocol,
) -> Result<(Arc<ConnInfo>, BytesMut), ProxyRefused> {
    if !ctx
        .proxy
        .proxy_allow
        .trusts(info.peer.map(|addr| addr.ip()))
    {
        return Err(ProxyRefused::Untrusted);
    }
    let deadline = Instant::now() + ctx.timeouts.header;
    let mut buf = BytesMut::with_capacity(READ);
    loop {
        if let Some((found, len)) = header::parse(&buf, versions)? {
            buf.advance(len);
            let facts = match found.addresses {
                Addresses::Local => Arc::clone(info),
                Addresses::Inet {
                    source,
                    destination,
                } => Arc::new(ConnInfo {
                    peer: Some(source),
                    local: Some(destination),
                    ..ConnInfo::clone(info)
                }),
                Addresses::Unix => Arc::new(ConnInfo {
                    peer: None,
                    local: None,
                    ..ConnInfo::clone(info)
                }),
            };
            return Ok((facts, buf));
        }
        buf.reserve(READ);
        match timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_elapsed) => return Err(ProxyRefused::TimedOut),
            Ok(Ok(0)) => return Err(ProxyRefused::Closed),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(ProxyRefused::Io(err)),
        }
    }
}
