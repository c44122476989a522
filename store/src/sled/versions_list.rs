//! ListObjectVersions answered from the sled engine's `objects` (current versions) and
//! `versions` (noncurrent versions and delete markers) trees: keys in S3's order, each key's
//! versions newest first (the current one, when there is one, is always the newest), keys under
//! a delimiter rolled up into one common prefix, versions and prefixes together counting toward
//! `max_keys`.
//!
//! The listing walks keys, not entries: a cursor (raw key bytes) finds the next key present in
//! either tree, the key's versions are read, and the cursor moves past the key, or past a whole
//! common prefix with one seek. A page ends after the version (or prefix) it names as the next
//! page's markers.

use super::layout::{bucket_prefix, decode, key_of_version_key, successor, utf8, OBJECTS, VERSIONS};
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::ObjectMeta;
use crate::rules::rollup_end;
use crate::versions::{VersionEntry, VersionPage, VersionQuery, VersionRef};

/// The `objects` key of raw key bytes `key` in `bucket`.
fn object_key_bytes(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    k.extend_from_slice(key);
    k
}

/// The `versions` key prefix of every key beginning with raw bytes `key` in `bucket`.
fn versions_prefix_bytes(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    for &b in key {
        k.push(b);
        if b == 0 {
            k.push(0xFF);
        }
    }
    k
}

/// The smallest key after `key` (and after every key beginning with it when `past_prefix`).
fn after(key: &[u8], past_prefix: bool) -> Option<Vec<u8>> {
    if past_prefix {
        successor(key)
    } else {
        let mut next = key.to_vec();
        next.push(0);
        Some(next)
    }
}

impl SledEngine {
    /// The first key at or after `cursor` in either tree, in `bucket`.
    fn next_key(&self, bucket: &str, cursor: &[u8]) -> Result<Option<String>> {
        let base = bucket_prefix(bucket);
        let current = match self.objects.range(object_key_bytes(bucket, cursor)..).next() {
            Some(kv) => {
                let (k, _) = kv?;
                match k.strip_prefix(base.as_slice()) {
                    Some(key) => Some(utf8(OBJECTS, key)?),
                    None => None,
                }
            }
            None => None,
        };
        let older = match self.versions.range(versions_prefix_bytes(bucket, cursor)..).next() {
            Some(kv) => {
                let (k, _) = kv?;
                if k.starts_with(&base) {
                    Some(key_of_version_key(&k, base.len())?)
                } else {
                    None
                }
            }
            None => None,
        };
        Ok(match (current, older) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// One page of ListObjectVersions (see [`Engine::list_versions`](crate::Engine::list_versions)).
    pub(crate) fn list_versions(&self, bucket: &str, query: &VersionQuery) -> Result<VersionPage> {
        if self.bucket(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket(bucket.to_owned()));
        }
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut page = VersionPage::default();
        let mut cursor: Vec<u8> = query.prefix.as_bytes().to_vec();
        // Where the markers say to begin: at the marked key (its versions after the marked one),
        // or after it and every key of a common prefix it lies in.
        let mut resume: Option<(&str, VersionRef)> = None;
        if let Some(marker) = query
            .key_marker
            .as_deref()
            .filter(|m| m.as_bytes() >= cursor.as_slice())
        {
            let rolled = delimiter.and_then(|d| rollup_end(marker, &query.prefix, d));
            match (rolled, query.version_marker) {
                (Some(end), _) => match after(marker.as_bytes().get(..end).unwrap_or_default(), true) {
                    Some(c) => cursor = c,
                    None => return Ok(page),
                },
                (None, Some(v)) => {
                    cursor = marker.as_bytes().to_vec();
                    resume = Some((marker, v));
                }
                (None, None) => cursor = after(marker.as_bytes(), false).unwrap_or_default(),
            }
        }
        let mut count = 0;
        'keys: while let Some(key) = self.next_key(bucket, &cursor)? {
            if !key.starts_with(&query.prefix) {
                break;
            }
            if let Some(end) = delimiter.and_then(|d| rollup_end(&key, &query.prefix, d)) {
                let rolled = key.get(..end).unwrap_or(&key).to_owned();
                if count == query.max_keys {
                    page.is_truncated = true;
                    break;
                }
                count += 1;
                page.next_key_marker = Some(rolled.clone());
                page.next_version_marker = None;
                match after(rolled.as_bytes(), true) {
                    Some(c) => cursor = c,
                    None => {
                        page.common_prefixes.push(rolled);
                        break;
                    }
                }
                page.common_prefixes.push(rolled);
                continue;
            }
            let mut skipping = resume.take().filter(|(m, _)| *m == key).map(|(_, v)| v);
            let current = self.get_object(bucket, &key)?;
            let older = self
                .versions
                .scan_prefix(super::layout::versions_of(bucket, &key))
                .values()
                .map(|v| decode::<ObjectMeta>(VERSIONS, &v?));
            let mut latest = true;
            for meta in current.into_iter().map(Ok).chain(older) {
                let meta = meta?;
                let is_latest = std::mem::replace(&mut latest, false);
                if let Some(marker) = skipping {
                    if marker.names(&meta) {
                        skipping = None;
                    }
                    continue;
                }
                if count == query.max_keys {
                    page.is_truncated = true;
                    break 'keys;
                }
                count += 1;
                page.next_key_marker = Some(key.clone());
                page.next_version_marker = Some(meta.version_id());
                page.versions.push(VersionEntry {
                    key: key.clone(),
                    meta,
                    is_latest,
                });
            }
            match after(key.as_bytes(), false) {
                Some(c) => cursor = c,
                None => break,
            }
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_marker = None;
        }
        Ok(page)
    }
}
