//! Object operations: PutObject (placed, streamed, verified, then committed), GetObject and
//! HeadObject (answered from metadata; GET streams from the first healthy copy), DeleteObject and
//! DeleteObjects (metadata first, bytes through the cleanup queue).

use s3o_store::{ObjectMeta, WriteCondition};

use crate::backend::{ByteRange, BODY_BUF};
use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::http::response::decimal;
use crate::http::{http_date, parse_http_date, rfc2047, ResponseHead};
use crate::s3::reply::{base_head, error_response};
use crate::s3::{require_bucket, Ctx};
use crate::unsized_body::{upload_length, UploadSource};

pub(crate) use super::version::{commit_version, queue_orphan, NewVersion, Placed};
use super::version::{digests_checksums, digests_etag};

/// Largest object a single PUT may carry (S3's limit).
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Bodies up to this size are sent in the same write as the response head.
const SMALL_BODY: u64 = 64 * 1024;
/// Most bytes of user metadata (`x-amz-meta-*` names and values) S3 accepts.
pub const MAX_USER_META_BYTES: usize = 2 * 1024;

/// The metadata of a new object taken from the PUT headers.
pub(crate) fn meta_from_headers(ctx: &Ctx<'_>) -> Result<ObjectMeta, ProxyError> {
    let headers = ctx.head.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let mut meta = meta_from_fields(headers)?;
    meta.tags = crate::s3::tagging::header_tags(ctx)?;
    Ok(meta)
}

/// The metadata of a new object from (name, value) pairs, header names matched without regard
/// to case: PUT headers, or the fields of a POST form. Tags are the caller's.
pub(crate) fn meta_from_fields<'a>(
    fields: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<ObjectMeta, ProxyError> {
    let h = |name: &str| {
        fields
            .clone()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    };
    // `aws-chunked` is transport framing, not part of the object's encoding.
    let content_encoding = h("content-encoding").and_then(|v| {
        let kept: Vec<&str> = v
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        (!kept.is_empty()).then(|| kept.join(", "))
    });
    let mut user_meta = Vec::new();
    let mut meta_bytes = 0;
    for (n, v) in fields.clone() {
        if n.len() > 11 && n[..11].eq_ignore_ascii_case("x-amz-meta-") {
            let name = n[11..].to_ascii_lowercase();
            let v = v.trim();
            // S3 stores encoded-words decoded, and encodes non-ASCII values on the way out.
            let v = rfc2047::decode(v).unwrap_or_else(|| v.to_string());
            meta_bytes += name.len() + v.len();
            user_meta.push((name, v));
        }
    }
    if meta_bytes > MAX_USER_META_BYTES {
        return Err(ProxyError::InvalidArgument(
            "Your metadata headers exceed the maximum allowed metadata size".into(),
        ));
    }
    Ok(ObjectMeta {
        content_type: Some(h("content-type").unwrap_or_else(|| "binary/octet-stream".into())),
        content_encoding,
        content_disposition: h("content-disposition"),
        cache_control: h("cache-control"),
        expires: h("expires"),
        user_meta,
        ..ObjectMeta::default()
    })
}

/// The write condition of a PutObject, CopyObject or CompleteMultipartUpload: `If-None-Match: *`
/// (only if the key has no object) or `If-Match: <etag>`.
pub(crate) fn write_condition(ctx: &Ctx<'_>) -> Result<WriteCondition, ProxyError> {
    match (ctx.head.header("if-none-match"), ctx.head.header("if-match")) {
        (None, None) => Ok(WriteCondition::None),
        (Some(v), None) if v.trim() == "*" => Ok(WriteCondition::IfAbsent),
        (Some(etag), None) => Ok(WriteCondition::IfNoneMatch(etag.to_string())),
        (None, Some(etag)) => Ok(WriteCondition::IfMatch(etag.to_string())),
        (Some(_), Some(_)) => Err(ProxyError::NotImplemented("If-Match with If-None-Match on writes")),
    }
}

/// Checks a write condition against the current version before any byte moves (it is checked
/// again, atomically, by the commit): `If-Match` on a missing key is NoSuchKey, as in S3.
pub(crate) async fn precheck(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    condition: &WriteCondition,
) -> Result<(), ProxyError> {
    if *condition == WriteCondition::None {
        return Ok(());
    }
    let current = ctx.core.shared.store.get_object(bucket, key).await?;
    if matches!(condition, WriteCondition::IfMatch(_)) && current.is_none() {
        return Err(ProxyError::NoSuchKey);
    }
    if condition.holds(current.as_ref()) {
        Ok(())
    } else {
        Err(ProxyError::PreconditionFailed)
    }
}

/// The digests a client sent in its request head (`Content-MD5`, `x-amz-checksum-<alg>`), to
/// forward to the backend so it verifies the bytes it stores (we verify them as they stream).
pub(crate) fn integrity_headers(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    ctx.head
        .headers
        .iter()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("content-md5") || s3o_sigv4::ChecksumAlgorithm::from_header_name(n).is_some()
        })
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// Refuses a request with more than one `x-amz-checksum-<alg>` header.
pub(crate) fn single_checksum_header(ctx: &Ctx<'_>) -> Result<(), ProxyError> {
    let checksums = ctx
        .head
        .headers
        .iter()
        .filter(|(n, _)| s3o_sigv4::ChecksumAlgorithm::from_header_name(n).is_some())
        .count();
    if checksums > 1 {
        return Err(ProxyError::InvalidRequest(
            "Expecting a single x-amz-checksum- header".into(),
        ));
    }
    Ok(())
}

/// The ETag of a stored body: its MD5 when we computed one, else the backend's (trusted to be
/// the MD5, see `Backend::etag_is_md5`); a backend that gives none fails the upload.
pub(crate) fn body_etag(body: &RequestBody, backend_etag: Option<String>, backend: &str) -> Result<String, ProxyError> {
    digests_etag(body.digests(), backend_etag, backend)
}

/// The verified `x-amz-checksum-*` of a body as (algorithm, base64 value).
pub(crate) fn body_checksums(body: &RequestBody) -> Vec<(String, String)> {
    digests_checksums(body.digests())
}

/// The bytes of part `n` of an object: `None` for all of it (part 1 of an object written by one
/// PUT, or an empty part); a part the object does not have is InvalidPart.
fn part_range(meta: &ObjectMeta, n: u32) -> Result<Option<ByteRange>, ProxyError> {
    if meta.parts.is_empty() {
        return if n == 1 { Ok(None) } else { Err(ProxyError::InvalidPart) };
    }
    let i = usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(1);
    let size = *meta.parts.get(i).ok_or(ProxyError::InvalidPart)?;
    let start: u64 = meta.parts[..i].iter().sum();
    Ok((size > 0).then(|| ByteRange {
        start,
        end: start + size - 1,
    }))
}

/// PutObject.
pub async fn put_object(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
) -> Result<(), ProxyError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(ProxyError::KeyTooLong);
    }
    single_checksum_header(ctx)?;
    let condition = write_condition(ctx)?;
    let bucket_meta = require_bucket(ctx, bucket).await?;
    let mut meta = meta_from_headers(ctx)?;
    (meta.retention, meta.legal_hold) = crate::s3::lock::for_new_version(ctx, &bucket_meta, key)?;
    (meta.owner, meta.grants) =
        crate::s3::acl::new_version_acl(ctx, &bucket_meta, crate::s3::acl::AclSource::Headers).await?;
    precheck(ctx, bucket, key, &condition).await?;
    let shared = &ctx.core.shared;
    let declared = ctx.head.declares_body_length();
    let (len, mut whole) = upload_length(io, body, declared, &shared.cfg.limits, &shared.unsized_budget).await?;
    if len > MAX_PUT_SIZE {
        return Err(ProxyError::EntityTooLarge);
    }
    // Reserve quota before any byte moves (a refusal here also refuses `Expect: 100-continue`),
    // except for a body of unstated length, which had to be read first to learn its size.
    let content_type = meta.content_type.clone();
    let placed = NewVersion::place(ctx, bucket, key, len, content_type, integrity_headers(ctx)).await?;
    if !placed.etag_is_md5() {
        body.compute_md5();
    }
    let stored = {
        let mut src = UploadSource::new(&mut *io, &mut *body, &mut whole);
        placed.store(ctx.core, len, &mut src).await
    };
    drop(whole);
    let stored = stored?;
    meta.size = len;
    let version_id = stored
        .commit(ctx.core, bucket, key, &mut meta, &condition, body.digests())
        .await?;
    let mut head = base_head(200, ctx.rid).header("etag", &meta.etag).content_length(0);
    if let Some(id) = version_id {
        head.push("x-amz-version-id", id);
    }
    for (alg, v) in &meta.checksums {
        head.push(format!("x-amz-checksum-{alg}"), v);
    }
    let day_secs = ctx.core.shared.cfg.lifecycle.day_secs;
    if let Some(v) = crate::s3::lifecycle::expiration_header(&bucket_meta, key, &meta, day_secs) {
        head.push("x-amz-expiration", v);
    }
    io.respond(&head, &[]).await
}

/// Parses a single `Range: bytes=...` against `size`. `Ok(None)`: no (usable) range, serve all.
pub fn parse_range(value: &str, size: u64) -> Result<Option<ByteRange>, ProxyError> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multiple ranges: S3 serves the whole object.
        return Ok(None);
    }
    // A syntactically invalid range is ignored (RFC 9110 §14.2): the whole object is served.
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    // Digits only (RFC 9110 §14.1.1); a number past u64 is past any object, so it saturates: a
    // first byte beyond every object is unsatisfiable (416), a last byte or suffix that large
    // means "to the end" / "the whole object".
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse::<u64>().unwrap_or(u64::MAX))
    };
    let range = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => {
            let Some(n) = num(b) else { return Ok(None) };
            if n == 0 || size == 0 {
                return Err(ProxyError::InvalidRange);
            }
            ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }
        }
        (false, _) => {
            let Some(start) = num(a) else { return Ok(None) };
            let end = if b.is_empty() { Some(u64::MAX) } else { num(b) };
            let Some(end) = end else { return Ok(None) };
            if start >= size {
                return Err(ProxyError::InvalidRange);
            }
            let end = end.min(size - 1);
            if end < start {
                // `a-b` with b < a is syntactically invalid: ignored, like S3.
                return Ok(None);
            }
            ByteRange { start, end }
        }
    };
    Ok(Some(range))
}

/// Evaluates If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since.
/// `Ok(true)`: answer 304 Not Modified.
fn preconditions(ctx: &Ctx<'_>, meta: &ObjectMeta) -> Result<bool, ProxyError> {
    let etag_matches = |v: &str| {
        v.split(',')
            .map(str::trim)
            .map(|t| t.strip_prefix("W/").unwrap_or(t))
            .any(|t| t == "*" || t.trim_matches('"') == meta.etag.trim_matches('"'))
    };
    let modified = (meta.last_modified_ms / 1000) as i64;
    if let Some(v) = ctx.head.header("if-match") {
        if !etag_matches(v) {
            return Err(ProxyError::PreconditionFailed);
        }
    } else if let Some(t) = ctx.head.header("if-unmodified-since").and_then(parse_http_date) {
        if modified > t {
            return Err(ProxyError::PreconditionFailed);
        }
    }
    if let Some(v) = ctx.head.header("if-none-match") {
        return Ok(etag_matches(v));
    }
    if let Some(t) = ctx.head.header("if-modified-since").and_then(parse_http_date) {
        return Ok(modified <= t);
    }
    Ok(false)
}

/// What of an object a GET or HEAD returns: all of it, a range, or one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// The whole object.
    Whole,
    /// A byte range.
    Range,
    /// Part `n` (1-based).
    Part(u32),
}

/// The headers describing a stored object.
fn object_headers(ctx: &Ctx<'_>, q: &[(String, String)], head: &mut ResponseHead, meta: &ObjectMeta, served: Served) {
    let over = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    head.push("etag", &meta.etag);
    head.push("last-modified", http_date((meta.last_modified_ms / 1000) as i64));
    head.push("accept-ranges", "bytes");
    let fields: [(&'static str, &str, &Option<String>); 5] = [
        ("content-type", "response-content-type", &meta.content_type),
        ("content-encoding", "response-content-encoding", &meta.content_encoding),
        (
            "content-disposition",
            "response-content-disposition",
            &meta.content_disposition,
        ),
        ("cache-control", "response-cache-control", &meta.cache_control),
        ("expires", "response-expires", &meta.expires),
    ];
    for (name, param, stored) in fields {
        if let Some(v) = over(param).or(stored.as_deref()) {
            head.push(name, v);
        }
    }
    if let Some(v) = over("response-content-language") {
        head.push("content-language", v);
    }
    for (n, v) in &meta.user_meta {
        head.push(format!("x-amz-meta-{n}"), rfc2047::encode(v));
    }
    let checksum_mode = ctx
        .head
        .header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"));
    if !checksum_mode || meta.checksums.is_empty() {
        return;
    }
    match served {
        Served::Whole => {
            for (alg, v) in &meta.checksums {
                head.push(format!("x-amz-checksum-{alg}"), v);
            }
        }
        Served::Part(n) => {
            // A part of a multipart object carries its own checksum; part 1 of a single-PUT
            // object is the whole object.
            let own = usize::try_from(n)
                .ok()
                .and_then(|n| meta.part_checksums.get(n.wrapping_sub(1)));
            match (own, meta.parts.is_empty()) {
                (Some(v), _) => {
                    if let Some((alg, _)) = meta.checksums.first() {
                        head.push(format!("x-amz-checksum-{alg}"), v);
                    }
                }
                (None, true) => {
                    for (alg, v) in &meta.checksums {
                        head.push(format!("x-amz-checksum-{alg}"), v);
                    }
                }
                (None, false) => return,
            }
        }
        Served::Range => return,
    }
    match &meta.checksum_type {
        Some(t) => head.push("x-amz-checksum-type", t),
        // A single PUT's checksum covers the whole object.
        None if meta.parts.is_empty() => head.push("x-amz-checksum-type", "FULL_OBJECT"),
        None => {}
    }
}

/// GetObject (`with_body`) and HeadObject of `(bucket, key, version)` (the latest without a
/// version id).
pub async fn get_object(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    (bucket, key, version): (&str, &str, Option<&str>),
    part_number: Option<u32>,
    with_body: bool,
) -> Result<(), ProxyError> {
    let query = crate::endpoint::parse_query(&ctx.head.query);
    let meta = crate::s3::versioning::resolve(ctx, bucket, key, version).await?;
    if preconditions(ctx, &meta)? {
        let mut head = base_head(304, ctx.rid);
        head.push("etag", &meta.etag);
        head.push("last-modified", http_date((meta.last_modified_ms / 1000) as i64));
        return io.respond(&head, &[]).await;
    }
    let range = match (ctx.head.header("range"), part_number) {
        (Some(_), Some(_)) => {
            return Err(ProxyError::InvalidRequest(
                "Cannot specify both Range header and partNumber query parameter".into(),
            ))
        }
        (None, Some(n)) => part_range(&meta, n)?,
        (Some(r), None) => match parse_range(r, meta.size) {
            Ok(r) => r,
            Err(e) => {
                // 416 says how large the object is; HEAD gets no body.
                let (mut head, body) = error_response(&e, &ctx.head.path, ctx.rid, true);
                head.push("content-range", format!("bytes */{}", meta.size));
                return io.respond(&head, if with_body { &body } else { &[] }).await;
            }
        },
        (None, None) => None,
    };
    let (status, len) = match (range, part_number) {
        (Some(r), _) => (206, r.len()),
        (None, Some(_)) if !meta.parts.is_empty() => (206, 0),
        (None, _) => (200, meta.size),
    };
    let mut head = base_head(status, ctx.rid).content_length(len);
    if let Some(r) = range {
        head.push("content-range", format!("bytes {}-{}/{}", r.start, r.end, meta.size));
    }
    if part_number.is_some() && !meta.parts.is_empty() {
        head.push("x-amz-mp-parts-count", decimal(meta.parts.len() as u64));
    }
    if !meta.tags.is_empty() {
        head.push("x-amz-tagging-count", decimal(meta.tags.len() as u64));
    }
    crate::s3::versioning::version_header(&mut head, &meta, version.is_some());
    crate::s3::lock::lock_headers(&mut head, &meta);
    if let Some(b) = ctx.permit.bucket(bucket).filter(|_| version.is_none()) {
        let day_secs = ctx.core.shared.cfg.lifecycle.day_secs;
        if let Some(v) = crate::s3::lifecycle::expiration_header(&b.meta, key, &meta, day_secs) {
            head.push("x-amz-expiration", v);
        }
    }
    let served = match (part_number, range) {
        (Some(n), _) => Served::Part(n),
        (None, Some(_)) => Served::Range,
        (None, None) => Served::Whole,
    };
    object_headers(ctx, &query, &mut head, &meta, served);
    if !with_body || len == 0 {
        return io.respond(&head, &[]).await;
    }
    let cache = &ctx.core.shared.cache;
    let cacheable = part_number.is_none() && cache.wants(meta.size);
    if cacheable {
        let counters = &ctx.core.shared.metrics.integrity;
        if let Some(body) = cache.get(bucket, key, meta.version, &meta.etag) {
            crate::integrity::IntegrityCounters::bump(&counters.cache_hits);
            let body = match range {
                Some(r) => body.slice(usize::try_from(r.start).unwrap_or(0)..=usize::try_from(r.end).unwrap_or(0)),
                None => body,
            };
            return io.respond(&head, &body).await;
        }
        crate::integrity::IntegrityCounters::bump(&counters.cache_misses);
    }
    // Only a whole read fills the cache (a range is served from an entry, never makes one).
    let filling = cacheable && range.is_none();
    // Open the first copy that answers (failover across replicas); only then commit to a status.
    let mut stream = crate::s3::read::open_copy(ctx.core, &ctx.snap, (bucket, key), &meta, range).await?;
    // The head, the body bytes that came with the backend's head, and the rest of a small body
    // go out in one write (one send, one wakeup of the client).
    let buffered = stream.take_buffered();
    let mut out = Vec::with_capacity(1024 + buffered.len());
    head.write_to_with(&mut out, &io.cors);
    let head_len = out.len();
    out.extend_from_slice(&buffered);
    if len <= SMALL_BODY {
        out.reserve(usize::try_from(stream.remaining()).unwrap_or(0));
        let mut buf = Vec::with_capacity(usize::try_from(stream.remaining()).unwrap_or(0));
        while stream.remaining() > 0 {
            let (res, b) = stream.read(buf).await;
            res?;
            out.extend_from_slice(&b);
            buf = b;
        }
        if filling {
            let body = bytes::Bytes::copy_from_slice(&out[head_len..]);
            cache.put(bucket, key, meta.version, &meta.etag, body);
        }
        io.write(out).await?;
        return Ok(());
    }
    let mut kept = filling.then(|| Vec::with_capacity(usize::try_from(len).unwrap_or(0)));
    if let Some(k) = &mut kept {
        k.extend_from_slice(&out[head_len..]);
    }
    io.write(out).await?;
    // Two buffers: the next piece is read from the backend while the last one is written to the
    // client, so neither side waits for the other.
    let cap = usize::try_from(stream.remaining()).unwrap_or(BODY_BUF).min(BODY_BUF);
    let (res, mut full) = stream.read(Vec::with_capacity(cap)).await;
    res?;
    let mut spare = Vec::with_capacity(cap.min(usize::try_from(stream.remaining()).unwrap_or(cap)));
    while !full.is_empty() {
        if let Some(k) = &mut kept {
            k.extend_from_slice(&full);
        }
        let (written, (res, next)) = monoio::join!(io.write(full), stream.read(spare));
        spare = written?;
        res?;
        full = next;
    }
    if let Some(k) = kept {
        cache.put(bucket, key, meta.version, &meta.etag, bytes::Bytes::from(k));
    }
    Ok(())
}
