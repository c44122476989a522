//! Multipart uploads, mapped onto native multipart on the one backend chosen at creation:
//! CreateMultipartUpload places and records the upload; UploadPart streams each part straight
//! to that backend (reserving its bytes against the quota, verifying it like any body) and
//! records it; CompleteMultipartUpload checks the part list, has the backend assemble the object
//! and makes it current in one metadata commit; AbortMultipartUpload and the reaper hand the
//! parts to the cleanup queue. ListParts and ListMultipartUploads answer from metadata.

use std::collections::HashMap;

use md5::{Digest, Md5};
use s3o_sigv4::{ChecksumAlgorithm, Checksummer};
use s3o_store::{Part, Upload};

use crate::backend::PhysicalMeta;
use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::s3::object::{
    body_checksums, body_etag, integrity_headers, meta_from_headers, precheck, single_checksum_header, write_condition,
    MAX_KEY_BYTES, MAX_PUT_SIZE,
};
use crate::s3::reply::{base_head, send_empty, send_xml_with};
use crate::s3::{placement, read_small_body, require_bucket, Ctx};
use crate::unsized_body::{upload_length, UploadSource};
use crate::xml;

/// Smallest part S3 accepts, except for the last part of an upload.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest object a multipart upload may produce (S3's limit).
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// The upload `upload_id`, which must belong to `bucket`/`key` (else it does not exist there)
/// and be the caller's (its initiator, the bucket's owner or the operator; else AccessDenied).
pub(crate) async fn find_upload(ctx: &Ctx<'_>, bucket: &str, key: &str, upload_id: &str) -> Result<Upload, ProxyError> {
    match ctx.core.shared.store.upload(upload_id).await? {
        Some(u) if u.bucket == bucket && u.key == key => {
            ctx.permit.upload(ctx.core, bucket, &u.owner)?;
            Ok(u)
        }
        _ => {
            require_bucket(ctx, bucket).await?;
            Err(ProxyError::NoSuchUpload)
        }
    }
}

/// What the backend labels an upload's object with.
pub(crate) fn physical_meta(u: &Upload) -> PhysicalMeta {
    PhysicalMeta {
        bucket: u.bucket.clone(),
        key: u.key.clone(),
        version: u.version,
        content_type: u.meta.content_type.clone(),
        integrity: Vec::new(),
        sealed: u.meta.sealed.is_some(),
    }
}

/// A fresh upload id: the version (so ids sort by creation) and 64 random bits.
fn new_upload_id(version: u64) -> Result<String, ProxyError> {
    use ring::rand::SecureRandom;
    let mut random = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| ProxyError::Internal("no randomness for an upload id".into()))?;
    Ok(format!("{version:016x}{:016x}", u64::from_be_bytes(random)))
}

/// What a multipart object's checksum will cover: `COMPOSITE` (a checksum of the part
/// checksums, `-N`) or `FULL_OBJECT` (the CRC of the whole object, combined from the part CRCs);
/// by default FULL_OBJECT for CRC-64/NVME and COMPOSITE otherwise, as S3 does.
fn checksum_type_for(asked: Option<&str>, algorithm: Option<&str>) -> Result<Option<String>, ProxyError> {
    let Some(alg) = algorithm else {
        return match asked {
            None => Ok(None),
            Some(_) => Err(ProxyError::InvalidRequest(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
            )),
        };
    };
    let crc = matches!(alg, "crc32" | "crc32c" | "crc64nvme");
    let t = match asked.map(str::to_ascii_uppercase) {
        None if alg == "crc64nvme" => "FULL_OBJECT".to_string(),
        None => "COMPOSITE".to_string(),
        Some(t) if t == "COMPOSITE" && alg != "crc64nvme" => t,
        Some(t) if t == "FULL_OBJECT" && crc => t,
        Some(t) => {
            return Err(ProxyError::InvalidRequest(format!(
                "The {t} checksum type is not supported for {}",
                alg.to_ascii_uppercase()
            )))
        }
    };
    Ok(Some(t))
}

/// CreateMultipartUpload: picks the backend, starts its native upload, records ours.
pub async fn create(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str, key: &str) -> Result<(), ProxyError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(ProxyError::KeyTooLong);
    }
    let bucket_meta = require_bucket(ctx, bucket).await?;
    let mut meta = meta_from_headers(ctx)?;
    (meta.retention, meta.legal_hold) = crate::s3::lock::for_new_version(ctx, &bucket_meta, key)?;
    (meta.owner, meta.grants) =
        crate::s3::acl::new_version_acl(ctx, &bucket_meta, crate::s3::acl::AclSource::Headers).await?;
    let checksum_algorithm = match ctx.head.header("x-amz-checksum-algorithm") {
        Some(a) => Some(
            ChecksumAlgorithm::from_name(&a.to_ascii_lowercase())
                .ok_or_else(|| ProxyError::InvalidRequest(format!("Checksum algorithm {a} is not supported")))?
                .name()
                .to_string(),
        ),
        None => None,
    };
    let checksum_type = checksum_type_for(ctx.head.header("x-amz-checksum-type"), checksum_algorithm.as_deref())?;
    let upload = start_upload(
        ctx.core,
        &ctx.snap,
        (bucket, key),
        meta,
        ctx.who.owner(),
        (checksum_algorithm, checksum_type),
    )
    .await?;
    let upload_id = &upload.upload_id;
    let doc = xml::InitiateMultipartUploadResult { bucket, key, upload_id };
    let body = xml::XmlBody::to_vec(&doc);
    let mut head = base_head(200, ctx.rid)
        .header("content-type", "application/xml")
        .content_length(body.len() as u64);
    if let Some(alg) = &upload.checksum_algorithm {
        head.push("x-amz-checksum-algorithm", alg.to_ascii_uppercase());
    }
    if let Some(t) = &upload.checksum_type {
        head.push("x-amz-checksum-type", t);
    }
    io.respond(&head, &body).await
}

/// UploadPart: streams the part to the upload's backend, verified, then records it.
pub async fn upload_part(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
) -> Result<(), ProxyError> {
    single_checksum_header(ctx)?;
    let upload = find_upload(ctx, bucket, key, upload_id).await?;
    let shared = &ctx.core.shared;
    let declared = ctx.head.declares_body_length();
    let (len, mut whole) = upload_length(io, body, declared, &shared.cfg.limits, &shared.unsized_budget).await?;
    if len > MAX_PUT_SIZE {
        return Err(ProxyError::EntityTooLarge);
    }
    placement::within_quota(ctx.core, bucket, len).await?;
    let quota = ctx.snap.quota(&upload.backend);
    // The upload is bound to its backend: a part past the backend's monthly limits cannot go
    // anywhere else.
    let limits = ctx.snap.backend(&upload.backend).map(|b| b.limits).unwrap_or_default();
    let stored_len = crate::seal::write::part_stored_len(&upload, len);
    let cost = crate::orchestrator::limits::Cost::write(stored_len);
    let permit = shared
        .gate
        .admit(&upload.backend, &limits, cost, &shared.metrics)
        .ok_or(ProxyError::InsufficientStorage)?;
    let reservation = shared.store.reserve(&upload.backend, stored_len, quota).await?;
    let backend = ctx.core.backend(&upload.backend)?;
    if !backend.etag_is_md5() || upload.meta.sealed.is_some() {
        body.compute_md5();
    }
    let unique = shared.store.next_version().await?;
    let written = {
        let mut src = UploadSource::new(&mut *io, &mut *body, &mut whole);
        let integrity = integrity_headers(ctx);
        crate::seal::write::put_part(
            ctx.core,
            &upload,
            &backend,
            part_number,
            unique,
            len,
            &integrity,
            &mut src,
        )
        .await
    };
    drop(permit);
    let written = written?;
    drop(whole);
    let mut part = Part {
        number: part_number,
        size: len,
        checksums: body_checksums(body),
        last_modified_ms: crate::clock::unix_ms(),
        ..Part::default()
    };
    let stored = written.fill(&mut part);
    part.etag = body_etag(body, stored.etag.clone(), backend.name())?;
    part.backend_etag = stored.etag;
    part.backend_ref = stored.backend_ref;
    shared.store.put_part(upload_id, &part, Some(reservation)).await?;
    let mut head = base_head(200, ctx.rid).header("etag", &part.etag).content_length(0);
    for (alg, v) in &part.checksums {
        head.push(format!("x-amz-checksum-{alg}"), v);
    }
    io.respond(&head, &[]).await
}

/// The multipart ETag: the MD5 of the parts' binary MD5s, then `-N`.
pub fn multipart_etag<'a>(etags: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = etags.len();
    let mut md5 = Md5::new();
    for e in etags {
        let hex = e.trim().trim_matches('"');
        let mut bin = [0u8; 16];
        let ok = hex.len() == 32
            && (0..16).all(|i| {
                u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("x"), 16)
                    .map(|b| bin[i] = b)
                    .is_ok()
            });
        if ok {
            md5.update(bin);
        } else {
            // Not an MD5 (a backend's own ETag): still a stable digest of the part list.
            md5.update(hex.as_bytes());
        }
    }
    format!("\"{}-{n}\"", s3o_sigv4::encode::hex(&md5.finalize()))
}

/// Each part's digest with the part's size.
type PartDigests = Vec<(Vec<u8>, u64)>;

/// Each part's digest of `alg` with the part's size, when every part carries one.
fn part_digests(alg: &str, parts: &[&Part]) -> Option<(ChecksumAlgorithm, PartDigests)> {
    let algorithm = ChecksumAlgorithm::from_name(alg)?;
    let digests = parts
        .iter()
        .map(|p| {
            let (_, v) = p.checksums.iter().find(|(a, _)| a == alg)?;
            Some((algorithm.decode_value(v.as_bytes()).ok()?, p.size))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((algorithm, digests))
}

/// The composite checksum of the parts (`<checksum of the part checksums>-N`), when every part
/// carries one of the algorithm.
fn composite_checksum(alg: &str, parts: &[&Part]) -> Option<(String, String)> {
    let (algorithm, digests) = part_digests(alg, parts)?;
    let mut sum = Checksummer::new(algorithm);
    for (d, _) in &digests {
        sum.update(d);
    }
    Some((alg.to_string(), format!("{}-{}", sum.finish_base64(), parts.len())))
}

/// The full-object CRC of the parts, combined from the part CRCs and sizes.
fn full_object_checksum(alg: &str, parts: &[&Part]) -> Option<(String, String)> {
    let (algorithm, digests) = part_digests(alg, parts)?;
    let crc = s3o_sigv4::combine_crcs(algorithm, &digests)?;
    Some((alg.to_string(), s3o_sigv4::checksum::base64_encode(&crc)))
}

/// Checks the client's part list against the recorded parts and returns those used, in order.
fn used_parts<'a>(
    requested: &[xml::CompletedPart],
    recorded: &'a HashMap<u32, Part>,
) -> Result<Vec<&'a Part>, ProxyError> {
    let mut used = Vec::with_capacity(requested.len());
    let mut last = 0;
    for r in requested {
        if r.part_number <= last {
            return Err(ProxyError::InvalidPartOrder);
        }
        last = r.part_number;
        let p = recorded.get(&r.part_number).ok_or(ProxyError::InvalidPart)?;
        if r.etag.trim().trim_matches('"') != p.etag.trim_matches('"') {
            return Err(ProxyError::InvalidPart);
        }
        for (alg, v) in &r.checksums {
            if p.checksums.iter().any(|(a, pv)| a == alg && pv != v) {
                return Err(ProxyError::InvalidPart);
            }
        }
        used.push(p);
    }
    if let Some((_, init)) = used.split_last() {
        if init.iter().any(|p| p.size < MIN_PART_SIZE) {
            return Err(ProxyError::EntityTooSmall);
        }
    }
    Ok(used)
}

/// CompleteMultipartUpload: checks the parts, has the backend assemble the object, commits it.
pub async fn complete(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), ProxyError> {
    let store = &ctx.core.shared.store;
    let upload = match find_upload(ctx, bucket, key, upload_id).await {
        Ok(u) => u,
        Err(ProxyError::NoSuchUpload) => {
            // Completed already (a client retrying after a lost answer): the same answer again.
            let Some(done) = store
                .completed_upload(upload_id)
                .await?
                .filter(|d| d.bucket == bucket && d.key == key)
            else {
                return Err(ProxyError::NoSuchUpload);
            };
            read_small_body(io, body, xml::MAX_COMPLETE_BODY_BYTES).await?;
            let (t, v) = (done.checksum_type.as_deref(), done.version_id.as_deref());
            return send_completed(ctx, io, (bucket, key, v), &done.etag, &done.checksums, t).await;
        }
        Err(e) => return Err(e),
    };
    let condition = write_condition(ctx)?;
    let doc = read_small_body(io, body, xml::MAX_COMPLETE_BODY_BYTES).await?;
    let requested = xml::parse_complete_multipart_upload(&doc).map_err(|_| ProxyError::MalformedXml)?;
    precheck(ctx, bucket, key, &condition).await?;
    let stated = |alg: &str| ctx.head.header(&format!("x-amz-checksum-{alg}")).map(str::to_owned);
    let (meta, version_id) = finish_upload(ctx.core, &upload, &requested, &condition, &stated).await?;
    send_completed(
        ctx,
        io,
        (bucket, key, version_id.as_deref()),
        &meta.etag,
        &meta.checksums,
        meta.checksum_type.as_deref(),
    )
    .await
}

/// The CompleteMultipartUploadResult of a completed upload.
async fn send_completed(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    (bucket, key, version_id): (&str, &str, Option<&str>),
    etag: &str,
    checksums: &[(String, String)],
    checksum_type: Option<&str>,
) -> Result<(), ProxyError> {
    let location = ctx.object_url(bucket, key);
    let headers: Vec<(&str, String)> = version_id
        .map(|v| ("x-amz-version-id", v.to_owned()))
        .into_iter()
        .collect();
    send_xml_with(
        ctx,
        io,
        &xml::CompleteMultipartUploadResult {
            location: &location,
            bucket,
            key,
            etag,
            checksums,
            checksum_type: checksum_type.filter(|_| !checksums.is_empty()),
        },
        &headers,
    )
    .await
}

/// AbortMultipartUpload: forgets the upload; the cleanup queue aborts it on the backend.
pub async fn abort(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), ProxyError> {
    find_upload(ctx, bucket, key, upload_id).await?;
    ctx.core.shared.store.abort_upload(upload_id).await?;
    send_empty(ctx, io, 204).await
}

mod core;
mod listing;

pub(crate) use core::{finish_upload, start_upload};

pub use listing::{list_parts, list_uploads};

#[cfg(test)]
mod tests;
