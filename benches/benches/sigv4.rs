//! criterion benches of the SigV4 hot paths: verifying a typical header-signed GET with a cached
//! signing key, and decoding an aws-chunked `STREAMING-UNSIGNED-PAYLOAD-TRAILER` body with a
//! CRC32C trailer (and the signed-chunk variant for comparison).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use s3o_sigv4::{
    AmzDate, ChecksumAlgorithm, Checksummer, ChunkedDecoder, ChunkedEncoder, CredentialProvider, RequestParts, Signer,
    StreamingAuth, StreamingMode, Verifier, VerifierConfig,
};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T0: i64 = 1_700_000_000;

struct Creds;
impl CredentialProvider for Creds {
    type Identity = ();
    fn lookup(&self, ak: &str) -> Option<(&str, ())> {
        (ak == AK).then_some((SK, ()))
    }
}

fn verify_get(c: &mut Criterion) {
    let date = AmzDate::from_unix(T0);
    let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    // What the AWS CLI sends for `aws s3 cp s3://bucket/key -`.
    let hv = [
        ("host", "127.0.0.1:9000"),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", sha),
    ];
    let s =
        Signer::new(AK, SK, "us-east-1", "s3").sign_headers("GET", "/bucket/dir/object-0001.bin", "", &hv, sha, &date);
    let mut headers: Vec<(&str, &str)> = vec![
        ("Host", "127.0.0.1:9000"),
        ("Accept-Encoding", "identity"),
        (
            "User-Agent",
            "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 prompt/off command/s3.cp",
        ),
        ("X-Amz-Date", date.as_str()),
        ("X-Amz-Content-SHA256", sha),
    ];
    headers.push(("Authorization", &s.authorization));
    let v = Verifier::new(VerifierConfig::default());
    let req = RequestParts {
        method: "GET",
        path: b"/bucket/dir/object-0001.bin",
        query: b"",
        headers: headers.as_slice(),
        path_style: true,
    };
    assert!(v.verify(&req, &Creds, T0).unwrap().is_some());
    c.bench_function("sigv4_verify_header_get_cached_key", |b| {
        b.iter(|| v.verify(black_box(&req), &Creds, T0).unwrap());
    });
}

fn decode(c: &mut Criterion) {
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut g = c.benchmark_group("aws_chunked_decode_8MiB");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.sample_size(20);
    let date = AmzDate::from_unix(T0);
    for (name, mode) in [
        ("unsigned_trailer_crc32c", StreamingMode::UnsignedTrailer),
        ("signed_chunks_crc32c", StreamingMode::SignedTrailer),
    ] {
        let chain = mode
            .signed()
            .then(|| Signer::new(AK, SK, "us-east-1", "s3").chain(&date, [1; 32]));
        let auth = StreamingAuth {
            mode,
            chain: chain.clone(),
            decoded_length: payload.len() as u64,
            trailer: Some(ChecksumAlgorithm::Crc32c),
        };
        // 64 KiB chunks (the SDK default), read as 256 KiB socket buffers.
        let body = ChunkedEncoder::new(mode, chain, Some(Checksummer::new(ChecksumAlgorithm::Crc32c)))
            .encode_all(&payload, 64 * 1024);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut d = ChunkedDecoder::new(auth.clone()).unwrap();
                let mut n = 0usize;
                for buf in body.chunks(256 * 1024) {
                    let mut input = buf;
                    while !input.is_empty() {
                        let r = d.decode(input).unwrap();
                        n += r.payload.len();
                        input = &input[r.consumed..];
                    }
                }
                d.finish().unwrap();
                black_box(n)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, verify_get, decode);
criterion_main!(benches);
