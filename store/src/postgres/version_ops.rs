//! The calls on versions of the PostgreSQL engine: one version read, deletes with and without a
//! version id, a version's tags, retention or legal hold changed, and a bucket's versioning or
//! object lock changed. Each mutation is one transaction holding the key's locks (see
//! `versions.rs`), with its writes and `COMMIT` pipelined.

use tokio_postgres::types::ToSql;

use super::counters::Deltas;
use super::error::PgErr;
use super::objects::{commit_with, lock_for_write, Tasks, OBJECTS};
use super::pool::Conn;
use super::versions::{
    current_of, discard, missing, remove_null, version_of, NoncurrentQuery, Settings, VersionRow, VERSIONS,
};
use super::{attempt, big, encode, together, Db};
use crate::error::{Result, StoreError};
use crate::model::{BucketMeta, CleanupReason, ObjectMeta, WriteCondition};
use crate::rules::{check_bucket_name, now_ms};
use crate::versions::{change_version, BucketChange, Deleted, VersionChange, VersionRef, Versioning};

const GET_CURRENT: &str = "SELECT meta FROM s3o_objects WHERE bucket = $1 AND key = $2";
const DELETE_CURRENT: &str = "DELETE FROM s3o_objects WHERE bucket = $1 AND key = $2";
const DELETE_VERSION: &str = "DELETE FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND version = $3";
const SET_CURRENT_META: &str = "UPDATE s3o_objects SET meta = $3 WHERE bucket = $1 AND key = $2";
const SET_VERSION_META: &str =
    "UPDATE s3o_object_versions SET meta = $4 WHERE bucket = $1 AND key = $2 AND version = $3";
const LOCK_SETTINGS: &str = "SELECT settings FROM s3o_buckets WHERE name = $1 FOR NO KEY UPDATE";
const SET_SETTINGS: &str = "UPDATE s3o_buckets SET settings = $2 WHERE name = $1";

/// The version of `bucket`/`key` that `version` names, delete markers included.
pub(crate) async fn get_version(
    db: &Db,
    bucket: String,
    key: String,
    version: VersionRef,
) -> Result<Option<ObjectMeta>> {
    let key = key.into_bytes();
    let older = NoncurrentQuery::of(version);
    attempt!(db, |conn| async {
        let current_st = conn.st(GET_CURRENT).await?;
        let older_st = conn.st(older.sql).await?;
        let c = conn.client();
        let params = older.params(&bucket, &key);
        // One snapshot for both reads, so a version moving between the tables is seen once.
        let (_, current, older, _) = together!(
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            c.query_opt(&current_st, &[&bucket, &key]),
            c.query(&older_st, &params),
            c.batch_execute("COMMIT")
        )?;
        if let Some(m) = current_of(current)?.filter(|m| version.names(m)) {
            return Ok(Some(m));
        }
        older.first().map(|r| version_of(VERSIONS, r)).transpose()
    })
}

/// The key's current version and the noncurrent one `version` names (`Latest`: the newest two),
/// read under the key's locks inside the caller's transaction, with the bucket's settings.
async fn lock_versions(
    conn: &mut Conn<'_>,
    bucket: &String,
    key: &Vec<u8>,
    version: VersionRef,
) -> std::result::Result<(Option<ObjectMeta>, Vec<ObjectMeta>, Settings), PgErr> {
    let text = String::from_utf8_lossy(key).into_owned();
    let (current, settings) = lock_for_write(conn, true, bucket, &text, &WriteCondition::None).await?;
    let query = NoncurrentQuery::of(version);
    let st = conn.st(query.sql).await?;
    let rows = conn.client().query(&st, &query.params(bucket, key)).await?;
    let older = rows
        .iter()
        .map(|r| version_of(VERSIONS, r))
        .collect::<std::result::Result<Vec<_>, PgErr>>()?;
    Ok((current, older, settings))
}

/// Deletes a key as a DELETE without a version id does (see
/// [`Engine::delete_object`](crate::Engine::delete_object)).
pub(crate) async fn delete_object(db: &Db, bucket: String, key: String) -> Result<Deleted> {
    check_bucket_name(&bucket)?;
    let marker_version = super::objects::next_version(db).await?;
    let key = key.into_bytes();
    attempt!(db, |conn| delete_object_tx(&mut conn, &bucket, &key, marker_version))
}

/// One attempt at [`delete_object`].
async fn delete_object_tx(
    conn: &mut Conn<'_>,
    bucket: &String,
    key: &Vec<u8>,
    marker_version: u64,
) -> std::result::Result<Deleted, PgErr> {
    let text = String::from_utf8_lossy(key).into_owned();
    let (previous, settings) = lock_for_write(conn, true, bucket, &text, &WriteCondition::None).await?;
    let (mut deltas, mut tasks) = (Deltas::default(), Tasks::default());
    let mut kept = None;
    if let Some(old) = &previous {
        deltas.current(bucket, old, -1);
        if settings.versioning.keeps(old) {
            deltas.noncurrent(bucket, 1);
            kept = Some(VersionRow::of(old)?);
        } else {
            discard(old, None, CleanupReason::Deleted, &mut deltas, &mut tasks);
        }
    }
    let marker = match settings.versioning {
        Versioning::Unversioned => None,
        versioning => {
            if versioning == Versioning::Suspended {
                remove_null(conn, (bucket, key), None, &mut deltas, &mut tasks).await?;
            }
            deltas.noncurrent(bucket, 1);
            Some(ObjectMeta {
                last_modified_ms: now_ms(),
                version: marker_version,
                versioned: versioning == Versioning::Enabled,
                delete_marker: true,
                ..ObjectMeta::default()
            })
        }
    };
    let marker_row = marker.as_ref().map(VersionRow::of).transpose()?;
    let insert = super::versions::INSERT_VERSION;
    let mut queued: Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> = Vec::new();
    if previous.is_some() {
        queued.push((DELETE_CURRENT, vec![bucket, key]));
    }
    for row in kept.iter().chain(marker_row.iter()) {
        queued.push((insert, row.params(bucket, key).to_vec()));
    }
    commit_with(conn, &queued, &deltas, &tasks).await?;
    Ok(Deleted { previous, marker })
}

/// Removes one version for good (see [`Engine::delete_version`](crate::Engine::delete_version)).
pub(crate) async fn delete_version(
    db: &Db,
    bucket: String,
    key: String,
    version: VersionRef,
    bypass_governance: bool,
) -> Result<Option<ObjectMeta>> {
    check_bucket_name(&bucket)?;
    let key = key.into_bytes();
    attempt!(db, |conn| delete_version_tx(
        &mut conn,
        &bucket,
        &key,
        version,
        bypass_governance
    ))
}

/// One attempt at [`delete_version`].
async fn delete_version_tx(
    conn: &mut Conn<'_>,
    bucket: &String,
    key: &Vec<u8>,
    version: VersionRef,
    bypass_governance: bool,
) -> std::result::Result<Option<ObjectMeta>, PgErr> {
    let (current, older, _) = lock_versions(conn, bucket, key, version).await?;
    let in_current = current.as_ref().is_some_and(|m| version.names(m));
    let target = match (in_current, &current) {
        (true, Some(m)) => m.clone(),
        _ => match older.first() {
            Some(m) if version.names(m) => m.clone(),
            _ => {
                conn.client().batch_execute("COMMIT").await?;
                return Ok(None);
            }
        },
    };
    if let Some(why) = target.lock_forbids_removal(now_ms(), bypass_governance) {
        return Err(PgErr::Store(StoreError::Locked {
            bucket: bucket.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            version: target.version_id(),
            why,
        }));
    }
    let (mut deltas, mut tasks) = (Deltas::default(), Tasks::default());
    discard(&target, None, CleanupReason::Deleted, &mut deltas, &mut tasks);
    let target_version = big(target.version);
    let mut queued: Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> = Vec::new();
    if in_current {
        deltas.current(bucket, &target, -1);
        queued.push((DELETE_CURRENT, vec![bucket, key]));
    } else {
        deltas.noncurrent(bucket, -1);
        queued.push((DELETE_VERSION, vec![bucket, key, &target_version]));
    }
    // The newest noncurrent version that remains, which becomes current if the removed one was
    // the latest and it is not a delete marker.
    let newest = super::versions::newest_noncurrent(conn, bucket, key, target_version).await?;
    let was_latest = in_current || current.is_none() && newest.as_ref().is_none_or(|n| n.version < target.version);
    let promote = newest.filter(|n| was_latest && !n.delete_marker);
    let promoted_row = promote.as_ref().map(super::objects::ObjectRow::of).transpose()?;
    let promote_version = promote.as_ref().map(|n| big(n.version));
    if let (Some(next), Some(row), Some(v)) = (&promote, &promoted_row, &promote_version) {
        deltas.noncurrent(bucket, -1);
        deltas.current(bucket, next, 1);
        queued.push((DELETE_VERSION, vec![bucket, key, v]));
        queued.push((super::objects::INSERT_OBJECT, row.params(bucket, key).to_vec()));
    }
    commit_with(conn, &queued, &deltas, &tasks).await?;
    Ok(Some(target))
}

/// Changes one version (see [`Engine::update_version`](crate::Engine::update_version)).
pub(crate) async fn update_version(
    db: &Db,
    bucket: String,
    key: String,
    version: VersionRef,
    change: VersionChange,
) -> Result<ObjectMeta> {
    check_bucket_name(&bucket)?;
    let key = key.into_bytes();
    let now = now_ms();
    attempt!(db, |conn| async {
        let (current, older, settings) = lock_versions(&mut conn, &bucket, &key, version).await?;
        let (mut meta, in_current) = match current.filter(|m| version.names(m)) {
            Some(m) => (m, true),
            None => match older.into_iter().next().filter(|m| version.names(m)) {
                Some(m) => (m, false),
                None => return Err(missing(&bucket, &key, version)),
            },
        };
        let text = String::from_utf8_lossy(&key).into_owned();
        change_version(&mut meta, &change, settings.object_lock.is_some(), now, &bucket, &text)?;
        let value = encode(if in_current { OBJECTS } else { VERSIONS }, &meta)?;
        let v = big(meta.version);
        let queued: Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> = if in_current {
            vec![(SET_CURRENT_META, vec![&bucket, &key, &value])]
        } else {
            vec![(SET_VERSION_META, vec![&bucket, &key, &v, &value])]
        };
        commit_with(&mut conn, &queued, &Deltas::default(), &Tasks::default()).await?;
        Ok::<_, PgErr>(meta)
    })
}

/// Changes a bucket's versioning or object lock (see
/// [`Engine::update_bucket`](crate::Engine::update_bucket)).
pub(crate) async fn update_bucket(db: &Db, name: String, change: BucketChange) -> Result<BucketMeta> {
    check_bucket_name(&name)?;
    attempt!(db, |conn| async {
        let lock = conn.st(LOCK_SETTINGS).await?;
        let c = conn.client();
        let (_, row) = together!(c.batch_execute("BEGIN"), c.query_opt(&lock, &[&name]))?;
        let Some(row) = row else {
            return Err(PgErr::Store(StoreError::NoSuchBucket(name.clone())));
        };
        let mut meta = BucketMeta {
            name: name.clone(),
            ..BucketMeta::default()
        };
        meta.settings = Settings::of(row.try_get(0)?)?;
        change.apply(&mut meta)?;
        let column = meta.settings.column()?;
        let params: Vec<&(dyn ToSql + Sync)> = vec![&name, &column];
        commit_with(
            &mut conn,
            &[(SET_SETTINGS, params)],
            &Deltas::default(),
            &Tasks::default(),
        )
        .await?;
        Ok::<_, PgErr>(())
    })?;
    super::objects::bucket(db, name.clone())
        .await?
        .ok_or(StoreError::NoSuchBucket(name))
}
