//! The test client's connection, plain or TLS (rustls trusting a test CA), and the test
//! certificates in `proxy/tests/fixtures/tls/` (a CA and two server certificates, `a` and `b`,
//! for `localhost`, `s3.localhost`, `*.s3.localhost` and `127.0.0.1`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A file of `proxy/tests/fixtures/tls/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// The DER of the first certificate in a PEM file.
pub fn cert_der(pem: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(pem).unwrap().to_vec()
}

/// A client connection: plain TCP, or TLS (rustls) over it.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp().local_addr()
    }
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
    /// The DER of the certificate the server showed (TLS only).
    pub fn peer_cert(&self) -> Option<Vec<u8>> {
        match self {
            Conn::Plain(_) => None,
            Conn::Tls(s) => s.conn.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A rustls client configuration trusting only the CA in `ca_pem` (ring provider).
pub fn tls_client_config(ca_pem: &std::path::Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// Opens a connection to `addr` (TLS when `tls` is given: its config and the server name to check).
pub fn connect(addr: SocketAddr, tls: Option<&(Arc<rustls::ClientConfig>, String)>) -> Conn {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    match tls {
        None => Conn::Plain(s),
        Some((cfg, name)) => {
            let name = rustls::pki_types::ServerName::try_from(name.clone()).unwrap();
            let mut c = rustls::StreamOwned::new(rustls::ClientConnection::new(cfg.clone(), name).unwrap(), s);
            // Complete the handshake now, so the certificate is known before the first request.
            while c.conn.is_handshaking() {
                c.conn.complete_io(&mut c.sock).unwrap();
            }
            Conn::Tls(Box::new(c))
        }
    }
}
