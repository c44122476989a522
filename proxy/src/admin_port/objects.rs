//! The UI's object operations: the lazy file-browser tree (`{ui}/api/tree`, whose top level is
//! the virtual buckets), and deleting one object or every object under a prefix. Deletions go
//! through the store exactly as S3 DeleteObject does: the version stops being current in one
//! durable commit and its bytes are queued for the cleanup worker.

use s3o_admin::{DeleteOutcome, Error, ObjectKey, ObjectPrefix, TreeEntry, TreePage, TreeQuery};
use s3o_store::ListQuery;

use crate::state::Core;

/// Keys listed per store call while deleting a prefix.
const DELETE_PAGE: usize = 1000;

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// Fails with 400 unless `bucket` exists.
async fn require_bucket(core: &Core, bucket: &str) -> Result<(), Error> {
    match core.shared.store.bucket(bucket).await.map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(Error::BadRequest(format!("unknown bucket {bucket:?}"))),
    }
}

/// One page of the children of `q.prefix` (`""`: the buckets), with directory sizes and counts.
pub async fn tree(core: &Core, q: &TreeQuery) -> Result<TreePage, Error> {
    let store = &core.shared.store;
    let mut entries = Vec::new();
    let has_more;
    if q.prefix.is_empty() {
        let mut names: Vec<String> = store
            .list_buckets()
            .await
            .map_err(internal)?
            .into_iter()
            .map(|b| b.name)
            .filter(|n| format!("{n}/").as_str() > q.start_after.as_str())
            .collect();
        names.sort();
        has_more = names.len() > q.max_keys;
        for name in names.into_iter().take(q.max_keys) {
            let (count, size) = store.prefix_summary(&name, "").await.map_err(internal)?;
            entries.push(TreeEntry {
                name: format!("{name}/"),
                is_dir: true,
                size,
                count,
            });
        }
    } else {
        let (bucket, prefix) = q
            .prefix
            .split_once('/')
            .ok_or_else(|| Error::BadRequest("prefix must be bucket/ or bucket/path/".into()))?;
        require_bucket(core, bucket).await?;
        let start_after = q
            .start_after
            .strip_prefix(bucket)
            .and_then(|s| s.strip_prefix('/'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let page = store
            .list_objects(
                bucket,
                &ListQuery {
                    prefix: prefix.to_owned(),
                    delimiter: Some("/".into()),
                    start_after,
                    max_keys: q.max_keys,
                },
            )
            .await
            .map_err(internal)?;
        has_more = page.is_truncated;
        for dir in &page.common_prefixes {
            let (count, size) = store.prefix_summary(bucket, dir).await.map_err(internal)?;
            entries.push(TreeEntry {
                name: format!("{bucket}/{dir}"),
                is_dir: true,
                size,
                count,
            });
        }
        for (key, meta) in &page.objects {
            entries.push(TreeEntry {
                name: format!("{bucket}/{key}"),
                is_dir: false,
                size: meta.size,
                count: 0,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let next_cursor = match (has_more, entries.last()) {
        (true, Some(e)) => e.name.clone(),
        _ => String::new(),
    };
    Ok(TreePage {
        entries,
        has_more,
        next_cursor,
    })
}

/// Deletes the current version of `key`.
pub async fn delete_object(core: &Core, key: &ObjectKey) -> Result<(), Error> {
    require_bucket(core, &key.bucket).await?;
    core.shared.cache.forget(&key.bucket, &key.key);
    let deleted = core
        .shared
        .store
        .delete_object(&key.bucket, &key.key)
        .await
        .map_err(|e| Error::Internal(format!("failed to delete object: {e}")))?;
    if let Some(marker) = &deleted.marker {
        crate::records::write_version(core, &key.bucket, &key.key, marker).await;
    }
    Ok(())
}

/// Deletes every object under `prefix`, counting successes and failures.
pub async fn delete_prefix(core: &Core, prefix: &ObjectPrefix) -> Result<DeleteOutcome, Error> {
    require_bucket(core, &prefix.bucket).await?;
    let store = &core.shared.store;
    let mut outcome = DeleteOutcome { deleted: 0, failed: 0 };
    let mut start_after = None;
    loop {
        let query = ListQuery {
            prefix: prefix.prefix.clone(),
            delimiter: None,
            start_after: start_after.clone(),
            max_keys: DELETE_PAGE,
        };
        let page = store.list_objects(&prefix.bucket, &query).await.map_err(internal)?;
        for (key, _) in &page.objects {
            core.shared.cache.forget(&prefix.bucket, key);
            match store.delete_object(&prefix.bucket, key).await {
                Ok(deleted) => {
                    outcome.deleted += 1;
                    if let Some(marker) = &deleted.marker {
                        crate::records::write_version(core, &prefix.bucket, key, marker).await;
                    }
                }
                Err(e) => {
                    outcome.failed += 1;
                    tracing::warn!(component = "admin", bucket = %prefix.bucket, key = %key, error = %e, "delete failed");
                }
            }
        }
        if !page.is_truncated {
            break;
        }
        start_after = page.next_marker;
        if start_after.is_none() {
            break;
        }
    }
    Ok(outcome)
}
