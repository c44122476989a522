//! In-process tests of browser POST uploads (`POST /bucket`, `multipart/form-data`): a signed
//! form (SigV4 and SigV2) uploaded then read back, the `success_action_*` answers, the policy's
//! refusals (expired, a condition, a field no condition names, bad signatures, anonymous,
//! read-only), `content-length-range` over and under on both the streamed and the in-memory
//! path, a too-large field, and a stalled or cut-off body answered with an error, not a hang.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{data, md5_hex, Client, Response, TestServer, AK, RO_AK, RO_SK, SK};
use s3o_sigv4::post::{v2_signature, v4_signature};
use s3o_sigv4::{AmzDate, SigningKey};

const B: &str = "----s3oFormBoundaryX1";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An ISO 8601 expiration `secs` from now.
fn expiration(secs: i64) -> String {
    let d = AmzDate::from_unix(now() + secs);
    let s = d.as_str();
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// A policy document (base64) with these conditions, expiring in `secs`.
fn policy(conditions: &str, secs: i64) -> String {
    let doc = format!(
        "{{\"expiration\": \"{}\", \"conditions\": [{conditions}]}}",
        expiration(secs)
    );
    base64::engine::general_purpose::STANDARD.encode(doc)
}

/// The SigV4 fields for `policy` (whose conditions must name them) signed with `sk`.
fn v4_fields(ak: &str, sk: &str, policy: &str) -> Vec<(String, String)> {
    let date = AmzDate::from_unix(now());
    let key = SigningKey::derive(sk, date.date(), "us-east-1", "s3");
    vec![
        ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
        (
            "x-amz-credential".into(),
            format!("{ak}/{}/us-east-1/s3/aws4_request", date.date()),
        ),
        ("x-amz-date".into(), date.as_str().into()),
        ("policy".into(), policy.into()),
        ("x-amz-signature".into(), v4_signature(&key, policy)),
    ]
}

/// The conditions naming the SigV4 fields of `ak` today.
fn v4_conditions(ak: &str) -> String {
    let date = AmzDate::from_unix(now());
    format!(
        r#"{{"x-amz-algorithm": "AWS4-HMAC-SHA256"}}, {{"x-amz-credential": "{ak}/{}/us-east-1/s3/aws4_request"}}, {{"x-amz-date": "{}"}}"#,
        date.date(),
        date.as_str()
    )
}

/// A form body: `fields`, then the file, then `after`, closed as curl closes it.
fn form(fields: &[(String, String)], file: &[u8], after: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        out.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    out.extend_from_slice(
        format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    out.extend_from_slice(file);
    out.extend_from_slice(b"\r\n");
    for (n, v) in after {
        out.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    out
}

fn post(c: &mut Client, bucket: &str, body: &[u8]) -> Response {
    let headers = vec![
        ("host".to_string(), c.host.clone()),
        ("content-type".to_string(), format!("multipart/form-data; boundary={B}")),
        ("content-length".to_string(), body.len().to_string()),
    ];
    c.raw("POST", &format!("/{bucket}"), "", &headers, body)
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// A signed SigV4 form for `data` with the usual conditions plus `extra` conditions and fields.
fn signed(
    key: &str,
    extra_conditions: &str,
    extra_fields: &[(&str, &str)],
    range: (u64, u64),
) -> Vec<(String, String)> {
    let conditions = format!(
        r#"{{"bucket": "data"}}, ["starts-with", "$key", "up/"], ["content-length-range", {}, {}], {}{}"#,
        range.0,
        range.1,
        v4_conditions(AK),
        extra_conditions
    );
    let p = policy(&conditions, 600);
    let mut f = fields(&[("key", key)]);
    f.extend(fields(extra_fields));
    f.extend(v4_fields(AK, SK, &p));
    f
}

#[test]
fn a_signed_v4_form_uploads_small_and_streamed_files_that_read_back() {
    let srv = TestServer::start();
    let mut c = srv.client();
    for (n, size) in [("small", 50_000usize), ("big", 3 * 1024 * 1024 + 17)] {
        let file = data(size, 11);
        let extra = r#", ["starts-with", "$Content-Type", "text/"], ["eq", "$x-amz-meta-color", "blue"], ["starts-with", "$tagging", ""]"#;
        let f = signed(
            &format!("up/{n}-${{filename}}"),
            extra,
            &[
                ("Content-Type", "text/plain"),
                ("x-amz-meta-color", "blue"),
                (
                    "tagging",
                    "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
                ),
                ("x-ignore-me", "whatever"),
            ],
            (1, 10 * 1024 * 1024),
        );
        let r = post(&mut c, "data", &form(&f, &file, &[]));
        assert_eq!(r.status, 204, "{n}: {}", r.text());
        let etag = format!("\"{}\"", md5_hex(&file));
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        let g = c.get(&format!("/data/up/{n}-up.bin"));
        assert_eq!(g.status, 200, "{n}");
        assert!(g.body == file, "{n}: the object reads back");
        assert_eq!(g.header("content-type"), Some("text/plain"));
        assert_eq!(g.header("x-amz-meta-color"), Some("blue"));
        assert_eq!(g.header("x-amz-tagging-count"), Some("1"));
        assert_eq!(g.header("etag"), Some(etag.as_str()));
    }
}

#[test]
fn a_signed_v2_form_uploads_and_a_bad_signature_of_either_version_is_refused() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let p = policy(r#"{"bucket": "data"}, ["starts-with", "$key", ""]"#, 600);
    let good = v2_signature(SK, &p);
    let f = fields(&[
        ("key", "v2.txt"),
        ("AWSAccessKeyId", AK),
        ("policy", &p),
        ("signature", &good),
    ]);
    let r = post(&mut c, "data", &form(&f, b"hello v2", &[]));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(c.get("/data/v2.txt").body, b"hello v2");
    let bad = v2_signature("not the secret", &p);
    let f = fields(&[
        ("key", "v2.txt"),
        ("AWSAccessKeyId", AK),
        ("policy", &p),
        ("signature", &bad),
    ]);
    let r = post(&mut c, "data", &form(&f, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (403, "SignatureDoesNotMatch"));
    let mut f = signed("up/v4", "", &[], (0, 100));
    f.last_mut().unwrap().1 = "0".repeat(64);
    let r = post(&mut c, "data", &form(&f, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (403, "SignatureDoesNotMatch"));
    let f = fields(&[("key", "v2.txt"), ("AWSAccessKeyId", AK), ("policy", &p)]);
    let r = post(&mut c, "data", &form(&f, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"), "no signature");
    assert_eq!(
        c.get("/data/v2.txt").body,
        b"hello v2",
        "refused uploads changed nothing"
    );
}

#[test]
fn success_action_status_and_redirect() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let cond = r#", ["starts-with", "$success_action_status", ""]"#;
    for (asked, status) in [("200", 200), ("201", 201), ("204", 204), ("404", 204)] {
        let f = signed("up/s", cond, &[("success_action_status", asked)], (0, 100));
        let r = post(&mut c, "data", &form(&f, b"abc", &[]));
        assert_eq!(r.status, status, "{asked}: {}", r.text());
        if status == 201 {
            let t = r.text();
            assert!(t.contains("<Bucket>data</Bucket><Key>up/s</Key>"), "{t}");
            assert!(
                t.contains(&format!("<ETag>&quot;{}&quot;</ETag>", md5_hex(b"abc"))),
                "{t}"
            );
            assert!(t.contains("<Location>http://"), "{t}");
        } else {
            assert!(r.body.is_empty());
        }
    }
    let url = "https://example.com/done?x=1";
    let cond = format!(r#", ["eq", "$success_action_redirect", "{url}"]"#);
    let f = signed("up/r k", &cond, &[("success_action_redirect", url)], (0, 100));
    let r = post(&mut c, "data", &form(&f, b"abc", &[]));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("{url}&bucket=data&key=up%2Fr%20k&etag=%22{}%22", md5_hex(b"abc")).as_str())
    );
    assert_eq!(c.get("/data/up/r%20k").body, b"abc");
}

#[test]
fn content_length_range_over_and_under_on_both_paths_store_nothing() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let small = data(1000, 1);
    let big = data(2 * 1024 * 1024, 2);
    for (file, range, code) in [
        (&small, (0, 999), "EntityTooLarge"),
        (&small, (1001, 5000), "EntityTooSmall"),
        (&big, (0, 1024 * 1024), "EntityTooLarge"),
        (&big, (3 * 1024 * 1024, 4 * 1024 * 1024), "EntityTooSmall"),
    ] {
        let f = signed("up/range", "", &[], range);
        let r = post(&mut c, "data", &form(&f, file, &[]));
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, code),
            "{} bytes in {range:?}",
            file.len()
        );
        c.stream = None;
    }
    assert_eq!(c.get("/data/up/range").status, 404);
}

#[test]
fn policy_refusals_expired_condition_coverage_anonymous_and_read_only() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let mut expired = signed("up/p", "", &[], (0, 100));
    let p = policy(
        &format!(
            r#"{{"bucket": "data"}}, ["starts-with", "$key", ""], {}"#,
            v4_conditions(AK)
        ),
        -60,
    );
    expired.truncate(1);
    expired.extend(v4_fields(AK, SK, &p));
    let r = post(&mut c, "data", &form(&expired, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    assert!(
        r.text().contains("Invalid according to Policy: Policy expired."),
        "{}",
        r.text()
    );
    let wrong_key = signed("elsewhere/p", "", &[], (0, 100));
    let r = post(&mut c, "data", &form(&wrong_key, b"x", &[]));
    assert_eq!(r.status, 403);
    assert!(
        r.text()
            .contains("Policy Condition failed: [&quot;starts-with&quot;, &quot;$key&quot;, &quot;up/&quot;]"),
        "{}",
        r.text()
    );
    let extra = signed("up/p", "", &[("x-amz-meta-sneaky", "1")], (0, 100));
    let r = post(&mut c, "data", &form(&extra, b"x", &[]));
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("Extra input fields: x-amz-meta-sneaky"),
        "{}",
        r.text()
    );
    // The bucket condition is checked against the addressed bucket.
    c.send("PUT", "/other", "", &[], b"");
    let r = post(&mut c, "other", &form(&signed("up/p", "", &[], (0, 100)), b"x", &[]));
    assert_eq!(r.status, 403);
    let anonymous = fields(&[("key", "up/p")]);
    let r = post(&mut c, "data", &form(&anonymous, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    // A bucket everyone may write takes an unsigned form, its `acl` field applied.
    let r = c.send("PUT", "/other", "acl", &[("x-amz-acl", "public-read-write")], b"");
    assert_eq!(r.status, 200);
    let open = fields(&[("key", "up/anon"), ("acl", "public-read")]);
    let r = post(&mut c, "other", &form(&open, b"anon", &[]));
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(c
        .send("GET", "/other/up/anon", "acl", &[], b"")
        .text()
        .contains("AllUsers"));
    // A bucket policy judges a form by its key, and by the ACL it sets.
    let deny = r#"{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::other/locked/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectAcl", "Resource": "arn:aws:s3:::other/*"}]}"#;
    assert_eq!(c.send("PUT", "/other", "policy", &[], deny.as_bytes()).status, 204);
    let locked = fields(&[("key", "locked/x")]);
    assert_eq!(post(&mut c, "other", &form(&locked, b"x", &[])).code(), "AccessDenied");
    let with_acl = fields(&[("key", "up/acl"), ("acl", "public-read")]);
    assert_eq!(
        post(&mut c, "other", &form(&with_acl, b"x", &[])).code(),
        "AccessDenied"
    );
    let plain = fields(&[("key", "up/plain")]);
    assert_eq!(post(&mut c, "other", &form(&plain, b"x", &[])).status, 204);
    assert_eq!(c.send("DELETE", "/other", "policy", &[], b"").status, 204);
    let p = policy(
        &format!(
            r#"{{"bucket": "data"}}, ["starts-with", "$key", ""], {}"#,
            v4_conditions(RO_AK)
        ),
        600,
    );
    let mut ro = fields(&[("key", "up/p")]);
    ro.extend(v4_fields(RO_AK, RO_SK, &p));
    let r = post(&mut c, "data", &form(&ro, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"), "read-only key");
    assert_eq!(c.get("/data/up/p").status, 404);
}

#[test]
fn malformed_forms_too_large_fields_and_fields_after_a_streamed_file() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let huge = "m".repeat(30 * 1024);
    let f = signed("up/f", "", &[("x-amz-meta-huge", &huge)], (0, 100));
    let r = post(&mut c, "data", &form(&f, b"x", &[]));
    assert_eq!((r.status, r.code().as_str()), (400, "MaxPostPreDataLengthExceeded"));
    c.stream = None;
    // No file part.
    let f = signed("up/f", "", &[], (0, 100));
    let mut body = Vec::new();
    for (n, v) in &f {
        body.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    let r = post(&mut c, "data", &body);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "IncorrectNumberOfFilesInPostRequest")
    );
    // Fields after a small file are ignored, as S3 does.
    let r = post(&mut c, "data", &form(&f, b"small", &[("ignored", "yes")]));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(c.get("/data/up/f").body, b"small");
    // After a streamed one they would end up inside the object: refused, nothing committed.
    let big = data(2 * 1024 * 1024, 5);
    let f = signed("up/f", "", &[], (0, 10 * 1024 * 1024));
    let r = post(&mut c, "data", &form(&f, &big, &[("ignored", "yes")]));
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MalformedPOSTRequest"),
        "{}",
        r.text()
    );
    c.stream = None;
    assert_eq!(c.get("/data/up/f").body, b"small", "the previous version is untouched");
    let r = c.raw(
        "POST",
        "/data",
        "",
        &[
            ("host".into(), c.host.clone()),
            ("content-type".into(), "multipart/form-data".into()),
            ("content-length".into(), "2".into()),
        ],
        b"xx",
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MalformedPOSTRequest"),
        "no boundary"
    );
}

#[test]
fn a_stalled_or_cut_off_form_is_an_error_not_a_hang() {
    let srv = TestServer::start();
    for size in [1000usize, 3 * 1024 * 1024] {
        let file = data(size, 9);
        let f = signed("up/slow", "", &[], (0, 10 * 1024 * 1024));
        let body = form(&f, &file, &[]);
        let sent = body.len() / 2;
        let head = format!(
            "POST /data HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary={B}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // Stalled: half the body, then nothing (body_timeout_secs = 2).
        let mut c = Client::new(srv.addr, AK, SK);
        let t0 = Instant::now();
        c.conn().write_all(head.as_bytes()).unwrap();
        c.conn().write_all(&body[..sent]).unwrap();
        let r = c.read_response(false);
        assert!(t0.elapsed() < Duration::from_secs(15), "{size}: answered in time");
        assert_eq!((r.status, r.code().as_str()), (400, "RequestTimeout"), "{size}");
        // Cut off: half the body, then the client closes its side.
        let mut c = Client::new(srv.addr, AK, SK);
        c.conn().write_all(head.as_bytes()).unwrap();
        c.conn().write_all(&body[..sent]).unwrap();
        c.conn().tcp().shutdown(std::net::Shutdown::Write).unwrap();
        let r = c.read_response(false);
        assert!(r.status == 0 || r.status == 400, "{size}: {}", r.status);
    }
    let mut c = srv.client();
    assert_eq!(c.get("/data/up/slow").status, 404, "nothing was committed");
}
