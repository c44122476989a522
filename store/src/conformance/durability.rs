//! Durability: what a resolved mutation future promised is there after the store is closed and
//! opened again (the replication queue and state documents too), and versions keep increasing
//! across the restart (also past a raised floor, `advance_versions`).

use super::{ok, version, ExpectSome};
use crate::model::{Accounting, CleanupReason, Part, Upload, WriteCondition};
use crate::rules::now_ms;
use crate::stats::UsageCounters;
use crate::Store;

/// Writes one of everything through a store from `open`, drops it, opens the same store again
/// with `open` and checks every record is back. `open` must open the same persistent store each
/// time (the first handle is dropped, with all its clones, before the second call).
pub async fn survives_reopen(open: &dyn Fn() -> Store) {
    let (object, upload, task, last_version) = {
        let store = open();
        ok(store.create_bucket("bkt", "AK"), "create").await;
        let object = version(&store, "bkt", "k", 42, &["b1"]).await;
        ok(
            store.put_object("bkt", "k", &object, &WriteCondition::None, Vec::new()),
            "put",
        )
        .await;
        let v = ok(store.next_version(), "next_version").await;
        let upload = Upload {
            upload_id: format!("{v:016x}"),
            bucket: "bkt".into(),
            key: "mp".into(),
            backend: "b1".into(),
            physical_key: format!("bkt/mp-{v}"),
            version: v,
            initiated_ms: now_ms(),
            ..Upload::default()
        };
        ok(store.create_upload(&upload), "create upload").await;
        let part = Part {
            number: 1,
            size: 8,
            ..Part::default()
        };
        ok(store.put_part(&upload.upload_id, &part, None), "put part").await;
        let task = ok(
            store.enqueue_cleanup("b2", "orphan", 0, Accounting::Uncommitted, CleanupReason::Orphan),
            "enqueue",
        )
        .await;
        let counters = UsageCounters {
            backend: "b1".into(),
            api_requests: 3,
            egress_bytes: 4,
            ingress_bytes: 5,
        };
        ok(store.add_usage("2024-05", vec![counters]), "add usage").await;
        ok(store.put_state("drain/b1", r#"{"next":null}"#), "put state").await;
        let doc = crate::DocWrite::put("users", "u1", b"alice".to_vec());
        ok(store.apply_docs(vec![doc.clone(), doc]), "put doc").await;
        ok(
            store.enqueue_replication("bkt", "k", object.version),
            "enqueue replication",
        )
        .await;
        let next = ok(store.next_version(), "next_version").await;
        // An index rebuild moves versions on; that lasts across the reopen too.
        let last = next.saturating_add(10_000);
        ok(store.advance_versions(last), "advance_versions").await;
        let upload = ok(store.upload(&upload.upload_id), "upload")
            .await
            .expect_some("upload");
        (object, upload, task, last)
    };
    let store = open();
    let doc = ok(store.doc("users", "u1"), "doc")
        .await
        .expect_some("document after reopen");
    assert_eq!((doc.revision, doc.value.as_slice()), (2, &b"alice"[..]));
    let b = ok(store.bucket("bkt"), "bucket")
        .await
        .expect_some("bucket after reopen");
    assert_eq!((b.owner.as_str(), b.object_count, b.logical_bytes), ("AK", 1, 42));
    assert_eq!(ok(store.get_object("bkt", "k"), "get").await.as_ref(), Some(&object));
    assert_eq!(
        ok(store.upload(&upload.upload_id), "upload").await,
        Some(upload.clone())
    );
    assert_eq!(ok(store.parts(&upload.upload_id, 0, 10), "parts").await.len(), 1);
    let queued = ok(store.cleanup_task(task), "task")
        .await
        .expect_some("cleanup task after reopen");
    assert_eq!(queued.physical_key, "orphan");
    assert_eq!(ok(store.usage("b1"), "usage").await, 50);
    let counters = ok(store.usage_counters("2024-05"), "usage counters").await;
    assert_eq!(counters.len(), 1);
    assert_eq!(
        (
            counters[0].api_requests,
            counters[0].egress_bytes,
            counters[0].ingress_bytes
        ),
        (3, 4, 5)
    );
    let stats = ok(store.backend_stats(), "backend_stats").await;
    let b1: Vec<_> = stats
        .iter()
        .map(|s| (s.backend.as_str(), s.objects, s.bytes, s.uploads))
        .collect();
    assert_eq!(
        b1,
        [("b1", 1, 42, 1)],
        "a backend with only an orphan queued has no totals"
    );
    assert_eq!(ok(store.cleanup_queue(0), "cleanup_queue").await.depth, 1);
    let state = ok(store.state("drain/b1"), "state").await;
    assert_eq!(state.as_deref(), Some(r#"{"next":null}"#));
    assert_eq!(ok(store.replication_depth(), "replication depth").await, 1);
    let due = ok(store.due_replication(u64::MAX, 10), "due replication").await;
    assert_eq!(
        due.iter().map(|t| (t.key.as_str(), t.version)).collect::<Vec<_>>(),
        [("k", object.version)]
    );
    assert!(ok(store.next_version(), "next_version").await > last_version);
}
