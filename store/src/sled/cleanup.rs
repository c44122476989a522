//! The durable cleanup queue in the sled engine: orders to delete one physical key from one backend, retried with
//! capped exponential backoff until they succeed. Tasks are never dropped after some number of
//! attempts: forgetting one would leak bytes on a backend forever.
//!
//! Tasks live in `cleanup` by id and are indexed by due time in `cleanup_due`, so finding due
//! work is a range scan however many tasks are waiting on a backend that is down. One worker
//! drains the queue: `due_cleanup` does not lease tasks.

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{decode, due_key, encode, id_key, id_of_due_key, CLEANUP};
use super::quota::adjust_usage;
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{Accounting, CleanupReason, CleanupTask};
use crate::rules::{backoff_ms, now_ms};

/// Queues `task` inside a transaction (its `id` is assigned here) and returns the id.
pub(crate) fn enqueue_in(
    cleanup: &TransactionalTree,
    due: &TransactionalTree,
    mut task: CleanupTask,
) -> std::result::Result<u64, TxError> {
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
        reason: CleanupReason,
        not_before_ms: u64,
    ) -> Self {
        CleanupTask {
            id: 0,
            backend: backend.to_owned(),
            physical_key: physical_key.to_owned(),
            size,
            reason,
            accounting,
            upload_id: None,
            attempts: 0,
            not_before_ms,
        }
    }
}

/// Reads a task inside a transaction, or aborts with `NoSuchCleanupTask`.
fn task_in(cleanup: &TransactionalTree, id: u64) -> std::result::Result<CleanupTask, TxError> {
    match cleanup.get(id_key(id))? {
        Some(v) => Ok(decode(CLEANUP, &v)?),
        None => Err(TxError::Abort(StoreError::NoSuchCleanupTask(id))),
    }
}

impl SledEngine {
    /// Queues `physical_key` on `backend` for deletion, due now; returns the task id.
    pub(crate) fn enqueue_cleanup(
        &self,
        backend: &str,
        physical_key: &str,
        size: u64,
        accounting: Accounting,
        reason: CleanupReason,
    ) -> Result<(u64, CommitTicket)> {
        self.commits.check()?;
        let task = CleanupTask::delete(backend, physical_key, size, accounting, reason, now_ms());
        let id =
            (&self.cleanup, &self.cleanup_due).transaction(|(cleanup, due)| enqueue_in(cleanup, due, task.clone()))?;
        self.count_cleanup(1, 0);
        Ok((id, self.commits.ticket()))
    }

    /// Up to `limit` tasks due at `now_ms`, earliest first (the due index orders equal times by
    /// id).
    pub(crate) fn due_cleanup(&self, now_ms: u64, limit: usize) -> Result<Vec<CleanupTask>> {
        let mut tasks = Vec::new();
        for kv in self.cleanup_due.range(..=due_key(now_ms, u64::MAX)) {
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
    pub(crate) fn cleanup_task(&self, id: u64) -> Result<Option<CleanupTask>> {
        self.cleanup.get(id_key(id))?.map(|v| decode(CLEANUP, &v)).transpose()
    }

    /// Marks a task done, in one transaction: removes it and, if its bytes were committed,
    /// subtracts them from the backend's usage.
    pub(crate) fn complete_cleanup(&self, id: u64) -> Result<CommitTicket> {
        self.commits.check()?;
        (&self.cleanup, &self.cleanup_due, &self.usage).transaction(|(cleanup, due, usage)| {
            let task = task_in(cleanup, id)?;
            cleanup.remove(&id_key(id))?;
            due.remove(&due_key(task.not_before_ms, id))?;
            if task.accounting == Accounting::Committed {
                adjust_usage(usage, &task.backend, -i128::from(task.size))?;
            }
            Ok(())
        })?;
        self.count_cleanup(0, 1);
        Ok(self.commits.ticket())
    }

    /// Records a failed attempt: one more attempt, not due again before `now_ms` plus the backoff.
    /// Returns the task as updated.
    pub(crate) fn retry_cleanup(&self, id: u64, now_ms: u64) -> Result<(CleanupTask, CommitTicket)> {
        self.commits.check()?;
        let task = (&self.cleanup, &self.cleanup_due).transaction(|(cleanup, due)| {
            let mut task = task_in(cleanup, id)?;
            due.remove(&due_key(task.not_before_ms, id))?;
            task.attempts = task.attempts.saturating_add(1);
            task.not_before_ms = now_ms.saturating_add(backoff_ms(task.attempts));
            cleanup.insert(&id_key(id), encode(CLEANUP, &task)?)?;
            due.insert(&due_key(task.not_before_ms, id), &[])?;
            Ok(task)
        })?;
        Ok((task, self.commits.ticket()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::sled_engine::testing::{ok, temporary};

    #[test]
    fn retries_keep_exactly_one_index_entry_per_task() {
        let (store, engine) = temporary();
        let id = ok(store.enqueue_cleanup("b1", "k", 1, Accounting::Uncommitted, CleanupReason::Orphan));
        ok(store.retry_cleanup(id, 0));
        ok(store.retry_cleanup(id, 0));
        assert_eq!(engine.cleanup_due.len(), 1);
        ok(store.complete_cleanup(id));
        assert!(engine.cleanup_due.is_empty());
    }

    #[test]
    fn corrupt_and_poisoned_paths() {
        let (store, engine) = temporary();
        engine.cleanup.insert(id_key(7), &b"junk"[..]).unwrap();
        engine.cleanup_due.insert(due_key(0, 7), &[]).unwrap();
        let corrupt = |r: Result<()>| matches!(r, Err(StoreError::Corrupt { .. }));
        assert!(matches!(
            block_on(store.cleanup_task(7)),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            block_on(store.due_cleanup(0, 1)),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(corrupt(block_on(store.complete_cleanup(7))));
        assert!(matches!(
            block_on(store.retry_cleanup(7, 0)),
            Err(StoreError::Corrupt { .. })
        ));
        engine.cleanup_due.insert(&b"short"[..], &[]).unwrap();
        assert!(block_on(store.due_cleanup(u64::MAX, 10)).is_err());
        engine.commits.poison("test");
        assert!(matches!(
            block_on(store.enqueue_cleanup("b1", "k", 1, Accounting::Committed, CleanupReason::Orphan)),
            Err(StoreError::Flush(_))
        ));
        assert!(matches!(block_on(store.complete_cleanup(7)), Err(StoreError::Flush(_))));
        assert!(matches!(block_on(store.retry_cleanup(7, 0)), Err(StoreError::Flush(_))));
    }
}
