//! The records the store keeps and the shapes of its answers: buckets, object versions and where
//! their bytes live, cleanup tasks, and list queries and pages.

use serde::{Deserialize, Serialize};

/// Keys per page when a caller does not say; S3's default and maximum for ListObjects.
pub const DEFAULT_MAX_KEYS: usize = 1000;

/// A bucket and its running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Store-wide unique, increasing version from [`Store::next_version`](crate::Store::next_version).
    pub version: u64,
    /// Every copy of the bytes; more than one when replicated.
    pub locations: Vec<Location>,
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

/// A durable order to delete one physical key from one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupTask {
    /// Queue-wide unique id.
    pub id: u64,
    /// Backend holding the bytes.
    pub backend: String,
    /// Key to delete there.
    pub physical_key: String,
    /// Size of the bytes in question.
    pub size: u64,
    /// Whether completing the task releases `size` from the backend's usage.
    pub accounting: Accounting,
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
    /// last-modified, version); the other fields are left at their defaults.
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
    }

    #[test]
    fn accounting_is_snake_case_on_disk() {
        assert_eq!(
            serde_json::to_string(&Accounting::Uncommitted).unwrap(),
            "\"uncommitted\""
        );
        assert_eq!(ListQuery::default().max_keys, DEFAULT_MAX_KEYS);
    }
}
