//! Rebuilding the index in the sled engine: a bucket restored with its settings, a version put
//! back in its place by version number (one transaction over the trees a new version touches,
//! holding the key's lock like every other change of a key's versions), and the version
//! generator moved past the versions restored.
//!
//! sled's id generator cannot be set, so the engine adds an offset to what it gives: kept in the
//! `meta` tree (`version_offset`), read when the store opens, only ever raised.

use std::sync::atomic::Ordering;

use super::commit::CommitTicket;
use super::layout::{decode, encode, encode_u64, object_key, version_key, BUCKETS, OBJECTS, VERSIONS};
use super::layout::{decode_u64, META, VERSION_OFFSET_KEY};
use super::objects::bucket_in;
use super::quota::adjust_usage;
use super::replication::enqueue_replication_in;
use super::stats::StatsDelta;
use super::SledEngine;
use crate::error::Result;
use crate::model::{BucketMeta, Location, ObjectMeta};
use crate::orchestration::wants_copies;
use crate::rules::{check_bucket_name, now_ms};

impl SledEngine {
    /// Creates the bucket `meta` names with its settings, unless it exists (see
    /// [`Engine::restore_bucket`](crate::Engine::restore_bucket)).
    pub(crate) fn restore_bucket(&self, meta: &BucketMeta) -> Result<CommitTicket> {
        check_bucket_name(&meta.name)?;
        self.commits.check()?;
        let record = BucketMeta {
            object_count: 0,
            logical_bytes: 0,
            version_count: 0,
            ..meta.clone()
        };
        let value = encode(BUCKETS, &record)?;
        let swapped = self
            .buckets
            .compare_and_swap(meta.name.as_bytes(), None as Option<&[u8]>, Some(value))?;
        Ok(match swapped {
            Ok(()) => self.commits.ticket(),
            Err(_) => CommitTicket::ready(),
        })
    }

    /// Puts a version back in its place (see
    /// [`Engine::restore_version`](crate::Engine::restore_version)).
    pub(crate) fn restore_version(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> Result<CommitTicket> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let _key_lock = self.key_locks.lock(bucket, key);
        let older = self.noncurrent(bucket, key)?;
        let queued = self.version_transaction(|t| {
            let mut record = bucket_in(t.buckets, bucket)?;
            let current = match t.objects.get(okey.as_slice())? {
                Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?),
                None => None,
            };
            let mut stats = StatsDelta::default();
            // The version already there: it gets the locations it lacks.
            let present = match &current {
                Some(c) if c.version == meta.version => Some((None, c.clone())),
                _ => older
                    .iter()
                    .find(|(_, m)| m.version == meta.version)
                    .map(|(k, m)| (Some(k.clone()), m.clone())),
            };
            let stored = if let Some((vkey, mut have)) = present {
                let added: Vec<Location> = meta
                    .locations
                    .iter()
                    .filter(|l| !have.locations.contains(l))
                    .cloned()
                    .collect();
                if added.is_empty() || have.delete_marker {
                    return Ok(0);
                }
                stats.version(&have, -1);
                have.locations.extend(added.iter().cloned());
                stats.version(&have, 1);
                for loc in &added {
                    adjust_usage(t.usage, &loc.backend, i128::from(have.stored_size()))?;
                }
                match vkey {
                    None => t.objects.insert(okey.as_slice(), encode(OBJECTS, &have)?)?,
                    Some(k) => t.versions.insert(k.as_slice(), encode(VERSIONS, &have)?)?,
                };
                have
            } else {
                let latest = current
                    .as_ref()
                    .map(|c| c.version)
                    .into_iter()
                    .chain(older.first().map(|(_, m)| m.version))
                    .max();
                let newest = latest.is_none_or(|l| meta.version > l);
                let vkey = version_key(bucket, key, meta.version);
                if newest {
                    if let Some(old) = &current {
                        // The current version steps back to be a noncurrent one.
                        t.versions
                            .insert(version_key(bucket, key, old.version), encode(VERSIONS, old)?)?;
                        record.version_count = record.version_count.saturating_add(1);
                        record.object_count = record.object_count.saturating_sub(1);
                        record.logical_bytes = record.logical_bytes.saturating_sub(old.size);
                        t.objects.remove(okey.as_slice())?;
                    }
                    if meta.delete_marker {
                        t.versions.insert(vkey.as_slice(), encode(VERSIONS, meta)?)?;
                        record.version_count = record.version_count.saturating_add(1);
                    } else {
                        t.objects.insert(okey.as_slice(), encode(OBJECTS, meta)?)?;
                        record.object_count = record.object_count.saturating_add(1);
                        record.logical_bytes = record.logical_bytes.saturating_add(meta.size);
                    }
                } else {
                    t.versions.insert(vkey.as_slice(), encode(VERSIONS, meta)?)?;
                    record.version_count = record.version_count.saturating_add(1);
                }
                if !meta.delete_marker {
                    stats.version(meta, 1);
                    for loc in &meta.locations {
                        adjust_usage(t.usage, &loc.backend, i128::from(meta.stored_size()))?;
                    }
                }
                t.buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
                meta.clone()
            };
            stats.apply_in(t.stats)?;
            Ok(if wants_copies(&stored) {
                u64::from(enqueue_replication_in(t, bucket, key, stored.version, now_ms())?)
            } else {
                0
            })
        })?;
        self.count_replication(queued, 0);
        Ok(self.commits.ticket())
    }

    /// Raises the offset added to sled's ids so the next version is above `above` (see
    /// [`Engine::advance_versions`](crate::Engine::advance_versions)).
    pub(crate) fn advance_versions(&self, above: u64) -> Result<CommitTicket> {
        self.commits.check()?;
        let id = self.db.generate_id()?;
        let offset = self.version_offset.load(Ordering::SeqCst);
        if id.saturating_add(offset) > above {
            return Ok(CommitTicket::ready());
        }
        // Every later id is above `id`: with this offset, every later version is above `above`.
        let raised = above - id;
        self.meta.insert(VERSION_OFFSET_KEY, &encode_u64(raised))?;
        self.version_offset.fetch_max(raised, Ordering::SeqCst);
        Ok(self.commits.ticket())
    }

    /// The offset recorded in `meta` (0 when none was ever set).
    pub(crate) fn read_version_offset(meta: &sled::Tree) -> Result<u64> {
        meta.get(VERSION_OFFSET_KEY)?.map_or(Ok(0), |v| decode_u64(META, &v))
    }
}
