//! The sharded counters of the PostgreSQL engine (`s3o_counters`): per bucket its objects,
//! logical bytes and noncurrent versions, per backend its objects, bytes, uploads in progress and committed bytes (what
//! quotas count), and the cleanup queue's depth. A transaction adds its changes to its
//! connection's shard in one statement, rows in a fixed order (so two transactions never wait on
//! each other's rows in opposite orders); a total is the sum over the shards, never below zero.

use std::collections::BTreeMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use super::error::PgErr;
use super::pool::Conn;
use crate::model::{Location, ObjectMeta};

/// Counter scope of a bucket's totals (`objects`, `bytes`).
pub(crate) const BUCKET: &str = "bucket";
/// Counter scope of a backend's totals (`objects`, `bytes`, `uploads`, `committed`).
pub(crate) const BACKEND: &str = "backend";
/// Counter scope of the cleanup queue (`objects`: its depth), under the name `""`.
pub(crate) const CLEANUP: &str = "cleanup";

/// Adds one transaction's changes to its shard.
const APPLY: &str = "INSERT INTO s3o_counters AS c (scope, name, shard, objects, bytes, uploads, committed)
     SELECT d.scope, d.name, $1, d.o::numeric, d.b::numeric, d.u::numeric, d.c::numeric
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
            AS d(scope, name, o, b, u, c)
     ON CONFLICT (scope, name, shard) DO UPDATE SET
         objects = c.objects + excluded.objects,
         bytes = c.bytes + excluded.bytes,
         uploads = c.uploads + excluded.uploads,
         committed = c.committed + excluded.committed";

/// Changes to counters: `[objects, bytes, uploads, committed]` by (scope, name).
#[derive(Debug, Default)]
pub(crate) struct Deltas(BTreeMap<(&'static str, String), [i128; 4]>);

impl Deltas {
    /// The counters of `scope`/`name`, to add to.
    fn at(&mut self, scope: &'static str, name: &str) -> &mut [i128; 4] {
        self.0.entry((scope, name.to_owned())).or_default()
    }

    /// Counts `meta` as a current version (`sign` 1) or stops counting it (-1): in its bucket,
    /// and on each of its backends once however many locations it has there.
    pub(crate) fn version(&mut self, bucket: &str, meta: &ObjectMeta, sign: i128) {
        self.current(bucket, meta, sign);
        self.stored(meta, sign);
    }

    /// Counts `meta` as its bucket's current version of a key (`sign` 1) or stops (-1).
    pub(crate) fn current(&mut self, bucket: &str, meta: &ObjectMeta, sign: i128) {
        let b = self.at(BUCKET, bucket);
        b[0] += sign;
        b[1] += sign * i128::from(meta.size);
    }

    /// Adds `n` (may be negative) to the bucket's noncurrent versions and delete markers (kept
    /// in the bucket's `uploads` column, which buckets do not otherwise use).
    pub(crate) fn noncurrent(&mut self, bucket: &str, n: i128) {
        self.at(BUCKET, bucket)[2] += n;
    }

    /// Counts the bytes of version `meta` on each of its backends, once however many locations
    /// it has there (`sign` 1), or stops counting them (-1).
    pub(crate) fn stored(&mut self, meta: &ObjectMeta, sign: i128) {
        let size = i128::from(meta.stored_size());
        let mut seen: Vec<&str> = Vec::with_capacity(meta.locations.len());
        for Location { backend, .. } in &meta.locations {
            if seen.contains(&backend.as_str()) {
                continue;
            }
            seen.push(backend);
            let d = self.at(BACKEND, backend);
            d[0] += sign;
            d[1] += sign * size;
        }
    }

    /// Counts an upload in progress on `backend` (`sign` 1) or stops counting it (-1).
    pub(crate) fn upload(&mut self, backend: &str, sign: i128) {
        self.at(BACKEND, backend)[2] += sign;
    }

    /// Adds `bytes` (may be negative) to `backend`'s committed bytes.
    pub(crate) fn committed(&mut self, backend: &str, bytes: i128) {
        self.at(BACKEND, backend)[3] += bytes;
    }

    /// Adds `n` (may be negative) to the cleanup queue's depth.
    pub(crate) fn queued(&mut self, n: i128) {
        self.at(CLEANUP, "")[0] += n;
    }

    /// Whether there is nothing to apply.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.values().all(|d| d.iter().all(|v| *v == 0))
    }

    /// The statement that applies the changes to `conn`'s shard (inside the caller's
    /// transaction), or `None` when there is nothing to apply; run it with
    /// [`Applied::params`] in a [`Batch`](super::batch::Batch).
    pub(crate) async fn prepare(&self, conn: &mut Conn<'_>) -> std::result::Result<Option<Applied>, PgErr> {
        if self.is_empty() {
            return Ok(None);
        }
        let st = conn.st(APPLY).await?;
        let shard = conn.shard();
        let mut cols: [Vec<String>; 6] = Default::default();
        for ((scope, name), d) in &self.0 {
            if d.iter().all(|v| *v == 0) {
                continue;
            }
            cols[0].push((*scope).to_owned());
            cols[1].push(name.clone());
            for (col, v) in cols[2..].iter_mut().zip(d) {
                col.push(v.to_string());
            }
        }
        Ok(Some(Applied { st, shard, cols }))
    }
}

/// The prepared application of some [`Deltas`].
pub(crate) struct Applied {
    /// The statement.
    pub(crate) st: Statement,
    shard: i16,
    cols: [Vec<String>; 6],
}

impl Applied {
    /// The statement's parameters.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        let c = &self.cols;
        [&self.shard, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]
    }
}
