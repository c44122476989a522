//! The [`Engine`] implementation of the PostgreSQL engine: each call copies its arguments and
//! runs on the engine's runtime (see [`PgEngine::run`](super::PgEngine)); the sibling modules
//! hold the calls' bodies.

use super::multipart::{Complete, UploadQuery};
use super::objects::Put;
use super::relocate::Relocation;
use super::{
    cleanup, docs, instance, list, multipart, objects, relocate, replication, restore, version_ops, versions_list,
    PgEngine,
};
use crate::docs::{Doc, DocQuery, DocWrite};
use crate::engine::{ready, Engine, Health, StoreFuture};
use crate::lease::{Lease, SharedConfig};
use crate::model::{
    Accounting, BucketMeta, CleanupReason, CleanupTask, CompletedUpload, ListPage, ListQuery, Location, ObjectMeta,
    Part, Upload, WriteCondition,
};
use crate::orchestration::{Removal, ReplicationTask, ScanPage, VersionAt};
use crate::reservation::Reservation;
use crate::stats::{BackendStats, CleanupQueue, UsageCounters};
use crate::versions::{BucketChange, Deleted, VersionChange, VersionPage, VersionQuery, VersionRef};

impl Engine for PgEngine {
    fn health(&self) -> Health {
        Health {
            engine: "postgres",
            problem: self.db.problem.lock().clone(),
            flushes: 0,
        }
    }

    fn sync(&self) -> StoreFuture<()> {
        // Every commit the engine acknowledged waited for the server's WAL flush.
        ready(Ok(()))
    }

    fn create_bucket(&self, name: &str, owner_access_key: &str) -> StoreFuture<()> {
        let (name, owner) = (name.to_owned(), owner_access_key.to_owned());
        self.run(move |db| async move { objects::create_bucket(&db, name, owner).await })
    }

    fn bucket(&self, name: &str) -> StoreFuture<Option<BucketMeta>> {
        let name = name.to_owned();
        self.run(move |db| async move { objects::bucket(&db, name).await })
    }

    fn list_buckets(&self) -> StoreFuture<Vec<BucketMeta>> {
        self.run(move |db| async move { objects::list_buckets(&db).await })
    }

    fn delete_bucket(&self, name: &str) -> StoreFuture<()> {
        let name = name.to_owned();
        self.run(move |db| async move { objects::delete_bucket(&db, name).await })
    }

    fn update_bucket(&self, name: &str, change: BucketChange) -> StoreFuture<BucketMeta> {
        let name = name.to_owned();
        self.run(move |db| async move { version_ops::update_bucket(&db, name, change).await })
    }

    fn next_version(&self) -> StoreFuture<u64> {
        self.run(move |db| async move { objects::next_version(&db).await })
    }

    fn get_object(&self, bucket: &str, key: &str) -> StoreFuture<Option<ObjectMeta>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { objects::get_object(&db, bucket, key).await })
    }

    fn get_version(&self, bucket: &str, key: &str, version: VersionRef) -> StoreFuture<Option<ObjectMeta>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { version_ops::get_version(&db, bucket, key, version).await })
    }

    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        reservations: Vec<Reservation>,
    ) -> StoreFuture<Option<String>> {
        let put = Put {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            meta: meta.clone(),
            condition: condition.clone(),
        };
        self.run(move |db| async move { objects::put_object(&db, put, reservations).await })
    }

    fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        change: VersionChange,
    ) -> StoreFuture<ObjectMeta> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { version_ops::update_version(&db, bucket, key, version, change).await })
    }

    fn delete_object(&self, bucket: &str, key: &str) -> StoreFuture<Deleted> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { version_ops::delete_object(&db, bucket, key).await })
    }

    fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version: VersionRef,
        bypass_governance: bool,
    ) -> StoreFuture<Option<ObjectMeta>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(
            move |db| async move { version_ops::delete_version(&db, bucket, key, version, bypass_governance).await },
        )
    }

    fn list_versions(&self, bucket: &str, query: &VersionQuery) -> StoreFuture<VersionPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.run(move |db| async move { versions_list::list_versions(&db, bucket, query).await })
    }

    fn list_objects(&self, bucket: &str, query: &ListQuery) -> StoreFuture<ListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.run(move |db| async move { list::list_objects(&db, bucket, query).await })
    }

    fn create_upload(&self, upload: &Upload) -> StoreFuture<()> {
        let upload = upload.clone();
        self.run(move |db| async move { multipart::create_upload(&db, upload).await })
    }

    fn upload(&self, upload_id: &str) -> StoreFuture<Option<Upload>> {
        let id = upload_id.to_owned();
        self.run(move |db| async move { multipart::upload(&db, id).await })
    }

    fn put_part(&self, upload_id: &str, part: &Part, reservation: Option<Reservation>) -> StoreFuture<()> {
        let (id, part) = (upload_id.to_owned(), part.clone());
        self.run(move |db| async move { multipart::put_part(&db, id, part, reservation).await })
    }

    fn parts(&self, upload_id: &str, after: u32, limit: usize) -> StoreFuture<Vec<Part>> {
        let id = upload_id.to_owned();
        self.run(move |db| async move { multipart::parts(&db, id, after, limit).await })
    }

    fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> StoreFuture<Vec<Upload>> {
        let q = UploadQuery {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            key_marker: key_marker.to_owned(),
            upload_id_marker: upload_id_marker.to_owned(),
            limit,
        };
        self.run(move |db| async move { multipart::list_uploads(&db, q).await })
    }

    fn uploads_initiated_before(&self, before_ms: u64, limit: usize) -> StoreFuture<Vec<Upload>> {
        self.run(move |db| async move { multipart::uploads_initiated_before(&db, before_ms, limit).await })
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        cleanup_parts: bool,
    ) -> StoreFuture<Option<String>> {
        let done = Complete {
            upload_id: upload_id.to_owned(),
            meta: meta.clone(),
            condition: condition.clone(),
            cleanup_parts,
        };
        self.run(move |db| async move { multipart::complete_upload(&db, done).await })
    }

    fn abort_upload(&self, upload_id: &str) -> StoreFuture<Upload> {
        let id = upload_id.to_owned();
        self.run(move |db| async move { multipart::abort_upload(&db, id).await })
    }

    fn completed_upload(&self, upload_id: &str) -> StoreFuture<Option<CompletedUpload>> {
        let id = upload_id.to_owned();
        self.run(move |db| async move { multipart::completed_upload(&db, id).await })
    }

    fn forget_completed_before(&self, before_ms: u64) -> StoreFuture<usize> {
        self.run(move |db| async move { multipart::forget_completed_before(&db, before_ms).await })
    }

    fn reserve(&self, backend: &str, bytes: u64, quota_bytes: Option<u64>) -> StoreFuture<Reservation> {
        let backend = backend.to_owned();
        self.run(move |db| async move { cleanup::reserve(db, backend, bytes, quota_bytes).await })
    }

    fn reserved(&self, backend: &str) -> StoreFuture<u64> {
        let backend = backend.to_owned();
        self.run(move |db| async move { cleanup::reserved(&db, backend).await })
    }

    fn usage(&self, backend: &str) -> StoreFuture<u64> {
        let backend = backend.to_owned();
        self.run(move |db| async move { cleanup::usage(&db, backend).await })
    }

    fn all_usage(&self) -> StoreFuture<Vec<(String, u64)>> {
        self.run(move |db| async move { cleanup::all_usage(&db).await })
    }

    fn enqueue_cleanup(
        &self,
        backend: &str,
        physical_key: &str,
        size: u64,
        accounting: Accounting,
        reason: CleanupReason,
    ) -> StoreFuture<u64> {
        let task = CleanupTask::delete(backend, physical_key, size, accounting, reason, crate::rules::now_ms());
        self.run(move |db| async move { cleanup::enqueue(&db, task).await })
    }

    fn due_cleanup(&self, now_ms: u64, limit: usize) -> StoreFuture<Vec<CleanupTask>> {
        self.run(move |db| async move { cleanup::due(&db, now_ms, limit).await })
    }

    fn cleanup_task(&self, id: u64) -> StoreFuture<Option<CleanupTask>> {
        self.run(move |db| async move { cleanup::task(&db, id).await })
    }

    fn complete_cleanup(&self, id: u64) -> StoreFuture<()> {
        self.run(move |db| async move { cleanup::complete(&db, id).await })
    }

    fn retry_cleanup(&self, id: u64, now_ms: u64) -> StoreFuture<CleanupTask> {
        self.run(move |db| async move { cleanup::retry(&db, id, now_ms).await })
    }

    fn cleanup_queue(&self, limit: usize) -> StoreFuture<CleanupQueue> {
        self.run(move |db| async move { cleanup::queue(&db, limit).await })
    }

    fn backend_stats(&self) -> StoreFuture<Vec<BackendStats>> {
        self.run(move |db| async move { cleanup::backend_stats(&db).await })
    }

    fn add_usage(&self, period: &str, deltas: Vec<UsageCounters>) -> StoreFuture<()> {
        let period = period.to_owned();
        self.run(move |db| async move { cleanup::add_usage(&db, period, deltas).await })
    }

    fn usage_counters(&self, period: &str) -> StoreFuture<Vec<UsageCounters>> {
        let period = period.to_owned();
        self.run(move |db| async move { cleanup::usage_counters(&db, period).await })
    }

    fn prefix_summary(&self, bucket: &str, prefix: &str) -> StoreFuture<(u64, u64)> {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        self.run(move |db| async move { cleanup::prefix_summary(&db, bucket, prefix).await })
    }

    fn check_writable(&self) -> StoreFuture<()> {
        self.run(move |db| async move { cleanup::check_writable(&db).await })
    }

    fn enqueue_replication(&self, bucket: &str, key: &str, version: u64) -> StoreFuture<()> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { replication::enqueue(&db, bucket, key, version).await })
    }

    fn due_replication(&self, now_ms: u64, limit: usize) -> StoreFuture<Vec<ReplicationTask>> {
        self.run(move |db| async move { replication::due(&db, now_ms, limit).await })
    }

    fn finish_replication(&self, bucket: &str, key: &str, version: u64) -> StoreFuture<()> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { replication::finish(&db, bucket, key, version).await })
    }

    fn retry_replication(&self, bucket: &str, key: &str, version: u64, now_ms: u64) -> StoreFuture<ReplicationTask> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.run(move |db| async move { replication::retry(&db, bucket, key, version, now_ms).await })
    }

    fn replication_depth(&self) -> StoreFuture<u64> {
        self.run(move |db| async move { replication::depth(&db).await })
    }

    fn scan_versions(&self, after: Option<&VersionAt>, backend: Option<&str>, limit: usize) -> StoreFuture<ScanPage> {
        let (after, backend) = (after.cloned(), backend.map(str::to_owned));
        self.run(move |db| async move { relocate::scan_versions(&db, after, backend, limit).await })
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
        let r = Relocation {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version,
            expected: expected.to_vec(),
            new: new.to_vec(),
            removal,
            facts: None,
        };
        self.run(move |db| async move { relocate::relocate(&db, r, reservations).await })
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
        let r = Relocation {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version,
            expected: expected.to_vec(),
            new: new.to_vec(),
            removal: Removal::Cleanup,
            facts: Some(facts),
        };
        self.run(move |db| async move { relocate::relocate(&db, r, reservations).await })
    }

    fn orphan_bytes(&self) -> StoreFuture<Vec<(String, u64)>> {
        self.run(move |db| async move { replication::orphan_bytes(&db).await })
    }

    fn forget_backend(&self, backend: &str) -> StoreFuture<u64> {
        let backend = backend.to_owned();
        self.run(move |db| async move { replication::forget_backend(&db, backend).await })
    }

    fn restore_bucket(&self, meta: &BucketMeta) -> StoreFuture<()> {
        let meta = meta.clone();
        self.run(move |db| async move { restore::restore_bucket(&db, meta).await })
    }

    fn restore_version(&self, bucket: &str, key: &str, meta: &ObjectMeta) -> StoreFuture<()> {
        let (bucket, key, meta) = (bucket.to_owned(), key.to_owned(), meta.clone());
        self.run(move |db| async move { restore::restore_version(&db, bucket, key, meta).await })
    }

    fn advance_versions(&self, above: u64) -> StoreFuture<()> {
        self.run(move |db| async move { restore::advance_versions(&db, above).await })
    }

    fn put_state(&self, name: &str, value: &str) -> StoreFuture<()> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.run(move |db| async move { replication::put_state(&db, name, value).await })
    }

    fn state(&self, name: &str) -> StoreFuture<Option<String>> {
        let name = name.to_owned();
        self.run(move |db| async move { replication::state(&db, name).await })
    }

    fn delete_state(&self, name: &str) -> StoreFuture<()> {
        let name = name.to_owned();
        self.run(move |db| async move { replication::delete_state(&db, name).await })
    }

    fn states(&self, prefix: &str) -> StoreFuture<Vec<(String, String)>> {
        let prefix = prefix.to_owned();
        self.run(move |db| async move { replication::states(&db, prefix).await })
    }

    fn apply_docs(&self, writes: Vec<DocWrite>) -> StoreFuture<Vec<u64>> {
        self.run(move |db| async move { docs::apply(&db, writes).await })
    }

    fn doc(&self, collection: &str, id: &str) -> StoreFuture<Option<Doc>> {
        let (collection, id) = (collection.to_owned(), id.to_owned());
        self.run(move |db| async move { docs::get(&db, collection, id).await })
    }

    fn docs(&self, query: &DocQuery) -> StoreFuture<Vec<Doc>> {
        let query = query.clone();
        self.run(move |db| async move { docs::page(&db, query).await })
    }

    fn instance(&self) -> String {
        self.db.instance.clone()
    }

    fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreFuture<Lease> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(move |db| async move { instance::acquire_lease(&db, name, holder, ttl_ms).await })
    }

    fn release_lease(&self, name: &str, holder: &str) -> StoreFuture<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(move |db| async move { instance::release_lease(&db, name, holder).await })
    }

    fn leases(&self) -> StoreFuture<Vec<Lease>> {
        self.run(move |db| async move { instance::leases(&db).await })
    }

    fn publish_config(&self, origin: &str, document: &str) -> StoreFuture<u64> {
        let (origin, document) = (origin.to_owned(), document.to_owned());
        self.run(move |db| async move { instance::publish_config(&db, origin, document).await })
    }

    fn config_after(&self, generation: u64) -> StoreFuture<Option<SharedConfig>> {
        self.run(move |db| async move { instance::config_after(&db, generation).await })
    }
}
