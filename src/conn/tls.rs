//! TLS on a connection, in the connection's own task (never in the accept loop): a PROXY
//! header first when the listener expects one (read before the handshake; the bytes that
//! came after it are replayed to rustls through `transport::Prefixed`); plaintext
//! HTTP sent to a TLS port gets a 400 in plaintext, as nginx answers it; the handshake runs
//! under `header_timeout` (a client that opens TLS and sends nothing is cut like a
//! slowloris, holding its connection permit meanwhile); then the facts the environ shows
//! are read and the connection is served like a plain one, in HTTP/2 when ALPN chose `h2`.

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::LazyConfigAcceptor;

use super::proxy_header;
use super::respond::Page;
use super::transport::Prefixed;
use super::{http1, http2, ConnContext};
use crate::bridge::{ClientCert, ConnInfo, Handler, TlsFacts};
use crate::log::Level;
use crate::proxy::header::ProxyProtocol;
use crate::tls::ServerTls;

/// The first byte of every TLS client's first record: a handshake (RFC 8446 §5.1).
const HANDSHAKE_RECORD: u8 = 0x16;

/// Serves one connection accepted on a TLS listener.
pub(super) async fn serve<H: Handler>(
    mut stream: TcpStream,
    tls: ServerTls,
    info: Arc<ConnInfo>,
    handler: Arc<H>,
    ctx: Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
) {
    let deadline = Instant::now() + ctx.timeouts.header;
    let socket_peer = info.peer;
    // A PROXY header, when expected, comes before the handshake (HAProxy's `send-proxy` in
    // front of a TLS listener); what was read after it is the handshake's start.
    let (info, early) = match ctx.proxy.proxy_protocol {
        ProxyProtocol::Off => (info, bytes::BytesMut::new()),
        versions => match proxy_header::read(&mut stream, &info, &ctx, versions).await {
            Ok(found) => found,
            Err(err) => {
                log_at!(Level::Debug, "{}: {err}", super::peer_text(socket_peer));
                return;
            }
        },
    };
    let stream = Prefixed::new(early, stream);
    match timeout_at(deadline, stream.peek_first()).await {
        Ok(Ok(Some(first))) if first != HANDSHAKE_RECORD => {
            let mut conn = http1::Connection::new(
                stream,
                info,
                socket_peer,
                bytes::BytesMut::new(),
                ctx,
                shutdown,
            );
            conn.refuse(&Page::PlainHttpOnTlsPort).await;
            return;
        }
        Ok(Ok(Some(_))) => {}
        _ => return,
    }
    let remote = info.peer.map_or_else(String::new, |p| p.ip().to_string());
    // The ClientHello first: its suite order picks the configuration (`ServerTls`).
    let start = match timeout_at(
        deadline,
        LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream),
    )
    .await
    {
        Ok(Ok(start)) => start,
        Ok(Err(err)) => {
            log_at!(Level::Debug, "{remote}: TLS handshake failed: {err}");
            return;
        }
        Err(_elapsed) => {
            log_at!(
                Level::Debug,
                "{remote}: TLS handshake not done within header_timeout"
            );
            return;
        }
    };
    let config = Arc::clone(tls.for_client(start.client_hello().cipher_suites()));
    let stream = match timeout_at(deadline, start.into_stream(config)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            log_at!(Level::Debug, "{remote}: TLS handshake failed: {err}");
            return;
        }
        Err(_elapsed) => {
            log_at!(
                Level::Debug,
                "{remote}: TLS handshake not done within header_timeout"
            );
            return;
        }
    };
    // Step 3: what the environ shows of it, then HTTP as on any connection: HTTP/2 when
    // ALPN chose it (RFC 9113 §3.2), else HTTP/1.x.
    let facts = facts(stream.get_ref().1);
    let info = Arc::new(ConnInfo {
        scheme: "https",
        tls: Some(Arc::new(facts)),
        ..(*info).clone()
    });
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        let io = super::counted::Counted(stream);
        return Box::pin(http2::serve(io, info, socket_peer, handler, ctx, shutdown)).await;
    }
    http1::serve(
        http1::Connection::new(
            super::counted::Counted(stream),
            info,
            socket_peer,
            bytes::BytesMut::new(),
            ctx,
            shutdown,
        ),
        handler.as_ref(),
    )
    .await;
}

fn facts(conn: &rustls::ServerConnection) -> TlsFacts {
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "",
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .and_then(|suite| suite.suite().as_str())
        // rustls spells TLS 1.3 suites `TLS13_…`; IANA and OpenSSL spell them `TLS_…`.
        .map(|name| name.replacen("TLS13_", "TLS_", 1))
        .unwrap_or_default();
    let client = conn
        .peer_certificates()
        .and_then(<[_]>::first)
        .and_then(|der| client_cert(der));
    TlsFacts {
        protocol,
        cipher,
        client,
    }
}

fn client_cert(der: &[u8]) -> Option<ClientCert> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    Some(ClientCert {
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        pem,
    })
}

/// A distinguished name as RFC 4514 writes it (and Apache's `SSL_CLIENT_S_DN` does):
/// the last RDN first, `,` between RDNs, `+` within one, specials escaped.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for (i, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match x509_parser::objects::oid2abbrev(attr.attr_type(), registry) {
                Ok(abbrev) => out.push_str(abbrev),
                Err(_) => {
                    let _ = write!(out, "{}", attr.attr_type());
                }
            }
            out.push('=');
            let value = attr.as_str().unwrap_or("");
            for (k, c) in value.chars().enumerate() {
                let leading = k == 0 && (c == ' ' || c == '#');
                let trailing = k + 1 == value.chars().count() && c == ' ';
                if leading || trailing || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}
