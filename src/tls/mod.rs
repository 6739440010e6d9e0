//! TLS configuration: the server's certificate chain, key and client CAs read once, in the
//! master, into a rustls `ServerConfig` (`load`), every failure a one-line error naming the
//! file and the setting. The handshake itself is `conn`'s (`conn/tls.rs`).
//!
//! Design: rustls with the `ring` provider (no OpenSSL; builds with cargo and a C
//! compiler). The master loads the files and workers inherit the loaded config through
//! fork: a key only root may read works with `--user`, a broken file stops the master
//! before any worker starts, and HUP loads the new files for the new generation only (a bad
//! one keeps the old generation serving). Suites in the server's order, AES-128-GCM first,
//! except for clients that ask for ChaCha20-Poly1305 first (`ServerTls`, docs/tls.md).

mod load;

use std::sync::Arc;

pub use load::{load, TlsError};

/// A loaded TLS configuration, shared by the connections of a worker: the same
/// certificate, settings and session cache twice, in two suite orders.
///
/// Suites: the server's order, AES-128-GCM first (`preferred`), as Go's crypto/tls and
/// Caddy choose: OpenSSL clients (wrk, curl, Python) ask for AES-256-GCM-SHA384 first,
/// which costs a handshake SHA-384 (no SHA extension on x86 does SHA-512) and every record
/// 14 AES rounds instead of 10, for no security a 128-bit suite lacks. A client that asks
/// for ChaCha20-Poly1305 first says it has no AES hardware; it gets its own order
/// (`client_order`), as nginx serves everyone (`ssl_prefer_server_ciphers off`).
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub preferred: Arc<rustls::ServerConfig>,
    pub client_order: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// The configuration for a client whose `ClientHello` offers `suites`, in its order.
    #[must_use]
    pub fn for_client(&self, suites: &[rustls::CipherSuite]) -> &Arc<rustls::ServerConfig> {
        if prefers_chacha(suites) {
            &self.client_order
        } else {
            &self.preferred
        }
    }
}

/// The client's first AEAD choice (GREASE and other unknown values skipped) is
/// ChaCha20-Poly1305.
fn prefers_chacha(suites: &[rustls::CipherSuite]) -> bool {
    use rustls::CipherSuite as C;
    suites
        .iter()
        .find_map(|suite| match *suite {
            C::TLS13_CHACHA20_POLY1305_SHA256
            | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(true),
            C::TLS13_AES_128_GCM_SHA256
            | C::TLS13_AES_256_GCM_SHA384
            | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// Where a suite goes in the server's order: TLS 1.3 before 1.2 (rustls offers 1.2 suites
/// to 1.2 clients only anyway), AES-128-GCM, then AES-256-GCM, then ChaCha20-Poly1305.
fn server_rank(suite: rustls::CipherSuite) -> u8 {
    use rustls::CipherSuite as C;
    match suite {
        C::TLS13_AES_128_GCM_SHA256 => 0,
        C::TLS13_AES_256_GCM_SHA384 => 1,
        C::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::{prefers_chacha, server_rank};
    use rustls::CipherSuite as C;

    #[test]
    fn a_client_that_asks_for_chacha_first_is_told_apart_grease_skipped() {
        assert!(prefers_chacha(&[
            C::Unknown(0x0a0a),
            C::TLS13_CHACHA20_POLY1305_SHA256,
            C::TLS13_AES_128_GCM_SHA256,
        ]));
        assert!(!prefers_chacha(&[
            C::TLS13_AES_256_GCM_SHA384,
            C::TLS13_CHACHA20_POLY1305_SHA256,
        ]));
        assert!(prefers_chacha(&[
            C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        ]));
        assert!(!prefers_chacha(&[C::Unknown(0x0a0a)]));
        assert!(!prefers_chacha(&[]));
    }

    #[test]
    fn the_server_order_puts_aes_128_first_in_each_version() {
        let mut suites = rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec();
        suites.sort_by_key(|s| server_rank(s.suite()));
        let names: Vec<_> = suites
            .iter()
            .map(rustls::SupportedCipherSuite::suite)
            .collect();
        assert_eq!(names[0], C::TLS13_AES_128_GCM_SHA256);
        assert_eq!(names[1], C::TLS13_AES_256_GCM_SHA384);
        assert_eq!(names[2], C::TLS13_CHACHA20_POLY1305_SHA256);
        assert!(matches!(
            names[3],
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        ));
        assert_eq!(
            names.len(),
            rustls::crypto::ring::DEFAULT_CIPHER_SUITES.len()
        );
    }
}
