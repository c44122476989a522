//! ListObjectVersions from the PostgreSQL engine, with the sled engine's semantics (keys in byte
//! order, each key's versions newest first with the current one first, common prefixes rolled up
//! and counted with the versions): one query merges `s3o_objects` and `s3o_object_versions` in that
//! order within the prefix's bounds, fetching what the page still wants; after a common prefix
//! it goes on from the prefix's successor. A version marker is a bound in the query (the marked
//! key's versions older than the marked one), so a key with many versions is never re-read.

use tokio_postgres::types::ToSql;

use super::error::PgErr;
use super::pool::Conn;
use super::versions::{version_of, VERSIONS};
use super::{attempt, big, Db};
use crate::error::{Result, StoreError};
use crate::rules::{rollup_end, successor};
use crate::versions::{VersionEntry, VersionPage, VersionQuery, VersionRef};

const BUCKET_EXISTS: &str = "SELECT 1 FROM s3o_buckets WHERE name = $1";
/// Versions from key `$2` (inclusive) to `$3` (exclusive), skipping the versions of key `$4`
/// not older than version `$5`; `current` first within a key, then newest first.
const PAGE: &str = "SELECT key, meta, latest FROM (
         SELECT key, version, meta, true AS current, true AS latest FROM s3o_objects
          WHERE bucket = $1 AND key >= $2 AND key < $3 AND key <> $4
         UNION ALL
         SELECT v.key, v.version, v.meta, false,
                NOT EXISTS (SELECT 1 FROM s3o_objects o WHERE o.bucket = $1 AND o.key = v.key)
                AND NOT EXISTS (SELECT 1 FROM s3o_object_versions w
                                 WHERE w.bucket = $1 AND w.key = v.key AND w.version > v.version)
           FROM s3o_object_versions v
          WHERE v.bucket = $1 AND v.key >= $2 AND v.key < $3 AND (v.key <> $4 OR v.version < $5)
     ) x ORDER BY key, current DESC, version DESC LIMIT $6";
const NULL_VERSION: &str = "SELECT meta FROM s3o_object_versions WHERE bucket = $1 AND key = $2 AND null_version
     UNION ALL SELECT meta FROM s3o_objects WHERE bucket = $1 AND key = $2";

/// An exclusive upper bound above every UTF-8 key (no UTF-8 byte is 0xFF).
const ABOVE_ALL: &[u8] = &[0xFF];

/// One page of ListObjectVersions.
pub(crate) async fn list_versions(db: &Db, bucket: String, query: VersionQuery) -> Result<VersionPage> {
    attempt!(db, |conn| list_tx(&mut conn, &bucket, &query))
}

/// One attempt at [`list_versions`].
async fn list_tx(
    conn: &mut Conn<'_>,
    bucket: &String,
    query: &VersionQuery,
) -> std::result::Result<VersionPage, PgErr> {
    let exists = conn.st(BUCKET_EXISTS).await?;
    if conn.client().query_opt(&exists, &[bucket]).await?.is_none() {
        return Err(StoreError::NoSuchBucket(bucket.clone()).into());
    }
    let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
    let end = successor(query.prefix.as_bytes()).unwrap_or_else(|| ABOVE_ALL.to_vec());
    let mut page = VersionPage::default();
    let mut from = query.prefix.as_bytes().to_vec();
    // The marked key whose versions up to the marked one are skipped (empty: none), and the
    // version they must be older than.
    let mut skip_key: Vec<u8> = Vec::new();
    let mut older_than = i64::MAX;
    if let Some(marker) = query.key_marker.as_deref().filter(|m| m.as_bytes() >= from.as_slice()) {
        let rolled = delimiter.and_then(|d| rollup_end(marker, &query.prefix, d));
        match (rolled, query.version_marker) {
            (Some(end), _) => match successor(marker.as_bytes().get(..end).unwrap_or_default()) {
                Some(next) => from = next,
                None => return Ok(page),
            },
            (None, Some(v)) => {
                from = marker.as_bytes().to_vec();
                skip_key = from.clone();
                older_than = match v {
                    VersionRef::Id(id) => big(id),
                    // The null version's place among the key's versions is its version number.
                    _ => marker_null_version(conn, bucket, &skip_key).await?.unwrap_or(i64::MAX),
                };
            }
            (None, None) => {
                from = marker.as_bytes().to_vec();
                from.push(0);
            }
        }
    }
    let st = conn.st(PAGE).await?;
    let mut count = 0usize;
    'pages: loop {
        let want = i64::try_from(query.max_keys.saturating_sub(count).saturating_add(1)).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 6] = [bucket, &from, &end, &skip_key, &older_than, &want];
        let rows = conn.client().query(&st, &params).await?;
        let fetched = rows.len();
        for row in &rows {
            let k: &[u8] = row.try_get(0)?;
            let key = String::from_utf8(k.to_vec()).map_err(|e| StoreError::Corrupt {
                record: "s3o_object_versions",
                detail: format!("key is not UTF-8: {e}"),
            })?;
            if let Some(cut) = delimiter.and_then(|d| rollup_end(&key, &query.prefix, d)) {
                let rolled = key.get(..cut).unwrap_or(&key).to_owned();
                if count == query.max_keys {
                    page.is_truncated = true;
                    break 'pages;
                }
                count += 1;
                page.next_key_marker = Some(rolled.clone());
                page.next_version_marker = None;
                let next = successor(rolled.as_bytes());
                page.common_prefixes.push(rolled);
                match next {
                    Some(next) => {
                        from = next;
                        continue 'pages;
                    }
                    None => break 'pages,
                }
            }
            if count == query.max_keys {
                page.is_truncated = true;
                break 'pages;
            }
            count += 1;
            let meta: crate::model::ObjectMeta = super::decode(VERSIONS, row.try_get::<_, &[u8]>(1)?)?;
            page.next_key_marker = Some(key.clone());
            page.next_version_marker = Some(meta.version_id());
            // Resume after this version when the page runs out of rows here.
            skip_key = k.to_vec();
            older_than = big(meta.version);
            from = k.to_vec();
            page.versions.push(VersionEntry {
                key,
                meta,
                is_latest: row.try_get(2)?,
            });
        }
        if i64::try_from(fetched).unwrap_or(i64::MAX) < want {
            break;
        }
    }
    if !page.is_truncated {
        page.next_key_marker = None;
        page.next_version_marker = None;
    }
    Ok(page)
}

/// The version number of the marked key's `null` version (noncurrent, or current), if any.
async fn marker_null_version(
    conn: &mut Conn<'_>,
    bucket: &String,
    key: &Vec<u8>,
) -> std::result::Result<Option<i64>, PgErr> {
    let st = conn.st(NULL_VERSION).await?;
    for row in conn.client().query(&st, &[bucket, key]).await? {
        let meta = version_of(VERSIONS, &row)?;
        if !meta.versioned {
            return Ok(Some(big(meta.version)));
        }
    }
    Ok(None)
}
