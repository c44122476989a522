//! Objects: read the current version, make a new version current, delete. Each mutation is one
//! sled transaction over the bucket record, the object, usage, the per-backend totals and the
//! cleanup queue, so a version becomes visible, its bytes are counted and the version it replaces
//! is queued for cleanup all at once or not at all.

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::cleanup::enqueue_in;
use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{decode, encode, object_key, BUCKETS, OBJECTS};
use super::quota::adjust_usage;
use super::stats::StatsDelta;
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{Accounting, BucketMeta, CleanupReason, CleanupTask, ObjectMeta, WriteCondition};
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms, CLEANUP_GRACE_MS};

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
    pub(crate) usage: &'a TransactionalTree,
    pub(crate) cleanup: &'a TransactionalTree,
    pub(crate) due: &'a TransactionalTree,
    pub(crate) stats: &'a TransactionalTree,
}

/// Makes `meta` (encoded as `value`) the current version of `bucket`/`key` (`okey`) inside a
/// transaction: checks `condition`, adds `usage_delta` to the usage of every location, updates
/// the bucket's and the backends' totals, and queues the replaced version's bytes for cleanup.
/// `stats` holds further changes to the backends' totals to apply with these. Returns how many
/// cleanup tasks it queued.
#[allow(clippy::too_many_arguments)]
pub(crate) fn install_in(
    t: &VersionTrees<'_>,
    bucket: &str,
    key: &str,
    okey: &[u8],
    value: &[u8],
    meta: &ObjectMeta,
    condition: &WriteCondition,
    usage_delta: i128,
    mut stats: StatsDelta,
) -> std::result::Result<u64, TxError> {
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
    t.objects.insert(okey, value)?;
    for loc in &meta.locations {
        adjust_usage(t.usage, &loc.backend, usage_delta)?;
    }
    let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
    let mut queued = 0;
    stats.version(meta, 1);
    if let Some(old) = &current {
        stats.version(old, -1);
    }
    stats.apply_in(t.stats)?;
    match &current {
        None => {
            record.object_count = record.object_count.saturating_add(1);
            record.logical_bytes = record.logical_bytes.saturating_add(meta.size);
        }
        Some(old) => {
            record.logical_bytes = record.logical_bytes.saturating_sub(old.size).saturating_add(meta.size);
            for loc in &old.locations {
                if meta.locations.contains(loc) {
                    // The same physical key was written again: its old bytes are gone already,
                    // and cleaning it up would delete the new ones.
                    tracing::warn!(
                        bucket,
                        key,
                        backend = %loc.backend,
                        physical_key = %loc.physical_key,
                        "physical key reused by a new version; not queued for cleanup"
                    );
                    adjust_usage(t.usage, &loc.backend, -i128::from(old.size))?;
                } else {
                    let task = CleanupTask::delete(
                        &loc.backend,
                        &loc.physical_key,
                        old.size,
                        Accounting::Committed,
                        CleanupReason::Replaced,
                        not_before_ms,
                    );
                    enqueue_in(t.cleanup, t.due, task)?;
                    queued += 1;
                }
            }
        }
    }
    t.buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
    Ok(queued)
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
    ) -> Result<CommitTicket> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let value = encode(OBJECTS, meta)?;
        let queued = (
            &self.buckets,
            &self.objects,
            &self.usage,
            &self.cleanup,
            &self.cleanup_due,
            &self.backend_stats,
        )
            .transaction(|(buckets, objects, usage, cleanup, due, stats)| {
                let trees = VersionTrees {
                    buckets,
                    objects,
                    usage,
                    cleanup,
                    due,
                    stats,
                };
                let size = i128::from(meta.size);
                install_in(
                    &trees,
                    bucket,
                    key,
                    &okey,
                    &value,
                    meta,
                    condition,
                    size,
                    StatsDelta::default(),
                )
            })?;
        self.count_cleanup(queued, 0);
        let ticket = self.commits.ticket();
        drop(reservations);
        Ok(ticket)
    }

    /// Replaces the tags of the current version of `bucket`/`key` (`NoSuchKey` without one).
    pub(crate) fn set_tags(&self, bucket: &str, key: &str, tags: &[(String, String)]) -> Result<CommitTicket> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        self.objects.transaction(|objects| {
            let Some(v) = objects.get(okey.as_slice())? else {
                return Err(TxError::Abort(StoreError::NoSuchKey {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }));
            };
            let mut meta: ObjectMeta = decode(OBJECTS, &v)?;
            meta.tags = tags.to_vec();
            objects.insert(okey.as_slice(), encode(OBJECTS, &meta)?)?;
            Ok(())
        })?;
        Ok(self.commits.ticket())
    }

    /// Deletes the current version of `bucket`/`key` and queues its bytes for cleanup, in one
    /// transaction; returns the version that was current.
    pub(crate) fn delete_object(&self, bucket: &str, key: &str) -> Result<(Option<ObjectMeta>, CommitTicket)> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
        let trees = (
            &self.buckets,
            &self.objects,
            &self.cleanup,
            &self.cleanup_due,
            &self.backend_stats,
        );
        let previous = trees.transaction(|(buckets, objects, cleanup, due, stats)| {
            let mut record = bucket_in(buckets, bucket)?;
            let Some(v) = objects.remove(okey.as_slice())? else {
                return Ok(None);
            };
            let old: ObjectMeta = decode(OBJECTS, &v)?;
            for loc in &old.locations {
                let task = CleanupTask::delete(
                    &loc.backend,
                    &loc.physical_key,
                    old.size,
                    Accounting::Committed,
                    CleanupReason::Deleted,
                    not_before_ms,
                );
                enqueue_in(cleanup, due, task)?;
            }
            let mut delta = StatsDelta::default();
            delta.version(&old, -1);
            delta.apply_in(stats)?;
            record.object_count = record.object_count.saturating_sub(1);
            record.logical_bytes = record.logical_bytes.saturating_sub(old.size);
            buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
            Ok(Some(old))
        })?;
        let ticket = match &previous {
            Some(old) => {
                self.count_cleanup(old.locations.len() as u64, 0);
                self.commits.ticket()
            }
            None => CommitTicket::ready(),
        };
        Ok((previous, ticket))
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
        let (previous, ticket) = engine.delete_object("bkt", "nope").unwrap();
        assert!(previous.is_none());
        assert!(ticket.is_durable());
    }

    #[test]
    fn poisoned_store_refuses_mutations_before_changing_anything() {
        let (store, engine) = temporary();
        ok(store.create_bucket("bkt", "AK"));
        engine.commits.poison("test");
        let flush = |r: Result<()>| matches!(r, Err(StoreError::Flush(_)));
        let none = WriteCondition::None;
        assert!(flush(block_on(store.put_object(
            "bkt",
            "k",
            &meta(1),
            &none,
            Vec::new()
        ))));
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
