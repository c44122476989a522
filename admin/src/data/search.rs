//! `GET /api/search?q=&limit=`: bucket names containing `q` (case-insensitive) and keys starting
//! with `q` (from each bucket's root, case-sensitive, at most 10 per bucket) across the
//! backends, each list cut at `limit` (default 50, at most 200) with `truncated` saying so.
//! The walk is bounded in work rather than time: at most [`MAX_BUCKETS`] buckets are looked
//! into (more sets `truncated`), one listing page of 10 keys each.

use serde_json::json;

use super::handlers::query;
use super::{Bkt, DataApi, ListArgs};
use crate::http::{Request, Response};

/// Default number of results of each kind.
const DEFAULT_LIMIT: usize = 50;
/// Most results of each kind.
const MAX_LIMIT: usize = 200;
/// Keys shown per bucket.
const PER_BUCKET: usize = 10;
/// Most buckets whose keys one search lists.
pub const MAX_BUCKETS: usize = 500;

/// Answers a search.
pub(super) async fn search(req: &Request, data: &dyn DataApi) -> Response {
    let q = match query(req, "q") {
        Ok(q) => q.unwrap_or_default().trim().to_owned(),
        Err(r) => return r,
    };
    let limit = query(req, "limit")
        .ok()
        .flatten()
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .map_or(DEFAULT_LIMIT, |l| l.min(MAX_LIMIT));
    let (mut buckets, mut objects, mut truncated) = (Vec::new(), Vec::new(), false);
    if q.len() >= 2 {
        let needle = q.to_lowercase();
        let mut looked = 0;
        'backends: for backend in data.backends().await {
            let Ok(list) = data.buckets(&backend.id).await else {
                continue;
            };
            for bucket in list {
                if bucket.name.to_lowercase().contains(&needle) {
                    buckets.push(json!({ "backend_id": backend.id, "bucket": bucket.name }));
                }
                if looked == MAX_BUCKETS {
                    truncated = true;
                    break 'backends;
                }
                looked += 1;
                let b = Bkt {
                    bid: backend.id.clone(),
                    bucket: bucket.name.clone(),
                };
                let args = ListArgs {
                    prefix: q.clone(),
                    delimiter: String::new(),
                    token: None,
                    max_keys: Some(PER_BUCKET),
                };
                let Ok(page) = data.list(&b, &args).await else {
                    continue;
                };
                for o in page.objects {
                    objects.push(json!({
                        "backend_id": b.bid,
                        "bucket": b.bucket,
                        "key": o.key,
                        "size": o.size,
                        "last_modified": o.last_modified,
                    }));
                }
            }
        }
    }
    truncated |= buckets.len() > limit || objects.len() > limit;
    buckets.truncate(limit);
    objects.truncate(limit);
    Response::json(
        200,
        &json!({ "query": q, "buckets": buckets, "objects": objects, "truncated": truncated }),
    )
}
