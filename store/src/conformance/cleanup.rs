//! The cleanup queue: tasks come due in time order, failed attempts back off by
//! [`backoff_ms`](crate::backoff_ms()), completion removes a task and releases its bytes from usage
//! only when they were committed.

use super::{ok, queue_depth, version, with_bucket};
use crate::model::{Accounting, CleanupReason, WriteCondition};
use crate::rules::{backoff_ms, now_ms, CLEANUP_BACKOFF_BASE_MS};
use crate::{Store, StoreError};

/// Runs every cleanup-queue check.
pub async fn run(fresh: &dyn Fn() -> Store) {
    uncommitted_cleanup_leaves_usage_alone(fresh).await;
    retries_back_off_and_due_respects_time_and_limit(fresh()).await;
    unknown_tasks_are_refused(fresh()).await;
}

/// An `Uncommitted` task releases nothing from usage when completed; a `Committed` one does.
pub async fn uncommitted_cleanup_leaves_usage_alone(fresh: &dyn Fn() -> Store) {
    let store = with_bucket(fresh).await;
    let v = version(&store, "bkt", "k", 500, &["b1"]).await;
    ok(
        store.put_object("bkt", "k", &v, &WriteCondition::None, Vec::new()),
        "put",
    )
    .await;
    let before = now_ms();
    let orphan = ok(
        store.enqueue_cleanup("b1", "bkt/aa/x-1", 500, Accounting::Uncommitted, CleanupReason::Orphan),
        "enqueue",
    )
    .await;
    let committed = ok(
        store.enqueue_cleanup("b1", "bkt/aa/x-2", 200, Accounting::Committed, CleanupReason::Orphan),
        "enqueue",
    )
    .await;
    assert_eq!(queue_depth(&store).await, 2);
    let tasks = ok(store.due_cleanup(now_ms(), 10), "due now").await;
    assert_eq!(tasks.len(), 2, "enqueued tasks are due at once");
    let t = &tasks[0];
    assert_eq!(t.id, orphan, "earliest first");
    assert_eq!(
        (
            t.backend.as_str(),
            t.physical_key.as_str(),
            t.size,
            t.accounting,
            t.reason,
            t.attempts
        ),
        (
            "b1",
            "bkt/aa/x-1",
            500,
            Accounting::Uncommitted,
            CleanupReason::Orphan,
            0
        )
    );
    assert!(t.upload_id.is_none());
    assert!(t.not_before_ms >= before && t.not_before_ms <= now_ms());
    assert_eq!(ok(store.cleanup_task(orphan), "task").await.as_ref(), Some(t));
    ok(store.complete_cleanup(orphan), "complete orphan").await;
    assert_eq!(ok(store.usage("b1"), "usage").await, 500);
    ok(store.complete_cleanup(committed), "complete committed").await;
    assert_eq!(ok(store.usage("b1"), "usage").await, 300);
    assert_eq!(queue_depth(&store).await, 0);
    assert!(ok(store.cleanup_task(orphan), "task").await.is_none());
}

/// A retried task is due again only after its backoff, which doubles; `due_cleanup` honours its
/// time and limit and lists the latest due last.
pub async fn retries_back_off_and_due_respects_time_and_limit(store: Store) {
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = store.enqueue_cleanup(
            "b1",
            &format!("k{i}"),
            1,
            Accounting::Uncommitted,
            CleanupReason::Orphan,
        );
        ids.push(ok(id, "enqueue").await);
    }
    let now = now_ms();
    assert_eq!(ok(store.due_cleanup(now, 2), "due, 2").await.len(), 2);
    assert!(ok(store.due_cleanup(now, 0), "due, 0").await.is_empty());
    assert!(ok(store.due_cleanup(0, 10), "due at 0").await.is_empty());
    let task = ok(store.retry_cleanup(ids[0], now), "retry").await;
    assert_eq!(task.attempts, 1);
    assert_eq!(task.not_before_ms, now + CLEANUP_BACKOFF_BASE_MS);
    assert_eq!(ok(store.cleanup_task(ids[0]), "task").await, Some(task.clone()));
    let due: Vec<u64> = ok(store.due_cleanup(now, 10), "due")
        .await
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(due, [ids[1], ids[2]], "a retried task waits for its backoff");
    let task = ok(store.retry_cleanup(ids[0], now), "retry again").await;
    assert_eq!(task.attempts, 2);
    assert_eq!(task.not_before_ms, now + backoff_ms(2));
    let later = ok(store.due_cleanup(task.not_before_ms, 10), "due later").await;
    assert_eq!(later.len(), 3);
    assert_eq!(later.last().map(|t| t.id), Some(ids[0]), "latest due comes last");
    ok(store.complete_cleanup(ids[0]), "complete").await;
    assert!(ok(store.cleanup_task(ids[0]), "task").await.is_none());
    assert_eq!(queue_depth(&store).await, 2);
}

/// Completing or retrying a task that is not queued (never was, or done already) is
/// `NoSuchCleanupTask`.
pub async fn unknown_tasks_are_refused(store: Store) {
    let r = store.complete_cleanup(42).await;
    assert!(matches!(r, Err(StoreError::NoSuchCleanupTask(42))), "{r:?}");
    let r = store.retry_cleanup(42, 0).await;
    assert!(matches!(r, Err(StoreError::NoSuchCleanupTask(42))), "{r:?}");
    let id = ok(
        store.enqueue_cleanup("b1", "k", 1, Accounting::Committed, CleanupReason::Orphan),
        "enqueue",
    )
    .await;
    ok(store.complete_cleanup(id), "complete").await;
    let r = store.complete_cleanup(id).await;
    assert!(matches!(r, Err(StoreError::NoSuchCleanupTask(_))), "{r:?}");
}
