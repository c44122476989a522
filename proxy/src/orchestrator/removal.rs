//! Removing a backend (`DELETE /admin/api/backends/{name}`): every record of it leaves the
//! store. A version with copies elsewhere only loses its location there; a version whose only
//! copy it held is deleted for good (that is what removal means: drain first to keep them). With
//! `purge`, each of its copies is also deleted from the backend's storage as it is forgotten.
//! Finally its cleanup tasks, usage, totals, reservations and usage counters go. Refused while
//! the backend drains. While it runs the backend takes no new copies; afterwards it is empty in
//! the metadata, its drain state is gone too, and it may be taken out of the config (or takes
//! new copies again if left in).

use s3o_store::{Removal, StoreError, VersionAt};
use serde_json::json;
use tracing::{info, warn};

use crate::error::ProxyError;
use crate::state::Core;

/// Removes backend `name`'s records (and with `purge` its objects).
pub async fn remove(core: &Core, name: &str, purge: bool) -> Result<(u16, serde_json::Value), s3o_admin::Error> {
    let shared = &core.shared;
    let internal = |e: ProxyError| s3o_admin::Error::Internal(format!("failed to delete backend data: {e}"));
    let snap = core.snapshot();
    if snap.backend(name).is_none() {
        return Err(s3o_admin::Error::NotFound(format!("backend \"{name}\" not found")));
    }
    let drain = crate::orchestrator::drain::load(shared, name).await.map_err(internal)?;
    if drain.as_ref().is_some_and(|d| d.active) {
        return Err(s3o_admin::Error::Conflict(format!(
            "backend \"{name}\" is currently draining, cancel the drain first"
        )));
    }
    // No new copies while its records go.
    let was_excluded = !shared.draining.write().insert(name.to_string());
    let mut outcome = forget(core, name, purge).await;
    if outcome.is_ok() {
        // Its drain, if it had one, goes with its other records.
        outcome = match crate::orchestrator::drain::forget(shared, name).await {
            Ok(()) => outcome,
            Err(e) => Err(e),
        };
    }
    if outcome.is_ok() || !was_excluded {
        shared.draining.write().remove(name);
    }
    let (versions, deleted) = outcome.map_err(internal)?;
    info!(
        backend = name,
        purge, versions, deleted, "backend removed from the metadata"
    );
    Ok((200, json!({"status": "backend removed", "backend": name})))
}

/// Forgets every version's copy on `name`; (versions touched, versions deleted for good).
async fn forget(core: &Core, name: &str, purge: bool) -> Result<(u64, u64), ProxyError> {
    let store = &core.shared.store;
    let backend = if purge { Some(core.backend(name)?) } else { None };
    let (mut touched, mut deleted) = (0u64, 0u64);
    let mut cursor: Option<VersionAt> = None;
    loop {
        let page = store.scan_versions(cursor.as_ref(), Some(name), 256).await?;
        for v in &page.versions {
            if let Some(b) = &backend {
                for l in v.meta.locations.iter().filter(|l| l.backend == name) {
                    if let Err(e) = b.delete(&l.physical_key).await {
                        warn!(backend = name, key = %l.physical_key, error = %e, "purge could not delete a copy");
                    }
                }
            }
            let others: Vec<_> = v.meta.locations.iter().filter(|l| l.backend != name).cloned().collect();
            let r = if others.is_empty() {
                let which = v.meta.version_ref();
                deleted += 1;
                core.shared.cache.forget(&v.bucket, &v.key);
                store.delete_version(&v.bucket, &v.key, which, true).await.map(drop)
            } else {
                store
                    .relocate(
                        &v.bucket,
                        &v.key,
                        v.meta.version,
                        &v.meta.locations,
                        &others,
                        Vec::new(),
                        Removal::Forget,
                    )
                    .await
                    .map(drop)
            };
            match r {
                Ok(()) => touched += 1,
                // Changed or gone meanwhile: the next page (or a second removal) sees it as it is.
                Err(
                    StoreError::PreconditionFailed { .. }
                    | StoreError::NoSuchVersion { .. }
                    | StoreError::NoSuchKey { .. },
                ) => {}
                // Compliance retention or a legal hold outlives any backend: the version stays.
                Err(e @ StoreError::Locked { .. }) => {
                    warn!(backend = name, bucket = %v.bucket, key = %v.key, error = %e, "a locked version keeps its copy's record");
                }
                Err(e) => return Err(e.into()),
            }
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if let Some(b) = &backend {
        // Copies already waiting for deletion on it go now, before their tasks are forgotten.
        let queue = store.cleanup_queue(usize::MAX).await?;
        for t in queue.first.iter().filter(|t| t.backend == name) {
            let gone = match &t.upload_id {
                Some(upload) => b.abort_upload(&t.physical_key, upload).await,
                None => b.delete(&t.physical_key).await,
            };
            if let Err(e) = gone {
                warn!(backend = name, key = %t.physical_key, error = %e, "purge could not delete a queued copy");
            }
        }
    }
    store.forget_backend(name).await?;
    Ok((touched, deleted))
}
