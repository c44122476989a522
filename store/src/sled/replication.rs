//! The replication queue and the named state documents in the sled engine. A task is the
//! version's entry in `replication`, indexed by due time in `replication_due` (so taking due
//! tasks is a range scan however many wait), queued by the transaction that commits a version
//! short of copies or by [`enqueue_replication`](SledEngine::enqueue_replication); the depth is
//! an in-memory counter like the cleanup queue's. State documents are plain entries of `states`.

use std::ops::Bound;

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{decode, encode, replication_due_key, replication_key, utf8, REPLICATION, STATES};
use super::objects::VersionTrees;
use super::SledEngine;
use crate::error::Result;
use crate::orchestration::{no_such_version, ReplicationTask};
use crate::rules::{backoff_ms, now_ms};

/// Queues version `version` of `bucket`/`key` for replication due at `now_ms` inside a
/// transaction, unless it is queued already; whether it queued it.
pub(crate) fn enqueue_replication_in(
    t: &VersionTrees<'_>,
    bucket: &str,
    key: &str,
    version: u64,
    now_ms: u64,
) -> std::result::Result<bool, TxError> {
    enqueue_in(t.replication, t.replication_due, bucket, key, version, now_ms)
}

/// [`enqueue_replication_in`] on the two trees of the queue.
fn enqueue_in(
    tasks: &TransactionalTree,
    due: &TransactionalTree,
    bucket: &str,
    key: &str,
    version: u64,
    now_ms: u64,
) -> std::result::Result<bool, TxError> {
    let k = replication_key(bucket, key, version);
    if tasks.get(k.as_slice())?.is_some() {
        return Ok(false);
    }
    let task = ReplicationTask {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version,
        attempts: 0,
        not_before_ms: now_ms,
    };
    tasks.insert(k.as_slice(), encode(REPLICATION, &task)?)?;
    due.insert(replication_due_key(now_ms, &k), &[])?;
    Ok(true)
}

impl SledEngine {
    /// Queues a version for replication, due now, unless it is queued already.
    pub(crate) fn enqueue_replication(&self, bucket: &str, key: &str, version: u64) -> Result<CommitTicket> {
        self.commits.check()?;
        let now = now_ms();
        let queued = (&self.replication, &self.replication_due)
            .transaction(|(tasks, due)| enqueue_in(tasks, due, bucket, key, version, now))?;
        if !queued {
            return Ok(CommitTicket::ready());
        }
        self.count_replication(1, 0);
        Ok(self.commits.ticket())
    }

    /// Up to `limit` tasks due at `now_ms`, earliest first.
    pub(crate) fn due_replication(&self, now_ms: u64, limit: usize) -> Result<Vec<ReplicationTask>> {
        let end = match now_ms.checked_add(1) {
            Some(after) => Bound::Excluded(after.to_be_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut tasks = Vec::new();
        for k in self.replication_due.range((Bound::Unbounded, end)).keys() {
            if tasks.len() >= limit {
                break;
            }
            let k = k?;
            // A task finished between the index read and this one is simply skipped.
            if let Some(v) = self.replication.get(k.get(8..).unwrap_or_default())? {
                tasks.push(decode(REPLICATION, &v)?);
            }
        }
        Ok(tasks)
    }

    /// Removes a version's task, if it is queued.
    pub(crate) fn finish_replication(&self, bucket: &str, key: &str, version: u64) -> Result<CommitTicket> {
        self.commits.check()?;
        let k = replication_key(bucket, key, version);
        let removed = (&self.replication, &self.replication_due).transaction(|(tasks, due)| {
            let Some(v) = tasks.remove(k.as_slice())? else {
                return Ok(false);
            };
            let task: ReplicationTask = decode(REPLICATION, &v)?;
            due.remove(replication_due_key(task.not_before_ms, &k))?;
            Ok(true)
        })?;
        if !removed {
            return Ok(CommitTicket::ready());
        }
        self.count_replication(0, 1);
        Ok(self.commits.ticket())
    }

    /// Records a failed attempt at a version's task; the task as updated.
    pub(crate) fn retry_replication(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        now_ms: u64,
    ) -> Result<(ReplicationTask, CommitTicket)> {
        self.commits.check()?;
        let k = replication_key(bucket, key, version);
        let task = (&self.replication, &self.replication_due).transaction(|(tasks, due)| {
            let Some(v) = tasks.get(k.as_slice())? else {
                return Err(TxError::Abort(no_such_version(bucket, key, version)));
            };
            let mut task: ReplicationTask = decode(REPLICATION, &v)?;
            due.remove(replication_due_key(task.not_before_ms, &k))?;
            task.attempts = task.attempts.saturating_add(1);
            task.not_before_ms = now_ms.saturating_add(backoff_ms(task.attempts));
            tasks.insert(k.as_slice(), encode(REPLICATION, &task)?)?;
            due.insert(replication_due_key(task.not_before_ms, &k), &[])?;
            Ok(task)
        })?;
        Ok((task, self.commits.ticket()))
    }

    /// Tasks queued, due or not.
    pub(crate) fn replication_depth(&self) -> u64 {
        self.replication_depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stores a state document.
    pub(crate) fn put_state(&self, name: &str, value: &str) -> Result<CommitTicket> {
        self.commits.check()?;
        self.states.insert(name.as_bytes(), value.as_bytes())?;
        Ok(self.commits.ticket())
    }

    /// The state document `name`.
    pub(crate) fn state(&self, name: &str) -> Result<Option<String>> {
        self.states.get(name.as_bytes())?.map(|v| utf8(STATES, &v)).transpose()
    }

    /// Removes the state document `name`, if there is one.
    pub(crate) fn delete_state(&self, name: &str) -> Result<CommitTicket> {
        self.commits.check()?;
        match self.states.remove(name.as_bytes())? {
            Some(_) => Ok(self.commits.ticket()),
            None => Ok(CommitTicket::ready()),
        }
    }

    /// The state documents whose names start with `prefix`, by name.
    pub(crate) fn states(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.states
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((utf8(STATES, &k)?, utf8(STATES, &v)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::block_on;
    use crate::sled_engine::testing::{ok, temporary};
    use crate::StoreError;

    #[test]
    fn retries_keep_one_index_entry_and_poison_refuses() {
        let (store, engine) = temporary();
        ok(store.enqueue_replication("b", "k", 1));
        ok(store.retry_replication("b", "k", 1, 0));
        ok(store.retry_replication("b", "k", 1, 0));
        assert_eq!(engine.replication_due.len(), 1);
        ok(store.finish_replication("b", "k", 1));
        assert!(engine.replication_due.is_empty() && engine.replication.is_empty());
        engine.replication.insert(b"junk", &b"junk"[..]).unwrap();
        engine
            .replication_due
            .insert([0u8; 8].iter().chain(b"junk").copied().collect::<Vec<_>>(), &[])
            .unwrap();
        assert!(matches!(
            block_on(store.due_replication(u64::MAX, 10)),
            Err(StoreError::Corrupt { .. })
        ));
        engine.states.insert("bad", &b"\xff"[..]).unwrap();
        assert!(matches!(block_on(store.state("bad")), Err(StoreError::Corrupt { .. })));
        engine.commits.poison("test");
        assert!(matches!(
            block_on(store.enqueue_replication("b", "k", 2)),
            Err(StoreError::Flush(_))
        ));
        assert!(matches!(block_on(store.put_state("s", "v")), Err(StoreError::Flush(_))));
    }
}
