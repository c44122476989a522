//! Applying a changed configuration to a running proxy (SIGHUP, `admin` changes): the new
//! credentials, buckets, backends and quotas are checked, readied and published as the next
//! live-state generation ([`crate::live`]); connections stay open and pick it up at their next
//! request. What only a restart can change (`[server]`, `[limits]`) is reported, not applied.

use std::fs::File;
use std::sync::Arc;

use tracing::{info, warn};

use crate::backend::Backend;
use crate::config::{BackendConfig, BackendKind, Config};
use crate::state::{prepare, Shared};

/// The file created and removed in each `fs` backend directory to check it is writable.
const WRITE_CHECK_FILE: &str = ".s3o-write-check";

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The generation now current (unchanged when nothing live changed).
    pub generation: u64,
    /// Whether the live part of the config changed (and a new generation was published).
    pub changed: bool,
    /// Sections that differ but apply only after a restart.
    pub needs_restart: Vec<&'static str>,
}

/// Checks `new` against the running proxy and publishes its live part. Refused, with the
/// reason and nothing changed, when a backend that still holds objects would disappear or a
/// new or changed backend cannot be set up.
pub fn reload(shared: &Shared, new: &Config) -> Result<Reloaded, String> {
    let mut needs_restart = Vec::new();
    // Certificate files are re-read on SIGHUP (crate::tls); the rest of [server] needs a restart.
    let without_certs = |s: &crate::config::ServerConfig| crate::config::ServerConfig {
        tls_cert_file: None,
        tls_key_file: None,
        ..s.clone()
    };
    if without_certs(&new.server) != without_certs(&shared.cfg.server) {
        needs_restart.push("[server]");
    }
    if new.limits != shared.cfg.limits {
        needs_restart.push("[limits]");
    }
    let current = shared.live.snapshot();
    for old in &current.backends {
        if new.backends.iter().any(|b| b.name == old.name) {
            continue;
        }
        // SIGHUP reloads run on the main thread: waiting here blocks no core.
        let used = s3o_store::block_on(shared.store.usage(&old.name))
            .map_err(|e| format!("backend '{}': usage unreadable: {e}", old.name))?;
        if used > 0 {
            return Err(format!(
                "backend '{}' still holds {used} bytes of objects; it cannot be removed from the config",
                old.name
            ));
        }
    }
    let fresh: Vec<&BackendConfig> = new
        .backends
        .iter()
        .filter(|b| current.backend(&b.name).is_none_or(|old| **old != **b))
        .collect();
    check_fs_backends(&fresh)?;
    for b in &fresh {
        Backend::new(b, &shared.cfg.limits, Arc::default(), shared.breakers.get(&b.name))
            .map_err(|e| format!("backend '{}': {e}", b.name))?;
    }
    prepare(new, &shared.store, &fresh).map_err(|e| crate::server::startup_cause(&e))?;
    let live_now = crate::live::Snapshot::from_config(new, current.generation);
    let changed = !same_live_state(&live_now, &current);
    let generation = if changed {
        shared.live.publish(new).generation
    } else {
        current.generation
    };
    if !needs_restart.is_empty() {
        warn!(sections = ?needs_restart, "config reload: these sections changed and apply only after a restart");
    }
    info!(generation, changed, backends_rebuilt = fresh.len(), "config reloaded");
    Ok(Reloaded {
        generation,
        changed,
        needs_restart,
    })
}

/// Whether two snapshots hold the same credentials, buckets and backends.
fn same_live_state(a: &crate::live::Snapshot, b: &crate::live::Snapshot) -> bool {
    a.backends == b.backends && a.creds == b.creds && a.buckets == b.buckets && a.defaults == b.defaults
}

/// Checks every `fs` backend directory of `backends` exists (creating it), is writable and lets
/// its files carry user extended attributes, so a bad path fails when it is configured rather
/// than on the first upload.
pub fn check_fs_backends(backends: &[&BackendConfig]) -> Result<(), String> {
    for b in backends {
        let BackendKind::Fs { path } = &b.kind else { continue };
        let what = |e: std::io::Error, doing: &str| {
            format!("backend '{}': directory {}: {doing}: {e}", b.name, path.display())
        };
        std::fs::create_dir_all(path).map_err(|e| what(e, "cannot create it"))?;
        let probe = path.join(WRITE_CHECK_FILE);
        File::create(&probe).map_err(|e| what(e, "not writable"))?;
        std::fs::remove_file(&probe).map_err(|e| what(e, "not writable"))?;
        // Every object file carries its bucket, key and version as user xattrs (design rule 6):
        // a filesystem that cannot keep them would lose what rebuilds the index.
        crate::backend::xattr::probe_dir(path).map_err(|e| {
            what(
                e,
                "files here cannot carry user extended attributes (user.s3o.*), which the index rebuild needs; use a filesystem with user xattrs (ext4, xfs, btrfs, tmpfs)",
            )
        })?;
    }
    Ok(())
}
