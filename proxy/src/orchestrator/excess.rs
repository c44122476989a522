//! Over-replication: versions with more copies than their bucket's factor (the factor was
//! lowered, a drain was cancelled half-way...). The cleanup removes excess copies, first from
//! draining backends, then from unhealthy ones (breaker open), then from the fullest healthy
//! one, never leaving a set of copies that breaks the bucket's placement policy; each removal is
//! one compare-and-swap of the locations, the copy deleted through the cleanup queue.
//!
//! `GET /admin/api/over-replication` counts with a walk of every stored version;
//! `POST /admin/api/over-replication` and the UI's clean-excess job run a pass; the
//! `over_replication_cleanup` worker runs the requested jobs and a pass every hour.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use s3o_store::{Location, Removal, StoreError, StoredVersion, VersionAt};
use serde_json::json;

use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::orchestrator::jobs::CLEAN_EXCESS;
use crate::orchestrator::replicator::{wanted_copies, WORKER_CORE};
use crate::state::{Core, Shared};
use crate::workers::{Tick, Worker};

/// Time between the worker's own passes.
const PERIOD: Duration = Duration::from_secs(3600);

/// Whether any bucket asks for more than one copy (else there is nothing to clean, per seed).
pub fn replication_configured(snap: &Snapshot) -> bool {
    snap.defaults.policy.factor > 1 || snap.buckets.values().any(|p| p.policy.factor > 1)
}

/// Which copies of `v` to keep so it has `wanted`, removing in the seed's order while the
/// policy holds; `None` when nothing can (or need) be removed.
fn keep_set(
    shared: &Shared,
    snap: &Snapshot,
    v: &StoredVersion,
    fullness: &BTreeMap<String, f64>,
) -> Option<Vec<Location>> {
    let wanted = wanted_copies(snap, &v.bucket, &v.meta);
    if v.meta.locations.len() <= wanted {
        return None;
    }
    let now = crate::clock::unix_ms();
    let draining = shared.draining.read().clone();
    // Removal order: draining, then unhealthy, then fullest (ties: the later copy).
    let rank = |l: &Location| {
        let d = draining.contains(&l.backend);
        let sick = !shared.breakers.get(&l.backend).allows(now);
        let full = fullness.get(&l.backend).copied().unwrap_or(0.0);
        (d, sick, full)
    };
    let policy = &snap.placement(&v.bucket).policy;
    let mut keep: Vec<Location> = v.meta.locations.clone();
    while keep.len() > wanted {
        let mut order: Vec<usize> = (0..keep.len()).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (rank(&keep[a]), rank(&keep[b]));
            rb.0.cmp(&ra.0)
                .then(rb.1.cmp(&ra.1))
                .then(rb.2.total_cmp(&ra.2))
                .then(b.cmp(&a))
        });
        let removable = order.into_iter().find(|&i| {
            let rest: Vec<_> = keep
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, l)| snap.labels(&l.backend))
                .collect();
            policy.violation(&rest).is_none()
        });
        match removable {
            Some(i) => {
                keep.remove(i);
            }
            None => break,
        }
    }
    (keep.len() < v.meta.locations.len()).then_some(keep)
}

/// Each backend's used fraction of its quota, from the stored versions' bytes.
async fn fullness(shared: &Shared, snap: &Snapshot) -> Result<BTreeMap<String, f64>, ProxyError> {
    let stats = shared.store.backend_stats().await?;
    Ok(stats
        .into_iter()
        .map(|s| {
            let cap = snap.quota(&s.backend).filter(|q| *q > 0).unwrap_or(1 << 40) as f64;
            (s.backend, s.bytes as f64 / cap)
        })
        .collect())
}

/// How many stored versions have more copies than their bucket wants (a walk of every version).
pub async fn count(shared: &Shared, snap: &Snapshot) -> Result<u64, ProxyError> {
    let mut n = 0;
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = shared.store.scan_versions(cursor.as_ref(), None, 1024).await?;
        n += page
            .versions
            .iter()
            .filter(|v| v.meta.locations.len() > wanted_copies(snap, &v.bucket, &v.meta))
            .count() as u64;
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(n),
        }
    }
}

/// One cleanup pass over every stored version, removing the excess copies of at most `batch`
/// versions; copies removed. `beat` is called with the count after every page.
pub async fn clean(core: &Core, batch: usize, mut beat: impl AsyncBeat) -> Result<u64, ProxyError> {
    let shared = &core.shared;
    let snap = core.snapshot();
    let full = fullness(shared, &snap).await?;
    let (mut removed, mut versions) = (0u64, 0usize);
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = shared.store.scan_versions(cursor.as_ref(), None, 512).await?;
        if shared.winding_down() {
            return Ok(removed);
        }
        for v in &page.versions {
            if versions >= batch {
                return Ok(removed);
            }
            let Some(keep) = keep_set(shared, &snap, v, &full) else {
                continue;
            };
            versions += 1;
            let dropped = (v.meta.locations.len() - keep.len()) as u64;
            let r = shared
                .store
                .relocate(
                    &v.bucket,
                    &v.key,
                    v.meta.version,
                    &v.meta.locations,
                    &keep,
                    Vec::new(),
                    Removal::Cleanup,
                )
                .await;
            match r {
                Ok(_) => removed += dropped,
                // Changed meanwhile: the next pass sees it as it is.
                Err(StoreError::PreconditionFailed { .. } | StoreError::NoSuchVersion { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        beat.beat(removed).await?;
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(removed),
        }
    }
}

/// Something told of a pass's progress (the job's heartbeat).
pub trait AsyncBeat {
    /// Called with the copies removed so far.
    fn beat(&mut self, count: u64) -> impl std::future::Future<Output = Result<(), ProxyError>>;
}

/// No one to tell.
pub struct NoBeat;

impl AsyncBeat for NoBeat {
    async fn beat(&mut self, _count: u64) -> Result<(), ProxyError> {
        Ok(())
    }
}

struct JobBeat<'a>(&'a Shared);

impl AsyncBeat for JobBeat<'_> {
    async fn beat(&mut self, count: u64) -> Result<(), ProxyError> {
        CLEAN_EXCESS.beat(self.0, count).await
    }
}

/// `GET /admin/api/over-replication`.
pub async fn report(shared: &Shared) -> Result<(u16, serde_json::Value), ProxyError> {
    let snap = shared.live.snapshot();
    let pending = count(shared, &snap).await?;
    Ok((
        200,
        json!({"factor": shared.cfg.replication.factor, "pending": pending}),
    ))
}

/// `POST /admin/api/over-replication`.
pub async fn run_now(core: &Core, batch: Option<usize>) -> Result<(u16, serde_json::Value), ProxyError> {
    if !replication_configured(&core.snapshot()) {
        let reason = "replication not configured or factor <= 1";
        return Ok((200, json!({"status": "skipped", "copies_removed": 0, "reason": reason})));
    }
    let batch = batch.unwrap_or(core.shared.cfg.replication.batch_size);
    let removed = clean(core, batch, NoBeat).await?;
    Ok((200, json!({"status": "ok", "copies_removed": removed})))
}

/// The `over_replication_cleanup` worker: runs requested clean-excess jobs, and a pass of its own
/// every hour when a bucket replicates.
pub struct ExcessWorker {
    core: Core,
    /// When the worker's own last pass ran (its first runs an hour after start).
    last_pass: std::time::Instant,
}

impl ExcessWorker {
    /// The worker, with its own core on the worker thread.
    pub fn new(shared: Arc<Shared>) -> Result<ExcessWorker, ProxyError> {
        Ok(ExcessWorker {
            core: Core::new(shared, WORKER_CORE)?,
            last_pass: std::time::Instant::now(),
        })
    }
}

impl Worker for ExcessWorker {
    fn name(&self) -> &'static str {
        "over_replication_cleanup"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let shared = self.core.shared.clone();
        let err = |e: ProxyError| e.to_string();
        let batch = usize::MAX;
        if CLEAN_EXCESS.take(&shared).await.map_err(err)? {
            let outcome = clean(&self.core, batch, JobBeat(&shared)).await.map_err(err);
            CLEAN_EXCESS.finish(&shared, &outcome).await.map_err(err)?;
            self.last_pass = std::time::Instant::now();
            return outcome.map(|_| Tick::Idle);
        }
        if self.last_pass.elapsed() >= PERIOD && replication_configured(&self.core.snapshot()) {
            self.last_pass = std::time::Instant::now();
            let removed = clean(&self.core, batch, NoBeat).await.map_err(err)?;
            if removed > 0 {
                tracing::info!(removed, "over-replication cleanup removed excess copies");
            }
        }
        Ok(Tick::Idle)
    }
}
