//! The `orphan_sweep` worker: finds physical objects on the backends that no metadata references
//! and queues them for deletion. They are left by crashes between a body reaching a backend and
//! its commit (a kill -9 between an `fs` rename and the metadata commit, a multipart completion
//! whose commit never came), and by cleanup tasks given up after their maximum of attempts.
//!
//! Every `[cleanup] orphan_sweep_secs`, on the instance holding its lease, the sweep walks the
//! store once to learn which physical keys each backend holds for a version or an upload in
//! progress (kept as 64-bit hashes, 8 bytes per copy: a hash collision can only spare an
//! orphan, never delete a live copy), then lists each backend at most `orphan_sweep_rate`
//! objects a second. A listed object is queued (`CleanupReason::Orphan`, its bytes not counted
//! in usage) only if all of these hold: its key has the shape of our physical keys
//! (`{bucket}/{2 hex}/{16 hex}-{16 hex}`: nothing else in a backend's bucket is ever touched,
//! imported objects included), it is older than `orphan_grace_secs` (a body being written or
//! committed right now is young), no version or upload references it, and the cleanup queue does
//! not hold it already.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3o_store::{Accounting, CleanupReason, VersionAt};
use tracing::{info, warn};

use crate::error::ProxyError;
use crate::live::BackendSet;
use crate::state::Shared;
use crate::workers::{Tick, Worker};

fn hash(key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The physical keys each backend holds for a version, an upload in progress or a queued
/// cleanup, as sorted hashes.
async fn referenced(shared: &Shared) -> Result<BTreeMap<String, Vec<u64>>, ProxyError> {
    let store = &shared.store;
    let mut refs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = store.scan_versions(cursor.as_ref(), None, 4096).await?;
        for v in &page.versions {
            for l in &v.meta.locations {
                refs.entry(l.backend.clone()).or_default().push(hash(&l.physical_key));
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    for u in store.uploads_initiated_before(u64::MAX, usize::MAX).await? {
        refs.entry(u.backend.clone()).or_default().push(hash(&u.physical_key));
    }
    for t in store.cleanup_queue(usize::MAX).await?.first {
        refs.entry(t.backend.clone()).or_default().push(hash(&t.physical_key));
    }
    for v in refs.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    Ok(refs)
}

/// One sweep of every backend; orphans queued.
pub async fn sweep(shared: &Shared, backends: &BackendSet) -> Result<u64, ProxyError> {
    let cfg = &shared.cfg.cleanup;
    let refs = referenced(shared).await?;
    let cutoff = crate::clock::unix_ms().saturating_sub(cfg.orphan_grace_secs.saturating_mul(1000));
    let rate = cfg.orphan_sweep_rate.max(1);
    let snap = shared.live.snapshot();
    let mut queued = 0;
    for b in &snap.backends {
        let Ok(client) = backends.get(&b.name) else { continue };
        let known = refs.get(&b.name).map_or(&[][..], Vec::as_slice);
        let mut seen: HashSet<String> = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            if shared.winding_down() {
                return Ok(queued);
            }
            let started = Instant::now();
            let page = client.list_page(after.as_deref()).await?;
            for o in &page.objects {
                let orphan = crate::records::is_physical_key(&o.key)
                    && o.last_modified_ms > 0
                    && o.last_modified_ms < cutoff
                    && known.binary_search(&hash(&o.key)).is_err()
                    && seen.insert(o.key.clone());
                if orphan {
                    shared
                        .store
                        .enqueue_cleanup(&b.name, &o.key, o.size, Accounting::Uncommitted, CleanupReason::Orphan)
                        .await?;
                    warn!(backend = %b.name, key = %o.key, size = o.size, "orphan found: no metadata references it; queued for deletion");
                    queued += 1;
                }
            }
            // At most `rate` objects a second.
            let budget = Duration::from_secs_f64(page.objects.len() as f64 / rate as f64);
            if let Some(rest) = budget.checked_sub(started.elapsed()) {
                monoio::time::sleep(rest).await;
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    Ok(queued)
}

/// The store document holding when the last sweep started (unix ms), so a restart does not
/// sweep again before its time.
const LAST_SWEEP: &str = "orphan_sweep/last";

/// The `orphan_sweep` worker.
pub struct SweepWorker {
    shared: Arc<Shared>,
    backends: BackendSet,
}

impl SweepWorker {
    /// The worker, with its own clients of the backends.
    pub fn new(shared: Arc<Shared>) -> SweepWorker {
        let backends = BackendSet::empty(shared.metrics.clone(), shared.breakers.clone());
        SweepWorker { shared, backends }
    }
}

impl Worker for SweepWorker {
    fn name(&self) -> &'static str {
        "orphan_sweep"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let every_ms = self.shared.cfg.cleanup.orphan_sweep_secs.saturating_mul(1000);
        let store = &self.shared.store;
        let err = |e: s3o_store::StoreError| e.to_string();
        let last: u64 = store
            .state(LAST_SWEEP)
            .await
            .map_err(err)?
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let now = crate::clock::unix_ms();
        if every_ms == 0 || now.saturating_sub(last) < every_ms {
            return Ok(Tick::Idle);
        }
        store.put_state(LAST_SWEEP, &now.to_string()).await.map_err(err)?;
        let snap = self.shared.live.snapshot();
        if let Err(e) = self.backends.sync(&snap, &self.shared.cfg.limits) {
            warn!(error = %e, "orphan sweep cannot build a backend client");
        }
        let queued = sweep(&self.shared, &self.backends).await.map_err(|e| e.to_string())?;
        if queued > 0 {
            info!(queued, "orphan sweep queued unreferenced objects for deletion");
        }
        Ok(Tick::Idle)
    }
}
