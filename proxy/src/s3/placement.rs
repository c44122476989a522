//! Placement: which backend a new object goes to. `pack` fills backends in their listed order;
//! `spread` picks the one with the smallest used fraction of its quota. Either way the bytes are
//! reserved against the quota before the body moves, and the reservation is released if the
//! upload fails (dropping it).

use std::rc::Rc;

use s3o_store::{Reservation, StoreError};

use crate::backend::Backend;
use crate::config::Placement;
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::state::Core;

/// Picks a backend of `bucket` with room for `len` bytes and reserves them there.
pub async fn choose(
    core: &Core,
    snap: &Snapshot,
    bucket: &str,
    len: u64,
) -> Result<(Rc<Backend>, Reservation), ProxyError> {
    let shared = &core.shared;
    let p = snap.placement(bucket);
    let mut order: Vec<(&String, f64)> = Vec::with_capacity(p.backends.len());
    for name in &p.backends {
        let fraction = match p.placement {
            Placement::Pack => 0.0,
            Placement::Spread => {
                let used = shared.store.usage(name).await? + shared.store.reserved(name).await?;
                match snap.quota(name) {
                    Some(q) if q > 0 => used as f64 / q as f64,
                    Some(_) => f64::INFINITY,
                    // Unlimited backends rank by bytes against a nominal 1 TiB.
                    None => used as f64 / (1u64 << 40) as f64,
                }
            }
        };
        order.push((name, fraction));
    }
    // Stable sort keeps the listed order among equals (and for pack).
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (name, _) in order {
        let quota = snap.quota(name);
        match shared.store.reserve(name, len, quota).await {
            Ok(r) => return Ok((core.backend(name)?, r)),
            Err(StoreError::QuotaExceeded { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProxyError::InsufficientStorage)
}
