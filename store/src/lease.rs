//! Worker leases: a named right to run a background worker, held by one instance until it
//! expires unless renewed, so a worker runs on exactly one of the proxies sharing a store and
//! moves to another when its holder dies. [`LocalLeases`] keeps them in memory for an engine that
//! only one process uses (sled); a shared engine keeps them in its database, on its own clock.
//! Beside them, the configuration one instance publishes for the others ([`SharedConfig`]).

use std::collections::BTreeMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::rules::now_ms;

/// A lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lease's name (a worker's name).
    pub name: String,
    /// The instance holding it.
    pub holder: String,
    /// When it expires unless renewed, milliseconds since the Unix epoch (by the store's clock).
    pub expires_ms: u64,
}

/// Leases in memory, for an engine one process owns.
#[derive(Debug, Default)]
pub(crate) struct LocalLeases(Mutex<BTreeMap<String, Lease>>);

impl LocalLeases {
    /// Takes or renews `name` for `holder` for `ttl_ms` if it is free, expired or `holder`'s;
    /// returns the lease as it then stands.
    pub(crate) fn acquire(&self, name: &str, holder: &str, ttl_ms: u64) -> Lease {
        let now = now_ms();
        let mut leases = self.0.lock();
        let lease = leases.entry(name.to_owned()).or_insert_with(|| Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            expires_ms: 0,
        });
        if lease.holder == holder || lease.expires_ms < now {
            lease.holder = holder.to_owned();
            lease.expires_ms = now.saturating_add(ttl_ms);
        }
        lease.clone()
    }

    /// Gives `name` up if `holder` holds it.
    pub(crate) fn release(&self, name: &str, holder: &str) {
        let mut leases = self.0.lock();
        if leases.get(name).is_some_and(|l| l.holder == holder) {
            leases.remove(name);
        }
    }

    /// Every lease, by name.
    pub(crate) fn all(&self) -> Vec<Lease> {
        self.0.lock().values().cloned().collect()
    }
}

/// The live part of the configuration as one instance published it for the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedConfig {
    /// Increases with every publication.
    pub generation: u64,
    /// The instance that published it.
    pub origin: String,
    /// The document (the publisher's config file, as written).
    pub document: String,
}

/// The shared configuration in memory, for an engine one process owns.
#[derive(Debug, Default)]
pub(crate) struct LocalConfig(Mutex<Option<SharedConfig>>);

impl LocalConfig {
    /// Publishes `document` as the next generation; returns it.
    pub(crate) fn publish(&self, origin: &str, document: &str) -> u64 {
        let mut current = self.0.lock();
        let generation = current.as_ref().map_or(0, |c| c.generation) + 1;
        *current = Some(SharedConfig {
            generation,
            origin: origin.to_owned(),
            document: document.to_owned(),
        });
        generation
    }

    /// The document if its generation is above `generation`.
    pub(crate) fn after(&self, generation: u64) -> Option<SharedConfig> {
        self.0.lock().clone().filter(|c| c.generation > generation)
    }
}

/// What an engine one process owns keeps in memory of the instance's coordination: its id, its
/// worker leases, the configuration it published.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) instance: String,
    pub(crate) leases: LocalLeases,
    pub(crate) config: LocalConfig,
}

impl Default for Local {
    fn default() -> Self {
        Self {
            instance: new_instance_id(),
            leases: LocalLeases::default(),
            config: LocalConfig::default(),
        }
    }
}

/// Implements the instance and lease calls of [`Engine`](crate::Engine) over the [`Local`] in
/// field `$local` of the engine.
macro_rules! local_coordination {
    ($local:ident) => {
        fn instance(&self) -> String {
            self.$local.instance.clone()
        }

        fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreFuture<crate::lease::Lease> {
            ready(Ok(self.$local.leases.acquire(name, holder, ttl_ms)))
        }

        fn release_lease(&self, name: &str, holder: &str) -> StoreFuture<()> {
            self.$local.leases.release(name, holder);
            ready(Ok(()))
        }

        fn leases(&self) -> StoreFuture<Vec<crate::lease::Lease>> {
            ready(Ok(self.$local.leases.all()))
        }

        fn publish_config(&self, origin: &str, document: &str) -> StoreFuture<u64> {
            ready(Ok(self.$local.config.publish(origin, document)))
        }

        fn config_after(&self, generation: u64) -> StoreFuture<Option<crate::lease::SharedConfig>> {
            ready(Ok(self.$local.config.after(generation)))
        }
    };
}
pub(crate) use local_coordination;

/// A fresh instance id: unique per process start (time, process id, a random hash seed).
pub(crate) fn new_instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}
