//! Objects: a new version becomes current in one commit that counts its bytes and queues the
//! replaced version's bytes for cleanup; deletes queue the deleted bytes; conditional writes are
//! checked atomically; versions are unique and increasing.

use super::{ok, queue_depth, version, with_bucket, ExpectSome};
use crate::model::{Accounting, CleanupReason, WriteCondition};
use crate::rules::{now_ms, physical_key_for, CLEANUP_GRACE_MS};
use crate::{block_on, Store, StoreError};

/// Runs every object check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    put_get_overwrite_delete_keep_usage_and_cleanup_in_step(fresh).await;
    deleting_a_missing_key_succeeds_with_nothing(fresh).await;
    refusals_change_nothing(fresh).await;
    conditional_writes(fresh).await;
    a_reused_physical_key_is_never_queued_for_cleanup(fresh).await;
    keys_are_isolated_per_bucket(fresh).await;
    tags_replace_on_the_current_version_only(fresh).await;
    versions_are_unique_and_increasing(fresh()).await;
    concurrent_writers_of_one_key_leave_one_current_and_queue_all_others(fresh).await;
}

/// The life of one key: put on two backends, overwrite, delete; usage, reservations, bucket
/// totals and the cleanup queue in step at every point.
pub async fn put_get_overwrite_delete_keep_usage_and_cleanup_in_step(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let none = WriteCondition::None;
    assert!(ok(store.get_object("bkt", "k"), "get missing").await.is_none());
    let v1 = version(&store, "bkt", "k", 100, &["b1", "b2"]).await;
    let r1 = ok(store.reserve("b1", 100, Some(1000)), "reserve b1").await;
    let r2 = ok(store.reserve("b2", 100, None), "reserve b2").await;
    ok(store.put_object("bkt", "k", &v1, &none, vec![r1, r2]), "put v1").await;
    assert_eq!(ok(store.get_object("bkt", "k"), "get v1").await.as_ref(), Some(&v1));
    let usage = |store: Store| async move {
        (
            ok(store.usage("b1"), "usage b1").await,
            ok(store.usage("b2"), "usage b2").await,
        )
    };
    assert_eq!(usage(store.clone()).await, (100, 100));
    let reserved = (ok(store.reserved("b1"), "").await, ok(store.reserved("b2"), "").await);
    assert_eq!(reserved, (0, 0), "a commit consumes its reservations");
    assert_eq!(queue_depth(&store).await, 0);

    let before = now_ms();
    let v2 = version(&store, "bkt", "k", 30, &["b1"]).await;
    ok(store.put_object("bkt", "k", &v2, &none, Vec::new()), "put v2").await;
    assert_eq!(ok(store.get_object("bkt", "k"), "get v2").await.as_ref(), Some(&v2));
    // Old bytes stay counted until their cleanup completes.
    assert_eq!(usage(store.clone()).await, (130, 100));
    let tasks = ok(store.due_cleanup(u64::MAX, 10), "due").await;
    let mut queued: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                t.backend.as_str(),
                t.physical_key.as_str(),
                t.size,
                t.accounting,
                t.reason,
                t.attempts,
            )
        })
        .collect();
    queued.sort_unstable();
    let old_key = physical_key_for("bkt", "k", v1.version);
    assert_eq!(
        queued,
        [
            (
                "b1",
                old_key.as_str(),
                100,
                Accounting::Committed,
                CleanupReason::Replaced,
                0
            ),
            (
                "b2",
                old_key.as_str(),
                100,
                Accounting::Committed,
                CleanupReason::Replaced,
                0
            )
        ]
    );
    assert!(tasks.iter().all(|t| t.upload_id.is_none()));
    // Replaced bytes are not due before the grace period.
    assert!(tasks.iter().all(|t| t.not_before_ms >= before + CLEANUP_GRACE_MS));
    assert!(ok(store.due_cleanup(now_ms(), 10), "due now").await.is_empty());
    for t in &tasks {
        ok(store.complete_cleanup(t.id), "complete cleanup").await;
    }
    assert_eq!(usage(store.clone()).await, (30, 0));

    let previous = ok(store.delete_object("bkt", "k"), "delete").await;
    assert_eq!(
        previous.previous,
        Some(v2.clone()),
        "a delete answers the version it removed"
    );
    assert_eq!(previous.marker, None, "no delete marker without versioning");
    assert!(ok(store.get_object("bkt", "k"), "get deleted").await.is_none());
    let tasks = ok(store.due_cleanup(u64::MAX, 10), "due").await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].physical_key, v2.locations[0].physical_key);
    assert_eq!(
        (tasks[0].size, tasks[0].accounting, tasks[0].reason),
        (30, Accounting::Committed, CleanupReason::Deleted)
    );
    ok(store.complete_cleanup(tasks[0].id), "complete cleanup").await;
    assert_eq!(usage(store.clone()).await, (0, 0));
}

/// Deleting a key that has no version succeeds, answers `None` and queues nothing.
pub async fn deleting_a_missing_key_succeeds_with_nothing(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    assert!(ok(store.delete_object("bkt", "nope"), "delete missing").await == crate::Deleted::default());
    assert_eq!(queue_depth(&store).await, 0);
}

/// A put into a missing bucket, and bad bucket names, are refused; the refused put releases its
/// reservation and counts nothing.
pub async fn refusals_change_nothing(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let none = WriteCondition::None;
    let v = version(&store, "nobkt", "k", 1, &["b1"]).await;
    let r = ok(store.reserve("b1", 1, Some(1)), "reserve").await;
    let put = store.put_object("nobkt", "k", &v, &none, vec![r]).await;
    assert!(
        matches!(&put, Err(StoreError::NoSuchBucket(b)) if b == "nobkt"),
        "{put:?}"
    );
    assert_eq!(ok(store.reserved("b1"), "reserved").await, 0, "a failed put releases");
    assert_eq!(ok(store.usage("b1"), "usage").await, 0);
    assert!(ok(store.get_object("nobkt", "k"), "get in a missing bucket")
        .await
        .is_none());
    let del = store.delete_object("nobkt", "k").await;
    assert!(matches!(del, Err(StoreError::NoSuchBucket(_))), "{del:?}");
    let bad = store.put_object("", "k", &v, &none, Vec::new()).await;
    assert!(matches!(bad, Err(StoreError::InvalidBucketName(_))), "{bad:?}");
    let bad = store.delete_object("a\0b", "k").await;
    assert!(matches!(bad, Err(StoreError::InvalidBucketName(_))), "{bad:?}");
}

/// `IfAbsent`, `IfMatch` and `IfNoneMatch` against the current version; a refused write changes
/// nothing and leaves no cleanup task.
pub async fn conditional_writes(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let refused = |r: crate::Result<Option<String>>| matches!(r, Err(StoreError::PreconditionFailed { .. }));
    let v1 = version(&store, "bkt", "k", 10, &["b1"]).await;
    let c = WriteCondition::IfMatch(v1.etag.clone());
    assert!(
        refused(store.put_object("bkt", "k", &v1, &c, Vec::new()).await),
        "If-Match on a missing key"
    );
    let c = WriteCondition::IfNoneMatch("*".into());
    ok(
        store.put_object("bkt", "k", &v1, &c, Vec::new()),
        "If-None-Match * on a missing key",
    )
    .await;
    let v2 = version(&store, "bkt", "k", 20, &["b1"]).await;
    assert!(refused(
        store
            .put_object("bkt", "k", &v2, &WriteCondition::IfAbsent, Vec::new())
            .await
    ));
    let c = WriteCondition::IfNoneMatch(v1.etag.clone());
    assert!(refused(store.put_object("bkt", "k", &v2, &c, Vec::new()).await));
    let c = WriteCondition::IfMatch("\"0000\"".into());
    assert!(refused(store.put_object("bkt", "k", &v2, &c, Vec::new()).await));
    assert_eq!(ok(store.get_object("bkt", "k"), "get").await.as_ref(), Some(&v1));
    assert_eq!(ok(store.usage("b1"), "usage").await, 10, "refused writes count nothing");
    assert_eq!(queue_depth(&store).await, 0, "refused writes queue nothing");
    // Unquoted and weak forms name the same ETag.
    let unquoted = v1.etag.trim_matches('"').to_owned();
    let c = WriteCondition::IfMatch(format!("W/{unquoted}"));
    ok(
        store.put_object("bkt", "k", &v2, &c, Vec::new()),
        "If-Match with the current ETag",
    )
    .await;
    let v3 = version(&store, "bkt", "k", 30, &["b1"]).await;
    let c = WriteCondition::IfNoneMatch(v1.etag.clone());
    ok(
        store.put_object("bkt", "k", &v3, &c, Vec::new()),
        "If-None-Match with an old ETag",
    )
    .await;
    let c = WriteCondition::IfMatch("*".into());
    let v4 = version(&store, "bkt", "k", 40, &["b1"]).await;
    ok(store.put_object("bkt", "k", &v4, &c, Vec::new()), "If-Match *").await;
    assert_eq!(ok(store.get_object("bkt", "k"), "get").await.as_ref(), Some(&v4));
}

/// Writing the same physical key again (a retried commit) never queues it for cleanup, which
/// would delete the new bytes; its usage is counted once.
pub async fn a_reused_physical_key_is_never_queued_for_cleanup(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let v1 = version(&store, "bkt", "k", 10, &["b1"]).await;
    ok(
        store.put_object("bkt", "k", &v1, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let again = crate::ObjectMeta { size: 15, ..v1 };
    ok(
        store.put_object("bkt", "k", &again, &WriteCondition::None, Vec::new()),
        "put again",
    )
    .await;
    assert_eq!(queue_depth(&store).await, 0);
    assert_eq!(ok(store.usage("b1"), "usage").await, 15);
}

/// The same key in two buckets are two objects.
pub async fn keys_are_isolated_per_bucket(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    ok(store.create_bucket("bkt2", "AK"), "create bkt2").await;
    let v = version(&store, "bkt", "k", 1, &["b1"]).await;
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    assert!(ok(store.get_object("bkt2", "k"), "get in bkt2").await.is_none());
    assert!(ok(store.delete_object("bkt2", "k"), "delete in bkt2")
        .await
        .previous
        .is_none());
    assert!(ok(store.get_object("bkt", "k"), "get in bkt").await.is_some());
}

/// `set_tags` replaces the tags of the current version, and needs one.
pub async fn tags_replace_on_the_current_version_only(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let r = store.set_tags("bkt", "k", Vec::new()).await;
    assert!(matches!(r, Err(StoreError::NoSuchKey { .. })), "{r:?}");
    let v = version(&store, "bkt", "k", 1, &["b1"]).await;
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    ok(store.set_tags("bkt", "k", vec![("a".into(), "1".into())]), "set tags").await;
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(got.tags, [("a".to_owned(), "1".to_owned())]);
    assert_eq!(got.version, v.version, "tagging makes no new version");
    ok(store.set_tags("bkt", "k", Vec::new()), "clear tags").await;
    assert!(ok(store.get_object("bkt", "k"), "get")
        .await
        .expect_some("k")
        .tags
        .is_empty());
}

/// `next_version` never repeats and always grows, also from several threads at once.
pub async fn versions_are_unique_and_increasing(store: Store) {
    let mut last = ok(store.next_version(), "next_version").await;
    for _ in 0..100 {
        let v = ok(store.next_version(), "next_version").await;
        assert!(v > last, "{v} after {last}");
        last = v;
    }
    let mut all: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                s.spawn(move || {
                    (0..100)
                        .map(|_| block_on(store.next_version()).unwrap_or_else(|e| panic!("next_version: {e}")))
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| panic!("a next_version caller panicked")))
            .collect()
    });
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "versions from concurrent callers are unique");
    assert_eq!(n, 400);
    assert!(all.first().is_some_and(|&v| v > last));
}

/// Many writers of one key at once: one version is current, every other one is queued for
/// cleanup exactly once, and usage counts them all until cleaned up.
pub async fn concurrent_writers_of_one_key_leave_one_current_and_queue_all_others(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let threads = 4;
    let per_thread = 25;
    std::thread::scope(|s| {
        for _ in 0..threads {
            let store = store.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    let v = block_on(version(&store, "bkt", "hot", 1, &["b1"]));
                    let put = store.put_object("bkt", "hot", &v, &WriteCondition::None, Vec::new());
                    block_on(put).unwrap_or_else(|e| panic!("concurrent put: {e}"));
                }
            });
        }
    });
    let commits = threads * per_thread;
    assert_eq!(queue_depth(&store).await, commits - 1);
    assert_eq!(ok(store.usage("b1"), "usage").await, commits);
    let current = ok(store.get_object("bkt", "hot"), "get").await.expect_some("hot");
    let queued = ok(store.due_cleanup(u64::MAX, 1000), "due").await;
    assert!(queued
        .iter()
        .all(|t| t.physical_key != current.locations[0].physical_key));
    let mut keys: Vec<&str> = queued.iter().map(|t| t.physical_key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len() as u64, commits - 1, "each replaced version queued once");
    let b = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!((b.object_count, b.logical_bytes), (1, 1));
}
