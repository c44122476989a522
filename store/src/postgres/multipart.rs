//! Multipart uploads in the PostgreSQL engine: a row per upload (its record, and the bytes and
//! number of its parts as columns the part commits update), a row per part, a row per completed
//! upload kept for retried completions. Every part commit locks its upload's row, and so do
//! completion and abort, so a part is either counted in the completion or refused with
//! `NoSuchUpload`: the database serialises them, no retry on a changed upload is needed.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::batch::Batch;
use super::counters::Deltas;
use super::error::PgErr;
use super::objects::commit_with;
use super::objects::{lock_for_write, ObjectRow, Tasks, ENQUEUE_MANY, LOCK_BUCKET_SHARED};
use super::pool::Conn;
use super::releases::LOCAL;
use super::versions::{Install, INSERT_VERSION};
use super::{attempt, big, decode, encode, together, unbig, Db};
use crate::error::{Result, StoreError};
use crate::model::{Accounting, CleanupReason, CleanupTask, CompletedUpload, ObjectMeta, Part, Upload, WriteCondition};
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms, successor, CLEANUP_GRACE_MS};

const UPLOADS: &str = "s3o_uploads";
const PARTS: &str = "s3o_parts";
const COMPLETED: &str = "s3o_completed";

const UPSERT_UPLOAD: &str =
    "INSERT INTO s3o_uploads (upload_id, bucket, key, backend, initiated_ms, part_bytes, parts_seq, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (upload_id) DO UPDATE SET bucket = excluded.bucket, key = excluded.key,
         backend = excluded.backend, initiated_ms = excluded.initiated_ms,
         part_bytes = excluded.part_bytes, parts_seq = excluded.parts_seq, record = excluded.record
     RETURNING (xmax = 0)";
const GET_UPLOAD: &str = "SELECT record, part_bytes, parts_seq FROM s3o_uploads WHERE upload_id = $1";
const LOCK_UPLOAD: &str = "SELECT record, part_bytes, parts_seq FROM s3o_uploads WHERE upload_id = $1 FOR UPDATE";
const PART_SIZE: &str = "SELECT size FROM s3o_parts WHERE upload_id = $1 AND number = $2";
const UPSERT_PART: &str = "INSERT INTO s3o_parts (upload_id, number, size, record) VALUES ($1, $2, $3, $4)
     ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, record = excluded.record";
const COUNT_PART: &str = "UPDATE s3o_uploads SET part_bytes = greatest(part_bytes - $2, 0) + $3,
         parts_seq = parts_seq + 1 WHERE upload_id = $1";
const CONSUME_RESERVATION: &str = "DELETE FROM s3o_reservations WHERE instance = $1 AND id = $2";
const PARTS_AFTER: &str = "SELECT record FROM s3o_parts WHERE upload_id = $1 AND number > $2 ORDER BY number LIMIT $3";
const LIST_UPLOADS_BOUNDED: &str = "SELECT record, part_bytes, parts_seq FROM s3o_uploads
     WHERE bucket = $1 AND key >= $2 AND (key, upload_id) > ($3, $4) AND key < $6
     ORDER BY key, upload_id LIMIT $5";
const LIST_UPLOADS_OPEN: &str = "SELECT record, part_bytes, parts_seq FROM s3o_uploads
     WHERE bucket = $1 AND key >= $2 AND (key, upload_id) > ($3, $4)
     ORDER BY key, upload_id LIMIT $5";
const UPLOADS_BEFORE: &str = "SELECT record, part_bytes, parts_seq FROM s3o_uploads
     WHERE initiated_ms < $1 ORDER BY initiated_ms, upload_id LIMIT $2";
const DELETE_UPLOAD: &str = "DELETE FROM s3o_uploads WHERE upload_id = $1 RETURNING record, part_bytes, parts_seq";
const DELETE_PARTS: &str = "DELETE FROM s3o_parts WHERE upload_id = $1";
const REMEMBER_COMPLETED: &str = "INSERT INTO s3o_completed (upload_id, completed_ms, record) VALUES ($1, $2, $3)
     ON CONFLICT (upload_id) DO UPDATE SET completed_ms = excluded.completed_ms, record = excluded.record";
const GET_COMPLETED: &str = "SELECT record FROM s3o_completed WHERE upload_id = $1";
const FORGET_COMPLETED: &str = "DELETE FROM s3o_completed WHERE completed_ms < $1";

/// An upload from its row (record, part bytes, part sequence).
fn upload_of(row: &Row) -> std::result::Result<Upload, PgErr> {
    let mut upload: Upload = decode(UPLOADS, row.try_get::<_, &[u8]>(0)?)?;
    upload.part_bytes = unbig(row.try_get(1)?);
    upload.parts_seq = unbig(row.try_get(2)?);
    Ok(upload)
}

/// Records a new upload.
pub(crate) async fn create_upload(db: &Db, upload: Upload) -> Result<()> {
    check_bucket_name(&upload.bucket)?;
    let record = encode(UPLOADS, &upload)?;
    attempt!(db, |conn| create_upload_tx(&mut conn, &upload, &record))
}

/// One attempt at [`create_upload`].
async fn create_upload_tx(conn: &mut Conn<'_>, u: &Upload, record: &Vec<u8>) -> std::result::Result<(), PgErr> {
    let lock = conn.st(LOCK_BUCKET_SHARED).await?;
    let upsert = conn.st(UPSERT_UPLOAD).await?;
    let key = u.key.as_bytes().to_vec();
    let (initiated, part_bytes, seq) = (big(u.initiated_ms), big(u.part_bytes), big(u.parts_seq));
    let params: [&(dyn ToSql + Sync); 8] = [
        &u.upload_id,
        &u.bucket,
        &key,
        &u.backend,
        &initiated,
        &part_bytes,
        &seq,
        record,
    ];
    let c = conn.client();
    let (_, bucket, inserted) = together!(
        c.batch_execute("BEGIN"),
        c.query_opt(&lock, &[&u.bucket]),
        c.query_one(&upsert, &params)
    )?;
    if bucket.is_none() {
        return Err(StoreError::NoSuchBucket(u.bucket.clone()).into());
    }
    let mut deltas = Deltas::default();
    if inserted.try_get::<_, bool>(0)? {
        deltas.upload(&u.backend, 1);
    }
    let counters = deltas.prepare(conn).await?;
    let counter_params = counters.as_ref().map(|a| a.params());
    let mut batch = Batch::new(conn.client());
    if let (Some(a), Some(p)) = (&counters, &counter_params) {
        batch.exec(&a.st, p);
    }
    batch.simple("COMMIT");
    batch.run().await?;
    Ok(())
}

/// The upload with this id.
pub(crate) async fn upload(db: &Db, upload_id: String) -> Result<Option<Upload>> {
    super::row_if_any(db, GET_UPLOAD, &[&upload_id], upload_of).await
}

/// Records a part and counts its bytes.
pub(crate) async fn put_part(db: &Db, upload_id: String, part: Part, reservation: Option<Reservation>) -> Result<()> {
    let record = encode(PARTS, &part)?;
    let rid = reservation
        .as_ref()
        .filter(|r| r.id() & LOCAL == 0)
        .map(|r| big(r.id()));
    attempt!(db, |conn| put_part_tx(&mut conn, db, &upload_id, &part, &record, rid))?;
    // The bytes count as usage now: the commit removed a database reservation; one in memory
    // goes when dropped.
    if let Some(r) = reservation.filter(|r| r.id() & LOCAL == 0) {
        r.consume();
    }
    Ok(())
}

/// One attempt at [`put_part`].
async fn put_part_tx(
    conn: &mut Conn<'_>,
    db: &Db,
    upload_id: &String,
    part: &Part,
    record: &Vec<u8>,
    reservation: Option<i64>,
) -> std::result::Result<(), PgErr> {
    let lock = conn.st(LOCK_UPLOAD).await?;
    let old_size = conn.st(PART_SIZE).await?;
    let number = i32::try_from(part.number).unwrap_or(i32::MAX);
    let c = conn.client();
    let (_, upload, old) = together!(
        c.batch_execute("BEGIN"),
        c.query_opt(&lock, &[upload_id]),
        c.query_opt(&old_size, &[upload_id, &number])
    )?;
    let Some(upload) = upload else {
        return Err(StoreError::NoSuchUpload(upload_id.clone()).into());
    };
    let upload = upload_of(&upload)?;
    let old: i64 = match old {
        Some(r) => r.try_get(0)?,
        None => 0,
    };
    let size = big(part.stored_size());
    let mut deltas = Deltas::default();
    deltas.committed(&upload.backend, i128::from(size) - i128::from(old));
    let upsert = conn.st(UPSERT_PART).await?;
    let count = conn.st(COUNT_PART).await?;
    let consume = conn.st(CONSUME_RESERVATION).await?;
    let counters = deltas.prepare(conn).await?;
    let rid = reservation.unwrap_or_default();
    let part_params: [&(dyn ToSql + Sync); 4] = [upload_id, &number, &size, record];
    let count_params: [&(dyn ToSql + Sync); 3] = [upload_id, &old, &size];
    let consume_params: [&(dyn ToSql + Sync); 2] = [&db.instance, &rid];
    let counter_params = counters.as_ref().map(|a| a.params());
    let mut batch = Batch::new(conn.client());
    batch.exec(&upsert, &part_params);
    batch.exec(&count, &count_params);
    if let (Some(a), Some(p)) = (&counters, &counter_params) {
        batch.exec(&a.st, p);
    }
    if reservation.is_some() {
        batch.exec(&consume, &consume_params);
    }
    batch.simple("COMMIT");
    batch.run().await?;
    Ok(())
}

/// Parts of an upload after part `after`.
pub(crate) async fn parts(db: &Db, upload_id: String, after: u32, limit: usize) -> Result<Vec<Part>> {
    let after = i32::try_from(after).unwrap_or(i32::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    attempt!(db, |conn| async {
        let st = conn.st(PARTS_AFTER).await?;
        let rows = conn.client().query(&st, &[&upload_id, &after, &limit]).await?;
        rows.iter()
            .map(|r| decode(PARTS, r.try_get::<_, &[u8]>(0)?))
            .collect::<std::result::Result<Vec<Part>, PgErr>>()
    })
}

/// Where to list uploads.
pub(crate) struct UploadQuery {
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    pub(crate) key_marker: String,
    pub(crate) upload_id_marker: String,
    pub(crate) limit: usize,
}

/// Uploads in progress of a bucket, by key and id.
pub(crate) async fn list_uploads(db: &Db, q: UploadQuery) -> Result<Vec<Upload>> {
    let prefix = q.prefix.as_bytes().to_vec();
    // Exclusive lower bound (key, id): after every upload of key_marker, or after one of them.
    let (lo_key, lo_id) = if q.key_marker.is_empty() {
        (prefix.clone(), String::new())
    } else if q.upload_id_marker.is_empty() {
        let mut k = q.key_marker.as_bytes().to_vec();
        k.push(0);
        (k, String::new())
    } else {
        (q.key_marker.as_bytes().to_vec(), q.upload_id_marker.clone())
    };
    let end = successor(&prefix);
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    attempt!(db, |conn| async {
        let rows = match &end {
            Some(end) => {
                let st = conn.st(LIST_UPLOADS_BOUNDED).await?;
                let params: [&(dyn ToSql + Sync); 6] = [&q.bucket, &prefix, &lo_key, &lo_id, &limit, end];
                conn.client().query(&st, &params).await?
            }
            None => {
                let st = conn.st(LIST_UPLOADS_OPEN).await?;
                let params: [&(dyn ToSql + Sync); 5] = [&q.bucket, &prefix, &lo_key, &lo_id, &limit];
                conn.client().query(&st, &params).await?
            }
        };
        rows.iter()
            .map(upload_of)
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// Uploads begun before `before_ms`.
pub(crate) async fn uploads_initiated_before(db: &Db, before_ms: u64, limit: usize) -> Result<Vec<Upload>> {
    let (before, limit) = (big(before_ms), i64::try_from(limit).unwrap_or(i64::MAX));
    attempt!(db, |conn| async {
        let st = conn.st(UPLOADS_BEFORE).await?;
        let rows = conn.client().query(&st, &[&before, &limit]).await?;
        rows.iter()
            .map(upload_of)
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// What `complete_upload` writes.
pub(crate) struct Complete {
    pub(crate) upload_id: String,
    pub(crate) meta: ObjectMeta,
    pub(crate) condition: WriteCondition,
    pub(crate) cleanup_parts: bool,
}

/// Completes an upload (see [`Engine::complete_upload`](crate::Engine::complete_upload)).
pub(crate) async fn complete_upload(db: &Db, done: Complete) -> Result<Option<String>> {
    attempt!(db, |conn| complete_tx(&mut conn, &done))
}

/// One attempt at [`complete_upload`].
async fn complete_tx(conn: &mut Conn<'_>, done: &Complete) -> std::result::Result<Option<String>, PgErr> {
    let lock_upload = conn.st(LOCK_UPLOAD).await?;
    let c = conn.client();
    let (_, upload) = together!(c.batch_execute("BEGIN"), c.query_opt(&lock_upload, &[&done.upload_id]))?;
    let Some(upload) = upload else {
        return Err(StoreError::NoSuchUpload(done.upload_id.clone()).into());
    };
    let upload = upload_of(&upload)?;
    let key = upload.key.as_bytes().to_vec();
    let (current, settings) = lock_for_write(conn, false, &upload.bucket, &upload.key, &done.condition).await?;
    let mut deltas = Deltas::default();
    let mut tasks = Tasks::default();
    deltas.upload(&upload.backend, -1);
    let usage_delta = i128::from(done.meta.stored_size()) - i128::from(upload.part_bytes);
    let install = Install::prepare(
        conn,
        (&upload.bucket, &key),
        &done.meta,
        current,
        &settings,
        usage_delta,
        &mut deltas,
        &mut tasks,
    )
    .await?;
    if done.cleanup_parts {
        let mut task = CleanupTask::delete(
            &upload.backend,
            &upload.physical_key,
            0,
            Accounting::Uncommitted,
            CleanupReason::UploadParts,
            0,
        );
        task.upload_id = Some(upload.backend_upload_id.clone());
        tasks.push(task);
        deltas.queued(1);
    }
    let tombstone = encode(
        COMPLETED,
        &CompletedUpload {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            etag: done.meta.etag.clone(),
            checksums: done.meta.checksums.clone(),
            checksum_type: done.meta.checksum_type.clone(),
            completed_ms: now_ms(),
            version_id: install.version_id.clone(),
        },
    )?;
    let now = big(now_ms());
    let id_params: [&(dyn ToSql + Sync); 1] = [&done.upload_id];
    let remember_params: [&(dyn ToSql + Sync); 3] = [&done.upload_id, &now, &tombstone];
    let row_params = install.row.params(&upload.bucket, &key);
    let kept_params = install.kept.as_ref().map(|k| k.params(&upload.bucket, &key));
    let replicate_params = install.replicate.as_ref().map(|r| r.params(&upload.bucket, &key));
    let mut queued = vec![
        (DELETE_PARTS, id_params.to_vec()),
        (DELETE_UPLOAD, id_params.to_vec()),
        (REMEMBER_COMPLETED, remember_params.to_vec()),
        (ObjectRow::sql(install.exists), row_params.to_vec()),
    ];
    if let Some(p) = &kept_params {
        queued.push((INSERT_VERSION, p.to_vec()));
    }
    if let Some(p) = &replicate_params {
        queued.push((super::replication::ENQUEUE, p.to_vec()));
    }
    commit_with(conn, &queued, &deltas, &tasks).await?;
    Ok(install.version_id)
}

/// Aborts an upload and queues its parts for deletion.
pub(crate) async fn abort_upload(db: &Db, upload_id: String) -> Result<Upload> {
    attempt!(db, |conn| abort_tx(&mut conn, &upload_id))
}

/// One attempt at [`abort_upload`].
async fn abort_tx(conn: &mut Conn<'_>, upload_id: &String) -> std::result::Result<Upload, PgErr> {
    let delete_upload = conn.st(DELETE_UPLOAD).await?;
    let c = conn.client();
    let (_, upload) = together!(c.batch_execute("BEGIN"), c.query_opt(&delete_upload, &[upload_id]))?;
    let Some(upload) = upload else {
        return Err(StoreError::NoSuchUpload(upload_id.clone()).into());
    };
    let upload = upload_of(&upload)?;
    let mut task = CleanupTask::delete(
        &upload.backend,
        &upload.physical_key,
        upload.part_bytes,
        Accounting::Committed,
        CleanupReason::UploadAborted,
        now_ms().saturating_add(CLEANUP_GRACE_MS),
    );
    task.upload_id = Some(upload.backend_upload_id.clone());
    let mut tasks = Tasks::default();
    tasks.push(task);
    let mut deltas = Deltas::default();
    deltas.upload(&upload.backend, -1);
    deltas.queued(1);
    let delete_parts = conn.st(DELETE_PARTS).await?;
    let enqueue = conn.st(ENQUEUE_MANY).await?;
    let counters = deltas.prepare(conn).await?;
    let id_params: [&(dyn ToSql + Sync); 1] = [upload_id];
    let task_params = tasks.params();
    let counter_params = counters.as_ref().map(|a| a.params());
    let mut batch = Batch::new(conn.client());
    batch.exec(&delete_parts, &id_params);
    batch.exec(&enqueue, &task_params);
    if let (Some(a), Some(p)) = (&counters, &counter_params) {
        batch.exec(&a.st, p);
    }
    batch.simple("COMMIT");
    batch.run().await?;
    Ok(upload)
}

/// The record of a completed upload.
pub(crate) async fn completed_upload(db: &Db, upload_id: String) -> Result<Option<CompletedUpload>> {
    super::row_if_any(db, GET_COMPLETED, &[&upload_id], |r| {
        decode(COMPLETED, r.try_get::<_, &[u8]>(0)?)
    })
    .await
}

/// Forgets completions before `before_ms`.
pub(crate) async fn forget_completed_before(db: &Db, before_ms: u64) -> Result<usize> {
    let before = big(before_ms);
    attempt!(db, |conn| async {
        let st = conn.st(FORGET_COMPLETED).await?;
        let n = conn.client().execute(&st, &[&before]).await?;
        Ok::<_, PgErr>(usize::try_from(n).unwrap_or(usize::MAX))
    })
}
