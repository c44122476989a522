//! A hostile client against the proxy: requests no SDK would send, each checked against what S3
//! answers (duplicated and contradictory checksums, presigned URLs of impossible validity, ranges
//! beyond any object, malformed request lines, TLS on the plain port, HTTP/1.0 keep-alive, PUTs
//! without a length).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Client, Response, TestServer};
use s3o_sigv4::string_to_sign::sha256_hex;
use s3o_sigv4::{AmzDate, ChecksumAlgorithm, Checksummer, ChunkedEncoder, Signer, StreamingMode};

fn b64(alg: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut c = Checksummer::new(alg);
    c.update(data);
    c.finish_base64()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The `<Message>` of an XML error body.
fn message(r: &Response) -> String {
    let t = r.text();
    t.split("<Message>")
        .nth(1)
        .and_then(|s| s.split("</Message>").next())
        .unwrap_or("")
        .to_string()
}

/// The text of the first `<tag>` element of an XML document.
fn xml_text(text: &str, tag: &str) -> Option<String> {
    let rest = text.split(&format!("<{tag}>")).nth(1)?;
    Some(rest.split(&format!("</{tag}>")).next()?.to_string())
}

/// CreateMultipartUpload; the upload id.
fn create_upload(c: &mut Client, path: &str) -> String {
    let r = c.send("POST", path, "uploads", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    xml_text(&r.text(), "UploadId").unwrap()
}

/// An unsigned-trailer aws-chunked PUT of `payload` with a CRC32C trailer and `extra` headers
/// (signed).
fn chunked_put_with(c: &mut Client, path: &str, extra: &[(&str, &str)], payload: &[u8]) -> Response {
    let sha = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
    let len = payload.len().to_string();
    let date = AmzDate::from_unix(now());
    let host = c.host.clone();
    let mut h: Vec<(&str, &str)> = vec![
        ("host", &host),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", sha),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", &len),
        ("x-amz-trailer", "x-amz-checksum-crc32c"),
    ];
    h.extend_from_slice(extra);
    let sig = c.signer.sign_headers("PUT", path, "", &h, sha, &date);
    let body = ChunkedEncoder::new(
        StreamingMode::UnsignedTrailer,
        None,
        Some(Checksummer::new(ChecksumAlgorithm::Crc32c)),
    )
    .encode_all(payload, 8);
    let mut headers: Vec<(String, String)> = h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    headers.push(("authorization".into(), sig.authorization));
    headers.push(("content-length".into(), body.len().to_string()));
    c.raw("PUT", path, "", &headers, &body)
}

/// Inserts an extra trailer line just before the blank line that ends an aws-chunked body.
fn add_trailer_line(body: &mut Vec<u8>, line: &str, before_the_first: bool) {
    assert!(body.ends_with(b"\r\n\r\n"));
    let at = if before_the_first {
        // The trailer section starts after the `0\r\n` of the final chunk.
        let end = body.len();
        let tail = &body[..end - 2];
        tail.windows(3).rposition(|w| w == b"0\r\n").unwrap() + 3
    } else {
        body.len() - 2
    };
    let mut l = line.as_bytes().to_vec();
    l.extend_from_slice(b"\r\n");
    body.splice(at..at, l);
}

#[test]
fn a_duplicated_checksum_trailer_is_checked_like_s3_does_the_last_copy() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let payload = common::data(3000, 7);
    let good = b64(ChecksumAlgorithm::Crc32c, &payload);
    let bad = b64(ChecksumAlgorithm::Crc32c, b"something else");
    // Good copy first, a wrong one after it: the body fails verification.
    let r = c.chunked_put("/data/dup", &payload, StreamingMode::UnsignedTrailer, 1000, |b| {
        add_trailer_line(b, &format!("x-amz-checksum-crc32c:{bad}"), false)
    });
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "{}", r.text());
    assert_eq!(
        message(&r),
        "The CRC32C you specified did not match the calculated checksum."
    );
    assert_eq!(c.get("/data/dup").status, 404, "a refused body is never visible");
    // S3 checks the last copy: a wrong one before a right one is accepted.
    let r = c.chunked_put("/data/dup", &payload, StreamingMode::UnsignedTrailer, 1000, |b| {
        add_trailer_line(b, &format!("x-amz-checksum-crc32c:{bad}"), true)
    });
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.send("HEAD", "/data/dup", "", &[("x-amz-checksum-mode", "ENABLED")], b"");
    assert_eq!(r.header("x-amz-checksum-crc32c"), Some(good.as_str()));
}

#[test]
fn sdk_checksum_algorithm_must_name_the_checksum_sent() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let body = b"hello checksums";
    let want = "Value for x-amz-sdk-checksum-algorithm header is invalid.";
    // Header of another algorithm than the one named.
    let crc32c = b64(ChecksumAlgorithm::Crc32c, body);
    let r = c.send(
        "PUT",
        "/data/alg",
        "",
        &[
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-checksum-crc32c", &crc32c),
        ],
        body,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"), "{}", r.text());
    assert_eq!(message(&r), want);
    // Trailer of another algorithm than the one named.
    let r = chunked_put_with(&mut c, "/data/alg", &[("x-amz-sdk-checksum-algorithm", "SHA256")], body);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"), "{}", r.text());
    assert_eq!(message(&r), want);
    // UploadPart too.
    let id = create_upload(&mut c, "/data/alg-mp");
    let r = c.send(
        "PUT",
        "/data/alg-mp",
        &format!("partNumber=1&uploadId={id}"),
        &[
            ("x-amz-sdk-checksum-algorithm", "sha1"),
            ("x-amz-checksum-crc32c", &crc32c),
        ],
        body,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"), "{}", r.text());
    assert_eq!(c.get("/data/alg").status, 404);
    // The names agreeing (in any case) is fine, for a header and for a trailer.
    let r = c.send(
        "PUT",
        "/data/alg",
        "",
        &[
            ("x-amz-sdk-checksum-algorithm", "crc32c"),
            ("x-amz-checksum-crc32c", &crc32c),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = chunked_put_with(
        &mut c,
        "/data/alg2",
        &[("x-amz-sdk-checksum-algorithm", "CRC32C")],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_wrong_checksum_is_bad_digest_for_every_algorithm() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/ck", b"original");
    let id = create_upload(&mut c, "/data/ck-mp");
    for alg in ChecksumAlgorithm::ALL {
        let wrong = b64(alg, b"not the body");
        let want = format!(
            "The {} you specified did not match the calculated checksum.",
            alg.upper_name()
        );
        let r = c.send("PUT", "/data/ck", "", &[(alg.header_name(), &wrong)], b"changed!");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "BadDigest"),
            "{alg:?}: {}",
            r.text()
        );
        assert_eq!(message(&r), want);
        let q = format!("partNumber=1&uploadId={id}");
        let r = c.send("PUT", "/data/ck-mp", &q, &[(alg.header_name(), &wrong)], b"part");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "BadDigest"),
            "{alg:?}: {}",
            r.text()
        );
        assert_eq!(message(&r), want);
    }
    // A wrong trailer too.
    let r = c.chunked_put("/data/ck", b"changed!", StreamingMode::UnsignedTrailer, 4, |b| {
        let at = b.windows(22).position(|w| w == b"x-amz-checksum-crc32c:").unwrap() + 22;
        let wrong = b64(ChecksumAlgorithm::Crc32c, b"x");
        b.splice(at..at + wrong.len(), wrong.bytes());
    });
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "{}", r.text());
    assert_eq!(
        message(&r),
        "The CRC32C you specified did not match the calculated checksum."
    );
    assert_eq!(c.get("/data/ck").body, b"original");
}

#[test]
fn presigned_expiry_outside_a_week_is_refused_with_s3_words() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/p", b"v");
    let host = srv.addr.to_string();
    let signer = Signer::new(common::AK, common::SK, "us-east-1", "s3");
    let date = AmzDate::from_unix(now());
    let get = |c: &mut Client, q: &str| c.raw("GET", "/data/p", q, &[("host".into(), host.clone())], b"");
    // Zero seconds of validity: expired on arrival.
    let q = signer.presign("GET", "/data/p", "", &host, 0, &date);
    let r = get(&mut c, &q);
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"), "{}", r.text());
    assert_eq!(message(&r), "Request has expired");
    let q60 = signer.presign("GET", "/data/p", "", &host, 60, &date);
    assert_eq!(get(&mut c, &q60).status, 200);
    for (expires, status, code, msg) in [
        ("-1", 403, "AccessDenied", "X-Amz-Expires must be non-negative"),
        ("-604801", 403, "AccessDenied", "X-Amz-Expires must be non-negative"),
        (
            "604801",
            403,
            "AccessDenied",
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less \
             than 604800 seconds",
        ),
        (
            "99999999999999999999999",
            403,
            "AccessDenied",
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less \
             than 604800 seconds",
        ),
        (
            "1e3",
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires should be a number",
        ),
    ] {
        let q = q60.replace("X-Amz-Expires=60", &format!("X-Amz-Expires={expires}"));
        let r = get(&mut c, &q);
        assert_eq!((r.status, r.code().as_str()), (status, code), "{expires}: {}", r.text());
        assert_eq!(message(&r), msg, "{expires}");
    }
}

#[test]
fn a_range_starting_beyond_u64_is_unsatisfiable() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/r", b"0123456789");
    for range in ["bytes=18446744073709551616-", "bytes=99999999999999999999999999-"] {
        let r = c.send("GET", "/data/r", "", &[("range", range)], b"");
        assert_eq!((r.status, r.code().as_str()), (416, "InvalidRange"), "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */10"), "{range}");
    }
    // An end beyond u64 is the end of the object; a suffix beyond it is the whole object.
    let r = c.send(
        "GET",
        "/data/r",
        "",
        &[("range", "bytes=2-99999999999999999999999")],
        b"",
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"23456789"[..]));
    let r = c.send(
        "GET",
        "/data/r",
        "",
        &[("range", "bytes=-99999999999999999999999")],
        b"",
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"0123456789"[..]));
    // Syntactically invalid ranges stay ignored.
    for range in ["bytes=+1-", "bytes=1x-", "bytes=5-2"] {
        let r = c.send("GET", "/data/r", "", &[("range", range)], b"");
        assert_eq!(r.status, 200, "{range}");
    }
}

#[test]
fn parse_range_table() {
    use s3o_proxy::s3::object::parse_range;
    let r = |v: &str| parse_range(v, 10).map(|o| o.map(|r| (r.start, r.end)));
    // Satisfiable.
    for (v, want) in [
        ("bytes=0-0", (0, 0)),
        ("bytes=2-", (2, 9)),
        ("bytes=2-18446744073709551616", (2, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-18446744073709551616", (0, 9)),
    ] {
        assert_eq!(r(v).unwrap(), Some(want), "{v}");
    }
    // Beyond the object (u64 overflow included): 416.
    for v in [
        "bytes=10-",
        "bytes=18446744073709551615-",
        "bytes=18446744073709551616-",
        "bytes=99999999999999999999999999-5",
        "bytes=-0",
    ] {
        assert!(r(v).is_err(), "{v}");
    }
    // Syntactically invalid: ignored.
    for v in [
        "bytes=+1-",
        "bytes=1-+5",
        "bytes=-+3",
        "bytes= -",
        "bytes=a-",
        "bytes=0-1,3-4",
        "items=0-1",
    ] {
        assert_eq!(r(v).unwrap(), None, "{v}");
    }
}

/// Reads until the peer closes (or `limit` passes); returns what arrived.
fn read_to_close(s: &mut std::net::TcpStream, limit: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "no close within {limit:?}: {e}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

#[test]
fn a_space_in_the_request_target_is_400_and_closes() {
    let srv = TestServer::start();
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let got = read_to_close(&mut s, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    // A real version error is still 505.
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"GET /a HTTP/2.0\r\nHost: x\r\n\r\n").unwrap();
    let text = String::from_utf8_lossy(&read_to_close(&mut s, Duration::from_secs(5))).into_owned();
    assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
}

#[test]
fn a_bucket_name_with_a_dot_next_to_a_hyphen_is_refused() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for name in ["a.-b", "a-.b", "my-.bucket", "my.-bucket"] {
        let r = c.send("PUT", &format!("/{name}"), "", &[], b"");
        assert_eq!((r.status, r.code().as_str()), (400, "InvalidBucketName"), "{name}");
    }
    assert_eq!(c.send("PUT", "/a-b.c-d", "", &[], b"").status, 200);
}

/// A signed HTTP/1.0 request with these extra header lines.
fn http10_request(c: &Client, path: &str, extra: &str) -> Vec<u8> {
    let headers = c.signed_headers("GET", path, "", &[], &sha256_hex(b""));
    let mut req = format!("GET {path} HTTP/1.0\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(extra);
    req.push_str("\r\n");
    req.into_bytes()
}

#[test]
fn http10_keep_alive_is_announced_and_kept() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/h10", b"ten");
    let mut k = srv.client();
    for _ in 0..3 {
        let req = http10_request(&k, "/data/h10", "Connection: keep-alive\r\n");
        let r = k.send_bytes(&req, false);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ten"[..]));
        assert_eq!(r.header("connection"), Some("keep-alive"), "{:?}", r.headers);
        assert!(k.stream.is_some(), "the connection stays open");
    }
    // Errors say it too (once), and the connection carries on.
    let req = http10_request(&k, "/data/missing", "Connection: keep-alive\r\n");
    let r = k.send_bytes(&req, false);
    assert_eq!(r.status, 404);
    let n = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .count();
    assert_eq!((n, r.header("connection")), (1, Some("keep-alive")));
    let r = k.send_bytes(&http10_request(&k, "/data/h10", "Connection: keep-alive\r\n"), false);
    assert_eq!(r.status, 200);
    // Plain HTTP/1.0: answered, not announced, closed.
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.write_all(&http10_request(&k, "/data/h10", "")).unwrap();
    let text = String::from_utf8_lossy(&read_to_close(&mut s, Duration::from_secs(5))).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(!text.to_ascii_lowercase().contains("keep-alive"), "{text}");
    // HTTP/1.1 is unchanged: no Connection header on success.
    let r = c.get("/data/h10");
    assert_eq!((r.status, r.header("connection")), (200, None));
}

/// The start of a TLS 1.2 ClientHello: handshake record (0x16), version 3.1, length, type 1.
const CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x5f, 0x2a, 0x00, 0x00, 0x20, 0x13, 0x01,
];

#[test]
fn a_tls_client_hello_on_the_plain_port_is_refused_at_once() {
    let srv = TestServer::start();
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    let t0 = Instant::now();
    s.write_all(CLIENT_HELLO).unwrap();
    // The head timeout of the test config is 2 s: the answer must come well before it.
    let got = read_to_close(&mut s, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(t0.elapsed() < Duration::from_millis(1500), "took {:?}", t0.elapsed());
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    // Any byte that cannot start a method is refused as promptly.
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    let t0 = Instant::now();
    s.write_all(b"\x00\x01garbage").unwrap();
    let text = String::from_utf8_lossy(&read_to_close(&mut s, Duration::from_secs(5))).into_owned();
    assert!(t0.elapsed() < Duration::from_millis(1500), "took {:?}", t0.elapsed());
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
}

/// A signed request without Content-Length or Transfer-Encoding.
fn without_length(c: &mut Client, method: &str, path: &str, query: &str, extra: &[(&str, &str)]) -> Response {
    let h = c.signed_headers(method, path, query, extra, &sha256_hex(b""));
    c.raw(method, path, query, &h, b"")
}

#[test]
fn uploads_without_a_length_are_411_and_bodiless_operations_work() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/src", b"source");
    let r = without_length(&mut c, "PUT", "/data/nolen", "", &[]);
    assert_eq!(
        (r.status, r.code().as_str()),
        (411, "MissingContentLength"),
        "{}",
        r.text()
    );
    assert_eq!(message(&r), "You must provide the Content-Length HTTP header.");
    assert_eq!(c.get("/data/nolen").status, 404, "no empty object was stored");
    // CreateMultipartUpload, UploadPart, UploadPartCopy.
    let r = without_length(&mut c, "POST", "/data/mp", "uploads", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let id = xml_text(&r.text(), "UploadId").unwrap();
    let q = format!("partNumber=1&uploadId={id}");
    let r = without_length(&mut c, "PUT", "/data/mp", &q, &[]);
    assert_eq!(
        (r.status, r.code().as_str()),
        (411, "MissingContentLength"),
        "{}",
        r.text()
    );
    let r = without_length(&mut c, "PUT", "/data/mp", &q, &[("x-amz-copy-source", "/data/src")]);
    assert_eq!(r.status, 200, "{}", r.text());
    // CopyObject, GET, HEAD, DELETE.
    let r = without_length(&mut c, "PUT", "/data/copy", "", &[("x-amz-copy-source", "/data/src")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/data/copy").body, b"source");
    assert_eq!(without_length(&mut c, "GET", "/data/copy", "", &[]).status, 200);
    assert_eq!(without_length(&mut c, "HEAD", "/data/copy", "", &[]).status, 200);
    assert_eq!(without_length(&mut c, "DELETE", "/data/copy", "", &[]).status, 204);
    // An explicit empty body is still a valid (empty) object.
    let r = c.send("PUT", "/data/empty", "", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/data/empty").status, 200);
}
