//! TLS configuration from PEM material, on rustls with the ring provider
//! (pure Rust to build, no OpenSSL).

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// TLS material that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate PEM holds no certificate or is malformed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The key PEM holds no private key or is malformed.
    #[error("private key: {0}")]
    Key(String),
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Certificate("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// A server configuration from a PEM certificate chain and private key.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = certificates(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// A client configuration trusting the CA certificates in `ca_pem`.
pub fn client_config(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem)? {
        roots.add(cert)?;
    }
    client_config_with(roots)
}

/// A client configuration trusting the operating system's CA store (what
/// Tollgate uses towards TLS peers when no CA file is configured).
pub fn client_config_system() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "no certificates found".to_owned(), ToString::to_string);
        return Err(TlsError::Certificate(format!("system CA store: {why}")));
    }
    client_config_with(roots)
}

fn client_config_with(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_errors_name_what_is_wrong() {
        let err = server_config(b"not a pem", b"not a pem").unwrap_err();
        assert!(err.to_string().starts_with("certificate:"), "{err}");
        assert!(matches!(client_config(b""), Err(TlsError::Certificate(_))));
    }

    #[test]
    fn the_system_store_loads_when_the_machine_has_one() {
        let has_store = std::path::Path::new("/etc/ssl/certs").is_dir();
        match client_config_system() {
            Ok(_) => {}
            Err(e) => assert!(!has_store, "system store present but not loaded: {e}"),
        }
    }
}
