//! S3-specific vectors from independent signers (botocore, awscrt; see
//! `fixtures/gen_s3_fixtures.py`): every request verifies, its canonical request and string to
//! sign match the signer's, and every aws-chunked body decodes to the original payload with its
//! chunk, trailer and checksum checks passing. Then the tamper tests: any change is rejected.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{fixtures, Fixture};
use s3o_sigv4::canonical::canonical_request;
use s3o_sigv4::encode::hex;
use s3o_sigv4::presign::PresignParams;
use s3o_sigv4::string_to_sign::string_to_sign;
use s3o_sigv4::{
    Authorization, BodyCheck, Checksummer, ChunkedDecoder, ChunkedEncoder, Payload, RequestParts, SigError, Signer,
    UriMode, Verified, Verifier, VerifierConfig,
};

fn verify_with(
    f: &Fixture,
    path: &str,
    query: &str,
    headers: &[(String, String)],
) -> Result<Verified<String>, SigError> {
    let v = Verifier::new(VerifierConfig::default());
    let req = RequestParts {
        method: &f.request.method,
        path: path.as_bytes(),
        query: query.as_bytes(),
        headers,
        path_style: true,
    };
    v.verify(&req, &f.provider(), f.now())
        .map(|o| o.expect("authenticated"))
}

fn verify(f: &Fixture) -> Result<Verified<String>, SigError> {
    verify_with(f, &f.request.path, &f.request.query, &f.request.headers)
}

/// Runs the body through what the verifier said about it; returns the payload.
fn check_body(payload: &Payload, body: &[u8], split: Option<usize>) -> Result<Vec<u8>, SigError> {
    match payload {
        Payload::Streaming(auth) => {
            let mut d = ChunkedDecoder::new(auth.clone())?;
            match split {
                None => d.decode_all(body),
                Some(step) => {
                    let mut out = Vec::new();
                    for piece in body.chunks(step) {
                        let mut input = piece;
                        while !input.is_empty() {
                            let r = d.decode(input)?;
                            out.extend_from_slice(&input[r.payload]);
                            input = &input[r.consumed..];
                        }
                    }
                    d.finish()?;
                    Ok(out)
                }
            }
        }
        Payload::Sha256(h) => {
            let mut c = BodyCheck::new();
            c.expect_sha256(*h);
            c.update(body);
            c.finish()?;
            Ok(body.to_vec())
        }
        Payload::Unsigned => Ok(body.to_vec()),
    }
}

#[test]
fn every_fixture_verifies_and_decodes() {
    for f in fixtures() {
        let v = verify(&f).unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        assert_eq!(v.access_key, f.credentials.access_key_id);
        assert_eq!(v.presigned, f.auth == "presigned", "{}", f.name);
        assert_eq!(v.region, f.region);
        let payload = check_body(&v.payload, &f.body(), None).unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        assert_eq!(payload, f.decoded(), "{}", f.name);
        if let Payload::Streaming(a) = &v.payload {
            let mut d = ChunkedDecoder::new(a.clone()).unwrap();
            d.decode_all(&f.body()).unwrap();
            let got: std::collections::BTreeMap<String, String> = d.trailers().iter().cloned().collect();
            assert_eq!(got, f.expected.trailer, "{}", f.name);
        }
    }
}

#[test]
fn canonical_request_and_string_to_sign_match_the_signer() {
    let mut n = 0;
    for f in fixtures() {
        let (Some(want_creq), Some(want_sts)) = (&f.expected.canonical_request, &f.expected.string_to_sign) else {
            continue;
        };
        let req = RequestParts {
            method: &f.request.method,
            path: f.request.path.as_bytes(),
            query: f.request.query.as_bytes(),
            headers: &f.request.headers,
            path_style: true,
        };
        let (signed, scope, date, sig) = if f.auth == "presigned" {
            let p = PresignParams::parse(f.request.query.as_bytes()).unwrap();
            let scope = p.credential.split_once('/').unwrap().1.to_string();
            (p.signed_headers, scope, p.amz_date, p.signature)
        } else {
            let a = Authorization::parse(f.header("authorization")).unwrap();
            let date = f.header("x-amz-date").to_string();
            (
                a.signed_headers.to_string(),
                a.credential.scope.to_string(),
                date,
                a.signature,
            )
        };
        let payload_hash = want_creq.rsplit('\n').next().unwrap();
        let mut creq = Vec::new();
        canonical_request(
            &mut creq,
            &req,
            &signed,
            payload_hash,
            UriMode::S3,
            f.auth == "presigned",
        );
        assert_eq!(&String::from_utf8(creq.clone()).unwrap(), want_creq, "{}", f.name);
        let mut sts = Vec::new();
        string_to_sign(&mut sts, &date, &scope, &creq);
        assert_eq!(&String::from_utf8(sts).unwrap(), want_sts, "{}", f.name);
        assert_eq!(hex(&sig), f.expected.signature, "{}", f.name);
        n += 1;
    }
    assert!(n >= 20, "only {n} fixtures carry a canonical request");
}

#[test]
fn decoder_output_is_identical_at_every_split() {
    for f in fixtures().into_iter().filter(|f| f.name.starts_with("chunked-")) {
        let v = verify(&f).unwrap();
        let body = f.body();
        let want = f.decoded();
        // Every split point for small bodies; a spread of chunk sizes for the big ones.
        let steps: Vec<usize> = if body.len() <= 20_000 {
            (1..=body.len()).collect()
        } else {
            vec![
                1, 2, 3, 7, 64, 89, 90, 91, 4096, 8191, 8192, 8193, 65_536, 65_627, 100_003,
            ]
        };
        for step in steps {
            let got =
                check_body(&v.payload, &body, Some(step)).unwrap_or_else(|e| panic!("{} step {step}: {e:?}", f.name));
            assert!(got == want, "{} step {step}", f.name);
        }
        // Two pieces split at every offset of the framing around the first and last chunk.
        let offsets: Vec<usize> = if body.len() <= 20_000 {
            (0..=body.len()).collect()
        } else {
            (0..200).chain(body.len() - 300..=body.len()).collect()
        };
        let Payload::Streaming(auth) = &v.payload else { panic!() };
        for at in offsets {
            let mut d = ChunkedDecoder::new(auth.clone()).unwrap();
            let mut out = Vec::new();
            for mut input in [&body[..at], &body[at..]] {
                while !input.is_empty() {
                    let r = d.decode(input).unwrap();
                    out.extend_from_slice(&input[r.payload]);
                    input = &input[r.consumed..];
                }
            }
            d.finish().unwrap();
            assert!(out == want, "{} split at {at}", f.name);
        }
    }
}

#[test]
fn our_encoder_reproduces_the_signed_bodies() {
    let mut n = 0;
    for f in fixtures().into_iter().filter(|f| f.name.starts_with("chunked-signed")) {
        let v = verify(&f).unwrap();
        let Payload::Streaming(auth) = &v.payload else { panic!() };
        let body = f.body();
        let first_line = body.split(|&b| b == b';').next().unwrap();
        let chunk = usize::from_str_radix(std::str::from_utf8(first_line).unwrap(), 16).unwrap();
        let enc = ChunkedEncoder::new(auth.mode, auth.chain.clone(), auth.trailer.map(Checksummer::new));
        assert!(enc.encode_all(&f.decoded(), chunk) == body, "{}", f.name);
        n += 1;
    }
    assert!(n >= 6);
}

#[test]
fn our_signer_reproduces_the_header_signatures() {
    for f in fixtures().into_iter().filter(|f| f.auth == "header") {
        let auth_h = f.header("authorization");
        let a = Authorization::parse(auth_h).unwrap();
        let signed: Vec<(&str, &str)> = f
            .request
            .headers
            .iter()
            .filter(|(h, _)| a.signed_headers.split(';').any(|s| s.eq_ignore_ascii_case(h)))
            .map(|(h, v)| (h.as_str(), v.as_str()))
            .collect();
        let date_value = f.header("x-amz-date");
        let date = s3o_sigv4::AmzDate::parse(date_value).unwrap();
        let sha = f.header("x-amz-content-sha256");
        let s = Signer::new(
            &f.credentials.access_key_id,
            &f.credentials.secret_access_key,
            &f.region,
            "s3",
        );
        let out = s.sign_headers(
            &f.request.method,
            &f.request.path,
            &f.request.query,
            &signed,
            sha,
            &date,
        );
        assert_eq!(hex(&out.signature), f.expected.signature, "{}", f.name);
    }
}

#[test]
fn our_presigner_reproduces_botocore_urls() {
    for f in fixtures().into_iter().filter(|f| f.auth == "presigned") {
        let p = PresignParams::parse(f.request.query.as_bytes()).unwrap();
        if p.signed_headers != "host" {
            continue;
        }
        let date = s3o_sigv4::AmzDate::parse(&p.amz_date).unwrap();
        let host = f.header("host");
        let s = Signer::new(
            &f.credentials.access_key_id,
            &f.credentials.secret_access_key,
            &f.region,
            "s3",
        )
        .with_security_token(p.security_token.as_deref());
        let base: Vec<&str> = f
            .request
            .query
            .split('&')
            .filter(|kv| !kv.starts_with("X-Amz-"))
            .collect();
        let q = s.presign(
            &f.request.method,
            &f.request.path,
            &base.join("&"),
            host,
            p.expires,
            &date,
        );
        let ours = PresignParams::parse(q.as_bytes()).unwrap();
        assert_eq!(hex(&ours.signature), f.expected.signature, "{}", f.name);
    }
}

// ---------------------------------------------------------------- tamper tests

fn flip(s: &str, i: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    // Change the byte to another printable ASCII character that is not a space.
    b[i] = if b[i] == b'~' { b'!' } else { b[i] + 1 };
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn any_changed_byte_of_a_signed_header_query_or_path_is_rejected() {
    for f in fixtures() {
        let signed_names: Vec<String> = if f.auth == "presigned" {
            PresignParams::parse(f.request.query.as_bytes())
                .unwrap()
                .signed_headers
                .split(';')
                .map(String::from)
                .collect()
        } else {
            let a = f.header("authorization");
            Authorization::parse(a)
                .unwrap()
                .signed_headers
                .split(';')
                .map(String::from)
                .collect()
        };
        for (hi, (name, value)) in f.request.headers.iter().enumerate() {
            let lname = name.to_ascii_lowercase();
            if !signed_names.contains(&lname) && lname != "authorization" {
                continue;
            }
            for i in 0..value.len() {
                if value.as_bytes()[i] == b' ' {
                    continue; // whitespace runs are canonicalised away by design
                }
                let mut h = f.request.headers.clone();
                h[hi].1 = flip(value, i);
                assert!(
                    verify_with(&f, &f.request.path, &f.request.query, &h).is_err(),
                    "{}: {name}[{i}]",
                    f.name
                );
            }
        }
        for i in 0..f.request.query.len() {
            let q = flip(&f.request.query, i);
            assert!(
                verify_with(&f, &f.request.path, &q, &f.request.headers).is_err(),
                "{}: query[{i}] {q}",
                f.name
            );
        }
        for i in 1..f.request.path.len() {
            let p = flip(&f.request.path, i);
            if p.len() != f.request.path.len() {
                continue;
            }
            assert!(
                verify_with(&f, &p, &f.request.query, &f.request.headers).is_err(),
                "{}: path[{i}] {p}",
                f.name
            );
        }
    }
}

#[test]
fn any_changed_byte_of_a_body_is_rejected() {
    for f in fixtures() {
        let v = verify(&f).unwrap();
        if matches!(v.payload, Payload::Unsigned) {
            continue;
        }
        let body = f.body();
        // Every byte of small bodies; for big ones the first and last 400 bytes and a stride.
        let positions: Vec<usize> = if body.len() <= 12_000 {
            (0..body.len()).collect()
        } else {
            (0..400)
                .chain((400..body.len() - 400).step_by(509))
                .chain(body.len() - 400..body.len())
                .collect()
        };
        for i in positions {
            let mut b = body.clone();
            b[i] ^= 0x01;
            assert!(
                check_body(&v.payload, &b, None).is_err(),
                "{}: body[{i}] {:?}",
                f.name,
                body[i] as char
            );
        }
    }
}

#[test]
fn truncated_and_over_long_streams_are_rejected() {
    for f in fixtures().into_iter().filter(|f| f.name.starts_with("chunked-")) {
        let v = verify(&f).unwrap();
        let body = f.body();
        let cuts: Vec<usize> = if body.len() <= 12_000 {
            (0..body.len()).collect()
        } else {
            (0..300)
                .chain((300..body.len()).step_by(4099))
                .chain(body.len() - 300..body.len())
                .collect()
        };
        for cut in cuts {
            let e = check_body(&v.payload, &body[..cut], None).unwrap_err();
            assert!(
                matches!(e, SigError::IncompleteBody | SigError::InvalidChunk(_)),
                "{} cut {cut}: {e:?}",
                f.name
            );
        }
        for extra in [&b"\r\n"[..], b"0", b"0\r\n\r\n", b"x"] {
            let mut b = body.clone();
            b.extend_from_slice(extra);
            assert!(check_body(&v.payload, &b, None).is_err(), "{} + {extra:?}", f.name);
        }
    }
}
