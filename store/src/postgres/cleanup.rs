//! The cleanup queue, quota reservations and usage, and what the admin port reads, in the
//! PostgreSQL engine. Tasks are rows of `s3o_cleanup` indexed by due time; one worker drains the
//! queue (the worker lease makes it one across proxies). A reservation is one call of
//! `s3o_reserve` (see [`schema`](super::schema)); committed bytes and the totals are sums of
//! the sharded counters.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::counters::Deltas;
use super::error::PgErr;
use super::pool::Conn;
use super::releases::LOCAL;
use super::{attempt, big, num, together, unbig, Db};
use crate::error::{Result, StoreError};
use crate::model::{Accounting, CleanupReason, CleanupTask};
use crate::reservation::{Reservation, ReservationLedger};
use crate::rules::{backoff_ms, check_period, now_ms, successor};
use crate::stats::{BackendStats, CleanupQueue, UsageCounters};

const CLEANUP: &str = "s3o_cleanup";
const ENQUEUE_ONE: &str =
    "INSERT INTO s3o_cleanup (backend, physical_key, size, reason, accounting, attempts, not_before_ms)
     VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING id";
const DUE: &str = "SELECT id, backend, physical_key, size, reason, accounting, upload_id, attempts, not_before_ms
     FROM s3o_cleanup WHERE not_before_ms <= $1 ORDER BY not_before_ms, id LIMIT $2";
const GET_TASK: &str = "SELECT id, backend, physical_key, size, reason, accounting, upload_id, attempts, not_before_ms
     FROM s3o_cleanup WHERE id = $1";
const LOCK_TASK: &str = "SELECT id, backend, physical_key, size, reason, accounting, upload_id, attempts, not_before_ms
     FROM s3o_cleanup WHERE id = $1 FOR UPDATE";
const DELETE_TASK: &str = "DELETE FROM s3o_cleanup WHERE id = $1
     RETURNING id, backend, physical_key, size, reason, accounting, upload_id, attempts, not_before_ms";
const RESCHEDULE: &str = "UPDATE s3o_cleanup SET attempts = $2, not_before_ms = $3 WHERE id = $1";
const DEPTH: &str = "SELECT sum(objects)::text FROM s3o_counters WHERE scope = 'cleanup' AND name = ''";
const RESERVE: &str =
    "SELECT s3o_reserve($1, $2, $3, $4::text::numeric, $5::text::numeric, $6, $7::text::numeric)::text";
// Other instances' reservations summed (id NULL), this instance's one by one: which of its own
// to leave out is known only once the read is done (see releases.rs).
const RESERVED: &str = "SELECT NULL::bigint, sum(bytes)::text FROM s3o_reservations
         WHERE backend = $1 AND instance <> $2
     UNION ALL SELECT id, bytes::text FROM s3o_reservations WHERE backend = $1 AND instance = $2";
const RESERVED_ALL: &str = "SELECT backend, NULL::bigint, sum(bytes)::text FROM s3o_reservations
         WHERE instance <> $1 GROUP BY backend
     UNION ALL SELECT backend, id, bytes::text FROM s3o_reservations WHERE instance = $1";
const USAGE: &str = "SELECT sum(committed)::text FROM s3o_counters WHERE scope = 'backend' AND name = $1";
const ALL_USAGE: &str = "SELECT name, sum(committed)::text FROM s3o_counters WHERE scope = 'backend'
     GROUP BY name HAVING sum(committed) > 0 ORDER BY name";
const BACKEND_TOTALS: &str = "SELECT name, sum(objects)::text, sum(bytes)::text, sum(uploads)::text,
         sum(committed)::text
     FROM s3o_counters WHERE scope = 'backend' GROUP BY name";
const ADD_USAGE: &str =
    "INSERT INTO s3o_usage_counters AS u (period, backend, api_requests, egress_bytes, ingress_bytes)
     SELECT $1, d.backend, d.a::numeric, d.e::numeric, d.i::numeric
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS d(backend, a, e, i)
     ON CONFLICT (period, backend) DO UPDATE SET
         api_requests = least(u.api_requests + excluded.api_requests, 18446744073709551615),
         egress_bytes = least(u.egress_bytes + excluded.egress_bytes, 18446744073709551615),
         ingress_bytes = least(u.ingress_bytes + excluded.ingress_bytes, 18446744073709551615)";
const USAGE_COUNTERS: &str = "SELECT backend, api_requests::text, egress_bytes::text, ingress_bytes::text
     FROM s3o_usage_counters WHERE period = $1 ORDER BY backend";
const BUCKET_EXISTS: &str = "SELECT 1 FROM s3o_buckets WHERE name = $1";
const SUMMARY_BOUNDED: &str = "SELECT count(*), sum(size)::text FROM s3o_objects
     WHERE bucket = $1 AND key >= $2 AND key < $3";
const SUMMARY_OPEN: &str = "SELECT count(*), sum(size)::text FROM s3o_objects WHERE bucket = $1 AND key >= $2";
const PROBE: &str = "INSERT INTO s3o_meta (key, value) VALUES ('probe', $1)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// How a reason is stored.
pub(crate) fn reason_name(r: CleanupReason) -> &'static str {
    match r {
        CleanupReason::Replaced => "replaced",
        CleanupReason::Deleted => "deleted",
        CleanupReason::UploadAborted => "upload_aborted",
        CleanupReason::UploadParts => "upload_parts",
        CleanupReason::Orphan => "orphan",
        CleanupReason::Relocated => "relocated",
        CleanupReason::Unknown => "unknown",
    }
}

/// How an accounting is stored.
pub(crate) fn accounting_name(a: Accounting) -> &'static str {
    match a {
        Accounting::Committed => "committed",
        Accounting::Uncommitted => "uncommitted",
    }
}

/// A task from its row (id, backend, physical key, size, reason, accounting, upload id,
/// attempts, due time).
fn task_of(row: &Row) -> std::result::Result<CleanupTask, PgErr> {
    let reason = match row.try_get::<_, &str>(4)? {
        "replaced" => CleanupReason::Replaced,
        "deleted" => CleanupReason::Deleted,
        "upload_aborted" => CleanupReason::UploadAborted,
        "upload_parts" => CleanupReason::UploadParts,
        "orphan" => CleanupReason::Orphan,
        "relocated" => CleanupReason::Relocated,
        _ => CleanupReason::Unknown,
    };
    let accounting = match row.try_get::<_, &str>(5)? {
        "committed" => Accounting::Committed,
        "uncommitted" => Accounting::Uncommitted,
        other => {
            return Err(StoreError::Corrupt {
                record: CLEANUP,
                detail: format!("accounting {other:?}"),
            }
            .into())
        }
    };
    Ok(CleanupTask {
        id: unbig(row.try_get(0)?),
        backend: row.try_get(1)?,
        physical_key: row.try_get(2)?,
        size: unbig(row.try_get(3)?),
        reason,
        accounting,
        upload_id: row.try_get(6)?,
        attempts: u32::try_from(row.try_get::<_, i32>(7)?).unwrap_or(0),
        not_before_ms: unbig(row.try_get(8)?),
    })
}

/// Queues one task, due now.
pub(crate) async fn enqueue(db: &Db, task: CleanupTask) -> Result<u64> {
    let mut deltas = Deltas::default();
    deltas.queued(1);
    attempt!(db, |conn| async {
        let st = conn.st(ENQUEUE_ONE).await?;
        let counters = deltas.prepare(&mut conn).await?;
        let (size, due) = (big(task.size), big(task.not_before_ms));
        let (reason, accounting) = (reason_name(task.reason), accounting_name(task.accounting));
        let params: [&(dyn ToSql + Sync); 6] = [&task.backend, &task.physical_key, &size, &reason, &accounting, &due];
        let c = conn.client();
        let counter_params = counters.as_ref().map(|a| a.params());
        let bump = async {
            match (&counters, &counter_params) {
                (Some(a), Some(p)) => c.execute(&a.st, p).await,
                _ => Ok(0),
            }
        };
        let (_, row, _, _) = together!(
            c.batch_execute("BEGIN"),
            c.query_one(&st, &params),
            bump,
            c.batch_execute("COMMIT")
        )?;
        Ok::<_, PgErr>(unbig(row.try_get(0)?))
    })
}

/// Tasks due at `now_ms`, earliest first.
pub(crate) async fn due(db: &Db, now_ms: u64, limit: usize) -> Result<Vec<CleanupTask>> {
    let (now, limit) = (big(now_ms), i64::try_from(limit).unwrap_or(i64::MAX));
    attempt!(db, |conn| async {
        let st = conn.st(DUE).await?;
        let rows = conn.client().query(&st, &[&now, &limit]).await?;
        rows.iter().map(task_of).collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// The task with this id.
pub(crate) async fn task(db: &Db, id: u64) -> Result<Option<CleanupTask>> {
    let id = big(id);
    super::row_if_any(db, GET_TASK, &[&id], task_of).await
}

/// Removes a task and releases its committed bytes.
pub(crate) async fn complete(db: &Db, id: u64) -> Result<()> {
    attempt!(db, |conn| complete_tx(&mut conn, id))
}

/// One attempt at [`complete`].
async fn complete_tx(conn: &mut Conn<'_>, id: u64) -> std::result::Result<(), PgErr> {
    let delete = conn.st(DELETE_TASK).await?;
    let c = conn.client();
    let (_, row) = together!(c.batch_execute("BEGIN"), c.query_opt(&delete, &[&big(id)]))?;
    let Some(row) = row else {
        return Err(StoreError::NoSuchCleanupTask(id).into());
    };
    let task = task_of(&row)?;
    let mut deltas = Deltas::default();
    deltas.queued(-1);
    if task.accounting == Accounting::Committed {
        deltas.committed(&task.backend, -i128::from(task.size));
    }
    let counters = deltas.prepare(conn).await?;
    let c = conn.client();
    if let Some(a) = &counters {
        let (_, _) = together!(c.execute(&a.st, &a.params()), c.batch_execute("COMMIT"))?;
    } else {
        c.batch_execute("COMMIT").await?;
    }
    Ok(())
}

/// Records a failed attempt at a task.
pub(crate) async fn retry(db: &Db, id: u64, now_ms: u64) -> Result<CleanupTask> {
    attempt!(db, |conn| async {
        let lock = conn.st(LOCK_TASK).await?;
        let update = conn.st(RESCHEDULE).await?;
        let c = conn.client();
        let (_, row) = together!(c.batch_execute("BEGIN"), c.query_opt(&lock, &[&big(id)]))?;
        let Some(row) = row else {
            return Err(PgErr::Store(StoreError::NoSuchCleanupTask(id)));
        };
        let mut task = task_of(&row)?;
        task.attempts = task.attempts.saturating_add(1);
        task.not_before_ms = now_ms.saturating_add(backoff_ms(task.attempts));
        let attempts = i32::try_from(task.attempts).unwrap_or(i32::MAX);
        let params: [&(dyn ToSql + Sync); 3] = [&big(id), &attempts, &big(task.not_before_ms)];
        together!(c.execute(&update, &params), c.batch_execute("COMMIT"))?;
        Ok(task)
    })
}

/// The queue's depth and its first tasks.
pub(crate) async fn queue(db: &Db, limit: usize) -> Result<CleanupQueue> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    attempt!(db, |conn| async {
        let depth = conn.st(DEPTH).await?;
        let due = conn.st(DUE).await?;
        let c = conn.client();
        let (depth, rows) = together!(c.query_one(&depth, &[]), c.query(&due, &[&i64::MAX, &limit]))?;
        Ok::<_, PgErr>(CleanupQueue {
            depth: num(depth.try_get(0)?, "s3o_counters")?,
            first: rows
                .iter()
                .map(task_of)
                .collect::<std::result::Result<Vec<_>, PgErr>>()?,
        })
    })
}

/// Reserves bytes on a backend within its quota.
pub(crate) async fn reserve(
    db: std::sync::Arc<Db>,
    backend: String,
    bytes: u64,
    quota: Option<u64>,
) -> Result<Reservation> {
    let id = db.next_reservation_id();
    let Some(limit) = quota else {
        // Nothing checks these against a limit: counted in this instance's memory, free.
        db.releases.add_local(&backend, bytes);
        let ledger: std::sync::Arc<dyn ReservationLedger> = db;
        return Ok(Reservation::new(ledger, id | LOCAL, backend, bytes));
    };
    let (bytes_text, quota_text) = (bytes.to_string(), limit.to_string());
    let skip = db.releases.on(&backend);
    let local = db.releases.local_on(&backend).to_string();
    let refused = attempt!(db, |conn| async {
        let st = conn.st(RESERVE).await?;
        let params: [&(dyn ToSql + Sync); 7] = [
            &db.instance,
            &big(id),
            &backend,
            &bytes_text,
            &quota_text,
            &skip,
            &local,
        ];
        let row = conn.client().query_one(&st, &params).await?;
        Ok::<_, PgErr>(row.try_get::<_, Option<String>>(0)?)
    })?;
    if let Some(used) = refused {
        return Err(StoreError::QuotaExceeded {
            backend,
            requested: bytes,
            used: num(Some(&used), "s3o_reservations").map_err(PgErr::into_store)?,
            quota: limit,
        });
    }
    let ledger: std::sync::Arc<dyn ReservationLedger> = db;
    Ok(Reservation::new(ledger, id, backend, bytes))
}

/// Bytes reserved on a backend.
pub(crate) async fn reserved(db: &Db, backend: String) -> Result<u64> {
    let sum = db.releases.sum();
    let rows = attempt!(db, |conn| async {
        let st = conn.st(RESERVED).await?;
        Ok::<_, PgErr>(conn.client().query(&st, &[&backend, &db.instance]).await?)
    })?;
    let skip = sum.skip(Some(&backend));
    let mut total = db.releases.local_on(&backend);
    for r in &rows {
        if let Some(bytes) = counted(r, 0, &skip).map_err(PgErr::into_store)? {
            total = total.saturating_add(bytes);
        }
    }
    Ok(total)
}

/// The bytes of a row of `RESERVED` or `RESERVED_ALL` (the id in column `at`, the bytes next),
/// unless it is this instance's own reservation released by now.
fn counted(row: &Row, at: usize, skip: &std::collections::HashSet<u64>) -> std::result::Result<Option<u64>, PgErr> {
    let id: Option<i64> = row.try_get(at)?;
    if id.is_some_and(|id| skip.contains(&unbig(id))) {
        return Ok(None);
    }
    num(row.try_get(at + 1)?, "s3o_reservations").map(Some)
}

/// Committed bytes on a backend.
pub(crate) async fn usage(db: &Db, backend: String) -> Result<u64> {
    attempt!(db, |conn| async {
        let st = conn.st(USAGE).await?;
        let row = conn.client().query_one(&st, &[&backend]).await?;
        num(row.try_get(0)?, "s3o_counters")
    })
}

/// Committed bytes of every backend with any.
pub(crate) async fn all_usage(db: &Db) -> Result<Vec<(String, u64)>> {
    attempt!(db, |conn| async {
        let st = conn.st(ALL_USAGE).await?;
        let rows = conn.client().query(&st, &[]).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, num(r.try_get(1)?, "s3o_counters")?)))
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// Every backend's totals.
pub(crate) async fn backend_stats(db: &Db) -> Result<Vec<BackendStats>> {
    let sum = db.releases.sum();
    attempt!(db, |conn| async {
        let totals = conn.st(BACKEND_TOTALS).await?;
        let reserved = conn.st(RESERVED_ALL).await?;
        let c = conn.client();
        let (totals, reserved) = together!(c.query(&totals, &[]), c.query(&reserved, &[&db.instance]))?;
        let skip = sum.skip(None);
        let mut by_name: BTreeMap<String, BackendStats> = BTreeMap::new();
        for r in &totals {
            let name: String = r.try_get(0)?;
            let e = by_name.entry(name.clone()).or_default();
            e.backend = name;
            e.objects = num(r.try_get(1)?, "s3o_counters")?;
            e.bytes = num(r.try_get(2)?, "s3o_counters")?;
            e.uploads = num(r.try_get(3)?, "s3o_counters")?;
            e.committed_bytes = num(r.try_get(4)?, "s3o_counters")?;
        }
        for r in &reserved {
            let Some(bytes) = counted(r, 1, &skip)? else { continue };
            let name: String = r.try_get(0)?;
            let e = by_name.entry(name.clone()).or_default();
            e.backend = name;
            e.reserved_bytes = e.reserved_bytes.saturating_add(bytes);
        }
        for (name, bytes) in db.releases.local_all() {
            let e = by_name.entry(name.clone()).or_default();
            e.backend = name;
            e.reserved_bytes = e.reserved_bytes.saturating_add(bytes);
        }
        Ok::<_, PgErr>(
            by_name
                .into_values()
                .filter(|s| s.objects + s.bytes + s.uploads + s.committed_bytes + s.reserved_bytes > 0)
                .collect(),
        )
    })
}

/// Adds deltas to a period's usage counters.
pub(crate) async fn add_usage(db: &Db, period: String, deltas: Vec<UsageCounters>) -> Result<()> {
    check_period(&period)?;
    let mut summed: BTreeMap<String, UsageCounters> = BTreeMap::new();
    for d in &deltas {
        summed.entry(d.backend.clone()).or_default().add(d);
    }
    if summed.is_empty() {
        return Ok(());
    }
    let mut cols: [Vec<String>; 4] = Default::default();
    for (backend, d) in summed {
        cols[0].push(backend);
        cols[1].push(d.api_requests.to_string());
        cols[2].push(d.egress_bytes.to_string());
        cols[3].push(d.ingress_bytes.to_string());
    }
    attempt!(db, |conn| async {
        let st = conn.st(ADD_USAGE).await?;
        let params: [&(dyn ToSql + Sync); 5] = [&period, &cols[0], &cols[1], &cols[2], &cols[3]];
        conn.client().execute(&st, &params).await?;
        Ok::<_, PgErr>(())
    })
}

/// A period's usage counters.
pub(crate) async fn usage_counters(db: &Db, period: String) -> Result<Vec<UsageCounters>> {
    check_period(&period)?;
    attempt!(db, |conn| async {
        let st = conn.st(USAGE_COUNTERS).await?;
        let rows = conn.client().query(&st, &[&period]).await?;
        rows.iter()
            .map(|r| {
                Ok(UsageCounters {
                    backend: r.try_get(0)?,
                    api_requests: num(r.try_get(1)?, "s3o_usage_counters")?,
                    egress_bytes: num(r.try_get(2)?, "s3o_usage_counters")?,
                    ingress_bytes: num(r.try_get(3)?, "s3o_usage_counters")?,
                })
            })
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// Objects and bytes under a prefix.
pub(crate) async fn prefix_summary(db: &Db, bucket: String, prefix: String) -> Result<(u64, u64)> {
    let from = prefix.as_bytes().to_vec();
    let end = successor(&from);
    attempt!(db, |conn| async {
        let exists = conn.st(BUCKET_EXISTS).await?;
        if conn.client().query_opt(&exists, &[&bucket]).await?.is_none() {
            return Err(PgErr::Store(StoreError::NoSuchBucket(bucket.clone())));
        }
        let row = match &end {
            Some(end) => {
                let st = conn.st(SUMMARY_BOUNDED).await?;
                conn.client().query_one(&st, &[&bucket, &from, end]).await?
            }
            None => {
                let st = conn.st(SUMMARY_OPEN).await?;
                conn.client().query_one(&st, &[&bucket, &from]).await?
            }
        };
        Ok((unbig(row.try_get(0)?), num(row.try_get(1)?, "s3o_objects")?))
    })
}

/// A durable write of the time.
pub(crate) async fn check_writable(db: &Db) -> Result<()> {
    let now = now_ms().to_string();
    attempt!(db, |conn| async {
        let st = conn.st(PROBE).await?;
        conn.client().execute(&st, &[&now]).await?;
        Ok::<_, PgErr>(())
    })
}
