//! End-to-end client: the official AWS SDK for Rust (`aws-sdk-s3`) over TLS to s3-orchestrator's
//! own TLS port, with virtual-hosted-style addressing.
//!
//! Run by `proxy/tests/e2e/test_tls_vhost.py` against a proxy with `tls_listen` and
//! `domains = ["s3.localhost"]`, whose certificate (from a throwaway CA) names `s3.localhost` and
//! `*.s3.localhost`:
//!
//! ```text
//! s3o-e2e-sdk-rust-tls-vhost --endpoint https://s3.localhost:PORT --ca CA.pem --bucket NAME
//!     [--prefix P] [--size BYTES]
//! ```
//!
//! with the credential in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` and the region in
//! `AWS_REGION` (default `us-east-1`). The bucket must not exist yet: this client creates it.
//!
//! The SDK runs at `BehaviorVersion::latest()` defaults, `force_path_style` included (false: the
//! bucket goes into the host name, `https://<bucket>.s3.localhost:PORT/<key>`), with its default
//! checksums, response validation, retries and timeouts. What is set, and only through the SDK's
//! documented hooks:
//!
//! - the endpoint;
//! - the HTTP client: aws-smithy-http-client's own, with rustls on ring, a trust store holding
//!   only the CA of `--ca` (no system roots, so nothing else could vouch for the proxy), and a
//!   custom DNS resolver (`ResolveDns`, given to `build_with_resolver`) that answers 127.0.0.1
//!   for the endpoint's host and its subdomains and refuses every other name. glibc does not
//!   resolve `*.localhost` here and /etc/hosts is left alone: the SDK still connects by name,
//!   sends it as SNI and Host, signs it, and checks the certificate against it.
//!
//! What it checks, each on the values that come back:
//!
//! 1. A client trusting no CA cannot even reach HeadBucket (the TLS handshake fails): the trust
//!    in `--ca` is what makes the others work.
//! 2. CreateBucket (virtual host: `PUT /` on `<bucket>.s3.localhost`), HeadBucket 200.
//! 3. The steps of the plain client (`src/steps.rs`): a small object put and got back (ETag,
//!    CRC32, bytes); a multipart upload with the SDK's default CRC32 on each part (ETags, the
//!    composite CRC32); HeadObject, GetObject whole (SHA-256), by part and by range; then
//!    CopyObject of the small object (ETag, CRC32, the same bytes through GetObject), a listing
//!    of the three keys (sizes, ETags), an upload listed and aborted, DeleteObject of all three
//!    (each followed by a HeadObject 404), DeleteBucket 204 and HeadBucket 404.
//! 4. On the wire: every request the SDK sent was `https://<bucket>.s3.localhost:PORT/...` with
//!    no bucket in the path, and the resolver was asked for `<bucket>.s3.localhost` and nothing
//!    else: the connections themselves went to the bucket's host name.
//!
//! Every HTTP exchange is printed to stderr, each passed check as an `ok:` line to stdout, the
//! wire summary as `vhost-request:` and `resolved:` lines. A failed check, SDK error or retry ends
//! the run with exit code 1 and what failed on stderr.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use bytes::Bytes;
use s3o_e2e_sdk_rust::steps::{split_parts, Run};
use s3o_e2e_sdk_rust::*;

const DEFAULT_SIZE: usize = 13 * MIB + 4_321;

struct Args {
    endpoint: String,
    /// The endpoint's host name (`s3.localhost`) and port.
    domain: String,
    port: u16,
    ca_pem: Vec<u8>,
    bucket: String,
    prefix: String,
    size: usize,
    region: String,
    access_key: String,
    secret_key: String,
}

fn usage() -> String {
    "usage: s3o-e2e-sdk-rust-tls-vhost --endpoint https://HOST:PORT --ca CA.pem --bucket NAME \
     [--prefix P] [--size BYTES]\n\
     (credential in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region in AWS_REGION)"
        .to_string()
}

fn parse_args() -> Result<Args> {
    let (mut endpoint, mut ca, mut bucket, mut prefix) = (None, None, None, None);
    let mut size = DEFAULT_SIZE;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value\n{}", usage()));
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--ca" => ca = Some(value()?),
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
    let required = |v: Option<String>, name: &str| v.ok_or_else(|| anyhow!("{name} is required\n{}", usage()));
    let endpoint = required(endpoint, "--endpoint")?;
    let authority = endpoint
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("--endpoint {endpoint}: want https://HOST:PORT"))?
        .trim_end_matches('/');
    let (domain, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--endpoint {endpoint}: no port"))?;
    let port = port
        .parse()
        .with_context(|| format!("--endpoint {endpoint}: bad port"))?;
    let ca = required(ca, "--ca")?;
    let ca_pem = std::fs::read(&ca).with_context(|| format!("reading --ca {ca}"))?;
    ensure!(size > steps::PART_SIZE, "--size {size}: must be over one part");
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set\n{}", usage()));
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Ok(Args {
        domain: domain.to_string(),
        port,
        endpoint: endpoint.clone(),
        ca_pem,
        bucket: required(bucket, "--bucket")?,
        prefix: prefix.unwrap_or_else(|| format!("tls-vhost/{nanos:x}/")),
        size,
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_string()),
        access_key: env("AWS_ACCESS_KEY_ID")?,
        secret_key: env("AWS_SECRET_ACCESS_KEY")?,
    })
}

// ------------------------------------------------------------------------------------------
// The HTTP client: rustls (ring) trusting the test CA, names resolved by `LocalResolver`.

/// Resolves `domain` and every name under it to 127.0.0.1 (as `curl --resolve` would), refuses
/// every other name, and records each name it was asked for.
#[derive(Debug, Clone)]
struct LocalResolver {
    domain: String,
    asked: Arc<Mutex<Vec<String>>>,
}

impl LocalResolver {
    fn new(domain: &str) -> Self {
        LocalResolver {
            domain: domain.to_ascii_lowercase(),
            asked: Arc::default(),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ResolveDns for LocalResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let lower = name.to_ascii_lowercase();
        eprintln!("resolve {name}");
        self.asked.lock().unwrap_or_else(|p| p.into_inner()).push(lower.clone());
        let ours = lower == self.domain || lower.ends_with(&format!(".{}", self.domain));
        DnsFuture::ready(if ours {
            Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
        } else {
            Err(ResolveDnsError::new(format!(
                "{name}: not {} or a name under it",
                self.domain
            )))
        })
    }
}

/// The SDK's own HTTP client (aws-smithy-http-client), with rustls on ring trusting `trust` only.
fn https_client(trust: TrustStore, resolver: LocalResolver) -> Result<SharedHttpClient> {
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| anyhow!("TLS context: {e}"))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_with_resolver(resolver))
}

fn sdk_client(args: &Args, http: SharedHttpClient, wire: Option<Wire>) -> Client {
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(args.region.clone()))
        .credentials_provider(Credentials::new(&args.access_key, &args.secret_key, None, None, "e2e"))
        .endpoint_url(&args.endpoint)
        .http_client(http);
    if let Some(wire) = wire {
        config = config.interceptor(wire);
    }
    Client::from_conf(config.build())
}

// ------------------------------------------------------------------------------------------
// The run

fn main() {
    s3o_e2e_sdk_rust::main_with(parse_args, run);
}

async fn run(args: Args) -> Result<()> {
    println!(
        "endpoint {} bucket {} prefix {} size {}",
        args.endpoint, args.bucket, args.prefix, args.size
    );
    untrusted_is_refused(&args).await?;

    let resolver = LocalResolver::new(&args.domain);
    let trust = TrustStore::empty().with_pem_certificate(args.ca_pem.clone());
    let wire = Wire::default();
    let r = Run {
        s3: sdk_client(&args, https_client(trust, resolver.clone())?, Some(wire.clone())),
        wire,
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone(),
    };

    create_bucket(&r).await?;
    let small = r.small_round_trip().await?;
    let data = random_bytes(args.size);
    let parts = split_parts(&data);
    let big = r.key("big.bin");
    r.multipart_upload(&big, &parts).await?;
    r.downloads(&big, &data, &parts).await?;
    let copy = r.key("copy.txt");
    copy_object(&r, &small.0, &copy, &small.1).await?;
    r.list(&[
        (small.0.as_str(), small.1.len(), quoted_md5(&small.1)),
        (copy.as_str(), small.1.len(), quoted_md5(&small.1)),
        (big.as_str(), data.len(), multipart_etag(&parts)),
    ])
    .await?;
    r.aborted_upload().await?;
    r.delete(&[small.0.as_str(), copy.as_str(), big.as_str()]).await?;
    delete_bucket(&r).await?;
    virtual_hosts_on_the_wire(&args, &r.wire, &resolver)
}

/// 1. The same client trusting no CA at all: HeadBucket fails before any HTTP exchange.
async fn untrusted_is_refused(args: &Args) -> Result<()> {
    let http = https_client(TrustStore::empty(), LocalResolver::new(&args.domain))?;
    let s3 = sdk_client(args, http, None);
    match s3.head_bucket().bucket(&args.bucket).send().await {
        Ok(out) => bail!("HeadBucket trusting no CA: want a TLS failure, got {out:?}"),
        Err(e @ SdkError::DispatchFailure(_)) => {
            let why = format!("{}", DisplayErrorContext(&e));
            ensure!(
                why.to_ascii_lowercase().contains("certificate"),
                "HeadBucket trusting no CA failed, but not on the certificate: {why}"
            );
            ok("a client trusting no CA: the TLS handshake fails on the certificate");
            Ok(())
        }
        Err(e) => bail!(
            "HeadBucket trusting no CA: want a dispatch (TLS) failure, got {}",
            DisplayErrorContext(&e)
        ),
    }
}

/// 2. CreateBucket and HeadBucket, both on the bucket's own host name.
async fn create_bucket(r: &Run) -> Result<()> {
    r.s3.create_bucket().bucket(&r.bucket).send().await.op("CreateBucket")?;
    r.wire.expect("CreateBucket", 200)?;
    r.s3.head_bucket().bucket(&r.bucket).send().await.op("HeadBucket")?;
    r.wire.expect("HeadBucket", 200)?;
    ok(format!("CreateBucket {}: 200, then HeadBucket 200", r.bucket));
    Ok(())
}

/// 3. CopyObject of the small object, then the copy's bytes through GetObject.
async fn copy_object(r: &Run, src: &str, dst: &str, body: &Bytes) -> Result<()> {
    let out =
        r.s3.copy_object()
            .bucket(&r.bucket)
            .key(dst)
            .copy_source(format!("{}/{src}", r.bucket))
            .send()
            .await
            .op("CopyObject")?;
    r.wire.expect("CopyObject", 200)?;
    let result = out
        .copy_object_result()
        .ok_or_else(|| anyhow!("CopyObject: no CopyObjectResult in {out:?}"))?;
    check_eq("CopyObject ETag", result.e_tag(), Some(quoted_md5(body).as_str()))?;
    check_eq(
        "CopyObject ChecksumCRC32",
        result.checksum_crc32(),
        Some(crc32_b64(body).as_str()),
    )?;
    let got =
        r.s3.get_object()
            .bucket(&r.bucket)
            .key(dst)
            .send()
            .await
            .op("GetObject (copy)")?;
    check_eq("GetObject (copy) ETag", got.e_tag(), Some(quoted_md5(body).as_str()))?;
    let bytes = collect("GetObject (copy) body", got.body).await?;
    r.wire.expect("GetObject (copy)", 200)?;
    ensure!(
        bytes == *body,
        "GetObject (copy): {} bytes, not the source's",
        bytes.len()
    );
    ok(format!(
        "CopyObject {src} -> {dst}: ETag {}, CRC32 {}, the same {} bytes",
        quoted_md5(body),
        crc32_b64(body),
        bytes.len()
    ));
    Ok(())
}

async fn collect(what: &str, body: ByteStream) -> Result<Bytes> {
    Ok(body.collect().await.op(what)?.into_bytes())
}

/// 3 (end). DeleteBucket, then HeadBucket answers 404.
async fn delete_bucket(r: &Run) -> Result<()> {
    r.s3.delete_bucket().bucket(&r.bucket).send().await.op("DeleteBucket")?;
    r.wire.expect("DeleteBucket", 204)?;
    match r.s3.head_bucket().bucket(&r.bucket).send().await {
        Ok(out) => bail!("HeadBucket after DeleteBucket: want 404, got {out:?}"),
        Err(e) => check_eq("HeadBucket after DeleteBucket (status)", error_of(&e).1, Some(404))?,
    }
    r.wire.lock().clear();
    ok(format!("DeleteBucket {}: 204, then HeadBucket 404", r.bucket));
    Ok(())
}

/// Step 4: every request went to `https://<bucket>.<domain>:<port>/` without the bucket in its
/// path, and the only name resolved was the bucket's host.
fn virtual_hosts_on_the_wire(args: &Args, wire: &Wire, resolver: &LocalResolver) -> Result<()> {
    let base = format!("https://{}.{}:{}/", args.bucket, args.domain, args.port);
    let sent = wire.sent();
    ensure!(!sent.is_empty(), "no request was recorded");
    for line in &sent {
        let uri = line
            .split_once(' ')
            .map(|(_, uri)| uri)
            .ok_or_else(|| anyhow!("request line {line:?}: no URI"))?;
        let path = uri
            .strip_prefix(&base)
            .ok_or_else(|| anyhow!("request {line:?} did not go to {base} (not virtual-host style)"))?;
        let first = path.split(['/', '?']).next().unwrap_or("");
        ensure!(
            first != args.bucket,
            "request {line:?} has the bucket in its path (path-style)"
        );
        println!("vhost-request: {line}");
    }
    ok(format!(
        "virtual-host addressing: all {} requests went to {base} with no bucket in the path",
        sent.len()
    ));
    let asked = resolver.asked();
    let host = format!("{}.{}", args.bucket, args.domain);
    for name in &asked {
        println!("resolved: {name}");
    }
    ensure!(
        !asked.is_empty() && asked.iter().all(|n| *n == host),
        "the resolver was asked for {asked:?}, want {host} only"
    );
    ok(format!(
        "the custom resolver was asked for {host} only ({} lookups), answered 127.0.0.1",
        asked.len()
    ));
    Ok(())
}
