//! Live state: what may change while the proxy runs (credentials, virtual buckets and their
//! placement, backends, quotas) as one immutable [`Snapshot`] with a generation number.
//!
//! [`Live`] holds the current snapshot. Publishing a new one (SIGHUP reload, admin changes) bumps
//! an atomic generation; each core compares that number with its own copy between requests (one
//! atomic load, no lock on the request path) and, when it moved, takes the new snapshot and
//! rebuilds the clients of exactly the backends whose settings changed ([`BackendSet`]), so the
//! connection pools of the others survive a reload. A request keeps the snapshot it started with
//! until it ends.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use s3o_sigv4::CredentialProvider;

use crate::backend::Backend;
use crate::config::ReplicationMode;
use crate::config::{Access, BackendConfig, Config, CredentialConfig, Limits, Placement};
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::orchestrator::health::Breakers;
use crate::orchestrator::policy::{Labels, Policy};
use s3o_admin::access::records::Permission;
use s3o_admin::access::s3view::S3Access;

/// Where a bucket's objects may go, and how many copies each gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPlacement {
    /// Backend names in order.
    pub backends: Vec<String>,
    /// Strategy.
    pub placement: Placement,
    /// Copies per object and the rules over the labels of the backends holding them.
    pub policy: Policy,
    /// How the copies of a new object are written.
    pub mode: ReplicationMode,
    /// Synchronous mode: copies that must succeed for a write to succeed (1..=factor).
    pub quorum: usize,
    /// Whether new objects are encrypted at rest.
    pub encrypt: bool,
}

impl BucketPlacement {
    /// The placement of a bucket configured with these settings.
    fn new(
        cfg: &Config,
        backends: &[String],
        placement: Placement,
        own: (Option<u32>, &[String], &Labels, &Labels),
        encrypt: Option<bool>,
    ) -> BucketPlacement {
        let factor = cfg.factor(own.0);
        let quorum = match cfg.replication.write_quorum as usize {
            0 => factor,
            q => q.min(factor),
        };
        BucketPlacement {
            backends: backends.to_vec(),
            placement,
            policy: Policy {
                factor,
                distinct: own.1.to_vec(),
                require: own.2.clone(),
                require_one: own.3.clone(),
            },
            mode: cfg.replication.mode,
            quorum,
            encrypt: encrypt.unwrap_or(cfg.encryption.enabled),
        }
    }
}

/// One generation of the live state. Immutable: a change publishes a new snapshot.
#[derive(Debug)]
pub struct Snapshot {
    /// Starts at 1 and grows by one per published change.
    pub generation: u64,
    /// The backends, in configured order.
    pub backends: Vec<Arc<BackendConfig>>,
    /// Access key → credential.
    pub creds: HashMap<String, Arc<CredentialConfig>>,
    /// Configured buckets.
    pub buckets: HashMap<String, BucketPlacement>,
    /// Placement of buckets created through the API.
    pub defaults: BucketPlacement,
    /// Store-managed credentials and anonymous bindings (the access layer's).
    pub access: Arc<StoreAccess>,
}

/// The access layer's part of the live state: what the store held at one guard revision.
#[derive(Debug, Default)]
pub struct StoreAccess {
    /// The store's guard revision this was read at.
    pub revision: u64,
    /// Access key → credential (enabled ones only).
    pub creds: HashMap<String, Arc<CredentialConfig>>,
    /// Bucket → requests per second per address (0: the default) of its anonymous binding.
    pub anonymous: HashMap<String, u32>,
    /// UI-managed backends (enabled, secret opened): S3 endpoints whose own buckets the data
    /// API reaches directly; never placement targets (their `bucket` is empty).
    pub endpoints: Vec<Endpoint>,
}

/// A UI-managed backend in the live state.
#[derive(Debug)]
pub struct Endpoint {
    /// Its display name.
    pub display: String,
    /// How to reach it (named by its id; no bucket of ours).
    pub cfg: Arc<BackendConfig>,
}

impl StoreAccess {
    /// The live form of what the store holds.
    pub fn from_view(view: &S3Access) -> StoreAccess {
        let creds = view
            .credentials
            .iter()
            .map(|c| {
                let cred = CredentialConfig {
                    access_key: c.access_key.clone(),
                    secret_key: c.secret.clone(),
                    buckets: c.buckets.clone(),
                    access: match c.permission {
                        Permission::ReadOnly => Access::ReadOnly,
                        Permission::ReadWrite => Access::ReadWrite,
                    },
                    // The seed's keys have full access within their buckets, bucket creation
                    // included; a read-only key creates nothing.
                    create_buckets: c.permission == Permission::ReadWrite,
                    bypass_governance: false,
                    expires_ms: c.expires_ms,
                    owner_id: c.user_id.clone(),
                    unsigned: false,
                    scope_granted: c.scope_granted,
                };
                (c.access_key.clone(), Arc::new(cred))
            })
            .collect();
        let anonymous = view
            .bindings
            .iter()
            .map(|b| (b.bucket.clone(), b.per_source_ip_rps))
            .collect();
        let endpoints = view
            .endpoints
            .iter()
            .map(|e| Endpoint {
                display: e.name.clone(),
                cfg: Arc::new(BackendConfig::endpoint(
                    &e.id,
                    &e.endpoint,
                    &e.region,
                    e.path_style,
                    (&e.access_key, &e.secret),
                )),
            })
            .collect();
        StoreAccess {
            revision: view.revision,
            creds,
            anonymous,
            endpoints,
        }
    }
}

impl Snapshot {
    /// The live part of `cfg`, as generation `generation`.
    pub fn from_config(cfg: &Config, generation: u64) -> Snapshot {
        let creds = cfg
            .credentials
            .iter()
            .map(|c| (c.access_key.clone(), Arc::new(c.clone())))
            .collect();
        let buckets = cfg
            .buckets
            .iter()
            .map(|b| {
                let own = (b.replication, &b.distinct[..], &b.require, &b.require_one);
                (
                    b.name.clone(),
                    BucketPlacement::new(cfg, &b.backends, b.placement, own, b.encrypt),
                )
            })
            .collect();
        let defaults = match &cfg.defaults {
            Some(d) => {
                let own = (d.replication, &d.distinct[..], &d.require, &d.require_one);
                BucketPlacement::new(cfg, &d.backends, d.placement, own, d.encrypt)
            }
            None => {
                let all: Vec<String> = cfg.backends.iter().map(|b| b.name.clone()).collect();
                let none = Labels::new();
                BucketPlacement::new(cfg, &all, Placement::Pack, (None, &[], &none, &none), None)
            }
        };
        Snapshot {
            generation,
            backends: cfg.backends.iter().cloned().map(Arc::new).collect(),
            creds,
            buckets,
            defaults,
            access: Arc::default(),
        }
    }

    /// The placement of `bucket` (a configured bucket's own, else the defaults).
    pub fn placement(&self, bucket: &str) -> &BucketPlacement {
        self.buckets.get(bucket).unwrap_or(&self.defaults)
    }

    /// The settings of the backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&Arc<BackendConfig>> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The UI-managed backend `id` (an S3 endpoint of the access layer's).
    pub fn endpoint(&self, id: &str) -> Option<&Arc<BackendConfig>> {
        self.access.endpoints.iter().map(|e| &e.cfg).find(|b| b.name == id)
    }

    /// The labels of backend `name` (empty for an unknown one).
    pub fn labels(&self, name: &str) -> &Labels {
        static NONE: Labels = Labels::new();
        self.backend(name).map_or(&NONE, |b| &b.labels)
    }

    /// The quota of backend `name` in bytes; `None` = unlimited (or no such backend).
    pub fn quota(&self, name: &str) -> Option<u64> {
        self.backend(name).and_then(|b| b.quota_bytes)
    }
}

impl CredentialProvider for Snapshot {
    type Identity = Arc<CredentialConfig>;

    /// The configuration's credentials first, then the store's.
    fn lookup(&self, access_key: &str) -> Option<(&str, Arc<CredentialConfig>)> {
        self.creds
            .get(access_key)
            .or_else(|| self.access.creds.get(access_key))
            .map(|c| (c.secret_key.as_str(), c.clone()))
    }
}

/// The current snapshot, shared by every core.
#[derive(Debug)]
pub struct Live {
    /// The generation of `current`, readable without the lock.
    generation: AtomicU64,
    /// The current snapshot; locked only to publish or to pick up a new generation.
    current: RwLock<Arc<Snapshot>>,
}

impl Live {
    /// Live state starting at generation 1 from `cfg`.
    pub fn new(cfg: &Config) -> Live {
        Live {
            generation: AtomicU64::new(1),
            current: RwLock::new(Arc::new(Snapshot::from_config(cfg, 1))),
        }
    }

    /// The current generation (one atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    /// Publishes the live part of `cfg` as the next generation (the store's credentials kept);
    /// returns it.
    pub fn publish(&self, cfg: &Config) -> Arc<Snapshot> {
        let mut current = self.current.write();
        let mut next = Snapshot::from_config(cfg, current.generation + 1);
        next.access = current.access.clone();
        let next = Arc::new(next);
        *current = next.clone();
        self.generation.store(next.generation, Ordering::Release);
        next
    }
}

impl Live {
    /// Publishes the store's credentials and bindings as the next generation (the configured
    /// part kept); returns it.
    pub fn publish_access(&self, view: &S3Access) -> Arc<Snapshot> {
        let access = Arc::new(StoreAccess::from_view(view));
        let mut current = self.current.write();
        let next = Arc::new(Snapshot {
            generation: current.generation + 1,
            backends: current.backends.clone(),
            creds: current.creds.clone(),
            buckets: current.buckets.clone(),
            defaults: current.defaults.clone(),
            access,
        });
        *current = next.clone();
        self.generation.store(next.generation, Ordering::Release);
        next
    }
}

/// One thread's clients of the backends of a snapshot, rebuilt per backend only when that
/// backend's settings change.
#[derive(Debug)]
pub struct BackendSet {
    generation: u64,
    clients: HashMap<String, (Arc<BackendConfig>, Rc<Backend>)>,
    metrics: Arc<Metrics>,
    breakers: Arc<Breakers>,
}

impl BackendSet {
    /// Clients for every backend of `snap`, counting into `metrics` and reporting to
    /// `breakers`.
    pub fn new(
        snap: &Snapshot,
        limits: &Limits,
        metrics: &Arc<Metrics>,
        breakers: &Arc<Breakers>,
    ) -> Result<BackendSet, ProxyError> {
        let mut set = BackendSet::empty(metrics.clone(), breakers.clone());
        set.sync(snap, limits)?;
        Ok(set)
    }

    /// An empty set whose clients will count into `metrics` and report to `breakers`.
    pub fn empty(metrics: Arc<Metrics>, breakers: Arc<Breakers>) -> BackendSet {
        BackendSet {
            generation: 0,
            clients: HashMap::new(),
            metrics,
            breakers,
        }
    }

    /// Brings the set up to `snap`: new backends get clients, backends whose connection settings
    /// changed get new clients (their old pools close when the last request using them ends; a
    /// quota change alone keeps the client), removed ones are dropped. A
    /// backend whose client cannot be built keeps its old client, and the error is returned
    /// after the others were updated.
    pub fn sync(&mut self, snap: &Snapshot, limits: &Limits) -> Result<(), ProxyError> {
        if self.generation == snap.generation {
            return Ok(());
        }
        let mut failed = None;
        self.clients.retain(|name, _| snap.backend(name).is_some());
        for cfg in &snap.backends {
            if matches!(self.clients.get(&cfg.name), Some((old, _)) if old.kind == cfg.kind) {
                continue;
            }
            let breaker = self.breakers.get(&cfg.name);
            match Backend::new(cfg, limits, self.metrics.backend(&cfg.name), breaker) {
                Ok(b) => {
                    self.clients.insert(cfg.name.clone(), (cfg.clone(), Rc::new(b)));
                }
                Err(e) => failed = Some(e),
            }
        }
        self.generation = snap.generation;
        failed.map_or(Ok(()), Err)
    }

    /// The client of backend `name`.
    pub fn get(&self, name: &str) -> Result<Rc<Backend>, ProxyError> {
        self.clients
            .get(name)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| ProxyError::Internal(format!("unknown backend {name}")))
    }

    /// How many clients the set holds.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether the set holds no client.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(b_path: &str, b_quota: Option<u64>) -> Config {
        let quota = b_quota.map_or(String::new(), |q| format!("quota_bytes = {q}"));
        Config::parse(&format!(
            r#"
[server]
listen = "127.0.0.1:0"
data_dir = "/tmp/unused"
[[backends]]
name = "a"
kind = "fs"
path = "/tmp/s3o-live-a"
[[backends]]
name = "b"
kind = "fs"
path = "{b_path}"
{quota}
[[credentials]]
access_key = "AK"
secret_key = "SK"
"#
        ))
        .unwrap()
    }

    #[test]
    fn only_backends_whose_connection_settings_changed_get_new_clients() {
        let cfg = config("/tmp/s3o-live-b", None);
        let live = Live::new(&cfg);
        let limits = Limits::default();
        let mut set = BackendSet::new(&live.snapshot(), &limits, &Arc::default(), &Arc::default()).unwrap();
        let (a1, b1) = (set.get("a").unwrap(), set.get("b").unwrap());
        // A quota change publishes a generation but keeps both clients.
        let snap = live.publish(&config("/tmp/s3o-live-b", Some(10)));
        assert_eq!((snap.generation, live.generation()), (2, 2));
        assert_eq!(snap.quota("b"), Some(10));
        set.sync(&snap, &limits).unwrap();
        assert!(Rc::ptr_eq(&a1, &set.get("a").unwrap()) && Rc::ptr_eq(&b1, &set.get("b").unwrap()));
        // A moved directory rebuilds b only.
        set.sync(&live.publish(&config("/tmp/s3o-live-b2", Some(10))), &limits)
            .unwrap();
        assert!(Rc::ptr_eq(&a1, &set.get("a").unwrap()));
        assert!(!Rc::ptr_eq(&b1, &set.get("b").unwrap()));
        assert_eq!(set.len(), 2);
        assert!(set.get("c").is_err());
    }

    #[test]
    fn snapshots_resolve_credentials_placement_and_quotas() {
        let snap = Snapshot::from_config(&config("/tmp/x", Some(5)), 1);
        assert_eq!(snap.lookup("AK").map(|(s, _)| s.to_owned()), Some("SK".to_owned()));
        assert!(snap.lookup("nope").is_none());
        assert_eq!(snap.placement("any").backends, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            (snap.quota("a"), snap.quota("b"), snap.quota("zz")),
            (None, Some(5), None)
        );
    }
}
