//! Relocation and the scan of stored versions in the PostgreSQL engine. A relocation holds the
//! key's locks as every mutation of a key's versions does (see `versions.rs`), locks the row it
//! changes, and commits the new locations with the counters' changes, the cleanup tasks and the
//! replication task in one pipelined batch. The scan is one query: the current and noncurrent
//! versions after a position, each side an ordered range of its primary key, merged.

use tokio_postgres::types::ToSql;

use super::counters::Deltas;
use super::error::PgErr;
use super::objects::{commit_with, lock_for_write, Tasks, CONSUME_RESERVATIONS, OBJECTS};
use super::pool::Conn;
use super::releases::LOCAL;
use super::replication::{Replicate, ENQUEUE};
use super::versions::{version_of, VERSIONS};
use super::{attempt, big, decode, encode, Db};
use crate::error::{Result, StoreError};
use crate::model::{Accounting, CleanupReason, CleanupTask, Location, ObjectMeta, WriteCondition};
use crate::orchestration::{moves, no_such_version, scan_budget, Removal, ScanPage, Scanning, VersionAt};
use crate::reservation::Reservation;
use crate::rules::{check_bucket_name, now_ms, CLEANUP_GRACE_MS};

const LOCK_VERSION: &str =
    "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND version = $3 FOR UPDATE";
const SET_CURRENT_META: &str = "UPDATE s3o_objects SET meta = $3 WHERE bucket = $1 AND key = $2";
const SET_VERSION_META: &str =
    "UPDATE s3o_object_versions SET meta = $4 WHERE bucket = $1 AND key = $2 AND version = $3";
/// The versions after position ($1, $2, $3), at most $4 of them, delete markers included: each
/// side reads its primary key in order from the position, and the two are merged.
const SCAN: &str = "(SELECT bucket, key, version, meta, true FROM s3o_objects
         WHERE (bucket, key) >= ($1, $2) AND ((bucket, key) > ($1, $2) OR version > $3)
         ORDER BY bucket, key LIMIT $4)
     UNION ALL
     (SELECT bucket, key, version, meta, false FROM s3o_object_versions
         WHERE (bucket, key, version) > ($1, $2, $3)
         ORDER BY bucket, key, version LIMIT $4)
     ORDER BY 1, 2, 3 LIMIT $4";

/// What `relocate` changes.
pub(crate) struct Relocation {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) version: u64,
    pub(crate) expected: Vec<Location>,
    pub(crate) new: Vec<Location>,
    pub(crate) removal: Removal,
    /// New facts of the stored bytes, for a rewrite.
    pub(crate) facts: Option<crate::sealed::StoredFacts>,
}

/// Swaps the locations of one version (see [`Engine::relocate`](crate::Engine::relocate)).
pub(crate) async fn relocate(db: &Db, r: Relocation, reservations: Vec<Reservation>) -> Result<ObjectMeta> {
    check_bucket_name(&r.bucket)?;
    let (shared, local): (Vec<Reservation>, Vec<Reservation>) =
        reservations.into_iter().partition(|res| res.id() & LOCAL == 0);
    let ids: Vec<i64> = shared.iter().map(|res| big(res.id())).collect();
    let meta = attempt!(db, |conn| relocate_tx(&mut conn, db, &r, &ids))?;
    // The bytes count as usage now: the commit removed the database's reservations, and the
    // ones in memory go when dropped.
    shared.into_iter().for_each(Reservation::consume);
    drop(local);
    Ok(meta)
}

/// One attempt at [`relocate`].
async fn relocate_tx(
    conn: &mut Conn<'_>,
    db: &Db,
    r: &Relocation,
    reservations: &Vec<i64>,
) -> std::result::Result<ObjectMeta, PgErr> {
    let key = r.key.as_bytes().to_vec();
    let v = big(r.version);
    let (current, _) = lock_for_write(conn, true, &r.bucket, &r.key, &WriteCondition::None).await?;
    let (old, is_current) = match current.filter(|m| m.version == r.version) {
        Some(m) => (m, true),
        None => {
            let st = conn.st(LOCK_VERSION).await?;
            match conn.client().query_opt(&st, &[&r.bucket, &key, &v]).await? {
                Some(row) => (version_of(VERSIONS, &row)?, false),
                None => return Err(no_such_version(&r.bucket, &r.key, r.version).into()),
            }
        }
    };
    if old.delete_marker {
        return Err(no_such_version(&r.bucket, &r.key, r.version).into());
    }
    let m = moves(&r.bucket, &r.key, &old.locations, &r.expected, &r.new)?;
    let mut meta = old.clone();
    meta.locations = r.new.clone();
    if let Some(f) = &r.facts {
        f.apply(&mut meta);
    }
    let (size, old_size) = (i128::from(meta.stored_size()), i128::from(old.stored_size()));
    let (mut deltas, mut tasks) = (Deltas::default(), Tasks::default());
    for loc in &m.added {
        deltas.committed(&loc.backend, size);
    }
    let not_before_ms = now_ms().saturating_add(CLEANUP_GRACE_MS);
    for loc in &m.dropped {
        match r.removal {
            Removal::Cleanup => {
                tasks.push(CleanupTask::delete(
                    &loc.backend,
                    &loc.physical_key,
                    old.stored_size(),
                    Accounting::Committed,
                    CleanupReason::Relocated,
                    not_before_ms,
                ));
                deltas.queued(1);
            }
            Removal::Forget => deltas.committed(&loc.backend, -old_size),
        }
    }
    deltas.stored(&old, -1);
    deltas.stored(&meta, 1);
    let value = encode(if is_current { OBJECTS } else { VERSIONS }, &meta)?;
    let replicate = Replicate::of(&meta);
    let mut queued: Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> = if is_current {
        vec![(SET_CURRENT_META, vec![&r.bucket, &key, &value])]
    } else {
        vec![(SET_VERSION_META, vec![&r.bucket, &key, &v, &value])]
    };
    if let Some(rep) = &replicate {
        queued.push((ENQUEUE, rep.params(&r.bucket, &key).to_vec()));
    }
    if !reservations.is_empty() {
        queued.push((CONSUME_RESERVATIONS, vec![&db.instance, reservations]));
    }
    commit_with(conn, &queued, &deltas, &tasks).await?;
    Ok(meta)
}

/// One page of the scan of stored versions (see
/// [`Engine::scan_versions`](crate::Engine::scan_versions)).
pub(crate) async fn scan_versions(
    db: &Db,
    after: Option<VersionAt>,
    backend: Option<String>,
    limit: usize,
) -> Result<ScanPage> {
    let (bucket, key, version) = match &after {
        Some(at) => (at.bucket.clone(), at.key.as_bytes().to_vec(), big(at.version)),
        // Before every row: bucket names are never empty, versions never negative.
        None => (String::new(), Vec::new(), -1),
    };
    let budget = i64::try_from(scan_budget(limit)).unwrap_or(i64::MAX);
    let rows = attempt!(db, |conn| async {
        let st = conn.st(SCAN).await?;
        let params: [&(dyn ToSql + Sync); 4] = [&bucket, &key, &version, &budget];
        Ok::<_, PgErr>(conn.client().query(&st, &params).await?)
    })?;
    let mut scan = Scanning::new(backend.as_deref(), limit);
    for row in &rows {
        let read = || -> std::result::Result<(String, String, ObjectMeta, bool), PgErr> {
            let key: Vec<u8> = row.try_get(1)?;
            let current: bool = row.try_get(4)?;
            let table = if current { OBJECTS } else { VERSIONS };
            let key = String::from_utf8(key).map_err(|e| StoreError::Corrupt {
                record: table,
                detail: e.to_string(),
            })?;
            Ok((
                row.try_get(0)?,
                key,
                decode(table, row.try_get::<_, &[u8]>(3)?)?,
                current,
            ))
        };
        let (bucket, key, meta, current) = read().map_err(PgErr::into_store)?;
        if scan.visit(&bucket, &key, meta, current) {
            return Ok(scan.stopped());
        }
    }
    Ok(scan.ended())
}
