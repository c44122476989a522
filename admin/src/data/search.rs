//! `GET /api/search?q=&limit=`: bucket names containing `q` (case-insensitive) and keys starting
//! with `q` (from each bucket's root, case-sensitive, at most 10 per bucket) across the
//! backends, each list cut at `limit` (default 50, at most 200) with `truncated` saying so.
//! The walk is bounded: keys are listed in at most [`MAX_BUCKETS`] buckets and for at most 5
//! seconds (beyond, `truncated` is set; bucket names are still matched), one page of 10 keys each.

use std::time::{Duration, Instant};

use serde::Serialize;

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

/// A bucket found by name.
#[derive(Serialize)]
struct BucketHit {
    backend_id: String,
    bucket: String,
}

/// A key found by prefix.
#[derive(Serialize)]
struct ObjectHit {
    backend_id: String,
    bucket: String,
    key: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

/// The answer, in the seed's field order.
#[derive(Serialize)]
struct Found {
    query: String,
    buckets: Vec<BucketHit>,
    objects: Vec<ObjectHit>,
    truncated: bool,
}

/// How long a search may list keys.
const DEADLINE: Duration = Duration::from_secs(5);

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
        let started = Instant::now();
        let mut looked = 0;
        for backend in data.backends().await {
            let Ok(list) = data.buckets(&backend.id).await else {
                continue;
            };
            for bucket in list {
                if bucket.name.to_lowercase().contains(&needle) {
                    buckets.push(BucketHit {
                        backend_id: backend.id.clone(),
                        bucket: bucket.name.clone(),
                    });
                }
                // Keys are listed within bounds of work and time; names are always matched.
                if looked == MAX_BUCKETS || started.elapsed() > DEADLINE {
                    truncated = true;
                    continue;
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
                    objects.push(ObjectHit {
                        backend_id: b.bid.clone(),
                        bucket: b.bucket.clone(),
                        key: o.key,
                        size: o.size,
                        last_modified: o.last_modified,
                    });
                }
            }
        }
    }
    truncated |= buckets.len() > limit || objects.len() > limit;
    buckets.truncate(limit);
    objects.truncate(limit);
    Response::json(
        200,
        &Found {
            query: q,
            buckets,
            objects,
            truncated,
        },
    )
}
