//! PostObject: browser form uploads (`POST /bucket`, `multipart/form-data`). The request head
//! carries no signature; the form does. [`post_object`] reads the fields before the `file`
//! part (bounded, [`form`]), authenticates the form's signed policy (SigV4 or SigV2, the sigv4
//! crate's `verify_post`; a form with neither signature nor policy is unsigned, which the
//! bucket's ACL must let write), authorizes the credential as for a PUT, checks the policy
//! ([`policy`]), then streams the file part through the same [`NewVersion`] seam as PutObject
//! (placement and quota reservation first, a fresh physical key, verification, one durable
//! commit) and answers as `success_action_status` / `success_action_redirect` ask.
//!
//! Every backend needs an upload's length before its first byte, and a form does not state its
//! file's length. A file that follows the fields and ends the form is everything between its
//! part head and the closing delimiter with the CRLF browsers and curl end a form with, so its
//! length is known from `Content-Length` and is streamed; the decoder then checks that the
//! delimiter is exactly there before the object is committed. A form whose rest is at most
//! [`BUFFERED_FILE_MAX`] bytes (or has no `Content-Length`) is read into memory first, so any
//! layout S3 accepts (fields after the file, no final CRLF) works for small uploads.

pub mod form;
pub mod policy;
mod source;

use std::sync::Arc;

use bytes::BytesMut;
use s3o_sigv4::{BodyCheck, ChecksumAlgorithm, Payload, PostCredentials};
use s3o_store::WriteCondition;

use crate::client::{ClientIo, RequestBody};
use crate::config::CredentialConfig;
use crate::endpoint::Endpoint;
use crate::error::ProxyError;
use crate::http::{BodyKind, RequestHead};
use crate::s3::object::{meta_from_fields, NewVersion, MAX_KEY_BYTES, MAX_PUT_SIZE};
use crate::s3::reply::base_head;
use crate::s3::{authorize, require_bucket, Ctx};
use crate::state::Core;
use form::{Event, FormDecoder};
use policy::Policy;
use source::{FileSource, FormReader, WholeFile};

/// A file whose form has at most this many bytes left is read whole first, to learn its exact
/// length: one body buffer (`BODY_BUF`), what a streamed upload holds in memory anyway.
pub const BUFFERED_FILE_MAX: u64 = crate::backend::BODY_BUF as u64;
/// Most bytes of the form after the file read and dropped before the answer (ignored fields).
const MAX_AFTER_FILE: u64 = 64 * 1024;

/// The form up to its file part.
struct Form {
    /// (lowercase name, value) of every field before the file, `key` substituted.
    fields: Vec<(String, String)>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Serves `POST /bucket` with a form; `Ok(true)` when the body was read to its end.
pub async fn post_object(
    core: &Core,
    io: &mut ClientIo,
    head: &RequestHead,
    rid: &str,
    bucket: &str,
    virtual_host: bool,
) -> Result<bool, ProxyError> {
    let kind = BodyKind::from_head(head)?;
    let boundary = head
        .header("content-type")
        .and_then(form::boundary)
        .ok_or(ProxyError::MalformedPostRequest(
            "the Content-Type must be multipart/form-data with a boundary",
        ))?;
    let mut body = RequestBody::new(kind, &Payload::Unsigned, None, None, head.expect_continue())?;
    let mut reader = FormReader {
        decoder: FormDecoder::new(boundary),
        buf: BytesMut::new(),
    };
    let form = read_fields(&mut reader, io, &mut body).await?;
    let snap = core.snapshot();
    // A form with no signature and no policy is an unsigned upload, which only a bucket
    // writable by everyone (its ACL) takes.
    let unsigned = [
        "x-amz-algorithm",
        "x-amz-signature",
        "awsaccesskeyid",
        "signature",
        "policy",
    ]
    .iter()
    .all(|f| form.get(f).is_none());
    let who = if unsigned {
        crate::s3::public_identity()
    } else {
        authenticate(core, &snap, &form)?
    };
    let endpoint = Endpoint::PostObject {
        bucket: bucket.to_string(),
    };
    authorize(core, &who, &endpoint)?;
    let origin = crate::s3::permit::Origin {
        head,
        form: Some(&form.fields),
        peer: io.stream.peer_ip(),
        secure: io.stream.is_tls(),
    };
    let mut permit = crate::s3::permit::permit(core, &who, &endpoint, Default::default(), origin).await?;
    let policy = match unsigned {
        true => None,
        false => Some(Policy::parse(form.get("policy").unwrap_or_default())?),
    };
    let key = form.get("key").map(str::to_string).unwrap_or_default();
    if key.is_empty() {
        return Err(ProxyError::InvalidArgument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."
                .into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ProxyError::KeyTooLong);
    }
    // The key is known only now: a bucket policy judges the upload by it.
    permit.set_key(&key);
    permit.entry(core, bucket, &key, "s3:PutObject", false)?;
    if let Some(policy) = &policy {
        policy.check(&form.fields, bucket, crate::clock::unix_now())?;
    }
    let ctx = Ctx {
        core,
        head,
        rid,
        who,
        snap,
        https: io.stream.is_tls(),
        virtual_host,
        permit,
    };
    let bucket_meta = require_bucket(&ctx, bucket).await?;
    let mut meta = meta_from_fields(form.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    (meta.owner, meta.grants) =
        crate::s3::acl::new_version_acl(&ctx, &bucket_meta, crate::s3::acl::AclSource::Form(form.get("acl"))).await?;
    if let Some(doc) = form.get("tagging") {
        let mut tags = crate::xml::parse_tagging(doc.as_bytes()).map_err(|_| ProxyError::MalformedXml)?;
        crate::s3::tagging::validate_tags(&tags)?;
        tags.sort();
        meta.tags = tags;
    }
    let mut check = BodyCheck::new();
    let integrity = expect_checksum(&form, &mut check)?;
    let (min, max) = policy
        .as_ref()
        .and_then(Policy::length_range)
        .unwrap_or((0, MAX_PUT_SIZE));
    let max = max.min(MAX_PUT_SIZE);
    // What is left of a sized body once the file's part head was read.
    let rest = match kind {
        BodyKind::Length(n) => n.checked_sub(reader.decoder.consumed()),
        _ => None,
    };
    let streamed = rest
        .filter(|&r| r > BUFFERED_FILE_MAX)
        .map(|r| r.saturating_sub(reader.decoder.closing_len()));
    let content_type = meta.content_type.clone();
    let (len, stored, digests) = match streamed {
        Some(len) => {
            // The length is known before any byte moves: the range is checked up front, and
            // again while streaming.
            if len > max {
                return Err(ProxyError::EntityTooLarge);
            }
            if len < min {
                return Err(ProxyError::EntityTooSmall);
            }
            let placed = NewVersion::place(&ctx, bucket, &key, len, content_type, integrity).await?;
            if !placed.etag_is_md5() {
                check.compute_md5();
            }
            let mut src = FileSource::new(&mut reader, io, &mut body, check, len, (min, max));
            let stored = placed.store(core, len, &mut src).await?;
            match src.finish().await {
                Ok(d) => (len, stored, d),
                Err(e) => {
                    stored.abandon(core).await;
                    return Err(e);
                }
            }
        }
        None => {
            check.compute_md5();
            let whole = WholeFile::read(&mut reader, io, &mut body, check, (min, max), BUFFERED_FILE_MAX).await?;
            let len = whole.len();
            let (mut src, digests) = whole.into_source();
            let placed = NewVersion::place(&ctx, bucket, &key, len, content_type, integrity).await?;
            (len, placed.store(core, len, &mut src).await?, digests)
        }
    };
    // The rest of the form (the closing delimiter, ignored fields) must be well-formed before
    // the object becomes visible.
    if let Err(e) = reader.finish(io, &mut body, MAX_AFTER_FILE).await {
        stored.abandon(core).await;
        return Err(e);
    }
    meta.size = len;
    stored
        .commit(core, bucket, &key, &mut meta, &WriteCondition::None, Some(&digests))
        .await?;
    respond(&ctx, io, &form, bucket, &key, &meta.etag).await?;
    Ok(body.is_done())
}

/// Reads the form up to the first byte of its file; every field name lowercase, `${filename}`
/// in `key` replaced by the file's name.
async fn read_fields(reader: &mut FormReader, io: &mut ClientIo, body: &mut RequestBody) -> Result<Form, ProxyError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        match reader.next_event(io, body).await? {
            Event::Field { name, value } => {
                let name = name.to_ascii_lowercase();
                if !fields.iter().any(|(n, _)| *n == name) {
                    fields.push((name, value));
                }
            }
            Event::File { filename, .. } => {
                let file = filename.as_deref().unwrap_or_default();
                for (n, v) in &mut fields {
                    if n == "key" {
                        *v = v.replace("${filename}", file);
                    }
                }
                return Ok(Form { fields });
            }
            Event::End => return Err(ProxyError::IncorrectNumberOfFiles),
            Event::Data(_) | Event::FileEnd => {
                return Err(ProxyError::Internal("file data before the file part".into()))
            }
        }
    }
}

/// The credential that signed the form's policy (a policy without a signature: AccessDenied;
/// a form with neither is unsigned and never reaches here).
fn authenticate(core: &Core, snap: &crate::live::Snapshot, form: &Form) -> Result<Arc<CredentialConfig>, ProxyError> {
    let missing = |field: &str| {
        ProxyError::InvalidArgument(format!(
            "Bucket POST must contain a field named '{field}'.  If it is specified, please check the order of the fields."
        ))
    };
    let v4 = form.get("x-amz-algorithm").is_some() || form.get("x-amz-signature").is_some();
    let v2 = form.get("awsaccesskeyid").is_some() || form.get("signature").is_some();
    let auth = if v4 {
        PostCredentials::V4 {
            algorithm: form.get("x-amz-algorithm").ok_or_else(|| missing("x-amz-algorithm"))?,
            credential: form
                .get("x-amz-credential")
                .ok_or_else(|| missing("x-amz-credential"))?,
            date: form.get("x-amz-date").ok_or_else(|| missing("x-amz-date"))?,
            signature: form.get("x-amz-signature").ok_or_else(|| missing("x-amz-signature"))?,
        }
    } else if v2 {
        PostCredentials::V2 {
            access_key: form.get("awsaccesskeyid").ok_or_else(|| missing("AWSAccessKeyId"))?,
            signature: form.get("signature").ok_or_else(|| missing("Signature"))?,
        }
    } else {
        return Err(ProxyError::AccessDenied);
    };
    let policy = form.get("policy").ok_or_else(|| missing("policy"))?;
    let (who, _) = core.verifier.verify_post(policy, auth, snap)?;
    Ok(who)
}

/// Sets `check` to verify the file against an `x-amz-checksum-<alg>` field; the digests to
/// forward to the backend.
fn expect_checksum(form: &Form, check: &mut BodyCheck) -> Result<Vec<(String, String)>, ProxyError> {
    let mut sums = form
        .fields
        .iter()
        .filter_map(|(n, v)| ChecksumAlgorithm::from_header_name(n).map(|a| (a, n, v)));
    let Some((alg, name, value)) = sums.next() else {
        return Ok(Vec::new());
    };
    if sums.next().is_some() {
        return Err(ProxyError::InvalidRequest(
            "Expecting a single x-amz-checksum- header".into(),
        ));
    }
    check.expect_checksum(alg, alg.decode_value(value.trim().as_bytes())?);
    Ok(vec![(name.clone(), value.trim().to_string())])
}

/// Answers a stored upload: a redirect, `PostResponse` XML (201), or an empty 200 or 204.
async fn respond(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    form: &Form,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<(), ProxyError> {
    use s3o_sigv4::encode::uri_encode;
    let redirect = form
        .get("success_action_redirect")
        .or_else(|| form.get("redirect"))
        .filter(|u| !u.is_empty());
    if let Some(url) = redirect {
        let sep = if url.contains('?') { '&' } else { '?' };
        let location = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            uri_encode(bucket.as_bytes(), false),
            uri_encode(key.as_bytes(), false),
            uri_encode(etag.as_bytes(), false)
        );
        let head = base_head(303, ctx.rid)
            .header("location", location)
            .header("etag", etag)
            .content_length(0);
        return io.respond(&head, &[]).await;
    }
    let location = ctx.object_url(bucket, key);
    let status = match form.get("success_action_status") {
        Some("200") => 200,
        Some("201") => 201,
        _ => 204,
    };
    let head = base_head(status, ctx.rid)
        .header("etag", etag)
        .header("location", &location);
    if status != 201 {
        return io.respond(&head.content_length(0), &[]).await;
    }
    let doc = crate::xml::PostResponse {
        location: &location,
        bucket,
        key,
        etag,
    };
    let xml = crate::xml::XmlBody::to_vec(&doc);
    let head = head
        .header("content-type", "application/xml")
        .content_length(xml.len() as u64);
    io.respond(&head, &xml).await
}
