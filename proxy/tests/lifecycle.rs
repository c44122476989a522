//! Connection and process lifecycle: stalled bodies time out with a clear error, slow clients
//! do not hold the server, and SIGTERM finishes requests in flight before the process exits.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{data, TempDir, TestServer};

fn put_head(c: &common::Client, path: &str, len: usize) -> String {
    let mut h = c.signed_headers("PUT", path, "", &[], "UNSIGNED-PAYLOAD");
    h.push(("content-length".into(), len.to_string()));
    let mut req = format!("PUT {path} HTTP/1.1\r\n");
    for (n, v) in &h {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

#[test]
fn stalled_body_times_out_and_stores_nothing() {
    let srv = TestServer::start();
    let c = srv.client();
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(put_head(&c, "/data/stalled", 100_000).as_bytes()).unwrap();
    s.write_all(&[7u8; 1000]).unwrap();
    let t0 = Instant::now();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.starts_with("HTTP/1.1 400") && text.contains("RequestTimeout"),
        "{text}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    let mut c = srv.client();
    assert_eq!(c.get("/data/stalled").status, 404);
}

#[test]
fn slow_header_client_is_cut_off_and_others_are_served() {
    let srv = TestServer::start();
    let mut slow = TcpStream::connect(srv.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    slow.write_all(b"GET /data/x HTTP/1.1\r\nhost: a\r\n").unwrap();
    // Meanwhile a normal client is served at once.
    let mut c = srv.client();
    assert_eq!(c.put("/data/x", b"1").status, 200);
    let mut resp = Vec::new();
    let t0 = Instant::now();
    let _ = slow.read_to_end(&mut resp);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "head timeout must close the connection"
    );
    // The cut-off client is told why before the connection closes.
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.starts_with("HTTP/1.1 400 ") && text.contains("<Code>RequestTimeout</Code>"),
        "{text}"
    );
}

#[test]
fn sigterm_finishes_requests_in_flight() {
    let dir = TempDir::new("sigterm");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = common::config_text(&dir.0, "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let cfg = dir.0.join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_s3-orchestrator"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let t0 = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = common::Client::new(addr, common::AK, common::SK);
    let body = data(300_000, 5);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // `Expect: 100-continue`: the interim answer proves the request is in flight (its handler
    // is reading the body) before the signal, however slowly the machine runs.
    let head = put_head(&c, "/data/inflight", body.len()).replace("\r\n\r\n", "\r\nexpect: 100-continue\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(&body[..100_000]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    // The request in flight completes.
    s.write_all(&body[100_000..]).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(s);
    // And the process exits cleanly soon after.
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The upload was committed durably: a new process sees it.
    let text = common::config_text(&dir.0, "");
    let srv = TestServer::start_config(TempDir::new("unused"), &text);
    let mut c = srv.client();
    assert!(c.get("/data/inflight").body == body);
}
