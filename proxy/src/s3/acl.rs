//! ACL operations: Get/PutBucketAcl, Get/PutObjectAcl (by version too), the ACL request headers
//! of PUT, copy, CreateMultipartUpload and CreateBucket (`x-amz-acl` canned ACLs and
//! `x-amz-grant-*` explicit grants), Get/Put/DeleteBucketOwnershipControls and
//! Get/Put/DeletePublicAccessBlock. Grants name known users only (the canonical ids of keys in
//! the config file and in the store, and the store's users, also by email address); who may do
//! what with them is [`permit`](super::permit)'s.

use s3o_store::acl::{
    Acl, Canned, Grant, Grantee, Ownership, Permission, ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY,
};
use s3o_store::{BucketChange, BucketMeta, VersionChange};

use crate::client::{ClientIo, RequestBody};
use crate::error::ProxyError;
use crate::s3::permit::bucket_changed;
use crate::s3::reply::{send_empty, send_xml, send_xml_with};
use crate::s3::versioning::{change_version, resolve, version_id_header};
use crate::s3::{read_small_body, require_bucket, Ctx};
use crate::xml::{self, AccessControlPolicy};

/// The `x-amz-grant-*` headers and the permission each grants.
const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// The ACL a request's headers ask for, for a resource owned by `owner` in a bucket owned by
/// `bucket_owner`: `x-amz-acl` (a canned ACL) or `x-amz-grant-*` (explicit grants, exactly
/// those: the owner keeps its rights as owner), not both; `None` when neither is present.
/// InvalidArgument for an unknown canned ACL, a malformed grant list or more than
/// [`MAX_GRANTS`](s3o_store::acl::MAX_GRANTS) grants in all. The grants are not yet checked
/// against known users ([`check_acl`]).
pub fn header_acl(ctx: &Ctx<'_>, owner: &str, bucket_owner: &str) -> Result<Option<Acl>, ProxyError> {
    let named = ctx.head.header("x-amz-acl");
    let mut grants = Vec::new();
    for (name, permission) in GRANT_HEADERS {
        for value in ctx
            .head
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
        {
            for grantee in parse_grantees(value)? {
                grants.push(Grant { grantee, permission });
            }
            if grants.len() > s3o_store::acl::MAX_GRANTS {
                return Err(ProxyError::InvalidArgument("too many grants".into()));
            }
        }
    }
    match (named, grants.is_empty()) {
        (None, true) => Ok(None),
        (Some(_), false) => Err(ProxyError::InvalidRequest(
            "Specifying both Canned ACLs and Header Grants is not allowed".into(),
        )),
        (Some(name), true) => canned(name, owner, bucket_owner).map(Some),
        (None, false) => Ok(Some(Acl {
            owner: owner.to_owned(),
            grants,
        })),
    }
}

/// Where a write states the ACL it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclSource<'a> {
    /// The request's `x-amz-acl` / `x-amz-grant-*` headers (signed with the request).
    Headers,
    /// A POST form's `acl` field (the head of a POST is signed by nobody, so never its headers).
    Form(Option<&'a str>),
}

/// The owner and grants of a new version the caller writes into `bucket` (PUT, copy, POST,
/// CreateMultipartUpload), from the ACL it asks for (`source`), as [`ObjectMeta`](s3o_store::ObjectMeta)
/// keeps them: the owner `None` when it is the bucket's owner (always with
/// `BucketOwnerEnforced`, which refuses any ACL but the owner's full control; with
/// `BucketOwnerPreferred` for `bucket-owner-full-control`; and for unsigned writes), the
/// grants `None` when they are the default.
pub async fn new_version_acl(
    ctx: &Ctx<'_>,
    bucket: &BucketMeta,
    source: AclSource<'_>,
) -> Result<(Option<String>, Option<Vec<Grant>>), ProxyError> {
    let writer = if ctx.who.unsigned {
        bucket.owner.as_str()
    } else {
        ctx.who.owner()
    };
    let to_bucket_owner = match bucket.settings.ownership {
        Some(Ownership::BucketOwnerEnforced) => true,
        Some(Ownership::BucketOwnerPreferred) => match source {
            AclSource::Form(acl) => acl,
            AclSource::Headers => ctx.head.header("x-amz-acl"),
        }
        .is_some_and(|a| a.trim() == "bucket-owner-full-control"),
        _ => false,
    };
    let owner = if to_bucket_owner { bucket.owner.as_str() } else { writer };
    let asked = match source {
        AclSource::Form(Some(name)) => Some(canned(name, owner, &bucket.owner)?),
        AclSource::Form(None) => None,
        AclSource::Headers => header_acl(ctx, owner, &bucket.owner)?,
    };
    let grants = match asked {
        Some(acl) => check_acl(ctx, bucket, acl).await?.stored_grants(),
        None => None,
    };
    Ok(((owner != bucket.owner).then(|| owner.to_owned()), grants))
}

/// The canned ACL `name` for a resource owned by `owner` (InvalidArgument for no such name).
fn canned(name: &str, owner: &str, bucket_owner: &str) -> Result<Acl, ProxyError> {
    Canned::parse(name.trim())
        .map(|c| c.expand(owner, bucket_owner))
        .ok_or_else(|| ProxyError::InvalidArgument(format!("unknown canned ACL '{name}'")))
}

/// The grantees of one `x-amz-grant-*` value: `id="…"`, `uri="…"` or `emailAddress="…"`,
/// comma-separated, quotes optional.
fn parse_grantees(value: &str) -> Result<Vec<Grantee>, ProxyError> {
    let bad = || ProxyError::InvalidArgument(format!("malformed grant header value '{value}'"));
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, v) = part.split_once('=').ok_or_else(bad)?;
        let v = v.trim().trim_matches('"').to_owned();
        if v.is_empty() {
            return Err(bad());
        }
        out.push(match kind.trim() {
            "id" => Grantee::CanonicalUser { id: v },
            "uri" => Grantee::Group { uri: v },
            "emailAddress" => Grantee::Email { address: v },
            _ => return Err(bad()),
        });
        if out.len() > s3o_store::acl::MAX_GRANTS {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Makes `acl` storable for `bucket`: every canonical user known, every email address resolved
/// to its user (UnresolvableGrantByEmailAddress), every group one of S3's (InvalidArgument);
/// a public ACL refused under a public access block's BlockPublicAcls (AccessDenied); and with
/// `BucketOwnerEnforced`, anything but the owner's full control refused
/// (AccessControlListNotSupported).
pub async fn check_acl(ctx: &Ctx<'_>, bucket: &BucketMeta, mut acl: Acl) -> Result<Acl, ProxyError> {
    for g in &mut acl.grants {
        match &g.grantee {
            Grantee::CanonicalUser { id } => {
                if !known_user(ctx, id).await? {
                    return Err(ProxyError::InvalidArgument(format!("Invalid CanonicalUser id '{id}'")));
                }
            }
            Grantee::Group { uri } => {
                if ![ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY].contains(&uri.as_str()) {
                    return Err(ProxyError::InvalidArgument(format!("Invalid group uri '{uri}'")));
                }
            }
            Grantee::Email { address } => {
                let id = user_by_email(ctx, address)
                    .await?
                    .ok_or(ProxyError::UnresolvableGrantByEmailAddress)?;
                g.grantee = Grantee::CanonicalUser { id };
            }
        }
    }
    if bucket.settings.ownership == Some(Ownership::BucketOwnerEnforced) {
        let owner_only = acl
            .grants
            .iter()
            .all(|g| g.permission == Permission::FullControl && g.grantee == owner_grantee(&bucket.owner));
        if !owner_only {
            return Err(ProxyError::AccessControlListNotSupported);
        }
    }
    if acl.is_public() && bucket.settings.public_access_block.is_some_and(|p| p.block_public_acls) {
        return Err(ProxyError::AccessDenied);
    }
    Ok(acl)
}

fn owner_grantee(id: &str) -> Grantee {
    Grantee::CanonicalUser { id: id.to_owned() }
}

/// Whether `id` is the canonical id of an account that can sign requests here (a key of the
/// config file or of the store) or of a user of the access layer.
async fn known_user(ctx: &Ctx<'_>, id: &str) -> Result<bool, ProxyError> {
    let snap = &ctx.snap;
    if (!ctx.who.unsigned && id == ctx.who.owner())
        || snap.creds.values().any(|c| c.owner() == id)
        || snap.access.creds.values().any(|c| c.owner() == id)
    {
        return Ok(true);
    }
    if ctx.core.shared.access.get().is_none() {
        return Ok(false);
    }
    Ok(ctx
        .core
        .shared
        .store
        .doc(s3o_admin::access::records::USERS, id)
        .await?
        .is_some())
}

/// The id of the access layer's user with `email`, if any.
async fn user_by_email(ctx: &Ctx<'_>, email: &str) -> Result<Option<String>, ProxyError> {
    if ctx.core.shared.access.get().is_none() {
        return Ok(None);
    }
    let doc = ctx
        .core
        .shared
        .store
        .doc(s3o_admin::access::records::EMAILS, &email.to_lowercase())
        .await?;
    Ok(doc.and_then(|d| serde_json::from_slice::<String>(&d.value).ok()))
}

/// The ACL a PutBucketAcl / PutObjectAcl asks for: the headers, or an AccessControlPolicy body
/// whose owner (when named) is the resource's.
async fn requested_acl(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    owner: &str,
    bucket_owner: &str,
) -> Result<Acl, ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_ACL_BODY_BYTES).await?;
    let from_headers = header_acl(ctx, owner, bucket_owner)?;
    match (from_headers, doc.iter().all(u8::is_ascii_whitespace)) {
        (Some(acl), true) => Ok(acl),
        (Some(_), false) => Err(ProxyError::InvalidRequest(
            "an ACL is given either in headers or in the body, not both".into(),
        )),
        (None, true) => Err(ProxyError::MalformedXml),
        (None, false) => {
            let policy = xml::parse_access_control_policy(&doc).map_err(|_| ProxyError::MalformedXml)?;
            if policy.owner.as_deref().is_some_and(|o| o != owner) {
                return Err(ProxyError::AccessDenied);
            }
            Ok(Acl {
                owner: owner.to_owned(),
                grants: policy.grants,
            })
        }
    }
}

/// GetBucketAcl.
pub async fn get_bucket_acl(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    send_xml(ctx, io, &AccessControlPolicy { acl: &meta.acl() }).await
}

/// PutBucketAcl.
pub async fn put_bucket_acl(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    let acl = requested_acl(ctx, io, body, &meta.owner, &meta.owner).await?;
    let acl = check_acl(ctx, &meta, acl).await?;
    change_bucket(ctx, io, bucket, BucketChange::Grants(acl.stored_grants()), 200).await
}

/// Applies a change of a bucket's access settings, tells the cores, and rewrites the bucket's
/// record on its backends.
pub async fn set_bucket(ctx: &Ctx<'_>, bucket: &str, change: BucketChange) -> Result<BucketMeta, ProxyError> {
    Ok(set_bucket_on(ctx.core, bucket, change).await?)
}

/// [`set_bucket`] from any core (the admin port's too).
pub async fn set_bucket_on(
    core: &crate::state::Core,
    bucket: &str,
    change: BucketChange,
) -> Result<BucketMeta, s3o_store::StoreError> {
    let meta = core.shared.store.update_bucket(bucket, change).await?;
    bucket_changed(core);
    crate::records::write_bucket(core, &meta).await;
    Ok(meta)
}

/// GetObjectAcl.
pub async fn get_object_acl(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let meta = resolve(ctx, bucket, key, version).await?;
    let bucket_owner = &permitted_bucket(ctx, bucket)?.owner;
    let named: Vec<(&str, String)> = version_id_header(&meta, version.is_some()).into_iter().collect();
    send_xml_with(
        ctx,
        io,
        &AccessControlPolicy {
            acl: &meta.acl(bucket_owner),
        },
        &named,
    )
    .await
}

/// PutObjectAcl.
pub async fn put_object_acl(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(), ProxyError> {
    let meta = resolve(ctx, bucket, key, version).await?;
    let bucket_meta = permitted_bucket(ctx, bucket)?;
    let owner = meta.owner_or(&bucket_meta.owner).to_owned();
    let acl = requested_acl(ctx, io, body, &owner, &bucket_meta.owner).await?;
    let acl = check_acl(ctx, bucket_meta, acl).await?;
    let change = VersionChange::Grants(acl.stored_grants());
    change_version(ctx, io, (bucket, key, version), &meta, change, 200).await
}

/// The record of `bucket` the request's permit was checked against (read through the core's
/// bucket cache when the request began): no second store read.
pub(crate) fn permitted_bucket<'a>(ctx: &'a Ctx<'_>, bucket: &str) -> Result<&'a BucketMeta, ProxyError> {
    ctx.permit
        .bucket(bucket)
        .map(|b| &*b.meta)
        .ok_or(ProxyError::NoSuchBucket)
}

/// GetBucketOwnershipControls.
pub async fn get_ownership(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let ownership = require_bucket(ctx, bucket)
        .await?
        .settings
        .ownership
        .ok_or(ProxyError::NoSuchOwnershipControls)?;
    send_xml(ctx, io, &xml::OwnershipControls { ownership }).await
}

/// PutBucketOwnershipControls; `BucketOwnerEnforced` only while the bucket's ACL grants
/// nothing beyond its owner's full control.
pub async fn put_ownership(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let meta = require_bucket(ctx, bucket).await?;
    let doc = read_small_body(io, body, xml::MAX_CONFIG_BODY_BYTES).await?;
    let ownership = xml::parse_ownership_controls(&doc).map_err(|_| ProxyError::MalformedXml)?;
    if ownership == Ownership::BucketOwnerEnforced && meta.acl().stored_grants().is_some() {
        return Err(ProxyError::InvalidBucketAclWithObjectOwnership);
    }
    change_bucket(ctx, io, bucket, BucketChange::Ownership(Some(ownership)), 200).await
}

/// DeleteBucketOwnershipControls.
pub async fn delete_ownership(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    change_bucket(ctx, io, bucket, BucketChange::Ownership(None), 204).await
}

/// [`set_bucket`], answered `status` without a body (NoSuchBucket for no bucket).
pub(crate) async fn change_bucket(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    bucket: &str,
    change: BucketChange,
    status: u16,
) -> Result<(), ProxyError> {
    set_bucket(ctx, bucket, change).await?;
    send_empty(ctx, io, status).await
}

/// GetPublicAccessBlock.
pub async fn get_public_access_block(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    let block = require_bucket(ctx, bucket)
        .await?
        .settings
        .public_access_block
        .ok_or(ProxyError::NoSuchPublicAccessBlock)?;
    send_xml(ctx, io, &xml::PublicAccessBlockConfiguration { block }).await
}

/// PutPublicAccessBlock.
pub async fn put_public_access_block(
    ctx: &Ctx<'_>,
    io: &mut ClientIo,
    body: &mut RequestBody,
    bucket: &str,
) -> Result<(), ProxyError> {
    let doc = read_small_body(io, body, xml::MAX_CONFIG_BODY_BYTES).await?;
    let block = xml::parse_public_access_block(&doc).map_err(|_| ProxyError::MalformedXml)?;
    change_bucket(ctx, io, bucket, BucketChange::PublicAccessBlock(Some(block)), 200).await
}

/// DeletePublicAccessBlock.
pub async fn delete_public_access_block(ctx: &Ctx<'_>, io: &mut ClientIo, bucket: &str) -> Result<(), ProxyError> {
    change_bucket(ctx, io, bucket, BucketChange::PublicAccessBlock(None), 204).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_headers_parse_as_s3_documents() {
        let g =
            parse_grantees("id=\"abc\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\",emailAddress=a@b.c")
                .unwrap();
        assert_eq!(
            g,
            vec![
                Grantee::CanonicalUser { id: "abc".into() },
                Grantee::Group { uri: ALL_USERS.into() },
                Grantee::Email {
                    address: "a@b.c".into()
                },
            ]
        );
        for bad in ["id", "id=", "name=x", "id=\"\""] {
            assert!(parse_grantees(bad).is_err(), "{bad}");
        }
        assert!(parse_grantees(&"id=a,".repeat(200)).is_err(), "too many grantees");
    }
}
