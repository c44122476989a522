//! The [`Control`] trait: everything the admin handlers need from the running proxy, and the
//! data types it returns, each shaped (serde names included) exactly as seed 000's JSON. The
//! proxy implements `Control` over its store, backends, workers and counters; tests implement it
//! with fakes. Methods return boxed futures that need not be `Send`: the admin listener runs on
//! one single-threaded runtime. Errors are [`crate::Error`] variants, whose status the handler
//! answers with (`BadRequest` 400, `NotFound` 404, `Conflict` 409, `Unavailable` 503, others 500).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::error::Result;
use crate::keys::{ObjectKey, ObjectPrefix};
use crate::level::LogLevel;
use crate::logbuf::LogBuffer;
use crate::metrics::MetricsWriter;
use crate::time::Timestamp;

/// A boxed, non-`Send` future borrowing from the `Control` for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What the admin port asks of the running proxy. Every method is called on the admin thread.
pub trait Control {
    /// `GET /admin/api/status`: store health, the usage period and one row per backend in
    /// configuration order.
    fn status(&self) -> BoxFuture<'_, Result<Status>>;

    /// The data API of seed 003 over this proxy, if it serves one.
    fn data(&self) -> Option<&dyn crate::data::DataApi> {
        None
    }

    /// `GET /admin/api/workers` and the worker metrics: one health record per registered worker,
    /// or `None` when no worker pool runs (proxy-only mode), answered 503 "no worker pool".
    fn workers(&self) -> BoxFuture<'_, Option<Vec<WorkerHealth>>>;

    /// `GET /admin/api/object-locations`: every stored copy of the current version of `key`.
    /// An unknown key is an empty list (or `Err(NotFound)` for a 404, the implementer's choice).
    fn object_locations<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Vec<ObjectLocation>>>;

    /// `GET /admin/api/cleanup-queue`: the queue's total depth and its first `limit` items (the
    /// handler passes 50 and truncates longer lists).
    fn cleanup_queue(&self, limit: usize) -> BoxFuture<'_, Result<CleanupQueue>>;

    /// `POST /admin/api/usage-flush`: writes the in-memory usage counters to the store now.
    fn flush_usage(&self) -> BoxFuture<'_, Result<()>>;

    /// `GET /admin/api/log-level`: the runtime log level (usually [`crate::LevelControl::current`]).
    fn log_level(&self) -> BoxFuture<'_, LogLevel>;

    /// `PUT /admin/api/log-level`: changes the runtime log level (usually
    /// [`crate::LevelControl::set`]); the handler has already refused anything but the four levels.
    fn set_log_level(&self, level: LogLevel) -> BoxFuture<'_, Result<()>>;

    /// `GET {ui}/api/dashboard`: every dashboard piece but `TopLevelEntries`, which the handler
    /// fills from [`Control::tree`] with an empty prefix.
    fn dashboard(&self) -> BoxFuture<'_, Result<Dashboard>>;

    /// `GET {ui}/api/tree`: one page of the children of `query.prefix` (`""` lists the buckets as
    /// `bucket/` directories), in name order after `query.start_after`, at most `query.max_keys`
    /// (already checked to be 1–200).
    fn tree<'a>(&'a self, query: &'a TreeQuery) -> BoxFuture<'a, Result<TreePage>>;

    /// `GET {ui}/api/logs`: the process's log ring buffer (the one the installed
    /// [`crate::LogLayer`] writes to); the handler filters it.
    fn logs(&self) -> &LogBuffer;

    /// `POST {ui}/api/delete`: deletes the current version of `key` (queues its copies for
    /// cleanup). An unknown bucket is `Err(BadRequest)`; failures are `Err(Internal)` with a
    /// message like "failed to delete object: …".
    fn delete_object<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<()>>;

    /// `POST {ui}/api/delete-prefix`: deletes every object under `prefix`, counting successes and
    /// failures (any failure is answered 500 with the seed's partial-failure shape).
    fn delete_prefix<'a>(&'a self, prefix: &'a ObjectPrefix) -> BoxFuture<'a, Result<DeleteOutcome>>;

    /// `POST {ui}/api/sync`: imports the objects already in `backend`'s store for virtual bucket
    /// `bucket` into the metadata store. Both are non-empty; an unknown backend or bucket is
    /// `Err(BadRequest)`.
    fn sync<'a>(
        &'a self,
        backend: &'a str,
        bucket: &'a str,
        prefix: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<SyncOutcome>>;

    /// `GET /health/ready`: whether the store takes writes and which backends answer. Keep it
    /// cheap (cached probe results), since load balancers poll it.
    fn readiness(&self) -> BoxFuture<'_, Readiness>;

    /// `GET /metrics`: writes the proxy's own families (requests, bytes, latencies…) into `out`;
    /// the handler then appends the worker families from [`Control::workers`].
    fn write_metrics<'a>(&'a self, out: &'a mut MetricsWriter) -> BoxFuture<'a, ()>;

    /// The orchestration endpoints (replication, over-replication, drain, backend removal,
    /// rebalance, clean-excess): the status and JSON body of the answer, in the seed's shapes.
    /// Errors are answered `{"error": "..."}` with their status.
    fn orchestrate<'a>(&'a self, op: &'a Orchestration) -> BoxFuture<'a, Result<(u16, serde_json::Value)>> {
        let _ = op;
        Box::pin(async { Err(crate::Error::Unavailable("orchestration is not available".into())) })
    }
}

/// One orchestration request, as routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orchestration {
    /// `POST /admin/api/replicate`.
    Replicate,
    /// `POST /admin/api/scrub`, with an optional batch size.
    Scrub(Option<usize>),
    /// `POST /admin/api/hash-existing`.
    HashExisting,
    /// `POST /admin/api/encrypt-existing`.
    EncryptExisting,
    /// `POST /admin/api/decrypt-existing`.
    DecryptExisting,
    /// `POST /admin/api/rotate-encryption-key`: the id of the master key whose data keys are
    /// wrapped anew.
    RotateKey(String),
    /// `GET /admin/api/over-replication`.
    OverReplication,
    /// `POST /admin/api/over-replication`, with an optional batch size.
    CleanOverReplication(Option<usize>),
    /// `POST /admin/api/backends/{name}/drain`.
    DrainStart(String),
    /// `GET /admin/api/backends/{name}/drain`.
    DrainStatus(String),
    /// `DELETE /admin/api/backends/{name}/drain`.
    DrainCancel(String),
    /// `DELETE /admin/api/backends/{name}`, purging the backend's objects when asked.
    RemoveBackend {
        /// The backend.
        name: String,
        /// Also delete its objects from its storage.
        purge: bool,
    },
    /// `POST {ui}/api/rebalance`.
    Rebalance,
    /// `GET {ui}/api/rebalance/status`.
    RebalanceStatus,
    /// `POST {ui}/api/clean-excess`.
    CleanExcess,
    /// `GET {ui}/api/clean-excess/status`.
    CleanExcessStatus,
}

/// `GET /admin/api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Whether the metadata store answers and takes writes.
    pub db_healthy: bool,
    /// One row per backend, in configuration order.
    pub backends: Vec<BackendStatus>,
    /// The usage period the counters belong to, `YYYY-MM` (see [`Timestamp::year_month`]).
    pub usage_period: String,
}

/// One backend's row in `/admin/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStatus {
    /// Backend name.
    pub name: String,
    /// Bytes stored on it, as the quota counts them.
    pub bytes_used: u64,
    /// Its quota in bytes; 0 means no limit.
    pub bytes_limit: u64,
    /// Bytes waiting in the cleanup queue for it.
    pub orphan_bytes: u64,
    /// Objects stored on it.
    pub object_count: u64,
    /// API requests sent to it this period.
    pub api_requests: u64,
    /// Bytes read from it this period.
    pub egress_bytes: u64,
    /// Bytes written to it this period.
    pub ingress_bytes: u64,
    /// Its monthly API request limit; 0 means no limit.
    pub api_request_limit: u64,
    /// Its monthly egress limit in bytes; 0 means no limit.
    pub egress_byte_limit: u64,
    /// Its monthly ingress limit in bytes; 0 means no limit.
    pub ingress_byte_limit: u64,
    /// Whether its circuit breaker lets requests through.
    pub healthy: bool,
    /// Its circuit breaker: `closed`, `open` or `half-open`.
    pub circuit: String,
    /// Whether it is being drained (no new copies go to it).
    pub draining: bool,
}

/// One background worker's last-tick health (`/admin/api/workers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerHealth {
    /// Registration name, e.g. `cleanup_queue`.
    pub name: String,
    /// Most recent successful tick; omitted before the first success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Timestamp>,
    /// Most recent failed tick; omitted before the first failure, kept after recovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Timestamp>,
    /// The most recent failure's error; cleared on the next success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Back-to-back failed ticks since the last success.
    pub consecutive_failures: u64,
    /// Ticks run in total (metrics only, not in the JSON).
    #[serde(skip)]
    pub ticks: u64,
    /// For a worker that runs on one instance of those sharing the store: its lease. Omitted
    /// for a worker every instance runs.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub lease: Option<WorkerLease>,
}

/// Which instance runs a worker that runs on one instance only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerLease {
    /// The instance holding the worker's lease (its id in the store).
    pub lease_holder: String,
    /// When that lease expires unless its holder renews it.
    pub lease_expires: Timestamp,
    /// Whether this instance holds it (and so runs the worker).
    pub active_here: bool,
}

/// One copy of an object (`/admin/api/object-locations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectLocation {
    /// The key the copy is stored under on the backend (the physical key).
    #[serde(rename = "ObjectKey")]
    pub object_key: String,
    /// The backend holding the copy.
    #[serde(rename = "BackendName")]
    pub backend_name: String,
    /// Its size in bytes.
    #[serde(rename = "SizeBytes")]
    pub size_bytes: u64,
    /// When the copy was written.
    #[serde(rename = "CreatedAt")]
    pub created_at: Timestamp,
}

/// `/admin/api/cleanup-queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanupQueue {
    /// Items in the queue in total.
    pub depth: u64,
    /// The first items (at most 50).
    pub items: Vec<CleanupItem>,
}

/// One pending backend deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanupItem {
    /// Queue item id.
    #[serde(rename = "ID")]
    pub id: u64,
    /// Backend to delete from.
    #[serde(rename = "BackendName")]
    pub backend_name: String,
    /// Physical key to delete.
    #[serde(rename = "ObjectKey")]
    pub object_key: String,
    /// Why it is queued, e.g. `delete_failed`.
    #[serde(rename = "Reason")]
    pub reason: String,
    /// Attempts made so far.
    #[serde(rename = "Attempts")]
    pub attempts: u32,
    /// Bytes it holds on the backend.
    #[serde(rename = "SizeBytes")]
    pub size_bytes: u64,
}

/// The dashboard snapshot (`{ui}/api/dashboard`) without `TopLevelEntries`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// Backend names in configuration order.
    #[serde(rename = "BackendOrder")]
    pub backend_order: Vec<String>,
    /// Quota usage per backend name.
    #[serde(rename = "QuotaStats")]
    pub quota_stats: BTreeMap<String, QuotaStat>,
    /// Objects per backend name.
    #[serde(rename = "ObjectCounts")]
    pub object_counts: BTreeMap<String, u64>,
    /// Multipart uploads in progress per backend name.
    #[serde(rename = "ActiveMultipartCounts")]
    pub active_multipart_counts: BTreeMap<String, u64>,
    /// This period's usage per backend name.
    #[serde(rename = "UsageStats")]
    pub usage_stats: BTreeMap<String, UsageStat>,
    /// Monthly usage limits per backend name.
    #[serde(rename = "UsageLimits")]
    pub usage_limits: BTreeMap<String, UsageLimit>,
    /// The usage period, `YYYY-MM`.
    #[serde(rename = "UsagePeriod")]
    pub usage_period: String,
}

/// One backend's quota usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaStat {
    /// Backend name.
    #[serde(rename = "BackendName")]
    pub backend_name: String,
    /// Bytes stored.
    #[serde(rename = "BytesUsed")]
    pub bytes_used: u64,
    /// Quota in bytes; 0 means no limit.
    #[serde(rename = "BytesLimit")]
    pub bytes_limit: u64,
    /// When the usage last changed.
    #[serde(rename = "UpdatedAt")]
    pub updated_at: Timestamp,
}

/// One backend's usage this period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageStat {
    /// API requests sent.
    #[serde(rename = "APIRequests")]
    pub api_requests: u64,
    /// Bytes read from the backend.
    #[serde(rename = "EgressBytes")]
    pub egress_bytes: u64,
    /// Bytes written to the backend.
    #[serde(rename = "IngressBytes")]
    pub ingress_bytes: u64,
}

/// One backend's monthly limits; 0 means no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageLimit {
    /// API requests per period.
    #[serde(rename = "APIRequestLimit")]
    pub api_request_limit: u64,
    /// Egress bytes per period.
    #[serde(rename = "EgressByteLimit")]
    pub egress_byte_limit: u64,
    /// Ingress bytes per period.
    #[serde(rename = "IngressByteLimit")]
    pub ingress_byte_limit: u64,
}

/// The parameters of one tree page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeQuery {
    /// Directory to list: `""` (buckets) or `bucket/dir/`.
    pub prefix: String,
    /// Return names after this one (the previous page's `nextCursor`); empty from the start.
    pub start_after: String,
    /// Entries per page, 1–200.
    pub max_keys: usize,
}

/// One page of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreePage {
    /// The children, in name order.
    pub entries: Vec<TreeEntry>,
    /// Whether more children follow.
    #[serde(rename = "hasMore")]
    pub has_more: bool,
    /// The cursor for the next page (the last entry's name), `""` when there is none.
    #[serde(rename = "nextCursor")]
    pub next_cursor: String,
}

/// One child in a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    /// Full name from the bucket on; directories end in `/`.
    pub name: String,
    /// Whether it is a directory (a common prefix).
    #[serde(rename = "isDir")]
    pub is_dir: bool,
    /// Bytes: the object's size, or the directory's total.
    pub size: u64,
    /// Objects under a directory; 0 for an object.
    pub count: u64,
}

/// What a prefix delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Objects deleted.
    pub deleted: u64,
    /// Objects whose delete failed.
    pub failed: u64,
}

/// What a sync imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SyncOutcome {
    /// Objects newly recorded in the store.
    pub imported: u64,
    /// Objects already known (or not importable), left alone.
    pub skipped: u64,
}

/// The readiness checks' results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// `Ok` when the metadata store takes writes, else why not.
    pub store: std::result::Result<(), String>,
    /// Each backend's latest probe: `Ok` when reachable, else why not.
    pub backends: Vec<(String, std::result::Result<(), String>)>,
}
