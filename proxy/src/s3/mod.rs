//! The S3 layer: turn a request head into an [`Endpoint`], authenticate it, authorize it, set up
//! the body reader, and run the operation's handler. Handlers are reached from one `match`, one
//! file per concern (buckets, listings, objects, copies, multipart uploads, tagging, browser POST
//! uploads, new versions); replies and
//! error responses are written through [`reply`].

pub mod acl;
pub mod bucket;
pub mod copy;
pub mod cors;
pub mod lifecycle;
pub mod list;
pub mod lock;
pub mod multipart;
pub mod object;
pub mod permit;
pub mod placement;
pub mod policy;
pub mod post;
pub mod read;
pub mod reply;
pub mod tagging;
pub mod version;
pub mod versioning;
pub mod view;

use std::sync::Arc;

use s3o_sigv4::{ChecksumAlgorithm, RequestParts};

use crate::access::DenyReason;
use crate::client::{ClientIo, RequestBody};
use crate::config::{Access, CredentialConfig};
use crate::endpoint::{Access as EndpointAccess, Endpoint};
use crate::error::ProxyError;
use crate::http::{BodyKind, RequestHead};
use crate::live::Snapshot;
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
    /// The live state this request runs under, from its start to its end.
    pub snap: Arc<Snapshot>,
    /// Whether the request came over TLS (`tls_listen`).
    pub https: bool,
    /// Whether the Host named the bucket (virtual-hosted style).
    pub virtual_host: bool,
    /// The caller's standing in the buckets the request touches (ACL checks of objects).
    pub permit: permit::Permit,
}

impl Ctx<'_> {
    /// The URL of `key` in `bucket` as the client addressed this endpoint (scheme, Host as
    /// sent, and the bucket in the path only in path style).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = self.head.header("host").unwrap_or("localhost");
        let key = s3o_sigv4::encode::uri_encode(key.as_bytes(), true);
        if self.virtual_host {
            format!("{scheme}://{host}/{key}")
        } else {
            format!("{scheme}://{host}/{bucket}/{key}")
        }
    }
}

/// Serves one request. Returns whether the request body was fully consumed (so the connection
/// can carry another request).
pub async fn handle(core: &Core, io: &mut ClientIo, head: &RequestHead, rid: &str) -> Result<bool, ProxyError> {
    let method = head.method.as_str();
    let domains = &core.shared.cfg.server.domains;
    let host_bucket = head
        .header("host")
        .and_then(|h| crate::endpoint::host_bucket(h, domains));
    let virtual_host = host_bucket.is_some();
    // SigV4 below signs the path and Host as sent, whichever style names the bucket.
    let endpoint = Endpoint::from_request_in(method, host_bucket, &head.path, &head.query, head)?;
    io.operation = endpoint.name();
    if let Endpoint::PreflightRequest { bucket, .. } = &endpoint {
        // A browser's preflight carries no credentials: answered from the bucket's CORS rules.
        let kind = BodyKind::from_head(head)?;
        cors::preflight(core, io, head, rid, bucket).await?;
        return Ok(kind == BodyKind::Empty);
    }
    if head.header("origin").is_some() {
        if let Some(bucket) = endpoint.bucket() {
            io.cors = cors::actual_lines(core, head, bucket).await?;
        }
    }
    if let Endpoint::PostObject { bucket } = &endpoint {
        // A form upload is authenticated by the form's signed policy, not by the head.
        return post::post_object(core, io, head, rid, bucket, virtual_host).await;
    }
    let parts = RequestParts {
        method,
        path: head.path.as_bytes(),
        query: head.query.as_bytes(),
        headers: &head.headers,
        path_style: !virtual_host,
    };
    let snap = core.snapshot();
    let mutation = matches!(endpoint.access(), EndpointAccess::Write | EndpointAccess::Manage);
    if mutation && core.shared.access.get().is_some() {
        io.audit = Some(crate::access::AuditNote {
            who: String::new(),
            bucket: endpoint.bucket().unwrap_or_default().to_owned(),
            key: endpoint.key().unwrap_or_default().to_owned(),
        });
    }
    let (who, payload) = match core.verifier.verify(&parts, &*snap, crate::clock::unix_now())? {
        Some(v) => (v.identity, v.payload),
        None => {
            plain_unsigned_body(head)?;
            (anonymous(core, io, &endpoint, &snap)?, s3o_sigv4::Payload::Unsigned)
        }
    };
    if let Some(note) = &mut io.audit {
        note.who.clone_from(&who.access_key);
    }
    authorize(core, &who, &endpoint)?;
    let expected = permit::ExpectedOwners {
        own: head.header("x-amz-expected-bucket-owner"),
        source: head.header("x-amz-source-expected-bucket-owner"),
    };
    let origin = permit::Origin {
        head,
        form: None,
        peer: io.stream.peer_ip(),
        secure: io.stream.is_tls(),
    };
    let permit = permit::permit(core, &who, &endpoint, expected, origin).await?;
    let kind = BodyKind::from_head(head)?;
    let mut body = RequestBody::new(
        kind,
        &payload,
        head.header("content-md5"),
        // CompleteMultipartUpload's checksum header describes the object, not its XML body.
        checksum_header(head).filter(|_| !matches!(endpoint, Endpoint::CompleteMultipartUpload { .. })),
        // `100 Continue` goes out even before an empty body: botocore, having seen a final answer
        // instead, keeps state that garbles the next response on the same connection.
        head.expect_continue(),
    )?;
    if let Endpoint::NotImplemented { operation } = endpoint {
        return Err(ProxyError::NotImplemented(operation));
    }
    if kind != BodyKind::Empty && !endpoint.takes_body() {
        // S3 ignores a body where the operation has none; read it so keep-alive stays in step.
        body.drain(io, IGNORED_BODY_LIMIT).await?;
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
    let b = &mut body;
    match endpoint {
        Endpoint::ListBuckets => bucket::list_buckets(&ctx, io).await?,
        Endpoint::CreateBucket { bucket } => bucket::create_bucket(&ctx, io, b, &bucket).await?,
        Endpoint::DeleteBucket { bucket } => bucket::delete_bucket(&ctx, io, &bucket).await?,
        Endpoint::HeadBucket { bucket } => bucket::head_bucket(&ctx, io, &bucket).await?,
        Endpoint::GetBucketLocation { bucket } => bucket::get_bucket_location(&ctx, io, &bucket).await?,
        Endpoint::ListObjects { bucket } => list::list_objects(&ctx, io, &bucket, false).await?,
        Endpoint::ListObjectsV2 { bucket } => list::list_objects(&ctx, io, &bucket, true).await?,
        Endpoint::ListMultipartUploads { bucket } => multipart::list_uploads(&ctx, io, &bucket).await?,
        Endpoint::PutObject { bucket, key } => object::put_object(&ctx, io, b, &bucket, &key).await?,
        Endpoint::CopyObject { bucket, key, source } => copy::copy_object(&ctx, io, &bucket, &key, &source).await?,
        Endpoint::GetObject {
            bucket,
            key,
            part_number,
            version,
        } => object::get_object(&ctx, io, (&bucket, &key, version.as_deref()), part_number, true).await?,
        Endpoint::HeadObject {
            bucket,
            key,
            part_number,
            version,
        } => object::get_object(&ctx, io, (&bucket, &key, version.as_deref()), part_number, false).await?,
        Endpoint::GetObjectAttributes { bucket, key, version } => {
            tagging::get_attributes(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::DeleteObject { bucket, key, version } => {
            versioning::delete_object(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::DeleteObjects { bucket } => versioning::delete_objects(&ctx, io, b, &bucket).await?,
        Endpoint::GetObjectTagging { bucket, key, version } => {
            tagging::get_tagging(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::PutObjectTagging { bucket, key, version } => {
            tagging::put_tagging(&ctx, io, b, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::DeleteObjectTagging { bucket, key, version } => {
            tagging::delete_tagging(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::GetBucketVersioning { bucket } => versioning::get_bucket_versioning(&ctx, io, &bucket).await?,
        Endpoint::PutBucketVersioning { bucket } => versioning::put_bucket_versioning(&ctx, io, b, &bucket).await?,
        Endpoint::ListObjectVersions { bucket } => versioning::list_object_versions(&ctx, io, &bucket).await?,
        Endpoint::GetObjectLockConfiguration { bucket } => lock::get_configuration(&ctx, io, &bucket).await?,
        Endpoint::PutObjectLockConfiguration { bucket } => lock::put_configuration(&ctx, io, b, &bucket).await?,
        Endpoint::GetObjectRetention { bucket, key, version } => {
            lock::get_retention(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::PutObjectRetention { bucket, key, version } => {
            lock::put_retention(&ctx, io, b, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::GetObjectLegalHold { bucket, key, version } => {
            lock::get_legal_hold(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::PutObjectLegalHold { bucket, key, version } => {
            lock::put_legal_hold(&ctx, io, b, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::CreateMultipartUpload { bucket, key } => multipart::create(&ctx, io, &bucket, &key).await?,
        Endpoint::UploadPart {
            bucket,
            key,
            upload_id,
            part_number,
        } => multipart::upload_part(&ctx, io, b, &bucket, &key, &upload_id, part_number).await?,
        Endpoint::UploadPartCopy {
            bucket,
            key,
            upload_id,
            part_number,
            source,
        } => copy::upload_part_copy(&ctx, io, &bucket, &key, &upload_id, part_number, &source).await?,
        Endpoint::CompleteMultipartUpload { bucket, key, upload_id } => {
            multipart::complete(&ctx, io, b, &bucket, &key, &upload_id).await?
        }
        Endpoint::AbortMultipartUpload { bucket, key, upload_id } => {
            multipart::abort(&ctx, io, &bucket, &key, &upload_id).await?
        }
        Endpoint::ListParts { bucket, key, upload_id } => {
            multipart::list_parts(&ctx, io, &bucket, &key, &upload_id).await?
        }
        Endpoint::GetBucketAcl { bucket } => acl::get_bucket_acl(&ctx, io, &bucket).await?,
        Endpoint::PutBucketAcl { bucket } => acl::put_bucket_acl(&ctx, io, b, &bucket).await?,
        Endpoint::GetObjectAcl { bucket, key, version } => {
            acl::get_object_acl(&ctx, io, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::PutObjectAcl { bucket, key, version } => {
            acl::put_object_acl(&ctx, io, b, &bucket, &key, version.as_deref()).await?
        }
        Endpoint::GetBucketOwnershipControls { bucket } => acl::get_ownership(&ctx, io, &bucket).await?,
        Endpoint::PutBucketOwnershipControls { bucket } => acl::put_ownership(&ctx, io, b, &bucket).await?,
        Endpoint::DeleteBucketOwnershipControls { bucket } => acl::delete_ownership(&ctx, io, &bucket).await?,
        Endpoint::GetPublicAccessBlock { bucket } => acl::get_public_access_block(&ctx, io, &bucket).await?,
        Endpoint::PutPublicAccessBlock { bucket } => acl::put_public_access_block(&ctx, io, b, &bucket).await?,
        Endpoint::DeletePublicAccessBlock { bucket } => acl::delete_public_access_block(&ctx, io, &bucket).await?,
        Endpoint::GetBucketCors { bucket } => cors::get_bucket_cors(&ctx, io, &bucket).await?,
        Endpoint::PutBucketCors { bucket } => cors::put_bucket_cors(&ctx, io, b, &bucket).await?,
        Endpoint::DeleteBucketCors { bucket } => cors::delete_bucket_cors(&ctx, io, &bucket).await?,
        Endpoint::GetBucketPolicy { bucket } => policy::get_bucket_policy(&ctx, io, &bucket).await?,
        Endpoint::PutBucketPolicy { bucket } => policy::put_bucket_policy(&ctx, io, b, &bucket).await?,
        Endpoint::DeleteBucketPolicy { bucket } => policy::delete_bucket_policy(&ctx, io, &bucket).await?,
        Endpoint::GetBucketPolicyStatus { bucket } => policy::get_bucket_policy_status(&ctx, io, &bucket).await?,
        Endpoint::GetBucketLifecycleConfiguration { bucket } => lifecycle::get_lifecycle(&ctx, io, &bucket).await?,
        Endpoint::PutBucketLifecycleConfiguration { bucket } => lifecycle::put_lifecycle(&ctx, io, b, &bucket).await?,
        Endpoint::DeleteBucketLifecycle { bucket } => lifecycle::delete_lifecycle(&ctx, io, &bucket).await?,
        Endpoint::GetBucketTagging { bucket } => lifecycle::get_bucket_tagging(&ctx, io, &bucket).await?,
        Endpoint::PutBucketTagging { bucket } => lifecycle::put_bucket_tagging(&ctx, io, b, &bucket).await?,
        Endpoint::DeleteBucketTagging { bucket } => lifecycle::delete_bucket_tagging(&ctx, io, &bucket).await?,
        Endpoint::PostObject { .. } | Endpoint::PreflightRequest { .. } => {
            return Err(ProxyError::Internal(format!(
                "{} reached the header-auth path",
                endpoint.name()
            )))
        }
        Endpoint::NotImplemented { operation } => return Err(ProxyError::NotImplemented(operation)),
    }
    Ok(kind == BodyKind::Empty || body.is_done())
}

/// Largest body read and ignored on an operation that takes none (GET, HEAD, DELETE, ...).
const IGNORED_BODY_LIMIT: u64 = 64 * 1024;

/// The `x-amz-checksum-<alg>` header of a request, if any.
fn checksum_header(head: &RequestHead) -> Option<(ChecksumAlgorithm, &str)> {
    head.headers
        .iter()
        .find_map(|(n, v)| ChecksumAlgorithm::from_header_name(n).map(|a| (a, v.as_str())))
}

/// Whether the caller may run `endpoint` (answered locally, before any backend is touched): the
/// credential has not expired, the bucket (and a copy's source bucket) is in its scope, and it
/// may write or manage buckets when the operation does. The error says why not.
pub(crate) fn check_access(who: &CredentialConfig, endpoint: &Endpoint) -> Result<(), DenyReason> {
    if who
        .expires_ms
        .is_some_and(|t| crate::clock::unix_now().saturating_mul(1000) >= i64::try_from(t).unwrap_or(i64::MAX))
    {
        return Err(DenyReason::Expired);
    }
    let in_scope = endpoint.bucket().is_none_or(|b| who.may_use(b))
        && endpoint.copy_source().is_none_or(|s| who.may_use(&s.bucket));
    if !in_scope {
        return Err(DenyReason::Scope);
    }
    let write = who.access == Access::ReadWrite;
    match endpoint.access() {
        EndpointAccess::Any | EndpointAccess::Read => Ok(()),
        EndpointAccess::Write if write => Ok(()),
        EndpointAccess::Manage if write && who.create_buckets => Ok(()),
        EndpointAccess::Write => Err(DenyReason::ReadOnly),
        EndpointAccess::Manage if !write => Err(DenyReason::ReadOnly),
        EndpointAccess::Manage => Err(DenyReason::Manage),
    }
}

/// [`check_access`], a denial counted by its reason and answered AccessDenied.
pub(crate) fn authorize(core: &Core, who: &CredentialConfig, endpoint: &Endpoint) -> Result<(), ProxyError> {
    check_access(who, endpoint).map_err(|reason| {
        core.shared.denials.count(reason);
        ProxyError::AccessDenied
    })
}

/// The identity of an unsigned request. An anonymous binding's when one allows it — the global
/// switch is on, the bucket has a binding, the operation is a plain GetObject, HeadObject,
/// HeadBucket or ListObjects (no sub-resource, no version), and the client is within the
/// binding's rate (503 SlowDown past it) — read-only and scoped to that bucket. Otherwise the
/// public identity, which may do what grants to AllUsers allow (see [`permit`]) and never
/// manage a bucket.
fn anonymous(
    core: &Core,
    io: &ClientIo,
    endpoint: &Endpoint,
    snap: &Snapshot,
) -> Result<Arc<CredentialConfig>, ProxyError> {
    let public = || Ok(public_identity());
    let Some(access) = core.shared.access.get().filter(|a| a.cfg.anonymous_enabled) else {
        return public();
    };
    let bucket = match endpoint {
        Endpoint::GetObject {
            bucket, version: None, ..
        }
        | Endpoint::HeadObject {
            bucket, version: None, ..
        }
        | Endpoint::HeadBucket { bucket }
        | Endpoint::ListObjects { bucket }
        | Endpoint::ListObjectsV2 { bucket } => bucket,
        _ => return public(),
    };
    let Some(rps) = snap.access.anonymous.get(bucket.as_str()) else {
        return public();
    };
    let rps = if *rps == 0 { access.cfg.anonymous_rps } else { *rps };
    let now_ms = u64::try_from(crate::clock::unix_now())
        .unwrap_or(0)
        .saturating_mul(1000);
    if !core
        .shared
        .anonymous_limits
        .allow(io.stream.peer_ip(), bucket, rps, now_ms)
    {
        core.shared.denials.count(DenyReason::AnonymousRate);
        return Err(ProxyError::SlowDown);
    }
    Ok(Arc::new(CredentialConfig {
        access_key: "anonymous".into(),
        secret_key: String::new(),
        buckets: vec![bucket.clone()],
        access: Access::ReadOnly,
        create_buckets: false,
        bypass_governance: false,
        expires_ms: None,
        owner_id: None,
        unsigned: true,
        scope_granted: true,
    }))
}

/// Refuses an unsigned request whose body claims a signed or streaming form (a payload hash
/// nothing signed, `aws-chunked` framing): it may only send its bytes as they are.
fn plain_unsigned_body(head: &RequestHead) -> Result<(), ProxyError> {
    let hashed = head
        .header("x-amz-content-sha256")
        .is_some_and(|v| v.trim() != "UNSIGNED-PAYLOAD");
    let chunked = head
        .header("content-encoding")
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("aws-chunked")));
    if hashed || chunked {
        return Err(ProxyError::InvalidRequest(
            "an unsigned request sends its body as is: no x-amz-content-sha256 other than UNSIGNED-PAYLOAD, no aws-chunked encoding".into(),
        ));
    }
    Ok(())
}

/// The identity of an unsigned request no anonymous binding covers: it may do what grants to
/// AllUsers allow (see [`permit`]), reach no bucket as its operator and manage none.
pub(crate) fn public_identity() -> Arc<CredentialConfig> {
    Arc::new(CredentialConfig {
        access_key: "anonymous".into(),
        secret_key: String::new(),
        buckets: vec!["*".into()],
        access: Access::ReadWrite,
        create_buckets: false,
        bypass_governance: false,
        expires_ms: None,
        owner_id: None,
        unsigned: true,
        scope_granted: false,
    })
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
pub async fn require_bucket(ctx: &Ctx<'_>, bucket: &str) -> Result<s3o_store::BucketMeta, ProxyError> {
    ctx.core
        .shared
        .store
        .bucket(bucket)
        .await?
        .ok_or(ProxyError::NoSuchBucket)
}
