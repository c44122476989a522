//! The S3 layer: turn a request head into an [`Endpoint`], authenticate it, authorize it, set up
//! the body reader, and run the operation's handler. Handlers are reached from one `match`.

pub mod bucket;
pub mod list;
pub mod object;
pub mod placement;

use std::sync::Arc;

use s3o_sigv4::{ChecksumAlgorithm, RequestParts};

use crate::client::{ClientIo, RequestBody};
use crate::config::{Access, CredentialConfig};
use crate::endpoint::Endpoint;
use crate::error::ProxyError;
use crate::http::{BodyKind, RequestHead};
use crate::state::Core;

/// Everything a handler needs about the request it serves.
pub struct Ctx<'a> {
    /// This core.
    pub core: &'a Core,
    /// The request head.
    pub head: &'a RequestHead,
    /// The request id.
    pub rid: &'a str,
    /// The authenticated caller.
    pub who: Arc<CredentialConfig>,
}

/// Serves one request. Returns whether the request body was fully consumed (so the connection
/// can carry another request).
pub async fn handle(core: &Core, io: &mut ClientIo, head: &RequestHead, rid: &str) -> Result<bool, ProxyError> {
    let method = head.method.as_str();
    let endpoint = Endpoint::from_request(method, &head.path, &head.query, head)?;
    let parts = RequestParts {
        method,
        path: head.path.as_bytes(),
        query: head.query.as_bytes(),
        headers: &head.headers,
    };
    let verified = core
        .verifier
        .verify(&parts, &*core.shared, crate::clock::unix_now())?
        .ok_or(ProxyError::AccessDenied)?;
    authorize(&verified.identity, &endpoint)?;
    let kind = BodyKind::from_head(head)?;
    let mut body = RequestBody::new(
        kind,
        &verified.payload,
        head.header("content-md5"),
        checksum_header(head),
        head.expect_continue() && kind != BodyKind::Empty,
    )?;
    if let Endpoint::NotImplemented { operation } = endpoint {
        return Err(ProxyError::NotImplemented(operation));
    }
    if kind != BodyKind::Empty && !takes_body(&endpoint) {
        // S3 ignores a body where the operation has none; read it so keep-alive stays in step.
        body.drain(io, IGNORED_BODY_LIMIT).await?;
    }
    let ctx = Ctx {
        core,
        head,
        rid,
        who: verified.identity,
    };
    match endpoint {
        Endpoint::ListBuckets => bucket::list_buckets(&ctx, io).await?,
        Endpoint::CreateBucket { bucket } => bucket::create_bucket(&ctx, io, &mut body, &bucket).await?,
        Endpoint::DeleteBucket { bucket } => bucket::delete_bucket(&ctx, io, &bucket).await?,
        Endpoint::HeadBucket { bucket } => bucket::head_bucket(&ctx, io, &bucket).await?,
        Endpoint::GetBucketLocation { bucket } => bucket::get_bucket_location(&ctx, io, &bucket).await?,
        Endpoint::ListObjects { bucket } => list::list_objects(&ctx, io, &bucket, false).await?,
        Endpoint::ListObjectsV2 { bucket } => list::list_objects(&ctx, io, &bucket, true).await?,
        Endpoint::PutObject { bucket, key } => object::put_object(&ctx, io, &mut body, &bucket, &key).await?,
        Endpoint::GetObject { bucket, key } => object::get_object(&ctx, io, &bucket, &key, true).await?,
        Endpoint::HeadObject { bucket, key } => object::get_object(&ctx, io, &bucket, &key, false).await?,
        Endpoint::DeleteObject { bucket, key } => object::delete_object(&ctx, io, &bucket, &key).await?,
        Endpoint::DeleteObjects { bucket } => object::delete_objects(&ctx, io, &mut body, &bucket).await?,
        Endpoint::NotImplemented { operation } => return Err(ProxyError::NotImplemented(operation)),
    }
    Ok(kind == BodyKind::Empty || body.is_done())
}

/// Largest body read and ignored on an operation that takes none (GET, HEAD, DELETE, ...).
const IGNORED_BODY_LIMIT: u64 = 64 * 1024;

/// Whether the operation reads a request body.
fn takes_body(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::PutObject { .. } | Endpoint::CreateBucket { .. } | Endpoint::DeleteObjects { .. }
    )
}

/// The `x-amz-checksum-<alg>` header of a request, if any.
fn checksum_header(head: &RequestHead) -> Option<(ChecksumAlgorithm, &str)> {
    head.headers
        .iter()
        .find_map(|(n, v)| ChecksumAlgorithm::from_header_name(n).map(|a| (a, v.as_str())))
}

/// Whether the caller may run `endpoint` (answered locally, before any backend is touched).
fn authorize(who: &CredentialConfig, endpoint: &Endpoint) -> Result<(), ProxyError> {
    let write = who.access == Access::ReadWrite;
    let ok = match endpoint {
        Endpoint::ListBuckets | Endpoint::NotImplemented { .. } => true,
        Endpoint::CreateBucket { bucket } | Endpoint::DeleteBucket { bucket } => {
            write && who.create_buckets && who.may_use(bucket)
        }
        Endpoint::HeadBucket { bucket }
        | Endpoint::GetBucketLocation { bucket }
        | Endpoint::ListObjects { bucket }
        | Endpoint::ListObjectsV2 { bucket }
        | Endpoint::GetObject { bucket, .. }
        | Endpoint::HeadObject { bucket, .. } => who.may_use(bucket),
        Endpoint::PutObject { bucket, .. }
        | Endpoint::DeleteObject { bucket, .. }
        | Endpoint::DeleteObjects { bucket } => write && who.may_use(bucket),
    };
    if ok {
        Ok(())
    } else {
        Err(ProxyError::AccessDenied)
    }
}

/// Reads a small request body (XML documents) whole, up to `limit` bytes.
pub async fn read_small_body(io: &mut ClientIo, body: &mut RequestBody, limit: usize) -> Result<Vec<u8>, ProxyError> {
    let mut out = Vec::new();
    while let Some(piece) = body.next_verified(io).await? {
        if out.len() + piece.len() > limit {
            return Err(ProxyError::InvalidArgument(format!(
                "request body larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// Fails with NoSuchBucket unless `bucket` exists.
pub fn require_bucket(ctx: &Ctx<'_>, bucket: &str) -> Result<s3o_store::BucketMeta, ProxyError> {
    ctx.core.shared.store.bucket(bucket)?.ok_or(ProxyError::NoSuchBucket)
}
