//! Moving copies between backends, for the replicator, drain, rebalance and the re-creation of
//! lost copies: [`add_copies`] streams one existing copy of a version into new backends chosen
//! by placement (quota reserved, usage limits and the bucket's policy honoured), verifying the
//! bytes against the version's ETag as they pass; [`swap`] then makes the version's locations
//! the new set in one compare-and-swap, the dropped copies going to the cleanup queue. A copy
//! that never became a location is queued for deletion like any orphan.
//!
//! Every new copy gets a fresh physical key (from the store's version sequence): a copy moved
//! away and back within the cleanup grace period can never be deleted by the cleanup of its
//! earlier self. Its labels still name the version it holds, and once it is a location it gets
//! the version's record ([`crate::records`]) like every copy.

use bytes::Bytes;
use md5::{Digest, Md5};
use s3o_store::{physical_key_for, Location, Removal, Reservation, StoreError, StoredVersion};

use crate::backend::tee::{join_all, Tee};
use crate::backend::{BodySource, PhysicalMeta, StreamSource};
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::s3::placement::{choose_for, Want};
use crate::state::Core;

/// New copies of a version, stored but not yet locations of it.
pub struct NewCopies {
    /// Where they are.
    pub locations: Vec<Location>,
    /// Their bytes reserved on each backend.
    pub reservations: Vec<Reservation>,
}

impl NewCopies {
    /// Queues the copies for deletion (they never became locations).
    pub async fn abandon(self, core: &Core) {
        drop(self.reservations);
        for l in self.locations {
            crate::orphans::queue(&core.shared, &l.backend, &l.physical_key).await;
        }
    }
}

/// A body source that hashes what passes through it.
struct Hashing<S> {
    inner: S,
    md5: Md5,
}

impl<S: BodySource> BodySource for Hashing<S> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        let piece = self.inner.next_piece().await?;
        if let Some(p) = &piece {
            self.md5.update(p);
        }
        Ok(piece)
    }
}

/// Copies version `v` onto the backends placement picks for `want`, reading one of its copies
/// (not those on `skip` backends). Fails when fewer than `want.at_least` copies were stored, or
/// when the bytes read do not match the version's ETag (a single-part object's ETag is its MD5).
pub async fn add_copies(
    core: &Core,
    snap: &Snapshot,
    v: &StoredVersion,
    want: &Want<'_>,
    skip: &[&str],
) -> Result<NewCopies, ProxyError> {
    let targets = choose_for(core, snap, &v.bucket, v.meta.stored_size(), want).await?;
    if targets.is_empty() {
        return Ok(NewCopies {
            locations: Vec::new(),
            reservations: Vec::new(),
        });
    }
    let fresh = core.shared.store.next_version().await?;
    let physical = physical_key_for(&v.bucket, &v.key, fresh);
    let pmeta = PhysicalMeta {
        bucket: v.bucket.clone(),
        key: v.key.clone(),
        version: v.meta.version,
        content_type: v.meta.content_type.clone(),
        integrity: Vec::new(),
        sealed: v.meta.sealed.is_some(),
    };
    // Always checked against the content hash: a bad copy is never copied on.
    let stream =
        crate::s3::read::open_stored_except(core, snap, (&v.bucket, &v.key), &v.meta, None, skip, true).await?;
    let mut src = Hashing {
        inner: StreamSource(crate::seal::reader::ObjectReader::Plain(stream)),
        md5: Md5::new(),
    };
    let size = v.meta.stored_size();
    let outcomes = if targets.len() == 1 {
        vec![targets[0].backend.put(&physical, size, &pmeta, &mut src).await]
    } else {
        let tee = Tee::new(&mut src, targets.len());
        let uploads = targets.iter().enumerate().map(|(i, t)| {
            let (tee, physical, pmeta) = (&tee, &physical, &pmeta);
            async move { t.backend.put(physical, size, pmeta, &mut tee.source(i)).await }
        });
        join_all(uploads.collect()).await
    };
    let digest = format!("\"{}\"", s3o_sigv4::encode::hex(&src.md5.finalize()));
    // Sealed bytes are not what the ETag digests: their content hash checked them as they were read.
    let multipart = v.meta.etag.contains('-') || v.meta.sealed.is_some();
    let mut copies = NewCopies {
        locations: Vec::new(),
        reservations: Vec::new(),
    };
    let mut error = None;
    for (t, outcome) in targets.into_iter().zip(outcomes) {
        drop(t.permit);
        let location = Location {
            backend: t.backend.name().to_string(),
            physical_key: physical.clone(),
        };
        match outcome {
            Ok(_) => {
                copies.locations.push(location);
                copies.reservations.push(t.reservation);
            }
            Err(e) => {
                tracing::warn!(backend = %location.backend, bucket = %v.bucket, key = %v.key, error = %e, "copy failed");
                crate::orphans::queue(&core.shared, &location.backend, &location.physical_key).await;
                error.get_or_insert(e);
            }
        }
    }
    if !copies.locations.is_empty() && !multipart && digest != v.meta.etag {
        copies.abandon(core).await;
        return Err(ProxyError::Internal(format!(
            "{}/{} version {}: a copy read {digest}, its ETag is {}",
            v.bucket, v.key, v.meta.version, v.meta.etag
        )));
    }
    if copies.locations.len() < want.at_least.max(1) {
        copies.abandon(core).await;
        return Err(error.unwrap_or(ProxyError::InsufficientStorage));
    }
    Ok(copies)
}

/// Makes `keep` plus the new copies the locations of version `v`, if its locations are still
/// the ones it was read with; the copies it drops go to the cleanup queue. When the version
/// changed or went meanwhile, the new copies are queued for deletion and `Ok(false)` returned.
pub async fn swap(core: &Core, v: &StoredVersion, keep: &[Location], new: NewCopies) -> Result<bool, ProxyError> {
    let mut locations: Vec<Location> = keep.to_vec();
    locations.extend(new.locations.iter().cloned());
    let store = &core.shared.store;
    let expected = &v.meta.locations;
    let NewCopies {
        locations: added,
        reservations,
    } = new;
    match store
        .relocate(
            &v.bucket,
            &v.key,
            v.meta.version,
            expected,
            &locations,
            reservations,
            Removal::Cleanup,
        )
        .await
    {
        Ok(changed) => {
            core.shared.cache.forget(&v.bucket, &v.key);
            // Each new copy gets the version's record beside it, as every copy has.
            for l in &added {
                crate::records::write_to(core, &l.backend, &v.bucket, &v.key, &changed).await;
            }
            Ok(true)
        }
        Err(e) => {
            for l in &added {
                crate::orphans::queue(&core.shared, &l.backend, &l.physical_key).await;
            }
            match e {
                StoreError::PreconditionFailed { .. }
                | StoreError::NoSuchVersion { .. }
                | StoreError::NoSuchKey { .. } => Ok(false),
                e => Err(e.into()),
            }
        }
    }
}
