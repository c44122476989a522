//! What every core shares (configuration, metadata store, credentials, bucket placement) and what
//! each core owns (signature verifier, backend clients and their connection pools).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use s3o_sigv4::{CredentialProvider, Verifier, VerifierConfig};
use s3o_store::Store;

use crate::backend::Backend;
use crate::config::{BucketConfig, Config, CredentialConfig, Placement};
use crate::error::ProxyError;

/// Where a bucket's objects may go.
#[derive(Debug, Clone)]
pub struct BucketPlacement {
    /// Backend names in order.
    pub backends: Vec<String>,
    /// Strategy.
    pub placement: Placement,
}

/// State shared by every core.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub cfg: Config,
    /// The metadata store.
    pub store: Store,
    /// Access key → credential.
    pub creds: HashMap<String, Arc<CredentialConfig>>,
    /// Configured buckets.
    pub buckets: HashMap<String, BucketPlacement>,
    /// Placement of buckets created through the API.
    pub defaults: BucketPlacement,
    /// Backend name → quota.
    pub quotas: HashMap<String, Option<u64>>,
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
}

impl Shared {
    /// Opens the store and creates the configured buckets.
    pub fn new(cfg: Config, store: Store) -> Result<Shared, ProxyError> {
        let creds = cfg
            .credentials
            .iter()
            .map(|c| (c.access_key.clone(), Arc::new(c.clone())))
            .collect();
        let buckets: HashMap<String, BucketPlacement> = cfg
            .buckets
            .iter()
            .map(|b: &BucketConfig| {
                (
                    b.name.clone(),
                    BucketPlacement {
                        backends: b.backends.clone(),
                        placement: b.placement,
                    },
                )
            })
            .collect();
        let defaults = match &cfg.defaults {
            Some(d) => BucketPlacement {
                backends: d.backends.clone(),
                placement: d.placement,
            },
            None => BucketPlacement {
                backends: cfg.backends.iter().map(|b| b.name.clone()).collect(),
                placement: Placement::Pack,
            },
        };
        for name in buckets.keys() {
            // Startup, on the main thread: waiting here blocks no core.
            if s3o_store::block_on(store.bucket(name))?.is_none() {
                match s3o_store::block_on(store.create_bucket(name, "config")) {
                    Ok(()) | Err(s3o_store::StoreError::BucketAlreadyExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for b in &cfg.backends {
            if let crate::config::BackendKind::Fs { path } = &b.kind {
                crate::backend::fs::clear_partial_uploads(path)
                    .map_err(|e| ProxyError::Internal(format!("backend {}: clearing partial uploads: {e}", b.name)))?;
            }
        }
        let quotas = cfg.backends.iter().map(|b| (b.name.clone(), b.quota_bytes)).collect();
        let unsized_budget = crate::unsized_body::BufferBudget::new(cfg.limits.unsized_body_total_bytes);
        Ok(Shared {
            cfg,
            store,
            creds,
            buckets,
            defaults,
            quotas,
            shutdown: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            unsized_budget,
            workers: Arc::default(),
        })
    }

    /// The placement of `bucket`.
    pub fn placement(&self, bucket: &str) -> &BucketPlacement {
        self.buckets.get(bucket).unwrap_or(&self.defaults)
    }

    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// A new request id (unique per process start; hex).
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:08X}", crate::clock::unix_now() as u32, n as u32)
    }
}

impl CredentialProvider for Shared {
    type Identity = Arc<CredentialConfig>;

    fn lookup(&self, access_key: &str) -> Option<(&str, Arc<CredentialConfig>)> {
        self.creds.get(access_key).map(|c| (c.secret_key.as_str(), c.clone()))
    }
}

/// State owned by one core (thread).
#[derive(Debug)]
pub struct Core {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// This core's verifier (signing-key cache).
    pub verifier: Verifier,
    /// This core's backend clients, by name.
    pub backends: HashMap<String, Rc<Backend>>,
    /// Index of this core.
    pub id: usize,
}

impl Core {
    /// Builds a core's state.
    pub fn new(shared: Arc<Shared>, id: usize) -> Result<Core, ProxyError> {
        let mut backends = HashMap::new();
        for b in &shared.cfg.backends {
            backends.insert(b.name.clone(), Rc::new(Backend::new(b, &shared.cfg.limits)?));
        }
        let verifier = Verifier::new(VerifierConfig {
            region: shared.cfg.server.region.clone(),
            ..VerifierConfig::default()
        });
        Ok(Core {
            shared,
            verifier,
            backends,
            id,
        })
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Result<&Rc<Backend>, ProxyError> {
        self.backends
            .get(name)
            .ok_or_else(|| ProxyError::Internal(format!("unknown backend {name}")))
    }
}
