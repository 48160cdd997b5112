//! HTTPS for the service itself: a certificate chain and its private key, both PEM files.
//! Served over TLS, the service speaks HTTP/2 as well as HTTP/1.1 (ALPN), so a browser sends a
//! page's links over one connection instead of queueing them on six.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The service's TLS identity. Its `Debug` names the certificate file, never the key.
#[derive(Clone)]
pub struct Identity {
    pub cert: PathBuf,
    pub config: Arc<ServerConfig>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// Which file a TLS identity could not be made from, and why.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The certificate file (or, when the two files do not match, the pair).
    #[error("{0}")]
    Cert(String),
    #[error("{0}")]
    Key(String),
}

/// Loads `cert` (the chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1), both PEM.
pub fn load(cert: &Path, key: &Path) -> Result<Identity, LoadError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| LoadError::Cert(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(LoadError::Cert(format!("{}: no CERTIFICATE block", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| LoadError::Key(format!("{}: {e}", key.display())))?;
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| LoadError::Cert(format!("the certificate and the key do not make a TLS identity: {e}")))?;
    Ok(Identity {
        cert: cert.to_owned(),
        config: Arc::new(config),
    })
}
