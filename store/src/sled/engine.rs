//! The [`Engine`] implementation of the sled engine: each call runs its synchronous half (the
//! inherent methods in the sibling modules) during the call. A read returns a ready future; a
//! mutation, having committed its transaction in memory, returns a future that resolves when the
//! group-commit flush has made it durable.
//!
//! An I/O error from a mutation poisons the engine as a failed flush would: sled keeps the first
//! error of its background log writes and refuses every later write with it, so the handle can
//! never commit again. The mutation fails with [`StoreError::Flush`] naming the cause.

use super::commit::CommitTicket;
use super::SledEngine;
use crate::docs::{Doc, DocQuery, DocWrite};
use crate::engine::{ready, Engine, Health, StoreFuture};
use crate::error::{Result, StoreError};
use crate::model::{
    Accounting, BucketMeta, CleanupReason, CleanupTask, CompletedUpload, ListPage, ListQuery, Location, ObjectMeta,
    Part, Upload, WriteCondition,
};
use crate::orchestration::{Removal, ReplicationTask, ScanPage, VersionAt};
use crate::reservation::Reservation;
use crate::stats::{BackendStats, CleanupQueue, UsageCounters};
use crate::versions::{BucketChange, Deleted, VersionChange, VersionPage, VersionQuery, VersionRef};

impl SledEngine {
    /// The error a mutation fails with: an I/O error poisons the engine (see the module notes)
    /// and becomes [`StoreError::Flush`]; any other error is the mutation's own.
    pub(crate) fn failed(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Io(io) => {
                let why = format!("metadata write failed: {io}");
                self.commits.poison(&why);
                StoreError::Flush(why)
            }
            other => other,
        }
    }

    /// The future of a mutation that committed (or failed) during the call.
    fn durable(&self, committed: Result<CommitTicket>) -> StoreFuture<()> {
        match committed {
            Ok(ticket) => Box::pin(ticket),
            Err(e) => ready(Err(self.failed(e))),
        }
    }

    /// [`durable`](Self::durable) for a mutation with an answer: the answer once the mutation is
    /// durable.
    fn durable_with<T: Send + 'static>(&self, committed: Result<(T, CommitTicket)>) -> StoreFuture<T> {
        match committed {
            Ok((value, ticket)) => Box::pin(async move {
                ticket.await?;
                Ok(value)
            }),
            Err(e) => ready(Err(self.failed(e))),
        }
    }
}

impl Engine for SledEngine {
    fn health(&self) -> Health {
        Health {
            engine: "sled",
            problem: self.commits.problem(),
            flushes: self.commits.flush_count(),
        }
    }

    fn sync(&self) -> StoreFuture<()> {
        self.durable(self.commits.check().map(|()| self.commits.ticket()))
    }

    fn create_bucket(&self, name: &str, owner_access_key: &str) -> StoreFuture<()> {
        self.durable(SledEngine::create_bucket(self, name, owner_access_key))
    }

    fn bucket(&self, name: &str) -> StoreFuture<Option<BucketMeta>> {
        ready(SledEngine::bucket(self, name))
    }

    fn list_buckets(&self) -> StoreFuture<Vec<BucketMeta>> {
        ready(SledEngine::list_buckets(self))
    }

    fn delete_bucket(&self, name: &str) -> StoreFuture<()> {
        self.durable(SledEngine::delete_bucket(self, name))
    }

    fn update_bucket(&self, name: &str, change: BucketChange) -> StoreFuture<BucketMeta> {
        self.durable_with(SledEngine::update_bucket(self, name, &change))
    }

    fn next_version(&self) -> StoreFuture<u64> {
        // Persisting the id generator is a write.
        ready(SledEngine::next_version(self).map_err(|e| self.failed(e)))
    }

    fn get_object(&self, bucket: &str, key: &str) -> StoreFuture<Option<ObjectMeta>> {
        ready(SledEngine::get_object(self, bucket, key))
    }

    fn get_version(&self, bucket: &str, key: &str, version: VersionRef) -> StoreFuture<Option<ObjectMeta>> {
        ready(SledEngine::get_version(self, bucket, key, version))
    }

    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        reservations: Vec<Reservation>,
    ) -> StoreFuture<Option<String>> {
        self.durable_with(SledEngine::put_object(self, bucket, key, meta, condition, reservations))
    }

    fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        change: VersionChange,
    ) -> StoreFuture<ObjectMeta> {
        self.durable_with(SledEngine::update_version(self, bucket, key, version, &change))
    }

    fn delete_object(&self, bucket: &str, key: &str) -> StoreFuture<Deleted> {
        self.durable_with(SledEngine::delete_object(self, bucket, key))
    }

    fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        bypass_governance: bool,
    ) -> StoreFuture<Option<ObjectMeta>> {
        self.durable_with(SledEngine::delete_version(
            self,
            bucket,
            key,
            version,
            bypass_governance,
        ))
    }

    fn list_versions(&self, bucket: &str, query: &VersionQuery) -> StoreFuture<VersionPage> {
        ready(SledEngine::list_versions(self, bucket, query))
    }

    fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreFuture<ListPage> {
        ready(SledEngine::list_objects(self, bucket, query))
    }

    fn create_upload(&self, upload: &Upload) -> StoreFuture<()> {
        self.durable(SledEngine::create_upload(self, upload))
    }

    fn upload(&self, upload_id: &str) -> StoreFuture<Option<Upload>> {
        ready(SledEngine::upload(self, upload_id))
    }

    fn put_part(&self, upload_id: &str, part: &Part, reservation: Option<Reservation>) -> StoreFuture<()> {
        self.durable(SledEngine::put_part(self, upload_id, part, reservation))
    }

    fn parts(&self, upload_id: &str, after: u32, limit: usize) -> StoreFuture<Vec<Part>> {
        ready(SledEngine::parts(self, upload_id, after, limit))
    }

    fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> StoreFuture<Vec<Upload>> {
        ready(SledEngine::list_uploads(
            self,
            bucket,
            prefix,
            key_marker,
            upload_id_marker,
            limit,
        ))
    }

    fn uploads_initiated_before(&self, before_ms: u64, limit: usize) -> StoreFuture<Vec<Upload>> {
        ready(SledEngine::uploads_initiated_before(self, before_ms, limit))
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        cleanup_parts: bool,
    ) -> StoreFuture<Option<String>> {
        self.durable_with(SledEngine::complete_upload(
            self,
            upload_id,
            meta,
            condition,
            cleanup_parts,
        ))
    }

    fn abort_upload(&self, upload_id: &str) -> StoreFuture<Upload> {
        self.durable_with(SledEngine::abort_upload(self, upload_id))
    }

    fn completed_upload(&self, upload_id: &str) -> StoreFuture<Option<CompletedUpload>> {
        ready(SledEngine::completed_upload(self, upload_id))
    }

    fn forget_completed_before(&self, before_ms: u64) -> StoreFuture<usize> {
        self.durable_with(SledEngine::forget_completed_before(self, before_ms))
    }

    fn reserve(&self, backend: &str, bytes: u64, quota_bytes: Option<u64>) -> StoreFuture<Reservation> {
        ready(SledEngine::reserve(self, backend, bytes, quota_bytes))
    }

    fn reserved(&self, backend: &str) -> StoreFuture<u64> {
        ready(Ok(SledEngine::reserved(self, backend)))
    }

    fn usage(&self, backend: &str) -> StoreFuture<u64> {
        ready(SledEngine::usage(self, backend))
    }

    fn all_usage(&self) -> StoreFuture<Vec<(String, u64)>> {
        ready(SledEngine::all_usage(self))
    }

    fn enqueue_cleanup(
        &self,
        backend: &str,
        physical_key: &str,
        size: u64,
        accounting: Accounting,
        reason: CleanupReason,
    ) -> StoreFuture<u64> {
        self.durable_with(SledEngine::enqueue_cleanup(
            self,
            backend,
            physical_key,
            size,
            accounting,
            reason,
        ))
    }

    fn due_cleanup(&self, now_ms: u64, limit: usize) -> StoreFuture<Vec<CleanupTask>> {
        ready(SledEngine::due_cleanup(self, now_ms, limit))
    }

    fn cleanup_task(&self, id: u64) -> StoreFuture<Option<CleanupTask>> {
        ready(SledEngine::cleanup_task(self, id))
    }

    fn complete_cleanup(&self, id: u64) -> StoreFuture<()> {
        self.durable(SledEngine::complete_cleanup(self, id))
    }

    fn retry_cleanup(&self, id: u64, now_ms: u64) -> StoreFuture<CleanupTask> {
        self.durable_with(SledEngine::retry_cleanup(self, id, now_ms))
    }

    fn cleanup_queue(&self, limit: usize) -> StoreFuture<CleanupQueue> {
        ready(SledEngine::cleanup_queue(self, limit))
    }

    fn backend_stats(&self) -> StoreFuture<Vec<BackendStats>> {
        ready(SledEngine::backend_stats(self))
    }

    fn add_usage(&self, period: &str, deltas: Vec<UsageCounters>) -> StoreFuture<()> {
        self.durable(SledEngine::add_usage(self, period, &deltas))
    }

    fn usage_counters(&self, period: &str) -> StoreFuture<Vec<UsageCounters>> {
        ready(SledEngine::usage_counters(self, period))
    }

    fn prefix_summary(&self, bucket: &str, prefix: &str) -> StoreFuture<(u64, u64)> {
        ready(SledEngine::prefix_summary(self, bucket, prefix))
    }

    fn check_writable(&self) -> StoreFuture<()> {
        self.durable(SledEngine::check_writable(self))
    }

    fn enqueue_replication(&self, bucket: &str, key: &str, version: u64) -> StoreFuture<()> {
        self.durable(SledEngine::enqueue_replication(self, bucket, key, version))
    }

    fn due_replication(&self, now_ms: u64, limit: usize) -> StoreFuture<Vec<ReplicationTask>> {
        ready(SledEngine::due_replication(self, now_ms, limit))
    }

    fn finish_replication(&self, bucket: &str, key: &str, version: u64) -> StoreFuture<()> {
        self.durable(SledEngine::finish_replication(self, bucket, key, version))
    }

    fn retry_replication(&self, bucket: &str, key: &str, version: u64, now_ms: u64) -> StoreFuture<ReplicationTask> {
        self.durable_with(SledEngine::retry_replication(self, bucket, key, version, now_ms))
    }

    fn replication_depth(&self) -> StoreFuture<u64> {
        ready(Ok(SledEngine::replication_depth(self)))
    }

    fn scan_versions(&self, after: Option<&VersionAt>, backend: Option<&str>, limit: usize) -> StoreFuture<ScanPage> {
        ready(SledEngine::scan_versions(self, after, backend, limit))
    }

    fn relocate(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        expected: &[Location],
        new: &[Location],
        reservations: Vec<Reservation>,
        removal: Removal,
    ) -> StoreFuture<ObjectMeta> {
        self.durable_with(SledEngine::relocate(
            self,
            bucket,
            key,
            version,
            expected,
            new,
            reservations,
            removal,
        ))
    }

    fn rewrite(
        &self,
        bucket: &str,
        key: &str,
        version: u64,
        expected: &[Location],
        new: &[Location],
        facts: crate::sealed::StoredFacts,
        reservations: Vec<Reservation>,
    ) -> StoreFuture<ObjectMeta> {
        self.durable_with(SledEngine::relocate_with(
            self,
            bucket,
            key,
            version,
            (expected, new),
            reservations,
            Removal::Cleanup,
            Some(&facts),
        ))
    }

    fn orphan_bytes(&self) -> StoreFuture<Vec<(String, u64)>> {
        ready(SledEngine::orphan_bytes(self))
    }

    fn forget_backend(&self, backend: &str) -> StoreFuture<u64> {
        self.durable_with(SledEngine::forget_backend(self, backend))
    }

    fn restore_bucket(&self, meta: &BucketMeta) -> StoreFuture<()> {
        self.durable(SledEngine::restore_bucket(self, meta))
    }

    fn restore_version(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> StoreFuture<()> {
        self.durable(SledEngine::restore_version(self, bucket, key, meta))
    }

    fn advance_versions(&self, above: u64) -> StoreFuture<()> {
        self.durable(SledEngine::advance_versions(self, above))
    }

    fn put_state(&self, name: &str, value: &str) -> StoreFuture<()> {
        self.durable(SledEngine::put_state(self, name, value))
    }

    fn state(&self, name: &str) -> StoreFuture<Option<String>> {
        ready(SledEngine::state(self, name))
    }

    fn delete_state(&self, name: &str) -> StoreFuture<()> {
        self.durable(SledEngine::delete_state(self, name))
    }

    fn states(&self, prefix: &str) -> StoreFuture<Vec<(String, String)>> {
        ready(SledEngine::states(self, prefix))
    }

    fn apply_docs(&self, writes: Vec<DocWrite>) -> StoreFuture<Vec<u64>> {
        self.durable_with(SledEngine::apply_docs(self, &writes))
    }

    fn doc(&self, collection: &str, id: &str) -> StoreFuture<Option<Doc>> {
        ready(SledEngine::doc(self, collection, id))
    }

    fn docs(&self, query: &DocQuery) -> StoreFuture<Vec<Doc>> {
        ready(SledEngine::docs(self, query))
    }

    crate::lease::local_coordination!(local);
}
