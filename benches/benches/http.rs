//! criterion benches of the request front end: parsing a request head ([`decode_head`] and the
//! [`HeadDecoder`] the connection loop uses) for a typical aws-cli GET and a boto3 PUT with
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` headers, and routing with [`Endpoint::from_request`]
//! (GetObject, PutObject with a %-escaped key, ListObjectsV2 with its query, a not-implemented
//! sub-resource). Each case is checked once, and its allocations printed, before it is timed.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use s3o_proxy::endpoint::Endpoint;
use s3o_proxy::http::{decode_head, BodyKind, HeadDecoder, RequestHead};

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

/// `aws s3 cp s3://photos/2024/06/IMG_00001.jpg -` as aws-cli v2 sends it (11 fields).
const AWS_CLI_GET: &[u8] = b"GET /photos/2024/06/IMG_00001.jpg HTTP/1.1\r\n\
Host: 127.0.0.1:9000\r\n\
Accept-Encoding: identity\r\n\
User-Agent: aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3.cp\r\n\
X-Amz-Date: 20240612T101530Z\r\n\
X-Amz-Content-SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240612/us-east-1/s3/aws4_request, \
SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\r\n\
amz-sdk-invocation-id: 2a8e1f5c-6a3b-4f0e-9d67-3f1c2b9a7e41\r\n\
amz-sdk-request: attempt=1\r\n\
x-amz-checksum-mode: ENABLED\r\n\
Range: bytes=0-8388607\r\n\
Connection: keep-alive\r\n\
\r\n";

/// `s3.put_object(Bucket="photos", Key="my photos/café (1).jpg", Body=...)` as current boto3
/// sends it: an aws-chunked body with an unsigned CRC32 trailer, 100-continue (15 fields).
const BOTO3_PUT: &[u8] = b"PUT /photos/my%20photos/caf%C3%A9%20%281%29.jpg HTTP/1.1\r\n\
Host: 127.0.0.1:9000\r\n\
Accept-Encoding: identity\r\n\
Expect: 100-continue\r\n\
Content-Encoding: aws-chunked\r\n\
Transfer-Encoding: chunked\r\n\
x-amz-trailer: x-amz-checksum-crc32\r\n\
x-amz-decoded-content-length: 1048576\r\n\
x-amz-sdk-checksum-algorithm: CRC32\r\n\
Content-Type: image/jpeg\r\n\
User-Agent: Boto3/1.35.90 md/Botocore#1.35.90 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.12.3 \
md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.90\r\n\
X-Amz-Date: 20240612T101530Z\r\n\
X-Amz-Content-SHA256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240612/us-east-1/s3/aws4_request, \
SignedHeaders=content-encoding;content-type;host;transfer-encoding;x-amz-content-sha256;x-amz-date;\
x-amz-decoded-content-length;x-amz-sdk-checksum-algorithm;x-amz-trailer, \
Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7\r\n\
amz-sdk-invocation-id: 7d0c1c0e-4f6a-4b8e-8a51-0f4c3b8d2e19\r\n\
amz-sdk-request: attempt=1\r\n\
\r\n";

fn parse(raw: &[u8]) -> RequestHead {
    let (head, used) = decode_head(raw).unwrap().unwrap();
    assert_eq!(used, raw.len());
    head
}

fn check_heads() {
    let get = parse(AWS_CLI_GET);
    assert_eq!(
        (get.method.as_str(), get.path.as_str(), get.query.as_str()),
        ("GET", "/photos/2024/06/IMG_00001.jpg", "")
    );
    assert_eq!(get.headers.len(), 11);
    assert_eq!(get.header("x-amz-date"), Some("20240612T101530Z"));
    assert!(get.header("authorization").unwrap().ends_with("6f1024"));
    assert_eq!(BodyKind::from_head(&get).unwrap(), BodyKind::Empty);
    assert!(get.keep_alive());

    let put = parse(BOTO3_PUT);
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PUT", "/photos/my%20photos/caf%C3%A9%20%281%29.jpg")
    );
    assert_eq!(put.headers.len(), 15);
    assert_eq!(
        put.header("x-amz-content-sha256"),
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    );
    assert_eq!(BodyKind::from_head(&put).unwrap(), BodyKind::Chunked);
    assert!(put.expect_continue());

    // The incremental decoder gives the same head, and nothing for a head cut short.
    assert_eq!(HeadDecoder::new().decode(BOTO3_PUT).unwrap().unwrap().0, put);
    assert_eq!(
        HeadDecoder::new().decode(&BOTO3_PUT[..BOTO3_PUT.len() - 2]).unwrap(),
        None
    );
}

fn heads(c: &mut Criterion) {
    check_heads();
    let mut g = c.benchmark_group("http_head");
    for (name, raw) in [("aws_cli_get", AWS_CLI_GET), ("boto3_put_streaming_trailer", BOTO3_PUT)] {
        common::report_allocs(&format!("http_head/decode_head/{name}"), || parse(raw));
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(format!("decode_head/{name}"), |b| {
            b.iter(|| decode_head(black_box(raw)).unwrap().unwrap());
        });
        // What the connection loop does once the whole head is in its buffer: scan for the
        // blank line, then parse.
        g.bench_function(format!("head_decoder/{name}"), |b| {
            b.iter(|| HeadDecoder::new().decode(black_box(raw)).unwrap().unwrap());
        });
    }
    g.finish();
}

/// One routing case: (bench name, method, raw path, raw query, the endpoint it must route to).
type Case = (&'static str, &'static str, &'static str, &'static str, Endpoint);

fn routing_cases() -> Vec<Case> {
    vec![
        (
            "get_object",
            "GET",
            "/photos/2024/06/IMG_00001.jpg",
            "",
            Endpoint::GetObject {
                bucket: "photos".into(),
                key: "2024/06/IMG_00001.jpg".into(),
                part_number: None,
                version: None,
            },
        ),
        (
            "put_object_escaped_key",
            "PUT",
            "/photos/my%20photos/caf%C3%A9%20%281%29.jpg",
            "",
            Endpoint::PutObject {
                bucket: "photos".into(),
                key: "my photos/caf\u{e9} (1).jpg".into(),
            },
        ),
        (
            "list_objects_v2_query",
            "GET",
            "/photos",
            "list-type=2&continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D\
             &delimiter=%2F&encoding-type=url&fetch-owner=false&max-keys=1000&prefix=2024%2F06%2F",
            Endpoint::ListObjectsV2 {
                bucket: "photos".into(),
            },
        ),
        (
            "put_object_tagging_version",
            "PUT",
            "/photos/2024/06/IMG_00001.jpg",
            "tagging&versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
            Endpoint::PutObjectTagging {
                bucket: "photos".into(),
                key: "2024/06/IMG_00001.jpg".into(),
                version: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
            },
        ),
    ]
}

fn routing(c: &mut Criterion) {
    // The headers a real request carries (the router looks for x-amz-copy-source on PUT).
    let get = parse(AWS_CLI_GET);
    let put = parse(BOTO3_PUT);
    let mut g = c.benchmark_group("endpoint_from_request");
    for (name, method, path, query, want) in routing_cases() {
        let head = if method == "PUT" { &put } else { &get };
        let got = common::report_allocs(&format!("endpoint_from_request/{name}"), || {
            Endpoint::from_request(method, path, query, head)
        });
        assert_eq!(got.unwrap(), want, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| Endpoint::from_request(black_box(method), black_box(path), black_box(query), head).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, heads, routing);
criterion_main!(benches);
