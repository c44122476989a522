//! Placement: which backends hold the copies of an object. The eligible backends of a bucket
//! (not draining, within their monthly usage limits for the bytes to write) are ranked, `pack` in
//! their listed order, `spread` by the smallest used fraction of their quota, those whose breaker
//! is open last;
//! the bucket's policy then picks the copies ([`policy::pick`]); and the bytes are reserved
//! against each quota before the body moves. A backend whose reservation is refused is left out
//! and the copies picked again. Reservations and usage permits are released when the upload
//! fails (dropping them).
//!
//! New objects, the replicator, drain and rebalance all place through [`choose`], so they all
//! honour the same quotas, limits and policy.

use std::rc::Rc;

use s3o_store::{Reservation, StoreError};

use crate::backend::Backend;
use crate::config::{Placement, ReplicationMode};
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::orchestrator::limits::{Cost, Permit};
use crate::orchestrator::policy::{self, Labels};
use crate::state::Core;

/// One copy's backend, with its bytes reserved and its write admitted under its usage limits.
pub struct Target {
    /// The backend.
    pub backend: Rc<Backend>,
    /// The bytes reserved against its quota.
    pub reservation: Reservation,
    /// The write admitted under its monthly limits (drop once the write was sent).
    pub permit: Permit,
}

/// What to place: how many copies, how many must succeed, which backends hold copies already
/// and which may not get one.
pub struct Want<'a> {
    /// Copies the object should have in all (kept ones included).
    pub copies: usize,
    /// Fewest copies to add for the placement to succeed.
    pub at_least: usize,
    /// Backends holding copies already, kept as they are.
    pub keep: &'a [String],
    /// Backends that may not get a copy (beside the ineligible ones).
    pub exclude: &'a [String],
    /// How to rank the candidates (absent: the bucket's own placement).
    pub rank: Option<Placement>,
}

/// QuotaExceeded when `len` more bytes would take `bucket`'s current objects past its hard
/// quota. Read through the core's bucket cache (a change shows within a second), so a quota is
/// exact to that second's writes.
pub async fn within_quota(core: &Core, bucket: &str, len: u64) -> Result<(), ProxyError> {
    let Some(meta) = crate::s3::view::view(core, bucket, false).await? else {
        return Ok(());
    };
    match meta.settings.quota.as_ref().map(|q| q.hard_bytes).filter(|h| *h > 0) {
        Some(hard) if meta.logical_bytes.saturating_add(len) > hard => Err(ProxyError::QuotaExceeded),
        _ => Ok(()),
    }
}

/// The copies of a new object of `len` bytes in `bucket`: as many as its policy wants when
/// replication is synchronous (at least its write quorum), one when it is asynchronous.
/// Resolves to the targets and the factor.
pub async fn choose(core: &Core, snap: &Snapshot, bucket: &str, len: u64) -> Result<(Vec<Target>, usize), ProxyError> {
    within_quota(core, bucket, len).await?;
    let p = snap.placement(bucket);
    let factor = p.policy.factor;
    let at_least = match p.mode {
        ReplicationMode::Sync => p.quorum,
        ReplicationMode::Async => 1,
    };
    let want = Want {
        copies: factor,
        at_least,
        keep: &[],
        exclude: &[],
        rank: None,
    };
    let mut targets = choose_for(core, snap, bucket, len, &want).await?;
    if p.mode == ReplicationMode::Async {
        targets.truncate(1);
    }
    Ok((targets, factor))
}

/// The first copy of a new object of `len` bytes in `bucket` (a feasible first member of the
/// set its policy wants), for writes whose other copies the replicator makes: multipart
/// uploads, copies and uploads through the admin port. Resolves to the target and the factor.
pub async fn choose_one(core: &Core, snap: &Snapshot, bucket: &str, len: u64) -> Result<(Target, usize), ProxyError> {
    within_quota(core, bucket, len).await?;
    let factor = snap.placement(bucket).policy.factor;
    let want = Want {
        copies: factor,
        at_least: 1,
        keep: &[],
        exclude: &[],
        rank: None,
    };
    let first = choose_for(core, snap, bucket, len, &want).await?.into_iter().next();
    first.map(|t| (t, factor)).ok_or(ProxyError::InsufficientStorage)
}

/// Places copies of `len` bytes for `bucket` as `want` says (the replicator, drain and
/// rebalance add copies to existing objects through it). InsufficientStorage when fewer than
/// `want.at_least` can be placed.
pub async fn choose_for(
    core: &Core,
    snap: &Snapshot,
    bucket: &str,
    len: u64,
    want: &Want<'_>,
) -> Result<Vec<Target>, ProxyError> {
    let shared = &core.shared;
    let p = snap.placement(bucket);
    let now = crate::clock::unix_ms();
    let mut ranked: Vec<(&String, f64)> = Vec::with_capacity(p.backends.len());
    let mut sick: Vec<&String> = Vec::new();
    for name in &p.backends {
        if want.keep.contains(name) || want.exclude.contains(name) || shared.draining.read().contains(name) {
            continue;
        }
        if !shared.breakers.get(name).allows(now) {
            sick.push(name);
            continue;
        }
        let fraction = match want.rank.unwrap_or(p.placement) {
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
        ranked.push((name, fraction));
    }
    // Stable sort keeps the listed order among equals (and for pack).
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let keep: Vec<&Labels> = want.keep.iter().map(|n| snap.labels(n)).collect();
    let mut left: Vec<&String> = ranked.into_iter().map(|(n, _)| n).collect();
    // Each round drops at least one backend from `left` (or adds the sick ones once), so this ends.
    loop {
        let candidates: Vec<(&str, &Labels)> = left.iter().map(|n| (n.as_str(), snap.labels(n))).collect();
        let picked = policy::pick(&p.policy, &keep, &candidates, want.copies, want.at_least);
        let Some(names) = picked else {
            // Backends whose breaker is open are tried only when the healthy ones cannot take
            // the least number of copies: a transient run of errors on a bucket's only backend
            // must not refuse writes it would take, but a write must not wait on a dead backend
            // while others can hold it.
            if !sick.is_empty() {
                left.append(&mut sick);
                continue;
            }
            return Err(ProxyError::InsufficientStorage);
        };
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut targets = Vec::with_capacity(names.len());
        let mut refused = None;
        for name in &names {
            let limits = snap.backend(name).map(|b| b.limits).unwrap_or_default();
            let Some(permit) = shared.gate.admit(name, &limits, Cost::write(len), &shared.metrics) else {
                refused = Some(name.to_string());
                break;
            };
            match shared.store.reserve(name, len, snap.quota(name)).await {
                Ok(reservation) => targets.push(Target {
                    backend: core.backend(name)?,
                    reservation,
                    permit,
                }),
                Err(StoreError::QuotaExceeded { .. }) => {
                    refused = Some(name.to_string());
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        match refused {
            None => return Ok(targets),
            Some(name) => left.retain(|n| **n != name),
        }
    }
}
