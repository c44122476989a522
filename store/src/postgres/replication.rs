//! The replication queue, named state documents, orphan bytes and backend removal in the
//! PostgreSQL engine. A task is a row of `s3o_replication` keyed by its version and indexed by
//! due time; the commits of versions short of copies insert it in their own transaction
//! ([`Replicate`]), and an existing row is kept (`ON CONFLICT DO NOTHING`). State documents are
//! rows of `s3o_states`. Forgetting a backend is one transaction.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::batch::Batch;
use super::counters::Deltas;
use super::error::PgErr;
use super::{attempt, big, num, together, unbig, Db};
use crate::error::{Result, StoreError};
use crate::model::ObjectMeta;
use crate::orchestration::{no_such_version, wants_copies, ReplicationTask};
use crate::rules::{backoff_ms, now_ms};

/// The queue's table name in errors.
const REPLICATION: &str = "s3o_replication";
/// Queues a version, due at `$4`, unless it is queued already.
pub(crate) const ENQUEUE: &str = "INSERT INTO s3o_replication (bucket, key, version, attempts, not_before_ms)
     VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING";
const DUE: &str = "SELECT bucket, key, version, attempts, not_before_ms FROM s3o_replication
     WHERE not_before_ms <= $1 ORDER BY not_before_ms, bucket, key, version LIMIT $2";
const FINISH: &str = "DELETE FROM s3o_replication WHERE bucket = $1 AND key = $2 AND version = $3";
const LOCK_TASK: &str = "SELECT bucket, key, version, attempts, not_before_ms FROM s3o_replication
     WHERE bucket = $1 AND key = $2 AND version = $3 FOR UPDATE";
const RESCHEDULE: &str =
    "UPDATE s3o_replication SET attempts = $4, not_before_ms = $5 WHERE bucket = $1 AND key = $2 AND version = $3";
const DEPTH: &str = "SELECT count(*) FROM s3o_replication";
const PUT_STATE: &str = "INSERT INTO s3o_states (name, value) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value";
const GET_STATE: &str = "SELECT value FROM s3o_states WHERE name = $1";
const DELETE_STATE: &str = "DELETE FROM s3o_states WHERE name = $1";
const STATES: &str = "SELECT name, value FROM s3o_states WHERE name >= $1 AND starts_with(name, $1) ORDER BY name";
const ORPHAN_BYTES: &str = "SELECT backend, sum(size)::text FROM s3o_cleanup WHERE accounting = 'committed'
     GROUP BY backend HAVING sum(size) > 0 ORDER BY backend";
const FORGET_TASKS: &str = "DELETE FROM s3o_cleanup WHERE backend = $1";
const FORGET_COUNTERS: &str = "DELETE FROM s3o_counters WHERE scope = 'backend' AND name = $1";
const FORGET_RESERVATIONS: &str = "DELETE FROM s3o_reservations WHERE backend = $1";
const FORGET_USAGE_COUNTERS: &str = "DELETE FROM s3o_usage_counters WHERE backend = $1";

/// The queue row a commit inserts for a version short of copies.
pub(crate) struct Replicate {
    version: i64,
    due: i64,
}

impl Replicate {
    /// The row for `meta`, if it wants more copies than it has.
    pub(crate) fn of(meta: &ObjectMeta) -> Option<Self> {
        wants_copies(meta).then(|| Self {
            version: big(meta.version),
            due: big(now_ms()),
        })
    }

    /// The parameters of [`ENQUEUE`] for `bucket`/`key`.
    pub(crate) fn params<'a>(&'a self, bucket: &'a String, key: &'a Vec<u8>) -> [&'a (dyn ToSql + Sync); 4] {
        [bucket, key, &self.version, &self.due]
    }
}

/// A task from its row (bucket, key, version, attempts, due time).
fn task_of(row: &Row) -> std::result::Result<ReplicationTask, PgErr> {
    let key: Vec<u8> = row.try_get(1)?;
    Ok(ReplicationTask {
        bucket: row.try_get(0)?,
        key: String::from_utf8(key).map_err(|e| StoreError::Corrupt {
            record: REPLICATION,
            detail: e.to_string(),
        })?,
        version: unbig(row.try_get(2)?),
        attempts: u32::try_from(row.try_get::<_, i32>(3)?).unwrap_or(0),
        not_before_ms: unbig(row.try_get(4)?),
    })
}

/// Queues a version, due now, unless it is queued already.
pub(crate) async fn enqueue(db: &Db, bucket: String, key: String, version: u64) -> Result<()> {
    let key = key.into_bytes();
    let row = Replicate {
        version: big(version),
        due: big(now_ms()),
    };
    attempt!(db, |conn| async {
        let st = conn.st(ENQUEUE).await?;
        conn.client().execute(&st, &row.params(&bucket, &key)).await?;
        Ok::<_, PgErr>(())
    })
}

/// Tasks due at `now_ms`, earliest first.
pub(crate) async fn due(db: &Db, now_ms: u64, limit: usize) -> Result<Vec<ReplicationTask>> {
    let (now, limit) = (big(now_ms), i64::try_from(limit).unwrap_or(i64::MAX));
    attempt!(db, |conn| async {
        let st = conn.st(DUE).await?;
        let rows = conn.client().query(&st, &[&now, &limit]).await?;
        rows.iter().map(task_of).collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// Removes a version's task.
pub(crate) async fn finish(db: &Db, bucket: String, key: String, version: u64) -> Result<()> {
    let (key, version) = (key.into_bytes(), big(version));
    attempt!(db, |conn| async {
        let st = conn.st(FINISH).await?;
        conn.client().execute(&st, &[&bucket, &key, &version]).await?;
        Ok::<_, PgErr>(())
    })
}

/// Records a failed attempt at a version's task.
pub(crate) async fn retry(db: &Db, bucket: String, key: String, version: u64, now_ms: u64) -> Result<ReplicationTask> {
    let (key_bytes, v) = (key.as_bytes().to_vec(), big(version));
    attempt!(db, |conn| async {
        let lock = conn.st(LOCK_TASK).await?;
        let update = conn.st(RESCHEDULE).await?;
        let c = conn.client();
        let (_, row) = together!(c.batch_execute("BEGIN"), c.query_opt(&lock, &[&bucket, &key_bytes, &v]))?;
        let Some(row) = row else {
            return Err(PgErr::Store(no_such_version(&bucket, &key, version)));
        };
        let mut task = task_of(&row)?;
        task.attempts = task.attempts.saturating_add(1);
        task.not_before_ms = now_ms.saturating_add(backoff_ms(task.attempts));
        let attempts = i32::try_from(task.attempts).unwrap_or(i32::MAX);
        let due = big(task.not_before_ms);
        let params: [&(dyn ToSql + Sync); 5] = [&bucket, &key_bytes, &v, &attempts, &due];
        let (_, _) = together!(c.execute(&update, &params), c.batch_execute("COMMIT"))?;
        Ok::<_, PgErr>(task)
    })
}

/// Tasks queued, due or not.
pub(crate) async fn depth(db: &Db) -> Result<u64> {
    attempt!(db, |conn| async {
        let st = conn.st(DEPTH).await?;
        let row = conn.client().query_one(&st, &[]).await?;
        Ok::<_, PgErr>(unbig(row.try_get(0)?))
    })
}

/// Stores a state document.
pub(crate) async fn put_state(db: &Db, name: String, value: String) -> Result<()> {
    attempt!(db, |conn| async {
        let st = conn.st(PUT_STATE).await?;
        conn.client().execute(&st, &[&name, &value]).await?;
        Ok::<_, PgErr>(())
    })
}

/// The state document `name`.
pub(crate) async fn state(db: &Db, name: String) -> Result<Option<String>> {
    super::row_if_any(db, GET_STATE, &[&name], |row| Ok(row.try_get(0)?)).await
}

/// Removes the state document `name`.
pub(crate) async fn delete_state(db: &Db, name: String) -> Result<()> {
    attempt!(db, |conn| async {
        let st = conn.st(DELETE_STATE).await?;
        conn.client().execute(&st, &[&name]).await?;
        Ok::<_, PgErr>(())
    })
}

/// The state documents whose names start with `prefix`.
pub(crate) async fn states(db: &Db, prefix: String) -> Result<Vec<(String, String)>> {
    attempt!(db, |conn| async {
        let st = conn.st(STATES).await?;
        let rows = conn.client().query(&st, &[&prefix]).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// The committed bytes of queued cleanup tasks, by backend: one aggregate over the queue.
pub(crate) async fn orphan_bytes(db: &Db) -> Result<Vec<(String, u64)>> {
    attempt!(db, |conn| async {
        let st = conn.st(ORPHAN_BYTES).await?;
        let rows = conn.client().query(&st, &[]).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, num(r.try_get(1)?, "s3o_cleanup")?)))
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// Removes every trace of `backend` but versions' locations, in one transaction; how many
/// cleanup tasks.
pub(crate) async fn forget_backend(db: &Db, backend: String) -> Result<u64> {
    let removed = attempt!(db, |conn| async {
        let tasks = conn.st(FORGET_TASKS).await?;
        let c = conn.client();
        let (_, removed) = together!(c.batch_execute("BEGIN"), c.execute(&tasks, &[&backend]))?;
        let mut deltas = Deltas::default();
        deltas.queued(-i128::from(removed));
        let counters = deltas.prepare(&mut conn).await?;
        let forget = [
            conn.st(FORGET_COUNTERS).await?,
            conn.st(FORGET_RESERVATIONS).await?,
            conn.st(FORGET_USAGE_COUNTERS).await?,
        ];
        let params: [&(dyn ToSql + Sync); 1] = [&backend];
        let counter_params = counters.as_ref().map(|a| a.params());
        let mut batch = Batch::new(conn.client());
        for st in &forget {
            batch.exec(st, &params);
        }
        if let (Some(a), Some(p)) = (&counters, &counter_params) {
            batch.exec(&a.st, p);
        }
        batch.simple("COMMIT");
        batch.run().await?;
        Ok::<_, PgErr>(removed)
    })?;
    db.releases.forget_local(&backend);
    Ok(removed)
}
