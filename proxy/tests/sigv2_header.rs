//! In-process tests of Signature Version 2 header authentication (`Authorization: AWS
//! AKID:signature`, as s3cmd and older SDKs send it) through the proxy: signed PUT and GET round
//! trip, and the 403s for a wrong signature and a stale `Date`. The string to sign is written out
//! by hand here, independently of the verifier's code.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{data, Client, Response, TestServer, AK, SK};
use s3o_proxy::http::http_date;
use s3o_sigv4::checksum::base64_encode;
use s3o_sigv4::sigv2;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn md5_b64(b: &[u8]) -> String {
    use md5::Digest;
    base64_encode(&md5::Md5::digest(b))
}

/// Sends `method path` with `headers` plus `Authorization: AWS AK:base64(HMAC-SHA1(secret, sts))`.
fn send_v2(
    c: &mut Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    sts: &str,
    secret: &str,
    body: &[u8],
) -> Response {
    let sig = base64_encode(&sigv2::sign(secret, sts.as_bytes()));
    let mut h: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    h.push(("host".into(), c.host.clone()));
    h.push(("authorization".into(), format!("AWS {AK}:{sig}")));
    if method == "PUT" {
        h.push(("content-length".into(), body.len().to_string()));
    }
    c.raw(method, path, "", &h, body)
}

#[test]
fn put_then_get_signed_with_header_v2() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let body = data(50_000, 7);
    let md5 = md5_b64(&body);
    let date = http_date(now());
    // StringToSign = VERB \n Content-MD5 \n Content-Type \n Date \n amz headers + resource
    let sts = format!("PUT\n{md5}\nimage/jpeg\n{date}\n/data/v2/puppy.jpg");
    let h = [
        ("date", date.as_str()),
        ("content-type", "image/jpeg"),
        ("content-md5", md5.as_str()),
    ];
    let r = send_v2(&mut c, "PUT", "/data/v2/puppy.jpg", &h, &sts, SK, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let sts = format!("GET\n\n\n{date}\n/data/v2/puppy.jpg");
    let r = send_v2(&mut c, "GET", "/data/v2/puppy.jpg", &[("date", &date)], &sts, SK, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, body);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));

    // s3cmd's form: x-amz-date with a numeric zone, no Date, so an empty Date line; a key that
    // needs percent-encoding, signed as sent; user metadata signed among the amz headers.
    let amz_date = date.replace(" GMT", " +0000");
    let path = "/data/v2/hello%20world.txt";
    let sts = format!("PUT\n\ntext/plain\n\nx-amz-date:{amz_date}\nx-amz-meta-color:blue\n{path}");
    let h = [
        ("x-amz-date", amz_date.as_str()),
        ("content-type", "text/plain"),
        ("x-amz-meta-color", "blue"),
    ];
    let r = send_v2(&mut c, "PUT", path, &h, &sts, SK, b"hello");
    assert_eq!(r.status, 200, "{}", r.text());
    let sts = format!("GET\n\n\n\nx-amz-date:{amz_date}\n{path}");
    let r = send_v2(&mut c, "GET", path, &[("x-amz-date", &amz_date)], &sts, SK, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"hello");
    assert_eq!(r.header("x-amz-meta-color"), Some("blue"));
}

#[test]
fn a_bucket_root_signed_with_its_slash_is_accepted() {
    // botocore's SigV2 signs `/bucket/` for a path-style `PUT /bucket` (S3's canonical resource
    // of a bucket); both forms are the bucket.
    let srv = TestServer::start();
    let mut c = srv.client();
    let date = http_date(now());
    for (path, signed) in [("/v2-root", "/v2-root/"), ("/v2-root-b", "/v2-root-b")] {
        let sts = format!("PUT\n\n\n{date}\n{signed}");
        let r = send_v2(&mut c, "PUT", path, &[("date", date.as_str())], &sts, SK, b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let sts = format!("GET\n\n\n{date}\n/v2-root/x/");
    let r = send_v2(&mut c, "GET", "/v2-root/x", &[("date", date.as_str())], &sts, SK, b"");
    assert_eq!(r.code(), "SignatureDoesNotMatch", "an object path takes no slash");
}

#[test]
fn wrong_signature_is_signature_does_not_match() {
    let srv = TestServer::start();
    let mut c = srv.client();
    let date = http_date(now());
    let sts = format!("PUT\n\n\n{date}\n/data/v2/k");
    let h = [("date", date.as_str())];
    // The wrong secret.
    let r = send_v2(&mut c, "PUT", "/data/v2/k", &h, &sts, "not-the-secret", b"x");
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch"),
        "{}",
        r.text()
    );
    // The right secret over a different resource than the one requested.
    let r = send_v2(&mut c, "PUT", "/data/v2/other", &h, &sts, SK, b"x");
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch"),
        "{}",
        r.text()
    );
    // Nothing was stored.
    let sts = format!("GET\n\n\n{date}\n/data/v2/k");
    let r = send_v2(&mut c, "GET", "/data/v2/k", &h, &sts, SK, b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"), "{}", r.text());
    // Correctly signed, but the body does not match its signed Content-MD5: rejected by the body
    // reader, nothing stored.
    let md5 = md5_b64(b"expected");
    let sts = format!("PUT\n{md5}\n\n{date}\n/data/v2/k");
    let h = [("date", date.as_str()), ("content-md5", md5.as_str())];
    let r = send_v2(&mut c, "PUT", "/data/v2/k", &h, &sts, SK, b"received");
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "{}", r.text());
    let sts = format!("GET\n\n\n{date}\n/data/v2/k");
    let r = send_v2(&mut c, "GET", "/data/v2/k", &[("date", &date)], &sts, SK, b"");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn old_date_is_request_time_too_skewed() {
    let srv = TestServer::start();
    let mut c = srv.client();
    // Correctly signed, sixteen minutes ago.
    let date = http_date(now() - 16 * 60);
    let sts = format!("GET\n\n\n{date}\n/data/v2/k");
    let r = send_v2(&mut c, "GET", "/data/v2/k", &[("date", &date)], &sts, SK, b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "RequestTimeTooSkewed"),
        "{}",
        r.text()
    );
    // No date at all: access denied.
    let sts = "GET\n\n\n\n/data/v2/k";
    let r = send_v2(&mut c, "GET", "/data/v2/k", &[], sts, SK, b"");
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"), "{}", r.text());
}
