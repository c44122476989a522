//! Objects: read the current version, make a new version current, delete. Each mutation is one
//! sled transaction over the bucket record, the object, usage and the cleanup queue, so a version
//! becomes visible, its bytes are counted and the version it replaces is queued for cleanup all at
//! once or not at all.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use crate::sled_engine::cleanup::{enqueue_in, CLEANUP_GRACE_MS};
use crate::sled_engine::commit::CommitTicket;
use crate::error::{Result, StoreError};
use crate::sled_engine::layout::{check_bucket_name, decode, encode, now_ms, object_key, BUCKETS, OBJECTS};
use crate::model::{Accounting, BucketMeta, CleanupTask, ObjectMeta, WriteCondition};
use crate::sled_engine::quota::{adjust_usage, Reservation};
use crate::Store;

/// What [`Store::delete_object`] removed, and when that is durable.
#[derive(Debug)]
#[must_use = "a deletion is not durable until its ticket completes"]
pub struct Deleted {
    /// The version that was current, or `None` if there was none (still a success in S3).
    pub previous: Option<ObjectMeta>,
    /// Completes when the deletion is durable.
    pub ticket: CommitTicket,
}

/// The error type inside a transaction closure.
pub(crate) type TxError = ConflictableTransactionError<StoreError>;

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
}

/// Makes `meta` (encoded as `value`) the current version of `bucket`/`key` (`okey`) inside a
/// transaction: checks `condition`, adds `usage_delta` to the usage of every location, updates
/// the bucket's totals, and queues the replaced version's bytes for cleanup.
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
) -> std::result::Result<(), TxError> {
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
                        not_before_ms,
                    );
                    enqueue_in(t.cleanup, t.due, task)?;
                }
            }
        }
    }
    t.buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
    Ok(())
}

impl Store {
    /// The current version of `bucket`/`key`, if any (also `None` when the bucket is missing).
    pub fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        self.inner
            .objects
            .get(object_key(bucket, key))?
            .map(|v| decode(OBJECTS, &v))
            .transpose()
    }

    /// Makes `meta` the current version of `bucket`/`key`, in one transaction: fails with
    /// `NoSuchBucket` if the bucket is missing, `PreconditionFailed` if `condition` does not hold
    /// of the current version; adds `meta.size` to the usage of every backend in
    /// `meta.locations`; queues every location of the replaced version for cleanup (its bytes stay
    /// in usage until the cleanup completes). `reservations` are released after the commit, their
    /// bytes now being counted as usage.
    ///
    /// The bytes must already be stored at `meta.locations`, under fresh physical keys, and each
    /// backend should hold a reservation of at least `meta.size`: this method does not check
    /// quotas (the store does not know them), it only counts the bytes.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        reservations: Vec<Reservation>,
    ) -> Result<CommitTicket> {
        check_bucket_name(bucket)?;
        self.inner.commits.check()?;
        let okey = object_key(bucket, key);
        let value = encode(OBJECTS, meta)?;
        let inner = &self.inner;
        (
            &inner.buckets,
            &inner.objects,
            &inner.usage,
            &inner.cleanup,
            &inner.cleanup_due,
        )
            .transaction(|(buckets, objects, usage, cleanup, due)| {
                let trees = VersionTrees {
                    buckets,
                    objects,
                    usage,
                    cleanup,
                    due,
                };
                install_in(
                    &trees,
                    bucket,
                    key,
                    &okey,
                    &value,
                    meta,
                    condition,
                    i128::from(meta.size),
                )
            })?;
        let ticket = inner.commits.ticket();
        drop(reservations);
        Ok(ticket)
    }

    /// Replaces the tags of the current version of `bucket`/`key` (`NoSuchKey` without one).
    pub fn set_tags(&self, bucket: &str, key: &str, tags: Vec<(String, String)>) -> Result<CommitTicket> {
        check_bucket_name(bucket)?;
        self.inner.commits.check()?;
        let okey = object_key(bucket, key);
        self.inner.objects.transaction(|objects| {
            let Some(v) = objects.get(okey.as_slice())? else {
                return Err(TxError::Abort(StoreError::NoSuchKey {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }));
            };
            let mut meta: ObjectMeta = decode(OBJECTS, &v)?;
            meta.tags.clone_from(&tags);
            objects.insert(okey.as_slice(), encode(OBJECTS, &meta)?)?;
            Ok(())
        })?;
        Ok(self.inner.commits.ticket())
    }

    /// Deletes the current version of `bucket`/`key` and queues its bytes for cleanup, in one
    /// transaction. A missing key is a success with `previous: None`; a missing bucket is
    /// `NoSuchBucket`.
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted> {
        check_bucket_name(bucket)?;
        self.inner.commits.check()?;
        let okey = object_key(bucket, key);
        let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
        let inner = &self.inner;
        let previous = (&inner.buckets, &inner.objects, &inner.cleanup, &inner.cleanup_due).transaction(
            |(buckets, objects, cleanup, due)| {
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
                        not_before_ms,
                    );
                    enqueue_in(cleanup, due, task)?;
                }
                record.object_count = record.object_count.saturating_sub(1);
                record.logical_bytes = record.logical_bytes.saturating_sub(old.size);
                buckets.insert(bucket.as_bytes(), encode(BUCKETS, &record)?)?;
                Ok(Some(old))
            },
        )?;
        let ticket = match previous {
            Some(_) => inner.commits.ticket(),
            None => CommitTicket::ready(),
        };
        Ok(Deleted { previous, ticket })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sled_engine::layout::physical_key_for;
    use crate::model::Location;

    fn version(store: &Store, bucket: &str, key: &str, size: u64, backends: &[&str]) -> ObjectMeta {
        let v = store.next_version().unwrap();
        ObjectMeta {
            size,
            etag: format!("\"{v:032x}\""),
            content_type: Some("text/plain".into()),
            last_modified_ms: now_ms(),
            version: v,
            locations: backends
                .iter()
                .map(|b| Location {
                    backend: (*b).to_owned(),
                    physical_key: physical_key_for(bucket, key, v),
                })
                .collect(),
            ..ObjectMeta::default()
        }
    }

    fn store_with_bucket() -> Store {
        let store = Store::temporary().unwrap();
        store.create_bucket("bkt", "AK").unwrap().wait().unwrap();
        store
    }

    #[test]
    fn put_get_overwrite_delete_keeps_usage_and_cleanup_in_step() {
        let store = store_with_bucket();
        assert!(store.get_object("bkt", "k").unwrap().is_none());
        let v1 = version(&store, "bkt", "k", 100, &["b1", "b2"]);
        let r1 = store.reserve("b1", 100, Some(1000)).unwrap();
        let r2 = store.reserve("b2", 100, None).unwrap();
        store
            .put_object("bkt", "k", &v1, &WriteCondition::None, vec![r1, r2])
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(store.get_object("bkt", "k").unwrap().as_ref(), Some(&v1));
        assert_eq!((store.usage("b1").unwrap(), store.usage("b2").unwrap()), (100, 100));
        assert_eq!((store.reserved("b1"), store.reserved("b2")), (0, 0));
        assert_eq!(store.cleanup_len(), 0);

        let v2 = version(&store, "bkt", "k", 30, &["b1"]);
        store
            .put_object("bkt", "k", &v2, &WriteCondition::None, Vec::new())
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(store.get_object("bkt", "k").unwrap().as_ref(), Some(&v2));
        // Old bytes stay counted until their cleanup completes.
        assert_eq!((store.usage("b1").unwrap(), store.usage("b2").unwrap()), (130, 100));
        let tasks = store.due_cleanup(u64::MAX, 10).unwrap();
        let mut queued: Vec<_> = tasks
            .iter()
            .map(|t| (t.backend.as_str(), t.physical_key.as_str(), t.size, t.accounting))
            .collect();
        queued.sort_unstable();
        let old_key = physical_key_for("bkt", "k", v1.version);
        assert_eq!(
            queued,
            [
                ("b1", old_key.as_str(), 100, Accounting::Committed),
                ("b2", old_key.as_str(), 100, Accounting::Committed)
            ]
        );
        // Replaced bytes are not due before the grace period.
        assert!(store.due_cleanup(now_ms(), 10).unwrap().is_empty());
        for t in &tasks {
            store.complete_cleanup(t.id).unwrap().wait().unwrap();
        }
        assert_eq!((store.usage("b1").unwrap(), store.usage("b2").unwrap()), (30, 0));
        let b = store.bucket("bkt").unwrap().unwrap();
        assert_eq!((b.object_count, b.logical_bytes), (1, 30));

        let gone = store.delete_object("bkt", "k").unwrap();
        gone.ticket.wait().unwrap();
        assert_eq!(gone.previous, Some(v2.clone()));
        assert!(store.get_object("bkt", "k").unwrap().is_none());
        let tasks = store.due_cleanup(u64::MAX, 10).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].physical_key, v2.locations[0].physical_key);
        store.complete_cleanup(tasks[0].id).unwrap().wait().unwrap();
        assert_eq!(store.usage("b1").unwrap(), 0);
        let b = store.bucket("bkt").unwrap().unwrap();
        assert_eq!((b.object_count, b.logical_bytes), (0, 0));
    }

    #[test]
    fn deleting_a_missing_key_succeeds_with_nothing() {
        let store = store_with_bucket();
        let d = store.delete_object("bkt", "nope").unwrap();
        assert!(d.previous.is_none());
        assert!(d.ticket.is_durable());
        assert_eq!(store.cleanup_len(), 0);
    }

    #[test]
    fn every_error_path() {
        let store = store_with_bucket();
        let v = version(&store, "nobkt", "k", 1, &["b1"]);
        let r = store.reserve("b1", 1, Some(1)).unwrap();
        assert!(matches!(
            store.put_object("nobkt", "k", &v, &WriteCondition::None, vec![r]),
            Err(StoreError::NoSuchBucket(b)) if b == "nobkt"
        ));
        // The failed put released its reservation and changed nothing.
        assert_eq!(store.reserved("b1"), 0);
        assert_eq!(store.usage("b1").unwrap(), 0);
        assert!(matches!(
            store.delete_object("nobkt", "k"),
            Err(StoreError::NoSuchBucket(_))
        ));
        assert!(matches!(
            store.put_object("", "k", &v, &WriteCondition::None, Vec::new()),
            Err(StoreError::InvalidBucketName(_))
        ));
        assert!(matches!(
            store.delete_object("a\0b", "k"),
            Err(StoreError::InvalidBucketName(_))
        ));
        store
            .inner
            .objects
            .insert(object_key("bkt", "bad"), &b"garbage"[..])
            .unwrap();
        assert!(matches!(
            store.get_object("bkt", "bad"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            store.put_object("bkt", "bad", &v, &WriteCondition::None, Vec::new()),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            store.delete_object("bkt", "bad"),
            Err(StoreError::Corrupt { .. })
        ));
        // The aborted transactions left the garbage (and usage) as they were.
        assert!(store.inner.objects.get(object_key("bkt", "bad")).unwrap().is_some());
        assert_eq!(store.usage("b1").unwrap(), 0);
    }

    #[test]
    fn a_reused_physical_key_is_never_queued_for_cleanup() {
        let store = store_with_bucket();
        let v1 = version(&store, "bkt", "k", 10, &["b1"]);
        store
            .put_object("bkt", "k", &v1, &WriteCondition::None, Vec::new())
            .unwrap()
            .wait()
            .unwrap();
        let again = ObjectMeta { size: 15, ..v1 };
        store
            .put_object("bkt", "k", &again, &WriteCondition::None, Vec::new())
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(store.cleanup_len(), 0);
        assert_eq!(store.usage("b1").unwrap(), 15);
    }

    #[test]
    fn keys_are_isolated_per_bucket() {
        let store = store_with_bucket();
        store.create_bucket("bkt2", "AK").unwrap().wait().unwrap();
        let v = version(&store, "bkt", "k", 1, &["b1"]);
        store
            .put_object("bkt", "k", &v, &WriteCondition::None, Vec::new())
            .unwrap()
            .wait()
            .unwrap();
        assert!(store.get_object("bkt2", "k").unwrap().is_none());
        assert!(store.delete_object("bkt2", "k").unwrap().previous.is_none());
        assert!(store.get_object("bkt", "k").unwrap().is_some());
    }

    #[test]
    fn concurrent_writers_of_one_key_leave_one_current_and_queue_all_others() {
        let store = store_with_bucket();
        let threads = 4;
        let per_thread = 25;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let tickets: Vec<_> = (0..per_thread)
                        .map(|_| {
                            let v = version(&store, "bkt", "hot", 1, &["b1"]);
                            store
                                .put_object("bkt", "hot", &v, &WriteCondition::None, Vec::new())
                                .unwrap()
                        })
                        .collect();
                    for t in tickets {
                        t.wait().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let commits = threads * per_thread;
        assert_eq!(store.cleanup_len(), commits - 1);
        assert_eq!(store.usage("b1").unwrap(), u64::try_from(commits).unwrap());
        let current = store.get_object("bkt", "hot").unwrap().unwrap();
        let queued = store.due_cleanup(u64::MAX, commits).unwrap();
        assert!(queued
            .iter()
            .all(|t| t.physical_key != current.locations[0].physical_key));
        let b = store.bucket("bkt").unwrap().unwrap();
        assert_eq!((b.object_count, b.logical_bytes), (1, 1));
        let flushes = usize::try_from(store.flush_count()).unwrap();
        assert!(flushes < commits, "{flushes} flushes for {commits} commits");
    }

    #[test]
    fn poisoned_store_refuses_mutations() {
        let store = store_with_bucket();
        store.inner.commits.poison("test");
        let v = version(&store, "bkt", "k", 1, &["b1"]);
        assert!(matches!(
            store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
            Err(StoreError::Flush(_))
        ));
        assert!(matches!(store.delete_object("bkt", "k"), Err(StoreError::Flush(_))));
        assert!(matches!(store.create_bucket("x", "AK"), Err(StoreError::Flush(_))));
        assert!(matches!(store.delete_bucket("bkt"), Err(StoreError::Flush(_))));
    }
}
