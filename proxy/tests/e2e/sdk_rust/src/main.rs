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
//! endpoint, path-style addressing (the proxy is path-style only) and a plain-HTTP client in place
//! of the default HTTPS one (the proxy listens on http on 127.0.0.1; this keeps a TLS stack out of
//! the build).
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

use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;
/// Part size of the multipart upload (S3's minimum for all but the last part is 5 MiB).
const PART_SIZE: usize = 6 * MIB;
const DEFAULT_SIZE: usize = 40 * MIB + 12_345;

/// Request and response headers worth printing for each exchange.
const SHOWN_HEADERS: &[&str] = &[
    "content-length",
    "content-encoding",
    "content-range",
    "range",
    "etag",
    "transfer-encoding",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-algorithm",
    "x-amz-checksum-mode",
    "x-amz-checksum-type",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-mp-parts-count",
];

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
// The wire: every HTTP exchange the SDK makes, printed and kept for the status checks.

#[derive(Debug, Clone)]
struct Exchange {
    request: String,
    status: Option<u16>,
}

/// An interceptor that records each attempt's request line and response status.
#[derive(Debug, Clone, Default)]
struct Wire(Arc<Mutex<Vec<Exchange>>>);

impl Wire {
    fn lock(&self) -> MutexGuard<'_, Vec<Exchange>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks that the operation since the last call took exactly one HTTP exchange (no retry)
    /// and that it was answered `status`.
    fn expect(&self, op: &str, status: u16) -> Result<()> {
        let seen: Vec<Exchange> = self.lock().drain(..).collect();
        match seen.as_slice() {
            [one] if one.status == Some(status) => Ok(()),
            [one] => bail!("{op}: HTTP status {:?}, want {status} ({})", one.status, one.request),
            _ => bail!(
                "{op}: want one HTTP exchange answered {status}, the SDK made {}: {seen:?}",
                seen.len()
            ),
        }
    }
}

fn shown_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        if SHOWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            out.push_str(&format!(" {name}={value}"));
        }
    }
    out
}

impl Intercept for Wire {
    fn name(&self) -> &'static str {
        "e2e-wire-log"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let line = format!("{} {}", req.method(), req.uri());
        eprintln!("> {line}{}", shown_headers(req.headers().iter()));
        self.lock().push(Exchange {
            request: line,
            status: None,
        });
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let resp = context.response();
        let status = resp.status().as_u16();
        eprintln!("< {status}{}", shown_headers(resp.headers().iter()));
        if let Some(last) = self.lock().last_mut() {
            last.status = Some(status);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Checks and digests

/// An SDK result with the operation's name and the SDK's whole error chain on failure.
trait SdkResultExt<T> {
    fn op(self, name: &str) -> Result<T>;
}

impl<T, E: std::error::Error + 'static> SdkResultExt<T> for Result<T, E> {
    fn op(self, name: &str) -> Result<T> {
        self.map_err(|e| anyhow!("{name} failed: {}", DisplayErrorContext(&e)))
    }
}

fn check_eq<T: PartialEq + Debug>(what: &str, got: T, want: T) -> Result<()> {
    ensure!(got == want, "{what}: got {got:?}, want {want:?}");
    Ok(())
}

fn ok(what: impl AsRef<str>) {
    println!("ok: {}", what.as_ref());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn md5_bytes(data: &[u8]) -> Vec<u8> {
    Md5::digest(data).to_vec()
}

/// The ETag S3 gives a single-part object: its MD5 in hex, quoted.
fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", hex(&md5_bytes(data)))
}

fn crc32_bytes(data: &[u8]) -> [u8; 4] {
    crc32fast::hash(data).to_be_bytes()
}

/// `x-amz-checksum-crc32` of a body: the big-endian CRC32, base64.
fn crc32_b64(data: &[u8]) -> String {
    aws_smithy_types::base64::encode(crc32_bytes(data))
}

/// The ETag of a multipart object: MD5 of the parts' binary MD5s, then `-N`.
fn multipart_etag(parts: &[Bytes]) -> String {
    let all: Vec<u8> = parts.iter().flat_map(|p| md5_bytes(p)).collect();
    format!("\"{}-{}\"", hex(&md5_bytes(&all)), parts.len())
}

/// The composite CRC32 of a multipart object: CRC32 of the parts' binary CRC32s, base64, `-N`.
fn composite_crc32(parts: &[Bytes]) -> String {
    let all: Vec<u8> = parts.iter().flat_map(|p| crc32_bytes(p)).collect();
    format!("{}-{}", crc32_b64(&all), parts.len())
}

/// `size` pseudo-random bytes (splitmix64, seeded from the clock): incompressible, new per run.
fn random_bytes(size: usize) -> Bytes {
    let mut state = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(size);
    Bytes::from(out)
}

/// Reads a GetObject body to its end (the SDK checks its checksum there), returning its size and
/// SHA-256 without holding it whole.
async fn drain(what: &str, mut body: ByteStream) -> Result<(usize, String)> {
    let mut h = Sha256::new();
    let mut n = 0;
    while let Some(chunk) = body.try_next().await.op(what)? {
        n += chunk.len();
        h.update(&chunk);
    }
    Ok((n, hex(&h.finalize())))
}

/// The S3 error code and HTTP status of a failed call, for the checks that expect one.
fn error_of<E, R>(e: &SdkError<E, R>) -> (Option<String>, Option<u16>)
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    let code = e.as_service_error().and_then(|s| s.code()).map(str::to_string);
    (code, e.raw_response().map(HttpStatus::status_u16))
}

trait HttpStatus {
    fn status_u16(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

// ------------------------------------------------------------------------------------------
// The run

struct Run {
    s3: Client,
    wire: Wire,
    bucket: String,
    prefix: String,
}

fn main() {
    let started = Instant::now();
    let result = parse_args().and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?
            .block_on(run(args))
    });
    match result {
        Ok(()) => println!("all checks passed in {:.1} s", started.elapsed().as_secs_f64()),
        Err(e) => {
            eprintln!("FAILED: {e:#}");
            std::process::exit(1);
        }
    }
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
    let parts: Vec<Bytes> = (0..data.len())
        .step_by(PART_SIZE)
        .map(|start| data.slice(start..(start + PART_SIZE).min(data.len())))
        .collect();
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

impl Run {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// 1. PutObject and GetObject of a small object. Returns its key and bytes.
    async fn small_round_trip(&self) -> Result<(String, Bytes)> {
        let key = self.key("small.txt");
        let body = Bytes::from(format!("hello from aws-sdk-s3 for Rust, {}\n", self.prefix).repeat(31));
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/plain")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .op("PutObject (small)")?;
        self.wire.expect("PutObject (small)", 200)?;
        check_eq("PutObject ETag", put.e_tag(), Some(quoted_md5(&body).as_str()))?;
        check_eq(
            "PutObject x-amz-checksum-crc32 (the SDK's default checksum)",
            put.checksum_crc32(),
            Some(crc32_b64(&body).as_str()),
        )?;
        ok(format!(
            "PutObject {key}: {} bytes, ETag {}, CRC32 {}",
            body.len(),
            quoted_md5(&body),
            crc32_b64(&body)
        ));

        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .op("GetObject (small)")?;
        check_eq(
            "GetObject Content-Length",
            got.content_length(),
            Some(body.len() as i64),
        )?;
        check_eq("GetObject ETag", got.e_tag(), Some(quoted_md5(&body).as_str()))?;
        check_eq("GetObject Content-Type", got.content_type(), Some("text/plain"))?;
        check_eq(
            "GetObject x-amz-checksum-crc32",
            got.checksum_crc32(),
            Some(crc32_b64(&body).as_str()),
        )?;
        // S3 documents FULL_OBJECT as the type of every PutObject checksum.
        let kind = got.checksum_type();
        ensure!(
            matches!(kind, Some(ChecksumType::FullObject)),
            "GetObject x-amz-checksum-type: got {kind:?}, want FULL_OBJECT"
        );
        let bytes = got.body.collect().await.op("GetObject (small) body")?.into_bytes();
        self.wire.expect("GetObject (small)", 200)?;
        ensure!(
            bytes == body,
            "GetObject (small): {} bytes came back, not the {} put",
            bytes.len(),
            body.len()
        );
        ok(format!(
            "GetObject {key}: the same {} bytes, ETag and CRC32",
            bytes.len()
        ));
        Ok((key, body))
    }

    /// 2. CreateMultipartUpload, UploadPart per part, CompleteMultipartUpload.
    async fn multipart_upload(&self, key: &str, parts: &[Bytes]) -> Result<()> {
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .op("CreateMultipartUpload")?;
        self.wire.expect("CreateMultipartUpload", 200)?;
        let upload_id = created
            .upload_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| anyhow!("CreateMultipartUpload: no UploadId in {created:?}"))?;
        check_eq("CreateMultipartUpload Key", created.key(), Some(key))?;
        check_eq(
            "CreateMultipartUpload x-amz-checksum-algorithm",
            created.checksum_algorithm(),
            Some(&ChecksumAlgorithm::Crc32),
        )?;
        ok(format!("CreateMultipartUpload {key}: UploadId {upload_id}"));

        let mut completed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let op = format!("UploadPart {n}");
            // No checksum argument: the SDK adds its default (CRC32) by itself.
            let up = self
                .s3
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(n)
                .body(ByteStream::from(part.clone()))
                .send()
                .await
                .op(&op)?;
            self.wire.expect(&op, 200)?;
            check_eq(&format!("{op} ETag"), up.e_tag(), Some(quoted_md5(part).as_str()))?;
            check_eq(
                &format!("{op} x-amz-checksum-crc32"),
                up.checksum_crc32(),
                Some(crc32_b64(part).as_str()),
            )?;
            ok(format!(
                "{op}: {} bytes, ETag {}, CRC32 {}",
                part.len(),
                quoted_md5(part),
                crc32_b64(part)
            ));
            completed.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(up.e_tag().map(str::to_string))
                    .set_checksum_crc32(up.checksum_crc32().map(str::to_string))
                    .build(),
            );
        }

        let done = self
            .s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
            .send()
            .await
            .op("CompleteMultipartUpload")?;
        self.wire.expect("CompleteMultipartUpload", 200)?;
        let etag = multipart_etag(parts);
        check_eq("CompleteMultipartUpload ETag", done.e_tag(), Some(etag.as_str()))?;
        ensure!(
            etag.ends_with(&format!("-{}\"", parts.len())),
            "multipart ETag {etag} has no -N"
        );
        check_eq("CompleteMultipartUpload Key", done.key(), Some(key))?;
        check_eq(
            "CompleteMultipartUpload Bucket",
            done.bucket(),
            Some(self.bucket.as_str()),
        )?;
        check_eq(
            "CompleteMultipartUpload ChecksumCRC32",
            done.checksum_crc32(),
            Some(composite_crc32(parts).as_str()),
        )?;
        ok(format!(
            "CompleteMultipartUpload {key}: {} parts, ETag {etag}, CRC32 {}",
            parts.len(),
            composite_crc32(parts)
        ));
        Ok(())
    }

    /// 3 and 4. HeadObject with checksum mode, whole GetObject, partNumber=1, a range.
    async fn downloads(&self, key: &str, data: &Bytes, parts: &[Bytes]) -> Result<()> {
        let size = data.len() as i64;
        let etag = multipart_etag(parts);
        let composite = composite_crc32(parts);

        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .op("HeadObject")?;
        self.wire.expect("HeadObject", 200)?;
        check_eq("HeadObject Content-Length", head.content_length(), Some(size))?;
        check_eq("HeadObject ETag", head.e_tag(), Some(etag.as_str()))?;
        check_eq(
            "HeadObject x-amz-checksum-crc32 (checksum mode)",
            head.checksum_crc32(),
            Some(composite.as_str()),
        )?;
        check_eq(
            "HeadObject x-amz-checksum-type",
            head.checksum_type(),
            Some(&ChecksumType::Composite),
        )?;
        ok(format!(
            "HeadObject {key} (checksum mode): {size} bytes, ETag {etag}, CRC32 {composite} COMPOSITE"
        ));

        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .op("GetObject")?;
        check_eq("GetObject Content-Length", got.content_length(), Some(size))?;
        check_eq("GetObject ETag", got.e_tag(), Some(etag.as_str()))?;
        check_eq("GetObject Content-Range", got.content_range(), None)?;
        check_eq(
            "GetObject x-amz-checksum-crc32",
            got.checksum_crc32(),
            Some(composite.as_str()),
        )?;
        let (n, sha) = drain("GetObject body", got.body).await?;
        self.wire.expect("GetObject", 200)?;
        check_eq("GetObject body size", n, data.len())?;
        check_eq("GetObject body SHA-256", sha.as_str(), sha256_hex(data).as_str())?;
        ok(format!("GetObject {key}: {n} bytes streamed, SHA-256 {sha}"));

        let first = &parts[0];
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .part_number(1)
            .send()
            .await
            .op("GetObject partNumber=1")?;
        check_eq(
            "GetObject partNumber=1 Content-Length",
            got.content_length(),
            Some(first.len() as i64),
        )?;
        check_eq(
            "GetObject partNumber=1 x-amz-mp-parts-count",
            got.parts_count(),
            Some(parts.len() as i32),
        )?;
        let range = format!("bytes 0-{}/{size}", first.len() - 1);
        check_eq(
            "GetObject partNumber=1 Content-Range",
            got.content_range(),
            Some(range.as_str()),
        )?;
        check_eq("GetObject partNumber=1 ETag", got.e_tag(), Some(etag.as_str()))?;
        check_eq(
            "GetObject partNumber=1 x-amz-checksum-crc32 (the part's)",
            got.checksum_crc32(),
            Some(crc32_b64(first).as_str()),
        )?;
        let (n, sha) = drain("GetObject partNumber=1 body", got.body).await?;
        self.wire.expect("GetObject partNumber=1", 206)?;
        check_eq("GetObject partNumber=1 body size", n, first.len())?;
        check_eq(
            "GetObject partNumber=1 body SHA-256",
            sha.as_str(),
            sha256_hex(first).as_str(),
        )?;
        ok(format!(
            "GetObject {key} partNumber=1: 206, {range}, {} parts, part CRC32 {}",
            parts.len(),
            crc32_b64(first)
        ));

        // 3000 bytes across the boundary of parts 1 and 2.
        let (start, end) = (PART_SIZE - 1000, PART_SIZE + 1999);
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .op("GetObject range")?;
        let range = format!("bytes {start}-{end}/{size}");
        check_eq(
            "GetObject range Content-Range",
            got.content_range(),
            Some(range.as_str()),
        )?;
        check_eq(
            "GetObject range Content-Length",
            got.content_length(),
            Some((end - start + 1) as i64),
        )?;
        check_eq("GetObject range ETag", got.e_tag(), Some(etag.as_str()))?;
        check_eq(
            "GetObject range x-amz-checksum-crc32 (none for a range, as S3)",
            got.checksum_crc32(),
            None,
        )?;
        let bytes = got.body.collect().await.op("GetObject range body")?.into_bytes();
        self.wire.expect("GetObject range", 206)?;
        ensure!(
            bytes == data.slice(start..=end),
            "GetObject range: {} bytes, not bytes {start}-{end} of the object",
            bytes.len()
        );
        ok(format!(
            "GetObject {key} Range bytes={start}-{end}: 206, {range}, the right {} bytes",
            bytes.len()
        ));
        Ok(())
    }

    /// 5. ListObjectsV2 on the prefix: exactly `want` (key, size, ETag).
    async fn list(&self, want: &[(&str, usize, String)]) -> Result<()> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .op("ListObjectsV2")?;
        self.wire.expect("ListObjectsV2", 200)?;
        let got: Vec<(String, i64, String)> = out
            .contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap_or("").to_string(),
                    o.size().unwrap_or(-1),
                    o.e_tag().unwrap_or("").to_string(),
                )
            })
            .collect();
        let mut want: Vec<(String, i64, String)> = want
            .iter()
            .map(|(k, s, e)| (k.to_string(), *s as i64, e.clone()))
            .collect();
        want.sort();
        check_eq("ListObjectsV2 (key, size, ETag)", &got, &want)?;
        check_eq("ListObjectsV2 KeyCount", out.key_count(), Some(want.len() as i32))?;
        check_eq("ListObjectsV2 IsTruncated", out.is_truncated(), Some(false))?;
        ok(format!("ListObjectsV2 prefix {}: {got:?}", self.prefix));
        Ok(())
    }

    /// 6. A second upload: listed, aborted, no longer listed, its parts gone.
    async fn aborted_upload(&self) -> Result<()> {
        let key = self.key("aborted.bin");
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .op("CreateMultipartUpload (to abort)")?;
        self.wire.expect("CreateMultipartUpload (to abort)", 200)?;
        let upload_id = created
            .upload_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| anyhow!("CreateMultipartUpload (to abort): no UploadId in {created:?}"))?;
        let part = random_bytes(MIB + 3);
        let up = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .part_number(1)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .op("UploadPart (to abort)")?;
        self.wire.expect("UploadPart (to abort)", 200)?;
        check_eq(
            "UploadPart (to abort) ETag",
            up.e_tag(),
            Some(quoted_md5(&part).as_str()),
        )?;

        let listed = self
            .s3
            .list_parts()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .send()
            .await
            .op("ListParts")?;
        self.wire.expect("ListParts", 200)?;
        let got: Vec<(Option<i32>, Option<i64>, Option<&str>)> = listed
            .parts()
            .iter()
            .map(|p| (p.part_number(), p.size(), p.e_tag()))
            .collect();
        check_eq(
            "ListParts",
            got,
            vec![(Some(1), Some(part.len() as i64), Some(quoted_md5(&part).as_str()))],
        )?;

        let uploads = self.list_uploads().await?;
        ensure!(
            uploads.contains(&(key.clone(), upload_id.to_string())),
            "ListMultipartUploads before the abort: {key} {upload_id} not in {uploads:?}"
        );
        ok(format!(
            "upload {upload_id} of {key}: ListParts shows its part, ListMultipartUploads lists it"
        ));

        self.s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .send()
            .await
            .op("AbortMultipartUpload")?;
        self.wire.expect("AbortMultipartUpload", 204)?;
        let uploads = self.list_uploads().await?;
        ensure!(
            uploads.iter().all(|(_, id)| id != upload_id),
            "ListMultipartUploads after the abort still lists {upload_id}: {uploads:?}"
        );
        match self
            .s3
            .list_parts()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(out) => bail!("ListParts after the abort: want NoSuchUpload, got {out:?}"),
            Err(e) => check_eq(
                "ListParts after the abort",
                error_of(&e),
                (Some("NoSuchUpload".to_string()), Some(404)),
            )?,
        }
        self.wire.lock().clear();
        ok(format!(
            "AbortMultipartUpload {upload_id}: 204, no longer listed, ListParts 404 NoSuchUpload"
        ));
        Ok(())
    }

    /// The (key, upload id) of every upload in progress under the prefix.
    async fn list_uploads(&self) -> Result<Vec<(String, String)>> {
        let out = self
            .s3
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .send()
            .await
            .op("ListMultipartUploads")?;
        self.wire.expect("ListMultipartUploads", 200)?;
        check_eq("ListMultipartUploads IsTruncated", out.is_truncated(), Some(false))?;
        Ok(out
            .uploads()
            .iter()
            .map(|u| {
                (
                    u.key().unwrap_or("").to_string(),
                    u.upload_id().unwrap_or("").to_string(),
                )
            })
            .collect())
    }

    /// 7. DeleteObject, then HeadObject answers 404.
    async fn delete(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(*key)
                .send()
                .await
                .op("DeleteObject")?;
            self.wire.expect("DeleteObject", 204)?;
            match self.s3.head_object().bucket(&self.bucket).key(*key).send().await {
                Ok(out) => bail!("HeadObject {key} after DeleteObject: want 404, got {out:?}"),
                Err(e) => check_eq(
                    &format!("HeadObject {key} after DeleteObject (status)"),
                    error_of(&e).1,
                    Some(404),
                )?,
            }
            self.wire.lock().clear();
            ok(format!("DeleteObject {key}: 204, then HeadObject 404"));
        }
        Ok(())
    }
}
