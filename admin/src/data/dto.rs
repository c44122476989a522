//! The JSON shapes of the data API, field for field in the seed's order (`Option`s left out
//! when `None`, as the seed omits them).

use serde::Serialize;

/// `ms` (since the epoch) as the seed writes times: RFC 3339 UTC, whole seconds.
pub fn rfc3339(ms: u64) -> String {
    crate::time::Timestamp::from_secs(ms / 1000).to_rfc3339()
}

/// What a backend can do (the seed's `capabilities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Bucket versioning.
    pub versioning: bool,
    /// Object lock.
    pub object_lock: bool,
    /// Lifecycle rules.
    pub lifecycle: bool,
    /// Bucket policies.
    pub bucket_policy: bool,
    /// CORS rules.
    pub cors: bool,
    /// Object tags.
    pub tagging: bool,
    /// Encryption at rest.
    pub server_side_encrypt: bool,
    /// An administration API (none).
    pub admin_api: &'static str,
    /// Most parts of a multipart upload.
    pub max_multipart_parts: u32,
    /// Largest part.
    pub max_part_size_bytes: u64,
}

/// A backend (`GET /api/backends`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Whether its last probe succeeded.
    pub healthy: bool,
    /// When it was last probed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_at: Option<String>,
    /// The last probe's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A forced probe's result (`GET /api/backends/{bid}/health`): nothing omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// Whether it answered.
    pub healthy: bool,
    /// When (RFC 3339).
    pub last_probe_at: String,
    /// Its error (`""` when healthy).
    pub last_error: String,
}

/// A bucket of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Whether its size is tracked.
    pub size_tracked: bool,
    /// Its bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Its objects, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_count: Option<u64>,
    /// When the figures were computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_at: Option<String>,
}

/// An object (listings, HEAD, uploads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Object {
    /// Its key.
    pub key: String,
    /// Its size.
    pub size: u64,
    /// Its ETag, quoted as S3 gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Its storage class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Its version id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// When it was written (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Its user metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
}

/// One page of `GET .../objects`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectPage {
    /// The prefix asked for.
    pub prefix: String,
    /// The delimiter used.
    pub delimiter: String,
    /// Keys rolled up at the delimiter.
    pub common_prefixes: Vec<String>,
    /// Whether more follow.
    pub is_truncated: bool,
    /// Where the next page begins (`""` on the last page).
    pub next_continuation_token: String,
    /// The keys.
    pub objects: Vec<Object>,
}

/// A version of a key (`GET .../object/versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// The key.
    pub key: String,
    /// Its id (`"null"` for the null version).
    pub version_id: String,
    /// Whether it is the key's latest.
    pub is_latest: bool,
    /// Whether it is a delete marker.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_delete_marker: bool,
    /// Its size (0 for a marker).
    pub size: u64,
    /// Its ETag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its storage class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// When it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadInfo {
    /// The key it will write.
    pub key: String,
    /// Its id.
    pub upload_id: String,
    /// When it began (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiated: Option<String>,
}

/// One backend's stored data (the dashboard's `storage.by_backend`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStorage {
    /// The backend.
    pub backend_id: String,
    /// Bytes.
    pub bytes: u64,
    /// Objects.
    pub objects: u64,
    /// Buckets.
    pub buckets: u64,
}

/// One bucket's stored data (the dashboard's `storage.top_buckets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketStorage {
    /// The backend.
    pub backend_id: String,
    /// The bucket.
    pub bucket: String,
    /// Bytes.
    pub bytes: u64,
    /// Objects.
    pub objects: u64,
}

/// One probe of a backend (`GET /api/admin/backends/health`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeEntry {
    /// When (RFC 3339).
    pub at: String,
    /// Whether it answered.
    pub healthy: bool,
    /// How long it took.
    pub latency_ms: u64,
    /// Its error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A backend with its probe history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendHealth {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it takes requests now.
    pub healthy: bool,
    /// Its last probe's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_at: Option<String>,
    /// Its last probe's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Its last probe's latency.
    pub latency_ms: u64,
    /// Its last probes, oldest first.
    pub history: Vec<ProbeEntry>,
}
