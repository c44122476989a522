//! End-to-end client: the official AWS SDK for Rust (`aws-sdk-s3`) against s3-orchestrator.
//!
//! Run by `proxy/tests/e2e/test_sdk_rust.py` against a proxy whose bucket lives on SeaweedFS:
//!
//! ```text
//! s3o-e2e-sdk-rust --endpoint http://127.0.0.1:PORT --bucket NAME [--prefix P] [--size BYTES]
//! ```
//!
//! with the credential in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` and the region in
//! `AWS_REGION` (default `us-east-1`).
//!
//! The SDK runs as `BehaviorVersion::latest()` configures it: its default request checksums
//! (`WhenSupported`: a CRC32 on every PutObject and UploadPart), its default response checksum
//! validation (it sends `x-amz-checksum-mode: ENABLED` on GetObject and checks what comes back),
//! its default retries, timeouts and stalled-stream protection. Only three things are set: the
//! endpoint, path-style addressing (127.0.0.1 has no bucket subdomains; `src/bin/tls_vhost.rs`
//! runs the same steps with virtual-host addressing over TLS) and a plain-HTTP client in place of
//! the default HTTPS one (the proxy listens on http on 127.0.0.1).
//!
//! The steps and checks are in the library (`src/lib.rs`, `src/steps.rs`), shared with
//! `src/bin/tls_vhost.rs`.
//!
//! What it checks, each on the values that come back (HTTP status, sizes, SHA-256 of the bytes,
//! ETags, checksums), never on success alone:
//!
//! 1. PutObject of a small object, then GetObject: ETag = `"<md5>"`, CRC32 = the body's, same bytes.
//! 2. A multipart upload of `--size` random bytes (default 40 MiB + 12345) through the SDK's own
//!    calls: CreateMultipartUpload (CRC32), UploadPart of 6 MiB parts (the last one shorter), each
//!    with the SDK's default CRC32 and answered with the part's MD5 ETag and CRC32,
//!    CompleteMultipartUpload answered with `"<md5 of the part md5s>-N"` and the composite CRC32
//!    `<crc32 of the part crc32s>-N`.
//! 3. HeadObject with checksum mode: size, ETag, composite CRC32, checksum type COMPOSITE.
//! 4. GetObject of the whole object, streamed and hashed (SHA-256, size, 200); GetObject
//!    `partNumber=1` (206, `Content-Range`, parts count N, the first part's bytes and CRC32); a
//!    ranged GetObject across a part boundary (206, `Content-Range`, the bytes of the range).
//! 5. ListObjectsV2 on the prefix lists exactly the two keys, with their sizes and ETags.
//! 6. A second multipart upload with one part: ListParts and ListMultipartUploads list it;
//!    AbortMultipartUpload (204); then ListMultipartUploads no longer lists it and ListParts
//!    answers 404 NoSuchUpload.
//! 7. DeleteObject of the small object (204), after which HeadObject answers 404. The multipart
//!    object stays, for the test to find its bytes on the backend.
//!
//! Every HTTP exchange is printed to stderr (method, path, the headers that matter, status), each
//! passed check as an `ok:` line to stdout. Any failed check, SDK error or retry (a retry would
//! hide a failed first attempt) ends the run with exit code 1 and what failed on stderr.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::Client;
use s3o_e2e_sdk_rust::steps::{split_parts, Run, PART_SIZE};
use s3o_e2e_sdk_rust::{multipart_etag, quoted_md5, random_bytes, Wire, MIB};

const DEFAULT_SIZE: usize = 40 * MIB + 12_345;

struct Args {
    endpoint: String,
    bucket: String,
    prefix: String,
    size: usize,
    region: String,
    access_key: String,
    secret_key: String,
}

fn usage() -> String {
    "usage: s3o-e2e-sdk-rust --endpoint URL --bucket NAME [--prefix P] [--size BYTES]\n\
     (credential in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region in AWS_REGION)"
        .to_string()
}

fn parse_args() -> Result<Args> {
    let mut endpoint = None;
    let mut bucket = None;
    let mut prefix = None;
    let mut size = DEFAULT_SIZE;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value\n{}", usage()));
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--bucket" => bucket = Some(value()?),
            "--prefix" => prefix = Some(value()?),
            "--size" => {
                let v = value()?;
                size = v.parse().with_context(|| format!("--size {v}: not a byte count"))?;
            }
            "-h" | "--help" => bail!("{}", usage()),
            other => bail!("unknown argument {other}\n{}", usage()),
        }
    }
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set\n{}", usage()));
    let size_floor = PART_SIZE + 1;
    ensure!(
        size >= size_floor,
        "--size {size}: must be at least {size_floor} (two parts)"
    );
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Ok(Args {
        endpoint: endpoint.ok_or_else(|| anyhow!("--endpoint is required\n{}", usage()))?,
        bucket: bucket.ok_or_else(|| anyhow!("--bucket is required\n{}", usage()))?,
        prefix: prefix.unwrap_or_else(|| format!("sdk-rust/{nanos:x}/")),
        size,
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_string()),
        access_key: env("AWS_ACCESS_KEY_ID")?,
        secret_key: env("AWS_SECRET_ACCESS_KEY")?,
    })
}

// ------------------------------------------------------------------------------------------
// The run

fn main() {
    s3o_e2e_sdk_rust::main_with(parse_args, run);
}

async fn run(args: Args) -> Result<()> {
    let wire = Wire::default();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(args.region.clone()))
        .credentials_provider(Credentials::new(&args.access_key, &args.secret_key, None, None, "e2e"))
        .endpoint_url(&args.endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(wire.clone())
        .build();
    let r = Run {
        s3: Client::from_conf(config),
        wire,
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone(),
    };
    println!(
        "endpoint {} bucket {} prefix {} size {}",
        args.endpoint, r.bucket, r.prefix, args.size
    );

    let t = Instant::now();
    let small = r.small_round_trip().await?;
    println!("-- small object: {:.2} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let data = random_bytes(args.size);
    let parts = split_parts(&data);
    let big = format!("{}big.bin", r.prefix);
    r.multipart_upload(&big, &parts).await?;
    println!(
        "-- multipart upload of {} bytes in {} parts: {:.2} s",
        data.len(),
        parts.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    r.downloads(&big, &data, &parts).await?;
    println!("-- downloads: {:.2} s", t.elapsed().as_secs_f64());

    r.list(&[
        (small.0.as_str(), small.1.len(), quoted_md5(&small.1)),
        (big.as_str(), data.len(), multipart_etag(&parts)),
    ])
    .await?;
    r.aborted_upload().await?;
    r.delete(&[small.0.as_str()]).await
}
