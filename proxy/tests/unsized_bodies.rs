//! Uploads whose length the client does not state (`Transfer-Encoding: chunked` without
//! `Content-Length` or `x-amz-decoded-content-length`): stored whole and verified up to
//! `limits.unsized_body_max_bytes`, refused 411 above it, 503 SlowDown when the memory for all
//! of them is taken, and never stored when a check fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config_text, data, md5_hex, multipart_etag, xml_one, Client, Response, TempDir, TestServer};
use s3o_sigv4::string_to_sign::sha256_hex;
use s3o_sigv4::{ChecksumAlgorithm, Checksummer};

/// `payload` in HTTP chunked framing, `chunk` bytes a chunk (the last one shorter).
fn te_chunked(payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(payload.len() + payload.len() / chunk * 12 + 16);
    for piece in payload.chunks(chunk) {
        wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

/// A signed request with `Transfer-Encoding: chunked` and no length; `sha` is the payload hash
/// header value.
fn put_unsized(c: &mut Client, path: &str, query: &str, extra: &[(&str, &str)], sha: &str, body: &[u8]) -> Response {
    let mut h = c.signed_headers("PUT", path, query, extra, sha);
    h.push(("transfer-encoding".into(), "chunked".into()));
    c.raw("PUT", path, query, &h, &te_chunked(body, 7_777))
}

fn crc32_b64(body: &[u8]) -> String {
    let mut c = Checksummer::new(ChecksumAlgorithm::Crc32);
    c.update(body);
    c.finish_base64()
}

#[test]
fn chunked_puts_without_a_length_are_stored_whole() {
    let srv = TestServer::start();
    let mut c = srv.client();
    // What botocore sends when a Transfer-Encoding header is added: a signed payload hash and a
    // checksum header, the body in HTTP chunks (s3-tests' chunked-transfer-encoding test).
    let body = b"bar";
    let crc = crc32_b64(body);
    let r = put_unsized(
        &mut c,
        "/data/foo",
        "",
        &[("x-amz-checksum-crc32", &crc)],
        &sha256_hex(body),
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", md5_hex(body)).as_str()));
    assert_eq!(r.header("x-amz-checksum-crc32"), Some(crc.as_str()));
    let g = c.get("/data/foo");
    assert_eq!((g.status, g.body.as_slice()), (200, &body[..]));
    // 3 MiB unsigned, in odd chunks: lands on backend b (a holds 1 MiB), every byte kept.
    let big = data(3 << 20, 5);
    let r = put_unsized(&mut c, "/data/big", "", &[], "UNSIGNED-PAYLOAD", &big);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", md5_hex(&big)).as_str()));
    let g = c.get("/data/big");
    assert_eq!(g.header("content-length"), Some((3u64 << 20).to_string().as_str()));
    assert!(g.body == big, "the body read back differs");
    // An empty chunked body is an empty object.
    let r = put_unsized(&mut c, "/data/empty", "", &[], &sha256_hex(b""), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/data/empty").body.len(), 0);
    assert_eq!(
        srv.shared.unsized_budget.used(),
        0,
        "every buffered byte was given back"
    );
}

#[test]
fn a_failed_check_or_a_body_above_the_limit_stores_nothing() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/k", b"previous");
    // Payload hash of another body.
    let r = put_unsized(&mut c, "/data/k", "", &[], &sha256_hex(b"other"), b"this one");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XAmzContentSHA256Mismatch"),
        "{}",
        r.text()
    );
    // Checksum header of another body.
    let crc = crc32_b64(b"other");
    let r = put_unsized(
        &mut c,
        "/data/k",
        "",
        &[("x-amz-checksum-crc32", &crc)],
        "UNSIGNED-PAYLOAD",
        b"this one",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "{}", r.text());
    // One byte above the default limit of 8 MiB.
    let mut c = srv.client();
    let r = put_unsized(&mut c, "/data/k", "", &[], "UNSIGNED-PAYLOAD", &data((8 << 20) + 1, 3));
    assert_eq!(
        (r.status, r.code().as_str()),
        (411, "MissingContentLength"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("at most 8388608 bytes"), "{}", r.text());
    let mut c = srv.client();
    assert_eq!(c.get("/data/k").body, b"previous");
    assert_eq!(srv.shared.unsized_budget.used(), 0);
}

#[test]
fn upload_part_without_a_length_is_a_part() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let id = c.create_upload("/data/mp", &[]);
    let p1 = data(5 << 20, 1);
    let p2 = data(1234, 2);
    let q1 = format!("partNumber=1&uploadId={id}");
    let r = put_unsized(&mut c, "/data/mp", &q1, &[], "UNSIGNED-PAYLOAD", &p1);
    assert_eq!(r.status, 200, "{}", r.text());
    let e1 = r.header("etag").unwrap().to_string();
    assert_eq!(e1, format!("\"{}\"", md5_hex(&p1)));
    let e2 = c
        .upload_part("/data/mp", &id, 2, &p2)
        .header("etag")
        .unwrap()
        .to_string();
    let r = c.complete_upload("/data/mp", &id, &[(1, &e1), (2, &e2)], &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let want = multipart_etag(&[&p1, &p2]).replace('"', "&quot;");
    assert_eq!(
        xml_one(&r.text(), "ETag").as_deref(),
        Some(want.as_str()),
        "{}",
        r.text()
    );
    let g = c.get("/data/mp");
    assert_eq!(g.body.len(), p1.len() + p2.len());
    assert!(g.body[..p1.len()] == p1[..] && g.body[p1.len()..] == p2[..]);
}

#[test]
fn when_the_memory_for_unsized_bodies_is_taken_the_answer_is_slow_down() {
    use std::io::{Read, Write};
    let dir = TempDir::new("unsized-budget");
    let limits = "[limits]\nunsized_body_max_bytes = 10\nunsized_body_total_bytes = 16\n";
    let text = config_text(&dir.0, "").replace("[limits]\n", limits);
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    // One upload holds 8 bytes of the 16 while its body is still arriving...
    let mut h = c.signed_headers("PUT", "/data/held", "", &[], "UNSIGNED-PAYLOAD");
    h.push(("transfer-encoding".into(), "chunked".into()));
    let mut head = "PUT /data/held HTTP/1.1\r\n".to_string();
    for (n, v) in &h {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let mut a = std::net::TcpStream::connect(srv.addr).unwrap();
    a.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    a.write_all(format!("{head}\r\n8\r\n01234567\r\n").as_bytes()).unwrap();
    let t0 = std::time::Instant::now();
    while srv.shared.unsized_budget.used() < 8 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the first body was not buffered"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // ... so a second one of 10 does not fit: 503 SlowDown, nothing stored.
    let r = put_unsized(&mut c, "/data/refused", "", &[], "UNSIGNED-PAYLOAD", b"0123456789");
    assert_eq!((r.status, r.code().as_str()), (503, "SlowDown"), "{}", r.text());
    // The first completes and gives its bytes back; then the second fits.
    a.write_all(b"0\r\n\r\n").unwrap();
    let mut resp = [0u8; 12];
    a.read_exact(&mut resp).unwrap();
    assert_eq!(&resp, b"HTTP/1.1 200");
    let mut c = srv.client();
    assert_eq!(c.get("/data/refused").status, 404);
    assert_eq!(c.get("/data/held").body, b"01234567");
    let r = put_unsized(&mut c, "/data/refused", "", &[], "UNSIGNED-PAYLOAD", b"0123456789");
    assert_eq!(r.status, 200, "{}", r.text());
    // A stated length does not use the budget.
    assert_eq!(c.put("/data/large", &[5u8; 100]).status, 200);
    assert_eq!(srv.shared.unsized_budget.used(), 0);
}

#[test]
fn tiny_chunks_with_long_extensions_are_stored_whole() {
    // 3000 one-byte chunks, each with a 500-byte chunk extension: the body is copied out of the
    // wire buffers, so what is held is the payload, not the framing.
    let srv = TestServer::start();
    let mut c = srv.client();
    let body = data(3000, 9);
    let ext = "x".repeat(500);
    let mut wire = Vec::new();
    for b in &body {
        wire.extend_from_slice(format!("1;e={ext}\r\n").as_bytes());
        wire.push(*b);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut h = c.signed_headers("PUT", "/data/tiny", "", &[], "UNSIGNED-PAYLOAD");
    h.push(("transfer-encoding".into(), "chunked".into()));
    let r = c.raw("PUT", "/data/tiny", "", &h, &wire);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get("/data/tiny").body == body);
    assert_eq!(srv.shared.unsized_budget.used(), 0);
}

#[test]
fn limits_that_could_never_hold_a_body_are_refused_at_start() {
    let dir = TempDir::new("unsized-config");
    for limits in ["unsized_body_max_bytes = 0\n", "unsized_body_total_bytes = 1000\n"] {
        let text = config_text(&dir.0, "").replace("[limits]\n", &format!("[limits]\n{limits}"));
        let e = s3o_proxy::config::Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("unsized_body_max_bytes"), "{e}");
    }
}
