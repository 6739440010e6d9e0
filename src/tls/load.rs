//! Reading the certificate chain, the key and the client CAs, and checking them, into a
//! rustls `ServerConfig`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::ServerTls;
use crate::config::{ClientCerts, TlsConfig, TlsVersion};
use crate::log::Level;

/// Why TLS cannot be set up; each names the file and the setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read --{setting} {path}: {source}")]
    Unreadable {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--certfile {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("--certfile {path}: a certificate cannot be parsed: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("--keyfile {0} holds no PEM private key (PKCS#8, RSA or EC)")]
    NoKey(PathBuf),
    #[error("--keyfile {0} is encrypted; ferrule reads unencrypted keys only: decrypt it (openssl pkey -in KEY -out KEY.plain) and protect the file with its permissions")]
    EncryptedKey(PathBuf),
    #[error("--keyfile {key} does not match the certificate in --certfile {cert}: {reason}")]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("--ca-certs {0} holds no usable CA certificate")]
    NoCa(PathBuf),
    #[error("--cert-reqs {0} needs --ca-certs (the CAs client certificates must chain to)")]
    CaNeeded(&'static str),
    #[error("TLS setup failed: {0}")]
    Rustls(String),
}

/// Loads and checks `config`'s files, offering `alpn` (`Http2Config::alpn`); `None` when
/// TLS is off (no `certfile`). A certificate
/// that has expired or is not valid yet is served with a warning (the operator may be
/// rotating it); everything else that is wrong is an error.
///
/// # Errors
/// See `TlsError`: every one names the file.
pub fn load(config: &TlsConfig, alpn: Vec<Vec<u8>>) -> Result<Option<ServerTls>, TlsError> {
    let Some(certfile) = &config.certfile else {
        return Ok(None);
    };
    let keyfile = config.keyfile.as_ref().unwrap_or(certfile);
    let chain = read_chain(certfile)?;
    warn_if_outside_validity(certfile, &chain[0]);
    let key = read_key(keyfile)?;
    // rustls marks ring's provider deprecated because it lacks post-quantum key exchange
    // (X25519MLKEM768), which only aws-lc-rs offers; aws-lc-rs needs cmake to build, and
    // `pip install .` must work with cargo and a C compiler alone (see Cargo.toml).
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    // The server's suite order (see `ServerTls`); a stable sort keeps ring's order within
    // a rank (ECDSA before RSA).
    provider
        .cipher_suites
        .sort_by_key(|suite| super::server_rank(suite.suite()));
    let provider = Arc::new(provider);
    let versions: &[&rustls::SupportedProtocolVersion] = match config.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match (config.cert_reqs, &config.ca_certs) {
        (ClientCerts::None, _) => builder.with_no_client_auth(),
        (ClientCerts::Optional, None) => return Err(TlsError::CaNeeded("optional")),
        (ClientCerts::Required, None) => return Err(TlsError::CaNeeded("required")),
        (reqs, Some(ca)) => {
            let roots = read_roots(ca)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = if reqs == ClientCerts::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(format!("--ca-certs {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::KeyMismatch {
            cert: certfile.clone(),
            key: keyfile.clone(),
            reason: e.to_string(),
        })?;
    // ALPN (RFC 7301): the server's preference order; a client that offers none of them
    // still speaks HTTP/1.1.
    server.alpn_protocols = alpn;
    // Both share the session cache (an `Arc`): a session resumes under either.
    let mut client_order = server.clone();
    client_order.ignore_client_order = false;
    server.ignore_client_order = true;
    Ok(Some(ServerTls {
        preferred: Arc::new(server),
        client_order: Arc::new(client_order),
    }))
}

fn unreadable(setting: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TlsError {
    let path = path.to_path_buf();
    move |source| TlsError::Unreadable {
        setting,
        path,
        source,
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(unreadable("certfile", path))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    for cert in &chain {
        if let Err(e) = x509_parser::parse_x509_certificate(cert) {
            return Err(TlsError::BadCertificate {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(unreadable("keyfile", path))?;
    // PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` headers.
    let text = String::from_utf8_lossy(&pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("4,ENCRYPTED") {
        return Err(TlsError::EncryptedKey(path.to_path_buf()));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey(path.to_path_buf()))
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let pem = std::fs::read(path).map_err(unreadable("ca-certs", path))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let Ok(cert) = cert else {
            return Err(TlsError::NoCa(path.to_path_buf()));
        };
        if roots.add(cert).is_err() {
            return Err(TlsError::NoCa(path.to_path_buf()));
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoCa(path.to_path_buf()));
    }
    Ok(roots)
}

/// Logs a warning when the leaf certificate is expired or not valid yet.
fn warn_if_outside_validity(path: &Path, leaf: &CertificateDer<'_>) {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return;
    };
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now > validity.not_after {
        log_at!(
            Level::Warning,
            "--certfile {}: the certificate expired on {}; clients will refuse it",
            path.display(),
            validity.not_after
        );
    } else if now < validity.not_before {
        log_at!(
            Level::Warning,
            "--certfile {}: the certificate is not valid before {}",
            path.display(),
            validity.not_before
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        dir: PathBuf,
    }

    impl Files {
        fn new(tag: &str) -> Files {
            let dir =
                std::env::temp_dir().join(format!("ferrule-tls-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Files { dir }
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.join(name);
            std::fs::write(&path, text).expect("write");
            path
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            // A temp dir left behind is harmless.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn self_signed(name: &str) -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("rcgen");
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    fn config(cert: &Path, key: &Path) -> TlsConfig {
        TlsConfig {
            certfile: Some(cert.to_path_buf()),
            keyfile: Some(key.to_path_buf()),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn loads_a_matching_pair_and_nothing_without_a_certfile() {
        let files = Files::new("ok");
        let (cert, key) = self_signed("localhost");
        let c = files.write("c.pem", &cert);
        let k = files.write("k.pem", &key);
        assert!(load(&config(&c, &k), Vec::new()).expect("valid").is_some());
        assert!(load(&TlsConfig::default(), Vec::new())
            .expect("off")
            .is_none());
        // Both in one file, without --keyfile.
        let both = files.write("both.pem", &format!("{cert}{key}"));
        let mut one = config(&both, &both);
        one.keyfile = None;
        assert!(load(&one, Vec::new()).expect("valid").is_some());
    }

    #[test]
    fn names_the_file_for_every_setup_error() {
        let files = Files::new("bad");
        let (cert, key) = self_signed("localhost");
        let (_, other_key) = self_signed("other");
        let c = files.write("c.pem", &cert);
        let k = files.write("k.pem", &key);
        let missing = files.dir.join("missing.pem");
        let empty = files.write("empty.pem", "nothing here\n");
        let other = files.write("other.pem", &other_key);
        let encrypted = files.write(
            "enc.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let rows: Vec<(TlsConfig, &str)> = vec![
            (config(&missing, &k), "cannot read --certfile"),
            (config(&empty, &k), "holds no PEM certificate"),
            (config(&c, &missing), "cannot read --keyfile"),
            (config(&c, &empty), "holds no PEM private key"),
            (config(&c, &encrypted), "is encrypted"),
            (config(&c, &other), "does not match the certificate"),
            (
                TlsConfig {
                    cert_reqs: ClientCerts::Required,
                    ..config(&c, &k)
                },
                "--cert-reqs required needs --ca-certs",
            ),
            (
                TlsConfig {
                    cert_reqs: ClientCerts::Required,
                    ca_certs: Some(empty.clone()),
                    ..config(&c, &k)
                },
                "--ca-certs",
            ),
        ];
        for (config, expected) in rows {
            let err = load(&config, Vec::new()).expect_err(expected).to_string();
            assert!(err.contains(expected), "{err} / {expected}");
        }
    }
}
