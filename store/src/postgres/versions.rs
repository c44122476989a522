//! Versions in the PostgreSQL engine: the bucket settings that turn versioning and object lock
//! on, making a new version current as versioning says ([`Install`]), deletes with and without a
//! version id, and one version read or changed.
//!
//! The current version of a key is its `s3o_objects` row; noncurrent versions and delete markers
//! are rows of `s3o_object_versions`. Every mutation of a key holds the key's transaction-scoped
//! advisory lock (`LOCK_KEY`) and its bucket `FOR KEY SHARE`, so what it reads of the key's
//! versions stays true until it commits, on every instance.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::counters::Deltas;
use super::error::PgErr;
use super::objects::{ObjectRow, Tasks, OBJECTS};
use super::pool::Conn;
use super::replication::Replicate;
use super::{big, decode, encode};
use crate::model::{Accounting, CleanupReason, CleanupTask, ObjectMeta};
use crate::rules::{now_ms, CLEANUP_GRACE_MS};
use crate::versions::{VersionRef, Versioning};

/// The versions table's name in errors.
pub(crate) const VERSIONS: &str = "s3o_object_versions";
/// The bucket settings' name in errors.
const SETTINGS: &str = "s3o_buckets.settings";

pub(crate) const INSERT_VERSION: &str =
    "INSERT INTO s3o_object_versions (bucket, key, version, null_version, meta) VALUES ($1, $2, $3, $4, $5)";
const DELETE_NULL: &str =
    "DELETE FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND null_version RETURNING meta";
/// The newest noncurrent versions of a key: the latest when there is no current one, and the
/// one that becomes the latest when that goes.
pub(crate) const NEWEST_TWO: &str =
    "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 ORDER BY version DESC LIMIT 2";
pub(crate) const GET_BY_ID: &str =
    "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND version = $3 AND NOT null_version";
pub(crate) const GET_NULL: &str =
    "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND null_version";
const NEWEST_OTHER: &str = "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND version <> $3
     ORDER BY version DESC LIMIT 1";

/// The newest noncurrent version of a key other than version `except`, inside the caller's
/// transaction.
pub(crate) async fn newest_noncurrent(
    conn: &mut Conn<'_>,
    bucket: &String,
    key: &Vec<u8>,
    except: i64,
) -> Result<Option<ObjectMeta>, PgErr> {
    let st = conn.st(NEWEST_OTHER).await?;
    let row = conn.client().query_opt(&st, &[bucket, key, &except]).await?;
    row.map(|r| version_of(VERSIONS, &r)).transpose()
}

/// A bucket's settings, kept in its `settings` column (`NULL` until changed).
pub(crate) type Settings = crate::model::BucketSettings;

impl Settings {
    /// The settings in a `settings` column.
    pub(crate) fn of(column: Option<&[u8]>) -> Result<Self, PgErr> {
        column.map_or(Ok(Self::default()), |bytes| decode(SETTINGS, bytes))
    }

    /// The column of these settings.
    pub(crate) fn column(&self) -> crate::error::Result<Vec<u8>> {
        encode(SETTINGS, self)
    }
}

/// A version read from a `meta` column of `table`.
pub(crate) fn version_of(table: &'static str, row: &Row) -> Result<ObjectMeta, PgErr> {
    decode(table, row.try_get::<_, &[u8]>(0)?)
}

/// A row of `s3o_object_versions`.
pub(crate) struct VersionRow {
    version: i64,
    null: bool,
    value: Vec<u8>,
}

impl VersionRow {
    /// The row of `meta`.
    pub(crate) fn of(meta: &ObjectMeta) -> crate::error::Result<Self> {
        Ok(Self {
            version: big(meta.version),
            null: !meta.versioned,
            value: encode(VERSIONS, meta)?,
        })
    }

    /// The parameters of an insert of the row for `bucket`/`key`.
    pub(crate) fn params<'a>(&'a self, bucket: &'a String, key: &'a Vec<u8>) -> [&'a (dyn ToSql + Sync); 5] {
        [bucket, key, &self.version, &self.null, &self.value]
    }
}

/// Queues the bytes of `old`, a version leaving the store, for cleanup and stops counting them
/// on its backends. A location `keep` reuses (the same physical key written again) is not
/// queued: its old bytes are gone already.
pub(crate) fn discard(
    old: &ObjectMeta,
    keep: Option<&ObjectMeta>,
    reason: CleanupReason,
    deltas: &mut Deltas,
    tasks: &mut Tasks,
) {
    deltas.stored(old, -1);
    let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
    for loc in &old.locations {
        if keep.is_some_and(|k| k.locations.contains(loc)) {
            tracing::warn!(
                backend = %loc.backend,
                physical_key = %loc.physical_key,
                "physical key reused by a new version; not queued for cleanup"
            );
            deltas.committed(&loc.backend, -i128::from(old.stored_size()));
            continue;
        }
        tasks.push(CleanupTask::delete(
            &loc.backend,
            &loc.physical_key,
            old.stored_size(),
            Accounting::Committed,
            reason,
            not_before_ms,
        ));
        deltas.queued(1);
    }
}

/// Removes the key's noncurrent `null` version, if any, inside the caller's transaction (with
/// versioning suspended, a new `null` version or delete marker replaces it).
pub(crate) async fn remove_null(
    conn: &mut Conn<'_>,
    (bucket, key): (&String, &Vec<u8>),
    keep: Option<&ObjectMeta>,
    deltas: &mut Deltas,
    tasks: &mut Tasks,
) -> Result<(), PgErr> {
    let st = conn.st(DELETE_NULL).await?;
    if let Some(row) = conn.client().query_opt(&st, &[bucket, key]).await? {
        let null = version_of(VERSIONS, &row)?;
        deltas.noncurrent(bucket, -1);
        discard(&null, keep, CleanupReason::Replaced, deltas, tasks);
    }
    Ok(())
}

/// A new current version, decided under the key's locks: the row to write, and the replaced
/// version to keep as a noncurrent one, if it is kept.
pub(crate) struct Install {
    pub(crate) row: ObjectRow,
    /// Whether the key has a current row (updated) or not (inserted).
    pub(crate) exists: bool,
    pub(crate) kept: Option<VersionRow>,
    /// The version id, in a bucket with versioning on.
    pub(crate) version_id: Option<String>,
    /// The replication task to queue, if the version wants more copies than it has.
    pub(crate) replicate: Option<Replicate>,
}

impl Install {
    /// Decides how `meta` replaces `current` in a bucket with `settings` (see
    /// [`Engine::put_object`](crate::Engine::put_object)), adding the counters' changes and
    /// cleanup tasks it makes; with versioning suspended this removes the previous `null` version
    /// at once. `usage_delta` is added to the committed bytes of every location of `meta`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn prepare(
        conn: &mut Conn<'_>,
        (bucket, key): (&String, &Vec<u8>),
        meta: &ObjectMeta,
        current: Option<ObjectMeta>,
        settings: &Settings,
        usage_delta: i128,
        deltas: &mut Deltas,
        tasks: &mut Tasks,
    ) -> Result<Self, PgErr> {
        let mut meta = meta.clone();
        meta.versioned = settings.versioning == Versioning::Enabled;
        meta.delete_marker = false;
        deltas.version(bucket, &meta, 1);
        for loc in &meta.locations {
            deltas.committed(&loc.backend, usage_delta);
        }
        let mut kept = None;
        if let Some(old) = &current {
            deltas.current(bucket, old, -1);
            if settings.versioning.keeps(old) {
                deltas.noncurrent(bucket, 1);
                kept = Some(VersionRow::of(old)?);
            } else {
                discard(old, Some(&meta), CleanupReason::Replaced, deltas, tasks);
            }
        }
        if settings.versioning == Versioning::Suspended {
            remove_null(conn, (bucket, key), Some(&meta), deltas, tasks).await?;
        }
        Ok(Self {
            row: ObjectRow::of(&meta)?,
            exists: current.is_some(),
            kept,
            version_id: meta.versioned.then(|| meta.version_id()),
            replicate: Replicate::of(&meta),
        })
    }
}

/// The statement reading the version `version` names among a key's noncurrent ones (`Latest`:
/// the newest two), and the version number it takes after bucket and key.
pub(crate) struct NoncurrentQuery {
    pub(crate) sql: &'static str,
    id: Option<i64>,
}

impl NoncurrentQuery {
    /// The query for `version`.
    pub(crate) fn of(version: VersionRef) -> Self {
        let (sql, id) = match version {
            VersionRef::Latest => (NEWEST_TWO, None),
            VersionRef::Null => (GET_NULL, None),
            VersionRef::Id(v) => (GET_BY_ID, Some(big(v))),
        };
        Self { sql, id }
    }

    /// Its parameters for `bucket`/`key`.
    pub(crate) fn params<'a>(&'a self, bucket: &'a String, key: &'a Vec<u8>) -> Vec<&'a (dyn ToSql + Sync)> {
        match &self.id {
            Some(v) => vec![bucket, key, v],
            None => vec![bucket, key],
        }
    }
}

/// The current version as a row of `s3o_objects` read back.
pub(crate) fn current_of(row: Option<Row>) -> Result<Option<ObjectMeta>, PgErr> {
    row.map(|r| version_of(OBJECTS, &r)).transpose()
}

/// A version that is not there, as an error.
pub(crate) fn missing(bucket: &str, key: &[u8], version: VersionRef) -> PgErr {
    PgErr::Store(crate::versions::missing_version(
        bucket,
        &String::from_utf8_lossy(key),
        version,
    ))
}
