//! CopyObject and UploadPartCopy: the source is read from its backend and streamed to the
//! destination's, never buffered whole; when both live on the same S3 backend the backend copies
//! server-side and no byte passes through us. The destination is a new version under a fresh
//! physical key, committed like a PUT.

use bytes::Bytes;
use md5::{Digest, Md5};
use s3o_store::{physical_key_for, ObjectMeta, Part};

use crate::backend::{BodySource, ByteRange, PhysicalMeta, StreamSource};
use crate::client::ClientIo;
use crate::endpoint::CopySource;
use crate::error::ProxyError;
use crate::http::parse_http_date;
use crate::s3::multipart::find_upload;
use crate::s3::object::{
    commit_version, meta_from_headers, precheck, queue_orphan, write_condition, Placed, MAX_PUT_SIZE,
};
use crate::s3::reply::{send_xml, send_xml_with};
use crate::s3::tagging::header_tags;
use crate::s3::versioning::resolve;
use crate::s3::{placement, require_bucket, Ctx};
use crate::xml;

/// A body source that also computes the MD5 of what passes (the ETag of a streamed copy).
pub(crate) struct Md5Tee<S> {
    inner: S,
    md5: Md5,
}

impl<S> Md5Tee<S> {
    /// `inner`, hashed as it is read.
    pub(crate) fn new(inner: S) -> Md5Tee<S> {
        Md5Tee { inner, md5: Md5::new() }
    }

    /// The quoted MD5 of what was read: a single PUT's ETag.
    pub(crate) fn etag(self) -> String {
        format!("\"{}\"", s3o_sigv4::encode::hex(&self.md5.finalize()))
    }
}

impl<S: BodySource> BodySource for Md5Tee<S> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        let piece = self.inner.next_piece().await?;
        if let Some(p) = &piece {
            self.md5.update(p);
        }
        Ok(piece)
    }
}

/// The source object of a copy, checked against the `x-amz-copy-source-if-*` conditions.
async fn source_object(ctx: &Ctx<'_>, source: &CopySource) -> Result<ObjectMeta, ProxyError> {
    let meta = resolve(ctx, &source.bucket, &source.key, source.version_id.as_deref()).await?;
    let h = |n: &str| ctx.head.header(n);
    let matches = |v: &str| {
        v.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_matches('"') == meta.etag.trim_matches('"'))
    };
    let modified = (meta.last_modified_ms / 1000) as i64;
    // S3's precedence: a matching If-Match overrides If-Unmodified-Since, and a failing
    // If-None-Match overrides If-Modified-Since.
    let failed = match (
        h("x-amz-copy-source-if-match"),
        h("x-amz-copy-source-if-unmodified-since"),
    ) {
        (Some(m), _) => !matches(m),
        (None, Some(t)) => parse_http_date(t).is_some_and(|t| modified > t),
        (None, None) => false,
    } || match (
        h("x-amz-copy-source-if-none-match"),
        h("x-amz-copy-source-if-modified-since"),
    ) {
        (Some(m), _) => matches(m),
        (None, Some(t)) => parse_http_date(t).is_some_and(|t| modified <= t),
        (None, None) => false,
    };
    if failed {
        return Err(ProxyError::PreconditionFailed);
    }
    Ok(meta)
}

/// Opens the source's bytes (`range`, or all) on the first copy that answers.
async fn open_source(
    ctx: &Ctx<'_>,
    source: &CopySource,
    meta: &ObjectMeta,
    range: Option<ByteRange>,
) -> Result<crate::seal::reader::ObjectReader, ProxyError> {
    crate::s3::read::open_copy(ctx.core, &ctx.snap, (&source.bucket, &source.key), meta, range).await
}

/// A directive header: `COPY` (the default) or `REPLACE`; `true` for REPLACE.
fn replace(ctx: &Ctx<'_>, name: &str) -> Result<bool, ProxyError> {
    match ctx.head.header(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(_) => Err(ProxyError::InvalidArgument(format!("Unknown {name}"))),
    }
}

/// CopyObject.
pub async fn copy_object(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    source: &CopySource,
) -> Result<(), ProxyError> {
    let bucket_meta = require_bucket(ctx, bucket).await?;
    let src = source_object(ctx, source).await?;
    if src.size > MAX_PUT_SIZE {
        return Err(ProxyError::InvalidRequest(format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_SIZE}"
        )));
    }
    let replace_meta = replace(ctx, "x-amz-metadata-directive")?;
    let replace_tags = replace(ctx, "x-amz-tagging-directive")?;
    if source.bucket == bucket && source.key == key && !replace_meta && source.version_id.is_none() {
        return Err(ProxyError::InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into(),
        ));
    }
    let mut meta = if replace_meta {
        meta_from_headers(ctx)?
    } else {
        ObjectMeta {
            content_type: src.content_type.clone(),
            content_encoding: src.content_encoding.clone(),
            content_disposition: src.content_disposition.clone(),
            cache_control: src.cache_control.clone(),
            expires: src.expires.clone(),
            user_meta: src.user_meta.clone(),
            ..ObjectMeta::default()
        }
    };
    meta.tags = if replace_tags {
        header_tags(ctx)?
    } else {
        src.tags.clone()
    };
    (meta.retention, meta.legal_hold) = crate::s3::lock::for_new_version(ctx, &bucket_meta, key)?;
    (meta.owner, meta.grants) =
        crate::s3::acl::new_version_acl(ctx, &bucket_meta, crate::s3::acl::AclSource::Headers).await?;
    let condition = write_condition(ctx)?;
    precheck(ctx, bucket, key, &condition).await?;
    let from = (source.bucket.as_str(), source.key.as_str(), &src);
    let version_id = copy_bytes(ctx.core, &ctx.snap, from, (bucket, key), &mut meta, &condition).await?;
    let mut headers = Vec::new();
    if src.versioned || source.version_id.is_some() {
        headers.push(("x-amz-copy-source-version-id", src.version_id()));
    }
    if let Some(id) = version_id {
        headers.push(("x-amz-version-id", id));
    }
    send_xml_with(
        ctx,
        io,
        &xml::CopyObjectResult {
            etag: &meta.etag,
            last_modified_ms: meta.last_modified_ms,
            checksums: &meta.checksums,
        },
        &headers,
    )
    .await
}

/// Copies the bytes of version `src` to a new version of `bucket`/`key` with `meta` (its
/// ETag, size, checksums and copy count filled in here): placed like a PutObject, copied
/// inside the backend when it holds the source and can, else streamed from the source's first
/// answering copy; committed if `condition` holds. The new version's id, when it has one.
pub(crate) async fn copy_bytes(
    core: &crate::state::Core,
    snap: &crate::live::Snapshot,
    (src_bucket, src_key, src): (&str, &str, &ObjectMeta),
    (bucket, key): (&str, &str),
    meta: &mut ObjectMeta,
    condition: &s3o_store::WriteCondition,
) -> Result<Option<String>, ProxyError> {
    let store = &core.shared.store;
    let seal = crate::seal::write::seal_for(core, snap, bucket)?;
    let stored_len = seal.as_ref().map_or(src.size, |w| w.stored_len(src.size));
    let (target, factor) = placement::choose_one(core, snap, bucket, stored_len).await?;
    let (backend, reservation, permit) = (target.backend, target.reservation, target.permit);
    let version = store.next_version().await?;
    let physical = physical_key_for(bucket, key, version);
    let pmeta = PhysicalMeta {
        bucket: bucket.into(),
        key: key.into(),
        version,
        content_type: meta.content_type.clone(),
        integrity: Vec::new(),
        sealed: seal.is_some(),
    };
    // The bytes are the source's: so is the ETag, unless the source's is a multipart one.
    let multipart_source = src.etag.contains('-');
    let same = src
        .locations
        .iter()
        .find(|l| l.backend == backend.name() && !src.damaged.contains(&l.backend));
    // A backend's ETag for a copy is not reliably the MD5 of the bytes (SeaweedFS keeps a
    // multipart source's), so only a single-PUT source, whose ETag we know, is copied inside it.
    // Sealed bytes are bound to their object: a sealed source or destination is always streamed
    // (opened, and sealed anew for the new version).
    let as_stored = seal.is_none() && src.sealed.is_none();
    let mut facts = crate::seal::write::BodyFacts::default();
    let copied = match same {
        Some(loc) if as_stored && backend.copies_within() && !multipart_source => {
            facts.hash = src.hash.clone();
            backend
                .copy_within(&loc.physical_key, &physical, &pmeta)
                .await
                .map(|_| src.etag.clone())
        }
        _ => match crate::s3::read::open_copy(core, snap, (src_bucket, src_key), src, None).await {
            Ok(stream) => {
                let mut tee = Md5Tee::new(StreamSource(stream));
                let id = crate::seal::Identity { bucket, key, version };
                let hash = core.shared.cfg.integrity.hash;
                let mut out = crate::seal::source::StoredSource::new(&mut tee, seal.as_ref(), id, src.size, hash);
                let put = backend.put(&physical, stored_len, &pmeta, &mut out).await;
                facts = crate::seal::write::body_facts(seal.as_ref(), stored_len, out.hash_hex());
                put.map(|_| tee.etag())
            }
            Err(e) => Err(e),
        },
    };
    drop(permit);
    meta.etag = match copied {
        Ok(etag) => etag,
        Err(e) => {
            drop(reservation);
            queue_orphan(core, backend.name(), &physical).await;
            return Err(e);
        }
    };
    meta.size = src.size;
    // Whole-object checksums describe the same bytes; composite ones describe parts we drop.
    meta.checksums = src
        .checksums
        .iter()
        .filter(|(_, v)| !v.contains('-'))
        .cloned()
        .collect();
    meta.copies_wanted = u32::try_from(factor).unwrap_or(u32::MAX);
    meta.parts.clear();
    meta.part_checksums.clear();
    facts.apply(meta);
    let backends = [backend.name().to_string()];
    let placed = Placed {
        backends: &backends,
        physical: &physical,
        version,
    };
    commit_version(core, bucket, key, meta, condition, vec![reservation], &placed).await
}

/// Parses `x-amz-copy-source-range: bytes=a-b` against a source of `size` bytes.
fn copy_range(value: &str, size: u64) -> Result<ByteRange, ProxyError> {
    let bad = || {
        ProxyError::InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy".into())
    };
    let (a, b) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let start = a.parse::<u64>().map_err(|_| bad())?;
    let end = b.parse::<u64>().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    if end >= size {
        return Err(ProxyError::InvalidRange);
    }
    Ok(ByteRange { start, end })
}

/// UploadPartCopy: a range (or all) of an object becomes a part of an upload.
pub async fn upload_part_copy(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    source: &CopySource,
) -> Result<(), ProxyError> {
    let upload = find_upload(ctx, bucket, key, upload_id).await?;
    let src = source_object(ctx, source).await?;
    let range = match ctx.head.header("x-amz-copy-source-range") {
        Some(r) => copy_range(r, src.size)?,
        None if src.size == 0 => ByteRange { start: 0, end: 0 },
        None => ByteRange {
            start: 0,
            end: src.size - 1,
        },
    };
    let len = if src.size == 0 { 0 } else { range.len() };
    if len > MAX_PUT_SIZE {
        return Err(ProxyError::InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120".into(),
        ));
    }
    let shared = &ctx.core.shared;
    placement::within_quota(ctx.core, bucket, len).await?;
    let quota = ctx.snap.quota(&upload.backend);
    let stored_len = crate::seal::write::part_stored_len(&upload, len);
    let reservation = shared.store.reserve(&upload.backend, stored_len, quota).await?;
    let backend = ctx.core.backend(&upload.backend)?;
    let same = src
        .locations
        .iter()
        .find(|l| l.backend == upload.backend && !src.damaged.contains(&l.backend));
    let plain = src.sealed.is_none() && upload.meta.sealed.is_none();
    let mut part = Part {
        number: part_number,
        size: len,
        last_modified_ms: crate::clock::unix_ms(),
        ..Part::default()
    };
    let (etag, backend_etag, backend_ref) = match same {
        // Inside the backend only when the part is a whole single-PUT object stored as sent:
        // then its ETag (the MD5 of the part) and hash are the source's, which we know; any
        // other range is streamed and hashed.
        Some(loc) if plain && backend.copies_within() && !src.etag.contains('-') && len > 0 && len == src.size => {
            part.hash = src.hash.as_ref().and_then(|h| h.parts.first().cloned());
            let e = backend
                .copy_part_within(
                    &loc.physical_key,
                    &upload.physical_key,
                    &upload.backend_upload_id,
                    part_number,
                    range,
                )
                .await?
                .ok_or_else(|| ProxyError::Internal("backend part copy without ETag".into()))?;
            let quoted = if e.starts_with('"') { e } else { format!("\"{e}\"") };
            (src.etag.clone(), Some(quoted), None)
        }
        _ => {
            let stream = open_source(ctx, source, &src, (len > 0).then_some(range)).await?;
            let mut tee = Md5Tee {
                inner: StreamSource(stream),
                md5: Md5::new(),
            };
            let unique = shared.store.next_version().await?;
            let written =
                crate::seal::write::put_part(ctx.core, &upload, &backend, part_number, unique, len, &[], &mut tee)
                    .await?;
            let stored = written.fill(&mut part);
            let etag = format!("\"{}\"", s3o_sigv4::encode::hex(&tee.md5.finalize()));
            (etag, stored.etag, stored.backend_ref)
        }
    };
    part.etag = etag;
    part.backend_etag = backend_etag;
    part.backend_ref = backend_ref;
    shared.store.put_part(upload_id, &part, Some(reservation)).await?;
    send_xml(
        ctx,
        io,
        &xml::CopyPartResult {
            etag: &part.etag,
            last_modified_ms: part.last_modified_ms,
            checksums: &part.checksums,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_like_s3() {
        assert_eq!(copy_range("bytes=0-4", 5).unwrap(), ByteRange { start: 0, end: 4 });
        for bad in [
            "0-2",
            "bytes=0",
            "bytes=hello-world",
            "bytes=0-bar",
            "bytes=hello-",
            "bytes=0-2,3-5",
            "bytes=3-1",
        ] {
            assert!(
                matches!(copy_range(bad, 5), Err(ProxyError::InvalidArgument(_))),
                "{bad}"
            );
        }
        assert!(matches!(copy_range("bytes=0-21", 5), Err(ProxyError::InvalidRange)));
    }
}
