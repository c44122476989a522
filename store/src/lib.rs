//! The metadata model of s3-orchestrator on sled: buckets, object versions and where their bytes
//! live, per-backend usage and quota reservations, and the durable cleanup queue.
//!
//! A pure library: no async runtime, no network. [`Store`] is `Send + Sync` and cheap to clone;
//! every core's thread of the proxy holds a clone. Mutations run as one sled transaction each and
//! return a [`CommitTicket`] that completes when a shared flush has made them durable
//! (group commit, see [`commit`]). The key/value layout on disk is described in [`layout`].
//!
//! The data-safety rules this crate upholds (DESIGN §3): a new version becomes current in one
//! commit after its bytes are stored under a fresh physical key ([`physical_key_for`]); replaced
//! and deleted versions are deleted by physical key through the durable cleanup queue; quota is
//! reserved before bytes move ([`Store::reserve`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod model;
#[path = "sled/mod.rs"]
mod sled_engine;

use std::path::Path;
use std::sync::Arc;

pub use sled_engine::cleanup::{CLEANUP_BACKOFF_BASE_MS, CLEANUP_BACKOFF_CAP_MS, CLEANUP_GRACE_MS};
pub use sled_engine::commit::CommitTicket;
pub use error::{Result, StoreError};
pub use sled_engine::layout::physical_key_for;
pub use model::{
    Accounting, BucketMeta, CleanupTask, CompletedUpload, ListPage, ListQuery, Location, ObjectMeta, Part, Upload,
    WriteCondition, DEFAULT_MAX_KEYS,
};
pub use sled_engine::multipart::{UploadListing, MAX_PARTS};
pub use sled_engine::objects::Deleted;
pub use sled_engine::quota::Reservation;

use sled_engine::commit::GroupCommit;
use sled_engine::layout;
use sled_engine::quota::Ledger;

/// A handle on the metadata store. Clones share one database, one reservation table and one
/// flusher thread, which stops when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What the clones of a [`Store`] share.
struct Inner {
    db: sled::Db,
    buckets: sled::Tree,
    objects: sled::Tree,
    usage: sled::Tree,
    cleanup: sled::Tree,
    cleanup_due: sled::Tree,
    uploads: sled::Tree,
    upload_keys: sled::Tree,
    parts: sled::Tree,
    completed: sled::Tree,
    ledger: Arc<Ledger>,
    commits: GroupCommit,
}

impl Store {
    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_config(sled::Config::new().path(path))
    }

    /// Opens a fresh store that lives only as long as it is open; for tests.
    pub fn temporary() -> Result<Self> {
        Self::with_config(sled::Config::new().temporary(true))
    }

    /// Opens a store from a sled configuration.
    fn with_config(config: sled::Config) -> Result<Self> {
        let db = config.open()?;
        let flush_db = db.clone();
        let commits = GroupCommit::start(Box::new(move || flush_db.flush().map(drop).map_err(|e| e.to_string())))?;
        Ok(Self {
            inner: Arc::new(Inner {
                buckets: db.open_tree(layout::BUCKETS)?,
                objects: db.open_tree(layout::OBJECTS)?,
                usage: db.open_tree(layout::USAGE)?,
                cleanup: db.open_tree(layout::CLEANUP)?,
                cleanup_due: db.open_tree(layout::CLEANUP_DUE)?,
                uploads: db.open_tree(layout::UPLOADS)?,
                upload_keys: db.open_tree(layout::UPLOAD_KEYS)?,
                parts: db.open_tree(layout::PARTS)?,
                completed: db.open_tree(layout::COMPLETED)?,
                ledger: Arc::new(Ledger::default()),
                commits,
                db,
            }),
        })
    }

    /// A fresh version number, unique and increasing across the life of the store (also across
    /// restarts). Take it before uploading, to name the bytes with [`physical_key_for`].
    pub fn next_version(&self) -> Result<u64> {
        Ok(self.inner.db.generate_id()?)
    }

    /// Group-commit flushes completed since this store was opened.
    pub fn flush_count(&self) -> u64 {
        self.inner.commits.flush_count()
    }

    /// Waits until everything committed so far is durable.
    pub fn sync(&self) -> Result<()> {
        self.inner.commits.ticket().wait()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("flush_count", &self.flush_count())
            .finish_non_exhaustive()
    }
}

/// A fresh, unused path under the system temp directory for a test's on-disk store.
#[cfg(test)]
pub(crate) fn scratch_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("s3o-store-{tag}-{}-{nanos}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_and_tickets_cross_threads() {
        assert_send_sync::<Store>();
        assert_send_sync::<CommitTicket>();
        assert_send_sync::<Reservation>();
    }

    #[test]
    fn a_store_reopens_with_its_data_and_versions_keep_increasing() {
        let dir = scratch_path("reopen");
        let v1;
        {
            let store = Store::open(&dir).unwrap();
            store.create_bucket("b", "AKID").unwrap().wait().unwrap();
            v1 = store.next_version().unwrap();
            assert!(store.next_version().unwrap() > v1);
            store.sync().unwrap();
            assert!(format!("{store:?}").contains("flush_count"));
        }
        {
            let store = Store::open(&dir).unwrap();
            assert_eq!(store.bucket("b").unwrap().unwrap().owner, "AKID");
            assert!(store.next_version().unwrap() > v1);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_share_flushes() {
        let dir = scratch_path("group");
        let store = Store::open(&dir).unwrap();
        store.create_bucket("b", "AK").unwrap().wait().unwrap();
        let before = store.flush_count();
        let threads = 8;
        let per_thread = 40;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        let meta = ObjectMeta {
                            version: store.next_version().unwrap(),
                            ..ObjectMeta::default()
                        };
                        let key = format!("t{t}/{i}");
                        store
                            .put_object("b", &key, &meta, &crate::WriteCondition::None, Vec::new())
                            .unwrap()
                            .wait()
                            .unwrap();
                        assert!(store.get_object("b", &key).unwrap().is_some());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let commits = threads * per_thread;
        let flushes = store.flush_count() - before;
        eprintln!("{commits} durable commits, {flushes} flushes");
        assert!(flushes * 2 <= commits, "{flushes} flushes for {commits} commits");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn opening_a_path_that_is_a_file_fails() {
        let file = scratch_path("file");
        std::fs::write(&file, b"not a directory").unwrap();
        let r = Store::open(&file);
        assert!(matches!(r, Err(StoreError::Sled(_) | StoreError::Io(_))));
        std::fs::remove_file(&file).unwrap();
    }
}
