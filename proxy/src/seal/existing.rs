//! `POST /admin/api/encrypt-existing` and `POST /admin/api/decrypt-existing`: every version
//! stored as sent is sealed (or every sealed one opened). A version is never rewritten in place:
//! its plaintext is read from a copy that answers, sealed with a fresh data key (or not), and
//! streamed once to each backend holding a copy under a new physical key; then one
//! compare-and-swap ([`s3o_store::Engine::rewrite`]) makes the new copies and the new record
//! current together, the old copies leaving through the cleanup queue. A write to the key
//! meanwhile wins: the new copies are dropped. Reads and writes are counted against each
//! backend's usage as any (a read and a write per copy). The scan's position is kept in the
//! store after each page, so a run cut short (a restart) resumes where it stopped when asked
//! again; versions already done are skipped in any case.

use s3o_store::{physical_key_for, ContentHash, Location, StoreError, StoredFacts, StoredVersion, VersionAt};
use tracing::{info, warn};

use super::source::StoredSource;
use super::{Identity, WriteSeal};
use crate::backend::{Backend, PhysicalMeta, StreamSource};
use crate::error::ProxyError;
use crate::orchestrator::limits::Cost;
use crate::state::Core;

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Seal what is stored as sent.
    Seal,
    /// Store sealed objects as plaintext.
    Open,
}

impl Direction {
    fn cursor(self) -> &'static str {
        match self {
            Direction::Seal => "encrypt-existing.cursor",
            Direction::Open => "decrypt-existing.cursor",
        }
    }

    fn wants(self, v: &StoredVersion) -> bool {
        !v.meta.delete_marker && !v.meta.locations.is_empty() && v.meta.sealed.is_none() == (self == Direction::Seal)
    }
}

/// Why a run cannot start.
pub fn refused(core: &Core) -> Option<String> {
    core.shared.keys.is_none().then(|| {
        "encryption is not enabled in the config: configure [encryption] key, key_file or key_command".to_string()
    })
}

/// Rewrites every version `dir` applies to: (done, failed, total).
pub async fn run(core: &Core, dir: Direction) -> Result<(u64, u64, u64), ProxyError> {
    let store = &core.shared.store;
    let mut cursor: Option<VersionAt> = match store.state(dir.cursor()).await? {
        Some(text) => serde_json::from_str(&text).ok(),
        None => None,
    };
    // A resumed run goes on to the end, then once more from the start: versions that failed
    // before it was cut short are behind its cursor.
    let mut wrap = cursor.is_some();
    if let Some(c) = &cursor {
        info!(bucket = %c.bucket, key = %c.key, "{} resumes", dir.cursor().trim_end_matches(".cursor"));
    }
    let (mut done, mut total) = (0u64, 0u64);
    let mut failures: std::collections::HashSet<(String, String, u64)> = Default::default();
    loop {
        if core.shared.winding_down() {
            return Err(ProxyError::SlowDown);
        }
        let page = store.scan_versions(cursor.as_ref(), None, 128).await?;
        for v in page.versions.iter().filter(|v| dir.wants(v)) {
            let id = (v.bucket.clone(), v.key.clone(), v.meta.version);
            let counters = &core.shared.metrics.integrity;
            match rewrite(core, v, dir).await {
                Ok(true) => {
                    done += 1;
                    total += 1;
                    failures.remove(&id);
                    crate::integrity::IntegrityCounters::bump(&counters.rewritten);
                }
                // A write won the race: its version is not this run's to count.
                Ok(false) => {}
                Err(e) => {
                    crate::integrity::IntegrityCounters::bump(&counters.rewrite_failures);
                    warn!(bucket = %v.bucket, key = %v.key, version = v.meta.version, error = %e, "{:?}: not rewritten", dir);
                    if failures.insert(id) {
                        total += 1;
                    }
                }
            }
            if (done + failures.len() as u64) % 100 == 0 {
                info!(done, failed = failures.len(), "{:?} in progress", dir);
            }
        }
        match page.next {
            Some(c) => {
                store
                    .put_state(dir.cursor(), &serde_json::to_string(&c).unwrap_or_default())
                    .await?;
                cursor = Some(c);
            }
            None if wrap => {
                wrap = false;
                cursor = None;
            }
            None => {
                store.delete_state(dir.cursor()).await?;
                break;
            }
        }
    }
    let failed = failures.len() as u64;
    info!(done, failed, total, "{:?} done", dir);
    Ok((done, failed, total))
}

/// Rewrites version `v` (sealed or opened as `dir` says) onto the backends of its copies. Whether
/// it was switched over (`false`: the version changed meanwhile).
async fn rewrite(core: &Core, v: &StoredVersion, dir: Direction) -> Result<bool, ProxyError> {
    let shared = &core.shared;
    let store = &shared.store;
    let snap = core.snapshot();
    let seal = match dir {
        Direction::Seal => Some(WriteSeal::fresh(shared.keyring()?, shared.cfg.encryption.chunk_size)?),
        Direction::Open => None,
    };
    let size = v.meta.size;
    let stored_len = seal.as_ref().map_or(size, |w| w.stored_len(size));
    let mut names: Vec<String> = Vec::new();
    for l in &v.meta.locations {
        if !names.contains(&l.backend) {
            names.push(l.backend.clone());
        }
    }
    let mut backends = Vec::with_capacity(names.len());
    let mut reservations = Vec::with_capacity(names.len());
    let mut permits = Vec::with_capacity(names.len());
    for n in &names {
        let limits = snap.backend(n).map(|b| b.limits).unwrap_or_default();
        let permit = shared
            .gate
            .admit(n, &limits, Cost::write(stored_len), &shared.metrics)
            .ok_or(ProxyError::SlowDown)?;
        permits.push(permit);
        reservations.push(store.reserve(n, stored_len, snap.quota(n)).await?);
        backends.push(core.backend(n)?);
    }
    let physical = physical_key_for(&v.bucket, &v.key, store.next_version().await?);
    // Checked as it is read: against the content hash when there is one, and (bytes stored as
    // sent, written at once) against the ETag, so a rotten copy never replaces good ones.
    let reader = crate::s3::read::open_copy_checked(core, &snap, (&v.bucket, &v.key), &v.meta, None, true).await?;
    let mut src = crate::s3::copy::Md5Tee::new(StreamSource(reader));
    let id = Identity {
        bucket: &v.bucket,
        key: &v.key,
        version: v.meta.version,
    };
    let mut out = StoredSource::new(&mut src, seal.as_ref(), id, size, shared.cfg.integrity.hash);
    if seal.is_none() && !v.meta.parts.is_empty() {
        // Opened, a multipart object's parts are its segments again.
        out = out.segmented(v.meta.parts.clone());
    }
    let pmeta = PhysicalMeta {
        bucket: v.bucket.clone(),
        key: v.key.clone(),
        version: v.meta.version,
        content_type: v.meta.content_type.clone(),
        integrity: Vec::new(),
        sealed: seal.is_some(),
    };
    let refs: Vec<&Backend> = backends.iter().map(|b| &**b).collect();
    let (outcomes, source_err) = crate::backend::tee::put_to_all(&refs, &physical, stored_len, &pmeta, &mut out).await;
    drop(permits);
    let new: Vec<Location> = names
        .iter()
        .map(|b| Location {
            backend: b.clone(),
            physical_key: physical.clone(),
        })
        .collect();
    let facts = StoredFacts {
        sealed: seal.as_ref().map(WriteSeal::record),
        stored: seal.as_ref().map(|_| stored_len),
        hash: out.hash_parts().map(|parts| ContentHash {
            alg: Default::default(),
            parts,
        }),
    };
    let mut failure = source_err.or_else(|| outcomes.into_iter().find_map(Result::err));
    let etag_checked = v.meta.sealed.is_none() && v.meta.hash.is_none() && !v.meta.etag.contains('-');
    if failure.is_none() && etag_checked && src.etag() != v.meta.etag {
        failure = Some(ProxyError::Internal(format!(
            "the copy read does not match its ETag {}",
            v.meta.etag
        )));
    }
    if let Some(e) = failure {
        abandon(core, &new).await;
        return Err(e);
    }
    // The new copies' records first: sealed bytes are useless without the record holding their
    // data key, so none is committed that an index rebuild could not restore.
    let mut pending = v.meta.clone();
    pending.locations.clone_from(&new);
    facts.apply(&mut pending);
    for l in &new {
        if let Err((record, e)) = crate::records::try_write_to(core, &l.backend, &v.bucket, &v.key, &pending).await {
            abandon(core, &new).await;
            return Err(ProxyError::Internal(format!("record {record} not written: {e}")));
        }
    }
    let rewritten = store
        .rewrite(
            &v.bucket,
            &v.key,
            v.meta.version,
            &v.meta.locations,
            &new,
            facts,
            reservations,
        )
        .await;
    match rewritten {
        Ok(changed) => {
            core.shared.cache.forget(&v.bucket, &v.key);
            for l in &new {
                crate::records::write_to(core, &l.backend, &v.bucket, &v.key, &changed).await;
            }
            Ok(true)
        }
        Err(e) => {
            abandon(core, &new).await;
            match e {
                StoreError::PreconditionFailed { .. }
                | StoreError::NoSuchVersion { .. }
                | StoreError::NoSuchKey { .. } => Ok(false),
                e => Err(e.into()),
            }
        }
    }
}

/// Queues copies that never became locations for deletion.
async fn abandon(core: &Core, copies: &[Location]) {
    for l in copies {
        crate::orphans::queue(&core.shared, &l.backend, &l.physical_key).await;
    }
}
