//! Rebalancing: moving copies between backends until their fill is even (`spread`: used
//! fractions of their quotas within `threshold` of each other) or packed toward the first
//! backends (`pack`). Each move is a copy to the target, a compare-and-swap of the version's
//! locations, and the source's deletion through the cleanup queue; the bucket's backends,
//! quotas, limits and placement policy bound every move, and a move that would not narrow the
//! gap is not made. A run moves at most `batch_size` versions, `concurrency` at a time.
//!
//! Runs on demand (`POST {ui}/api/rebalance`, through the `rebalance` job document) and, with
//! `[rebalance] enabled`, every `interval_secs`, on the instance holding the `rebalancer` lease.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3o_store::{Location, StoredVersion};

use crate::backend::tee::join_all;
use crate::config::{Placement, RebalanceStrategy};
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::orchestrator::copier::{add_copies, swap};
use crate::orchestrator::jobs::REBALANCE;
use crate::orchestrator::replicator::WORKER_CORE;
use crate::s3::placement::Want;
use crate::state::{Core, Shared};
use crate::workers::{Tick, Worker};

/// Versions looked at per scan page of the source backend.
const PAGE: usize = 256;
/// Most consecutive versions of a source that could not be moved before it is given up on.
const UNMOVABLE_RUN: usize = 1024;

/// Bytes stored and capacity of the backends that take part: configured, healthy, not draining.
struct Fill {
    bytes: BTreeMap<String, u64>,
    cap: BTreeMap<String, u64>,
}

impl Fill {
    async fn read(shared: &Shared, snap: &Snapshot) -> Result<Fill, ProxyError> {
        let stats = shared.store.backend_stats().await?;
        let now = crate::clock::unix_ms();
        let draining = shared.draining.read().clone();
        let mut fill = Fill {
            bytes: BTreeMap::new(),
            cap: BTreeMap::new(),
        };
        for b in &snap.backends {
            if draining.contains(&b.name) || !shared.breakers.get(&b.name).allows(now) {
                continue;
            }
            let used = stats.iter().find(|s| s.backend == b.name).map_or(0, |s| s.bytes);
            fill.bytes.insert(b.name.clone(), used);
            fill.cap
                .insert(b.name.clone(), b.quota_bytes.filter(|q| *q > 0).unwrap_or(1 << 40));
        }
        Ok(fill)
    }

    fn used(&self, name: &str) -> u64 {
        self.bytes.get(name).copied().unwrap_or(0)
    }

    fn capacity(&self, name: &str) -> u64 {
        self.cap.get(name).copied().unwrap_or(1 << 40).max(1)
    }

    fn fraction(&self, name: &str) -> f64 {
        self.used(name) as f64 / self.capacity(name) as f64
    }

    /// Spread: every pair of `group` (source, target) whose fills differ by more than
    /// `threshold`, the widest gap first (the policy may forbid moves between the fullest and the
    /// emptiest, and allow them between others).
    fn spread_pairs(&self, group: &[String], threshold: f64) -> Vec<(String, String)> {
        let names: Vec<&String> = group.iter().filter(|n| self.bytes.contains_key(*n)).collect();
        let mut pairs: Vec<(f64, String, String)> = Vec::new();
        for from in &names {
            for to in &names {
                let gap = self.fraction(from) - self.fraction(to);
                if gap > threshold {
                    pairs.push((gap, from.to_string(), to.to_string()));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        pairs.into_iter().map(|(_, f, t)| (f, t)).collect()
    }

    /// Pack: every (source, target) pair of `group` in its order where the source holds bytes and
    /// the earlier target has room, the last source and the first target first.
    fn pack_pairs(&self, group: &[String]) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (i, from) in group.iter().enumerate().rev() {
            if !self.bytes.contains_key(from) || self.used(from) == 0 {
                continue;
            }
            for to in &group[..i] {
                if self.bytes.contains_key(to) && self.used(to) < self.capacity(to) {
                    pairs.push((from.clone(), to.clone()));
                }
            }
        }
        pairs
    }

    fn moved(&mut self, from: &str, to: &str, size: u64) {
        if let Some(b) = self.bytes.get_mut(from) {
            *b = b.saturating_sub(size);
        }
        *self.bytes.entry(to.to_string()).or_default() += size;
    }
}

/// Moves `v`'s copy on `from` to `to` if the bucket's placement allows it.
async fn move_to(core: &Core, snap: &Snapshot, v: &StoredVersion, from: &str, to: &str) -> Result<bool, ProxyError> {
    let p = snap.placement(&v.bucket);
    if !p.backends.iter().any(|b| b == to) || v.meta.locations.iter().any(|l| l.backend == to) {
        return Ok(false);
    }
    let others: Vec<Location> = v.meta.locations.iter().filter(|l| l.backend != from).cloned().collect();
    let keep: Vec<String> = others.iter().map(|l| l.backend.clone()).collect();
    // Only `to` may take the copy.
    let exclude: Vec<String> = p.backends.iter().filter(|b| b.as_str() != to).cloned().collect();
    let want = Want {
        copies: others.len() + 1,
        at_least: 1,
        keep: &keep,
        exclude: &exclude,
        rank: Some(Placement::Pack),
    };
    let copies = match add_copies(core, snap, v, &want, &[]).await {
        Ok(c) => c,
        Err(ProxyError::InsufficientStorage) => return Ok(false),
        Err(e) => return Err(e),
    };
    swap(core, v, &others, copies).await
}

/// The groups of backends objects may move within: each bucket's backend list (configured
/// buckets and the defaults), each once.
fn groups(snap: &Snapshot) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut names: Vec<&String> = snap.buckets.keys().collect();
    names.sort();
    let lists = names
        .into_iter()
        .map(|n| &snap.buckets[n].backends)
        .chain(std::iter::once(&snap.defaults.backends));
    for list in lists {
        if list.len() > 1 && !out.contains(list) {
            out.push(list.clone());
        }
    }
    out
}

/// One rebalance run over every group of backends; versions moved. With `job`, the rebalance
/// job's heartbeat is kept.
pub async fn run(core: &Core, job: bool) -> Result<u64, ProxyError> {
    let shared = &core.shared;
    let cfg = &shared.cfg.rebalance;
    let snap = core.snapshot();
    let mut fill = Fill::read(shared, &snap).await?;
    let mut moved = 0u64;
    // Pairs that could not be narrowed (nothing movable between them).
    let mut given_up: Vec<(String, String)> = Vec::new();
    for group in groups(&snap) {
        while (moved as usize) < cfg.batch_size && !shared.winding_down() {
            let pairs = match cfg.strategy {
                RebalanceStrategy::Spread => fill.spread_pairs(&group, cfg.threshold),
                RebalanceStrategy::Pack => fill.pack_pairs(&group),
            };
            let Some(pair) = pairs.into_iter().find(|p| !given_up.contains(p)) else {
                break;
            };
            let left = cfg.batch_size - moved as usize;
            let (n, exhausted) = move_batch(core, &snap, &mut fill, (&pair.0, &pair.1), left, job).await?;
            moved += n;
            if job {
                REBALANCE.beat(shared, moved).await?;
            }
            if n == 0 || exhausted {
                given_up.push(pair);
            }
        }
    }
    Ok(moved)
}

/// Moves versions from `from` to `to` while that narrows the gap, at most `limit`; how many,
/// and whether `from` ran out of movable versions.
async fn move_batch(
    core: &Core,
    snap: &Snapshot,
    fill: &mut Fill,
    (from, to): (&str, &str),
    limit: usize,
    job: bool,
) -> Result<(u64, bool), ProxyError> {
    let shared = &core.shared;
    let cfg = &shared.cfg.rebalance;
    let mut cursor = None;
    let (mut moved, mut unmovable) = (0u64, 0usize);
    loop {
        let page = shared.store.scan_versions(cursor.as_ref(), Some(from), PAGE).await?;
        for chunk in page.versions.chunks(cfg.concurrency.max(1)) {
            if shared.winding_down() {
                return Ok((moved, true));
            }
            let mut picked = Vec::new();
            for v in chunk {
                let size = v.meta.stored_size();
                // Spread: only while the move narrows the gap; pack: while `to` has room.
                let helps = match cfg.strategy {
                    RebalanceStrategy::Spread => {
                        let after_from = fill.used(from).saturating_sub(size) as f64 / fill.capacity(from) as f64;
                        let after_to = (fill.used(to) + size) as f64 / fill.capacity(to) as f64;
                        after_to < after_from || (after_from - after_to).abs() <= cfg.threshold
                    }
                    RebalanceStrategy::Pack => fill.used(to) + size <= fill.capacity(to),
                };
                if helps && size > 0 {
                    picked.push(v);
                }
            }
            let moves = picked.iter().map(|v| move_to(core, snap, v, from, to));
            for (v, r) in picked.iter().zip(join_all(moves.collect()).await) {
                match r {
                    Ok(true) => {
                        moved += 1;
                        unmovable = 0;
                        fill.moved(from, to, v.meta.stored_size());
                    }
                    Ok(false) => unmovable += 1,
                    Err(e) => {
                        unmovable += 1;
                        tracing::warn!(from, to, bucket = %v.bucket, key = %v.key, error = %e, "rebalance move failed");
                    }
                }
            }
            let done = match cfg.strategy {
                RebalanceStrategy::Spread => fill.fraction(from) - fill.fraction(to) <= cfg.threshold,
                RebalanceStrategy::Pack => fill.used(to) >= fill.capacity(to),
            };
            if done || moved as usize >= limit {
                return Ok((moved, false));
            }
            if unmovable >= UNMOVABLE_RUN {
                return Ok((moved, true));
            }
        }
        if job {
            REBALANCE.beat(shared, moved).await?;
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok((moved, true)),
        }
    }
}

/// The `rebalancer` worker: runs requested rebalance jobs, and with `[rebalance] enabled` one
/// run every `interval_secs`.
pub struct RebalanceWorker {
    core: Core,
    last_run: Instant,
}

impl RebalanceWorker {
    /// The worker, with its own core on the worker thread.
    pub fn new(shared: Arc<Shared>) -> Result<RebalanceWorker, ProxyError> {
        Ok(RebalanceWorker {
            core: Core::new(shared, WORKER_CORE)?,
            last_run: Instant::now(),
        })
    }
}

impl Worker for RebalanceWorker {
    fn name(&self) -> &'static str {
        "rebalancer"
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
        let requested = REBALANCE.take(&shared).await.map_err(err)?;
        let cfg = &shared.cfg.rebalance;
        let periodic = cfg.enabled && self.last_run.elapsed() >= Duration::from_secs(cfg.interval_secs);
        if !requested && !periodic {
            return Ok(Tick::Idle);
        }
        self.last_run = Instant::now();
        let outcome = run(&self.core, requested).await.map_err(err);
        if let Ok(n) = &outcome {
            tracing::info!(moved = n, "rebalance finished");
        }
        if requested {
            REBALANCE.finish(&shared, &outcome).await.map_err(err)?;
        }
        outcome.map(|_| Tick::Idle)
    }
}
