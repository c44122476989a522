//! Signature Version 2 header authentication (`Authorization: AWS AKID:signature`) through
//! `Verifier::verify`: the S3 documentation's examples with their own signatures, tampering with
//! each signed part, the 15-minute clock skew, `x-amz-date` and sub-resources.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::OneKey;
use s3o_sigv4::sigv2;
use s3o_sigv4::{Payload, RequestParts, SigError, Verified, Verifier, VerifierConfig};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// `Tue, 27 Mar 2007 19:36:42 +0000`, the documentation's Object GET example.
const GET_TIME: i64 = 1_175_024_202;
const GET_DATE: &str = "Tue, 27 Mar 2007 19:36:42 +0000";
const PUPPY: &str = "/awsexamplebucket1/photos/puppy.jpg";

type Headers = Vec<(String, String)>;

fn headers(h: &[(&str, &str)]) -> Headers {
    h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn verify_cfg(
    cfg: VerifierConfig,
    method: &str,
    path: &str,
    query: &str,
    h: &Headers,
    now: i64,
) -> Result<Verified<String>, SigError> {
    let req = RequestParts {
        method,
        path: path.as_bytes(),
        query: query.as_bytes(),
        headers: h,
        path_style: true,
    };
    Verifier::new(cfg)
        .verify(&req, &OneKey(AK.into(), SK.into()), now)
        .map(|v| v.expect("SigV2 header requests are never anonymous"))
}

fn verify(method: &str, path: &str, query: &str, h: &Headers, now: i64) -> Result<Verified<String>, SigError> {
    verify_cfg(VerifierConfig::default(), method, path, query, h, now)
}

/// `h` plus an `Authorization` header signed with `secret` over the string to sign we build.
fn signed(method: &str, path: &str, query: &str, h: &[(&str, &str)], secret: &str) -> Headers {
    let mut h = headers(h);
    let sts = sigv2::header_string_to_sign(method, path.as_bytes(), query.as_bytes(), &h);
    let sig = B64.encode(sigv2::sign(secret, &sts));
    h.push(("Authorization".into(), format!("AWS {AK}:{sig}")));
    h
}

/// One of the S3 SigV2 documentation's "Authentication examples" ("Signing and authenticating
/// REST requests"), virtual-hosted ones written path-style (the same CanonicalizedResource): the
/// request, the StringToSign and signature the page gives, and the request's time.
struct DocCase {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    string_to_sign: &'static str,
    signature: &'static str,
    time: i64,
}

/// Object GET.
const DOC_GET: DocCase = DocCase {
    method: "GET",
    path: PUPPY,
    query: "",
    headers: &[("Host", "s3.us-west-1.amazonaws.com"), ("Date", GET_DATE)],
    string_to_sign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg",
    signature: "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
    time: GET_TIME,
};

/// Object PUT.
const DOC_PUT: DocCase = DocCase {
    method: "PUT",
    path: PUPPY,
    query: "",
    headers: &[
        ("Content-Type", "image/jpeg"),
        ("Content-Length", "94328"),
        ("Host", "s3.us-west-1.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
    ],
    string_to_sign: "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg",
    signature: "iqRzw+ileNPu1fhspnRs8nOjjIA=",
    time: 1_175_030_145,
};

/// List: "Note the trailing slash on the CanonicalizedResource and the absence of query string
/// parameters."
const DOC_LIST: DocCase = DocCase {
    method: "GET",
    path: "/awsexamplebucket1/",
    query: "prefix=photos&max-keys=50&marker=puppy",
    headers: &[
        ("User-Agent", "Mozilla/5.0"),
        ("Host", "s3.us-west-1.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 19:42:41 +0000"),
    ],
    string_to_sign: "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/",
    signature: "m0WP8eCtspQl5Ahe6L1SozdX9YA=",
    time: 1_175_024_561,
};

/// Fetch: the sub-resource is part of the CanonicalizedResource.
const DOC_ACL: DocCase = DocCase {
    method: "GET",
    path: "/awsexamplebucket1/",
    query: "acl",
    headers: &[
        ("Host", "s3.us-west-1.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 19:44:46 +0000"),
    ],
    string_to_sign: "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl",
    signature: "82ZHiFIjc+WbcwFKGUVEQspPn+0=",
    time: 1_175_024_686,
};

/// Upload to a CNAME-style bucket (`Host: static.awsexamplebucket1.net:8080`) with Content-MD5:
/// amz headers lower-cased, sorted, trimmed, repeats joined with ','. The user guide's copy shows
/// this signature beside `@example.com` values; it is the signature of the developer guide's
/// `@awsexamplebucket1.net` values used here.
const DOC_UPLOAD: DocCase = DocCase {
    method: "PUT",
    path: "/static.awsexamplebucket1.net/db-backup.dat.gz",
    query: "",
    headers: &[
        ("User-Agent", "curl/7.15.5"),
        ("Host", "static.awsexamplebucket1.net:8080"),
        ("Date", "Tue, 27 Mar 2007 21:06:08 +0000"),
        ("x-amz-acl", "public-read"),
        ("content-type", "application/x-download"),
        ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
        ("X-Amz-Meta-ReviewedBy", "joe@awsexamplebucket1.net"),
        ("X-Amz-Meta-ReviewedBy", "jane@awsexamplebucket1.net"),
        ("X-Amz-Meta-FileChecksum", "0x02661779"),
        ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
        ("Content-Disposition", "attachment; filename=database.dat"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", "5913339"),
    ],
    string_to_sign: "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n\
                     x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n\
                     x-amz-meta-reviewedby:joe@awsexamplebucket1.net,jane@awsexamplebucket1.net\n\
                     /static.awsexamplebucket1.net/db-backup.dat.gz",
    signature: "dKZcB+bz2EPXgSdXZp9ozGeOM4I=",
    time: 1_175_029_568,
};

/// List all my buckets.
const DOC_BUCKETS: DocCase = DocCase {
    method: "GET",
    path: "/",
    query: "",
    headers: &[
        ("Host", "s3.us-west-1.amazonaws.com"),
        ("Date", "Wed, 28 Mar 2007 01:29:59 +0000"),
    ],
    string_to_sign: "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/",
    signature: "qGdzdERIC03wnaRNKh6OqZehG9s=",
    time: 1_175_045_399,
};

/// Unicode keys: "taken literally, including URL-Encoding and capitalization".
const DOC_UNICODE: DocCase = DocCase {
    method: "GET",
    path: "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
    query: "",
    headers: &[
        ("Host", "s3.us-west-1.amazonaws.com"),
        ("Date", "Wed, 28 Mar 2007 01:49:49 +0000"),
    ],
    string_to_sign: "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
    signature: "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
    time: 1_175_046_589,
};

const DOC_CASES: [&DocCase; 7] = [
    &DOC_GET,
    &DOC_PUT,
    &DOC_LIST,
    &DOC_ACL,
    &DOC_UPLOAD,
    &DOC_BUCKETS,
    &DOC_UNICODE,
];

impl DocCase {
    /// The request's headers with the documented `Authorization`.
    fn signed_headers(&self) -> Headers {
        let mut h = headers(self.headers);
        h.push(("Authorization".into(), format!("AWS {AK}:{}", self.signature)));
        h
    }

    /// Verifies the documented request at its own time.
    fn verify(&self) -> Result<Verified<String>, SigError> {
        verify(self.method, self.path, self.query, &self.signed_headers(), self.time)
    }
}

/// The documentation's Object GET request with its signature.
fn doc_get() -> Headers {
    DOC_GET.signed_headers()
}

fn set(h: &mut Headers, name: &str, value: &str) {
    match h.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some(slot) => slot.1 = value.into(),
        None => h.push((name.into(), value.into())),
    }
}

#[test]
fn documented_header_examples() {
    // Our StringToSign and signature of each documented request are the page's.
    for d in DOC_CASES {
        let h = headers(d.headers);
        let sts = sigv2::header_string_to_sign(d.method, d.path.as_bytes(), d.query.as_bytes(), &h);
        let what = format!("{} {}?{}", d.method, d.path, d.query);
        assert_eq!(String::from_utf8(sts.clone()).unwrap(), d.string_to_sign, "{what}");
        assert_eq!(B64.encode(sigv2::sign(SK, &sts)), d.signature, "{what}");
    }
}

#[test]
fn documented_examples_verify() {
    let v = verify("GET", PUPPY, "", &doc_get(), GET_TIME).unwrap();
    assert_eq!(v.identity, AK);
    assert_eq!(v.access_key, AK);
    assert!(!v.presigned);
    assert_eq!(v.region, "us-east-1");
    assert!(matches!(v.payload, Payload::Unsigned));
    // Every example (Object PUT, list, ?acl, upload, list all my buckets, Unicode keys), each at
    // its own time.
    for d in DOC_CASES {
        assert!(d.verify().is_ok(), "{} {}?{}", d.method, d.path, d.query);
    }
    // List: query parameters that are not sub-resources are not signed.
    let h = DOC_LIST.signed_headers();
    assert!(verify("GET", DOC_LIST.path, "prefix=videos", &h, DOC_LIST.time).is_ok());
    // Fetch ?acl: the sub-resource is signed.
    assert_eq!(
        verify("GET", DOC_ACL.path, "", &DOC_ACL.signed_headers(), DOC_ACL.time).unwrap_err(),
        SigError::SignatureDoesNotMatch
    );
    // Upload with Content-MD5 and repeated amz headers (the body is the body reader's business).
    assert!(matches!(DOC_UPLOAD.verify().unwrap().payload, Payload::Unsigned));
    // Unicode keys signed as sent, percent-encoding and all.
    let decoded_once_more = "/dictionary/fran%C3%A7ais/pr%C3%A9f%C3%A8re";
    let h = DOC_UNICODE.signed_headers();
    assert_eq!(
        verify("GET", decoded_once_more, "", &h, DOC_UNICODE.time).unwrap_err(),
        SigError::SignatureDoesNotMatch
    );
}

#[test]
fn tampering_with_any_signed_part_fails() {
    assert!(verify("GET", PUPPY, "", &doc_get(), GET_TIME).is_ok());
    let mismatch = |method: &str, path: &str, query: &str, h: &Headers| {
        assert_eq!(
            verify(method, path, query, h, GET_TIME).err(),
            Some(SigError::SignatureDoesNotMatch),
            "{method} {path}?{query} {h:?}"
        );
    };
    mismatch("HEAD", PUPPY, "", &doc_get());
    mismatch("GET", "/awsexamplebucket1/photos/kitten.jpg", "", &doc_get());
    mismatch("GET", PUPPY, "versionId=1", &doc_get());
    mismatch("GET", PUPPY, "response-content-type=text/html", &doc_get());
    for (name, value) in [
        ("Date", "Tue, 27 Mar 2007 19:36:43 +0000"),
        ("Content-Type", "text/plain"),
        ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
        ("x-amz-meta-added", "1"),
        ("x-amz-date", GET_DATE),
    ] {
        let mut h = doc_get();
        set(&mut h, name, value);
        mismatch("GET", PUPPY, "", &h);
    }
    // Headers outside the string to sign may change.
    let mut h = doc_get();
    set(&mut h, "User-Agent", "s3cmd/2.4.0");
    set(&mut h, "Host", "localhost:9000");
    assert!(verify("GET", PUPPY, "", &h, GET_TIME).is_ok());
    // One flipped character of the signature; a signature that is not base64 of 20 bytes.
    for sig in [
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1h=",
        "qgk2+6Sv9/oM7G3qLEjTH1a1l1g",
        "not base64!",
        "AAAA",
    ] {
        let mut h = doc_get();
        set(&mut h, "Authorization", &format!("AWS {AK}:{sig}"));
        mismatch("GET", PUPPY, "", &h);
    }
    // The wrong secret.
    let h = signed("GET", PUPPY, "", &[("Date", GET_DATE)], "not-the-secret");
    mismatch("GET", PUPPY, "", &h);
}

#[test]
fn clock_skew_is_fifteen_minutes_either_way() {
    let h = doc_get();
    assert!(verify("GET", PUPPY, "", &h, GET_TIME + 900).is_ok());
    assert!(verify("GET", PUPPY, "", &h, GET_TIME - 900).is_ok());
    assert_eq!(
        verify("GET", PUPPY, "", &h, GET_TIME + 901).unwrap_err(),
        SigError::RequestTimeTooSkewed
    );
    assert_eq!(
        verify("GET", PUPPY, "", &h, GET_TIME - 901).unwrap_err(),
        SigError::RequestTimeTooSkewed
    );
    // The same constant as SigV4, and configurable the same way.
    let cfg = VerifierConfig {
        max_skew_secs: 60,
        ..VerifierConfig::default()
    };
    assert_eq!(
        verify_cfg(cfg, "GET", PUPPY, "", &h, GET_TIME + 61).unwrap_err(),
        SigError::RequestTimeTooSkewed
    );
    // Date in the other HTTP formats, GMT instead of +0000 (a different signature).
    for date in [
        "Tue, 27 Mar 2007 19:36:42 GMT",
        "Tuesday, 27-Mar-07 19:36:42 GMT",
        "Tue Mar 27 19:36:42 2007",
    ] {
        let h = signed("GET", PUPPY, "", &[("Date", date)], SK);
        assert!(verify("GET", PUPPY, "", &h, GET_TIME).is_ok(), "{date}");
        assert_eq!(
            verify("GET", PUPPY, "", &h, GET_TIME + 901).unwrap_err(),
            SigError::RequestTimeTooSkewed,
            "{date}"
        );
    }
}

#[test]
fn missing_or_unreadable_date_is_access_denied() {
    let denied = |h: &Headers| {
        let e = verify("GET", PUPPY, "", h, GET_TIME).unwrap_err();
        assert_eq!((e.s3_code(), e.http_status()), ("AccessDenied", 403), "{h:?}");
    };
    denied(&signed("GET", PUPPY, "", &[("Host", "h")], SK));
    denied(&signed("GET", PUPPY, "", &[("Date", "yesterday")], SK));
    denied(&signed("GET", PUPPY, "", &[("Date", "")], SK));
    // An unreadable x-amz-date is not rescued by a good Date.
    denied(&signed(
        "GET",
        PUPPY,
        "",
        &[("Date", GET_DATE), ("x-amz-date", "soon")],
        SK,
    ));
}

#[test]
fn x_amz_date_replaces_date() {
    // The documentation's Delete request, signed by the documented rule: empty Date line,
    // x-amz-date among the amz headers.
    let path = "/awsexamplebucket1/photos/puppy.jpg";
    let sts = "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg";
    let sig = B64.encode(sigv2::sign(SK, sts.as_bytes()));
    let mut h = headers(&[
        ("User-Agent", "dotnet"),
        ("Host", "s3.us-west-1.amazonaws.com"),
        ("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
        ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
    ]);
    h.push(("Authorization".into(), format!("AWS {AK}:{sig}")));
    let t = 1_175_030_426;
    assert!(verify("DELETE", path, "", &h, t).is_ok());
    // Date is neither signed nor timed: it may be anything, even stale, or missing.
    set(&mut h, "Date", "Mon, 01 Jan 2001 00:00:00 GMT");
    assert!(verify("DELETE", path, "", &h, t).is_ok());
    let no_date: Headers = h.iter().filter(|(n, _)| n != "Date").cloned().collect();
    assert!(verify("DELETE", path, "", &no_date, t).is_ok());
    // x-amz-date is what is timed.
    assert_eq!(
        verify("DELETE", path, "", &h, t + 901).unwrap_err(),
        SigError::RequestTimeTooSkewed
    );
    // s3cmd's form: x-amz-date only, which is signed.
    let h = signed("GET", PUPPY, "", &[("x-amz-date", GET_DATE)], SK);
    assert!(verify("GET", PUPPY, "", &h, GET_TIME).is_ok());
    let mut h2 = h.clone();
    set(&mut h2, "x-amz-date", "Tue, 27 Mar 2007 19:36:41 +0000");
    assert_eq!(
        verify("GET", PUPPY, "", &h2, GET_TIME).unwrap_err(),
        SigError::SignatureDoesNotMatch
    );
}

#[test]
fn sub_resources_are_signed_sorted() {
    // Signed by hand: sub-resources sorted, values decoded, other parameters left out.
    let query = "versionId=3%2B1&uploads&prefix=p&response-content-type=text%2Fplain&acl";
    let sts = format!("GET\n\n\n{GET_DATE}\n/b/k?acl&response-content-type=text/plain&uploads&versionId=3+1");
    let sig = B64.encode(sigv2::sign(SK, sts.as_bytes()));
    let h = headers(&[("Date", GET_DATE), ("Authorization", &format!("AWS {AK}:{sig}"))]);
    assert!(verify("GET", "/b/k", query, &h, GET_TIME).is_ok());
    // Any order on the wire.
    let reordered = "acl&response-content-type=text%2Fplain&prefix=q&uploads&versionId=3%2B1";
    assert!(verify("GET", "/b/k", reordered, &h, GET_TIME).is_ok());
    // A sub-resource dropped, added or changed.
    for q in [
        "versionId=3%2B1&uploads&response-content-type=text%2Fplain",
        "versionId=3%2B1&uploads&response-content-type=text%2Fplain&acl&tagging",
        "versionId=4&uploads&response-content-type=text%2Fplain&acl",
    ] {
        assert_eq!(
            verify("GET", "/b/k", q, &h, GET_TIME).unwrap_err(),
            SigError::SignatureDoesNotMatch,
            "{q}"
        );
    }
}

#[test]
fn each_failure_has_its_s3_code() {
    let code = |h: &Headers| {
        let e = verify("GET", PUPPY, "", h, GET_TIME).unwrap_err();
        (e.s3_code(), e.http_status())
    };
    // Unknown access key.
    let mut h = doc_get();
    set(
        &mut h,
        "Authorization",
        "AWS AKIDUNKNOWN000000000:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
    );
    assert_eq!(code(&h), ("InvalidAccessKeyId", 403));
    // Reported as such even when the signature is not base64.
    set(&mut h, "Authorization", "AWS AKIDUNKNOWN000000000:???");
    assert_eq!(code(&h), ("InvalidAccessKeyId", 403));
    // Malformed headers.
    for bad in [
        "AWS AKIAIOSFODNN7EXAMPLE",
        "AWS AKIAIOSFODNN7EXAMPLE qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
        "AWS :qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
        "AWS AKIAIOSFODNN7EXAMPLE:",
    ] {
        let mut h = doc_get();
        set(&mut h, "Authorization", bad);
        assert_eq!(code(&h), ("AuthorizationHeaderMalformed", 400), "{bad}");
    }
    // SigV2 names no region: the verified request carries the configured one.
    let cfg = VerifierConfig {
        region: Some("eu-west-1".into()),
        ..VerifierConfig::default()
    };
    assert_eq!(
        verify_cfg(cfg, "GET", PUPPY, "", &doc_get(), GET_TIME).unwrap().region,
        "eu-west-1"
    );
}
