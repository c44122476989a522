//! In-process integration tests of every S3 operation the proxy serves and its error paths, with
//! a hand-signing client over `fs` backends.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{data, Client, TestServer, RO_AK, RO_SK};
use s3o_sigv4::{AmzDate, ChecksumAlgorithm, Checksummer, ChunkedEncoder, Signer, StreamingMode};

fn md5_b64(b: &[u8]) -> String {
    use md5::Digest;
    s3o_sigv4::checksum::base64_encode(&md5::Md5::digest(b))
}

#[test]
fn put_get_head_delete_round_trip() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let body = data(100_000, 1);
    let r = c.send(
        "PUT",
        "/data/dir/hello%20world.bin",
        "",
        &[
            ("content-type", "application/x-test"),
            ("x-amz-meta-color", "blue"),
            ("cache-control", "max-age=60"),
            ("content-disposition", "attachment"),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = r.header("etag").unwrap().to_string();
    use md5::Digest;
    assert_eq!(
        etag,
        format!("\"{}\"", s3o_sigv4::encode::hex(&md5::Md5::digest(&body)))
    );

    let g = c.get("/data/dir/hello%20world.bin");
    assert_eq!(g.status, 200);
    assert!(g.body == body);
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    assert_eq!(g.header("content-type"), Some("application/x-test"));
    assert_eq!(g.header("x-amz-meta-color"), Some("blue"));
    assert_eq!(g.header("cache-control"), Some("max-age=60"));
    assert_eq!(g.header("content-disposition"), Some("attachment"));
    assert!(g.header("last-modified").unwrap().ends_with("GMT"));
    assert!(g.header("x-amz-request-id").is_some());

    let h = c.send("HEAD", "/data/dir/hello%20world.bin", "", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("100000"));
    assert!(h.body.is_empty());

    // Overwrite, then delete.
    assert_eq!(c.put("/data/dir/hello%20world.bin", b"v2").status, 200);
    assert_eq!(c.get("/data/dir/hello%20world.bin").body, b"v2");
    assert_eq!(
        c.send("DELETE", "/data/dir/hello%20world.bin", "", &[], b"").status,
        204
    );
    let g = c.get("/data/dir/hello%20world.bin");
    assert_eq!((g.status, g.code().as_str()), (404, "NoSuchKey"));
    // Deleting again is still 204.
    assert_eq!(
        c.send("DELETE", "/data/dir/hello%20world.bin", "", &[], b"").status,
        204
    );
}

#[test]
fn empty_object_and_ranges() {
    let srv = TestServer::start();
    let mut c = srv.client();
    assert_eq!(c.put("/data/empty", b"").status, 200);
    let g = c.get("/data/empty");
    assert_eq!((g.status, g.body.len()), (200, 0));
    assert_eq!(g.header("etag"), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));

    let body = data(1000, 2);
    c.put("/data/r", &body);
    for (range, want, cr) in [
        ("bytes=0-9", &body[0..10], "bytes 0-9/1000"),
        ("bytes=990-", &body[990..], "bytes 990-999/1000"),
        ("bytes=-5", &body[995..], "bytes 995-999/1000"),
        ("bytes=100-5000", &body[100..], "bytes 100-999/1000"),
        ("bytes=-5000", &body[..], "bytes 0-999/1000"),
    ] {
        let r = c.send("GET", "/data/r", "", &[("range", range)], b"");
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, want, "{range}");
        assert_eq!(r.header("content-range"), Some(cr), "{range}");
    }
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let r = c.send("GET", "/data/r", "", &[("range", range)], b"");
        assert_eq!((r.status, r.code().as_str()), (416, "InvalidRange"), "{range}");
    }
    let r = c.send("GET", "/data/empty", "", &[("range", "bytes=0-1")], b"");
    assert_eq!(r.status, 416);
}

#[test]
fn buckets_lifecycle_and_errors() {
    let srv = TestServer::start();
    let mut c = srv.client();
    assert_eq!(c.send("PUT", "/newbucket", "", &[], b"").status, 200);
    // us-east-1 (the default region) lets the owner create its bucket again: 200, nothing changes.
    assert_eq!(c.send("PUT", "/newbucket", "", &[], b"").status, 200);
    assert_eq!(c.send("HEAD", "/newbucket", "", &[], b"").status, 200);
    assert_eq!(c.send("HEAD", "/nosuchbucket", "", &[], b"").status, 404);
    // HEAD errors have no body: the same connection carries the next request cleanly.
    let h = c.send("HEAD", "/newbucket/missing-key", "", &[], b"");
    assert_eq!((h.status, h.body.len()), (404, 0));
    assert_eq!(c.send("HEAD", "/newbucket", "", &[], b"").status, 200);
    let l = c.get("/");
    assert_eq!(l.status, 200);
    assert!(l.text().contains("<Name>newbucket</Name>") && l.text().contains("<Name>data</Name>"));
    let loc = c.send("GET", "/newbucket", "location", &[], b"");
    assert!(loc.text().contains("LocationConstraint"), "{}", loc.text());

    c.put("/newbucket/k", b"x");
    let r = c.send("DELETE", "/newbucket", "", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (409, "BucketNotEmpty"));
    c.send("DELETE", "/newbucket/k", "", &[], b"");
    assert_eq!(c.send("DELETE", "/newbucket", "", &[], b"").status, 204);
    let r = c.get("/newbucket/k");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
    let r = c.put("/nosuchbucket/k", b"x");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
    let r = c.send("PUT", "/Bad_Bucket", "", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidBucketName"));
    let r = c.send("GET", "/nosuchbucket", "list-type=2", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
}

#[test]
fn listing_pagination_v1_and_v2() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let keys = ["a/1", "a/2", "a/b/3", "b", "c/4", "c/5", "d", "e/f/g", "z"];
    for k in keys {
        assert_eq!(c.put(&format!("/data/{k}"), k.as_bytes()).status, 200);
    }
    // v2, no delimiter, page size 2: exactly all keys once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let q = match &token {
            Some(t) => format!("list-type=2&max-keys=2&continuation-token={t}"),
            None => "list-type=2&max-keys=2".into(),
        };
        let r = c.send("GET", "/data", &q, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let t = r.text();
        for part in t.split("<Key>").skip(1) {
            seen.push(part.split("</Key>").next().unwrap().to_string());
        }
        assert!(t.contains("<KeyCount>"));
        if t.contains("<IsTruncated>true</IsTruncated>") {
            token = Some(
                t.split("<NextContinuationToken>")
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        } else {
            break;
        }
    }
    assert_eq!(seen, keys);
    // Delimiter: common prefixes once each.
    let r = c.send("GET", "/data", "list-type=2&delimiter=%2F", &[], b"");
    let t = r.text();
    for p in ["a/", "c/", "e/"] {
        assert_eq!(t.matches(&format!("<Prefix>{p}</Prefix>")).count(), 1, "{t}");
    }
    assert!(t.contains("<Key>b</Key>") && t.contains("<Key>d</Key>") && !t.contains("<Key>a/1</Key>"));
    // Prefix + delimiter.
    let t = c
        .send("GET", "/data", "list-type=2&prefix=a%2F&delimiter=%2F", &[], b"")
        .text();
    assert!(
        t.contains("<Key>a/1</Key>") && t.contains("<Prefix>a/b/</Prefix>"),
        "{t}"
    );
    // max-keys=0 lists nothing and, as in S3, is not truncated.
    let t = c.send("GET", "/data", "list-type=2&max-keys=0", &[], b"").text();
    assert!(
        t.contains("<KeyCount>0</KeyCount>") && t.contains("<IsTruncated>false</IsTruncated>"),
        "{t}"
    );
    // v1 with marker
    let t = c.send("GET", "/data", "marker=c%2F4", &[], b"").text();
    assert!(
        !t.contains("<Key>c/4</Key>") && t.contains("<Key>c/5</Key>") && t.contains("<Marker>c/4</Marker>"),
        "{t}"
    );
    // start-after, encoding-type=url, fetch-owner: keys come percent-encoded (every byte but the
    // unreserved characters and `/`), never raw. `e/f g+h&ü` sorts before `e/f/g`.
    assert_eq!(c.put("/data/e/f%20g%2Bh%26%C3%BC", b"x").status, 200);
    let t = c
        .send(
            "GET",
            "/data",
            "list-type=2&start-after=d&encoding-type=url&fetch-owner=true",
            &[],
            b"",
        )
        .text();
    assert_eq!(
        common::xml_all(&t, "Key"),
        ["e/f%20g%2Bh%26%C3%BC", "e/f/g", "z"],
        "{t}"
    );
    assert!(t.contains("<EncodingType>url</EncodingType>"), "{t}");
    assert!(!t.contains("e/f g") && !t.contains("&amp;") && !t.contains('ü'), "{t}");
    assert!(t.contains("<Owner>"), "{t}");
    c.send("DELETE", "/data/e/f%20g%2Bh%26%C3%BC", "", &[], b"");
    // Bad max-keys.
    let r = c.send("GET", "/data", "list-type=2&max-keys=-1", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let r = c.send("GET", "/data", "list-type=2&continuation-token=%21%21", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
}

#[test]
fn delete_objects_quiet_and_verbose() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for k in ["x1", "x2", "x3"] {
        c.put(&format!("/data/{k}"), b"1");
    }
    let doc = b"<Delete><Object><Key>x1</Key></Object><Object><Key>missing</Key></Object></Delete>";
    let md5 = md5_b64(doc);
    let r = c.send("POST", "/data", "delete", &[("content-md5", &md5)], doc);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<Deleted><Key>x1</Key></Deleted>") && r.text().contains("<Key>missing</Key>"));
    let doc = b"<Delete><Quiet>true</Quiet><Object><Key>x2</Key></Object><Object><Key>x3</Key></Object></Delete>";
    let r = c.send("POST", "/data", "delete", &[], doc);
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("<Deleted>"), "{}", r.text());
    let t = c.send("GET", "/data", "list-type=2", &[], b"").text();
    assert!(!t.contains("<Key>x"), "{t}");
    let r = c.send("POST", "/data", "delete", &[], b"<Delete><Object>");
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
}

#[test]
fn authentication_and_authorization_errors() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/k", b"v");
    // Read-only key: GET ok, PUT denied, other bucket denied, bucket creation denied.
    let mut ro = Client::new(srv.addr, RO_AK, RO_SK);
    assert_eq!(ro.get("/data/k").status, 200);
    let r = ro.put("/data/k", b"w");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    let r = ro.send("PUT", "/otherbucket", "", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    let l = ro.get("/");
    assert!(l.text().contains("<Name>data</Name>"));
    // Wrong secret, unknown key.
    let mut bad = Client::new(srv.addr, common::AK, "wrong");
    let r = bad.get("/data/k");
    assert_eq!((r.status, r.code().as_str()), (403, "SignatureDoesNotMatch"));
    let mut unknown = Client::new(srv.addr, "AKIANOBODY0000000000", "x");
    assert_eq!(unknown.get("/data/k").code(), "InvalidAccessKeyId");
    // Anonymous.
    let r = c.raw("GET", "/data/k", "", &[("host".into(), "x".into())], b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    // A signed header changed after signing.
    let mut h = c.signed_headers("GET", "/data/k", "", &[("x-amz-meta-a", "1")], "UNSIGNED-PAYLOAD");
    h.iter_mut().find(|(n, _)| n == "x-amz-meta-a").unwrap().1 = "2".into();
    let r = c.raw("GET", "/data/k", "", &h, b"");
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    // Presigned GET works without headers; expired does not.
    let signer = Signer::new(common::AK, common::SK, "us-east-1", "s3");
    let now = AmzDate::from_unix(s3o_proxy_now());
    let q = signer.presign("GET", "/data/k", "", &srv.addr.to_string(), 60, &now);
    let r = c.raw("GET", "/data/k", &q, &[("host".into(), srv.addr.to_string())], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"v"[..]));
    let old = AmzDate::from_unix(s3o_proxy_now() - 120);
    let q = signer.presign("GET", "/data/k", "", &srv.addr.to_string(), 60, &old);
    let r = c.raw("GET", "/data/k", &q, &[("host".into(), srv.addr.to_string())], b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
}

fn s3o_proxy_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn body_verification_rejects_and_keeps_previous_version() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/v", b"original");
    // Wrong Content-MD5.
    let r = c.send(
        "PUT",
        "/data/v",
        "",
        &[("content-md5", &md5_b64(b"other"))],
        b"changed!",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    // Wrong signed payload hash.
    let mut h = c.signed_headers(
        "PUT",
        "/data/v",
        "",
        &[],
        &s3o_sigv4::string_to_sign::sha256_hex(b"something"),
    );
    h.push(("content-length".into(), "8".into()));
    let r = c.raw("PUT", "/data/v", "", &h, b"changed!");
    assert_eq!((r.status, r.code().as_str()), (400, "XAmzContentSHA256Mismatch"));
    // Wrong x-amz-checksum-crc32.
    let mut ck = Checksummer::new(ChecksumAlgorithm::Crc32);
    ck.update(b"nope");
    let r = c.send(
        "PUT",
        "/data/v",
        "",
        &[("x-amz-checksum-crc32", &ck.finish_base64())],
        b"changed!",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    assert_eq!(c.get("/data/v").body, b"original");
}

fn chunked_put(c: &mut Client, path: &str, payload: &[u8], mode: StreamingMode, chunk: usize) -> common::Response {
    c.chunked_put(path, payload, mode, chunk, |_| {})
}

#[test]
fn aws_chunked_uploads_in_every_mode() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let payload = data(200_000, 3);
    for (i, mode) in [
        StreamingMode::Signed,
        StreamingMode::SignedTrailer,
        StreamingMode::UnsignedTrailer,
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("/data/chunked-{i}");
        let r = chunked_put(&mut c, &path, &payload, mode, 65_536);
        assert_eq!(r.status, 200, "{mode:?}: {}", r.text());
        let g = c.get(&path);
        assert!(g.body == payload, "{mode:?}");
        assert_eq!(g.header("content-encoding"), None, "aws-chunked must not be stored");
    }
    // With checksum mode the stored CRC32C comes back: the CRC32C of the payload (computed here
    // bit by bit, independently of the proxy's CRC code), big-endian, base64.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283, "the check value of CRC-32C");
    let want = s3o_sigv4::checksum::base64_encode(&crc32c(&payload).to_be_bytes());
    for method in ["HEAD", "GET"] {
        let r = c.send(
            method,
            "/data/chunked-2",
            "",
            &[("x-amz-checksum-mode", "ENABLED")],
            b"",
        );
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(r.header("x-amz-checksum-crc32c"), Some(want.as_str()), "{method}");
        assert_eq!(r.header("x-amz-checksum-type"), Some("FULL_OBJECT"), "{method}");
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn not_implemented_operations_say_so() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let r = c.send("PUT", "/data", "website", &[], b"<WebsiteConfiguration/>");
    assert_eq!((r.status, r.code().as_str()), (501, "NotImplemented"));
    assert!(r.text().contains("PutBucketWebsite"), "{}", r.text());
    let r = c.send("POST", "/data/k", "restore", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (501, "NotImplemented"));
    let r = c.send("GET", "/data", "replication", &[], b"");
    assert_eq!(r.status, 501);
    assert!(r.text().contains("GetBucketReplication"), "{}", r.text());
}

#[test]
fn quota_refusal_at_expect_continue() {
    let dir = common::TempDir::new("quota");
    let text = common::config_text(&dir.0, "").replace(
        "backends = [\"a\", \"b\"]\nplacement = \"pack\"",
        "backends = [\"a\"]\nplacement = \"pack\"",
    );
    let srv = TestServer::start_config(dir, &text);
    let mut c = srv.client();
    // 2 MiB does not fit backend a's 1 MiB quota: refused before the body is sent.
    let mut h = c.signed_headers("PUT", "/data/big", "", &[], "UNSIGNED-PAYLOAD");
    h.push(("content-length".into(), (2 << 20).to_string()));
    h.push(("expect".into(), "100-continue".into()));
    let r = c.raw("PUT", "/data/big", "", &h, b"");
    assert_eq!((r.status, r.code().as_str()), (507, "InsufficientStorage"));
    // A fitting upload gets 100 Continue first, then 200.
    let mut c = srv.client();
    let body = data(1000, 4);
    let mut h = c.signed_headers("PUT", "/data/small", "", &[], "UNSIGNED-PAYLOAD");
    h.push(("content-length".into(), "1000".into()));
    h.push(("expect".into(), "100-continue".into()));
    let mut req = "PUT /data/small HTTP/1.1\r\n".to_string();
    for (n, v) in &h {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let cont = c.send_bytes(req.as_bytes(), false);
    assert_eq!(cont.status, 100);
    let r = c.send_bytes(&body, false);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s3o_store::block_on(srv.shared.store.usage("a")).unwrap(), 1000);
}

#[test]
fn malformed_http_gets_a_clear_error() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let r = c.send_bytes(b"GARBAGE\r\n\r\n", false);
    assert_eq!(r.status, 400);
    let mut c = srv.client();
    let long = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(10_000));
    assert_eq!(c.send_bytes(long.as_bytes(), false).status, 414);
    let mut c = srv.client();
    let mut big = "GET / HTTP/1.1\r\nhost: x\r\n".to_string();
    for i in 0..200 {
        big.push_str(&format!("x-h-{i}: {}\r\n", "v".repeat(400)));
    }
    big.push_str("\r\n");
    assert_eq!(c.send_bytes(big.as_bytes(), false).status, 431);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let srv = TestServer::start();
    let mut c = srv.client();
    c.put("/data/ka", b"hello");
    c.conn();
    let local = c.stream.as_ref().unwrap().local_addr().unwrap();
    for _ in 0..50 {
        assert_eq!(c.get("/data/ka").body, b"hello");
    }
    assert_eq!(c.stream.as_ref().unwrap().local_addr().unwrap(), local);
    // A GET that carries a (small) body: the body is read and ignored, and the same connection
    // serves the next request.
    let r = c.send("GET", "/data/ka", "", &[], b"ignored body");
    assert_eq!(r.body, b"hello");
    assert_eq!(c.get("/data/ka").body, b"hello");
    assert_eq!(c.stream.as_ref().unwrap().local_addr().unwrap(), local);
}

#[test]
fn spread_placement_uses_both_backends_and_counts_usage() {
    let srv = TestServer::start();
    let mut c = srv.client();
    assert_eq!(c.send("PUT", "/spread", "", &[], b"").status, 200);
    for i in 0..10 {
        assert_eq!(c.put(&format!("/spread/o{i}"), &data(10_000, i)).status, 200);
    }
    let a = s3o_store::block_on(srv.shared.store.usage("a")).unwrap();
    let b = s3o_store::block_on(srv.shared.store.usage("b")).unwrap();
    assert_eq!(a + b, 100_000);
    assert!(a > 0 && b > 0, "a={a} b={b}");
    let files: Vec<_> = srv
        .backend_files("a")
        .into_iter()
        .chain(srv.backend_files("b"))
        .collect();
    assert_eq!(files.len(), 10);
    // Every file carries its logical bucket, key and version (a lost index can be rebuilt).
    use s3o_proxy::backend::{fs, xattr};
    let mut keys: Vec<String> = files
        .iter()
        .map(|f| {
            assert_eq!(xattr::get(f, fs::XATTR_BUCKET).unwrap(), b"spread");
            let version = String::from_utf8(xattr::get(f, fs::XATTR_VERSION).unwrap()).unwrap();
            let name = f.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                u64::from_str_radix(name.rsplit('-').next().unwrap(), 16).unwrap(),
                version.parse::<u64>().unwrap()
            );
            String::from_utf8(xattr::get(f, fs::XATTR_KEY).unwrap()).unwrap()
        })
        .collect();
    keys.sort();
    assert_eq!(keys, (0..10).map(|i| format!("o{i}")).collect::<Vec<_>>());
}

#[test]
fn versions_parts_conditions_and_range_edge_cases() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let body = data(100, 6);
    let etag = c.put("/data/v", &body).header("etag").unwrap().to_string();
    // Only the null version and part 1 exist; anything else must not touch the current object.
    assert_eq!(c.send("GET", "/data/v", "versionId=null", &[], b"").status, 200);
    let r = c.send("GET", "/data/v", "versionId=3HL4kqtJlcpXroDTDmJ", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let r = c.send("DELETE", "/data/v", "versionId=3HL4kqtJlcpXroDTDmJ", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    assert_eq!(c.get("/data/v").body, body);
    assert_eq!(c.send("GET", "/data/v", "partNumber=1", &[], b"").status, 200);
    let r = c.send("GET", "/data/v", "partNumber=2", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidPart"));
    // Conditional writes: the key exists, so If-None-Match: * fails and changes nothing.
    let r = c.send("PUT", "/data/v", "", &[("if-none-match", "*")], b"other");
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    let r = c.send("PUT", "/data/v", "", &[("if-match", "\"0123\"")], b"other");
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    assert_eq!(c.get("/data/v").body, body);
    // More than one checksum header.
    let mut a = Checksummer::new(ChecksumAlgorithm::Crc32);
    a.update(b"x");
    let mut b = Checksummer::new(ChecksumAlgorithm::Crc32c);
    b.update(b"x");
    let r = c.send(
        "PUT",
        "/data/two",
        "",
        &[
            ("x-amz-checksum-crc32", &a.finish_base64()),
            ("x-amz-checksum-crc32c", &b.finish_base64()),
        ],
        b"x",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"));
    // A malformed Range is ignored; an unsatisfiable one says the size.
    let r = c.send("GET", "/data/v", "", &[("range", "bytes=abc-")], b"");
    assert_eq!((r.status, r.body.len()), (200, 100));
    let r = c.send("GET", "/data/v", "", &[("range", "bytes=500-")], b"");
    assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */100")));
    // Conditional reads, weak ETags included.
    let weak = format!("W/{etag}");
    assert_eq!(
        c.send("GET", "/data/v", "", &[("if-none-match", &weak)], b"").status,
        304
    );
    assert_eq!(
        c.send("GET", "/data/v", "", &[("if-none-match", "\"nope\"")], b"")
            .status,
        200
    );
    let r = c.send("GET", "/data/v", "", &[("if-match", "\"nope\"")], b"");
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
}

#[test]
fn transfer_encoding_chunked_bodies() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let payload = data(150_000, 8);
    // aws-chunked inside HTTP chunked framing, as botocore sends it: the payload length comes
    // from x-amz-decoded-content-length.
    let len = payload.len().to_string();
    let sha = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
    let extra = [
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", len.as_str()),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    let mut h = c.signed_headers("PUT", "/data/te", "", &extra, sha);
    h.push(("transfer-encoding".into(), "chunked".into()));
    let inner = ChunkedEncoder::new(
        StreamingMode::UnsignedTrailer,
        None,
        Some(Checksummer::new(ChecksumAlgorithm::Crc32)),
    )
    .encode_all(&payload, 65_536);
    // HTTP chunked framing with odd chunk sizes over the aws-chunked body.
    let mut wire = Vec::new();
    for piece in inner.chunks(7_777) {
        wire.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let r = c.raw("PUT", "/data/te", "", &h, &wire);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(c.get("/data/te").body == payload);
    // Plain chunked without any length: see tests/unsized_bodies.rs.
}
