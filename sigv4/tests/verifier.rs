//! Verifier behaviour that the fixtures do not pin down: clock skew versus presign expiry, the
//! error for each kind of bad request, the signing-key cache, hostile chunk framing, and
//! `aws-sigv4` (the AWS SDK's signer) as a second oracle for our outbound signer.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::OneKey;
use s3o_sigv4::chunked::{MAX_CHUNK_HEADER_LEN, MAX_TRAILER_LEN};
use s3o_sigv4::encode::hex;
use s3o_sigv4::string_to_sign::sha256_hex;
use s3o_sigv4::{
    AmzDate, ChecksumAlgorithm, Checksummer, ChunkedDecoder, ChunkedEncoder, Payload, RequestParts, SigError, Signer,
    StreamingAuth, StreamingMode, Verifier, VerifierConfig,
};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T0: i64 = 1_700_000_000;

fn creds() -> OneKey {
    OneKey(AK.into(), SK.into())
}

/// A header-signed request at time `t` with `extra` headers (all signed).
fn signed_get(t: i64, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let date = AmzDate::from_unix(t);
    let mut h: Vec<(&str, &str)> = vec![
        ("host", "localhost:9000"),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    h.extend_from_slice(extra);
    let s = Signer::new(AK, SK, "us-east-1", "s3").sign_headers("GET", "/b/k", "", &h, "UNSIGNED-PAYLOAD", &date);
    let mut out: Vec<(String, String)> = h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.push(("authorization".into(), s.authorization));
    out
}

fn verify(path: &str, query: &str, headers: &[(String, String)], now: i64) -> Result<Option<String>, SigError> {
    verify_cfg(VerifierConfig::default(), path, query, headers, now)
}

fn verify_cfg(
    cfg: VerifierConfig,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    now: i64,
) -> Result<Option<String>, SigError> {
    let v = Verifier::new(cfg);
    let req = RequestParts {
        method: "GET",
        path: path.as_bytes(),
        query: query.as_bytes(),
        headers,
        path_style: true,
    };
    v.verify(&req, &creds(), now).map(|o| o.map(|v| v.identity))
}

#[test]
fn header_auth_clock_skew_is_fifteen_minutes_either_way() {
    let h = signed_get(T0, &[]);
    assert_eq!(verify("/b/k", "", &h, T0).unwrap().as_deref(), Some(AK));
    assert!(verify("/b/k", "", &h, T0 + 900).is_ok());
    assert!(verify("/b/k", "", &h, T0 - 900).is_ok());
    assert_eq!(verify("/b/k", "", &h, T0 + 901), Err(SigError::RequestTimeTooSkewed));
    assert_eq!(verify("/b/k", "", &h, T0 - 901), Err(SigError::RequestTimeTooSkewed));
}

#[test]
fn presign_expiry_is_separate_from_skew() {
    let s = Signer::new(AK, SK, "us-east-1", "s3");
    let q = s.presign("GET", "/b/k", "", "localhost:9000", 3600, &AmzDate::from_unix(T0));
    let h = vec![("host".to_string(), "localhost:9000".to_string())];
    // Valid for an hour after signing, long past the 15-minute skew window.
    assert!(verify("/b/k", &q, &h, T0 + 3600).is_ok());
    assert_eq!(
        verify("/b/k", &q, &h, T0 + 3601),
        Err(SigError::AccessDenied("Request has expired"))
    );
    // Signed in the future: skew, not expiry.
    assert!(verify("/b/k", &q, &h, T0 - 900).is_ok());
    assert_eq!(verify("/b/k", &q, &h, T0 - 901), Err(SigError::RequestTimeTooSkewed));
    // A week is the maximum.
    let q = s.presign("GET", "/b/k", "", "localhost:9000", 604_800, &AmzDate::from_unix(T0));
    assert!(verify("/b/k", &q, &h, T0 + 604_800).is_ok());
    let q = s.presign("GET", "/b/k", "", "localhost:9000", 604_801, &AmzDate::from_unix(T0));
    let e = verify("/b/k", &q, &h, T0).unwrap_err();
    assert_eq!((e.s3_code(), e.http_status()), ("AccessDenied", 403));
}

#[test]
fn each_failure_has_its_s3_code() {
    let code = |r: Result<Option<String>, SigError>| r.unwrap_err().s3_code();
    // Anonymous requests are not errors: the caller decides.
    assert_eq!(verify("/b/k", "", &[("host".into(), "h".into())], T0), Ok(None));
    // Unknown key.
    let mut h = signed_get(T0, &[]);
    let a = h.last().unwrap().1.replace(AK, "AKIDUNKNOWN000000000");
    h.last_mut().unwrap().1 = a;
    assert_eq!(code(verify("/b/k", "", &h, T0)), "InvalidAccessKeyId");
    // Wrong secret.
    let date = AmzDate::from_unix(T0);
    let hv = [
        ("host", "h"),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let s = Signer::new(AK, "wrong-secret", "us-east-1", "s3").sign_headers(
        "GET",
        "/b/k",
        "",
        &hv,
        "UNSIGNED-PAYLOAD",
        &date,
    );
    let mut h: Vec<(String, String)> = hv.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    h.push(("authorization".into(), s.authorization));
    assert_eq!(code(verify("/b/k", "", &h, T0)), "SignatureDoesNotMatch");
    // An x-amz-* header that was not signed.
    let mut h = signed_get(T0, &[]);
    h.push(("x-amz-meta-sneaky".into(), "1".into()));
    assert_eq!(code(verify("/b/k", "", &h, T0)), "AccessDenied");
    // Missing x-amz-content-sha256 and x-amz-date.
    let h: Vec<_> = signed_get(T0, &[])
        .into_iter()
        .filter(|(n, _)| n != "x-amz-content-sha256")
        .collect();
    assert_eq!(code(verify("/b/k", "", &h, T0)), "InvalidRequest");
    let h: Vec<_> = signed_get(T0, &[])
        .into_iter()
        .filter(|(n, _)| n != "x-amz-date")
        .collect();
    assert_eq!(code(verify("/b/k", "", &h, T0)), "AccessDenied");
    // Malformed header.
    let mut h = signed_get(T0, &[]);
    h.last_mut().unwrap().1 = "AWS4-HMAC-SHA256 Credential=x".into();
    assert_eq!(code(verify("/b/k", "", &h, T0)), "AuthorizationHeaderMalformed");
    // Region pinned by configuration.
    let cfg = VerifierConfig {
        region: Some("eu-west-1".into()),
        ..VerifierConfig::default()
    };
    assert_eq!(
        code(verify_cfg(cfg, "/b/k", "", &signed_get(T0, &[]), T0)),
        "AuthorizationHeaderMalformed"
    );
    // Both header and query auth.
    let q = Signer::new(AK, SK, "us-east-1", "s3").presign("GET", "/b/k", "", "h", 60, &date);
    assert_eq!(code(verify("/b/k", &q, &signed_get(T0, &[]), T0)), "AccessDenied");
    // SigV4a is answered as not implemented.
    let mut h = signed_get(T0, &[]);
    h.last_mut().unwrap().1 = "AWS4-ECDSA-P256-SHA256 Credential=AK/20231114/s3/aws4_request".into();
    assert_eq!(code(verify("/b/k", "", &h, T0)), "NotImplemented");
}

#[test]
fn signing_keys_are_cached_per_scope() {
    let v = Verifier::new(VerifierConfig::default());
    for i in 0..10 {
        let h = signed_get(T0 + i, &[]);
        let req = RequestParts {
            method: "GET",
            path: b"/b/k",
            query: b"",
            headers: &h,
            path_style: true,
        };
        v.verify(&req, &creds(), T0).unwrap().unwrap();
    }
    assert_eq!(v.key_cache().len(), 1);
}

fn streaming(mode: StreamingMode, len: u64, trailer: Option<ChecksumAlgorithm>) -> (StreamingAuth, Signer) {
    let s = Signer::new(AK, SK, "us-east-1", "s3");
    let date = AmzDate::from_unix(T0);
    let chain = mode.signed().then(|| s.chain(&date, [7; 32]));
    (
        StreamingAuth {
            mode,
            chain,
            decoded_length: len,
            trailer,
        },
        s,
    )
}

#[test]
fn absurd_chunk_sizes_are_rejected_at_the_header() {
    let (auth, _) = streaming(StreamingMode::UnsignedTrailer, 10, None);
    for header in [
        &b"ffffffffffffffff\r\n"[..],
        b"fffffffffffffffff\r\n",
        b"b\r\n",
        b"-1\r\n",
        b"\r\n",
        b"zz\r\n",
        b" 5\r\n",
    ] {
        let mut d = ChunkedDecoder::new(auth.clone()).unwrap();
        let e = d.decode(header).unwrap_err();
        assert!(matches!(e, SigError::InvalidChunk(_)), "{header:?}: {e:?}");
    }
    // A header line that never ends is cut off at the limit, whatever it is fed in.
    let mut d = ChunkedDecoder::new(auth.clone()).unwrap();
    let long = vec![b'0'; MAX_CHUNK_HEADER_LEN + 1];
    let mut failed = false;
    for b in long.chunks(7) {
        if d.decode(b).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
    // Likewise an endless trailer.
    let (auth, _) = streaming(StreamingMode::UnsignedTrailer, 0, Some(ChecksumAlgorithm::Crc32c));
    let mut d = ChunkedDecoder::new(auth).unwrap();
    d.decode(b"0\r\n").unwrap();
    let mut failed = false;
    for _ in 0..=MAX_TRAILER_LEN {
        if d.decode(b"x").is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
}

#[test]
fn signed_chunks_must_carry_valid_signatures() {
    let payload = vec![0x5a; 20_000];
    let (auth, _) = streaming(StreamingMode::Signed, payload.len() as u64, None);
    let body = ChunkedEncoder::new(auth.mode, auth.chain.clone(), None).encode_all(&payload, 8192);
    assert_eq!(
        ChunkedDecoder::new(auth.clone()).unwrap().decode_all(&body).unwrap(),
        payload
    );
    // Unsigned framing where signatures are required.
    let plain = ChunkedEncoder::new(StreamingMode::UnsignedTrailer, None, None).encode_all(&payload, 8192);
    assert!(ChunkedDecoder::new(auth.clone()).unwrap().decode_all(&plain).is_err());
    // Chunks reordered: each signature is valid on its own but the chain breaks.
    let mut enc = ChunkedEncoder::new(auth.mode, auth.chain.clone(), None);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    enc.chunk(&mut a, &payload[..8192]);
    enc.chunk(&mut b, &payload[8192..16384]);
    let mut swapped = b;
    swapped.extend_from_slice(&a);
    assert!(ChunkedDecoder::new(auth).unwrap().decode_all(&swapped).is_err());
}

#[test]
fn trailer_checksum_mismatch_and_missing_trailer_are_rejected() {
    let payload = b"hello, trailer".to_vec();
    for alg in ChecksumAlgorithm::ALL {
        for mode in [StreamingMode::UnsignedTrailer, StreamingMode::SignedTrailer] {
            let (auth, _) = streaming(mode, payload.len() as u64, Some(alg));
            let good =
                ChunkedEncoder::new(mode, auth.chain.clone(), Some(Checksummer::new(alg))).encode_all(&payload, 5);
            let got = ChunkedDecoder::new(auth.clone()).unwrap();
            let mut got = got;
            assert_eq!(got.decode_all(&good).unwrap(), payload);
            assert_eq!(got.finish().unwrap().unwrap().algorithm, alg);
            // Checksum of other data.
            let mut other = Checksummer::new(alg);
            other.update(b"something else");
            let line = format!("{}:{}", alg.header_name(), other.finish_base64());
            let mut c = Checksummer::new(alg);
            c.update(&payload);
            let bad =
                String::from_utf8_lossy(&good).replace(&format!("{}:{}", alg.header_name(), c.finish_base64()), &line);
            assert!(
                ChunkedDecoder::new(auth.clone())
                    .unwrap()
                    .decode_all(bad.as_bytes())
                    .is_err(),
                "{alg:?} {mode:?}"
            );
            // No trailer at all.
            let none = ChunkedEncoder::new(mode, auth.chain.clone(), None).encode_all(&payload, 5);
            assert!(
                ChunkedDecoder::new(auth).unwrap().decode_all(&none).is_err(),
                "{alg:?} {mode:?}"
            );
        }
    }
}

#[test]
fn decoded_length_is_enforced() {
    let payload = vec![1u8; 100];
    let (auth, _) = streaming(StreamingMode::UnsignedTrailer, 99, None);
    let body = ChunkedEncoder::new(StreamingMode::UnsignedTrailer, None, None).encode_all(&payload, 50);
    assert!(ChunkedDecoder::new(auth).unwrap().decode_all(&body).is_err());
    let (auth, _) = streaming(StreamingMode::UnsignedTrailer, 101, None);
    assert_eq!(
        ChunkedDecoder::new(auth).unwrap().decode_all(&body).unwrap_err(),
        SigError::IncompleteBody
    );
}

#[test]
fn verifier_reports_streaming_parameters() {
    let date = AmzDate::from_unix(T0);
    let hv = [
        ("host", "h"),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("x-amz-decoded-content-length", "5"),
        ("x-amz-trailer", "x-amz-checksum-crc64nvme"),
    ];
    let s = Signer::new(AK, SK, "us-east-1", "s3").sign_headers(
        "PUT",
        "/b/k",
        "",
        &hv,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        &date,
    );
    let mut h: Vec<(String, String)> = hv.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    h.push(("authorization".into(), s.authorization));
    let v = Verifier::new(VerifierConfig::default());
    let req = RequestParts {
        method: "PUT",
        path: b"/b/k",
        query: b"",
        headers: &h,
        path_style: true,
    };
    let out = v.verify(&req, &creds(), T0).unwrap().unwrap();
    let Payload::Streaming(a) = out.payload else { panic!() };
    assert_eq!(a.mode, StreamingMode::UnsignedTrailer);
    assert_eq!(a.decoded_length, 5);
    assert_eq!(a.trailer, Some(ChecksumAlgorithm::Crc64Nvme));
    // Without x-amz-decoded-content-length S3 answers MissingContentLength.
    let h2: Vec<_> = h
        .iter()
        .filter(|(n, _)| n != "x-amz-decoded-content-length")
        .cloned()
        .collect();
    let req = RequestParts {
        method: "PUT",
        path: b"/b/k",
        query: b"",
        headers: &h2,
        path_style: true,
    };
    assert!(v.verify(&req, &creds(), T0).is_err());
}

/// `aws-sigv4`, the signer inside the AWS SDK for Rust, signs the same requests as our signer.
#[test]
fn aws_sigv4_crate_agrees_with_our_signer() {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
        SigningSettings, UriPathNormalizationMode,
    };
    use aws_sigv4::sign::v4;

    let identity = Credentials::new(AK, SK, None, None, "test").into();
    let cases: &[(&str, &str, &str, &[u8])] = &[
        ("GET", "/bucket/key", "", b""),
        ("PUT", "/bucket/a%20b/c%2Bd~e.txt", "", b"hello world"),
        ("GET", "/bucket", "list-type=2&prefix=a%2Fb&delimiter=%2F", b""),
        ("DELETE", "/bucket/%C3%BC", "", b""),
        ("POST", "/bucket", "delete", b"<Delete/>"),
    ];
    for (method, path, query, body) in cases {
        for presign in [false, true] {
            let mut settings = SigningSettings::default();
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = if presign {
                PayloadChecksumKind::NoHeader
            } else {
                PayloadChecksumKind::XAmzSha256
            };
            if presign {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(Duration::from_secs(900));
            }
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("s3")
                .time(UNIX_EPOCH + Duration::from_secs(T0 as u64))
                .settings(settings)
                .build()
                .unwrap()
                .into();
            let uri = if query.is_empty() {
                format!("http://127.0.0.1:9000{path}")
            } else {
                format!("http://127.0.0.1:9000{path}?{query}")
            };
            let signable_body = if presign {
                SignableBody::UnsignedPayload
            } else {
                SignableBody::Bytes(body)
            };
            let req =
                SignableRequest::new(method, uri, [("host", "127.0.0.1:9000")].into_iter(), signable_body).unwrap();
            let (instructions, theirs) = sign(req, &params).unwrap().into_parts();
            let date = AmzDate::from_unix(T0);
            let ours = if presign {
                let q =
                    Signer::new(AK, SK, "us-east-1", "s3").presign(method, path, query, "127.0.0.1:9000", 900, &date);
                let p = s3o_sigv4::presign::PresignParams::parse(q.as_bytes()).unwrap();
                // And the verifier accepts what aws-sigv4 produced.
                let mut full_q = query.to_string();
                for (k, v) in instructions.params() {
                    s3o_sigv4::presign::push_query_param(&mut full_q, k, v);
                }
                let h = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
                let v = Verifier::new(VerifierConfig::default());
                let r = RequestParts {
                    method,
                    path: path.as_bytes(),
                    query: full_q.as_bytes(),
                    headers: &h,
                    path_style: true,
                };
                v.verify(&r, &creds(), T0).unwrap().unwrap();
                hex(&p.signature)
            } else {
                let sha = sha256_hex(body);
                let hv = [
                    ("host", "127.0.0.1:9000"),
                    ("x-amz-date", date.as_str()),
                    ("x-amz-content-sha256", sha.as_str()),
                ];
                hex(&Signer::new(AK, SK, "us-east-1", "s3")
                    .sign_headers(method, path, query, &hv, &sha, &date)
                    .signature)
            };
            assert_eq!(ours, theirs, "{method} {path}?{query} presign={presign}");
        }
    }
}
