//! Relocation, orphan bytes and backend removal in the sled engine. A relocation is one
//! transaction over the trees a change of versions touches, under the key's lock (as every
//! mutation of a key's versions, see `versions.rs`): it compares the version's locations, swaps
//! them, moves the usage and the totals, and queues the dropped copies for cleanup and the
//! version for replication. Forgetting a backend removes its cleanup tasks in chunks (a
//! transaction each), then its counters; run again, it finds nothing left to remove.

use sled::Transactional;

use super::cleanup::enqueue_in;
use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{
    decode, due_key, encode, id_key, object_key, utf8, version_key, CLEANUP, OBJECTS, USAGE_COUNTERS, VERSIONS,
};
use super::objects::bucket_in;
use super::quota::adjust_usage;
use super::replication::enqueue_replication_in;
use super::stats::StatsDelta;
use super::SledEngine;
use crate::error::Result;
use crate::model::{Accounting, CleanupReason, CleanupTask, Location, ObjectMeta};
use crate::orchestration::{moves, no_such_version, wants_copies, Removal};
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms, CLEANUP_GRACE_MS};

/// Cleanup tasks [`SledEngine::forget_backend`] removes per transaction: bounded, so the
/// transaction's write set stays small whatever the queue holds.
const FORGET_CHUNK: usize = 1000;

impl SledEngine {
    /// Swaps the locations of one version (see [`Engine::relocate`](crate::Engine::relocate)).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn relocate(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        expected: &[Location],
        new: &[Location],
        reservations: Vec<Reservation>,
        removal: Removal,
    ) -> Result<(ObjectMeta, CommitTicket)> {
        self.relocate_with(bucket, key, version, (expected, new), reservations, removal, None)
    }

    /// Swaps the locations of one version and, with `facts`, its record's facts of the stored
    /// bytes (see [`Engine::rewrite`](crate::Engine::rewrite)).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn relocate_with(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        (expected, new): (&[Location], &[Location]),
        reservations: Vec<Reservation>,
        removal: Removal,
        facts: Option<&crate::sealed::StoredFacts>,
    ) -> Result<(ObjectMeta, CommitTicket)> {
        check_bucket_name(bucket)?;
        self.commits.check()?;
        let okey = object_key(bucket, key);
        let vkey = version_key(bucket, key, version);
        let now = now_ms();
        let _key_lock = self.key_locks.lock(bucket, key);
        let (meta, queued, replicating) = self.version_transaction(|t| {
            bucket_in(t.buckets, bucket)?;
            let current = match t.objects.get(okey.as_slice())? {
                Some(v) => Some(decode::<ObjectMeta>(OBJECTS, &v)?).filter(|m| m.version == version),
                None => None,
            };
            let (old, is_current) = match current {
                Some(m) => (m, true),
                None => match t.versions.get(vkey.as_slice())? {
                    Some(v) => (decode::<ObjectMeta>(VERSIONS, &v)?, false),
                    None => return Err(TxError::Abort(no_such_version(bucket, key, version))),
                },
            };
            if old.delete_marker {
                return Err(TxError::Abort(no_such_version(bucket, key, version)));
            }
            let m = moves(bucket, key, &old.locations, expected, new).map_err(TxError::Abort)?;
            let mut meta = old.clone();
            meta.locations = new.to_vec();
            if let Some(f) = facts {
                f.apply(&mut meta);
            }
            let (size, old_size) = (i128::from(meta.stored_size()), i128::from(old.stored_size()));
            for loc in &m.added {
                adjust_usage(t.usage, &loc.backend, size)?;
            }
            let mut queued = 0;
            for loc in &m.dropped {
                match removal {
                    Removal::Cleanup => {
                        let task = CleanupTask::delete(
                            &loc.backend,
                            &loc.physical_key,
                            old.stored_size(),
                            Accounting::Committed,
                            CleanupReason::Relocated,
                            now.saturating_add(CLEANUP_GRACE_MS),
                        );
                        enqueue_in(t.cleanup, t.due, task)?;
                        queued += 1;
                    }
                    Removal::Forget => adjust_usage(t.usage, &loc.backend, -old_size)?,
                }
            }
            let mut stats = StatsDelta::default();
            stats.version(&old, -1);
            stats.version(&meta, 1);
            stats.apply_in(t.stats)?;
            if is_current {
                t.objects.insert(okey.as_slice(), encode(OBJECTS, &meta)?)?;
            } else {
                t.versions.insert(vkey.as_slice(), encode(VERSIONS, &meta)?)?;
            }
            let replicating = wants_copies(&meta) && enqueue_replication_in(t, bucket, key, version, now)?;
            Ok((meta, queued, u64::from(replicating)))
        })?;
        self.count_cleanup(queued, 0);
        self.count_replication(replicating, 0);
        let ticket = self.commits.ticket();
        drop(reservations);
        Ok((meta, ticket))
    }

    /// The committed bytes of queued cleanup tasks, by backend: one read of the whole queue.
    pub(crate) fn orphan_bytes(&self) -> Result<Vec<(String, u64)>> {
        let mut by_backend = std::collections::BTreeMap::<String, u64>::new();
        for v in self.cleanup.iter().values() {
            let task: CleanupTask = decode(CLEANUP, &v?)?;
            if task.accounting == Accounting::Committed && task.size > 0 {
                let sum = by_backend.entry(task.backend).or_default();
                *sum = sum.saturating_add(task.size);
            }
        }
        Ok(by_backend.into_iter().collect())
    }

    /// Removes every trace of `backend` but versions' locations (see
    /// [`Engine::forget_backend`](crate::Engine::forget_backend)); how many cleanup tasks.
    pub(crate) fn forget_backend(&self, backend: &str) -> Result<(u64, CommitTicket)> {
        self.commits.check()?;
        let mut doomed = Vec::new();
        for v in self.cleanup.iter().values() {
            let task: CleanupTask = decode(CLEANUP, &v?)?;
            if task.backend == backend {
                doomed.push(task.id);
            }
        }
        let mut removed = 0;
        for chunk in doomed.chunks(FORGET_CHUNK) {
            let n = (&self.cleanup, &self.cleanup_due).transaction(|(cleanup, due)| {
                let mut n = 0u64;
                for id in chunk {
                    // Read again: the task may have been retried (a new due time) or completed.
                    if let Some(v) = cleanup.remove(&id_key(*id))? {
                        let task: CleanupTask = decode(CLEANUP, &v)?;
                        due.remove(&due_key(task.not_before_ms, *id))?;
                        n += 1;
                    }
                }
                Ok(n)
            })?;
            self.count_cleanup(0, n);
            removed += n;
        }
        (&self.usage, &self.backend_stats).transaction(|(usage, stats)| {
            usage.remove(backend.as_bytes())?;
            stats.remove(backend.as_bytes())?;
            Ok::<_, TxError>(())
        })?;
        for k in self.usage_counters.iter().keys() {
            let k = k?;
            if utf8(USAGE_COUNTERS, k.get(7..).unwrap_or_default())? == backend {
                self.usage_counters.remove(k)?;
            }
        }
        self.ledger.forget(backend);
        Ok((removed, self.commits.ticket()))
    }
}
