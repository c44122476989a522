//! The lifecycle worker: applies the buckets' lifecycle rules (`s3o_store::lifecycle`). Every
//! `[lifecycle] interval_secs` it walks the versions of each bucket with enabled rules, one page
//! of the store's listing per tick (so a large bucket never holds the worker), and
//! - expires current versions whose rule's days or date have come: removed in an unversioned
//!   bucket (that exact version, so an overwrite made meanwhile survives), hidden behind a
//!   delete marker in a versioned one;
//! - removes noncurrent versions the rule's days after they were replaced, keeping the newest
//!   `NewerNoncurrentVersions`;
//! - removes a delete marker left as its key's only version (`ExpiredObjectDeleteMarker`);
//! - aborts multipart uploads begun the rule's days ago.
//!
//! Object lock holds: a locked version is left and counted. It runs on one instance of those
//! sharing a store (its lease), and only where the rule says: a rule never reaches past its
//! filter. Bytes go through the cleanup queue like every deletion.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use s3o_store::lifecycle::{due_ms, Expiration, LifecycleRule};
use s3o_store::{BucketMeta, ObjectMeta, StoreError, VersionQuery, VersionRef, Versioning};
use tracing::{info, warn};

use crate::error::ProxyError;
use crate::state::{Core, Shared};
use crate::workers::{Tick, Worker};

/// Versions examined per tick.
const PAGE: usize = 1000;

/// What one pass did, for the logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Current versions expired.
    pub expired: u64,
    /// Noncurrent versions and lone delete markers removed.
    pub removed: u64,
    /// Multipart uploads aborted.
    pub aborted: u64,
    /// Versions left because their lock forbids removal.
    pub locked: u64,
}

/// Where the walk of one bucket is.
#[derive(Debug, Clone)]
struct Walk {
    bucket: String,
    key_marker: Option<String>,
    version_marker: Option<VersionRef>,
    /// The key of the last version seen, when it was older than the current one: when the next
    /// (older) version of that key was replaced, and how many noncurrent versions came before.
    last: Option<(String, u64, u32)>,
}

/// The lifecycle worker.
pub struct LifecycleWorker {
    core: Core,
    /// Buckets still to walk in this pass.
    pending: VecDeque<String>,
    walk: Option<Walk>,
    applied: Applied,
}

impl LifecycleWorker {
    /// The worker, with its own core on the worker thread.
    pub fn new(shared: Arc<Shared>) -> Result<LifecycleWorker, ProxyError> {
        Ok(LifecycleWorker {
            core: Core::new(shared, crate::orchestrator::replicator::WORKER_CORE)?,
            pending: VecDeque::new(),
            walk: None,
            applied: Applied::default(),
        })
    }
}

impl Worker for LifecycleWorker {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.core.shared.cfg.lifecycle.interval_secs.max(1))
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let now = crate::clock::unix_ms();
        if self.walk.is_none() && self.pending.is_empty() {
            // A new pass: the buckets with enabled rules, each walked from its first key.
            let buckets = self.core.shared.store.list_buckets().await.map_err(|e| e.to_string())?;
            self.pending = buckets
                .into_iter()
                .filter(|b| !rules_of(b).is_empty())
                .map(|b| b.name)
                .collect();
            self.applied = Applied::default();
        }
        if self.walk.is_none() {
            let Some(bucket) = self.pending.pop_front() else {
                return Ok(Tick::Idle);
            };
            abort_uploads(&self.core, &bucket, now, &mut self.applied).await;
            self.walk = Some(Walk {
                bucket,
                key_marker: None,
                version_marker: None,
                last: None,
            });
        }
        if let Some(walk) = self.walk.as_mut() {
            let more = walk_page(&self.core, walk, now, &mut self.applied)
                .await
                .map_err(|e| e.to_string())?;
            if !more {
                self.walk = None;
            }
        }
        if self.walk.is_none() && self.pending.is_empty() {
            let a = self.applied;
            if a != Applied::default() {
                info!(
                    expired = a.expired,
                    removed = a.removed,
                    aborted = a.aborted,
                    locked = a.locked,
                    "lifecycle pass"
                );
            }
            return Ok(Tick::Idle);
        }
        Ok(Tick::Busy)
    }
}

/// The enabled rules of `bucket`.
fn rules_of(bucket: &BucketMeta) -> Vec<&LifecycleRule> {
    bucket
        .settings
        .lifecycle
        .iter()
        .flatten()
        .filter(|r| r.enabled)
        .collect()
}

/// Runs one whole pass over every bucket at `now_ms` (tests and the admin port).
pub async fn run_pass(core: &Core, now_ms: u64) -> Result<Applied, ProxyError> {
    let mut applied = Applied::default();
    for bucket in core.shared.store.list_buckets().await? {
        if rules_of(&bucket).is_empty() {
            continue;
        }
        abort_uploads(core, &bucket.name, now_ms, &mut applied).await;
        let mut walk = Walk {
            bucket: bucket.name,
            key_marker: None,
            version_marker: None,
            last: None,
        };
        while walk_page(core, &mut walk, now_ms, &mut applied).await? {}
    }
    Ok(applied)
}

/// Aborts the uploads in `bucket` its rules say are left too long.
async fn abort_uploads(core: &Core, bucket: &str, now_ms: u64, applied: &mut Applied) {
    let store = &core.shared.store;
    let Ok(Some(meta)) = store.bucket(bucket).await else {
        return;
    };
    let day_secs = core.shared.cfg.lifecycle.day_secs;
    for rule in rules_of(&meta) {
        let Some(days) = rule.abort_multipart_days else {
            continue;
        };
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let page = match store
                .list_uploads(bucket, &rule.filter.prefix, &key_marker, &id_marker, PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => return warn!(bucket, error = %e, "lifecycle: uploads not listed"),
            };
            for u in &page {
                if now_ms >= due_ms(u.initiated_ms, days, day_secs) {
                    match store.abort_upload(&u.upload_id).await {
                        Ok(_) => applied.aborted += 1,
                        Err(e) => warn!(bucket, upload = %u.upload_id, error = %e, "lifecycle: upload not aborted"),
                    }
                }
            }
            match page.last() {
                Some(u) if page.len() == PAGE => (key_marker, id_marker) = (u.key.clone(), u.upload_id.clone()),
                _ => break,
            }
        }
    }
}

/// Applies the rules to one page of the walk's bucket; whether more pages follow.
async fn walk_page(core: &Core, walk: &mut Walk, now_ms: u64, applied: &mut Applied) -> Result<bool, ProxyError> {
    let store = &core.shared.store;
    let Some(bucket) = store.bucket(&walk.bucket).await? else {
        return Ok(false);
    };
    let rules = rules_of(&bucket);
    if rules.is_empty() {
        return Ok(false);
    }
    let query = VersionQuery {
        key_marker: walk.key_marker.clone(),
        version_marker: walk.version_marker,
        max_keys: PAGE,
        ..VersionQuery::default()
    };
    let page = match store.list_versions(&walk.bucket, &query).await {
        Err(StoreError::NoSuchBucket(_)) => return Ok(false),
        other => other?,
    };
    let day_secs = core.shared.cfg.lifecycle.day_secs;
    let versions = &page.versions;
    for (i, v) in versions.iter().enumerate() {
        let key = v.key.as_str();
        if v.is_latest {
            walk.last = Some((key.to_owned(), v.meta.last_modified_ms, 0));
            if v.meta.delete_marker {
                let alone = match versions.get(i + 1) {
                    Some(next) => next.key != v.key,
                    None => only_version(core, &walk.bucket, key).await?,
                };
                let eodm = |r: &&&LifecycleRule| {
                    r.expiration == Some(Expiration::ExpiredObjectDeleteMarker) && key.starts_with(&r.filter.prefix)
                };
                if alone && rules.iter().any(|r| eodm(&r)) {
                    remove(core, &walk.bucket, key, &v.meta, applied, false).await;
                }
                continue;
            }
            let due = rules
                .iter()
                .filter(|r| crate::s3::lifecycle::covers(r, key, &v.meta))
                .filter_map(|r| r.current_due_ms(v.meta.last_modified_ms, day_secs))
                .min();
            if due.is_some_and(|d| now_ms >= d) {
                expire(core, &bucket, key, &v.meta, applied).await;
            }
            continue;
        }
        // A noncurrent version: replaced when the version above it was written.
        let (replaced_ms, index) = match &walk.last {
            Some((k, at, n)) if k == key => (*at, *n),
            // Its key's newer versions were on an earlier page the walk did not see: start over
            // from this one next pass rather than guess.
            _ => (u64::MAX, 0),
        };
        walk.last = Some((key.to_owned(), v.meta.last_modified_ms, index + 1));
        let due = rules
            .iter()
            .filter(|r| r.filter.covers(key, v.meta.size, &v.meta.tags))
            .filter_map(|r| r.noncurrent)
            .filter(|n| n.newer_versions.is_none_or(|keep| index >= keep))
            .map(|n| due_ms(replaced_ms, n.days, day_secs))
            .min();
        if due.is_some_and(|d| now_ms >= d) {
            remove(core, &walk.bucket, key, &v.meta, applied, false).await;
        }
    }
    walk.key_marker.clone_from(&page.next_key_marker);
    walk.version_marker = page.next_version_marker.as_deref().and_then(VersionRef::parse);
    Ok(page.is_truncated)
}

/// Whether the delete marker that is `key`'s latest version is its only one.
async fn only_version(core: &Core, bucket: &str, key: &str) -> Result<bool, ProxyError> {
    let query = VersionQuery {
        prefix: key.to_owned(),
        max_keys: 2,
        ..VersionQuery::default()
    };
    let page = core.shared.store.list_versions(bucket, &query).await?;
    Ok(page.versions.iter().filter(|v| v.key == key).count() == 1)
}

/// Expires the current version `meta` of `key`.
async fn expire(core: &Core, bucket: &BucketMeta, key: &str, meta: &ObjectMeta, applied: &mut Applied) {
    if bucket.settings.versioning == Versioning::Unversioned {
        return remove(core, &bucket.name, key, meta, applied, true).await;
    }
    core.shared.cache.forget(&bucket.name, key);
    match core.shared.store.delete_object(&bucket.name, key).await {
        Ok(deleted) => {
            applied.expired += 1;
            if let Some(marker) = deleted.marker {
                crate::records::write_version(core, &bucket.name, key, &marker).await;
            }
        }
        Err(e) => warn!(bucket = %bucket.name, key, error = %e, "lifecycle: not expired"),
    }
}

/// Removes version `meta` of `key` for good (`current`: counted as an expiration).
async fn remove(core: &Core, bucket: &str, key: &str, meta: &ObjectMeta, applied: &mut Applied, current: bool) {
    let Some(version) = VersionRef::parse(&meta.version_id()) else {
        return;
    };
    core.shared.cache.forget(bucket, key);
    match core.shared.store.delete_version(bucket, key, version, false).await {
        Ok(Some(gone)) => {
            if current {
                applied.expired += 1;
            } else {
                applied.removed += 1;
            }
            if gone.delete_marker {
                crate::records::forget_marker(core, bucket, key, &gone).await;
            }
        }
        Ok(None) => {}
        Err(StoreError::Locked { .. }) => applied.locked += 1,
        Err(e) => warn!(bucket, key, error = %e, "lifecycle: version not removed"),
    }
}
