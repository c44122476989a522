//! Shared by the two end-to-end clients of the official AWS SDK for Rust against
//! s3-orchestrator (`src/main.rs`, plain HTTP and path-style; `src/bin/tls_vhost.rs`, HTTPS to
//! the proxy's TLS port and virtual-host addressing): the wire log interceptor, the checks and
//! digests, and the S3 steps both run ([`steps`]).

use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Result};
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};

pub mod steps;

pub const MIB: usize = 1024 * 1024;

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

// ------------------------------------------------------------------------------------------
// The wire: every HTTP exchange the SDK makes, printed and kept for the status checks.

#[derive(Debug, Clone)]
pub struct Exchange {
    /// Method and URI (scheme, host, path and query as sent).
    pub request: String,
    pub status: Option<u16>,
}

/// An interceptor that records each attempt's request line and response status: the exchanges
/// since the last [`Wire::expect`], and every request line of the run ([`Wire::sent`]).
#[derive(Debug, Clone, Default)]
pub struct Wire {
    pending: Arc<Mutex<Vec<Exchange>>>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Wire {
    pub fn lock(&self) -> MutexGuard<'_, Vec<Exchange>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every request line (method and URI) sent so far, in order.
    pub fn sent(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Checks that the operation since the last call took exactly one HTTP exchange (no retry)
    /// and that it was answered `status`.
    pub fn expect(&self, op: &str, status: u16) -> Result<()> {
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
        self.sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line.clone());
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
pub trait SdkResultExt<T> {
    fn op(self, name: &str) -> Result<T>;
}

impl<T, E: std::error::Error + 'static> SdkResultExt<T> for Result<T, E> {
    fn op(self, name: &str) -> Result<T> {
        self.map_err(|e| anyhow!("{name} failed: {}", DisplayErrorContext(&e)))
    }
}

pub fn check_eq<T: PartialEq + Debug>(what: &str, got: T, want: T) -> Result<()> {
    ensure!(got == want, "{what}: got {got:?}, want {want:?}");
    Ok(())
}

pub fn ok(what: impl AsRef<str>) {
    println!("ok: {}", what.as_ref());
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn md5_bytes(data: &[u8]) -> Vec<u8> {
    Md5::digest(data).to_vec()
}

/// The ETag S3 gives a single-part object: its MD5 in hex, quoted.
pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", hex(&md5_bytes(data)))
}

pub fn crc32_bytes(data: &[u8]) -> [u8; 4] {
    crc32fast::hash(data).to_be_bytes()
}

/// `x-amz-checksum-crc32` of a body: the big-endian CRC32, base64.
pub fn crc32_b64(data: &[u8]) -> String {
    aws_smithy_types::base64::encode(crc32_bytes(data))
}

/// The ETag of a multipart object: MD5 of the parts' binary MD5s, then `-N`.
pub fn multipart_etag(parts: &[Bytes]) -> String {
    let all: Vec<u8> = parts.iter().flat_map(|p| md5_bytes(p)).collect();
    format!("\"{}-{}\"", hex(&md5_bytes(&all)), parts.len())
}

/// The composite CRC32 of a multipart object: CRC32 of the parts' binary CRC32s, base64, `-N`.
pub fn composite_crc32(parts: &[Bytes]) -> String {
    let all: Vec<u8> = parts.iter().flat_map(|p| crc32_bytes(p)).collect();
    format!("{}-{}", crc32_b64(&all), parts.len())
}

/// `size` pseudo-random bytes (splitmix64, seeded from the clock): incompressible, new per run.
pub fn random_bytes(size: usize) -> Bytes {
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
pub async fn drain(what: &str, mut body: ByteStream) -> Result<(usize, String)> {
    let mut h = Sha256::new();
    let mut n = 0;
    while let Some(chunk) = body.try_next().await.op(what)? {
        n += chunk.len();
        h.update(&chunk);
    }
    Ok((n, hex(&h.finalize())))
}

/// The S3 error code and HTTP status of a failed call, for the checks that expect one.
pub fn error_of<E, R>(e: &SdkError<E, R>) -> (Option<String>, Option<u16>)
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    let code = e.as_service_error().and_then(|s| s.code()).map(str::to_string);
    (code, e.raw_response().map(HttpStatus::status_u16))
}

pub trait HttpStatus {
    fn status_u16(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A client's `main`: parses its arguments, runs it on a current-thread tokio runtime, prints
/// how long the checks took, or the first failure and exits 1.
pub fn main_with<A, F: std::future::Future<Output = Result<()>>>(
    parse_args: impl FnOnce() -> Result<A>,
    run: impl FnOnce(A) -> F,
) {
    let started = std::time::Instant::now();
    let result = parse_args().and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow!("starting the tokio runtime: {e}"))?
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
