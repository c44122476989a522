//! The durable cleanup queue: orders to delete one physical key from one backend, retried with
//! capped exponential backoff until they succeed. Tasks are never dropped after some number of
//! attempts: forgetting one would leak bytes on a backend forever.
//!
//! Tasks live in `cleanup` by id and are indexed by due time in `cleanup_due`, so finding due
//! work is a range scan however many tasks are waiting on a backend that is down. One worker
//! drains the queue: `due_cleanup` does not lease tasks.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use crate::sled_engine::commit::CommitTicket;
use crate::error::{Result, StoreError};
use crate::sled_engine::layout::{decode, due_key, encode, id_key, id_of_due_key, now_ms, CLEANUP};
use crate::model::{Accounting, CleanupTask};
use crate::sled_engine::quota::adjust_usage;
use crate::Store;

/// Delay before the bytes of a replaced or deleted version may be deleted: a GET that read the old
/// metadata just before the commit still finds its bytes.
pub const CLEANUP_GRACE_MS: u64 = 60_000;

/// Delay before the first retry: transient backend errors usually clear within seconds.
pub const CLEANUP_BACKOFF_BASE_MS: u64 = 1_000;

/// Longest delay between retries: a backend that is down for days is still retried hourly.
pub const CLEANUP_BACKOFF_CAP_MS: u64 = 3_600_000;

/// The delay before the attempt that follows `attempts` failures: the base doubled per failure
/// after the first, capped.
pub(crate) fn backoff_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(63);
    CLEANUP_BACKOFF_BASE_MS
        .saturating_mul(1u64 << doublings)
        .min(CLEANUP_BACKOFF_CAP_MS)
}

/// Queues `task` inside a transaction (its `id` is assigned here) and returns the id.
pub(crate) fn enqueue_in(
    cleanup: &TransactionalTree,
    due: &TransactionalTree,
    mut task: CleanupTask,
) -> std::result::Result<u64, ConflictableTransactionError<StoreError>> {
    let id = cleanup.generate_id()?;
    task.id = id;
    cleanup.insert(&id_key(id), encode(CLEANUP, &task)?)?;
    due.insert(&due_key(task.not_before_ms, id), &[])?;
    Ok(id)
}

impl CleanupTask {
    /// A task, not yet queued, to delete `physical_key` on `backend`, due at `not_before_ms`.
    pub(crate) fn delete(
        backend: &str,
        physical_key: &str,
        size: u64,
        accounting: Accounting,
        not_before_ms: u64,
    ) -> Self {
        CleanupTask {
            id: 0,
            backend: backend.to_owned(),
            physical_key: physical_key.to_owned(),
            size,
            accounting,
            upload_id: None,
            attempts: 0,
            not_before_ms,
        }
    }
}

/// Reads a task inside a transaction, or aborts with `NoSuchCleanupTask`.
fn task_in(
    cleanup: &TransactionalTree,
    id: u64,
) -> std::result::Result<CleanupTask, ConflictableTransactionError<StoreError>> {
    match cleanup.get(id_key(id))? {
        Some(v) => Ok(decode(CLEANUP, &v)?),
        None => Err(ConflictableTransactionError::Abort(StoreError::NoSuchCleanupTask(id))),
    }
}

impl Store {
    /// Queues `physical_key` on `backend` for deletion, due now. `accounting` says whether `size`
    /// bytes are in the backend's usage (a committed version) or not (an aborted upload whose
    /// bytes may have reached the backend); only in the first case does completion release them.
    /// Returns the task id.
    pub fn enqueue_cleanup(
        &self,
        backend: &str,
        physical_key: &str,
        size: u64,
        accounting: Accounting,
    ) -> Result<(u64, CommitTicket)> {
        self.inner.commits.check()?;
        let now = now_ms();
        let id = (&self.inner.cleanup, &self.inner.cleanup_due).transaction(|(cleanup, due)| {
            enqueue_in(
                cleanup,
                due,
                CleanupTask::delete(backend, physical_key, size, accounting, now),
            )
        })?;
        Ok((id, self.inner.commits.ticket()))
    }

    /// Up to `limit` tasks due at `now_ms`, earliest first.
    pub fn due_cleanup(&self, now_ms: u64, limit: usize) -> Result<Vec<CleanupTask>> {
        let mut tasks = Vec::new();
        for kv in self.inner.cleanup_due.range(..=due_key(now_ms, u64::MAX)) {
            if tasks.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            let id = id_of_due_key(&k)?;
            // A task completed between the index read and this one is simply skipped.
            if let Some(task) = self.cleanup_task(id)? {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    /// The task with this id, if it is still queued.
    pub fn cleanup_task(&self, id: u64) -> Result<Option<CleanupTask>> {
        self.inner
            .cleanup
            .get(id_key(id))?
            .map(|v| decode(CLEANUP, &v))
            .transpose()
    }

    /// Number of queued tasks.
    pub fn cleanup_len(&self) -> usize {
        self.inner.cleanup.len()
    }

    /// Marks a task done, in one transaction: removes it and, if its bytes were committed,
    /// subtracts them from the backend's usage.
    pub fn complete_cleanup(&self, id: u64) -> Result<CommitTicket> {
        self.inner.commits.check()?;
        let inner = &self.inner;
        (&inner.cleanup, &inner.cleanup_due, &inner.usage).transaction(|(cleanup, due, usage)| {
            let task = task_in(cleanup, id)?;
            cleanup.remove(&id_key(id))?;
            due.remove(&due_key(task.not_before_ms, id))?;
            if task.accounting == Accounting::Committed {
                adjust_usage(usage, &task.backend, -i128::from(task.size))?;
            }
            Ok(())
        })?;
        Ok(inner.commits.ticket())
    }

    /// Records a failed attempt: one more attempt, not due again before `now_ms` plus the backoff.
    /// Returns the task as updated.
    pub fn retry_cleanup(&self, id: u64, now_ms: u64) -> Result<(CleanupTask, CommitTicket)> {
        self.inner.commits.check()?;
        let inner = &self.inner;
        let task = (&inner.cleanup, &inner.cleanup_due).transaction(|(cleanup, due)| {
            let mut task = task_in(cleanup, id)?;
            due.remove(&due_key(task.not_before_ms, id))?;
            task.attempts = task.attempts.saturating_add(1);
            task.not_before_ms = now_ms.saturating_add(backoff_ms(task.attempts));
            cleanup.insert(&id_key(id), encode(CLEANUP, &task)?)?;
            due.insert(&due_key(task.not_before_ms, id), &[])?;
            Ok(task)
        })?;
        Ok((task, inner.commits.ticket()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(0), CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(1), CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(2), 2 * CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(5), 16 * CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(backoff_ms(30), CLEANUP_BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(u32::MAX), CLEANUP_BACKOFF_CAP_MS);
    }

    #[test]
    fn uncommitted_cleanup_leaves_usage_alone() {
        let store = Store::temporary().unwrap();
        let (id, t) = store
            .enqueue_cleanup("b1", "bkt/aa/x-1", 500, Accounting::Uncommitted)
            .unwrap();
        t.wait().unwrap();
        let (_, t) = store
            .enqueue_cleanup("b1", "bkt/aa/x-2", 0, Accounting::Committed)
            .unwrap();
        t.wait().unwrap();
        let tasks = store.due_cleanup(now_ms(), 10).unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].id, id);
        assert_eq!(tasks[0].accounting, Accounting::Uncommitted);
        assert_eq!(tasks[0].attempts, 0);
        store.complete_cleanup(id).unwrap().wait().unwrap();
        assert_eq!(store.usage("b1").unwrap(), 0);
        assert_eq!(store.cleanup_len(), 1);
    }

    #[test]
    fn retries_back_off_and_due_respects_time_and_limit() {
        let store = Store::temporary().unwrap();
        let ids: Vec<u64> = (0..3)
            .map(|i| {
                let (id, t) = store
                    .enqueue_cleanup("b1", &format!("k{i}"), 1, Accounting::Uncommitted)
                    .unwrap();
                t.wait().unwrap();
                id
            })
            .collect();
        let now = now_ms();
        assert_eq!(store.due_cleanup(now, 2).unwrap().len(), 2);
        assert!(store.due_cleanup(now, 0).unwrap().is_empty());
        let (task, t) = store.retry_cleanup(ids[0], now).unwrap();
        t.wait().unwrap();
        assert_eq!(task.attempts, 1);
        assert_eq!(task.not_before_ms, now + CLEANUP_BACKOFF_BASE_MS);
        assert_eq!(store.cleanup_task(ids[0]).unwrap(), Some(task.clone()));
        let due: Vec<u64> = store.due_cleanup(now, 10).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(due, [ids[1], ids[2]]);
        let (task, _) = store.retry_cleanup(ids[0], now).unwrap();
        assert_eq!(task.attempts, 2);
        assert_eq!(task.not_before_ms, now + 2 * CLEANUP_BACKOFF_BASE_MS);
        let later = store.due_cleanup(task.not_before_ms, 10).unwrap();
        assert_eq!(later.last().map(|t| t.id), Some(ids[0]), "latest due comes last");
        // Exactly one index entry per task survives the retries.
        assert_eq!(store.inner.cleanup_due.len(), 3);
        store.complete_cleanup(ids[0]).unwrap().wait().unwrap();
        assert_eq!(store.inner.cleanup_due.len(), 2);
        assert!(store.cleanup_task(ids[0]).unwrap().is_none());
    }

    #[test]
    fn every_error_path() {
        let store = Store::temporary().unwrap();
        assert!(matches!(
            store.complete_cleanup(42),
            Err(StoreError::NoSuchCleanupTask(42))
        ));
        assert!(matches!(
            store.retry_cleanup(42, 0),
            Err(StoreError::NoSuchCleanupTask(42))
        ));
        let (id, t) = store.enqueue_cleanup("b1", "k", 1, Accounting::Committed).unwrap();
        t.wait().unwrap();
        store.complete_cleanup(id).unwrap().wait().unwrap();
        assert!(matches!(
            store.complete_cleanup(id),
            Err(StoreError::NoSuchCleanupTask(_))
        ));
        store.inner.cleanup.insert(id_key(7), &b"junk"[..]).unwrap();
        store.inner.cleanup_due.insert(due_key(0, 7), &[]).unwrap();
        assert!(matches!(store.cleanup_task(7), Err(StoreError::Corrupt { .. })));
        assert!(matches!(store.due_cleanup(0, 1), Err(StoreError::Corrupt { .. })));
        assert!(matches!(store.complete_cleanup(7), Err(StoreError::Corrupt { .. })));
        assert!(matches!(store.retry_cleanup(7, 0), Err(StoreError::Corrupt { .. })));
        store.inner.cleanup_due.insert(&b"short"[..], &[]).unwrap();
        assert!(store.due_cleanup(u64::MAX, 10).is_err());
        store.inner.commits.poison("test");
        assert!(matches!(
            store.enqueue_cleanup("b1", "k", 1, Accounting::Committed),
            Err(StoreError::Flush(_))
        ));
        assert!(matches!(store.complete_cleanup(7), Err(StoreError::Flush(_))));
        assert!(matches!(store.retry_cleanup(7, 0), Err(StoreError::Flush(_))));
    }

    #[test]
    fn the_queue_survives_a_reopen() {
        let dir = crate::scratch_path("cleanup");
        let id;
        {
            let store = Store::open(&dir).unwrap();
            let (i, t) = store.enqueue_cleanup("b1", "k", 9, Accounting::Committed).unwrap();
            t.wait().unwrap();
            id = i;
        }
        {
            let store = Store::open(&dir).unwrap();
            let tasks = store.due_cleanup(u64::MAX, 10).unwrap();
            assert_eq!(tasks.len(), 1);
            assert_eq!((tasks[0].id, tasks[0].size), (id, 9));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
