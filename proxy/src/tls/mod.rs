//! TLS termination (rustls with the ring provider) for the S3 port's `tls_listen` and the admin
//! port: loading a PEM certificate chain and key (each error names the file and the cause), and a
//! certificate that SIGHUP replaces without dropping connections. A [`ServerTls`] hands every
//! new handshake the certificate current at that moment (a rustls certificate resolver over an
//! atomically swapped key); connections already open keep the session keys they agreed on, so
//! they go on untouched. A new certificate that does not load, or whose key does not match it,
//! is refused and the old one stays. [`conn`] is the cancel-safe TLS connection the S3 port
//! serves requests over.

pub mod conn;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::{error, info};

use crate::config::Config;
use crate::state::Shared;

/// The certificate files of one TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Loads a certificate chain and its key; the error names the file and what is wrong with it
/// (unreadable, no certificate, no key, a key that does not belong to the certificate).
pub fn load_certified_key(files: &CertFiles) -> Result<CertifiedKey, String> {
    let bad = |what: &Path, e: String| format!("{}: {e}", what.display());
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad(&files.cert, pem_cause(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&files.cert, pem_cause(e)))?;
    if certs.is_empty() {
        return Err(bad(&files.cert, "no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, pem_cause(e)))?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "{} does not hold the private key of the certificate in {}",
            files.key.display(),
            files.cert.display()
        ),
        other => format!("{} / {}: {other}", files.cert.display(), files.key.display()),
    })
}

/// What a PEM reading error means, in words.
fn pem_cause(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as P;
    match e {
        P::Io(io) => io.to_string(),
        P::NoItemsFound => "no PEM item of the expected kind (certificate or private key) in the file".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// The crypto provider every TLS listener uses.
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The certificate new handshakes get; swapped by [`ServerTls::reload`].
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

/// One TLS listener's rustls configuration with a replaceable certificate.
#[derive(Debug)]
pub struct ServerTls {
    /// What the listener is, for logs (`S3` or `admin`).
    name: &'static str,
    files: RwLock<CertFiles>,
    current: Arc<CurrentCert>,
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// Loads `files` for the listener called `name`; the error names the listener and the file.
    pub fn load(name: &'static str, files: CertFiles) -> Result<ServerTls, String> {
        let key = load_certified_key(&files).map_err(|e| format!("{name} TLS: {e}"))?;
        let current = Arc::new(CurrentCert(RwLock::new(Arc::new(key))));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("{name} TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            name,
            files: RwLock::new(files),
            current,
            config: Arc::new(config),
        })
    }

    /// The rustls configuration for new connections (its certificate follows reloads).
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }

    /// Reads `files` again (which may name other files than before) and, when they load, makes
    /// them the certificate of every later handshake; otherwise the current one stays.
    pub fn reload(&self, files: CertFiles) -> Result<(), String> {
        let key = load_certified_key(&files).map_err(|e| format!("{} TLS: {e}", self.name))?;
        *self.current.0.write() = Arc::new(key);
        *self.files.write() = files;
        Ok(())
    }

    /// The files the current certificate came from.
    pub fn files(&self) -> CertFiles {
        self.files.read().clone()
    }
}

/// The TLS listeners of a running proxy, set when they start.
#[derive(Debug, Default)]
pub struct TlsListeners {
    /// The S3 port's `tls_listen`.
    pub s3: std::sync::OnceLock<Arc<ServerTls>>,
    /// The admin port, when it speaks HTTPS.
    pub admin: std::sync::OnceLock<Arc<ServerTls>>,
}

/// The certificate files `[server]` names, if it has TLS.
pub fn s3_files(cfg: &Config) -> Option<CertFiles> {
    let s = &cfg.server;
    match (&s.tls_cert_file, &s.tls_key_file) {
        (Some(cert), Some(key)) => Some(CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}

/// The certificate files `[admin]` names, if it has TLS.
pub fn admin_files(cfg: &Config) -> Option<CertFiles> {
    let a = cfg.admin.as_ref()?;
    match (&a.tls_cert_file, &a.tls_key_file) {
        (Some(cert), Some(key)) => Some(CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    }
}

/// Checks that every certificate and key `cfg` names loads (`s3-orchestrator validate`).
pub fn check_files(cfg: &Config) -> Result<(), String> {
    if let Some(f) = s3_files(cfg) {
        load_certified_key(&f).map_err(|e| format!("[server] TLS: {e}"))?;
    }
    if let Some(f) = admin_files(cfg) {
        load_certified_key(&f).map_err(|e| format!("[admin] TLS: {e}"))?;
    }
    Ok(())
}

/// SIGHUP: re-reads the certificates of the running TLS listeners from the files `new` names
/// (a listener `new` no longer gives TLS keeps its certificate: switching TLS off or on needs
/// a restart). Each listener is handled on its own: one refused leaves the other reloaded.
/// Returns how many certificates were replaced, or every refusal in one message.
pub fn reload_certificates(shared: &Shared, new: &Config) -> Result<usize, String> {
    let mut replaced = 0;
    let mut refused = Vec::new();
    let listeners = [
        (shared.tls.s3.get(), s3_files(new)),
        (shared.tls.admin.get(), admin_files(new)),
    ];
    for (tls, files) in listeners {
        let (Some(tls), Some(files)) = (tls, files) else {
            continue;
        };
        match tls.reload(files.clone()) {
            Ok(()) => {
                info!(listener = tls.name, cert = %files.cert.display(), "TLS certificate reloaded: new connections use it");
                replaced += 1;
            }
            Err(e) => {
                error!(error = %e, "TLS certificate reload refused; the current certificate stays");
                refused.push(e);
            }
        }
    }
    if refused.is_empty() {
        Ok(replaced)
    } else {
        Err(refused.join("; "))
    }
}
