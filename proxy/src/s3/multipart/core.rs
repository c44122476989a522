//! The steps of a multipart upload that both the S3 port and the data API take: starting one
//! (a backend chosen with room for a part, the backend's own upload begun, the upload
//! recorded) and finishing one (the part list checked against the recorded parts, the object's
//! ETag and checksums, the backend's assembly, one metadata commit, and what a failure leaves
//! queued for cleanup). Each port checks its own rights and parses its own bodies first.

use std::collections::HashMap;

use s3o_sigv4::ChecksumAlgorithm;
use s3o_store::{physical_key_for, Location, ObjectMeta, Part, Upload};

use super::{
    composite_checksum, full_object_checksum, multipart_etag, new_upload_id, physical_meta, used_parts,
    MAX_OBJECT_SIZE, MIN_PART_SIZE,
};
use crate::error::ProxyError;
use crate::live::Snapshot;
use crate::s3::object::queue_orphan;
use crate::s3::placement;
use crate::state::Core;
use crate::xml::CompletedPart;

/// Starts an upload of `bucket`/`key` whose object will carry `meta`, for `owner`, with its
/// checksum algorithm and type: the upload recorded, or why not.
pub(crate) async fn start_upload(
    core: &Core,
    snap: &Snapshot,
    (bucket, key): (&str, &str),
    mut meta: ObjectMeta,
    owner: &str,
    (checksum_algorithm, checksum_type): (Option<String>, Option<String>),
) -> Result<Upload, ProxyError> {
    let store = &core.shared.store;
    // A backend with room for a full part (else for anything: a small one-part upload may still
    // fit); each part reserves its own bytes as it arrives. Choosing with room for nothing would
    // pin the upload to a nearly full backend that refuses every 5 MiB part.
    let (target, factor) = match placement::choose_one(core, snap, bucket, MIN_PART_SIZE).await {
        Err(ProxyError::InsufficientStorage | ProxyError::QuotaExceeded) => {
            placement::choose_one(core, snap, bucket, 0).await?
        }
        chosen => chosen?,
    };
    let backend = target.backend;
    // The other copies of the completed object are made by the replicator (queued with it).
    meta.copies_wanted = u32::try_from(factor).unwrap_or(u32::MAX);
    // Each part is sealed on its own with the upload's data key (see `seal::write::put_part`).
    meta.sealed = crate::seal::write::upload_seal(core, snap, bucket)?;
    let version = store.next_version().await?;
    let upload_id = new_upload_id(version)?;
    let mut upload = Upload {
        upload_id: upload_id.clone(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        backend: backend.name().to_string(),
        physical_key: physical_key_for(bucket, key, version),
        version,
        initiated_ms: crate::clock::unix_ms(),
        owner: owner.to_owned(),
        meta,
        checksum_algorithm,
        checksum_type,
        ..Upload::default()
    };
    upload.backend_upload_id = backend
        .create_upload(&upload.physical_key, &physical_meta(&upload), &upload_id)
        .await?;
    if let Err(e) = store.create_upload(&upload).await {
        let _ = backend
            .abort_upload(&upload.physical_key, &upload.backend_upload_id)
            .await;
        return Err(e.into());
    }
    Ok(upload)
}

/// Finishes `upload` with the parts `requested` (in order) if `condition` holds; `stated`
/// gives the whole-object checksum the client expects of an algorithm, if it states one. The
/// object committed and its version id.
pub(crate) async fn finish_upload(
    core: &Core,
    upload: &Upload,
    requested: &[CompletedPart],
    condition: &s3o_store::WriteCondition,
    stated: &dyn Fn(&str) -> Option<String>,
) -> Result<(ObjectMeta, Option<String>), ProxyError> {
    let store = &core.shared.store;
    let recorded: HashMap<u32, Part> = store
        .parts(&upload.upload_id, 0, s3o_store::MAX_PARTS as usize)
        .await?
        .into_iter()
        .map(|p| (p.number, p))
        .collect();
    let used = used_parts(requested, &recorded)?;
    let size: u64 = used.iter().map(|p| p.size).sum();
    if size > MAX_OBJECT_SIZE {
        return Err(ProxyError::EntityTooLarge);
    }
    let mut meta = ObjectMeta {
        size,
        etag: multipart_etag(used.iter().map(|p| p.etag.as_str())),
        last_modified_ms: crate::clock::unix_ms(),
        version: upload.version,
        locations: vec![Location {
            backend: upload.backend.clone(),
            physical_key: upload.physical_key.clone(),
        }],
        parts: used.iter().map(|p| p.size).collect(),
        ..upload.meta.clone()
    };
    seal_and_hash(&mut meta, &used)?;
    // An upload begun before a key rotation completes under the current master key.
    if let (Some(sealed), Some(keys)) = (&mut meta.sealed, core.shared.keys.as_deref()) {
        if sealed.key_id != keys.current_id() {
            sealed.dek = keys.rewrap(&sealed.key_id, &sealed.dek)?;
            sealed.key_id = keys.current_id().to_string();
        }
    }
    if let Some(alg) = upload.checksum_algorithm.as_deref() {
        let part_sums: Option<Vec<&str>> = used
            .iter()
            .map(|p| p.checksums.iter().find(|(a, _)| a == alg).map(|(_, v)| v.as_str()))
            .collect();
        if let Some(part_sums) = part_sums {
            let whole = match upload.checksum_type.as_deref() {
                Some("FULL_OBJECT") => full_object_checksum(alg, &used),
                _ => composite_checksum(alg, &used),
            };
            if let Some(whole) = whole {
                // The client may state what it expects the object's checksum to be.
                if stated(alg).is_some_and(|v| v.trim() != whole.1) {
                    let upper = ChecksumAlgorithm::from_name(alg).map_or("checksum", |a| a.upper_name());
                    return Err(s3o_sigv4::SigError::BadChecksum(upper).into());
                }
                meta.checksums = vec![whole];
                meta.part_checksums = part_sums.into_iter().map(str::to_string).collect();
                meta.checksum_type.clone_from(&upload.checksum_type);
            }
        }
    }
    // The parts were each checked against the bucket's quota; the whole object is, once.
    placement::within_quota(core, &upload.bucket, size).await?;
    let backend = core.backend(&upload.backend)?;
    let owned: Vec<Part> = used.iter().map(|p| (*p).clone()).collect();
    backend
        .complete_upload(
            &upload.physical_key,
            &upload.backend_upload_id,
            &owned,
            meta.stored_size(),
            &physical_meta(upload),
        )
        .await?;
    let version_id = match commit(core, upload, &meta, condition, backend.keeps_parts()).await {
        Ok(version_id) => version_id,
        Err(e) => return Err(completion_failed(core, upload, e).await),
    };
    Ok((meta, version_id))
}

/// Records in `meta` what its parts' records say of their stored bytes: each part's seal (when
/// the upload is sealed, each part is a segment of its own) and hash (when every part has one).
fn seal_and_hash(meta: &mut ObjectMeta, used: &[&Part]) -> Result<(), ProxyError> {
    if let Some(sealed) = &mut meta.sealed {
        sealed.segments =
            used.iter()
                .map(|p| {
                    let nonce = p.seal_nonce.clone().ok_or_else(|| {
                        ProxyError::Internal(format!("part {} of a sealed upload has no seal", p.number))
                    })?;
                    Ok(s3o_store::SealSegment {
                        number: p.number,
                        nonce,
                    })
                })
                .collect::<Result<_, ProxyError>>()?;
        meta.stored = Some(used.iter().map(|p| p.stored_size()).sum());
    }
    let hashes: Option<Vec<String>> = used.iter().map(|p| p.hash.clone()).collect();
    meta.hash = hashes.map(|parts| s3o_store::ContentHash {
        alg: Default::default(),
        parts,
    });
    meta.damaged.clear();
    Ok(())
}

/// What a failed completion leaves: bytes no version holds are queued for deletion (or, while
/// the store cannot say, looked at once it can); returns the error to answer.
async fn completion_failed(core: &Core, upload: &Upload, e: ProxyError) -> ProxyError {
    let (bucket, key) = (upload.bucket.as_str(), upload.key.as_str());
    {
        if matches!(e, ProxyError::StoreUnavailable(_)) {
            // Whether the commit happened is known once the store answers again: the cleanup
            // worker looks then (the store's reads now may show what it could not commit).
            let mut orphan = crate::orphans::Orphan::new(&upload.backend, &upload.physical_key).meant_for(bucket, key);
            orphan.upload_id = Some(upload.upload_id.clone());
            crate::orphans::after_failed_commit(&core.shared, true, orphan).await;
            return e;
        }
        // A concurrent Complete of the same upload (a client retrying a slow one) assembles the
        // same physical key: when that one committed, these bytes are the current object's.
        let committed = match core.shared.store.get_object(bucket, key).await {
            Ok(Some(m)) => m.version == upload.version,
            Ok(None) => false,
            // Unknown: keep the bytes (a leak beats deleting a live object).
            Err(_) => true,
        };
        if !committed {
            queue_orphan(core, &upload.backend, &upload.physical_key).await;
        }
        e
    }
}

/// Makes a completed upload's object current; when its condition no longer holds (a write won
/// the race), the upload is dropped, its parts being consumed by the backend already.
async fn commit(
    core: &Core,
    upload: &Upload,
    meta: &ObjectMeta,
    condition: &s3o_store::WriteCondition,
    keeps_parts: bool,
) -> Result<Option<String>, ProxyError> {
    let store = &core.shared.store;
    let completed = store
        .complete_upload(&upload.upload_id, meta, condition, keeps_parts)
        .await;
    core.shared.cache.forget(&upload.bucket, &upload.key);
    match completed {
        Ok(version_id) => {
            let stored = ObjectMeta {
                versioned: version_id.is_some(),
                ..meta.clone()
            };
            crate::records::write_version(core, &upload.bucket, &upload.key, &stored).await;
            Ok(version_id)
        }
        Err(s3o_store::StoreError::PreconditionFailed { .. }) => {
            // Best effort: an upload left behind is aborted by the reaper later.
            let _ = store.abort_upload(&upload.upload_id).await;
            Err(ProxyError::PreconditionFailed)
        }
        Err(e) => Err(e.into()),
    }
}
