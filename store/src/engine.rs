//! The interface every metadata engine implements, and the only way the rest of the system reaches
//! the metadata: [`Store`](crate::Store) is a handle on an `Arc<dyn Engine>`.
//!
//! # Calls return futures
//! Every call that an engine reached over the network would have to wait for returns a
//! [`StoreFuture`]: `Send + 'static`, so it can be awaited on any runtime (a proxy core awaits it;
//! nothing blocks the core's thread on I/O). A future must not depend on the runtime that polls
//! it: it completes through the engine's own threads, which wake the poller (so
//! [`block_on`](crate::block_on) can wait for one on a plain thread). Arguments are borrowed only
//! for the call: an engine copies what it needs into the future.
//!
//! # Mutations resolve when durable
//! A mutation's future resolves once the mutation is durable: `Ok` means it survives a crash.
//! The mutation starts when the method is called, and an engine may apply it right away (the
//! sled engine runs its transaction during the call and the future waits for the group-commit
//! flush), so reads issued after the call may already see it. Callers must await every mutation
//! future: whether a mutation whose future was dropped happened is unspecified, and its errors
//! (a failed condition, a poisoned store) are only reported through the future.
//!
//! # Errors
//! Every engine reports the same [`StoreError`](crate::StoreError) variants for the same
//! situations; the conformance suite (`conformance`, feature `conformance`) checks it. An engine
//! that cannot commit fails every mutation at once with `Flush` (reads still answer) or, while
//! it cannot answer at all, every call with `Unavailable`; both are
//! [`is_unavailable`](crate::StoreError::is_unavailable) and end when the engine recovers.

use std::future::Future;
use std::pin::Pin;

use crate::docs::{Doc, DocQuery, DocWrite};
use crate::error::Result;
use crate::lease::{Lease, SharedConfig};
use crate::model::{Accounting, CleanupReason, WriteCondition};
use crate::model::{BucketMeta, CleanupTask, CompletedUpload, ListPage, ListQuery, Location, ObjectMeta, Part, Upload};
use crate::orchestration::{Removal, ReplicationTask, ScanPage, VersionAt};
use crate::reservation::Reservation;
use crate::stats::{BackendStats, CleanupQueue, UsageCounters};
use crate::versions::{BucketChange, Deleted, VersionChange, VersionPage, VersionQuery, VersionRef};

/// What every store call that may wait returns: a boxed future, `Send` and `'static`, resolving to
/// the call's result.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// A future that is ready at once with `result`; for engines that answer during the call.
pub fn ready<T: Send + 'static>(result: Result<T>) -> StoreFuture<T> {
    Box::pin(std::future::ready(result))
}

/// What the engine says about itself without waiting for anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The engine's name (`sled`, …).
    pub engine: &'static str,
    /// Why the engine cannot commit now (a failed flush, a refused write, a reopening in
    /// progress); `None` while it is healthy, and again once it has recovered.
    pub problem: Option<String>,
    /// Durability syncs (group-commit flushes) since the engine opened; 0 if it does not count.
    pub flushes: u64,
}

/// A metadata engine: buckets, object versions and their locations, multipart uploads, quota
/// reservations and usage, and the durable cleanup queue.
///
/// Implementations must be `Send + Sync`: one engine serves every core of the proxy.
pub trait Engine: Send + Sync + 'static {
    /// What the engine says about itself; answers from memory, never waits.
    fn health(&self) -> Health;

    /// Resolves when everything committed before the call is durable.
    fn sync(&self) -> StoreFuture<()>;

    // ----- buckets -----

    /// Creates bucket `name` owned by `owner_access_key`: `BucketAlreadyExists` if the name is
    /// taken, `InvalidBucketName` if it is empty or holds a NUL.
    fn create_bucket(&self, name: &str, owner_access_key: &str) -> StoreFuture<()>;

    /// The bucket named `name`, if it exists.
    fn bucket(&self, name: &str) -> StoreFuture<Option<BucketMeta>>;

    /// Every bucket, in name order.
    fn list_buckets(&self) -> StoreFuture<Vec<BucketMeta>>;

    /// Deletes bucket `name`: `NoSuchBucket` if absent, `BucketNotEmpty` if it holds any object
    /// or version, delete markers included (checked atomically with the deletion: no concurrent
    /// `put_object` can slip past).
    fn delete_bucket(&self, name: &str) -> StoreFuture<()>;

    /// Changes bucket `name`'s versioning or object lock, atomically (see [`BucketChange`] for
    /// what is refused with `InvalidBucketState`); resolves to the bucket as changed.
    fn update_bucket(&self, name: &str, change: BucketChange) -> StoreFuture<BucketMeta>;

    // ----- objects -----

    /// A fresh version number, unique and increasing across the life of the store (also across
    /// restarts). Take it before uploading, to name the bytes with
    /// [`physical_key_for`](crate::physical_key_for).
    fn next_version(&self) -> StoreFuture<u64>;

    /// The current version of `bucket`/`key`, if any (also `None` when the bucket is missing, and
    /// when the key's latest version is a delete marker).
    fn get_object(&self, bucket: &str, key: &str) -> StoreFuture<Option<ObjectMeta>>;

    /// The version of `bucket`/`key` that `version` names, delete markers included, if any.
    fn get_version(&self, bucket: &str, key: &str, version: VersionRef) -> StoreFuture<Option<ObjectMeta>>;

    /// Makes `meta` the current version of `bucket`/`key`, atomically: fails with `NoSuchBucket`
    /// if the bucket is missing, `PreconditionFailed` if `condition` does not hold of the current
    /// version; adds `meta.size` to the usage of every backend in `meta.locations`; queues every
    /// location of the replaced version for cleanup, due after
    /// [`CLEANUP_GRACE_MS`](crate::CLEANUP_GRACE_MS) (its bytes stay in usage until the cleanup
    /// completes), except a location the new version reuses. `reservations` are let go once the
    /// bytes count as usage, and on failure.
    ///
    /// The bucket's versioning decides what is replaced: in a bucket with versioning enabled the
    /// new version gets its own id (`meta.versioned` is set) and the current one is kept as a
    /// noncurrent version; with versioning suspended the new version is the `null` one and
    /// replaces the key's previous `null` version wherever it is, keeping the others. Resolves to
    /// the new version's id in a bucket with versioning enabled (`None` for a `null` version).
    ///
    /// The bytes must already be stored at `meta.locations`, under fresh physical keys, and each
    /// backend should hold a reservation of at least `meta.size`: this call does not check quotas
    /// (the store does not know them), it only counts the bytes.
    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        reservations: Vec<Reservation>,
    ) -> StoreFuture<Option<String>>;

    /// Changes the version of `bucket`/`key` that `version` names, atomically: `NoSuchKey` or
    /// `NoSuchVersion` without it, `DeleteMarker` if it is one, `NoObjectLock` for a lock change
    /// in a bucket without object lock, `Locked` for a retention change its current retention
    /// forbids. Resolves to the version as changed.
    fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        change: VersionChange,
    ) -> StoreFuture<ObjectMeta>;

    /// Deletes `bucket`/`key` as a DELETE without a version id does, atomically: in an
    /// unversioned bucket it removes the current version and queues its bytes for cleanup; with
    /// versioning enabled it adds a delete marker (the current version becomes noncurrent); with
    /// versioning suspended it adds a `null` delete marker, removing the previous `null` version.
    /// A missing key is a success (with a delete marker when versioning is on); a missing bucket
    /// is `NoSuchBucket`.
    fn delete_object(&self, bucket: &str, key: &str) -> StoreFuture<Deleted>;

    /// Removes the version of `bucket`/`key` that `version` names for good (a delete marker, or
    /// a version whose bytes are queued for cleanup), atomically; the newest remaining version
    /// becomes the latest. `Locked` if its object lock forbids it (see
    /// [`ObjectMeta::lock_forbids_removal`]); resolves to the version removed, `None` if there
    /// was none.
    fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        bypass_governance: bool,
    ) -> StoreFuture<Option<ObjectMeta>>;

    /// One page of the versions of the keys of `bucket` matching `query` (ListObjectVersions);
    /// `NoSuchBucket` if the bucket does not exist.
    fn list_versions(&self, bucket: &str, query: &VersionQuery) -> StoreFuture<VersionPage>;

    /// One page of the keys of `bucket` matching `query`, with S3's semantics (see
    /// [`ListQuery`]); `NoSuchBucket` if the bucket does not exist.
    fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreFuture<ListPage>;

    // ----- multipart uploads -----

    /// Records a new multipart upload (`NoSuchBucket` if its bucket is missing).
    fn create_upload(&self, upload: &Upload) -> StoreFuture<()>;

    /// The upload with this id, if it is in progress.
    fn upload(&self, upload_id: &str) -> StoreFuture<Option<Upload>>;

    /// Records `part` of an upload (`NoSuchUpload` if it is not in progress), replacing a part of
    /// the same number, and counts its bytes in the upload's backend usage (a replaced part's
    /// bytes leave it). `reservation`, if any, is let go once the bytes count as usage.
    fn put_part(&self, upload_id: &str, part: &Part, reservation: Option<Reservation>) -> StoreFuture<()>;

    /// Up to `limit` parts of an upload with numbers above `after`, in order (empty for an
    /// unknown upload).
    fn parts(&self, upload_id: &str, after: u32, limit: usize) -> StoreFuture<Vec<Part>>;

    /// Up to `limit` uploads in progress of `bucket` whose keys start with `prefix`, in key then
    /// upload-id order, starting after `key_marker` (after all of its uploads when
    /// `upload_id_marker` is empty, else after that one of its uploads). Empty for a missing
    /// bucket. To page, pass the last upload's key and id as the markers.
    fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> StoreFuture<Vec<Upload>>;

    /// Up to `limit` uploads in progress begun before `before_ms` (for the reaper).
    fn uploads_initiated_before(&self, before_ms: u64, limit: usize) -> StoreFuture<Vec<Upload>>;

    /// Completes an upload, atomically: makes `meta` (whose size is the sum of the parts used)
    /// the current version of the upload's key if `condition` holds (as
    /// [`put_object`](Self::put_object) would), removes the upload and its parts, moves the parts'
    /// usage to the object (parts left out are gone from the backend once it assembles the
    /// object), and remembers the completion for [`completed_upload`](Self::completed_upload).
    /// When `cleanup_parts`, the backend's copies of the parts are queued for deletion (backends
    /// that keep parts apart from the object). `NoSuchUpload` if the upload is not in progress,
    /// `UploadChanged` if parts kept arriving while it completed; a failed condition leaves the
    /// upload in place. Resolves to the version id, as [`put_object`](Self::put_object) does.
    fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        cleanup_parts: bool,
    ) -> StoreFuture<Option<String>>;

    /// Aborts an upload, atomically: removes it and its parts and queues the parts on its
    /// backend for deletion (their bytes leave usage when that completes). Resolves to the
    /// upload; `NoSuchUpload` if it is not in progress.
    fn abort_upload(&self, upload_id: &str) -> StoreFuture<Upload>;

    /// The record of a completed upload, if it is still kept.
    fn completed_upload(&self, upload_id: &str) -> StoreFuture<Option<CompletedUpload>>;

    /// Forgets the records of uploads completed before `before_ms`; resolves to how many.
    fn forget_completed_before(&self, before_ms: u64) -> StoreFuture<usize>;

    // ----- quotas and usage -----

    /// Reserves `bytes` on `backend` if committed usage plus reservations in flight plus `bytes`
    /// stay within `quota_bytes` (no limit when `None`; the bytes are still tracked), else
    /// `QuotaExceeded`. Checked and recorded atomically: two concurrent reservations never
    /// exceed the quota together. Fails like a mutation while the engine cannot commit (`Flush`,
    /// `Unavailable`), so no bytes move that could not be committed.
    fn reserve(&self, backend: &str, bytes: u64, quota_bytes: Option<u64>) -> StoreFuture<Reservation>;

    /// Bytes reserved in flight on `backend`.
    fn reserved(&self, backend: &str) -> StoreFuture<u64>;

    /// Committed bytes on `backend`: current versions, parts of uploads in progress, and replaced
    /// versions not yet cleaned up.
    fn usage(&self, backend: &str) -> StoreFuture<u64>;

    /// Committed bytes of every backend that has any, by backend name.
    fn all_usage(&self) -> StoreFuture<Vec<(String, u64)>>;

    // ----- the cleanup queue -----

    /// Queues `physical_key` on `backend` for deletion, due now, for `reason`; resolves to the
    /// task id. `accounting` says whether `size` bytes are in the backend's usage (a committed
    /// version) or not (an aborted upload whose bytes may have reached the backend); only in the
    /// first case does completion release them.
    fn enqueue_cleanup(
        &self,
        backend: &str,
        physical_key: &str,
        size: u64,
        accounting: Accounting,
        reason: CleanupReason,
    ) -> StoreFuture<u64>;

    /// Up to `limit` tasks due at `now_ms`, earliest first (equal times in id order). Tasks are
    /// not leased: one worker drains the queue.
    fn due_cleanup(&self, now_ms: u64, limit: usize) -> StoreFuture<Vec<CleanupTask>>;

    /// The task with this id, if it is still queued.
    fn cleanup_task(&self, id: u64) -> StoreFuture<Option<CleanupTask>>;

    /// Marks a task done, atomically: removes it and, if its bytes were committed, subtracts them
    /// from the backend's usage. `NoSuchCleanupTask` if it is not queued.
    fn complete_cleanup(&self, id: u64) -> StoreFuture<()>;

    /// Records a failed attempt: one more attempt, not due again before `now_ms` plus
    /// [`backoff_ms`](crate::backoff_ms) of the attempts. Resolves to the task as updated.
    fn retry_cleanup(&self, id: u64, now_ms: u64) -> StoreFuture<CleanupTask>;

    /// How many tasks are queued (due or not), and the first `limit` of them by due time. Cheap
    /// enough for every status request: the depth is a counter, not a count.
    fn cleanup_queue(&self, limit: usize) -> StoreFuture<CleanupQueue>;

    // ----- what the admin port reads -----

    /// The totals of every backend that has any (objects, uploads, committed or reserved
    /// bytes), in name order. Cheap enough for every status request: kept as counters that each
    /// commit updates, not counted by a scan.
    fn backend_stats(&self) -> StoreFuture<Vec<BackendStats>>;

    /// Adds `deltas` to the usage counters of `period` (`YYYY-MM`, else `InvalidPeriod`), all of
    /// them atomically (several deltas for one backend add up; counters saturate at `u64::MAX`);
    /// resolves when durable.
    fn add_usage(&self, period: &str, deltas: Vec<UsageCounters>) -> StoreFuture<()>;

    /// The usage counters of `period` (`YYYY-MM`) of every backend that has any, in name order.
    fn usage_counters(&self, period: &str) -> StoreFuture<Vec<UsageCounters>>;

    /// How many current objects of `bucket` have keys starting with `prefix`, and the sum of
    /// their sizes: `(objects, bytes)` (`NoSuchBucket` if the bucket is missing). The cost is the engine's: the sled engine
    /// reads every key under the prefix (about a microsecond each), so a file browser should
    /// ask for the directory it shows, not for a whole large bucket on every page.
    fn prefix_summary(&self, bucket: &str, prefix: &str) -> StoreFuture<(u64, u64)>;

    /// A tiny durable write, for readiness probes: resolves `Ok` once the engine has made it
    /// durable, fails when it can no longer commit (a poisoned store, a lost database).
    fn check_writable(&self) -> StoreFuture<()>;

    // ----- replication, relocation and backend removal -----

    /// Queues version `version` of `bucket`/`key` for replication, due now; an entry already
    /// queued is kept as it is (its attempts and due time too). Commits of a version that wants
    /// more copies than it has ([`ObjectMeta::copies_wanted`]) queue it themselves, in the same
    /// transaction.
    fn enqueue_replication(&self, bucket: &str, key: &str, version: u64) -> StoreFuture<()>;

    /// Up to `limit` replication tasks due at `now_ms`, earliest first (equal times in bucket,
    /// key, version order). Tasks are not leased: one worker drains the queue. Deleting a
    /// version leaves its task queued: the worker finishes a task whose version is gone.
    fn due_replication(&self, now_ms: u64, limit: usize) -> StoreFuture<Vec<ReplicationTask>>;

    /// Removes the replication task of this version (done, or no longer wanted); a missing one
    /// is a success.
    fn finish_replication(&self, bucket: &str, key: &str, version: u64) -> StoreFuture<()>;

    /// Records a failed replication attempt: one more attempt, not due again before `now_ms`
    /// plus [`backoff_ms`](crate::backoff_ms) of the attempts; resolves to the task as updated.
    /// `NoSuchVersion` if no task of this version is queued.
    fn retry_replication(&self, bucket: &str, key: &str, version: u64, now_ms: u64) -> StoreFuture<ReplicationTask>;

    /// How many replication tasks are queued, due or not. The sled engine keeps it as a
    /// counter; PostgreSQL counts the queue's rows (an index scan of the queue).
    fn replication_depth(&self) -> StoreFuture<u64>;

    /// One page of the scan of every stored version that holds bytes (current and noncurrent,
    /// never delete markers) of every bucket, in bucket, key (byte order), version (ascending)
    /// order, strictly after `after` (from the start when `None`); with `backend`, only the
    /// versions with a location there. The scan is not a snapshot: a version written or moved
    /// meanwhile may be missed or seen again, so callers change what they find with
    /// [`relocate`](Self::relocate), which compares.
    ///
    /// Cost: one call examines at most `limit` × 8 records, capped at
    /// [`SCAN_EXAMINE_MAX`](crate::SCAN_EXAMINE_MAX) (but never fewer than `limit`), so a page
    /// filtered by a backend may be short, even empty, while `next` is `Some`: resume from
    /// `next` (the last record examined) until it is `None`, which it is only once the scan
    /// reached the end. Each record costs a read (sled) or a row of one indexed query
    /// (PostgreSQL): a full pass over a store costs about as much as listing every version once.
    fn scan_versions(&self, after: Option<&VersionAt>, backend: Option<&str>, limit: usize) -> StoreFuture<ScanPage>;

    /// Replaces the locations of version `version` of `bucket`/`key` (current or noncurrent),
    /// atomically, if they are `expected` (compared as sets): `NoSuchBucket` without the bucket,
    /// `NoSuchVersion` if the version is missing or a delete marker, `PreconditionFailed` if its
    /// locations are not `expected` (a concurrent change won). Its locations become `new`, in
    /// that order. Each location in `new` but not in `expected` adds the version's size to its
    /// backend's usage; each one in `expected` but not in `new` is, by `removal`, queued for
    /// cleanup ([`CleanupReason::Relocated`], committed bytes, due after
    /// [`CLEANUP_GRACE_MS`](crate::CLEANUP_GRACE_MS), its bytes counting until the cleanup
    /// completes), or forgotten (its bytes leave the usage at once). The backends' totals
    /// ([`backend_stats`](Self::backend_stats), which count every stored version) follow the
    /// new locations. If the version still wants more copies than `new` holds, it is queued for
    /// replication (see [`enqueue_replication`](Self::enqueue_replication)). `reservations`
    /// are let go once the bytes count as usage, and on failure. Resolves to the version as
    /// changed.
    #[allow(clippy::too_many_arguments)]
    fn relocate(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        expected: &[Location],
        new: &[Location],
        reservations: Vec<Reservation>,
        removal: Removal,
    ) -> StoreFuture<ObjectMeta>;

    /// [`relocate`](Self::relocate) for bytes rewritten under new physical keys (sealed or
    /// opened by `encrypt-existing` / `decrypt-existing`): atomically, if the version's locations
    /// are still `expected`, they become `new` and its record's facts of the stored bytes become
    /// `facts` (how they are sealed, their length, their hash). The new locations count their new
    /// stored length in usage; the dropped ones go to the cleanup queue with their old length.
    #[allow(clippy::too_many_arguments)]
    fn rewrite(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        expected: &[Location],
        new: &[Location],
        facts: crate::sealed::StoredFacts,
        reservations: Vec<Reservation>,
    ) -> StoreFuture<ObjectMeta>;

    /// The bytes of queued cleanup tasks still counted in usage ([`Accounting::Committed`]),
    /// by backend, in name order (backends with none left out): what usage holds beyond the
    /// stored versions and uploads. Costs a read of the whole cleanup queue (sled) or one
    /// aggregate over it (PostgreSQL).
    fn orphan_bytes(&self) -> StoreFuture<Vec<(String, u64)>>;

    /// Removes every trace of `backend` but the versions' locations (which the caller first
    /// moves away with [`relocate`](Self::relocate) or removes with
    /// [`delete_version`](Self::delete_version)): its cleanup tasks, committed usage, totals,
    /// reservations in flight and monthly usage counters. Safe to repeat; resolves to the
    /// number of cleanup tasks removed.
    fn forget_backend(&self, backend: &str) -> StoreFuture<u64>;

    // ----- rebuilding the index from the backends -----

    /// Creates the bucket `meta` names with its owner, creation time, versioning and object
    /// lock (its counts are ignored: they follow the versions restored into it); a bucket of
    /// that name that exists already is left as it is, and the call succeeds.
    /// `InvalidBucketName` as [`create_bucket`](Self::create_bucket).
    fn restore_bucket(&self, meta: &BucketMeta) -> StoreFuture<()>;

    /// Puts version `meta` of `bucket`/`key` back in its place by version number, atomically,
    /// as the index rebuild finds it on the backends (`meta.versioned` and `meta.delete_marker`
    /// are kept as given): newer than every version of the key, it becomes the latest (a
    /// version becomes the current one; the previous current version becomes noncurrent, a
    /// delete marker hides it); older, it becomes a noncurrent version (or delete marker).
    /// Nothing is discarded or queued for cleanup. A version of that number already present gets
    /// the union of its locations and `meta`'s (its other fields are kept). Usage, the backends'
    /// totals and the bucket's counts change exactly as if the versions had been written in
    /// order; a version wanting more copies than it has is queued for replication.
    /// `NoSuchBucket` without the bucket.
    fn restore_version(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> StoreFuture<()>;

    /// Makes every later [`next_version`](Self::next_version) return more than `above` (a
    /// no-op when they already would). For an index rebuilt from the backends, whose versions
    /// must stay older than every new one; call it while nothing else takes versions (on
    /// PostgreSQL, other instances keep the blocks of versions they took before).
    fn advance_versions(&self, above: u64) -> StoreFuture<()>;

    // ----- named state documents -----

    /// Stores `value` (a small document, e.g. JSON) under `name`, replacing any; every instance
    /// sharing the store sees it, also after a restart.
    fn put_state(&self, name: &str, value: &str) -> StoreFuture<()>;

    /// The document stored under `name`, if any.
    fn state(&self, name: &str) -> StoreFuture<Option<String>>;

    /// Removes the document stored under `name`; a missing one is a success.
    fn delete_state(&self, name: &str) -> StoreFuture<()>;

    /// Every document whose name starts with `prefix`, as (name, value), in name order.
    fn states(&self, prefix: &str) -> StoreFuture<Vec<(String, String)>>;

    // ----- document collections (the access layer's records, see `docs`) -----

    /// Applies `writes` atomically and durably: each entry's expectation is checked against the
    /// state the batch has built so far (so an entry may expect what an earlier entry wrote);
    /// if one fails, nothing is written and the call fails with `DocConflict` naming it. Resolves
    /// to each entry's revision afterwards (0: absent). `InvalidDoc` for names, sizes or batches
    /// over the limits of [`docs`](crate::docs).
    fn apply_docs(&self, writes: Vec<DocWrite>) -> StoreFuture<Vec<u64>>;

    /// The document `id` of `collection`, if any.
    fn doc(&self, collection: &str, id: &str) -> StoreFuture<Option<Doc>>;

    /// A page of a collection by id (see [`DocQuery`]).
    fn docs(&self, query: &DocQuery) -> StoreFuture<Vec<Doc>>;

    // ----- instances and worker leases -----

    /// This handle's instance id: unique per open engine, the holder name of its leases.
    fn instance(&self) -> String;

    /// Takes or renews lease `name` for `holder` for `ttl_ms` (on the store's clock) if it is
    /// free, expired or already `holder`'s, atomically (two instances never both hold it);
    /// resolves to the lease as it then stands, whoever holds it.
    fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreFuture<Lease>;

    /// Gives lease `name` up if `holder` holds it (so another instance may take it at once).
    fn release_lease(&self, name: &str, holder: &str) -> StoreFuture<()>;

    /// Every lease (expired ones included, until taken again), by name.
    fn leases(&self) -> StoreFuture<Vec<Lease>>;

    /// Publishes `document` (the live part of a configuration) from instance `origin` as the
    /// next generation of the shared configuration; resolves to that generation.
    fn publish_config(&self, origin: &str, document: &str) -> StoreFuture<u64>;

    /// The shared configuration if its generation is above `generation` (0: any).
    fn config_after(&self, generation: u64) -> StoreFuture<Option<SharedConfig>>;
}
