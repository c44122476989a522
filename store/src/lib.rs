//! The metadata model of s3-orchestrator behind an engine-neutral interface: buckets, object
//! versions and where their bytes live, multipart uploads, per-backend usage and quota
//! reservations, and the durable cleanup queue.
//!
//! A pure library: no async runtime, no network. [`Store`] is the handle the proxy holds, `Send +
//! Sync` and cheap to clone, over one [`Engine`]. Every call that may wait returns a
//! [`StoreFuture`] that any runtime can await; a mutation's future resolves when the mutation is
//! durable (see [`engine`] for the contract). Today's engine is sled (`sled/`: one transaction
//! per mutation, group commit, the key layout in `sled/layout.rs`); [`Store::open`] opens it,
//! and reopens it by itself after it could not commit (`sled/recover.rs`). No type, error or key
//! layout of an engine is visible outside its module.
//!
//! The data-safety rules every engine upholds (DESIGN §3): a new version becomes current in one
//! commit after its bytes are stored under a fresh physical key ([`physical_key_for`]); replaced
//! and deleted versions are deleted by physical key through the durable cleanup queue; quota is
//! reserved before bytes move ([`Engine::reserve`]).
//!
//! For the proxy's orchestration (replication, drain, rebalance, backend removal) the store keeps
//! a durable replication queue ([`Engine::due_replication`]), scans every stored version in
//! pages ([`Engine::scan_versions`]), moves a version's copies with a compare-and-swap
//! ([`Engine::relocate`]), and keeps small named documents every instance sees
//! ([`Engine::put_state`]).
//!
//! The access layer (users, sessions, credentials, audit) keeps its records in document
//! collections ([`docs`]): opaque values with revisions, written in atomic conditional batches.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod acl;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod cors;
pub mod docs;
pub mod engine;
mod error;
mod lease;
pub mod lifecycle;
mod model;
mod orchestration;
pub mod policy;
pub mod postgres;
mod reservation;
mod rules;
pub mod sealed;
#[path = "sled/mod.rs"]
mod sled_engine;
mod stats;
mod versions;
mod wait;

use std::path::Path;
use std::sync::Arc;

pub use docs::{Doc, DocOp, DocQuery, DocWrite, Expect};
pub use engine::{Engine, Health, StoreFuture};
pub use error::{Result, StoreError};
pub use lease::{Lease, SharedConfig};
pub use model::{
    Accounting, BucketMeta, BucketQuota, BucketSettings, CleanupReason, CleanupTask, CompletedUpload, ListPage,
    ListQuery, Location, ObjectMeta, Part, SizeTracking, Upload, WriteCondition, DEFAULT_MAX_KEYS,
};
pub use orchestration::{Removal, ReplicationTask, ScanPage, StoredVersion, VersionAt, SCAN_EXAMINE_MAX};
pub use reservation::{Reservation, ReservationLedger};
pub use rules::{
    backoff_ms, physical_key_for, CLEANUP_BACKOFF_BASE_MS, CLEANUP_BACKOFF_CAP_MS, CLEANUP_GRACE_MS, MAX_PARTS,
};
pub use sealed::{ContentHash, HashAlgorithm, SealSegment, Sealed, StoredFacts};
pub use stats::{BackendStats, CleanupQueue, UsageCounters};
pub use versions::{
    BucketChange, DefaultRetention, Deleted, ObjectLock, Retention, RetentionMode, VersionChange, VersionEntry,
    VersionPage, VersionQuery, VersionRef, Versioning,
};
pub use wait::block_on;

/// A handle on the metadata store: a shared [`Engine`], whose calls it dereferences to. Clones
/// share one engine (for sled: one database, one reservation table and one flusher thread, which
/// stops when the last clone is dropped).
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
}

impl Store {
    /// Replaces the tags of the latest version of `bucket`/`key` (`NoSuchKey` without one,
    /// `DeleteMarker` if it is one): [`Engine::update_version`] with
    /// [`VersionChange::Tags`].
    pub fn set_tags(&self, bucket: &str, key: &str, tags: Vec<(String, String)>) -> StoreFuture<()> {
        let changed = self.update_version(bucket, key, VersionRef::Latest, VersionChange::Tags(tags));
        Box::pin(async move { changed.await.map(drop) })
    }

    /// Opens (or creates) a sled store in directory `path`. When it cannot commit (its disk is
    /// full, a flush failed) it fails writes with [`StoreError::Flush`] and says why in
    /// [`Engine::health`], then recovers by itself: a thread reopens the directory once it takes
    /// writes again (`sled/recover.rs`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_engine(Arc::new(sled_engine::recover::Recovering::open(
            path.as_ref(),
        )?)))
    }

    /// Opens a fresh sled store that lives only as long as it is open; for tests. It does not
    /// recover after a failed flush.
    pub fn temporary() -> Result<Self> {
        Ok(Self::from_engine(Arc::new(sled_engine::SledEngine::temporary()?)))
    }

    /// Connects to the PostgreSQL database `config` names (see [`postgres`]), migrating its
    /// schema; blocks until connected or failed.
    pub fn open_postgres(config: &postgres::PgConfig) -> Result<Self> {
        Ok(Self::from_engine(Arc::new(postgres::PgEngine::open(config)?)))
    }

    /// A handle on `engine`.
    pub fn from_engine(engine: Arc<dyn Engine>) -> Self {
        Self { engine }
    }

    /// How many cleanup tasks are queued: the depth of [`Engine::cleanup_queue`].
    pub fn cleanup_len(&self) -> StoreFuture<u64> {
        let queue = self.cleanup_queue(0);
        Box::pin(async move { Ok(queue.await?.depth) })
    }

    /// Multipart uploads in progress by backend, for every backend with any, in name order
    /// (from [`Engine::backend_stats`]).
    pub fn upload_counts(&self) -> StoreFuture<Vec<(String, u64)>> {
        let stats = self.backend_stats();
        Box::pin(async move {
            let stats = stats.await?;
            Ok(stats
                .into_iter()
                .filter(|s| s.uploads > 0)
                .map(|s| (s.backend, s.uploads))
                .collect())
        })
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Engine;

    fn deref(&self) -> &Self::Target {
        &*self.engine
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("health", &self.health()).finish()
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
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn handles_futures_and_reservations_cross_threads() {
        assert_send_sync::<Store>();
        assert_send_sync::<Reservation>();
        let store = Store::temporary().unwrap();
        let f = store.bucket("b");
        assert_send(&f);
        assert!(block_on(f).unwrap().is_none());
        assert!(format!("{store:?}").contains("engine: \"sled\""));
    }
}
