//! The live configuration shared by the proxies of one store: a SIGHUP reload that succeeds on
//! one instance publishes that instance's config file to the store ([`publish`]), and every
//! other instance's `config_watch` worker applies it within a second ([`ConfigWatch`]) through
//! the same reload as a SIGHUP: its credentials, buckets, backends and quotas replace the
//! instance's own, while each instance keeps its own `[server]`, `[limits]`, `[admin]`, `[ui]`,
//! `[store]` and `[encryption]`. An instance starts from its own file and follows publications made after it
//! started.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::config::Config;
use crate::state::Shared;
use crate::workers::{Tick, Worker};

/// How often an instance looks for a newer shared configuration.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Publishes `text`, the config file an instance just reloaded, for the other instances; the
/// generation it was given. Waits for the store (call it off the cores).
pub fn publish(shared: &Shared, text: &str) -> Result<u64, String> {
    let me = shared.store.instance();
    s3o_store::block_on(shared.store.publish_config(&me, text)).map_err(|e| format!("config not shared: {e}"))
}

/// The config to run when `published` arrives at an instance running `own`: the published live
/// sections with the instance's own local ones.
pub fn merge(own: &Config, published: Config) -> Config {
    Config {
        server: own.server.clone(),
        limits: own.limits.clone(),
        admin: own.admin.clone(),
        ui: own.ui.clone(),
        store: own.store.clone(),
        // Master keys are each instance's own (read once at its start); buckets' `encrypt`
        // travel with the buckets.
        encryption: own.encryption.clone(),
        ..published
    }
}

/// The `config_watch` worker: applies configurations the other instances publish.
pub struct ConfigWatch {
    shared: Arc<Shared>,
    /// The directory paths in published documents are relative to (this instance's config's).
    base: PathBuf,
    /// The last generation seen.
    seen: u64,
}

impl ConfigWatch {
    /// A watcher that applies publications newer than the one current now.
    pub fn start(shared: Arc<Shared>, base: PathBuf) -> Self {
        let seen = match s3o_store::block_on(shared.store.config_after(0)) {
            Ok(current) => current.map_or(0, |c| c.generation),
            Err(e) => {
                warn!(error = %e, "shared config unreadable at start; following from generation 0");
                0
            }
        };
        Self { shared, base, seen }
    }
}

impl Worker for ConfigWatch {
    fn name(&self) -> &'static str {
        "config_watch"
    }

    fn interval(&self) -> Duration {
        WATCH_INTERVAL
    }

    async fn tick(&mut self) -> Result<Tick, String> {
        let Some(published) = self
            .shared
            .store
            .config_after(self.seen)
            .await
            .map_err(|e| format!("shared config: {e}"))?
        else {
            return Ok(Tick::Idle);
        };
        self.seen = published.generation;
        if published.origin == self.shared.store.instance() {
            return Ok(Tick::Idle);
        }
        let cfg = Config::from_text(&published.document, &self.base)
            .map_err(|e| format!("shared config {} from {}: {e}", published.generation, published.origin))?;
        let merged = merge(&self.shared.cfg, cfg);
        // The reload waits on the store and sets backends up: off the cores, on this thread.
        let reloaded = crate::reload::reload(&self.shared, &merged).map_err(|e| {
            format!(
                "shared config {} from {} refused: {e}",
                published.generation, published.origin
            )
        })?;
        info!(
            generation = published.generation,
            origin = %published.origin,
            live_generation = reloaded.generation,
            "applied the configuration another instance published"
        );
        Ok(Tick::Idle)
    }
}
