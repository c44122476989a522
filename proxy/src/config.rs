//! The configuration: one TOML file with `${ENV}` expansion, checked by `s3-orchestrator validate`.
//! Every key is shown in `configs/example.toml`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::admin_config::{AdminConfig, UiConfig};
use crate::error::ConfigError;
pub use crate::orchestrator::config::{
    CleanupConfig, DrainConfig, HealthConfig, RebalanceConfig, RebalanceStrategy, ReplicationConfig, ReplicationMode,
};
use crate::orchestrator::limits::MonthlyLimits;
pub use crate::store_config::{EngineKind, StoreConfig};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, threads, region and data directory.
    pub server: ServerConfig,
    /// Connection and request limits (all optional).
    #[serde(default)]
    pub limits: Limits,
    /// The real storage behind the proxy.
    #[serde(rename = "backends")]
    pub backends: Vec<BackendConfig>,
    /// Virtual buckets that exist from the start.
    #[serde(default, rename = "buckets")]
    pub buckets: Vec<BucketConfig>,
    /// Where buckets made by CreateBucket live.
    #[serde(default)]
    pub defaults: Option<BucketDefaults>,
    /// Access keys clients sign with.
    #[serde(rename = "credentials", default)]
    pub credentials: Vec<CredentialConfig>,
    /// The admin port (absent: none).
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Credentials of the admin and UI APIs.
    #[serde(default)]
    pub ui: UiConfig,
    /// The metadata engine (absent: sled in `server.data_dir`).
    #[serde(default)]
    pub store: StoreConfig,
    /// Copies per object and how they are written.
    #[serde(default)]
    pub replication: ReplicationConfig,
    /// Circuit breakers and health probes.
    #[serde(default)]
    pub health: HealthConfig,
    /// Rebalancing between backends.
    #[serde(default)]
    pub rebalance: RebalanceConfig,
    /// Draining backends.
    #[serde(default)]
    pub drain: DrainConfig,
    /// The cleanup queue and the orphan sweep.
    #[serde(default)]
    pub cleanup: CleanupConfig,
    /// Applying lifecycle rules.
    #[serde(default)]
    pub lifecycle: crate::orchestrator::config::LifecycleConfig,
    /// The multi-user access layer (absent: off).
    #[serde(default)]
    pub access: Option<crate::access::AccessSection>,
    /// Encryption at rest.
    #[serde(default)]
    pub encryption: crate::seal::config::EncryptionConfig,
    /// Content hashes and the scrubber.
    #[serde(default)]
    pub integrity: crate::integrity::IntegrityConfig,
    /// The in-memory cache of small objects.
    #[serde(default)]
    pub cache: crate::cache::CacheConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// S3 listener, e.g. `127.0.0.1:9000`.
    pub listen: SocketAddr,
    /// Worker threads (one monoio runtime each); 0 or absent = number of cores.
    #[serde(default)]
    pub threads: usize,
    /// The region clients sign for; when set, other regions are refused.
    #[serde(default)]
    pub region: Option<String>,
    /// Directory of the metadata store.
    pub data_dir: PathBuf,
    /// Seconds to wait for requests in flight on shutdown.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// A second S3 listener that speaks HTTPS (beside the plain `listen`), with
    /// `tls_cert_file` and `tls_key_file`.
    #[serde(default)]
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of `tls_listen` (re-read on SIGHUP).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file` (re-read on SIGHUP).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Domains of virtual-hosted-style requests: a Host `<bucket>.<domain>` (any port)
    /// addresses `<bucket>`; every other Host is path-style.
    #[serde(default)]
    pub domains: Vec<String>,
}

fn default_grace() -> u64 {
    30
}

impl ServerConfig {
    /// Checks `tls_listen`, `tls_cert_file`, `tls_key_file` (all three or none) and `domains`
    /// (lowercase host names, no port, no leading or trailing dot); the error names the key.
    pub fn check_tls_and_domains(&self) -> Result<(), String> {
        match (&self.tls_listen, &self.tls_cert_file, &self.tls_key_file) {
            (None, None, None) | (Some(_), Some(_), Some(_)) => {}
            (Some(_), _, _) => return Err("server: tls_listen needs tls_cert_file and tls_key_file".into()),
            (None, _, _) => {
                return Err("server: tls_cert_file and tls_key_file need tls_listen (the HTTPS address)".into())
            }
        }
        if let Some(t) = self.tls_listen {
            if t == self.listen && t.port() != 0 {
                return Err("server: tls_listen must differ from listen".into());
            }
        }
        for d in &self.domains {
            let labels_ok = d.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
            if !labels_ok {
                return Err(format!(
                    "server: domains: '{d}' is not a lowercase host name (no port, scheme or leading/trailing dot)"
                ));
            }
        }
        Ok(())
    }
}

/// `[limits]`: every limit has a default suited to a production S3 endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most open client connections per thread; more are closed at accept. 0 (the default) =
    /// derived at start from the open-file limit (see `server::connections_per_thread`).
    pub max_connections_per_thread: usize,
    /// Most open connections from one client IP address, over all threads; more are answered
    /// 503 SlowDown and closed. 0 = no per-client cap.
    pub max_connections_per_client: usize,
    /// Seconds to receive a whole request head.
    pub head_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept.
    pub idle_timeout_secs: u64,
    /// Seconds without progress while a body is streamed, either way.
    pub body_timeout_secs: u64,
    /// Slowest request body accepted, in bytes per second of waiting for the client, measured
    /// over 5-second windows once the grace period is over; a slower body is answered 400
    /// RequestTimeout and its connection closed (a client dripping a byte every few seconds
    /// would otherwise hold a connection forever, as `body_timeout_secs` resets on any
    /// progress). 0 = no minimum. The default, 16 KiB/s (128 kbit/s), is below any link that
    /// can usefully upload objects, yet makes a held connection cost a dripper real bandwidth.
    pub body_min_bytes_per_sec: u64,
    /// Seconds of waiting for a body before its minimum rate applies: room for TCP slow start,
    /// `Expect: 100-continue` round trips and a client hashing its first chunk.
    pub body_min_rate_grace_secs: u64,
    /// Seconds to connect to a backend.
    pub backend_connect_timeout_secs: u64,
    /// Multipart uploads older than this many seconds are aborted by the reaper (their parts
    /// deleted from the backend); S3 clients that crash mid-upload otherwise leak parts forever.
    pub multipart_expiry_secs: u64,
    /// Largest upload accepted without a stated length (`Transfer-Encoding: chunked` with
    /// neither `Content-Length` nor `x-amz-decoded-content-length`): such a body is read into
    /// memory before it is stored, as backends need the length first. Longer ones get 411.
    pub unsized_body_max_bytes: u64,
    /// Bytes all such bodies may hold in memory at once, over every core; past it, 503 SlowDown.
    pub unsized_body_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections_per_thread: 0,
            max_connections_per_client: 1024,
            head_timeout_secs: 30,
            idle_timeout_secs: 60,
            body_timeout_secs: 60,
            body_min_bytes_per_sec: 16 * 1024,
            body_min_rate_grace_secs: 5,
            backend_connect_timeout_secs: 5,
            multipart_expiry_secs: 7 * 24 * 3600,
            unsized_body_max_bytes: 8 << 20,
            unsized_body_total_bytes: 64 << 20,
        }
    }
}

/// `[[backends]]`: one real storage target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawBackend")]
pub struct BackendConfig {
    /// Unique name, used in bucket lists and metadata.
    pub name: String,
    /// What it is.
    pub kind: BackendKind,
    /// Bytes this backend may hold; absent = unlimited.
    pub quota_bytes: Option<u64>,
    /// Free-form labels (`provider`, `region`, `site`...) that bucket placement policies name.
    pub labels: BTreeMap<String, String>,
    /// Monthly API request, egress and ingress limits.
    pub limits: MonthlyLimits,
}

impl BackendConfig {
    /// A UI-managed S3 endpoint named `id`: reached with these settings, holding none of our
    /// objects (no bucket), with no quota, labels or limits.
    pub fn endpoint(id: &str, endpoint: &str, region: &str, path_style: bool, keys: (&str, &str)) -> BackendConfig {
        BackendConfig {
            name: id.to_owned(),
            kind: BackendKind::S3 {
                endpoint: endpoint.to_owned(),
                region: if region.is_empty() { "us-east-1" } else { region }.to_owned(),
                bucket: String::new(),
                access_key: keys.0.to_owned(),
                secret_key: keys.1.to_owned(),
                path_style,
                etag_from_backend: true,
                checksum_trailer: true,
                ca_file: None,
            },
            quota_bytes: None,
            labels: BTreeMap::new(),
            limits: Default::default(),
        }
    }
}

/// The kind of a backend and its settings.
#[derive(Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// A local directory.
    Fs {
        /// The directory (created if missing).
        path: PathBuf,
    },
    /// An S3-compatible service.
    S3 {
        /// `http://host:port` or `https://host:port`.
        endpoint: String,
        /// The region to sign for.
        region: String,
        /// The real bucket all objects go to.
        bucket: String,
        /// Access key.
        access_key: String,
        /// Secret key.
        secret_key: String,
        /// Path-style addressing (`endpoint/bucket/key`); virtual-host style otherwise.
        path_style: bool,
        /// Use the backend's ETag (the MD5 of the body on S3 and most compatible stores) instead
        /// of hashing every upload a second time; set false for backends whose ETags are not
        /// MD5s (SSE-KMS, SSE-C).
        etag_from_backend: bool,
        /// Send a CRC32C of each single-request upload that carries no checksum header as an
        /// `aws-chunked` trailer, so the backend verifies the bytes it stores; set false for
        /// S3-compatible stores that refuse `aws-chunked` uploads.
        checksum_trailer: bool,
        /// PEM file of extra CA certificates to trust for `https://` (a private CA); the
        /// public web PKI roots are always trusted.
        ca_file: Option<PathBuf>,
    },
}

/// Shows everything but the secret key.
impl std::fmt::Debug for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendKind::Fs { path } => f.debug_struct("Fs").field("path", path).finish(),
            BackendKind::S3 {
                endpoint,
                region,
                bucket,
                access_key,
                path_style,
                ..
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("region", region)
                .field("bucket", bucket)
                .field("access_key", access_key)
                .field("path_style", path_style)
                .finish_non_exhaustive(),
        }
    }
}

/// A `[[backends]]` table as written, every key checked for typos; turned into [`BackendConfig`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    name: String,
    kind: String,
    quota_bytes: Option<u64>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    api_request_limit: Option<u64>,
    egress_byte_limit: Option<u64>,
    ingress_byte_limit: Option<u64>,
    path: Option<PathBuf>,
    endpoint: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    path_style: Option<bool>,
    etag_from_backend: Option<bool>,
    checksum_trailer: Option<bool>,
    ca_file: Option<PathBuf>,
}

impl TryFrom<RawBackend> for BackendConfig {
    type Error = String;

    fn try_from(r: RawBackend) -> Result<Self, String> {
        let need = |v: Option<String>, key: &str| v.ok_or_else(|| format!("backend '{}': `{key}` is required", r.name));
        let kind = match r.kind.as_str() {
            "fs" => {
                if r.endpoint.is_some()
                    || r.bucket.is_some()
                    || r.access_key.is_some()
                    || r.etag_from_backend.is_some()
                    || r.checksum_trailer.is_some()
                {
                    return Err(format!("backend '{}': kind \"fs\" takes only `path`", r.name));
                }
                BackendKind::Fs {
                    path: r
                        .path
                        .ok_or_else(|| format!("backend '{}': `path` is required", r.name))?,
                }
            }
            "s3" => {
                if r.path.is_some() {
                    return Err(format!("backend '{}': kind \"s3\" has no `path`", r.name));
                }
                BackendKind::S3 {
                    endpoint: need(r.endpoint, "endpoint")?,
                    region: r.region.unwrap_or_else(default_region),
                    bucket: need(r.bucket, "bucket")?,
                    access_key: need(r.access_key, "access_key")?,
                    secret_key: need(r.secret_key, "secret_key")?,
                    path_style: r.path_style.unwrap_or(true),
                    etag_from_backend: r.etag_from_backend.unwrap_or(true),
                    checksum_trailer: r.checksum_trailer.unwrap_or(true),
                    ca_file: r.ca_file,
                }
            }
            other => {
                return Err(format!(
                    "backend '{}': unknown kind \"{other}\" (expected \"fs\" or \"s3\")",
                    r.name
                ))
            }
        };
        // 0 means no limit, as in the seed's UsageLimits.
        let limit = |v: Option<u64>| v.filter(|&n| n > 0);
        Ok(BackendConfig {
            name: r.name,
            kind,
            quota_bytes: r.quota_bytes,
            labels: r.labels,
            limits: MonthlyLimits {
                api_requests: limit(r.api_request_limit),
                egress_bytes: limit(r.egress_byte_limit),
                ingress_bytes: limit(r.ingress_byte_limit),
            },
        })
    }
}

fn default_region() -> String {
    "us-east-1".into()
}

/// How a bucket picks a backend for a new object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// The first backend, in the listed order, with room.
    #[default]
    Pack,
    /// The backend with the smallest used fraction of its quota.
    Spread,
}

/// `[[buckets]]`: a virtual bucket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// The bucket name clients use.
    pub name: String,
    /// Backends its objects may go to, in order.
    pub backends: Vec<String>,
    /// Placement strategy.
    #[serde(default)]
    pub placement: Placement,
    /// Copies of each object (absent: `[replication] factor`).
    #[serde(default)]
    pub replication: Option<u32>,
    /// Label keys on which the copies of an object must all differ (one copy per provider).
    #[serde(default)]
    pub distinct: Vec<String>,
    /// Labels every copy's backend must carry.
    #[serde(default)]
    pub require: BTreeMap<String, String>,
    /// Labels at least one copy's backend must carry (the off-site copy of a 3-2-1 setup).
    #[serde(default)]
    pub require_one: BTreeMap<String, String>,
    /// Whether new objects are encrypted at rest (absent: `[encryption] enabled`).
    #[serde(default)]
    pub encrypt: Option<bool>,
}

/// `[defaults]`: backends and placement of buckets created through the S3 API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketDefaults {
    /// Backends, in order.
    pub backends: Vec<String>,
    /// Placement strategy.
    #[serde(default)]
    pub placement: Placement,
    /// Copies of each object (absent: `[replication] factor`).
    #[serde(default)]
    pub replication: Option<u32>,
    /// Label keys on which the copies of an object must all differ (one copy per provider).
    #[serde(default)]
    pub distinct: Vec<String>,
    /// Labels every copy's backend must carry.
    #[serde(default)]
    pub require: BTreeMap<String, String>,
    /// Labels at least one copy's backend must carry (the off-site copy of a 3-2-1 setup).
    #[serde(default)]
    pub require_one: BTreeMap<String, String>,
    /// Whether new objects are encrypted at rest (absent: `[encryption] enabled`).
    #[serde(default)]
    pub encrypt: Option<bool>,
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// GET, HEAD and LIST only.
    ReadOnly,
    /// Everything.
    #[default]
    ReadWrite,
}

/// `[[credentials]]`: an access key clients sign with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Buckets it may use; `["*"]` = all.
    #[serde(default = "all_buckets")]
    pub buckets: Vec<String>,
    /// Read-only or read-write.
    #[serde(default)]
    pub access: Access,
    /// Whether it may create (and delete) buckets, and set their versioning and object lock.
    #[serde(default)]
    pub create_buckets: bool,
    /// Whether it may remove or shorten governance-mode retention, and delete versions under it,
    /// with `x-amz-bypass-governance-retention: true` (compliance retention and legal holds
    /// yield to no one).
    #[serde(default)]
    pub bypass_governance: bool,
    /// A store-managed credential's end (ms since the epoch); never set from the file.
    #[serde(skip)]
    pub expires_ms: Option<u64>,
    /// The account this key acts for (its canonical id in ACLs and listings; keys with one
    /// owner share their buckets): from the file's `owner`, the user behind a store-managed key,
    /// else the access key itself.
    #[serde(default, rename = "owner")]
    pub owner_id: Option<String>,
    /// An unsigned request's identity (an anonymous binding or public ACLs); never from the file.
    #[serde(skip)]
    pub unsigned: bool,
    /// Whether the operator granted the buckets `buckets` names (true for the file's keys, an
    /// admin-minted store key and an anonymous binding): ACLs do not restrict it there.
    #[serde(skip, default = "granted")]
    pub scope_granted: bool,
}

fn granted() -> bool {
    true
}

/// The owner of the buckets declared in the config file: the operator, for whom every key with
/// the bucket in its scope acts (ACLs restrict no such key there).
pub const CONFIG_OWNER: &str = "config";

fn all_buckets() -> Vec<String> {
    vec!["*".into()]
}

impl CredentialConfig {
    /// The canonical id of whoever signs with this key: the owning user of a store-managed key
    /// (so every key of one user owns the same buckets), else the access key itself.
    pub fn owner(&self) -> &str {
        self.owner_id.as_deref().unwrap_or(&self.access_key)
    }

    /// Whether this key may touch `bucket`.
    pub fn may_use(&self, bucket: &str) -> bool {
        self.buckets.iter().any(|b| b == "*" || b == bucket)
    }
}

/// Refuses a replication factor of 0 or above the number of backends a bucket may use.
fn check_factor(what: &str, factor: Option<u32>, backends: usize) -> Result<(), ConfigError> {
    match factor {
        Some(0) => Err(ConfigError::Invalid(format!("{what}: replication must be at least 1"))),
        Some(n) if n as usize > backends => Err(ConfigError::Invalid(format!(
            "{what}: replication {n} needs at least {n} backends, it lists {backends}"
        ))),
        _ => Ok(()),
    }
}

/// Replaces every `${NAME}` with the environment variable `NAME`; a missing variable is an error.
/// Comment lines are left alone.
pub fn expand_env(text: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            expand_line(line, &mut out)?;
        }
    }
    Ok(out)
}

fn expand_line(text: &str, out: &mut String) -> Result<(), ConfigError> {
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ConfigError::Invalid("unterminated ${ in config".into()))?;
        let name = &after[..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigError::Invalid(format!(
                "bad environment variable name '${{{name}}}'"
            )));
        }
        let v = std::env::var(name).map_err(|_| ConfigError::MissingEnv(name.to_string()))?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(())
}

impl Config {
    /// Reads, expands and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        Config::from_text(&text, path.parent().unwrap_or(Path::new("")))
    }

    /// Parses `text` as a config file in directory `base` (relative paths are relative to it).
    pub fn from_text(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Config::parse(text)?;
        let base = base.to_path_buf();
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut cfg.server.data_dir);
        if let Some(p) = &mut cfg.store.ca_file {
            fix(p);
        }
        for b in &mut cfg.backends {
            match &mut b.kind {
                BackendKind::Fs { path } => fix(path),
                BackendKind::S3 { ca_file: Some(p), .. } => fix(p),
                BackendKind::S3 { .. } => {}
            }
        }
        cfg.server
            .tls_cert_file
            .iter_mut()
            .chain(cfg.server.tls_key_file.iter_mut())
            .for_each(fix);
        cfg.encryption
            .key_file
            .iter_mut()
            .chain(
                cfg.encryption
                    .previous_keys
                    .iter_mut()
                    .filter_map(|k| k.key_file.as_mut()),
            )
            .for_each(fix);
        if let Some(a) = &mut cfg.admin {
            a.tls_cert_file
                .iter_mut()
                .chain(a.tls_key_file.iter_mut())
                .for_each(fix);
        }
        Ok(cfg)
    }

    /// Parses and validates config text (after `${ENV}` expansion).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let expanded = expand_env(text)?;
        let cfg: Config = toml::from_str(&expanded).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks cross-references and values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.backends.is_empty() {
            return bad("at least one [[backends]] is required".into());
        }
        let problems = [
            self.store.problem(),
            self.replication.problem(),
            self.health.problem(),
            self.rebalance.problem(),
            self.lifecycle.problem(),
            self.encryption.problem(
                self.buckets.iter().any(|b| b.encrypt == Some(true))
                    || self.defaults.as_ref().is_some_and(|d| d.encrypt == Some(true)),
            ),
            self.integrity.problem(),
            self.cache.problem(),
        ];
        if let Some(problem) = problems.into_iter().flatten().next() {
            return bad(problem);
        }
        let l = &self.limits;
        if l.unsized_body_max_bytes == 0 || l.unsized_body_max_bytes > l.unsized_body_total_bytes {
            // Otherwise a body the total can never hold would be told to retry (503) forever.
            return bad("limits: unsized_body_max_bytes must be above 0 and at most unsized_body_total_bytes".into());
        }
        let mut names = HashSet::new();
        for b in &self.backends {
            if b.name.is_empty() || !names.insert(b.name.as_str()) {
                return bad(format!("backend name '{}' is empty or used twice", b.name));
            }
            if let BackendKind::S3 { endpoint, bucket, .. } = &b.kind {
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                    return bad(format!(
                        "backend '{}': endpoint must start with http:// or https://",
                        b.name
                    ));
                }
                if bucket.is_empty() {
                    return bad(format!("backend '{}': bucket is empty", b.name));
                }
            }
        }
        if let Some(access) = &self.access {
            let id = access
                .backend_id
                .as_deref()
                .unwrap_or(s3o_admin::access::DEFAULT_BACKEND_ID);
            if names.contains(id) {
                return bad(format!(
                    "backend '{id}': the name is the orchestrated store's own in the data API ([access] backend_id); rename the backend or set another backend_id"
                ));
            }
        }
        let check_list = |what: &str, list: &[String]| -> Result<(), ConfigError> {
            if list.is_empty() {
                return Err(ConfigError::Invalid(format!("{what}: backends list is empty")));
            }
            for n in list {
                if !names.contains(n.as_str()) {
                    return Err(ConfigError::Invalid(format!("{what}: unknown backend '{n}'")));
                }
            }
            Ok(())
        };
        let mut buckets = HashSet::new();
        for b in &self.buckets {
            if !crate::endpoint::valid_bucket_name(&b.name) {
                return bad(format!("bucket '{}' is not a valid S3 bucket name", b.name));
            }
            if !buckets.insert(b.name.as_str()) {
                return bad(format!("bucket '{}' is defined twice", b.name));
            }
            check_list(&format!("bucket '{}'", b.name), &b.backends)?;
            check_factor(&format!("bucket '{}'", b.name), b.replication, b.backends.len())?;
        }
        if let Some(d) = &self.defaults {
            check_list("[defaults]", &d.backends)?;
            check_factor("[defaults]", d.replication, d.backends.len())?;
        }
        if self.credentials.is_empty() && self.access.is_none() {
            return bad("at least one [[credentials]] (or the [access] layer's store-managed keys) is required".into());
        }
        let mut keys = HashSet::new();
        for c in &self.credentials {
            if c.access_key.is_empty() || c.secret_key.is_empty() || !keys.insert(c.access_key.as_str()) {
                return bad(format!("credential '{}' is empty or defined twice", c.access_key));
            }
            if c.access_key.contains('/') {
                return bad(format!(
                    "credential '{}': an access key cannot contain '/'",
                    c.access_key
                ));
            }
            if let Some(o) = &c.owner_id {
                if o.trim().is_empty() || o == CONFIG_OWNER || o.len() > 128 {
                    return bad(format!(
                        "credential '{}': owner must be 1 to 128 characters and not '{CONFIG_OWNER}'",
                        c.access_key
                    ));
                }
            }
        }
        self.server.check_tls_and_domains().map_err(ConfigError::Invalid)?;
        if let Some(a) = &self.admin {
            let taken = |addr: Option<SocketAddr>| addr.is_some_and(|l| l == a.listen && l.port() != 0);
            if taken(self.server.tls_listen) {
                return bad("admin: listen must differ from server.tls_listen".into());
            }
            if a.listen == self.server.listen && a.listen.port() != 0 {
                return bad("admin: listen must differ from server.listen".into());
            }
            if a.tls_cert_file.is_some() != a.tls_key_file.is_some() {
                return bad("admin: tls_cert_file and tls_key_file go together".into());
            }
            if a.usage_flush_secs == 0 {
                return bad("admin: usage_flush_secs must be above 0".into());
            }
        }
        Ok(())
    }

    /// The replication factor of a bucket that states `own` (else `[replication] factor`).
    pub fn factor(&self, own: Option<u32>) -> usize {
        own.unwrap_or(self.replication.factor).max(1) as usize
    }

    /// The number of worker threads to run.
    pub fn threads(&self) -> usize {
        if self.server.threads > 0 {
            self.server.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../configs/example.toml");

    #[test]
    fn example_config_parses() {
        std::env::set_var("S3O_TEST_SECRET", "from-env");
        let text = [
            "${REMOTE_SECRET_KEY}",
            "${S3O_ADMIN_SECRET_HASH}",
            "${S3O_ADMIN_TOKEN}",
            "${S3O_ACCESS_KEY}",
            "${S3O_FIRST_ADMIN_PASSWORD}",
            "${S3O_OIDC_CLIENT_SECRET}",
        ]
        .iter()
        .fold(EXAMPLE.to_owned(), |t, var| t.replace(var, "${S3O_TEST_SECRET}"));
        let c = Config::parse(&text).unwrap();
        assert!(c.backends.len() >= 2);
        let access = c.access.as_ref().unwrap();
        assert!(access.settings().is_ok());
        assert!(access.oidc.as_ref().unwrap().settings().is_ok());
        assert!(
            access.seal_key().is_err(),
            "a key that is not 32 bytes is refused with its cause"
        );
        let remote = c.backends.iter().find_map(|b| match &b.kind {
            BackendKind::S3 { secret_key, .. } => Some(secret_key.clone()),
            _ => None,
        });
        assert_eq!(remote.as_deref(), Some("from-env"));
    }

    #[test]
    fn local_config_parses() {
        Config::parse(include_str!("../../configs/local.toml")).unwrap();
    }

    #[test]
    fn env_expansion_errors() {
        assert!(matches!(
            expand_env("a ${S3O_DEFINITELY_UNSET_VAR} b"),
            Err(ConfigError::MissingEnv(_))
        ));
        assert!(expand_env("a ${oops").is_err());
        assert!(expand_env("a ${} b").is_err());
        assert_eq!(expand_env("no vars").unwrap(), "no vars");
        assert_eq!(expand_env("# ${NOT_EXPANDED}\n").unwrap(), "# ${NOT_EXPANDED}\n");
    }

    #[test]
    fn cross_references_are_checked() {
        let base = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "/tmp/x"
[[backends]]
name = "a"
kind = "fs"
path = "/tmp/a"
[[credentials]]
access_key = "k"
secret_key = "s"
"#;
        assert!(Config::parse(base).is_ok());
        let unknown = format!("{base}\n[[buckets]]\nname = \"photos\"\nbackends = [\"nope\"]\n");
        assert!(Config::parse(&unknown).is_err());
        let bad_name = format!("{base}\n[[buckets]]\nname = \"Bad_Name\"\nbackends = [\"a\"]\n");
        assert!(Config::parse(&bad_name).is_err());
        let typo = base.replace("listen", "listne");
        assert!(Config::parse(&typo).is_err());
        let typo = base.replace("path = \"/tmp/a\"", "paht = \"/tmp/a\"");
        assert!(Config::parse(&typo).is_err());
        let dup = format!("{base}\n[[backends]]\nname = \"a\"\nkind = \"fs\"\npath = \"/tmp/b\"\n");
        assert!(Config::parse(&dup).is_err());
    }
}
