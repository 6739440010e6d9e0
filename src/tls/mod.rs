//! TLS configuration: the server's certificate chain, key and client CAs read once, in the
//! master, into a rustls `ServerConfig` (`load`), every failure a one-line error naming the
//! file and the setting. The handshake itself is `conn`'s (`conn/tls.rs`).
//!
//! Design: rustls with the `ring` provider (no OpenSSL; builds with cargo and a C
//! compiler). The master loads the files and workers inherit the loaded config through
//! fork: a key only root may read works with `--user`, a broken file stops the master
//! before any worker starts, and HUP loads the new files for the new generation only (a bad
//! one keeps the old generation serving).

mod load;

pub use load::{load, TlsError};

/// A loaded TLS configuration, shared by the connections of a worker.
pub type ServerTls = std::sync::Arc<rustls::ServerConfig>;
