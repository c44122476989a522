//! Recovery of a sled store that can no longer commit. A [`SledEngine`] whose flush failed (or
//! whose writes sled refused) is poisoned for good: a failed fsync cannot be retried safely on the
//! same handle. [`Recovering`], the engine of a store opened from a directory, passes every call
//! to the [`SledEngine`] in service, and its recovery thread replaces a poisoned one:
//!
//! 1. Every [`TICK`] it looks at the engine. While the engine is poisoned, mutations (and quota
//!    reservations) fail at once with `Flush`; reads are still answered.
//! 2. It probes the directory ([`probe`]): a scratch file written as far as the log's length plus
//!    one log segment, and fsynced. Until that succeeds (space came back, the file-size limit was
//!    lifted) it changes nothing, so reads keep being answered.
//! 3. It takes the engine out of service (every call then fails at once with `Unavailable`), waits
//!    until no call holds it, and drops it: the last handle on the sled `Db` closes it and
//!    releases its file lock. Only then does it open the directory again, so two `Db`s are never
//!    open on one path (sled locks its file: a reopen that finds the lock still held, by a sled
//!    I/O thread finishing, fails and is retried).
//! 4. It checks the reopened engine with a durable test write and puts it in service whatever the
//!    outcome: a failed check leaves it poisoned, serving reads, and the next reopen waits a
//!    backoff.
//!
//! Everything made durable before the failure is there after the reopen; what sled held only in
//! memory is gone, its callers having had errors (a mutation that failed may still have reached
//! the disk before the failure: callers learn which once the store answers again). The
//! reservation ledger is kept across the reopen (uploads in flight hold reservations); usage,
//! totals and the cleanup depth are read from disk again. The thread keeps trying for as long as
//! the store is open, logging at most every [`WARN_EVERY`]: the operator sees the cause in
//! readiness and metrics, and exiting would help no more than the reopen does.

use std::io::{Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::quota::Ledger;
use super::SledEngine;
use crate::docs::{Doc, DocQuery, DocWrite};
use crate::engine::{ready, Engine, Health, StoreFuture};
use crate::error::{Result, StoreError};
use crate::lease::Local;
use crate::model::{
    Accounting, BucketMeta, CleanupReason, CleanupTask, CompletedUpload, ListPage, ListQuery, Location, ObjectMeta,
    Part, Upload, WriteCondition,
};
use crate::orchestration::{Removal, ReplicationTask, ScanPage, VersionAt};
use crate::reservation::Reservation;
use crate::stats::{BackendStats, CleanupQueue, UsageCounters};
use crate::versions::{BucketChange, Deleted, VersionChange, VersionPage, VersionQuery, VersionRef};

/// How often the recovery thread looks at the engine.
const TICK: Duration = Duration::from_secs(1);
/// While the store cannot commit, a warning at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// Longest wait between reopens whose check failed (the wait doubles from [`TICK`]).
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Opens tried, [`REOPEN_PAUSE`] apart, before a reopen counts as failed.
const REOPEN_TRIES: u32 = 50;
/// Pause between two opens of one reopen.
const REOPEN_PAUSE: Duration = Duration::from_millis(20);
/// The scratch file of [`probe`], in the store's directory.
const PROBE_FILE: &str = "s3o-write-probe";
/// Bytes [`probe`] writes: sled's log segment (its default `segment_size`).
const PROBE_BYTES: usize = 512 * 1024;
/// The file of the sled log in the store's directory.
const LOG_FILE: &str = "db";
/// Name of the recovery thread, as seen in `top -H` and panics.
const THREAD_NAME: &str = "s3o-store-recover";

/// The engine in service, or why there is none.
enum Slot {
    Open(Arc<SledEngine>),
    Closed(String),
}

/// What the store's handles and its recovery thread share.
struct Inner {
    path: PathBuf,
    /// Reservations in flight, kept across reopens.
    ledger: Arc<Ledger>,
    slot: RwLock<Slot>,
    /// Flushes of the engines replaced so far.
    earlier_flushes: AtomicU64,
    /// Set when the store closes: the thread exits.
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Inner {
    /// The engine in service, or `Unavailable` while there is none.
    fn engine(&self) -> Result<Arc<SledEngine>> {
        match &*self.slot.read() {
            Slot::Open(engine) => Ok(Arc::clone(engine)),
            Slot::Closed(why) => Err(StoreError::Unavailable(why.clone())),
        }
    }

    /// Why the store cannot commit now, if it cannot.
    fn problem(&self) -> Option<String> {
        match &*self.slot.read() {
            Slot::Open(engine) => engine.commits.problem(),
            Slot::Closed(why) => Some(why.clone()),
        }
    }

    /// Takes the engine out of service (calls fail with `Unavailable(why)`); returns it.
    fn close(&self, why: String) -> Option<Arc<SledEngine>> {
        match std::mem::replace(&mut *self.slot.write(), Slot::Closed(why)) {
            Slot::Open(engine) => Some(engine),
            Slot::Closed(_) => None,
        }
    }
}

/// The engine of a sled store opened from a directory: the [`SledEngine`] in service, replaced
/// by a reopened one after it could not commit (see the module notes). Dropping it stops the
/// recovery thread, then the engine.
pub(crate) struct Recovering {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
    /// The process's id, leases and shared configuration, kept across reopenings.
    local: Local,
}

impl Recovering {
    /// Opens (or creates) the store in directory `path` and starts its recovery thread.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let ledger = Arc::new(Ledger::default());
        let engine = SledEngine::open_with(path, Arc::clone(&ledger))?;
        let inner = Arc::new(Inner {
            path: path.to_owned(),
            ledger,
            slot: RwLock::new(Slot::Open(Arc::new(engine))),
            earlier_flushes: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || run(&for_thread))?;
        Ok(Self {
            inner,
            thread: Some(thread),
            local: Local::default(),
        })
    }

    /// The engine in service; for tests that reach past the interface.
    #[cfg(test)]
    fn current(&self) -> Result<Arc<SledEngine>> {
        self.inner.engine()
    }
}

impl Drop for Recovering {
    fn drop(&mut self) {
        *self.inner.stop.lock() = true;
        self.inner.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("metadata recovery thread panicked");
            }
        }
    }
}

/// A failure the recovery thread is riding out.
struct Trouble {
    /// The first cause.
    cause: String,
    since: Instant,
    last_warned: Instant,
    /// Reopens that failed in a row.
    failed_reopens: u32,
    /// No reopen before this.
    next_reopen: Instant,
}

/// Why an attempt to recover failed.
enum Failure {
    /// The directory still refuses writes: nothing was changed.
    Probe(String),
    /// The reopen or its check failed.
    Reopen(String),
}

/// The recovery thread: every [`TICK`], recovers the store if it cannot commit.
fn run(inner: &Inner) {
    let mut trouble: Option<Trouble> = None;
    loop {
        {
            let mut stop = inner.stop.lock();
            if !*stop {
                let _ = inner.wake.wait_for(&mut stop, TICK);
            }
            if *stop {
                return;
            }
        }
        let Some(why) = inner.problem() else {
            trouble = None;
            continue;
        };
        let now = Instant::now();
        let t = trouble.get_or_insert_with(|| {
            tracing::error!(
                cause = %why,
                "metadata store cannot commit: writes fail with 503 until it recovers; it reopens \
                 itself once its directory takes writes again"
            );
            Trouble {
                cause: why,
                since: now,
                last_warned: now,
                failed_reopens: 0,
                next_reopen: now,
            }
        });
        if now < t.next_reopen {
            continue;
        }
        let attempt = catch_unwind(AssertUnwindSafe(|| attempt(inner, &t.cause)))
            .unwrap_or_else(|_| Err(Failure::Reopen("recovery attempt panicked".to_owned())));
        match attempt {
            Ok(()) => {
                tracing::info!(
                    cause = %t.cause,
                    after_secs = t.since.elapsed().as_secs(),
                    "metadata store recovered: reopened and checked, it takes writes again"
                );
                trouble = None;
            }
            Err(Failure::Probe(e)) => {
                if t.last_warned.elapsed() >= WARN_EVERY {
                    t.last_warned = Instant::now();
                    tracing::warn!(
                        cause = %t.cause,
                        probe = %e,
                        for_secs = t.since.elapsed().as_secs(),
                        "metadata store still cannot commit: its directory refuses writes"
                    );
                }
            }
            Err(Failure::Reopen(e)) => {
                t.failed_reopens = t.failed_reopens.saturating_add(1);
                let backoff = TICK.saturating_mul(1 << t.failed_reopens.min(5)).min(BACKOFF_CAP);
                t.next_reopen = Instant::now() + backoff;
                t.last_warned = Instant::now();
                tracing::warn!(
                    cause = %t.cause,
                    error = %e,
                    retry_in_secs = backoff.as_secs(),
                    "metadata store: reopening failed"
                );
            }
        }
    }
}

/// One recovery: probe, retire the engine, reopen, check, put in service.
fn attempt(inner: &Inner, cause: &str) -> std::result::Result<(), Failure> {
    probe(&inner.path).map_err(|e| Failure::Probe(e.to_string()))?;
    if let Some(old) = inner.close(format!("reopening after: {cause}")) {
        inner
            .earlier_flushes
            .fetch_add(old.commits.flush_count(), Ordering::Relaxed);
        retire(old);
    }
    let engine = reopen(inner).map_err(|e| {
        let why = format!("{cause}; reopening failed: {e}");
        *inner.slot.write() = Slot::Closed(why.clone());
        Failure::Reopen(why)
    })?;
    let checked = crate::block_on(Engine::check_writable(&engine));
    if let Err(e) = &checked {
        // Poisoned already if the write failed; made sure of for any other failure.
        engine.commits.poison(&format!("check after reopening failed: {e}"));
    }
    *inner.slot.write() = Slot::Open(Arc::new(engine));
    checked.map_err(|e| Failure::Reopen(format!("reopened, but the check write failed: {e}")))
}

/// Drops `old` once no call holds it any more (calls hold it only while they run, never in the
/// futures they return), so its sled `Db` closes here.
fn retire(mut old: Arc<SledEngine>) {
    let since = Instant::now();
    let mut warned = false;
    loop {
        match Arc::try_unwrap(old) {
            Ok(engine) => {
                // sled may panic closing a log it cannot sync; the reopen is tried anyway.
                if catch_unwind(AssertUnwindSafe(move || drop(engine))).is_err() {
                    tracing::warn!("closing the failed metadata store panicked");
                }
                return;
            }
            Err(held) => {
                old = held;
                if !warned && since.elapsed() >= WARN_EVERY {
                    warned = true;
                    tracing::warn!("a call still holds the failed metadata store; waiting for it");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Opens the directory again with the same ledger, retrying while it fails (the old `Db`'s lock
/// may still be held for a moment by a sled I/O thread).
fn reopen(inner: &Inner) -> Result<SledEngine> {
    let mut tries = 1;
    loop {
        let opened = catch_unwind(AssertUnwindSafe(|| {
            SledEngine::open_with(&inner.path, Arc::clone(&inner.ledger))
        }))
        .unwrap_or_else(|_| Err(StoreError::Engine("opening panicked".to_owned())));
        match opened {
            Err(_) if tries < REOPEN_TRIES => {
                tries += 1;
                std::thread::sleep(REOPEN_PAUSE);
            }
            other => return other,
        }
    }
}

/// Whether the store's directory takes writes again: a scratch file there is written, one log
/// segment of zeros, at an offset the length of the sled log (a hole before it costs no space,
/// but a file-size limit counts it), and fsynced; then removed.
fn probe(dir: &Path) -> std::io::Result<()> {
    let log_len = std::fs::metadata(dir.join(LOG_FILE)).map_or(0, |m| m.len());
    let path = dir.join(PROBE_FILE);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(log_len))?;
            f.write_all(&vec![0u8; PROBE_BYTES])?;
            f.sync_all()
        });
    let removed = std::fs::remove_file(&path);
    written?;
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Implements [`Engine`] methods by passing the call to the engine in service (`Unavailable`
/// while there is none).
macro_rules! pass_on {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(
            fn $name(&self, $($arg: $ty),*) -> StoreFuture<$out> {
                match self.inner.engine() {
                    Ok(engine) => Engine::$name(&*engine, $($arg),*),
                    Err(e) => ready(Err(e)),
                }
            }
        )*
    };
}

impl Engine for Recovering {
    fn health(&self) -> Health {
        let earlier = self.inner.earlier_flushes.load(Ordering::Relaxed);
        match &*self.inner.slot.read() {
            Slot::Open(engine) => {
                let mut health = Engine::health(&**engine);
                health.flushes = health.flushes.saturating_add(earlier);
                health
            }
            Slot::Closed(why) => Health {
                engine: "sled",
                problem: Some(why.clone()),
                flushes: earlier,
            },
        }
    }

    pass_on! {
        sync() -> ();
        create_bucket(name: &str, owner_access_key: &str) -> ();
        bucket(name: &str) -> Option<BucketMeta>;
        list_buckets() -> Vec<BucketMeta>;
        delete_bucket(name: &str) -> ();
        update_bucket(name: &str, change: BucketChange) -> BucketMeta;
        next_version() -> u64;
        get_object(bucket: &str, key: &str) -> Option<ObjectMeta>;
        get_version(bucket: &str, key: &str, version: VersionRef) -> Option<ObjectMeta>;
        put_object(
            bucket: &str,
            key: &str,
            meta: &ObjectMeta,
            condition: &WriteCondition,
            reservations: Vec<Reservation>
        ) -> Option<String>;
        update_version(bucket: &str, key: &str, version: VersionRef, change: VersionChange) -> ObjectMeta;
        delete_object(bucket: &str, key: &str) -> Deleted;
        delete_version(bucket: &str, key: &str, version: VersionRef, bypass_governance: bool) -> Option<ObjectMeta>;
        list_versions(bucket: &str, query: &VersionQuery) -> VersionPage;
        list_objects(bucket: &str, query: &ListQuery) -> ListPage;
        create_upload(upload: &Upload) -> ();
        upload(upload_id: &str) -> Option<Upload>;
        put_part(upload_id: &str, part: &Part, reservation: Option<Reservation>) -> ();
        parts(upload_id: &str, after: u32, limit: usize) -> Vec<Part>;
        list_uploads(
            bucket: &str,
            prefix: &str,
            key_marker: &str,
            upload_id_marker: &str,
            limit: usize
        ) -> Vec<Upload>;
        uploads_initiated_before(before_ms: u64, limit: usize) -> Vec<Upload>;
        complete_upload(
            upload_id: &str,
            meta: &ObjectMeta,
            condition: &WriteCondition,
            cleanup_parts: bool
        ) -> Option<String>;
        abort_upload(upload_id: &str) -> Upload;
        completed_upload(upload_id: &str) -> Option<CompletedUpload>;
        forget_completed_before(before_ms: u64) -> usize;
        reserve(backend: &str, bytes: u64, quota_bytes: Option<u64>) -> Reservation;
        reserved(backend: &str) -> u64;
        usage(backend: &str) -> u64;
        all_usage() -> Vec<(String, u64)>;
        enqueue_cleanup(
            backend: &str,
            physical_key: &str,
            size: u64,
            accounting: Accounting,
            reason: CleanupReason
        ) -> u64;
        due_cleanup(now_ms: u64, limit: usize) -> Vec<CleanupTask>;
        cleanup_task(id: u64) -> Option<CleanupTask>;
        complete_cleanup(id: u64) -> ();
        retry_cleanup(id: u64, now_ms: u64) -> CleanupTask;
        cleanup_queue(limit: usize) -> CleanupQueue;
        backend_stats() -> Vec<BackendStats>;
        add_usage(period: &str, deltas: Vec<UsageCounters>) -> ();
        usage_counters(period: &str) -> Vec<UsageCounters>;
        prefix_summary(bucket: &str, prefix: &str) -> (u64, u64);
        check_writable() -> ();
        enqueue_replication(bucket: &str, key: &str, version: u64) -> ();
        due_replication(now_ms: u64, limit: usize) -> Vec<ReplicationTask>;
        finish_replication(bucket: &str, key: &str, version: u64) -> ();
        retry_replication(bucket: &str, key: &str, version: u64, now_ms: u64) -> ReplicationTask;
        replication_depth() -> u64;
        scan_versions(after: Option<&VersionAt>, backend: Option<&str>, limit: usize) -> ScanPage;
        relocate(
            bucket: &str,
            key: &str,
            version: u64,
            expected: &[Location],
            new: &[Location],
            reservations: Vec<Reservation>,
            removal: Removal
        ) -> ObjectMeta;
        rewrite(
            bucket: &str,
            key: &str,
            version: u64,
            expected: &[Location],
            new: &[Location],
            facts: crate::sealed::StoredFacts,
            reservations: Vec<Reservation>
        ) -> ObjectMeta;
        orphan_bytes() -> Vec<(String, u64)>;
        forget_backend(backend: &str) -> u64;
        restore_bucket(meta: &BucketMeta) -> ();
        restore_version(bucket: &str, key: &str, meta: &ObjectMeta) -> ();
        advance_versions(above: u64) -> ();
        put_state(name: &str, value: &str) -> ();
        state(name: &str) -> Option<String>;
        delete_state(name: &str) -> ();
        states(prefix: &str) -> Vec<(String, String)>;
        apply_docs(writes: Vec<DocWrite>) -> Vec<u64>;
        doc(collection: &str, id: &str) -> Option<Doc>;
        docs(query: &DocQuery) -> Vec<Doc>;
    }

    crate::lease::local_coordination!(local);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Location;
    use crate::sled_engine::testing::ok;
    use crate::{block_on, Store};

    fn version(store: &Store, size: u64) -> ObjectMeta {
        let v = ok(store.next_version());
        ObjectMeta {
            version: v,
            size,
            locations: vec![Location {
                backend: "b1".into(),
                physical_key: format!("p-{v}"),
            }],
            ..ObjectMeta::default()
        }
    }

    /// Waits (bounded) until `done` holds of the store's health problem.
    fn wait_for(store: &Store, what: &str, done: impl Fn(Option<&str>) -> bool) {
        let since = Instant::now();
        while !done(store.health().problem.as_deref()) {
            assert!(since.elapsed() < Duration::from_secs(20), "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_poisoned_store_reopens_by_itself_once_no_call_holds_it() {
        let dir = crate::scratch_path("recover");
        let engine = Arc::new(Recovering::open(&dir).unwrap());
        let store = Store::from_engine(engine.clone());
        ok(store.create_bucket("bkt", "AK"));
        let kept = version(&store, 10);
        ok(store.put_object("bkt", "kept", &kept, &WriteCondition::None, Vec::new()));
        ok(store.enqueue_cleanup("b1", "orphan", 0, Accounting::Uncommitted, CleanupReason::Orphan));
        let in_flight = ok(store.reserve("b1", 7, Some(100)));
        let flushes = store.health().flushes;

        // A call in flight holds the engine while it fails.
        let old = engine.current().unwrap();
        let gone = Arc::downgrade(&old);
        old.commits.poison("test: disk full");
        let refused = block_on(store.put_object("bkt", "lost", &version(&store, 1), &WriteCondition::None, Vec::new()));
        assert!(refused.is_err_and(|e| e.is_unavailable()));
        assert!(block_on(store.reserve("b1", 1, None)).is_err_and(|e| e.is_unavailable()));
        assert!(block_on(store.check_writable()).is_err());
        assert!(store.health().problem.is_some());

        // The thread takes it out of service, but reopens nothing while the old one is held.
        wait_for(&store, "out of service", |p| {
            p.is_some_and(|p| p.starts_with("reopening after: test: disk full"))
        });
        assert!(matches!(
            block_on(store.get_object("bkt", "kept")),
            Err(StoreError::Unavailable(_))
        ));
        std::thread::sleep(Duration::from_millis(300));
        assert!(store.health().problem.is_some(), "reopened while the old Db was open");
        assert!(
            old.get_object("bkt", "kept").unwrap().is_some(),
            "the old one still reads"
        );
        drop(old);

        wait_for(&store, "recovered", |p| p.is_none());
        assert!(gone.upgrade().is_none(), "the old engine was dropped");
        assert_eq!(ok(store.get_object("bkt", "kept")), Some(kept));
        assert_eq!(ok(store.get_object("bkt", "lost")), None);
        let again = version(&store, 3);
        ok(store.put_object("bkt", "again", &again, &WriteCondition::None, Vec::new()));
        ok(store.check_writable());
        // The ledger kept the reservation in flight; totals and the queue were read again.
        assert_eq!(ok(store.reserved("b1")), 7);
        drop(in_flight);
        assert_eq!(ok(store.reserved("b1")), 0);
        assert_eq!(ok(store.usage("b1")), 13);
        assert_eq!(ok(store.cleanup_queue(0)).depth, 1);
        assert!(store.health().flushes > flushes);
        drop((store, engine));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_probe_leaves_nothing_and_fails_where_nothing_can_be_written() {
        let dir = crate::scratch_path("probe");
        std::fs::create_dir_all(&dir).unwrap();
        probe(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let file = dir.join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(probe(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_closed_store_fails_every_call_at_once_and_says_why() {
        let dir = crate::scratch_path("closed");
        let engine = Arc::new(Recovering::open(&dir).unwrap());
        let store = Store::from_engine(engine.clone());
        // Closed with nothing to reopen: as after a reopen that failed.
        let old = engine.inner.close("test: reopening failed".to_owned()).unwrap();
        assert_eq!(store.health().problem.as_deref(), Some("test: reopening failed"));
        assert!(matches!(block_on(store.bucket("b")), Err(StoreError::Unavailable(_))));
        assert!(matches!(
            block_on(store.create_bucket("b", "AK")),
            Err(StoreError::Unavailable(why)) if why == "test: reopening failed"
        ));
        // The thread retries the reopen once the old Db is gone.
        drop(old);
        wait_for(&store, "reopened", |p| p.is_none());
        ok(store.create_bucket("b", "AK"));
        drop((store, engine));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
