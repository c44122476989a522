//! Property tests (run in CI): the parsers never panic or grow without bound on arbitrary input,
//! and aws-chunked encode → decode is the identity for any payload, chunk size, mode, checksum
//! and way of splitting the stream.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use s3o_sigv4::canonical::{canonical_query, canonical_uri};
use s3o_sigv4::presign::PresignParams;
use s3o_sigv4::{
    AmzDate, Authorization, ChecksumAlgorithm, Checksummer, ChunkedDecoder, ChunkedEncoder, Signer, StreamingAuth,
    StreamingMode, UriMode,
};

fn mode() -> impl Strategy<Value = StreamingMode> {
    prop_oneof![
        Just(StreamingMode::Signed),
        Just(StreamingMode::SignedTrailer),
        Just(StreamingMode::UnsignedTrailer)
    ]
}

fn alg() -> impl Strategy<Value = ChecksumAlgorithm> {
    (0usize..5).prop_map(|i| ChecksumAlgorithm::ALL[i])
}

fn auth(mode: StreamingMode, len: u64, trailer: Option<ChecksumAlgorithm>) -> StreamingAuth {
    let s = Signer::new("AK", "SK", "us-east-1", "s3");
    let chain = mode
        .signed()
        .then(|| s.chain(&AmzDate::from_unix(1_700_000_000), [3; 32]));
    StreamingAuth {
        mode,
        chain,
        decoded_length: len,
        trailer: trailer.filter(|_| mode.has_trailer()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn authorization_parser_never_panics(s in "\\PC{0,300}") {
        let _ = Authorization::parse(&s);
        let _ = Authorization::parse(&format!("AWS4-HMAC-SHA256 {s}"));
    }

    #[test]
    fn authorization_parser_survives_mutations(
        i in 0usize..220, c in any::<char>(), cut in 0usize..220,
    ) {
        let good = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        let mut chars: Vec<char> = good.chars().collect();
        let i = i % chars.len();
        chars[i] = c;
        let s: String = chars.into_iter().collect();
        let _ = Authorization::parse(&s);
        let _ = Authorization::parse(&good[..cut.min(good.len())]);
    }

    #[test]
    fn query_and_path_canonicalisation_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut out = Vec::new();
        canonical_uri(&mut out, &b, UriMode::S3);
        canonical_uri(&mut out, &b, UriMode::Normalized);
        canonical_query(&mut out, &b, true);
        let _ = PresignParams::parse(&b);
    }

    #[test]
    fn decoder_never_panics_on_garbage(
        m in mode(), len in 0u64..5000, a in alg(),
        body in proptest::collection::vec(any::<u8>(), 0..2000), step in 1usize..64,
    ) {
        let mut d = ChunkedDecoder::new(auth(m, len, Some(a))).unwrap();
        'outer: for piece in body.chunks(step) {
            let mut input = piece;
            while !input.is_empty() {
                match d.decode(input) {
                    Ok(r) => {
                        prop_assert!(r.consumed <= input.len() && r.payload.end <= r.consumed);
                        prop_assert!(r.consumed > 0);
                        input = &input[r.consumed..];
                    }
                    Err(_) => break 'outer,
                }
            }
        }
        prop_assert!(d.decoded_len() <= len);
        let _ = d.finish();
    }

    #[test]
    fn chunked_round_trip(
        m in mode(), a in alg(), with_trailer in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..6000),
        chunk in 1usize..3000, splits in proptest::collection::vec(1usize..500, 1..20),
    ) {
        let trailer = (with_trailer && m.has_trailer()).then_some(a);
        let auth = auth(m, payload.len() as u64, trailer);
        let body = ChunkedEncoder::new(m, auth.chain.clone(), trailer.map(Checksummer::new)).encode_all(&payload, chunk);
        let mut d = ChunkedDecoder::new(auth).unwrap();
        let mut out = Vec::new();
        let mut rest = &body[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = splits[k % splits.len()].min(rest.len());
            k += 1;
            let mut input = &rest[..n];
            rest = &rest[n..];
            while !input.is_empty() {
                let r = d.decode(input).unwrap();
                out.extend_from_slice(&input[r.payload]);
                input = &input[r.consumed..];
            }
        }
        let cs = d.finish().unwrap();
        prop_assert_eq!(out, payload);
        prop_assert_eq!(cs.map(|c| c.algorithm), trailer);
    }
}
