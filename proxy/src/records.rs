//! Records: what the metadata store knows of each version, written beside the version's bytes on
//! every backend holding a copy, so a lost index can be rebuilt from the backends alone (design
//! rule 6, [`crate::rebuild`]).
//!
//! A committed version that holds bytes at physical key `P` has the *version record* `P.meta` on
//! each backend with a copy: a small JSON document `{"bucket", "key", "meta", "written_ms"}`
//! whose `meta` is the version's [`ObjectMeta`] without its locations (user metadata, tags,
//! checksums, parts, version and versioned flag, retention, legal hold, wanted copies…). A delete
//! marker has its record at the physical key its version would have, plus `.meta`, on the first
//! backend of its bucket's placement whose circuit breaker lets requests through. Each bucket has
//! a *bucket record* `.s3o/buckets/{bucket}.json` (its owner, creation time, versioning and
//! object lock) on every backend of its placement. Bucket names never start with `.`, so no
//! record key is ever a physical key.
//!
//! Records are rewritten after every commit that changes a version or a bucket's settings; they
//! are plain backend objects written with the backend's ordinary `put`, labelled like data
//! objects. A record that cannot be written never fails the request (the data is committed and
//! safe; only how well the index can be rebuilt degrades): the failure is logged and counted
//! ([`failures`]). The cleanup worker deletes a version's records with its bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tracing::warn;

use s3o_store::{physical_key_for, BucketMeta, BucketSettings, ObjectMeta};

use crate::backend::{BodySource, PhysicalMeta};
use crate::error::ProxyError;
use crate::state::Core;

/// What ends the key of a version record: the physical key of its version, then this.
pub const RECORD_SUFFIX: &str = ".meta";
/// Where bucket records live on a backend (`{BUCKET_RECORDS}{bucket}.json`).
pub const BUCKET_RECORDS: &str = ".s3o/buckets/";
/// The prefix of every key of the proxy's own bookkeeping on a backend.
pub const RESERVED_PREFIX: &str = ".s3o/";
/// Largest record read back: a version's metadata is bounded by S3's limits (2 KB of user
/// metadata, 10 tags, 10,000 part sizes and checksums) far below this.
pub const MAX_RECORD_BYTES: u64 = 4 << 20;

/// Records that could not be written since the process started.
static FAILURES: AtomicU64 = AtomicU64::new(0);

/// How many records could not be written since the process started (each was logged).
pub fn failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

/// The version record stored beside a version's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Logical bucket.
    pub bucket: String,
    /// Logical key.
    pub key: String,
    /// The version as the store holds it, without its locations.
    pub meta: ObjectMeta,
    /// When the record was written (ms since the epoch): of two records of one version that
    /// differ, the later one is the truth.
    #[serde(default)]
    pub written_ms: u64,
}

/// The bucket record: a bucket's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// The bucket name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Access key of its creator.
    pub owner: String,
    /// Its settings.
    #[serde(flatten)]
    pub settings: BucketSettings,
}

impl BucketRecord {
    /// The record of `meta`.
    pub fn of(meta: &BucketMeta) -> Self {
        Self {
            name: meta.name.clone(),
            created_ms: meta.created_ms,
            owner: meta.owner.clone(),
            settings: meta.settings.clone(),
        }
    }

    /// The bucket it describes (counts at zero).
    pub fn to_meta(&self) -> BucketMeta {
        BucketMeta {
            name: self.name.clone(),
            created_ms: self.created_ms,
            owner: self.owner.clone(),
            settings: self.settings.clone(),
            ..BucketMeta::default()
        }
    }
}

/// The key of the record of the version stored at `physical`.
pub fn record_key(physical: &str) -> String {
    format!("{physical}{RECORD_SUFFIX}")
}

/// The key of the record of bucket `bucket`.
pub fn bucket_record_key(bucket: &str) -> String {
    format!("{BUCKET_RECORDS}{bucket}.json")
}

/// The bucket a bucket record key names, if `key` is one.
pub fn bucket_of_record_key(key: &str) -> Option<&str> {
    key.strip_prefix(BUCKET_RECORDS)?
        .strip_suffix(".json")
        .filter(|b| !b.is_empty() && !b.contains('/'))
}

/// The physical key whose version record `key` is, if it is one.
pub fn physical_of_record_key(key: &str) -> Option<&str> {
    key.strip_suffix(RECORD_SUFFIX).filter(|p| is_physical_key(p))
}

/// Whether `key` is one of the proxy's physical keys (`{bucket}/{hh}/{16 hex}-{16 hex}`, see
/// [`s3o_store::physical_key_for`]).
pub fn is_physical_key(key: &str) -> bool {
    split_physical_key(key).is_some()
}

/// The bucket and version a physical key was made for, if `key` is one.
pub fn split_physical_key(key: &str) -> Option<(&str, u64)> {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut parts = key.rsplitn(3, '/');
    let (name, dir, bucket) = (parts.next()?, parts.next()?, parts.next()?);
    let (hash, version) = name.split_once('-')?;
    let ok = !bucket.is_empty() && hex(dir, 2) && hex(hash, 16) && hex(version, 16) && hash.starts_with(dir);
    ok.then(|| u64::from_str_radix(version, 16).ok().map(|v| (bucket, v)))
        .flatten()
}

/// Whether `key` on a backend is the proxy's own (a physical key, a record, or bookkeeping under
/// [`RESERVED_PREFIX`]): never imported as a foreign object.
pub fn is_ours(key: &str) -> bool {
    is_physical_key(key) || physical_of_record_key(key).is_some() || key.starts_with(RESERVED_PREFIX)
}

/// The record document of version `meta` of `bucket`/`key`.
pub fn encode_version(bucket: &str, key: &str, meta: &ObjectMeta) -> Result<Bytes, serde_json::Error> {
    let record = VersionRecord {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        meta: ObjectMeta {
            locations: Vec::new(),
            ..meta.clone()
        },
        written_ms: crate::clock::unix_ms(),
    };
    serde_json::to_vec(&record).map(Bytes::from)
}

/// A [`BodySource`] over one buffer.
struct OneBuffer(Option<Bytes>);

impl BodySource for OneBuffer {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        Ok(self.0.take())
    }
}

/// Stores `body` under `key` on backend `backend`, labelled for `bucket`/`key`'s `version`.
async fn put_record(
    core: &Core,
    backend: &str,
    record: &str,
    label: (&str, &str, u64),
    body: Bytes,
) -> Result<(), ProxyError> {
    let client = core.backend(backend)?;
    let pmeta = PhysicalMeta {
        bucket: label.0.to_owned(),
        key: label.1.to_owned(),
        version: label.2,
        content_type: Some("application/json".to_owned()),
        integrity: Vec::new(),
        sealed: false,
    };
    let len = body.len() as u64;
    client
        .put(record, len, &pmeta, &mut OneBuffer(Some(body)))
        .await
        .map(drop)
}

/// Logs and counts a record that could not be written.
fn failed(backend: &str, record: &str, e: &dyn std::fmt::Display) {
    FAILURES.fetch_add(1, Ordering::Relaxed);
    warn!(backend, record, error = %e, "metadata record not written: the index rebuild will miss it until it is rewritten");
}

/// Writes the record of version `meta` of `bucket`/`key` to backend `backend` (beside its copy
/// there); the replicator calls it after adding a copy. Failures are logged and counted.
pub async fn write_to(core: &Core, backend: &str, bucket: &str, key: &str, meta: &ObjectMeta) {
    if let Err((record, e)) = try_write_to(core, backend, bucket, key, meta).await {
        failed(backend, &record, &e);
    }
}

/// [`write_to`], failing with the record's key and the error: for a record that must exist
/// before its version is committed (sealed bytes rewritten under new keys, whose data key no
/// label carries).
pub async fn try_write_to(
    core: &Core,
    backend: &str,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
) -> Result<(), (String, ProxyError)> {
    let physical = meta.locations.iter().find(|l| l.backend == backend).map_or_else(
        || physical_key_for(bucket, key, meta.version),
        |l| l.physical_key.clone(),
    );
    let record = record_key(&physical);
    let outcome = match encode_version(bucket, key, meta) {
        Ok(body) => put_record(core, backend, &record, (bucket, key, meta.version), body).await,
        Err(e) => Err(ProxyError::Internal(format!("record not encoded: {e}"))),
    };
    outcome.map_err(|e| (record, e))
}

/// The backend a delete marker of `bucket` gets its record on: the first of the bucket's
/// placement whose breaker lets requests through.
pub fn marker_backend(core: &Core, bucket: &str) -> Option<String> {
    let snap = core.snapshot();
    let now = crate::clock::unix_ms();
    let placement = snap.placement(bucket);
    placement
        .backends
        .iter()
        .find(|b| core.shared.breakers.get(b).allows(now))
        .cloned()
}

/// Writes the records of version `meta` of `bucket`/`key` as committed: beside each of its
/// copies, at once; a delete marker's on [`marker_backend`]. Call it after every commit that
/// creates or changes a version. Never fails: see the module notes.
pub async fn write_version(core: &Core, bucket: &str, key: &str, meta: &ObjectMeta) {
    if meta.delete_marker {
        match marker_backend(core, bucket) {
            Some(b) => write_to(core, &b, bucket, key, meta).await,
            None => failed(
                "-",
                &record_key(&physical_key_for(bucket, key, meta.version)),
                &"no backend",
            ),
        }
        return;
    }
    let mut backends: Vec<&str> = Vec::with_capacity(meta.locations.len());
    for l in &meta.locations {
        if !backends.contains(&l.backend.as_str()) {
            backends.push(&l.backend);
        }
    }
    let writes = backends.into_iter().map(|b| write_to(core, b, bucket, key, meta));
    crate::backend::tee::join_all(writes.collect()).await;
}

/// Writes the record of bucket `meta` to every backend of its placement, at once. Call it after
/// CreateBucket and every change of its versioning or object lock. Never fails.
pub async fn write_bucket(core: &Core, meta: &BucketMeta) {
    let snap = core.snapshot();
    let backends = snap.placement(&meta.name).backends.clone();
    let record = bucket_record_key(&meta.name);
    let body = match serde_json::to_vec(&BucketRecord::of(meta)) {
        Ok(b) => Bytes::from(b),
        Err(e) => return failed("-", &record, &e),
    };
    let writes = backends.iter().map(|b| {
        let (record, body) = (&record, body.clone());
        async move {
            if let Err(e) = put_record(core, b, record, (&meta.name, "", 0), body).await {
                failed(b, record, &e);
            }
        }
    });
    crate::backend::tee::join_all(writes.collect()).await;
}

/// Writes the record of bucket `bucket` as the store has it now (after a change of its
/// settings). Never fails.
pub async fn write_bucket_named(core: &Core, bucket: &str) {
    match core.shared.store.bucket(bucket).await {
        Ok(Some(meta)) => write_bucket(core, &meta).await,
        Ok(None) => {}
        Err(e) => failed("-", &bucket_record_key(bucket), &e),
    }
}

/// Deletes the record of bucket `bucket` from every backend of its placement (after
/// DeleteBucket); a failure is logged.
pub async fn delete_bucket(core: &Core, bucket: &str) {
    let snap = core.snapshot();
    let record = bucket_record_key(bucket);
    for b in &snap.placement(bucket).backends {
        let outcome = match core.backend(b) {
            Ok(client) => client.delete(&record).await.map_err(ProxyError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            warn!(backend = %b, record = %record, error = %e, "bucket record not deleted");
        }
    }
}

/// Queues the record of delete marker `marker` of `bucket`/`key`, removed for good, for deletion
/// on every backend of the bucket's placement (it is on one of them; deleting a missing key
/// succeeds). A failure is logged.
pub async fn forget_marker(core: &Core, bucket: &str, key: &str, marker: &ObjectMeta) {
    let record = record_key(&physical_key_for(bucket, key, marker.version));
    let snap = core.snapshot();
    for b in &snap.placement(bucket).backends {
        let queued = core
            .shared
            .store
            .enqueue_cleanup(
                b,
                &record,
                0,
                s3o_store::Accounting::Uncommitted,
                s3o_store::CleanupReason::Deleted,
            )
            .await;
        if let Err(e) = queued {
            warn!(backend = %b, record = %record, error = %e, "delete marker record not queued for deletion");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_records_and_physical_objects_are_told_apart() {
        let physical = physical_key_for("photos", "a/b.jpg", 42);
        assert_eq!(split_physical_key(&physical), Some(("photos", 42)));
        let record = record_key(&physical);
        assert_eq!(physical_of_record_key(&record), Some(physical.as_str()));
        assert!(!is_physical_key(&record));
        assert!(is_ours(&record) && is_ours(&physical) && is_ours(".s3o/buckets/x.json"));
        assert!(!is_ours("photos/a/b.jpg") && !is_ours("readme.meta"));
        assert!(!is_physical_key("x/zz/0123456789abcdef-0000000000000001"));
        assert_eq!(bucket_of_record_key(&bucket_record_key("photos")), Some("photos"));
        assert_eq!(bucket_of_record_key(".s3o/buckets/.json"), None);
        assert_eq!(bucket_of_record_key("photos.json"), None);
    }

    #[test]
    fn version_records_round_trip_without_locations() {
        let meta = ObjectMeta {
            size: 3,
            etag: "\"e\"".into(),
            version: 7,
            versioned: true,
            user_meta: vec![("colour".into(), "blue".into())],
            tags: vec![("t".into(), "1".into())],
            locations: vec![s3o_store::Location {
                backend: "a".into(),
                physical_key: "p".into(),
            }],
            ..ObjectMeta::default()
        };
        let body = encode_version("b", "k", &meta).unwrap();
        let back: VersionRecord = serde_json::from_slice(&body).unwrap();
        assert_eq!((back.bucket.as_str(), back.key.as_str()), ("b", "k"));
        assert!(back.meta.locations.is_empty());
        assert_eq!(
            ObjectMeta {
                locations: meta.locations.clone(),
                ..back.meta
            },
            meta
        );
        let bucket = BucketMeta {
            name: "b".into(),
            owner: "AK".into(),
            created_ms: 5,
            object_count: 9,
            settings: BucketSettings {
                versioning: s3o_store::Versioning::Enabled,
                ..BucketSettings::default()
            },
            ..BucketMeta::default()
        };
        let record = BucketRecord::of(&bucket);
        let json = serde_json::to_string(&record).unwrap();
        let back: BucketRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_meta().settings.versioning, s3o_store::Versioning::Enabled);
        assert_eq!(back.to_meta().object_count, 0);
    }
}
