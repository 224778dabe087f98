//! The TLS acceptor for TURN over TLS (`turns:`): rustls 0.23 with the
//! `ring` provider, certificate chain and key from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, PemError};

/// Builds the acceptor from a PEM certificate chain and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn acceptor(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let pem_error = |what: &'static str, path: &Path, source: PemError| Error::Pem {
        what,
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| pem_error("certificate", cert_pem, e.into()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate", cert_pem, e.into()))?;
    if certs.is_empty() {
        return Err(pem_error("certificate", cert_pem, PemError::NoCertificate));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| pem_error("private key", key_pem, e.into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
