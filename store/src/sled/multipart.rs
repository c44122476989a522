//! Multipart uploads in the sled engine: an upload record per upload id (the backend it is pinned to, the physical
//! key and version the object will have, its metadata), one record per uploaded part, and an
//! index by bucket and key for ListMultipartUploads.
//!
//! Part bytes are counted in the backend's usage as each part is recorded (a replaced part's
//! bytes are subtracted). Completing an upload makes the object current in one transaction that
//! also removes the upload and its parts and turns the parts' usage into the object's; aborting
//! removes them and queues the backend's copy of the parts for deletion through the cleanup
//! queue, whose completion releases their usage. Both check the upload's part sequence number
//! inside their transaction, so a part recorded concurrently is never lost track of.

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::cleanup::enqueue_in;
use super::commit::CommitTicket;
use super::error::TxError;
use super::layout::{
    bucket_prefix, corrupt, decode, encode, object_key, part_key, parts_prefix, successor, upload_index_key, utf8,
    COMPLETED, PARTS, UPLOADS, UPLOAD_KEYS,
};
use super::objects::{bucket_in, install_in, VersionTrees};
use super::quota::adjust_usage;
use super::stats::StatsDelta;
use super::SledEngine;
use crate::error::{Result, StoreError};
use crate::model::{Accounting, CleanupReason, CleanupTask, CompletedUpload, ObjectMeta, Part, Upload, WriteCondition};
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms, CLEANUP_GRACE_MS};

/// How often a completion or abort is retried when parts keep arriving meanwhile.
const CHANGED_RETRIES: usize = 8;

/// Reads an upload record inside a transaction, or aborts with `NoSuchUpload`.
fn upload_in(uploads: &TransactionalTree, upload_id: &str) -> std::result::Result<Upload, TxError> {
    match uploads.get(upload_id.as_bytes())? {
        Some(v) => Ok(decode(UPLOADS, &v)?),
        None => Err(TxError::Abort(StoreError::NoSuchUpload(upload_id.to_owned()))),
    }
}

impl SledEngine {
    /// Records a new multipart upload (`NoSuchBucket` if its bucket is missing).
    pub(crate) fn create_upload(&self, upload: &Upload) -> Result<CommitTicket> {
        check_bucket_name(&upload.bucket)?;
        self.commits.check()?;
        let value = encode(UPLOADS, upload)?;
        let index = upload_index_key(&upload.bucket, &upload.key, &upload.upload_id);
        let trees = (&self.buckets, &self.uploads, &self.upload_keys, &self.backend_stats);
        trees.transaction(|(buckets, uploads, keys, stats)| {
            bucket_in(buckets, &upload.bucket)?;
            let replaced = uploads.insert(upload.upload_id.as_bytes(), value.as_slice())?;
            keys.insert(index.as_slice(), &[])?;
            if replaced.is_none() {
                let mut delta = StatsDelta::default();
                delta.upload(&upload.backend, 1);
                delta.apply_in(stats)?;
            }
            Ok(())
        })?;
        Ok(self.commits.ticket())
    }

    /// The upload with this id, if it is in progress.
    pub(crate) fn upload(&self, upload_id: &str) -> Result<Option<Upload>> {
        self.uploads
            .get(upload_id.as_bytes())?
            .map(|v| decode(UPLOADS, &v))
            .transpose()
    }

    /// Records `part` of an upload, replacing a part of the same number, and counts its bytes in
    /// the upload's backend usage (`reservation`, if any, is released after the transaction).
    pub(crate) fn put_part(
        &self,
        upload_id: &str,
        part: &Part,
        reservation: Option<Reservation>,
    ) -> Result<CommitTicket> {
        self.commits.check()?;
        let pkey = part_key(upload_id, part.number);
        let value = encode(PARTS, part)?;
        (&self.uploads, &self.parts, &self.usage).transaction(|(uploads, parts, usage)| {
            let mut upload = upload_in(uploads, upload_id)?;
            let old = match parts.insert(pkey.as_slice(), value.as_slice())? {
                Some(v) => decode::<Part>(PARTS, &v)?.stored_size(),
                None => 0,
            };
            adjust_usage(usage, &upload.backend, i128::from(part.stored_size()) - i128::from(old))?;
            upload.part_bytes = upload.part_bytes.saturating_sub(old).saturating_add(part.stored_size());
            upload.parts_seq = upload.parts_seq.saturating_add(1);
            uploads.insert(upload_id.as_bytes(), encode(UPLOADS, &upload)?)?;
            Ok(())
        })?;
        let ticket = self.commits.ticket();
        drop(reservation);
        Ok(ticket)
    }

    /// Up to `limit` parts of an upload with numbers above `after`, in order.
    pub(crate) fn parts(&self, upload_id: &str, after: u32, limit: usize) -> Result<Vec<Part>> {
        let start = part_key(upload_id, after.saturating_add(1));
        let prefix = parts_prefix(upload_id);
        let mut out = Vec::new();
        for kv in self.parts.range(start..) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(decode(PARTS, &v)?);
        }
        Ok(out)
    }

    /// Up to `limit` uploads of `bucket` whose keys start with `prefix`, in key then upload-id
    /// order, starting after `key_marker` (all of its uploads, or only those after
    /// `upload_id_marker`).
    pub(crate) fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        key_marker: &str,
        upload_id_marker: &str,
        limit: usize,
    ) -> Result<Vec<Upload>> {
        let prefix_key = object_key(bucket, prefix);
        let mut start = prefix_key.clone();
        if !key_marker.is_empty() {
            let after = if upload_id_marker.is_empty() {
                // Past every upload of key_marker itself: `key 0x00 id` < `key 0x01`.
                let mut k = object_key(bucket, key_marker);
                k.push(0);
                successor(&k).unwrap_or(k)
            } else {
                let mut k = upload_index_key(bucket, key_marker, upload_id_marker);
                k.push(0);
                k
            };
            start = start.max(after);
        }
        let base_len = bucket_prefix(bucket).len();
        let mut out = Vec::new();
        for kv in self.upload_keys.range(start..) {
            if out.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            if !k.starts_with(&prefix_key) {
                break;
            }
            let sep = k
                .iter()
                .rposition(|&b| b == 0)
                .filter(|&sep| sep >= base_len)
                .ok_or_else(|| corrupt(UPLOAD_KEYS, "index key without key or id".into()))?;
            let id = utf8(UPLOAD_KEYS, &k[sep + 1..])?;
            // An upload completed or aborted since the index was read is skipped.
            if let Some(u) = self.upload(&id)? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Every upload begun before `before_ms`, up to `limit` (for the reaper).
    pub(crate) fn uploads_initiated_before(&self, before_ms: u64, limit: usize) -> Result<Vec<Upload>> {
        let mut out = Vec::new();
        for v in self.uploads.iter().values() {
            let u: Upload = decode(UPLOADS, &v?)?;
            if u.initiated_ms < before_ms {
                out.push(u);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The record a completion leaves behind.
    fn tombstone_of(&self, upload_id: &str, meta: &ObjectMeta) -> Result<CompletedUpload> {
        let upload = self
            .upload(upload_id)?
            .ok_or_else(|| StoreError::NoSuchUpload(upload_id.to_owned()))?;
        Ok(CompletedUpload {
            bucket: upload.bucket,
            key: upload.key,
            etag: meta.etag.clone(),
            checksums: meta.checksums.clone(),
            checksum_type: meta.checksum_type.clone(),
            completed_ms: now_ms(),
            version_id: None,
        })
    }

    /// The record of a completed upload, if it is still kept.
    pub(crate) fn completed_upload(&self, upload_id: &str) -> Result<Option<CompletedUpload>> {
        self.completed
            .get(upload_id.as_bytes())?
            .map(|v| decode(COMPLETED, &v))
            .transpose()
    }

    /// Forgets the records of uploads completed before `before_ms`; returns how many.
    pub(crate) fn forget_completed_before(&self, before_ms: u64) -> Result<(usize, CommitTicket)> {
        self.commits.check()?;
        let mut n = 0;
        for kv in self.completed.iter() {
            let (k, v) = kv?;
            let c: CompletedUpload = decode(COMPLETED, &v)?;
            if c.completed_ms < before_ms {
                self.completed.remove(k)?;
                n += 1;
            }
        }
        let ticket = if n > 0 {
            self.commits.ticket()
        } else {
            CommitTicket::ready()
        };
        Ok((n, ticket))
    }

    /// Every part key of an upload and the part sequence number they were read at.
    fn part_keys(&self, upload_id: &str) -> Result<(Vec<Vec<u8>>, u64)> {
        let seq = self
            .upload(upload_id)?
            .ok_or_else(|| StoreError::NoSuchUpload(upload_id.to_owned()))?
            .parts_seq;
        let keys = self
            .parts
            .scan_prefix(parts_prefix(upload_id))
            .keys()
            .map(|k| k.map(|k| k.to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((keys, seq))
    }

    /// Aborts an upload in one transaction (see [`Engine::abort_upload`](crate::Engine::abort_upload));
    /// returns the upload.
    pub(crate) fn abort_upload(&self, upload_id: &str) -> Result<(Upload, CommitTicket)> {
        self.commits.check()?;
        for _ in 0..CHANGED_RETRIES {
            let (part_keys, seq) = self.part_keys(upload_id)?;
            let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
            let r = (
                &self.uploads,
                &self.upload_keys,
                &self.parts,
                &self.cleanup,
                &self.cleanup_due,
                &self.backend_stats,
            )
                .transaction(|(uploads, keys, parts, cleanup, due, stats)| {
                    let upload = upload_in(uploads, upload_id)?;
                    if upload.parts_seq != seq {
                        return Err(TxError::Abort(StoreError::UploadChanged(upload_id.to_owned())));
                    }
                    remove_upload_in(uploads, keys, parts, &upload, &part_keys)?;
                    let mut task = CleanupTask::delete(
                        &upload.backend,
                        &upload.physical_key,
                        upload.part_bytes,
                        Accounting::Committed,
                        CleanupReason::UploadAborted,
                        not_before_ms,
                    );
                    task.upload_id = Some(upload.backend_upload_id.clone());
                    enqueue_in(cleanup, due, task)?;
                    let mut delta = StatsDelta::default();
                    delta.upload(&upload.backend, -1);
                    delta.apply_in(stats)?;
                    Ok(upload)
                });
            match r {
                Ok(upload) => {
                    self.count_cleanup(1, 0);
                    return Ok((upload, self.commits.ticket()));
                }
                Err(sled::transaction::TransactionError::Abort(StoreError::UploadChanged(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::UploadChanged(upload_id.to_owned()))
    }

    /// Completes an upload in one transaction (see
    /// [`Engine::complete_upload`](crate::Engine::complete_upload)).
    pub(crate) fn complete_upload(
        &self,
        upload_id: &str,
        meta: &ObjectMeta,
        condition: &WriteCondition,
        cleanup_parts: bool,
    ) -> Result<(Option<String>, CommitTicket)> {
        self.commits.check()?;
        let tombstone = self.tombstone_of(upload_id, meta)?;
        let _key_lock = self.key_locks.lock(&tombstone.bucket, &tombstone.key);
        let null = self.null_noncurrent(&tombstone.bucket, &tombstone.key)?;
        for _ in 0..CHANGED_RETRIES {
            let (part_keys, seq) = self.part_keys(upload_id)?;
            let r = (
                &self.buckets,
                &self.objects,
                &self.versions,
                &self.usage,
                &self.cleanup,
                &self.cleanup_due,
                &self.uploads,
                &self.upload_keys,
                &self.parts,
                &self.completed,
                &self.backend_stats,
                &self.replication,
                &self.replication_due,
            )
                .transaction(
                    |(
                        buckets,
                        objects,
                        versions,
                        usage,
                        cleanup,
                        due,
                        uploads,
                        keys,
                        parts,
                        completed,
                        stats,
                        replication,
                        replication_due,
                    )| {
                        let upload = upload_in(uploads, upload_id)?;
                        if upload.parts_seq != seq {
                            return Err(TxError::Abort(StoreError::UploadChanged(upload_id.to_owned())));
                        }
                        remove_upload_in(uploads, keys, parts, &upload, &part_keys)?;
                        let trees = VersionTrees {
                            buckets,
                            objects,
                            versions,
                            usage,
                            cleanup,
                            due,
                            stats,
                            replication,
                            replication_due,
                        };
                        let okey = object_key(&upload.bucket, &upload.key);
                        let delta = i128::from(meta.stored_size()) - i128::from(upload.part_bytes);
                        let mut upload_gone = StatsDelta::default();
                        upload_gone.upload(&upload.backend, -1);
                        if (upload.bucket.as_str(), upload.key.as_str())
                            != (tombstone.bucket.as_str(), tombstone.key.as_str())
                        {
                            // Not the upload read before the lock (an id cannot be reused).
                            return Err(TxError::Abort(StoreError::NoSuchUpload(upload_id.to_owned())));
                        }
                        let installed = install_in(
                            &trees,
                            &upload.bucket,
                            &upload.key,
                            &okey,
                            meta,
                            null.as_ref(),
                            condition,
                            delta,
                            upload_gone,
                        )?;
                        let mut queued = installed.cleanup;
                        let version_id = installed.version_id;
                        let done = CompletedUpload {
                            version_id: version_id.clone(),
                            ..tombstone.clone()
                        };
                        completed.insert(upload_id.as_bytes(), encode(COMPLETED, &done)?)?;
                        if cleanup_parts {
                            let mut task = CleanupTask::delete(
                                &upload.backend,
                                &upload.physical_key,
                                0,
                                Accounting::Uncommitted,
                                CleanupReason::UploadParts,
                                0,
                            );
                            task.upload_id = Some(upload.backend_upload_id.clone());
                            enqueue_in(cleanup, due, task)?;
                            queued += 1;
                        }
                        Ok((queued, installed.replication, version_id))
                    },
                );
            match r {
                Ok((queued, replicating, version_id)) => {
                    self.count_cleanup(queued, 0);
                    self.count_replication(replicating, 0);
                    return Ok((version_id, self.commits.ticket()));
                }
                Err(sled::transaction::TransactionError::Abort(StoreError::UploadChanged(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::UploadChanged(upload_id.to_owned()))
    }
}

/// Removes an upload, its index entry and the given part keys inside a transaction.
fn remove_upload_in(
    uploads: &TransactionalTree,
    keys: &TransactionalTree,
    parts: &TransactionalTree,
    upload: &Upload,
    part_keys: &[Vec<u8>],
) -> std::result::Result<(), TxError> {
    uploads.remove(upload.upload_id.as_bytes())?;
    keys.remove(upload_index_key(&upload.bucket, &upload.key, &upload.upload_id))?;
    for k in part_keys {
        parts.remove(k.as_slice())?;
    }
    Ok(())
}
