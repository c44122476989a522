//! The sled engine's on-disk layout: tree names, how keys are built and how values are encoded.
//!
//! | tree          | key                                   | value                          |
//! |---------------|---------------------------------------|--------------------------------|
//! | `buckets`     | bucket name (UTF-8)                   | JSON [`BucketMeta`](crate::BucketMeta) |
//! | `objects`     | bucket name, `0x00`, object key       | JSON [`ObjectMeta`](crate::ObjectMeta) |
//! | `versions`    | bucket, `0x00`, escaped key, `0x00 0x01`, `!version` BE | JSON [`ObjectMeta`](crate::ObjectMeta): a noncurrent version or a delete marker |
//! | `usage`       | backend name (UTF-8)                  | committed bytes, `u64` big-endian |
//! | `cleanup`     | task id, `u64` big-endian             | JSON [`CleanupTask`](crate::CleanupTask) |
//! | `cleanup_due` | `not_before_ms` BE, then task id BE   | empty (an index of `cleanup` by due time) |
//! | `uploads`     | upload id (UTF-8)                     | JSON [`Upload`](crate::Upload)  |
//! | `upload_keys` | bucket, `0x00`, key, `0x00`, upload id | empty (uploads in ListMultipartUploads order) |
//! | `parts`       | upload id, `0x00`, part number `u32` BE | JSON [`Part`](crate::Part)     |
//! | `completed`   | upload id (UTF-8)                     | JSON [`CompletedUpload`](crate::CompletedUpload) |
//! | `backend_stats` | backend name (UTF-8)                | current objects, their bytes, uploads in progress: 3 × `u64` BE |
//! | `usage_counters` | period `YYYY-MM`, backend name     | API requests, egress bytes, ingress bytes: 3 × `u64` BE |
//! | `replication` | bucket, `0x00`, escaped key, `0x00 0x01`, version BE | JSON [`ReplicationTask`](crate::ReplicationTask) |
//! | `replication_due` | `not_before_ms` BE, then the `replication` key | empty (an index of `replication` by due time) |
//! | `states`      | state name (UTF-8)                    | the document (UTF-8)           |
//! | `docs`        | collection, `0x00`, document id       | revision `u64` BE, then the document |
//! | `meta`        | `stats_version`                       | version of `backend_stats`, `u64` BE (absent: not built yet) |
//! | `meta`        | `probe`                               | time of the last writability probe, ms `u64` BE |
//! | `meta`        | `version_offset`                      | added to sled's ids to make versions, `u64` BE (absent: 0) |
//!
//! Bucket names never contain `0x00`, so `bucket 0x00` is a prefix that holds exactly that bucket's
//! objects, and sled's bytewise order is S3's key order (UTF-8 byte order).
//!
//! In `versions` the key is escaped (each `0x00` as `0x00 0xFF`) and ended by `0x00 0x01`, so a
//! key's versions are exactly the entries under its prefix, keys keep S3's order, and within a
//! key the inverted version number puts the newest first. `replication` keys are built the same
//! way but with the version number as it is, so tasks of equal due time come in bucket, key,
//! version order.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Result, StoreError};

/// Tree of bucket records.
pub(crate) const BUCKETS: &str = "buckets";
/// Tree of current object versions.
pub(crate) const OBJECTS: &str = "objects";
/// Tree of committed bytes per backend.
pub(crate) const USAGE: &str = "usage";
/// Tree of noncurrent versions and delete markers.
pub(crate) const VERSIONS: &str = "versions";
/// Tree of cleanup tasks by id.
pub(crate) const CLEANUP: &str = "cleanup";
/// Index of cleanup tasks by due time.
pub(crate) const CLEANUP_DUE: &str = "cleanup_due";

/// Tree of multipart uploads in progress by id.
pub(crate) const UPLOADS: &str = "uploads";
/// Index of uploads by bucket, key and id.
pub(crate) const UPLOAD_KEYS: &str = "upload_keys";
/// Tree of uploaded parts by upload id and part number.
pub(crate) const PARTS: &str = "parts";
/// Tree of completed uploads by id (for repeated CompleteMultipartUpload).
pub(crate) const COMPLETED: &str = "completed";

/// Tree of per-backend totals of current objects and uploads in progress.
pub(crate) const BACKEND_STATS: &str = "backend_stats";
/// Tree of monthly usage counters by period and backend.
pub(crate) const USAGE_COUNTERS: &str = "usage_counters";
/// Tree of versions waiting for more copies.
pub(crate) const REPLICATION: &str = "replication";
/// Index of replication tasks by due time.
pub(crate) const REPLICATION_DUE: &str = "replication_due";
/// Tree of named state documents.
pub(crate) const STATES: &str = "states";
/// Tree of documents by collection and id.
pub(crate) const DOCS: &str = "docs";
/// Tree of the store's own records (layout versions, the writability probe).
pub(crate) const META: &str = "meta";

/// `meta` key of the version `backend_stats` was built for.
pub(crate) const STATS_VERSION_KEY: &[u8] = b"stats_version";
/// The current version of `backend_stats`: a store without it (written before the totals
/// existed) has them built by a scan when opened.
pub(crate) const STATS_VERSION: u64 = 1;
/// `meta` key the writability probe writes.
pub(crate) const PROBE_KEY: &[u8] = b"probe";
/// `meta` key of the offset added to sled's ids to make version numbers (raised by
/// `advance_versions` after an index rebuild).
pub(crate) const VERSION_OFFSET_KEY: &[u8] = b"version_offset";

/// Separates the bucket name from the object key in `objects` keys.
const KEY_SEPARATOR: u8 = 0x00;

/// The `objects` key prefix holding every object of `bucket`.
pub(crate) fn bucket_prefix(bucket: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1);
    k.extend_from_slice(bucket.as_bytes());
    k.push(KEY_SEPARATOR);
    k
}

/// The `objects` key of `bucket`/`key`.
pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The `versions` key prefix of every version of the keys of `bucket` starting with `prefix`.
pub(crate) fn versions_prefix(bucket: &str, prefix: &str) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    for &b in prefix.as_bytes() {
        k.push(b);
        if b == KEY_SEPARATOR {
            k.push(0xFF);
        }
    }
    k
}

/// The `versions` key prefix of the versions of `bucket`/`key` exactly.
pub(crate) fn versions_of(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = versions_prefix(bucket, key);
    k.extend_from_slice(&[KEY_SEPARATOR, 0x01]);
    k
}

/// The `versions` key of version `version` of `bucket`/`key`.
pub(crate) fn version_key(bucket: &str, key: &str, version: u64) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    k.extend_from_slice(&(!version).to_be_bytes());
    k
}

/// The `replication` key of version `version` of `bucket`/`key`.
pub(crate) fn replication_key(bucket: &str, key: &str, version: u64) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// The `replication_due` key of the task at `task_key` (a `replication` key) due at
/// `not_before_ms`.
pub(crate) fn replication_due_key(not_before_ms: u64, task_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + task_key.len());
    k.extend_from_slice(&not_before_ms.to_be_bytes());
    k.extend_from_slice(task_key);
    k
}

/// The bucket and key of an `objects` key.
pub(crate) fn split_object_key(k: &[u8]) -> Result<(String, String)> {
    let at = k
        .iter()
        .position(|b| *b == KEY_SEPARATOR)
        .ok_or_else(|| corrupt(OBJECTS, "key without a bucket separator".to_owned()))?;
    Ok((utf8(OBJECTS, &k[..at])?, utf8(OBJECTS, &k[at + 1..])?))
}

/// The bucket and key of a `versions` key.
pub(crate) fn split_version_key(k: &[u8]) -> Result<(String, String)> {
    let at = k
        .iter()
        .position(|b| *b == KEY_SEPARATOR)
        .ok_or_else(|| corrupt(VERSIONS, "key without a bucket separator".to_owned()))?;
    Ok((utf8(VERSIONS, &k[..at])?, key_of_version_key(k, at + 1)?))
}

/// The object key of a `versions` key, given the length of its bucket prefix.
pub(crate) fn key_of_version_key(k: &[u8], base_len: usize) -> Result<String> {
    let bad = || corrupt(VERSIONS, format!("key of {} bytes is not a version key", k.len()));
    let escaped = k.get(base_len..k.len().saturating_sub(10)).ok_or_else(bad)?;
    if k.get(k.len().saturating_sub(10)..k.len().saturating_sub(8)) != Some(&[KEY_SEPARATOR, 0x01][..]) {
        return Err(bad());
    }
    let mut key = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        key.push(b);
        if b == KEY_SEPARATOR && bytes.next() != Some(&0xFF) {
            return Err(bad());
        }
    }
    utf8(VERSIONS, &key)
}

/// The `upload_keys` key of an upload.
pub(crate) fn upload_index_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(KEY_SEPARATOR);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// The `parts` key prefix of an upload's parts.
pub(crate) fn parts_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(upload_id.len() + 5);
    k.extend_from_slice(upload_id.as_bytes());
    k.push(KEY_SEPARATOR);
    k
}

/// The `parts` key of part `number` of an upload.
pub(crate) fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    let mut k = parts_prefix(upload_id);
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// The `cleanup` key of a task id.
pub(crate) fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// The `cleanup_due` key of a task: due time first so a range scan yields due tasks in order.
pub(crate) fn due_key(not_before_ms: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&not_before_ms.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Reads the task id back out of a `cleanup_due` key.
pub(crate) fn id_of_due_key(k: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = k
        .get(8..16)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt(CLEANUP_DUE, format!("key of {} bytes, want 16", k.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Encodes a counter for the `usage` tree.
pub(crate) fn encode_u64(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Decodes a counter from the `usage` tree.
pub(crate) fn decode_u64(tree: &'static str, v: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = v
        .try_into()
        .map_err(|_| corrupt(tree, format!("counter of {} bytes, want 8", v.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Encodes three counters for `backend_stats` or `usage_counters`.
pub(crate) fn encode_counters(counts: &[u64; 3]) -> [u8; 24] {
    let mut v = [0u8; 24];
    for (chunk, n) in v.chunks_exact_mut(8).zip(counts) {
        chunk.copy_from_slice(&n.to_be_bytes());
    }
    v
}

/// Decodes three counters from `backend_stats` or `usage_counters`.
pub(crate) fn decode_counters(tree: &'static str, v: &[u8]) -> Result<[u64; 3]> {
    if v.len() != 24 {
        return Err(corrupt(tree, format!("counters of {} bytes, want 24", v.len())));
    }
    let mut counts = [0u64; 3];
    for (n, chunk) in counts.iter_mut().zip(v.chunks_exact(8)) {
        *n = decode_u64(tree, chunk)?;
    }
    Ok(counts)
}

/// The `usage_counters` key of `backend` in `period` (periods are 7 bytes, so no separator).
pub(crate) fn usage_counters_key(period: &str, backend: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(period.len() + backend.len());
    k.extend_from_slice(period.as_bytes());
    k.extend_from_slice(backend.as_bytes());
    k
}

/// Encodes a record as JSON.
pub(crate) fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode {
        record: tree,
        detail: e.to_string(),
    })
}

/// Decodes a JSON record.
pub(crate) fn decode<T: DeserializeOwned>(tree: &'static str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| corrupt(tree, e.to_string()))
}

/// Turns stored key bytes into a `String`, or reports the record as corrupt.
pub(crate) fn utf8(tree: &'static str, v: &[u8]) -> Result<String> {
    String::from_utf8(v.to_vec()).map_err(|e| corrupt(tree, e.to_string()))
}

/// A [`StoreError::Corrupt`] for `tree`.
pub(crate) fn corrupt(tree: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { record: tree, detail }
}

pub(crate) use crate::rules::successor;

#[cfg(test)]
mod tests {
    #[test]
    fn version_keys_keep_key_order_and_put_the_newest_first() {
        use super::{key_of_version_key, version_key, versions_of};
        let keys = ["a", "a\0", "a\0\0b", "a\u{1}", "ab", "b"];
        let mut encoded: Vec<(Vec<u8>, &str, u64)> = Vec::new();
        for key in keys {
            for v in [1, 7, u64::MAX - 1] {
                encoded.push((version_key("bkt", key, v), key, v));
            }
        }
        let mut sorted = encoded.clone();
        sorted.sort();
        let order: Vec<(&str, u64)> = sorted.iter().map(|(_, k, v)| (*k, *v)).collect();
        let mut want: Vec<(&str, u64)> = encoded.iter().map(|(_, k, v)| (*k, *v)).collect();
        want.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        assert_eq!(order, want);
        for (k, key, _) in &encoded {
            assert_eq!(key_of_version_key(k, 4).unwrap(), *key);
            assert_eq!(
                super::split_version_key(k).unwrap(),
                ("bkt".to_owned(), (*key).to_owned())
            );
            assert!(k.starts_with(&versions_of("bkt", key)));
            for other in keys.iter().filter(|o| *o != key) {
                assert!(!k.starts_with(&versions_of("bkt", other)), "{key:?} under {other:?}");
            }
        }
    }

    use super::*;

    #[test]
    fn object_keys_sort_like_s3_within_a_bucket_and_never_mix_buckets() {
        let mut keys = vec![
            object_key("b", "a/b"),
            object_key("b", "a"),
            object_key("b", ""),
            object_key("b", "é"),
            object_key("b", "z"),
            object_key("ba", ""),
            object_key("a", "zzz"),
        ];
        keys.sort();
        let want = vec![
            object_key("a", "zzz"),
            object_key("b", ""),
            object_key("b", "a"),
            object_key("b", "a/b"),
            object_key("b", "z"),
            object_key("b", "é"),
            object_key("ba", ""),
        ];
        assert_eq!(keys, want);
        assert!(object_key("b", "x").starts_with(&bucket_prefix("b")));
        assert_eq!(
            split_object_key(&object_key("b", "a\0z")).unwrap(),
            ("b".to_owned(), "a\0z".to_owned())
        );
        assert!(matches!(split_object_key(b"nosep"), Err(StoreError::Corrupt { .. })));
        let (early, late) = (replication_key("b", "k", 1), replication_key("b", "k", 2));
        assert!(early < late && late < replication_key("b", "k\0", 0));
        assert!(replication_due_key(1, &late) < replication_due_key(2, &early));
        assert!(!object_key("ba", "x").starts_with(&bucket_prefix("b")));
    }

    #[test]
    fn successor_skips_every_extension_of_the_prefix() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff"), None);
        assert_eq!(successor(b""), None);
        let s = successor(b"a/").unwrap();
        assert!(s.as_slice() > b"a/\xff\xff".as_slice());
        assert!(s.as_slice() <= b"a0".as_slice());
    }

    #[test]
    fn counters_and_due_keys_round_trip_and_reject_garbage() {
        assert_eq!(decode_u64(USAGE, &encode_u64(42)).unwrap(), 42);
        assert!(matches!(decode_u64(USAGE, b"abc"), Err(StoreError::Corrupt { .. })));
        let k = due_key(5, 9);
        assert_eq!(id_of_due_key(&k).unwrap(), 9);
        assert!(due_key(5, 9) < due_key(6, 1));
        assert!(matches!(id_of_due_key(b"short"), Err(StoreError::Corrupt { .. })));
        assert_eq!(
            decode_counters(USAGE, &encode_counters(&[1, u64::MAX, 3])).unwrap(),
            [1, u64::MAX, 3]
        );
        assert!(matches!(
            decode_counters(USAGE, &[0; 16]),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(usage_counters_key("2024-05", "b1"), b"2024-05b1");
        assert!(matches!(utf8(OBJECTS, b"\xff"), Err(StoreError::Corrupt { .. })));
        assert!(matches!(decode::<u64>(OBJECTS, b"{"), Err(StoreError::Corrupt { .. })));
    }
}
