//! ListObjects (v1 and v2) from the PostgreSQL engine's `s3o_objects`, with the same semantics as
//! the sled engine's (keys in UTF-8 byte order, common prefixes rolled up under a delimiter and
//! counted with the keys, every entry after `start_after`): index range scans of the primary key
//! bounded by the prefix, fetched in pages of what is still wanted; after a common prefix the
//! scan goes on from the prefix's successor, so a prefix holding millions of keys costs one
//! query, not millions of rows.

use tokio_postgres::types::ToSql;

use super::error::PgErr;
use super::pool::Conn;
use super::{attempt, unbig, Db};
use crate::error::{Result, StoreError};
use crate::model::{ListPage, ListQuery, ObjectMeta};
use crate::rules::{rollup_end, successor};

const BUCKET_EXISTS: &str = "SELECT 1 FROM s3o_buckets WHERE name = $1";
const PAGE_BOUNDED: &str = "SELECT key, size, etag, last_modified_ms, version, owner FROM s3o_objects
     WHERE bucket = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4";
const PAGE_OPEN: &str = "SELECT key, size, etag, last_modified_ms, version, owner FROM s3o_objects
     WHERE bucket = $1 AND key >= $2 ORDER BY key LIMIT $3";

/// The smallest key greater than `key`: `key` followed by a NUL byte.
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

/// The first key a page may hold, or `None` when no key can follow `start_after`.
fn first_key(query: &ListQuery, delimiter: Option<&str>) -> Option<Vec<u8>> {
    let prefix = query.prefix.as_bytes();
    let Some(start_after) = &query.start_after else {
        return Some(prefix.to_vec());
    };
    if start_after.as_bytes() < prefix {
        return Some(prefix.to_vec());
    }
    // start_after inside a common prefix: skip the whole prefix, it sorts before start_after.
    if let Some(end) = delimiter.and_then(|d| rollup_end(start_after, &query.prefix, d)) {
        let rolled = start_after.get(..end).unwrap_or(start_after);
        return successor(rolled.as_bytes());
    }
    Some(after(start_after.as_bytes()))
}

/// One page of the keys of `bucket` matching `query`.
pub(crate) async fn list_objects(db: &Db, bucket: String, query: ListQuery) -> Result<ListPage> {
    attempt!(db, |conn| list_tx(&mut conn, &bucket, &query))
}

/// One attempt at [`list_objects`].
async fn list_tx(conn: &mut Conn<'_>, bucket: &String, query: &ListQuery) -> std::result::Result<ListPage, PgErr> {
    let exists = conn.st(BUCKET_EXISTS).await?;
    if conn.client().query_opt(&exists, &[bucket]).await?.is_none() {
        return Err(StoreError::NoSuchBucket(bucket.clone()).into());
    }
    let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
    let end = successor(query.prefix.as_bytes());
    let page_st = conn.st(if end.is_some() { PAGE_BOUNDED } else { PAGE_OPEN }).await?;
    let mut page = ListPage::default();
    let Some(mut from) = first_key(query, delimiter) else {
        return Ok(page);
    };
    let mut returned = 0usize;
    'pages: loop {
        let want = i64::try_from(query.max_keys.saturating_sub(returned).saturating_add(1)).unwrap_or(i64::MAX);
        let rows = match &end {
            Some(end) => {
                let params: [&(dyn ToSql + Sync); 4] = [bucket, &from, end, &want];
                conn.client().query(&page_st, &params).await?
            }
            None => {
                let params: [&(dyn ToSql + Sync); 3] = [bucket, &from, &want];
                conn.client().query(&page_st, &params).await?
            }
        };
        let fetched = rows.len();
        let mut rolled_up: Option<Vec<u8>> = None;
        for row in rows {
            let k: &[u8] = row.try_get(0)?;
            if rolled_up.as_ref().is_some_and(|p| k.starts_with(p)) {
                continue;
            }
            if returned == query.max_keys {
                page.is_truncated = true;
                break 'pages;
            }
            returned += 1;
            let key = String::from_utf8(k.to_vec()).map_err(|e| StoreError::Corrupt {
                record: "s3o_objects",
                detail: format!("key is not UTF-8: {e}"),
            })?;
            match delimiter.and_then(|d| rollup_end(&key, &query.prefix, d)) {
                Some(end) => {
                    let rolled = key.get(..end).unwrap_or(&key).to_owned();
                    let next = successor(rolled.as_bytes());
                    rolled_up = Some(rolled.as_bytes().to_vec());
                    page.next_marker = Some(rolled.clone());
                    page.common_prefixes.push(rolled);
                    match next {
                        Some(next) => from = next,
                        None => break 'pages,
                    }
                }
                None => {
                    from = after(k);
                    page.objects.push((
                        key.clone(),
                        ObjectMeta {
                            size: unbig(row.try_get(1)?),
                            etag: row.try_get(2)?,
                            last_modified_ms: unbig(row.try_get(3)?),
                            version: unbig(row.try_get(4)?),
                            owner: row.try_get(5)?,
                            ..ObjectMeta::default()
                        },
                    ));
                    page.next_marker = Some(key);
                }
            }
        }
        if i64::try_from(fetched).unwrap_or(i64::MAX) < want {
            break;
        }
    }
    Ok(page)
}
