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
    let dir = TempDir::new("unsized-budget");
    let text = config_text(&dir.0, "").replace("[limits]\n", "[limits]\nunsized_body_total_bytes = 10\n");
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    let r = put_unsized(&mut c, "/data/small", "", &[], "UNSIGNED-PAYLOAD", b"0123456789");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put_unsized(&mut c, "/data/large", "", &[], "UNSIGNED-PAYLOAD", b"0123456789a");
    assert_eq!((r.status, r.code().as_str()), (503, "SlowDown"), "{}", r.text());
    let mut c = srv.client();
    assert_eq!(c.get("/data/large").status, 404);
    // A stated length does not use the budget.
    assert_eq!(c.put("/data/large", b"0123456789abcdef").status, 200);
    assert_eq!(srv.shared.unsized_budget.used(), 0);
}
