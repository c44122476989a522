//! What the admin port reads: per-backend totals that follow every commit, the cleanup queue's
//! depth and first tasks, monthly usage counters, directory summaries, and the readiness probe.

use super::{ok, version, with_bucket, ExpectSome};
use crate::model::{Accounting, CleanupReason, Location, ObjectMeta, Part, Upload, WriteCondition};
use crate::rules::{now_ms, physical_key_for};
use crate::stats::UsageCounters;
use crate::{Store, StoreError};

/// Runs every admin check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    backend_stats_follow_objects_uploads_and_reservations(fresh).await;
    cleanup_queue_shows_depth_and_first_tasks(fresh).await;
    usage_counters_add_up_per_period_and_backend(fresh()).await;
    prefix_summary_counts_current_objects_under_a_prefix(fresh).await;
    a_healthy_store_is_writable(fresh()).await;
}

/// One backend's totals as a tuple: name, objects, bytes, uploads, committed, reserved.
type Totals = (String, u64, u64, u64, u64, u64);

/// Every backend's totals, in the order the store gives them.
async fn totals(store: &Store) -> Vec<Totals> {
    let stats = ok(store.backend_stats(), "backend_stats").await;
    stats
        .into_iter()
        .map(|s| {
            let t = (s.objects, s.bytes, s.uploads, s.committed_bytes, s.reserved_bytes);
            (s.backend, t.0, t.1, t.2, t.3, t.4)
        })
        .collect()
}

/// The totals tuple of backend `name`.
fn of(name: &str, objects: u64, bytes: u64, uploads: u64, committed: u64, reserved: u64) -> Totals {
    (name.to_owned(), objects, bytes, uploads, committed, reserved)
}

/// Objects count on every backend they have a location on; overwrites, deletes, uploads in
/// progress, completions, aborts and reservations all show; a backend with nothing left is
/// gone from the list.
pub async fn backend_stats_follow_objects_uploads_and_reservations(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let none = WriteCondition::None;
    assert!(totals(&store).await.is_empty(), "a new store has no backend totals");
    let v1 = version(&store, "bkt", "k", 100, &["b1", "b2"]).await;
    let r = ok(store.reserve("b1", 100, None), "reserve").await;
    ok(store.put_object("bkt", "k", &v1, &none, vec![r]), "put k").await;
    let held = ok(store.reserve("b3", 7, None), "reserve on b3").await;
    assert_eq!(
        totals(&store).await,
        [
            of("b1", 1, 100, 0, 100, 0),
            of("b2", 1, 100, 0, 100, 0),
            of("b3", 0, 0, 0, 0, 7)
        ]
    );
    drop(held);
    let v2 = version(&store, "bkt", "k", 30, &["b1"]).await;
    ok(store.put_object("bkt", "k", &v2, &none, Vec::new()), "overwrite k").await;
    // Replaced bytes stay committed until cleaned up, but are no longer a current object.
    assert_eq!(
        totals(&store).await,
        [of("b1", 1, 30, 0, 130, 0), of("b2", 0, 0, 0, 100, 0)]
    );

    let id = format!("{:016x}", ok(store.next_version(), "next_version").await);
    let upload = Upload {
        upload_id: id.clone(),
        bucket: "bkt".into(),
        key: "mp".into(),
        backend: "b2".into(),
        physical_key: physical_key_for("bkt", "mp", 1),
        initiated_ms: now_ms(),
        ..Upload::default()
    };
    ok(store.create_upload(&upload), "create upload").await;
    let part = Part {
        number: 1,
        size: 20,
        ..Part::default()
    };
    ok(store.put_part(&id, &part, None), "put part").await;
    let aborted = Upload {
        upload_id: format!("{id}-2"),
        ..upload.clone()
    };
    ok(store.create_upload(&aborted), "create a second upload").await;
    assert_eq!(totals(&store).await[1], of("b2", 0, 0, 2, 120, 0));
    let counts = ok(store.upload_counts(), "upload_counts").await;
    assert_eq!(counts, [("b2".to_owned(), 2)]);
    ok(store.abort_upload(&aborted.upload_id), "abort").await;
    let object = ObjectMeta {
        size: 20,
        locations: vec![Location {
            backend: "b2".into(),
            physical_key: upload.physical_key.clone(),
        }],
        ..ObjectMeta::default()
    };
    ok(store.complete_upload(&id, &object, &none, false), "complete").await;
    assert_eq!(totals(&store).await[1], of("b2", 1, 20, 0, 120, 0));

    ok(store.delete_object("bkt", "k"), "delete k").await;
    ok(store.delete_object("bkt", "mp"), "delete mp").await;
    for t in ok(store.due_cleanup(u64::MAX, 100), "due").await {
        ok(store.complete_cleanup(t.id), "complete cleanup").await;
    }
    assert!(totals(&store).await.is_empty(), "{:?}", totals(&store).await);
}

/// The depth counts every queued task, due or not; the first tasks come in due order.
pub async fn cleanup_queue_shows_depth_and_first_tasks(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let empty = ok(store.cleanup_queue(10), "cleanup_queue").await;
    assert_eq!((empty.depth, empty.first.len()), (0, 0));
    let mut ids = Vec::new();
    for i in 0..3 {
        let queued = store.enqueue_cleanup(
            "b1",
            &format!("k{i}"),
            0,
            Accounting::Uncommitted,
            CleanupReason::Orphan,
        );
        ids.push(ok(queued, "enqueue").await);
    }
    let q = ok(store.cleanup_queue(2), "cleanup_queue").await;
    assert_eq!(q.depth, 3);
    assert_eq!(q.first.iter().map(|t| t.id).collect::<Vec<_>>(), ids[..2]);
    assert!(q.first.iter().all(|t| t.reason == CleanupReason::Orphan));
    ok(store.retry_cleanup(ids[0], now_ms()), "retry").await;
    let q = ok(store.cleanup_queue(10), "cleanup_queue").await;
    assert_eq!(
        q.first.iter().map(|t| t.id).collect::<Vec<_>>(),
        [ids[1], ids[2], ids[0]]
    );
    assert_eq!(q.first[2].attempts, 1);
    // Replaced bytes wait out the grace period, and are shown all the same.
    let none = WriteCondition::None;
    for size in [1, 2] {
        let v = version(&store, "bkt", "k", size, &["b1", "b2"]).await;
        ok(store.put_object("bkt", "k", &v, &none, Vec::new()), "put").await;
    }
    ok(store.complete_cleanup(ids[1]), "complete").await;
    let q = ok(store.cleanup_queue(10), "cleanup_queue").await;
    assert_eq!(q.depth, 4);
    assert_eq!(ok(store.cleanup_len(), "cleanup_len").await, 4);
    let reasons: Vec<_> = q.first.iter().map(|t| t.reason).collect();
    assert_eq!(reasons[..2], [CleanupReason::Orphan; 2]);
    assert_eq!(reasons[2..], [CleanupReason::Replaced; 2]);
    assert_eq!(ok(store.cleanup_queue(0), "cleanup_queue").await.first.len(), 0);
}

/// Deltas add up per backend within a period, periods are apart, counters saturate, and a bad
/// period is refused.
pub async fn usage_counters_add_up_per_period_and_backend(store: Store) {
    let c = |backend: &str, api_requests, egress_bytes, ingress_bytes| UsageCounters {
        backend: backend.to_owned(),
        api_requests,
        egress_bytes,
        ingress_bytes,
    };
    assert!(ok(store.usage_counters("2024-05"), "read an empty period")
        .await
        .is_empty());
    let first = [c("b2", 2, 0, 5), c("b1", 1, 10, 100), c("b1", 1, 1, 1)];
    ok(store.add_usage("2024-05", first.to_vec()), "add").await;
    ok(store.add_usage("2024-05", vec![c("b1", 3, 0, 0)]), "add again").await;
    ok(store.add_usage("2024-06", vec![c("b1", 7, 7, 7)]), "add to June").await;
    ok(store.add_usage("2024-06", Vec::new()), "add nothing").await;
    let may = ok(store.usage_counters("2024-05"), "read May").await;
    assert_eq!(may, [c("b1", 5, 11, 101), c("b2", 2, 0, 5)]);
    assert_eq!(
        ok(store.usage_counters("2024-06"), "read June").await,
        [c("b1", 7, 7, 7)]
    );
    let huge = [c("b3", u64::MAX, u64::MAX, 1)];
    ok(store.add_usage("2024-07", huge.to_vec()), "add huge").await;
    ok(store.add_usage("2024-07", huge.to_vec()), "add huge again").await;
    let july = ok(store.usage_counters("2024-07"), "read July").await;
    assert_eq!(july, [c("b3", u64::MAX, u64::MAX, 2)], "counters saturate");
    for bad in ["2024-13", "2024-5", "May"] {
        let r = store.add_usage(bad, first.to_vec()).await;
        assert!(matches!(r, Err(StoreError::InvalidPeriod(_))), "{bad}: {r:?}");
        let r = store.usage_counters(bad).await;
        assert!(matches!(r, Err(StoreError::InvalidPeriod(_))), "{bad}: {r:?}");
    }
}

/// Counts and bytes of the current objects under a prefix, this bucket's only.
pub async fn prefix_summary_counts_current_objects_under_a_prefix(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    ok(store.create_bucket("bkt2", "AK"), "create bkt2").await;
    let none = WriteCondition::None;
    for (key, size) in [("a/1", 1), ("a/2", 2), ("a/b/3", 3), ("b", 4)] {
        let v = version(&store, "bkt", key, size, &["b1"]).await;
        ok(store.put_object("bkt", key, &v, &none, Vec::new()), "put").await;
    }
    let v = version(&store, "bkt2", "a/1", 100, &["b1"]).await;
    ok(store.put_object("bkt2", "a/1", &v, &none, Vec::new()), "put in bkt2").await;
    let summary = |prefix: &'static str| {
        let store = store.clone();
        async move { ok(store.prefix_summary("bkt", prefix), "prefix_summary").await }
    };
    let s = |objects: u64, bytes: u64| (objects, bytes);
    assert_eq!(summary("").await, s(4, 10));
    assert_eq!(summary("a/").await, s(3, 6));
    assert_eq!(summary("a/b/").await, s(1, 3));
    assert_eq!(summary("c").await, s(0, 0));
    let v = version(&store, "bkt", "a/1", 10, &["b1"]).await;
    ok(store.put_object("bkt", "a/1", &v, &none, Vec::new()), "overwrite").await;
    assert_eq!(summary("a/").await, s(3, 15), "an overwritten object counts once");
    ok(store.delete_object("bkt", "b"), "delete").await;
    assert_eq!(summary("").await, s(3, 15));
    let r = store.prefix_summary("nobkt", "").await;
    assert!(matches!(r, Err(StoreError::NoSuchBucket(_))), "{r:?}");
    let b = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!(
        (b.object_count, b.logical_bytes),
        (3, 15),
        "the whole bucket agrees with its totals"
    );
}

/// A healthy store reports no problem and passes the writability probe, repeatedly.
pub async fn a_healthy_store_is_writable(store: Store) {
    let health = store.health();
    assert!(!health.engine.is_empty());
    assert!(health.problem.is_none(), "{health:?}");
    for _ in 0..3 {
        ok(store.check_writable(), "check_writable").await;
    }
    ok(store.sync(), "sync").await;
}
