//! A new version's way to durability, shared by PutObject, PostObject, CompleteMultipartUpload
//! and CopyObject: place it (backends with room, quota reserved before any byte moves, a fresh
//! physical key), stream a body source to every copy at once, and make it current in one durable
//! metadata commit; bytes that never became current are queued for deletion.

use s3o_store::{physical_key_for, Location, ObjectMeta, WriteCondition};

use std::rc::Rc;

use s3o_store::Reservation;

use crate::backend::{Backend, PhysicalMeta};
use crate::config::ReplicationMode;
use crate::error::ProxyError;
use crate::s3::placement::{self, Target};
use crate::s3::Ctx;
use crate::state::Core;

/// A new version on its way to its backends: the backends chosen, its bytes reserved there, a
/// fresh physical key. The seam PutObject and PostObject share: [`NewVersion::place`] before any
/// byte moves, [`NewVersion::store`] to stream a body source (to every copy at once when the
/// bucket replicates synchronously), [`StoredVersion::commit`] once the source verified the
/// whole body.
pub(crate) struct NewVersion {
    targets: Vec<Target>,
    /// Copies the version should have.
    factor: usize,
    /// Copies that must be stored for the write to succeed.
    quorum: usize,
    version: u64,
    physical: String,
    pmeta: PhysicalMeta,
    /// How the body is sealed, when its bucket encrypts.
    seal: Option<crate::seal::WriteSeal>,
}

impl NewVersion {
    /// Picks the backends of `bucket` for the copies of `len` bytes and reserves them.
    pub(crate) async fn place(
        ctx: &Ctx<'_>,
        bucket: &str,
        key: &str,
        len: u64,
        content_type: Option<String>,
        integrity: Vec<(String, String)>,
    ) -> Result<NewVersion, ProxyError> {
        let seal = crate::seal::write::seal_for(ctx.core, &ctx.snap, bucket)?;
        // The client's digests describe the plaintext: a backend given sealed bytes cannot check them.
        let integrity = if seal.is_some() { Vec::new() } else { integrity };
        let stored_len = seal.as_ref().map_or(len, |w| w.stored_len(len));
        let (targets, factor) = placement::choose(ctx.core, &ctx.snap, bucket, stored_len).await?;
        let p = ctx.snap.placement(bucket);
        let quorum = match p.mode {
            ReplicationMode::Sync => p.quorum.min(targets.len()).max(1),
            ReplicationMode::Async => 1,
        };
        let version = ctx.core.shared.store.next_version().await?;
        let physical = physical_key_for(bucket, key, version);
        let pmeta = PhysicalMeta {
            bucket: bucket.into(),
            key: key.into(),
            version,
            content_type,
            integrity,
            sealed: seal.is_some(),
        };
        Ok(NewVersion {
            targets,
            factor,
            quorum,
            version,
            physical,
            pmeta,
            seal,
        })
    }

    /// Whether every backend's ETag is the body's MD5 (else the source must compute it): never
    /// for a sealed body, whose stored bytes are not the body.
    pub(crate) fn etag_is_md5(&self) -> bool {
        self.seal.is_none() && self.targets.iter().all(|t| t.backend.etag_is_md5())
    }

    /// Streams `len` bytes of `src` to every target at once; each target's outcome, and the
    /// source's own error when it failed.
    async fn put_all<S: crate::backend::BodySource>(
        &self,
        len: u64,
        src: &mut S,
    ) -> (Vec<Result<Option<String>, ProxyError>>, Option<ProxyError>) {
        let backends: Vec<&Backend> = self.targets.iter().map(|t| &*t.backend).collect();
        crate::backend::tee::put_to_all(&backends, &self.physical, len, &self.pmeta, src).await
    }

    /// Streams `len` bytes of `src` to every backend under the fresh key, all at once. Copies
    /// that fail are queued for deletion (their bytes may have reached the backend) and their
    /// reservations released; with fewer than the quorum stored, the stored ones go the same way
    /// and the write fails, the previous version untouched.
    pub(crate) async fn store<S: crate::backend::BodySource>(
        mut self,
        core: &Core,
        len: u64,
        src: &mut S,
    ) -> Result<StoredVersion, ProxyError> {
        let seal = self.seal.take();
        let id = crate::seal::Identity {
            bucket: &self.pmeta.bucket,
            key: &self.pmeta.key,
            version: self.version,
        };
        let mut out =
            crate::seal::source::StoredSource::new(src, seal.as_ref(), id, len, core.shared.cfg.integrity.hash);
        let stored_len = out.stored_len();
        let (outcomes, source_err) = self.put_all(stored_len, &mut out).await;
        let facts = crate::seal::write::body_facts(seal.as_ref(), stored_len, out.hash_hex());
        let NewVersion {
            targets,
            factor,
            quorum,
            version,
            physical,
            pmeta,
            ..
        } = self;
        let mut stored = Vec::new();
        let source_failed = source_err.as_ref().map(drop);
        let mut error = source_err;
        for (target, outcome) in targets.into_iter().zip(outcomes) {
            drop(target.permit);
            match outcome {
                Ok(etag) => stored.push((target.backend, target.reservation, etag)),
                Err(e) => {
                    if source_failed.is_none() {
                        tracing::warn!(backend = target.backend.name(), error = %e, "a copy of an upload failed");
                    }
                    error.get_or_insert(e);
                    drop(target.reservation);
                    queue_orphan(core, target.backend.name(), &physical).await;
                }
            }
        }
        if stored.len() < quorum {
            for (backend, reservation, _) in stored {
                drop(reservation);
                queue_orphan(core, backend.name(), &physical).await;
            }
            return Err(error.unwrap_or_else(|| ProxyError::Internal("no copy was stored".into())));
        }
        Ok(StoredVersion {
            stored,
            factor,
            version,
            physical,
            facts,
            _pmeta: pmeta,
        })
    }
}

/// A new version whose bytes are on its backends, not yet visible.
pub(crate) struct StoredVersion {
    /// Each copy's backend, reservation and ETag.
    stored: Vec<(Rc<Backend>, Reservation, Option<String>)>,
    factor: usize,
    version: u64,
    physical: String,
    /// What the version records of its stored bytes.
    facts: crate::seal::write::BodyFacts,
    _pmeta: PhysicalMeta,
}

impl StoredVersion {
    /// Queues the stored bytes for deletion (the body failed a check after the backends took
    /// it).
    pub(crate) async fn abandon(self, core: &Core) {
        for (backend, reservation, _) in self.stored {
            drop(reservation);
            queue_orphan(core, backend.name(), &self.physical).await;
        }
    }

    /// Makes the stored bytes the current version of `bucket`/`key` (`meta.size` set by the
    /// caller) with the ETag and checksum of the verified body's `digests`; copies missing from
    /// the bucket's factor are queued for the replicator in the same commit.
    pub(crate) async fn commit(
        self,
        core: &Core,
        bucket: &str,
        key: &str,
        meta: &mut ObjectMeta,
        condition: &WriteCondition,
        digests: Option<&s3o_sigv4::BodyDigests>,
    ) -> Result<Option<String>, ProxyError> {
        let (backend, backend_etag) = match self.stored.first() {
            Some((b, _, e)) => (b.name().to_string(), e.clone()),
            None => return Err(ProxyError::Internal("no copy was stored".into())),
        };
        meta.etag = match digests_etag(digests, backend_etag, &backend) {
            Ok(e) => e,
            Err(e) => {
                self.abandon(core).await;
                return Err(e);
            }
        };
        meta.checksums = digests_checksums(digests);
        self.facts.apply(meta);
        meta.copies_wanted = u32::try_from(self.factor).unwrap_or(u32::MAX);
        let mut reservations = Vec::with_capacity(self.stored.len());
        let mut backends = Vec::with_capacity(self.stored.len());
        for (b, r, _) in self.stored {
            backends.push(b.name().to_string());
            reservations.push(r);
        }
        let placed = Placed {
            backends: &backends,
            physical: &self.physical,
            version: self.version,
        };
        commit_version(core, bucket, key, meta, condition, reservations, &placed).await
    }
}

/// Where the bytes of a new version were stored.
pub(crate) struct Placed<'a> {
    /// The backends holding a copy.
    pub backends: &'a [String],
    /// The fresh physical key.
    pub physical: &'a str,
    /// The version the bytes were stored as.
    pub version: u64,
}

/// Makes `meta` (its bytes stored as `placed`) the current version of `bucket`/`key` in one
/// durable commit if `condition` holds, then writes its records beside its copies
/// ([`crate::records`]); on failure the stored bytes are queued for deletion.
pub(crate) async fn commit_version(
    core: &Core,
    bucket: &str,
    key: &str,
    meta: &mut ObjectMeta,
    condition: &WriteCondition,
    reservations: Vec<s3o_store::Reservation>,
    placed: &Placed<'_>,
) -> Result<Option<String>, ProxyError> {
    meta.last_modified_ms = crate::clock::unix_ms();
    meta.version = placed.version;
    meta.locations = placed
        .backends
        .iter()
        .map(|b| Location {
            backend: b.clone(),
            physical_key: placed.physical.to_string(),
        })
        .collect();
    let committed = core
        .shared
        .store
        .put_object(bucket, key, meta, condition, reservations)
        .await;
    core.shared.cache.forget(bucket, key);
    match &committed {
        Ok(id) => {
            // The version as committed (the store decides whether it has an id), beside its bytes.
            let stored = ObjectMeta {
                versioned: id.is_some(),
                delete_marker: false,
                ..meta.clone()
            };
            crate::records::write_version(core, bucket, key, &stored).await;
        }
        Err(e) => {
            for b in placed.backends {
                let orphan = crate::orphans::Orphan::new(b, placed.physical).meant_for(bucket, key);
                crate::orphans::after_failed_commit(&core.shared, e.is_unavailable(), orphan).await;
            }
        }
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
