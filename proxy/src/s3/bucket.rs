//! Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation.
//! All answered from the metadata store; none touches a backend.

use s3o_store::acl::Ownership;
use s3o_store::{BucketChange, BucketMeta, ObjectLock, Versioning};

use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::s3::reply::{base_head, send_empty, send_xml};
use crate::s3::{read_small_body, require_bucket, Ctx};
use crate::xml;

/// The region we report for buckets.
fn region(ctx: &Ctx<'_>) -> String {
    ctx.core
        .shared
        .cfg
        .server
        .region
        .clone()
        .unwrap_or_else(|| "us-east-1".into())
}

/// Most buckets one ListBuckets page holds (S3's limit for `max-buckets`).
pub const MAX_BUCKETS_PAGE: usize = 10_000;

/// ListBuckets: the buckets this credential may use, by name, with `prefix`, `max-buckets` and
/// `continuation-token` (the base64url of the last name of the previous page).
pub async fn list_buckets(ctx: &Ctx<'_>, io: &mut ClientIo) -> Result<(), ProxyError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let q = crate::endpoint::parse_query(&ctx.head.query);
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let max = match get("max-buckets") {
        None => MAX_BUCKETS_PAGE,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUCKETS_PAGE).contains(n))
            .ok_or_else(|| ProxyError::InvalidArgument("max-buckets must be an integer between 1 and 10000".into()))?,
    };
    let after = match get("continuation-token") {
        None | Some("") => None,
        Some(t) => Some(
            b64.decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ProxyError::InvalidArgument("The continuation token provided is incorrect".into()))?,
        ),
    };
    let prefix = get("prefix");
    let all = ctx.core.shared.store.list_buckets().await?;
    let mut visible = all.iter().filter(|b| {
        ctx.who.may_use(&b.name)
            && (b.owner == ctx.who.owner() || crate::s3::permit::is_operator(&ctx.who, b))
            && prefix.is_none_or(|p| b.name.starts_with(p))
            && after.as_deref().is_none_or(|a| b.name.as_str() > a)
    });
    let entries: Vec<xml::BucketEntry<'_>> = visible
        .by_ref()
        .take(max)
        .map(|b| xml::BucketEntry {
            name: &b.name,
            created_ms: b.created_ms,
        })
        .collect();
    let token = match (visible.next(), entries.last()) {
        (Some(_), Some(last)) => Some(b64.encode(last.name.as_bytes())),
        _ => None,
    };
    let owner = xml::Owner {
        id: ctx.who.owner(),
        display_name: ctx.who.owner(),
    };
    send_xml(
        ctx,
        io,
        &xml::ListAllMyBucketsResult {
            owner,
            buckets: &entries,
            continuation_token: token.as_deref(),
            prefix,
        },
    )
    .await
}

/// CreateBucket (an optional `CreateBucketConfiguration` body names the region).
pub async fn create_bucket(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_CREATE_BUCKET_BODY_BYTES).await?;
    let wanted = xml::parse_create_bucket_configuration(&doc).map_err(|_| ProxyError::MalformedXml)?;
    if let (Some(w), Some(r)) = (wanted.as_deref(), ctx.core.shared.cfg.server.region.as_deref()) {
        if w != r && !(w.is_empty() && r == "us-east-1") {
            return Err(ProxyError::InvalidArgument(format!(
                "The specified location-constraint is not valid: this endpoint serves {r}"
            )));
        }
    }
    let object_lock = match ctx.head.header("x-amz-bucket-object-lock-enabled") {
        None => false,
        Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
        Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(ProxyError::InvalidArgument(
                "x-amz-bucket-object-lock-enabled must be true or false".into(),
            ))
        }
    };
    let ownership = match ctx.head.header("x-amz-object-ownership") {
        None => None,
        Some(v) => Some(
            Ownership::parse(v.trim())
                .ok_or_else(|| ProxyError::InvalidArgument(format!("Invalid x-amz-object-ownership '{v}'")))?,
        ),
    };
    let owner = ctx.who.owner();
    // The ACL asked for, checked as it will apply to the new bucket.
    let new_bucket = BucketMeta {
        name: bucket.to_owned(),
        owner: owner.to_owned(),
        settings: s3o_store::BucketSettings {
            ownership,
            ..Default::default()
        },
        ..BucketMeta::default()
    };
    let grants = match crate::s3::acl::header_acl(ctx, owner, owner)? {
        Some(acl) if ownership == Some(Ownership::BucketOwnerEnforced) && acl.stored_grants().is_some() => {
            return Err(ProxyError::InvalidBucketAclWithObjectOwnership)
        }
        Some(acl) => crate::s3::acl::check_acl(ctx, &new_bucket, acl).await?.stored_grants(),
        None => None,
    };
    let mut settings = Vec::new();
    if object_lock {
        settings.push(BucketChange::Versioning(Versioning::Enabled));
        settings.push(BucketChange::ObjectLock(ObjectLock::default()));
    }
    if grants.is_some() {
        settings.push(BucketChange::Grants(grants));
    }
    if ownership.is_some() {
        settings.push(BucketChange::Ownership(ownership));
    }
    let store = &ctx.core.shared.store;
    match store.create_bucket(bucket, owner).await {
        Ok(()) if !settings.is_empty() => {
            // A bucket with object lock has versioning enabled from the start, and one with an
            // ACL or ownership controls has them; should a change fail, the bucket goes again
            // rather than stay without what was asked for.
            let apply = async {
                for change in settings {
                    store.update_bucket(bucket, change).await?;
                }
                Ok::<_, s3o_store::StoreError>(())
            };
            if let Err(e) = apply.await {
                let _ = store.delete_bucket(bucket).await;
                crate::s3::permit::bucket_changed(ctx.core);
                return Err(e.into());
            }
        }
        Ok(()) => {}
        Err(s3o_store::StoreError::BucketAlreadyExists(_)) => {
            let owner = store.bucket(bucket).await?.map(|b| b.owner).unwrap_or_default();
            if owner != ctx.who.owner() {
                return Err(ProxyError::BucketAlreadyExists);
            }
            // us-east-1 answers a repeated CreateBucket by the owner with 200 (and changes
            // nothing); every other region with BucketAlreadyOwnedByYou.
            if region(ctx) != "us-east-1" {
                return Err(ProxyError::BucketAlreadyOwnedByYou);
            }
        }
        Err(e) => return Err(e.into()),
    }
    crate::s3::permit::bucket_changed(ctx.core);
    crate::records::write_bucket_named(ctx.core, bucket).await;
    let head = base_head(200, ctx.rid)
        .header("location", format!("/{bucket}"))
        .content_length(0);
    io.respond(&head, &[]).await
}

/// DeleteBucket: only when empty.
pub async fn delete_bucket(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    ctx.core.shared.store.delete_bucket(bucket).await?;
    crate::s3::permit::bucket_changed(ctx.core);
    crate::records::delete_bucket(ctx.core, bucket).await;
    send_empty(ctx, io, 204).await
}

/// HeadBucket: 200 with the region, or 404 without a body.
pub async fn head_bucket(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let status = if ctx.core.shared.store.bucket(bucket).await?.is_some() {
        200
    } else {
        404
    };
    let head = base_head(status, ctx.rid)
        .header("x-amz-bucket-region", region(ctx))
        .content_length(0);
    io.respond(&head, &[]).await
}

/// GetBucketLocation.
pub async fn get_bucket_location(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    require_bucket(ctx, bucket).await?;
    let r = region(ctx);
    send_xml(ctx, io, &xml::LocationConstraint { region: &r }).await
}
