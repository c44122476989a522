//! Buckets: create, look up, list in name order, delete only when empty, and the running totals a
//! bucket record carries.

use super::{ok, version, with_bucket, ExpectSome};
use crate::{Store, StoreError, WriteCondition};

/// Runs every bucket check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    create_look_up_list_delete(fresh()).await;
    refusals(fresh()).await;
    totals_follow_the_objects(fresh).await;
}

/// Created buckets are found, listed in name order with their owner, and gone once deleted.
pub async fn create_look_up_list_delete(store: Store) {
    assert!(ok(store.bucket("a"), "look up a missing bucket").await.is_none());
    ok(store.create_bucket("b", "AK2"), "create b").await;
    ok(store.create_bucket("a", "AK1"), "create a").await;
    let a = ok(store.bucket("a"), "look up a").await.expect_some("bucket a");
    assert_eq!((a.name.as_str(), a.owner.as_str(), a.object_count), ("a", "AK1", 0));
    assert!(a.created_ms > 0, "a bucket carries its creation time");
    let names: Vec<_> = ok(store.list_buckets(), "list")
        .await
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["a", "b"], "buckets list in name order");
    ok(store.delete_bucket("a"), "delete a").await;
    assert!(ok(store.bucket("a"), "look up a deleted bucket").await.is_none());
    assert_eq!(ok(store.list_buckets(), "list").await.len(), 1);
}

/// Creating twice, bad names, deleting a missing or non-empty bucket: each refused with its own
/// error and nothing changed.
pub async fn refusals(store: Store) {
    ok(store.create_bucket("a", "AK"), "create a").await;
    let again = store.create_bucket("a", "other").await;
    assert!(
        matches!(&again, Err(StoreError::BucketAlreadyExists(n)) if n == "a"),
        "create twice: {again:?}"
    );
    let a = ok(store.bucket("a"), "look up a").await.expect_some("bucket a");
    assert_eq!(a.owner, "AK", "a refused create leaves the owner");
    for bad in ["", "a\0b"] {
        let r = store.create_bucket(bad, "AK").await;
        assert!(
            matches!(r, Err(StoreError::InvalidBucketName(_))),
            "name {bad:?}: {r:?}"
        );
    }
    let r = store.delete_bucket("nope").await;
    assert!(matches!(&r, Err(StoreError::NoSuchBucket(n)) if n == "nope"), "{r:?}");
    let meta = version(&store, "a", "k", 3, &["b1"]).await;
    ok(
        store.put_object("a", "k", &meta, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let r = store.delete_bucket("a").await;
    assert!(matches!(&r, Err(StoreError::BucketNotEmpty(n)) if n == "a"), "{r:?}");
    assert!(ok(store.get_object("a", "k"), "get").await.is_some());
    ok(store.delete_object("a", "k"), "delete object").await;
    ok(store.delete_bucket("a"), "delete the emptied bucket").await;
}

/// `object_count` and `logical_bytes` follow puts, overwrites, deletes and completions.
pub async fn totals_follow_the_objects(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let totals = |store: Store| async move {
        let b = ok(store.bucket("bkt"), "look up bkt").await.expect_some("bucket bkt");
        (b.object_count, b.logical_bytes)
    };
    let none = WriteCondition::None;
    let v1 = version(&store, "bkt", "k", 100, &["b1", "b2"]).await;
    ok(store.put_object("bkt", "k", &v1, &none, Vec::new()), "put k").await;
    assert_eq!(totals(store.clone()).await, (1, 100), "replicas count once");
    let v2 = version(&store, "bkt", "k", 30, &["b1"]).await;
    ok(store.put_object("bkt", "k", &v2, &none, Vec::new()), "overwrite k").await;
    let other = version(&store, "bkt", "other", 5, &["b1"]).await;
    ok(store.put_object("bkt", "other", &other, &none, Vec::new()), "put other").await;
    assert_eq!(totals(store.clone()).await, (2, 35));
    ok(store.delete_object("bkt", "k"), "delete k").await;
    ok(store.delete_object("bkt", "k"), "delete k again").await;
    assert_eq!(totals(store.clone()).await, (1, 5));
}
