//! TLS on the S3 port: `tls_listen` serves HTTPS beside the plain `listen` with the same request
//! path (signed and aws-chunked uploads, large streamed bodies, keep-alive, head and handshake
//! timeouts); the certificate is replaced on reload while open connections go on; a certificate
//! that does not load is refused at start and on reload with the file and the cause.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::tls::{cert_der, fixture};
use common::*;
use s3o_proxy::config::Config;
use s3o_proxy::server::{Running, StartError};
use s3o_proxy::state::Shared;
use s3o_sigv4::StreamingMode;

/// The `[server]` keys of a TLS listener with the certificate files in `dir` (`cert.pem`,
/// `key.pem`).
fn tls_keys(dir: &std::path::Path) -> String {
    format!(
        "shutdown_grace_secs = 5\ntls_listen = \"127.0.0.1:0\"\ntls_cert_file = \"{d}/cert.pem\"\ntls_key_file = \"{d}/key.pem\"\n",
        d = dir.display()
    )
}

/// Installs fixture certificate `name` (`a` or `b`) as the served files.
fn install_cert(dir: &std::path::Path, name: &str) {
    std::fs::copy(fixture(&format!("{name}.pem")), dir.join("cert.pem")).unwrap();
    std::fs::copy(fixture(&format!("{name}.key")), dir.join("key.pem")).unwrap();
}

/// A server with TLS on, serving certificate `a`; returns it with its config text.
fn tls_server() -> (TestServer, String) {
    let dir = TempDir::new("tls");
    install_cert(&dir.0, "a");
    let text = config_text(&dir.0, "").replace("shutdown_grace_secs = 5\n", &tls_keys(&dir.0));
    (TestServer::start_config(dir, &text), text)
}

fn tls_addr(srv: &TestServer) -> std::net::SocketAddr {
    srv.shared.tls.s3.get().expect("TLS listener started");
    srv.tls_addr().expect("tls_listen bound")
}

fn tls_client(srv: &TestServer) -> Client {
    Client::new_tls(tls_addr(srv), AK, SK, &fixture("ca.pem"), "localhost")
}

#[test]
fn requests_over_tls_beside_the_plain_listener() {
    let (srv, _) = tls_server();
    let mut c = tls_client(&srv);
    assert_eq!(c.conn().peer_cert(), Some(cert_der(&fixture("a.pem"))));
    // Larger than a body buffer and than a TLS write batch: streamed both ways.
    let big = data(3 * 1024 * 1024 + 17, 7);
    assert_eq!(c.put("/data/big", &big).status, 200);
    let local = c.conn().local_addr().unwrap();
    let r = c.get("/data/big");
    assert_eq!(r.status, 200);
    assert!(r.body == big, "the body read back over TLS is the one written");
    let r = c.send("HEAD", "/data/big", "", &[], b"");
    assert_eq!((r.status, r.header("content-length")), (200, Some("3145745")));
    let small = data(200_000, 8);
    let r = c.chunked_put("/data/chunked", &small, StreamingMode::SignedTrailer, 65536, |_| {});
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/data/chunked").body, small);
    // One keep-alive connection carried every request.
    assert_eq!(c.conn().local_addr().unwrap(), local);
    // A request error over TLS answers in S3 words and the connection stays usable.
    assert_eq!(c.get("/data/missing").code(), "NoSuchKey");
    assert_eq!(c.get("/data/chunked").status, 200);
    // Multipart over TLS: the Location says https.
    let id = c.create_upload("/data/mp", &[]);
    let part = data(5 * 1024 * 1024, 9);
    let r = c.upload_part("/data/mp", &id, 1, &part);
    let etag = r.header("etag").unwrap().to_owned();
    let r = c.complete_upload("/data/mp", &id, &[(1, &etag)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let location = xml_one(&r.text(), "Location").unwrap();
    assert!(location.starts_with("https://"), "{location}");
    // The plain listener is unchanged, and serves the same objects.
    let mut p = srv.client();
    assert_eq!(p.get("/data/big").body.len(), big.len());
    // Plain HTTP to the TLS port is not served.
    let mut raw = TcpStream::connect(tls_addr(&srv)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"GET /data/big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = raw.read(&mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"HTTP/1.1 200"),
        "no plain answer on the TLS port"
    );
}

#[test]
fn a_reload_replaces_the_certificate_for_new_connections_only() {
    let (srv, text) = tls_server();
    let dir = srv.dir.0.clone();
    let mut old = tls_client(&srv);
    assert_eq!(old.put("/data/k", b"before").status, 200);
    assert_eq!(old.conn().peer_cert(), Some(cert_der(&fixture("a.pem"))));
    let local = old.conn().local_addr().unwrap();

    install_cert(&dir, "b");
    let cfg = Config::from_text(&text, &dir).unwrap();
    assert_eq!(s3o_proxy::tls::reload_certificates(&srv.shared, &cfg), Ok(1));
    // The open connection goes on, on its own session.
    assert_eq!(old.get("/data/k").body, b"before");
    assert_eq!(old.conn().local_addr().unwrap(), local);
    // A new connection sees the new certificate.
    let mut new = tls_client(&srv);
    assert_eq!(new.conn().peer_cert(), Some(cert_der(&fixture("b.pem"))));
    assert_eq!(new.get("/data/k").body, b"before");

    // A certificate that does not load is refused, naming the file; the current one stays.
    std::fs::write(dir.join("cert.pem"), "not a certificate\n").unwrap();
    let e = s3o_proxy::tls::reload_certificates(&srv.shared, &cfg).unwrap_err();
    assert!(e.contains("cert.pem") && e.contains("no PEM"), "{e}");
    // A key of another certificate is refused too.
    std::fs::copy(fixture("a.pem"), dir.join("cert.pem")).unwrap();
    let e = s3o_proxy::tls::reload_certificates(&srv.shared, &cfg).unwrap_err();
    assert!(e.contains("does not hold the private key"), "{e}");
    let mut after = tls_client(&srv);
    assert_eq!(after.conn().peer_cert(), Some(cert_der(&fixture("b.pem"))));
    assert_eq!(after.get("/data/k").status, 200);
    // The ordinary config reload does not count certificate paths as a restart-only change.
    let moved = text.replace("/cert.pem", "/other.pem");
    std::fs::copy(fixture("a.pem"), dir.join("other.pem")).unwrap();
    install_cert(&dir, "a");
    let cfg = Config::from_text(&moved, &dir).unwrap();
    assert_eq!(s3o_proxy::tls::reload_certificates(&srv.shared, &cfg), Ok(1));
    let r = s3o_proxy::reload::reload(&srv.shared, &cfg).unwrap();
    assert!(r.needs_restart.is_empty(), "{:?}", r.needs_restart);
    assert_eq!(tls_client(&srv).conn().peer_cert(), Some(cert_der(&fixture("a.pem"))));
}

/// Starts a proxy on `text`, expecting it to be refused; returns the error.
fn start_error(text: &str) -> String {
    let cfg = Config::parse(text).unwrap();
    let store = s3o_store::Store::open(&cfg.server.data_dir).unwrap();
    let shared = std::sync::Arc::new(Shared::new(cfg, store).unwrap());
    match Running::start(shared, "127.0.0.1:0".parse().unwrap(), 1) {
        Err(StartError::Setup(e)) => e,
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("started with a bad certificate"),
    }
}

#[test]
fn a_bad_certificate_is_refused_at_start_with_its_cause() {
    let dir = TempDir::new("tls-bad");
    let text = config_text(&dir.0, "").replace("shutdown_grace_secs = 5\n", &tls_keys(&dir.0));
    let e = start_error(&text);
    assert!(
        e.contains("S3 TLS") && e.contains("cert.pem") && e.contains("No such file"),
        "{e}"
    );
    std::fs::copy(fixture("a.pem"), dir.0.join("cert.pem")).unwrap();
    std::fs::copy(fixture("b.key"), dir.0.join("key.pem")).unwrap();
    let e = start_error(&text);
    assert!(e.contains("does not hold the private key of the certificate"), "{e}");
    std::fs::write(
        dir.0.join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = start_error(&text);
    assert!(e.contains("key.pem"), "{e}");
    // The three keys go together, and the validation says which is missing.
    let only_listen = config_text(&dir.0, "").replace(
        "shutdown_grace_secs = 5\n",
        "shutdown_grace_secs = 5\ntls_listen = \"127.0.0.1:0\"\n",
    );
    let e = Config::parse(&only_listen).unwrap_err().to_string();
    assert!(e.contains("tls_listen needs tls_cert_file and tls_key_file"), "{e}");
    let no_listen = text.replace("tls_listen = \"127.0.0.1:0\"\n", "");
    let e = Config::parse(&no_listen).unwrap_err().to_string();
    assert!(e.contains("need tls_listen"), "{e}");
    let key_only = text.replace("tls_cert_file", "# tls_cert_file");
    assert!(Config::parse(&key_only).is_err());
}

#[test]
fn tls_clients_are_held_to_the_same_time_limits() {
    let (srv, _) = tls_server();
    let addr = tls_addr(&srv);
    // A client that never starts its handshake is dropped within the head timeout (2 s here).
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(silent.read(&mut buf).unwrap_or(0), 0);
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    // A head dribbled over TLS gets 400 RequestTimeout once the head timeout is over.
    let mut c = tls_client(&srv);
    let conn = c.conn();
    conn.write_all(b"GET /data/k HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t0 = Instant::now();
    let r = c.read_response(false);
    assert_eq!((r.status, r.code().as_str()), (400, "RequestTimeout"), "{}", r.text());
    assert!(t0.elapsed() < Duration::from_secs(6));
    // An idle keep-alive TLS connection survives between requests (reads that time out are
    // cancelled without losing the TLS state), then is closed after the idle timeout (5 s).
    let mut k = tls_client(&srv);
    assert_eq!(k.put("/data/idle", b"x").status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(k.get("/data/idle").body, b"x");
    let t0 = Instant::now();
    let mut buf = [0u8; 16];
    let n = k.conn().read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed when idle");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // A body slower than the body timeout (2 s) is cut.
    let mut slow = tls_client(&srv);
    let head = slow.signed_headers("PUT", "/data/slow", "", &[], "UNSIGNED-PAYLOAD");
    let mut req = String::from("PUT /data/slow HTTP/1.1\r\n");
    for (n, v) in &head {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("content-length: 10\r\n\r\nabc");
    slow.conn().write_all(req.as_bytes()).unwrap();
    let r = slow.read_response(false);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code(), "RequestTimeout");
}
