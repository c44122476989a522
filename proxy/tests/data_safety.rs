//! Data safety: a backend that dies in the middle of an overwrite leaves the previous version
//! readable and intact, and once the cleanup queue has run no orphan remains on any backend.
//! Also: a client that disconnects mid-upload changes nothing, a body that fails verification
//! never arrives complete at an `s3` backend, backends get a checksum of every upload to verify,
//! and bytes that fail the checksum a backend reports are never served whole.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::fake_s3::FakeS3;
use common::{data, TempDir, TestServer};
use s3o_sigv4::StreamingMode;

fn config(dir: &std::path::Path, fake: std::net::SocketAddr) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
threads = 1
data_dir = "{dir}/meta"
[limits]
body_timeout_secs = 2
[[backends]]
name = "remote"
kind = "s3"
endpoint = "http://{fake}"
bucket = "real"
access_key = "x"
secret_key = "y"
[[buckets]]
name = "data"
backends = ["remote"]
[[credentials]]
access_key = "{ak}"
secret_key = "{sk}"
"#,
        dir = dir.display(),
        ak = common::AK,
        sk = common::SK
    )
}

/// Runs the cleanup queue as if `ahead` had passed (superseded versions wait a grace period).
fn run_cleanup(srv: &TestServer, ahead: Duration) {
    srv.run_cleanup_at(s3o_proxy::clock::unix_ms() + ahead.as_millis() as u64);
}

#[test]
fn backend_dying_mid_overwrite_keeps_previous_version_and_leaves_no_orphan() {
    let fake = FakeS3::start();
    let dir = TempDir::new("safety");
    let text = config(&dir.0, fake.addr);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let v1 = data(300_000, 7);
    assert_eq!(c.put("/data/obj", &v1).status, 200);
    assert_eq!(fake.keys().len(), 1);
    let v1_key = fake.keys()[0].clone();

    // The backend dies after 100 KB of the 1 MB overwrite.
    *fake.state.die_after.lock().unwrap() = Some(100_000);
    let v2 = data(1_000_000, 8);
    let r = c.put("/data/obj", &v2);
    assert!(r.status >= 500, "overwrite must fail: {} {}", r.status, r.text());
    // The partial bytes sit on the backend under a fresh key; the old version is untouched.
    assert_eq!(fake.keys().len(), 2);
    let mut c = srv.client();
    let g = c.get("/data/obj");
    assert_eq!(g.status, 200);
    assert!(g.body == v1, "previous version must be intact");

    // The cleanup queue removes the orphan and nothing else.
    let t0 = Instant::now();
    while fake.keys().len() > 1 && t0.elapsed() < Duration::from_secs(10) {
        run_cleanup(&srv, Duration::ZERO);
    }
    assert_eq!(fake.keys(), vec![v1_key.clone()]);
    assert!(c.get("/data/obj").body == v1);

    // A successful overwrite: the old physical object goes once its grace period has passed.
    assert_eq!(c.put("/data/obj", &v2).status, 200);
    assert_eq!(fake.keys().len(), 2);
    run_cleanup(&srv, Duration::from_secs(600));
    let keys = fake.keys();
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0], v1_key);
    assert!(c.get("/data/obj").body == v2);
    // Usage counts only the live version.
    assert_eq!(
        s3o_store::block_on(srv.shared.store.usage("remote")).unwrap(),
        1_000_000
    );
}

#[test]
fn bodies_failing_verification_never_complete_on_the_backend() {
    let fake = FakeS3::start();
    let dir = TempDir::new("verify");
    let text = config(&dir.0, fake.addr);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    // 3 MB in 64 KiB chunks: several batches reach the backend before the trailer is checked.
    let payload = data(3_000_000, 11);
    let r = c.chunked_put("/data/good", &payload, StreamingMode::UnsignedTrailer, 65_536, |_| {});
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(fake.keys().len(), 1);
    assert!(fake.state.objects.lock().unwrap().values().next().unwrap() == &payload);
    assert!(c.get("/data/good").body == payload);

    // The same upload with its CRC32C trailer value changed.
    let r = c.chunked_put("/data/bad", &payload, StreamingMode::UnsignedTrailer, 65_536, |body| {
        let at = body.windows(22).rposition(|w| w == b"x-amz-checksum-crc32c:").unwrap() + 22;
        body[at] = if body[at] == b'A' { b'B' } else { b'A' };
    });
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "{}", r.text());
    // A signed payload hash that does not match the body.
    let mut c = srv.client();
    let mut h = c.signed_headers(
        "PUT",
        "/data/bad",
        "",
        &[],
        &s3o_sigv4::string_to_sign::sha256_hex(b"something else"),
    );
    h.push(("content-length".into(), payload.len().to_string()));
    let r = c.raw("PUT", "/data/bad", "", &h, &payload);
    assert_eq!((r.status, r.code().as_str()), (400, "XAmzContentSHA256Mismatch"));

    // Both reached the backend (the bytes streamed) but neither completed there.
    fake.settle_puts(3);
    assert_eq!(fake.keys().len(), 1, "only the good object is stored");
    let mut c = srv.client();
    assert_eq!(c.get("/data/bad").status, 404);

    // A body in thousands of one-byte chunks (more pieces than one writev takes) still arrives
    // whole.
    let small = data(4000, 12);
    let r = c.chunked_put("/data/tiny", &small, StreamingMode::UnsignedTrailer, 1, |_| {});
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get("/data/tiny").body == small);
}

#[test]
fn client_disconnecting_mid_upload_changes_nothing() {
    let srv = TestServer::start();
    let mut c = srv.client();
    assert_eq!(c.put("/data/k", b"old").status, 200);
    let body = data(500_000, 9);
    let mut h = c.signed_headers("PUT", "/data/k", "", &[], "UNSIGNED-PAYLOAD");
    h.push(("content-length".into(), body.len().to_string()));
    let mut req = "PUT /data/k HTTP/1.1\r\n".to_string();
    for (n, v) in &h {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    {
        let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(&body[..200_000]).unwrap();
    } // dropped: the client is gone
    std::thread::sleep(Duration::from_millis(300));
    let mut c = srv.client();
    assert_eq!(c.get("/data/k").body, b"old");
    let t0 = Instant::now();
    while srv.backend_files("a").len() + srv.backend_files("b").len() > 1 && t0.elapsed() < Duration::from_secs(10) {
        run_cleanup(&srv, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.backend_files("a").len() + srv.backend_files("b").len(), 1);
}

#[test]
fn partial_uploads_left_by_a_previous_process_are_cleared_at_start() {
    let dir = TempDir::new("partial");
    let stray = dir.0.join("a").join("tmp");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("data_00_0000000000000001.part"), b"half an upload").unwrap();
    let text = common::config_text(&dir.0, "");
    let srv = TestServer::start_config(dir, &text);
    assert!(!srv.dir.0.join("a").join("tmp").exists());
    let mut c = srv.client();
    assert_eq!(c.put("/data/k", b"whole").status, 200);
    assert_eq!(c.get("/data/k").body, b"whole");
}

#[test]
fn backends_verify_what_they_store_and_corrupt_bytes_are_never_served_whole() {
    let fake = FakeS3::start();
    let dir = TempDir::new("integrity");
    let text = config(&dir.0, fake.addr);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let crc32c = |b: &[u8]| {
        let mut k = s3o_sigv4::Checksummer::new(s3o_sigv4::ChecksumAlgorithm::Crc32c);
        k.update(b);
        k.finish_base64()
    };
    // No checksum from the client (unsigned payload): the backend gets our CRC32C, as an
    // aws-chunked trailer, and keeps it.
    let unsigned_put = |c: &mut common::Client, path: &str, body: &[u8]| {
        let mut h = c.signed_headers("PUT", path, "", &[], "UNSIGNED-PAYLOAD");
        h.push(("content-length".into(), body.len().to_string()));
        c.raw("PUT", path, "", &h, body).status
    };
    let kept = |body: &[u8]| {
        let objects = fake.state.objects.lock().unwrap();
        let key = objects
            .iter()
            .find(|(_, o)| o.as_slice() == body)
            .map(|(k, _)| k.clone());
        key.and_then(|k| fake.state.checksums.lock().unwrap().get(&k).cloned())
    };
    let crc32c_of = |b: &[u8]| Some(("x-amz-checksum-crc32c".to_string(), crc32c(b)));
    let big = data(2_500_000, 21);
    assert_eq!(unsigned_put(&mut c, "/data/big", &big), 200);
    let small = data(100, 22);
    assert_eq!(unsigned_put(&mut c, "/data/small", &small), 200);
    assert_eq!(kept(&big), crc32c_of(&big), "stored decoded, with our CRC32C");
    assert_eq!(kept(&small), crc32c_of(&small));
    // A signed payload hash is the backend's check too (it verifies the same SHA-256).
    let signed = data(70_000, 23);
    assert_eq!(c.put("/data/signed", &signed).status, 200);
    let sha = s3o_sigv4::string_to_sign::sha256_hex(&signed);
    assert_eq!(kept(&signed), Some(("x-amz-content-sha256".to_string(), sha)));
    // A client's trailer checksum is forwarded as the backend's trailer.
    let trailed = data(300_000, 24);
    let r = c.chunked_put(
        "/data/trailed",
        &trailed,
        StreamingMode::UnsignedTrailer,
        65_536,
        |_| {},
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(kept(&trailed), crc32c_of(&trailed));
    // The client's own checksum header goes to the backend as sent.
    let crc = "x-amz-checksum-crc32";
    let mut k = s3o_sigv4::Checksummer::new(s3o_sigv4::ChecksumAlgorithm::Crc32);
    k.update(b"hello");
    let v = k.finish_base64();
    assert_eq!(c.send("PUT", "/data/hello", "", &[(crc, &v)], b"hello").status, 200);
    assert_eq!(kept(b"hello"), Some((crc.to_string(), v.clone())));
    // Intact objects read back whole, checked on the way.
    assert!(c.get("/data/big").body == big);
    assert!(c.get("/data/small").body == small);
    assert!(c.get("/data/signed").body == signed);
    assert!(c.get("/data/trailed").body == trailed);
    assert_eq!(c.get("/data/hello").body, b"hello");

    // A byte changes behind our back: the GET stops short of the end instead of serving it.
    for (path, obj) in [("/data/big", &big), ("/data/small", &small)] {
        for stored in fake.state.objects.lock().unwrap().values_mut() {
            if stored == obj {
                stored[obj.len() / 2] ^= 0x40;
            }
        }
        let (status, len, got) = common::get_to_eof(&mut c, srv.addr, path);
        if obj.len() > 1 << 20 {
            // Found after the head went out: the connection is cut before the last bytes.
            assert_eq!((status, len), (200, obj.len()), "{path}");
            assert!(got < len, "{path}: {got} of {len} bytes served from a corrupt copy");
        } else {
            // Found before the head (the whole body came in the first read): a clean 503.
            assert_eq!(status, 503, "{path}");
        }
    }
    // A range is not covered by the whole object's checksum: it is served.
    let r = c.send("GET", "/data/big", "", &[("range", "bytes=0-99")], b"");
    assert_eq!((r.status, &r.body[..]), (206, &big[..100]));
}

#[test]
fn workers_report_their_health() {
    // A backend nobody listens on: the PUT fails, its maybe-written bytes are queued for
    // deletion, and the cleanup worker's attempts fail visibly.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = TempDir::new("workers");
    let text = config(&dir.0, dead);
    let srv = TestServer::start_config(dir, &text);
    let names: Vec<&str> = srv.shared.workers.snapshot().iter().map(|h| h.name).collect();
    assert_eq!(names, common::WORKERS);
    let mut c = srv.client();
    assert!(c.put("/data/k", b"bytes").status >= 500);
    let t0 = Instant::now();
    let cleanup = loop {
        let h = srv.shared.workers.snapshot().remove(0);
        if h.consecutive_failures > 0 {
            break h;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{h:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(cleanup.running && cleanup.last_failure_ms.is_some(), "{cleanup:?}");
    let err = cleanup.last_error.unwrap();
    assert!(
        err.contains("1 of 1 deletions failed") && err.contains("remote"),
        "{err}"
    );
    let reaper = &srv.shared.workers.snapshot()[1];
    assert!(reaper.ticks >= 1 && reaper.consecutive_failures == 0 && reaper.last_success_ms.is_some());
}
