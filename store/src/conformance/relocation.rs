//! Relocation, the compare-and-swap of a version's copies: it succeeds only on the locations
//! expected (as a set), moves usage and the backends' totals to the new copies, queues or
//! forgets the dropped ones, works on noncurrent versions, refuses missing versions and delete
//! markers, and races a concurrent write of the key cleanly.

use std::sync::Barrier;

use super::{ok, version, with_bucket, ExpectSome, Want};
use crate::model::{Accounting, CleanupReason, Location, ObjectMeta, WriteCondition};
use crate::orchestration::Removal;
use crate::rules::{now_ms, CLEANUP_GRACE_MS};
use crate::versions::{BucketChange, VersionRef, Versioning};
use crate::{block_on, Store, StoreError};

/// Runs every relocation check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    relocation_moves_copies_usage_and_totals(fresh).await;
    relocation_compares_and_refuses(fresh).await;
    relocation_changes_noncurrent_versions(fresh).await;
    relocation_races_a_put_of_the_key_cleanly(fresh).await;
    rewrite_swaps_bytes_and_their_facts_at_once(fresh).await;
}

/// A rewrite (bytes sealed or opened under new physical keys) swaps the locations and the
/// record's facts of the stored bytes in one commit, counts the new length on the new copies and
/// queues the old ones with their old length; a stale expectation is refused. The integrity
/// changes (hash, damaged copies, a re-wrapped data key) apply in place, the re-wrap only over
/// the key it read.
pub async fn rewrite_swaps_bytes_and_their_facts_at_once(fresh: &dyn Fn() -> Store) {
    use crate::sealed::{ContentHash, SealSegment, Sealed, StoredFacts};
    use crate::versions::VersionChange;
    let store = with_bucket(fresh).await;
    let v = version(&store, "bkt", "k", 100, &["b1", "b2"]).await;
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let new = [copy("b1", "k", v.version), copy("b2", "k", v.version)];
    let facts = StoredFacts {
        sealed: Some(Sealed {
            key_id: "k1".into(),
            dek: "wrapped".into(),
            chunk: 64,
            segments: vec![SealSegment {
                number: 0,
                nonce: "n".into(),
            }],
        }),
        stored: Some(132),
        hash: Some(ContentHash {
            alg: Default::default(),
            parts: vec!["ab".into()],
        }),
    };
    let stale = [copy("b3", "k", v.version)];
    let r = store.rewrite("bkt", "k", v.version, &stale, &new, facts.clone(), Vec::new());
    assert!(
        matches!(r.await, Err(StoreError::PreconditionFailed { .. })),
        "stale locations refused"
    );
    let done = ok(
        store.rewrite("bkt", "k", v.version, &v.locations, &new, facts.clone(), Vec::new()),
        "rewrite",
    )
    .await;
    assert_eq!(
        (done.locations.to_vec(), done.sealed.clone(), done.stored),
        (new.to_vec(), facts.sealed.clone(), Some(132))
    );
    assert_eq!(done.hash, facts.hash);
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(got, done);
    // New copies count their new length; the old ones theirs until cleaned up.
    assert_eq!(ok(store.usage("b1"), "usage b1").await, 232);
    let q = ok(store.cleanup_queue(10), "queue").await;
    assert_eq!(q.depth, 2);
    assert!(q.first.iter().all(|t| t.size == 100));
    for t in &q.first {
        ok(store.complete_cleanup(t.id), "cleanup").await;
    }
    assert_eq!(ok(store.usage("b1"), "usage b1").await, 132);
    assert_eq!(totals(&store, "b2").await, (1, 132, 132));

    let at = VersionRef::Null;
    let expect = |change: VersionChange| VersionChange::Expecting {
        version: v.version,
        change: Box::new(change),
    };
    let damaged = |locations: &[Location]| VersionChange::Damaged {
        backends: vec!["b2".into()],
        locations: locations.to_vec(),
    };
    let r = store.update_version("bkt", "k", at, expect(damaged(&v.locations)));
    assert!(
        matches!(r.await, Err(StoreError::VersionChanged { .. })),
        "copies changed since read: refused"
    );
    let changed = store.update_version("bkt", "k", at, expect(damaged(&new)));
    assert_eq!(ok(changed, "damaged").await.damaged, vec!["b2".to_string()]);
    let h = ContentHash {
        alg: Default::default(),
        parts: vec!["cd".into()],
    };
    let hash = VersionChange::Hash {
        hash: h.clone(),
        locations: new.to_vec(),
    };
    let changed = store.update_version("bkt", "k", at, expect(hash));
    assert_eq!(ok(changed, "hash").await.hash, Some(h));
    let rewrap = |expected: &str| {
        expect(VersionChange::Rewrap {
            expected_dek: expected.into(),
            key_id: "k2".into(),
            dek: "again".into(),
        })
    };
    let r = store.update_version("bkt", "k", at, rewrap("not-this-one"));
    assert!(
        matches!(r.await, Err(StoreError::VersionChanged { .. })),
        "a re-wrap over another key refused"
    );
    let changed = ok(store.update_version("bkt", "k", at, rewrap("wrapped")), "rewrap").await;
    let sealed = changed.sealed.expect_some("sealed");
    assert_eq!((sealed.key_id.as_str(), sealed.dek.as_str()), ("k2", "again"));
}

/// A copy of version `v` of `key` on `backend`, under a physical key of its own.
fn copy(backend: &str, key: &str, v: u64) -> Location {
    Location {
        backend: backend.to_owned(),
        physical_key: format!("{}-copy-{backend}", crate::rules::physical_key_for("bkt", key, v)),
    }
}

/// (objects, bytes, committed bytes) of `backend` in the totals, zeros if absent.
async fn totals(store: &Store, backend: &str) -> (u64, u64, u64) {
    let stats = ok(store.backend_stats(), "backend_stats").await;
    stats
        .iter()
        .find(|s| s.backend == backend)
        .map_or((0, 0, 0), |s| (s.objects, s.bytes, s.committed_bytes))
}

/// Adds copies, queues dropped ones (Relocated, committed, after the grace period) or forgets
/// them (usage released at once), keeps the new order, follows the totals, and consumes its
/// reservations.
pub async fn relocation_moves_copies_usage_and_totals(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let v = version(&store, "bkt", "k", 100, &["b1", "b2"]).await;
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let b3 = copy("b3", "k", v.version);
    let expected = [v.locations[1].clone(), v.locations[0].clone()];
    let new = [b3.clone(), v.locations[0].clone()];
    let reservation = ok(store.reserve("b3", 100, Some(1000)), "reserve").await;
    let before = now_ms();
    let moved = store.relocate(
        "bkt",
        "k",
        v.version,
        &expected,
        &new,
        vec![reservation],
        Removal::Cleanup,
    );
    let moved = ok(moved, "relocate").await;
    assert_eq!(moved.locations, new, "the new locations, in their order");
    assert_eq!((moved.version, moved.size, &moved.etag), (v.version, v.size, &v.etag));
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(got, moved);
    assert_eq!(
        ok(store.reserved("b3"), "reserved").await,
        0,
        "the reservation is consumed"
    );
    assert_eq!(ok(store.usage("b3"), "usage b3").await, 100);
    assert_eq!(
        ok(store.usage("b2"), "usage b2").await,
        100,
        "dropped bytes count until cleaned up"
    );
    assert_eq!(totals(&store, "b2").await, (0, 0, 100));
    assert_eq!(totals(&store, "b3").await, (1, 100, 100));
    assert_eq!(totals(&store, "b1").await, (1, 100, 100));
    let q = ok(store.cleanup_queue(10), "queue").await;
    assert_eq!(q.depth, 1);
    let task = &q.first[0];
    assert_eq!(
        (task.backend.as_str(), task.physical_key.as_str(), task.size),
        ("b2", v.locations[1].physical_key.as_str(), 100)
    );
    assert_eq!(
        (task.reason, task.accounting),
        (CleanupReason::Relocated, Accounting::Committed)
    );
    assert!(
        task.not_before_ms >= before + CLEANUP_GRACE_MS,
        "dropped copies wait out the grace period"
    );
    assert_eq!(ok(store.orphan_bytes(), "orphan bytes").await, [("b2".to_owned(), 100)]);
    ok(store.complete_cleanup(task.id), "cleanup").await;
    assert_eq!(ok(store.usage("b2"), "usage b2").await, 0);

    // Forget: the dropped copy's bytes leave usage at once; nothing is queued.
    let kept = [v.locations[0].clone()];
    let r = store.relocate("bkt", "k", v.version, &new, &kept, Vec::new(), Removal::Forget);
    assert_eq!(ok(r, "relocate, forget").await.locations, kept);
    assert_eq!(ok(store.usage("b3"), "usage b3").await, 0);
    assert_eq!(totals(&store, "b3").await, (0, 0, 0));
    assert_eq!(ok(store.cleanup_queue(0), "queue").await.depth, 0);
    assert_eq!(ok(store.usage("b1"), "usage b1").await, 100);
    let bucket = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!(
        (bucket.object_count, bucket.logical_bytes),
        (1, 100),
        "the bucket is as it was"
    );
}

/// Locations other than expected are `PreconditionFailed` and change nothing; a missing
/// version, a delete marker and a missing bucket are refused.
pub async fn relocation_compares_and_refuses(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let v = version(&store, "bkt", "k", 10, &["b1", "b2"]).await;
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let b3 = [copy("b3", "k", v.version)];
    for expected in [&v.locations[..1], &[], &[v.locations[0].clone(), b3[0].clone()]] {
        let r = store
            .relocate("bkt", "k", v.version, expected, &b3, Vec::new(), Removal::Cleanup)
            .await;
        assert!(
            matches!(r, Err(StoreError::PreconditionFailed { .. })),
            "{expected:?}: {r:?}"
        );
    }
    let reservation = ok(store.reserve("b3", 10, Some(10)), "reserve").await;
    let r = store.relocate(
        "bkt",
        "k",
        v.version + 1000,
        &v.locations,
        &b3,
        vec![reservation],
        Removal::Cleanup,
    );
    assert!(matches!(r.await, Err(StoreError::NoSuchVersion { .. })));
    assert_eq!(
        ok(store.reserved("b3"), "reserved").await,
        0,
        "a failed relocation lets go"
    );
    let r = store.relocate("nope", "k", v.version, &v.locations, &b3, Vec::new(), Removal::Cleanup);
    assert!(matches!(r.await, Err(StoreError::NoSuchBucket(_))));
    let got = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!(got.locations, v.locations, "refusals change nothing");
    assert_eq!(
        (
            ok(store.usage("b3"), "usage").await,
            ok(store.cleanup_len(), "len").await
        ),
        (0, 0)
    );

    ok(
        store.update_bucket("bkt", BucketChange::Versioning(Versioning::Enabled)),
        "versioning",
    )
    .await;
    let marker = ok(store.delete_object("bkt", "k"), "delete")
        .await
        .marker
        .expect_some("marker");
    let r = store.relocate("bkt", "k", marker.version, &[], &b3, Vec::new(), Removal::Cleanup);
    assert!(
        matches!(r.await, Err(StoreError::NoSuchVersion { .. })),
        "a delete marker has no copies"
    );
}

/// A noncurrent version is relocated in place: the current one, the bucket's counts and the
/// key's order stay as they were.
pub async fn relocation_changes_noncurrent_versions(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    ok(
        store.update_bucket("bkt", BucketChange::Versioning(Versioning::Enabled)),
        "versioning",
    )
    .await;
    let old = version(&store, "bkt", "k", 7, &["b1"]).await;
    ok(
        store.put_object("bkt", "k", &old, &WriteCondition::None, Vec::new()),
        "put old",
    )
    .await;
    let new = version(&store, "bkt", "k", 3, &["b1"]).await;
    ok(
        store.put_object("bkt", "k", &new, &WriteCondition::None, Vec::new()),
        "put new",
    )
    .await;
    let b2 = [copy("b2", "k", old.version)];
    let r = store.relocate(
        "bkt",
        "k",
        old.version,
        &old.locations,
        &b2,
        Vec::new(),
        Removal::Cleanup,
    );
    let moved = ok(r, "relocate noncurrent").await;
    assert_eq!(moved.locations, b2);
    let got = ok(store.get_version("bkt", "k", VersionRef::Id(old.version)), "get old").await;
    assert_eq!(got.expect_some("old").locations, b2);
    let current = ok(store.get_object("bkt", "k"), "get").await.expect_some("k");
    assert_eq!((current.version, &current.locations), (new.version, &new.locations));
    assert_eq!(ok(store.usage("b2"), "usage b2").await, 7);
    assert_eq!(ok(store.usage("b1"), "usage b1").await, 10, "7 until cleaned up, and 3");
    assert_eq!(totals(&store, "b2").await, (1, 7, 7));
    let bucket = ok(store.bucket("bkt"), "bucket").await.expect_some("bkt");
    assert_eq!((bucket.object_count, bucket.version_count), (1, 1));
    let scan = ok(store.scan_versions(None, Some("b2"), 10), "scan").await;
    let found: Vec<(u64, bool)> = scan.versions.iter().map(|s| (s.meta.version, s.current)).collect();
    assert_eq!(found, [(old.version, false)]);
}

/// A relocation racing a put of the same key: either it wins (the put then replaces the
/// relocated version) or it finds its version gone (`NoSuchVersion`); usage always equals the
/// current copies plus the bytes the cleanup queue still owes, and every copy of the replaced
/// version is queued.
pub async fn relocation_races_a_put_of_the_key_cleanly(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let (mut won, mut lost) = (0, 0);
    for _ in 0..20 {
        let v = version(&store, "bkt", "race", 10, &["b1"]).await;
        ok(
            store.put_object("bkt", "race", &v, &WriteCondition::None, Vec::new()),
            "put",
        )
        .await;
        let next = version(&store, "bkt", "race", 4, &["b1"]).await;
        let b2 = [copy("b2", "race", v.version)];
        let start = Barrier::new(2);
        let relocated = std::thread::scope(|s| {
            let mover = s.spawn(|| {
                start.wait();
                block_on(store.relocate(
                    "bkt",
                    "race",
                    v.version,
                    &v.locations,
                    &b2,
                    Vec::new(),
                    Removal::Cleanup,
                ))
            });
            start.wait();
            block_on(store.put_object("bkt", "race", &next, &WriteCondition::None, Vec::new())).want("racing put");
            mover
                .join()
                .unwrap_or_else(|_| panic!("the relocating thread panicked"))
        });
        let queued: Vec<(String, String)> = ok(store.due_cleanup(u64::MAX, 1000), "due")
            .await
            .into_iter()
            .map(|t| (t.backend, t.physical_key))
            .collect();
        let dropped: Vec<Location> = match relocated {
            Ok(moved) => {
                won += 1;
                assert_eq!(moved.locations, b2);
                [v.locations.clone(), b2.to_vec()].concat()
            }
            Err(StoreError::NoSuchVersion { .. }) => {
                lost += 1;
                v.locations.clone()
            }
            Err(e) => panic!("racing relocation: {e}"),
        };
        for loc in &dropped {
            let pair = (loc.backend.clone(), loc.physical_key.clone());
            assert!(queued.contains(&pair), "{pair:?} is queued for cleanup");
        }
        let current = ok(store.get_object("bkt", "race"), "get").await.expect_some("race");
        assert_eq!(current.version, next.version, "the put is current");
        check_usage(&store, &current).await;
    }
    eprintln!("relocation vs put: relocation first {won}, put first {lost}");
}

/// Usage of b1 and b2 is exactly the current version's copies plus what cleanup owes.
async fn check_usage(store: &Store, current: &ObjectMeta) {
    let tasks = ok(store.due_cleanup(u64::MAX, 10_000), "due").await;
    for backend in ["b1", "b2"] {
        let owed: u64 = tasks
            .iter()
            .filter(|t| t.backend == backend && t.accounting == Accounting::Committed)
            .map(|t| t.size)
            .sum();
        let held = current.locations.iter().filter(|l| l.backend == backend).count() as u64 * current.size;
        assert_eq!(
            ok(store.usage(backend), "usage").await,
            owed + held,
            "usage of {backend}"
        );
    }
}
