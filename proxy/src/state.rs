//! What every core shares (the startup configuration, the metadata store, the live state) and
//! what each core owns (signature verifier, its copy of the live snapshot, backend clients and
//! their connection pools).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use s3o_sigv4::{Verifier, VerifierConfig};
use s3o_store::Store;
use tracing::warn;

use crate::backend::Backend;
use crate::config::{BackendKind, Config};
use crate::error::ProxyError;
use crate::live::{BackendSet, Live, Snapshot};
use crate::metrics::{CoreMetrics, Metrics, OpSlots};

/// State shared by every core.
#[derive(Debug)]
pub struct Shared {
    /// The configuration the process started with. Its `server` and `limits` sections apply
    /// for the life of the process; credentials, buckets and backends are read from `live`.
    pub cfg: Config,
    /// The metadata store.
    pub store: Store,
    /// Credentials, buckets, backends and quotas as they are now.
    pub live: Live,
    /// Set when the process should stop accepting work.
    pub shutdown: AtomicBool,
    /// Requests in flight over all cores.
    pub inflight: AtomicUsize,
    /// Request counter for request ids.
    pub requests: AtomicU64,
    /// Memory for uploads of unknown length, over all cores.
    pub unsized_budget: crate::unsized_body::BufferBudget,
    /// The background workers' health records.
    pub workers: Arc<crate::workers::Registry>,
    /// Every core's and backend client's counters.
    pub metrics: Arc<Metrics>,
    /// What of the usage counters reached the store.
    pub usage: Arc<crate::usage::UsageLedger>,
    /// Bodies to delete that the store could not queue yet (see [`crate::orphans`]).
    pub pending_orphans: crate::orphans::PendingOrphans,
    /// The directory of the config file, which relative paths in a configuration published by
    /// another instance are relative to (see [`crate::shared_config`]); unset: the working
    /// directory.
    pub config_dir: std::sync::OnceLock<std::path::PathBuf>,
    /// The certificates of the TLS listeners, once they started (reloaded on SIGHUP).
    pub tls: crate::tls::TlsListeners,
    /// Every backend's circuit breaker.
    pub breakers: Arc<crate::orchestrator::health::Breakers>,
    /// Every backend's usage this month, against its limits.
    pub gate: crate::orchestrator::limits::UsageGate,
    /// Backends being drained: no new copies go to them.
    pub draining: parking_lot::RwLock<std::collections::BTreeSet<String>>,
    /// The access layer, once started (`[access]`).
    pub access: std::sync::OnceLock<Arc<s3o_admin::access::Access>>,
    /// Set by this instance's credential and binding changes, so the sync reloads at once.
    pub access_changed: AtomicBool,
    /// Requests the S3 port refused, by reason.
    pub denials: crate::access::Denials,
    /// Anonymous requests per address and bucket.
    pub anonymous_limits: crate::access::AnonymousLimits,
    /// Bumped whenever this instance changes a bucket's owner or access settings, so every
    /// core drops the bucket records it keeps for ACL checks.
    pub bucket_changes: AtomicU64,
    /// The master keys of encryption at rest, when configured.
    pub keys: Option<Arc<crate::seal::Keyring>>,
    /// Copies that failed a read's hash check, for the scrubber.
    pub suspects: crate::integrity::Suspects,
    /// Bodies of small objects kept in memory (`[cache]`).
    pub cache: crate::cache::ObjectCache,
}

impl Shared {
    /// Prepares the configured buckets and backends and builds the shared state.
    pub fn new(cfg: Config, store: Store) -> Result<Shared, ProxyError> {
        prepare(&cfg, &store, &cfg.backends.iter().collect::<Vec<_>>())?;
        let unsized_budget = crate::unsized_body::BufferBudget::new(cfg.limits.unsized_body_total_bytes);
        let breakers = Arc::new(crate::orchestrator::health::Breakers::new(
            cfg.health.failure_threshold,
            cfg.health.open_secs.saturating_mul(1000),
        ));
        let keys = crate::seal::Keyring::load(&cfg.encryption, std::path::Path::new(""))
            .map_err(ProxyError::Internal)?
            .map(Arc::new);
        Ok(Shared {
            keys,
            suspects: Default::default(),
            cache: crate::cache::ObjectCache::new(cfg.cache.clone()),
            breakers,
            gate: Default::default(),
            draining: Default::default(),
            access: std::sync::OnceLock::new(),
            access_changed: AtomicBool::new(false),
            denials: Default::default(),
            anonymous_limits: Default::default(),
            bucket_changes: AtomicU64::new(0),
            live: Live::new(&cfg),
            cfg,
            store,
            shutdown: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            unsized_budget,
            workers: Arc::default(),
            metrics: Arc::default(),
            usage: Arc::default(),
            pending_orphans: Default::default(),
            config_dir: std::sync::OnceLock::new(),
            tls: Default::default(),
        })
    }

    /// The master keys, or the error a sealed object's read or write gets without them.
    pub fn keyring(&self) -> Result<&crate::seal::Keyring, ProxyError> {
        self.keys.as_deref().ok_or_else(|| {
            ProxyError::Internal(
                "encryption at rest needs a master key ([encryption] key, key_file or key_command)".into(),
            )
        })
    }

    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Whether long-running work (a rebalance, a drain page, a sweep) should stop at its next
    /// step: the process is shutting down or its workers were told to stop.
    pub fn winding_down(&self) -> bool {
        self.stopping() || self.workers.stopping()
    }

    /// A new request id (unique per process start; hex).
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:08X}", crate::clock::unix_now() as u32, n as u32)
    }
}

/// Makes the configured buckets exist in the store and readies the `fs` backends in `fresh`
/// (their directories of interrupted uploads cleared). Waits for the store: call it from the
/// main thread (startup, SIGHUP), never from a core.
pub(crate) fn prepare(cfg: &Config, store: &Store, fresh: &[&crate::config::BackendConfig]) -> Result<(), ProxyError> {
    for b in &cfg.buckets {
        // Startup and reloads run on the main thread: waiting here blocks no core.
        if s3o_store::block_on(store.bucket(&b.name))?.is_none() {
            match s3o_store::block_on(store.create_bucket(&b.name, crate::config::CONFIG_OWNER)) {
                Ok(()) | Err(s3o_store::StoreError::BucketAlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    for b in fresh {
        if let BackendKind::Fs { path } = &b.kind {
            crate::backend::fs::clear_partial_uploads(path)
                .map_err(|e| ProxyError::Internal(format!("backend {}: clearing partial uploads: {e}", b.name)))?;
        }
    }
    Ok(())
}

/// What one core holds of the live state: its snapshot and its backend clients.
#[derive(Debug)]
struct CoreLive {
    snap: Arc<Snapshot>,
    backends: BackendSet,
}

/// State owned by one core (thread).
#[derive(Debug)]
pub struct Core {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// This core's verifier (signing-key cache).
    pub verifier: Verifier,
    /// Index of this core.
    pub id: usize,
    /// What this core counts.
    pub metrics: Arc<CoreMetrics>,
    /// This core's snapshot and backend clients, refreshed between requests.
    live: RefCell<CoreLive>,
    /// Where this core counts each operation.
    op_slots: RefCell<OpSlots>,
    /// Bucket records for ACL checks.
    pub views: crate::s3::permit::ViewCache,
}

impl Core {
    /// Builds a core's state.
    pub fn new(shared: Arc<Shared>, id: usize) -> Result<Core, ProxyError> {
        let snap = shared.live.snapshot();
        let backends = BackendSet::new(&snap, &shared.cfg.limits, &shared.metrics, &shared.breakers)?;
        let metrics = shared.metrics.core();
        let verifier = Verifier::new(VerifierConfig {
            region: shared.cfg.server.region.clone(),
            ..VerifierConfig::default()
        });
        Ok(Core {
            shared,
            verifier,
            id,
            metrics,
            live: RefCell::new(CoreLive { snap, backends }),
            op_slots: RefCell::default(),
            views: Default::default(),
        })
    }

    /// The current snapshot. When a new generation was published since this core last looked,
    /// takes it and rebuilds the clients of the backends that changed; otherwise one atomic load.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let generation = self.shared.live.generation();
        let mut live = self.live.borrow_mut();
        if live.snap.generation != generation {
            let snap = self.shared.live.snapshot();
            if let Err(e) = live.backends.sync(&snap, &self.shared.cfg.limits) {
                warn!(core = self.id, error = %e, "a changed backend's client could not be built; its old one stays");
            }
            live.snap = snap;
        }
        live.snap.clone()
    }

    /// Counts one finished request of `operation` (no lock: this core's own counters).
    pub fn record_request(&self, operation: &'static str, status: u16, took: std::time::Duration) {
        let slot = self.op_slots.borrow_mut().slot(&self.shared.metrics, operation);
        self.metrics.record(slot, status, took);
    }

    /// This core's client of the backend called `name`.
    pub fn backend(&self, name: &str) -> Result<Rc<Backend>, ProxyError> {
        self.live.borrow().backends.get(name)
    }
}
