//! Opening an object's bytes for reading, with failover across its copies: GetObject, the copy
//! source of CopyObject and UploadPartCopy, the admin port's download, and the workers that copy
//! objects between backends all read through [`open_copy`].
//!
//! Copies are tried in order of health: backends whose breaker is closed or half-open first (in
//! the order the copies were written), those with an open breaker last, so an object whose
//! backends all look down is still tried rather than refused. A copy whose backend is past its
//! monthly API request or egress limit is skipped; when only such copies are left the read is
//! refused with 503 SlowDown. A backend that fails before sending any byte (connection refused,
//! 5xx, the copy missing) passes the read to the next copy; once a stream is open, the caller
//! sends its bytes and an error after that cuts the response: a body is never spliced from two
//! copies.

use s3o_store::ObjectMeta;
use tracing::warn;

use crate::backend::stream::GetStream;
use crate::backend::ByteRange;
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::orchestrator::limits::Cost;
use crate::seal::reader::{ObjectReader, OpenReader, Opening};
use crate::state::Core;

/// Opens `range` (all when `None`) of the plaintext of version `meta` of `bucket`/`key` from the
/// first copy that answers: its stored bytes, opened when sealed (only the chunks the range
/// needs are fetched).
pub async fn open_copy(
    core: &Core,
    snap: &Snapshot,
    (bucket, key): (&str, &str),
    meta: &ObjectMeta,
    range: Option<ByteRange>,
) -> Result<ObjectReader, ProxyError> {
    let verify = core.shared.cfg.integrity.verify_reads;
    open_copy_checked(core, snap, (bucket, key), meta, range, verify).await
}

/// [`open_copy`], a whole read checked against the content hash when `verify` (whatever
/// `[integrity] verify_reads` says).
pub async fn open_copy_checked(
    core: &Core,
    snap: &Snapshot,
    (bucket, key): (&str, &str),
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    verify: bool,
) -> Result<ObjectReader, ProxyError> {
    let Some(sealed) = &meta.sealed else {
        let stream = open_stored_except(core, snap, (bucket, key), meta, range, &[], verify).await?;
        return Ok(ObjectReader::Plain(stream));
    };
    let keys = core.shared.keyring()?;
    let layout = crate::seal::layout_of(meta, sealed)?;
    let plain = range.map(|r| (r.start, r.end));
    let stored = OpenReader::stored_range(&layout, plain).map(|(start, end)| ByteRange { start, end });
    let key_of = keys.unwrap(&sealed.key_id, &sealed.dek)?;
    let stream = open_stored_except(core, snap, (bucket, key), meta, stored, &[], verify).await?;
    let opening = Opening {
        id: crate::seal::Identity {
            bucket,
            key,
            version: meta.version,
        },
        key: key_of,
        segments: &sealed.segments,
        layout,
        report: Some(core.shared.clone()),
    };
    Ok(ObjectReader::Sealed(Box::new(OpenReader::new(stream, opening, plain)?)))
}

/// Opens `range` (all when `None`) of the stored bytes of version `meta` of `bucket`/`key` (as
/// the backends hold them: sealed when encrypted) from any copy but those on the backends in
/// `skip` or damaged. With `verify`, a read of all of them is checked against the version's
/// content hash.
pub async fn open_stored_except(
    core: &Core,
    snap: &Snapshot,
    (bucket, key): (&str, &str),
    meta: &ObjectMeta,
    range: Option<ByteRange>,
    skip: &[&str],
    verify: bool,
) -> Result<GetStream, ProxyError> {
    let shared = &core.shared;
    let now = crate::clock::unix_ms();
    let len = range.map_or(meta.stored_size(), |r| r.len());
    let mut order: Vec<_> = meta
        .locations
        .iter()
        .filter(|l| !skip.contains(&l.backend.as_str()) && !meta.damaged.contains(&l.backend))
        .collect();
    if order.is_empty() && !meta.damaged.is_empty() {
        return Err(ProxyError::Internal(format!(
            "every copy of {bucket}/{key} failed its content hash and none could be repaired"
        )));
    }
    // Stable: healthy copies first, each group in written order.
    order.sort_by_key(|l| !shared.breakers.get(&l.backend).allows(now));
    let mut last_err = None;
    let mut limited = false;
    for loc in order {
        let limits = snap.backend(&loc.backend).map(|b| b.limits).unwrap_or_default();
        let Some(permit) = shared
            .gate
            .admit(&loc.backend, &limits, Cost::read(len), &shared.metrics)
        else {
            limited = true;
            continue;
        };
        let backend = core.backend(&loc.backend)?;
        let opened = backend.get(&loc.physical_key, range, meta.stored_size()).await;
        drop(permit);
        match opened {
            Ok(s) => {
                let check = (range.is_none() && verify)
                    .then(|| crate::backend::hashed::HashCheck::of(meta, bucket, key, &loc.backend, shared.clone()))
                    .flatten();
                return Ok(match check {
                    Some(c) => s.hashed(c),
                    None => s,
                });
            }
            Err(e) if e.may_failover() => {
                warn!(backend = %loc.backend, error = %e, "read failed; trying another copy");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    match last_err {
        // Every copy past its limits: come back later (next month, or once limits are raised).
        None if limited => Err(ProxyError::SlowDown),
        Some(e) => Err(e),
        None => Err(ProxyError::Internal("object has no locations".into())),
    }
}
