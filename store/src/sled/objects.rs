//! Objects: read the current version, make a new version current. Each mutation is one sled
//! transaction over the bucket record, the object, the noncurrent versions, usage, the
//! per-backend totals and the cleanup queue, so a version becomes visible, its bytes are counted
//! and the version it replaces is kept or queued for cleanup all at once or not at all. Deletes
//! and the other calls on versions are in `versions.rs`.

use sled::transaction::TransactionalTree;

use super::cleanup::enqueue_in;
use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{decode, encode, object_key, version_key, BUCKETS, OBJECTS, VERSIONS};
use super::quota::adjust_usage;
use super::replication::enqueue_replication_in;
use super::stats::StatsDelta;
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{Accounting, BucketMeta, CleanupReason, CleanupTask, ObjectMeta, WriteCondition};
use crate::orchestration::wants_copies;
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms, CLEANUP_GRACE_MS};
use crate::versions::Versioning;

/// Reads the bucket record inside a transaction, or aborts with `NoSuchBucket`.
pub(crate) fn bucket_in(buckets: &TransactionalTree, bucket: &str) -> std::result::Result<BucketMeta, TxError> {
    match buckets.get(bucket.as_bytes())? {
        Some(v) => Ok(decode(BUCKETS, &v)?),
        None => Err(TxError::Abort(StoreError::NoSuchBucket(bucket.to_owned()))),
    }
}

/// The trees a new version touches, inside one transaction.
pub(crate) struct VersionTrees<'a> {
    pub(crate) buckets: &'a TransactionalTree,
    pub(crate) objects: &'a TransactionalTree,
    pub(crate) versions: &'a TransactionalTree,
    pub(crate) usage: &'a TransactionalTree,
    pub(crate) cleanup: &'a TransactionalTree,
    pub(crate) due: &'a TransactionalTree,
    pub(crate) stats: &'a TransactionalTree,
    pub(crate) replication: &'a TransactionalTree,
    pub(crate) replication_due: &'a TransactionalTree,
}

/// What making a version current queued: cleanup tasks, replication tasks (0 or 1), and the
/// version id it got.
pub(crate) struct Installed {
    pub(crate) cleanup: u64,
    pub(crate) replication: u64,
    pub(crate) version_id: Option<String>,
}

impl VersionTrees<'_> {
    /// Queues the bytes of `old`, a version leaving the store, for cleanup and takes it out of
    /// the backends' totals (`stats`); how many tasks it queued. A location `keep` reuses (the
    /// same physical key written again) is not queued: its old bytes are gone already.
    pub(crate) fn discard(
        &self,
        old: &ObjectMeta,
        keep: Option<&ObjectMeta>,
        reason: CleanupReason,
        stats: &mut StatsDelta,
    ) -> std::result::Result<u64, TxError> {
        let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
        let mut queued = 0;
        stats.version(old, -1);
        for loc in &old.locations {
            if keep.is_some_and(|k| k.locations.contains(loc)) {
                tracing::warn!(
                    backend = %loc.backend,
                    physical_key = %loc.physical_key,
                    "physical key reused by a new version; not queued for cleanup"
                );
                adjust_usage(self.usage, &loc.backend, -i128::from(old.stored_size()))?;
                continue;
            }
            let task = CleanupTask::delete(
                &loc.backend,
                &loc.physical_key,
                old.stored_size(),
                Accounting::Committed,
                reason,
                not_before_ms,
            );
            enqueue_in(self.cleanup, self.due, task)?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// Makes `meta` the current version of `bucket`/`key` (`okey`) inside a transaction, as the
/// bucket's versioning says (see [`Engine::put_object`](crate::Engine::put_object)): checks
/// `condition`, adds `usage_delta` to the usage of every location, updates the bucket's and the
/// backends' totals, keeps the replaced version as a noncurrent one or queues its bytes for
/// cleanup, and with versioning suspended removes `null_noncurrent` (the key's noncurrent
/// `null` version, read under the key's lock). `stats` holds further changes to the backends'
/// totals to apply with these. Queues the version for replication if it wants more copies
/// than it has.
#[allow(clippy::too_many_arguments)]
pub(crate) fn install_in(
    t: &VersionTrees<'_>,
    bucket: &str,
    key: &str,
    okey: &[u8],
    meta: &ObjectMeta,
    null_noncurrent: Option<&(Vec<u8>, ObjectMeta)>,
    condition: &WriteCondition,
    usage_delta: i128,
    mut stats: StatsDelta,
) -> std::result::Result<Installed, TxError> {
    let mut record = bucket_in(t.buckets, bucket)?;
    let current = match t.objects.get(okey)? {
        Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?),
        None => None,
    };
    if !condition.holds(current.as_ref()) {
        return Err(TxError::Abort(StoreError::PreconditionFailed {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }));
    }
    let mut meta = meta.clone();
    meta.versioned = record.settings.versioning == Versioning::Enabled;
    meta.delete_marker = false;
    t.objects.insert(okey, encode(OBJECTS, &meta)?)?;
    for loc in &meta.locations {
        adjust_usage(t.usage, &loc.backend, usage_delta)?;
    }
    let mut queued = 0;
    stats.version(&meta, 1);
    match &current {
        None => {
            record.object_count = record.object_count.saturating_add(1);
            record.logical_bytes = record.logical_bytes.saturating_add(meta.size);
        }
        Some(old) => {
            record.logical_bytes = record.logical_bytes.saturating_sub(old.size).saturating_add(meta.size);
            if record.settings.versioning.keeps(old) {
                t.versions
                    .insert(version_key(bucket, key, old.version), encode(VERSIONS, old)?)?;
                record.version_count = record.version_count.saturating_add(1);
            } else {
                queued += t.discard(old, Some(&meta), CleanupReason::Replaced, &mut stats)?;
            }
        }
    }
    if record.settings.versioning == Versioning::Suspended {
        if let Some((vkey, null)) = null_noncurrent {
            t.versions.remove(vkey.as_slice())?;
            record.version_count = record.version_count.saturating_sub(1);
            queued += t.discard(null, Some(&meta), CleanupReason::Replaced, &mut stats)?;
        }
    }
    stats.apply_in(t.stats)?;
    t.buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
    let replication = if wants_copies(&meta) {
        u64::from(enqueue_replication_in(t, bucket, key, meta.version, now_ms())?)
    } else {
        0
    };
    Ok(Installed {
        cleanup: queued,
        replication,
        version_id: meta.versioned.then(|| meta.version_id()),
    })
}

impl SledEngine {
    /// The current version of `bucket`/`key`, if any.
    pub(crate) fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.objects
            .get(object_key(bucket, key))?
            .map(|v| decode(OBJECTS, &v))
            .transpose()
    }

    /// Makes `meta` the current version of `bucket`/`key` in one transaction (see
    /// [`Engine::put_object`](crate::Engine::put_object)); `reservations` are released after it,
    /// their bytes now being counted as usage.
    pub(crate) fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        reservations: Vec<Reservation>,
    ) -> Result<(Option<String>, CommitTicket)> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let _key_lock = self.key_locks.lock(bucket, key);
        let null = self.null_noncurrent(bucket, key)?;
        let installed = self.version_transaction(|trees| {
            let size = i128::from(meta.stored_size());
            install_in(
                trees,
                bucket,
                key,
                &okey,
                meta,
                null.as_ref(),
                condition,
                size,
                StatsDelta::default(),
            )
        })?;
        self.count_cleanup(installed.cleanup, 0);
        self.count_replication(installed.replication, 0);
        let ticket = self.commits.ticket();
        drop(reservations);
        Ok((installed.version_id, ticket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sled_engine::testing::{ok, temporary};
    use crate::{block_on, Location};

    fn meta(size: u64) -> ObjectMeta {
        ObjectMeta {
            size,
            version: 1,
            locations: vec![Location {
                backend: "b1".into(),
                physical_key: "p".into(),
            }],
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn corrupt_records_are_reported_and_left_alone() {
        let (store, engine) = temporary();
        ok(store.create_bucket("bkt", "AK"));
        engine
            .objects
            .insert(object_key("bkt", "bad"), &b"garbage"[..])
            .unwrap();
        let none = WriteCondition::None;
        assert!(matches!(
            block_on(store.get_object("bkt", "bad")),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            block_on(store.put_object("bkt", "bad", &meta(1), &none, Vec::new())),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            block_on(store.delete_object("bkt", "bad")),
            Err(StoreError::Corrupt { .. })
        ));
        // The aborted transactions left the garbage (and usage) as they were.
        assert!(engine.objects.get(object_key("bkt", "bad")).unwrap().is_some());
        assert_eq!(ok(store.usage("b1")), 0);
    }

    #[test]
    fn a_missing_key_deletes_without_waiting_for_a_flush() {
        let (store, engine) = temporary();
        ok(store.create_bucket("bkt", "AK"));
        let (deleted, ticket) = engine.delete_object("bkt", "nope").unwrap();
        assert!(deleted.previous.is_none() && deleted.marker.is_none());
        assert!(ticket.is_durable());
    }

    #[test]
    fn poisoned_store_refuses_mutations_before_changing_anything() {
        let (store, engine) = temporary();
        ok(store.create_bucket("bkt", "AK"));
        engine.commits.poison("test");
        let flush = |r: Result<()>| matches!(r, Err(StoreError::Flush(_)));
        let none = WriteCondition::None;
        assert!(flush(
            block_on(store.put_object("bkt", "k", &meta(1), &none, Vec::new())).map(drop)
        ));
        assert!(block_on(store.get_object("bkt", "k")).unwrap().is_none());
        assert!(matches!(
            block_on(store.delete_object("bkt", "k")),
            Err(StoreError::Flush(_))
        ));
        assert!(flush(block_on(store.create_bucket("x", "AK"))));
        assert!(flush(block_on(store.delete_bucket("bkt"))));
        assert!(flush(block_on(store.set_tags("bkt", "k", Vec::new()))));
        assert_eq!(store.health().problem.as_deref(), Some("test"));
    }
}
