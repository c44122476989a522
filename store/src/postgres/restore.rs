//! Rebuilding the index in the PostgreSQL engine: a bucket restored with its settings, a version
//! put back in its place by version number (one transaction holding the key's locks, as every
//! other change of a key's versions does), and the version sequence moved past the versions
//! restored.

use tokio_postgres::types::ToSql;

use super::counters::Deltas;
use super::error::PgErr;
use super::objects::{commit_with, lock_for_write, ObjectRow, Tasks};
use super::pool::Conn;
use super::replication::{Replicate, ENQUEUE};
use super::versions::{version_of, VersionRow, INSERT_VERSION, NEWEST_TWO, VERSIONS};
use super::{attempt, big, encode, Db};
use crate::error::Result;
use crate::model::{BucketMeta, Location, ObjectMeta, WriteCondition};
use crate::rules::check_bucket_name;

const RESTORE_BUCKET: &str = "INSERT INTO s3o_buckets (name, owner, created_ms, settings) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING";
const GET_NUMBERED: &str = "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND version = $3";
const SET_VERSION_META: &str =
    "UPDATE s3o_object_versions SET meta = $4 WHERE bucket = $1 AND key = $2 AND version = $3";
const DELETE_CURRENT: &str = "DELETE FROM s3o_objects WHERE bucket = $1 AND key = $2";
/// Moves the sequence up to `$1` (never down): the next `nextval` is above both.
const ADVANCE: &str = "SELECT setval('s3o_versions', greatest($1::bigint, (SELECT last_value FROM s3o_versions)))";

/// Creates a bucket with its settings unless it exists (see
/// [`Engine::restore_bucket`](crate::Engine::restore_bucket)).
pub(crate) async fn restore_bucket(db: &Db, meta: BucketMeta) -> Result<()> {
    check_bucket_name(&meta.name)?;
    let settings = meta.settings.column()?;
    let created = big(meta.created_ms);
    attempt!(db, |conn| async {
        let st = conn.st(RESTORE_BUCKET).await?;
        let params: [&(dyn ToSql + Sync); 4] = [&meta.name, &meta.owner, &created, &settings];
        conn.client().execute(&st, &params).await?;
        Ok::<_, PgErr>(())
    })
}

/// Puts a version back in its place (see
/// [`Engine::restore_version`](crate::Engine::restore_version)).
pub(crate) async fn restore_version(db: &Db, bucket: String, key: String, meta: ObjectMeta) -> Result<()> {
    check_bucket_name(&bucket)?;
    attempt!(db, |conn| restore_tx(&mut conn, &bucket, &key, &meta))
}

/// Where the version being restored already is, if it is.
enum Present {
    Current(ObjectMeta),
    Noncurrent(ObjectMeta),
}

/// One attempt at [`restore_version`].
async fn restore_tx(
    conn: &mut Conn<'_>,
    bucket: &String,
    key: &str,
    meta: &ObjectMeta,
) -> std::result::Result<(), PgErr> {
    let (current, _) = lock_for_write(conn, true, bucket, key, &WriteCondition::None).await?;
    let kbytes = key.as_bytes().to_vec();
    let number = big(meta.version);
    let numbered = conn.st(GET_NUMBERED).await?;
    let newest = conn.st(NEWEST_TWO).await?;
    let c = conn.client();
    let same = c.query_opt(&numbered, &[bucket, &kbytes, &number]).await?;
    let newest = c.query(&newest, &[bucket, &kbytes]).await?;
    let newest_noncurrent = newest.first().map(|r| version_of(VERSIONS, r)).transpose()?;
    let present = match (&current, same) {
        (Some(c), _) if c.version == meta.version => Some(Present::Current(c.clone())),
        (_, Some(row)) => Some(Present::Noncurrent(version_of(VERSIONS, &row)?)),
        _ => None,
    };
    let mut deltas = Deltas::default();
    let mut queued: Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> = Vec::new();
    let stored: ObjectMeta;
    // The rows written, kept alive for the batch that borrows them.
    let (object_row, union_value, old_row, new_row);
    match present {
        Some(Present::Current(have) | Present::Noncurrent(have)) if have.delete_marker => {
            c.batch_execute("COMMIT").await?;
            return Ok(());
        }
        Some(p) => {
            let in_current = matches!(p, Present::Current(_));
            let (Present::Current(mut have) | Present::Noncurrent(mut have)) = p;
            let added: Vec<Location> = meta
                .locations
                .iter()
                .filter(|l| !have.locations.contains(l))
                .cloned()
                .collect();
            if added.is_empty() {
                c.batch_execute("COMMIT").await?;
                return Ok(());
            }
            deltas.stored(&have, -1);
            have.locations.extend(added.iter().cloned());
            deltas.stored(&have, 1);
            for loc in &added {
                deltas.committed(&loc.backend, i128::from(have.stored_size()));
            }
            if in_current {
                object_row = Some(ObjectRow::of(&have)?);
                union_value = None;
            } else {
                object_row = None;
                union_value = Some(encode(VERSIONS, &have)?);
            }
            (old_row, new_row) = (None, None);
            stored = have;
        }
        None => {
            let latest = current
                .as_ref()
                .map(|c| c.version)
                .into_iter()
                .chain(newest_noncurrent.as_ref().map(|m| m.version))
                .max();
            let is_newest = latest.is_none_or(|l| meta.version > l);
            union_value = None;
            if is_newest {
                old_row = match &current {
                    Some(old) => {
                        deltas.current(bucket, old, -1);
                        deltas.noncurrent(bucket, 1);
                        Some(VersionRow::of(old)?)
                    }
                    None => None,
                };
                if meta.delete_marker {
                    deltas.noncurrent(bucket, 1);
                    object_row = None;
                    new_row = Some(VersionRow::of(meta)?);
                } else {
                    deltas.current(bucket, meta, 1);
                    object_row = Some(ObjectRow::of(meta)?);
                    new_row = None;
                }
            } else {
                deltas.noncurrent(bucket, 1);
                (old_row, object_row) = (None, None);
                new_row = Some(VersionRow::of(meta)?);
            }
            if !meta.delete_marker {
                deltas.stored(meta, 1);
                for loc in &meta.locations {
                    deltas.committed(&loc.backend, i128::from(meta.stored_size()));
                }
            }
            stored = meta.clone();
        }
    }
    let replicate = Replicate::of(&stored);
    let has_current = current.is_some();
    if let Some(r) = &old_row {
        queued.push((INSERT_VERSION, r.params(bucket, &kbytes).to_vec()));
    }
    if let Some(r) = &new_row {
        queued.push((INSERT_VERSION, r.params(bucket, &kbytes).to_vec()));
        if has_current && old_row.is_some() {
            // A delete marker became the latest: the key has no current version any more.
            queued.push((DELETE_CURRENT, vec![bucket, &kbytes]));
        }
    }
    if let Some(r) = &object_row {
        queued.push((ObjectRow::sql(has_current), r.params(bucket, &kbytes).to_vec()));
    }
    if let Some(v) = &union_value {
        queued.push((SET_VERSION_META, vec![bucket, &kbytes, &number, v]));
    }
    if let Some(r) = &replicate {
        queued.push((ENQUEUE, r.params(bucket, &kbytes).to_vec()));
    }
    commit_with(conn, &queued, &deltas, &Tasks::default()).await
}

/// Moves the version sequence past `above` and drops this instance's block of versions taken
/// before (see [`Engine::advance_versions`](crate::Engine::advance_versions)).
pub(crate) async fn advance_versions(db: &Db, above: u64) -> Result<()> {
    let mut block = db.versions.lock().await;
    let above = big(above);
    attempt!(db, |conn| async {
        let st = conn.st(ADVANCE).await?;
        conn.client().query_one(&st, &[&above]).await?;
        Ok::<_, PgErr>(())
    })?;
    block.clear();
    Ok(())
}
