//! The proxy side of the admin handlers: [`ProxyControl`] implements `s3o_admin::Control` over
//! the store, the live state, the worker registry and the counters. It owns a [`Core`] of its
//! own (backend clients on the admin thread), so admin work never borrows a proxy core's pools.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use s3o_admin::{
    BackendStatus, BoxFuture, CleanupItem, CleanupQueue, Control, Dashboard, DeleteOutcome, Error, LogBuffer, LogLevel,
    Logging, MetricsWriter, ObjectKey, ObjectLocation, ObjectPrefix, Orchestration, QuotaStat, Readiness, Status,
    SyncOutcome, Timestamp, TreePage, TreeQuery, UsageLimit, UsageStat, WorkerHealth, WorkerLease,
};
use s3o_store::CleanupReason;

use crate::error::ProxyError;
use crate::state::Core;
use crate::usage::{period_of, UsageLedger};

/// The id of the admin thread's [`Core`] (it serves no S3 connection).
const ADMIN_CORE: usize = usize::MAX;
/// How long a readiness probe result is reused (load balancers poll often).
const PROBE_TTL: Duration = Duration::from_secs(5);

/// `s3o_admin::Control` for this proxy.
pub struct ProxyControl {
    core: Core,
    logging: Option<Logging>,
    empty_logs: LogBuffer,
    usage: std::sync::Arc<UsageLedger>,
    probes: RefCell<Option<(Instant, Readiness)>>,
    /// The last forced probe of each UI-managed backend (kept out of its history, as the seed
    /// keeps forced probes).
    pub(super) endpoint_probes: RefCell<std::collections::HashMap<String, crate::orchestrator::health::ProbeRecord>>,
    /// Prefix sizes being computed, shared by concurrent requests for the same prefix.
    pub(super) prefix_walks: super::single_flight::SingleFlight<s3o_admin::data::DataResult<(u64, u64)>>,
}

/// An internal failure as the admin API reports it.
fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

impl ProxyControl {
    /// The control over `shared`, with the process's logging handles when it has them.
    pub fn new(shared: std::sync::Arc<crate::state::Shared>, logging: Option<Logging>) -> Result<Self, ProxyError> {
        let usage = shared.usage.clone();
        Ok(ProxyControl {
            core: Core::new(shared, ADMIN_CORE)?,
            logging,
            empty_logs: LogBuffer::new(1),
            usage,
            probes: RefCell::new(None),
            endpoint_probes: RefCell::default(),
            prefix_walks: Default::default(),
        })
    }

    /// The admin thread's core (its backend clients, the store, the live state).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Backend name → (objects, bytes) stored there, from the metadata.
    async fn backend_stats(&self) -> Result<std::collections::BTreeMap<String, (u64, u64)>, Error> {
        let stats = self.core.shared.store.backend_stats().await.map_err(internal)?;
        Ok(stats.into_iter().map(|s| (s.backend, (s.objects, s.bytes))).collect())
    }

    async fn status_now(&self) -> Result<Status, Error> {
        let store = &self.core.shared.store;
        let snap = self.core.snapshot();
        let period = period_of(crate::clock::unix_ms());
        let usage = self
            .usage
            .period_totals(store, &self.core.shared.metrics, &period)
            .await
            .map_err(internal)?;
        let stats = self.backend_stats().await?;
        // Bytes waiting in the cleanup queue that still count against quotas (a read of the
        // queue: it is short while the cleanup worker keeps up).
        let orphans: std::collections::BTreeMap<String, u64> =
            store.orphan_bytes().await.map_err(internal)?.into_iter().collect();
        let mut backends = Vec::with_capacity(snap.backends.len());
        for b in &snap.backends {
            let u = usage.get(&b.name).copied().unwrap_or_default();
            let (objects, _) = stats.get(&b.name).copied().unwrap_or_default();
            let circuit = self.core.shared.breakers.get(&b.name).state(crate::clock::unix_ms());
            backends.push(BackendStatus {
                name: b.name.clone(),
                bytes_used: store.usage(&b.name).await.map_err(internal)?,
                bytes_limit: b.quota_bytes.unwrap_or(0),
                orphan_bytes: orphans.get(&b.name).copied().unwrap_or(0),
                object_count: objects,
                api_requests: u.api_requests,
                egress_bytes: u.egress_bytes,
                ingress_bytes: u.ingress_bytes,
                api_request_limit: b.limits.api_requests.unwrap_or(0),
                egress_byte_limit: b.limits.egress_bytes.unwrap_or(0),
                ingress_byte_limit: b.limits.ingress_bytes.unwrap_or(0),
                healthy: circuit != crate::orchestrator::health::BreakerState::Open,
                circuit: circuit.name().into(),
                draining: self.core.shared.draining.read().contains(&b.name),
            });
        }
        Ok(Status {
            db_healthy: store.health().problem.is_none(),
            backends,
            usage_period: period,
        })
    }

    async fn dashboard_now(&self) -> Result<Dashboard, Error> {
        let status = self.status_now().await?;
        let now = Timestamp::now();
        let uploads = self.core.shared.store.upload_counts().await.map_err(internal)?;
        let mut d = Dashboard {
            backend_order: status.backends.iter().map(|b| b.name.clone()).collect(),
            quota_stats: Default::default(),
            object_counts: Default::default(),
            active_multipart_counts: Default::default(),
            usage_stats: Default::default(),
            usage_limits: Default::default(),
            usage_period: status.usage_period.clone(),
        };
        for b in &status.backends {
            d.quota_stats.insert(
                b.name.clone(),
                QuotaStat {
                    backend_name: b.name.clone(),
                    bytes_used: b.bytes_used,
                    bytes_limit: b.bytes_limit,
                    updated_at: now,
                },
            );
            d.object_counts.insert(b.name.clone(), b.object_count);
            let active = uploads.iter().find(|(n, _)| *n == b.name).map_or(0, |(_, c)| *c);
            d.active_multipart_counts.insert(b.name.clone(), active);
            if b.api_request_limit + b.egress_byte_limit + b.ingress_byte_limit > 0 {
                d.usage_limits.insert(
                    b.name.clone(),
                    UsageLimit {
                        api_request_limit: b.api_request_limit,
                        egress_byte_limit: b.egress_byte_limit,
                        ingress_byte_limit: b.ingress_byte_limit,
                    },
                );
            }
            d.usage_stats.insert(
                b.name.clone(),
                UsageStat {
                    api_requests: b.api_requests,
                    egress_bytes: b.egress_bytes,
                    ingress_bytes: b.ingress_bytes,
                },
            );
        }
        Ok(d)
    }

    async fn locations(&self, key: &ObjectKey) -> Result<Vec<ObjectLocation>, Error> {
        let meta = self
            .core
            .shared
            .store
            .get_object(&key.bucket, &key.key)
            .await
            .map_err(internal)?
            .ok_or_else(|| Error::NotFound(format!("object {}/{} not found", key.bucket, key.key)))?;
        Ok(meta
            .locations
            .iter()
            .map(|l| ObjectLocation {
                object_key: l.physical_key.clone(),
                backend_name: l.backend.clone(),
                size_bytes: meta.size,
                created_at: Timestamp(meta.last_modified_ms),
            })
            .collect())
    }

    async fn queue(&self, limit: usize) -> Result<CleanupQueue, Error> {
        let queue = self.core.shared.store.cleanup_queue(limit).await.map_err(internal)?;
        let depth = queue.depth;
        let items = queue
            .first
            .into_iter()
            .map(|t| CleanupItem {
                id: t.id,
                reason: cleanup_reason(&t),
                backend_name: t.backend,
                object_key: t.physical_key,
                attempts: t.attempts,
                size_bytes: t.size,
            })
            .collect();
        Ok(CleanupQueue { depth, items })
    }

    async fn probe(&self) -> Readiness {
        if let Some((at, r)) = &*self.probes.borrow() {
            // The store's own word on whether it can commit overrides a cached probe at once.
            let store_agrees = r.store.is_ok() == self.core.shared.store.health().problem.is_none();
            if at.elapsed() < PROBE_TTL && store_agrees {
                return r.clone();
            }
        }
        let store = self.core.shared.store.check_writable().await.map_err(|e| e.to_string());
        let snap = self.core.snapshot();
        let mut backends = Vec::with_capacity(snap.backends.len());
        for b in &snap.backends {
            let reachable = match self.core.backend(&b.name) {
                Ok(client) => client.probe().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            backends.push((b.name.clone(), reachable));
        }
        let r = Readiness { store, backends };
        *self.probes.borrow_mut() = Some((Instant::now(), r.clone()));
        r
    }
}

/// Why a cleanup task is queued: `delete_failed` once a deletion was tried and failed (the
/// seed's word), else why its bytes became garbage.
fn cleanup_reason(t: &s3o_store::CleanupTask) -> String {
    if t.attempts > 0 {
        return "delete_failed".to_owned();
    }
    match t.reason {
        CleanupReason::Replaced => "replaced",
        CleanupReason::Deleted => "deleted",
        CleanupReason::UploadAborted => "upload_aborted",
        CleanupReason::UploadParts => "upload_parts",
        CleanupReason::Orphan => "upload_failed",
        CleanupReason::Relocated => "relocated",
        CleanupReason::Unknown => "unknown",
    }
    .to_owned()
}

impl Control for ProxyControl {
    fn data(&self) -> Option<&dyn s3o_admin::data::DataApi> {
        Some(self)
    }

    fn status(&self) -> BoxFuture<'_, s3o_admin::Result<Status>> {
        Box::pin(self.status_now())
    }

    fn workers(&self) -> BoxFuture<'_, Option<Vec<WorkerHealth>>> {
        let registry = &self.core.shared.workers;
        let me = registry.instance();
        let now = crate::clock::unix_ms();
        let list = registry
            .snapshot()
            .into_iter()
            .map(|w| WorkerHealth {
                name: w.name.to_owned(),
                last_success: w.last_success_ms.map(Timestamp),
                last_failure: w.last_failure_ms.map(Timestamp),
                last_error: w.last_error,
                consecutive_failures: w.consecutive_failures,
                ticks: w.ticks,
                lease: w.lease.map(|l| WorkerLease {
                    // This instance's last word from the store: a lease it failed to renew in
                    // time is no longer held here, whoever holds it now.
                    active_here: me == Some(l.holder.as_str()) && l.expires_ms > now,
                    lease_holder: l.holder,
                    lease_expires: Timestamp(l.expires_ms),
                }),
            })
            .collect::<Vec<_>>();
        let started = self.core.shared.workers.started();
        Box::pin(async move { started.then_some(list) })
    }

    fn object_locations<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, s3o_admin::Result<Vec<ObjectLocation>>> {
        Box::pin(self.locations(key))
    }

    fn cleanup_queue(&self, limit: usize) -> BoxFuture<'_, s3o_admin::Result<CleanupQueue>> {
        Box::pin(self.queue(limit))
    }

    fn orchestrate<'a>(&'a self, op: &'a Orchestration) -> BoxFuture<'a, s3o_admin::Result<(u16, serde_json::Value)>> {
        Box::pin(crate::orchestrator::admin::handle(&self.core, op))
    }

    fn flush_usage(&self) -> BoxFuture<'_, s3o_admin::Result<()>> {
        Box::pin(async move {
            self.usage
                .flush(
                    &self.core.shared.store,
                    &self.core.shared.metrics,
                    crate::clock::unix_ms(),
                )
                .await
                .map_err(internal)?;
            crate::usage::refresh_gate(&self.core.shared).await.map_err(internal)
        })
    }

    fn log_level(&self) -> BoxFuture<'_, LogLevel> {
        let level = self.logging.as_ref().map_or(LogLevel::Info, |l| l.level.current());
        Box::pin(async move { level })
    }

    fn set_log_level(&self, level: LogLevel) -> BoxFuture<'_, s3o_admin::Result<()>> {
        let outcome = match &self.logging {
            Some(l) => l.level.set(level),
            None => Err(Error::Unavailable("this process does not control its log level".into())),
        };
        Box::pin(async move { outcome })
    }

    fn dashboard(&self) -> BoxFuture<'_, s3o_admin::Result<Dashboard>> {
        Box::pin(self.dashboard_now())
    }

    fn tree<'a>(&'a self, query: &'a TreeQuery) -> BoxFuture<'a, s3o_admin::Result<TreePage>> {
        Box::pin(super::objects::tree(&self.core, query))
    }

    fn logs(&self) -> &LogBuffer {
        self.logging.as_ref().map_or(&self.empty_logs, |l| &l.buffer)
    }

    fn delete_object<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, s3o_admin::Result<()>> {
        Box::pin(super::objects::delete_object(&self.core, key))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a ObjectPrefix) -> BoxFuture<'a, s3o_admin::Result<DeleteOutcome>> {
        Box::pin(super::objects::delete_prefix(&self.core, prefix))
    }

    fn sync<'a>(
        &'a self,
        backend: &'a str,
        bucket: &'a str,
        prefix: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, s3o_admin::Result<SyncOutcome>> {
        let options = super::import::SyncOptions {
            prefix: prefix.to_string(),
            dry_run,
        };
        Box::pin(async move { super::import::sync_with(&self.core, backend, bucket, &options).await })
    }

    fn readiness(&self) -> BoxFuture<'_, Readiness> {
        Box::pin(self.probe())
    }

    fn write_metrics<'a>(&'a self, out: &'a mut MetricsWriter) -> BoxFuture<'a, ()> {
        Box::pin(super::prometheus::write(&self.core, &self.usage, out))
    }
}
