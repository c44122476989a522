//! The official SigV4 signing vectors (`../shared/testdata/aws-signing-test-suite/v4`): every
//! case's canonical request, string to sign and signature reproduced byte for byte, for header
//! and query (presigned) signing, and every signed request accepted by our parser.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use s3o_sigv4::canonical::canonical_request;
use s3o_sigv4::encode::hex;
use s3o_sigv4::string_to_sign::{sha256_hex, string_to_sign};
use s3o_sigv4::{AmzDate, Authorization, RequestParts, Signer, SigningKey, UriMode};

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/aws-signing-test-suite/v4")
}

struct RawRequest {
    method: String,
    path: Vec<u8>,
    query: Vec<u8>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Parses the suite's request files: request line, `Name:value` lines (a line starting with
/// whitespace continues the previous value), blank line, body.
fn parse_request(text: &str) -> RawRequest {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, ""),
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap();
    let method = first.split(' ').next().unwrap().to_string();
    let target = &first[method.len() + 1..first.rfind(" HTTP/").unwrap()];
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines {
        if l.starts_with(' ') || l.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(l.trim());
        } else if let Some((n, v)) = l.split_once(':') {
            headers.push((n.to_string(), v.to_string()));
        }
    }
    RawRequest {
        method,
        path: path.as_bytes().to_vec(),
        query: query.as_bytes().to_vec(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap()
}

/// Query-signing cases that do not apply to S3, with the reason.
const SKIPPED_QUERY: &[(&str, &str)] = &[(
    "post-sts-header-after",
    "the session token is appended to the query after signing; S3 signs X-Amz-Security-Token in a presigned URL, \
     so an S3 verifier must include it in the canonical query (the header variant of this case is checked)",
)];

/// Cases in the suite (`v4/`, one folder each): every one is checked for header signing.
const SUITE_CASES: usize = 38;
/// Cases checked for query (presigned) signing: all but the [`SKIPPED_QUERY`] ones.
const QUERY_CASES: usize = SUITE_CASES - SKIPPED_QUERY.len();

#[test]
fn every_vector_reproduces() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert_eq!(
        cases.len(),
        SUITE_CASES,
        "the suite has changed: update the counts here and in the README"
    );
    let (mut header_checked, mut query_checked, mut query_skipped) = (0, 0, 0);
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let ctx: serde_json::Value = serde_json::from_str(&read(dir, "context.json")).unwrap();
        let mode = if ctx["normalize"].as_bool().unwrap() {
            UriMode::Normalized
        } else {
            UriMode::S3
        };
        let secret = ctx["credentials"]["secret_access_key"].as_str().unwrap();
        let region = ctx["region"].as_str().unwrap();
        let service = ctx["service"].as_str().unwrap();
        let date = AmzDate::parse(&ctx["timestamp"].as_str().unwrap().replace(['-', ':'], "")).unwrap();

        // Header signing: parse the signed request as a server would and rebuild everything.
        let signed = parse_request(&read(dir, "header-signed-request.txt"));
        let auth_value = signed
            .headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .unwrap()
            .1
            .clone();
        let auth = Authorization::parse(&auth_value).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let headers: Vec<(String, String)> = signed
            .headers
            .iter()
            .filter(|(n, _)| n != "Authorization")
            .cloned()
            .collect();
        let payload_hash = sha256_hex(&signed.body);
        let req = RequestParts {
            method: &signed.method,
            path: &signed.path,
            query: &signed.query,
            headers: &headers,
            path_style: true,
        };
        let mut creq = Vec::new();
        canonical_request(&mut creq, &req, auth.signed_headers, &payload_hash, mode, false);
        assert_eq!(
            String::from_utf8_lossy(&creq),
            read(dir, "header-canonical-request.txt"),
            "{name}"
        );
        let mut sts = Vec::new();
        string_to_sign(&mut sts, date.as_str(), auth.credential.scope, &creq);
        assert_eq!(
            String::from_utf8_lossy(&sts),
            read(dir, "header-string-to-sign.txt"),
            "{name}"
        );
        let key = SigningKey::derive(secret, date.date(), region, service);
        let sig = hex(&key.sign(&sts));
        assert_eq!(sig, read(dir, "header-signature.txt").trim(), "{name}");
        assert_eq!(hex(&auth.signature), sig, "{name}");

        // Our signer on the unsigned request gives the same Authorization header.
        let unsigned = parse_request(&read(dir, "request.txt"));
        let mut h: Vec<(String, String)> = unsigned.headers.clone();
        h.push(("X-Amz-Date".into(), date.as_str().into()));
        // `post-sts-header-after` adds the token after signing: sign it only where it was signed.
        if let Some(t) = ctx["credentials"]["token"]
            .as_str()
            .filter(|_| auth.signed_headers.contains("x-amz-security-token"))
        {
            h.push(("X-Amz-Security-Token".into(), t.into()));
        }
        if ctx["sign_body"].as_bool().unwrap() {
            h.push(("X-Amz-Content-Sha256".into(), payload_hash.clone()));
        }
        let hv: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let signer = Signer::new("AKIDEXAMPLE", secret, region, service).with_uri_mode(mode);
        let path = String::from_utf8(unsigned.path.clone()).unwrap();
        let query = String::from_utf8(unsigned.query.clone()).unwrap();
        let out = signer.sign_headers(&unsigned.method, &path, &query, &hv, &payload_hash, &date);
        assert_eq!(out.authorization, auth_value, "{name}");
        header_checked += 1;

        // Query (presigned) signing.
        if let Some((_, why)) = SKIPPED_QUERY.iter().find(|(n, _)| *n == name) {
            eprintln!("skipped query case {name}: {why}");
            query_skipped += 1;
            continue;
        }
        let q = parse_request(&read(dir, "query-signed-request.txt"));
        let qs = String::from_utf8(q.query.clone()).unwrap();
        let params = s3o_sigv4::presign::PresignParams::parse(&q.query).unwrap();
        let req = RequestParts {
            method: &q.method,
            path: &q.path,
            query: &q.query,
            headers: &q.headers,
            path_style: true,
        };
        canonical_request(
            &mut creq,
            &req,
            &params.signed_headers,
            &sha256_hex(&q.body),
            mode,
            true,
        );
        assert_eq!(
            String::from_utf8_lossy(&creq),
            read(dir, "query-canonical-request.txt"),
            "{name} {qs}"
        );
        let scope = params.credential.split_once('/').unwrap().1;
        string_to_sign(&mut sts, date.as_str(), scope, &creq);
        assert_eq!(
            String::from_utf8_lossy(&sts),
            read(dir, "query-string-to-sign.txt"),
            "{name}"
        );
        let sig = hex(&key.sign(&sts));
        assert_eq!(sig, read(dir, "query-signature.txt").trim(), "{name}");
        assert_eq!(hex(&params.signature), sig, "{name}");
        query_checked += 1;
    }
    // The README's numbers: all 38 cases for header signing, 37 for query signing.
    assert_eq!(header_checked, SUITE_CASES);
    assert_eq!(query_checked, QUERY_CASES);
    assert_eq!(
        query_skipped,
        SKIPPED_QUERY.len(),
        "a skipped case is missing from the suite"
    );
}
