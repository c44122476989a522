//! The records the store keeps and the shapes of its answers: buckets, object versions and where
//! their bytes live, cleanup tasks, and list queries and pages.

use serde::{Deserialize, Serialize};

use crate::acl::{Acl, Grant, Ownership, PublicAccessBlock};
use crate::versions::{ObjectLock, Retention, Versioning};

/// Keys per page when a caller does not say; S3's default and maximum for ListObjects.
pub const DEFAULT_MAX_KEYS: usize = 1000;

/// A bucket and its running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketMeta {
    /// The bucket name.
    pub name: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Access key of the user who created it.
    pub owner: String,
    /// Number of current objects; `delete_bucket` refuses while this is not zero.
    #[serde(default)]
    pub object_count: u64,
    /// Sum of the logical sizes of the current objects (replicas not multiplied).
    #[serde(default)]
    pub logical_bytes: u64,
    /// Number of noncurrent versions and delete markers; `delete_bucket` refuses while this is
    /// not zero either.
    #[serde(default)]
    pub version_count: u64,
    /// Its settings: versioning, object lock and access.
    #[serde(flatten)]
    pub settings: BucketSettings,
}

/// What a bucket's owner configures on it, kept with the bucket by every engine and in the
/// bucket's record on the backends (so an index rebuild restores it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSettings {
    /// Whether the bucket keeps noncurrent versions.
    #[serde(default, skip_serializing_if = "is_unversioned")]
    pub versioning: Versioning,
    /// Its object lock configuration, when object lock is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
    /// Its ACL's grants, when not the default (the owner's full control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<Grant>>,
    /// Its object ownership controls, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
    /// Its public access block, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Its CORS rules, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<crate::cors::CorsRule>>,
    /// Its bucket policy, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::BucketPolicy>,
    /// Its lifecycle rules, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<crate::lifecycle::LifecycleRule>>,
    /// Its tags (`PutBucketTagging`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<(String, String)>>,
    /// Its byte quota, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<BucketQuota>,
    /// Whether its size is shown (absent: it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_tracking: Option<SizeTracking>,
}

/// A bucket's byte quota: writes that would take its current objects past `hard_bytes` are
/// refused; `soft_bytes` is shown, not enforced (0: that level unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketQuota {
    /// The level shown as a warning.
    pub soft_bytes: u64,
    /// The level enforced.
    pub hard_bytes: u64,
    /// When it was set, ms.
    pub updated_ms: u64,
    /// Who set it.
    pub updated_by: String,
}

/// Whether a bucket's size is shown, and who said so when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeTracking {
    /// Shown.
    pub enabled: bool,
    /// When it was set, ms.
    pub updated_ms: u64,
    /// Who set it.
    pub updated_by: String,
}

impl BucketMeta {
    /// The bucket's ACL.
    pub fn acl(&self) -> Acl {
        Acl::of(&self.owner, self.settings.grants.as_deref())
    }
}

fn is_unversioned(v: &Versioning) -> bool {
    *v == Versioning::Unversioned
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ObjectMeta {
    /// Bytes each copy of the version takes on its backend: what quotas and usage count.
    pub fn stored_size(&self) -> u64 {
        self.stored.unwrap_or(self.size)
    }

    /// The plaintext sizes of the version's segments: its parts, or the whole body (also for a
    /// multipart object sealed afterwards as one run).
    pub fn segment_sizes(&self) -> Vec<u64> {
        if self.parts.is_empty() || self.sealed.as_ref().is_some_and(|s| s.segments.len() == 1) {
            vec![self.size]
        } else {
            self.parts.clone()
        }
    }

    /// The stored sizes of the version's segments (sealed ones with their tags), in order.
    pub fn stored_segment_sizes(&self) -> Vec<u64> {
        let sizes = self.segment_sizes();
        match &self.sealed {
            Some(s) => sizes
                .into_iter()
                .map(|n| crate::sealed::Sealed::sealed_len(s.chunk, n))
                .collect(),
            None => sizes,
        }
    }

    /// The version's owner: its writer, or the bucket's owner `bucket_owner` when it was written
    /// by them (or before objects had owners).
    pub fn owner_or<'a>(&'a self, bucket_owner: &'a str) -> &'a str {
        self.owner.as_deref().unwrap_or(bucket_owner)
    }

    /// The version's ACL, in a bucket owned by `bucket_owner`.
    pub fn acl(&self, bucket_owner: &str) -> Acl {
        Acl::of(self.owner_or(bucket_owner), self.grants.as_deref())
    }
}

/// Where one copy of an object's bytes lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The backend's configured name.
    pub backend: String,
    /// The key on that backend, unique per version (see [`physical_key_for`](crate::physical_key_for)).
    pub physical_key: String,
}

/// One version of an object: what HeadObject answers and where GetObject reads from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Size of the body in bytes.
    pub size: u64,
    /// The ETag as S3 returns it: quoted lowercase hex, e.g. `"9b2cf535f27731c974343645a3985328"`.
    pub etag: String,
    /// `Content-Type` given at upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding` given at upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Content-Disposition` given at upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Cache-Control` given at upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires` given at upload, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` pairs, names without the prefix, in upload order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_meta: Vec<(String, String)>,
    /// Checksums as (algorithm, base64 value), e.g. `("crc32c", "yZRlqg==")`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<(String, String)>,
    /// Last-Modified, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// Store-wide unique, increasing version from [`Engine::next_version`](crate::Engine::next_version).
    pub version: u64,
    /// Every copy of the bytes; more than one when replicated.
    pub locations: Vec<Location>,
    /// Object tags as (key, value), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Sizes of the parts of an object completed from a multipart upload, in part order; empty
    /// for an object written by one PUT (GET `partNumber` reads them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// The checksum of each part (base64, of the algorithm of `checksums`), in part order, for
    /// a multipart object whose parts carried one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// `COMPOSITE` or `FULL_OBJECT`: what the checksum of a multipart object covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// Whether the version has its own version id (written while versioning was enabled);
    /// otherwise it is the key's `null` version. Set by the store when it commits the version.
    #[serde(default, skip_serializing_if = "is_false")]
    pub versioned: bool,
    /// A delete marker: a version without bytes or locations that hides the older ones.
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_marker: bool,
    /// Object lock retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object lock legal hold.
    #[serde(default, skip_serializing_if = "is_false")]
    pub legal_hold: bool,
    /// How many copies the version should have (its bucket's replication factor when written);
    /// 0 or 1: one. A version committed with fewer locations is queued for replication (see
    /// [`Engine::due_replication`](crate::Engine::due_replication)).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub copies_wanted: u32,
    /// The canonical id of the version's owner (its writer) when not the bucket's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Its ACL's grants, when not the default (the owner's full control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<Grant>>,
    /// How its bytes are encrypted on the backends, when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::sealed::Sealed>,
    /// Bytes each copy takes on its backend when not `size` (a sealed body's tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
    /// Digests of the stored bytes, when known (see [`ContentHash`](crate::ContentHash)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<crate::sealed::ContentHash>,
    /// Backends whose copy failed its hash and could not be repaired: never read again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What must hold of the current version of a key for a write to replace it (S3 conditional
/// writes, checked atomically inside the commit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// Always write.
    #[default]
    None,
    /// `If-None-Match: *`: only if the key has no current version.
    IfAbsent,
    /// `If-Match: <etag>`: only if the current version has this ETag (quotes ignored; `*`: any).
    IfMatch(String),
    /// `If-None-Match: <etag>`: only if there is no current version with this ETag.
    IfNoneMatch(String),
}

impl WriteCondition {
    /// Whether a write may replace `current`.
    pub fn holds(&self, current: Option<&ObjectMeta>) -> bool {
        match self {
            WriteCondition::None => true,
            WriteCondition::IfAbsent => current.is_none(),
            WriteCondition::IfMatch(etag) => current.is_some_and(|m| etag_matches(etag, &m.etag)),
            WriteCondition::IfNoneMatch(etag) => !current.is_some_and(|m| etag_matches(etag, &m.etag)),
        }
    }
}

/// Whether the condition value `want` (`*`, or an ETag, quoted or not, maybe weak) names `etag`.
fn etag_matches(want: &str, etag: &str) -> bool {
    let want = want.trim().trim_start_matches("W/").trim_matches('"');
    want == "*" || etag.trim_matches('"') == want
}

/// A multipart upload in progress: where its parts go and what the object will carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The upload id given to the client (sorts by creation time).
    pub upload_id: String,
    /// Logical bucket.
    pub bucket: String,
    /// Logical key.
    pub key: String,
    /// The one backend chosen at creation; every part goes there.
    pub backend: String,
    /// The physical key the completed object will have.
    pub physical_key: String,
    /// The version the completed object will have.
    pub version: u64,
    /// The backend's own id for the upload (its native multipart upload, or a directory name).
    pub backend_upload_id: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub initiated_ms: u64,
    /// Access key of the initiator.
    pub owner: String,
    /// The object's metadata as given at creation (content type, user metadata, tags).
    pub meta: ObjectMeta,
    /// `x-amz-checksum-algorithm` given at creation (lowercase), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// `x-amz-checksum-type` given at creation (`COMPOSITE` or `FULL_OBJECT`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// Bytes of every part recorded so far (counted in the backend's usage).
    #[serde(default)]
    pub part_bytes: u64,
    /// Incremented by every recorded part, so a completion can tell it saw every part.
    #[serde(default)]
    pub parts_seq: u64,
}

/// What remains of a completed multipart upload, so a repeated CompleteMultipartUpload (a client
/// retrying after a lost answer) gets the same answer instead of NoSuchUpload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUpload {
    /// Logical bucket.
    pub bucket: String,
    /// Logical key.
    pub key: String,
    /// The object's ETag.
    pub etag: String,
    /// The object's checksums.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<(String, String)>,
    /// What the checksum covers, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// Completion time, milliseconds since the Unix epoch.
    pub completed_ms: u64,
    /// The version id the object got, in a bucket with versioning enabled or suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Part number, 1 to 10,000.
    pub number: u32,
    /// Size in bytes.
    pub size: u64,
    /// The part's ETag as the client sees it (quoted MD5 hex).
    pub etag: String,
    /// The ETag the backend gave the part, when it differs in use from ours (S3 backends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_etag: Option<String>,
    /// Where the part's bytes live on the backend when it keeps parts as separate objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<String>,
    /// Checksums of the part as (algorithm, base64 value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<(String, String)>,
    /// Upload time, milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    /// Bytes the part takes on the backend when not `size` (sealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
    /// The nonce base the part was sealed with (base64), when the upload is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_nonce: Option<String>,
    /// Lowercase hex digest of the part's stored bytes (the upload's hash algorithm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Part {
    /// Bytes the part takes on its backend.
    pub fn stored_size(&self) -> u64 {
        self.stored.unwrap_or(self.size)
    }
}

/// Whether a cleanup task's bytes are counted in its backend's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accounting {
    /// The bytes belonged to a committed version and are in the backend's usage until the task
    /// completes; completing it subtracts them.
    Committed,
    /// The bytes were never committed (an aborted or failed upload); completing the task leaves
    /// usage alone.
    Uncommitted,
}

/// Why a cleanup task was queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupReason {
    /// The bytes of a version that a newer one replaced.
    Replaced,
    /// The bytes of a deleted version.
    Deleted,
    /// The parts of an aborted (or expired) multipart upload.
    UploadAborted,
    /// The parts of a completed multipart upload, on a backend that keeps them apart from the
    /// object.
    UploadParts,
    /// Bytes an upload may have written but never committed (a failed PUT or copy).
    Orphan,
    /// A copy a relocation dropped (drain, rebalance, over-replication cleanup).
    Relocated,
    /// Queued before tasks recorded their reason.
    #[default]
    Unknown,
}

/// A durable order to delete one physical key from one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupTask {
    /// Queue-wide unique id.
    pub id: u64,
    /// Backend holding the bytes.
    pub backend: String,
    /// Key to delete there.
    pub physical_key: String,
    /// Size of the bytes in question; 0 when unknown (an orphan may hold any part of its body).
    pub size: u64,
    /// Why the task was queued.
    #[serde(default)]
    pub reason: CleanupReason,
    /// Whether completing the task releases `size` from the backend's usage.
    pub accounting: Accounting,
    /// When set, the task aborts this multipart upload on the backend (its id there) instead of
    /// deleting `physical_key`, the key the upload was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time, milliseconds since the Unix epoch.
    pub not_before_ms: u64,
}

/// A ListObjects (v1 or v2) request as the store answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only keys starting with this ("" for all).
    pub prefix: String,
    /// Roll keys up to the first occurrence of this after the prefix; `None` or `""` for none.
    pub delimiter: Option<String>,
    /// Exclusive lower bound: the v1 marker, v2 start-after, or decoded continuation token.
    pub start_after: Option<String>,
    /// Most keys plus common prefixes to return; the caller clamps it to S3's 1000.
    pub max_keys: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: None,
            start_after: None,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys in order with what a listing shows of their current version (size, ETag,
    /// last-modified, version, owner); the other fields are left at their defaults.
    pub objects: Vec<(String, ObjectMeta)>,
    /// Common prefixes in order, each ending with the delimiter.
    pub common_prefixes: Vec<String>,
    /// Whether more keys or prefixes follow.
    pub is_truncated: bool,
    /// The last key or common prefix returned, to pass as `start_after` for the next page.
    pub next_marker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_meta_round_trips_and_omits_empty_fields() {
        let meta = ObjectMeta {
            size: 3,
            etag: "\"acbd18db4cc2f85cedef654fccc4a4d8\"".into(),
            last_modified_ms: 1,
            version: 2,
            locations: vec![Location {
                backend: "b1".into(),
                physical_key: "k".into(),
            }],
            ..ObjectMeta::default()
        };
        let json = serde_json::to_string(&meta).unwrap();
        assert_eq!(
            json,
            r#"{"size":3,"etag":"\"acbd18db4cc2f85cedef654fccc4a4d8\"","last_modified_ms":1,"version":2,"locations":[{"backend":"b1","physical_key":"k"}]}"#
        );
        let back: ObjectMeta = serde_json::from_str(&json).unwrap();
        assert_eq!(back, meta);
        let full = ObjectMeta {
            content_type: Some("text/plain".into()),
            user_meta: vec![("a".into(), "b".into())],
            checksums: vec![("crc32c".into(), "yZRlqg==".into())],
            ..meta
        };
        let back: ObjectMeta = serde_json::from_slice(&serde_json::to_vec(&full).unwrap()).unwrap();
        assert_eq!(back, full);
        let replicated = ObjectMeta {
            copies_wanted: 3,
            ..full
        };
        let json = serde_json::to_string(&replicated).unwrap();
        assert!(json.contains(r#""copies_wanted":3"#), "{json}");
        assert_eq!(serde_json::from_str::<ObjectMeta>(&json).unwrap(), replicated);
    }

    #[test]
    fn accounting_is_snake_case_on_disk() {
        assert_eq!(
            serde_json::to_string(&Accounting::Uncommitted).unwrap(),
            "\"uncommitted\""
        );
        assert_eq!(ListQuery::default().max_keys, DEFAULT_MAX_KEYS);
        assert_eq!(
            serde_json::to_string(&CleanupReason::UploadAborted).unwrap(),
            "\"upload_aborted\""
        );
        // A task queued before reasons were recorded reads back as Unknown.
        let old = r#"{"id":1,"backend":"b","physical_key":"k","size":0,"accounting":"committed","attempts":0,"not_before_ms":0}"#;
        let task: CleanupTask = serde_json::from_str(old).unwrap();
        assert_eq!(task.reason, CleanupReason::Unknown);
        let relocated = serde_json::to_string(&CleanupReason::Relocated).unwrap();
        assert_eq!(relocated, "\"relocated\"");
        assert_eq!(
            serde_json::from_str::<CleanupReason>(&relocated).unwrap(),
            CleanupReason::Relocated
        );
    }
}
