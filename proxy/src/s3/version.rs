//! A new version's way to durability, shared by PutObject, PostObject, CompleteMultipartUpload
//! and CopyObject: place it (a backend with room, quota reserved before any byte moves, a fresh
//! physical key), stream a body source to the backend, and make it current in one durable
//! metadata commit; bytes that never became current are queued for deletion.

use s3o_store::{physical_key_for, Location, ObjectMeta, WriteCondition};

use crate::backend::PhysicalMeta;
use crate::error::ProxyError;
use crate::s3::{placement, Ctx};
use crate::state::Core;

/// A new version on its way to a backend: the backend chosen, its bytes reserved there, a fresh
/// physical key. The seam PutObject and PostObject share: [`NewVersion::place`] before any byte
/// moves, [`NewVersion::store`] to stream a body source, [`StoredVersion::commit`] once the
/// source verified the whole body.
pub(crate) struct NewVersion {
    backend: std::rc::Rc<crate::backend::Backend>,
    reservation: s3o_store::Reservation,
    version: u64,
    physical: String,
    pmeta: PhysicalMeta,
}

impl NewVersion {
    /// Picks a backend of `bucket` with room for `len` bytes and reserves them.
    pub(crate) async fn place(
        ctx: &Ctx<'_>,
        bucket: &str,
        key: &str,
        len: u64,
        content_type: Option<String>,
        integrity: Vec<(String, String)>,
    ) -> Result<NewVersion, ProxyError> {
        let (backend, reservation) = placement::choose(ctx.core, &ctx.snap, bucket, len).await?;
        let version = ctx.core.shared.store.next_version().await?;
        let physical = physical_key_for(bucket, key, version);
        let pmeta = PhysicalMeta {
            bucket: bucket.into(),
            key: key.into(),
            version,
            content_type,
            integrity,
        };
        Ok(NewVersion {
            backend,
            reservation,
            version,
            physical,
            pmeta,
        })
    }

    /// Whether the backend's ETag is the body's MD5 (else the source must compute it).
    pub(crate) fn etag_is_md5(&self) -> bool {
        self.backend.etag_is_md5()
    }

    /// Streams `len` bytes of `src` to the backend under the fresh key. On failure the bytes
    /// (which may have reached the backend) are queued for deletion and the reservation is
    /// released; the previous version is untouched.
    pub(crate) async fn store<S: crate::backend::BodySource>(
        self,
        core: &Core,
        len: u64,
        src: &mut S,
    ) -> Result<StoredVersion, ProxyError> {
        match self.backend.put(&self.physical, len, &self.pmeta, src).await {
            Ok(backend_etag) => Ok(StoredVersion {
                placed: self,
                backend_etag,
            }),
            Err(e) => {
                let NewVersion {
                    backend,
                    reservation,
                    physical,
                    ..
                } = self;
                drop(reservation);
                queue_orphan(core, backend.name(), &physical).await;
                Err(e)
            }
        }
    }
}

/// A new version whose bytes are on the backend, not yet visible.
pub(crate) struct StoredVersion {
    placed: NewVersion,
    backend_etag: Option<String>,
}

impl StoredVersion {
    /// Queues the stored bytes for deletion (the body failed a check after the backend took it).
    pub(crate) async fn abandon(self, core: &Core) {
        let NewVersion {
            backend,
            reservation,
            physical,
            ..
        } = self.placed;
        drop(reservation);
        queue_orphan(core, backend.name(), &physical).await;
    }

    /// Makes the stored bytes the current version of `bucket`/`key` (`meta.size` set by the
    /// caller) with the ETag and checksum of the verified body's `digests`.
    pub(crate) async fn commit(
        self,
        core: &Core,
        bucket: &str,
        key: &str,
        meta: &mut ObjectMeta,
        condition: &WriteCondition,
        digests: Option<&s3o_sigv4::BodyDigests>,
    ) -> Result<Option<String>, ProxyError> {
        let p = &self.placed;
        meta.etag = match digests_etag(digests, self.backend_etag.clone(), p.backend.name()) {
            Ok(e) => e,
            Err(e) => {
                self.abandon(core).await;
                return Err(e);
            }
        };
        meta.checksums = digests_checksums(digests);
        let NewVersion {
            backend,
            reservation,
            version,
            physical,
            ..
        } = self.placed;
        let placed = Placed {
            backend: backend.name(),
            physical: &physical,
            version,
        };
        commit_version(core, bucket, key, meta, condition, reservation, &placed).await
    }
}

/// Where the bytes of a new version were stored.
pub(crate) struct Placed<'a> {
    /// The backend's name.
    pub backend: &'a str,
    /// The fresh physical key.
    pub physical: &'a str,
    /// The version the bytes were stored as.
    pub version: u64,
}

/// Makes `meta` (its bytes stored as `placed`) the current version of `bucket`/`key` in one
/// durable commit if `condition` holds; on failure the stored bytes are queued for deletion.
pub(crate) async fn commit_version(
    core: &Core,
    bucket: &str,
    key: &str,
    meta: &mut ObjectMeta,
    condition: &WriteCondition,
    reservation: s3o_store::Reservation,
    placed: &Placed<'_>,
) -> Result<Option<String>, ProxyError> {
    meta.last_modified_ms = crate::clock::unix_ms();
    meta.version = placed.version;
    meta.locations = vec![Location {
        backend: placed.backend.to_string(),
        physical_key: placed.physical.to_string(),
    }];
    let committed = core
        .shared
        .store
        .put_object(bucket, key, meta, condition, vec![reservation])
        .await;
    if let Err(e) = &committed {
        let orphan = crate::orphans::Orphan::new(placed.backend, placed.physical).meant_for(bucket, key);
        crate::orphans::after_failed_commit(&core.shared, e.is_unavailable(), orphan).await;
    }
    committed.map_err(ProxyError::from)
}

/// Queues bytes that were (maybe) written but never committed, and waits until the queue entry
/// is durable (a crash right after must not leak them); kept in memory while the store cannot
/// take them ([`crate::orphans`]).
pub(crate) async fn queue_orphan(core: &Core, backend: &str, physical: &str) {
    crate::orphans::queue(&core.shared, backend, physical).await;
}

/// [`body_etag`] from a verified body's digests.
pub(crate) fn digests_etag(
    digests: Option<&s3o_sigv4::BodyDigests>,
    backend_etag: Option<String>,
    backend: &str,
) -> Result<String, ProxyError> {
    match (digests.and_then(|d| d.md5), backend_etag) {
        (Some(m), _) => Ok(format!("\"{}\"", s3o_sigv4::encode::hex(&m))),
        (None, Some(e)) if e.starts_with('"') => Ok(e),
        (None, Some(e)) => Ok(format!("\"{e}\"")),
        (None, None) => Err(crate::error::BackendError::Protocol {
            backend: backend.to_string(),
            detail: "no ETag for a stored body".into(),
        }
        .into()),
    }
}

/// [`body_checksums`] from a verified body's digests.
pub(crate) fn digests_checksums(digests: Option<&s3o_sigv4::BodyDigests>) -> Vec<(String, String)> {
    digests
        .and_then(|d| d.checksum.as_ref())
        .map(|c| vec![(c.algorithm.name().to_string(), c.value.clone())])
        .unwrap_or_default()
}
