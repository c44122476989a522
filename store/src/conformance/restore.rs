//! Rebuilding the index: a bucket restored with its settings (an existing one left alone),
//! versions put back in any order ending where writing them in order ends (same versions, same
//! latest, same counts, usage and totals, nothing queued for cleanup), copies of one version
//! merged, and the version generator moved past the versions restored.

use super::{ok, queue_depth, version, with_bucket, ExpectSome};
use crate::model::{BucketMeta, BucketSettings, Location, ObjectMeta, WriteCondition};
use crate::versions::{BucketChange, ObjectLock, VersionQuery, VersionRef, Versioning};
use crate::{Store, StoreError};

/// Runs every restore check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    buckets_are_restored_with_their_settings(fresh).await;
    versions_restored_in_any_order_match_writing_them_in_order(fresh).await;
    copies_of_one_version_merge(fresh).await;
    versions_advance_past_the_restored_ones(fresh).await;
}

/// A missing bucket is created as described; an existing one keeps what it has.
pub async fn buckets_are_restored_with_their_settings(fresh: &dyn Fn() -> Store) {
    let store = fresh();
    let wanted = BucketMeta {
        name: "locked".into(),
        created_ms: 1_234,
        owner: "AK2".into(),
        object_count: 99,
        settings: BucketSettings {
            versioning: Versioning::Enabled,
            object_lock: Some(ObjectLock::default()),
            ..BucketSettings::default()
        },
        ..BucketMeta::default()
    };
    ok(store.restore_bucket(&wanted), "restore bucket").await;
    let got = ok(store.bucket("locked"), "bucket")
        .await
        .expect_some("restored bucket");
    assert_eq!(
        (
            got.created_ms,
            got.owner.as_str(),
            got.settings.versioning,
            got.settings.object_lock
        ),
        (1_234, "AK2", Versioning::Enabled, Some(ObjectLock::default()))
    );
    assert_eq!(
        got.object_count, 0,
        "counts follow the versions restored, not the record"
    );
    ok(store.create_bucket("plain", "AK"), "create").await;
    let other = BucketMeta {
        name: "plain".into(),
        owner: "someone".into(),
        settings: BucketSettings {
            versioning: Versioning::Suspended,
            ..BucketSettings::default()
        },
        ..BucketMeta::default()
    };
    ok(store.restore_bucket(&other), "restore over an existing bucket").await;
    let kept = ok(store.bucket("plain"), "bucket").await.expect_some("plain");
    assert_eq!(
        (kept.owner.as_str(), kept.settings.versioning),
        ("AK", Versioning::Unversioned)
    );
    assert!(matches!(
        store.restore_bucket(&BucketMeta::default()).await,
        Err(StoreError::InvalidBucketName(_))
    ));
    let v = version(&store, "nope", "k", 1, &["b1"]).await;
    assert!(matches!(
        store.restore_version("nope", "k", &v).await,
        Err(StoreError::NoSuchBucket(_))
    ));
}

/// Every version of `bkt`, as listed.
async fn all_versions(store: &Store) -> Vec<(String, ObjectMeta, bool)> {
    let page = ok(store.list_versions("bkt", &VersionQuery::default()), "list versions").await;
    page.versions
        .into_iter()
        .map(|e| (e.key, e.meta, e.is_latest))
        .collect()
}

/// What a store says of `bkt` and the backends: counts, usage, totals, queue depth.
async fn accounts(store: &Store) -> (u64, u64, u64, Vec<(String, u64)>, Vec<(String, u64, u64)>, u64) {
    let b = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    let usage = ok(store.all_usage(), "usage").await;
    let totals = ok(store.backend_stats(), "stats")
        .await
        .into_iter()
        .map(|s| (s.backend, s.objects, s.bytes))
        .collect();
    (
        b.object_count,
        b.logical_bytes,
        b.version_count,
        usage,
        totals,
        queue_depth(store).await,
    )
}

/// Writes versions and delete markers in order in one store, restores them in a scrambled order
/// into another, and finds both the same.
pub async fn versions_restored_in_any_order_match_writing_them_in_order(fresh: &dyn Fn() -> Store) {
    let written = with_bucket(fresh).await;
    ok(
        written.update_bucket("bkt", BucketChange::Versioning(Versioning::Enabled)),
        "enable versioning",
    )
    .await;
    let put = |key: &'static str, size: u64, backends: &'static [&'static str]| {
        let store = written.clone();
        async move {
            let v = version(&store, "bkt", key, size, backends).await;
            ok(
                store.put_object("bkt", key, &v, &WriteCondition::None, Vec::new()),
                "put",
            )
            .await;
        }
    };
    put("a", 10, &["b1"]).await;
    put("a", 20, &["b1", "b2"]).await;
    ok(written.delete_object("bkt", "a"), "delete a").await;
    put("b", 5, &["b2"]).await;
    ok(written.delete_object("bkt", "b"), "delete b").await;
    put("b", 7, &["b1"]).await;
    put("c", 3, &["b1"]).await;
    ok(written.delete_object("bkt", "gone"), "a marker alone").await;
    let expected = all_versions(&written).await;
    assert_eq!(expected.len(), 8);

    let restored = fresh();
    let bucket = ok(written.bucket("bkt"), "bucket").await.expect_some("bkt");
    ok(restored.restore_bucket(&bucket), "restore bucket").await;
    // Oldest last, newest in the middle: every path of the placement.
    let mut order: Vec<&(String, ObjectMeta, bool)> = expected.iter().collect();
    order.sort_by_key(|(_, m, _)| m.version);
    let n = order.len();
    order.rotate_left(n / 2);
    order.swap(0, n - 1);
    for (key, meta, _) in order {
        ok(restored.restore_version("bkt", key, meta), "restore version").await;
    }
    assert_eq!(all_versions(&restored).await, expected);
    assert_eq!(accounts(&restored).await, accounts(&written).await);
    assert_eq!(queue_depth(&restored).await, 0, "nothing is queued for cleanup");
    let current = ok(restored.get_object("bkt", "b"), "get b").await.expect_some("b");
    assert_eq!(current.size, 7);
    assert!(
        ok(restored.get_object("bkt", "a"), "get a").await.is_none(),
        "a marker hides a"
    );
    let marker = ok(restored.get_version("bkt", "a", VersionRef::Latest), "latest a").await;
    assert!(marker.expect_some("a's marker").delete_marker);
    // Restoring what is there already changes nothing.
    let (key, meta, _) = &expected[0];
    ok(restored.restore_version("bkt", key, meta), "restore again").await;
    assert_eq!(all_versions(&restored).await, expected);
    assert_eq!(accounts(&restored).await, accounts(&written).await);
}

/// Two copies of one version found apart end as one version with both locations, counted once
/// per backend; a version wanting more copies than found is queued for replication.
pub async fn copies_of_one_version_merge(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let mut v = version(&store, "bkt", "k", 100, &["b1"]).await;
    v.copies_wanted = 2;
    ok(store.restore_version("bkt", "k", &v), "restore first copy").await;
    assert_eq!(ok(store.replication_depth(), "depth").await, 1, "one copy of two");
    let other = Location {
        backend: "b2".into(),
        physical_key: v.locations[0].physical_key.clone(),
    };
    let second = ObjectMeta {
        locations: vec![other.clone()],
        ..v.clone()
    };
    ok(store.restore_version("bkt", "k", &second), "restore second copy").await;
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(got.locations, vec![v.locations[0].clone(), other]);
    let b = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!((b.object_count, b.logical_bytes, b.version_count), (1, 100, 0));
    assert_eq!(ok(store.usage("b1"), "usage b1").await, 100);
    assert_eq!(ok(store.usage("b2"), "usage b2").await, 100);
    let totals: Vec<(String, u64)> = ok(store.backend_stats(), "stats")
        .await
        .into_iter()
        .map(|s| (s.backend, s.objects))
        .collect();
    assert_eq!(totals, vec![("b1".to_owned(), 1), ("b2".to_owned(), 1)]);
    assert_eq!(queue_depth(&store).await, 0);
}

/// After `advance_versions`, new versions are above the floor; a lower floor changes nothing.
pub async fn versions_advance_past_the_restored_ones(fresh: &dyn Fn() -> Store) {
    let store = fresh();
    let first = ok(store.next_version(), "next_version").await;
    let floor = first + 1_000_000;
    ok(store.advance_versions(floor), "advance").await;
    let after = ok(store.next_version(), "next_version").await;
    assert!(after > floor, "{after} <= {floor}");
    ok(store.advance_versions(5), "a lower floor").await;
    let later = ok(store.next_version(), "next_version").await;
    assert!(later > after, "{later} <= {after}");
    // Deletes take versions too (their markers).
    ok(store.create_bucket("v", "AK"), "create").await;
    ok(
        store.update_bucket("v", BucketChange::Versioning(Versioning::Enabled)),
        "enable",
    )
    .await;
    let deleted = ok(store.delete_object("v", "k"), "delete").await;
    assert!(deleted.marker.expect_some("marker").version > floor);
}
