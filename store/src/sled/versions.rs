//! Versions in the sled engine: deletes (with and without a version id), one version read or
//! changed, and the per-key locks that make them safe.
//!
//! sled transactions read and write single keys; they cannot scan. A key's noncurrent versions
//! are entries of the `versions` tree under the key's prefix, so a mutation that needs them (the
//! `null` version to replace, the newest to promote) scans them first, holding the key's lock
//! ([`KeyLocks`]) from before the scan until its transaction has run: every mutation of a key's
//! versions takes that lock, so what it scanned is still true inside its transaction. The bucket
//! record and the current version are read inside the transaction as usual.

use parking_lot::{Mutex, MutexGuard};
use sled::Transactional;

use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{decode, encode, object_key, version_key, versions_of, BUCKETS, OBJECTS, VERSIONS};
use super::objects::{bucket_in, VersionTrees};
use super::stats::StatsDelta;
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{CleanupReason, ObjectMeta};
use crate::rules::{check_bucket_name, now_ms};
use crate::versions::{change_version, missing_version, Deleted, VersionChange, VersionRef, Versioning};

/// Locks serialising the mutations of one key's versions (striped: keys share them).
pub(crate) struct KeyLocks(Box<[Mutex<()>]>);

/// Stripes of [`KeyLocks`]: enough that unrelated keys rarely wait for each other on a few cores.
const KEY_LOCK_STRIPES: usize = 256;

impl Default for KeyLocks {
    fn default() -> Self {
        Self((0..KEY_LOCK_STRIPES).map(|_| Mutex::new(())).collect())
    }
}

impl KeyLocks {
    /// Holds the lock of `bucket`/`key` until the guard drops.
    pub(crate) fn lock(&self, bucket: &str, key: &str) -> MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        let stripe = usize::try_from(h.finish() % KEY_LOCK_STRIPES as u64).unwrap_or(0);
        self.0[stripe].lock()
    }
}

/// A noncurrent version (or delete marker) as scanned: its `versions` key and record.
pub(crate) type Noncurrent = (Vec<u8>, ObjectMeta);

/// Which version a call found.
enum Found {
    /// The current version (in `objects`).
    Current(Box<ObjectMeta>),
    /// A noncurrent one, the `n`th newest.
    Noncurrent(usize),
}

impl SledEngine {
    /// The noncurrent versions of `bucket`/`key`, newest first. Hold the key's lock while the
    /// answer is used to change them.
    pub(crate) fn noncurrent(&self, bucket: &str, key: &str) -> Result<Vec<Noncurrent>> {
        self.versions
            .scan_prefix(versions_of(bucket, key))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode(VERSIONS, &v)?))
            })
            .collect()
    }

    /// The noncurrent `null` version of `bucket`/`key`, if there is one.
    pub(crate) fn null_noncurrent(&self, bucket: &str, key: &str) -> Result<Option<Noncurrent>> {
        Ok(self.noncurrent(bucket, key)?.into_iter().find(|(_, m)| !m.versioned))
    }

    /// The version of `bucket`/`key` that `version` names, delete markers included.
    pub(crate) fn get_version(&self, bucket: &str, key: &str, version: VersionRef) -> Result<Option<ObjectMeta>> {
        for _ in 0..2 {
            if let Some(current) = self.get_object(bucket, key)? {
                if version.names(&current) {
                    return Ok(Some(current));
                }
            }
            let older = self.noncurrent(bucket, key)?;
            if let Some((_, m)) = older.into_iter().find(|(_, m)| version.names(m)) {
                return Ok(Some(m));
            }
            // The latest may have moved into `objects` between the two reads: look once more.
            if version != VersionRef::Latest {
                break;
            }
        }
        Ok(None)
    }

    /// Deletes `bucket`/`key` as a DELETE without a version id does (see
    /// [`Engine::delete_object`](crate::Engine::delete_object)).
    pub(crate) fn delete_object(&self, bucket: &str, key: &str) -> Result<(Deleted, CommitTicket)> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let marker_version = self.next_version()?;
        let _key_lock = self.key_locks.lock(bucket, key);
        let null = self.null_noncurrent(bucket, key)?;
        let (deleted, queued) = self.version_transaction(|t| {
            let mut record = bucket_in(t.buckets, bucket)?;
            let mut stats = StatsDelta::default();
            let mut queued = 0;
            let previous = match t.objects.remove(okey.as_slice())? {
                Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?),
                None => None,
            };
            if let Some(old) = &previous {
                record.object_count = record.object_count.saturating_sub(1);
                record.logical_bytes = record.logical_bytes.saturating_sub(old.size);
                if record.settings.versioning.keeps(old) {
                    t.versions
                        .insert(version_key(bucket, key, old.version), encode(VERSIONS, old)?)?;
                    record.version_count = record.version_count.saturating_add(1);
                } else {
                    queued += t.discard(old, None, CleanupReason::Deleted, &mut stats)?;
                }
            }
            let marker = match record.settings.versioning {
                Versioning::Unversioned => None,
                versioning => {
                    if let (Versioning::Suspended, Some((vkey, null))) = (versioning, &null) {
                        t.versions.remove(vkey.as_slice())?;
                        record.version_count = record.version_count.saturating_sub(1);
                        queued += t.discard(null, None, CleanupReason::Deleted, &mut stats)?;
                    }
                    let marker = ObjectMeta {
                        last_modified_ms: now_ms(),
                        version: marker_version,
                        versioned: versioning == Versioning::Enabled,
                        delete_marker: true,
                        ..ObjectMeta::default()
                    };
                    t.versions
                        .insert(version_key(bucket, key, marker.version), encode(VERSIONS, &marker)?)?;
                    record.version_count = record.version_count.saturating_add(1);
                    Some(marker)
                }
            };
            stats.apply_in(t.stats)?;
            t.buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
            Ok((Deleted { previous, marker }, queued))
        })?;
        self.count_cleanup(queued, 0);
        let changed = deleted.previous.is_some() || deleted.marker.is_some();
        let ticket = if changed {
            self.commits.ticket()
        } else {
            CommitTicket::ready()
        };
        Ok((deleted, ticket))
    }

    /// Removes one version for good (see [`Engine::delete_version`](crate::Engine::delete_version)).
    pub(crate) fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        bypass_governance: bool,
    ) -> Result<(Option<ObjectMeta>, CommitTicket)> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let _key_lock = self.key_locks.lock(bucket, key);
        let older = self.noncurrent(bucket, key)?;
        let now = now_ms();
        let (removed, queued) = self.version_transaction(|t| {
            let mut record = bucket_in(t.buckets, bucket)?;
            let current = match t.objects.get(okey.as_slice())? {
                Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?),
                None => None,
            };
            let Some(found) = find(current, &older, version) else {
                return Ok((None, 0));
            };
            let target = match &found {
                Found::Current(m) => m,
                Found::Noncurrent(i) => &older[*i].1,
            };
            if let Some(why) = target.lock_forbids_removal(now, bypass_governance) {
                return Err(TxError::Abort(StoreError::Locked {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: target.version_id(),
                    why,
                }));
            }
            let mut stats = StatsDelta::default();
            let queued = t.discard(target, None, CleanupReason::Deleted, &mut stats)?;
            // The newest remaining noncurrent version, which becomes current if the removed one
            // was the latest and it is not a delete marker.
            let mut promote = older.first();
            match &found {
                Found::Current(m) => {
                    t.objects.remove(okey.as_slice())?;
                    record.object_count = record.object_count.saturating_sub(1);
                    record.logical_bytes = record.logical_bytes.saturating_sub(m.size);
                }
                Found::Noncurrent(i) => {
                    t.versions.remove(older[*i].0.as_slice())?;
                    record.version_count = record.version_count.saturating_sub(1);
                    let was_latest = *i == 0 && t.objects.get(okey.as_slice())?.is_none();
                    promote = if was_latest { older.get(1) } else { None };
                }
            }
            if let Some((vkey, next)) = promote.filter(|(_, m)| !m.delete_marker) {
                t.versions.remove(vkey.as_slice())?;
                t.objects.insert(okey.as_slice(), encode(OBJECTS, next)?)?;
                record.version_count = record.version_count.saturating_sub(1);
                record.object_count = record.object_count.saturating_add(1);
                record.logical_bytes = record.logical_bytes.saturating_add(next.size);
            }
            stats.apply_in(t.stats)?;
            t.buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
            Ok((Some(target.clone()), queued))
        })?;
        self.count_cleanup(queued, 0);
        let ticket = if removed.is_some() {
            self.commits.ticket()
        } else {
            CommitTicket::ready()
        };
        Ok((removed, ticket))
    }

    /// Changes one version (see [`Engine::update_version`](crate::Engine::update_version)).
    pub(crate) fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        change: &VersionChange,
    ) -> Result<(ObjectMeta, CommitTicket)> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let _key_lock = self.key_locks.lock(bucket, key);
        let older = self.noncurrent(bucket, key)?;
        let now = now_ms();
        let changed = (&self.buckets, &self.objects, &self.versions).transaction(|(buckets, objects, versions)| {
            let record = bucket_in(buckets, bucket)?;
            let current = match objects.get(okey.as_slice())? {
                Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?),
                None => None,
            };
            let found =
                find(current, &older, version).ok_or_else(|| TxError::Abort(missing_version(bucket, key, version)))?;
            let mut meta = match &found {
                Found::Current(m) => (**m).clone(),
                Found::Noncurrent(i) => older[*i].1.clone(),
            };
            change_version(
                &mut meta,
                change,
                record.settings.object_lock.is_some(),
                now,
                bucket,
                key,
            )
            .map_err(TxError::Abort)?;
            match &found {
                Found::Current(_) => objects.insert(okey.as_slice(), encode(OBJECTS, &meta)?)?,
                Found::Noncurrent(i) => versions.insert(older[*i].0.as_slice(), encode(VERSIONS, &meta)?)?,
            };
            Ok(meta)
        })?;
        Ok((changed, self.commits.ticket()))
    }

    /// Runs `f` in one transaction over the trees a change of versions touches.
    pub(crate) fn version_transaction<T>(
        &self,
        f: impl Fn(&VersionTrees<'_>) -> std::result::Result<T, TxError>,
    ) -> Result<T> {
        Ok((
            &self.buckets,
            &self.objects,
            &self.versions,
            &self.usage,
            &self.cleanup,
            &self.cleanup_due,
            &self.backend_stats,
            &self.replication,
            &self.replication_due,
        )
            .transaction(
                |(buckets, objects, versions, usage, cleanup, due, stats, replication, replication_due)| {
                    f(&VersionTrees {
                        buckets,
                        objects,
                        versions,
                        usage,
                        cleanup,
                        due,
                        stats,
                        replication,
                        replication_due,
                    })
                },
            )?)
    }
}

/// The version `version` names among the current one and the noncurrent `older` (newest first).
fn find(current: Option<ObjectMeta>, older: &[Noncurrent], version: VersionRef) -> Option<Found> {
    if let Some(m) = current.filter(|m| version.names(m)) {
        return Some(Found::Current(Box::new(m)));
    }
    older.iter().position(|(_, m)| version.names(m)).map(Found::Noncurrent)
}
