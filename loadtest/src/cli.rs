//! The command line: `serve-backend`, `run` and `transfer`, parsed with clap and then validated
//! into the plain configurations the backend and the load generator take ([`BackendConfig`],
//! [`RunConfig`], [`TransferConfig`]), so every rule about the arguments lives here and is
//! tested here.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use thiserror::Error;

use crate::backend::{BackendConfig, Storage};
use crate::client::payload::PayloadMode;
use crate::size::{parse_duration, parse_size, parse_size_range, ParseError, SizeSpec};

/// Largest payload buffer: the largest single PUT, or the largest multipart part.
pub const MAX_BUFFER: u64 = 1 << 30;
/// S3's limit on parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// Most concurrent workers (each holds a connection and a 128 KiB read buffer).
pub const MAX_CONCURRENCY: usize = 10_000;
/// Cap on the default number of prepared objects.
pub const MAX_DEFAULT_OBJECTS: usize = 10_000;
/// Cap on the bytes of the default set of prepared objects.
pub const MAX_DEFAULT_PREPARED_BYTES: u64 = 2 << 30;
/// How long a run lasts when neither `--duration` nor `--ops` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The longest an `--ops` run may take before it stops anyway.
pub const OPS_MODE_TIME_LIMIT: Duration = Duration::from_secs(600);

/// S3 load generator and minimal fast S3 backend for benchmarks.
#[derive(Debug, Parser)]
#[command(name = "s3o-loadtest", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a minimal, fast S3 backend (no signature checks) until killed or --exit-after.
    ServeBackend(BackendArgs),
    /// Run a load against an S3 endpoint and report per-operation throughput and latency.
    Run(Box<RunArgs>),
    /// Move one big object the way the aws cli does (multipart upload with parallel parts,
    /// download by parallel ranged GETs) and report the throughput of each.
    Transfer(Box<TransferArgs>),
}

/// `serve-backend` arguments.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Address to listen on (port 0 picks a free one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// Threads, each with its own runtime and SO_REUSEPORT listener [default: cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep bodies in memory, or drain them and keep only sizes (GETs return zeros).
    #[arg(long, value_enum, default_value_t = Storage::Memory)]
    pub storage: Storage,
    /// Exit by itself after this long (e.g. 60s), for scripts and tests.
    #[arg(long)]
    pub exit_after: Option<String>,
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// GET of prepared objects.
    Get,
    /// PUT of new versions of each worker's own keys.
    Put,
    /// 45% GET, 30% HEAD (prepared objects), 15% PUT, 10% DELETE (own objects).
    Mixed,
    /// ListObjectsV2 pages of up to 1000 prepared objects.
    List,
    /// Multipart uploads: create, parts of --part-size, complete.
    Multipart,
}

/// `run` arguments.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The S3 endpoint, http://HOST:PORT (TLS is not supported).
    #[arg(long)]
    pub endpoint: String,
    /// Access key ID.
    #[arg(long)]
    pub access_key: String,
    /// Secret access key (redacted in the recorded command line).
    #[arg(long)]
    pub secret_key: String,
    /// Region of the signing scope.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Bucket to use.
    #[arg(long)]
    pub bucket: String,
    /// Key prefix of everything the run writes.
    #[arg(long, default_value = "s3o-loadtest/")]
    pub prefix: String,
    /// What to do.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Object size, e.g. 4KiB, 1MiB, 64MiB [default: 4KiB].
    #[arg(long, conflicts_with = "size_range")]
    pub size: Option<String>,
    /// Object sizes spread log-uniformly over MIN-MAX, e.g. 1KiB-1MiB.
    #[arg(long)]
    pub size_range: Option<String>,
    /// Part size of multipart uploads.
    #[arg(long, default_value = "8MiB")]
    pub part_size: String,
    /// Concurrent workers, each with one keep-alive connection.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to measure, after the warm-up (e.g. 10s) [default: 10s unless --ops].
    #[arg(long)]
    pub duration: Option<String>,
    /// How many operations to measure, after the warm-up (with --duration: whichever ends first).
    #[arg(long)]
    pub ops: Option<u64>,
    /// Warm-up whose results are discarded.
    #[arg(long, default_value = "2s")]
    pub warmup: String,
    /// Objects that reads use (and --prepare uploads) [default: concurrency x 4, capped].
    #[arg(long)]
    pub objects: Option<usize>,
    /// Upload the --objects objects before measuring.
    #[arg(long)]
    pub prepare: bool,
    /// Create the bucket first (an existing bucket is fine).
    #[arg(long)]
    pub create_bucket: bool,
    /// How PUT and UploadPart bodies are signed and framed.
    #[arg(long, value_enum, default_value_t = PayloadMode::Unsigned)]
    pub payload: PayloadMode,
    /// Threads, each with its own runtime [default: min(cores, concurrency)].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Longest one operation may take before it counts as a failure (status 0).
    #[arg(long, default_value = "60s")]
    pub op_timeout: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for this run in the report.
    #[arg(long)]
    pub label: Option<String>,
}

/// Which halves of a transfer to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The multipart upload only.
    Upload,
    /// The ranged download only (the object must exist).
    Download,
    /// Upload, then download.
    Both,
}

/// What the parts of a transfer's object contain (streams of `s3o_loadtest::pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataMode {
    /// Every part is the same bytes (stream 0), sent from one buffer: costs the sender nothing.
    Shared,
    /// Part `n` is stream `n`, generated as it is sent: a part stored or read in the wrong
    /// place is caught by `--verify` and by a `--storage pattern` backend.
    Unique,
}

/// `transfer` arguments.
#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// The S3 endpoint, http://HOST:PORT (TLS is not supported).
    #[arg(long)]
    pub endpoint: String,
    /// Access key ID.
    #[arg(long)]
    pub access_key: String,
    /// Secret access key (redacted in the recorded command line).
    #[arg(long)]
    pub secret_key: String,
    /// Region of the signing scope.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Bucket to use.
    #[arg(long)]
    pub bucket: String,
    /// The object's key.
    #[arg(long, default_value = "s3o-loadtest/transfer")]
    pub key: String,
    /// Object size of the upload, e.g. 1GiB, 5GiB.
    #[arg(long, default_value = "1GiB")]
    pub size: String,
    /// Part size of the upload (the aws cli's default multipart_chunksize is 8MiB).
    #[arg(long, default_value = "8MiB")]
    pub part_size: String,
    /// Bytes per ranged GET of the download [default: --part-size, as the aws cli does].
    #[arg(long)]
    pub range_size: Option<String>,
    /// Requests in flight, each on its own keep-alive connection (the aws cli's default
    /// max_concurrent_requests is 10).
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Threads, each with its own runtime [default: min(cores, concurrency)].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Upload, download, or both in turn.
    #[arg(long, value_enum, default_value_t = Phase::Both)]
    pub phase: Phase,
    /// How UploadPart bodies are signed and framed.
    #[arg(long, value_enum, default_value_t = PayloadMode::Unsigned)]
    pub payload: PayloadMode,
    /// What the parts contain.
    #[arg(long, value_enum, default_value_t = DataMode::Shared)]
    pub data: DataMode,
    /// Check every downloaded byte against the generated data (the object must have been
    /// uploaded by `transfer` with the same --part-size and --data).
    #[arg(long)]
    pub verify: bool,
    /// Longest one request may take before the transfer fails.
    #[arg(long, default_value = "300s")]
    pub op_timeout: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for this transfer in the report.
    #[arg(long)]
    pub label: Option<String>,
}

/// A validated `transfer`.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Access key ID.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Signing region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Upload size.
    pub size: u64,
    /// Upload part size.
    pub part_size: u64,
    /// Download range size.
    pub range_size: u64,
    /// Requests in flight.
    pub concurrency: usize,
    /// Threads (at most `concurrency`).
    pub threads: usize,
    /// Which halves.
    pub phase: Phase,
    /// Part signing and framing.
    pub payload: PayloadMode,
    /// Part contents.
    pub data: DataMode,
    /// Check downloaded bytes.
    pub verify: bool,
    /// Per-request timeout.
    pub op_timeout: Duration,
    /// JSON output file.
    pub json: Option<PathBuf>,
    /// Label.
    pub label: Option<String>,
    /// The command line, secret redacted.
    pub command_line: String,
}

/// An argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A size or duration that does not parse.
    #[error("{0}: {1}")]
    Parse(&'static str, ParseError),
    /// Any other bad value, with the reason.
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

fn invalid(arg: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(arg, why.into())
}

/// A validated `run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Access key ID.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Signing region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
    /// Workload.
    pub workload: Workload,
    /// Object sizes.
    pub size: SizeSpec,
    /// Multipart part size.
    pub part_size: u64,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Threads (at most `concurrency`).
    pub threads: usize,
    /// Measuring time limit (after warm-up).
    pub duration: Duration,
    /// Operations to measure, if bounded by count.
    pub ops: Option<u64>,
    /// Warm-up.
    pub warmup: Duration,
    /// Objects reads use.
    pub objects: usize,
    /// Upload them first.
    pub prepare: bool,
    /// Create the bucket first.
    pub create_bucket: bool,
    /// Payload signing and framing.
    pub payload: PayloadMode,
    /// Per-operation timeout.
    pub op_timeout: Duration,
    /// JSON output file.
    pub json: Option<PathBuf>,
    /// Label.
    pub label: Option<String>,
    /// The command line, secret redacted.
    pub command_line: String,
}

impl RunConfig {
    /// Bytes of the shared payload buffer this run needs: the largest object, or for multipart
    /// uploads the largest part (every part is a slice of the same buffer).
    pub fn buffer_len(&self) -> u64 {
        match self.workload {
            Workload::Multipart => self.part_size.min(self.size.max()),
            _ => self.size.max(),
        }
    }
}

/// `args` joined for the report, with the value of `--secret-key` replaced by `***`.
pub fn redacted_command_line(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("***".to_string());
            hide_next = false;
        } else if a == "--secret-key" {
            out.push(a.clone());
            hide_next = true;
        } else if a.starts_with("--secret-key=") {
            out.push("--secret-key=***".into());
        } else {
            out.push(a.clone());
        }
    }
    out.join(" ")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The address and `Host` value of an `http://HOST[:PORT]` endpoint.
fn parse_endpoint(endpoint: &str) -> Result<(SocketAddr, String), ConfigError> {
    if endpoint.starts_with("https://") {
        return Err(invalid("--endpoint", "TLS is not supported; use http://"));
    }
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| invalid("--endpoint", "must be http://HOST:PORT"))?;
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.is_empty() || authority.contains('/') {
        return Err(invalid("--endpoint", "must be http://HOST:PORT without a path"));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| invalid("--endpoint", e.to_string()))?
        .next()
        .ok_or_else(|| invalid("--endpoint", "resolves to no address"))?;
    Ok((addr, authority.to_string()))
}

impl RunArgs {
    /// Checks every argument and resolves the defaults.
    pub fn validate(&self, command_line: String) -> Result<RunConfig, ConfigError> {
        let (addr, authority) = parse_endpoint(&self.endpoint)?;
        for (arg, v) in [
            ("--access-key", &self.access_key),
            ("--secret-key", &self.secret_key),
            ("--region", &self.region),
        ] {
            if v.is_empty() {
                return Err(invalid(arg, "must not be empty"));
            }
        }
        if self.bucket.is_empty() || self.bucket.contains('/') {
            return Err(invalid("--bucket", "must be a bucket name"));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(invalid("--concurrency", format!("must be 1..={MAX_CONCURRENCY}")));
        }
        let threads = self.threads.unwrap_or_else(cores);
        if threads == 0 {
            return Err(invalid("--threads", "must be at least 1"));
        }
        let size = match (&self.size, &self.size_range) {
            (Some(_), Some(_)) => return Err(invalid("--size", "give --size or --size-range, not both")),
            (_, Some(r)) => parse_size_range(r).map_err(|e| ConfigError::Parse("--size-range", e))?,
            (s, None) => SizeSpec::Fixed(
                parse_size(s.as_deref().unwrap_or("4KiB")).map_err(|e| ConfigError::Parse("--size", e))?,
            ),
        };
        let part_size = parse_size(&self.part_size).map_err(|e| ConfigError::Parse("--part-size", e))?;
        if part_size == 0 || part_size > MAX_BUFFER {
            return Err(invalid("--part-size", "must be 1B..=1GiB"));
        }
        if self.workload == Workload::Multipart {
            if size.max().div_ceil(part_size) > MAX_PARTS {
                return Err(invalid(
                    "--part-size",
                    format!("the object would need more than {MAX_PARTS} parts"),
                ));
            }
        } else if size.max() > MAX_BUFFER {
            return Err(invalid(
                "--size",
                "at most 1GiB per PUT; use --workload multipart for bigger objects",
            ));
        }
        if self.prepare && matches!(self.workload, Workload::Put | Workload::Multipart) {
            return Err(invalid("--prepare", "only get, mixed and list read prepared objects"));
        }
        let duration = match &self.duration {
            Some(d) => parse_duration(d).map_err(|e| ConfigError::Parse("--duration", e))?,
            None if self.ops.is_some() => OPS_MODE_TIME_LIMIT,
            None => DEFAULT_DURATION,
        };
        if duration.is_zero() {
            return Err(invalid("--duration", "must be positive"));
        }
        if self.ops == Some(0) {
            return Err(invalid("--ops", "must be at least 1"));
        }
        let warmup = parse_duration(&self.warmup).map_err(|e| ConfigError::Parse("--warmup", e))?;
        let op_timeout = parse_duration(&self.op_timeout).map_err(|e| ConfigError::Parse("--op-timeout", e))?;
        if op_timeout.is_zero() {
            return Err(invalid("--op-timeout", "must be positive"));
        }
        let objects = match self.objects {
            Some(0) => return Err(invalid("--objects", "must be at least 1")),
            Some(n) => n,
            None => {
                let by_bytes = (MAX_DEFAULT_PREPARED_BYTES / size.max().max(1)).max(1) as usize;
                (self.concurrency * 4).min(MAX_DEFAULT_OBJECTS).min(by_bytes).max(1)
            }
        };
        Ok(RunConfig {
            addr,
            host: authority,
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            workload: self.workload,
            size,
            part_size,
            concurrency: self.concurrency,
            threads: threads.min(self.concurrency),
            duration,
            ops: self.ops,
            warmup,
            objects,
            prepare: self.prepare,
            create_bucket: self.create_bucket,
            payload: self.payload,
            op_timeout,
            json: self.json.clone(),
            label: self.label.clone(),
            command_line,
        })
    }
}

impl TransferArgs {
    /// Checks every argument and resolves the defaults.
    pub fn validate(&self, command_line: String) -> Result<TransferConfig, ConfigError> {
        let (addr, host) = parse_endpoint(&self.endpoint)?;
        for (arg, v) in [
            ("--access-key", &self.access_key),
            ("--secret-key", &self.secret_key),
            ("--region", &self.region),
            ("--key", &self.key),
        ] {
            if v.is_empty() {
                return Err(invalid(arg, "must not be empty"));
            }
        }
        if self.bucket.is_empty() || self.bucket.contains('/') {
            return Err(invalid("--bucket", "must be a bucket name"));
        }
        let size = parse_size(&self.size).map_err(|e| ConfigError::Parse("--size", e))?;
        if size == 0 {
            return Err(invalid("--size", "must be at least 1B"));
        }
        let part_size = parse_size(&self.part_size).map_err(|e| ConfigError::Parse("--part-size", e))?;
        if part_size == 0 || part_size > MAX_BUFFER {
            return Err(invalid("--part-size", "must be 1B..=1GiB"));
        }
        if self.phase != Phase::Download && size.div_ceil(part_size) > MAX_PARTS {
            return Err(invalid(
                "--part-size",
                format!("the object would need more than {MAX_PARTS} parts"),
            ));
        }
        let range_size = match &self.range_size {
            Some(r) => parse_size(r).map_err(|e| ConfigError::Parse("--range-size", e))?,
            None => part_size,
        };
        if range_size == 0 {
            return Err(invalid("--range-size", "must be at least 1B"));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(invalid("--concurrency", format!("must be 1..={MAX_CONCURRENCY}")));
        }
        let threads = self.threads.unwrap_or_else(cores);
        if threads == 0 {
            return Err(invalid("--threads", "must be at least 1"));
        }
        if self.verify && self.phase == Phase::Upload {
            return Err(invalid("--verify", "checks downloads; use --phase download or both"));
        }
        let op_timeout = parse_duration(&self.op_timeout).map_err(|e| ConfigError::Parse("--op-timeout", e))?;
        if op_timeout.is_zero() {
            return Err(invalid("--op-timeout", "must be positive"));
        }
        Ok(TransferConfig {
            addr,
            host,
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            size,
            part_size,
            range_size,
            concurrency: self.concurrency,
            threads: threads.min(self.concurrency),
            phase: self.phase,
            payload: self.payload,
            data: self.data,
            verify: self.verify,
            op_timeout,
            json: self.json.clone(),
            label: self.label.clone(),
            command_line,
        })
    }
}

impl BackendArgs {
    /// Checks the arguments; returns the configuration and the `--exit-after` limit.
    pub fn validate(&self) -> Result<(BackendConfig, Option<Duration>), ConfigError> {
        let listen = self
            .listen
            .to_socket_addrs()
            .map_err(|e| invalid("--listen", e.to_string()))?
            .next()
            .ok_or_else(|| invalid("--listen", "resolves to no address"))?;
        let threads = self.threads.unwrap_or_else(cores);
        if threads == 0 || threads > 1024 {
            return Err(invalid("--threads", "must be 1..=1024"));
        }
        let exit_after = match &self.exit_after {
            Some(d) => Some(parse_duration(d).map_err(|e| ConfigError::Parse("--exit-after", e))?),
            None => None,
        };
        let cfg = BackendConfig {
            listen,
            threads,
            storage: self.storage,
        };
        Ok((cfg, exit_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s3o-loadtest <subcommand>` with an endpoint, keys and bucket, then `extra`, parsed.
    fn command(subcommand: &str, extra: &[&str]) -> Result<Command, ConfigError> {
        let mut argv = vec![
            "s3o-loadtest",
            subcommand,
            "--endpoint",
            "http://127.0.0.1:9000",
            "--access-key",
            "AK",
            "--secret-key",
            "SK",
            "--bucket",
            "b",
        ];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(&argv).map_err(|e| invalid("clap", e.to_string()))?;
        Ok(cli.command)
    }

    fn parse(extra: &[&str]) -> Result<RunConfig, ConfigError> {
        match command("run", extra)? {
            Command::Run(r) => r.validate(String::new()),
            _ => Err(invalid("test", "wrong subcommand")),
        }
    }

    #[test]
    fn defaults() {
        let c = parse(&["--workload", "get", "--concurrency", "3", "--threads", "8"]).unwrap();
        assert_eq!(c.size, SizeSpec::Fixed(4096));
        assert_eq!((c.threads, c.objects), (3, 12), "threads capped by concurrency");
        assert_eq!(
            (c.duration, c.ops, c.warmup),
            (DEFAULT_DURATION, None, Duration::from_secs(2))
        );
        assert_eq!(c.host, "127.0.0.1:9000");
        assert_eq!(c.addr, "127.0.0.1:9000".parse().unwrap());
        let c = parse(&[
            "--workload",
            "put",
            "--ops",
            "100",
            "--size",
            "64MiB",
            "--concurrency",
            "100",
        ])
        .unwrap();
        assert_eq!((c.ops, c.duration), (Some(100), OPS_MODE_TIME_LIMIT));
        assert_eq!(c.objects, 32, "default objects are capped by bytes");
        let c = parse(&["--workload", "multipart", "--size", "100MiB", "--part-size", "16MiB"]).unwrap();
        assert_eq!((c.part_size, c.buffer_len()), (16 << 20, 16 << 20));
    }

    #[test]
    fn rejects_bad_arguments() {
        let bad: &[&[&str]] = &[
            &["--workload", "get", "--size", "4KiB", "--size-range", "1KiB-2KiB"],
            &["--workload", "get", "--size", "4XB"],
            &["--workload", "get", "--size-range", "2MiB-1MiB"],
            &["--workload", "get", "--size", "2GiB"],
            &["--workload", "multipart", "--size", "100GiB", "--part-size", "5MiB"],
            &["--workload", "multipart", "--part-size", "0"],
            &["--workload", "get", "--concurrency", "0"],
            &["--workload", "get", "--threads", "0"],
            &["--workload", "get", "--ops", "0"],
            &["--workload", "get", "--duration", "0s"],
            &["--workload", "get", "--duration", "soon"],
            &["--workload", "get", "--objects", "0"],
            &["--workload", "get", "--op-timeout", "0s"],
            &["--workload", "dance"],
            &["--workload", "get", "--payload", "signed-ish"],
        ];
        for args in bad {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let endpoint = |e: &str| {
            let args = RunArgs {
                endpoint: e.into(),
                ..base_args()
            };
            args.validate(String::new())
        };
        let prepare_put = RunArgs {
            prepare: true,
            workload: Workload::Put,
            ..base_args()
        };
        assert!(prepare_put.validate(String::new()).is_err());
        assert!(endpoint("https://127.0.0.1:1").is_err());
        assert!(endpoint("127.0.0.1:1").is_err());
        assert!(endpoint("http://127.0.0.1:1/path").is_err());
        assert!(endpoint("http://127.0.0.1:1/").is_ok());
        assert_eq!(endpoint("http://127.0.0.1").map(|c| c.addr.port()), Ok(80));
    }

    fn base_args() -> RunArgs {
        RunArgs {
            endpoint: "http://127.0.0.1:1".into(),
            access_key: "AK".into(),
            secret_key: "SK".into(),
            region: "us-east-1".into(),
            bucket: "b".into(),
            prefix: "p/".into(),
            workload: Workload::Get,
            size: None,
            size_range: None,
            part_size: "8MiB".into(),
            concurrency: 1,
            duration: None,
            ops: None,
            warmup: "0s".into(),
            objects: None,
            prepare: false,
            create_bucket: false,
            payload: PayloadMode::Unsigned,
            threads: None,
            op_timeout: "1s".into(),
            json: None,
            label: None,
        }
    }

    #[test]
    fn payload_names_and_redaction() {
        let c = parse(&["--workload", "put", "--payload", "chunked-crc32c"]).unwrap();
        assert_eq!(c.payload, PayloadMode::ChunkedCrc32c);
        let args: Vec<String> = ["x", "--secret-key", "S", "--secret-key=T", "--bucket", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            redacted_command_line(&args),
            "x --secret-key *** --secret-key=*** --bucket b"
        );
    }

    fn transfer(extra: &[&str]) -> Result<TransferConfig, ConfigError> {
        match command("transfer", extra)? {
            Command::Transfer(t) => t.validate(String::new()),
            _ => Err(invalid("test", "wrong subcommand")),
        }
    }

    #[test]
    fn transfer_arguments() {
        let c = transfer(&["--threads", "4"]).unwrap();
        assert_eq!((c.size, c.part_size, c.range_size), (1 << 30, 8 << 20, 8 << 20));
        assert_eq!((c.concurrency, c.threads, c.phase), (10, 4, Phase::Both));
        assert_eq!(
            (c.data, c.verify, c.key.as_str()),
            (DataMode::Shared, false, "s3o-loadtest/transfer")
        );
        let c = transfer(&[
            "--size",
            "5GiB",
            "--part-size",
            "16MiB",
            "--range-size",
            "4MiB",
            "--concurrency",
            "2",
        ])
        .unwrap();
        assert_eq!(
            (c.size, c.part_size, c.range_size, c.threads.min(2)),
            (5 << 30, 16 << 20, 4 << 20, c.threads)
        );
        let bad: &[&[&str]] = &[
            &["--size", "0"],
            &["--size", "100GiB", "--part-size", "5MiB"],
            &["--part-size", "2GiB"],
            &["--range-size", "0"],
            &["--concurrency", "0"],
            &["--threads", "0"],
            &["--phase", "upload", "--verify"],
            &["--op-timeout", "0s"],
            &["--key", ""],
            &["--data", "random"],
        ];
        for args in bad {
            assert!(transfer(args).is_err(), "{args:?}");
        }
        assert!(transfer(&["--phase", "download", "--size", "100GiB", "--part-size", "5MiB"]).is_ok());
    }

    #[test]
    fn backend_arguments() {
        let cli = Cli::try_parse_from([
            "s3o-loadtest",
            "serve-backend",
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "blackhole",
            "--threads",
            "2",
            "--exit-after",
            "5s",
        ])
        .unwrap();
        let Command::ServeBackend(b) = cli.command else {
            panic!("wrong subcommand")
        };
        let (cfg, exit) = b.validate().unwrap();
        assert_eq!(
            (cfg.threads, cfg.storage, exit),
            (2, Storage::Blackhole, Some(Duration::from_secs(5)))
        );
        let bad = BackendArgs {
            threads: Some(0),
            ..b.clone()
        };
        assert!(bad.validate().is_err());
        let bad = BackendArgs {
            listen: "nowhere".into(),
            ..b
        };
        assert!(bad.validate().is_err());
    }
}
