//! Offline commands: work on the metadata store and the backends without serving, on the calling
//! thread (one monoio runtime, one [`Core`] with its own backend clients). The CLI takes the data
//! directory's lock first, so no proxy runs on the same store meanwhile. `sync` imports a
//! backend's foreign objects as `POST {ui}/api/sync` does ([`crate::admin_port::import`]);
//! `rebuild-index` is [`crate::rebuild`].

use std::sync::Arc;

use s3o_store::Store;
use thiserror::Error;

use crate::admin_port::import::{sync_with, SyncOptions};
use crate::config::Config;
use crate::state::{Core, Shared};

/// Why an offline command could not run.
#[derive(Debug, Error)]
pub enum OfflineError {
    /// The shared state or a backend client could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// The I/O runtime could not be built.
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    /// The command itself failed.
    #[error("{0}")]
    Failed(String),
}

/// Runs `work` on a core over `cfg` and `store`, on this thread, until it ends.
pub fn run_on_core<T>(cfg: Config, store: Store, work: impl AsyncFnOnce(&Core) -> T) -> Result<T, OfflineError> {
    let shared = Arc::new(Shared::new(cfg, store).map_err(|e| OfflineError::Setup(crate::server::startup_cause(&e)))?);
    let core = Core::new(shared, 0).map_err(|e| OfflineError::Setup(crate::server::startup_cause(&e)))?;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .map_err(OfflineError::Runtime)?;
    Ok(rt.block_on(work(&core)))
}

/// `s3-orchestrator sync`: imports the objects of `backend` (under `options.prefix`) into bucket
/// `bucket`, or with `options.dry_run` counts what it would import; resolves to (imported,
/// skipped).
pub fn sync(
    cfg: Config,
    store: Store,
    backend: &str,
    bucket: &str,
    options: &SyncOptions,
) -> Result<(u64, u64), OfflineError> {
    let outcome = run_on_core(cfg, store, async |core: &Core| {
        sync_with(core, backend, bucket, options).await
    })?;
    let done = outcome.map_err(|e| OfflineError::Failed(e.to_string()))?;
    Ok((done.imported, done.skipped))
}
