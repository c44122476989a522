//! The `replicator` worker: makes every version reach the copies it wants. It works the store's
//! durable pending-replication queue (filled in the same commit as a version written with fewer
//! copies than its bucket's factor: asynchronous mode, a synchronous write short of its copies,
//! multipart uploads, copies), never scanning the store on a routine tick. A copy on a backend
//! that has been failing for longer than `[replication] lost_copy_secs` counts as lost: the
//! worker walks that backend's versions once per outage, queues them, and re-creates their
//! copies elsewhere, dropping the lost location (its deletion waits in the cleanup queue for the
//! backend to return).
//!
//! `POST /admin/api/replicate` runs one cycle on demand: the queue, and an audit of every
//! version against its bucket's present factor (after a factor was raised).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use s3o_store::{Location, ObjectMeta, ReplicationTask, Store, StoredVersion, VersionAt, VersionRef};
use tracing::{info, warn};

use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::orchestrator::copier::{add_copies, swap};
use crate::s3::placement::Want;
use crate::state::{Core, Shared};
use crate::workers::{Tick, Worker};

/// Index of the worker thread's core (no request core has it).
pub const WORKER_CORE: usize = usize::MAX - 1;

/// The version of `bucket`/`key` numbered `n`, whether it has an id or is the `null` one.
pub async fn version_by_number(
    store: &Store,
    bucket: &str,
    key: &str,
    n: u64,
) -> Result<Option<ObjectMeta>, ProxyError> {
    if let Some(m) = store.get_version(bucket, key, VersionRef::Id(n)).await? {
        return Ok(Some(m));
    }
    let null = store.get_version(bucket, key, VersionRef::Null).await?;
    Ok(null.filter(|m| m.version == n))
}

/// The backends whose copies count as lost at `now_ms`: failing for longer than the threshold,
/// or no longer configured.
fn lost_backends(shared: &Shared, snap: &Snapshot, now_ms: u64) -> Vec<String> {
    let threshold = shared.cfg.replication.lost_copy_secs.saturating_mul(1000);
    snap.backends
        .iter()
        .filter(|b| {
            shared
                .breakers
                .get(&b.name)
                .failing_since()
                .is_some_and(|t| now_ms.saturating_sub(t) >= threshold)
        })
        .map(|b| b.name.clone())
        .collect()
}

/// What one replication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// Copies were made (how many).
    Created(usize),
    /// Nothing to do (enough copies, or the version is gone).
    Nothing,
    /// No backend could take a copy now: try again later, without counting an attempt.
    NoTarget,
}

/// Brings version `v` to `wanted` copies (lost ones not counted, and dropped once replaced).
pub async fn replicate(
    core: &Core,
    snap: &Snapshot,
    v: &StoredVersion,
    wanted: usize,
    lost: &[String],
) -> Result<Replicated, ProxyError> {
    let configured = |l: &Location| snap.backend(&l.backend).is_some();
    let alive: Vec<Location> = v
        .meta
        .locations
        .iter()
        .filter(|l| configured(l) && !lost.contains(&l.backend))
        .cloned()
        .collect();
    if alive.len() >= wanted {
        return Ok(Replicated::Nothing);
    }
    if alive.is_empty() {
        // No copy left to read from: nothing can bring it back.
        return Err(ProxyError::Internal(format!(
            "{}/{} version {}: no reachable copy to replicate from",
            v.bucket, v.key, v.meta.version
        )));
    }
    let keep: Vec<String> = alive.iter().map(|l| l.backend.clone()).collect();
    let unusable: Vec<String> = v.meta.locations.iter().map(|l| l.backend.clone()).collect();
    let want = Want {
        copies: wanted,
        at_least: 1,
        keep: &keep,
        exclude: &unusable,
        rank: None,
    };
    let skip: Vec<&str> = lost.iter().map(String::as_str).collect();
    let copies = match add_copies(core, snap, v, &want, &skip).await {
        Ok(c) => c,
        Err(ProxyError::InsufficientStorage) => return Ok(Replicated::NoTarget),
        Err(e) => return Err(e),
    };
    let n = copies.locations.len();
    Ok(if swap(core, v, &alive, copies).await? {
        Replicated::Created(n)
    } else {
        Replicated::Nothing
    })
}

/// The replicator.
pub struct Replicator {
    core: Core,
    /// Per lost backend: the start of the outage being audited and where its walk is.
    audits: BTreeMap<String, (u64, Option<Option<VersionAt>>)>,
}

impl Replicator {
    /// The worker, with its own core on the worker thread.
    pub fn new(shared: Arc<Shared>) -> Result<Replicator, ProxyError> {
        Ok(Replicator {
            core: Core::new(shared, WORKER_CORE)?,
            audits: BTreeMap::new(),
        })
    }

    /// Walks one page of every lost backend's versions into the queue.
    async fn audit_lost(&mut self, lost: &[String]) -> Result<(), ProxyError> {
        let store = &self.core.shared.store;
        self.audits.retain(|b, _| lost.contains(b));
        for b in lost {
            let since = self.core.shared.breakers.get(b).failing_since().unwrap_or(0);
            let entry = self.audits.entry(b.clone()).or_insert((since, Some(None)));
            if entry.0 != since {
                *entry = (since, Some(None));
            }
            let Some(cursor) = entry.1.clone() else { continue };
            if cursor.is_none() {
                warn!(backend = %b, "backend down past lost_copy_secs: re-creating its copies elsewhere");
            }
            let page = store.scan_versions(cursor.as_ref(), Some(b), 256).await?;
            for v in &page.versions {
                store.enqueue_replication(&v.bucket, &v.key, v.meta.version).await?;
            }
            entry.1 = page.next.map(Some);
        }
        Ok(())
    }

    /// Works one batch of the queue; how many copies it made and whether the batch was full.
    async fn work_queue(&mut self, now_ms: u64, lost: &[String]) -> Result<(usize, bool), String> {
        let shared = self.core.shared.clone();
        let batch = shared.cfg.replication.batch_size;
        let tasks = shared
            .store
            .due_replication(now_ms, batch)
            .await
            .map_err(|e| e.to_string())?;
        let snap = self.core.snapshot();
        let (mut created, mut failed, mut last_err) = (0, 0, None);
        for t in &tasks {
            if shared.winding_down() {
                break;
            }
            match self.one(&snap, t, lost).await {
                Ok(n) => created += n,
                Err(e) => {
                    failed += 1;
                    last_err = Some(e.to_string());
                    if let Err(e) = shared
                        .store
                        .retry_replication(&t.bucket, &t.key, t.version, now_ms)
                        .await
                    {
                        warn!(error = %e, "replication task not rescheduled");
                    }
                }
            }
        }
        match last_err {
            Some(e) => Err(format!("{failed} of {} replications failed; last: {e}", tasks.len())),
            None => Ok((created, tasks.len() == batch)),
        }
    }

    /// Replicates one queued version; finishes its task unless no backend could take a copy.
    async fn one(&self, snap: &Snapshot, t: &ReplicationTask, lost: &[String]) -> Result<usize, ProxyError> {
        let store = &self.core.shared.store;
        let Some(meta) = version_by_number(store, &t.bucket, &t.key, t.version).await? else {
            store.finish_replication(&t.bucket, &t.key, t.version).await?;
            return Ok(0);
        };
        let wanted = wanted_copies(snap, &t.bucket, &meta);
        let v = StoredVersion {
            bucket: t.bucket.clone(),
            key: t.key.clone(),
            meta,
            current: false,
        };
        match replicate(&self.core, snap, &v, wanted, lost).await? {
            Replicated::Created(n) => {
                store.finish_replication(&t.bucket, &t.key, t.version).await?;
                Ok(n)
            }
            Replicated::Nothing => {
                store.finish_replication(&t.bucket, &t.key, t.version).await?;
                Ok(0)
            }
            // Left due: the next tick tries again (a backend may be back by then).
            Replicated::NoTarget => Ok(0),
        }
    }
}

/// How many copies a version in `bucket` should have: its bucket's factor as configured now (a
/// version's `copies_wanted` only says it was written short of copies; the replicator and the
/// over-replication cleanup agree on the present factor).
pub fn wanted_copies(snap: &Snapshot, bucket: &str, _meta: &ObjectMeta) -> usize {
    snap.placement(bucket).policy.factor.max(1)
}

impl Worker for Replicator {
    fn name(&self) -> &'static str {
        "replicator"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.core.shared.cfg.replication.interval_secs)
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let now = crate::clock::unix_ms();
        let snap = self.core.snapshot();
        let lost = lost_backends(&self.core.shared, &snap, now);
        self.audit_lost(&lost).await.map_err(|e| e.to_string())?;
        let (created, full) = self.work_queue(now, &lost).await?;
        if created > 0 {
            info!(copies = created, "replicator created copies");
        }
        let auditing = self.audits.values().any(|(_, c)| c.is_some());
        Ok(if full || auditing { Tick::Busy } else { Tick::Idle })
    }
}

/// One full replication cycle (`POST /admin/api/replicate`): every version checked against its
/// bucket's factor, then the queue worked until empty of due tasks. Copies made.
pub async fn run_cycle(core: &Core) -> Result<usize, ProxyError> {
    let store = &core.shared.store;
    let snap = core.snapshot();
    let now = crate::clock::unix_ms();
    let lost = lost_backends(&core.shared, &snap, now);
    let mut created = 0;
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = store.scan_versions(cursor.as_ref(), None, 512).await?;
        if core.shared.winding_down() {
            return Ok(created);
        }
        for v in &page.versions {
            let wanted = wanted_copies(&snap, &v.bucket, &v.meta);
            match replicate(core, &snap, v, wanted, &lost).await {
                Ok(Replicated::Created(n)) => created += n,
                Ok(_) => {}
                // One version's failure does not stop the cycle; the queue retries it.
                Err(e) => {
                    warn!(bucket = %v.bucket, key = %v.key, error = %e, "replication failed");
                    store.enqueue_replication(&v.bucket, &v.key, v.meta.version).await?;
                }
            }
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    Ok(created)
}
