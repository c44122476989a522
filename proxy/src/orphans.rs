//! Bodies on a backend that no committed version points to (*orphans*: an upload that failed, a
//! commit that failed) go into the store's durable cleanup queue. While the metadata store cannot
//! commit, queueing them fails too: they wait in memory, in the bounded [`PendingOrphans`] of
//! [`Shared`], until the cleanup worker moves them into the queue once the store commits again
//! ([`requeue`]).
//!
//! A commit that failed because the store could not commit may still have reached its disk (the
//! store only knows once it answers again). Such an orphan names the object it was meant to be,
//! and [`requeue`] keeps its bytes if that object's current version points at them, or, for a
//! multipart upload, while the upload is still in progress (a retried Complete assembles the same
//! physical key again; should the client never retry, the assembled bytes stay on the backend:
//! a leak, never a live object deleted).
//!
//! The list is memory only: a crash while the store cannot commit leaks the bodies in it (they
//! carry their bucket and key on the backend, for a rebuild or an audit). Past [`CAP`] entries a
//! further orphan is logged as an error, with its backend and key for deleting by hand, and
//! dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use s3o_store::{Accounting, CleanupReason, StoreError};
use tracing::{error, info, warn};

use crate::state::Shared;

/// Most orphans kept in memory. Writes fail before any byte moves while the store cannot commit
/// (reservations are refused), so only requests caught mid-way by the failure add one.
pub const CAP: usize = 10_000;

/// A body to delete once the store can queue it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The backend holding it.
    pub backend: String,
    /// Its physical key there.
    pub physical_key: String,
    /// The bucket and key whose failed commit would have made it current, when the failure left
    /// it unknown whether the commit happened: it is kept if that commit turns out durable.
    pub meant_for: Option<(String, String)>,
    /// The multipart upload whose Complete assembled it, when that Complete's commit failed so:
    /// it is kept while the upload is still in progress.
    pub upload_id: Option<String>,
}

impl Orphan {
    /// The body at `backend`/`physical_key`, known never to have been committed.
    pub fn new(backend: &str, physical_key: &str) -> Orphan {
        Orphan {
            backend: backend.to_owned(),
            physical_key: physical_key.to_owned(),
            meant_for: None,
            upload_id: None,
        }
    }

    /// The body of a failed commit of `bucket`/`key` (see [`Orphan::meant_for`]).
    pub fn meant_for(mut self, bucket: &str, key: &str) -> Orphan {
        self.meant_for = Some((bucket.to_owned(), key.to_owned()));
        self
    }
}

/// The orphans waiting for the store, oldest first (see the module notes).
#[derive(Debug, Default)]
pub struct PendingOrphans {
    list: Mutex<VecDeque<Orphan>>,
    /// Orphans dropped because the list was full.
    dropped: AtomicU64,
}

impl PendingOrphans {
    /// Keeps `orphan` for [`requeue`]; `false` (and an error logged) when the list is full.
    pub fn push(&self, orphan: Orphan) -> bool {
        let mut list = self.lock();
        if list.len() >= CAP {
            drop(list);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            error!(
                backend = %orphan.backend,
                key = %orphan.physical_key,
                cap = CAP,
                "too many bodies wait for the metadata store: this one is not tracked and stays on its \
                 backend until deleted by hand"
            );
            return false;
        }
        list.push_back(orphan);
        true
    }

    /// How many orphans wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// How many orphans were dropped because the list was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Every waiting orphan, leaving none.
    fn take(&self) -> VecDeque<Orphan> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back orphans taken but not queued, ahead of any that arrived meanwhile (whatever the
    /// cap: they were counted already).
    fn restore(&self, mut taken: VecDeque<Orphan>) {
        let mut list = self.lock();
        taken.append(&mut list);
        *list = taken;
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Orphan>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Queues the body at `backend`/`physical_key`, which no commit points to, for deletion and waits
/// until the queue entry is durable (a crash right after must not leak it); when the store cannot
/// take it, keeps it for [`requeue`].
pub async fn queue(shared: &Shared, backend: &str, physical_key: &str) {
    let queued = shared
        .store
        .enqueue_cleanup(backend, physical_key, 0, Accounting::Uncommitted, CleanupReason::Orphan)
        .await;
    if let Err(e) = queued {
        warn!(backend, physical_key, error = %e, "could not queue an orphan for cleanup; kept until the store takes it");
        shared.pending_orphans.push(Orphan::new(backend, physical_key));
    }
}

/// After the commit that would have made `orphan`'s body current failed: queues the body for
/// deletion ([`queue`]), or, when the failure left the outcome unknown (the store could not
/// commit; `orphan` then says what to look at), keeps it for [`requeue`], which looks first.
pub async fn after_failed_commit(shared: &Shared, outcome_unknown: bool, orphan: Orphan) {
    if outcome_unknown {
        shared.pending_orphans.push(orphan);
    } else {
        queue(shared, &orphan.backend, &orphan.physical_key).await;
    }
}

/// Moves the waiting orphans into the store's cleanup queue, oldest first, each durably; an
/// orphan whose object's current version points at it is kept (its commit was durable after
/// all). Stops at the first the store refuses: it and the rest wait for the next call. Call it
/// only while the store can commit. Returns how many were queued.
pub async fn requeue(shared: &Shared) -> Result<usize, StoreError> {
    let mut pending = shared.pending_orphans.take();
    let mut queued = 0;
    while let Some(orphan) = pending.pop_front() {
        match requeue_one(shared, &orphan).await {
            Ok(true) => queued += 1,
            Ok(false) => {}
            Err(e) => {
                pending.push_front(orphan);
                shared.pending_orphans.restore(pending);
                return Err(e);
            }
        }
    }
    if queued > 0 {
        info!(
            queued,
            "bodies left by writes the metadata store could not commit are queued for cleanup"
        );
    }
    Ok(queued)
}

/// The `orphan_requeue` worker: queues this instance's orphans as soon as the store takes them.
/// It runs on every instance (orphans live in each one's memory), unlike the cleanup worker that
/// drains the shared queue on one.
pub struct OrphanWorker(pub std::sync::Arc<Shared>);

impl crate::workers::Worker for OrphanWorker {
    fn name(&self) -> &'static str {
        "orphan_requeue"
    }

    fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    async fn tick(&mut self) -> Result<crate::workers::Tick, String> {
        if !self.0.pending_orphans.is_empty() && self.0.store.health().problem.is_none() {
            requeue(&self.0)
                .await
                .map_err(|e| format!("orphans kept in memory not queued yet: {e}"))?;
        }
        Ok(crate::workers::Tick::Idle)
    }
}

/// Queues one orphan unless its object points at it or its upload is in progress; `Ok(true)`
/// when queued.
async fn requeue_one(shared: &Shared, orphan: &Orphan) -> Result<bool, StoreError> {
    let store = &shared.store;
    if let Some(upload_id) = &orphan.upload_id {
        if store.upload(upload_id).await?.is_some() {
            warn!(
                upload = %upload_id,
                key = %orphan.physical_key,
                "a multipart upload whose Complete failed is still in progress: its assembled body is \
                 kept for a retried Complete"
            );
            return Ok(false);
        }
    }
    if let Some((bucket, key)) = &orphan.meant_for {
        let current = store.get_object(bucket, key).await?;
        let points_at = current.is_some_and(|m| {
            m.locations
                .iter()
                .any(|l| l.backend == orphan.backend && l.physical_key == orphan.physical_key)
        });
        if points_at {
            warn!(
                bucket,
                key, "a commit reported as failed had reached the disk: its body is kept"
            );
            return Ok(false);
        }
    }
    store
        .enqueue_cleanup(
            &orphan.backend,
            &orphan.physical_key,
            0,
            Accounting::Uncommitted,
            CleanupReason::Orphan,
        )
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3o_store::{block_on, Location, ObjectMeta, Store, Upload, WriteCondition};

    fn shared() -> Shared {
        let cfg = crate::config::Config::parse(
            r#"
[server]
listen = "127.0.0.1:0"
data_dir = "/tmp/unused"
[[backends]]
name = "a"
kind = "s3"
endpoint = "http://127.0.0.1:9"
bucket = "x"
access_key = "AK"
secret_key = "SK"
[[credentials]]
access_key = "AK"
secret_key = "SK"
"#,
        )
        .unwrap();
        Shared::new(cfg, Store::temporary().unwrap()).unwrap()
    }

    #[test]
    fn requeue_keeps_bodies_whose_commit_was_durable_or_whose_upload_goes_on() {
        let shared = shared();
        let store = &shared.store;
        block_on(store.create_bucket("bkt", "AK")).unwrap();
        let meta = ObjectMeta {
            locations: vec![Location {
                backend: "a".into(),
                physical_key: "live".into(),
            }],
            ..ObjectMeta::default()
        };
        block_on(store.put_object("bkt", "k", &meta, &WriteCondition::None, Vec::new())).unwrap();
        let upload = Upload {
            upload_id: "u1".into(),
            bucket: "bkt".into(),
            key: "mp".into(),
            backend: "a".into(),
            physical_key: "assembled".into(),
            ..Upload::default()
        };
        block_on(store.create_upload(&upload)).unwrap();
        let mut assembled = Orphan::new("a", "assembled").meant_for("bkt", "mp");
        assembled.upload_id = Some("u1".into());
        for o in [
            Orphan::new("a", "live").meant_for("bkt", "k"),
            Orphan::new("a", "lost").meant_for("bkt", "k"),
            Orphan::new("a", "failed-upload"),
            assembled.clone(),
        ] {
            assert!(shared.pending_orphans.push(o));
        }
        assert_eq!(block_on(requeue(&shared)).unwrap(), 2);
        assert!(shared.pending_orphans.is_empty());
        let queued: Vec<String> = block_on(store.due_cleanup(u64::MAX, 10))
            .unwrap()
            .into_iter()
            .map(|t| t.physical_key)
            .collect();
        assert_eq!(queued, ["lost", "failed-upload"]);
        // Once the upload is gone, its assembled body is an orphan like any other.
        block_on(store.abort_upload("u1")).unwrap();
        assert!(shared.pending_orphans.push(assembled));
        assert_eq!(block_on(requeue(&shared)).unwrap(), 1);
    }

    fn orphan(n: usize) -> Orphan {
        Orphan::new("a", &format!("k{n}"))
    }

    #[test]
    fn the_list_is_bounded_and_restores_in_order() {
        let p = PendingOrphans::default();
        for n in 0..CAP {
            assert!(p.push(orphan(n)));
        }
        assert!(!p.push(orphan(CAP)));
        assert_eq!((p.len(), p.dropped()), (CAP, 1));
        let mut taken = p.take();
        assert!(p.is_empty());
        taken.truncate(2);
        assert!(p.push(orphan(99_999)));
        p.restore(taken);
        let keys: Vec<String> = p.take().into_iter().map(|o| o.physical_key).collect();
        assert_eq!(keys, ["k0", "k1", "k99999"]);
    }
}
