//! Buckets: create, look up, list and delete. A bucket record carries the count of its objects,
//! kept up to date by the object transactions, so `delete_bucket` can check emptiness and remove
//! the bucket in one transaction that no concurrent `put_object` can slip past.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use crate::sled_engine::commit::CommitTicket;
use crate::error::{Result, StoreError};
use crate::sled_engine::layout::{bucket_prefix, check_bucket_name, decode, encode, now_ms, BUCKETS};
use crate::model::BucketMeta;
use crate::Store;

impl Store {
    /// Creates bucket `name` owned by `owner_access_key`.
    pub fn create_bucket(&self, name: &str, owner_access_key: &str) -> Result<CommitTicket> {
        check_bucket_name(name)?;
        self.inner.commits.check()?;
        let meta = BucketMeta {
            name: name.to_owned(),
            created_ms: now_ms(),
            owner: owner_access_key.to_owned(),
            object_count: 0,
            logical_bytes: 0,
        };
        let value = encode(BUCKETS, &meta)?;
        self.inner
            .buckets
            .compare_and_swap(name.as_bytes(), None as Option<&[u8]>, Some(value))?
            .map_err(|_| StoreError::BucketAlreadyExists(name.to_owned()))?;
        Ok(self.inner.commits.ticket())
    }

    /// The bucket named `name`, if it exists.
    pub fn bucket(&self, name: &str) -> Result<Option<BucketMeta>> {
        self.inner
            .buckets
            .get(name.as_bytes())?
            .map(|v| decode(BUCKETS, &v))
            .transpose()
    }

    /// Every bucket, in name order.
    pub fn list_buckets(&self) -> Result<Vec<BucketMeta>> {
        self.inner
            .buckets
            .iter()
            .values()
            .map(|v| decode(BUCKETS, &v?))
            .collect()
    }

    /// Deletes bucket `name`; fails with `NoSuchBucket` if absent, `BucketNotEmpty` if it holds
    /// any object.
    pub fn delete_bucket(&self, name: &str) -> Result<CommitTicket> {
        self.inner.commits.check()?;
        if self.bucket(name)?.is_none() {
            return Err(StoreError::NoSuchBucket(name.to_owned()));
        }
        // A guard against a drifted count; the count checked in the transaction is what
        // serialises against concurrent puts.
        if self
            .inner
            .objects
            .scan_prefix(bucket_prefix(name))
            .next()
            .transpose()?
            .is_some()
        {
            return Err(StoreError::BucketNotEmpty(name.to_owned()));
        }
        (&self.inner.buckets,).transaction(|(buckets,)| {
            let Some(v) = buckets.get(name.as_bytes())? else {
                return Err(ConflictableTransactionError::Abort(StoreError::NoSuchBucket(
                    name.to_owned(),
                )));
            };
            let meta: BucketMeta = decode(BUCKETS, &v)?;
            if meta.object_count > 0 {
                return Err(ConflictableTransactionError::Abort(StoreError::BucketNotEmpty(
                    name.to_owned(),
                )));
            }
            buckets.remove(name.as_bytes())?;
            Ok(())
        })?;
        Ok(self.inner.commits.ticket())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sled_engine::layout::object_key;
    use crate::model::{Location, ObjectMeta};

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
    fn create_look_up_list_delete() {
        let store = Store::temporary().unwrap();
        assert!(store.bucket("a").unwrap().is_none());
        store.create_bucket("b", "AK2").unwrap().wait().unwrap();
        store.create_bucket("a", "AK1").unwrap().wait().unwrap();
        let a = store.bucket("a").unwrap().unwrap();
        assert_eq!((a.name.as_str(), a.owner.as_str(), a.object_count), ("a", "AK1", 0));
        assert!(a.created_ms > 0);
        let names: Vec<_> = store.list_buckets().unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, ["a", "b"]);
        store.delete_bucket("a").unwrap().wait().unwrap();
        assert!(store.bucket("a").unwrap().is_none());
        assert_eq!(store.list_buckets().unwrap().len(), 1);
    }

    #[test]
    fn every_error_path() {
        let store = Store::temporary().unwrap();
        store.create_bucket("a", "AK").unwrap().wait().unwrap();
        assert!(matches!(
            store.create_bucket("a", "other"),
            Err(StoreError::BucketAlreadyExists(n)) if n == "a"
        ));
        assert_eq!(store.bucket("a").unwrap().unwrap().owner, "AK");
        assert!(matches!(
            store.create_bucket("", "AK"),
            Err(StoreError::InvalidBucketName(_))
        ));
        assert!(matches!(
            store.delete_bucket("nope"),
            Err(StoreError::NoSuchBucket(n)) if n == "nope"
        ));
        store
            .put_object("a", "k", &meta(3), &crate::WriteCondition::None, Vec::new())
            .unwrap()
            .wait()
            .unwrap();
        assert!(matches!(
            store.delete_bucket("a"),
            Err(StoreError::BucketNotEmpty(n)) if n == "a"
        ));
        store.delete_object("a", "k").unwrap().ticket.wait().unwrap();
        store.delete_bucket("a").unwrap().wait().unwrap();
    }

    #[test]
    fn the_count_refuses_deletion_even_when_the_scan_misses() {
        let store = Store::temporary().unwrap();
        store.create_bucket("a", "AK").unwrap().wait().unwrap();
        store
            .put_object("a", "k", &meta(1), &crate::WriteCondition::None, Vec::new())
            .unwrap()
            .wait()
            .unwrap();
        // Simulate a put that committed between the scan and the transaction.
        store.inner.objects.remove(object_key("a", "k")).unwrap();
        assert!(matches!(store.delete_bucket("a"), Err(StoreError::BucketNotEmpty(_))));
    }

    #[test]
    fn corrupt_bucket_records_are_reported() {
        let store = Store::temporary().unwrap();
        store.inner.buckets.insert("x", &b"{not json"[..]).unwrap();
        assert!(matches!(store.bucket("x"), Err(StoreError::Corrupt { .. })));
        assert!(matches!(store.list_buckets(), Err(StoreError::Corrupt { .. })));
        assert!(matches!(store.delete_bucket("x"), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn concurrent_puts_and_delete_bucket_never_orphan_objects() {
        for round in 0..20 {
            let store = Store::temporary().unwrap();
            store.create_bucket("a", "AK").unwrap().wait().unwrap();
            let s = store.clone();
            let putter = std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..20 {
                    if s.put_object(
                        "a",
                        &format!("k{i}"),
                        &meta(1),
                        &crate::WriteCondition::None,
                        Vec::new(),
                    )
                    .is_ok()
                    {
                        ok += 1;
                    }
                }
                ok
            });
            let deleted = (0..50).any(|_| store.delete_bucket("a").is_ok());
            let ok = putter.join().unwrap();
            let left = store.inner.objects.scan_prefix(bucket_prefix("a")).count();
            if deleted {
                assert_eq!(left, 0, "round {round}: objects outlived their bucket");
            } else {
                assert_eq!(left, ok);
            }
        }
    }
}
