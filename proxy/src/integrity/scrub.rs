//! The `scrubber` worker and its on-demand cycle (`POST /admin/api/scrub`): verifies copies
//! against their content hash at a bounded rate, repairs a bad copy from a good replica (a new
//! copy placed like any other, the bad one dropped through the cleanup queue in the same
//! compare-and-swap), and marks a copy without a good replica damaged (never read again,
//! counted, logged). Copies a read found bad (the suspects) are verified first. The scan's
//! position is kept in the store (`scrub.cursor`), so a restart resumes it; the worker runs on
//! one instance of those sharing a store.

use std::sync::Arc;
use std::time::Duration;

use s3o_store::{StoredVersion, VersionAt, VersionChange, VersionRef};

use super::digest::{digest_stream, Throttle};
use serde_json::json;
use tracing::{error, info, warn};

use crate::error::ProxyError;
use crate::integrity::IntegrityCounters;
use crate::state::{Core, Shared};
use crate::workers::{Tick, Worker};

/// The store state holding the scan's position.
const CURSOR: &str = "scrub.cursor";
/// Versions examined per store page.
const PAGE: usize = 256;

/// What a scrub cycle found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scrubbed {
    /// Copies verified.
    pub checked: u64,
    /// Copies that did not match their hash.
    pub mismatches: u64,
    /// Copies that could not be read.
    pub errors: u64,
    /// Bad copies repaired from a good one.
    pub repaired: u64,
    /// Bad copies marked damaged (no good replica).
    pub damaged: u64,
}

/// Whether the copy of `v` on `backend` matches its hash: `Ok(None)` when it does, `Ok(Some(why))`
/// when it does not, `Err` when it could not be read (or the record's hash does not describe the
/// version's segments: a record problem, never taken for a bad copy).
async fn verify(
    core: &Core,
    v: &StoredVersion,
    backend: &str,
    throttle: &mut Throttle,
) -> Result<Option<String>, ProxyError> {
    let Some(hash) = &v.meta.hash else { return Ok(None) };
    let Some(loc) = v.meta.locations.iter().find(|l| l.backend == backend) else {
        return Ok(None);
    };
    let sizes = v.meta.stored_segment_sizes();
    if sizes.len() != hash.parts.len() {
        return Err(ProxyError::Internal(format!(
            "{}/{} version {}: its hash has {} digests for {} segments",
            v.bucket,
            v.key,
            v.meta.version,
            hash.parts.len(),
            sizes.len()
        )));
    }
    let mut stream = core
        .backend(backend)?
        .get(&loc.physical_key, None, v.meta.stored_size())
        .await?;
    Ok(match digest_stream(&mut stream, &sizes, false, Some(throttle)).await? {
        None => Some("the copy's length differs from the version's".into()),
        Some(d) => d
            .blake3
            .iter()
            .zip(&hash.parts)
            .position(|(got, want)| got != want)
            .map(|i| format!("segment {} hashes to {}, not {}", i + 1, d.blake3[i], hash.parts[i])),
    })
}

/// Replaces the bad copy of `v` on `bad` with a new one read from a good copy; without one,
/// marks it damaged. Whether it was repaired.
async fn repair(core: &Core, v: &StoredVersion, bad: &str) -> Result<bool, ProxyError> {
    let snap = core.snapshot();
    let keep: Vec<String> = v
        .meta
        .locations
        .iter()
        .filter(|l| l.backend != bad)
        .map(|l| l.backend.clone())
        .collect();
    let good = keep.iter().any(|b| !v.meta.damaged.contains(b));
    if good {
        let want = crate::s3::placement::Want {
            copies: keep.len() + 1,
            at_least: 1,
            keep: &keep,
            exclude: &[],
            rank: None,
        };
        let skip: Vec<&str> = std::iter::once(bad)
            .chain(v.meta.damaged.iter().map(String::as_str))
            .collect();
        match crate::orchestrator::copier::add_copies(core, &snap, v, &want, &skip).await {
            Ok(new) if !new.locations.is_empty() => {
                let kept: Vec<_> = v.meta.locations.iter().filter(|l| l.backend != bad).cloned().collect();
                if crate::orchestrator::copier::swap(core, v, &kept, new).await? {
                    return Ok(true);
                }
                return Ok(false);
            }
            Ok(_) => warn!(bucket = %v.bucket, key = %v.key, backend = bad, "no backend can take a repaired copy"),
            Err(e) => warn!(bucket = %v.bucket, key = %v.key, backend = bad, error = %e, "repair failed"),
        }
    }
    let mut damaged = v.meta.damaged.clone();
    if !damaged.iter().any(|d| d == bad) {
        damaged.push(bad.to_string());
    }
    let change = VersionChange::Expecting {
        version: v.meta.version,
        change: Box::new(VersionChange::Damaged {
            backends: damaged,
            locations: v.meta.locations.clone(),
        }),
    };
    core.shared
        .store
        .update_version(&v.bucket, &v.key, v.meta.version_ref(), change)
        .await?;
    error!(bucket = %v.bucket, key = %v.key, version = v.meta.version, backend = bad, "a copy failed its content hash and no good copy is left to repair it: marked damaged, never served");
    Ok(false)
}

/// Verifies every copy of `v` (all but damaged ones), repairing what fails.
async fn scrub_version(core: &Core, v: &StoredVersion, throttle: &mut Throttle, out: &mut Scrubbed) {
    let c = &core.shared.metrics.integrity;
    for loc in &v.meta.locations {
        if v.meta.damaged.contains(&loc.backend) || v.meta.hash.is_none() {
            continue;
        }
        match verify(core, v, &loc.backend, throttle).await {
            Ok(None) => {
                out.checked += 1;
                IntegrityCounters::bump(&c.scrub_checked);
            }
            Ok(Some(why)) => {
                out.checked += 1;
                out.mismatches += 1;
                IntegrityCounters::bump(&c.scrub_checked);
                IntegrityCounters::bump(&c.scrub_mismatches);
                warn!(bucket = %v.bucket, key = %v.key, version = v.meta.version, backend = %loc.backend, why, "scrub: a copy does not match its content hash");
                match repair(core, v, &loc.backend).await {
                    Ok(true) => {
                        out.repaired += 1;
                        IntegrityCounters::bump(&c.scrub_repaired);
                        info!(bucket = %v.bucket, key = %v.key, backend = %loc.backend, "scrub: copy repaired from a good replica");
                    }
                    Ok(false) => {
                        out.damaged += 1;
                        IntegrityCounters::bump(&c.scrub_damaged);
                    }
                    Err(e) => {
                        out.errors += 1;
                        warn!(bucket = %v.bucket, key = %v.key, error = %e, "scrub: repair failed");
                    }
                }
                // The version changed: its other copies are verified on a later pass.
                return;
            }
            Err(e) => {
                out.errors += 1;
                IntegrityCounters::bump(&c.scrub_errors);
                warn!(bucket = %v.bucket, key = %v.key, backend = %loc.backend, error = %e, "scrub: a copy could not be read");
            }
        }
    }
}

/// Verifies the suspects a read reported, then up to `batch` versions from where the last
/// cycle stopped (wrapping around at the end). What it found.
pub async fn run_cycle(core: &Core, batch: usize) -> Result<Scrubbed, ProxyError> {
    let shared = &core.shared;
    let store = &shared.store;
    let mut throttle = Throttle::new(shared.cfg.integrity.scrub_bytes_per_sec);
    let mut out = Scrubbed::default();
    for s in shared.suspects.take(batch) {
        let mut found = None;
        for at in [VersionRef::Id(s.version), VersionRef::Null] {
            if let Some(m) = store.get_version(&s.bucket, &s.key, at).await? {
                if m.version == s.version {
                    found = Some(m);
                    break;
                }
            }
        }
        let Some(meta) = found else { continue };
        let v = StoredVersion {
            bucket: s.bucket,
            key: s.key,
            meta,
            current: false,
        };
        scrub_version(core, &v, &mut throttle, &mut out).await;
    }
    let mut cursor: Option<VersionAt> = match store.state(CURSOR).await? {
        Some(text) => serde_json::from_str(&text).ok(),
        None => None,
    };
    let mut seen = 0usize;
    while seen < batch && !shared.winding_down() {
        let page = store
            .scan_versions(cursor.as_ref(), None, PAGE.min(batch - seen))
            .await?;
        for v in &page.versions {
            if v.meta.delete_marker {
                continue;
            }
            scrub_version(core, v, &mut throttle, &mut out).await;
            seen += 1;
        }
        cursor = page.next;
        match &cursor {
            Some(c) => {
                store
                    .put_state(CURSOR, &serde_json::to_string(c).unwrap_or_default())
                    .await?
            }
            None => {
                store.delete_state(CURSOR).await?;
                break;
            }
        }
    }
    Ok(out)
}

/// The JSON of `POST /admin/api/scrub`.
pub fn answer(s: &Scrubbed) -> serde_json::Value {
    json!({"status": "complete", "checked": s.checked, "mismatches": s.mismatches, "errors": s.errors,
        "repaired": s.repaired, "damaged": s.damaged})
}

/// The periodic scrubber.
pub struct Scrubber {
    core: Core,
}

impl Scrubber {
    /// The worker, with its own core on the worker thread.
    pub fn new(shared: Arc<Shared>) -> Result<Scrubber, ProxyError> {
        Ok(Scrubber {
            core: Core::new(shared, crate::orchestrator::replicator::WORKER_CORE)?,
        })
    }
}

impl Worker for Scrubber {
    fn name(&self) -> &'static str {
        "scrubber"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.core.shared.cfg.integrity.scrub_interval_secs.max(1))
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let batch = self.core.shared.cfg.integrity.scrub_batch;
        let s = run_cycle(&self.core, batch).await.map_err(|e| e.to_string())?;
        if s.mismatches > 0 || s.errors > 0 {
            info!(
                checked = s.checked,
                mismatches = s.mismatches,
                repaired = s.repaired,
                damaged = s.damaged,
                errors = s.errors,
                "scrub cycle"
            );
        }
        Ok(if self.core.shared.suspects.is_empty() {
            Tick::Idle
        } else {
            Tick::Busy
        })
    }
}
