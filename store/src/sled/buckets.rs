//! Buckets: create, look up, list, change and delete. A bucket record carries the count of its objects,
//! kept up to date by the object transactions, so `delete_bucket` can check emptiness and remove
//! the bucket in one transaction that no concurrent `put_object` can slip past.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::commit::CommitTicket;
use super::layout::{bucket_prefix, decode, encode, BUCKETS};
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::BucketMeta;
use crate::rules::{check_bucket_name, now_ms};
use crate::versions::BucketChange;

impl SledEngine {
    /// Creates bucket `name` owned by `owner_access_key`.
    pub(crate) fn create_bucket(&self, name: &str, owner_access_key: &str) -> Result<CommitTicket> {
        check_bucket_name(name)?;
        self.commits.check()?;
        let meta = BucketMeta {
            name: name.to_owned(),
            created_ms: now_ms(),
            owner: owner_access_key.to_owned(),
            ..BucketMeta::default()
        };
        let value = encode(BUCKETS, &meta)?;
        self.buckets
            .compare_and_swap(name.as_bytes(), None as Option<&[u8]>, Some(value))?
            .map_err(|_| StoreError::BucketAlreadyExists(name.to_owned()))?;
        Ok(self.commits.ticket())
    }

    /// The bucket named `name`, if it exists.
    pub(crate) fn bucket(&self, name: &str) -> Result<Option<BucketMeta>> {
        self.buckets
            .get(name.as_bytes())?
            .map(|v| decode(BUCKETS, &v))
            .transpose()
    }

    /// Every bucket, in name order.
    pub(crate) fn list_buckets(&self) -> Result<Vec<BucketMeta>> {
        self.buckets.iter().values().map(|v| decode(BUCKETS, &v?)).collect()
    }

    /// Deletes bucket `name`; fails with `NoSuchBucket` if absent, `BucketNotEmpty` if it holds
    /// any object.
    pub(crate) fn delete_bucket(&self, name: &str) -> Result<CommitTicket> {
        self.commits.check()?;
        if self.bucket(name)?.is_none() {
            return Err(StoreError::NoSuchBucket(name.to_owned()));
        }
        // A guard against a drifted count; the count checked in the transaction is what
        // serialises against concurrent puts.
        let holds = |tree: &sled::Tree| {
            tree.scan_prefix(bucket_prefix(name))
                .next()
                .transpose()
                .map(|e| e.is_some())
        };
        if holds(&self.objects)? || holds(&self.versions)? {
            return Err(StoreError::BucketNotEmpty(name.to_owned()));
        }
        (&self.buckets,).transaction(|(buckets,)| {
            let Some(v) = buckets.get(name.as_bytes())? else {
                return Err(ConflictableTransactionError::Abort(StoreError::NoSuchBucket(
                    name.to_owned(),
                )));
            };
            let meta: BucketMeta = decode(BUCKETS, &v)?;
            if meta.object_count > 0 || meta.version_count > 0 {
                return Err(ConflictableTransactionError::Abort(StoreError::BucketNotEmpty(
                    name.to_owned(),
                )));
            }
            buckets.remove(name.as_bytes())?;
            Ok(())
        })?;
        Ok(self.commits.ticket())
    }

    /// Changes a bucket's versioning or object lock (see
    /// [`Engine::update_bucket`](crate::Engine::update_bucket)).
    pub(crate) fn update_bucket(&self, name: &str, change: &BucketChange) -> Result<(BucketMeta, CommitTicket)> {
        check_bucket_name(name)?;
        self.commits.check()?;
        let meta = (&self.buckets,).transaction(|(buckets,)| {
            let Some(v) = buckets.get(name.as_bytes())? else {
                return Err(ConflictableTransactionError::Abort(StoreError::NoSuchBucket(
                    name.to_owned(),
                )));
            };
            let mut meta: BucketMeta = decode(BUCKETS, &v)?;
            change.apply(&mut meta).map_err(ConflictableTransactionError::Abort)?;
            buckets.insert(name.as_bytes(), encode(BUCKETS, &meta)?)?;
            Ok(meta)
        })?;
        Ok((meta, self.commits.ticket()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::model::{Location, ObjectMeta, WriteCondition};
    use crate::sled_engine::layout::object_key;
    use crate::sled_engine::testing::{ok, temporary};

    fn meta(size: u64) -> ObjectMeta {
        ObjectMeta {
            size,
            etag: "\"e\"".into(),
            version: 1,
            locations: vec![Location {
                backend: "b1".into(),
                physical_key: "p".into(),
            }],
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn the_count_refuses_deletion_even_when_the_scan_misses() {
        let (store, engine) = temporary();
        ok(store.create_bucket("a", "AK"));
        ok(store.put_object("a", "k", &meta(1), &WriteCondition::None, Vec::new()));
        // Simulate a put that committed between the scan and the transaction.
        engine.objects.remove(object_key("a", "k")).unwrap();
        assert!(matches!(
            block_on(store.delete_bucket("a")),
            Err(StoreError::BucketNotEmpty(_))
        ));
    }

    #[test]
    fn corrupt_bucket_records_are_reported() {
        let (store, engine) = temporary();
        engine.buckets.insert("x", &b"{not json"[..]).unwrap();
        assert!(matches!(block_on(store.bucket("x")), Err(StoreError::Corrupt { .. })));
        assert!(matches!(
            block_on(store.list_buckets()),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            block_on(store.delete_bucket("x")),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn concurrent_puts_and_delete_bucket_never_orphan_objects() {
        for round in 0..20 {
            let (store, engine) = temporary();
            ok(store.create_bucket("a", "AK"));
            let s = store.clone();
            let putter = std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..20 {
                    let put = s.put_object("a", &format!("k{i}"), &meta(1), &WriteCondition::None, Vec::new());
                    if block_on(put).is_ok() {
                        ok += 1;
                    }
                }
                ok
            });
            let deleted = (0..50).any(|_| block_on(store.delete_bucket("a")).is_ok());
            let ok = putter.join().unwrap();
            let left = engine.objects.scan_prefix(bucket_prefix("a")).count();
            if deleted {
                assert_eq!(left, 0, "round {round}: objects outlived their bucket");
            } else {
                assert_eq!(left, ok);
            }
        }
    }
}
