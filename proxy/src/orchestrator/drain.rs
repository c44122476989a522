//! Draining a backend: it is excluded from new copies at once, and the `drain` worker moves
//! every version with a copy on it to other backends (placement as for a new copy: quotas,
//! limits and the bucket's policy), one compare-and-swap of the locations per version, the old
//! copy deleted through the cleanup queue. A version that has enough copies elsewhere only loses
//! its copy on the backend.
//!
//! The drain's state (active, moved so far, where the walk is, the last error) is a store
//! document, `drain/{backend}`, so a restart resumes it where it was and every proxy sharing a
//! PostgreSQL store excludes the backend within a second. The walk runs on one instance at a
//! time (store lease `drain`). Multipart uploads already in progress on the backend complete
//! there; a second drain moves them.

use std::sync::Arc;
use std::time::Duration;

use s3o_store::{Location, StoredVersion, VersionAt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::backend::tee::join_all;
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::orchestrator::copier::{add_copies, swap, NewCopies};
use crate::orchestrator::replicator::{wanted_copies, WORKER_CORE};
use crate::s3::placement::Want;
use crate::state::{Core, Shared};
use crate::workers::{Tick, Worker, LEASE_TTL};

/// Versions taken per scan page.
const PAGE: usize = 64;

/// What the store keeps of a drain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainState {
    /// Whether the drain is running.
    pub active: bool,
    /// Whether the backend takes no new copies: from the start of its drain until the drain is
    /// cancelled (`DELETE .../drain`) or the backend is removed, also once the drain finished.
    #[serde(default)]
    pub excluded: bool,
    /// Versions moved off the backend so far.
    pub objects_moved: u64,
    /// Where the walk of the backend's versions is (`None`: at the start).
    #[serde(default)]
    pub cursor: Option<VersionAt>,
    /// Versions that could not be moved in the current pass.
    #[serde(default)]
    pub failed_in_pass: u64,
    /// Versions moved in the current pass.
    #[serde(default)]
    pub moved_in_pass: u64,
    /// Why the drain stopped or what last failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn doc_name(backend: &str) -> String {
    format!("drain/{backend}")
}

/// Reads a backend's drain document.
pub async fn load(shared: &Shared, backend: &str) -> Result<Option<DrainState>, ProxyError> {
    match shared.store.state(&doc_name(backend)).await? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ProxyError::Internal(format!("drain state of {backend} is unreadable: {e}"))),
        None => Ok(None),
    }
}

async fn save(shared: &Shared, backend: &str, st: &DrainState) -> Result<(), ProxyError> {
    let text = serde_json::to_string(st).map_err(|e| ProxyError::Internal(e.to_string()))?;
    shared.store.put_state(&doc_name(backend), &text).await?;
    Ok(())
}

/// Forgets a backend's drain (its removal): it no longer counts as excluded once every instance
/// has re-read the drain states.
pub async fn forget(shared: &Shared, backend: &str) -> Result<(), ProxyError> {
    shared.store.delete_state(&doc_name(backend)).await?;
    Ok(())
}

/// Re-reads which backends are draining into `shared.draining` (every instance, every tick).
pub async fn refresh(shared: &Shared) -> Result<(), ProxyError> {
    let mut active = std::collections::BTreeSet::new();
    for (name, text) in shared.store.states("drain/").await? {
        if serde_json::from_str::<DrainState>(&text).is_ok_and(|s| s.active || s.excluded) {
            active.insert(name.trim_start_matches("drain/").to_string());
        }
    }
    *shared.draining.write() = active;
    Ok(())
}

/// `POST /admin/api/backends/{name}/drain`.
pub async fn start(shared: &Shared, backend: &str) -> Result<(u16, serde_json::Value), s3o_admin::Error> {
    let internal = |e: ProxyError| s3o_admin::Error::Internal(e.to_string());
    if shared.live.snapshot().backend(backend).is_none() {
        return Err(s3o_admin::Error::NotFound(format!("backend \"{backend}\" not found")));
    }
    if load(shared, backend).await.map_err(internal)?.is_some_and(|s| s.active) {
        return Err(s3o_admin::Error::Conflict(format!(
            "backend \"{backend}\" is already draining"
        )));
    }
    // A second drain of a drained backend moves what arrived since (multipart uploads that were
    // in progress on it).
    let st = DrainState {
        active: true,
        excluded: true,
        ..DrainState::default()
    };
    save(shared, backend, &st).await.map_err(internal)?;
    shared.draining.write().insert(backend.to_string());
    info!(backend, "drain started");
    Ok((202, json!({"status": "drain started", "backend": backend})))
}

/// `GET /admin/api/backends/{name}/drain`.
pub async fn status(shared: &Shared, backend: &str) -> Result<(u16, serde_json::Value), s3o_admin::Error> {
    let internal = |e: String| s3o_admin::Error::Internal(e);
    if shared.live.snapshot().backend(backend).is_none() {
        return Err(s3o_admin::Error::NotFound(format!("backend \"{backend}\" not found")));
    }
    let st = load(shared, backend)
        .await
        .map_err(|e| internal(e.to_string()))?
        .unwrap_or_default();
    let (mut objects, mut bytes) = (0, 0);
    if st.active || st.excluded {
        let stats = shared
            .store
            .backend_stats()
            .await
            .map_err(|e| internal(e.to_string()))?;
        if let Some(s) = stats.into_iter().find(|s| s.backend == backend) {
            (objects, bytes) = (s.objects, s.bytes);
        }
    }
    let mut body = json!({
        "active": st.active,
        "objects_remaining": objects,
        "bytes_remaining": bytes,
        "objects_moved": st.objects_moved,
    });
    if let Some(e) = st.error {
        body["error"] = json!(e);
    }
    Ok((200, body))
}

/// `DELETE /admin/api/backends/{name}/drain`.
pub async fn cancel(shared: &Shared, backend: &str) -> Result<(u16, serde_json::Value), s3o_admin::Error> {
    let internal = |e: ProxyError| s3o_admin::Error::Internal(e.to_string());
    if shared.live.snapshot().backend(backend).is_none() {
        return Err(s3o_admin::Error::NotFound(format!("backend \"{backend}\" not found")));
    }
    let excluded = |s: &DrainState| s.active || s.excluded;
    let Some(mut st) = load(shared, backend).await.map_err(internal)?.filter(excluded) else {
        return Err(s3o_admin::Error::Conflict(format!(
            "backend \"{backend}\" is not draining"
        )));
    };
    // Cancelling a running drain stops it; clearing a finished one lets the backend take new
    // copies again. Either way moved objects stay moved.
    if st.active {
        st.error = Some("drain cancelled".into());
    }
    st.active = false;
    st.excluded = false;
    save(shared, backend, &st).await.map_err(internal)?;
    shared.draining.write().remove(backend);
    info!(backend, "drain cancelled");
    Ok((200, json!({"status": "drain cancelled", "backend": backend})))
}

/// Moves version `v`'s copy off `backend`: dropped when the version has enough copies
/// elsewhere, else replaced by a new copy on another backend.
pub async fn move_off(core: &Core, snap: &Snapshot, v: &StoredVersion, backend: &str) -> Result<bool, ProxyError> {
    let others: Vec<Location> = v
        .meta
        .locations
        .iter()
        .filter(|l| l.backend != backend)
        .cloned()
        .collect();
    if others.len() == v.meta.locations.len() {
        return Ok(false);
    }
    let wanted = wanted_copies(snap, &v.bucket, &v.meta);
    let new = if others.len() >= wanted {
        NewCopies {
            locations: Vec::new(),
            reservations: Vec::new(),
        }
    } else {
        let keep: Vec<String> = others.iter().map(|l| l.backend.clone()).collect();
        let exclude = [backend.to_string()];
        let want = Want {
            copies: others.len() + 1,
            at_least: 1,
            keep: &keep,
            exclude: &exclude,
            rank: None,
        };
        add_copies(core, snap, v, &want, &[]).await?
    };
    swap(core, v, &others, new).await
}

/// The `drain` worker: on every instance it keeps the set of draining backends current; the
/// instance holding the `drain` lease walks them.
pub struct DrainWorker {
    core: Core,
}

impl DrainWorker {
    /// The worker, with its own core on the worker thread.
    pub fn new(shared: Arc<Shared>) -> Result<DrainWorker, ProxyError> {
        Ok(DrainWorker {
            core: Core::new(shared, WORKER_CORE)?,
        })
    }

    /// Whether this instance holds (or just took) the `drain` lease.
    async fn holds_lease(&self) -> Result<bool, ProxyError> {
        let store = &self.core.shared.store;
        let me = store.instance();
        let ttl = u64::try_from(LEASE_TTL.as_millis()).unwrap_or(u64::MAX);
        let lease = store.acquire_lease("drain", &me, ttl).await?;
        Ok(lease.holder == me)
    }

    /// One page of one drain; whether there is more to do at once.
    async fn step(&self, backend: &str, mut st: DrainState) -> Result<bool, ProxyError> {
        let shared = &self.core.shared;
        let snap = self.core.snapshot();
        let page = shared
            .store
            .scan_versions(st.cursor.as_ref(), Some(backend), PAGE)
            .await?;
        let concurrency = shared.cfg.drain.concurrency.max(1);
        let mut last_err = None;
        let mut interrupted = false;
        for chunk in page.versions.chunks(concurrency) {
            if shared.winding_down() {
                interrupted = true;
                break;
            }
            let moves = chunk.iter().map(|v| move_off(&self.core, &snap, v, backend));
            let outcomes = join_all(moves.collect()).await;
            let moved_before = st.moved_in_pass;
            for (v, r) in chunk.iter().zip(outcomes) {
                match r {
                    Ok(true) => {
                        st.objects_moved += 1;
                        st.moved_in_pass += 1;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        st.failed_in_pass += 1;
                        warn!(backend, bucket = %v.bucket, key = %v.key, error = %e, "drain could not move a version");
                        last_err = Some(e.to_string());
                    }
                }
            }
            // The count is saved after every round of moves, so a crash loses at most the count
            // of the moves then in flight (never a move: they are committed one by one).
            if st.moved_in_pass > moved_before && load(shared, backend).await?.is_some_and(|s| s.active) {
                save(shared, backend, &st).await?;
            }
        }
        if last_err.is_some() {
            st.error = last_err;
        }
        if interrupted {
            // Stopping: what was moved is saved, the page resumes from its start next time.
            if load(shared, backend).await?.is_some_and(|s| s.active) {
                save(shared, backend, &st).await?;
            }
            return Ok(false);
        }
        st.cursor = page.next;
        let mut more = st.cursor.is_some();
        if st.cursor.is_none() {
            // A pass ended: done when nothing is left, else another pass (versions that arrived
            // meanwhile), unless this one could move nothing at all.
            let left = shared
                .store
                .backend_stats()
                .await?
                .into_iter()
                .find(|s| s.backend == backend)
                .map_or(0, |s| s.objects);
            if left == 0 {
                st.active = false;
                st.error = None;
                info!(backend, moved = st.objects_moved, "drain finished");
            } else if st.moved_in_pass == 0 && st.failed_in_pass > 0 {
                st.active = false;
                st.error = Some(format!(
                    "{left} versions could not be moved: {}",
                    st.error.clone().unwrap_or_default()
                ));
                warn!(backend, left, "drain stopped: nothing could be moved");
            } else {
                more = true;
            }
            st.moved_in_pass = 0;
            st.failed_in_pass = 0;
        }
        // A cancel while the page was moving wins.
        if load(shared, backend).await?.is_some_and(|s| s.active) {
            save(shared, backend, &st).await?;
        }
        Ok(more && st.active)
    }
}

impl Worker for DrainWorker {
    fn name(&self) -> &'static str {
        "drain"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let shared = self.core.shared.clone();
        refresh(&shared).await.map_err(|e| e.to_string())?;
        let draining: Vec<String> = shared.draining.read().iter().cloned().collect();
        if draining.is_empty() || !self.holds_lease().await.map_err(|e| e.to_string())? {
            return Ok(Tick::Idle);
        }
        let mut busy = false;
        for b in draining {
            let Some(st) = load(&shared, &b).await.map_err(|e| e.to_string())? else {
                continue;
            };
            if st.active {
                busy |= self.step(&b, st).await.map_err(|e| format!("drain of {b}: {e}"))?;
            }
        }
        Ok(if busy { Tick::Busy } else { Tick::Idle })
    }
}
