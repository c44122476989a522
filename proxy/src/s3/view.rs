//! The bucket records each core keeps: read through a per-core cache (one second at most,
//! dropped at once when this instance changes a bucket's owner or settings), so that judging
//! a request's access costs no store read.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use s3o_store::BucketMeta;

use crate::error::ProxyError;
use crate::state::Core;

/// How long a core trusts a bucket record it read (another instance's change shows within it).
const VIEW_TTL: Duration = Duration::from_secs(1);
/// Most bucket records one core keeps.
const VIEW_CACHE_MAX: usize = 4096;

/// One bucket record (or its absence) a core keeps: the instance's change count and the time
/// when read.
type CachedView = (u64, Instant, Option<Rc<BucketMeta>>);

/// Bucket records each core keeps, by bucket name.
#[derive(Debug, Default)]
pub struct ViewCache(RefCell<HashMap<String, CachedView>>);

/// The record of `bucket` (from this core's cache when fresh), `None` when it does not exist.
/// A cached absence is believed only when `trust_absent` (unsigned requests, so that a flood of
/// them for made-up buckets costs no store reads); signed ones read the store again, so a
/// bucket just created through another instance is found at once.
pub async fn view(core: &Core, bucket: &str, trust_absent: bool) -> Result<Option<Rc<BucketMeta>>, ProxyError> {
    let generation = core.shared.bucket_changes.load(Ordering::Acquire);
    let now = Instant::now();
    if let Some((g, at, meta)) = core.views.0.borrow().get(bucket) {
        if *g == generation && now.duration_since(*at) < VIEW_TTL && (meta.is_some() || trust_absent) {
            return Ok(meta.clone());
        }
    }
    let meta = core.shared.store.bucket(bucket).await?.map(Rc::new);
    let mut cache = core.views.0.borrow_mut();
    if cache.len() >= VIEW_CACHE_MAX {
        cache.clear();
    }
    cache.insert(bucket.to_owned(), (generation, now, meta.clone()));
    Ok(meta)
}

/// Tells every core of this instance that a bucket's owner or access settings changed.
pub fn bucket_changed(core: &Core) {
    core.shared.bucket_changes.fetch_add(1, Ordering::AcqRel);
}
