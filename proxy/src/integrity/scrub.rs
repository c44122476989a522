//! The `scrubber` worker and its on-demand cycle (`POST /admin/api/scrub`): verifies copies
//! against their content hash at a bounded rate, repairs a bad copy from a good replica (a new
//! copy placed like any other, the bad one dropped through the cleanup queue in the same
//! compare-and-swap), and marks a copy without a good replica damaged (never read again,
//! counted, logged). Copies a read found bad (the suspects) are verified first. The scan's
//! position is kept in the store (`scrub.cursor`), so a restart resumes it; the worker runs on
//! one instance of those sharing a store. `hash-existing` gives versions written without a hash
//! one, read from their first copy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use s3o_store::{ContentHash, StoredVersion, VersionAt, VersionChange, VersionRef};
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

/// Reads at most `rate` bytes a second on average.
struct Throttle {
    rate: u64,
    since: Instant,
    bytes: u64,
}

impl Throttle {
    fn new(rate: u64) -> Throttle {
        Throttle {
            rate: rate.max(1),
            since: Instant::now(),
            bytes: 0,
        }
    }

    async fn spent(&mut self, n: u64) {
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.since.elapsed()) {
            monoio::time::sleep(wait).await;
        }
    }
}

/// How the store names version `meta`: its id, or the key's `null` version.
fn vref(meta: &s3o_store::ObjectMeta) -> VersionRef {
    if meta.versioned {
        VersionRef::Id(meta.version)
    } else {
        VersionRef::Null
    }
}

/// Whether the copy of `v` on `backend` matches its hash: `Ok(None)` when it does, `Ok(Some(why))`
/// when it does not, `Err` when it could not be read.
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
        return Ok(Some("the hash does not describe the version's segments".into()));
    }
    let b = core.backend(backend)?;
    let mut stream = b.get(&loc.physical_key, None, v.meta.stored_size()).await?;
    let mut hasher = blake3::Hasher::new();
    let (mut seg, mut done) = (0usize, 0u64);
    let mut buf = Vec::with_capacity(crate::backend::BODY_BUF);
    let check = |hasher: &mut blake3::Hasher, seg: usize| -> Option<String> {
        let got = hasher.finalize().to_hex().to_string();
        hasher.reset();
        (got != hash.parts[seg]).then(|| format!("segment {} hashes to {got}, not {}", seg + 1, hash.parts[seg]))
    };
    loop {
        while seg < sizes.len() && done == sizes[seg] {
            if let Some(why) = check(&mut hasher, seg) {
                return Ok(Some(why));
            }
            seg += 1;
            done = 0;
        }
        let (res, b) = stream.read(buf).await;
        res?;
        if b.is_empty() {
            break;
        }
        throttle.spent(b.len() as u64).await;
        let mut rest = &b[..];
        while !rest.is_empty() {
            let Some(&len) = sizes.get(seg) else {
                return Ok(Some("more bytes than the version holds".into()));
            };
            let n = usize::try_from(len - done).unwrap_or(usize::MAX).min(rest.len());
            hasher.update(&rest[..n]);
            done += n as u64;
            rest = &rest[n..];
            if done == len {
                if let Some(why) = check(&mut hasher, seg) {
                    return Ok(Some(why));
                }
                seg += 1;
                done = 0;
            }
        }
        buf = b;
    }
    Ok((seg < sizes.len()).then(|| "fewer bytes than the version holds".to_string()))
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
        change: Box::new(VersionChange::Damaged(damaged)),
    };
    core.shared
        .store
        .update_version(&v.bucket, &v.key, vref(&v.meta), change)
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

/// Gives every version without a content hash one, read from its first copy that answers
/// (`POST /admin/api/hash-existing`): (hashed, failed, total).
pub async fn hash_existing(core: &Core) -> Result<(u64, u64, u64), ProxyError> {
    let store = &core.shared.store;
    let (mut hashed, mut failed, mut total) = (0u64, 0u64, 0u64);
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = store.scan_versions(cursor.as_ref(), None, PAGE).await?;
        for v in page
            .versions
            .iter()
            .filter(|v| !v.meta.delete_marker && v.meta.hash.is_none())
        {
            total += 1;
            match hash_of(core, v).await {
                Ok(h) => {
                    let change = VersionChange::Expecting {
                        version: v.meta.version,
                        change: Box::new(VersionChange::Hash(h)),
                    };
                    match store.update_version(&v.bucket, &v.key, vref(&v.meta), change).await {
                        Ok(_) => hashed += 1,
                        Err(e) => {
                            failed += 1;
                            warn!(bucket = %v.bucket, key = %v.key, error = %e, "hash-existing: not recorded");
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    warn!(bucket = %v.bucket, key = %v.key, error = %e, "hash-existing: not read");
                }
            }
        }
        if core.shared.winding_down() {
            break;
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok((hashed, failed, total))
}

/// The content hash of `v`'s stored bytes, read from its first copy that answers.
async fn hash_of(core: &Core, v: &StoredVersion) -> Result<ContentHash, ProxyError> {
    let snap = core.snapshot();
    let mut stream = crate::s3::read::open_stored_except(core, &snap, (&v.bucket, &v.key), &v.meta, None, &[]).await?;
    let sizes = v.meta.stored_segment_sizes();
    let mut parts = Vec::with_capacity(sizes.len());
    let mut hasher = blake3::Hasher::new();
    let (mut seg, mut done) = (0usize, 0u64);
    let mut buf = Vec::with_capacity(crate::backend::BODY_BUF);
    loop {
        while seg < sizes.len() && done == sizes[seg] {
            parts.push(hasher.finalize().to_hex().to_string());
            hasher.reset();
            seg += 1;
            done = 0;
        }
        let (res, b) = stream.read(buf).await;
        res?;
        if b.is_empty() {
            break;
        }
        let mut rest = &b[..];
        while !rest.is_empty() && seg < sizes.len() {
            let n = usize::try_from(sizes[seg] - done).unwrap_or(usize::MAX).min(rest.len());
            hasher.update(&rest[..n]);
            done += n as u64;
            rest = &rest[n..];
            while seg < sizes.len() && done == sizes[seg] {
                parts.push(hasher.finalize().to_hex().to_string());
                hasher.reset();
                seg += 1;
                done = 0;
            }
        }
        buf = b;
    }
    if parts.len() != sizes.len() {
        return Err(ProxyError::Internal(
            "the stored body is shorter than its record".into(),
        ));
    }
    Ok(ContentHash {
        alg: Default::default(),
        parts,
    })
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
