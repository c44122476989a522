//! Buckets and objects in the PostgreSQL engine. Every write into a bucket holds its row `FOR
//! KEY SHARE` (writers do not block each other) and deleting a bucket takes it `FOR UPDATE`
//! (waiting out the writers in flight, then refusing any that come after), so emptiness is
//! checked atomically with the deletion. Writing a key locks its row `FOR UPDATE` before the
//! write condition is checked; two first writes of one key race on the primary key, and the loser
//! runs again, now seeing the winner's version.

use tokio_postgres::types::ToSql;

use super::batch::Batch;
use super::counters::Deltas;
use super::error::PgErr;
use super::pool::Conn;
use super::releases::LOCAL;
use super::versions::{Install, Settings, INSERT_VERSION};
use super::{attempt, big, decode, encode, num, together, unbig, Db};
use crate::error::{Result, StoreError};
use crate::model::{BucketMeta, CleanupTask, ObjectMeta, WriteCondition};
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms};

/// Objects' table name in errors.
pub(crate) const OBJECTS: &str = "s3o_objects";

const GET_BUCKET: &str = "SELECT b.name, b.owner, b.created_ms, sum(c.objects)::text, sum(c.bytes)::text,
        sum(c.uploads)::text, b.settings
     FROM s3o_buckets b LEFT JOIN s3o_counters c ON c.scope = 'bucket' AND c.name = b.name
     WHERE b.name = $1 GROUP BY b.name";
const LIST_BUCKETS: &str = "SELECT b.name, b.owner, b.created_ms, sum(c.objects)::text, sum(c.bytes)::text,
        sum(c.uploads)::text, b.settings
     FROM s3o_buckets b LEFT JOIN s3o_counters c ON c.scope = 'bucket' AND c.name = b.name
     GROUP BY b.name ORDER BY b.name";
const CREATE_BUCKET: &str =
    "INSERT INTO s3o_buckets (name, owner, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const LOCK_BUCKET_EXCLUSIVE: &str = "SELECT 1 FROM s3o_buckets WHERE name = $1 FOR UPDATE";
const BUCKET_HAS_OBJECTS: &str = "SELECT EXISTS (SELECT 1 FROM s3o_objects WHERE bucket = $1)
     OR EXISTS (SELECT 1 FROM s3o_object_versions WHERE bucket = $1)";
const DELETE_BUCKET: &str = "DELETE FROM s3o_buckets WHERE name = $1";
const DELETE_BUCKET_COUNTERS: &str = "DELETE FROM s3o_counters WHERE scope = 'bucket' AND name = $1";
/// Held by every write into a bucket; reads its versioning and object lock.
pub(crate) const LOCK_BUCKET_SHARED: &str = "SELECT settings FROM s3o_buckets WHERE name = $1 FOR KEY SHARE";
/// Serialises the writers of one key, also while it has no current version (only noncurrent
/// ones, whose rows a new delete marker or `null` version does not conflict with).
pub(crate) const LOCK_KEY: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || encode($2, 'base64'), 7))";
const GET_OBJECT: &str = "SELECT meta FROM s3o_objects WHERE bucket = $1 AND key = $2";
/// The current version, locked for the rest of the transaction.
const LOCK_OBJECT: &str = "SELECT meta FROM s3o_objects WHERE bucket = $1 AND key = $2 FOR UPDATE";
pub(crate) const INSERT_OBJECT: &str =
    "INSERT INTO s3o_objects (bucket, key, size, etag, last_modified_ms, version, meta, owner)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const UPDATE_OBJECT: &str =
    "UPDATE s3o_objects SET size = $3, etag = $4, last_modified_ms = $5, version = $6, meta = $7, owner = $8
     WHERE bucket = $1 AND key = $2";
/// A block of versions: taken 32 at a time, so most PUTs need no round trip for theirs.
const NEXT_VERSIONS: &str = "SELECT nextval('s3o_versions') FROM generate_series(1, 32)";
pub(crate) const CONSUME_RESERVATIONS: &str = "DELETE FROM s3o_reservations WHERE instance = $1 AND id = ANY ($2)";
/// Queues cleanup tasks, one per array element.
pub(crate) const ENQUEUE_MANY: &str =
    "INSERT INTO s3o_cleanup (backend, physical_key, size, reason, accounting, upload_id, attempts, not_before_ms)
     SELECT t.backend, t.physical_key, t.size, t.reason, t.accounting, t.upload_id, 0, t.not_before_ms
       FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::int8[])
            AS t(backend, physical_key, size, reason, accounting, upload_id, not_before_ms)";

/// A bucket row: name, owner, created, its counters' sums and its settings.
fn bucket_of(row: &tokio_postgres::Row) -> std::result::Result<BucketMeta, PgErr> {
    let settings = Settings::of(row.try_get(6)?)?;
    let mut meta = BucketMeta {
        name: row.try_get(0)?,
        owner: row.try_get(1)?,
        created_ms: unbig(row.try_get(2)?),
        object_count: num(row.try_get(3)?, "s3o_counters")?,
        logical_bytes: num(row.try_get(4)?, "s3o_counters")?,
        version_count: num(row.try_get(5)?, "s3o_counters")?,
        ..BucketMeta::default()
    };
    meta.settings = settings;
    Ok(meta)
}

/// Cleanup tasks as the columns of [`ENQUEUE_MANY`].
#[derive(Default)]
pub(crate) struct Tasks {
    backend: Vec<String>,
    physical_key: Vec<String>,
    size: Vec<i64>,
    reason: Vec<String>,
    accounting: Vec<String>,
    upload_id: Vec<Option<String>>,
    not_before_ms: Vec<i64>,
}

impl Tasks {
    /// Adds `task` (its id is the database's).
    pub(crate) fn push(&mut self, task: CleanupTask) {
        self.backend.push(task.backend);
        self.physical_key.push(task.physical_key);
        self.size.push(big(task.size));
        self.reason.push(super::cleanup::reason_name(task.reason).to_owned());
        self.accounting
            .push(super::cleanup::accounting_name(task.accounting).to_owned());
        self.upload_id.push(task.upload_id);
        self.not_before_ms.push(big(task.not_before_ms));
    }

    /// How many tasks there are.
    pub(crate) fn len(&self) -> usize {
        self.backend.len()
    }

    /// The parameters of [`ENQUEUE_MANY`].
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.backend,
            &self.physical_key,
            &self.size,
            &self.reason,
            &self.accounting,
            &self.upload_id,
            &self.not_before_ms,
        ]
    }
}

/// The columns of an object row other than bucket and key.
pub(crate) struct ObjectRow {
    size: i64,
    etag: String,
    last_modified_ms: i64,
    version: i64,
    value: Vec<u8>,
    /// The version's owner when not the bucket's, a column of its own for listings.
    owner: Option<String>,
}

impl ObjectRow {
    /// The row of `meta`.
    pub(crate) fn of(meta: &ObjectMeta) -> Result<Self> {
        Ok(Self {
            size: big(meta.size),
            etag: meta.etag.clone(),
            last_modified_ms: big(meta.last_modified_ms),
            version: big(meta.version),
            value: encode(OBJECTS, meta)?,
            owner: meta.owner.clone(),
        })
    }

    /// The statement writing it (insert for a new key, update otherwise).
    pub(crate) fn sql(exists: bool) -> &'static str {
        if exists {
            UPDATE_OBJECT
        } else {
            INSERT_OBJECT
        }
    }

    /// The parameters of [`sql`](Self::sql), for `bucket`/`key`.
    pub(crate) fn params<'a>(&'a self, bucket: &'a String, key: &'a Vec<u8>) -> [&'a (dyn ToSql + Sync); 8] {
        [
            bucket,
            key,
            &self.size,
            &self.etag,
            &self.last_modified_ms,
            &self.version,
            &self.value,
            &self.owner,
        ]
    }
}

/// Creates a bucket.
pub(crate) async fn create_bucket(db: &Db, name: String, owner: String) -> Result<()> {
    check_bucket_name(&name)?;
    let now = big(now_ms());
    let created = attempt!(db, |conn| async {
        let st = conn.st(CREATE_BUCKET).await?;
        Ok::<_, PgErr>(conn.client().execute(&st, &[&name, &owner, &now]).await?)
    })?;
    if created == 0 {
        return Err(StoreError::BucketAlreadyExists(name));
    }
    Ok(())
}

/// The bucket named `name`.
pub(crate) async fn bucket(db: &Db, name: String) -> Result<Option<BucketMeta>> {
    super::row_if_any(db, GET_BUCKET, &[&name], bucket_of).await
}

/// Every bucket in name order.
pub(crate) async fn list_buckets(db: &Db) -> Result<Vec<BucketMeta>> {
    attempt!(db, |conn| async {
        let st = conn.st(LIST_BUCKETS).await?;
        let rows = conn.client().query(&st, &[]).await?;
        rows.iter()
            .map(bucket_of)
            .collect::<std::result::Result<Vec<_>, PgErr>>()
    })
}

/// Deletes an empty bucket.
pub(crate) async fn delete_bucket(db: &Db, name: String) -> Result<()> {
    attempt!(db, |conn| delete_bucket_tx(&mut conn, &name))
}

/// One attempt at [`delete_bucket`].
async fn delete_bucket_tx(conn: &mut Conn<'_>, name: &String) -> std::result::Result<(), PgErr> {
    let lock = conn.st(LOCK_BUCKET_EXCLUSIVE).await?;
    let has = conn.st(BUCKET_HAS_OBJECTS).await?;
    let del = conn.st(DELETE_BUCKET).await?;
    let del_counters = conn.st(DELETE_BUCKET_COUNTERS).await?;
    let c = conn.client();
    let (_, found, nonempty) = together!(
        c.batch_execute("BEGIN"),
        c.query_opt(&lock, &[name]),
        c.query_one(&has, &[name])
    )?;
    if found.is_none() {
        return Err(StoreError::NoSuchBucket(name.clone()).into());
    }
    if nonempty.try_get::<_, bool>(0)? {
        return Err(StoreError::BucketNotEmpty(name.clone()).into());
    }
    let params: [&(dyn ToSql + Sync); 1] = [name];
    let mut batch = Batch::new(c);
    batch.exec(&del, &params);
    batch.exec(&del_counters, &params);
    batch.simple("COMMIT");
    batch.run().await?;
    Ok(())
}

/// A fresh version number: the next of this instance's block, a new block when it is used up.
/// Versions handed out by one instance increase; those of different instances interleave.
pub(crate) async fn next_version(db: &Db) -> Result<u64> {
    let mut block = db.versions.lock().await;
    if block.is_empty() {
        let fresh = attempt!(db, |conn| async {
            let st = conn.st(NEXT_VERSIONS).await?;
            let rows = conn.client().query(&st, &[]).await?;
            rows.iter()
                .map(|r| Ok(unbig(r.try_get(0)?)))
                .collect::<std::result::Result<Vec<u64>, PgErr>>()
        })?;
        block.extend(fresh);
    }
    block
        .pop_front()
        .ok_or_else(|| StoreError::Engine("postgres: the version sequence gave nothing".into()))
}

/// The current version of `bucket`/`key`.
pub(crate) async fn get_object(db: &Db, bucket: String, key: String) -> Result<Option<ObjectMeta>> {
    let key = key.into_bytes();
    super::row_if_any(db, GET_OBJECT, &[&bucket, &key], |row| {
        decode(OBJECTS, row.try_get::<_, &[u8]>(0)?)
    })
    .await
}

/// What `put_object` writes.
pub(crate) struct Put {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) meta: ObjectMeta,
    pub(crate) condition: WriteCondition,
}

/// Makes a new version current (see [`Engine::put_object`](crate::Engine::put_object)).
pub(crate) async fn put_object(db: &Db, put: Put, reservations: Vec<Reservation>) -> Result<Option<String>> {
    check_bucket_name(&put.bucket)?;
    let (shared, local): (Vec<Reservation>, Vec<Reservation>) =
        reservations.into_iter().partition(|r| r.id() & LOCAL == 0);
    let ids: Vec<i64> = shared.iter().map(|r| big(r.id())).collect();
    let id = attempt!(db, |conn| put_object_tx(&mut conn, db, &put, &ids))?;
    // The bytes count as usage now: the commit removed the database's reservations, and the
    // ones in memory go when dropped.
    shared.into_iter().for_each(Reservation::consume);
    drop(local);
    Ok(id)
}

/// One attempt at [`put_object`].
async fn put_object_tx(
    conn: &mut Conn<'_>,
    db: &Db,
    put: &Put,
    reservations: &Vec<i64>,
) -> std::result::Result<Option<String>, PgErr> {
    let key = put.key.as_bytes().to_vec();
    let (current, settings) = lock_for_write(conn, true, &put.bucket, &put.key, &put.condition).await?;
    let mut deltas = Deltas::default();
    let mut tasks = Tasks::default();
    let size = i128::from(put.meta.stored_size());
    let install = Install::prepare(
        conn,
        (&put.bucket, &key),
        &put.meta,
        current,
        &settings,
        size,
        &mut deltas,
        &mut tasks,
    )
    .await?;
    let row_params = install.row.params(&put.bucket, &key);
    let kept_params = install.kept.as_ref().map(|k| k.params(&put.bucket, &key));
    let consume_params: [&(dyn ToSql + Sync); 2] = [&db.instance, reservations];
    let replicate_params = install.replicate.as_ref().map(|r| r.params(&put.bucket, &key));
    let mut queued = vec![(ObjectRow::sql(install.exists), row_params.to_vec())];
    if let Some(p) = &kept_params {
        queued.push((INSERT_VERSION, p.to_vec()));
    }
    if let Some(p) = &replicate_params {
        queued.push((super::replication::ENQUEUE, p.to_vec()));
    }
    if !reservations.is_empty() {
        queued.push((CONSUME_RESERVATIONS, consume_params.to_vec()));
    }
    commit_with(conn, &queued, &deltas, &tasks).await?;
    Ok(install.version_id)
}

/// Sends `queued` statements, then the counters' changes, the cleanup tasks and `COMMIT`, in one
/// pipelined batch inside the caller's transaction.
pub(crate) async fn commit_with(
    conn: &mut Conn<'_>,
    queued: &[(&'static str, Vec<&(dyn ToSql + Sync)>)],
    deltas: &Deltas,
    tasks: &Tasks,
) -> std::result::Result<(), PgErr> {
    let mut statements = Vec::with_capacity(queued.len());
    for (sql, _) in queued {
        statements.push(conn.st(sql).await?);
    }
    let counters = deltas.prepare(conn).await?;
    let enqueue = conn.st(ENQUEUE_MANY).await?;
    let counter_params = counters.as_ref().map(|a| a.params());
    let task_params = tasks.params();
    let mut batch = Batch::new(conn.client());
    for (st, (_, params)) in statements.iter().zip(queued) {
        batch.exec(st, params);
    }
    if let (Some(a), Some(p)) = (&counters, &counter_params) {
        batch.exec(&a.st, p);
    }
    if tasks.len() > 0 {
        batch.exec(&enqueue, &task_params);
    }
    batch.simple("COMMIT");
    batch.run().await?;
    Ok(())
}

/// Locks `bucket` against deletion and `key` against other writers, inside the caller's
/// transaction (begun here too when `begin`), and returns the key's current version if
/// `condition` holds of it, with the bucket's settings: `NoSuchBucket` or `PreconditionFailed`
/// otherwise.
pub(crate) async fn lock_for_write(
    conn: &mut Conn<'_>,
    begin: bool,
    bucket: &String,
    key: &str,
    condition: &WriteCondition,
) -> std::result::Result<(Option<ObjectMeta>, Settings), PgErr> {
    let lock_bucket = conn.st(LOCK_BUCKET_SHARED).await?;
    let lock_key = conn.st(LOCK_KEY).await?;
    let lock_object = conn.st(LOCK_OBJECT).await?;
    let c = conn.client();
    let key_bytes = key.as_bytes();
    let (_, bucket_row, _, current) = together!(
        async {
            match begin {
                true => c.batch_execute("BEGIN").await,
                false => Ok(()),
            }
        },
        c.query_opt(&lock_bucket, &[bucket]),
        c.query_one(&lock_key, &[bucket, &key_bytes]),
        c.query_opt(&lock_object, &[bucket, &key_bytes])
    )?;
    let Some(bucket_row) = bucket_row else {
        return Err(StoreError::NoSuchBucket(bucket.clone()).into());
    };
    let settings = Settings::of(bucket_row.try_get(0)?)?;
    let current: Option<ObjectMeta> = match current {
        Some(r) => Some(decode(OBJECTS, r.try_get::<_, &[u8]>(0)?)?),
        None => None,
    };
    if !condition.holds(current.as_ref()) {
        return Err(StoreError::PreconditionFailed {
            bucket: bucket.clone(),
            key: key.to_owned(),
        }
        .into());
    }
    Ok((current, settings))
}
