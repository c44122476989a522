//! What the orchestration workers rely on: versions short of copies are queued for replication
//! by the commit that writes them; the replication queue orders, backs off and forgets; the scan
//! of stored versions walks every version with bytes in order, in bounded pages; state documents
//! persist; orphan bytes and backend removal account for the cleanup queue. Relocation has its
//! own module ([`relocation`](super::relocation)).

use super::{ok, version, with_bucket, ExpectSome, Want};
use crate::model::{Accounting, CleanupReason, Location, ObjectMeta, Upload, WriteCondition};
use crate::orchestration::{Removal, ReplicationTask, VersionAt};
use crate::rules::{backoff_ms, now_ms, physical_key_for, CLEANUP_BACKOFF_BASE_MS};
use crate::stats::UsageCounters;
use crate::versions::{BucketChange, Versioning};
use crate::{Store, StoreError};

/// Runs every orchestration check, relocation's included.
pub async fn run(fresh: &dyn Fn() -> Store) {
    commits_short_of_copies_queue_replication(fresh).await;
    the_replication_queue_orders_backs_off_and_finishes(fresh()).await;
    the_scan_walks_every_stored_version_in_order(fresh).await;
    filtered_scans_page_in_bounded_steps(fresh).await;
    state_documents_persist_by_name(fresh()).await;
    orphan_bytes_count_committed_cleanup_by_backend(fresh).await;
    forgetting_a_backend_removes_its_traces(fresh).await;
    super::relocation::run(fresh).await;
}

/// Puts `meta` as `bucket`/`key`.
async fn put(store: &Store, bucket: &str, key: &str, meta: &ObjectMeta) {
    ok(
        store.put_object(bucket, key, meta, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
}

/// The queued replication tasks as (key, version, attempts).
async fn queued(store: &Store) -> Vec<(String, u64, u32)> {
    ok(store.due_replication(u64::MAX, 1000), "due replication")
        .await
        .into_iter()
        .map(|t| (t.key, t.version, t.attempts))
        .collect()
}

/// A version of `bkt`/`key` of `size` bytes on `backends` that wants `copies` copies.
async fn wanting(store: &Store, key: &str, size: u64, backends: &[&str], copies: u32) -> ObjectMeta {
    let mut v = version(store, "bkt", key, size, backends).await;
    v.copies_wanted = copies;
    v
}

/// put_object, complete_upload and relocate queue a version that holds bytes and wants more
/// copies than it has, once; enough copies (or 0 or 1 wanted) queue nothing; an entry already
/// queued is kept as it is.
pub async fn commits_short_of_copies_queue_replication(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    assert_eq!(ok(store.replication_depth(), "depth").await, 0);
    let short = wanting(&store, "short", 10, &["b1"], 2).await;
    put(&store, "bkt", "short", &short).await;
    let enough = wanting(&store, "enough", 10, &["b1", "b2"], 2).await;
    put(&store, "bkt", "enough", &enough).await;
    for (key, copies) in [("one", 1), ("zero", 0)] {
        let v = wanting(&store, key, 10, &["b1"], copies).await;
        put(&store, "bkt", key, &v).await;
    }
    assert_eq!(queued(&store).await, [("short".to_owned(), short.version, 0)]);
    let task = &ok(store.due_replication(now_ms(), 10), "due").await[0];
    assert_eq!((task.bucket.as_str(), task.attempts), ("bkt", 0));
    assert!(task.not_before_ms <= now_ms(), "queued due now");
    let got = ok(store.get_object("bkt", "short"), "get").await.expect_some("short");
    assert_eq!(got.copies_wanted, 2, "copies_wanted is kept with the version");

    // Queued again (a retried put, an explicit enqueue): the entry is kept, attempts and all.
    ok(
        store.retry_replication("bkt", "short", short.version, now_ms()),
        "retry",
    )
    .await;
    ok(
        store.enqueue_replication("bkt", "short", short.version),
        "enqueue again",
    )
    .await;
    let mut again = short.clone();
    again.last_modified_ms += 1;
    put(&store, "bkt", "short", &again).await;
    assert_eq!(queued(&store).await, [("short".to_owned(), short.version, 1)]);
    assert_eq!(ok(store.replication_depth(), "depth").await, 1);

    // A completed multipart upload short of copies.
    let v = ok(store.next_version(), "next_version").await;
    let upload = Upload {
        upload_id: format!("{v:016x}"),
        bucket: "bkt".into(),
        key: "mp".into(),
        backend: "b1".into(),
        physical_key: physical_key_for("bkt", "mp", v),
        version: v,
        backend_upload_id: "native".into(),
        initiated_ms: now_ms(),
        ..Upload::default()
    };
    ok(store.create_upload(&upload), "create upload").await;
    let object = ObjectMeta {
        size: 0,
        version: v,
        copies_wanted: 3,
        locations: vec![Location {
            backend: "b1".into(),
            physical_key: upload.physical_key.clone(),
        }],
        ..ObjectMeta::default()
    };
    let none = WriteCondition::None;
    ok(
        store.complete_upload(&upload.upload_id, &object, &none, false),
        "complete",
    )
    .await;
    assert!(queued(&store).await.contains(&("mp".to_owned(), v, 0)));

    // A relocation that leaves a version short of copies.
    ok(
        store.relocate(
            "bkt",
            "enough",
            enough.version,
            &enough.locations,
            &enough.locations[..1],
            Vec::new(),
            Removal::Cleanup,
        ),
        "relocate",
    )
    .await;
    let q = queued(&store).await;
    assert!(q.contains(&("enough".to_owned(), enough.version, 0)), "{q:?}");
    assert_eq!(ok(store.replication_depth(), "depth").await, 3);

    // A delete marker never wants copies; a versioned bucket's versions are queued like others.
    ok(
        store.update_bucket("bkt", BucketChange::Versioning(Versioning::Enabled)),
        "versioning",
    )
    .await;
    ok(store.delete_object("bkt", "one"), "delete").await;
    assert_eq!(ok(store.replication_depth(), "depth").await, 3);
}

/// Tasks come due earliest first (equal times in bucket, key, version order); a retry backs
/// off by `backoff_ms`; finishing removes a task (a missing one is fine); retrying a missing
/// one is `NoSuchVersion`.
pub async fn the_replication_queue_orders_backs_off_and_finishes(store: Store) {
    let before = now_ms();
    for (bucket, key, version) in [("b", "k", 7), ("a", "z", 1), ("b", "k", 3), ("a", "z\u{0}", 0)] {
        ok(store.enqueue_replication(bucket, key, version), "enqueue").await;
    }
    ok(store.enqueue_replication("a", "z", 1), "enqueue again").await;
    assert_eq!(ok(store.replication_depth(), "depth").await, 4);
    let due = ok(store.due_replication(now_ms(), 10), "due").await;
    let mut order: Vec<(u64, &str, &str, u64)> = due
        .iter()
        .map(|t| (t.not_before_ms, t.bucket.as_str(), t.key.as_str(), t.version))
        .collect();
    assert!(due.iter().all(|t| t.attempts == 0 && t.not_before_ms >= before));
    let listed = order.clone();
    order.sort();
    assert_eq!(listed, order, "earliest first, then bucket, key, version");
    assert_eq!(ok(store.due_replication(now_ms(), 2), "due, 2").await.len(), 2);
    assert!(ok(store.due_replication(0, 10), "due at 0").await.is_empty());

    let now = now_ms();
    let task = ok(store.retry_replication("b", "k", 3, now), "retry").await;
    let want = ReplicationTask {
        bucket: "b".into(),
        key: "k".into(),
        version: 3,
        attempts: 1,
        not_before_ms: now + CLEANUP_BACKOFF_BASE_MS,
    };
    assert_eq!(task, want);
    let due = ok(store.due_replication(now, 10), "due").await;
    assert!(!due.contains(&want), "a retried task waits for its backoff");
    assert_eq!(due.len(), 3);
    let task = ok(store.retry_replication("b", "k", 3, now), "retry again").await;
    assert_eq!((task.attempts, task.not_before_ms), (2, now + backoff_ms(2)));
    let later = ok(store.due_replication(task.not_before_ms, 10), "due later").await;
    assert_eq!(later.last(), Some(&task), "latest due comes last");

    ok(store.finish_replication("b", "k", 3), "finish").await;
    ok(store.finish_replication("b", "k", 3), "finish again").await;
    ok(store.finish_replication("nope", "k", 1), "finish a stranger").await;
    assert_eq!(ok(store.replication_depth(), "depth").await, 3);
    let r = store.retry_replication("b", "k", 3, now).await;
    assert!(matches!(r, Err(StoreError::NoSuchVersion { .. })), "{r:?}");
}

/// Every version with bytes, current and noncurrent, of every bucket, in bucket, key (byte
/// order), version order, without delete markers; pages resume after `next`, which is `None`
/// only at the end.
pub async fn the_scan_walks_every_stored_version_in_order(fresh: &dyn Fn() -> Store) {
    let store = fresh();
    let empty = ok(store.scan_versions(None, None, 10), "scan empty").await;
    assert!(empty.versions.is_empty() && empty.next.is_none());
    for bucket in ["b2", "b1"] {
        ok(store.create_bucket(bucket, "AK"), "create").await;
    }
    let on = BucketChange::Versioning(Versioning::Enabled);
    ok(store.update_bucket("b1", on), "versioning").await;
    let mut want: Vec<(String, String, u64, bool)> = Vec::new();
    for (bucket, key) in [("b2", "a"), ("b1", "é"), ("b1", "k"), ("b1", "a"), ("b1", "k\u{0}x")] {
        let v = version(&store, bucket, key, 1, &["b1"]).await;
        put(&store, bucket, key, &v).await;
        want.push((bucket.into(), key.into(), v.version, true));
    }
    // b1/k: two more versions, then a delete marker (hidden from the scan); b1/a: one more.
    for key in ["k", "k", "a"] {
        let v = version(&store, "b1", key, 2, &["b2"]).await;
        put(&store, "b1", key, &v).await;
        for w in want.iter_mut().filter(|w| w.0 == "b1" && w.1 == key) {
            w.3 = false;
        }
        want.push(("b1".into(), key.into(), v.version, true));
    }
    ok(store.delete_object("b1", "k"), "delete").await;
    for w in want.iter_mut().filter(|w| w.0 == "b1" && w.1 == "k") {
        w.3 = false;
    }
    want.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes(), a.2).cmp(&(b.0.as_bytes(), b.1.as_bytes(), b.2)));

    let page = ok(store.scan_versions(None, None, 100), "scan all").await;
    assert!(page.next.is_none(), "one page holds everything");
    let got: Vec<(String, String, u64, bool)> = page
        .versions
        .iter()
        .map(|s| (s.bucket.clone(), s.key.clone(), s.meta.version, s.current))
        .collect();
    assert_eq!(got, want);
    assert!(page
        .versions
        .iter()
        .all(|s| !s.meta.delete_marker && !s.meta.locations.is_empty()));

    // Two at a time: the same versions, each once, with a position that survives JSON.
    let mut paged = Vec::new();
    let mut after: Option<VersionAt> = None;
    for _ in 0..100 {
        let page = ok(store.scan_versions(after.as_ref(), None, 2), "scan page").await;
        assert!(page.versions.len() <= 2);
        paged.extend(
            page.versions
                .iter()
                .map(|s| (s.bucket.clone(), s.key.clone(), s.meta.version, s.current)),
        );
        let Some(next) = page.next else { break };
        let json = serde_json::to_string(&next).want("position to JSON");
        after = Some(serde_json::from_str(&json).want("position from JSON"));
    }
    assert_eq!(paged, want);

    // Resuming after a position in the middle of a key's versions.
    let (b, k, v, _) = &want[3];
    let at = VersionAt {
        bucket: b.clone(),
        key: k.clone(),
        version: *v,
    };
    let rest = ok(store.scan_versions(Some(&at), None, 100), "scan the rest").await;
    assert_eq!(rest.versions.first().map(|s| s.meta.version), Some(want[4].2));
    assert_eq!(rest.versions.len(), want.len() - 4);

    // Only the versions with a copy on b2.
    let on_b2 = ok(store.scan_versions(None, Some("b2"), 100), "scan b2").await;
    assert!(on_b2
        .versions
        .iter()
        .all(|s| s.meta.locations.iter().any(|l| l.backend == "b2")));
    assert_eq!(on_b2.versions.len(), 3);
    assert!(on_b2.next.is_none());
}

/// A scan filtered by a backend that holds little examines a bounded number of records per
/// call: its pages may be short or empty while `next` is `Some`, and following `next` still
/// finds every version there.
pub async fn filtered_scans_page_in_bounded_steps(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let total = 60;
    let mut on_rare = Vec::new();
    for i in 0..total {
        let key = format!("k{i:03}");
        let backend = if i % 25 == 7 { "rare" } else { "common" };
        let v = version(&store, "bkt", &key, 1, &[backend]).await;
        put(&store, "bkt", &key, &v).await;
        if backend == "rare" {
            on_rare.push(key);
        }
    }
    let mut found = Vec::new();
    let mut after: Option<VersionAt> = None;
    let mut calls = 0;
    let mut short_pages = 0;
    loop {
        calls += 1;
        assert!(calls <= total, "the scan must end");
        let page = ok(store.scan_versions(after.as_ref(), Some("rare"), 1), "scan rare").await;
        if page.versions.is_empty() && page.next.is_some() {
            short_pages += 1;
        }
        found.extend(page.versions.into_iter().map(|s| s.key));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(found, on_rare);
    assert!(short_pages > 0, "a page of 1 examines at most 8 records");
}

/// Documents are stored, replaced, read, listed by prefix in name order and removed (a
/// missing one is fine).
pub async fn state_documents_persist_by_name(store: Store) {
    assert_eq!(ok(store.state("drain/b1"), "read missing").await, None);
    ok(store.put_state("drain/b1", r#"{"at":1}"#), "put").await;
    ok(store.put_state("drain/b1", r#"{"at":2}"#), "replace").await;
    ok(store.put_state("drain/a", "{}"), "put a").await;
    ok(store.put_state("drainer", "x"), "put drainer").await;
    ok(store.put_state("rebalance", "é"), "put rebalance").await;
    assert_eq!(
        ok(store.state("drain/b1"), "read").await.as_deref(),
        Some(r#"{"at":2}"#)
    );
    let drains = ok(store.states("drain/"), "list").await;
    let want = [
        ("drain/a".to_owned(), "{}".to_owned()),
        ("drain/b1".into(), r#"{"at":2}"#.into()),
    ];
    assert_eq!(drains, want);
    assert_eq!(ok(store.states(""), "list all").await.len(), 4);
    ok(store.delete_state("drain/a"), "delete").await;
    ok(store.delete_state("drain/a"), "delete again").await;
    assert_eq!(ok(store.states("drain/"), "list").await.len(), 1);
    assert_eq!(ok(store.state("rebalance"), "read").await.as_deref(), Some("é"));
}

/// The committed bytes of queued cleanup tasks, by backend in name order; uncommitted tasks
/// and backends without any are left out.
pub async fn orphan_bytes_count_committed_cleanup_by_backend(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    assert!(ok(store.orphan_bytes(), "orphan bytes").await.is_empty());
    for (key, size) in [("a", 10), ("a", 20), ("b", 5)] {
        let v = version(&store, "bkt", key, size, &["b2", "b1"]).await;
        put(&store, "bkt", key, &v).await;
    }
    let task = store.enqueue_cleanup("b3", "x", 99, Accounting::Uncommitted, CleanupReason::Orphan);
    ok(task, "enqueue uncommitted").await;
    let id = store.enqueue_cleanup("b1", "y", 7, Accounting::Committed, CleanupReason::Orphan);
    let id = ok(id, "enqueue committed").await;
    let want = [("b1".to_owned(), 17), ("b2".to_owned(), 10)];
    assert_eq!(ok(store.orphan_bytes(), "orphan bytes").await, want);
    ok(store.complete_cleanup(id), "complete").await;
    let want = [("b1".to_owned(), 10), ("b2".to_owned(), 10)];
    assert_eq!(ok(store.orphan_bytes(), "orphan bytes").await, want);
}

/// Forgetting a backend removes its cleanup tasks, usage, totals, reservations and usage
/// counters, and nothing of the other backends; a second time it finds nothing to remove.
pub async fn forgetting_a_backend_removes_its_traces(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    for (key, size) in [("a", 10), ("a", 20)] {
        let v = version(&store, "bkt", key, size, &["gone", "kept"]).await;
        put(&store, "bkt", key, &v).await;
    }
    let task = store.enqueue_cleanup("gone", "x", 3, Accounting::Uncommitted, CleanupReason::Orphan);
    ok(task, "enqueue").await;
    let counters = |backend: &str| UsageCounters {
        backend: backend.to_owned(),
        api_requests: 1,
        egress_bytes: 2,
        ingress_bytes: 3,
    };
    ok(
        store.add_usage("2024-05", vec![counters("gone"), counters("kept")]),
        "usage",
    )
    .await;
    let reservation = ok(store.reserve("gone", 100, Some(1000)), "reserve").await;
    let unlimited = ok(store.reserve("gone", 5, None), "reserve without a quota").await;
    let current = ok(store.get_object("bkt", "a"), "get").await.expect_some("a");
    // The caller first moves every version off the backend.
    let kept: Vec<Location> = current
        .locations
        .iter()
        .filter(|l| l.backend == "kept")
        .cloned()
        .collect();
    let r = store.relocate(
        "bkt",
        "a",
        current.version,
        &current.locations,
        &kept,
        Vec::new(),
        Removal::Forget,
    );
    ok(r, "relocate off").await;
    assert_eq!(ok(store.cleanup_queue(0), "queue").await.depth, 3);

    assert_eq!(ok(store.forget_backend("gone"), "forget").await, 2);
    let q = ok(store.cleanup_queue(10), "queue").await;
    assert_eq!(q.depth, 1);
    assert!(q.first.iter().all(|t| t.backend == "kept"));
    assert_eq!(ok(store.usage("gone"), "usage").await, 0);
    assert_eq!(
        ok(store.usage("kept"), "usage").await,
        30,
        "the other backend keeps its bytes"
    );
    assert_eq!(ok(store.reserved("gone"), "reserved").await, 0);
    let stats = ok(store.backend_stats(), "stats").await;
    assert_eq!(stats.iter().map(|s| s.backend.as_str()).collect::<Vec<_>>(), ["kept"]);
    assert_eq!(
        ok(store.usage_counters("2024-05"), "counters").await,
        [counters("kept")]
    );
    assert_eq!(
        ok(store.orphan_bytes(), "orphan bytes").await,
        [("kept".to_owned(), 10)]
    );
    drop((reservation, unlimited));
    assert_eq!(
        ok(store.reserved("gone"), "reserved").await,
        0,
        "a forgotten reservation releases nothing"
    );
    assert_eq!(ok(store.forget_backend("gone"), "forget again").await, 0);
    assert_eq!(ok(store.usage("kept"), "usage").await, 30);
}
