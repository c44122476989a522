//! The sled engine: the metadata model kept in sled trees (the layout is in [`layout`]), one sled
//! transaction per mutation, made durable by a group-commit flush shared by concurrent writers
//! ([`commit`]). Reservations live in an in-memory ledger ([`quota`]): one proxy owns a sled
//! store.
//!
//! The engine answers during the call: reads return a ready future, and a mutation runs its
//! transaction during the call and returns a future that resolves when the flush that follows
//! has made it durable (see [`engine`] for the [`Engine`](crate::Engine) implementation). The
//! inherent methods of [`SledEngine`] in the submodules are those synchronous halves.
//!
//! A [`SledEngine`] that failed to commit stays failed; a store opened from a directory is a
//! [`recover::Recovering`] engine around one, which replaces it by a reopened one once the
//! directory takes writes again.

mod buckets;
mod cleanup;
mod commit;
mod docs;
mod engine;
mod error;
mod layout;
mod list;
mod multipart;
mod objects;
mod quota;
pub(crate) mod recover;
mod relocate;
mod replication;
mod restore;
mod scan;
mod stats;
mod versions;
mod versions_list;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::error::Result;
use commit::GroupCommit;
use quota::Ledger;

/// The sled engine of one store; the last [`Store`](crate::Store) clone dropping it flushes what
/// is pending and stops the flusher thread.
pub(crate) struct SledEngine {
    db: sled::Db,
    buckets: sled::Tree,
    objects: sled::Tree,
    versions: sled::Tree,
    usage: sled::Tree,
    cleanup: sled::Tree,
    cleanup_due: sled::Tree,
    uploads: sled::Tree,
    upload_keys: sled::Tree,
    parts: sled::Tree,
    completed: sled::Tree,
    backend_stats: sled::Tree,
    usage_counters: sled::Tree,
    replication: sled::Tree,
    replication_due: sled::Tree,
    states: sled::Tree,
    docs: sled::Tree,
    meta: sled::Tree,
    /// Tasks in `cleanup`: counted once at open, then kept by the transactions that change it.
    cleanup_depth: AtomicU64,
    /// Tasks in `replication`, kept like `cleanup_depth`.
    replication_depth: AtomicU64,
    /// Added to sled's ids to make version numbers (see `restore.rs`).
    version_offset: AtomicU64,
    ledger: Arc<Ledger>,
    commits: GroupCommit,
    /// Serialise the changes of one key's versions (see `versions.rs`).
    key_locks: versions::KeyLocks,
    /// This process's id, leases and shared configuration.
    local: crate::lease::Local,
}

impl SledEngine {
    /// Opens (or creates) the store in directory `path`, counting reservations in `ledger` (a
    /// reopened store keeps the ledger of the one it replaces, with the reservations in flight).
    pub(crate) fn open_with(path: &Path, ledger: Arc<Ledger>) -> Result<Self> {
        Self::with_config(sled::Config::new().path(path), ledger)
    }

    /// Opens a fresh store that lives only as long as it is open; for tests.
    pub(crate) fn temporary() -> Result<Self> {
        Self::with_config(sled::Config::new().temporary(true), Arc::default())
    }

    /// Opens a store from a sled configuration.
    fn with_config(config: sled::Config, ledger: Arc<Ledger>) -> Result<Self> {
        let db = config.open()?;
        let flush_db = db.clone();
        let commits = GroupCommit::start(Box::new(move || {
            flush_db.flush().map(drop).map_err(|e| format!("flush failed: {e}"))
        }))?;
        let cleanup = db.open_tree(layout::CLEANUP)?;
        let replication = db.open_tree(layout::REPLICATION)?;
        let meta = db.open_tree(layout::META)?;
        let version_offset = AtomicU64::new(Self::read_version_offset(&meta)?);
        let engine = Self {
            buckets: db.open_tree(layout::BUCKETS)?,
            objects: db.open_tree(layout::OBJECTS)?,
            versions: db.open_tree(layout::VERSIONS)?,
            usage: db.open_tree(layout::USAGE)?,
            cleanup_due: db.open_tree(layout::CLEANUP_DUE)?,
            uploads: db.open_tree(layout::UPLOADS)?,
            upload_keys: db.open_tree(layout::UPLOAD_KEYS)?,
            parts: db.open_tree(layout::PARTS)?,
            completed: db.open_tree(layout::COMPLETED)?,
            backend_stats: db.open_tree(layout::BACKEND_STATS)?,
            usage_counters: db.open_tree(layout::USAGE_COUNTERS)?,
            replication_due: db.open_tree(layout::REPLICATION_DUE)?,
            states: db.open_tree(layout::STATES)?,
            docs: db.open_tree(layout::DOCS)?,
            meta,
            version_offset,
            cleanup_depth: AtomicU64::new(u64::try_from(cleanup.len()).unwrap_or(u64::MAX)),
            replication_depth: AtomicU64::new(u64::try_from(replication.len()).unwrap_or(u64::MAX)),
            cleanup,
            replication,
            ledger,
            commits,
            key_locks: versions::KeyLocks::default(),
            local: crate::lease::Local::default(),
            db,
        };
        engine.ensure_backend_stats()?;
        Ok(engine)
    }

    /// Records that a transaction queued `queued` cleanup tasks and completed `done`.
    fn count_cleanup(&self, queued: u64, done: u64) {
        count(&self.cleanup_depth, queued, done);
    }

    /// Records that a transaction queued `queued` replication tasks and removed `done`.
    fn count_replication(&self, queued: u64, done: u64) {
        count(&self.replication_depth, queued, done);
    }

    /// A fresh version number (sled's persistent id generator, plus the offset an index
    /// rebuild may have raised).
    fn next_version(&self) -> Result<u64> {
        let id = self.db.generate_id()?;
        Ok(id.saturating_add(self.version_offset.load(std::sync::atomic::Ordering::SeqCst)))
    }
}

/// Adds `queued` to and takes `done` from a queue's depth (never below zero, even if a count
/// ever drifted).
fn count(depth: &AtomicU64, queued: u64, done: u64) {
    use std::sync::atomic::Ordering;
    if queued > 0 {
        depth.fetch_add(queued, Ordering::Relaxed);
    }
    if done > 0 {
        let _ = depth.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| Some(d.saturating_sub(done)));
    }
}

/// Test helpers shared by the sled engine's tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use super::SledEngine;
    use crate::{block_on, Store, StoreFuture};

    /// A temporary sled store, and its engine to reach past the interface.
    pub(crate) fn temporary() -> (Store, Arc<SledEngine>) {
        let engine = Arc::new(SledEngine::temporary().unwrap());
        (Store::from_engine(engine.clone()), engine)
    }

    /// Waits for a store future; the result unwrapped.
    pub(crate) fn ok<T>(f: StoreFuture<T>) -> T {
        block_on(f).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::ok;
    use crate::conformance;
    use crate::{block_on, ObjectMeta, Store, StoreError, WriteCondition};

    /// A fresh temporary sled store, for the conformance suite.
    fn fresh() -> Store {
        Store::temporary().unwrap()
    }

    #[test]
    fn conforms_buckets() {
        block_on(conformance::buckets::run(&fresh));
    }

    #[test]
    fn conforms_objects() {
        block_on(conformance::objects::run(&fresh));
    }

    #[test]
    fn conforms_listing() {
        block_on(conformance::listing::run(&fresh));
    }

    #[test]
    fn conforms_multipart() {
        block_on(conformance::multipart::run(&fresh));
    }

    #[test]
    fn conforms_quota() {
        block_on(conformance::quota::run(&fresh));
    }

    #[test]
    fn conforms_cleanup() {
        block_on(conformance::cleanup::run(&fresh));
    }

    #[test]
    fn conforms_versions() {
        block_on(conformance::versions::run(&fresh));
    }

    #[test]
    fn conforms_admin() {
        block_on(conformance::admin::run(&fresh));
    }

    #[test]
    fn conforms_orchestration() {
        block_on(conformance::orchestration::run(&fresh));
    }

    #[test]
    fn conforms_restore() {
        block_on(conformance::restore::run(&fresh));
    }

    #[test]
    fn conforms_docs() {
        block_on(conformance::docs::run(&fresh));
    }

    #[test]
    fn conforms_across_a_reopen() {
        let dir = crate::scratch_path("reopen");
        block_on(conformance::survives_reopen(&|| Store::open(&dir).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_share_flushes() {
        let dir = crate::scratch_path("group");
        let store = Store::open(&dir).unwrap();
        ok(store.create_bucket("b", "AK"));
        let before = store.health().flushes;
        let threads = 8;
        let per_thread = 40;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        let meta = ObjectMeta {
                            version: ok(store.next_version()),
                            ..ObjectMeta::default()
                        };
                        let key = format!("t{t}/{i}");
                        ok(store.put_object("b", &key, &meta, &WriteCondition::None, Vec::new()));
                        assert!(ok(store.get_object("b", &key)).is_some());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let commits = threads * per_thread;
        let flushes = store.health().flushes - before;
        eprintln!("{commits} durable commits, {flushes} flushes");
        assert!(flushes * 2 <= commits, "{flushes} flushes for {commits} commits");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn opening_a_path_that_is_a_file_fails() {
        let file = crate::scratch_path("file");
        std::fs::write(&file, b"not a directory").unwrap();
        let r = Store::open(&file);
        assert!(matches!(r, Err(StoreError::Engine(_) | StoreError::Io(_))));
        std::fs::remove_file(&file).unwrap();
        assert!(block_on(Store::temporary().unwrap().sync()).is_ok());
    }
}
